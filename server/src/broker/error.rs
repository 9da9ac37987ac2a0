//! The broker's error: every way a request can be refused, with a stable code.

use crate::storage::StorageError;

/// Why the broker refused or failed a request. Refusals change nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// No such topic.
    #[error("topic {name:?} does not exist")]
    TopicNotFound {
        /// The name asked for.
        name: String,
    },
    /// No such queue.
    #[error("queue {name:?} does not exist")]
    QueueNotFound {
        /// The name asked for.
        name: String,
    },
    /// No such subscription.
    #[error("subscription {id:?} does not exist")]
    SubscriptionNotFound {
        /// The id asked for.
        id: String,
    },
    /// No queue holds this message (never published, or acked, purged or expired).
    #[error("no queue holds message {id:?}")]
    MessageNotFound {
        /// The id asked for.
        id: String,
    },
    /// The id is not a message id.
    #[error("{id:?} is not a message id (a 26-character ULID)")]
    InvalidMessageId {
        /// The id given.
        id: String,
    },
    /// A topic by that name exists.
    #[error("topic {name:?} already exists")]
    TopicExists {
        /// The name.
        name: String,
    },
    /// The topic is the server's own and cannot be deleted.
    #[error("topic {name:?} is the server's own ({why}); it cannot be deleted")]
    TopicProtected {
        /// The topic.
        name: String,
        /// What it is for.
        why: &'static str,
    },
    /// A queue by that name exists.
    #[error("queue {name:?} already exists")]
    QueueExists {
        /// The name.
        name: String,
    },
    /// The queue is already subscribed to the topic.
    #[error("queue {queue:?} is already subscribed to topic {topic:?} (subscription {id})")]
    SubscriptionExists {
        /// The topic.
        topic: String,
        /// The queue.
        queue: String,
        /// The existing subscription.
        id: String,
    },
    /// A name breaks the naming rule.
    #[error("invalid {kind} name {name:?}: {reason}")]
    InvalidName {
        /// `topic` or `queue`.
        kind: &'static str,
        /// The name given.
        name: String,
        /// Why.
        reason: String,
    },
    /// A setting is out of range or inconsistent.
    #[error("invalid {name}: {reason}")]
    InvalidSetting {
        /// The setting.
        name: &'static str,
        /// Why.
        reason: String,
    },
    /// The dead-letter queue named does not exist.
    #[error("dead-letter queue {name:?} does not exist; create it first")]
    DeadLetterQueueNotFound {
        /// The name given.
        name: String,
    },
    /// Another queue uses this one as its dead-letter queue.
    #[error("queue {name:?} is the dead-letter queue of {by:?}; change that queue first")]
    QueueInUse {
        /// The queue.
        name: String,
        /// The queue that points at it.
        by: String,
    },
    /// Consumers lease from this queue.
    #[error("queue {name:?} has consumers ({}); delete them first", consumers.join(", "))]
    QueueHasConsumers {
        /// The queue.
        name: String,
        /// The consumers that lease from it.
        consumers: Vec<String>,
    },
    /// A message's payload or attributes are malformed.
    #[error("{location}{reason}")]
    InvalidPayload {
        /// `messages[3]: ` in a batch, empty otherwise.
        location: String,
        /// Why.
        reason: String,
    },
    /// A payload is larger than `max_message_bytes`.
    #[error("{location}payload is {size} bytes; the limit is {max}")]
    PayloadTooLarge {
        /// `messages[3]: ` in a batch, empty otherwise.
        location: String,
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A batch has no messages.
    #[error("the batch has no messages")]
    EmptyBatch,
    /// A batch has too many messages.
    #[error("the batch has {count} messages; the limit is {max}")]
    BatchTooLarge {
        /// How many.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A receipt is not one this queue handed out.
    #[error("invalid receipt: {reason}")]
    InvalidReceipt {
        /// Why.
        reason: String,
    },
    /// The receipt's lease ended (the message may have been redelivered).
    #[error("the receipt's lease has ended; the message is visible again or was redelivered")]
    ReceiptExpired,
    /// The receipt's message was acked, purged, dead-lettered or expired.
    #[error("the receipt's message is no longer in the queue")]
    ReceiptMessageGone,
    /// A filter pattern is invalid.
    #[error("invalid filter at {path}: {reason}")]
    InvalidFilter {
        /// JSON path of the offending part, such as `$.payload.plan[0]`.
        path: String,
        /// Why.
        reason: String,
    },
    /// The topic keeps no archive.
    #[error(
        "topic {topic:?} keeps no archive; turn it on with PATCH /v1/topics/{topic} {{\"archive\": {{}}}}"
    )]
    ArchiveNotEnabled {
        /// The topic.
        topic: String,
    },
    /// An archive range or start point is out of bounds.
    #[error("invalid range: {reason}")]
    InvalidRange {
        /// Why.
        reason: String,
    },
    /// No such replay job.
    #[error("replay {id:?} does not exist")]
    ReplayNotFound {
        /// The id asked for.
        id: String,
    },
    /// The replay job has already stopped.
    #[error("replay {id:?} is not running (it is {state})")]
    ReplayNotRunning {
        /// The job.
        id: String,
        /// Its state.
        state: &'static str,
    },
    /// No such redrive job.
    #[error("redrive {id:?} does not exist")]
    RedriveNotFound {
        /// The id asked for.
        id: String,
    },
    /// A redrive of the queue is running already.
    #[error("a redrive of {queue:?} is running already ({id}); cancel it or wait for it")]
    RedriveRunning {
        /// The queue.
        queue: String,
        /// The running job.
        id: String,
    },
    /// Storage failed; nothing was acknowledged.
    #[error("storage failed")]
    Storage(#[from] StorageError),
}

impl BrokerError {
    /// The stable snake_case code the API shows.
    pub fn code(&self) -> &'static str {
        match self {
            BrokerError::TopicNotFound { .. } => "topic_not_found",
            BrokerError::QueueNotFound { .. } => "queue_not_found",
            BrokerError::SubscriptionNotFound { .. } => "subscription_not_found",
            BrokerError::MessageNotFound { .. } => "message_not_found",
            BrokerError::InvalidMessageId { .. } => "invalid_message_id",
            BrokerError::TopicExists { .. } => "topic_exists",
            BrokerError::TopicProtected { .. } => "topic_protected",
            BrokerError::QueueExists { .. } => "queue_exists",
            BrokerError::SubscriptionExists { .. } => "subscription_exists",
            BrokerError::InvalidName { .. } => "invalid_name",
            BrokerError::InvalidSetting { .. } => "invalid_setting",
            BrokerError::DeadLetterQueueNotFound { .. } => "dead_letter_queue_not_found",
            BrokerError::QueueInUse { .. } | BrokerError::QueueHasConsumers { .. } => {
                "queue_in_use"
            }
            BrokerError::InvalidPayload { .. } => "invalid_payload",
            BrokerError::PayloadTooLarge { .. } => "payload_too_large",
            BrokerError::EmptyBatch => "empty_batch",
            BrokerError::BatchTooLarge { .. } => "batch_too_large",
            BrokerError::InvalidReceipt { .. } => "invalid_receipt",
            BrokerError::ReceiptExpired => "receipt_expired",
            BrokerError::ReceiptMessageGone => "message_not_found",
            BrokerError::InvalidFilter { .. } => "invalid_filter",
            BrokerError::ArchiveNotEnabled { .. } => "archive_not_enabled",
            BrokerError::InvalidRange { .. } => "invalid_range",
            BrokerError::ReplayNotFound { .. } => "replay_not_found",
            BrokerError::ReplayNotRunning { .. } => "replay_not_running",
            BrokerError::RedriveNotFound { .. } => "redrive_not_found",
            BrokerError::RedriveRunning { .. } => "redrive_running",
            BrokerError::Storage(StorageError::Overloaded { .. }) => "overloaded",
            BrokerError::Storage(_) => "internal",
        }
    }
}
