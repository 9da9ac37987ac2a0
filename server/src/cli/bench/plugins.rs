//! `switchyard bench --scenario plugins --plugins DIR`: what running a plugin costs. First in
//! process (no server): invocations of a trivial handler (`ack_all.wasm`) in batches of 1, 10
//! and 100, each in a fresh store as the dispatcher runs them. Then end to end against the
//! running server: publishes at a steady rate to a topic whose consumer runs `notifier.wasm`,
//! which publishes a reply committed in the same write as its ack; the latency is from the
//! publish request to the reply's receipt (an upper bound of publish → plugin → ack). Halfway
//! through, another version of the plugin is activated (a hot swap), and the replies to the
//! publishes of the next half second show what the swap cost.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::json;
use switchyard_client::{Client, CreateConsumer, CreateQueue, PublishMessage, ReceiveRequest};

use crate::runtime::{
    HostError, HostServices, InvocationContext, PluginMessage, Publication, Runtime, RuntimeConfig,
};

/// Figures of one batch size.
#[derive(Debug, Serialize)]
pub(super) struct InvocationReport {
    pub(super) batch: usize,
    pub(super) invocations: u64,
    /// Mean wall time of one invocation, µs.
    pub(super) us_per_invocation: f64,
    /// That divided by the batch size, µs.
    pub(super) us_per_message: f64,
}

/// The end-to-end figures.
#[derive(Debug, Serialize)]
pub(super) struct EndToEndReport {
    pub(super) rate_per_s: u64,
    pub(super) messages: u64,
    pub(super) p50_ms: f64,
    pub(super) p99_ms: f64,
    pub(super) max_ms: f64,
    /// The activation request's round trip, ms.
    pub(super) swap_activation_ms: f64,
    /// The slowest reply to a publish sent in the half second after the swap began, ms.
    pub(super) swap_window_max_ms: f64,
}

/// `wasm` with one more custom section: the same component under another digest, so that
/// activating it is a real version change.
fn other_build(wasm: &[u8], marker: &str) -> Vec<u8> {
    fn leb128(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"switchyard-bench";
    let mut content = Vec::new();
    leb128(name.len(), &mut content);
    content.extend_from_slice(name);
    content.extend_from_slice(marker.as_bytes());
    let mut out = wasm.to_vec();
    out.push(0);
    leb128(content.len(), &mut out);
    out.extend_from_slice(&content);
    out
}

/// Host calls answered with nothing: the handler under test makes none.
struct NoServices;

impl HostServices for NoServices {
    fn kv_get(&self, _plugin: &str, _key: &str) -> Result<Option<Vec<u8>>, HostError> {
        Ok(None)
    }
    fn check_publication(&self, _publication: &Publication) -> Result<(), HostError> {
        Ok(())
    }
}

fn message(n: usize) -> PluginMessage {
    PluginMessage {
        id: ulid::Ulid::new().to_string(),
        topic: Some("bench".into()),
        queue: "bench".into(),
        key: None,
        attributes: vec![("kind".into(), "signup".into())],
        payload: format!(r#"{{"n":{n},"email":"user{n}@example.com"}}"#).into_bytes(),
        published_at_ms: 0,
        attempt: 1,
    }
}

/// Invokes `ack_all.wasm` in batches of each size for `per_size`.
pub(super) async fn invocations(
    dir: &Path,
    sizes: &[usize],
    per_size: Duration,
) -> anyhow::Result<Vec<InvocationReport>> {
    let path = dir.join("ack_all.wasm");
    let wasm = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let runtime = Runtime::new(RuntimeConfig::default())?;
    let compiled = runtime.compile(&wasm)?;
    let context = InvocationContext {
        plugin: "bench".into(),
        consumer: "bench".into(),
        config: Arc::new(BTreeMap::new()),
        allowed_hosts: Arc::new(Vec::new()),
        timeout: Duration::from_secs(10),
        memory_bytes: 64 << 20,
        fuel: None,
        services: Arc::new(NoServices),
    };
    let mut reports = Vec::new();
    for &size in sizes {
        let batch: Vec<PluginMessage> = (0..size).map(message).collect();
        // Warm up: first instantiations touch fresh pool slots.
        for _ in 0..20 {
            runtime.invoke(&compiled, &context, batch.clone()).await?;
        }
        let started = Instant::now();
        let mut invocations = 0u64;
        let mut spent = Duration::ZERO;
        while started.elapsed() < per_size {
            let input = batch.clone();
            let begun = Instant::now();
            let invocation = runtime.invoke(&compiled, &context, input).await?;
            spent += begun.elapsed();
            anyhow::ensure!(invocation.result.is_ok(), "the trivial handler faulted");
            invocations += 1;
        }
        let us_per_invocation = spent.as_secs_f64() * 1e6 / invocations as f64;
        reports.push(InvocationReport {
            batch: size,
            invocations,
            us_per_invocation,
            us_per_message: us_per_invocation / size as f64,
        });
    }
    Ok(reports)
}

/// Publishes at `rate` per second for `duration` through a `notifier.wasm` consumer and
/// measures until each reply arrives. Creates and removes its own topics, queues and
/// consumer (`bench-<ulid>`); the plugin stays deployed.
pub(super) async fn end_to_end(
    client: &Client,
    dir: &Path,
    rate: u64,
    duration: Duration,
) -> anyhow::Result<EndToEndReport> {
    let path = dir.join("notifier.wasm");
    let wasm = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let name = format!("bench-{}", ulid::Ulid::new().to_string().to_lowercase());
    let replies = format!("{name}-replies");
    client
        .deploy_plugin("bench-notifier", wasm.clone(), true)
        .await?;
    let swap_to = client
        .deploy_plugin("bench-notifier", other_build(&wasm, &name), false)
        .await?
        .version;
    for topic in [&name, &replies] {
        client.create_topic(topic).await?;
        client
            .create_queue(&CreateQueue {
                name: topic.to_string(),
                ..CreateQueue::default()
            })
            .await?;
        client.subscribe(topic, topic, None).await?;
    }
    client
        .create_consumer(&CreateConsumer {
            name: name.clone(),
            queue: name.clone(),
            plugin: "bench-notifier".into(),
            config: BTreeMap::from([("topic".to_string(), replies.clone())]),
            ..CreateConsumer::default()
        })
        .await?;
    let result = drive_end_to_end(client, &name, &replies, rate, duration, &swap_to).await;
    let _ = client.delete_consumer(&name).await;
    for topic in [&name, &replies] {
        let _ = client.delete_queue(topic).await;
        let _ = client.delete_topic(topic).await;
    }
    result
}

async fn drive_end_to_end(
    client: &Client,
    topic: &str,
    replies: &str,
    rate: u64,
    duration: Duration,
    swap_to: &str,
) -> anyhow::Result<EndToEndReport> {
    let sent: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let total = rate * duration.as_secs().max(1);
    let receiver = {
        let (client, replies, sent) = (client.clone(), replies.to_string(), sent.clone());
        tokio::spawn(async move { collect_replies(client, replies, sent, total).await })
    };
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let swap_at = total / 2;
    let mut swap = None;
    for n in 0..total {
        ticker.tick().await;
        if n == swap_at {
            let (client, version) = (client.clone(), swap_to.to_string());
            swap = Some(tokio::spawn(async move {
                let started = Instant::now();
                client.activate_plugin("bench-notifier", &version).await?;
                anyhow::Ok(started.elapsed())
            }));
        }
        let message =
            PublishMessage::json(&json!({ "email": n.to_string() }))?.attribute("kind", "signup");
        sent.lock().expect("sent lock").insert(n, Instant::now());
        let client = client.clone();
        let topic = topic.to_string();
        tokio::spawn(async move {
            if let Err(error) = client.publish(&topic, &message).await {
                eprintln!("bench: publish failed: {error}");
            }
        });
    }
    let (histogram, latencies) = tokio::time::timeout(Duration::from_secs(30), receiver)
        .await
        .context("replies did not all arrive within 30 s")???;
    let activation = match swap {
        Some(swap) => swap.await.context("the swap task failed")??,
        None => Duration::ZERO,
    };
    let window = swap_at..swap_at + rate / 2;
    let swap_window_max_us = latencies
        .iter()
        .filter(|(n, _)| window.contains(n))
        .map(|&(_, us)| us)
        .max()
        .unwrap_or(0);
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    Ok(EndToEndReport {
        rate_per_s: rate,
        messages: histogram.len(),
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        max_ms: histogram.max() as f64 / 1000.0,
        swap_activation_ms: activation.as_secs_f64() * 1000.0,
        swap_window_max_ms: swap_window_max_us as f64 / 1000.0,
    })
}

async fn collect_replies(
    client: Client,
    replies: String,
    sent: Arc<Mutex<HashMap<u64, Instant>>>,
    total: u64,
) -> anyhow::Result<(Histogram<u64>, Vec<(u64, u64)>)> {
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    // Each publish's number and its latency, µs.
    let mut latencies = Vec::with_capacity(total as usize);
    let request = ReceiveRequest {
        max_messages: Some(100),
        wait_ms: Some(1000),
        visibility_timeout_ms: None,
    };
    while histogram.len() < total {
        let messages = client.receive(&replies, &request).await?;
        let arrived = Instant::now();
        let mut receipts = Vec::new();
        for message in &messages {
            let text = message
                .payload
                .as_ref()
                .and_then(|p| serde_json::from_str::<serde_json::Value>(p.get()).ok())
                .and_then(|v| v["text"].as_str().map(str::to_string))
                .unwrap_or_default();
            let n = text.rsplit(' ').next().and_then(|n| n.parse::<u64>().ok());
            if let Some(n) = n
                && let Some(start) = sent.lock().expect("sent lock").remove(&n)
            {
                let us = arrived.duration_since(start).as_micros().max(1) as u64;
                histogram.record(us)?;
                latencies.push((n, us));
            }
            receipts.extend(message.receipt.clone());
        }
        if !receipts.is_empty() {
            client.ack(&replies, receipts).await?;
        }
    }
    Ok((histogram, latencies))
}
