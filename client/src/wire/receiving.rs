//! Wire types of consuming a queue: receive, ack, nack, extend, purge, redrive and peek,
//! and the messages they hand out.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{Attributes, DeliveryState};

/// `POST /v1/queues/{q}/receive`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiveRequest {
    /// 1..=1000, default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_messages: Option<u32>,
    /// Long-poll wait when nothing is ready, at most 20 000 ms; default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_ms: Option<u64>,
    /// Lease length for this receive; default the queue's visibility timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility_timeout_ms: Option<u64>,
}

/// Why and how a message reached a dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterInfo {
    /// The queue it came from.
    pub source_queue: String,
    /// The reason, in words.
    pub reason: String,
    /// How many times it had been delivered from the source queue.
    pub receive_count: u32,
    /// First delivery from the source queue (Unix ms).
    pub first_received_at_ms: Option<u64>,
    /// When it was dead-lettered (Unix ms).
    pub dead_lettered_at_ms: u64,
}

/// A message handed out by `receive` (with a receipt) or by peek (without).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    /// The message id (a ULID).
    pub id: String,
    /// Receipt for ack / nack / extend; only on receive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
    /// The payload, when it was published as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Box<RawValue>>,
    /// The payload, when it was published as bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_base64: Option<String>,
    /// String attributes.
    #[serde(default)]
    pub attributes: Attributes,
    /// The key, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The topic it was published to (none for a direct send).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// When it was published (Unix ms).
    pub published_at_ms: u64,
    /// Deliveries so far, this one included.
    pub receive_count: u32,
    /// When it was first delivered from this queue (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_received_at_ms: Option<u64>,
    /// Its state in the queue (peek only): `ready`, `delayed` or `in_flight`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<DeliveryState>,
    /// Set when the message was dead-lettered into this queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter: Option<DeadLetterInfo>,
}

impl Message {
    /// The payload as bytes, whichever way it was published.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, base64::DecodeError> {
        match (&self.payload, &self.payload_base64) {
            (Some(json), _) => Ok(json.get().as_bytes().to_vec()),
            (None, Some(b64)) => BASE64.decode(b64),
            (None, None) => Ok(Vec::new()),
        }
    }

    /// The JSON payload, parsed.
    pub fn payload_json<T: serde::de::DeserializeOwned>(&self) -> Option<serde_json::Result<T>> {
        self.payload
            .as_ref()
            .map(|raw| serde_json::from_str(raw.get()))
    }
}

/// `200` answer to receive.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReceiveResponse {
    /// Up to `max_messages` messages, each with a receipt.
    pub messages: Vec<Message>,
}

/// `POST /v1/queues/{q}/ack`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    /// Receipts from receive.
    pub receipts: Vec<String>,
}

/// A receipt that could not be acked, nacked or extended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptFailure {
    /// The receipt as given.
    pub receipt: String,
    /// `receipt_expired` (the lease ended; the message may be redelivered) or
    /// `message_not_found` (acked or deleted meanwhile).
    pub code: String,
    /// In words.
    pub message: String,
}

/// `200` answer to ack.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AckResponse {
    /// How many were acked (deleted).
    pub acked: u64,
    /// The receipts that were not.
    pub failed: Vec<ReceiptFailure>,
}

/// `POST /v1/queues/{q}/nack`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NackRequest {
    /// Receipts from receive.
    pub receipts: Vec<String>,
    /// Delay before the messages become visible again; default 0, at most 12 h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
}

/// `200` answer to nack.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NackResponse {
    /// How many were returned to the queue.
    pub nacked: u64,
    /// The receipts that were not.
    pub failed: Vec<ReceiptFailure>,
}

/// `POST /v1/queues/{q}/extend`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendRequest {
    /// A receipt from receive.
    pub receipt: String,
    /// The new lease length, counted from now; at most 12 h.
    pub visibility_timeout_ms: u64,
}

/// `200` answer to extend.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExtendResponse {
    /// When the lease now ends (Unix ms).
    pub visible_at_ms: u64,
}

/// `200` answer to purge.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PurgeResponse {
    /// How many messages were deleted.
    pub purged: u64,
}

/// `POST /v1/queues/{q}/redrive`: move ready dead letters back where they came from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedriveRequest {
    /// Move every ready message here instead of to its source queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// Move at most this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_messages: Option<u32>,
    /// Move at most this many per second (1 to 100 000); default: as fast as the disk
    /// takes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_second: Option<u32>,
}

/// Where a redrive job is: the states of a replay job.
pub type RedriveState = super::ReplayState;

/// A redrive job and its progress: `POST /v1/queues/{q}/redrive` answers `202` with it,
/// `GET /v1/queues/{q}/redrives/{id}` follows it, `DELETE` cancels it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedriveJob {
    /// Its id.
    pub id: String,
    /// The dead-letter queue it moves messages out of.
    pub queue: String,
    /// Where every message goes (none: back to the queue each came from).
    pub destination: Option<String>,
    /// As asked.
    pub max_messages: Option<u32>,
    /// As asked.
    pub max_per_second: Option<u32>,
    /// Where it is.
    pub state: RedriveState,
    /// Ready messages when it started (at most `max_messages`): what it expects to move.
    pub total: u64,
    /// Messages moved so far (as new deliveries: receive count 0).
    pub moved: u64,
    /// Ready messages left in place: no source queue recorded, or it no longer exists.
    pub skipped: u64,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Unix ms.
    pub started_at_ms: u64,
    /// When it last moved messages, or started (Unix ms).
    pub updated_at_ms: u64,
    /// Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at_ms: Option<u64>,
}

/// `GET /v1/queues/{q}/redrives`: the queue's recent redrive jobs, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RedriveList {
    /// The jobs.
    pub redrives: Vec<RedriveJob>,
}

/// `GET /v1/queues/{q}/messages`: browse without leasing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeekResponse {
    /// Messages in id (publish) order, without receipts.
    pub messages: Vec<Message>,
}
