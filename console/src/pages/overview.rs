//! Overview: every queue's counts and oldest age, topic publish rates, and charts of the
//! last five minutes, refreshed every second from `GET /v1/queues` and `GET /v1/topics`;
//! on opening, the charts start from the server's own samples (`GET /v1/history`), so they
//! show what happened before the page was opened.

use std::collections::VecDeque;
use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use switchyard_client::{
    History, HistorySample, Queue, QueueList as QueueListBody, QueueStats, Topic, TopicList,
};

use crate::api::{self, ApiFailure};
use crate::format;
use crate::widgets::{DataTable, EmptyState, ErrorBanner, Sparkline};

/// One second between samples; charts span five minutes.
const POLL: Duration = Duration::from_secs(1);
const SPAN_MS: f64 = 300_000.0;
/// Rates shown as numbers are averaged over this many seconds.
const RATE_WINDOW: usize = 10;

/// What the server reported at one moment.
#[derive(Debug, Clone)]
struct Sample {
    at_ms: f64,
    queues: Vec<Queue>,
    topics: Vec<Topic>,
}

impl Sample {
    /// A sample the server took, in the shape of a live one: the queues and topics that
    /// exist now (`queues`, `topics`), with the figures they had then.
    fn from_past(past: &HistorySample, queues: &[Queue], topics: &[Topic]) -> Self {
        Sample {
            at_ms: past.at_ms as f64,
            queues: queues
                .iter()
                .filter_map(|queue| {
                    let stats = past.queues.get(&queue.name)?;
                    Some(Queue {
                        stats: Some(stats.clone()),
                        ..queue.clone()
                    })
                })
                .collect(),
            topics: topics
                .iter()
                .filter_map(|topic| {
                    let published = *past.topics.get(&topic.name)?;
                    Some(Topic {
                        published,
                        ..topic.clone()
                    })
                })
                .collect(),
        }
    }

    fn stats(&self, queue: &str) -> QueueStats {
        self.queues
            .iter()
            .find(|q| q.name == queue)
            .and_then(|q| q.stats.clone())
            .unwrap_or_default()
    }

    fn published(&self, topic: &str) -> Option<u64> {
        self.topics
            .iter()
            .find(|t| t.name == topic)
            .map(|t| t.published)
    }
}

/// Messages a queue holds in any state.
fn depth(stats: &QueueStats) -> u64 {
    stats.ready + stats.in_flight + stats.delayed
}

/// Per-second publish rate between consecutive samples, oldest first (`None`: all topics).
fn rates(history: &VecDeque<Sample>, topic: Option<&str>) -> Vec<f64> {
    let total = |s: &Sample| -> u64 {
        match topic {
            Some(name) => s.published(name).unwrap_or(0),
            None => s.topics.iter().map(|t| t.published).sum(),
        }
    };
    history
        .iter()
        .zip(history.iter().skip(1))
        .map(|(a, b)| {
            let seconds = ((b.at_ms - a.at_ms) / 1000.0).max(0.001);
            total(b).saturating_sub(total(a)) as f64 / seconds
        })
        .collect()
}

fn recent_rate(rates: &[f64]) -> f64 {
    let recent = &rates[rates.len().saturating_sub(RATE_WINDOW)..];
    if recent.is_empty() {
        0.0
    } else {
        recent.iter().sum::<f64>() / recent.len() as f64
    }
}

/// The Overview page.
#[component]
pub(crate) fn Overview() -> impl IntoView {
    let history = RwSignal::new(VecDeque::<Sample>::new());
    let error = RwSignal::new(None::<ApiFailure>);
    let poll = move || {
        spawn_local(async move {
            let opening = history.with_untracked(VecDeque::is_empty);
            let queues = api::get::<QueueListBody>("/v1/queues").await;
            let topics = api::get::<TopicList>("/v1/topics").await;
            // The server's samples of the span before the page opened (none is no harm).
            let past = if opening {
                api::get::<History>("/v1/history").await.ok()
            } else {
                None
            };
            match (queues, topics) {
                (Ok(queues), Ok(topics)) => {
                    error.set(None);
                    let now = format::now_ms();
                    history.update(|h| {
                        for sample in past.iter().flat_map(|p| &p.samples) {
                            let at = sample.at_ms as f64;
                            if at >= now - SPAN_MS && at < now {
                                h.push_back(Sample::from_past(
                                    sample,
                                    &queues.queues,
                                    &topics.topics,
                                ));
                            }
                        }
                        h.push_back(Sample {
                            at_ms: now,
                            queues: queues.queues,
                            topics: topics.topics,
                        });
                        while h.front().is_some_and(|s| s.at_ms < now - SPAN_MS) {
                            h.pop_front();
                        }
                    });
                }
                (Err(e), _) | (_, Err(e)) => error.set(Some(e)),
            }
        });
    };
    poll();
    if let Ok(interval) = set_interval_with_handle(poll, POLL) {
        on_cleanup(move || interval.clear());
    }
    view! {
        <div class="page-head">
            <h1>"Overview"</h1>
            <LiveClock history=history />
        </div>
        <ErrorBanner error=error />
        {move || {
            if history.with(VecDeque::is_empty) {
                view! { <p class="muted">"Loading…"</p> }.into_any()
            } else {
                view! {
                    <Totals history=history />
                    <QueueTable history=history />
                    <TopicTable history=history />
                }
                    .into_any()
            }
        }}
    }
}

#[component]
fn LiveClock(history: RwSignal<VecDeque<Sample>>) -> impl IntoView {
    move || {
        history.with(|h| {
            h.back().map(|s| {
                view! {
                    <span class="live">
                        <span class="dot"></span>
                        "Live · updated "
                        {format::timestamp(s.at_ms as u64)}
                    </span>
                }
            })
        })
    }
}

/// Summary cards with charts of the whole bus.
#[component]
fn Totals(history: RwSignal<VecDeque<Sample>>) -> impl IntoView {
    move || {
        history.with(|h| {
            let last = h.back().expect("rendered only with samples");
            let sum = |f: fn(&QueueStats) -> u64| -> u64 {
                last.queues
                    .iter()
                    .filter_map(|q| q.stats.as_ref())
                    .map(f)
                    .sum()
            };
            let waiting: Vec<f64> = h
                .iter()
                .map(|s| {
                    s.queues
                        .iter()
                        .filter_map(|q| q.stats.as_ref())
                        .map(depth)
                        .sum::<u64>() as f64
                })
                .collect();
            let publish_rates = rates(h, None);
            let rate = recent_rate(&publish_rates);
            view! {
                <section class="cards">
                    <div class="card stat">
                        <span class="label">"Publishes / s"</span>
                        <span class="value" id="total-rate">{format::rate(rate)}</span>
                        <Sparkline values=publish_rates width=220 height=40 />
                    </div>
                    <div class="card stat" id="waiting-chart" data-from-ms=h.front().map_or(0, |s| s.at_ms as u64)>
                        <span class="label">"Messages waiting"</span>
                        <span class="value" id="total-depth">
                            {format::count(waiting.last().copied().unwrap_or(0.0) as u64)}
                        </span>
                        <Sparkline values=waiting width=220 height=40 />
                    </div>
                    <div class="card stat">
                        <span class="label">"In flight"</span>
                        <span class="value">{format::count(sum(|s| s.in_flight))}</span>
                        <span class="hint">"leased to consumers now"</span>
                    </div>
                    <div class="card stat">
                        <span class="label">"Dead-lettered"</span>
                        <span class="value">{format::count(sum(|s| s.dead_lettered))}</span>
                        <span class="hint">"waiting in dead-letter queues"</span>
                    </div>
                </section>
            }
        })
    }
}

const QUEUE_COLUMNS: &[(&str, bool)] = &[
    ("Queue", false),
    ("Ready", true),
    ("In flight", true),
    ("Delayed", true),
    ("Dead-lettered", true),
    ("Oldest", true),
    ("Depth, last 5 min", false),
];

const TOPIC_COLUMNS: &[(&str, bool)] = &[
    ("Topic", false),
    ("Subscriptions", true),
    ("Published", true),
    ("Per second", true),
    ("Rate, last 5 min", false),
];

/// A titled table of what the latest sample shows, or what to do while it shows nothing.
#[component]
fn LiveTable(
    title: &'static str,
    id: &'static str,
    columns: &'static [(&'static str, bool)],
    history: RwSignal<VecDeque<Sample>>,
    rows: fn(&VecDeque<Sample>) -> Vec<AnyView>,
    empty: fn() -> AnyView,
    #[prop(optional)] note: Option<&'static str>,
) -> impl IntoView {
    move || {
        history.with(|h| {
            let rows = rows(h);
            let body = if rows.is_empty() {
                empty()
            } else {
                view! {
                    <DataTable id=id columns=columns>
                        {rows}
                    </DataTable>
                    {note.map(|note| view! { <p class="muted small">{note}</p> })}
                }
                .into_any()
            };
            view! {
                <h2>{title}</h2>
                {body}
            }
        })
    }
}

/// Every queue's counts, oldest age and depth over the last minutes.
#[component]
fn QueueTable(history: RwSignal<VecDeque<Sample>>) -> impl IntoView {
    view! {
        <LiveTable
            title="Queues"
            id="queue-table"
            columns=QUEUE_COLUMNS
            history=history
            rows=queue_rows
            empty=|| {
                view! {
                    <EmptyState title="No queues yet">
                        "Create a topic, a queue and a subscription on the "
                        <a href="#/wiring">"Wiring"</a>
                        " page (or with "
                        <code>"switchyard queue create NAME"</code>
                        "), then publish to the topic."
                    </EmptyState>
                }
                    .into_any()
            }
        />
    }
}

fn queue_rows(h: &VecDeque<Sample>) -> Vec<AnyView> {
    let Some(last) = h.back() else {
        return Vec::new();
    };
    last.queues
        .iter()
        .map(|queue| {
            let stats = queue.stats.clone().unwrap_or_default();
            let trend: Vec<f64> = h.iter().map(|s| depth(&s.stats(&queue.name)) as f64).collect();
            let dlq = queue
                .dead_letter_queue
                .clone()
                .map(|dlq| view! { <span class="sub">"dead letters → " {dlq}</span> });
            view! {
                <tr data-queue=queue.name.clone()>
                    <td>
                        <a href=format!("#/queues/{}", queue.name)>{queue.name.clone()}</a>
                        {dlq}
                    </td>
                    <td class="num" data-col="ready">{format::count(stats.ready)}</td>
                    <td class="num" data-col="in_flight">{format::count(stats.in_flight)}</td>
                    <td class="num" data-col="delayed">{format::count(stats.delayed)}</td>
                    <td class="num" data-col="dead_lettered">{format::count(stats.dead_lettered)}</td>
                    <td class="num">
                        {stats.oldest_age_ms.map_or_else(|| "–".to_string(), format::age)}
                    </td>
                    <td>
                        <Sparkline values=trend />
                    </td>
                </tr>
            }
            .into_any()
        })
        .collect()
}

/// Every topic's publish rate and total since the server started.
#[component]
fn TopicTable(history: RwSignal<VecDeque<Sample>>) -> impl IntoView {
    view! {
        <LiveTable
            title="Topics"
            id="topic-table"
            columns=TOPIC_COLUMNS
            history=history
            rows=topic_rows
            note="Published counts start at zero when the server starts."
            empty=|| {
                view! {
                    <EmptyState title="No topics yet">
                        "Publishers send to topics. Create one on the "
                        <a href="#/wiring">"Wiring"</a>
                        " page, or with "
                        <code>"switchyard topic create NAME"</code>
                        "."
                    </EmptyState>
                }
                    .into_any()
            }
        />
    }
}

fn topic_rows(h: &VecDeque<Sample>) -> Vec<AnyView> {
    let Some(last) = h.back() else {
        return Vec::new();
    };
    last.topics
        .iter()
        .map(|topic| {
            let trend = rates(h, Some(&topic.name));
            let rate = recent_rate(&trend);
            view! {
                <tr data-topic=topic.name.clone()>
                    <td>{topic.name.clone()}</td>
                    <td class="num">{topic.subscriptions}</td>
                    <td class="num" data-col="published">{format::count(topic.published)}</td>
                    <td class="num">{format::rate(rate)}</td>
                    <td>
                        <Sparkline values=trend />
                    </td>
                </tr>
            }
            .into_any()
        })
        .collect()
}
