//! The invocations each consumer is running now, with when they started, for the monitor
//! (`GET /v1/monitor`): a worker registers its invocation before it calls the plugin and the
//! registration ends when the call returns, however it returns.

use std::collections::BTreeMap;
use std::sync::Mutex;

use switchyard_client::{AgeBucket, AgeBuckets, ConsumerMonitor, RunningInvocation};

use super::Dispatcher;
use crate::broker::now_ms;

/// A consumer's invocations in progress.
#[derive(Debug, Default)]
pub(super) struct Running {
    invocations: Mutex<Invocations>,
}

#[derive(Debug, Default)]
struct Invocations {
    /// The sequence number of the last one registered.
    last: u64,
    /// (start in Unix ms, sequence) → batch size.
    running: BTreeMap<(u64, u64), u32>,
}

/// One invocation in progress; it ends when this is dropped.
pub(super) struct Invoking<'a> {
    running: &'a Running,
    key: (u64, u64),
}

impl Running {
    /// Registers an invocation of `messages` messages starting now.
    pub(super) fn start(&self, messages: usize) -> Invoking<'_> {
        let mut invocations = self.invocations.lock().expect("running lock");
        invocations.last += 1;
        let key = (now_ms(), invocations.last);
        let messages = u32::try_from(messages).unwrap_or(u32::MAX);
        invocations.running.insert(key, messages);
        Invoking { running: self, key }
    }

    /// Every invocation in progress: when it started and its batch size, earliest first.
    fn snapshot(&self) -> Vec<(u64, u32)> {
        let invocations = self.invocations.lock().expect("running lock");
        invocations
            .running
            .iter()
            .map(|((started, _), messages)| (*started, *messages))
            .collect()
    }
}

impl Drop for Invoking<'_> {
    fn drop(&mut self) {
        let mut invocations = self.running.invocations.lock().expect("running lock");
        invocations.running.remove(&self.key);
    }
}

impl Dispatcher {
    /// The running invocations of every consumer `may_read` allows, by name, counted
    /// against the thresholds of the queue each consumes.
    pub fn monitor_consumers(&self, may_read: impl Fn(&str) -> bool) -> Vec<ConsumerMonitor> {
        let consumers: Vec<_> = self
            .registry()
            .consumers
            .values()
            .filter(|c| may_read(&c.settings().name))
            .cloned()
            .collect();
        let now = now_ms();
        consumers
            .iter()
            .map(|consumer| {
                let settings = consumer.settings();
                let thresholds = self.broker.monitor_thresholds(&settings.queue);
                let running = consumer.running.snapshot();
                let ages: Vec<u64> = running
                    .iter()
                    .map(|(started, _)| now.saturating_sub(*started))
                    .collect();
                let over = thresholds
                    .iter()
                    .map(|threshold| AgeBucket {
                        threshold_ms: *threshold,
                        count: ages.iter().filter(|age| **age >= *threshold).count() as u64,
                    })
                    .collect();
                ConsumerMonitor {
                    consumer: settings.name.clone(),
                    queue: settings.queue.clone(),
                    plugin: settings.plugin.clone(),
                    thresholds_ms: thresholds,
                    running: AgeBuckets {
                        total: running.len() as u64,
                        over,
                        oldest_age_ms: ages.iter().copied().max(),
                        oldest_id: None,
                    },
                    invocations: running
                        .iter()
                        .zip(&ages)
                        .map(|((started, messages), age)| RunningInvocation {
                            started_at_ms: *started,
                            age_ms: *age,
                            messages: *messages,
                        })
                        .collect(),
                }
            })
            .collect()
    }

    /// A consumer's counts since the server started: invocations, and those that faulted
    /// (none when there is no such consumer).
    pub fn invocation_counts(&self, consumer: &str) -> Option<(u64, u64)> {
        let handle = self.registry().consumers.get(consumer).cloned()?;
        let stats = handle.stats.lock().expect("stats lock");
        Some((stats.invocations, stats.faults.values().sum()))
    }

    /// Whether a consumer of this name exists.
    pub fn has_consumer(&self, consumer: &str) -> bool {
        self.registry().consumers.contains_key(consumer)
    }

    /// The broker this dispatcher runs on.
    pub fn broker(&self) -> &std::sync::Arc<crate::broker::Broker> {
        &self.broker
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invocation_is_listed_until_it_ends() {
        let running = Running::default();
        let first = running.start(3);
        let second = running.start(1);
        assert_eq!(running.snapshot().len(), 2);
        assert_eq!(running.snapshot()[0].1, 3, "earliest first");
        drop(first);
        assert_eq!(
            running.snapshot().iter().map(|r| r.1).collect::<Vec<_>>(),
            [1]
        );
        drop(second);
        assert!(running.snapshot().is_empty());
    }
}
