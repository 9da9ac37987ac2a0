//! `switchyard bench --scenario fairness`: what weighted fairness buys a small tenant stuck
//! behind a flood, and what it costs a receive. Two queues, one oldest-first and one fair
//! by the attribute `tenant`, each get `--flood` messages of tenant `big`, then 100 of
//! tenant `small`; eight receivers then drain each (batches of 10, acked) to the end.
//! Measured: the small tenant's time in the queue (from its publish to its receive), and,
//! over the same whole drain, the receive latency and how fast the queue drained.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;
use switchyard_client::{Client, Fairness, PatchQueue, PublishBatch, PublishMessage};
use tokio::sync::Mutex;

use super::super::output::{Output, Table};
use super::load::{Latency, thousands};
use super::{BenchArgs, fixture_name, with_fixtures};

/// Messages of the small tenant.
const SMALL: usize = 100;
/// Concurrent receivers draining a queue.
const RECEIVERS: usize = 8;
/// Messages per flooding batch.
const FLOOD_BATCH: usize = 1000;
/// A drain gives up after this long.
const DRAIN_LIMIT: Duration = Duration::from_secs(600);

/// What the fairness scenario measured.
#[derive(Debug, Serialize)]
pub(super) struct FairnessReport {
    /// Messages of the big tenant ahead of the small one's.
    flood: u64,
    /// The queue without fairness, then the fair one.
    oldest_first: Drain,
    fair: Drain,
}

/// One queue drained to its end.
#[derive(Debug, Serialize)]
struct Drain {
    /// The small tenant's time in the queue, ms.
    small_p50_ms: u64,
    small_p99_ms: u64,
    small_max_ms: u64,
    /// Receives (each up to 10 messages), µs.
    receive: Latency,
    /// Messages received, of both tenants.
    received: u64,
    /// How fast, messages per second.
    received_per_s: f64,
}

pub(super) async fn run(client: &Client, out: Output, args: &BenchArgs) -> anyhow::Result<()> {
    let name = fixture_name(client).await?;
    let (plain, fair) = (format!("{name}-oldest-first"), format!("{name}-fair"));
    let measure = async || {
        let fairness = PatchQueue {
            fairness: Some(Some(Fairness {
                by: "attribute:tenant".into(),
                weights: Default::default(),
                default_weight: 1,
            })),
            ..PatchQueue::default()
        };
        client
            .patch_queue(&fair, &fairness)
            .await
            .context("cannot make the bench queue fair")?;
        let oldest_first = drain_after_flood(client, &plain, args.flood).await?;
        let fair = drain_after_flood(client, &fair, args.flood).await?;
        anyhow::Ok(FairnessReport {
            flood: args.flood,
            oldest_first,
            fair,
        })
    };
    let report = with_fixtures(client, &[&plain, &fair], measure).await?;
    if out.json {
        return out.print_json(&report);
    }
    let mut table = Table::new(&[
        "QUEUE",
        "SMALL P50",
        "SMALL P99",
        "SMALL MAX",
        "RECEIVE P50",
        "RECEIVE P99",
        "RECEIVED",
        "MSG/S",
    ]);
    for (label, drain) in [
        ("oldest first", &report.oldest_first),
        ("fair by tenant", &report.fair),
    ] {
        table.row(vec![
            label.to_string(),
            format!("{} ms", drain.small_p50_ms),
            format!("{} ms", drain.small_p99_ms),
            format!("{} ms", drain.small_max_ms),
            format!("{} µs", drain.receive.p50_us),
            format!("{} µs", drain.receive.p99_us),
            thousands(drain.received),
            thousands(drain.received_per_s as u64),
        ]);
    }
    println!();
    println!(
        "{} messages of tenant big, then {SMALL} of tenant small; {RECEIVERS} receivers, \
         batches of 10",
        thousands(report.flood)
    );
    table.print();
    println!();
    Ok(())
}

fn message(tenant: &str, n: usize) -> anyhow::Result<PublishMessage> {
    let mut message = PublishMessage::json(&serde_json::json!({ "n": n }))?;
    message.attributes.insert("tenant".into(), tenant.into());
    Ok(message)
}

/// Fills `queue` with `flood` messages of tenant big and then the small tenant's, and
/// drains it until every small one came out.
async fn drain_after_flood(client: &Client, queue: &str, flood: u64) -> anyhow::Result<Drain> {
    eprintln!(
        "bench: {} messages of tenant big into {queue}",
        thousands(flood)
    );
    let mut sent = 0;
    while sent < flood as usize {
        let count = FLOOD_BATCH.min(flood as usize - sent);
        let messages = (sent..sent + count)
            .map(|n| message("big", n))
            .collect::<anyhow::Result<Vec<_>>>()?;
        client
            .send_batch(queue, &PublishBatch { messages })
            .await
            .context("flooding the bench queue")?;
        sent += count;
    }
    let messages = (0..SMALL)
        .map(|n| message("small", n))
        .collect::<anyhow::Result<Vec<_>>>()?;
    client
        .send_batch(queue, &PublishBatch { messages })
        .await
        .context("sending the small tenant's messages")?;

    eprintln!("bench: draining {queue}");
    let expected = flood + SMALL as u64;
    let waits = Arc::new(Mutex::new(Vec::with_capacity(SMALL)));
    let receives = Arc::new(Mutex::new(Vec::new()));
    let received = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut receivers = Vec::new();
    for _ in 0..RECEIVERS {
        let (client, queue) = (client.clone(), queue.to_string());
        let (waits, receives, received, done) = (
            waits.clone(),
            receives.clone(),
            received.clone(),
            done.clone(),
        );
        receivers.push(tokio::spawn(async move {
            let request = switchyard_client::ReceiveRequest {
                max_messages: Some(10),
                wait_ms: Some(1000),
                visibility_timeout_ms: None,
            };
            while !done.load(Ordering::Relaxed) && started.elapsed() < DRAIN_LIMIT {
                let asked = Instant::now();
                let got = client.receive(&queue, &request).await?;
                receives
                    .lock()
                    .await
                    .push(asked.elapsed().as_micros() as u64);
                let now = super::super::output::now_ms();
                let total =
                    received.fetch_add(got.len() as u64, Ordering::Relaxed) + got.len() as u64;
                if total >= expected {
                    done.store(true, Ordering::Relaxed);
                }
                let small: Vec<u64> = got
                    .iter()
                    .filter(|m| m.attributes.get("tenant").map(String::as_str) == Some("small"))
                    .map(|m| now.saturating_sub(m.published_at_ms))
                    .collect();
                waits.lock().await.extend(small);
                let receipts: Vec<String> = got.into_iter().filter_map(|m| m.receipt).collect();
                if !receipts.is_empty() {
                    client.ack(&queue, receipts).await?;
                }
            }
            anyhow::Ok(())
        }));
    }
    for receiver in receivers {
        receiver.await.context("a receiver panicked")??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut waits = std::mem::take(&mut *waits.lock().await);
    anyhow::ensure!(
        waits.len() >= SMALL,
        "only {} of the small tenant's {SMALL} messages came out within {DRAIN_LIMIT:?}",
        waits.len()
    );
    let mut receives = std::mem::take(&mut *receives.lock().await);
    waits.sort_unstable();
    receives.sort_unstable();
    let received = received.load(Ordering::Relaxed);
    Ok(Drain {
        small_p50_ms: quantile(&waits, 0.50),
        small_p99_ms: quantile(&waits, 0.99),
        small_max_ms: *waits.last().unwrap_or(&0),
        receive: Latency {
            requests: receives.len() as u64,
            p50_us: quantile(&receives, 0.50),
            p99_us: quantile(&receives, 0.99),
            max_us: *receives.last().unwrap_or(&0),
        },
        received,
        received_per_s: received as f64 / elapsed.max(0.001),
    })
}

/// The value at quantile `q` of sorted `values`.
fn quantile(values: &[u64], q: f64) -> u64 {
    if values.is_empty() {
        return 0;
    }
    let index = ((values.len() - 1) as f64 * q).round() as usize;
    values[index.min(values.len() - 1)]
}
