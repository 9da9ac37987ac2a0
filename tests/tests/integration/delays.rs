//! Delays: a queue's delay, a message's own delay and a nack's delay each hide a message
//! (state `delayed`) until they pass. Checked without timing assertions: a message may
//! never show up before its delay has passed (a lower bound measured from before the
//! request), and it must show up within a bounded wait after.

use std::time::{Duration, Instant};

use serde_json::json;
use switchyard_client::{Client, CreateQueue, DeliveryState, Message};
use switchyard_tests::*;

/// Slack for the server's whole-millisecond clock.
const ROUNDING: Duration = Duration::from_millis(5);

/// Receives `id` from `queue`, checking on every attempt that it does not appear before
/// `delay` has passed since `since`.
async fn receive_after_delay(
    client: &Client,
    queue: &str,
    id: &str,
    since: Instant,
    delay: Duration,
) -> anyhow::Result<Message> {
    wait_for(
        &format!("{id} to become visible in {queue}"),
        PATIENCE,
        async || {
            let got = client.receive(queue, &receive_request(10, 250)).await?;
            if got.is_empty() {
                return Ok(None);
            }
            assert!(
                since.elapsed() + ROUNDING >= delay,
                "visible after {:?}, before its {delay:?} delay",
                since.elapsed()
            );
            assert_eq!(got.len(), 1, "only one message was sent: {got:?}");
            assert_eq!(got[0].id, id);
            Ok(Some(got.into_iter().next().unwrap()))
        },
    )
    .await
}

#[tokio::test]
async fn queue_delay_hides_new_messages_until_it_passes() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let delay = Duration::from_millis(1500);
    let created = client
        .create_queue(&CreateQueue {
            name: "cooling".into(),
            delay_ms: Some(delay.as_millis() as u64),
            ..CreateQueue::default()
        })
        .await?;
    assert_eq!(created.delay_ms, 1500);

    let sent_at = Instant::now();
    let id = client
        .send("cooling", &json_message(json!("wait for it")))
        .await?;
    let status = client.message_status(&id).await?;
    let delivery = &status.deliveries[0];
    assert!(
        delivery.visible_at_ms >= status.published_at_ms + 1500,
        "visible at {} but published at {}",
        delivery.visible_at_ms,
        status.published_at_ms
    );
    if sent_at.elapsed() < delay {
        assert_eq!(delivery.state, DeliveryState::Delayed);
        let stats = client.get_queue("cooling").await?.stats.expect("stats");
        if sent_at.elapsed() < delay {
            assert_eq!((stats.ready, stats.delayed), (0, 1));
        }
    }
    let got = receive_after_delay(client, "cooling", &id, sent_at, delay).await?;
    assert_eq!(got.receive_count, 1);
    Ok(())
}

#[tokio::test]
async fn queue_delay_applies_to_fan_out_only_in_that_queue() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_topic("t").await?;
    client
        .create_queue(&CreateQueue {
            name: "slow".into(),
            delay_ms: Some(600_000),
            ..CreateQueue::default()
        })
        .await?;
    client.create_queue(&queue("fast")).await?;
    client.subscribe("t", "slow", None).await?;
    client.subscribe("t", "fast", None).await?;
    let id = client.publish("t", &json_message(json!(1))).await?;

    let fast = receive_exactly(client, "fast", 1).await?;
    assert_eq!(fast[0].id, id);
    assert!(
        client
            .receive("slow", &receive_request(10, 300))
            .await?
            .is_empty()
    );
    let status = client.message_status(&id).await?;
    let slow = status
        .deliveries
        .iter()
        .find(|d| d.queue == "slow")
        .expect("slow holds it");
    assert_eq!(slow.state, DeliveryState::Delayed);
    Ok(())
}

#[tokio::test]
async fn message_delay_hides_only_that_message() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("mixed")).await?;
    let delay = Duration::from_millis(1500);
    let sent_at = Instant::now();
    let late = client
        .send(
            "mixed",
            &json_message(json!("late")).delay_ms(delay.as_millis() as u64),
        )
        .await?;
    let now = client.send("mixed", &json_message(json!("now"))).await?;

    let first = client.receive("mixed", &receive_request(10, 1000)).await?;
    let ids: Vec<&str> = first.iter().map(|m| m.id.as_str()).collect();
    if sent_at.elapsed() < delay {
        assert_eq!(
            ids,
            [now.as_str()],
            "the delayed message was handed out early"
        );
        let peeked = client.peek("mixed", 10, None).await?;
        let late_state = peeked.iter().find(|m| m.id == late).and_then(|m| m.state);
        if sent_at.elapsed() < delay {
            assert_eq!(late_state, Some(DeliveryState::Delayed));
        }
    }
    if !ids.contains(&late.as_str()) {
        receive_after_delay(client, "mixed", &late, sent_at, delay).await?;
    }
    Ok(())
}

#[tokio::test]
async fn nack_with_delay_hides_the_message_until_the_delay_passes() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("backoff")).await?; // 30 s leases
    let id = client
        .send("backoff", &json_message(json!("flaky")))
        .await?;
    let first = receive_exactly(client, "backoff", 1).await?.remove(0);

    let delay = Duration::from_millis(1500);
    let nacked_at = Instant::now();
    let answer = client
        .nack(
            "backoff",
            vec![receipt(&first)],
            Some(delay.as_millis() as u64),
        )
        .await?;
    assert_eq!((answer.nacked, answer.failed.len()), (1, 0));
    let status = client.message_status(&id).await?;
    if nacked_at.elapsed() < delay {
        assert_eq!(status.deliveries[0].state, DeliveryState::Delayed);
    }
    let second = receive_after_delay(client, "backoff", &id, nacked_at, delay).await?;
    assert_eq!(second.receive_count, 2);
    Ok(())
}

#[tokio::test]
async fn long_delay_keeps_a_message_out_of_receives() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("tomorrow")).await?;
    let id = client
        .send("tomorrow", &json_message(json!("later")).delay_ms(600_000))
        .await?;
    assert!(
        client
            .receive("tomorrow", &receive_request(10, 500))
            .await?
            .is_empty()
    );
    let peeked = client.peek("tomorrow", 10, None).await?;
    assert_eq!(peeked.len(), 1);
    assert_eq!(
        (peeked[0].id.as_str(), peeked[0].state),
        (id.as_str(), Some(DeliveryState::Delayed))
    );
    assert_eq!(peeked[0].receive_count, 0, "never delivered yet");
    Ok(())
}

#[tokio::test]
async fn messages_past_retention_are_dropped() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let created = client
        .create_queue(&CreateQueue {
            name: "ephemeral".into(),
            retention_ms: Some(1000),
            ..CreateQueue::default()
        })
        .await?;
    assert_eq!(created.retention_ms, 1000);
    let sent_at = Instant::now();
    let id = client
        .send("ephemeral", &json_message(json!("short-lived")))
        .await?;
    wait_until("the message to pass its retention", PATIENCE, async || {
        Ok(client.peek("ephemeral", 10, None).await?.is_empty())
    })
    .await?;
    assert!(
        sent_at.elapsed() + ROUNDING >= Duration::from_millis(1000),
        "dropped after {:?}, inside its 1 s retention",
        sent_at.elapsed()
    );
    // The drop leaves memory first; its status record lands with the commit that follows.
    wait_until(
        "the expiry to show in the message's status",
        PATIENCE,
        async || {
            Ok(match client.message_status(&id).await {
                Ok(status) => {
                    states(&status) == [("ephemeral".to_string(), DeliveryState::Expired)]
                }
                Err(e) if e.code() == Some("message_not_found") => false,
                Err(e) => return Err(e.into()),
            })
        },
    )
    .await?;
    assert!(
        client
            .receive("ephemeral", &receive_request(10, 0))
            .await?
            .is_empty()
    );
    Ok(())
}

#[tokio::test]
async fn a_message_delay_replaces_its_queues_delay() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client
        .create_queue(&CreateQueue {
            name: "slow".into(),
            delay_ms: Some(600_000),
            ..CreateQueue::default()
        })
        .await?;
    let waits = client
        .send("slow", &json_message(json!("queue delay")))
        .await?;
    let now = client
        .send("slow", &json_message(json!("no delay")).delay_ms(0))
        .await?;

    let got = receive_exactly(client, "slow", 1).await?;
    assert_eq!(got[0].id, now, "delay_ms 0 overrides the queue's 600 s");
    let status = client.message_status(&waits).await?;
    assert_eq!(status.deliveries[0].state, DeliveryState::Delayed);
    Ok(())
}
