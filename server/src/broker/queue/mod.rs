//! One queue's hot state in memory: which messages are ready, which are invisible until
//! when (delayed or leased), which wait behind an earlier message with their key, their
//! receive counts, and when they entered the queue (for retention). Rebuilt from storage at
//! start; storage is the truth. No I/O here: callers persist what these methods decide.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use switchyard_client::{DeliveryState, QueueOrdering, QueueStats};
use tokio::sync::Notify;

use lanes::Lane;
pub(crate) use lanes::key_hash;

use crate::storage::{DeadLetterRecord, DeliveryRecord, MessageId, QueueId, QueueRecord};

/// A queue: its settings and state behind one lock, and a notifier for long polls.
pub(crate) struct QueueHandle {
    pub(crate) id: QueueId,
    pub(crate) name: String,
    pub(crate) state: Mutex<QueueState>,
    /// Woken whenever messages become ready (and when the queue is deleted).
    pub(crate) ready: Notify,
    pub(crate) deleted: AtomicBool,
    /// Copy of the queue's delay, read on every publish without taking the lock.
    pub(crate) delay_ms: AtomicU64,
    /// The attribute its fairness groups by, if it groups by one: new copies carry the
    /// hash of its value. Read on every publish without taking the lock.
    group_attribute: std::sync::RwLock<Option<Arc<str>>>,
    /// Messages dead-lettered into this queue since the server started (alarms count
    /// them per minute).
    pub(crate) dead_letters_in: AtomicU64,
}

impl QueueHandle {
    pub(crate) fn new(settings: QueueRecord) -> Self {
        Self {
            id: settings.id,
            name: settings.name.clone(),
            delay_ms: AtomicU64::new(settings.delay_ms),
            group_attribute: std::sync::RwLock::new(group_attribute(&settings)),
            dead_letters_in: AtomicU64::new(0),
            state: Mutex::new(QueueState::new(settings)),
            ready: Notify::new(),
            deleted: AtomicBool::new(false),
        }
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().expect("queue state lock poisoned")
    }

    pub(crate) fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    /// The fairness group hash a new copy of a message with `attributes` carries here.
    pub(crate) fn group_hash(&self, attributes: &switchyard_client::Attributes) -> Option<u64> {
        let name = self.group_attribute.read().expect("group attribute lock");
        key_hash(attributes.get(name.as_deref()?).map(String::as_str))
    }

    /// Takes the settings' fairness for new copies (see [`QueueHandle::group_hash`]).
    pub(crate) fn set_grouping(&self, settings: &QueueRecord) {
        *self.group_attribute.write().expect("group attribute lock") = group_attribute(settings);
    }
}

fn group_attribute(settings: &QueueRecord) -> Option<Arc<str>> {
    match settings.fairness.as_ref()?.group_by()? {
        switchyard_client::GroupBy::Key => None,
        switchyard_client::GroupBy::Attribute(name) => Some(name.into()),
    }
}

/// One message copy in this queue.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) visible_at_ms: u64,
    pub(crate) receive_count: u32,
    /// Leases of this message so far, never reset (see [`DeliveryRecord::leases`]).
    pub(crate) leases: u32,
    pub(crate) leased: bool,
    pub(crate) first_received_at_ms: Option<u64>,
    pub(crate) dead_letter: Option<Box<DeadLetterRecord>>,
    /// See [`DeliveryRecord::enqueued_at_ms`].
    pub(crate) enqueued_at_ms: Option<u64>,
    /// See [`DeliveryRecord::key_hash`].
    pub(crate) key_hash: Option<u64>,
    /// See [`DeliveryRecord::group_hash`].
    pub(crate) group_hash: Option<u64>,
    /// See [`DeliveryRecord::size`].
    pub(crate) size: u32,
    /// When the current lease began (Unix ms), for the monitor; in memory only, so a copy
    /// leased before a restart counts from its first delivery.
    leased_at_ms: Option<u64>,
    is_ready: bool,
    /// Waiting behind an earlier copy with its key (`per_key` ordering): neither ready
    /// nor timed until that one leaves.
    behind_key: bool,
}

impl Entry {
    /// A copy as stored: a fresh message that is already visible is ready at once;
    /// anything else waits for its time (and a redelivery passes the dead-letter check then).
    fn loaded(record: DeliveryRecord, now_ms: u64) -> Self {
        let fresh = record.receive_count == 0 && !record.leased;
        Entry {
            is_ready: fresh && record.visible_at_ms <= now_ms,
            visible_at_ms: record.visible_at_ms,
            receive_count: record.receive_count,
            leases: record.leases,
            leased: record.leased,
            first_received_at_ms: record.first_received_at_ms,
            dead_letter: record.dead_letter,
            enqueued_at_ms: record.enqueued_at_ms,
            key_hash: record.key_hash,
            group_hash: record.group_hash,
            size: record.size,
            leased_at_ms: None,
            behind_key: false,
        }
    }

    /// A copy that was never handed out: nothing but its place in the queue to lose.
    fn untouched(&self) -> bool {
        self.receive_count == 0 && !self.leased
    }

    pub(crate) fn record(&self) -> DeliveryRecord {
        DeliveryRecord {
            visible_at_ms: self.visible_at_ms,
            receive_count: self.receive_count,
            leases: self.leases,
            leased: self.leased,
            first_received_at_ms: self.first_received_at_ms,
            dead_letter: self.dead_letter.clone(),
            enqueued_at_ms: self.enqueued_at_ms,
            key_hash: self.key_hash,
            group_hash: self.group_hash,
            size: self.size,
        }
    }

    pub(crate) fn state(&self) -> DeliveryState {
        if self.behind_key {
            DeliveryState::BehindKey
        } else if self.is_ready {
            DeliveryState::Ready
        } else if self.leased {
            DeliveryState::InFlight
        } else {
            DeliveryState::Delayed
        }
    }
}

/// Why a receipt does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReceiptProblem {
    /// The message is no longer in the queue.
    Gone,
    /// The lease ended, or the receipt is from an earlier delivery.
    Expired,
}

/// A message taken out of the queue to be dead-lettered.
pub(crate) struct DeadLetterMove {
    pub(crate) id: MessageId,
    pub(crate) entry: Entry,
    pub(crate) reason: String,
}

pub(crate) struct QueueState {
    pub(crate) settings: QueueRecord,
    entries: BTreeMap<MessageId, Entry>,
    ready: BTreeSet<MessageId>,
    /// The payload bytes of the ready copies.
    ready_bytes: u64,
    timers: BTreeSet<(u64, MessageId)>,
    /// Copies that entered the queue after their message was published, by when they did:
    /// their retention runs from then. Every other copy's runs from the time in its id.
    late: BTreeSet<(u64, MessageId)>,
    /// No copy below this id entered the queue at publish: the retention sweep has taken
    /// those, and an insert below lowers it.
    swept_below: MessageId,
    in_flight: u64,
    dead_lettered: u64,
    /// The storage sequence number of the last purge submitted (0: none).
    purged_at: u64,
    /// `per_key` ordering: the copies of each key, and which of them may be delivered.
    lanes: HashMap<u64, Lane>,
    /// Copies waiting behind their key.
    behind_key: u64,
    /// The latest time a caller gave (a copy freed from behind its key is ready at once
    /// when it was visible by then, else it waits for the next promotion).
    last_now_ms: u64,
    /// Copies made ready by leaving a lane since the last promotion: they count as
    /// promoted, so long polls are woken.
    freed: usize,
    /// With a fairness setting: the ready copies by group, and whose turn it is.
    fair: Option<fair::Fair>,
}

/// When a copy of `id` that enters a queue at `now_ms` counts as enqueued: `None` when
/// that is no later than its publish (the time in its id), which is what a copy without
/// an enqueue time means.
pub(crate) fn enqueued_at(id: MessageId, now_ms: u64) -> Option<u64> {
    (now_ms > super::id_time_ms(id)).then_some(now_ms)
}

impl QueueState {
    fn new(settings: QueueRecord) -> Self {
        Self {
            entries: BTreeMap::new(),
            ready: BTreeSet::new(),
            ready_bytes: 0,
            timers: BTreeSet::new(),
            late: BTreeSet::new(),
            swept_below: 0,
            in_flight: 0,
            dead_lettered: 0,
            purged_at: 0,
            lanes: HashMap::new(),
            behind_key: 0,
            last_now_ms: 0,
            freed: 0,
            fair: settings.fairness.as_ref().map(fair::Fair::new),
            settings,
        }
    }

    /// Whether copies with a key wait for the one before them.
    fn ordered(&self) -> bool {
        self.settings.ordering == QueueOrdering::PerKey
    }

    /// Whether a purge was submitted after the write numbered `sequence`: the purge then
    /// deleted on disk whatever that write left in this queue, so memory must not get it.
    pub(crate) fn purged_after(&self, sequence: u64) -> bool {
        self.purged_at > sequence
    }

    /// Records that the purge numbered `sequence` was submitted; returns the mark before.
    pub(crate) fn mark_purged(&mut self, sequence: u64) -> u64 {
        let previous = self.purged_at;
        self.purged_at = previous.max(sequence);
        previous
    }

    /// Takes back the mark of the purge numbered `sequence` (its write failed).
    pub(crate) fn unmark_purged(&mut self, sequence: u64, previous: u64) {
        if self.purged_at == sequence {
            self.purged_at = previous;
        }
    }

    /// Adds a copy. A fresh message that is already visible is ready at once; anything
    /// else waits for its time (and a redelivery passes the dead-letter check then).
    pub(crate) fn insert(&mut self, id: MessageId, record: DeliveryRecord, now_ms: u64) {
        if self.entries.contains_key(&id) {
            return;
        }
        self.last_now_ms = self.last_now_ms.max(now_ms);
        let mut entry = Entry::loaded(record, now_ms);
        if entry.dead_letter.is_some() {
            self.dead_lettered += 1;
        }
        match entry.enqueued_at_ms {
            Some(at) => {
                self.late.insert((at, id));
            }
            None => self.swept_below = self.swept_below.min(id),
        }
        if self.join_lane(id, &entry) {
            self.link(id, &mut entry);
        } else {
            entry.is_ready = false;
            entry.behind_key = true;
            self.behind_key += 1;
        }
        self.entries.insert(id, entry);
    }

    /// Puts a copy that is not behind its key where its state says: ready, or timed.
    fn link(&mut self, id: MessageId, entry: &mut Entry) {
        entry.behind_key = false;
        if entry.is_ready {
            self.add_ready(id, entry);
        } else {
            if entry.leased {
                self.in_flight += 1;
            }
            self.timers.insert((entry.visible_at_ms, id));
        }
    }

    /// Loads the copies read back at start, in bulk (ids arrive in key order).
    pub(crate) fn load(&mut self, mut copies: Vec<(MessageId, DeliveryRecord)>, now_ms: u64) {
        if !self.entries.is_empty() {
            for (id, record) in copies {
                self.insert(id, record, now_ms);
            }
            return;
        }
        copies.sort_unstable_by_key(|(id, _)| *id);
        let mut ready = Vec::new();
        let mut timers = Vec::new();
        let mut late = Vec::new();
        let entries = copies.into_iter().map(|(id, record)| {
            let entry = Entry::loaded(record, now_ms);
            if let Some(at) = entry.enqueued_at_ms {
                late.push((at, id));
            }
            if entry.is_ready {
                ready.push(id);
                self.ready_bytes += u64::from(entry.size);
            } else {
                timers.push((entry.visible_at_ms, id));
                if entry.leased {
                    self.in_flight += 1;
                }
            }
            if entry.dead_letter.is_some() {
                self.dead_lettered += 1;
            }
            (id, entry)
        });
        self.entries = entries.collect();
        self.ready = ready.into_iter().collect();
        self.timers = timers.into_iter().collect();
        self.late = late.into_iter().collect();
        self.swept_below = 0;
        self.last_now_ms = self.last_now_ms.max(now_ms);
        if self.ordered() {
            self.rebuild_lanes(now_ms);
        }
        self.rebuild_fairness();
    }

    /// Removes a copy wherever it is.
    pub(crate) fn remove(&mut self, id: MessageId) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        self.unlink(id, &entry);
        self.forget(id, &entry);
        self.leave_lane(id, &entry);
        Some(entry)
    }

    /// Drops what counts a copy that left `entries` without its timer or ready slot.
    fn forget(&mut self, id: MessageId, entry: &Entry) {
        if entry.dead_letter.is_some() {
            self.dead_lettered -= 1;
        }
        if let Some(at) = entry.enqueued_at_ms {
            self.late.remove(&(at, id));
        }
    }

    fn unlink(&mut self, id: MessageId, entry: &Entry) {
        if entry.behind_key {
            self.behind_key -= 1;
        } else if entry.is_ready {
            self.ready.remove(&id);
            self.ready_bytes -= u64::from(entry.size);
            if let Some(fair) = &mut self.fair {
                fair.remove(id, entry);
            }
        } else {
            self.timers.remove(&(entry.visible_at_ms, id));
            if entry.leased {
                self.in_flight -= 1;
            }
        }
    }

    /// Makes every copy whose time has come visible; copies that were delivered
    /// `max_receive_count` times come back as dead-letter moves instead (when the queue
    /// has a dead-letter queue and it `can_dead_letter`, i.e. it exists). Returns how many
    /// became ready, and the moves.
    pub(crate) fn promote_due(
        &mut self,
        now_ms: u64,
        can_dead_letter: bool,
    ) -> (usize, Vec<DeadLetterMove>) {
        self.last_now_ms = self.last_now_ms.max(now_ms);
        let mut promoted = std::mem::take(&mut self.freed);
        let mut moves = Vec::new();
        while let Some(&(at, id)) = self.timers.first() {
            if at > now_ms {
                break;
            }
            self.timers.pop_first();
            let max = self.settings.max_receive_count;
            let has_dlq = can_dead_letter && self.settings.dead_letter_queue.is_some();
            let entry = self.entries.get_mut(&id).expect("timer of a live entry");
            let was_leased = entry.leased;
            if was_leased {
                self.in_flight -= 1;
                entry.leased = false;
            }
            if let (Some(max), true) = (max, has_dlq)
                && entry.receive_count >= max
            {
                let last = if was_leased {
                    "the last lease expired"
                } else {
                    "the last delivery was nacked"
                };
                let reason = format!(
                    "delivered {} times (max_receive_count {max}); {last}",
                    entry.receive_count
                );
                let entry = self.entries.remove(&id).expect("present");
                self.forget(id, &entry);
                self.leave_lane(id, &entry);
                moves.push(DeadLetterMove { id, entry, reason });
                continue;
            }
            // An expired lease is a failed delivery: it waits out the retry schedule's step
            // from when the lease ended.
            if was_leased {
                let retry_at =
                    at.saturating_add(retry_delay(&self.settings, id, entry.receive_count));
                if retry_at > now_ms {
                    entry.visible_at_ms = retry_at;
                    self.timers.insert((retry_at, id));
                    continue;
                }
            }
            entry.is_ready = true;
            self.ready.insert(id);
            self.ready_bytes += u64::from(entry.size);
            if let Some(fair) = &mut self.fair {
                fair.add(id, entry);
            }
            promoted += 1;
        }
        (promoted, moves)
    }

    /// Marks a copy ready (it is in `entries`, not behind its key and not timed).
    fn add_ready(&mut self, id: MessageId, entry: &Entry) {
        self.ready.insert(id);
        self.ready_bytes += u64::from(entry.size);
        if let Some(fair) = &mut self.fair {
            fair.add(id, entry);
        }
    }

    /// Leases up to `max` ready messages of at most `max_bytes` payload bytes together
    /// (but always one, when one is ready) until `now_ms + visibility_ms`. Returns each
    /// copy as leased, and as it was before (to put back if the lease cannot be stored).
    pub(crate) fn lease(
        &mut self,
        max: usize,
        max_bytes: u64,
        now_ms: u64,
        visibility_ms: u64,
    ) -> Vec<(MessageId, Entry, Entry)> {
        self.last_now_ms = self.last_now_ms.max(now_ms);
        let until = now_ms.saturating_add(visibility_ms);
        let mut leased = Vec::with_capacity(max.min(self.ready.len()));
        let mut bytes = 0u64;
        while leased.len() < max {
            let Some(id) = self.take_ready() else {
                break;
            };
            let size = u64::from(self.entries[&id].size);
            if !leased.is_empty() && bytes + size > max_bytes {
                let entry = self.entries[&id].clone();
                self.add_ready(id, &entry);
                break;
            }
            bytes += size;
            let entry = self.entries.get_mut(&id).expect("ready entry exists");
            let before = entry.clone();
            entry.is_ready = false;
            entry.leased = true;
            entry.visible_at_ms = until;
            entry.receive_count = entry.receive_count.saturating_add(1);
            entry.leases = entry.leases.saturating_add(1);
            entry.first_received_at_ms.get_or_insert(now_ms);
            entry.leased_at_ms = Some(now_ms);
            self.timers.insert((until, id));
            self.in_flight += 1;
            leased.push((id, entry.clone(), before));
        }
        leased
    }

    /// Whether a receipt for lease number `lease` of `id` still holds.
    pub(crate) fn check_receipt(
        &self,
        id: MessageId,
        lease: u32,
        now_ms: u64,
    ) -> Result<(), ReceiptProblem> {
        let entry = self.entries.get(&id).ok_or(ReceiptProblem::Gone)?;
        if !entry.leased || entry.leases != lease || entry.visible_at_ms <= now_ms {
            return Err(ReceiptProblem::Expired);
        }
        Ok(())
    }

    /// Moves an in-flight copy's visibility to `visible_at_ms`; `release` ends the lease
    /// (nack), otherwise the lease is extended. Returns the new record to persist.
    pub(crate) fn reschedule(
        &mut self,
        id: MessageId,
        visible_at_ms: u64,
        release: bool,
    ) -> Option<DeliveryRecord> {
        let mut entry = self.entries.remove(&id)?;
        self.unlink(id, &entry);
        entry.visible_at_ms = visible_at_ms;
        entry.is_ready = false;
        if release {
            entry.leased = false;
        } else {
            self.in_flight += 1;
        }
        self.timers.insert((visible_at_ms, id));
        let record = entry.record();
        self.entries.insert(id, entry);
        Some(record)
    }

    /// Whether a copy became ready by leaving its key's lane since the last promotion.
    pub(crate) fn freed_any(&self) -> bool {
        self.freed > 0
    }

    /// When a copy whose current delivery failed comes back by the queue's retry schedule
    /// (`now_ms` without one).
    pub(crate) fn retry_at(&self, id: MessageId, now_ms: u64) -> u64 {
        let count = self.entries.get(&id).map_or(0, |entry| entry.receive_count);
        now_ms.saturating_add(retry_delay(&self.settings, id, count))
    }

    /// Takes back the count of a leased copy's current delivery (it was leased, but the
    /// server failed before the consumer could handle it). The lease number stays, so the
    /// lease's receipt no longer holds once the copy is rescheduled.
    pub(crate) fn forget_delivery(&mut self, id: MessageId) {
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.receive_count = entry.receive_count.saturating_sub(1);
        }
    }

    /// Puts a copy that left the queue back, as the disk still has it (its removal was
    /// not written, or was refused), unless a purge submitted after the write numbered
    /// `sequence` has deleted it on disk since.
    pub(crate) fn restore(&mut self, id: MessageId, entry: &Entry, sequence: u64, now_ms: u64) {
        if !self.purged_after(sequence) {
            self.insert(id, entry.record(), now_ms);
        }
    }

    /// Undoes a change to a copy whose write failed: if the copy is still as the change
    /// left it (`changed`), it becomes `previous` again.
    pub(crate) fn revert(
        &mut self,
        id: MessageId,
        changed: &Entry,
        previous: &Entry,
        sequence: u64,
        now_ms: u64,
    ) {
        if !self.is_unchanged(id, changed) {
            return;
        }
        if self.purged_after(sequence) {
            self.remove(id);
            return;
        }
        // In place: the copy keeps its place in its key's lane.
        let current = self.entries.remove(&id).expect("unchanged, so present");
        self.unlink(id, &current);
        let mut entry = Entry::loaded(previous.record(), now_ms);
        if current.behind_key {
            entry.behind_key = true;
            self.behind_key += 1;
        } else {
            self.link(id, &mut entry);
        }
        self.entries.insert(id, entry);
    }

    /// Whether the copy of `id` is still as a change left it (`changed`): no lease,
    /// release or reschedule since.
    pub(crate) fn is_unchanged(&self, id: MessageId, changed: &Entry) -> bool {
        self.entries.get(&id).is_some_and(|current| {
            current.leases == changed.leases
                && current.leased == changed.leased
                && current.visible_at_ms == changed.visible_at_ms
        })
    }

    /// Removes everything; returns the copies there were.
    pub(crate) fn clear(&mut self) -> BTreeMap<MessageId, Entry> {
        self.ready.clear();
        self.ready_bytes = 0;
        self.timers.clear();
        self.late.clear();
        self.in_flight = 0;
        self.dead_lettered = 0;
        self.lanes.clear();
        self.behind_key = 0;
        self.freed = 0;
        let entries = std::mem::take(&mut self.entries);
        self.rebuild_fairness();
        entries
    }

    /// Takes out copies that have been in the queue longer than its retention: since they
    /// entered it (a replay, a redrive, a dead-letter move), or since their publish. Looks
    /// at no more than `limit` copies, so it costs that much whatever the queue's size;
    /// says whether more may be expired.
    pub(crate) fn take_expired(
        &mut self,
        now_ms: u64,
        limit: usize,
    ) -> (Vec<(MessageId, Entry)>, bool) {
        let cutoff = now_ms.saturating_sub(self.settings.retention_ms);
        let mut ids: Vec<MessageId> = self
            .late
            .iter()
            .take_while(|(at, _)| *at < cutoff)
            .take(limit)
            .map(|(_, id)| *id)
            .collect();
        // Copies enqueued at publish, in id order from where the last sweep stopped (the
        // late copies among them are skipped, but counted as looked at).
        let below = u128::from(cutoff) << 80;
        let mut swept_to = below;
        let mut looked_at = ids.len();
        let from = self.swept_below.min(below);
        for (id, entry) in self.entries.range(from..below) {
            if looked_at >= limit {
                swept_to = *id;
                break;
            }
            looked_at += 1;
            if entry.enqueued_at_ms.is_none() {
                ids.push(*id);
            }
        }
        self.swept_below = self.swept_below.max(swept_to);
        let taken = ids
            .into_iter()
            .filter_map(|id| Some((id, self.remove(id)?)))
            .collect();
        (taken, looked_at >= limit)
    }

    /// Up to `limit` ready copies after `after`, in id order.
    pub(crate) fn ready_after(&self, after: Option<MessageId>, limit: usize) -> Vec<MessageId> {
        let start = after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        self.ready
            .range((start, std::ops::Bound::Unbounded))
            .take(limit)
            .copied()
            .collect()
    }

    pub(crate) fn get(&self, id: MessageId) -> Option<&Entry> {
        self.entries.get(&id)
    }

    /// Up to `limit` copies after `after`, in id order.
    pub(crate) fn browse(&self, after: Option<MessageId>, limit: usize) -> Vec<(MessageId, Entry)> {
        let start = after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        self.entries
            .range((start, std::ops::Bound::Unbounded))
            .take(limit)
            .map(|(id, entry)| (*id, entry.clone()))
            .collect()
    }

    /// What a buffered consumer decides on: the ready copies, their bytes, since when the
    /// first of them (in publish order) has waited, and when the next timed copy is due.
    pub(crate) fn batch_view(&self) -> BatchView {
        let waiting_since_ms = self.ready.first().map(|id| {
            let entry = &self.entries[id];
            let entered = entry
                .enqueued_at_ms
                .unwrap_or_else(|| super::id_time_ms(*id));
            // A redelivery does not wait out a second window; a delay ends before one starts.
            if entry.receive_count > 0 {
                entered
            } else {
                entered.max(entry.visible_at_ms)
            }
        });
        BatchView {
            ready: self.ready.len() as u64,
            ready_bytes: self.ready_bytes,
            waiting_since_ms,
            next_due_ms: self.timers.first().map(|(at, _)| *at),
        }
    }

    pub(crate) fn stats(&self, now_ms: u64) -> QueueStats {
        let total = self.entries.len() as u64;
        let ready = self.ready.len() as u64;
        QueueStats {
            ready,
            in_flight: self.in_flight,
            delayed: total - ready - self.in_flight - self.behind_key,
            behind_key: self.behind_key,
            dead_lettered: self.dead_lettered,
            oldest_age_ms: self
                .entries
                .keys()
                .next()
                .map(|id| now_ms.saturating_sub(super::id_time_ms(*id))),
        }
    }
}

/// See [`QueueState::batch_view`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchView {
    pub(crate) ready: u64,
    pub(crate) ready_bytes: u64,
    pub(crate) waiting_since_ms: Option<u64>,
    pub(crate) next_due_ms: Option<u64>,
}

/// How long after delivery number `receive_count` of `id` failed it comes back, by the
/// queue's retry schedule (0 without one). The jitter is drawn from the id and the count,
/// so the same failure always waits alike, also when it is worked out again after a restart.
pub(crate) fn retry_delay(settings: &QueueRecord, id: MessageId, receive_count: u32) -> u64 {
    let Some(schedule) = &settings.retry else {
        return 0;
    };
    let mixed = lanes::mix(id as u64 ^ (id >> 64) as u64 ^ u64::from(receive_count));
    let draw = (mixed >> 11) as f64 / (1u64 << 53) as f64;
    schedule.delay_ms(receive_count, draw)
}

mod fair;
mod lanes;
pub(super) mod monitor;
#[cfg(test)]
mod tests;
