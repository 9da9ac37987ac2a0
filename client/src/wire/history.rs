//! `GET /v1/history`: the figures the server sampled over the last hour, so charts can show
//! what happened before they were opened.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::QueueStats;

/// Samples, oldest first, one every `interval_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Time between samples (ms).
    pub interval_ms: u64,
    /// The samples, oldest first (at most an hour's worth at the default interval).
    pub samples: Vec<HistorySample>,
}

/// Every queue's counts and every topic's publishes at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistorySample {
    /// When (Unix ms).
    pub at_ms: u64,
    /// Queue name → its counts then.
    pub queues: BTreeMap<String, QueueStats>,
    /// Topic name → messages published to it since the server started, then.
    pub topics: BTreeMap<String, u64>,
}
