//! Step 1 of the order flow (see the `order-flow` crate): reserves stock for new orders, and
//! puts back the stock of orders whose payment was declined.
//!
//! It consumes two topics and tells their messages apart by the message's topic:
//!
//! - orders (from `orders`): when the stock level in `stock:<sku>` (or, before the first
//!   order for that sku, config `initial_stock`, default 100) covers `qty`, decrements it,
//!   records `reservation:<order_id>` = qty and forwards the order to config
//!   `reserved_topic` (default `stock-reserved`); otherwise forwards it to config
//!   `rejected_topic` (default `orders-rejected`) with `"reason": "out of stock"`.
//! - releases (from config `released_topic`, default `stock-released`, published by
//!   `release-stock`): adds the reserved qty back to `stock:<sku>` and deletes
//!   `reservation:<order_id>`. This step lives here, not in `release-stock`, because each
//!   plugin has its own key-value store and the stock is in this one. A release for an order
//!   with no reservation (already released, or never reserved) changes nothing.
//!
//! Each message is handled once (`done:<message id>`); a malformed order is dead-lettered, and
//! so is every message while `initial_stock` is not a number.

use order_flow::{Effects, Order, run_once, topic};
use switchyard_sdk::{Batch, Error, Outcome, config, handler, kv};

/// The stock of a sku before its first order, unless config `initial_stock` says otherwise.
const INITIAL_STOCK: u64 = 100;

/// Reserves or releases the stock of each order of the batch.
#[handler]
pub fn handle(batch: Batch) -> Vec<Outcome> {
    let initial = match config("initial_stock").map(|value| value.parse::<u64>()) {
        None => INITIAL_STOCK,
        Some(Ok(initial)) => initial,
        Some(Err(_)) => {
            let reason = "config `initial_stock` is not a non-negative integer";
            return batch.map(|_| Outcome::dead_letter(reason));
        }
    };
    let released = topic("released_topic", "stock-released");
    let reserved = topic("reserved_topic", "stock-reserved");
    let rejected = topic("rejected_topic", "orders-rejected");
    batch.map(|message| {
        if message.topic.as_deref() == Some(released.as_str()) {
            run_once(&message, |order| release(order, initial))
        } else {
            run_once(&message, |order| {
                reserve(order, initial, &reserved, &rejected)
            })
        }
    })
}

fn stock(sku: &str, initial: u64) -> Result<(String, u64), Error> {
    let key = format!("stock:{sku}");
    let level = match kv::get(&key)? {
        Some(_) => kv::get_u64(&key)?,
        None => initial,
    };
    Ok((key, level))
}

fn reserve(order: Order, initial: u64, reserved: &str, rejected: &str) -> Result<Effects, Error> {
    let (key, level) = stock(&order.sku, initial)?;
    if level < order.qty {
        return Effects::new().publish(rejected, &order.with_reason("out of stock"));
    }
    Effects::new()
        .set(key, level - order.qty)
        .set(format!("reservation:{}", order.order_id), order.qty)
        .publish(reserved, &order)
}

fn release(order: Order, initial: u64) -> Result<Effects, Error> {
    let reservation = format!("reservation:{}", order.order_id);
    if kv::get(&reservation)?.is_none() {
        switchyard_sdk::warn(&format!(
            "order {} has no reservation to release",
            order.order_id
        ));
        return Ok(Effects::new());
    }
    let qty = kv::get_u64(&reservation)?;
    let (key, level) = stock(&order.sku, initial)?;
    Ok(Effects::new()
        .set(key, level.saturating_add(qty))
        .delete(reservation))
}

#[cfg(test)]
mod tests {
    use order_flow::Order;
    use switchyard_sdk::testing::{TestHost, message};
    use switchyard_sdk::{Message, Outcome};

    fn order(qty: u64) -> Message {
        let payload = format!(r#"{{"order_id":"o-1","sku":"widget","qty":{qty},"card":"ok"}}"#);
        Message {
            topic: Some("orders".into()),
            ..message(payload)
        }
    }

    fn released(qty: u64) -> Message {
        Message {
            topic: Some("stock-released".into()),
            ..order(qty)
        }
    }

    fn published(host: &TestHost) -> Vec<(String, Order)> {
        let decode = |payload: &[u8]| message(payload).json().unwrap();
        host.published()
            .iter()
            .map(|p| (p.topic.clone(), decode(&p.payload)))
            .collect()
    }

    #[test]
    fn reserves_from_the_initial_stock_and_forwards_the_order() {
        let mut host = TestHost::new();
        let outcomes = host.run(super::handle, vec![order(2).with_id("m-1")]);
        assert_eq!(outcomes, vec![Outcome::Ack]);
        assert_eq!(host.kv_get("stock:widget"), Some(&b"98"[..]));
        assert_eq!(host.kv_get("reservation:o-1"), Some(&b"2"[..]));
        assert!(host.kv_get("done:m-1").is_some());
        let [(topic, forwarded)] = &published(&host)[..] else {
            panic!("expected one")
        };
        assert_eq!(topic, "stock-reserved");
        assert_eq!(
            (
                forwarded.order_id.as_str(),
                forwarded.qty,
                forwarded.reason.as_ref()
            ),
            ("o-1", 2, None)
        );
    }

    #[test]
    fn a_redelivered_order_is_reserved_once() {
        let mut host = TestHost::new().kv("stock:widget", "10");
        let twice = order(3).with_id("m-1");
        host.run(super::handle, vec![twice.clone()]);
        let outcomes = host.run(super::handle, vec![twice.with_attempt(2)]);
        assert_eq!(outcomes, vec![Outcome::Ack]);
        assert_eq!(host.kv_get("stock:widget"), Some(&b"7"[..]));
        assert_eq!(host.published().len(), 1);
    }

    #[test]
    fn rejects_what_the_stock_does_not_cover_using_configured_topics() {
        let mut host = TestHost::new()
            .config("initial_stock", "3")
            .config("reserved_topic", "ok-topic")
            .config("rejected_topic", "no-topic");
        let outcomes = host.run(super::handle, vec![order(2), order(2)]);
        assert_eq!(outcomes, vec![Outcome::Ack; 2]);
        assert_eq!(host.kv_get("stock:widget"), Some(&b"1"[..]));
        let published = published(&host);
        assert_eq!(published[0].0, "ok-topic");
        assert_eq!(published[1].0, "no-topic");
        assert_eq!(published[1].1.reason.as_deref(), Some("out of stock"));
        assert_eq!(published[1].1.qty, 2);
    }

    #[test]
    fn a_release_puts_the_reserved_stock_back_once() {
        let mut host = TestHost::new();
        host.run(super::handle, vec![order(5)]);
        let release = released(5).with_id("r-1");
        let outcomes = host.run(super::handle, vec![release.clone(), release, released(5)]);
        assert_eq!(outcomes, vec![Outcome::Ack; 3]);
        assert_eq!(host.kv_get("stock:widget"), Some(&b"100"[..]));
        assert_eq!(host.kv_get("reservation:o-1"), None);
        assert_eq!(host.published().len(), 1, "a release publishes nothing");
    }

    #[test]
    fn the_released_topic_is_configurable() {
        let mut host = TestHost::new()
            .config("released_topic", "returns")
            .kv("stock:widget", "1")
            .kv("reservation:o-1", "4");
        let release = Message {
            topic: Some("returns".into()),
            ..order(4)
        };
        assert_eq!(host.run(super::handle, vec![release]), vec![Outcome::Ack]);
        assert_eq!(host.kv_get("stock:widget"), Some(&b"5"[..]));
        // With the topic renamed, a message from `stock-released` is an order again.
        host.run(super::handle, vec![released(1)]);
        assert_eq!(host.kv_get("stock:widget"), Some(&b"4"[..]));
    }

    #[test]
    fn malformed_orders_and_config_are_dead_lettered() {
        let mut host = TestHost::new();
        let outcomes = host.run(super::handle, vec![message(r#"{"sku":"widget"}"#)]);
        assert!(matches!(&outcomes[..], [Outcome::DeadLetter { .. }]));
        let mut host = TestHost::new().config("initial_stock", "lots");
        let outcomes = host.run(super::handle, vec![order(1), released(1)]);
        let reason = "config `initial_stock` is not a non-negative integer";
        assert_eq!(outcomes, vec![Outcome::dead_letter(reason); 2]);
        assert!(host.published().is_empty());
    }

    #[test]
    fn a_corrupt_stock_level_retries_without_effects() {
        let mut host = TestHost::new().kv("stock:widget", "many");
        assert_eq!(
            host.run(super::handle, vec![order(1)]),
            vec![Outcome::retry()]
        );
        assert!(host.published().is_empty());
        assert_eq!(host.kv_get("reservation:o-1"), None);
    }
}
