//! The records storage keeps: topics, queues, subscriptions, replay jobs (JSON), message
//! bodies and deliveries (binary, see `codec`), and settlements.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use switchyard_client::{Fairness, QueueOrdering, RetrySchedule};

use super::{ArchiveId, QueueId, ReplayState};

/// A topic as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRecord {
    /// Its name.
    pub name: String,
    /// Unix ms.
    pub created_at_ms: u64,
    /// Its archive's id, given when an archive is first turned on and kept while the
    /// topic exists, so positions go on counting when it is turned on again.
    #[serde(default)]
    pub archive_id: Option<ArchiveId>,
    /// Archive retention, when the archive is on.
    #[serde(default)]
    pub archive: Option<ArchiveRetention>,
}

/// How long and how much an archive keeps (either, both, or neither: keep everything).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveRetention {
    /// Drop messages archived longer ago than this.
    pub max_age_ms: Option<u64>,
    /// Drop the oldest messages while the archive holds more bytes than this.
    pub max_bytes: Option<u64>,
}

/// A replay job as stored: archive positions `from_position..to_position` of a topic
/// copied into a queue, optionally through a filter. `cursor` is the next position to scan;
/// progress is saved with each batch of copies, in the same transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayRecord {
    /// Its id (a ULID).
    pub id: String,
    /// The topic.
    pub topic: String,
    /// The topic's archive.
    pub archive: ArchiveId,
    /// The target queue.
    pub queue: String,
    /// The target queue's id.
    pub queue_id: QueueId,
    /// Set when the job carries a new subscription's history.
    pub subscription: Option<String>,
    /// The filter pattern, as given.
    pub filter: Option<serde_json::Value>,
    /// First position (inclusive).
    pub from_position: u64,
    /// End position (exclusive).
    pub to_position: u64,
    /// Next position to scan.
    pub cursor: u64,
    /// Archived messages in the range when the job started.
    pub total: u64,
    /// Archived messages read so far.
    pub scanned: u64,
    /// Of those, the ones that passed the filter (and were copied).
    pub matched: u64,
    /// Where it is.
    pub state: ReplayState,
    /// Why it failed.
    pub error: Option<String>,
    /// Unix ms.
    pub created_at_ms: u64,
    /// Unix ms.
    pub finished_at_ms: Option<u64>,
}

/// A queue's settings as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueRecord {
    /// Internal id (deliveries are keyed by it).
    pub id: QueueId,
    /// Its name.
    pub name: String,
    /// Lease length.
    pub visibility_timeout_ms: u64,
    /// Deliveries before dead-lettering.
    pub max_receive_count: Option<u32>,
    /// Name of the dead-letter queue.
    pub dead_letter_queue: Option<String>,
    /// Delay of new messages.
    pub delay_ms: u64,
    /// How long messages are kept.
    pub retention_ms: u64,
    /// The delivery order.
    #[serde(default, skip_serializing_if = "QueueOrdering::is_none")]
    pub ordering: QueueOrdering,
    /// When failed deliveries come back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySchedule>,
    /// How receives share deliveries between groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fairness: Option<Fairness>,
    /// The monitor's thresholds (none: the defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor_thresholds_ms: Option<Vec<u64>>,
    /// Unix ms.
    pub created_at_ms: u64,
}

/// A subscription as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionRecord {
    /// Its id.
    pub id: String,
    /// The topic.
    pub topic: String,
    /// The queue.
    pub queue: String,
    /// The filter pattern, as given.
    pub filter: Option<serde_json::Value>,
    /// Unix ms.
    pub created_at_ms: u64,
}

/// A message body, stored once per publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// The topic it was published to (none for a direct send).
    pub topic: Option<String>,
    /// Its key.
    pub key: Option<String>,
    /// Its attributes.
    pub attributes: BTreeMap<String, String>,
    /// Unix ms.
    pub published_at_ms: u64,
    /// Whether the payload is JSON text.
    pub is_json: bool,
    /// The payload.
    pub payload: Vec<u8>,
}

/// One queue's copy of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// Invisible until then (delay, nack delay, or lease end when `leased`).
    pub visible_at_ms: u64,
    /// Deliveries so far.
    pub receive_count: u32,
    /// Leases of this message so far, carried along when it is dead-lettered or redriven
    /// and never reset: a receipt names the lease it came from, so a receipt from before
    /// a dead-letter and redrive cannot settle a later delivery.
    pub leases: u32,
    /// Leased to a receiver until `visible_at_ms`.
    pub leased: bool,
    /// First delivery from this queue.
    pub first_received_at_ms: Option<u64>,
    /// Set when it was dead-lettered into this queue.
    pub dead_letter: Option<Box<DeadLetterRecord>>,
    /// When the copy entered this queue (Unix ms), if later than the message was
    /// published: a replay, a redrive or a dead-letter move. `None`: at publish, the time
    /// its id carries. Retention counts from then.
    pub enqueued_at_ms: Option<u64>,
    /// The hash of the message's key, if it has one: `per_key` ordering keeps copies with
    /// one hash in a lane. Copies written before key hashes were kept have none.
    pub key_hash: Option<u64>,
    /// The hash of the attribute value its queue's fairness groups by (`attribute:<name>`),
    /// taken when the copy was enqueued by the queue it was first enqueued in.
    pub group_hash: Option<u64>,
    /// Its message's payload bytes, so buffered batches count bytes without reading
    /// bodies. Copies written before sizes were kept count as 0.
    pub size: u32,
}

/// How a message came to a dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterRecord {
    /// The queue it came from.
    pub source_queue: String,
    /// The reason, in words.
    pub reason: String,
    /// Deliveries from the source queue.
    pub receive_count: u32,
    /// First delivery from the source queue.
    pub first_received_at_ms: Option<u64>,
    /// Unix ms.
    pub dead_lettered_at_ms: u64,
}

/// How a message copy left its queue, as message status remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Settled {
    /// A receiver acked it.
    Acked = 1,
    /// It outlived the queue's retention.
    Expired = 2,
    /// Its consumer dead-lettered it and the queue has no dead-letter queue.
    Discarded = 3,
}

impl Settled {
    pub(super) fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Settled::Acked),
            2 => Some(Settled::Expired),
            3 => Some(Settled::Discarded),
            _ => None,
        }
    }
}

/// One remembered settlement of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// The queue (by id; it may have been deleted since).
    pub queue: QueueId,
    /// How.
    pub outcome: Settled,
    /// When (Unix ms).
    pub at_ms: u64,
    /// Deliveries it had.
    pub receive_count: u32,
}
