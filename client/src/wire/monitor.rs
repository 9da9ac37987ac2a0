//! Wire types of the task monitor (`GET /v1/monitor`, `GET /v1/monitor/{queue}`): how many
//! messages have waited or been in flight longer than each of a queue's thresholds, and the
//! invocations each consumer has been running that long.

use serde::{Deserialize, Serialize};

use super::DeliveryState;

/// The thresholds a queue's monitor counts against when it sets none: 5, 10 and 45 minutes.
pub const DEFAULT_MONITOR_THRESHOLDS_MS: [u64; 3] = [5 * 60_000, 10 * 60_000, 45 * 60_000];

/// [`DEFAULT_MONITOR_THRESHOLDS_MS`] as a list.
pub fn default_monitor_thresholds() -> Vec<u64> {
    DEFAULT_MONITOR_THRESHOLDS_MS.to_vec()
}

/// `GET /v1/monitor`: every queue and consumer the token may read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorReport {
    /// When the report was made (Unix ms); ages count to then.
    pub at_ms: u64,
    /// One entry per queue, by name.
    pub queues: Vec<QueueMonitor>,
    /// One entry per consumer, by name.
    pub consumers: Vec<ConsumerMonitor>,
}

/// One queue in the monitor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueMonitor {
    /// The queue.
    pub queue: String,
    /// Its thresholds, ascending (`monitor_thresholds_ms`).
    pub thresholds_ms: Vec<u64>,
    /// Messages waiting to be delivered (ready, delayed, or behind an earlier message with
    /// their key), by how long they have been in the queue.
    pub waiting: AgeBuckets,
    /// Messages leased to a receiver, by how long their current lease has lasted.
    pub in_flight: AgeBuckets,
    /// Message copies the scan looked at.
    pub scanned: u64,
    /// False when the scan stopped at its bound before it was done: the counts are then
    /// lower bounds (a queue with that many stuck messages needs no exact figure to act on).
    pub complete: bool,
}

/// Counts of messages (or invocations) over each threshold, and the oldest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgeBuckets {
    /// How many there are, whatever their age.
    pub total: u64,
    /// One bucket per threshold, in the same order: how many are older than it.
    pub over: Vec<AgeBucket>,
    /// The age of the oldest (none when there are none).
    pub oldest_age_ms: Option<u64>,
    /// The message id of the oldest, when these are messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_id: Option<String>,
}

/// How many are older than one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgeBucket {
    /// The threshold.
    pub threshold_ms: u64,
    /// How many are older than it.
    pub count: u64,
}

/// One consumer in the monitor: its invocations running now, by how long they have run,
/// against the thresholds of the queue it consumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsumerMonitor {
    /// The consumer.
    pub consumer: String,
    /// The queue it consumes.
    pub queue: String,
    /// The plugin it runs.
    pub plugin: String,
    /// The queue's thresholds.
    pub thresholds_ms: Vec<u64>,
    /// Invocations running now, by how long they have run.
    pub running: AgeBuckets,
    /// Each invocation running now, longest first.
    pub invocations: Vec<RunningInvocation>,
}

/// One plugin invocation in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningInvocation {
    /// When it started (Unix ms).
    pub started_at_ms: u64,
    /// How long it has run.
    pub age_ms: u64,
    /// Messages in its batch.
    pub messages: u32,
}

/// `GET /v1/monitor/{queue}?over_ms=&limit=&after=`: the queue's stuck messages, oldest id
/// first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StuckMessages {
    /// The queue.
    pub queue: String,
    /// Its thresholds.
    pub thresholds_ms: Vec<u64>,
    /// The age a message is listed from (default: the smallest threshold).
    pub over_ms: u64,
    /// When the list was made (Unix ms).
    pub at_ms: u64,
    /// The messages, oldest id first.
    pub messages: Vec<StuckMessage>,
    /// Pass as `after` for the next page; none when the list is at its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
    /// False when the scan stopped at its bound before it reached `limit` messages or the
    /// end of the stuck ones: ask again with `after` for more.
    pub complete: bool,
}

/// One stuck message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StuckMessage {
    /// Its id.
    pub id: String,
    /// Where it is: `ready`, `delayed`, `behind_key` (waiting) or `in_flight`.
    pub state: DeliveryState,
    /// How long it has waited in the queue, or (in flight) how long its lease has lasted.
    pub age_ms: u64,
    /// Deliveries so far.
    pub receive_count: u32,
    /// When it became (or becomes) visible, or its lease ends (Unix ms).
    pub visible_at_ms: u64,
    /// The last failure the server knows of: a plugin fault or dead-letter reason of a
    /// recent delivery, or the reason it was dead-lettered into this queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}
