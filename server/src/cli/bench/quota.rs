//! `switchyard bench --scenario quota`: does one client flooding at its publish quota slow
//! another down? Two tokens of the bench's own: a victim without a quota publishes serially
//! (latency alone, then while the flood runs), and a flooder with a quota floods over many
//! connections, most of its requests answered 429.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;
use switchyard_client::{Client, CreateToken, PublishRate};

use super::super::output::Output;
use super::http1::Http1Sender;
use super::load::{self, Budget, Latency};
use super::{BenchArgs, fixture_name, with_fixtures};

/// What the quota scenario measured.
#[derive(Debug, Serialize)]
pub(super) struct QuotaReport {
    /// The flooder's quota, messages per second.
    quota_per_second: u32,
    /// Flooding connections.
    flood_connections: u32,
    /// Flood requests per second, and how many of them were accepted and refused.
    flood_requests_per_s: f64,
    flood_accepted_per_s: f64,
    flood_refused_per_s: f64,
    /// The victim's serial publish latency, µs: alone, then during the flood.
    alone: Latency,
    during_flood: Latency,
}

pub(super) async fn run(client: &Client, out: Output, args: &BenchArgs) -> anyhow::Result<()> {
    let name = fixture_name(client).await?;
    let report = with_fixtures(client, &[&name], async || {
        measure(client, &name, args).await
    })
    .await?;
    if out.json {
        return out.print_json(&report);
    }
    Latency::print_table(
        "VICTIM (SERIAL 256 B)",
        &[
            ("alone", &report.alone),
            ("during the flood", &report.during_flood),
        ],
    );
    println!(
        "flooder: quota {}/s over {} connections: {:.0} requests/s, {:.0} accepted/s, {:.0} refused (429)/s",
        report.quota_per_second,
        report.flood_connections,
        report.flood_requests_per_s,
        report.flood_accepted_per_s,
        report.flood_refused_per_s
    );
    Ok(())
}

async fn measure(client: &Client, name: &str, args: &BenchArgs) -> anyhow::Result<QuotaReport> {
    let scope = vec![format!("publish:topic:{name}")];
    let victim = client
        .create_token(&CreateToken {
            name: format!("{name}-victim"),
            scopes: scope.clone(),
            ..CreateToken::default()
        })
        .await
        .context("cannot create the victim's token (the bench needs an admin token)")?;
    let flooder = client
        .create_token(&CreateToken {
            name: format!("{name}-flooder"),
            scopes: scope,
            publish_rate: Some(PublishRate {
                per_second: args.quota_per_second,
                burst: None,
            }),
            ..CreateToken::default()
        })
        .await
        .context("cannot create the flooder's token")?;
    let result = flood_and_time(client, name, args, &victim.token, &flooder.token).await;
    for id in [&victim.id, &flooder.id] {
        if let Err(error) = client.revoke_token(id).await {
            eprintln!("warning: cannot revoke the bench token {id}: {error}");
        }
    }
    result
}

async fn flood_and_time(
    client: &Client,
    name: &str,
    args: &BenchArgs,
    victim: &str,
    flooder: &str,
) -> anyhow::Result<QuotaReport> {
    let path = format!("/v1/topics/{name}/messages");
    let body = load::single_body(256)?;
    let sender = |token: &str| {
        let authorization = format!("Bearer {token}");
        Http1Sender::post_json(client.base_url(), Some(&authorization), &path, &body, 201)
            .map_err(anyhow::Error::msg)
    };
    let victim = sender(victim)?;
    let flooder = sender(flooder)?;
    victim
        .fresh()
        .exchange_once()
        .await
        .map_err(anyhow::Error::msg)?;
    let half = Duration::from_secs(args.seconds.max(2)) / 2;
    let budget = Budget {
        duration: half,
        max_messages: u64::MAX,
        stop: Arc::new(AtomicBool::new(false)),
    };
    eprintln!("bench: the victim publishes alone for {half:?}");
    let alone = load::drive("victim alone", 1, &budget, || victim.fresh()).await;

    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let flood: Vec<_> = (0..args.connections)
        .map(|_| {
            let mut sender = flooder.fresh();
            let (stop, accepted, refused) = (stop.clone(), accepted.clone(), refused.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match sender.status_once().await {
                        Ok(201) => accepted.fetch_add(1, Ordering::Relaxed),
                        Ok(_) => refused.fetch_add(1, Ordering::Relaxed),
                        Err(_) => refused.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    eprintln!(
        "bench: the flooder floods at its quota of {}/s over {} connections; the victim publishes for {half:?}",
        args.quota_per_second, args.connections
    );
    let during = load::drive("victim during the flood", 1, &budget, || victim.fresh()).await;
    stop.store(true, Ordering::Relaxed);
    for task in flood {
        let _ = task.await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let (accepted, refused) = (
        accepted.load(Ordering::Relaxed) as f64,
        refused.load(Ordering::Relaxed) as f64,
    );
    if alone.errors + during.errors > 0 {
        anyhow::bail!(
            "the victim's publishes failed: {}",
            alone.first_error.or(during.first_error).unwrap_or_default()
        );
    }
    Ok(QuotaReport {
        quota_per_second: args.quota_per_second,
        flood_connections: args.connections,
        flood_requests_per_s: (accepted + refused) / seconds,
        flood_accepted_per_s: accepted / seconds,
        flood_refused_per_s: refused / seconds,
        alone: Latency::from(&alone),
        during_flood: Latency::from(&during),
    })
}
