//! Step 3 of the order flow (see the `order-flow` crate): confirms orders whose payment went
//! through (it consumes `payments-charged`).
//!
//! Records `order:<order_id>` = `confirmed` and forwards the order to config
//! `confirmed_topic` (default `orders-confirmed`). Each message is handled once
//! (`done:<message id>`); a malformed order is dead-lettered, a failed publish retried.

use order_flow::{Effects, run_once, topic};
use switchyard_sdk::{Batch, Outcome, handler};

/// Confirms each order of the batch.
#[handler]
pub fn handle(batch: Batch) -> Vec<Outcome> {
    let confirmed = topic("confirmed_topic", "orders-confirmed");
    batch.map(|message| {
        run_once(&message, |order| {
            Effects::new()
                .set(format!("order:{}", order.order_id), "confirmed")
                .publish(&confirmed, &order)
        })
    })
}

#[cfg(test)]
mod tests {
    use order_flow::Order;
    use switchyard_sdk::Outcome;
    use switchyard_sdk::testing::{TestHost, message};

    const ORDER: &str = r#"{"order_id":"o-1","sku":"widget","qty":2,"card":"ok"}"#;

    #[test]
    fn confirms_and_forwards_once() {
        let mut host = TestHost::new().config("confirmed_topic", "done-orders");
        let again = message(ORDER).with_id("m-1");
        let outcomes = host.run(super::handle, vec![again.clone(), again]);
        assert_eq!(outcomes, vec![Outcome::Ack; 2]);
        assert_eq!(host.kv_get("order:o-1"), Some(&b"confirmed"[..]));
        let [publication] = host.published() else {
            panic!("expected one publication")
        };
        assert_eq!(publication.topic, "done-orders");
        let order: Order = message(publication.payload.clone()).json().unwrap();
        assert_eq!(order, message(ORDER).json().unwrap());
    }

    #[test]
    fn publishes_to_orders_confirmed_by_default() {
        let mut host = TestHost::new();
        host.run(super::handle, vec![message(ORDER)]);
        assert_eq!(host.published()[0].topic, "orders-confirmed");
    }

    #[test]
    fn a_failed_publish_retries_without_confirming() {
        let mut host = TestHost::new().config("confirmed_topic", "");
        assert_eq!(
            host.run(super::handle, vec![message(ORDER)]),
            vec![Outcome::retry()]
        );
        assert_eq!(host.kv_get("order:o-1"), None);
    }

    #[test]
    fn a_malformed_order_is_dead_lettered() {
        let mut host = TestHost::new();
        let outcomes = host.run(super::handle, vec![message("[]")]);
        assert!(matches!(&outcomes[..], [Outcome::DeadLetter { .. }]));
        assert_eq!(host.kv_get("order:o-1"), None);
    }
}
