//! The seed scenarios, end to end through real plugins: one signup fans out to analytics,
//! a mailing list (an HTTP call to a local sink) and a notifier (a publish); an order flow
//! choreographed through topics, including a declined card that releases the stock.

use std::collections::BTreeMap;

use serde_json::json;
use switchyard_client::Client;
use switchyard_tests::*;

use super::{consume, deploy, wire};

#[tokio::test]
async fn one_signup_is_counted_mailed_and_announced() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let sink = HttpSink::start(vec![]).await?;
    for queue in ["analytics", "mailing", "notify"] {
        wire(client, "signups", queue, Some(3)).await?;
    }
    wire(client, "notifications", "inbox", None).await?;
    for name in ["signup-analytics", "mailing-list", "notifier"] {
        deploy(client, name, name).await?;
    }
    consume(client, "analytics", "analytics", "signup-analytics", |_| {}).await?;
    consume(client, "mailing", "mailing", "mailing-list", |c| {
        c.config = BTreeMap::from([("endpoint".into(), sink.url("/subscribe"))]);
        c.allowed_hosts = vec![sink.origin()];
    })
    .await?;
    consume(client, "notify", "notify", "notifier", |c| {
        c.config = BTreeMap::from([("topic".into(), "notifications".into())]);
    })
    .await?;

    let id = client
        .publish(
            "signups",
            &json_message(json!({ "email": "ada@example.com" })).attribute("kind", "signup"),
        )
        .await?;

    let announced = receive_exactly(client, "inbox", 1).await?;
    assert_eq!(
        payload(&announced[0]),
        json!({ "text": "New signup: ada@example.com" })
    );
    wait_until("the analytics count", PATIENCE, async || {
        Ok(client
            .plugin_kv("signup-analytics", "count:signup")
            .await
            .is_ok_and(|kv| kv.value.as_deref() == Some("1")))
    })
    .await?;
    wait_until("the mailing-list call", PATIENCE, async || {
        Ok(!sink.requests().is_empty())
    })
    .await?;
    let call = &sink.requests()[0];
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("POST", "/subscribe")
    );
    let body: serde_json::Value = serde_json::from_slice(&call.body)?;
    assert_eq!(body, json!({ "email": "ada@example.com" }));
    assert!(
        call.headers
            .iter()
            .any(|(k, v)| k == "idempotency-key" && *v == id),
        "the message id is the idempotency key: {:?}",
        call.headers
    );
    Ok(())
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_and_a_bad_payload_is_dead_lettered() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let sink = HttpSink::start(vec![500]).await?;
    wire(client, "signups", "mailing", Some(3)).await?;
    deploy(client, "mailing-list", "mailing-list").await?;
    consume(client, "mailing", "mailing", "mailing-list", |c| {
        c.config = BTreeMap::from([("endpoint".into(), sink.url("/subscribe"))]);
        c.allowed_hosts = vec![sink.origin()];
    })
    .await?;
    client
        .publish(
            "signups",
            &json_message(json!({ "email": "ada@example.com" })).attribute("kind", "signup"),
        )
        .await?;
    client
        .publish(
            "signups",
            &json_message(json!({ "name": "no email" })).attribute("kind", "signup"),
        )
        .await?;
    let consumer = super::wait_consumer(client, "mailing", "one ack after a retry", |c| {
        c.stats.acked == 1 && c.stats.dead_lettered == 1
    })
    .await?;
    assert_eq!(consumer.stats.retried, 1, "{:?}", consumer.stats);
    assert_eq!(sink.requests().len(), 2, "500 first, then 200");
    let dead = super::wait_ready(client, "mailing-dlq", 1).await?;
    let reason = &dead[0].dead_letter.as_ref().expect("a dead letter").reason;
    assert!(reason.contains("email"), "{reason}");
    Ok(())
}

async fn kv(client: &Client, plugin: &str, key: &str) -> Option<String> {
    client
        .plugin_kv(plugin, key)
        .await
        .ok()
        .and_then(|kv| kv.value)
}

#[tokio::test]
async fn orders_are_confirmed_and_a_declined_card_releases_the_stock() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let steps = [
        ("reserve-stock", "orders"),
        ("charge-payment", "stock-reserved"),
        ("confirm-order", "payments-charged"),
        ("release-stock", "payments-declined"),
    ];
    for (plugin, topic) in steps {
        wire(client, topic, plugin, Some(3)).await?;
        deploy(client, plugin, plugin).await?;
        consume(client, plugin, plugin, plugin, |_| {}).await?;
    }
    for topic in ["stock-released", "orders-rejected"] {
        client.create_topic(topic).await?;
    }
    client
        .subscribe("stock-released", "reserve-stock", None)
        .await?;
    wire(client, "orders-confirmed", "confirmed", None).await?;

    let orders = [
        json!({ "order_id": "o-1", "sku": "widget", "qty": 2, "card": "ok" }),
        json!({ "order_id": "o-2", "sku": "widget", "qty": 3, "card": "declined" }),
    ];
    for order in orders {
        client.publish("orders", &json_message(order)).await?;
    }
    let confirmed = receive_exactly(client, "confirmed", 1).await?;
    assert_eq!(payload(&confirmed[0])["order_id"], "o-1");
    wait_until("o-2 released and its stock back", PATIENCE, async || {
        Ok(
            kv(client, "release-stock", "order:o-2").await.as_deref() == Some("released")
                && kv(client, "reserve-stock", "stock:widget").await.as_deref() == Some("98"),
        )
    })
    .await?;
    assert_eq!(
        kv(client, "confirm-order", "order:o-1").await.as_deref(),
        Some("confirmed")
    );
    assert_eq!(
        kv(client, "charge-payment", "charge:o-1").await.as_deref(),
        Some("charged")
    );
    assert_eq!(kv(client, "charge-payment", "charge:o-2").await, None);
    assert_eq!(kv(client, "reserve-stock", "reservation:o-2").await, None);
    for (plugin, _) in steps {
        let consumer = client.get_consumer(plugin).await?;
        assert!(
            consumer.stats.faults.is_empty(),
            "{plugin}: {:?}",
            consumer.stats
        );
        assert_eq!(
            consumer.stats.dead_lettered, 0,
            "{plugin}: {:?}",
            consumer.stats
        );
    }
    Ok(())
}
