//! Crash safety: `kill -9` the server (a child process) while clients publish or ack, start
//! it again on the same data directory, and check that no answered publish and no answered
//! ack was lost. Requests that got no answer may or may not have taken effect, but never
//! twice.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;
use switchyard_client::{ClientError, PublishBatch};
use switchyard_tests::*;

use crate::SERVER_BIN;

const PUBLISHERS: u64 = 8;
const CONSUMERS: usize = 4;

/// What the crashed server may have lost: the calls that were cut off by the kill.
fn cut_off_by_kill(error: &ClientError, killed: &AtomicBool) -> bool {
    killed.load(Ordering::SeqCst) && !matches!(error, ClientError::Api { .. })
}

/// Waits until `count` reaches `target` (or a bounded time passes), so the kill lands in the
/// middle of the traffic.
async fn until_busy(count: &AtomicUsize, target: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while count.load(Ordering::SeqCst) < target && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    if count.load(Ordering::SeqCst) == 0 {
        bail!("nothing was answered in 20 s before the kill");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_concurrent_publishes_loses_no_acknowledged_message() -> anyhow::Result<()> {
    let (_dir, data) = temp_data_dir()?;
    let child = ChildServer::spawn(SERVER_BIN, &data).await?;
    let url = child.url().to_string();
    child.client.create_topic("events").await?;
    for name in ["copy-a", "copy-b"] {
        child.client.create_queue(&queue(name)).await?;
        child.client.subscribe("events", name, None).await?;
    }

    // Each publisher sends payloads {"publisher": p, "seq": s}, each (p, s) once, as single
    // publishes and batches of 10, and records the ids the server acknowledged.
    let killed = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let acknowledged: Arc<Mutex<BTreeMap<String, (u64, u64)>>> = Arc::default();
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            let client = switchyard_tests::admin_client(url.clone());
            let (killed, answered, acknowledged) =
                (killed.clone(), answered.clone(), acknowledged.clone());
            tokio::spawn(async move {
                let mut seq = 0u64;
                for round in 0..5_000u64 {
                    let seqs: Vec<u64> = if round % 3 == 2 {
                        (seq..seq + 10).collect()
                    } else {
                        vec![seq]
                    };
                    seq += seqs.len() as u64;
                    let bodies: Vec<_> = seqs
                        .iter()
                        .map(|s| json_message(json!({"publisher": p, "seq": s})))
                        .collect();
                    let result = if bodies.len() == 1 {
                        client
                            .publish("events", &bodies[0])
                            .await
                            .map(|id| vec![id])
                    } else {
                        let batch = PublishBatch { messages: bodies };
                        client.publish_batch("events", &batch).await
                    };
                    match result {
                        Ok(ids) => {
                            assert_eq!(ids.len(), seqs.len(), "one id per message");
                            let mut acknowledged = acknowledged.lock().unwrap();
                            for (id, s) in ids.into_iter().zip(seqs) {
                                assert!(acknowledged.insert(id, (p, s)).is_none(), "id reused");
                            }
                            answered.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(error) if cut_off_by_kill(&error, &killed) => return Ok(seq),
                        Err(error) => {
                            return Err(
                                anyhow::Error::new(error).context("publishing before the kill")
                            );
                        }
                    }
                }
                Ok::<u64, anyhow::Error>(seq)
            })
        })
        .collect();

    until_busy(&answered, 300).await?;
    killed.store(true, Ordering::SeqCst);
    child.kill_9().await?;
    let mut attempted = BTreeMap::new(); // publisher -> how many seqs it tried
    for (p, publisher) in publishers.into_iter().enumerate() {
        let tried = tokio::time::timeout(PATIENCE, publisher)
            .await
            .context("a publisher hung after the kill")???;
        attempted.insert(p as u64, tried);
    }
    let acknowledged = std::mem::take(&mut *acknowledged.lock().unwrap());
    let tried: u64 = attempted.values().sum();
    eprintln!(
        "killed with {} of {tried} publishes acknowledged",
        acknowledged.len()
    );

    let child = ChildServer::spawn(SERVER_BIN, &data).await?;
    let client = &child.client;
    assert_eq!(
        client.list_subscriptions().await?.len(),
        2,
        "subscriptions survived"
    );
    let mut per_queue = Vec::new();
    for name in ["copy-a", "copy-b"] {
        let received = drain(client, name).await?;
        let ids = distinct_ids(&received);
        let mut seen = HashSet::new();
        for message in &received {
            let body = payload(message);
            let (p, s) = (
                body["publisher"].as_u64().unwrap(),
                body["seq"].as_u64().unwrap(),
            );
            assert!(
                s < attempted[&p],
                "{name}: {} carries a payload never sent",
                message.id
            );
            assert!(
                seen.insert((p, s)),
                "{name}: publish ({p}, {s}) stored twice"
            );
            if let Some(&sent) = acknowledged.get(&message.id) {
                assert_eq!(
                    sent,
                    (p, s),
                    "{name}: {} has another message's payload",
                    message.id
                );
            }
        }
        let lost: Vec<_> = acknowledged
            .keys()
            .filter(|id| !ids.contains(*id))
            .collect();
        assert!(
            lost.is_empty(),
            "{name}: {} of {} acknowledged publishes are missing after kill -9, e.g. {:?}",
            lost.len(),
            acknowledged.len(),
            &lost[..lost.len().min(5)]
        );
        eprintln!("{name}: {} messages after restart", ids.len());
        per_queue.push(ids.into_iter().collect::<BTreeSet<_>>());
    }
    assert_eq!(
        per_queue[0], per_queue[1],
        "a publish reached one subscribed queue but not the other"
    );
    child.kill_9().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_concurrent_acks_loses_no_acknowledged_ack() -> anyhow::Result<()> {
    let (_dir, data) = temp_data_dir()?;
    let child = ChildServer::spawn(SERVER_BIN, &data).await?;
    let url = child.url().to_string();
    child.client.create_topic("work-in").await?;
    child.client.create_queue(&queue("work")).await?;
    child.client.subscribe("work-in", "work", None).await?;
    let mut published = BTreeSet::new();
    for chunk in 0..8 {
        let batch = PublishBatch {
            messages: (0..100)
                .map(|n| json_message(json!(chunk * 100 + n)))
                .collect(),
        };
        published.extend(child.client.publish_batch("work-in", &batch).await?);
    }

    let killed = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let in_doubt: Arc<Mutex<HashSet<String>>> = Arc::default();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let client = switchyard_tests::admin_client(url.clone());
            let (killed, answered) = (killed.clone(), answered.clone());
            let (acked, in_doubt) = (acked.clone(), in_doubt.clone());
            tokio::spawn(async move {
                for _ in 0..10_000 {
                    let request = switchyard_client::ReceiveRequest {
                        max_messages: Some(10),
                        wait_ms: Some(200),
                        visibility_timeout_ms: Some(1_000),
                    };
                    let batch = match client.receive("work", &request).await {
                        Ok(batch) => batch,
                        Err(error) if cut_off_by_kill(&error, &killed) => return Ok(()),
                        Err(error) => return Err(anyhow::Error::new(error).context("receiving")),
                    };
                    if batch.is_empty() {
                        return Ok(());
                    }
                    let by_receipt: BTreeMap<String, String> =
                        batch.iter().map(|m| (receipt(m), m.id.clone())).collect();
                    match client
                        .ack("work", by_receipt.keys().cloned().collect())
                        .await
                    {
                        Ok(answer) => {
                            let failed: HashSet<&str> =
                                answer.failed.iter().map(|f| f.receipt.as_str()).collect();
                            let mut acked = acked.lock().unwrap();
                            for (receipt, id) in &by_receipt {
                                if !failed.contains(receipt.as_str()) {
                                    acked.insert(id.clone());
                                }
                            }
                            answered.fetch_add(1, Ordering::SeqCst);
                        }
                        // Every lease ran out first (and maybe another consumer acked the
                        // redelivery): nothing acked by this call.
                        Err(ClientError::Api { code, .. })
                            if code == "receipt_expired" || code == "message_not_found" => {}
                        Err(error) if cut_off_by_kill(&error, &killed) => {
                            in_doubt.lock().unwrap().extend(by_receipt.into_values());
                            return Ok(());
                        }
                        Err(error) => return Err(anyhow::Error::new(error).context("acking")),
                    }
                }
                Ok::<(), anyhow::Error>(())
            })
        })
        .collect();

    until_busy(&answered, 20).await?;
    killed.store(true, Ordering::SeqCst);
    child.kill_9().await?;
    for consumer in consumers {
        tokio::time::timeout(PATIENCE, consumer)
            .await
            .context("a consumer hung after the kill")???;
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    let in_doubt = std::mem::take(&mut *in_doubt.lock().unwrap());
    assert!(!acked.is_empty());
    eprintln!(
        "killed with {} acks answered, {} in doubt",
        acked.len(),
        in_doubt.len()
    );

    let child = ChildServer::spawn(SERVER_BIN, &data).await?;
    let remaining = drain(&child.client, "work").await?;
    let remaining = distinct_ids(&remaining);
    let came_back: Vec<_> = remaining.iter().filter(|id| acked.contains(*id)).collect();
    assert!(
        came_back.is_empty(),
        "{} of {} acknowledged acks were lost after kill -9, e.g. {:?}",
        came_back.len(),
        acked.len(),
        &came_back[..came_back.len().min(5)]
    );
    assert!(
        remaining.iter().all(|id| published.contains(id)),
        "an unknown message appeared"
    );
    let lost: Vec<_> = published
        .iter()
        .filter(|id| !acked.contains(*id) && !in_doubt.contains(*id) && !remaining.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} unacked messages vanished, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    child.kill_9().await?;
    Ok(())
}
