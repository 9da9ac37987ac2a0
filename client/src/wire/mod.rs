//! The wire types of the REST API (`/v1`): one definition of the protocol, shared by the
//! server, the CLI, the console and the tests. Pure data: no I/O here.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

mod access;
mod alarms;
mod archive;
mod history;
mod monitor;
mod plugins;
mod policy;
mod receiving;
mod scope;
mod status;
pub use access::*;
pub use alarms::*;
pub use archive::*;
pub use history::*;
pub use monitor::*;
pub use plugins::*;
pub use policy::*;
pub use receiving::*;
pub use scope::*;
pub use status::*;

/// Message attributes: string keys to string values, kept sorted.
pub type Attributes = BTreeMap<String, String>;

/// The error body every non-2xx response carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error itself.
    pub error: ErrorDetail,
}

/// A stable snake_case `code` and a human-readable `message`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable, machine-readable code such as `queue_not_found`.
    pub code: String,
    /// What went wrong, in words.
    pub message: String,
}

// ---------------------------------------------------------------- topics

/// `POST /v1/topics`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTopic {
    /// `[A-Za-z0-9._-]{1,128}`.
    pub name: String,
    /// Keep an archive of every publish (off when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<ArchiveSettings>,
}

/// `PATCH /v1/topics/{t}`: `archive` turns the archive on or changes its retention;
/// `archive: null` turns it off (what it holds is dropped).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchTopic {
    /// `Some(None)` (JSON `null`) turns the archive off.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub archive: Option<Option<ArchiveSettings>>,
}

/// A topic as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topic {
    /// The topic's name.
    pub name: String,
    /// When it was created (Unix ms).
    pub created_at_ms: u64,
    /// Queues subscribed to it.
    #[serde(default)]
    pub subscriptions: u64,
    /// The archive's retention, when the archive is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<ArchiveSettings>,
    /// What the archive holds, when the topic has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_stats: Option<ArchiveStats>,
    /// Messages published to it since the server started (a counter: rates are its
    /// differences over time).
    #[serde(default)]
    pub published: u64,
}

/// `GET /v1/topics`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopicList {
    /// All topics, sorted by name.
    pub topics: Vec<Topic>,
}

// ---------------------------------------------------------------- queues

/// `POST /v1/queues`. Absent settings take the defaults (SQS's).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateQueue {
    /// `[A-Za-z0-9._-]{1,128}`.
    pub name: String,
    /// Lease length of a received message; default 30 s, at most 12 h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility_timeout_ms: Option<u64>,
    /// Deliveries before a message moves to the dead-letter queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_receive_count: Option<u32>,
    /// Where messages go after `max_receive_count` deliveries; must exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_queue: Option<String>,
    /// Delay before a new message becomes visible; default 0, at most 15 min.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// How long a message is kept; default 4 days, at most 14 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_ms: Option<u64>,
    /// The delivery order; default `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering: Option<QueueOrdering>,
    /// When failed deliveries come back; default: at once (after a nack) or when the
    /// lease ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySchedule>,
    /// How receives share deliveries between groups of messages; default: oldest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fairness: Option<Fairness>,
    /// The ages the monitor counts stuck messages against: 1 to 10 ascending values, each
    /// at most 14 days; default 5, 10 and 45 minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor_thresholds_ms: Option<Vec<u64>>,
}

/// `PATCH /v1/queues/{q}`: the settings to change; absent ones stay as they are.
/// `dead_letter_queue: null` removes the dead-letter queue.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchQueue {
    /// See [`CreateQueue::visibility_timeout_ms`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility_timeout_ms: Option<u64>,
    /// See [`CreateQueue::max_receive_count`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_receive_count: Option<u32>,
    /// `Some(None)` (JSON `null`) removes the dead-letter queue.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub dead_letter_queue: Option<Option<String>>,
    /// See [`CreateQueue::delay_ms`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// See [`CreateQueue::retention_ms`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_ms: Option<u64>,
    /// See [`CreateQueue::ordering`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering: Option<QueueOrdering>,
    /// `Some(None)` (JSON `null`) removes the retry schedule.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub retry: Option<Option<RetrySchedule>>,
    /// `Some(None)` (JSON `null`) removes the fairness setting.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub fairness: Option<Option<Fairness>>,
    /// See [`CreateQueue::monitor_thresholds_ms`]; `Some(None)` (JSON `null`) goes back to
    /// the defaults.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub monitor_thresholds_ms: Option<Option<Vec<u64>>>,
}

/// A queue with its settings and, on `GET /v1/queues/{q}` and lists, live stats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Queue {
    /// The queue's name.
    pub name: String,
    /// Lease length of a received message.
    pub visibility_timeout_ms: u64,
    /// Deliveries before dead-lettering (none: never).
    pub max_receive_count: Option<u32>,
    /// The dead-letter queue, if any.
    pub dead_letter_queue: Option<String>,
    /// Delay before a new message becomes visible.
    pub delay_ms: u64,
    /// How long a message is kept.
    pub retention_ms: u64,
    /// The delivery order.
    #[serde(default)]
    pub ordering: QueueOrdering,
    /// When failed deliveries come back (none: at once, or when the lease ends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySchedule>,
    /// How receives share deliveries between groups (none: oldest first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fairness: Option<Fairness>,
    /// The ages the monitor counts stuck messages against, ascending.
    #[serde(default = "default_monitor_thresholds")]
    pub monitor_thresholds_ms: Vec<u64>,
    /// When it was created (Unix ms).
    pub created_at_ms: u64,
    /// Live counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<QueueStats>,
}

/// Live counts of a queue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    /// Visible, waiting to be received.
    pub ready: u64,
    /// Leased to a receiver.
    pub in_flight: u64,
    /// Not yet visible (queue delay, message delay, nack delay, retry schedule).
    pub delayed: u64,
    /// Waiting behind an earlier message with the same key (`per_key` ordering).
    #[serde(default)]
    pub behind_key: u64,
    /// Messages in this queue that were dead-lettered into it from another queue.
    pub dead_lettered: u64,
    /// Age of the oldest message in the queue (any state), in ms.
    pub oldest_age_ms: Option<u64>,
}

/// `GET /v1/queues`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueueList {
    /// All queues, sorted by name.
    pub queues: Vec<Queue>,
}

// ---------------------------------------------------------------- subscriptions

/// `POST /v1/subscriptions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSubscription {
    /// The topic to subscribe to.
    pub topic: String,
    /// The queue that receives a copy of each matching message.
    pub queue: String,
    /// An optional pattern over `{"payload": .., "attributes": {..}, "key": ..}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<serde_json::Value>,
    /// Start from this past point of the topic's archive: the subscription takes every
    /// publish from now on, and a replay job copies the archived history before it
    /// (through the filter) into the queue, with no gap and no duplicate between the two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<ArchivePoint>,
}

/// `PATCH /v1/subscriptions/{id}`: replace the filter (`null` removes it).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchSubscription {
    /// The new filter.
    pub filter: Option<serde_json::Value>,
}

/// A subscription: topic → queue, with an optional filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    /// Its id (a ULID).
    pub id: String,
    /// The topic.
    pub topic: String,
    /// The queue.
    pub queue: String,
    /// The filter, if any.
    pub filter: Option<serde_json::Value>,
    /// When it was created (Unix ms).
    pub created_at_ms: u64,
    /// On create with `start`: the replay job that copies the history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
}

/// `GET /v1/subscriptions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubscriptionList {
    /// All subscriptions (optionally of one topic).
    pub subscriptions: Vec<Subscription>,
}

/// `POST /v1/filters/validate`: check a filter pattern without storing anything.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateFilter {
    /// The pattern, as it would be given to a subscription.
    pub filter: serde_json::Value,
}

/// `200` answer to a filter validation (an invalid pattern is a `400 invalid_filter`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FilterValidation {
    /// Always `true`: the pattern compiles.
    pub valid: bool,
}

// ---------------------------------------------------------------- publish

/// One message to publish to a topic or send to a queue. Exactly one of `payload` (any JSON)
/// and `payload_base64` (bytes) is given.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishMessage {
    /// A JSON payload, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Box<RawValue>>,
    /// A binary payload, base64 (standard alphabet, padded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_base64: Option<String>,
    /// String attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: Attributes,
    /// An optional key (for ordering and fairness).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// A publish with a dedup id seen within the dedup window returns the first id and
    /// stores nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_id: Option<String>,
    /// This message's delay before it becomes visible (at most 15 min), instead of its
    /// queues' delay (as in SQS: 0 makes it visible at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
}

impl PublishMessage {
    /// A message whose payload is `value` serialized as JSON.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Self> {
        let text = serde_json::to_string(value)?;
        Ok(Self {
            payload: Some(RawValue::from_string(text)?),
            ..Self::default()
        })
    }

    /// A message whose payload is raw bytes.
    pub fn bytes(payload: &[u8]) -> Self {
        Self {
            payload_base64: Some(BASE64.encode(payload)),
            ..Self::default()
        }
    }

    /// Adds an attribute.
    pub fn attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(name.into(), value.into());
        self
    }

    /// Sets the key.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the dedup id.
    pub fn dedup_id(mut self, dedup_id: impl Into<String>) -> Self {
        self.dedup_id = Some(dedup_id.into());
        self
    }

    /// Sets a per-message delay.
    pub fn delay_ms(mut self, delay_ms: u64) -> Self {
        self.delay_ms = Some(delay_ms);
        self
    }
}

/// `201` answer to a single publish or send.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Published {
    /// The message id (a ULID).
    pub id: String,
}

/// `POST /v1/topics/{t}/batch`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishBatch {
    /// The messages, in order.
    pub messages: Vec<PublishMessage>,
}

/// `201` answer to a batch publish: one id per message, in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishedBatch {
    /// Message ids, in the order of the request.
    pub ids: Vec<String>,
}

/// `GET /healthz`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Health {
    /// `ok` when serving.
    pub status: String,
}

/// serde helper so that `"field": null` and an absent field differ.
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<T: Serialize, S: Serializer>(
        value: &Option<Option<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}
