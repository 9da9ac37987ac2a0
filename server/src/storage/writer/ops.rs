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
    /// Delete a queue and every message copy it holds.
    DeleteQueue {
        /// Its id.
        id: QueueId,
        /// Its name.
        name: String,
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
    /// Forget settlements of messages with ids below `before` (published before then).
    SweepSettled {
        /// The first id kept.
        before: MessageId,
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
    /// Delete every delivery of a queue; the outcome counts them.
    PurgeQueue {
        /// The queue.
        id: QueueId,
    },
    /// A change to plugins, consumers or plugin key-value stores
    /// ([`OpOutcome::Missing`] when it deleted nothing).
    Plugin(crate::storage::PluginOp),
    /// A change to tokens or the audit log ([`OpOutcome::Missing`] when it deleted
    /// nothing).
    Access(crate::storage::AccessOp),
    /// Forget dedup entries that expired before `now_ms`.
    SweepDedup {
        /// Unix ms.
        now_ms: u64,
    },
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
