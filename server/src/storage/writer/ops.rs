//! The ops the writer applies: every change to storage is one of these, and each says what
//! it did.

use super::super::archive::ArchiveId;
use super::super::codec::encode_message;
use super::super::{
    DeliveryRecord, MessageId, QueueId, QueueRecord, ReplayRecord, ReplayState, Settled,
    StoredMessage, SubscriptionRecord, TopicRecord,
};

/// One change. A request's ops are applied in order, in one transaction, all or nothing.
#[derive(Debug)]
pub enum Op {
    /// Create or replace a topic.
    PutTopic(TopicRecord),
    /// Delete a topic.
    DeleteTopic {
        /// Its name.
        name: String,
    },
    /// Create or replace a queue's settings.
    PutQueue(QueueRecord),
    /// Delete a queue's settings. From then on no copy can be added to it; the copies it
    /// holds are deleted by [`Op::DropQueueCopies`], a chunk at a time.
    DeleteQueue {
        /// Its id.
        id: QueueId,
        /// Its name.
        name: String,
    },
    /// Delete up to `limit` copies held by a queue that no longer exists
    /// ([`OpOutcome::Chunk`]; [`OpOutcome::Missing`], changing nothing, while it exists).
    DropQueueCopies {
        /// The deleted queue's id.
        id: QueueId,
        /// At most this many.
        limit: usize,
    },
    /// Create or replace a subscription.
    PutSubscription(SubscriptionRecord),
    /// Delete a subscription.
    DeleteSubscription {
        /// Its id.
        id: String,
    },
    /// Store a message once and one delivery per queue (queues deleted meanwhile are
    /// skipped). With a dedup entry that is still live, nothing is stored and the outcome
    /// is [`OpOutcome::Duplicate`].
    PutMessage {
        /// Its id.
        id: MessageId,
        /// Its body, encoded by [`EncodedMessage::new`].
        message: EncodedMessage,
        /// Its copies.
        deliveries: Vec<(QueueId, DeliveryRecord)>,
        /// Dedup scope and id, and until when the entry holds.
        dedup: Option<DedupEntry>,
        /// The topic's archive, which then takes the next position and holds a reference.
        archive: Option<ArchiveId>,
    },
    /// Add a copy of a stored message to a queue (a replay). [`OpOutcome::Missing`],
    /// changing nothing, when the queue is gone, the queue already holds the message, or
    /// the body is gone.
    PutCopy {
        /// The queue.
        queue: QueueId,
        /// The message.
        id: MessageId,
        /// Its state in the queue.
        record: DeliveryRecord,
    },
    /// Store a replay job. With `cut`, its end is the archive's next position, taken at
    /// the moment the op applies (outcome [`OpOutcome::Cut`]).
    PutReplay {
        /// The job.
        record: ReplayRecord,
        /// End the range where the archive ends now.
        cut: bool,
    },
    /// Replace a running job's record (its progress). When the job is no longer running,
    /// this and every later op of the same request are skipped as [`OpOutcome::Missing`].
    ReplayProgress(ReplayRecord),
    /// End a running job ([`OpOutcome::Missing`] when it is not running).
    EndReplay {
        /// The job.
        id: String,
        /// Its final state.
        state: ReplayState,
        /// Why it failed, if it did.
        error: Option<String>,
        /// Unix ms.
        at_ms: u64,
    },
    /// Drop the oldest archived messages: those archived before `before_time_ms`, then
    /// more while the archive holds over `max_bytes`; every one with `all`. At most `limit`;
    /// the outcome counts them. With `forget`, an emptied archive's head goes too.
    TrimArchive {
        /// The archive.
        archive: ArchiveId,
        /// Drop messages archived before then (Unix ms).
        before_time_ms: Option<u64>,
        /// Drop the oldest while the archive is larger.
        max_bytes: Option<u64>,
        /// Drop everything.
        all: bool,
        /// At most this many.
        limit: usize,
        /// Forget the emptied archive (its topic is gone).
        forget: bool,
    },
    /// Overwrite an existing delivery ([`OpOutcome::Missing`] if it is gone).
    UpdateDelivery {
        /// The queue.
        queue: QueueId,
        /// The message.
        id: MessageId,
        /// The new state.
        record: DeliveryRecord,
    },
    /// Delete a delivery; the message body goes with its last delivery.
    DeleteDelivery {
        /// The queue.
        queue: QueueId,
        /// The message.
        id: MessageId,
    },
    /// Delete a delivery and remember how it left (acked, expired) for message status.
    SettleDelivery {
        /// The queue.
        queue: QueueId,
        /// The message.
        id: MessageId,
        /// How it left.
        outcome: Settled,
        /// Deliveries it had.
        receive_count: u32,
        /// When (Unix ms).
        at_ms: u64,
    },
    /// Forget up to `limit` settlements made before `before_ms` ([`OpOutcome::Chunk`]).
    SweepSettled {
        /// Unix ms: settlements made since are kept.
        before_ms: u64,
        /// At most this many rows visited.
        limit: usize,
    },
    /// Move a delivery to another queue (dead-lettering, redrive). Changes nothing and
    /// answers [`OpOutcome::Missing`] when the source copy is gone, or
    /// [`OpOutcome::TargetGone`] when the target queue is. When the target already holds a
    /// copy of the message, that copy is kept, the source copy is deleted (releasing its
    /// reference) and the outcome is [`OpOutcome::Merged`].
    MoveDelivery {
        /// The source queue.
        from: QueueId,
        /// The target queue.
        to: QueueId,
        /// The message.
        id: MessageId,
        /// Its state in the target queue.
        record: DeliveryRecord,
    },
    /// Begin deleting every copy the queue holds at the moment this op applies: up to
    /// `limit` now, the rest by [`Op::ContinuePurge`]; copies added after it are kept.
    /// [`OpOutcome::Chunk`] counts the copies deleted.
    PurgeQueue {
        /// The queue.
        id: QueueId,
        /// At most this many.
        limit: usize,
    },
    /// Delete up to `limit` more copies of the purge begun last on the queue
    /// ([`OpOutcome::Chunk`]; nothing more once it is done).
    ContinuePurge {
        /// The queue.
        id: QueueId,
        /// At most this many.
        limit: usize,
    },
    /// A change to plugins, consumers or plugin key-value stores
    /// ([`OpOutcome::Missing`] when it deleted nothing).
    Plugin(crate::storage::PluginOp),
    /// A change to tokens or the audit log ([`OpOutcome::Missing`] when it deleted
    /// nothing).
    Access(crate::storage::AccessOp),
    /// A change to alarms ([`OpOutcome::Missing`] when it deleted nothing).
    Alarm(crate::storage::AlarmOp),
    /// Forget up to `limit` dedup entries expired by `now_ms` ([`OpOutcome::Chunk`]).
    SweepDedup {
        /// Unix ms.
        now_ms: u64,
        /// At most this many.
        limit: usize,
    },
}

/// What a queued op is counted as when the writer's backlog is bounded, besides its own
/// payload and texts.
const OP_OVERHEAD: usize = 64;

impl Op {
    /// About how many bytes this op holds while it waits for the writer.
    pub(in crate::storage) fn approx_bytes(&self) -> usize {
        let record = |r: &DeliveryRecord| {
            OP_OVERHEAD + r.dead_letter.as_ref().map_or(0, |d| d.reason.len() + 64)
        };
        match self {
            Op::PutMessage {
                message,
                deliveries,
                dedup,
                ..
            } => {
                let dedup = dedup
                    .as_ref()
                    .map_or(0, |d| d.scope.len() + d.dedup_id.len());
                OP_OVERHEAD
                    + message.0.len()
                    + dedup
                    + deliveries.iter().map(|(_, r)| record(r)).sum::<usize>()
            }
            Op::PutCopy { record: r, .. }
            | Op::UpdateDelivery { record: r, .. }
            | Op::MoveDelivery { record: r, .. } => record(r),
            Op::Plugin(crate::storage::PluginOp::PutPlugin {
                binary: Some((_, bytes)),
                ..
            }) => OP_OVERHEAD + bytes.len(),
            Op::Plugin(crate::storage::PluginOp::PutKv { key, value, .. }) => {
                OP_OVERHEAD + key.len() + value.as_ref().map_or(0, Vec::len)
            }
            _ => OP_OVERHEAD,
        }
    }
}

/// A dedup entry to check and record with a publish.
#[derive(Debug, Clone)]
pub struct DedupEntry {
    /// `t:<topic>` or `q:<queue>`.
    pub scope: String,
    /// The publisher's dedup id.
    pub dedup_id: String,
    /// Now (Unix ms).
    pub now_ms: u64,
    /// Until when the entry holds (Unix ms).
    pub expires_at_ms: u64,
}

/// A message body, encoded off the writer thread.
#[derive(Debug, Clone)]
pub struct EncodedMessage(pub(in crate::storage) Vec<u8>);

impl EncodedMessage {
    /// Encodes a message body for storage.
    pub fn new(message: &StoredMessage) -> Self {
        Self(encode_message(message))
    }

    pub(super) fn published_at_ms(&self) -> u64 {
        crate::storage::codec::published_at_ms(&self.0)
    }
}

/// What one op did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpOutcome {
    /// Applied.
    Done,
    /// The record it addresses does not exist; nothing changed.
    Missing,
    /// A publish whose dedup id was seen: the first message's id; nothing stored.
    Duplicate(MessageId),
    /// Applied to this many records.
    Count(u64),
    /// A move whose target queue no longer exists; nothing changed.
    TargetGone,
    /// A move whose target already held the message: the source copy was deleted.
    Merged,
    /// A bounded op did `count` of its work (deleted or visited rows); `more` when some is
    /// left for the next op of its kind.
    Chunk {
        /// Rows this op deleted.
        count: u64,
        /// Whether work is left.
        more: bool,
    },
    /// A replay job's range was cut at `to` (exclusive), holding `total` messages from
    /// `cursor`, its first position still archived.
    Cut {
        /// The end position (exclusive).
        to: u64,
        /// Archived messages in the job's range.
        total: u64,
        /// Where the job starts scanning.
        cursor: u64,
    },
}
