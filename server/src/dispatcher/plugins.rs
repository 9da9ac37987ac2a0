//! The plugin registry: upload (compile, check, store once by content digest), activate,
//! list, and reads of a plugin's key-value store.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};
use switchyard_client::{DeployedVersion, KvEntry, Plugin, PluginVersion};

use super::{Dispatcher, DispatcherError, PluginEntry};
use crate::broker::{now_ms, validate_name};
use crate::runtime::CompiledPlugin;
use crate::storage::{Op, PluginOp, PluginRecord, PluginVersionRecord};

/// The largest component accepted.
pub const MAX_PLUGIN_BYTES: usize = 64 << 20;

impl Dispatcher {
    /// Compiles and checks `wasm`, stores it as a version of `name` (creating the plugin),
    /// and activates it when `activate` is set or the plugin has no active version.
    pub async fn deploy(
        &self,
        name: &str,
        wasm: Vec<u8>,
        activate: bool,
    ) -> Result<DeployedVersion, DispatcherError> {
        validate_name("plugin", name)?;
        if wasm.len() > MAX_PLUGIN_BYTES {
            return Err(DispatcherError::PluginTooLarge {
                size: wasm.len(),
                max: MAX_PLUGIN_BYTES,
            });
        }
        let digest = format!("sha256:{:x}", Sha256::digest(&wasm));
        let size = wasm.len() as u64;
        let runtime = self.runtime.clone();
        let (compiled, wasm) = tokio::task::spawn_blocking(move || {
            runtime.compile(&wasm).map(|compiled| (compiled, wasm))
        })
        .await
        .expect("compiling does not panic")?;
        let _admin = self.admin.lock().await;
        let now = now_ms();
        let mut record = self
            .registry()
            .plugins
            .get(name)
            .map(|entry| entry.record.clone())
            .unwrap_or_else(|| PluginRecord {
                name: name.to_string(),
                active_version: None,
                versions: Vec::new(),
                created_at_ms: now,
            });
        let created = !record.versions.iter().any(|v| v.version == digest);
        if created {
            record.versions.push(PluginVersionRecord {
                version: digest.clone(),
                size_bytes: size,
                uploaded_at_ms: now,
            });
        }
        let make_active = activate || record.active_version.is_none();
        if make_active {
            record.active_version = Some(digest.clone());
        }
        let op = PluginOp::PutPlugin {
            record: record.clone(),
            binary: created.then(|| (digest.clone(), wasm)),
        };
        self.storage().write(vec![Op::Plugin(op)]).await?;
        let active = record.active_version.as_deref() == Some(digest.as_str());
        self.install(record, digest.clone(), Arc::new(compiled));
        if make_active {
            self.wake_consumers_of(name);
        }
        tracing::info!(plugin = name, version = %digest, active, created, "plugin version deployed");
        Ok(DeployedVersion {
            plugin: name.to_string(),
            version: digest,
            active,
            created,
        })
    }

    /// Makes `version` (a digest, or a unique prefix of its hex digits) the active one;
    /// new batches run it, batches in flight finish on the one they started with.
    pub async fn activate(&self, name: &str, version: &str) -> Result<Plugin, DispatcherError> {
        let _admin = self.admin.lock().await;
        let mut record = self.plugin_record(name)?;
        let digest = resolve_version(&record, version)?;
        let compiled = self.compiled(name, &digest).await?;
        record.active_version = Some(digest.clone());
        let op = PluginOp::PutPlugin {
            record: record.clone(),
            binary: None,
        };
        self.storage().write(vec![Op::Plugin(op)]).await?;
        self.install(record.clone(), digest.clone(), compiled);
        self.wake_consumers_of(name);
        tracing::info!(plugin = name, version = %digest, "plugin version activated");
        Ok(plugin_view(&record))
    }

    /// Every plugin.
    pub fn list_plugins(&self) -> Vec<Plugin> {
        self.registry()
            .plugins
            .values()
            .map(|entry| plugin_view(&entry.record))
            .collect()
    }

    /// One plugin.
    pub fn get_plugin(&self, name: &str) -> Result<Plugin, DispatcherError> {
        Ok(plugin_view(&self.plugin_record(name)?))
    }

    /// A committed value of a plugin's key-value store.
    pub async fn kv_get(&self, plugin: &str, key: &str) -> Result<KvEntry, DispatcherError> {
        self.plugin_record(plugin)?;
        let storage = self.storage().clone();
        let (owned_plugin, owned_key) = (plugin.to_string(), key.to_string());
        let value = tokio::task::spawn_blocking(move || storage.read_kv(&owned_plugin, &owned_key))
            .await
            .expect("reading does not panic")?;
        let value = value.ok_or_else(|| DispatcherError::KeyNotFound {
            plugin: plugin.to_string(),
            key: key.to_string(),
        })?;
        Ok(match String::from_utf8(value) {
            Ok(text) => KvEntry {
                key: key.to_string(),
                value: Some(text),
                value_base64: None,
            },
            Err(bytes) => KvEntry {
                key: key.to_string(),
                value: None,
                value_base64: Some(BASE64.encode(bytes.into_bytes())),
            },
        })
    }

    pub(super) fn plugin_record(&self, name: &str) -> Result<PluginRecord, DispatcherError> {
        self.registry()
            .plugins
            .get(name)
            .map(|entry| entry.record.clone())
            .ok_or_else(|| DispatcherError::PluginNotFound { name: name.into() })
    }

    fn install(&self, record: PluginRecord, version: String, compiled: Arc<CompiledPlugin>) {
        let mut registry = self.registry_mut();
        let entry = registry
            .plugins
            .entry(record.name.clone())
            .or_insert_with(|| PluginEntry {
                record: record.clone(),
                compiled: HashMap::new(),
            });
        entry.record = record;
        entry.compiled.insert(version, compiled);
    }

    /// A version's compiled form, compiling it from storage when it is not cached.
    async fn compiled(
        &self,
        name: &str,
        digest: &str,
    ) -> Result<Arc<CompiledPlugin>, DispatcherError> {
        if let Some(compiled) = self
            .registry()
            .plugins
            .get(name)
            .and_then(|entry| entry.compiled.get(digest).cloned())
        {
            return Ok(compiled);
        }
        let storage = self.storage().clone();
        let runtime = self.runtime.clone();
        let owned = digest.to_string();
        let compiled = tokio::task::spawn_blocking(move || {
            let bytes = storage.read_plugin_binary(&owned)?.ok_or_else(|| {
                crate::storage::StorageError::Corrupt {
                    what: format!("plugin binary {owned} is missing"),
                }
            })?;
            Ok::<_, DispatcherError>(runtime.compile(&bytes)?)
        })
        .await
        .expect("compiling does not panic")?;
        Ok(Arc::new(compiled))
    }

    /// Compiles every plugin's active version (at start), then wakes its consumers.
    pub(super) async fn compile_active_versions(&self) {
        let active: Vec<(String, String)> = self
            .registry()
            .plugins
            .values()
            .filter_map(|e| Some((e.record.name.clone(), e.record.active_version.clone()?)))
            .collect();
        for (name, digest) in active {
            match self.compiled(&name, &digest).await {
                Ok(compiled) => {
                    if let Some(entry) = self.registry_mut().plugins.get_mut(&name) {
                        entry.compiled.insert(digest.clone(), compiled);
                    }
                    self.wake_consumers_of(&name);
                }
                Err(error) => {
                    tracing::error!(plugin = %name, version = %digest, %error, "cannot compile the active plugin version");
                }
            }
        }
    }
}

fn resolve_version(record: &PluginRecord, version: &str) -> Result<String, DispatcherError> {
    let wanted = version.strip_prefix("sha256:").unwrap_or(version);
    let matches: Vec<&PluginVersionRecord> = record
        .versions
        .iter()
        .filter(|v| !wanted.is_empty() && v.version["sha256:".len()..].starts_with(wanted))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one.version.clone()),
        [] => Err(DispatcherError::VersionNotFound {
            plugin: record.name.clone(),
            version: version.to_string(),
        }),
        _ => Err(DispatcherError::AmbiguousVersion {
            plugin: record.name.clone(),
            version: version.to_string(),
        }),
    }
}

fn plugin_view(record: &PluginRecord) -> Plugin {
    Plugin {
        name: record.name.clone(),
        active_version: record.active_version.clone(),
        versions: record
            .versions
            .iter()
            .map(|v| PluginVersion {
                version: v.version.clone(),
                size_bytes: v.size_bytes,
                uploaded_at_ms: v.uploaded_at_ms,
                active: record.active_version.as_deref() == Some(v.version.as_str()),
            })
            .collect(),
        created_at_ms: record.created_at_ms,
    }
}
