//! A consumer's recent log lines (its plugin's logs, stdout and stderr, faults, denied HTTP
//! calls), followed live: each poll asks only for lines after the last one shown.

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use switchyard_client::{ConsumerLogs, LogEntry};

use crate::api::{self, ApiFailure};
use crate::format;
use crate::widgets::ErrorBanner;

/// How often new lines are fetched.
const POLL: Duration = Duration::from_secs(2);
/// Lines kept on screen; older ones scroll away.
const KEEP: usize = 200;

/// The log panel of consumer `name`.
#[component]
pub(crate) fn ConsumerLogPanel(name: String, close: Callback<()>) -> impl IntoView {
    let entries = RwSignal::new(Vec::<LogEntry>::new());
    let loaded = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiFailure>);
    let base = StoredValue::new(format!("/v1/consumers/{}/logs", api::segment(&name)));
    let fetch = move || {
        spawn_local(async move {
            let after = entries.with_untracked(|e| e.last().map(|line| line.seq));
            let path = match after {
                Some(seq) => format!("{}?after={seq}", base.get_value()),
                None => base.get_value(),
            };
            match api::get::<ConsumerLogs>(&path).await {
                Ok(logs) => {
                    if !logs.entries.is_empty() {
                        entries.update(|shown| {
                            shown.extend(logs.entries);
                            let excess = shown.len().saturating_sub(KEEP);
                            shown.drain(..excess);
                        });
                    }
                    loaded.set(true);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    fetch();
    if let Ok(interval) = set_interval_with_handle(fetch, POLL) {
        on_cleanup(move || interval.clear());
    }
    let lines = move || {
        let shown = entries.get();
        if shown.is_empty() {
            let note = if loaded.get() {
                "No log lines yet. Lines appear here as the plugin logs, prints, faults or is denied an HTTP call."
            } else {
                "Loading…"
            };
            return view! { <p class="muted">{note}</p> }.into_any();
        }
        shown
            .into_iter()
            .rev()
            .map(|line| {
                let class = format!("log-level {}", line.level);
                view! {
                    <li>
                        <span class="log-time">{format::timestamp(line.at_ms)}</span>
                        <span class=class>{line.level.clone()}</span>
                        <span class="log-text">{line.text}</span>
                    </li>
                }
            })
            .collect_view()
            .into_any()
    };
    let title = format!("Log of {name}, newest first");
    view! {
        <section class="card log-panel" id="consumer-logs" data-consumer=name>
            <div class="log-head">
                <h3>{title}</h3>
                <button class="secondary small-button" on:click=move |_| close.run(())>"Close"</button>
            </div>
            <ErrorBanner error=error />
            <ul class="log-lines">{lines}</ul>
        </section>
    }
}
