//! Plugins: upload a component (.wasm) as a new version, see every plugin's versions, activate
//! one or roll back, delete one not active; and the consumers that run them (in `consumers`): their live counts,
//! last error, log, pause, resume, edit, delete, and a form to wire a plugin to a queue.

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use switchyard_client::{
    Action, ActivateVersion, Consumer, ConsumerList, DeployedVersion, Kind, Plugin, PluginList,
    QueueList,
};

use crate::api::{self, ApiFailure};
use crate::fields::{CheckField, TextField, form_error};
use crate::format;
use crate::permit::{Permit, ScopedButton, need};
use crate::widgets::{DataTable, EmptyState, ErrorBanner, Notice};
use consumer_settings::ConsumerSettingsForm;
use consumers::{ConsumerTable, NewConsumerForm};
use logs::ConsumerLogPanel;

mod consumer_settings;
mod consumers;
mod logs;

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
    let editing = RwSignal::new(None::<Consumer>);
    let log_of = RwSignal::new(None::<String>);
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
            <ConsumerTable
                consumers=r.consumers
                reload=reload
                error=error
                edit=Callback::new(move |c| editing.set(Some(c)))
                show_log=Callback::new(move |name| log_of.set(Some(name)))
            />
        })}
        {move || log_of.get().map(|name| view! {
            <ConsumerLogPanel name=name close=Callback::new(move |()| log_of.set(None)) />
        })}
        {move || editing.get().map(|consumer| {
            let saved = Callback::new(move |stored: Consumer| {
                editing.set(None);
                notice.set(Some(format!("Consumer {} saved.", stored.name)));
                reload.run(());
            });
            view! {
                <ConsumerSettingsForm
                    consumer=consumer
                    plugins=plugin_names
                    saved=saved
                    cancel=Callback::new(move |()| editing.set(None))
                />
            }
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
    let permit = Permit::new(move || vec![need(Action::Deploy, Kind::Plugin, name.get())]);
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
            <CheckField
                label="Activate it now (consumers switch on their next batch)"
                name="activate"
                value=activate
            />
            {form_error(error)}
            <ScopedButton permit=permit submit=true hint=true busy=busy>
                {move || if busy.get() { "Uploading…" } else { "Upload" }}
            </ScopedButton>
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

/// A plugin's versions, oldest first, each not active with buttons to make it the active
/// one and to delete it.
#[component]
fn VersionTable(
    plugin: Plugin,
    reload: Callback<()>,
    error: RwSignal<Option<ApiFailure>>,
    notice: RwSignal<Option<String>>,
) -> impl IntoView {
    let active_index = plugin.versions.iter().position(|v| v.active);
    let name = plugin.name.clone();
    let deploy = Permit::to(Action::Deploy, Kind::Plugin, &name);
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
                let remove = delete_version(&name, &version.version, reload, error, notice);
                let activate = Callback::new(move |()| {
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
                });
                view! {
                    <ScopedButton permit=deploy class="secondary small-button" on_click=activate>
                        {label}
                    </ScopedButton>
                    " "
                    <ScopedButton
                        permit=deploy
                        class="link danger"
                        title="Delete this version (the active one cannot be)"
                        on_click=remove
                    >
                        "delete"
                    </ScopedButton>
                }
                .into_any()
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

/// Deletes a version that is not the active one, then reloads.
fn delete_version(
    name: &str,
    version: &str,
    reload: Callback<()>,
    error: RwSignal<Option<ApiFailure>>,
    notice: RwSignal<Option<String>>,
) -> Callback<()> {
    let path = format!(
        "/v1/plugins/{}/versions/{}",
        api::segment(name),
        api::segment(version)
    );
    let done = format!(
        "Deleted version {} of {name}.",
        format::short_version(version)
    );
    Callback::new(move |()| {
        let (path, done) = (path.clone(), done.clone());
        spawn_local(async move {
            match api::delete(&path).await {
                Ok(()) => {
                    notice.set(Some(done));
                    reload.run(());
                }
                Err(e) => error.set(Some(e)),
            }
        });
    })
}
