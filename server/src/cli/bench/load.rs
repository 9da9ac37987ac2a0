//! Load generation for `switchyard bench`: payloads built once, workers that repeat one
//! request until the run's time or message budget is spent, per-second progress on stderr
//! and request latencies in an HDR histogram (microseconds).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::value::RawValue;
use switchyard_client::{PublishBatch, PublishMessage};
use tokio::sync::oneshot;

/// The highest latency the histograms track exactly: one minute, in µs.
const MAX_LATENCY_US: u64 = 60_000_000;

/// A JSON payload `{"seq":N,"pad":"xx…"}` whose serialized size is exactly `size` bytes
/// (or as small as possible when `size` is below the minimum).
pub(super) fn padded_payload(seq: u64, size: usize) -> String {
    let head = format!("{{\"seq\":{seq},\"pad\":\"");
    let tail = "\"}";
    let pad = size.saturating_sub(head.len() + tail.len());
    let mut payload = String::with_capacity(head.len() + pad + tail.len());
    payload.push_str(&head);
    payload.extend(std::iter::repeat_n('x', pad));
    payload.push_str(tail);
    payload
}

/// The JSON body of one publish request: `{"payload":{"seq":N,"pad":..}}`.
pub(super) fn single_body(size: usize) -> anyhow::Result<Vec<u8>> {
    serde_json::to_vec(&message(0, size)?).context("cannot encode a bench message")
}

/// The JSON body of one batch request: `{"messages":[..]}` with `count` messages.
pub(super) fn batch_body(count: u32, size: usize) -> anyhow::Result<Vec<u8>> {
    let messages = (0..u64::from(count))
        .map(|seq| message(seq, size))
        .collect::<anyhow::Result<Vec<_>>>()?;
    serde_json::to_vec(&PublishBatch { messages }).context("cannot encode a bench batch")
}

fn message(seq: u64, size: usize) -> anyhow::Result<PublishMessage> {
    let payload = RawValue::from_string(padded_payload(seq, size))
        .context("a bench payload is valid JSON")?;
    Ok(PublishMessage {
        payload: Some(payload),
        ..PublishMessage::default()
    })
}

/// When a run ends: at `deadline`, after `max_messages`, or when `stop` is set (Ctrl-C).
#[derive(Debug, Clone)]
pub(super) struct Budget {
    pub(super) duration: Duration,
    pub(super) max_messages: u64,
    pub(super) stop: Arc<AtomicBool>,
}

/// What one run measured.
#[derive(Debug)]
pub(super) struct Measured {
    pub(super) messages: u64,
    pub(super) requests: u64,
    pub(super) errors: u64,
    pub(super) first_error: Option<String>,
    pub(super) elapsed: Duration,
    /// Request latency, µs.
    pub(super) latency: Histogram<u64>,
}

/// A run's request latency, µs, as the reports show it.
#[derive(Debug, Serialize)]
pub(super) struct Latency {
    pub(super) requests: u64,
    pub(super) p50_us: u64,
    pub(super) p99_us: u64,
    pub(super) max_us: u64,
}

impl Latency {
    /// Prints runs' latencies as a table whose first column is `title`, between blank
    /// lines.
    pub(super) fn print_table(title: &str, runs: &[(&str, &Latency)]) {
        let mut table = super::super::output::Table::new(&[title, "REQUESTS", "P50", "P99", "MAX"]);
        for (label, latency) in runs {
            table.row(vec![
                label.to_string(),
                latency.requests.to_string(),
                format!("{} µs", latency.p50_us),
                format!("{} µs", latency.p99_us),
                format!("{} µs", latency.max_us),
            ]);
        }
        println!();
        table.print();
        println!();
    }
}

impl From<&Measured> for Latency {
    fn from(measured: &Measured) -> Self {
        Self {
            requests: measured.requests,
            p50_us: measured.latency.value_at_quantile(0.50),
            p99_us: measured.latency.value_at_quantile(0.99),
            max_us: measured.latency.max(),
        }
    }
}

/// One worker's way of making a request: how many messages it published, or why not.
pub(super) trait Request: Send + 'static {
    fn send(&mut self) -> impl Future<Output = Result<u64, String>> + Send;
}

/// One batch publish of a body built once, which must get back `count` ids.
#[derive(Clone)]
pub(super) struct BatchPublish {
    pub(super) client: switchyard_client::Client,
    pub(super) path: Arc<str>,
    pub(super) body: Arc<Vec<u8>>,
    pub(super) count: u32,
}

impl Request for BatchPublish {
    async fn send(&mut self) -> Result<u64, String> {
        let answer: switchyard_client::PublishedBatch = self
            .client
            .call_bytes(
                switchyard_client::Method::POST,
                &self.path,
                super::JSON,
                self.body.to_vec(),
            )
            .await
            .map_err(|error| error.to_string())?;
        if answer.ids.len() == self.count as usize {
            Ok(u64::from(self.count))
        } else {
            Err(format!(
                "{} ids for {} messages",
                answer.ids.len(),
                self.count
            ))
        }
    }
}

impl Request for super::http1::Http1Sender {
    async fn send(&mut self) -> Result<u64, String> {
        self.exchange_once().await.map(|()| 1)
    }
}

/// Runs `workers` concurrent loops, each with its own request from `make` (which returns
/// how many messages it published), within `budget`, printing the rate on stderr once a
/// second.
pub(super) async fn drive<M, R>(label: &str, workers: u32, budget: &Budget, make: M) -> Measured
where
    M: Fn() -> R,
    R: Request,
{
    let published = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + budget.duration;
    let (done, progress_done) = oneshot::channel();
    let progress = tokio::spawn(progress(
        label.to_string(),
        published.clone(),
        progress_done,
    ));

    let mut tasks = Vec::new();
    for _ in 0..workers {
        let mut request = make();
        let published = published.clone();
        let budget = budget.clone();
        tasks.push(tokio::spawn(async move {
            let mut worker = Worker::new();
            while Instant::now() < deadline
                && !budget.stop.load(Ordering::Relaxed)
                && published.load(Ordering::Relaxed) < budget.max_messages
            {
                let sent = Instant::now();
                match request.send().await {
                    Ok(messages) => {
                        let us = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                        worker
                            .latency
                            .saturating_record(us.clamp(1, MAX_LATENCY_US));
                        worker.requests += 1;
                        published.fetch_add(messages, Ordering::Relaxed);
                    }
                    Err(error) => {
                        worker.errors += 1;
                        worker.first_error.get_or_insert(error);
                        // Do not spin on a failing server.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            worker
        }));
    }

    let mut total = Worker::new();
    for task in tasks {
        match task.await {
            Ok(worker) => total.merge(worker),
            Err(error) => {
                total.errors += 1;
                total
                    .first_error
                    .get_or_insert(format!("a bench worker failed: {error}"));
            }
        }
    }
    let elapsed = started.elapsed();
    let _ = done.send(());
    let _ = progress.await;
    Measured {
        messages: published.load(Ordering::Relaxed),
        requests: total.requests,
        errors: total.errors,
        first_error: total.first_error,
        elapsed,
        latency: total.latency,
    }
}

struct Worker {
    latency: Histogram<u64>,
    requests: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Worker {
    fn new() -> Self {
        Self {
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("constant histogram bounds are valid"),
            requests: 0,
            errors: 0,
            first_error: None,
        }
    }

    fn merge(&mut self, other: Worker) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        self.requests += other.requests;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// One stderr line a second: seconds so far, the last second's rate and the total.
async fn progress(label: String, published: Arc<AtomicU64>, mut done: oneshot::Receiver<()>) {
    let label = format!("{label}:");
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    let mut last = 0;
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let now = published.load(Ordering::Relaxed);
                eprintln!(
                    "  {label:<14} {:>3}s  {:>10} msg/s  {:>12} total",
                    started.elapsed().as_secs(),
                    thousands(now - last),
                    thousands(now)
                );
                last = now;
            }
            _ = &mut done => return,
        }
    }
}

/// `1234567` as `1,234,567`.
pub(super) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_has_the_target_size_and_is_json() {
        for (seq, size) in [(0, 256), (123_456, 256), (7, 4096), (u64::MAX, 64)] {
            let payload = padded_payload(seq, size);
            assert_eq!(payload.len(), size, "{payload}");
            let value: serde_json::Value = serde_json::from_str(&payload).unwrap();
            assert_eq!(value["seq"], seq);
        }
    }

    #[test]
    fn payload_below_the_minimum_is_minimal() {
        assert_eq!(padded_payload(1, 0), r#"{"seq":1,"pad":""}"#);
    }

    #[test]
    fn batch_body_holds_count_messages_of_the_size() {
        let body = batch_body(3, 256).unwrap();
        let batch: PublishBatch = serde_json::from_slice(&body).unwrap();
        assert_eq!(batch.messages.len(), 3);
        assert_eq!(batch.messages[2].payload.as_ref().unwrap().get().len(), 256);
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
