//! Buffered batches: with a window, a consumer's batch forms once the queue holds
//! `max_messages` or `max_bytes` for it, or its first ready message has waited the window,
//! and no message is leased meanwhile, so a restart during the window redelivers nothing.

use serde_json::json;
use switchyard_client::{BatchSettings, Client, DeliveryState, QueueStats};
use switchyard_tests::*;

use super::{consume, deploy, wait_consumer, wire};

/// Ten minutes: a window no test waits out.
const LONG_WINDOW_MS: u64 = 600_000;

async fn stats(client: &Client, queue: &str) -> anyhow::Result<QueueStats> {
    Ok(client.get_queue(queue).await?.stats.expect("stats"))
}

/// A JSON string payload of exactly `bytes` bytes.
fn sized(bytes: usize) -> switchyard_client::PublishMessage {
    let message = json_message(json!("x".repeat(bytes - 2)));
    assert_eq!(message.payload.as_ref().map(|p| p.get().len()), Some(bytes));
    message
}

async fn publish_ids(
    client: &Client,
    topic: &str,
    messages: impl IntoIterator<Item = switchyard_client::PublishMessage>,
) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for message in messages {
        ids.push(client.publish(topic, &message).await?);
    }
    Ok(ids)
}

/// The receive count and state of the copy of `id` in `queue`.
async fn delivery(client: &Client, id: &str, queue: &str) -> anyhow::Result<(u32, DeliveryState)> {
    let status = client.message_status(id).await?;
    let copy = status
        .deliveries
        .iter()
        .find(|d| d.queue == queue)
        .unwrap_or_else(|| panic!("a copy of {id} in {queue}: {status:?}"));
    Ok((copy.receive_count, copy.state))
}

#[tokio::test]
async fn a_window_forms_batches_by_count_bytes_and_age_holding_no_lease() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    deploy(client, "ack", "ack-all").await?;

    // By count, with two workers: four messages wait unleased; the fifth forms one batch.
    wire(client, "counted", "counted", None).await?;
    consume(client, "counted", "counted", "ack", |c| {
        c.concurrency = Some(2);
        c.batch = Some(BatchSettings {
            max_messages: Some(5),
            max_wait_ms: Some(LONG_WINDOW_MS),
            ..Default::default()
        });
    })
    .await?;
    let ids = publish_ids(
        client,
        "counted",
        (0..4).map(|n| json_message(json!({ "n": n }))),
    )
    .await?;
    let waiting = stats(client, "counted").await?;
    assert_eq!((waiting.ready, waiting.in_flight), (4, 0), "{waiting:?}");
    for id in &ids {
        assert_eq!(
            delivery(client, id, "counted").await?,
            (0, DeliveryState::Ready)
        );
    }
    client
        .publish("counted", &json_message(json!({ "n": 4 })))
        .await?;
    let counted = wait_consumer(client, "counted", "5 acks", |c| c.stats.acked == 5).await?;
    assert_eq!(
        (counted.stats.invocations, counted.stats.messages),
        (1, 5),
        "{:?}",
        counted.stats
    );

    // By bytes: 300-byte messages under a 1000-byte limit; the fourth makes 1200 bytes
    // ready, which forms a batch of the first three (900 bytes), and the fourth waits on.
    wire(client, "sized", "sized", None).await?;
    consume(client, "sized", "sized", "ack", |c| {
        c.batch = Some(BatchSettings {
            max_messages: Some(100),
            max_bytes: Some(1000),
            max_wait_ms: Some(LONG_WINDOW_MS),
        });
    })
    .await?;
    publish_ids(client, "sized", (0..3).map(|_| sized(300))).await?;
    let waiting = stats(client, "sized").await?;
    assert_eq!((waiting.ready, waiting.in_flight), (3, 0), "{waiting:?}");
    let last = publish_ids(client, "sized", [sized(300)]).await?;
    let sized_consumer = wait_consumer(client, "sized", "3 acks", |c| c.stats.acked == 3).await?;
    assert_eq!(
        (
            sized_consumer.stats.invocations,
            sized_consumer.stats.messages
        ),
        (1, 3),
        "{:?}",
        sized_consumer.stats
    );
    assert_eq!(
        delivery(client, &last[0], "sized").await?,
        (0, DeliveryState::Ready)
    );

    // By age: two messages and a 1.5 s window make one batch, handled no sooner than the
    // window after the first publish.
    wire(client, "aged", "aged", None).await?;
    consume(client, "aged", "aged", "ack", |c| {
        c.batch = Some(BatchSettings {
            max_messages: Some(100),
            max_wait_ms: Some(1_500),
            ..Default::default()
        });
    })
    .await?;
    let ids = publish_ids(
        client,
        "aged",
        (0..2).map(|n| json_message(json!({ "n": n }))),
    )
    .await?;
    let aged = wait_consumer(client, "aged", "2 acks", |c| c.stats.acked == 2).await?;
    assert_eq!(aged.stats.invocations, 1, "{:?}", aged.stats);
    let first = client.message_status(&ids[0]).await?;
    let acked = first
        .deliveries
        .iter()
        .find(|d| d.queue == "aged")
        .and_then(|d| d.settled_at_ms)
        .expect("settled");
    assert!(
        acked >= first.published_at_ms + 1_500,
        "acked {} ms after publish, inside the window",
        acked - first.published_at_ms
    );
    Ok(())
}

#[tokio::test]
async fn a_restart_during_a_window_redelivers_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    deploy(client, "ack", "ack-all").await?;
    wire(client, "windowed", "windowed", None).await?;
    consume(client, "windowed", "windowed", "ack", |c| {
        c.batch = Some(BatchSettings {
            max_messages: Some(5),
            max_wait_ms: Some(LONG_WINDOW_MS),
            ..Default::default()
        });
    })
    .await?;
    let mut ids = publish_ids(
        client,
        "windowed",
        (0..3).map(|n| json_message(json!({ "n": n }))),
    )
    .await?;

    let server = server.restart().await?;
    let client = &server.client;
    for id in &ids {
        assert_eq!(
            delivery(client, id, "windowed").await?,
            (0, DeliveryState::Ready),
            "no lease was written during the window"
        );
    }
    ids.extend(
        publish_ids(
            client,
            "windowed",
            (3..5).map(|n| json_message(json!({ "n": n }))),
        )
        .await?,
    );
    let consumer = wait_consumer(client, "windowed", "5 acks", |c| c.stats.acked == 5).await?;
    assert_eq!(
        (consumer.stats.invocations, consumer.stats.messages),
        (1, 5),
        "{:?}",
        consumer.stats
    );
    for id in &ids {
        assert_eq!(
            delivery(client, id, "windowed").await?,
            (1, DeliveryState::Acked),
            "each message delivered once"
        );
    }
    Ok(())
}

#[tokio::test]
async fn windows_up_to_a_day_and_batches_up_to_64_mib_are_accepted_and_no_more()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    deploy(client, "ack", "ack-all").await?;
    wire(client, "daily", "daily", None).await?;
    let day = consume(client, "daily", "daily", "ack", |c| {
        c.batch = Some(BatchSettings {
            max_messages: Some(10_000),
            max_bytes: Some(64 << 20),
            max_wait_ms: Some(24 * 3_600_000),
        });
    })
    .await?;
    assert_eq!(day.batch.max_wait_ms, 24 * 3_600_000);
    for (field, batch) in [
        (
            "batch.max_wait_ms",
            json!({"max_wait_ms": 24 * 3_600_000 + 1}),
        ),
        ("batch.max_bytes", json!({"max_bytes": (64u64 << 20) + 1})),
        ("batch.max_messages", json!({"max_messages": 10_001})),
    ] {
        let body = json!({ "batch": batch }).to_string();
        let response = server
            .raw(reqwest::Method::PATCH, "/v1/consumers/daily", Some(&body))
            .await;
        assert_eq!(response.status.as_u16(), 400, "{field}: {}", response.text);
        assert!(response.text.contains(field), "{field}: {}", response.text);
    }
    Ok(())
}
