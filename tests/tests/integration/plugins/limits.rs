//! A misbehaving plugin costs only its own invocation: an endless loop hits its deadline
//! (or its fuel budget), a memory bomb its cap, a panic traps; each is retried with the fault recorded and
//! dead-lettered after `max_receive_count`, while other consumers keep working. Outbound
//! HTTP reaches only allowed hosts. Batching by count and by wait; the concurrency cap.

use serde_json::json;
use switchyard_tests::*;

use super::{consume, deploy, wait_consumer, wait_ready, wire};

#[tokio::test]
async fn loops_memory_bombs_and_panics_fault_and_dead_letter_while_others_keep_working()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    wire(client, "chaos", "faulty", Some(2)).await?;
    wire(client, "signups", "analytics", None).await?;
    deploy(client, "faulty", "faulty").await?;
    deploy(client, "analytics", "signup-analytics").await?;
    consume(client, "faulty", "faulty", "faulty", |c| {
        c.timeout_ms = Some(500);
        c.memory_bytes = Some(16 << 20);
        c.concurrency = Some(3);
        c.batch = Some(switchyard_client::BatchSettings {
            max_messages: Some(1),
            ..Default::default()
        });
    })
    .await?;
    consume(client, "analytics", "analytics", "analytics", |_| {}).await?;
    for mode in ["loop", "oom", "panic"] {
        client
            .publish("chaos", &json_message(json!({ "mode": mode })))
            .await?;
    }
    for _ in 0..5 {
        client
            .publish(
                "signups",
                &json_message(json!({})).attribute("kind", "signup"),
            )
            .await?;
    }
    let dead = wait_ready(client, "faulty-dlq", 3).await?;
    let mut reasons: Vec<String> = dead
        .iter()
        .map(|m| {
            m.dead_letter
                .as_ref()
                .expect("a dead letter")
                .reason
                .clone()
        })
        .collect();
    reasons.sort();
    assert!(
        reasons[0].starts_with("plugin deadline fault on delivery 2"),
        "{reasons:?}"
    );
    assert!(reasons[0].contains("deadline of 500 ms"), "{reasons:?}");
    assert!(
        reasons[1].starts_with("plugin memory fault on delivery 2"),
        "{reasons:?}"
    );
    assert!(
        reasons[2].starts_with("plugin panic fault on delivery 2"),
        "{reasons:?}"
    );
    assert!(reasons[2].contains("panicked at"), "{reasons:?}");
    let faulty = client.get_consumer("faulty").await?;
    for kind in ["deadline", "memory", "panic"] {
        assert_eq!(
            faulty.stats.faults.get(kind),
            Some(&2),
            "{:?}",
            faulty.stats
        );
    }
    assert!(faulty.stats.last_error.is_some());
    wait_consumer(client, "analytics", "5 acks", |c| c.stats.acked == 5).await?;
    assert_eq!(
        client
            .plugin_kv("analytics", "count:signup")
            .await?
            .value
            .as_deref(),
        Some("5")
    );
    assert_still_serving(client).await
}

#[tokio::test]
async fn fuel_stops_a_loop_long_before_its_deadline_and_can_be_lifted() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    wire(client, "metered", "metered", Some(1)).await?;
    deploy(client, "faulty", "faulty").await?;
    // Out-of-range budgets are refused and create nothing.
    let refused = consume(client, "metered", "metered", "faulty", |c| c.fuel = Some(0)).await;
    assert_api_error(refused, 400, "invalid_setting");
    assert!(client.list_consumers().await?.is_empty());

    let consumer = consume(client, "metered", "metered", "faulty", |c| {
        c.fuel = Some(2_000_000);
        c.timeout_ms = Some(600_000);
    })
    .await?;
    assert_eq!(consumer.fuel, Some(2_000_000));
    // An ordinary message fits in the budget; an endless loop runs out of fuel, not time.
    client
        .publish("metered", &json_message(json!({"mode": "ok"})))
        .await?;
    client
        .publish("metered", &json_message(json!({"mode": "loop"})))
        .await?;
    let dead = wait_ready(client, "metered-dlq", 1).await?;
    let reason = &dead[0].dead_letter.as_ref().expect("a dead letter").reason;
    assert!(
        reason.starts_with("plugin fuel fault on delivery 1: used up its fuel of 2000000"),
        "{reason}"
    );
    let consumer = client.get_consumer("metered").await?;
    assert_eq!(
        (consumer.stats.acked, consumer.stats.faults.get("fuel")),
        (1, Some(&1)),
        "{:?}",
        consumer.stats
    );

    // `null` lifts the limit; the setting survives a restart.
    let patch = switchyard_client::PatchConsumer {
        fuel: Some(None),
        ..Default::default()
    };
    assert_eq!(client.patch_consumer("metered", &patch).await?.fuel, None);
    let patch = switchyard_client::PatchConsumer {
        fuel: Some(Some(5_000_000)),
        ..Default::default()
    };
    client.patch_consumer("metered", &patch).await?;
    let server = server.restart().await?;
    assert_eq!(
        server.client.get_consumer("metered").await?.fuel,
        Some(5_000_000)
    );
    assert_still_serving(&server.client).await
}

#[tokio::test]
async fn outbound_http_reaches_only_allowed_hosts() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let sink = HttpSink::start(vec![]).await?;
    wire(client, "denied", "denied", Some(1)).await?;
    wire(client, "allowed", "allowed", Some(1)).await?;
    deploy(client, "faulty", "faulty").await?;
    // The sink's host and port, but another scheme: not its origin.
    consume(client, "denied", "denied", "faulty", |c| {
        c.allowed_hosts = vec![
            format!("https://{}", sink.authority),
            "http://example.com".into(),
        ];
    })
    .await?;
    consume(client, "allowed", "allowed", "faulty", |c| {
        c.allowed_hosts = vec![sink.origin()];
    })
    .await?;
    let request = json!({ "mode": "forbidden-http", "url": sink.url("/hook") });
    client
        .publish("denied", &json_message(request.clone()))
        .await?;
    client.publish("allowed", &json_message(request)).await?;

    let dead = wait_ready(client, "denied-dlq", 1).await?;
    let reason = &dead[0].dead_letter.as_ref().expect("a dead letter").reason;
    assert!(reason.contains("http_denied"), "{reason}");
    let logs = client.consumer_logs("denied", None).await?;
    assert!(
        logs.iter()
            .any(|l| l.level == "error" && l.text.contains(&sink.authority)),
        "the denial is logged: {logs:?}"
    );
    wait_consumer(client, "allowed", "the allowed call's ack", |c| {
        c.stats.acked == 1
    })
    .await?;
    let requests = sink.requests();
    assert_eq!(
        requests.len(),
        1,
        "only the allowed consumer reached the sink"
    );
    assert_eq!(
        (requests[0].method.as_str(), requests[0].path.as_str()),
        ("GET", "/hook")
    );
    Ok(())
}

#[tokio::test]
async fn batches_fill_by_count_and_by_wait_within_the_concurrency_cap() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    deploy(client, "ack", "ack-all").await?;
    deploy(client, "faulty", "faulty").await?;

    // By count: 10 waiting messages, at most 4 per invocation.
    wire(client, "counted", "counted", None).await?;
    for n in 0..10 {
        client
            .publish("counted", &json_message(json!({ "n": n })))
            .await?;
    }
    consume(client, "counted", "counted", "ack", |c| {
        c.batch = Some(switchyard_client::BatchSettings {
            max_messages: Some(4),
            ..Default::default()
        });
    })
    .await?;
    let counted = wait_consumer(client, "counted", "10 acks", |c| c.stats.acked == 10).await?;
    assert_eq!(
        counted.stats.invocations, 3,
        "4 + 4 + 2: {:?}",
        counted.stats
    );

    // By wait: three messages trickling in within the window make one invocation.
    wire(client, "windowed", "windowed", None).await?;
    consume(client, "windowed", "windowed", "ack", |c| {
        c.batch = Some(switchyard_client::BatchSettings {
            max_messages: Some(100),
            max_wait_ms: Some(3_000),
            ..Default::default()
        });
    })
    .await?;
    for n in 0..3 {
        client
            .publish("windowed", &json_message(json!({ "n": n })))
            .await?;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let windowed = wait_consumer(client, "windowed", "3 acks", |c| c.stats.acked == 3).await?;
    assert_eq!(windowed.stats.invocations, 1, "{:?}", windowed.stats);

    // Concurrency: six slow invocations, never more than two at once.
    wire(client, "slow", "slow", None).await?;
    consume(client, "slow", "slow", "faulty", |c| {
        c.concurrency = Some(2);
        c.timeout_ms = Some(300);
        c.batch = Some(switchyard_client::BatchSettings {
            max_messages: Some(1),
            ..Default::default()
        });
    })
    .await?;
    for _ in 0..6 {
        client
            .publish("slow", &json_message(json!({ "mode": "loop" })))
            .await?;
    }
    let slow = wait_consumer(client, "slow", "six deadline faults", |c| {
        c.stats.faults.get("deadline").copied().unwrap_or(0) >= 6
    })
    .await?;
    assert_eq!(slow.stats.peak_in_flight, 2, "{:?}", slow.stats);
    Ok(())
}
