//! Restart (graceful): everything is in redb, so a new server on the same data directory
//! has the same topics, queues, subscriptions and messages; acked messages stay gone; leases
//! in flight stay leased until they end, then redeliver.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::json;
use switchyard_client::{
    CreateQueue, DeliveryState, PublishBatch, QueueOrdering, ReceiveRequest, RetrySchedule,
};
use switchyard_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_topics_queues_subscriptions_messages_and_acks() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_topic("orders").await?;
    client.create_topic("unused").await?;
    client.create_queue(&queue("orders-dlq")).await?;
    client
        .create_queue(&CreateQueue {
            name: "fulfilment".into(),
            visibility_timeout_ms: Some(45_000),
            max_receive_count: Some(3),
            dead_letter_queue: Some("orders-dlq".into()),
            delay_ms: Some(0),
            retention_ms: Some(86_400_000),
            ..CreateQueue::default()
        })
        .await?;
    client.create_queue(&queue("big-orders")).await?;
    // Delivery settings are kept too (the snapshots compare them).
    client
        .create_queue(&CreateQueue {
            name: "scheduled".into(),
            ordering: Some(QueueOrdering::PerKey),
            retry: Some(RetrySchedule {
                initial_ms: Some(250),
                multiplier: Some(1.5),
                max_ms: Some(60_000),
                jitter: Some(0.3),
                ..RetrySchedule::default()
            }),
            ..CreateQueue::default()
        })
        .await?;
    client.subscribe("orders", "fulfilment", None).await?;
    client
        .subscribe(
            "orders",
            "big-orders",
            Some(json!({"payload": {"size": ["big"]}})),
        )
        .await?;

    let batch = PublishBatch {
        messages: (0..10)
            .map(|n| {
                json_message(json!({"n": n, "size": if n % 2 == 0 { "big" } else { "small" }}))
            })
            .collect(),
    };
    let ids = client.publish_batch("orders", &batch).await?;
    let acked = receive_exactly(client, "fulfilment", 4).await?;
    ack_all(client, "fulfilment", &acked).await?;
    let acked_ids = distinct_ids(&acked);

    let before = snapshot(client).await?;
    let server = server.restart().await?;
    let client = &server.client;
    let after = snapshot(client).await?;
    assert_eq!(before, after, "a restart changed what clients see");

    // The six unacked messages come back, the four acked ones do not.
    let rest = drain(client, "fulfilment").await?;
    let rest_ids = distinct_ids(&rest);
    let want: BTreeSet<String> = ids
        .iter()
        .filter(|id| !acked_ids.contains(*id))
        .cloned()
        .collect();
    assert_eq!(rest_ids.into_iter().collect::<BTreeSet<_>>(), want);
    for message in &rest {
        let n = payload(message)["n"].as_u64().expect("n");
        assert_eq!(message.id, ids[n as usize], "payload and id still match");
    }
    for id in &acked_ids {
        let status = client.message_status(id).await?;
        let fulfilment = status.deliveries.iter().find(|d| d.queue == "fulfilment");
        assert_eq!(
            fulfilment.map(|d| d.state),
            Some(DeliveryState::Acked),
            "the ack of {id} survived the restart: {status:?}"
        );
    }
    let big = drain(client, "big-orders").await?;
    assert_eq!(big.len(), 5, "the filtered queue kept its five messages");

    // Subscriptions still route after the restart, filters included.
    let id = client
        .publish("orders", &json_message(json!({"n": 10, "size": "big"})))
        .await?;
    assert!(
        !ids.contains(&id),
        "a new id after restart repeats an old one"
    );
    assert_eq!(drain(client, "fulfilment").await?.len(), 1);
    assert_eq!(drain(client, "big-orders").await?.len(), 1);
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn lease_in_flight_at_restart_ends_then_redelivers() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("jobs")).await?;
    let id = client.send("jobs", &json_message(json!("leased"))).await?;
    let lease = Duration::from_millis(2500);
    let asked_at = Instant::now();
    let request = ReceiveRequest {
        max_messages: Some(1),
        wait_ms: Some(1000),
        visibility_timeout_ms: Some(lease.as_millis() as u64),
    };
    let first = client.receive("jobs", &request).await?;
    assert_eq!(first.len(), 1);
    let lease_end = client.message_status(&id).await?.deliveries[0].visible_at_ms;

    let server = server.restart().await?;
    let client = &server.client;
    let status = client.message_status(&id).await?;
    assert_eq!(status.deliveries[0].receive_count, 1);
    assert_eq!(
        status.deliveries[0].visible_at_ms, lease_end,
        "the lease survived as it was"
    );
    if asked_at.elapsed() < lease {
        assert_eq!(status.deliveries[0].state, DeliveryState::InFlight);
    }

    let again = wait_for("the lease to end after restart", PATIENCE, async || {
        let got = client.receive("jobs", &receive_request(1, 250)).await?;
        if let Some(message) = got.first() {
            assert!(
                asked_at.elapsed() >= lease,
                "redelivered after {:?}, inside its {lease:?} lease",
                asked_at.elapsed()
            );
            return Ok(Some(message.clone()));
        }
        Ok(None)
    })
    .await?;
    assert_eq!((again.id.as_str(), again.receive_count), (id.as_str(), 2));
    ack_all(client, "jobs", &[again]).await?;
    server.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn restart_keeps_dead_letters_and_delays() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("dlq")).await?;
    client
        .create_queue(&CreateQueue {
            name: "src".into(),
            max_receive_count: Some(1),
            dead_letter_queue: Some("dlq".into()),
            ..CreateQueue::default()
        })
        .await?;
    let dead_id = client.send("src", &json_message(json!("dead"))).await?;
    let got = receive_exactly(client, "src", 1).await?;
    client.nack("src", vec![receipt(&got[0])], None).await?;
    wait_until("the nacked message to reach dlq", PATIENCE, async || {
        Ok(!client.peek("dlq", 10, None).await?.is_empty())
    })
    .await?;
    let delayed_id = client
        .send("src", &json_message(json!("later")).delay_ms(600_000))
        .await?;
    let dead_before = client.message_status(&dead_id).await?;
    let delayed_before = client.message_status(&delayed_id).await?;

    let server = server.restart().await?;
    let client = &server.client;
    let dead_after = client.message_status(&dead_id).await?;
    let info = dead_after.deliveries[0]
        .dead_letter
        .clone()
        .expect("still a dead letter");
    assert_eq!(Some(&info), dead_before.deliveries[0].dead_letter.as_ref());
    assert_eq!(info.source_queue, "src");
    let delayed_after = client.message_status(&delayed_id).await?;
    assert_eq!(delayed_after.deliveries[0].state, DeliveryState::Delayed);
    assert_eq!(
        delayed_after.deliveries[0].visible_at_ms,
        delayed_before.deliveries[0].visible_at_ms
    );
    assert!(
        client
            .receive("src", &receive_request(10, 300))
            .await?
            .is_empty()
    );
    let dead = receive_exactly(client, "dlq", 1).await?;
    assert_eq!(dead[0].id, dead_id);
    assert_eq!(dead[0].dead_letter.as_ref(), Some(&info));
    server.shutdown().await;
    Ok(())
}
