//! Plugins, their content-addressed component binaries, consumers, and each plugin's
//! key-value store. Written through the same group commit as everything else, so a
//! batch's key-value writes commit with its outcomes.

use std::collections::BTreeMap;

use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{Storage, StorageError, read_json};

/// Plugin name → JSON [`PluginRecord`].
pub(super) const PLUGINS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("plugins");
/// Version digest → the component's bytes (stored once, whichever plugin uploads it).
pub(super) const PLUGIN_BINARIES: TableDefinition<'_, &str, &[u8]> =
    TableDefinition::new("plugin_binaries");
/// Consumer name → JSON [`ConsumerRecord`].
pub(super) const CONSUMERS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("consumers");
/// `<plugin>\0<key>` → value.
pub(super) const PLUGIN_KV: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("plugin_kv");

/// A plugin: its versions and which one is active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginRecord {
    /// Its name.
    pub name: String,
    /// The version new batches run.
    pub active_version: Option<String>,
    /// Every uploaded version, oldest first.
    pub versions: Vec<PluginVersionRecord>,
    /// Unix ms.
    pub created_at_ms: u64,
}

/// One uploaded version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginVersionRecord {
    /// Content digest (`sha256:` + hex), also the key of its binary.
    pub version: String,
    /// Size of the component.
    pub size_bytes: u64,
    /// Unix ms.
    pub uploaded_at_ms: u64,
}

/// A consumer: a queue wired to a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerRecord {
    /// Its name.
    pub name: String,
    /// The queue it leases from.
    pub queue: String,
    /// The plugin it runs (its active version).
    pub plugin: String,
    /// Most messages per invocation.
    pub max_messages: u32,
    /// Most payload bytes per invocation (a larger single message goes alone).
    pub max_bytes: u64,
    /// How long to gather a fuller batch after the first message.
    pub max_wait_ms: u64,
    /// Invocations at once.
    pub concurrency: u32,
    /// Wall-clock deadline per invocation.
    pub timeout_ms: u64,
    /// Memory cap per invocation.
    pub memory_bytes: u64,
    /// Fuel per invocation, if limited (absent in records written before fuel existed).
    #[serde(default)]
    pub fuel: Option<u64>,
    /// Values the plugin reads with `config`.
    pub config: BTreeMap<String, String>,
    /// Values the plugin reads with `config` that are never shown (absent in records
    /// written before secrets existed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
    /// Hosts outbound HTTP may reach.
    pub allowed_hosts: Vec<String>,
    /// Paused consumers lease nothing.
    pub paused: bool,
    /// Unix ms.
    pub created_at_ms: u64,
}

/// A change to plugins, consumers or plugin key-value stores.
#[derive(Debug)]
pub enum PluginOp {
    /// Create or replace a plugin record, storing a new binary with it.
    PutPlugin {
        /// The record.
        record: PluginRecord,
        /// A new version's digest and bytes.
        binary: Option<(String, Vec<u8>)>,
    },
    /// Replace a plugin record that no longer lists `version`, and delete the version's
    /// binary unless another plugin's record still lists it.
    DeleteVersion {
        /// The record without the version.
        record: PluginRecord,
        /// The deleted version's digest.
        version: String,
    },
    /// Create or replace a consumer.
    PutConsumer(ConsumerRecord),
    /// Delete a consumer.
    DeleteConsumer {
        /// Its name.
        name: String,
    },
    /// Set (`Some`) or delete (`None`) a key of a plugin's store.
    PutKv {
        /// The plugin.
        plugin: String,
        /// The key.
        key: String,
        /// The value.
        value: Option<Vec<u8>>,
    },
}

/// Plugins and consumers read back at start.
#[derive(Debug, Default)]
pub struct RecoveredPlugins {
    /// Every plugin.
    pub plugins: Vec<PluginRecord>,
    /// Every consumer.
    pub consumers: Vec<ConsumerRecord>,
}

fn kv_key(plugin: &str, key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(plugin.len() + 1 + key.len());
    out.extend_from_slice(plugin.as_bytes());
    out.push(0);
    out.extend_from_slice(key.as_bytes());
    out
}

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StorageError> {
    txn.open_table(PLUGINS)?;
    txn.open_table(PLUGIN_BINARIES)?;
    txn.open_table(CONSUMERS)?;
    txn.open_table(PLUGIN_KV)?;
    Ok(())
}

/// Applies one op inside the writer's transaction. Returns whether it changed a record.
pub(super) fn apply(txn: &WriteTransaction, op: PluginOp) -> Result<bool, StorageError> {
    match op {
        PluginOp::PutPlugin { record, binary } => {
            if let Some((digest, bytes)) = binary {
                txn.open_table(PLUGIN_BINARIES)?
                    .insert(digest.as_str(), bytes.as_slice())?;
            }
            let json = serde_json::to_vec(&record).expect("a plugin record serializes");
            txn.open_table(PLUGINS)?
                .insert(record.name.as_str(), json.as_slice())?;
            Ok(true)
        }
        PluginOp::DeleteVersion { record, version } => {
            let json = serde_json::to_vec(&record).expect("a plugin record serializes");
            let mut plugins = txn.open_table(PLUGINS)?;
            plugins.insert(record.name.as_str(), json.as_slice())?;
            if !listed_anywhere(&plugins, &version)? {
                txn.open_table(PLUGIN_BINARIES)?.remove(version.as_str())?;
            }
            Ok(true)
        }
        PluginOp::PutConsumer(record) => {
            let json = serde_json::to_vec(&record).expect("a consumer record serializes");
            txn.open_table(CONSUMERS)?
                .insert(record.name.as_str(), json.as_slice())?;
            Ok(true)
        }
        PluginOp::DeleteConsumer { name } => {
            Ok(txn.open_table(CONSUMERS)?.remove(name.as_str())?.is_some())
        }
        PluginOp::PutKv { plugin, key, value } => {
            let mut table = txn.open_table(PLUGIN_KV)?;
            let key = kv_key(&plugin, &key);
            match value {
                Some(value) => {
                    table.insert(key.as_slice(), value.as_slice())?;
                    Ok(true)
                }
                None => Ok(table.remove(key.as_slice())?.is_some()),
            }
        }
    }
}

/// Whether any plugin record lists `version`.
fn listed_anywhere(
    plugins: &impl ReadableTable<&'static str, &'static [u8]>,
    version: &str,
) -> Result<bool, StorageError> {
    for row in plugins.iter()? {
        let (name, json) = row?;
        let record: PluginRecord =
            serde_json::from_slice(json.value()).map_err(|e| StorageError::Corrupt {
                what: format!("plugin record {:?}: {e}", name.value()),
            })?;
        if record.versions.iter().any(|v| v.version == version) {
            return Ok(true);
        }
    }
    Ok(false)
}

impl Storage {
    /// Every plugin and consumer (blocking).
    pub fn read_plugins(&self) -> Result<RecoveredPlugins, StorageError> {
        let txn = self.db()?.begin_read()?;
        Ok(RecoveredPlugins {
            plugins: read_json(&txn.open_table(PLUGINS)?)?,
            consumers: read_json(&txn.open_table(CONSUMERS)?)?,
        })
    }

    /// A plugin version's component bytes (blocking).
    pub fn read_plugin_binary(&self, digest: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(PLUGIN_BINARIES)?;
        Ok(table.get(digest)?.map(|bytes| bytes.value().to_vec()))
    }

    /// A key of a plugin's store (blocking).
    pub fn read_kv(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(PLUGIN_KV)?;
        Ok(table
            .get(kv_key(plugin, key).as_slice())?
            .map(|bytes| bytes.value().to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use redb::Database;
    use redb::backends::InMemoryBackend;

    use super::*;
    use crate::storage::Op;

    fn record(name: &str, versions: &[&str]) -> PluginRecord {
        PluginRecord {
            name: name.into(),
            active_version: versions.first().map(|v| v.to_string()),
            versions: versions
                .iter()
                .map(|v| PluginVersionRecord {
                    version: v.to_string(),
                    size_bytes: 1,
                    uploaded_at_ms: 0,
                })
                .collect(),
            created_at_ms: 0,
        }
    }

    async fn put(storage: &Storage, record: PluginRecord, binary: Option<&str>) {
        let binary = binary.map(|digest| (digest.to_string(), b"component".to_vec()));
        let op = PluginOp::PutPlugin { record, binary };
        storage.write(vec![Op::Plugin(op)]).await.unwrap();
    }

    async fn delete(storage: &Storage, record: PluginRecord, version: &str) {
        let version = version.to_string();
        let op = PluginOp::DeleteVersion { record, version };
        storage.write(vec![Op::Plugin(op)]).await.unwrap();
    }

    #[tokio::test]
    async fn a_binary_is_deleted_with_the_last_plugin_that_lists_it() {
        let db = Database::builder()
            .create_with_backend(InMemoryBackend::new())
            .expect("an in-memory database opens");
        let (storage, _) = Storage::from_database(db, 64).expect("storage opens");
        put(
            &storage,
            record("a", &["active-a", "shared"]),
            Some("shared"),
        )
        .await;
        put(&storage, record("b", &["active-b", "shared"]), None).await;
        delete(&storage, record("a", &["active-a"]), "shared").await;
        assert!(storage.read_plugin_binary("shared").unwrap().is_some());
        delete(&storage, record("b", &["active-b"]), "shared").await;
        assert!(storage.read_plugin_binary("shared").unwrap().is_none());
        let plugins = storage.read_plugins().unwrap().plugins;
        assert!(plugins.iter().all(|p| p.versions.len() == 1), "{plugins:?}");
    }
}
