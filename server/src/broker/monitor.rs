//! The task monitor over queues: per queue, how many messages have waited or been in flight
//! longer than each of its thresholds (`monitor_thresholds_ms`), the oldest of each, and
//! the list of stuck messages with the last failure the server knows of for each.
//!
//! Cost: a queue is walked oldest id first (see `queue::monitor`), [`SCAN_CHUNK`] copies
//! at a time under its lock, yielding to the runtime between chunks, and at most
//! [`SCAN_LIMIT`] copies per queue per request. The walk stops as soon as nothing later can
//! count, so a queue without stuck messages costs a few copies whatever its depth; one with
//! many costs them, up to the bound, and is then reported `complete: false` with lower
//! bounds. The lock is never held for more than one chunk (some tens of microseconds).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use switchyard_client::{
    AgeBucket, AgeBuckets, DEFAULT_MONITOR_THRESHOLDS_MS, QueueMonitor, StuckMessage, StuckMessages,
};

use super::queue::QueueHandle;
use super::queue::monitor::{Scan, Stuck, Tally};
use super::{Broker, BrokerError, MAX_RETENTION_MS, format_id, now_ms, parse_id};
use crate::storage::{MessageId, QueueRecord};

/// Copies walked per hold of a queue's lock.
pub const SCAN_CHUNK: usize = 4096;
/// Copies walked per queue per request, at most.
pub const SCAN_LIMIT: usize = 64 * SCAN_CHUNK;
/// Most thresholds a queue has.
pub(super) const MAX_THRESHOLDS: usize = 10;
/// Stuck messages listed per page by default, and at most.
const DEFAULT_STUCK_LIMIT: u32 = 100;
const MAX_STUCK_LIMIT: u32 = 1000;
/// Failures remembered per queue (the most recent), and their length.
const FAILURES_KEPT: usize = 4096;
const FAILURE_CHARS: usize = 512;

/// Checks a queue's `monitor_thresholds_ms`: 1 to 10 values, ascending, each from 1 ms to
/// 14 days.
pub(crate) fn validate_thresholds(thresholds: &[u64]) -> Result<(), BrokerError> {
    let invalid = |reason: String| BrokerError::InvalidSetting {
        name: "monitor_thresholds_ms",
        reason,
    };
    if thresholds.is_empty() || thresholds.len() > MAX_THRESHOLDS {
        return Err(invalid(format!(
            "has {} values; give 1 to {MAX_THRESHOLDS}",
            thresholds.len()
        )));
    }
    if let Some(bad) = thresholds
        .iter()
        .find(|ms| !(1..=MAX_RETENTION_MS).contains(*ms))
    {
        return Err(invalid(format!(
            "{bad} is outside 1..={MAX_RETENTION_MS} (1 ms to 14 days)"
        )));
    }
    if let Some(pair) = thresholds.windows(2).find(|pair| pair[0] >= pair[1]) {
        return Err(invalid(format!(
            "values must ascend, but {} comes after {}",
            pair[1], pair[0]
        )));
    }
    Ok(())
}

/// A queue's thresholds: its own, or the defaults.
pub(crate) fn thresholds(record: &QueueRecord) -> Vec<u64> {
    record
        .monitor_thresholds_ms
        .clone()
        .unwrap_or_else(|| DEFAULT_MONITOR_THRESHOLDS_MS.to_vec())
}

/// The most recent failures of deliveries, per queue: what a stuck message's `last_error`
/// shows. Bounded: the oldest notes go first.
#[derive(Default)]
pub(crate) struct FailureNotes {
    queues: HashMap<String, QueueNotes>,
}

#[derive(Default)]
struct QueueNotes {
    order: VecDeque<MessageId>,
    reasons: HashMap<MessageId, String>,
}

impl FailureNotes {
    fn note(&mut self, queue: &str, id: MessageId, reason: &str) {
        let notes = self.queues.entry(queue.to_string()).or_default();
        let reason: String = reason.chars().take(FAILURE_CHARS).collect();
        if notes.reasons.insert(id, reason).is_none() {
            notes.order.push_back(id);
        }
        while notes.order.len() > FAILURES_KEPT {
            if let Some(old) = notes.order.pop_front() {
                notes.reasons.remove(&old);
            }
        }
    }

    fn get(&self, queue: &str, id: MessageId) -> Option<&String> {
        self.queues.get(queue)?.reasons.get(&id)
    }
}

impl Broker {
    /// Remembers why deliveries of these messages failed (a plugin fault, say), for the
    /// monitor's list of stuck messages.
    pub fn note_failures<'a>(
        &self,
        queue: &str,
        ids: impl IntoIterator<Item = &'a str>,
        reason: &str,
    ) {
        let mut notes = self.failures.lock().expect("failure notes lock");
        for id in ids.into_iter().filter_map(parse_id) {
            notes.note(queue, id, reason);
        }
    }

    /// How many messages were dead-lettered into a queue since the server started (none
    /// when there is no such queue).
    pub(crate) fn dead_letters_into(&self, queue: &str) -> Option<u64> {
        let handle = self.queue(queue).ok()?;
        Some(
            handle
                .dead_letters_in
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// A queue's monitor thresholds (the defaults when there is no such queue).
    pub fn monitor_thresholds(&self, queue: &str) -> Vec<u64> {
        match self.queue(queue) {
            Ok(handle) => thresholds(&handle.lock().settings),
            Err(_) => DEFAULT_MONITOR_THRESHOLDS_MS.to_vec(),
        }
    }

    /// The monitor of every queue `may_read` allows, by name.
    pub async fn monitor_queues(&self, may_read: impl Fn(&str) -> bool) -> Vec<QueueMonitor> {
        let now = now_ms();
        let mut out = Vec::new();
        for queue in self.queues() {
            if may_read(&queue.name) {
                out.push(monitor_view(&queue.name, walk(&queue, None, now).await));
            }
        }
        out
    }

    /// The monitor of one queue.
    pub async fn monitor_queue(&self, name: &str) -> Result<QueueMonitor, BrokerError> {
        let queue = self.queue(name)?;
        Ok(monitor_view(name, walk(&queue, None, now_ms()).await))
    }

    /// How many messages of a queue have waited or been in flight at least `over_ms`, and
    /// whether that count is complete (see the module's costs).
    pub(crate) async fn stuck_count(
        &self,
        name: &str,
        over_ms: u64,
    ) -> Result<(u64, bool), BrokerError> {
        let queue = self.queue(name)?;
        let scan = walk(&queue, Some(vec![over_ms]), now_ms()).await;
        Ok((
            scan.waiting.over[0] + scan.in_flight.over[0],
            !truncated(&scan),
        ))
    }

    /// The queue's messages that have waited or been in flight at least `over_ms` (default:
    /// its smallest threshold), oldest id first, after `after`, at most `limit` (default
    /// 100, at most 1000).
    pub async fn stuck_messages(
        &self,
        name: &str,
        over_ms: Option<u64>,
        after: Option<&str>,
        limit: Option<u32>,
    ) -> Result<StuckMessages, BrokerError> {
        let queue = self.queue(name)?;
        let after = match after {
            Some(text) => Some(parse_id(text).ok_or_else(|| BrokerError::InvalidMessageId {
                id: text.chars().take(100).collect(),
            })?),
            None => None,
        };
        let limit = limit.unwrap_or(DEFAULT_STUCK_LIMIT);
        if !(1..=MAX_STUCK_LIMIT).contains(&limit) {
            return Err(BrokerError::InvalidSetting {
                name: "limit",
                reason: format!("{limit} is outside 1..={MAX_STUCK_LIMIT}"),
            });
        }
        let thresholds = thresholds(&queue.lock().settings);
        let over_ms = over_ms.unwrap_or(thresholds[0]);
        let now = now_ms();
        let mut found: Vec<Stuck> = Vec::new();
        let (mut cursor, mut over) = (after, false);
        let mut walked = 0;
        while !over && walked < SCAN_LIMIT && found.len() < limit as usize {
            (cursor, over) = queue.lock().stuck_chunk(
                cursor,
                over_ms,
                now,
                SCAN_CHUNK,
                limit as usize,
                &mut found,
            );
            walked += SCAN_CHUNK;
            tokio::task::yield_now().await;
        }
        let notes = self.failures.lock().expect("failure notes lock");
        let messages = found
            .into_iter()
            .map(|stuck| StuckMessage {
                id: format_id(stuck.id),
                state: stuck.state,
                age_ms: stuck.age_ms,
                receive_count: stuck.receive_count,
                visible_at_ms: stuck.visible_at_ms,
                last_error: notes
                    .get(name, stuck.id)
                    .cloned()
                    .or(stuck.dead_letter_reason),
            })
            .collect();
        drop(notes);
        Ok(StuckMessages {
            queue: name.to_string(),
            thresholds_ms: thresholds,
            over_ms,
            at_ms: now,
            messages,
            next_after: (!over).then(|| cursor.map(format_id)).flatten(),
            complete: over || walked < SCAN_LIMIT,
        })
    }
}

/// Walks a queue for the monitor: against `thresholds`, or the queue's own.
async fn walk(queue: &Arc<QueueHandle>, thresholds: Option<Vec<u64>>, now: u64) -> Scan {
    let thresholds = thresholds.unwrap_or_else(|| self::thresholds(&queue.lock().settings));
    let mut scan = Scan::new(thresholds, now);
    while !scan.done && (scan.scanned as usize) < SCAN_LIMIT {
        queue.lock().monitor_chunk(&mut scan, SCAN_CHUNK);
        if !scan.done {
            tokio::task::yield_now().await;
        }
    }
    scan
}

fn truncated(scan: &Scan) -> bool {
    !scan.done
}

fn monitor_view(name: &str, scan: Scan) -> QueueMonitor {
    let complete = !truncated(&scan);
    let buckets = |tally: Tally| AgeBuckets {
        total: tally.total,
        over: scan
            .thresholds
            .iter()
            .zip(&tally.over)
            .map(|(threshold_ms, count)| AgeBucket {
                threshold_ms: *threshold_ms,
                count: *count,
            })
            .collect(),
        oldest_age_ms: tally.oldest.map(|(age, _)| age),
        oldest_id: tally.oldest.map(|(_, id)| format_id(id)),
    };
    QueueMonitor {
        queue: name.to_string(),
        waiting: buckets(scan.waiting.clone()),
        in_flight: buckets(scan.in_flight.clone()),
        thresholds_ms: scan.thresholds.clone(),
        scanned: scan.scanned,
        complete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_one_to_ten_ascending_values_of_at_most_14_days() {
        assert!(validate_thresholds(&[1000]).is_ok());
        assert!(validate_thresholds(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]).is_ok());
        assert!(validate_thresholds(&[MAX_RETENTION_MS]).is_ok());
        for bad in [
            vec![],
            (1..=11).collect(),
            vec![0],
            vec![MAX_RETENTION_MS + 1],
            vec![2000, 1000],
            vec![1000, 1000],
        ] {
            let error = validate_thresholds(&bad).unwrap_err();
            assert_eq!(error.code(), "invalid_setting", "{bad:?}");
            assert!(
                error.to_string().contains("monitor_thresholds_ms"),
                "{error}"
            );
        }
    }

    #[test]
    fn failure_notes_keep_the_most_recent() {
        let mut notes = FailureNotes::default();
        for id in 0..(FAILURES_KEPT as u128 + 10) {
            notes.note("q", id, "boom");
        }
        assert!(notes.get("q", 0).is_none());
        assert_eq!(notes.get("q", FAILURES_KEPT as u128 + 9).unwrap(), "boom");
        assert!(notes.get("other", 20).is_none());
        notes.note("q", 20, &"x".repeat(10_000));
        assert_eq!(notes.get("q", 20).unwrap().len(), FAILURE_CHARS);
    }
}
