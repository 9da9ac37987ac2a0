//! The last hour of figures: every `history_interval_ms` housekeeping samples each queue's
//! counts and each topic's publishes into a ring of [`SAMPLES`], served by
//! `GET /v1/history`, so the console's charts survive a reload. In memory: a restart starts
//! it afresh.

use std::collections::VecDeque;

use switchyard_client::{History, HistorySample};

use super::{Broker, now_ms};

/// Samples kept: an hour at the default interval of 10 s.
pub(crate) const SAMPLES: usize = 360;

impl Broker {
    /// Takes a sample of every queue and topic now.
    pub(crate) fn record_history(&self) {
        let now = now_ms();
        let sample = {
            let catalog = self.catalog();
            HistorySample {
                at_ms: now,
                queues: catalog
                    .queues
                    .iter()
                    .map(|(name, queue)| (name.clone(), queue.lock().stats(now)))
                    .collect(),
                topics: catalog
                    .topics
                    .keys()
                    .map(|name| (name.clone(), catalog.counts(name).1))
                    .collect(),
            }
        };
        let mut history = self.history.lock().expect("history lock");
        history.push_back(sample);
        while history.len() > SAMPLES {
            history.pop_front();
        }
    }

    /// The samples, oldest first, keeping of each only the queues and topics `visible`
    /// lets through (by kind `queue` / `topic` and name).
    pub fn history(&self, visible: impl Fn(bool, &str) -> bool) -> History {
        let history = self.history.lock().expect("history lock");
        History {
            interval_ms: self.limits.history_interval_ms,
            samples: history
                .iter()
                .map(|sample| HistorySample {
                    at_ms: sample.at_ms,
                    queues: sample
                        .queues
                        .iter()
                        .filter(|(name, _)| visible(true, name))
                        .map(|(name, stats)| (name.clone(), stats.clone()))
                        .collect(),
                    topics: sample
                        .topics
                        .iter()
                        .filter(|(name, _)| visible(false, name))
                        .map(|(name, published)| (name.clone(), *published))
                        .collect(),
                })
                .collect(),
        }
    }
}

/// The ring's type.
pub(crate) type Samples = VecDeque<HistorySample>;
