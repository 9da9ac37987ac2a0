//! The typed view of a batch and the outcome a handler returns per message.

use serde::de::DeserializeOwned;

use crate::Error;

/// One message leased from the consumer's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its id (a ULID); the same on every redelivery, so use it as an idempotency key.
    pub id: String,
    /// The topic it was published to; `None` when it was sent straight to the queue.
    pub topic: Option<String>,
    /// The queue it was leased from.
    pub queue: String,
    /// The publisher's key.
    pub key: Option<String>,
    /// Attributes, in the order the server gives them.
    pub attributes: Vec<(String, String)>,
    /// The payload bytes (JSON text when it was published as JSON).
    pub payload: Vec<u8>,
    /// Publish time, Unix milliseconds.
    pub published_at_ms: u64,
    /// Which delivery this is: 1 on the first, higher on retries.
    pub attempt: u32,
}

impl Message {
    /// The payload bytes.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The payload as UTF-8 text.
    pub fn text(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.payload)
            .map_err(|e| Error::new("payload_not_utf8", format!("the payload is not UTF-8: {e}")))
    }

    /// The payload parsed from JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.payload).map_err(|e| {
            Error::new(
                "payload_not_json",
                format!("the payload does not parse as the expected JSON: {e}"),
            )
        })
    }

    /// The value of an attribute.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The messages of one invocation, in queue order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    messages: Vec<Message>,
}

impl Batch {
    /// A batch of these messages.
    pub fn new(messages: Vec<Message>) -> Self {
        Self { messages }
    }

    /// How many messages.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// The messages.
    pub fn iter(&self) -> std::slice::Iter<'_, Message> {
        self.messages.iter()
    }

    /// One outcome per message from `f`: the usual shape of a handler.
    pub fn map(self, f: impl FnMut(Message) -> Outcome) -> Vec<Outcome> {
        self.messages.into_iter().map(f).collect()
    }
}

impl IntoIterator for Batch {
    type Item = Message;
    type IntoIter = std::vec::IntoIter<Message>;
    fn into_iter(self) -> Self::IntoIter {
        self.messages.into_iter()
    }
}

impl<'a> IntoIterator for &'a Batch {
    type Item = &'a Message;
    type IntoIter = std::slice::Iter<'a, Message>;
    fn into_iter(self) -> Self::IntoIter {
        self.messages.iter()
    }
}

/// What to do with one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done: delete it from the queue.
    Ack,
    /// Deliver it again (after `delay_ms`, or at once); after the queue's
    /// `max_receive_count` deliveries it is dead-lettered.
    Retry {
        /// Delay before the next delivery, in milliseconds.
        delay_ms: Option<u64>,
    },
    /// Move it to the queue's dead-letter queue (or drop it, when the queue has none),
    /// recording the reason.
    DeadLetter {
        /// Why, in words.
        reason: String,
    },
}

impl Outcome {
    /// Deliver again at once.
    pub fn retry() -> Self {
        Outcome::Retry { delay_ms: None }
    }

    /// Deliver again after `delay_ms` milliseconds.
    pub fn retry_after(delay_ms: u64) -> Self {
        Outcome::Retry {
            delay_ms: Some(delay_ms),
        }
    }

    /// Give up on this message, with a reason.
    pub fn dead_letter(reason: impl Into<String>) -> Self {
        Outcome::DeadLetter {
            reason: reason.into(),
        }
    }
}

impl<E: std::fmt::Display> From<Result<(), E>> for Outcome {
    /// `Ok` acks; an error retries (the error is logged at warn level).
    fn from(result: Result<(), E>) -> Self {
        match result {
            Ok(()) => Outcome::Ack,
            Err(error) => {
                crate::warn(&format!("retrying: {error}"));
                Outcome::retry()
            }
        }
    }
}
