//! The monitor's walk over one queue's copies: how many have waited (ready, delayed, behind
//! their key) or been in flight longer than each threshold, and the oldest of each.
//!
//! The walk goes in id order, oldest publish first, a chunk at a time under the queue's
//! lock. A copy's age, waiting or in flight, never exceeds the time since its publish (the
//! time its id carries): it entered the queue at or after its publish, and was leased at or
//! after it entered. So once the walk reaches ids younger than the smallest threshold and
//! than the oldest waiting and in-flight copies found so far, nothing later can count, and
//! it stops. What it costs is therefore the copies published before the smallest threshold
//! (the stuck ones) plus the few up to the oldest of each kind; a healthy queue costs a
//! handful of copies, whatever its depth.

use switchyard_client::DeliveryState;

use super::{Entry, QueueState};
use crate::broker::id_time_ms;
use crate::storage::MessageId;

/// Counts of one kind of copy (waiting or in flight) against the thresholds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    /// How many there are in the queue, whatever their age.
    pub(crate) total: u64,
    /// Per threshold, how many are older.
    pub(crate) over: Vec<u64>,
    /// The oldest seen: its age and id.
    pub(crate) oldest: Option<(u64, MessageId)>,
}

impl Tally {
    fn count(&mut self, thresholds: &[u64], id: MessageId, age: u64) {
        for (threshold, over) in thresholds.iter().zip(&mut self.over) {
            if age >= *threshold {
                *over += 1;
            }
        }
        if self.oldest.is_none_or(|(oldest, _)| age > oldest) {
            self.oldest = Some((age, id));
        }
    }

    /// Whether nothing at most `bound` old can change the oldest: none exist, or one at
    /// least that old was found.
    fn settled(&self, bound: u64) -> bool {
        self.total == 0 || self.oldest.is_some_and(|(age, _)| age >= bound)
    }
}

/// A walk in progress over one queue, carried from chunk to chunk.
#[derive(Debug, Clone)]
pub(crate) struct Scan {
    /// Ascending.
    pub(crate) thresholds: Vec<u64>,
    /// Ages count to then.
    pub(crate) now_ms: u64,
    pub(crate) waiting: Tally,
    pub(crate) in_flight: Tally,
    /// Copies looked at.
    pub(crate) scanned: u64,
    /// The last id looked at.
    cursor: Option<MessageId>,
    /// Nothing more can count.
    pub(crate) done: bool,
}

impl Scan {
    pub(crate) fn new(thresholds: Vec<u64>, now_ms: u64) -> Self {
        let tally = Tally {
            over: vec![0; thresholds.len()],
            ..Tally::default()
        };
        Self {
            thresholds,
            now_ms,
            waiting: tally.clone(),
            in_flight: tally,
            scanned: 0,
            cursor: None,
            done: false,
        }
    }
}

/// A copy the drill-down lists.
#[derive(Debug, Clone)]
pub(crate) struct Stuck {
    pub(crate) id: MessageId,
    pub(crate) state: DeliveryState,
    pub(crate) age_ms: u64,
    pub(crate) receive_count: u32,
    pub(crate) visible_at_ms: u64,
    /// Why it was dead-lettered into this queue, if it was.
    pub(crate) dead_letter_reason: Option<String>,
}

impl Entry {
    /// Whether it is leased to a receiver now.
    fn in_flight(&self) -> bool {
        self.leased && !self.behind_key
    }

    /// How long it has waited in the queue, or (in flight) how long its lease has lasted.
    fn age_ms(&self, id: MessageId, now_ms: u64) -> u64 {
        let entered = self.enqueued_at_ms.unwrap_or_else(|| id_time_ms(id));
        let since = if self.in_flight() {
            self.leased_at_ms
                .or(self.first_received_at_ms)
                .unwrap_or(entered)
        } else {
            entered
        };
        now_ms.saturating_sub(since)
    }
}

impl QueueState {
    /// Walks up to `limit` more copies of `scan`, oldest id first; sets `scan.done` once
    /// nothing later can count or the queue is walked to its end.
    pub(crate) fn monitor_chunk(&self, scan: &mut Scan, limit: usize) {
        if scan.done {
            return;
        }
        scan.in_flight.total = self.in_flight;
        scan.waiting.total = self.entries.len() as u64 - self.in_flight;
        let smallest = scan.thresholds.first().copied().unwrap_or(0);
        let start = scan
            .cursor
            .map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        let copies = self.entries.range((start, std::ops::Bound::Unbounded));
        for (looked, (id, entry)) in copies.enumerate() {
            let bound = scan.now_ms.saturating_sub(id_time_ms(*id));
            if bound < smallest && scan.waiting.settled(bound) && scan.in_flight.settled(bound) {
                scan.done = true;
                return;
            }
            if looked == limit {
                return;
            }
            scan.scanned += 1;
            scan.cursor = Some(*id);
            let age = entry.age_ms(*id, scan.now_ms);
            let tally = if entry.in_flight() {
                &mut scan.in_flight
            } else {
                &mut scan.waiting
            };
            tally.count(&scan.thresholds, *id, age);
        }
        scan.done = true;
    }

    /// Walks up to `limit` copies after `after`, oldest id first, adding to `out` those
    /// that have waited or been in flight at least `over_ms` until `out` holds `want`.
    /// Returns the last id looked at, and whether the walk is over (nothing later can be
    /// that old, or the queue ends).
    pub(crate) fn stuck_chunk(
        &self,
        after: Option<MessageId>,
        over_ms: u64,
        now_ms: u64,
        limit: usize,
        want: usize,
        out: &mut Vec<Stuck>,
    ) -> (Option<MessageId>, bool) {
        let start = after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        let mut cursor = after;
        let copies = self.entries.range((start, std::ops::Bound::Unbounded));
        for (looked, (id, entry)) in copies.enumerate() {
            if now_ms.saturating_sub(id_time_ms(*id)) < over_ms {
                return (cursor, true);
            }
            if looked == limit || out.len() >= want {
                return (cursor, false);
            }
            cursor = Some(*id);
            let age_ms = entry.age_ms(*id, now_ms);
            if age_ms >= over_ms {
                out.push(Stuck {
                    id: *id,
                    state: entry.state(),
                    age_ms,
                    receive_count: entry.receive_count,
                    visible_at_ms: entry.visible_at_ms,
                    dead_letter_reason: entry.dead_letter.as_ref().map(|d| d.reason.clone()),
                });
            }
        }
        (cursor, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{DeliveryRecord, QueueRecord};

    fn queue() -> QueueState {
        QueueState::new(QueueRecord {
            id: 1,
            name: "q".into(),
            visibility_timeout_ms: 1000,
            max_receive_count: None,
            dead_letter_queue: None,
            delay_ms: 0,
            retention_ms: u64::MAX,
            ordering: Default::default(),
            retry: None,
            fairness: None,
            monitor_thresholds_ms: None,
            created_at_ms: 0,
        })
    }

    /// An id published at `ms`.
    fn id(ms: u64, n: u128) -> MessageId {
        (u128::from(ms) << 80) | n
    }

    fn fresh(visible_at_ms: u64) -> DeliveryRecord {
        DeliveryRecord {
            visible_at_ms,
            ..DeliveryRecord::default()
        }
    }

    fn scan(q: &QueueState, thresholds: &[u64], now: u64, chunk: usize) -> Scan {
        let mut scan = Scan::new(thresholds.to_vec(), now);
        for _ in 0..1000 {
            q.monitor_chunk(&mut scan, chunk);
            if scan.done {
                break;
            }
        }
        assert!(scan.done, "the walk ends");
        scan
    }

    #[test]
    fn waiting_and_leased_copies_count_against_each_threshold() {
        let mut q = queue();
        // Published at 0, 10 000 and 19 000; one delayed until 50 000.
        q.insert(id(0, 1), fresh(0), 1);
        q.insert(id(10_000, 2), fresh(0), 10_000);
        q.insert(id(19_000, 3), fresh(50_000), 19_000);
        // Leased at 15 000: the oldest, so the first ready one.
        let leased = q.lease(1, u64::MAX, 15_000, 60_000);
        assert_eq!(leased[0].0, id(0, 1));
        let s = scan(&q, &[5_000, 15_000], 20_000, 1);
        assert_eq!((s.waiting.total, s.in_flight.total), (2, 1));
        // Waiting: 10 s and 1 s old.
        assert_eq!(s.waiting.over, [1, 0]);
        assert_eq!(s.waiting.oldest, Some((10_000, id(10_000, 2))));
        // In flight for 5 s (since its lease, not its publish).
        assert_eq!(s.in_flight.over, [1, 0]);
        assert_eq!(s.in_flight.oldest, Some((5_000, id(0, 1))));
    }

    #[test]
    fn the_walk_stops_once_nothing_later_can_count() {
        let mut q = queue();
        for n in 0..100 {
            q.insert(id(1_000 + n as u64, n), fresh(0), 2_000);
        }
        // Every copy is younger than the threshold: the oldest is found at once, the rest
        // cannot be older.
        let s = scan(&q, &[60_000], 3_000, 10);
        assert_eq!(s.scanned, 1);
        assert_eq!(s.waiting.over, [0]);
        assert_eq!(s.waiting.oldest, Some((2_000, id(1_000, 0))));
        assert_eq!(s.waiting.total, 100);
    }

    #[test]
    fn a_copy_that_entered_later_counts_from_its_entry() {
        let mut q = queue();
        let record = DeliveryRecord {
            enqueued_at_ms: Some(90_000),
            ..fresh(0)
        };
        q.insert(id(0, 1), record, 90_000);
        q.insert(id(50_000, 2), fresh(0), 50_000);
        let s = scan(&q, &[20_000], 100_000, 1);
        assert_eq!(s.waiting.over, [1], "only the one waiting 50 s");
        assert_eq!(s.waiting.oldest, Some((50_000, id(50_000, 2))));
    }

    #[test]
    fn the_stuck_list_pages_by_id_and_ends_where_ids_are_young() {
        let mut q = queue();
        for n in 0..10u64 {
            q.insert(id(n * 1_000, n.into()), fresh(0), n * 1_000);
        }
        let mut out = Vec::new();
        // At 10 000, copies published at 5 000 or before have waited 5 s or more: six.
        let (cursor, over) = q.stuck_chunk(None, 5_000, 10_000, 100, 3, &mut out);
        assert_eq!(out.len(), 3);
        assert!(!over);
        assert_eq!(cursor, Some(id(2_000, 2)));
        let (_, over) = q.stuck_chunk(cursor, 5_000, 10_000, 100, 100, &mut out);
        assert!(over);
        let ids: Vec<_> = out.iter().map(|s| s.id).collect();
        assert_eq!(
            ids,
            (0..=5u64)
                .map(|n| id(n * 1_000, n.into()))
                .collect::<Vec<_>>()
        );
        assert!(out.iter().all(|s| s.state == DeliveryState::Ready));
        assert_eq!(out[0].age_ms, 10_000);
    }
}
