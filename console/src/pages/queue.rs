//! Queues: a list to pick from, and one queue's page: settings, live counts, its messages
//! (peek, without leasing), dead letters with their reasons, redrive and purge.

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use switchyard_client::{
    Action, Kind, Message, PeekResponse, Queue, QueueList as QueueListBody, QueueOrdering,
    RedriveJob, RedriveRequest,
};

use super::queue_settings::QueueSettingsForm;
use crate::api::{self, ApiFailure};
use crate::format;
use crate::permit::{Permit, PurgeButton, ScopedButton};
use crate::widgets::{
    DataTable, EmptyState, ErrorBanner, MessageIdCell, Notice, PayloadCell, StateBadge,
};

/// Messages shown per page of the browser.
const PAGE: u32 = 50;

/// The Queues page: every queue, to pick one.
#[component]
pub(crate) fn QueueList() -> impl IntoView {
    let queues = RwSignal::new(None::<Vec<Queue>>);
    let error = RwSignal::new(None::<ApiFailure>);
    spawn_local(async move {
        match api::get::<QueueListBody>("/v1/queues").await {
            Ok(list) => queues.set(Some(list.queues)),
            Err(e) => error.set(Some(e)),
        }
    });
    view! {
        <div class="page-head">
            <h1>"Queues"</h1>
            <span class="muted">"Pick a queue to browse its messages and dead letters."</span>
        </div>
        <ErrorBanner error=error />
        {move || queues.get().map(|list| {
            if list.is_empty() {
                return view! {
                    <EmptyState title="No queues yet">
                        "Create one on the " <a href="#/wiring">"Wiring"</a> " page."
                    </EmptyState>
                }
                    .into_any();
            }
            let cards = list
                .into_iter()
                .map(|q| {
                    let stats = q.stats.unwrap_or_default();
                    view! {
                        <a class="card queue-card" href=format!("#/queues/{}", q.name)>
                            <strong>{q.name.clone()}</strong>
                            <span class="muted">
                                {format::count(stats.ready)} " ready · "
                                {format::count(stats.in_flight)} " in flight · "
                                {format::count(stats.dead_lettered)} " dead-lettered"
                            </span>
                        </a>
                    }
                })
                .collect_view();
            view! { <section class="queue-cards">{cards}</section> }.into_any()
        })}
    }
}

/// One queue's page.
#[component]
pub(crate) fn QueuePage(name: String) -> impl IntoView {
    let queue = RwSignal::new(None::<Queue>);
    let messages = RwSignal::new(Vec::<Message>::new());
    let more = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiFailure>);
    let notice = RwSignal::new(None::<String>);
    let editing = RwSignal::new(false);
    let base = StoredValue::new(format!("/v1/queues/{name}"));
    let manage = Permit::to(Action::Manage, Kind::Queue, &name);

    let refresh_stats = move || {
        spawn_local(async move {
            match api::get::<Queue>(&base.get_value()).await {
                Ok(q) => queue.set(Some(q)),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    // Loads the first page of messages, or the next one after the last shown.
    let browse = move |next: bool| {
        spawn_local(async move {
            let after = if next {
                messages.with_untracked(|m| m.last().map(|m| format!("&after={}", m.id)))
            } else {
                None
            };
            let path = format!(
                "{}/messages?limit={PAGE}{}",
                base.get_value(),
                after.unwrap_or_default()
            );
            match api::get::<PeekResponse>(&path).await {
                Ok(page) => {
                    more.set(page.messages.len() as u32 == PAGE);
                    if next {
                        messages.update(|m| m.extend(page.messages));
                    } else {
                        messages.set(page.messages);
                    }
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let reload = move || {
        refresh_stats();
        browse(false);
    };
    reload();
    if let Ok(interval) = set_interval_with_handle(refresh_stats, Duration::from_secs(2)) {
        on_cleanup(move || interval.clear());
    }

    let redrive = Callback::new(move |()| {
        spawn_local(async move {
            match api::redrive(&base.get_value(), &RedriveRequest::default()).await {
                Ok(done) => {
                    notice.set(Some(redrive_note(&done)));
                    error.set(None);
                    reload();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    });

    view! {
        <div class="page-head">
            <h1>
                <span class="muted">"Queue "</span>
                {name.clone()}
            </h1>
            <div class="actions">
                <button class="secondary" on:click=move |_| reload()>"Refresh"</button>
                <ScopedButton
                    permit=manage
                    class="secondary"
                    id="edit-settings"
                    on_click=Callback::new(move |()| editing.update(|e| *e = !*e))
                >
                    "Settings…"
                </ScopedButton>
                <ScopedButton permit=manage class="secondary" id="redrive" on_click=redrive>
                    "Redrive dead letters"
                </ScopedButton>
                <PurgeButton
                    permit=manage
                    id="purge"
                    queue_path=base.get_value()
                    notice=notice
                    error=error
                    purged=Callback::new(move |()| reload())
                />
            </div>
        </div>
        <ErrorBanner error=error />
        <Notice notice=notice />
        {move || queue.get().map(|q| view! { <QueueFacts queue=q /> })}
        {move || {
            editing.get().then(|| queue.get_untracked()).flatten().map(|q| {
                let saved = Callback::new(move |stored: Queue| {
                    editing.set(false);
                    queue.set(Some(stored));
                    notice.set(Some("Settings saved.".into()));
                    refresh_stats();
                });
                view! {
                    <QueueSettingsForm queue=q saved=saved cancel=Callback::new(move |()| editing.set(false)) />
                }
            })
        }}
        {move || {
            let all = messages.get();
            let (dead, live): (Vec<Message>, Vec<Message>) =
                all.into_iter().partition(|m| m.dead_letter.is_some());
            view! {
                <DeadLetters messages=dead />
                <h2>"Messages"</h2>
                <MessageTable messages=live />
            }
        }}
        {move || more.get().then(|| view! {
            <button class="secondary" on:click=move |_| browse(true)>"Show more"</button>
        })}
    }
}

fn redrive_note(done: &RedriveJob) -> String {
    match (done.moved, done.skipped) {
        (0, 0) => "No dead letters were ready to redrive.".into(),
        (moved, 0) => format!(
            "Moved {} messages back to their source queues.",
            format::count(moved)
        ),
        (moved, skipped) => format!(
            "Moved {} messages back; {} stayed because their source queue no longer exists.",
            format::count(moved),
            format::count(skipped)
        ),
    }
}

/// Settings and live counts.
#[component]
fn QueueFacts(queue: Queue) -> impl IntoView {
    let stats = queue.stats.clone().unwrap_or_default();
    let cards = [
        ("Ready", stats.ready),
        ("In flight", stats.in_flight),
        ("Delayed", stats.delayed),
        ("Behind key", stats.behind_key),
        ("Dead-lettered", stats.dead_lettered),
    ]
    .into_iter()
    .map(|(label, n)| {
        view! {
            <div class="card stat small">
                <span class="label">{label}</span>
                <span class="value">{format::count(n)}</span>
            </div>
        }
    })
    .collect_view();
    let dlq = match (&queue.dead_letter_queue, queue.max_receive_count) {
        (Some(dlq), Some(max)) => view! {
            "after " {max} " receives → " <a href=format!("#/queues/{dlq}")>{dlq.clone()}</a>
        }
        .into_any(),
        _ => view! { "none" }.into_any(),
    };
    view! {
        <section class="cards" id="queue-stats">
            {cards}
            <div class="card stat small">
                <span class="label">"Oldest"</span>
                <span class="value">{stats.oldest_age_ms.map_or_else(|| "–".into(), format::age)}</span>
            </div>
        </section>
        <dl class="facts inline">
            <dt>"Visibility timeout"</dt>
            <dd>{format::age(queue.visibility_timeout_ms)}</dd>
            <dt>"Delay"</dt>
            <dd>{format::age(queue.delay_ms)}</dd>
            <dt>"Retention"</dt>
            <dd>{format::age(queue.retention_ms)}</dd>
            <dt>"Dead letters"</dt>
            <dd>{dlq}</dd>
            <dt>"Ordering"</dt>
            <dd>{match queue.ordering {
                QueueOrdering::None => "none",
                QueueOrdering::PerKey => "per key: one message of a key at a time",
            }}</dd>
            <dt>"Fairness"</dt>
            <dd>{queue.fairness.as_ref().map_or_else(|| "none: oldest first".to_string(), |fair| {
                let weights: Vec<String> = fair.weights.iter().map(|(g, w)| format!("{g} ×{w}")).collect();
                let weights = if weights.is_empty() { String::new() } else { format!(" ({})", weights.join(", ")) };
                format!("turns by {}{weights}", fair.by)
            })}</dd>
            <dt>"Retry"</dt>
            <dd>{queue.retry.as_ref().map_or_else(|| "at once (a lease: when it ends)".to_string(), |retry| retry.describe(format::age))}</dd>
        </dl>
    }
}

const DEAD_LETTER_COLUMNS: &[(&str, bool)] = &[
    ("Message", false),
    ("From", false),
    ("Reason", false),
    ("Receives", true),
    ("Dead-lettered", false),
    ("Payload", false),
];

const MESSAGE_COLUMNS: &[(&str, bool)] = &[
    ("Message", false),
    ("State", false),
    ("Receives", true),
    ("Published", false),
    ("Attributes", false),
    ("Payload", false),
];

/// Messages that were dead-lettered into this queue, with why.
#[component]
fn DeadLetters(messages: Vec<Message>) -> impl IntoView {
    (!messages.is_empty()).then(|| {
        let rows = messages
            .into_iter()
            .map(|m| {
                let dl = m.dead_letter.clone().expect("partitioned on dead_letter");
                view! {
                    <tr data-message=m.id.clone()>
                        <MessageIdCell id=m.id.clone() />
                        <td>
                            <a href=format!("#/queues/{}", dl.source_queue)>{dl.source_queue.clone()}</a>
                        </td>
                        <td class="reason">{dl.reason.clone()}</td>
                        <td class="num">{dl.receive_count}</td>
                        <td>{format::ago(dl.dead_lettered_at_ms)}</td>
                        <PayloadCell preview=format::payload_preview(&m) />
                    </tr>
                }
            })
            .collect_view();
        view! {
            <h2>"Dead letters"</h2>
            <DataTable id="dead-letters" columns=DEAD_LETTER_COLUMNS>
                {rows}
            </DataTable>
        }
    })
}

/// Messages in publish order with their state, receive count, attributes and payload.
#[component]
fn MessageTable(messages: Vec<Message>) -> impl IntoView {
    if messages.is_empty() {
        return view! {
            <EmptyState title="This queue is empty">
                "Messages appear here when a topic it subscribes to gets a matching publish, or on a direct send ("
                <code>"POST /v1/queues/NAME/messages"</code>
                ")."
            </EmptyState>
        }
            .into_any();
    }
    let rows = messages
        .into_iter()
        .map(|m| {
            let attributes = m
                .attributes
                .iter()
                .map(|(k, v)| view! { <span class="attr">{k.clone()} "=" {v.clone()}</span> })
                .collect_view();
            view! {
                <tr data-message=m.id.clone()>
                    <MessageIdCell id=m.id.clone() />
                    <td>{m.state.map(|state| view! { <StateBadge state=state /> })}</td>
                    <td class="num">{m.receive_count}</td>
                    <td>{format::ago(m.published_at_ms)}</td>
                    <td>{attributes} {m.key.clone().map(|k| view! { <span class="attr key">"key=" {k}</span> })}</td>
                    <PayloadCell preview=format::payload_preview(&m) />
                </tr>
            }
        })
        .collect_view();
    view! {
        <DataTable id="messages" columns=MESSAGE_COLUMNS>
            {rows}
        </DataTable>
    }
    .into_any()
}
