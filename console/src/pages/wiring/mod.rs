//! Wiring: topics → subscriptions (with their filters) → queues, drawn as a picture, with
//! forms to create each and, in place, to edit a subscription's filter or delete anything.
//! Each queue names the consumers (plugins) that run on its messages.

mod filter_editor;
mod forms;

use leptos::prelude::*;
use leptos::task::spawn_local;
use switchyard_client::{
    Action, ConsumerList, Kind, PatchSubscription, Queue, QueueList, Subscription,
    SubscriptionList, Topic, TopicList,
};

use crate::api::{self, ApiFailure};
use crate::permit::{Permit, ScopedButton, need};
use crate::widgets::{EmptyState, ErrorBanner, Notice};
use filter_editor::{FilterCheck, FilterEditor};
use forms::{NewQueueForm, NewSubscriptionForm, NewTopicForm};

/// Everything the page draws.
#[derive(Debug, Clone, Default)]
pub(crate) struct Wiring {
    topics: Vec<Topic>,
    queues: Vec<Queue>,
    subscriptions: Vec<Subscription>,
    /// Each consumer's name, queue and plugin.
    consumers: Vec<ConsumerLink>,
}

/// A consumer as the picture shows it: which plugin runs on which queue.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ConsumerLink {
    name: String,
    queue: String,
    plugin: String,
}

impl Wiring {
    /// The consumers that run on `queue`.
    fn consumers_of(&self, queue: &str) -> Vec<ConsumerLink> {
        self.consumers
            .iter()
            .filter(|c| c.queue == queue)
            .cloned()
            .collect()
    }
}

async fn load() -> Result<Wiring, ApiFailure> {
    Ok(Wiring {
        topics: api::get::<TopicList>("/v1/topics").await?.topics,
        queues: api::get::<QueueList>("/v1/queues").await?.queues,
        subscriptions: api::get::<SubscriptionList>("/v1/subscriptions")
            .await?
            .subscriptions,
        consumers: api::get::<ConsumerList>("/v1/consumers")
            .await?
            .consumers
            .into_iter()
            .map(|c| ConsumerLink {
                name: c.name,
                queue: c.queue,
                plugin: c.plugin,
            })
            .collect(),
    })
}

/// The Wiring page.
#[component]
pub(crate) fn WiringPage() -> impl IntoView {
    let wiring = RwSignal::new(Wiring::default());
    let loaded = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiFailure>);
    let notice = RwSignal::new(None::<String>);
    let reload = Callback::new(move |()| {
        spawn_local(async move {
            match load().await {
                Ok(data) => {
                    wiring.set(data);
                    loaded.set(true);
                    error.set(None);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    });
    reload.run(());
    view! {
        <div class="page-head">
            <h1>"Wiring"</h1>
            <span class="muted">"Publishers send to topics; subscriptions copy matching messages into queues."</span>
        </div>
        <ErrorBanner error=error />
        <Notice notice=notice />
        {move || loaded.get().then(|| view! { <Picture wiring=wiring reload=reload error=error /> })}
        <section class="forms">
            <NewTopicForm reload=reload />
            <NewQueueForm wiring=wiring reload=reload />
            <NewSubscriptionForm wiring=wiring reload=reload />
        </section>
    }
}

/// A small button that deletes `path`, then reloads (or shows why it could not); disabled
/// without `permit`.
#[component]
fn DeleteButton(
    path: String,
    label: &'static str,
    title: &'static str,
    permit: Permit,
    error: RwSignal<Option<ApiFailure>>,
    reload: Callback<()>,
) -> impl IntoView {
    let remove = Callback::new(move |()| {
        let path = path.clone();
        spawn_local(async move {
            match api::delete(&path).await {
                Ok(()) => reload.run(()),
                Err(e) => error.set(Some(e)),
            }
        });
    });
    view! {
        <ScopedButton permit=permit class="link danger" title=title on_click=remove>
            {label}
        </ScopedButton>
    }
}

/// What changing a subscription needs: manage on its topic and on its queue.
fn subscription_permit(subscription: &Subscription) -> Permit {
    let needs = vec![
        need(Action::Manage, Kind::Topic, subscription.topic.clone()),
        need(Action::Manage, Kind::Queue, subscription.queue.clone()),
    ];
    Permit::new(move || needs.clone())
}

/// Topics on the left, each subscription (with its filter) in the middle, queues on the
/// right; one row per subscription, arrows between.
#[component]
fn Picture(
    wiring: RwSignal<Wiring>,
    reload: Callback<()>,
    error: RwSignal<Option<ApiFailure>>,
) -> impl IntoView {
    move || {
        let w = wiring.get();
        // The server's own topic of alarm transitions is always there: alone, it is nothing
        // wired yet.
        let own = |t: &switchyard_client::Topic| {
            t.name == switchyard_client::ALARMS_TOPIC && t.subscriptions == 0
        };
        if w.topics.iter().all(own) && w.queues.is_empty() {
            return view! {
                <EmptyState title="Nothing is wired yet">
                    "Create a topic and a queue with the forms below, then subscribe the queue to the topic. "
                    "Alarms publish their transitions to the topic "
                    <code>{switchyard_client::ALARMS_TOPIC}</code>
                    ": subscribe a queue to it to route them."
                </EmptyState>
            }
            .into_any();
        }
        let topics = w
            .topics
            .iter()
            .map(|topic| {
                let subs: Vec<Subscription> = w
                    .subscriptions
                    .iter()
                    .filter(|s| s.topic == topic.name)
                    .cloned()
                    .collect();
                let delete_path = format!("/v1/topics/{}", topic.name);
                let archived = topic.archive.is_some();
                let rows = if subs.is_empty() {
                    let note = if archived {
                        "No subscriptions: messages published here are kept only in the topic's archive. Subscribe a queue below."
                    } else {
                        "No subscriptions: messages published here are not kept. Subscribe a queue below."
                    };
                    view! { <div class="lane empty-lane">{note}</div> }.into_any()
                } else {
                    subs.into_iter()
                        .map(|s| {
                            let dlq = w
                                .queues
                                .iter()
                                .find(|q| q.name == s.queue)
                                .and_then(|q| q.dead_letter_queue.clone());
                            let consumers = w.consumers_of(&s.queue);
                            view! {
                                <SubscriptionLane
                                    subscription=s
                                    dead_letter_queue=dlq
                                    consumers=consumers
                                    reload=reload
                                    error=error
                                />
                            }
                        })
                        .collect_view()
                        .into_any()
                };
                view! {
                    <div class="flow" data-topic=topic.name.clone()>
                        <div class="node topic">
                            <span class="kind">"topic"</span>
                            <strong>{topic.name.clone()}</strong>
                            {archived.then(|| view! { <span class="sub">"keeps an archive"</span> })}
                            <DeleteButton
                                path=delete_path
                                label="delete"
                                title="Delete this topic and its subscriptions (queues stay)"
                                permit=Permit::to(Action::Manage, Kind::Topic, &topic.name)
                                error=error
                                reload=reload
                            />
                        </div>
                        <div class="lanes">{rows}</div>
                    </div>
                }
            })
            .collect_view();
        let unsubscribed: Vec<Queue> = w
            .queues
            .iter()
            .filter(|q| !w.subscriptions.iter().any(|s| s.queue == q.name))
            .cloned()
            .collect();
        let loose = (!unsubscribed.is_empty()).then(|| {
            let nodes = unsubscribed
                .into_iter()
                .map(|q| {
                    let consumers = w.consumers_of(&q.name);
                    view! {
                        <QueueNode
                            queue=q.name
                            dead_letter_queue=q.dead_letter_queue
                            consumers=consumers
                            reload=reload
                            error=error
                        />
                    }
                })
                .collect_view();
            view! {
                <h3 class="muted">"Queues no topic feeds (direct sends and dead-letter queues)"</h3>
                <div class="loose">{nodes}</div>
            }
        });
        view! {
            <section class="picture" id="wiring-picture">
                {topics}
                {loose}
            </section>
        }
        .into_any()
    }
}

/// A queue in the picture, linking to its detail page, with the consumers that run on it.
#[component]
fn QueueNode(
    queue: String,
    dead_letter_queue: Option<String>,
    consumers: Vec<ConsumerLink>,
    reload: Callback<()>,
    error: RwSignal<Option<ApiFailure>>,
) -> impl IntoView {
    let delete_path = format!("/v1/queues/{queue}");
    let dlq =
        dead_letter_queue.map(|dlq| view! { <span class="sub">"dead letters → " {dlq}</span> });
    let consumers = consumers
        .into_iter()
        .map(|c| {
            let id = c.name.clone();
            view! {
                <a class="consumer-line" href="#/plugins" data-consumer=id>
                    "⚙ " {c.name} " runs " {c.plugin}
                </a>
            }
        })
        .collect_view();
    view! {
        <div class="node queue" data-queue=queue.clone()>
            <span class="kind">"queue"</span>
            <a href=format!("#/queues/{queue}")>
                <strong>{queue.clone()}</strong>
            </a>
            {dlq}
            {consumers}
            <DeleteButton
                path=delete_path
                label="delete"
                title="Delete this queue and its messages"
                permit=Permit::to(Action::Manage, Kind::Queue, &queue)
                error=error
                reload=reload
            />
        </div>
    }
}

/// One subscription: its filter (editable in place) and the queue it feeds.
#[component]
fn SubscriptionLane(
    subscription: Subscription,
    dead_letter_queue: Option<String>,
    consumers: Vec<ConsumerLink>,
    reload: Callback<()>,
    error: RwSignal<Option<ApiFailure>>,
) -> impl IntoView {
    let editing = RwSignal::new(false);
    let filter_text = RwSignal::new(
        subscription
            .filter
            .as_ref()
            .map(|f| serde_json::to_string_pretty(f).unwrap_or_default())
            .unwrap_or_default(),
    );
    let check = RwSignal::new(FilterCheck::Empty);
    let save_error = RwSignal::new(None::<String>);
    let id = subscription.id.clone();
    let topic = subscription.topic.clone();
    let save = move |_| {
        let filter = match check.get_untracked().filter() {
            Ok(filter) => filter,
            Err(why) => return save_error.set(Some(why)),
        };
        let path = format!("/v1/subscriptions/{id}");
        spawn_local(async move {
            match api::patch::<_, Subscription>(&path, &PatchSubscription { filter }).await {
                Ok(_) => {
                    editing.set(false);
                    reload.run(());
                }
                Err(e) => save_error.set(Some(e.explain())),
            }
        });
    };
    let summary = subscription
        .filter
        .as_ref()
        .map_or_else(|| "every message".to_string(), |f| f.to_string());
    let delete_path = format!("/v1/subscriptions/{}", subscription.id);
    let editor_id = format!("filter-{}", subscription.id);
    let permit = subscription_permit(&subscription);
    view! {
        <div class="lane" data-subscription=subscription.id.clone()>
            <span class="arrow">"→"</span>
            <div class="node filter-node">
                <span class="kind">"filter"</span>
                <code class="filter-summary" title=summary.clone()>{summary.clone()}</code>
                <span class="actions">
                    <ScopedButton
                        permit=permit
                        class="link"
                        on_click=Callback::new(move |()| editing.update(|e| *e = !*e))
                    >
                        {move || if editing.get() { "cancel" } else { "edit filter" }}
                    </ScopedButton>
                    <DeleteButton
                        path=delete_path
                        label="unsubscribe"
                        title="Stop copying this topic's messages into the queue"
                        permit=permit
                        error=error
                        reload=reload
                    />
                </span>
            </div>
            <span class="arrow">"→"</span>
            <QueueNode
                queue=subscription.queue.clone()
                dead_letter_queue=dead_letter_queue
                consumers=consumers
                reload=reload
                error=error
            />
        </div>
        {move || {
            editing.get().then(|| view! {
                <div class="lane-editor">
                    <FilterEditor
                        text=filter_text
                        check=check
                        id=editor_id.clone()
                        topic=Signal::stored(topic.clone())
                    />
                    {move || save_error.get().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
                    <button on:click=save.clone()>"Save filter"</button>
                </div>
            })
        }}
    }
}
