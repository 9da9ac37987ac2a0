//! Dead letters that meet: copies of one fanned-out message dead-lettered into a shared
//! dead-letter queue, redrives onto a queue that holds the message already, and receipts
//! from before a dead-letter and redrive.

use serde_json::json;
use switchyard_client::{Client, CreateQueue, DeliveryState, RedriveRequest};
use switchyard_tests::*;

/// The number of message bodies the server stores, from `/metrics`.
async fn stored_bodies(client: &Client) -> anyhow::Result<u64> {
    let text = client.metrics().await?;
    let line = text
        .lines()
        .find(|l| l.starts_with("switchyard_storage_message_bodies "))
        .ok_or_else(|| anyhow::anyhow!("no body gauge in /metrics"))?;
    Ok(line.rsplit(' ').next().unwrap_or_default().parse()?)
}

async fn dead_lettering_queue(client: &Client, name: &str, dlq: &str) -> anyhow::Result<()> {
    let settings = CreateQueue {
        name: name.into(),
        max_receive_count: Some(1),
        dead_letter_queue: Some(dlq.into()),
        ..CreateQueue::default()
    };
    client.create_queue(&settings).await?;
    Ok(())
}

/// Receives the only message of `queue` and nacks it, its last allowed delivery; waits
/// until it has left `queue` and `dlq` holds one ready dead letter.
async fn nack_last_delivery(client: &Client, queue: &str, dlq: &str) -> anyhow::Result<()> {
    let got = receive_exactly(client, queue, 1).await?;
    client.nack(queue, vec![receipt(&got[0])], None).await?;
    wait_until(
        "the nacked copy to be dead-lettered",
        PATIENCE,
        async || {
            let source = client.get_queue(queue).await?.stats.unwrap_or_default();
            let target = client.get_queue(dlq).await?.stats.unwrap_or_default();
            Ok(source.ready + source.in_flight + source.delayed == 0 && target.ready == 1)
        },
    )
    .await
}

#[tokio::test]
async fn two_queues_dead_lettering_one_message_into_a_shared_queue_leave_one_dead_letter()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_topic("orders").await?;
    client.create_queue(&queue("shared-dlq")).await?;
    for name in ["billing", "shipping"] {
        dead_lettering_queue(client, name, "shared-dlq").await?;
        client.subscribe("orders", name, None).await?;
    }
    let id = client
        .publish("orders", &json_message(json!({"order": 1})))
        .await?;
    nack_last_delivery(client, "billing", "shared-dlq").await?;
    nack_last_delivery(client, "shipping", "shared-dlq").await?;

    let status = client.message_status(&id).await?;
    assert_eq!(
        states(&status),
        [("shared-dlq".to_string(), DeliveryState::Ready)],
        "one dead letter: {status:?}"
    );
    let dead = receive_exactly(client, "shared-dlq", 1).await?;
    assert_eq!(dead[0].id, id);
    assert!(dead[0].dead_letter.is_some());
    ack_all(client, "shared-dlq", &dead).await?;
    assert_eq!(
        stored_bodies(client).await?,
        0,
        "the body went with its last copy"
    );
    Ok(())
}

#[tokio::test]
async fn a_redrive_onto_a_queue_holding_the_message_keeps_one_copy() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_topic("orders").await?;
    client.create_queue(&queue("orders-dlq")).await?;
    dead_lettering_queue(client, "billing", "orders-dlq").await?;
    client.create_queue(&queue("audit")).await?;
    for name in ["billing", "audit"] {
        client.subscribe("orders", name, None).await?;
    }
    client
        .publish("orders", &json_message(json!({"order": 2})))
        .await?;
    nack_last_delivery(client, "billing", "orders-dlq").await?;

    let into_audit = RedriveRequest {
        destination: Some("audit".into()),
        max_messages: None,
        max_per_second: None,
    };
    let answer = client.redrive("orders-dlq", &into_audit).await?;
    assert_eq!((answer.moved, answer.skipped), (1, 0));
    assert!(client.peek("orders-dlq", 10, None).await?.is_empty());
    let copies = drain(client, "audit").await?;
    assert_eq!(copies.len(), 1, "audit's own copy, once (drain acks it)");
    assert_eq!(stored_bodies(client).await?, 0, "no body is left behind");
    Ok(())
}

#[tokio::test]
async fn a_receipt_from_before_a_dead_letter_and_redrive_cannot_settle_the_new_delivery()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("jobs-dlq")).await?;
    let settings = CreateQueue {
        name: "jobs".into(),
        visibility_timeout_ms: Some(200),
        max_receive_count: Some(1),
        dead_letter_queue: Some("jobs-dlq".into()),
        ..CreateQueue::default()
    };
    client.create_queue(&settings).await?;
    client.send("jobs", &json_message(json!("job"))).await?;
    let first = receive_exactly(client, "jobs", 1).await?;
    let old = receipt(&first[0]);
    wait_until("the expired lease to dead-letter", PATIENCE, async || {
        Ok(client
            .get_queue("jobs-dlq")
            .await?
            .stats
            .unwrap_or_default()
            .ready
            == 1)
    })
    .await?;
    client
        .redrive("jobs-dlq", &RedriveRequest::default())
        .await?;
    let again = receive_exactly(client, "jobs", 1).await?;
    assert_eq!(again[0].receive_count, 1, "a fresh delivery");

    assert_api_error(client.ack("jobs", vec![old]).await, 400, "receipt_expired");
    let stats = client.get_queue("jobs").await?.stats.unwrap_or_default();
    assert_eq!(stats.in_flight, 1, "the new delivery is still leased");
    client.ack("jobs", vec![receipt(&again[0])]).await?;
    Ok(())
}
