//! `GET /metrics`: Prometheus text format: the write path (commits are fsyncs) and every
//! queue's depth by state.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::AppState;

pub(super) async fn render(State(broker): State<AppState>) -> impl IntoResponse {
    let counters = broker.write_counters();
    let mut out = String::with_capacity(1024);
    let mut counter = |name: &str, help: &str, value: f64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    };
    counter(
        "switchyard_storage_commits_total",
        "Durable commits (one fsync each).",
        counters.commits.load(Ordering::Relaxed) as f64,
    );
    counter(
        "switchyard_storage_write_requests_total",
        "Write requests answered by those commits.",
        counters.requests.load(Ordering::Relaxed) as f64,
    );
    counter(
        "switchyard_storage_ops_total",
        "Storage ops applied.",
        counters.ops.load(Ordering::Relaxed) as f64,
    );
    counter(
        "switchyard_storage_commit_seconds_total",
        "Time spent committing, fsync included.",
        counters.commit_micros.load(Ordering::Relaxed) as f64 / 1e6,
    );
    if let Some(seconds) = process_cpu_seconds() {
        counter(
            "process_cpu_seconds_total",
            "User and system CPU time of the server process.",
            seconds,
        );
    }
    let stored = broker.clone();
    if let Ok(Ok(bodies)) = tokio::task::spawn_blocking(move || stored.stored_messages()).await {
        let _ = writeln!(
            out,
            "# HELP switchyard_storage_message_bodies Message bodies stored (one per publish, kept until its last queue copy is gone).\n# TYPE switchyard_storage_message_bodies gauge\nswitchyard_storage_message_bodies {bodies}"
        );
    }
    let queues = broker.list_queues();
    let _ = writeln!(
        out,
        "# HELP switchyard_queue_messages Messages in a queue by state.\n# TYPE switchyard_queue_messages gauge"
    );
    for queue in &queues {
        let stats = queue.stats.clone().unwrap_or_default();
        for (state, value) in [
            ("ready", stats.ready),
            ("in_flight", stats.in_flight),
            ("delayed", stats.delayed),
        ] {
            let _ = writeln!(
                out,
                "switchyard_queue_messages{{queue=\"{}\",state=\"{state}\"}} {value}",
                queue.name
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP switchyard_queue_oldest_age_seconds Age of the oldest message in a queue.\n# TYPE switchyard_queue_oldest_age_seconds gauge"
    );
    for queue in &queues {
        let age = queue
            .stats
            .as_ref()
            .and_then(|s| s.oldest_age_ms)
            .unwrap_or(0);
        let _ = writeln!(
            out,
            "switchyard_queue_oldest_age_seconds{{queue=\"{}\"}} {}",
            queue.name,
            age as f64 / 1000.0
        );
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

/// CPU time of this process from `/proc/self/stat` (Linux; clock ticks are 1/100 s there).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}
