//! Monitor: per queue, the messages that have waited or been in flight longer than each of
//! its thresholds, and per consumer the invocations running that long, refreshed every two
//! seconds from `GET /v1/monitor`; a queue's stuck messages (`GET /v1/monitor/{queue}`),
//! each linking to its lookup, with the queue's redrive and purge; and every alarm with its
//! state (`GET /v1/alarms`).

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use switchyard_client::{
    Action, AgeBuckets, Alarm, AlarmList, AlarmState, ConsumerMonitor, Kind, MonitorReport,
    QueueMonitor, RedriveRequest, StuckMessages,
};

use crate::api::{self, ApiFailure};
use crate::format;
use crate::permit::{Permit, PurgeButton, ScopedButton};
use crate::widgets::{DataTable, EmptyState, ErrorBanner, MessageIdCell, Notice, StateBadge};

const POLL: Duration = Duration::from_secs(2);

const QUEUE_COLUMNS: &[(&str, bool)] = &[
    ("Queue", false),
    ("Waiting", true),
    ("Waited longer than", false),
    ("Oldest waiting", true),
    ("In flight", true),
    ("In flight longer than", false),
    ("Longest in flight", true),
    ("", false),
];

const CONSUMER_COLUMNS: &[(&str, bool)] = &[
    ("Consumer", false),
    ("Queue", false),
    ("Running", true),
    ("Running longer than", false),
    ("Longest", true),
];

const ALARM_COLUMNS: &[(&str, bool)] = &[
    ("Alarm", false),
    ("Watches", false),
    ("Condition", false),
    ("Level", false),
    ("State", false),
    ("Value", true),
    ("Last change", false),
];

const STUCK_COLUMNS: &[(&str, bool)] = &[
    ("Message", false),
    ("State", false),
    ("Age", true),
    ("Receives", true),
    ("Last error", false),
];

/// Whether anything of a queue is past its smallest threshold.
fn stuck(queue: &QueueMonitor) -> bool {
    let first = |b: &AgeBuckets| b.over.first().map_or(0, |b| b.count);
    first(&queue.waiting) + first(&queue.in_flight) > 0
}

/// The Monitor page; with `queue`, that queue's stuck messages below the buckets.
#[component]
pub(crate) fn MonitorPage(queue: Option<String>) -> impl IntoView {
    let report = RwSignal::new(None::<MonitorReport>);
    let alarms = RwSignal::new(Vec::<Alarm>::new());
    let error = RwSignal::new(None::<ApiFailure>);
    let poll = move || {
        spawn_local(async move {
            match api::get::<MonitorReport>("/v1/monitor").await {
                Ok(fresh) => {
                    error.set(None);
                    report.set(Some(fresh));
                }
                Err(e) => error.set(Some(e)),
            }
            if let Ok(list) = api::get::<AlarmList>("/v1/alarms").await {
                alarms.set(list.alarms);
            }
        });
    };
    poll();
    if let Ok(interval) = set_interval_with_handle(poll, POLL) {
        on_cleanup(move || interval.clear());
    }
    let selected = queue.clone();
    view! {
        <div class="page-head">
            <h1>"Monitor"</h1>
            <span class="muted">
                "Messages waiting or in flight past each queue's thresholds ("
                <code>"monitor_thresholds_ms"</code>
                ")"
            </span>
        </div>
        <ErrorBanner error=error />
        {move || match report.get() {
            None => view! { <p class="muted">"Loading…"</p> }.into_any(),
            Some(report) => {
                let selected = selected.clone();
                view! {
                    <QueueBuckets queues=report.queues.clone() selected=selected />
                    <ConsumerBuckets consumers=report.consumers.clone() />
                    <AlarmTable alarms=alarms.get() />
                }
                    .into_any()
            }
        }}
        {queue.map(|name| view! { <StuckList queue=name /> })}
    }
}

/// Counts over each threshold as chips: `> 5 min 3`.
#[component]
fn Buckets(buckets: AgeBuckets, complete: bool) -> impl IntoView {
    let chips = buckets
        .over
        .iter()
        .map(|bucket| {
            let label = format!("> {}", format::age(bucket.threshold_ms));
            let hot = bucket.count > 0;
            view! {
                <span class="bucket" class:hot=hot data-threshold=bucket.threshold_ms>
                    <span class="bucket-label">{label}</span>
                    <strong class="bucket-count">
                        {format::count(bucket.count)}
                        {(!complete).then_some("+")}
                    </strong>
                </span>
            }
        })
        .collect_view();
    view! { <span class="buckets">{chips}</span> }
}

#[component]
fn QueueBuckets(queues: Vec<QueueMonitor>, selected: Option<String>) -> impl IntoView {
    if queues.is_empty() {
        return view! {
            <EmptyState title="No queues to watch">
                "Queues your token may read show here with their stuck messages."
            </EmptyState>
        }
        .into_any();
    }
    let rows = queues
        .into_iter()
        .map(|queue| {
            let oldest = |b: &AgeBuckets| b.oldest_age_ms.map_or_else(|| "–".into(), format::age);
            let is_selected = selected.as_deref() == Some(queue.queue.as_str());
            let href = format!("#/monitor/{}", queue.queue);
            view! {
                <tr data-queue=queue.queue.clone() class:stuck=stuck(&queue) class:selected=is_selected>
                    <td>
                        <a href=format!("#/queues/{}", queue.queue)>{queue.queue.clone()}</a>
                    </td>
                    <td class="num" data-col="waiting">{format::count(queue.waiting.total)}</td>
                    <td data-col="waiting-over">
                        <Buckets buckets=queue.waiting.clone() complete=queue.complete />
                    </td>
                    <td class="num">{oldest(&queue.waiting)}</td>
                    <td class="num" data-col="in-flight">{format::count(queue.in_flight.total)}</td>
                    <td data-col="in-flight-over">
                        <Buckets buckets=queue.in_flight.clone() complete=queue.complete />
                    </td>
                    <td class="num">{oldest(&queue.in_flight)}</td>
                    <td>
                        <a class="drill" href=href>"Stuck messages →"</a>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <h2>"Queues"</h2>
        <DataTable id="monitor-queues" columns=QUEUE_COLUMNS>
            {rows}
        </DataTable>
    }
    .into_any()
}

#[component]
fn ConsumerBuckets(consumers: Vec<ConsumerMonitor>) -> impl IntoView {
    if consumers.is_empty() {
        return ().into_any();
    }
    let rows = consumers
        .into_iter()
        .map(|consumer| {
            let hot = consumer.running.over.first().is_some_and(|b| b.count > 0);
            view! {
                <tr data-consumer=consumer.consumer.clone() class:stuck=hot>
                    <td>{consumer.consumer.clone()} <span class="sub">{consumer.plugin.clone()}</span></td>
                    <td>{consumer.queue.clone()}</td>
                    <td class="num" data-col="running">{format::count(consumer.running.total)}</td>
                    <td>
                        <Buckets buckets=consumer.running.clone() complete=true />
                    </td>
                    <td class="num">
                        {consumer.running.oldest_age_ms.map_or_else(|| "–".into(), format::age)}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <h2>"Consumers"</h2>
        <DataTable id="monitor-consumers" columns=CONSUMER_COLUMNS>
            {rows}
        </DataTable>
    }
    .into_any()
}

/// Every alarm the token may read, with its state and last transition.
#[component]
fn AlarmTable(alarms: Vec<Alarm>) -> impl IntoView {
    if alarms.is_empty() {
        return view! {
            <h2>"Alarms"</h2>
            <EmptyState title="No alarms">
                "An alarm watches a queue's or a consumer's metric and publishes to "
                <code>{switchyard_client::ALARMS_TOPIC}</code>
                " when it fires and resolves: "
                <code>"switchyard alarm create NAME --queue Q --metric depth --threshold 1000 --level critical"</code>
            </EmptyState>
        }
        .into_any();
    }
    let rows = alarms
        .into_iter()
        .map(|alarm| {
            let watches = match (&alarm.queue, &alarm.consumer) {
                (Some(queue), _) => format!("queue {queue}"),
                (None, Some(consumer)) => format!("consumer {consumer}"),
                (None, None) => "–".into(),
            };
            let mut condition = format!(
                "{} {} {}",
                alarm.metric,
                alarm.comparison.as_str(),
                alarm.threshold
            );
            if alarm.for_ms > 0 {
                condition.push_str(&format!(" for {}", format::age(alarm.for_ms)));
            }
            let (class, state) = match alarm.state {
                AlarmState::Ok => ("badge ready", "ok"),
                AlarmState::Pending => ("badge delayed", "pending"),
                AlarmState::Firing => ("badge expired", "firing"),
            };
            let last = alarm.last_transition.as_ref().map_or_else(
                || "–".to_string(),
                |t| {
                    let what = match t.state {
                        switchyard_client::Transition::Firing => "fired",
                        switchyard_client::Transition::Resolved => "resolved",
                    };
                    format!("{what} {}", format::ago(t.at_ms))
                },
            );
            let level = alarm.level.as_str();
            let firing = alarm.state == AlarmState::Firing;
            let value = alarm.value.map_or_else(|| "–".into(), |v| v.to_string());
            view! {
                <tr data-alarm=alarm.name.clone() class:stuck=firing>
                    <td>{alarm.name.clone()}</td>
                    <td>{watches}</td>
                    <td><code>{condition}</code></td>
                    <td><span class=format!("badge level {level}")>{level}</span></td>
                    <td data-col="state"><span class=class>{state}</span></td>
                    <td class="num">{value}</td>
                    <td>{last}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <h2>"Alarms"</h2>
        <DataTable id="monitor-alarms" columns=ALARM_COLUMNS>
            {rows}
        </DataTable>
    }
    .into_any()
}

/// A queue's stuck messages, with its redrive and purge.
#[component]
fn StuckList(queue: String) -> impl IntoView {
    let stuck = RwSignal::new(None::<StuckMessages>);
    let error = RwSignal::new(None::<ApiFailure>);
    let notice = RwSignal::new(None::<String>);
    let name = StoredValue::new(queue.clone());
    let manage = Permit::to(Action::Manage, Kind::Queue, &queue);
    let load = move || {
        spawn_local(async move {
            let path = format!("/v1/monitor/{}?limit=100", api::segment(&name.get_value()));
            match api::get::<StuckMessages>(&path).await {
                Ok(list) => stuck.set(Some(list)),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    load();
    if let Ok(interval) = set_interval_with_handle(load, POLL) {
        on_cleanup(move || interval.clear());
    }
    let queue_path = move || format!("/v1/queues/{}", api::segment(&name.get_value()));
    let redrive = Callback::new(move |()| {
        spawn_local(async move {
            match api::redrive(&queue_path(), &RedriveRequest::default()).await {
                Ok(done) => {
                    error.set(None);
                    notice.set(Some(format!(
                        "Redrove {} messages to their source queues ({} had nowhere to go).",
                        format::count(done.moved),
                        format::count(done.skipped)
                    )));
                    load();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    });
    view! {
        <section class="stuck-list" id="stuck-list" data-queue=queue.clone()>
            <div class="page-head">
                <h2>"Stuck in " {queue.clone()}</h2>
                <div class="actions">
                    <a class="button secondary" href=format!("#/queues/{queue}")>"Open queue"</a>
                    <ScopedButton permit=manage class="secondary" id="monitor-redrive" on_click=redrive>
                        "Redrive dead letters"
                    </ScopedButton>
                    <PurgeButton
                        permit=manage
                        id="monitor-purge"
                        queue_path=queue_path()
                        notice=notice
                        error=error
                        purged=Callback::new(move |()| load())
                    />
                </div>
            </div>
            <ErrorBanner error=error />
            <Notice notice=notice />
            {move || stuck.get().map(|list| {
                let over = format::age(list.over_ms);
                if list.messages.is_empty() {
                    return view! {
                        <EmptyState title="Nothing is stuck">
                            "No message of this queue has waited or been in flight for " {over} "."
                        </EmptyState>
                    }
                        .into_any();
                }
                let more = list.next_after.is_some() || !list.complete;
                let rows = list
                    .messages
                    .into_iter()
                    .map(|message| {
                        let error = message.last_error.clone().unwrap_or_else(|| "–".into());
                        view! {
                            <tr data-message=message.id.clone()>
                                <MessageIdCell id=message.id.clone() />
                                <td><StateBadge state=message.state /></td>
                                <td class="num">{format::age(message.age_ms)}</td>
                                <td class="num">{message.receive_count}</td>
                                <td class="reason">{error}</td>
                            </tr>
                        }
                    })
                    .collect_view();
                view! {
                    <p class="muted small">"Waiting or in flight for " {over} " or more, oldest first."</p>
                    <DataTable id="stuck-table" columns=STUCK_COLUMNS>
                        {rows}
                    </DataTable>
                    {more.then(|| view! {
                        <p class="muted small">
                            "More are stuck than shown: "
                            <code>"switchyard monitor " {list.queue.clone()} " --after ID"</code>
                            " pages through them."
                        </p>
                    })}
                }
                    .into_any()
            })}
        </section>
    }
}
