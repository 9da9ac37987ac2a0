//! Audit (for `admin:*:*`): every change made through the API (manage, deploy and admin
//! requests, refused ones too) with who made it and how it went, newest first.
//! `GET /v1/audit` pages forward from the oldest entry, so the page reads forward to the end
//! once, keeps the newest [`KEEP`], and on Refresh asks only for entries after the last. It
//! does not poll: reading the audit log is an admin request, and so is itself audited.

use leptos::prelude::*;
use leptos::task::spawn_local;
use switchyard_client::{AuditEntry, AuditLog};

use crate::api::{self, ApiFailure};
use crate::format;
use crate::widgets::{DataTable, EmptyState, ErrorBanner};

/// Entries asked for at once (the server's largest page).
const PAGE: usize = 1000;
/// Entries kept on screen.
const KEEP: usize = 500;

const COLUMNS: &[(&str, bool)] = &[
    ("When", false),
    ("Token", false),
    ("Request", false),
    ("Targets", false),
    ("Outcome", false),
];

/// Entries after `after`, all of them, oldest first (only the newest [`KEEP`]).
async fn entries_after(mut after: u64) -> Result<Vec<AuditEntry>, ApiFailure> {
    let mut entries = Vec::new();
    loop {
        let path = format!("/v1/audit?after={after}&limit={PAGE}");
        let page = api::get::<AuditLog>(&path).await?.entries;
        let full = page.len() == PAGE;
        after = page.last().map_or(after, |e| e.seq);
        entries.extend(page);
        let excess = entries.len().saturating_sub(KEEP);
        entries.drain(..excess);
        if !full {
            return Ok(entries);
        }
    }
}

/// The Audit page.
#[component]
pub(crate) fn AuditPage() -> impl IntoView {
    // Oldest first, as the server sends them; drawn the other way round.
    let entries = RwSignal::new(None::<Vec<AuditEntry>>);
    let error = RwSignal::new(None::<ApiFailure>);
    let fetch = move || {
        spawn_local(async move {
            let last = entries.with_untracked(|e| e.as_ref().and_then(|e| e.last()).map(|e| e.seq));
            match entries_after(last.unwrap_or(0)).await {
                Ok(new) => {
                    if entries.with_untracked(Option::is_none) || !new.is_empty() {
                        entries.update(|shown| {
                            let shown = shown.get_or_insert_with(Vec::new);
                            // Two refreshes can overlap: an entry is added once.
                            let last = shown.last().map_or(0, |e| e.seq);
                            shown.extend(new.into_iter().filter(|e| e.seq > last));
                            let excess = shown.len().saturating_sub(KEEP);
                            shown.drain(..excess);
                        });
                    }
                    if error.with_untracked(Option::is_some) {
                        error.set(None);
                    }
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    fetch();
    view! {
        <div class="page-head">
            <h1>"Audit"</h1>
            <div class="actions">
                <span class="muted">"Every change made through the API, refused ones too, newest first."</span>
                <button class="secondary" id="audit-refresh" on:click=move |_| fetch()>"Refresh"</button>
            </div>
        </div>
        <ErrorBanner error=error />
        {move || entries.get().map(|shown| view! { <AuditTable entries=shown /> })}
    }
}

#[component]
fn AuditTable(entries: Vec<AuditEntry>) -> impl IntoView {
    if entries.is_empty() {
        return view! {
            <EmptyState title="Nothing has changed yet">
                "Creating, changing or deleting anything (topics, queues, plugins, consumers, tokens) is written here, with the token that did it."
            </EmptyState>
        }
        .into_any();
    }
    let rows = entries
        .into_iter()
        .rev()
        .map(|entry| view! { <AuditRow entry=entry /> })
        .collect_view();
    view! {
        <DataTable id="audit" columns=COLUMNS>
            {rows}
        </DataTable>
        <p class="muted small">"Shows the newest " {KEEP} " entries at most; " <code>"switchyard token audit"</code> " reads them all."</p>
    }
    .into_any()
}

#[component]
fn AuditRow(entry: AuditEntry) -> impl IntoView {
    let targets = entry
        .targets
        .iter()
        .map(|target| view! { <span class="attr">{target.clone()}</span> })
        .collect_view();
    let ok = (200..300).contains(&entry.status);
    let outcome = match &entry.error {
        Some(code) => format!("{} {code}", entry.status),
        None => entry.status.to_string(),
    };
    view! {
        <tr data-seq=entry.seq>
            <td title=format::timestamp(entry.at_ms)>
                {format::timestamp(entry.at_ms)}
                <span class="sub">{format::ago(entry.at_ms)}</span>
            </td>
            <td>
                {entry.token.clone()}
                <span class="sub mono">{entry.token_id.clone()}</span>
            </td>
            <td class="mono">{entry.method.clone()} " " {entry.path.clone()}</td>
            <td>{targets}</td>
            <td>
                <span class=if ok { "badge ready" } else { "badge expired" }>{outcome}</span>
            </td>
        </tr>
    }
}
