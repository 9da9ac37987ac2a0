//! What a plugin makes the host hold and wait for is bounded by its own limits: its byte
//! budget (key-value writes, publications, logs), its deadline (also while blocked in the
//! host), a pool of instances that invocations wait for. Leases and effects agree: a piece
//! of a split batch runs only under a live lease, and effects commit exactly once per
//! message. Pause and shutdown are prompt and give back or finish what is in flight.

use std::collections::BTreeMap;

use anyhow::Context;

use serde_json::json;
use switchyard_client::{BatchSettings, Client};
use switchyard_tests::*;

use super::{SETTLE, consume, deploy, wait_consumer, wait_ready, wire};
use crate::SERVER_BIN;

/// `effects` → queue `effects`: where the `sleep` mode publishes each message's id.
async fn effects_sink(client: &Client) -> anyhow::Result<()> {
    client.create_topic("effects").await?;
    client.create_queue(&queue("effects")).await?;
    client.subscribe("effects", "effects", None).await?;
    Ok(())
}

/// How many effects each message id has in the `effects` queue.
async fn effects_per_message(client: &Client) -> anyhow::Result<BTreeMap<String, usize>> {
    let mut counts = BTreeMap::new();
    for message in client.peek("effects", 1000, None).await? {
        let effect: serde_json::Value = message.payload_json().context("a JSON effect")??;
        let id = effect["id"].as_str().unwrap_or_default().to_string();
        *counts.entry(id).or_default() += 1;
    }
    Ok(counts)
}

fn one_at_a_time() -> Option<BatchSettings> {
    Some(BatchSettings {
        max_messages: Some(1),
        ..Default::default()
    })
}

#[tokio::test]
async fn bombs_fault_on_their_byte_budget_commit_nothing_and_keep_memory_bounded()
-> anyhow::Result<()> {
    let (_dir, data) = temp_data_dir()?;
    let child = ChildServer::spawn(SERVER_BIN, &data).await?;
    let client = &child.client;
    wire(client, "bombs", "bombs", Some(1)).await?;
    wire(client, "bombed", "bombed", None).await?;
    wire(client, "calm", "calm", None).await?;
    deploy(client, "faulty", "faulty").await?;
    deploy(client, "ack", "ack-all").await?;
    consume(client, "bombs", "bombs", "faulty", |c| {
        c.memory_bytes = Some(16 << 20);
        c.timeout_ms = Some(60_000);
        c.batch = one_at_a_time();
    })
    .await?;
    consume(client, "calm", "calm", "ack", |_| {}).await?;
    for command in [
        json!({"mode": "kv-bomb"}),
        json!({"mode": "publish-bomb", "topic": "bombed"}),
    ] {
        client.publish("bombs", &json_message(command)).await?;
    }
    for n in 0..5 {
        client
            .publish("calm", &json_message(json!({ "n": n })))
            .await?;
    }
    let dead = wait_ready(client, "bombs-dlq", 2).await?;
    for message in &dead {
        let reason = &message.dead_letter.as_ref().expect("a dead letter").reason;
        assert!(
            reason.starts_with("plugin budget fault on delivery 1"),
            "{reason}"
        );
        assert!(reason.contains("budget of 16777216 bytes"), "{reason}");
        let written = client
            .plugin_kv("faulty", &format!("bomb:{}:0", message.id))
            .await;
        assert_api_error(written, 404, "key_not_found");
    }
    let bombs = client.get_consumer("bombs").await?;
    assert_eq!(
        bombs.stats.faults.get("budget"),
        Some(&2),
        "{:?}",
        bombs.stats
    );
    let bombed = client.get_queue("bombed").await?.stats.expect("stats");
    assert_eq!(
        (bombed.ready, bombed.delayed, bombed.in_flight),
        (0, 0, 0),
        "nothing a faulted invocation published was committed"
    );
    wait_consumer(client, "calm", "5 acks", |c| c.stats.acked == 5).await?;
    // Without a budget the key-value bomb alone makes the host buffer 10 000 MiB.
    let peak = child.peak_rss_bytes()?;
    assert!(peak < 1 << 30, "peak resident memory {} MiB", peak >> 20);
    Ok(())
}

#[tokio::test]
async fn a_chatty_plugin_acks_with_its_logs_capped() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    wire(client, "chatty", "chatty", Some(1)).await?;
    deploy(client, "faulty", "faulty").await?;
    consume(client, "chatty", "chatty", "faulty", |_| {}).await?;
    let command = json!({"mode": "log-bomb", "lines": 20_000});
    client.publish("chatty", &json_message(command)).await?;
    let chatty = wait_consumer(client, "chatty", "the ack", |c| c.stats.acked == 1).await?;
    assert!(chatty.stats.faults.is_empty(), "{:?}", chatty.stats);
    let logs = client.consumer_logs("chatty", None).await?;
    assert!(logs.len() <= 201, "{} lines kept", logs.len());
    let note = logs.iter().find(|l| l.text.contains("were dropped"));
    let note = note.expect("a note of what was dropped");
    let dropped_lines: usize = note.text.split(' ').next().unwrap_or("").parse()?;
    assert!(
        dropped_lines > 19_800 && note.text.contains("bytes of stdout/stderr"),
        "the logged lines past the cap and the stdio lines past its cap: {}",
        note.text
    );
    Ok(())
}

#[tokio::test]
async fn sleeping_or_waiting_on_http_in_the_host_ends_at_the_deadline() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    // A host that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let authority = silent.local_addr()?.to_string();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    wire(client, "stuck", "stuck", Some(1)).await?;
    deploy(client, "faulty", "faulty").await?;
    consume(client, "stuck", "stuck", "faulty", |c| {
        c.timeout_ms = Some(500);
        c.concurrency = Some(2);
        c.batch = one_at_a_time();
        c.allowed_hosts = vec![format!("http://{authority}")];
    })
    .await?;
    let url = format!("http://{authority}/never");
    for command in [
        json!({"mode": "sleep"}),
        json!({"mode": "slow-http", "url": url}),
    ] {
        client.publish("stuck", &json_message(command)).await?;
    }
    // The sleep is 120 s and the HTTP client's own timeouts 600 s; PATIENCE is far less.
    let dead = wait_ready(client, "stuck-dlq", 2).await?;
    for message in &dead {
        let reason = &message.dead_letter.as_ref().expect("a dead letter").reason;
        assert!(
            reason.starts_with("plugin deadline fault on delivery 1")
                && reason.contains("deadline of 500 ms"),
            "{reason}"
        );
    }
    holder.abort();
    Ok(())
}

#[tokio::test]
async fn more_invocations_than_instances_wait_for_one() -> anyhow::Result<()> {
    let server = TestServer::start_with(|config| config.max_plugin_instances = 1).await?;
    let client = &server.client;
    deploy(client, "faulty", "faulty").await?;
    for name in ["left", "right"] {
        wire(client, name, name, Some(1)).await?;
        consume(client, name, name, "faulty", |c| {
            c.concurrency = Some(2);
            c.batch = one_at_a_time();
        })
        .await?;
        for _ in 0..4 {
            let command = json!({"mode": "sleep", "ms": 100});
            client.publish(name, &json_message(command)).await?;
        }
    }
    for name in ["left", "right"] {
        let consumer = wait_consumer(client, name, "4 acks", |c| c.stats.acked == 4).await?;
        assert!(consumer.stats.faults.is_empty(), "{:?}", consumer.stats);
        assert_eq!(consumer.stats.last_error, None, "{:?}", consumer.stats);
        assert_eq!(consumer.stats.peak_in_flight, 2, "both workers ran");
    }
    Ok(())
}

#[tokio::test]
async fn a_split_batch_runs_each_piece_under_a_live_lease_and_effects_land_once()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    effects_sink(client).await?;
    wire(client, "slow", "slow", None).await?;
    deploy(client, "faulty", "faulty").await?;
    // Fifteen pieces of 0.8 s in one lease of max_wait + timeout + 10 s = 11 s: the last
    // pieces would run after their lease ended, while the second worker holds them too.
    let command = json!({"mode": "sleep", "ms": 800, "topic": "effects"});
    for _ in 0..15 {
        client
            .publish("slow", &json_message(command.clone()))
            .await?;
    }
    consume(client, "slow", "slow", "faulty", |c| {
        c.concurrency = Some(2);
        c.timeout_ms = Some(1_000);
        c.batch = Some(BatchSettings {
            max_messages: Some(15),
            max_bytes: Some(1),
            ..Default::default()
        });
    })
    .await?;
    wait_consumer(client, "slow", "15 acks, nothing in flight", |c| {
        c.stats.acked == 15 && c.stats.in_flight == 0
    })
    .await?;
    let counts = effects_per_message(client).await?;
    assert_eq!(counts.len(), 15, "{counts:?}");
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    let slow = client.get_queue("slow").await?.stats.expect("stats");
    assert_eq!((slow.ready, slow.in_flight, slow.delayed), (0, 0, 0));
    Ok(())
}

#[tokio::test]
async fn a_pause_during_a_window_leases_nothing_and_a_resume_forms_the_batch() -> anyhow::Result<()>
{
    let server = TestServer::start().await?;
    let client = &server.client;
    wire(client, "gathered", "gathered", Some(3)).await?;
    deploy(client, "ack", "ack-all").await?;
    consume(client, "gathered", "gathered", "ack", |c| {
        c.batch = Some(BatchSettings {
            max_messages: Some(100),
            max_wait_ms: Some(60_000),
            ..Default::default()
        });
    })
    .await?;
    client
        .publish("gathered", &json_message(json!({"n": 1})))
        .await?;
    client.pause_consumer("gathered").await?;
    // With the window gone, a running consumer would take it at once; a paused one not.
    let patch = switchyard_client::PatchConsumer {
        batch: Some(BatchSettings {
            max_wait_ms: Some(0),
            ..Default::default()
        }),
        ..Default::default()
    };
    client.patch_consumer("gathered", &patch).await?;
    tokio::time::sleep(SETTLE).await;
    let waiting = wait_ready(client, "gathered", 1).await?;
    assert_eq!(waiting[0].receive_count, 0, "never leased");
    let stats = client.get_queue("gathered").await?.stats.expect("stats");
    assert_eq!(stats.in_flight, 0, "{stats:?}");
    client.resume_consumer("gathered").await?;
    let consumer = wait_consumer(client, "gathered", "the ack", |c| c.stats.acked == 1).await?;
    assert_eq!(consumer.stats.invocations, 1, "{:?}", consumer.stats);
    Ok(())
}

#[tokio::test]
async fn shutdown_waits_for_an_invocation_in_flight() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    effects_sink(client).await?;
    wire(client, "busy", "busy", None).await?;
    deploy(client, "faulty", "faulty").await?;
    consume(client, "busy", "busy", "faulty", |c| {
        c.batch = one_at_a_time()
    })
    .await?;
    let command = json!({"mode": "sleep", "ms": 1_500, "topic": "effects"});
    client.publish("busy", &json_message(command)).await?;
    wait_consumer(client, "busy", "the invocation in flight", |c| {
        c.stats.in_flight == 1
    })
    .await?;
    let server = server.restart().await?;
    let client = &server.client;
    let busy = client.get_queue("busy").await?.stats.expect("stats");
    assert_eq!(
        (busy.ready, busy.in_flight, busy.delayed),
        (0, 0, 0),
        "the invocation finished and its ack committed before storage closed"
    );
    let counts = effects_per_message(client).await?;
    assert_eq!(
        counts.values().copied().collect::<Vec<_>>(),
        [1],
        "{counts:?}"
    );
    Ok(())
}
