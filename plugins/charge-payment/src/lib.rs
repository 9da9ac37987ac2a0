//! Step 2 of the order flow (see the `order-flow` crate): charges orders whose stock is
//! reserved (it consumes `stock-reserved`).
//!
//! An order whose `card` is `"declined"` is forwarded to config `declined_topic` (default
//! `payments-declined`) with `"reason": "card declined"`; any other is recorded as
//! `charge:<order_id>` = `charged` and forwarded to config `charged_topic` (default
//! `payments-charged`). Each message is handled once (`done:<message id>`); a malformed
//! order is dead-lettered, a failed publish retried.

use order_flow::{Effects, Order, run_once, topic};
use switchyard_sdk::{Batch, Error, Outcome, handler};

/// Charges each order of the batch.
#[handler]
pub fn handle(batch: Batch) -> Vec<Outcome> {
    let charged = topic("charged_topic", "payments-charged");
    let declined = topic("declined_topic", "payments-declined");
    batch.map(|message| run_once(&message, |order| charge(order, &charged, &declined)))
}

fn charge(order: Order, charged: &str, declined: &str) -> Result<Effects, Error> {
    if order.card == "declined" {
        return Effects::new().publish(declined, &order.with_reason("card declined"));
    }
    Effects::new()
        .set(format!("charge:{}", order.order_id), "charged")
        .publish(charged, &order)
}

#[cfg(test)]
mod tests {
    use order_flow::Order;
    use switchyard_sdk::Outcome;
    use switchyard_sdk::testing::{TestHost, message};

    fn order(card: &str) -> switchyard_sdk::Message {
        message(format!(
            r#"{{"order_id":"o-1","sku":"widget","qty":2,"card":"{card}"}}"#
        ))
    }

    fn forwarded(host: &TestHost) -> (String, Order) {
        let [publication] = host.published() else {
            panic!("expected one publication")
        };
        (
            publication.topic.clone(),
            message(publication.payload.clone()).json().unwrap(),
        )
    }

    #[test]
    fn charges_a_good_card_once() {
        let mut host = TestHost::new();
        let again = order("ok").with_id("m-1");
        let outcomes = host.run(super::handle, vec![again.clone(), again]);
        assert_eq!(outcomes, vec![Outcome::Ack; 2]);
        assert_eq!(host.kv_get("charge:o-1"), Some(&b"charged"[..]));
        let (topic, order) = forwarded(&host);
        assert_eq!(topic, "payments-charged");
        assert_eq!(
            (order.sku.as_str(), order.qty, order.card.as_str()),
            ("widget", 2, "ok")
        );
        assert_eq!(order.reason, None);
    }

    #[test]
    fn a_declined_card_is_forwarded_with_a_reason_and_not_charged() {
        let mut host = TestHost::new().config("declined_topic", "nope");
        assert_eq!(
            host.run(super::handle, vec![order("declined")]),
            vec![Outcome::Ack]
        );
        assert_eq!(host.kv_get("charge:o-1"), None);
        let (topic, order) = forwarded(&host);
        assert_eq!(topic, "nope");
        assert_eq!(order.reason.as_deref(), Some("card declined"));
    }

    #[test]
    fn a_failed_publish_retries_without_charging() {
        let mut host = TestHost::new().config("charged_topic", "");
        assert_eq!(
            host.run(super::handle, vec![order("ok")]),
            vec![Outcome::retry()]
        );
        assert_eq!(host.kv_get("charge:o-1"), None);
    }

    #[test]
    fn a_malformed_order_is_dead_lettered() {
        let mut host = TestHost::new();
        let outcomes = host.run(super::handle, vec![message(r#"{"order_id":"o-1"}"#)]);
        assert!(matches!(&outcomes[..], [Outcome::DeadLetter { .. }]));
        assert!(host.published().is_empty());
    }
}
