//! `switchyard bench`: measures a running server through its REST API. It creates its own
//! topic, queue and subscription (`bench-<ulid>`), runs batched, single-message and serial
//! publishes against them, deletes them and prints the figures.

mod fairness;
mod http1;
mod load;
mod plugins;
mod quota;
mod retention;
mod routing;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use serde::Serialize;
use switchyard_client::Method;
use switchyard_client::{Client, CreateQueue, PublishedBatch};

use super::output::{Output, Table};
use http1::Http1Sender;
use load::{BatchPublish, Budget, Measured, thousands};

const JSON: &str = "application/json";

/// Benchmark options.
#[derive(Debug, Args)]
pub(super) struct BenchArgs {
    /// Which runs: batched publishes (256 B and 4 KiB), single-message publishes over many
    /// connections, serial publish latency, or all of them.
    #[arg(long, value_enum, default_value_t = Scenario::All)]
    scenario: Scenario,
    /// How long each run lasts, in seconds.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=600))]
    seconds: u64,
    /// Messages per batch request.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    batch_size: u32,
    /// Batch requests in flight at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    in_flight: u32,
    /// Concurrent connections (one request each at a time) for single-message publishes.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1024))]
    connections: u32,
    /// Most messages one run publishes; it ends early when they are all sent.
    #[arg(long, default_value_t = 2_000_000, value_name = "N")]
    max_messages: u64,
    /// Give the bench topic an archive (kept until the topic is deleted), to measure
    /// publishing with archiving on.
    #[arg(long)]
    archive: bool,
    /// Directory of the example plugins built for wasm32-wasip2 (ack_all.wasm and
    /// notifier.wasm), for --scenario plugins.
    #[arg(long, value_name = "DIR")]
    plugins: Option<std::path::PathBuf>,
    /// The flooding token's publish quota (messages per second), for --scenario quota.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    quota_per_second: u32,
    /// Messages the queue holds when its retention sweep starts, for --scenario retention.
    #[arg(long, default_value_t = 1_000_000, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    fill: u64,
    /// Messages of the flooding tenant ahead of the small one's, for --scenario fairness.
    #[arg(long, default_value_t = 100_000, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    flood: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    All,
    Batch,
    Single,
    Latency,
    /// Filter routing cost for 1, 100 and 1000 subscriptions, in process (no server).
    Routing,
    /// Plugin invocation cost in batches of 1, 10 and 100 (in process), then publish →
    /// plugin → ack latency at 200 msg/s against the server. Needs --plugins.
    Plugins,
    /// One token floods at its publish quota while another publishes serially: the
    /// second one's latency alone and during the flood.
    Quota,
    /// A queue of --fill small messages has its retention lowered so that one sweep
    /// deletes them all: serial publish latency to another topic before and during it.
    Retention,
    /// One tenant floods a queue with --flood messages, then another sends 100: the small
    /// tenant's time in the queue, and the receive latency, oldest first and with fairness.
    Fairness,
}

/// One run of the plan.
#[derive(Debug, Clone, Copy)]
enum Plan {
    Batch { size: usize },
    Single { size: usize },
    Serial { size: usize },
}

pub(super) async fn run(client: &Client, out: Output, args: BenchArgs) -> anyhow::Result<()> {
    if args.scenario == Scenario::Routing {
        return run_routing(out, &args);
    }
    if args.scenario == Scenario::Plugins {
        return run_plugins(client, out, &args).await;
    }
    if args.scenario == Scenario::Quota {
        return quota::run(client, out, &args).await;
    }
    if args.scenario == Scenario::Retention {
        return retention::run(client, out, &args).await;
    }
    if args.scenario == Scenario::Fairness {
        return fairness::run(client, out, &args).await;
    }
    let name = fixture_name(client).await?;
    let stop = Arc::new(AtomicBool::new(false));
    tokio::spawn(stop_on_ctrl_c(stop.clone()));
    let budget = Budget {
        duration: Duration::from_secs(args.seconds),
        max_messages: args.max_messages,
        stop: stop.clone(),
    };
    create_fixture(client, &name, args.archive).await?;
    eprintln!(
        "bench: topic{} and queue {name} on {}, {} s per run",
        if args.archive { " (archived)" } else { "" },
        client.base_url(),
        args.seconds
    );

    let mut reports = Vec::new();
    let mut failure = None;
    for (index, plan) in plans(args.scenario).into_iter().enumerate() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if index > 0 {
            // Start every run from an empty queue.
            if let Err(error) = client.purge(&name).await {
                eprintln!("warning: cannot purge {name} between runs: {error}");
            }
        }
        match run_plan(client, &name, &args, &budget, plan).await {
            Ok(report) => reports.push(report),
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }

    if let Err(error) = delete_fixture(client, &name).await {
        eprintln!("warning: cannot delete the bench topic and queue {name}: {error}");
    }
    if !reports.is_empty() {
        let interrupted = stop.load(Ordering::Relaxed);
        print_report(out, client.base_url(), &args, &reports, interrupted)?;
    }
    match failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

fn plans(scenario: Scenario) -> Vec<Plan> {
    let batch = [Plan::Batch { size: 256 }, Plan::Batch { size: 4096 }];
    let single = [Plan::Single { size: 256 }];
    let serial = [Plan::Serial { size: 256 }];
    match scenario {
        Scenario::All => [&batch[..], &single, &serial].concat(),
        Scenario::Batch => batch.to_vec(),
        Scenario::Single => single.to_vec(),
        Scenario::Latency => serial.to_vec(),
        Scenario::Routing
        | Scenario::Plugins
        | Scenario::Quota
        | Scenario::Retention
        | Scenario::Fairness => Vec::new(),
    }
}

fn run_routing(out: Output, args: &BenchArgs) -> anyhow::Result<()> {
    let per_run = Duration::from_secs(args.seconds).min(Duration::from_secs(5)) / 2;
    eprintln!("bench: routing through 1, 100 and 1000 subscription filters, in process");
    let reports = routing::measure(&[1, 100, 1000], per_run);
    if out.json {
        return out.print_json(&reports);
    }
    let mut table = Table::new(&[
        "SUBSCRIPTIONS",
        "PUBLISHES/S (INDEXED)",
        "PUBLISHES/S (EVERY FILTER)",
        "FILTERS EVALUATED",
        "MATCHES",
    ]);
    for report in &reports {
        table.row(vec![
            thousands(report.subscriptions as u64),
            thousands(report.indexed_per_s as u64),
            thousands(report.every_filter_per_s as u64),
            format!("{:.1}", report.filters_evaluated),
            format!("{:.1}", report.matches),
        ]);
    }
    println!();
    table.print();
    println!();
    println!("filters evaluated and matches are per publish; one core, realistic mixed patterns");
    Ok(())
}

async fn run_plugins(client: &Client, out: Output, args: &BenchArgs) -> anyhow::Result<()> {
    let dir = args.plugins.as_deref().context(
        "--scenario plugins needs --plugins DIR: build them with \
         `cargo build --release --target wasm32-wasip2 -p ack-all -p notifier`",
    )?;
    let per_size = Duration::from_secs(args.seconds).min(Duration::from_secs(10)) / 3;
    eprintln!("bench: invoking ack_all.wasm in batches of 1, 10 and 100, in process");
    let invocations = plugins::invocations(dir, &[1, 10, 100], per_size).await?;
    eprintln!(
        "bench: publish → notifier.wasm → ack at 200 msg/s against {}",
        client.base_url()
    );
    let end_to_end =
        plugins::end_to_end(client, dir, 200, Duration::from_secs(args.seconds)).await?;
    if out.json {
        return out.print_json(&serde_json::json!({
            "invocations": invocations,
            "end_to_end": end_to_end,
        }));
    }
    let mut table = Table::new(&["BATCH", "INVOCATIONS", "µs/INVOCATION", "µs/MESSAGE"]);
    for report in &invocations {
        table.row(vec![
            report.batch.to_string(),
            thousands(report.invocations),
            format!("{:.1}", report.us_per_invocation),
            format!("{:.2}", report.us_per_message),
        ]);
    }
    println!();
    table.print();
    println!();
    println!(
        "end to end at {} msg/s: {} messages, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        end_to_end.rate_per_s,
        end_to_end.messages,
        end_to_end.p50_ms,
        end_to_end.p99_ms,
        end_to_end.max_ms
    );
    println!(
        "hot swap halfway: activation answered in {:.2} ms; slowest reply to the next 0.5 s of publishes {:.2} ms",
        end_to_end.swap_activation_ms, end_to_end.swap_window_max_ms
    );
    Ok(())
}

/// The first Ctrl-C ends the runs and lets the bench clean up; a second one exits at once.
async fn stop_on_ctrl_c(stop: Arc<AtomicBool>) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    stop.store(true, Ordering::Relaxed);
    eprintln!("bench: stopping (Ctrl-C again to exit without cleaning up)");
    if tokio::signal::ctrl_c().await.is_ok() {
        std::process::exit(130);
    }
}

pub(super) async fn create_fixture(
    client: &Client,
    name: &str,
    archive: bool,
) -> anyhow::Result<()> {
    let created = if archive {
        let settings = switchyard_client::ArchiveSettings::default();
        client.create_archived_topic(name, settings).await
    } else {
        client.create_topic(name).await
    };
    created.with_context(|| format!("cannot create the bench topic {name}"))?;
    let queue = CreateQueue {
        name: name.to_string(),
        ..CreateQueue::default()
    };
    if let Err(error) = client.create_queue(&queue).await {
        let _ = client.delete_topic(name).await;
        return Err(error).with_context(|| format!("cannot create the bench queue {name}"));
    }
    if let Err(error) = client.subscribe(name, name, None).await {
        let _ = delete_fixture(client, name).await;
        return Err(error).context("cannot subscribe the bench queue to the bench topic");
    }
    Ok(())
}

/// Checks that the server answers, and names this run's fixtures (`bench-<ulid>`).
pub(super) async fn fixture_name(client: &Client) -> anyhow::Result<String> {
    client
        .health()
        .await
        .with_context(|| format!("no healthy server at {}", client.base_url()))?;
    Ok(format!(
        "bench-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    ))
}

/// Creates the fixtures `names` (see [`create_fixture`]), runs `measure` and deletes them
/// again, whatever `measure` did.
pub(super) async fn with_fixtures<T>(
    client: &Client,
    names: &[&str],
    measure: impl AsyncFnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut created = Vec::new();
    let mut result = Ok(());
    for name in names {
        result = create_fixture(client, name, false).await;
        if result.is_err() {
            break;
        }
        created.push(*name);
    }
    let measured = match result {
        Ok(()) => measure().await,
        Err(error) => Err(error),
    };
    for name in created {
        if let Err(error) = delete_fixture(client, name).await {
            eprintln!("warning: cannot delete the bench topic and queue {name}: {error}");
        }
    }
    measured
}

pub(super) async fn delete_fixture(client: &Client, name: &str) -> anyhow::Result<()> {
    // Deleting the queue removes its messages and its subscription.
    let queue = client.delete_queue(name).await;
    let topic = client.delete_topic(name).await;
    queue?;
    topic?;
    Ok(())
}

async fn run_plan(
    client: &Client,
    name: &str,
    args: &BenchArgs,
    budget: &Budget,
    plan: Plan,
) -> anyhow::Result<RunReport> {
    let before = ServerSample::take(client).await;
    let mut report = drive_plan(client, name, args, budget, plan).await?;
    let after = ServerSample::take(client).await;
    if let (Some(before), Some(after)) = (before, after) {
        report.server = Some(after.since(&before, report.messages, report.elapsed_s));
    }
    Ok(report)
}

async fn drive_plan(
    client: &Client,
    name: &str,
    args: &BenchArgs,
    budget: &Budget,
    plan: Plan,
) -> anyhow::Result<RunReport> {
    match plan {
        Plan::Batch { size } => {
            let path: Arc<str> = format!("/v1/topics/{name}/batch").into();
            let (count, body) = warm_up_batch(client, &path, args.batch_size, size).await?;
            let label = format!("batch {}", size_text(size));
            let request = BatchPublish {
                client: client.clone(),
                path,
                body: Arc::new(body),
                count,
            };
            let measured = load::drive(&label, args.in_flight, budget, || request.clone()).await;
            Ok(RunReport::new(
                "batch",
                size,
                Some(count),
                args.in_flight,
                measured,
            ))
        }
        Plan::Single { size } | Plan::Serial { size } => {
            let path = format!("/v1/topics/{name}/messages");
            let body = load::single_body(size)?;
            let template = Http1Sender::post_json(
                client.base_url(),
                client.authorization(),
                &path,
                &body,
                201,
            )
            .map_err(anyhow::Error::msg)?;
            template
                .fresh()
                .exchange_once()
                .await
                .map_err(anyhow::Error::msg)
                .context("the warm-up publish failed")?;
            let (scenario, workers) = match plan {
                Plan::Single { .. } => ("single", args.connections),
                _ => ("serial", 1),
            };
            let label = format!("{scenario} {}", size_text(size));
            let measured = load::drive(&label, workers, budget, || template.fresh()).await;
            Ok(RunReport::new(scenario, size, None, workers, measured))
        }
    }
}

/// Sends one batch before the clock starts (connections, server caches). A server whose
/// body limit refuses the batch gets half as many messages per request until one fits.
async fn warm_up_batch(
    client: &Client,
    path: &str,
    batch_size: u32,
    size: usize,
) -> anyhow::Result<(u32, Vec<u8>)> {
    let mut count = batch_size;
    loop {
        let body = load::batch_body(count, size)?;
        let sent = client
            .call_bytes::<PublishedBatch>(Method::POST, path, JSON, body.clone())
            .await;
        match sent {
            Ok(_) => return Ok((count, body)),
            Err(error) if count > 1 && too_large(&error) => {
                eprintln!(
                    "  the server refuses {count} x {size} B per batch ({error}); trying {}",
                    count / 2
                );
                count /= 2;
            }
            Err(error) => return Err(error).context("the warm-up batch failed"),
        }
    }
}

fn too_large(error: &switchyard_client::ClientError) -> bool {
    error.status().is_some_and(|status| status.as_u16() == 413)
        || error
            .code()
            .is_some_and(|code| code.contains("too_large") || code.contains("too_many"))
}

/// The figures of one run, as printed and as `--json` shows them.
#[derive(Debug, Serialize)]
struct RunReport {
    scenario: &'static str,
    payload_bytes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    batch_size: Option<u32>,
    concurrency: u32,
    messages: u64,
    requests: u64,
    errors: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_error: Option<String>,
    elapsed_s: f64,
    msg_per_s: f64,
    mb_per_s: f64,
    /// Request latency in µs (a batch request carries the whole batch).
    latency_us: Latency,
    /// What the server's `/metrics` say about the run (warm-up included).
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<ServerFigures>,
}

/// The server's counters at one moment, from `/metrics`.
#[derive(Debug, Clone, Copy)]
struct ServerSample {
    commits: f64,
    requests: f64,
    commit_seconds: f64,
    cpu_seconds: Option<f64>,
}

/// The server side of a run: how often it fsynced, how much each commit carried, and how
/// much server CPU each message cost.
#[derive(Debug, Serialize)]
struct ServerFigures {
    fsyncs_per_s: f64,
    messages_per_fsync: f64,
    write_requests_per_fsync: f64,
    commit_ms_avg: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_cpu_us_per_message: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_cores_busy: Option<f64>,
}

impl ServerSample {
    async fn take(client: &Client) -> Option<Self> {
        let text = client.metrics().await.ok()?;
        let value = |name: &str| {
            text.lines().find_map(|line| {
                line.strip_prefix(name)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse()
                    .ok()
            })
        };
        Some(Self {
            commits: value("switchyard_storage_commits_total")?,
            requests: value("switchyard_storage_write_requests_total")?,
            commit_seconds: value("switchyard_storage_commit_seconds_total")?,
            cpu_seconds: value("process_cpu_seconds_total"),
        })
    }

    fn since(&self, before: &Self, messages: u64, seconds: f64) -> ServerFigures {
        let commits = (self.commits - before.commits).max(1.0);
        let cpu = self.cpu_seconds.zip(before.cpu_seconds).map(|(a, b)| a - b);
        let round = |x: f64, places: i32| (x * 10f64.powi(places)).round() / 10f64.powi(places);
        ServerFigures {
            fsyncs_per_s: round(commits / seconds.max(f64::EPSILON), 0),
            messages_per_fsync: round(messages as f64 / commits, 1),
            write_requests_per_fsync: round((self.requests - before.requests) / commits, 1),
            commit_ms_avg: round(
                (self.commit_seconds - before.commit_seconds) * 1000.0 / commits,
                3,
            ),
            server_cpu_us_per_message: cpu.map(|cpu| round(cpu * 1e6 / messages.max(1) as f64, 2)),
            server_cores_busy: cpu.map(|cpu| round(cpu / seconds.max(f64::EPSILON), 2)),
        }
    }
}

#[derive(Debug, Serialize)]
struct Latency {
    p50: u64,
    p99: u64,
    p999: u64,
    max: u64,
}

impl RunReport {
    fn new(
        scenario: &'static str,
        payload_bytes: usize,
        batch_size: Option<u32>,
        concurrency: u32,
        measured: Measured,
    ) -> Self {
        let seconds = measured.elapsed.as_secs_f64().max(f64::EPSILON);
        let msg_per_s = measured.messages as f64 / seconds;
        let latency = &measured.latency;
        Self {
            scenario,
            payload_bytes,
            batch_size,
            concurrency,
            messages: measured.messages,
            requests: measured.requests,
            errors: measured.errors,
            first_error: measured.first_error,
            elapsed_s: (seconds * 1000.0).round() / 1000.0,
            msg_per_s: msg_per_s.round(),
            mb_per_s: (msg_per_s * payload_bytes as f64 / 1e4).round() / 100.0,
            latency_us: Latency {
                p50: latency.value_at_quantile(0.5),
                p99: latency.value_at_quantile(0.99),
                p999: latency.value_at_quantile(0.999),
                max: latency.max(),
            },
            server: None,
        }
    }

    fn title(&self) -> String {
        match (self.scenario, self.batch_size) {
            ("batch", Some(size)) => format!("batch {size}, {} in flight", self.concurrency),
            ("single", _) => format!("single, {} connections", self.concurrency),
            (scenario, _) => scenario.to_string(),
        }
    }
}

#[derive(Serialize)]
struct BenchReport<'a> {
    url: &'a str,
    seconds: u64,
    /// Ctrl-C ended the bench early.
    interrupted: bool,
    runs: &'a [RunReport],
}

fn print_report(
    out: Output,
    url: &str,
    args: &BenchArgs,
    runs: &[RunReport],
    interrupted: bool,
) -> anyhow::Result<()> {
    if out.json {
        return out.print_json(&BenchReport {
            url,
            seconds: args.seconds,
            interrupted,
            runs,
        });
    }
    let mut table = Table::new(&[
        "RUN", "PAYLOAD", "MESSAGES", "MSG/S", "MB/S", "P50", "P99", "P99.9", "MAX", "ERRORS",
    ]);
    for run in runs {
        table.row(vec![
            run.title(),
            size_text(run.payload_bytes),
            thousands(run.messages),
            thousands(run.msg_per_s as u64),
            format!("{:.1}", run.mb_per_s),
            latency_text(run.latency_us.p50),
            latency_text(run.latency_us.p99),
            latency_text(run.latency_us.p999),
            latency_text(run.latency_us.max),
            run.errors.to_string(),
        ]);
    }
    println!();
    let early = if interrupted {
        " (stopped early by Ctrl-C)"
    } else {
        ""
    };
    println!(
        "switchyard bench against {url}, {} s per run{early}",
        args.seconds
    );
    println!();
    table.print();
    println!();
    println!(
        "latency is per request (one batch request carries the whole batch); MB/s counts payload bytes (10^6)"
    );
    if runs.iter().any(|run| run.server.is_some()) {
        let mut server = Table::new(&[
            "RUN",
            "PAYLOAD",
            "FSYNC/S",
            "MSG/FSYNC",
            "REQ/FSYNC",
            "COMMIT",
            "CPU/MSG",
            "CORES",
        ]);
        for run in runs {
            let Some(figures) = &run.server else { continue };
            let cpu = figures
                .server_cpu_us_per_message
                .map_or("-".into(), |us| format!("{us:.1} µs"));
            let cores = figures
                .server_cores_busy
                .map_or("-".into(), |cores| format!("{cores:.2}"));
            server.row(vec![
                run.title(),
                size_text(run.payload_bytes),
                thousands(figures.fsyncs_per_s as u64),
                format!("{:.1}", figures.messages_per_fsync),
                format!("{:.1}", figures.write_requests_per_fsync),
                format!("{:.2} ms", figures.commit_ms_avg),
                cpu,
                cores,
            ]);
        }
        println!();
        println!(
            "server side, from its /metrics (fsyncs are group commits; CPU is the server process's)"
        );
        println!();
        server.print();
    }
    for run in runs {
        if let Some(error) = &run.first_error {
            println!(
                "{}: {} failed requests, the first: {error}",
                run.title(),
                run.errors
            );
        }
    }
    Ok(())
}

fn size_text(bytes: usize) -> String {
    match bytes {
        b if b >= 1024 && b.is_multiple_of(1024) => format!("{} KiB", b / 1024),
        b => format!("{b} B"),
    }
}

fn latency_text(us: u64) -> String {
    match us {
        0..1_000 => format!("{us} µs"),
        1_000..1_000_000 => format!("{:.2} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_runs_every_plan_in_order() {
        let plans = plans(Scenario::All);
        assert_eq!(plans.len(), 4);
        assert!(matches!(plans[1], Plan::Batch { size: 4096 }));
        assert!(matches!(plans[3], Plan::Serial { .. }));
    }

    #[test]
    fn sizes_and_latencies_read_well() {
        assert_eq!(size_text(256), "256 B");
        assert_eq!(size_text(4096), "4 KiB");
        assert_eq!(latency_text(850), "850 µs");
        assert_eq!(latency_text(1_250), "1.25 ms");
        assert_eq!(latency_text(2_500_000), "2.50 s");
    }
}
