//! `switchyard bench --scenario retention`: does a big retention sweep hold publishes up?
//! Fills a queue with `--fill` small messages, measures serial publish latency to another
//! topic, then lowers the full queue's retention to its minimum (one second), so that the
//! next sweep deletes every message, and measures the same latency while it does, until the
//! queue is empty.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;
use switchyard_client::{Client, PatchQueue};

use super::super::output::Output;
use super::http1::Http1Sender;
use super::load::{self, BatchPublish, Budget, Latency, thousands};
use super::{BenchArgs, fixture_name, with_fixtures};

/// Payload bytes of a filling message.
const FILL_BYTES: usize = 64;

/// What the retention scenario measured.
#[derive(Debug, Serialize)]
pub(super) struct RetentionReport {
    /// Messages in the queue when its retention was lowered.
    filled: u64,
    /// How fast it was filled, messages per second.
    fill_per_s: f64,
    /// From lowering the retention until the queue was empty, seconds.
    sweep_seconds: f64,
    /// Serial publish latency to another topic, µs: before the sweep, then during it.
    before: Latency,
    during_sweep: Latency,
}

pub(super) async fn run(client: &Client, out: Output, args: &BenchArgs) -> anyhow::Result<()> {
    let name = fixture_name(client).await?;
    let probe = format!("{name}-latency");
    let measure = async || measure(client, &name, &probe, args).await;
    let report = with_fixtures(client, &[&name, &probe], measure).await?;
    if out.json {
        return out.print_json(&report);
    }
    Latency::print_table(
        "SERIAL 256 B PUBLISHES",
        &[
            ("before the sweep", &report.before),
            ("during the sweep", &report.during_sweep),
        ],
    );
    println!(
        "swept {} messages of {FILL_BYTES} B (filled at {} msg/s) in {:.1} s: {} msg/s",
        thousands(report.filled),
        thousands(report.fill_per_s as u64),
        report.sweep_seconds,
        thousands((report.filled as f64 / report.sweep_seconds.max(0.001)) as u64),
    );
    Ok(())
}

async fn measure(
    client: &Client,
    name: &str,
    probe: &str,
    args: &BenchArgs,
) -> anyhow::Result<RetentionReport> {
    let filled = fill(client, name, args).await?;
    let depth = || async {
        let queue = client.get_queue(name).await?;
        let stats = queue.stats.unwrap_or_default();
        anyhow::Ok(stats.ready + stats.delayed + stats.in_flight)
    };
    let messages = depth().await?;

    let path = format!("/v1/topics/{probe}/messages");
    let body = load::single_body(256)?;
    let template =
        Http1Sender::post_json(client.base_url(), client.authorization(), &path, &body, 201)
            .map_err(anyhow::Error::msg)?;
    template
        .fresh()
        .exchange_once()
        .await
        .map_err(anyhow::Error::msg)?;
    let alone = Budget {
        duration: Duration::from_secs(args.seconds),
        max_messages: u64::MAX,
        stop: Arc::new(AtomicBool::new(false)),
    };
    eprintln!(
        "bench: serial publishes for {} s before the sweep",
        args.seconds
    );
    let before = load::drive("before", 1, &alone, || template.fresh()).await;

    let lowered = Instant::now();
    let patch = PatchQueue {
        retention_ms: Some(1000),
        ..PatchQueue::default()
    };
    client
        .patch_queue(name, &patch)
        .await
        .context("cannot lower the bench queue's retention")?;
    eprintln!("bench: retention lowered to 1 s; serial publishes until the queue is empty");
    // Measured from the sweep's first chunk until the queue is empty.
    while depth().await? >= messages {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let swept = Arc::new(AtomicBool::new(false));
    let during = Budget {
        duration: Duration::from_secs(600),
        max_messages: u64::MAX,
        stop: swept.clone(),
    };
    let watch = {
        let (client, name) = (client.clone(), name.to_string());
        tokio::spawn(async move {
            loop {
                match client.get_queue(&name).await {
                    Ok(queue)
                        if queue
                            .stats
                            .as_ref()
                            .is_none_or(|s| s.ready + s.delayed + s.in_flight == 0) =>
                    {
                        break;
                    }
                    Err(_) => break,
                    Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
            swept.store(true, Ordering::Relaxed);
            Instant::now()
        })
    };
    let during_sweep = load::drive("during sweep", 1, &during, || template.fresh()).await;
    let emptied = watch.await.context("the queue watcher failed")?;
    if before.errors + during_sweep.errors > 0 {
        anyhow::bail!(
            "serial publishes failed: {}",
            before
                .first_error
                .or(during_sweep.first_error)
                .unwrap_or_default()
        );
    }
    Ok(RetentionReport {
        filled: messages,
        fill_per_s: filled.messages as f64 / filled.elapsed.as_secs_f64().max(0.001),
        sweep_seconds: emptied.duration_since(lowered).as_secs_f64(),
        before: Latency::from(&before),
        during_sweep: Latency::from(&during_sweep),
    })
}

/// Publishes `--fill` messages of [`FILL_BYTES`] to `name` in batches.
async fn fill(client: &Client, name: &str, args: &BenchArgs) -> anyhow::Result<load::Measured> {
    let request = BatchPublish {
        client: client.clone(),
        path: format!("/v1/topics/{name}/batch").into(),
        body: Arc::new(load::batch_body(args.batch_size, FILL_BYTES)?),
        count: args.batch_size,
    };
    let budget = Budget {
        duration: Duration::from_secs(3600),
        max_messages: args.fill,
        stop: Arc::new(AtomicBool::new(false)),
    };
    eprintln!(
        "bench: filling a queue with {} messages of {FILL_BYTES} B",
        thousands(args.fill)
    );
    let filled = load::drive("fill", args.in_flight, &budget, || request.clone()).await;
    if filled.errors > 0 {
        anyhow::bail!(
            "filling the queue failed: {}",
            filled.first_error.unwrap_or_default()
        );
    }
    Ok(filled)
}
