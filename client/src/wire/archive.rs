//! Wire types of topic archives: retention settings and stats, archive points (a position
//! or a time), replay jobs, and the draft-filter preview.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::Attributes;

/// A topic archive's retention. Both limits are optional; with neither, the archive keeps
/// everything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveSettings {
    /// Drop messages archived longer ago than this (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_ms: Option<u64>,
    /// Drop the oldest messages while the archive holds more bytes than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
}

/// What a topic's archive holds. Positions count up from 0 per topic and never repeat;
/// times are publish times, made non-decreasing along positions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveStats {
    /// Messages archived.
    pub messages: u64,
    /// Their stored size (payload, attributes, key), in bytes.
    pub bytes: u64,
    /// Oldest archived position.
    pub first_position: Option<u64>,
    /// Newest archived position.
    pub last_position: Option<u64>,
    /// Archive time of the oldest message (Unix ms).
    pub first_time_ms: Option<u64>,
    /// Archive time of the newest message (Unix ms).
    pub last_time_ms: Option<u64>,
    /// The position the next publish gets.
    pub next_position: u64,
}

/// A point in a topic's archive: `{"position": n}` or `{"time_ms": t}` (the first message
/// archived at or after `t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ArchivePoint {
    /// An archive position.
    Position(u64),
    /// A Unix time in ms.
    TimeMs(u64),
}

/// `POST /v1/topics/{t}/replays`: copy archived messages `from` (inclusive) `to`
/// (exclusive; default: the end of the archive now) into a queue, optionally through a
/// filter.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartReplay {
    /// The queue that receives the copies.
    pub queue: String,
    /// First point of the range.
    pub from: ArchivePoint,
    /// End of the range (exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<ArchivePoint>,
    /// Only messages matching this pattern are copied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<serde_json::Value>,
}

/// Where a replay job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayState {
    /// Copying, batch by batch.
    Running,
    /// Every position of the range was scanned.
    Done,
    /// Stopped by an error (see `error`).
    Failed,
    /// Stopped on request.
    Cancelled,
}

impl ReplayState {
    /// Its name on the wire: `running`, `done`, `failed` or `cancelled`.
    pub fn name(self) -> &'static str {
        match self {
            ReplayState::Running => "running",
            ReplayState::Done => "done",
            ReplayState::Failed => "failed",
            ReplayState::Cancelled => "cancelled",
        }
    }

    /// Whether the job has stopped for good.
    pub fn is_finished(self) -> bool {
        self != ReplayState::Running
    }
}

/// A replay job and its progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replay {
    /// Its id (a ULID).
    pub id: String,
    /// The topic whose archive it reads.
    pub topic: String,
    /// The queue it copies into.
    pub queue: String,
    /// The subscription whose history it carries, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<String>,
    /// The filter, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<serde_json::Value>,
    /// First position (inclusive).
    pub from_position: u64,
    /// End position (exclusive).
    pub to_position: u64,
    /// Running, done, failed or cancelled.
    pub state: ReplayState,
    /// Archived messages read so far.
    pub scanned: u64,
    /// Of those, the ones that matched the filter and were copied.
    pub matched: u64,
    /// Archived messages in the range when the job started.
    pub total: u64,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Unix ms.
    pub created_at_ms: u64,
    /// Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at_ms: Option<u64>,
}

/// `GET /v1/replays`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplayList {
    /// Every job, oldest first.
    pub replays: Vec<Replay>,
}

/// `POST /v1/topics/{t}/preview`: evaluate a draft filter against the newest archived
/// messages. Changes nothing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// The draft pattern.
    pub filter: serde_json::Value,
    /// How many of the newest archived messages to test: 1..=10000, default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// The answer to a preview.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PreviewResponse {
    /// Archived messages tested.
    pub scanned: u64,
    /// Of those, the ones the pattern matched.
    pub matched: u64,
    /// Up to 5 of the matching messages, newest first.
    pub examples: Vec<ArchivedMessage>,
    /// Whether the preview stopped before `limit` messages because it had read 64 MiB of
    /// payloads.
    #[serde(default)]
    pub byte_limit_reached: bool,
}

/// A message read from an archive.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArchivedMessage {
    /// Its position in the archive.
    pub position: u64,
    /// Its archive time (Unix ms).
    pub time_ms: u64,
    /// The message id.
    pub id: String,
    /// The payload, when it was published as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Box<RawValue>>,
    /// The payload, when it was published as bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_base64: Option<String>,
    /// String attributes.
    #[serde(default)]
    pub attributes: Attributes,
    /// The key, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// When it was published (Unix ms).
    pub published_at_ms: u64,
}
