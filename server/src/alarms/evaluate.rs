//! The evaluator: once a second, every alarm's metric is read, its condition checked, and a
//! transition (firing after the condition held `for_ms`, resolved once it stops) published
//! and stored. A metric without data (its queue or consumer is gone, a consumer without
//! invocations in the last minute) does not hold.
//!
//! Rates over the last minute come from counters sampled at each evaluation: per queue, the
//! messages dead-lettered into it; per consumer, its invocations and faults. An evaluation
//! costs one lock of each watched queue, and for `stuck_over_ms` the monitor's bounded walk
//! (see `broker::monitor`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use switchyard_client::{AlarmEvent, AlarmMetric, AlarmTransition, Transition};

use super::{Alarms, Watched};
use crate::broker::now_ms;
use crate::storage::{AlarmOp, AlarmRecord};

/// How often alarms are evaluated.
pub(super) const PERIOD: Duration = Duration::from_secs(1);
/// The window of the per-minute metrics.
const WINDOW_MS: u64 = 60_000;

/// Samples of a counter: (when, value), oldest first.
type History<T> = VecDeque<(u64, T)>;

/// Counter samples over the last minute (and one before it, the window's base).
#[derive(Debug, Default)]
pub(super) struct Samples {
    /// Per queue, messages dead-lettered into it.
    dead_letters: HashMap<String, History<u64>>,
    /// Per consumer, (invocations, faulted invocations).
    invocations: HashMap<String, History<(u64, u64)>>,
}

/// Adds a sample taken at `now`; drops those no longer needed as the window's base.
fn push<T>(samples: &mut VecDeque<(u64, T)>, now: u64, value: T) {
    samples.push_back((now, value));
    while samples.len() >= 2 && samples[1].0 + WINDOW_MS <= now {
        samples.pop_front();
    }
}

/// The increase of a counter over the window (since the sample at or before its start, or
/// the first sample when there is none that old).
fn increase(samples: &VecDeque<(u64, u64)>) -> u64 {
    match (samples.front(), samples.back()) {
        (Some((_, first)), Some((_, last))) => last.saturating_sub(*first),
        _ => 0,
    }
}

impl Alarms {
    /// Evaluates every alarm each [`PERIOD`] until the task is aborted.
    pub async fn run(self: Arc<Self>) {
        let mut tick = tokio::time::interval(PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.evaluate().await;
        }
    }

    /// One evaluation of every alarm.
    pub async fn evaluate(&self) {
        let watched: Vec<(String, AlarmMetric, Option<String>, Option<String>)> = self
            .alarms()
            .values()
            .map(|w| {
                (
                    w.record.name.clone(),
                    w.metric,
                    w.record.queue.clone(),
                    w.record.consumer.clone(),
                )
            })
            .collect();
        self.sample(&watched, now_ms());
        let mut values = Vec::with_capacity(watched.len());
        // Alarms on the same queue and age share one walk of it.
        let mut walks: HashMap<(String, u64), Option<f64>> = HashMap::new();
        for (name, metric, queue, consumer) in watched {
            let value = match (metric, &queue) {
                (AlarmMetric::StuckOverMs(ms), Some(queue)) => {
                    let key = (queue.clone(), ms);
                    match walks.get(&key) {
                        Some(value) => *value,
                        None => {
                            let value = self.value(metric, Some(queue), None).await;
                            walks.insert(key, value);
                            value
                        }
                    }
                }
                _ => {
                    self.value(metric, queue.as_deref(), consumer.as_deref())
                        .await
                }
            };
            values.push((name, value));
        }
        // The time of the evaluation is taken once every value is read: a condition counts
        // as holding from no earlier than the moment it was seen.
        let now = now_ms();
        let _admin = self.admin.lock().await;
        for (name, value) in values {
            let transition = {
                let mut alarms = self.alarms();
                let Some(watched) = alarms.get_mut(&name) else {
                    continue; // deleted meanwhile
                };
                decide(watched, value, now)
            };
            if let Some((event, record)) = transition {
                self.transition(&name, event, record).await;
            }
        }
    }

    /// Samples the counters the per-minute metrics need.
    fn sample(&self, watched: &[(String, AlarmMetric, Option<String>, Option<String>)], now: u64) {
        let mut queues = HashSet::new();
        let mut consumers = HashSet::new();
        for (_, metric, queue, consumer) in watched {
            match (metric, queue, consumer) {
                (AlarmMetric::DeadLettersPerMinute, Some(queue), _) => {
                    queues.insert(queue.clone());
                }
                (AlarmMetric::FaultRate, _, Some(consumer)) => {
                    consumers.insert(consumer.clone());
                }
                _ => {}
            }
        }
        let mut samples = self.samples.lock().expect("samples lock");
        samples
            .dead_letters
            .retain(|queue, _| queues.contains(queue));
        samples
            .invocations
            .retain(|consumer, _| consumers.contains(consumer));
        for queue in queues {
            if let Some(count) = self.broker.dead_letters_into(&queue) {
                push(samples.dead_letters.entry(queue).or_default(), now, count);
            } else {
                samples.dead_letters.remove(&queue);
            }
        }
        for consumer in consumers {
            if let Some(counts) = self.dispatcher.invocation_counts(&consumer) {
                push(
                    samples.invocations.entry(consumer).or_default(),
                    now,
                    counts,
                );
            } else {
                samples.invocations.remove(&consumer);
            }
        }
    }

    /// The metric's value now; none without data.
    async fn value(
        &self,
        metric: AlarmMetric,
        queue: Option<&str>,
        consumer: Option<&str>,
    ) -> Option<f64> {
        match metric {
            AlarmMetric::FaultRate => {
                let samples = self.samples.lock().expect("samples lock");
                let history = samples.invocations.get(consumer?)?;
                let (first, last) = (history.front()?.1, history.back()?.1);
                let invocations = last.0.saturating_sub(first.0);
                let faults = last.1.saturating_sub(first.1);
                (invocations > 0).then(|| (faults as f64 / invocations as f64).min(1.0))
            }
            AlarmMetric::DeadLettersPerMinute => {
                let samples = self.samples.lock().expect("samples lock");
                Some(increase(samples.dead_letters.get(queue?)?) as f64)
            }
            AlarmMetric::StuckOverMs(ms) => {
                let (count, _) = self.broker.stuck_count(queue?, ms).await.ok()?;
                Some(count as f64)
            }
            AlarmMetric::OldestAgeMs | AlarmMetric::Depth | AlarmMetric::DeadLettered => {
                let stats = self.broker.get_queue(queue?).ok()?.stats?;
                Some(match metric {
                    AlarmMetric::OldestAgeMs => stats.oldest_age_ms.unwrap_or(0) as f64,
                    AlarmMetric::Depth => {
                        (stats.ready + stats.in_flight + stats.delayed + stats.behind_key) as f64
                    }
                    _ => stats.dead_lettered as f64,
                })
            }
        }
    }

    /// Publishes a transition, then stores it; memory follows once both are done. When
    /// the publish fails, nothing changes and the next evaluation tries again.
    async fn transition(&self, name: &str, event: AlarmEvent, mut record: AlarmRecord) {
        let message_id = match self.publish(&event).await {
            Ok(id) => id,
            Err(error) => {
                tracing::warn!(alarm = name, %error, "publishing an alarm transition failed; retried at the next evaluation");
                return;
            }
        };
        record.firing = event.state == Transition::Firing;
        record.last_transition = Some(AlarmTransition {
            state: event.state,
            at_ms: event.at_ms,
            value: event.value,
            message_id: Some(message_id),
        });
        if let Err(error) = self.write(AlarmOp::Put(record.clone())).await {
            // Published: memory moves on, so it is not published again; a restart before
            // the next transition is stored may publish it once more.
            tracing::warn!(alarm = name, %error, "storing an alarm transition failed");
        }
        tracing::info!(alarm = name, state = ?event.state, value = ?event.value, "alarm transition");
        if let Some(watched) = self.alarms().get_mut(name) {
            watched.record = record;
        }
    }
}

/// Updates an alarm's evaluation with `value` at `now`; returns the transition to publish
/// (with the record it leads to), if there is one.
fn decide(
    watched: &mut Watched,
    value: Option<f64>,
    now: u64,
) -> Option<(AlarmEvent, AlarmRecord)> {
    let record = &watched.record;
    watched.value = value;
    watched.evaluated_at_ms = Some(now);
    let holds = value.is_some_and(|v| record.comparison.holds(v, record.threshold));
    let state = if holds {
        let since = *watched.breaching_since_ms.get_or_insert(now);
        if record.firing || now.saturating_sub(since) < record.for_ms {
            return None;
        }
        Transition::Firing
    } else {
        watched.breaching_since_ms = None;
        if !record.firing {
            return None;
        }
        Transition::Resolved
    };
    let event = AlarmEvent {
        alarm: record.name.clone(),
        level: record.level,
        state,
        metric: record.metric.clone(),
        value,
        threshold: record.threshold,
        queue: record.queue.clone(),
        consumer: record.consumer.clone(),
        at_ms: now,
    };
    Some((event, record.clone()))
}

#[cfg(test)]
mod tests {
    use switchyard_client::{AlarmLevel, AlarmState, Comparison};

    use super::*;

    fn watched(for_ms: u64) -> Watched {
        Watched::new(AlarmRecord {
            name: "backlog".into(),
            queue: Some("mail".into()),
            consumer: None,
            consumer_queue: None,
            metric: "depth".into(),
            threshold: 10.0,
            comparison: Comparison::AtOrAbove,
            for_ms,
            level: AlarmLevel::Critical,
            firing: false,
            last_transition: None,
            created_at_ms: 0,
        })
        .expect("a known metric")
    }

    /// One evaluation, with its transition applied as the evaluator does once it is
    /// published and stored.
    fn step(w: &mut Watched, value: Option<f64>, now: u64) -> Option<Transition> {
        let (event, _) = decide(w, value, now)?;
        w.record.firing = event.state == Transition::Firing;
        Some(event.state)
    }

    #[test]
    fn an_alarm_fires_once_its_condition_held_for_for_ms_and_resolves_when_it_stops() {
        let mut w = watched(2_000);
        assert_eq!(step(&mut w, Some(3.0), 0), None);
        assert_eq!(w.state(), AlarmState::Ok);
        assert_eq!(step(&mut w, Some(10.0), 1_000), None);
        assert_eq!(w.state(), AlarmState::Pending);
        assert_eq!(step(&mut w, Some(12.0), 2_000), None);
        assert_eq!(step(&mut w, Some(11.0), 3_000), Some(Transition::Firing));
        assert_eq!(w.state(), AlarmState::Firing);
        assert_eq!(step(&mut w, Some(20.0), 4_000), None, "once");
        assert_eq!(step(&mut w, Some(9.0), 5_000), Some(Transition::Resolved));
        assert_eq!(w.state(), AlarmState::Ok);
    }

    #[test]
    fn a_condition_that_breaks_off_starts_its_for_ms_again() {
        let mut w = watched(2_000);
        decide(&mut w, Some(10.0), 0);
        decide(&mut w, Some(1.0), 1_500);
        assert_eq!(step(&mut w, Some(10.0), 2_000), None);
        assert_eq!(w.breaching_since_ms, Some(2_000));
        assert_eq!(step(&mut w, Some(10.0), 4_000), Some(Transition::Firing));
    }

    #[test]
    fn no_data_does_not_hold_and_resolves_a_firing_alarm() {
        let mut w = watched(0);
        assert_eq!(step(&mut w, Some(10.0), 0), Some(Transition::Firing));
        let (event, _) = decide(&mut w, None, 1_000).expect("a transition");
        assert_eq!((event.state, event.value), (Transition::Resolved, None));
    }

    #[test]
    fn a_counter_increases_over_the_last_minute() {
        let mut samples = VecDeque::new();
        push(&mut samples, 0, 5);
        push(&mut samples, 30_000, 8);
        assert_eq!(increase(&samples), 3);
        push(&mut samples, 61_000, 9);
        // The window starts at 1 000: the sample at 0 stays as its base.
        assert_eq!(samples.len(), 3);
        push(&mut samples, 95_000, 9);
        assert_eq!(increase(&samples), 1, "since 30 000, the window's base");
        assert_eq!(samples.front(), Some(&(30_000, 8)));
    }
}
