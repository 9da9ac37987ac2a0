//! Step 3' of the order flow (see the `order-flow` crate): releases the stock of orders whose
//! payment was declined (it consumes `payments-declined`).
//!
//! Each plugin has its own key-value store and the stock lives in `reserve-stock`'s, so this
//! plugin cannot put it back itself: it records `order:<order_id>` = `released` and forwards
//! the order (with its `qty`, and the `reason` it came with) to config `released_topic`
//! (default `stock-released`), which `reserve-stock` also consumes to add the stock back.
//! Each message is handled once (`done:<message id>`); a malformed order is dead-lettered, a
//! failed publish retried.

use order_flow::{Effects, run_once, topic};
use switchyard_sdk::{Batch, Outcome, handler};

/// Releases each order of the batch.
#[handler]
pub fn handle(batch: Batch) -> Vec<Outcome> {
    let released = topic("released_topic", "stock-released");
    batch.map(|message| {
        run_once(&message, |order| {
            Effects::new()
                .set(format!("order:{}", order.order_id), "released")
                .publish(&released, &order)
        })
    })
}

#[cfg(test)]
mod tests {
    use order_flow::Order;
    use switchyard_sdk::Outcome;
    use switchyard_sdk::testing::{TestHost, message};

    const DECLINED: &str =
        r#"{"order_id":"o-1","sku":"widget","qty":2,"card":"declined","reason":"card declined"}"#;

    #[test]
    fn records_and_announces_the_release_once() {
        let mut host = TestHost::new();
        let again = message(DECLINED).with_id("m-1");
        let outcomes = host.run(super::handle, vec![again.clone(), again]);
        assert_eq!(outcomes, vec![Outcome::Ack; 2]);
        assert_eq!(host.kv_get("order:o-1"), Some(&b"released"[..]));
        let [publication] = host.published() else {
            panic!("expected one publication")
        };
        assert_eq!(publication.topic, "stock-released");
        let order: Order = message(publication.payload.clone()).json().unwrap();
        assert_eq!((order.sku.as_str(), order.qty), ("widget", 2));
        assert_eq!(order.reason.as_deref(), Some("card declined"));
    }

    #[test]
    fn the_released_topic_is_configurable() {
        let mut host = TestHost::new().config("released_topic", "returns");
        host.run(super::handle, vec![message(DECLINED)]);
        assert_eq!(host.published()[0].topic, "returns");
    }

    #[test]
    fn a_failed_publish_retries_without_recording() {
        let mut host = TestHost::new().config("released_topic", "");
        assert_eq!(
            host.run(super::handle, vec![message(DECLINED)]),
            vec![Outcome::retry()]
        );
        assert_eq!(host.kv_get("order:o-1"), None);
    }

    #[test]
    fn a_malformed_order_is_dead_lettered() {
        let mut host = TestHost::new();
        let outcomes = host.run(
            super::handle,
            vec![message(r#"{"order_id":"o-1","qty":"2"}"#)],
        );
        assert!(matches!(&outcomes[..], [Outcome::DeadLetter { .. }]));
        assert!(host.published().is_empty());
    }
}
