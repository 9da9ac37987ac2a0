//! Plugins (WebAssembly components and their versions) and consumers (a queue wired to a
//! plugin).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A plugin: its uploaded versions and the active one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plugin {
    /// Its name.
    pub name: String,
    /// The version new batches run.
    pub active_version: Option<String>,
    /// Every uploaded version, oldest first.
    pub versions: Vec<PluginVersion>,
    /// Unix ms.
    pub created_at_ms: u64,
}

/// One uploaded version of a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginVersion {
    /// Content digest: `sha256:` and 64 hex digits.
    pub version: String,
    /// Size of the component.
    pub size_bytes: u64,
    /// Unix ms.
    pub uploaded_at_ms: u64,
    /// Whether it is the active version.
    pub active: bool,
}

/// The list of plugins.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginList {
    /// Every plugin, by name.
    pub plugins: Vec<Plugin>,
}

/// The answer to an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployedVersion {
    /// The plugin.
    pub plugin: String,
    /// The version's digest.
    pub version: String,
    /// Whether it is now the active version.
    pub active: bool,
    /// False when the same bytes had been uploaded before.
    pub created: bool,
}

/// `POST /v1/plugins/{name}/activate`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivateVersion {
    /// The version (its full digest, or a unique prefix of its hex digits).
    pub version: String,
}

/// A value of a plugin's key-value store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvEntry {
    /// The key.
    pub key: String,
    /// The value, when it is UTF-8 text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The value in base64, when it is not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_base64: Option<String>,
}

/// How a consumer batches (request form: unset fields keep their default or value).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSettings {
    /// Most messages per invocation (1 to 10 000; default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_messages: Option<u32>,
    /// Most payload bytes per invocation (up to 64 MiB; default 1 MiB; a larger message
    /// goes alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// The batch window (up to 24 h; default 0): with one, a batch is formed once the queue
    /// holds `max_messages` or `max_bytes` of ready messages, or its first ready message has
    /// waited this long; no message is leased while the batch forms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wait_ms: Option<u64>,
}

/// How a consumer batches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batching {
    /// Most messages per invocation.
    pub max_messages: u32,
    /// Most payload bytes per invocation.
    pub max_bytes: u64,
    /// The batch window (see [`BatchSettings::max_wait_ms`]).
    pub max_wait_ms: u64,
}

/// `POST /v1/consumers`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateConsumer {
    /// Its name.
    pub name: String,
    /// The queue it leases from.
    pub queue: String,
    /// The plugin it runs (the plugin's active version, at each batch).
    pub plugin: String,
    /// Batching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchSettings>,
    /// Invocations at once (1 to 64; default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Wall-clock deadline per invocation (default 30 s, max 15 min).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Memory cap per invocation (default 64 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// Fuel per invocation (roughly, wasm instructions executed); none: no fuel limit, the
    /// deadline alone bounds an invocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Values the plugin reads with `config(name)`.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Values the plugin reads with `config(name)` too, but that no answer, log or page
    /// ever shows again (API keys, passwords): write-only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
    /// Origins outbound HTTP may reach (`https://name`, `http://name:port`); none by
    /// default.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
}

/// `PATCH /v1/consumers/{name}`: what is set changes; the next batch uses it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchConsumer {
    /// Another plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// Batching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchSettings>,
    /// Invocations at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Deadline per invocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Memory cap per invocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// Fuel per invocation; `null` removes the limit.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::double_option"
    )]
    pub fuel: Option<Option<u64>>,
    /// Replaces the config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<BTreeMap<String, String>>,
    /// Replaces the secrets (write-only; see [`CreateConsumer::secrets`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<BTreeMap<String, String>>,
    /// Replaces the allow-list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_hosts: Option<Vec<String>>,
}

/// Whether a consumer leases messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsumerState {
    /// Leasing and invoking.
    Running,
    /// Leasing nothing until resumed.
    Paused,
}

/// The last failure of a consumer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerFailure {
    /// Unix ms.
    pub at_ms: u64,
    /// `deadline`, `memory`, `panic`, `trap`, `bad_outcomes`, or `error` (not the plugin's).
    pub kind: String,
    /// In words.
    pub message: String,
}

/// A consumer's counters since the server started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerStats {
    /// Invocations of the plugin.
    pub invocations: u64,
    /// Messages handed to it.
    pub messages: u64,
    /// Messages acked.
    pub acked: u64,
    /// Messages retried (by outcome or because the invocation faulted).
    pub retried: u64,
    /// Messages dead-lettered by outcome.
    pub dead_lettered: u64,
    /// Messages published by the plugin.
    pub published: u64,
    /// Invocations running now.
    pub in_flight: u64,
    /// The most invocations that ran at once.
    pub peak_in_flight: u64,
    /// Faulted invocations by kind (`deadline`, `memory`, `panic`, `trap`, `bad_outcomes`).
    pub faults: BTreeMap<String, u64>,
    /// The last failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<ConsumerFailure>,
}

/// A consumer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consumer {
    /// Its name.
    pub name: String,
    /// The queue it leases from.
    pub queue: String,
    /// The plugin it runs.
    pub plugin: String,
    /// Batching.
    pub batch: Batching,
    /// Invocations at once.
    pub concurrency: u32,
    /// Deadline per invocation.
    pub timeout_ms: u64,
    /// Memory cap per invocation.
    pub memory_bytes: u64,
    /// Fuel per invocation, if limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Config values.
    pub config: BTreeMap<String, String>,
    /// The names of its secrets (their values are never shown).
    #[serde(default)]
    pub secret_names: Vec<String>,
    /// Hosts outbound HTTP may reach.
    pub allowed_hosts: Vec<String>,
    /// Running or paused.
    pub state: ConsumerState,
    /// Counters.
    pub stats: ConsumerStats,
    /// Unix ms.
    pub created_at_ms: u64,
}

/// The list of consumers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsumerList {
    /// Every consumer, by name.
    pub consumers: Vec<Consumer>,
}

/// One line of a consumer's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Position in the log; ask for lines after it to follow.
    pub seq: u64,
    /// Unix ms.
    pub at_ms: u64,
    /// `trace`, `debug`, `info`, `warn`, `error`.
    pub level: String,
    /// The text.
    pub text: String,
}

/// Lines of a consumer's log (the most recent are kept).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsumerLogs {
    /// The lines, oldest first.
    pub entries: Vec<LogEntry>,
}
