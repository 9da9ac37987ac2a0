//! The torture run: sequence-numbered publishers, consumers that ack, a plugin consumer
//! whose effects are counted, a dead-letter path, hot swaps of the plugin every couple of
//! seconds and repeated `kill -9` of the server (a child process restarted on the same data
//! directory), then a drain and a [`Report`] of what must hold: no acknowledged publish
//! lost, no acknowledged delivery delivered again, exactly one plugin effect per message,
//! and every duplicate delivery explained by a lease that had ended.
//!
//! The integration suite runs a short one; `cargo run -p switchyard-tests --bin torture --
//! --seconds 300 --kills 20` runs a long one and prints the report.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;
use switchyard_client::{
    BatchSettings, Client, CreateConsumer, CreateQueue, Message, PublishBatch, ReceiveRequest,
};

use crate::{ChildServer, json_message, plugin_wasm, queue, temp_data_dir};

/// How a torture run goes.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long the load runs before the drain.
    pub seconds: u64,
    /// How many times the server is killed during it (evenly spaced).
    pub kills: u32,
    /// Concurrent publishers.
    pub publishers: usize,
    /// Concurrent consumers of the plain queue.
    pub consumers: usize,
    /// The server binary.
    pub server_bin: PathBuf,
}

/// What the run saw, and what it found wrong.
#[derive(Debug, Default)]
pub struct Report {
    /// Publishes the server acknowledged (messages).
    pub published: u64,
    /// Publish calls that got no answer (cut off by a kill): may or may not be stored.
    pub unanswered_publishes: u64,
    /// Deliveries to the plain consumers.
    pub deliveries: u64,
    /// Acks the server confirmed.
    pub acked: u64,
    /// Messages delivered more than once to the plain consumers.
    pub redelivered: u64,
    /// Poison messages found in the dead-letter queue.
    pub dead_lettered: u64,
    /// Plugin effects counted.
    pub effects: u64,
    /// Kills of the server.
    pub kills: u32,
    /// Hot swaps of the plugin that took.
    pub swaps: u64,
    /// The longest time from a kill until the restarted server served, ms.
    pub longest_recovery_ms: u64,
    /// Acknowledged publishes never delivered, or poison ones not dead-lettered (must be 0).
    pub lost: Vec<String>,
    /// Acknowledged deliveries delivered again (must be 0).
    pub acked_then_redelivered: Vec<String>,
    /// Redeliveries before the earlier lease could have ended (must be 0).
    pub early_redeliveries: Vec<String>,
    /// Messages whose plugin effects were not exactly one (must be none).
    pub wrong_effects: BTreeMap<String, u64>,
}

impl Report {
    /// What broke a promise; empty when the run passed.
    pub fn violations(&self) -> Vec<String> {
        let mut broken = Vec::new();
        let mut add = |what: &str, ids: &[String]| {
            if !ids.is_empty() {
                broken.push(format!(
                    "{what}: {} (e.g. {:?})",
                    ids.len(),
                    &ids[..ids.len().min(5)]
                ));
            }
        };
        add("acknowledged publishes lost", &self.lost);
        add(
            "acknowledged deliveries delivered again",
            &self.acked_then_redelivered,
        );
        add("redeliveries inside a lease", &self.early_redeliveries);
        let wrong: Vec<String> = self
            .wrong_effects
            .iter()
            .map(|(id, n)| format!("{id}×{n}"))
            .collect();
        add("messages without exactly one plugin effect", &wrong);
        broken
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "published {} (unanswered {}), delivered {} (redelivered {}), acked {}, \
             dead-lettered {}, plugin effects {}",
            self.published,
            self.unanswered_publishes,
            self.deliveries,
            self.redelivered,
            self.acked,
            self.dead_lettered,
            self.effects
        )?;
        writeln!(
            f,
            "kills {}, longest recovery {} ms, hot swaps {}",
            self.kills, self.longest_recovery_ms, self.swaps
        )?;
        writeln!(
            f,
            "acked publishes lost {}, acked deliveries delivered again {}, redeliveries inside \
             a lease {}, messages without exactly one effect {}",
            self.lost.len(),
            self.acked_then_redelivered.len(),
            self.early_redeliveries.len(),
            self.wrong_effects.len()
        )
    }
}

/// Visibility of the plain consumers' leases.
const VISIBILITY_MS: u64 = 3_000;
/// Deliveries before a poison message is dead-lettered.
const MAX_RECEIVES: u32 = 3;
/// Every this many messages of a publisher, one is poison (always nacked).
const POISON_EVERY: u64 = 50;
/// Time between hot swaps.
const SWAP_EVERY: Duration = Duration::from_millis(1_500);
/// How long the drain may take.
const DRAIN: Duration = Duration::from_secs(120);

/// The client of whichever server process is up now.
#[derive(Clone)]
struct Current(Arc<RwLock<Client>>);

impl Current {
    fn get(&self) -> Client {
        self.0.read().expect("client lock").clone()
    }

    fn set(&self, client: Client) {
        *self.0.write().expect("client lock") = client;
    }
}

#[derive(Default)]
struct Ledger {
    /// Acknowledged publishes: id → poison.
    published: BTreeMap<String, bool>,
    unanswered: u64,
    /// id → (client time before each receive request, ms).
    deliveries: BTreeMap<String, Vec<u64>>,
    /// ids whose ack the server confirmed.
    acked: BTreeSet<String>,
    acked_then_redelivered: Vec<String>,
    early: Vec<String>,
}

/// Runs a torture run and reports (it fails only when it cannot run; check
/// [`Report::violations`]).
pub async fn run(options: Options) -> anyhow::Result<Report> {
    let (_dir, data) = temp_data_dir()?;
    let mut child = ChildServer::spawn(&options.server_bin, &data).await?;
    let current = Current(Arc::new(RwLock::new(child.client.clone())));
    let faulty = plugin_wasm("faulty")?;
    set_up(&child.client, &faulty).await?;
    let versions = two_versions(&child.client, &faulty).await?;

    let ledger: Arc<Mutex<Ledger>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for p in 0..options.publishers {
        tasks.push(tokio::spawn(publish(
            p as u64,
            current.clone(),
            stop.clone(),
            ledger.clone(),
        )));
    }
    for _ in 0..options.consumers {
        tasks.push(tokio::spawn(consume(current.clone(), ledger.clone())));
    }
    tasks.push(tokio::spawn(swap(
        current.clone(),
        stop.clone(),
        versions,
        swaps.clone(),
    )));

    let mut report = Report::default();
    let started = Instant::now();
    let load = Duration::from_secs(options.seconds);
    let between = load / (options.kills + 1);
    for kill in 1..=options.kills {
        tokio::time::sleep_until((started + between * kill).into()).await;
        child.kill_9().await?;
        let killed_at = Instant::now();
        child = ChildServer::spawn(&options.server_bin, &data).await?;
        current.set(child.client.clone());
        report.kills += 1;
        report.longest_recovery_ms = report
            .longest_recovery_ms
            .max(killed_at.elapsed().as_millis() as u64);
    }
    tokio::time::sleep_until((started + load).into()).await;
    stop.store(true, Ordering::SeqCst);
    // Publishers and the swapper stop at once; consumers go on draining.
    drain(&child.client, &ledger).await?;
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.abort();
        let _ = task.await;
    }
    report.swaps = swaps.load(Ordering::SeqCst);
    settle(&child.client, &ledger, &mut report).await?;
    Ok(report)
}

async fn set_up(client: &Client, faulty: &[u8]) -> anyhow::Result<()> {
    client.create_topic("torture").await?;
    client.create_topic("effects").await?;
    client.create_queue(&queue("plain-dlq")).await?;
    client
        .create_queue(&CreateQueue {
            name: "plain".into(),
            visibility_timeout_ms: Some(VISIBILITY_MS),
            max_receive_count: Some(MAX_RECEIVES),
            dead_letter_queue: Some("plain-dlq".into()),
            ..Default::default()
        })
        .await?;
    client.create_queue(&queue("plugin")).await?;
    client.create_queue(&queue("effects")).await?;
    client.subscribe("torture", "plain", None).await?;
    client.subscribe("torture", "plugin", None).await?;
    client.subscribe("effects", "effects", None).await?;
    client
        .deploy_plugin("counter", faulty.to_vec(), true)
        .await?;
    client
        .create_consumer(&CreateConsumer {
            name: "counter".into(),
            queue: "plugin".into(),
            plugin: "counter".into(),
            concurrency: Some(2),
            timeout_ms: Some(2_000),
            batch: Some(BatchSettings {
                max_messages: Some(20),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await?;
    Ok(())
}

/// The plugin twice, as two versions with different digests (the second one carries an
/// extra custom section), to hot-swap between.
async fn two_versions(client: &Client, faulty: &[u8]) -> anyhow::Result<[String; 2]> {
    let first = client.get_plugin("counter").await?;
    let first = first.active_version.context("an active version")?;
    let mut other = faulty.to_vec();
    let name = b"switchyard-torture";
    let payload = b"second version";
    other.push(0); // a custom section
    other.push((1 + name.len() + payload.len()) as u8);
    other.push(name.len() as u8);
    other.extend_from_slice(name);
    other.extend_from_slice(payload);
    let second = client.deploy_plugin("counter", other, false).await?.version;
    Ok([first, second])
}

async fn publish(p: u64, current: Current, stop: Arc<AtomicBool>, ledger: Arc<Mutex<Ledger>>) {
    let mut seq = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let seqs: Vec<u64> = if seq % 4 == 3 {
            (seq..seq + 5).collect()
        } else {
            vec![seq]
        };
        seq += seqs.len() as u64;
        let bodies: Vec<_> = seqs
            .iter()
            .map(|s| {
                let poison = s % POISON_EVERY == POISON_EVERY - 1;
                json_message(json!({
                    "mode": "sleep", "ms": 0, "topic": "effects",
                    "publisher": p, "seq": s, "poison": poison,
                }))
            })
            .collect();
        let client = current.get();
        let answer = if bodies.len() == 1 {
            client
                .publish("torture", &bodies[0])
                .await
                .map(|id| vec![id])
        } else {
            let batch = PublishBatch { messages: bodies };
            client.publish_batch("torture", &batch).await
        };
        let answered = answer.is_ok();
        {
            let mut ledger = ledger.lock().expect("ledger");
            match answer {
                Ok(ids) => {
                    for (id, s) in ids.into_iter().zip(&seqs) {
                        let poison = s % POISON_EVERY == POISON_EVERY - 1;
                        ledger.published.insert(id, poison);
                    }
                }
                Err(_) => ledger.unanswered += 1,
            }
        }
        if !answered {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn is_poison(message: &Message) -> bool {
    message
        .payload_json::<serde_json::Value>()
        .and_then(Result::ok)
        .is_some_and(|v| v["poison"] == json!(true))
}

/// Receives from the plain queue, nacks poison, acks the rest; records every delivery.
async fn consume(current: Current, ledger: Arc<Mutex<Ledger>>) {
    let request = ReceiveRequest {
        max_messages: Some(10),
        wait_ms: Some(500),
        visibility_timeout_ms: Some(VISIBILITY_MS),
    };
    loop {
        let client = current.get();
        let asked_at = crate::now_ms();
        let messages = match client.receive("plain", &request).await {
            Ok(messages) => messages,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let (mut acks, mut nacks) = (Vec::new(), Vec::new());
        {
            let mut ledger = ledger.lock().expect("ledger");
            for message in &messages {
                if ledger.acked.contains(&message.id) {
                    ledger.acked_then_redelivered.push(message.id.clone());
                }
                // The earlier lease started after its request was sent: a delivery answered
                // before that time plus the visibility came inside the lease (a nacked
                // poison message comes back at once, as it should).
                let last = ledger
                    .deliveries
                    .get(&message.id)
                    .and_then(|d| d.last().copied());
                if let Some(last) = last
                    && crate::now_ms() < last + VISIBILITY_MS
                    && !is_poison(message)
                {
                    ledger.early.push(message.id.clone());
                }
                ledger
                    .deliveries
                    .entry(message.id.clone())
                    .or_default()
                    .push(asked_at);
                let receipt = message.receipt.clone().unwrap_or_default();
                if is_poison(message) {
                    nacks.push(receipt);
                } else {
                    acks.push((message.id.clone(), receipt));
                }
            }
        }
        if !nacks.is_empty() {
            let _ = client.nack("plain", nacks, None).await;
        }
        if acks.is_empty() {
            continue;
        }
        let receipts = acks.iter().map(|(_, r)| r.clone()).collect();
        if let Ok(answer) = client.ack("plain", receipts).await {
            let failed: BTreeSet<&str> = answer.failed.iter().map(|f| f.receipt.as_str()).collect();
            let mut ledger = ledger.lock().expect("ledger");
            for (id, receipt) in &acks {
                if !failed.contains(receipt.as_str()) {
                    ledger.acked.insert(id.clone());
                }
            }
        }
    }
}

/// Flips the plugin's active version back and forth.
async fn swap(
    current: Current,
    stop: Arc<AtomicBool>,
    versions: [String; 2],
    swaps: Arc<AtomicU64>,
) {
    let mut next = 1;
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(SWAP_EVERY).await;
        if current
            .get()
            .activate_plugin("counter", &versions[next])
            .await
            .is_ok()
        {
            swaps.fetch_add(1, Ordering::SeqCst);
            next = 1 - next;
        }
    }
}

/// Waits until the plain and plugin queues are empty and every acknowledged message was
/// handled (bounded by [`DRAIN`]).
async fn drain(client: &Client, ledger: &Mutex<Ledger>) -> anyhow::Result<()> {
    let deadline = Instant::now() + DRAIN;
    loop {
        let mut busy = 0;
        for name in ["plain", "plugin"] {
            let stats = client.get_queue(name).await?.stats.context("stats")?;
            busy += stats.ready + stats.in_flight + stats.delayed;
        }
        let undelivered = {
            let ledger = ledger.lock().expect("ledger");
            ledger
                .published
                .iter()
                .filter(|(id, poison)| !**poison && !ledger.deliveries.contains_key(*id))
                .count()
        };
        if busy == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "not drained after {DRAIN:?}: {busy} queued, {undelivered} acknowledged \
                 publishes never delivered"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads the dead letters and the effects, and fills the report.
async fn settle(
    client: &Client,
    ledger: &Mutex<Ledger>,
    report: &mut Report,
) -> anyhow::Result<()> {
    let dead: BTreeSet<String> = read_all(client, "plain-dlq")
        .await?
        .into_iter()
        .map(|m| m.id)
        .collect();
    let mut effects: BTreeMap<String, u64> = BTreeMap::new();
    for message in read_all(client, "effects").await? {
        let effect: serde_json::Value = message.payload_json().context("a JSON effect")??;
        let id = effect["id"].as_str().unwrap_or_default().to_string();
        *effects.entry(id).or_default() += 1;
    }
    let ledger = ledger.lock().expect("ledger");
    report.published = ledger.published.len() as u64;
    report.unanswered_publishes = ledger.unanswered;
    report.deliveries = ledger.deliveries.values().map(|d| d.len() as u64).sum();
    report.redelivered = ledger.deliveries.values().filter(|d| d.len() > 1).count() as u64;
    report.acked = ledger.acked.len() as u64;
    report.dead_lettered = dead.len() as u64;
    report.effects = effects.values().sum();
    report.acked_then_redelivered = ledger.acked_then_redelivered.clone();
    report.early_redeliveries = ledger.early.clone();
    for (id, poison) in &ledger.published {
        // An ack whose answer a kill cut off may have committed: a delivered message is not
        // lost. A poison message must end as a dead letter.
        let handled = if *poison {
            dead.contains(id)
        } else {
            ledger.deliveries.contains_key(id)
        };
        if !handled {
            report.lost.push(id.clone());
        }
        let count = effects.get(id).copied().unwrap_or(0);
        if count != 1 {
            report.wrong_effects.insert(id.clone(), count);
        }
    }
    // A publish that got no answer may have been stored: its effects count too, once.
    for (id, count) in &effects {
        if *count != 1 && !ledger.published.contains_key(id) {
            report.wrong_effects.insert(id.clone(), *count);
        }
    }
    Ok(())
}

/// Every message of a queue, in id order (peeked, not leased).
async fn read_all(client: &Client, queue: &str) -> anyhow::Result<Vec<Message>> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = client.peek(queue, 1000, after.as_deref()).await?;
        let Some(last) = page.last() else {
            return Ok(all);
        };
        after = Some(last.id.clone());
        all.extend(page);
    }
}
