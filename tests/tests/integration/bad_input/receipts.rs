//! Receipts: garbage or another queue's (invalid_receipt), ended leases (receipt_expired),
//! and an ack that mixes live and ended receipts.

use serde_json::json;
use switchyard_client::{CreateQueue, DeliveryState, ReceiveRequest};
use switchyard_tests::*;

use super::{World, unchanged, world};

#[tokio::test]
async fn invalid_receipts_are_400_invalid_receipt() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let World { held, .. } = world(client).await?;
    let before = snapshot(client).await?;
    let code = "invalid_receipt";
    for garbage in [
        "garbage",
        "",
        "AAAAAAAAAAAAAAAAAAAAAAAAAA",
        &"z".repeat(5000),
    ] {
        assert_api_error(client.ack("work", vec![garbage.into()]).await, 400, code);
        assert_api_error(
            client.nack("work", vec![garbage.into()], None).await,
            400,
            code,
        );
        assert_api_error(client.extend("work", garbage, 1000).await, 400, code);
    }
    // A real receipt, presented to another queue.
    let r = receipt(&held);
    assert_api_error(client.ack("work-dlq", vec![r.clone()]).await, 400, code);
    assert_api_error(
        client.nack("work-dlq", vec![r.clone()], None).await,
        400,
        code,
    );
    assert_api_error(client.extend("work-dlq", &r, 1000).await, 400, code);
    unchanged(client, &before).await?;
    // The held message is untouched: its receipt still acks it.
    ack_all(client, "work", &[held]).await
}

#[tokio::test]
async fn expired_receipts_are_400_receipt_expired() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    world(client).await?;
    client
        .create_queue(&CreateQueue {
            name: "short".into(),
            visibility_timeout_ms: Some(300),
            ..CreateQueue::default()
        })
        .await?;
    let id = client.send("short", &json_message(json!("brief"))).await?;
    let first = receive_exactly(client, "short", 1).await?.remove(0);
    wait_until("the 300 ms lease to end", PATIENCE, async || {
        Ok(client.message_status(&id).await?.deliveries[0].state != DeliveryState::InFlight)
    })
    .await?;

    let before = snapshot(client).await?;
    let stale = receipt(&first);
    let code = "receipt_expired";
    assert_api_error(client.ack("short", vec![stale.clone()]).await, 400, code);
    assert_api_error(
        client.nack("short", vec![stale.clone()], None).await,
        400,
        code,
    );
    assert_api_error(client.extend("short", &stale, 60_000).await, 400, code);
    unchanged(client, &before).await?;

    // Redelivered: the old receipt stays expired, the new one works.
    let second = receive_exactly(client, "short", 1).await?.remove(0);
    assert_eq!((second.id.as_str(), second.receive_count), (id.as_str(), 2));
    assert_api_error(client.ack("short", vec![stale]).await, 400, code);
    ack_all(client, "short", &[second]).await
}

#[tokio::test]
async fn mixed_ack_acks_the_live_receipts_and_lists_the_others() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("mixed")).await?;
    client.send("mixed", &json_message(json!("a"))).await?;
    client.send("mixed", &json_message(json!("b"))).await?;
    let short = ReceiveRequest {
        max_messages: Some(1),
        wait_ms: Some(1000),
        visibility_timeout_ms: Some(300),
    };
    let expired = client.receive("mixed", &short).await?.remove(0);
    let live = receive_exactly(client, "mixed", 1).await?.remove(0); // 30 s lease
    wait_until("the 300 ms lease to end", PATIENCE, async || {
        Ok(
            client.message_status(&expired.id).await?.deliveries[0].state
                != DeliveryState::InFlight,
        )
    })
    .await?;

    let answer = client
        .ack("mixed", vec![receipt(&expired), receipt(&live)])
        .await?;
    assert_eq!(answer.acked, 1);
    assert_eq!(answer.failed.len(), 1, "{:?}", answer.failed);
    assert_eq!(answer.failed[0].receipt, receipt(&expired));
    assert_eq!(answer.failed[0].code, "receipt_expired");
    assert!(!answer.failed[0].message.is_empty());
    let status = client.message_status(&live.id).await?;
    assert_eq!(
        states(&status),
        [("mixed".to_string(), DeliveryState::Acked)]
    );
    let again = receive_exactly(client, "mixed", 1).await?;
    assert_eq!(
        (again[0].id.as_str(), again[0].receive_count),
        (expired.id.as_str(), 2)
    );
    Ok(())
}
