//! Receiving with leases: a received message is invisible until it is acked, nacked or its
//! lease ends; an ended lease redelivers with a higher receive count; extend prolongs it;
//! long polling hands over a message that arrives during the wait. No timings are asserted:
//! waits are bounded polls, and "not before" checks only compare against a lower bound.

use std::time::{Duration, Instant};

use serde_json::json;
use switchyard_client::{CreateQueue, DeliveryState, ReceiveRequest};
use switchyard_tests::*;

fn short_lease_queue(name: &str, visibility_timeout_ms: u64) -> CreateQueue {
    CreateQueue {
        name: name.into(),
        visibility_timeout_ms: Some(visibility_timeout_ms),
        ..CreateQueue::default()
    }
}

#[tokio::test]
async fn expired_lease_redelivers_with_higher_receive_count() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&short_lease_queue("jobs", 300)).await?;
    let id = client
        .send("jobs", &json_message(json!({"job": 1})))
        .await?;

    let first = receive_exactly(client, "jobs", 1).await?.remove(0);
    assert_eq!((first.id.as_str(), first.receive_count), (id.as_str(), 1));

    // Not acked: once the lease ends it comes back, counted as a second delivery.
    let second = receive_exactly(client, "jobs", 1).await?.remove(0);
    assert_eq!(second.id, id);
    assert_eq!(second.receive_count, 2);
    assert_ne!(
        second.receipt, first.receipt,
        "a new delivery has a new receipt"
    );
    assert_eq!(payload(&second), json!({"job": 1}));

    let third = receive_exactly(client, "jobs", 1).await?.remove(0);
    assert_eq!(third.receive_count, 3);
    ack_all(client, "jobs", &[third]).await?;
    assert!(drain(client, "jobs").await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn receive_can_choose_a_shorter_lease_than_the_queue_default() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("default-lease")).await?; // 30 s
    let id = client
        .send("default-lease", &json_message(json!(1)))
        .await?;
    let request = ReceiveRequest {
        max_messages: Some(1),
        wait_ms: Some(1000),
        visibility_timeout_ms: Some(300),
    };
    let first = client.receive("default-lease", &request).await?;
    assert_eq!(first.len(), 1);
    let again = receive_exactly(client, "default-lease", 1).await?.remove(0);
    assert_eq!((again.id.as_str(), again.receive_count), (id.as_str(), 2));
    Ok(())
}

#[tokio::test]
async fn leased_message_is_invisible_to_other_receivers() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("work")).await?; // 30 s leases
    client
        .send("work", &json_message(json!("only one")))
        .await?;
    let held = receive_exactly(client, "work", 1).await?;
    let others = client.receive("work", &receive_request(10, 300)).await?;
    assert!(
        others.is_empty(),
        "a leased message was handed out twice: {others:?}"
    );
    let stats = client.get_queue("work").await?.stats.expect("stats");
    assert_eq!((stats.ready, stats.in_flight, stats.delayed), (0, 1, 0));
    let status = client.message_status(&held[0].id).await?;
    assert_eq!(status.deliveries[0].state, DeliveryState::InFlight);
    assert_eq!(status.deliveries[0].receive_count, 1);
    Ok(())
}

#[tokio::test]
async fn acked_message_never_comes_back() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&short_lease_queue("once", 200)).await?;
    let id = client.send("once", &json_message(json!("x"))).await?;
    let received = receive_exactly(client, "once", 1).await?;
    ack_all(client, "once", &received).await?;
    // Well past the 200 ms lease: nothing is redelivered.
    let later = client.receive("once", &receive_request(10, 1500)).await?;
    assert!(later.is_empty(), "an acked message came back: {later:?}");
    let status = client.message_status(&id).await?;
    assert_eq!(
        states(&status),
        [("once".to_string(), DeliveryState::Acked)]
    );
    assert!(drain(client, "once").await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn receive_returns_at_most_max_messages() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("many")).await?;
    for n in 0..7 {
        client.send("many", &json_message(json!(n))).await?;
    }
    let three = client.receive("many", &receive_request(3, 1000)).await?;
    assert!(!three.is_empty() && three.len() <= 3, "got {}", three.len());
    let rest = receive_exactly(client, "many", 7 - three.len()).await?;
    let mut all = three;
    all.extend(rest);
    assert_eq!(distinct_ids(&all).len(), 7);
    Ok(())
}

#[tokio::test]
async fn nack_without_delay_makes_the_message_visible_again() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("retry")).await?; // 30 s leases: only the nack frees it
    let id = client.send("retry", &json_message(json!("again"))).await?;
    let first = receive_exactly(client, "retry", 1).await?.remove(0);
    let answer = client.nack("retry", vec![receipt(&first)], None).await?;
    assert_eq!(answer.nacked, 1);
    assert!(answer.failed.is_empty());
    let second = receive_exactly(client, "retry", 1).await?.remove(0);
    assert_eq!((second.id.as_str(), second.receive_count), (id.as_str(), 2));
    Ok(())
}

#[tokio::test]
async fn extend_keeps_the_message_invisible_past_its_first_lease() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("slow-work")).await?;
    let id = client
        .send("slow-work", &json_message(json!("big job")))
        .await?;
    let lease = Duration::from_millis(2500);
    let request = ReceiveRequest {
        max_messages: Some(1),
        wait_ms: Some(1000),
        visibility_timeout_ms: Some(lease.as_millis() as u64),
    };
    let received = client.receive("slow-work", &request).await?;
    assert_eq!(received.len(), 1);
    let received_at = Instant::now();

    let before = now_ms();
    let extended = client
        .extend("slow-work", &receipt(&received[0]), 60_000)
        .await?;
    assert!(
        extended.visible_at_ms >= before + 60_000,
        "extend to 60 s says the lease ends at {} (asked at {before})",
        extended.visible_at_ms
    );

    // Wait until the first lease would surely have ended, then look.
    tokio::time::sleep((lease + Duration::from_millis(500)).saturating_sub(received_at.elapsed()))
        .await;
    let others = client
        .receive("slow-work", &receive_request(1, 500))
        .await?;
    assert!(
        others.is_empty(),
        "an extended lease ended early: {others:?}"
    );
    let status = client.message_status(&id).await?;
    assert_eq!(status.deliveries[0].state, DeliveryState::InFlight);
    assert_eq!(status.deliveries[0].visible_at_ms, extended.visible_at_ms);

    // The receipt still works after the extension.
    ack_all(client, "slow-work", &received).await?;
    Ok(())
}

#[tokio::test]
async fn extend_to_zero_makes_the_message_visible_at_once() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("give-back")).await?; // 30 s leases
    let id = client.send("give-back", &json_message(json!(0))).await?;
    let first = receive_exactly(client, "give-back", 1).await?.remove(0);
    client.extend("give-back", &receipt(&first), 0).await?;
    let second = receive_exactly(client, "give-back", 1).await?.remove(0);
    assert_eq!((second.id.as_str(), second.receive_count), (id.as_str(), 2));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_hands_over_a_message_published_during_the_wait() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = server.client.clone();
    client.create_topic("pings").await?;
    client.create_queue(&queue("listener")).await?;
    client.subscribe("pings", "listener", None).await?;

    let waiting = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .receive("listener", &receive_request(10, 15_000))
                .await
        }
    });
    // Let the receive start waiting, then publish.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = client
        .publish("pings", &json_message(json!("ping")))
        .await?;
    let received = waiting.await??;
    assert_eq!(
        received.len(),
        1,
        "the waiting receive did not get the message"
    );
    assert_eq!(received[0].id, id);
    assert_eq!(received[0].receive_count, 1);
    Ok(())
}

#[tokio::test]
async fn long_poll_on_an_empty_queue_returns_no_messages() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("quiet")).await?;
    let received = client.receive("quiet", &receive_request(10, 200)).await?;
    assert!(received.is_empty());
    let received = client.receive("quiet", &receive_request(10, 0)).await?;
    assert!(received.is_empty());
    Ok(())
}

#[tokio::test]
async fn peek_shows_messages_and_their_state_without_leasing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("browse")).await?;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(client.send("browse", &json_message(json!(n))).await?);
    }
    let held = client.receive("browse", &receive_request(1, 1000)).await?;
    assert_eq!(held.len(), 1);

    let peeked = client.peek("browse", 10, None).await?;
    assert_eq!(
        peeked.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
        ids,
        "peek is in id order"
    );
    for message in &peeked {
        assert!(message.receipt.is_none(), "peek must not hand out receipts");
        let want = if message.id == held[0].id {
            DeliveryState::InFlight
        } else {
            DeliveryState::Ready
        };
        assert_eq!(message.state, Some(want), "state of {}", message.id);
    }
    let page = client.peek("browse", 1, Some(&ids[0])).await?;
    assert_eq!(
        page.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
        [ids[1].clone()]
    );

    // Peeking leased nothing: the two others are still receivable, first delivery.
    let rest = receive_exactly(client, "browse", 2).await?;
    assert!(
        rest.iter()
            .all(|m| m.receive_count == 1 && m.id != held[0].id)
    );
    Ok(())
}

#[tokio::test]
async fn queue_stats_count_ready_in_flight_and_delayed() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("counted")).await?;
    for n in 0..3 {
        client.send("counted", &json_message(json!(n))).await?;
    }
    client
        .send("counted", &json_message(json!("later")).delay_ms(600_000))
        .await?;
    let held = client.receive("counted", &receive_request(1, 1000)).await?;
    assert_eq!(held.len(), 1);

    let stats = client
        .get_queue("counted")
        .await?
        .stats
        .expect("GET queue has stats");
    assert_eq!((stats.ready, stats.in_flight, stats.delayed), (2, 1, 1));
    assert!(
        stats.oldest_age_ms.is_some(),
        "a non-empty queue has an oldest age"
    );

    let purged = client.purge("counted").await?;
    assert_eq!(purged, 4);
    let stats = client.get_queue("counted").await?.stats.expect("stats");
    assert_eq!((stats.ready, stats.in_flight, stats.delayed), (0, 0, 0));
    assert_eq!(
        stats.oldest_age_ms, None,
        "an empty queue has no oldest age"
    );
    Ok(())
}
