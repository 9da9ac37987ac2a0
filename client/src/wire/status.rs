//! Wire types of message status (`GET /v1/messages/{id}`): where each copy of a message
//! is, queue by queue.

use serde::{Deserialize, Serialize};

use super::DeadLetterInfo;

/// Where a message is in one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Visible, waiting to be received.
    Ready,
    /// Not yet visible.
    Delayed,
    /// Leased to a receiver.
    InFlight,
    /// Waiting behind an earlier message with the same key (`per_key` ordering).
    BehindKey,
    /// Acked: it left the queue (message status only).
    Acked,
    /// Past the queue's retention: it left the queue (message status only).
    Expired,
    /// Dead-lettered by its consumer in a queue without a dead-letter queue: dropped
    /// (message status only).
    Discarded,
}

/// One queue's copy of a message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    /// The queue.
    pub queue: String,
    /// The state there.
    pub state: DeliveryState,
    /// Deliveries so far.
    pub receive_count: u32,
    /// When it becomes (or became) visible (Unix ms).
    pub visible_at_ms: u64,
    /// When it was acked or expired (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_at_ms: Option<u64>,
    /// Set when it was dead-lettered into this queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter: Option<DeadLetterInfo>,
}

/// `GET /v1/messages/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageStatus {
    /// The message id.
    pub id: String,
    /// The topic it was published to (none for a direct send, or once every copy is gone).
    pub topic: Option<String>,
    /// When it was published (Unix ms).
    pub published_at_ms: u64,
    /// Every queue that holds a copy, and those where a copy was acked or expired within
    /// the status retention (a day by default).
    pub deliveries: Vec<Delivery>,
}
