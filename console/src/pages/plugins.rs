//! Plugins: upload a component (.wasm) as a new version, see every plugin's versions, activate
//! one or roll back; and the consumers that run them: their live counts, last error, pause,
//! resume, delete, and a form to wire a plugin to a queue.

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use switchyard_client::{
    ActivateVersion, BatchSettings, Consumer, ConsumerList, ConsumerState, CreateConsumer,
    DeployedVersion, Plugin, PluginList, QueueList,
};

use crate::api::{self, ApiFailure};
use crate::fields::{Choice, TextField, form_error, optional_number, submit};
use crate::format;
use crate::widgets::{DataTable, EmptyState, ErrorBanner, Notice};

/// How often consumer counts refresh.
const POLL: Duration = Duration::from_secs(2);

/// Everything the page shows.
#[derive(Debug, Clone, Default, PartialEq)]
struct Registry {
    plugins: Vec<Plugin>,
    consumers: Vec<Consumer>,
    queues: Vec<String>,
}

async fn load() -> Result<Registry, ApiFailure> {
    Ok(Registry {
        plugins: api::get::<PluginList>("/v1/plugins").await?.plugins,
        consumers: api::get::<ConsumerList>("/v1/consumers").await?.consumers,
        queues: api::get::<QueueList>("/v1/queues")
            .await?
            .queues
            .into_iter()
            .map(|q| q.name)
            .collect(),
    })
}

/// The Plugins page.
#[component]
pub(crate) fn PluginsPage() -> impl IntoView {
    let registry = RwSignal::new(None::<Registry>);
    let error = RwSignal::new(None::<ApiFailure>);
    let notice = RwSignal::new(None::<String>);
    let reload = Callback::new(move |()| {
        spawn_local(async move {
            match load().await {
                Ok(data) => {
                    // Unchanged data is not drawn again (a poll mostly finds nothing new).
                    if registry.with_untracked(|r| r.as_ref() != Some(&data)) {
                        registry.set(Some(data));
                    }
                    if error.with_untracked(Option::is_some) {
                        error.set(None);
                    }
                }
                Err(e) => error.set(Some(e)),
            }
        });
    });
    reload.run(());
    if let Ok(interval) = set_interval_with_handle(move || reload.run(()), POLL) {
        on_cleanup(move || interval.clear());
    }
    let plugin_names = Signal::derive(move || {
        registry.with(|r| {
            r.as_ref()
                .map(|r| r.plugins.iter().map(|p| p.name.clone()).collect())
                .unwrap_or_default()
        })
    });
    let queue_names = Signal::derive(move || {
        registry.with(|r| r.as_ref().map(|r| r.queues.clone()).unwrap_or_default())
    });
    view! {
        <div class="page-head">
            <h1>"Plugins"</h1>
            <span class="muted">
                "WebAssembly components that consumers run on every batch. A new active version takes over from the next batch; nothing restarts."
            </span>
        </div>
        <ErrorBanner error=error />
        <Notice notice=notice />
        <UploadForm reload=reload notice=notice />
        {move || registry.get().map(|r| view! {
            <h2>"Plugins"</h2>
            <PluginCards registry=r.clone() reload=reload error=error notice=notice />
            <h2>"Consumers"</h2>
            <ConsumerTable consumers=r.consumers reload=reload error=error />
        })}
        <section class="forms">
            <NewConsumerForm plugins=plugin_names queues=queue_names reload=reload />
        </section>
    }
}

/// Upload a .wasm as a version of a plugin (created on its first version).
#[component]
fn UploadForm(reload: Callback<()>, notice: RwSignal<Option<String>>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let activate = RwSignal::new(true);
    let file_input = NodeRef::<leptos::html::Input>::new();
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let upload = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let plugin = name.get_untracked().trim().to_string();
        if plugin.is_empty() {
            return error.set(Some("Name the plugin (for example mailer).".into()));
        }
        let file = file_input
            .get_untracked()
            .and_then(|input| input.files())
            .and_then(|files| files.get(0));
        let Some(file) = file else {
            return error.set(Some("Choose the plugin's .wasm file.".into()));
        };
        let path = format!(
            "/v1/plugins/{}/versions?activate={}",
            api::segment(&plugin),
            activate.get_untracked()
        );
        busy.set(true);
        spawn_local(async move {
            match api::upload::<DeployedVersion>(&path, file, "application/wasm").await {
                Ok(deployed) => {
                    error.set(None);
                    notice.set(Some(upload_notice(&deployed)));
                    if let Some(input) = file_input.get_untracked() {
                        input.set_value("");
                    }
                    reload.run(());
                }
                Err(e) => error.set(Some(e.explain())),
            }
            busy.set(false);
        });
    };
    view! {
        <form class="card form" id="upload-plugin" on:submit=upload>
            <h3>"Upload a version"</h3>
            <div class="row">
                <TextField label="Plugin" name="plugin-name" placeholder="mailer" value=name />
                <label>
                    "Component (.wasm, built for wasm32-wasip2 with switchyard-sdk)"
                    <input type="file" name="plugin-file" accept=".wasm,application/wasm" node_ref=file_input />
                </label>
            </div>
            <label class="check">
                <input
                    type="checkbox"
                    name="activate"
                    prop:checked=move || activate.get()
                    on:change=move |ev| activate.set(event_target_checked(&ev))
                />
                "Activate it now (consumers switch on their next batch)"
            </label>
            {form_error(error)}
            <button type="submit" prop:disabled=move || busy.get()>
                {move || if busy.get() { "Uploading…" } else { "Upload" }}
            </button>
        </form>
    }
}

/// What an upload did, in a sentence.
fn upload_notice(deployed: &DeployedVersion) -> String {
    let version = format::short_version(&deployed.version);
    let what = if deployed.created {
        format!("Uploaded version {version} of {}", deployed.plugin)
    } else {
        format!(
            "{} already had this exact build as version {version}",
            deployed.plugin
        )
    };
    if deployed.active {
        format!("{what}; it is the active version.")
    } else {
        format!("{what}; activate it when you are ready.")
    }
}

/// One card per plugin: its versions, which is active, and who runs it.
#[component]
fn PluginCards(
    registry: Registry,
    reload: Callback<()>,
    error: RwSignal<Option<ApiFailure>>,
    notice: RwSignal<Option<String>>,
) -> impl IntoView {
    if registry.plugins.is_empty() {
        return view! {
            <EmptyState title="No plugins yet">
                "Build a plugin with switchyard-sdk (cargo build --target wasm32-wasip2 --release) and upload its .wasm above."
            </EmptyState>
        }
        .into_any();
    }
    registry
        .plugins
        .into_iter()
        .map(|plugin| {
            let users: Vec<&Consumer> = registry
                .consumers
                .iter()
                .filter(|c| c.plugin == plugin.name)
                .collect();
            let faults: u64 = users.iter().map(|c| c.stats.faults.values().sum::<u64>()).sum();
            let last_error = users
                .iter()
                .filter_map(|c| c.stats.last_error.as_ref().map(|e| (c.name.clone(), e.clone())))
                .max_by_key(|(_, e)| e.at_ms)
                .map(|(consumer, e)| {
                    view! {
                        <p class="last-error">
                            <strong>"Last error"</strong>
                            " (" {consumer} ", " {format::ago(e.at_ms)} "): " {e.kind} ": " {e.message}
                        </p>
                    }
                });
            let used_by = match users.len() {
                0 => "no consumers run it yet".to_string(),
                1 => format!("run by 1 consumer ({})", users[0].name),
                n => format!("run by {n} consumers"),
            };
            let active = plugin
                .active_version
                .as_deref()
                .map_or_else(|| "none".to_string(), |v| format::short_version(v).to_string());
            let (name, heading) = (plugin.name.clone(), plugin.name.clone());
            view! {
                <article class="card plugin-card" data-plugin=name>
                    <header class="plugin-head">
                        <h3>{heading}</h3>
                        <span class="muted">
                            "active " <code class="active-version">{active}</code> " · " {used_by}
                            " · " {format::count(faults)} " faults"
                        </span>
                    </header>
                    {last_error}
                    <VersionTable plugin=plugin reload=reload error=error notice=notice />
                </article>
            }
        })
        .collect_view()
        .into_any()
}

/// A plugin's versions, oldest first, each with a button to make it the active one.
#[component]
fn VersionTable(
    plugin: Plugin,
    reload: Callback<()>,
    error: RwSignal<Option<ApiFailure>>,
    notice: RwSignal<Option<String>>,
) -> impl IntoView {
    let active_index = plugin.versions.iter().position(|v| v.active);
    let name = plugin.name.clone();
    let rows = plugin
        .versions
        .into_iter()
        .enumerate()
        .map(|(i, version)| {
            let short = format::short_version(&version.version).to_string();
            let action = if version.active {
                view! { <span class="badge ready">"active"</span> }.into_any()
            } else {
                let label = if active_index.is_some_and(|a| i < a) { "roll back to this" } else { "activate" };
                let path = format!("/v1/plugins/{}/activate", api::segment(&name));
                let body = ActivateVersion { version: version.version.clone() };
                let done = format!("{name} now runs version {short}.");
                let activate = move |_| {
                    let (path, body, done) = (path.clone(), body.clone(), done.clone());
                    spawn_local(async move {
                        match api::post::<_, Plugin>(&path, &body).await {
                            Ok(_) => {
                                notice.set(Some(done));
                                reload.run(());
                            }
                            Err(e) => error.set(Some(e)),
                        }
                    });
                };
                view! { <button class="secondary small-button" on:click=activate>{label}</button> }.into_any()
            };
            view! {
                <tr data-version=version.version.clone()>
                    <td><code title=version.version.clone()>{short.clone()}</code></td>
                    <td class="num">{format::bytes(version.size_bytes)}</td>
                    <td title=format::timestamp(version.uploaded_at_ms)>{format::ago(version.uploaded_at_ms)}</td>
                    <td>{action}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <DataTable columns=&[("Version", false), ("Size", true), ("Uploaded", false), ("", false)]>
            {rows}
        </DataTable>
    }
}

/// Every consumer with its live counts and last error.
#[component]
fn ConsumerTable(
    consumers: Vec<Consumer>,
    reload: Callback<()>,
    error: RwSignal<Option<ApiFailure>>,
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
        .map(|c| view! { <ConsumerRow consumer=c reload=reload error=error /> })
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

/// One consumer's row, with pause / resume and delete.
#[component]
fn ConsumerRow(
    consumer: Consumer,
    reload: Callback<()>,
    error: RwSignal<Option<ApiFailure>>,
) -> impl IntoView {
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
    let toggle = move |_| {
        let path = toggle_path.clone();
        spawn_local(async move {
            match api::post::<_, Consumer>(&path, &serde_json::json!({})).await {
                Ok(_) => reload.run(()),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let remove = move |_| {
        let path = base.clone();
        spawn_local(async move {
            match api::delete(&path).await {
                Ok(()) => reload.run(()),
                Err(e) => error.set(Some(e)),
            }
        });
    };
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
                    <button class="link" on:click=toggle>{toggle_label}</button>
                    <button class="link danger" title="Stop and remove this consumer (its queue keeps its messages)" on:click=remove>
                        "delete"
                    </button>
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
fn NewConsumerForm(
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
            <button type="submit">"Create consumer"</button>
        </form>
    }
}
