//! The client's calls for plugins and consumers.

use crate::http::segment;
use crate::{
    ActivateVersion, Client, ClientError, Consumer, ConsumerList, ConsumerLogs, CreateConsumer,
    DeployedVersion, KvEntry, LogEntry, Method, PatchConsumer, Plugin, PluginList,
};

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

    /// Deletes a version that is not the active one (its digest, or a unique prefix).
    pub async fn delete_plugin_version(
        &self,
        name: &str,
        version: &str,
    ) -> Result<(), ClientError> {
        self.delete(&format!(
            "/v1/plugins/{}/versions/{}",
            segment(name),
            segment(version)
        ))
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
