//! The Plugins page's consumers: a table of their live counts and last errors with pause,
//! resume, edit and delete, and a form to wire a plugin to a queue.

use leptos::prelude::*;
use leptos::task::spawn_local;
use switchyard_client::{Action, BatchSettings, Consumer, ConsumerState, CreateConsumer, Kind};

use crate::api::{self, ApiFailure};
use crate::fields::{Choice, TextField, form_error, optional_number, submit};
use crate::format;
use crate::permit::{Permit, ScopedButton, need};
use crate::widgets::{DataTable, EmptyState};

/// Every consumer with its live counts and last error.
#[component]
pub(super) fn ConsumerTable(
    consumers: Vec<Consumer>,
    reload: Callback<()>,
    error: RwSignal<Option<ApiFailure>>,
    edit: Callback<Consumer>,
    show_log: Callback<String>,
) -> impl IntoView {
    if consumers.is_empty() {
        return view! {
            <EmptyState title="No consumers yet">
                "A consumer runs a plugin on a queue's messages. Upload a plugin, then wire it to a queue with the form below."
            </EmptyState>
        }
        .into_any();
    }
    let rows = consumers
        .into_iter()
        .map(|c| view! { <ConsumerRow consumer=c reload=reload error=error edit=edit show_log=show_log /> })
        .collect_view();
    view! {
        <DataTable
            id="consumers"
            columns=&[
                ("Consumer", false),
                ("Plugin", false),
                ("State", false),
                ("Invocations", true),
                ("Acked", true),
                ("Retried", true),
                ("Dead letters", true),
                ("Faults", true),
                ("Last error", false),
            ]
        >
            {rows}
        </DataTable>
    }
    .into_any()
}

/// One consumer's row, with pause / resume, edit, log and delete.
#[component]
fn ConsumerRow(
    consumer: Consumer,
    reload: Callback<()>,
    error: RwSignal<Option<ApiFailure>>,
    edit: Callback<Consumer>,
    show_log: Callback<String>,
) -> impl IntoView {
    let editable = consumer.clone();
    let log_name = consumer.name.clone();
    let deploy = Permit::to(Action::Deploy, Kind::Consumer, &consumer.name);
    let base = format!("/v1/consumers/{}", api::segment(&consumer.name));
    let (state_class, state_label, toggle_label, toggle_path) = match consumer.state {
        ConsumerState::Running => ("badge ready", "running", "pause", format!("{base}/pause")),
        ConsumerState::Paused => (
            "badge delayed",
            "paused",
            "resume",
            format!("{base}/resume"),
        ),
    };
    let toggle = Callback::new(move |()| {
        let path = toggle_path.clone();
        spawn_local(async move {
            match api::post::<_, Consumer>(&path, &serde_json::json!({})).await {
                Ok(_) => reload.run(()),
                Err(e) => error.set(Some(e)),
            }
        });
    });
    let remove = Callback::new(move |()| {
        let path = base.clone();
        spawn_local(async move {
            match api::delete(&path).await {
                Ok(()) => reload.run(()),
                Err(e) => error.set(Some(e)),
            }
        });
    });
    let stats = consumer.stats;
    let faults: u64 = stats.faults.values().sum();
    let last_error = stats.last_error.map_or_else(
        || view! { <span class="muted">"none"</span> }.into_any(),
        |e| {
            let title = format!("{}: {} ({})", e.kind, e.message, format::timestamp(e.at_ms));
            view! {
                <span class="reason" title=title>{e.kind} ": " {e.message}</span>
                <span class="sub">{format::ago(e.at_ms)}</span>
            }
            .into_any()
        },
    );
    view! {
        <tr data-consumer=consumer.name.clone()>
            <td>
                <strong>{consumer.name.clone()}</strong>
                <span class="sub">
                    "queue " <a href=format!("#/queues/{}", consumer.queue)>{consumer.queue.clone()}</a>
                    " · batch " {consumer.batch.max_messages} " · ×" {consumer.concurrency}
                </span>
                <span class="row-actions">
                    <ScopedButton permit=deploy class="link" on_click=toggle>{toggle_label}</ScopedButton>
                    <ScopedButton permit=deploy class="link" on_click=Callback::new(move |()| edit.run(editable.clone()))>
                        "edit"
                    </ScopedButton>
                    <button class="link" on:click=move |_| show_log.run(log_name.clone())>"log"</button>
                    <ScopedButton
                        permit=deploy
                        class="link danger"
                        title="Stop and remove this consumer (its queue keeps its messages)"
                        on_click=remove
                    >
                        "delete"
                    </ScopedButton>
                </span>
            </td>
            <td>{consumer.plugin.clone()}</td>
            <td><span class=state_class>{state_label}</span></td>
            <td class="num">{format::count(stats.invocations)}</td>
            <td class="num acked">{format::count(stats.acked)}</td>
            <td class="num">{format::count(stats.retried)}</td>
            <td class="num">{format::count(stats.dead_lettered)}</td>
            <td class="num">{format::count(faults)}</td>
            <td class="last-error-cell">{last_error}</td>
        </tr>
    }
}

/// Wire a plugin to a queue.
#[component]
pub(super) fn NewConsumerForm(
    plugins: Signal<Vec<String>>,
    queues: Signal<Vec<String>>,
    reload: Callback<()>,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let queue = RwSignal::new(String::new());
    let plugin = RwSignal::new(String::new());
    let batch = RwSignal::new(String::new());
    let concurrency = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let permit = Permit::new(move || {
        vec![
            need(Action::Deploy, Kind::Consumer, name.get()),
            need(Action::Deploy, Kind::Plugin, plugin.get()),
            need(Action::Consume, Kind::Queue, queue.get()),
        ]
    });
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (queue_name, plugin_name) = (queue.get_untracked(), plugin.get_untracked());
        if queue_name.is_empty() || plugin_name.is_empty() {
            return error.set(Some("Choose a queue and a plugin.".into()));
        }
        let numbers = optional_number::<u32>(&batch.get_untracked(), "Batch size").and_then(|b| {
            optional_number::<u32>(&concurrency.get_untracked(), "Concurrency").map(|c| (b, c))
        });
        let (max_messages, concurrency_value) = match numbers {
            Ok(numbers) => numbers,
            Err(why) => return error.set(Some(why)),
        };
        let body = CreateConsumer {
            name: name.get_untracked().trim().to_string(),
            queue: queue_name,
            plugin: plugin_name,
            batch: max_messages.map(|max_messages| BatchSettings {
                max_messages: Some(max_messages),
                ..BatchSettings::default()
            }),
            concurrency: concurrency_value,
            ..CreateConsumer::default()
        };
        let clear = move |_: Consumer| {
            for field in [name, batch, concurrency] {
                field.set(String::new());
            }
        };
        submit("/v1/consumers", body, error, clear, reload);
    };
    view! {
        <form class="card form wide" id="new-consumer" on:submit=create>
            <h3>"New consumer"</h3>
            <div class="row">
                <TextField label="Name" name="consumer-name" placeholder="mailer" value=name />
                <Choice label="Queue" name="consumer-queue" none="Choose a queue…" value=queue options=queues />
                <Choice label="Plugin" name="consumer-plugin" none="Choose a plugin…" value=plugin options=plugins />
            </div>
            <div class="row">
                <TextField label="Batch size (messages)" name="batch-size" placeholder="10" value=batch />
                <TextField label="Concurrency (invocations at once)" name="concurrency" placeholder="1" value=concurrency />
            </div>
            {form_error(error)}
            <ScopedButton permit=permit submit=true hint=true>"Create consumer"</ScopedButton>
        </form>
    }
}
