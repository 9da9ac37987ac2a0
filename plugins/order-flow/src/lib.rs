//! What the order-flow example plugins share: the [`Order`] payload and [`run_once`], which
//! runs one step of the flow at most once per message.
//!
//! The flow is a choreography over topics (each name configurable, defaults shown):
//!
//! ```text
//! orders ──► reserve-stock ──► stock-reserved ──► charge-payment ──► payments-charged ──► confirm-order ──► orders-confirmed
//!                │                                     │
//!                └──► orders-rejected                  └──► payments-declined ──► release-stock ──► stock-released ──┐
//!                       (out of stock)                        (card declined)                                        │
//!            reserve-stock ◄─────────────────────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! Each plugin has its own key-value store, so the stock lives in `reserve-stock`'s store
//! and only it can put stock back: `release-stock` announces the release on
//! `stock-released`, which `reserve-stock` consumes too.
//!
//! Every step is idempotent by message id. The server commits key-value writes and publishes
//! with the batch's outcomes, so a step marks the message as done (`done:<message id>`) in
//! the same batch as its effects, and a redelivered message that is already done is acked
//! without doing anything again. A step computes its [`Effects`] first and applies them only
//! then, the publish before the writes: when the publish fails, the message is retried with
//! nothing written.

use serde::{Deserialize, Serialize};
use switchyard_sdk::{Error, Message, Outcome, Publication, kv};

/// The payload every step consumes and forwards: `{"order_id": "o-1", "sku": "widget",
/// "qty": 2, "card": "ok"}`, plus a `reason` once an order is rejected or declined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The order's id.
    pub order_id: String,
    /// What is ordered.
    pub sku: String,
    /// How many.
    pub qty: u64,
    /// The card: `"declined"` is declined, anything else goes through.
    pub card: String,
    /// Why the order stopped (`"out of stock"`, `"card declined"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Order {
    /// The same order with a `reason`.
    pub fn with_reason(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_string());
        self
    }
}

/// The name of the topic in config `key`, or `default`.
pub fn topic(key: &str, default: &str) -> String {
    switchyard_sdk::config(key).unwrap_or_else(|| default.to_string())
}

/// What one step does: publish at most one message and write some keys.
#[derive(Debug, Default)]
pub struct Effects {
    publication: Option<Publication>,
    writes: Vec<(String, Option<String>)>,
}

impl Effects {
    /// No effects yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Publishes `order` as JSON to `topic`.
    pub fn publish(mut self, topic: &str, order: &Order) -> Result<Self, Error> {
        self.publication = Some(Publication::json(topic, order)?);
        Ok(self)
    }

    /// Sets `key` to `value`.
    pub fn set(mut self, key: String, value: impl ToString) -> Self {
        self.writes.push((key, Some(value.to_string())));
        self
    }

    /// Deletes `key`.
    pub fn delete(mut self, key: String) -> Self {
        self.writes.push((key, None));
        self
    }

    fn apply(self) -> Result<(), Error> {
        if let Some(publication) = self.publication {
            publication.send()?;
        }
        self.writes
            .into_iter()
            .try_for_each(|(key, value)| match value {
                Some(value) => kv::set(&key, value),
                None => kv::delete(&key),
            })
    }
}

/// Runs `step` on the order in `message` unless that message was already handled: acks a
/// done message, dead-letters a malformed order, retries when the step or its effects fail.
pub fn run_once(message: &Message, step: impl FnOnce(Order) -> Result<Effects, Error>) -> Outcome {
    let done = format!("done:{}", message.id);
    let outcome = kv::get(&done).and_then(|seen| {
        if seen.is_some() {
            switchyard_sdk::debug(&format!("message {} was already handled", message.id));
            return Ok(Outcome::Ack);
        }
        let order = match parse(message) {
            Ok(order) => order,
            Err(reason) => return Ok(Outcome::dead_letter(reason)),
        };
        step(order)?.set(done, switchyard_sdk::now_ms()).apply()?;
        Ok(Outcome::Ack)
    });
    outcome.unwrap_or_else(|error| {
        switchyard_sdk::warn(&format!("retrying message {}: {error}", message.id));
        Outcome::retry()
    })
}

fn parse(message: &Message) -> Result<Order, String> {
    let order: Order = message
        .json()
        .map_err(|error| format!("malformed order: {}", error.message))?;
    if order.order_id.is_empty() || order.sku.is_empty() || order.qty == 0 {
        return Err("malformed order: empty `order_id` or `sku`, or zero `qty`".to_string());
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use switchyard_sdk::testing::{TestHost, message};
    use switchyard_sdk::{Batch, Level, Outcome};

    use super::{Effects, Order, run_once};

    const ORDER: &str = r#"{"order_id":"o-1","sku":"widget","qty":2,"card":"ok"}"#;

    /// Publishes the order to `next` with a reason and counts it under `count`.
    fn step(batch: Batch) -> Vec<Outcome> {
        batch.map(|message| {
            run_once(&message, |order| {
                let count = switchyard_sdk::kv::get_u64("count")?;
                Effects::new()
                    .publish(
                        &super::topic("next_topic", "next"),
                        &order.with_reason("why"),
                    )
                    .map(|effects| effects.set("count".into(), count + 1).delete("gone".into()))
            })
        })
    }

    #[test]
    fn applies_the_effects_and_marks_the_message_done() {
        let mut host = TestHost::new().kv("gone", "x");
        let outcomes = host.run(step, vec![message(ORDER).with_id("m-1")]);
        assert_eq!(outcomes, vec![Outcome::Ack]);
        assert_eq!(host.kv_get("count"), Some(&b"1"[..]));
        assert_eq!(host.kv_get("gone"), None);
        assert_eq!(host.kv_get("done:m-1"), Some(&b"1700000000000"[..]));
        let [publication] = host.published() else {
            panic!("expected one publication")
        };
        assert_eq!(publication.topic, "next");
        let order: Order = message(publication.payload.clone()).json().unwrap();
        assert_eq!(order.order_id, "o-1");
        assert_eq!(order.reason.as_deref(), Some("why"));
    }

    #[test]
    fn a_redelivered_message_does_nothing_again() {
        let mut host = TestHost::new();
        let again = message(ORDER).with_id("m-1");
        host.run(step, vec![again.clone()]);
        let outcomes = host.run(step, vec![again.clone().with_attempt(2), again]);
        assert_eq!(outcomes, vec![Outcome::Ack; 2]);
        assert_eq!(host.kv_get("count"), Some(&b"1"[..]));
        assert_eq!(host.published().len(), 1);
    }

    #[test]
    fn malformed_orders_are_dead_lettered_and_not_marked_done() {
        let mut host = TestHost::new();
        let payloads = [
            "not json",
            r#"{"order_id":"o-1","sku":"widget","qty":-1,"card":"ok"}"#,
            r#"{"order_id":"o-1","sku":"widget","card":"ok"}"#,
            r#"{"order_id":"","sku":"widget","qty":1,"card":"ok"}"#,
            r#"{"order_id":"o-1","sku":"widget","qty":0,"card":"ok"}"#,
        ];
        let outcomes = host.run(step, payloads.map(|p| message(p).with_id("bad")).to_vec());
        for outcome in outcomes {
            assert!(
                matches!(&outcome, Outcome::DeadLetter { reason } if reason.starts_with("malformed order")),
                "{outcome:?}"
            );
        }
        assert_eq!(host.kv_get("done:bad"), None);
        assert!(host.published().is_empty());
    }

    #[test]
    fn a_failed_publish_retries_with_nothing_written() {
        let mut host = TestHost::new().config("next_topic", "").kv("gone", "x");
        let outcomes = host.run(step, vec![message(ORDER).with_id("m-1")]);
        assert_eq!(outcomes, vec![Outcome::retry()]);
        assert_eq!(host.kv_get("count"), None);
        assert_eq!(host.kv_get("gone"), Some(&b"x"[..]));
        assert_eq!(host.kv_get("done:m-1"), None);
        assert!(matches!(host.logs(), [(Level::Warn, line)] if line.contains("invalid_name")));
    }

    #[test]
    fn a_failed_step_retries_with_nothing_written() {
        let mut host = TestHost::new().kv("count", "many");
        let outcomes = host.run(step, vec![message(ORDER).with_id("m-1")]);
        assert_eq!(outcomes, vec![Outcome::retry()]);
        assert_eq!(host.kv_get("done:m-1"), None);
        assert!(host.published().is_empty());
    }
}
