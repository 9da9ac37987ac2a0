//! Wire types and client calls for plugins (WebAssembly components and their versions) and
//! consumers (a queue wired to a plugin).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Client, ClientError, Method, segment};

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
    /// Most messages per invocation (1 to 1000; default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_messages: Option<u32>,
    /// Most payload bytes per invocation (default 1 MiB; a larger message goes alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// How long to gather a fuller batch once the first message is there (default 0).
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
    /// How long to gather a fuller batch once the first message is there.
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
    /// Values the plugin reads with `config(name)`.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Hosts outbound HTTP may reach (`name` or `name:port`); none by default.
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
    /// Replaces the config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<BTreeMap<String, String>>,
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
    /// Config values.
    pub config: BTreeMap<String, String>,
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

impl Client {
    /// Uploads a component as a new version of `plugin` (activated unless `activate` is
    /// false and the plugin already has an active version).
    pub async fn deploy_plugin(
        &self,
        plugin: &str,
        wasm: Vec<u8>,
        activate: bool,
    ) -> Result<DeployedVersion, ClientError> {
        let path = format!(
            "/v1/plugins/{}/versions?activate={activate}",
            segment(plugin)
        );
        self.call_bytes(Method::POST, &path, "application/wasm", wasm)
            .await
    }

    /// Every plugin.
    pub async fn list_plugins(&self) -> Result<Vec<Plugin>, ClientError> {
        let list: PluginList = self.get("/v1/plugins").await?;
        Ok(list.plugins)
    }

    /// One plugin.
    pub async fn get_plugin(&self, name: &str) -> Result<Plugin, ClientError> {
        self.get(&format!("/v1/plugins/{}", segment(name))).await
    }

    /// Makes `version` the one new batches run.
    pub async fn activate_plugin(&self, name: &str, version: &str) -> Result<Plugin, ClientError> {
        let body = ActivateVersion {
            version: version.to_string(),
        };
        self.post(&format!("/v1/plugins/{}/activate", segment(name)), &body)
            .await
    }

    /// A value of a plugin's key-value store.
    pub async fn plugin_kv(&self, name: &str, key: &str) -> Result<KvEntry, ClientError> {
        self.get(&format!(
            "/v1/plugins/{}/kv/{}",
            segment(name),
            segment(key)
        ))
        .await
    }

    /// Creates a consumer.
    pub async fn create_consumer(
        &self,
        consumer: &CreateConsumer,
    ) -> Result<Consumer, ClientError> {
        self.post("/v1/consumers", consumer).await
    }

    /// Every consumer.
    pub async fn list_consumers(&self) -> Result<Vec<Consumer>, ClientError> {
        let list: ConsumerList = self.get("/v1/consumers").await?;
        Ok(list.consumers)
    }

    /// One consumer with its counters.
    pub async fn get_consumer(&self, name: &str) -> Result<Consumer, ClientError> {
        self.get(&format!("/v1/consumers/{}", segment(name))).await
    }

    /// Changes a consumer.
    pub async fn patch_consumer(
        &self,
        name: &str,
        patch: &PatchConsumer,
    ) -> Result<Consumer, ClientError> {
        self.call(
            Method::PATCH,
            &format!("/v1/consumers/{}", segment(name)),
            Some(patch),
        )
        .await
    }

    /// Pauses a consumer (batches in flight finish).
    pub async fn pause_consumer(&self, name: &str) -> Result<Consumer, ClientError> {
        self.post(
            &format!("/v1/consumers/{}/pause", segment(name)),
            &serde_json::json!({}),
        )
        .await
    }

    /// Resumes a consumer.
    pub async fn resume_consumer(&self, name: &str) -> Result<Consumer, ClientError> {
        self.post(
            &format!("/v1/consumers/{}/resume", segment(name)),
            &serde_json::json!({}),
        )
        .await
    }

    /// Deletes a consumer (batches in flight finish).
    pub async fn delete_consumer(&self, name: &str) -> Result<(), ClientError> {
        self.delete(&format!("/v1/consumers/{}", segment(name)))
            .await
    }

    /// Lines of a consumer's log after `after` (all kept lines when `None`).
    pub async fn consumer_logs(
        &self,
        name: &str,
        after: Option<u64>,
    ) -> Result<Vec<LogEntry>, ClientError> {
        let mut path = format!("/v1/consumers/{}/logs", segment(name));
        if let Some(after) = after {
            path.push_str(&format!("?after={after}"));
        }
        let logs: ConsumerLogs = self.get(&path).await?;
        Ok(logs.entries)
    }
}
