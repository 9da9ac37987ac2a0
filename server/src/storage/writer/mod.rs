//! The single writer: one thread owns every redb write transaction. It takes every request
//! waiting (up to a bound), applies them in one transaction, commits durably, and only then
//! answers each one. Nobody hears "ok" before the commit is on disk. The ops are defined in
//! [`ops`]; archive and replay ops are applied in [`archive`], the bounded deletions
//! (purges, deleted queues' copies, sweeps) in [`bounded`]. What waits for the writer is
//! bounded too ([`backlog`]): past its bounds a write is refused at once, not queued.

mod archive;
mod backlog;
mod bounded;
mod ops;

pub use backlog::BacklogLimits;
pub use ops::{DedupEntry, EncodedMessage, Op, OpOutcome};

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use redb::{Database, Durability, ReadableTable, Table, WriteTransaction};
use tokio::sync::oneshot;

use super::archive::{ArchiveHead, ArchiveId, SharedHeads};
use super::codec::encode_delivery;
use super::pending::PendingWrite;
use super::tables::{
    self, ARCHIVE, ARCHIVE_HEADS, DEDUP, DEDUP_EXPIRY, DELIVERIES, MESSAGES, META, QUEUES, REPLAYS,
    SETTLED, SETTLED_LATE, SUBSCRIPTIONS, TOPICS,
};
use super::{DeliveryRecord, MessageId, QueueId, RefCounts, StorageError};
use backlog::Backlog;
use bounded::Purge;

type Reply = oneshot::Sender<Result<Vec<OpOutcome>, StorageError>>;

enum Request {
    /// Ops to apply, where to answer, and the bytes the backlog counts for them.
    Write {
        ops: Vec<Op>,
        reply: Reply,
        bytes: usize,
    },
    Stop,
}

pub(super) struct Writer {
    /// The sender, and the number of the last request sent: numbered and sent under one
    /// lock, so request numbers follow the order in which the writer applies them.
    sender: Mutex<(mpsc::Sender<Request>, u64)>,
    backlog: Arc<Backlog>,
    thread: JoinHandle<()>,
}

/// Whether a write may be refused when the writer's backlog is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admission {
    /// Refused with [`StorageError::Overloaded`] past the backlog's bounds: a request's
    /// write, whose caller can retry.
    Shed,
    /// Always queued: background work with one write in flight at a time (sweeps,
    /// replays, the rest of a purge), which must not fail because requests crowd it.
    Always,
}

/// Counters of the write path, for `/metrics` and the benchmark.
#[derive(Debug, Default)]
pub struct WriteCounters {
    /// Durable commits (one fsync each).
    pub commits: AtomicU64,
    /// Requests answered by those commits.
    pub requests: AtomicU64,
    /// Ops applied.
    pub ops: AtomicU64,
    /// Time spent in commit (fsync included), in µs.
    pub commit_micros: AtomicU64,
}

/// Whether the writer can still commit. After an I/O failure redb refuses later writes,
/// so the first such failure stops the writer for good: every later request is refused at
/// once, `/healthz` says so, and the binary exits for its supervisor to restart it.
#[derive(Debug, Default)]
pub struct WriterHealth {
    failure: Mutex<Option<String>>,
    changed: tokio::sync::Notify,
}

impl WriterHealth {
    /// Why the writer stopped, once it has.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().expect("health lock").clone()
    }

    /// Resolves once the writer has stopped on a failure.
    pub async fn failed(&self) -> String {
        loop {
            let changed = self.changed.notified();
            if let Some(reason) = self.failure() {
                return reason;
            }
            changed.await;
        }
    }

    fn fail(&self, error: &StorageError) {
        let mut failure = self.failure.lock().expect("health lock");
        if failure.is_none() {
            *failure = Some(error.to_string());
            drop(failure);
            self.changed.notify_waiters();
        }
    }
}

impl Writer {
    pub(super) fn start(db: Arc<Database>, start: WriterStart) -> Self {
        let (sender, receiver) = mpsc::channel();
        let archives = start.heads.read().expect("archive heads lock").clone();
        let backlog = Arc::new(Backlog::new(start.limits));
        let max_group = start.max_group;
        let mut state = WriterState {
            refcounts: start.refcounts,
            live_queues: start.live_queues,
            undo: Vec::new(),
            archives,
            touched: HashMap::new(),
            shared_heads: start.heads,
            purges: HashMap::new(),
            settled_cursor: u128::from(start.settled_swept_ms) << 80,
            backlog: backlog.clone(),
            counters: start.counters,
            health: start.health,
        };
        let thread = std::thread::Builder::new()
            .name("switchyard-writer".into())
            .spawn(move || state.run(&db, &receiver, max_group))
            .expect("spawning the writer thread");
        Writer {
            sender: Mutex::new((sender, 0)),
            backlog,
            thread,
        }
    }

    /// Numbers `ops` and queues them for the writer, or refuses them at once (the writer
    /// stopped, or its backlog is full and `admission` allows shedding). A refused write
    /// gets the number of the last write queued: it is applied nowhere in that order, and
    /// every later write has a higher number.
    pub(super) fn submit(&self, ops: Vec<Op>, admission: Admission) -> PendingWrite {
        let bytes = ops.iter().map(Op::approx_bytes).sum();
        let (reply, receiver) = oneshot::channel();
        let mut sender = self.sender.lock().expect("writer sender lock");
        if let Err(error) = self.backlog.admit(bytes, admission == Admission::Shed) {
            return PendingWrite::refused(sender.1, error);
        }
        if sender.0.send(Request::Write { ops, reply, bytes }).is_err() {
            self.backlog.release(1, bytes);
            return PendingWrite::refused(sender.1, StorageError::WriterStopped);
        }
        sender.1 += 1;
        PendingWrite::new(sender.1, receiver)
    }

    pub(super) fn stop(self) {
        let (sender, _) = self.sender.into_inner().expect("writer sender lock");
        let _ = sender.send(Request::Stop);
        let _ = self.thread.join();
    }
}

/// What the writer starts from.
pub(super) struct WriterStart {
    /// Requests per group commit, at most.
    pub(super) max_group: usize,
    /// Bounds of what waits for the writer.
    pub(super) limits: BacklogLimits,
    pub(super) refcounts: RefCounts,
    pub(super) live_queues: HashSet<QueueId>,
    pub(super) heads: SharedHeads,
    /// Where the settlement sweep by message id stopped (see [`tables::SETTLED_SWEPT_MS`]).
    pub(super) settled_swept_ms: u64,
    pub(super) counters: Arc<WriteCounters>,
    pub(super) health: Arc<WriterHealth>,
}

/// In-memory facts the writer keeps beside redb: how many deliveries each stored message
/// has (its body is deleted with the last one) and which queues exist.
struct WriterState {
    refcounts: RefCounts,
    live_queues: HashSet<QueueId>,
    undo: Vec<Undo>,
    /// Every archive's head, as of the transaction being built.
    archives: HashMap<ArchiveId, ArchiveHead>,
    /// Archives changed by the transaction being built, with their heads before it.
    touched: HashMap<ArchiveId, Option<ArchiveHead>>,
    /// Where readers see archive heads: updated after each commit.
    shared_heads: SharedHeads,
    /// Purges under way, by queue.
    purges: HashMap<QueueId, Purge>,
    /// Settlements of ids below this have been visited by the sweep in id order.
    settled_cursor: MessageId,
    backlog: Arc<Backlog>,
    counters: Arc<WriteCounters>,
    health: Arc<WriterHealth>,
}

enum Undo {
    Refcount(MessageId, Option<u32>),
    Queue(QueueId, bool),
    /// A queue's purge as it was (none: there was none).
    Purge(QueueId, Option<Purge>),
    /// A purge's cursor as it was.
    PurgeCursor(QueueId, MessageId),
    /// A copy the purge of its queue was told to keep.
    Kept(QueueId, MessageId),
    SettledCursor(MessageId),
}

impl WriterState {
    fn run(&mut self, db: &Database, receiver: &mpsc::Receiver<Request>, max_group: usize) {
        let mut stopping = false;
        while !stopping {
            let Ok(first) = receiver.recv() else { return };
            let mut group = Vec::new();
            let mut bytes = 0;
            let mut next = Some(first);
            while let Some(request) = next.take() {
                match request {
                    Request::Write {
                        ops,
                        reply,
                        bytes: size,
                    } => {
                        group.push((ops, reply));
                        bytes += size;
                    }
                    Request::Stop => stopping = true,
                }
                if group.len() < max_group && !stopping {
                    next = receiver.try_recv().ok();
                }
            }
            if group.is_empty() {
                continue;
            }
            // Answered below: from here the group no longer waits.
            self.backlog.release(group.len(), bytes);
            if let Some(reason) = self.health.failure() {
                for (_, reply) in group {
                    let _ = reply.send(Err(StorageError::WriterFailed {
                        reason: reason.clone(),
                    }));
                }
                continue;
            }
            match self.commit_group(db, &mut group) {
                Ok(outcomes) => {
                    for ((_, reply), outcome) in group.into_iter().zip(outcomes) {
                        let _ = reply.send(Ok(outcome));
                    }
                }
                Err(error) => {
                    tracing::error!(%error, requests = group.len(), "group commit failed");
                    if error.is_io() {
                        self.health.fail(&error);
                    }
                    self.rollback();
                    let error = Arc::new(error);
                    for (_, reply) in group {
                        let _ = reply.send(Err(StorageError::GroupFailed {
                            source: error.clone(),
                        }));
                    }
                }
            }
        }
    }

    fn commit_group(
        &mut self,
        db: &Database,
        group: &mut [(Vec<Op>, Reply)],
    ) -> Result<Vec<Vec<OpOutcome>>, StorageError> {
        self.undo.clear();
        self.touched.clear();
        let mut txn = db.begin_write()?;
        txn.set_durability(Durability::Immediate)
            .expect("immediate durability is always allowed");
        let mut outcomes = Vec::with_capacity(group.len());
        let mut ops_applied = 0u64;
        {
            let mut tables = OpenTables::open(&txn)?;
            for (ops, _) in group.iter_mut() {
                let mut request_outcomes = Vec::with_capacity(ops.len());
                ops_applied += ops.len() as u64;
                let mut halted = false;
                for op in ops.drain(..) {
                    if halted {
                        request_outcomes.push(OpOutcome::Missing);
                        continue;
                    }
                    let guard = matches!(op, Op::ReplayProgress(_));
                    let outcome = self.apply(&mut tables, op)?;
                    halted = guard && outcome == OpOutcome::Missing;
                    request_outcomes.push(outcome);
                }
                outcomes.push(request_outcomes);
            }
            self.save_heads(&mut tables)?;
        }
        let started = std::time::Instant::now();
        txn.commit()?;
        let counters = &self.counters;
        counters
            .commit_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        counters.commits.fetch_add(1, Ordering::Relaxed);
        counters
            .requests
            .fetch_add(group.len() as u64, Ordering::Relaxed);
        counters.ops.fetch_add(ops_applied, Ordering::Relaxed);
        self.undo.clear();
        self.publish_heads();
        Ok(outcomes)
    }

    fn rollback(&mut self) {
        for (archive, before) in self.touched.drain() {
            match before {
                Some(head) => self.archives.insert(archive, head),
                None => self.archives.remove(&archive),
            };
        }
        while let Some(undo) = self.undo.pop() {
            match undo {
                Undo::Refcount(id, Some(count)) => {
                    self.refcounts.insert(id, count);
                }
                Undo::Refcount(id, None) => {
                    self.refcounts.remove(&id);
                }
                Undo::Queue(id, true) => {
                    self.live_queues.insert(id);
                }
                Undo::Queue(id, false) => {
                    self.live_queues.remove(&id);
                }
                Undo::Purge(queue, Some(purge)) => {
                    self.purges.insert(queue, purge);
                }
                Undo::Purge(queue, None) => {
                    self.purges.remove(&queue);
                }
                Undo::PurgeCursor(queue, cursor) => {
                    if let Some(purge) = self.purges.get_mut(&queue) {
                        purge.cursor = cursor;
                    }
                }
                Undo::Kept(queue, id) => {
                    if let Some(purge) = self.purges.get_mut(&queue) {
                        purge.kept.remove(&id);
                    }
                }
                Undo::SettledCursor(cursor) => self.settled_cursor = cursor,
            }
        }
    }

    fn apply(&mut self, t: &mut OpenTables<'_>, op: Op) -> Result<OpOutcome, StorageError> {
        match op {
            Op::PutTopic(topic) => {
                let json = serde_json::to_vec(&topic).expect("a topic record serializes");
                t.topics.insert(topic.name.as_str(), json.as_slice())?;
                if let Some(id) = topic.archive_id {
                    t.raise_next_id("next_archive_id", id)?;
                }
                Ok(OpOutcome::Done)
            }
            Op::DeleteTopic { name } => {
                let removed = t.topics.remove(name.as_str())?.is_some();
                Ok(if removed {
                    OpOutcome::Done
                } else {
                    OpOutcome::Missing
                })
            }
            Op::PutQueue(queue) => {
                let json = serde_json::to_vec(&queue).expect("a queue record serializes");
                t.queues.insert(queue.name.as_str(), json.as_slice())?;
                t.raise_next_id("next_queue_id", queue.id)?;
                self.set_live(queue.id, true);
                Ok(OpOutcome::Done)
            }
            Op::DeleteQueue { id, name } => {
                t.queues.remove(name.as_str())?;
                self.set_live(id, false);
                if let Some(purge) = self.purges.remove(&id) {
                    self.undo.push(Undo::Purge(id, Some(purge)));
                }
                Ok(OpOutcome::Done)
            }
            Op::DropQueueCopies { id, limit } => self.drop_queue_copies(t, id, limit),
            Op::PurgeQueue { id, limit } => self.begin_purge(t, id, limit),
            Op::ContinuePurge { id, limit } => self.continue_purge(t, id, limit),
            Op::PutSubscription(subscription) => {
                let json = serde_json::to_vec(&subscription).expect("a subscription serializes");
                t.subscriptions
                    .insert(subscription.id.as_str(), json.as_slice())?;
                Ok(OpOutcome::Done)
            }
            Op::DeleteSubscription { id } => {
                let removed = t.subscriptions.remove(id.as_str())?.is_some();
                Ok(if removed {
                    OpOutcome::Done
                } else {
                    OpOutcome::Missing
                })
            }
            Op::PutMessage {
                id,
                message,
                deliveries,
                dedup,
                archive,
            } => self.put_message(t, id, message, deliveries, dedup, archive),
            Op::PutCopy { queue, id, record } => self.put_copy(t, queue, id, &record),
            Op::PutReplay { record, cut } => self.put_replay(t, record, cut),
            Op::ReplayProgress(record) => self.replay_progress(t, &record),
            Op::EndReplay {
                id,
                state,
                error,
                at_ms,
            } => self.end_replay(t, &id, state, error, at_ms),
            Op::TrimArchive {
                archive,
                before_time_ms,
                max_bytes,
                all,
                limit,
                forget,
            } => {
                let policy = archive::Trim {
                    before_time_ms,
                    max_bytes,
                    all,
                    limit,
                    forget,
                };
                self.trim_archive(t, archive, &policy)
            }
            Op::UpdateDelivery { queue, id, record } => {
                let key = tables::delivery_key(queue, id);
                if t.deliveries.get(&key)?.is_none() {
                    return Ok(OpOutcome::Missing);
                }
                t.deliveries
                    .insert(&key, encode_delivery(&record).as_slice())?;
                Ok(OpOutcome::Done)
            }
            Op::DeleteDelivery { queue, id } => {
                let removed = t
                    .deliveries
                    .remove(&tables::delivery_key(queue, id))?
                    .is_some();
                if !removed {
                    return Ok(OpOutcome::Missing);
                }
                self.release(t, id)?;
                Ok(OpOutcome::Done)
            }
            Op::SettleDelivery {
                queue,
                id,
                outcome,
                receive_count,
                at_ms,
            } => {
                let removed = t
                    .deliveries
                    .remove(&tables::delivery_key(queue, id))?
                    .is_some();
                if !removed {
                    return Ok(OpOutcome::Missing);
                }
                self.release(t, id)?;
                let value = tables::encode_settled(outcome as u8, at_ms, receive_count);
                t.settled.insert(&tables::settled_key(id, queue), &value)?;
                if id < self.settled_cursor {
                    // The sweep in id order has passed it: it is swept by when it was made.
                    t.settled_late
                        .insert(&tables::settled_late_key(at_ms, id, queue), ())?;
                }
                Ok(OpOutcome::Done)
            }
            Op::SweepSettled { before_ms, limit } => self.sweep_settled(t, before_ms, limit),
            Op::MoveDelivery {
                from,
                to,
                id,
                record,
            } => {
                if !self.live_queues.contains(&to) {
                    return Ok(OpOutcome::TargetGone);
                }
                if t.deliveries
                    .remove(&tables::delivery_key(from, id))?
                    .is_none()
                {
                    return Ok(OpOutcome::Missing);
                }
                let target = tables::delivery_key(to, id);
                if t.deliveries.get(&target)?.is_some() {
                    self.release(t, id)?;
                    return Ok(OpOutcome::Merged);
                }
                t.deliveries
                    .insert(&target, encode_delivery(&record).as_slice())?;
                self.keep_if_purging(to, id);
                Ok(OpOutcome::Done)
            }
            Op::Plugin(op) => Ok(if super::plugins::apply(t.txn, op)? {
                OpOutcome::Done
            } else {
                OpOutcome::Missing
            }),
            Op::Access(op) => Ok(if super::access::apply(t.txn, op)? {
                OpOutcome::Done
            } else {
                OpOutcome::Missing
            }),
            Op::Alarm(op) => Ok(if super::alarms::apply(t.txn, op)? {
                OpOutcome::Done
            } else {
                OpOutcome::Missing
            }),
            Op::SweepDedup { now_ms, limit } => self.sweep_dedup(t, now_ms, limit),
        }
    }

    fn put_message(
        &mut self,
        t: &mut OpenTables<'_>,
        id: MessageId,
        message: EncodedMessage,
        deliveries: Vec<(QueueId, DeliveryRecord)>,
        dedup: Option<DedupEntry>,
        archive: Option<ArchiveId>,
    ) -> Result<OpOutcome, StorageError> {
        if let Some(dedup) = dedup {
            let key = tables::dedup_key(&dedup.scope, &dedup.dedup_id);
            if let Some(value) = t.dedup.get(key.as_str())? {
                let (first, expires) = tables::decode_dedup(value.value());
                if expires > dedup.now_ms {
                    return Ok(OpOutcome::Duplicate(first));
                }
            }
            t.dedup
                .insert(key.as_str(), &tables::encode_dedup(id, dedup.expires_at_ms))?;
            let expiry = tables::dedup_expiry_key(dedup.expires_at_ms, &key);
            t.dedup_expiry.insert(expiry.as_slice(), ())?;
        }
        // Only rows this op creates hold a reference: a queue named twice, or a row that
        // already exists, adds none.
        let mut copies = 0u32;
        for (queue, record) in &deliveries {
            if self.live_queues.contains(queue) {
                let replaced = t.deliveries.insert(
                    &tables::delivery_key(*queue, id),
                    encode_delivery(record).as_slice(),
                )?;
                if replaced.is_none() {
                    copies += 1;
                }
                self.keep_if_purging(*queue, id);
            }
        }
        if let Some(archive) = archive {
            self.archive_message(t, archive, id, &message)?;
            copies += 1;
        }
        if copies > 0 {
            t.messages
                .insert(&tables::message_key(id), message.0.as_slice())?;
            let previous = self.refcounts.get(&id).copied();
            self.refcounts
                .insert(id, previous.unwrap_or(0).saturating_add(copies));
            self.undo.push(Undo::Refcount(id, previous));
        }
        Ok(OpOutcome::Done)
    }

    /// One delivery of `id` is gone: drop the body with the last one.
    fn release(&mut self, t: &mut OpenTables<'_>, id: MessageId) -> Result<(), StorageError> {
        let previous = self.refcounts.get(&id).copied();
        self.undo.push(Undo::Refcount(id, previous));
        match previous {
            Some(count) if count > 1 => {
                self.refcounts.insert(id, count - 1);
            }
            _ => {
                self.refcounts.remove(&id);
                t.messages.remove(&tables::message_key(id))?;
            }
        }
        Ok(())
    }

    fn set_live(&mut self, queue: QueueId, live: bool) {
        let was = self.live_queues.contains(&queue);
        self.undo.push(Undo::Queue(queue, was));
        if live {
            self.live_queues.insert(queue);
        } else {
            self.live_queues.remove(&queue);
        }
    }
}

/// Every table, opened once per group commit.
struct OpenTables<'txn> {
    /// For tables opened only by the ops that need them.
    txn: &'txn WriteTransaction,
    meta: Table<'txn, &'static str, u64>,
    topics: Table<'txn, &'static str, &'static [u8]>,
    queues: Table<'txn, &'static str, &'static [u8]>,
    subscriptions: Table<'txn, &'static str, &'static [u8]>,
    messages: Table<'txn, &'static [u8; 16], &'static [u8]>,
    deliveries: Table<'txn, &'static [u8; 24], &'static [u8]>,
    dedup: Table<'txn, &'static str, &'static [u8; 24]>,
    dedup_expiry: Table<'txn, &'static [u8], ()>,
    settled: Table<'txn, &'static [u8; 24], &'static [u8; 13]>,
    settled_late: Table<'txn, &'static [u8; 32], ()>,
    archive: Table<'txn, &'static [u8; 16], &'static [u8; 28]>,
    archive_heads: Table<'txn, u64, &'static [u8; 16]>,
    replays: Table<'txn, &'static str, &'static [u8]>,
}

impl<'txn> OpenTables<'txn> {
    fn open(txn: &'txn WriteTransaction) -> Result<Self, StorageError> {
        Ok(Self {
            txn,
            meta: txn.open_table(META)?,
            topics: txn.open_table(TOPICS)?,
            queues: txn.open_table(QUEUES)?,
            subscriptions: txn.open_table(SUBSCRIPTIONS)?,
            messages: txn.open_table(MESSAGES)?,
            deliveries: txn.open_table(DELIVERIES)?,
            dedup: txn.open_table(DEDUP)?,
            dedup_expiry: txn.open_table(DEDUP_EXPIRY)?,
            settled: txn.open_table(SETTLED)?,
            settled_late: txn.open_table(SETTLED_LATE)?,
            archive: txn.open_table(ARCHIVE)?,
            archive_heads: txn.open_table(ARCHIVE_HEADS)?,
            replays: txn.open_table(REPLAYS)?,
        })
    }

    /// Keeps the id counter `key` past `id`, so a restart never hands out `id` again.
    fn raise_next_id(&mut self, key: &'static str, id: u64) -> Result<(), StorageError> {
        let next = self.meta.get(key)?.map_or(1, |v| v.value());
        if id >= next {
            self.meta.insert(key, id + 1)?;
        }
        Ok(())
    }
}
