//! The Wiring page's forms: a new topic, a new queue, a new subscription.

use leptos::prelude::*;
use switchyard_client::{
    Action, ArchiveSettings, CreateQueue, CreateSubscription, CreateTopic, Kind, Queue,
    Subscription, Topic,
};

use super::Wiring;
use super::filter_editor::{FilterCheck, FilterEditor};
use crate::fields::{CheckField, Choice, TextField, form_error, optional_number, submit};
use crate::permit::{Permit, ScopedButton, need};

/// Create a topic.
#[component]
pub(crate) fn NewTopicForm(reload: Callback<()>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let archive = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let permit = Permit::new(move || vec![need(Action::Manage, Kind::Topic, name.get())]);
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = CreateTopic {
            name: name.get_untracked().trim().to_string(),
            archive: archive.get_untracked().then(ArchiveSettings::default),
        };
        submit(
            "/v1/topics",
            body,
            error,
            move |_: Topic| {
                name.set(String::new());
                archive.set(false);
            },
            reload,
        );
    };
    view! {
        <form class="card form" id="new-topic" on:submit=create>
            <h3>"New topic"</h3>
            <TextField label="Name" name="topic-name" placeholder="signups" value=name />
            <CheckField
                label="Keep an archive (replay it into queues later; try filters on recent messages)"
                name="topic-archive"
                value=archive
            />
            {form_error(error)}
            <ScopedButton permit=permit submit=true hint=true>"Create topic"</ScopedButton>
        </form>
    }
}

fn queue_names(wiring: &Wiring) -> Vec<String> {
    wiring.queues.iter().map(|q| q.name.clone()).collect()
}

/// Create a queue, optionally with a dead-letter queue.
#[component]
pub(crate) fn NewQueueForm(wiring: RwSignal<Wiring>, reload: Callback<()>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let visibility_s = RwSignal::new(String::new());
    let max_receives = RwSignal::new(String::new());
    let dead_letter_queue = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let permit = Permit::new(move || {
        let mut needs = vec![need(Action::Manage, Kind::Queue, name.get())];
        let dlq = dead_letter_queue.get();
        if !dlq.is_empty() {
            needs.push(need(Action::Manage, Kind::Queue, dlq));
        }
        needs
    });
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let settings = optional_number::<u64>(&visibility_s.get_untracked(), "Visibility timeout")
            .and_then(|v| {
                optional_number::<u32>(&max_receives.get_untracked(), "Max receives")
                    .map(|m| (v, m))
            });
        let (visibility, max_receive_count) = match settings {
            Ok(settings) => settings,
            Err(why) => return error.set(Some(why)),
        };
        let dlq = dead_letter_queue.get_untracked();
        let body = CreateQueue {
            name: name.get_untracked().trim().to_string(),
            visibility_timeout_ms: visibility.map(|s| s.saturating_mul(1000)),
            max_receive_count,
            dead_letter_queue: (!dlq.is_empty()).then_some(dlq),
            ..CreateQueue::default()
        };
        let clear = move |_: Queue| {
            for field in [name, visibility_s, max_receives, dead_letter_queue] {
                field.set(String::new());
            }
        };
        submit("/v1/queues", body, error, clear, reload);
    };
    view! {
        <form class="card form" id="new-queue" on:submit=create>
            <h3>"New queue"</h3>
            <TextField label="Name" name="queue-name" placeholder="mail" value=name />
            <div class="row">
                <TextField label="Visibility timeout (s)" name="visibility" placeholder="30" value=visibility_s />
                <TextField label="Max receives" name="max-receives" placeholder="5" value=max_receives />
            </div>
            <Choice
                label="Dead-letter queue"
                name="dead-letter-queue"
                none="None"
                value=dead_letter_queue
                options=Signal::derive(move || queue_names(&wiring.read()))
            />
            {form_error(error)}
            <ScopedButton permit=permit submit=true hint=true>"Create queue"</ScopedButton>
        </form>
    }
}

/// Subscribe a queue to a topic, with a filter checked as you type.
#[component]
pub(crate) fn NewSubscriptionForm(wiring: RwSignal<Wiring>, reload: Callback<()>) -> impl IntoView {
    let topic = RwSignal::new(String::new());
    let queue = RwSignal::new(String::new());
    let filter_text = RwSignal::new(String::new());
    let check = RwSignal::new(FilterCheck::Empty);
    let error = RwSignal::new(None::<String>);
    let permit = Permit::new(move || {
        vec![
            need(Action::Manage, Kind::Topic, topic.get()),
            need(Action::Manage, Kind::Queue, queue.get()),
        ]
    });
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (topic_name, queue_name) = (topic.get_untracked(), queue.get_untracked());
        if topic_name.is_empty() || queue_name.is_empty() {
            return error.set(Some("Choose a topic and a queue.".into()));
        }
        let filter = match check.get_untracked().filter() {
            Ok(filter) => filter,
            Err(why) => return error.set(Some(why)),
        };
        let body = CreateSubscription {
            topic: topic_name,
            queue: queue_name,
            filter,
            start: None,
        };
        let clear = move |_: Subscription| filter_text.set(String::new());
        submit("/v1/subscriptions", body, error, clear, reload);
    };
    view! {
        <form class="card form wide" id="new-subscription" on:submit=create>
            <h3>"New subscription"</h3>
            <div class="row">
                <Choice
                    label="Topic"
                    name="sub-topic"
                    none="Choose a topic…"
                    value=topic
                    options=Signal::derive(move || {
                        wiring.read().topics.iter().map(|t| t.name.clone()).collect()
                    })
                />
                <Choice
                    label="Queue"
                    name="sub-queue"
                    none="Choose a queue…"
                    value=queue
                    options=Signal::derive(move || queue_names(&wiring.read()))
                />
            </div>
            <label for="new-filter">"Filter (optional, EventBridge-style pattern)"</label>
            <FilterEditor text=filter_text check=check id="new-filter" topic=topic />
            {form_error(error)}
            <ScopedButton permit=permit submit=true hint=true>"Create subscription"</ScopedButton>
        </form>
    }
}
