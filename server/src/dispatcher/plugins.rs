//! The plugin registry: upload (check, compile, store once by content digest), activate,
//! delete a version, list, and reads of a plugin's key-value store.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};
use switchyard_client::{DeployedVersion, KvEntry, Plugin, PluginVersion};

use super::compiler::Waiter;
use super::upload::{MAX_PLUGIN_BYTES, check_caps};
use super::{Dispatcher, DispatcherError, Registry};
use crate::broker::{now_ms, validate_name};
use crate::runtime::CompiledPlugin;
use crate::storage::{Op, PluginOp, PluginRecord, PluginVersionRecord, StorageError};

impl Dispatcher {
    /// Checks and compiles `wasm`, stores it as a version of `name` (creating the plugin),
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
        let cached = self.registry().compiled.get(&digest);
        let (compiled, wasm) = match cached {
            Some(compiled) => (compiled, wasm),
            None => self.compile_upload(wasm).await?,
        };
        let _admin = self.admin.lock().await;
        let now = now_ms();
        let mut record = self
            .registry()
            .plugins
            .get(name)
            .cloned()
            .unwrap_or_else(|| PluginRecord {
                name: name.to_string(),
                active_version: None,
                versions: Vec::new(),
                created_at_ms: now,
            });
        let created = !lists(&record, &digest);
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
        self.install(record, digest.clone(), compiled);
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
    /// new batches run it, batches in flight finish on the one they started with. A version
    /// not compiled (evicted, or not yet since the start) is compiled before the change.
    pub async fn activate(&self, name: &str, version: &str) -> Result<Plugin, DispatcherError> {
        let digest = resolve_version(&self.plugin_record(name)?, version)?;
        let compiled = self.compiled(name, &digest, Waiter::Request).await?;
        let _admin = self.admin.lock().await;
        let mut record = self.plugin_record(name)?;
        if !lists(&record, &digest) {
            // Deleted while it compiled.
            return Err(version_not_found(name, version));
        }
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

    /// Deletes a version that is not the active one (a digest, or a unique prefix of its
    /// hex digits), and its binary unless another plugin has the same one.
    pub async fn delete_version(&self, name: &str, version: &str) -> Result<(), DispatcherError> {
        let _admin = self.admin.lock().await;
        let mut record = self.plugin_record(name)?;
        let digest = resolve_version(&record, version)?;
        if record.active_version.as_deref() == Some(digest.as_str()) {
            return Err(DispatcherError::VersionActive {
                plugin: name.to_string(),
                version: digest,
            });
        }
        record.versions.retain(|v| v.version != digest);
        let op = PluginOp::DeleteVersion {
            record: record.clone(),
            version: digest.clone(),
        };
        self.storage().write(vec![Op::Plugin(op)]).await?;
        let mut registry = self.registry_mut();
        registry.plugins.insert(name.to_string(), record);
        if !registry.plugins.values().any(|r| lists(r, &digest)) {
            registry.compiled.remove(&digest);
        }
        tracing::info!(plugin = name, version = %digest, "plugin version deleted");
        Ok(())
    }

    /// Every plugin.
    pub fn list_plugins(&self) -> Vec<Plugin> {
        self.registry().plugins.values().map(plugin_view).collect()
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
            .cloned()
            .ok_or_else(|| DispatcherError::PluginNotFound { name: name.into() })
    }

    /// Records `record` and keeps `version` compiled.
    fn install(&self, record: PluginRecord, version: String, compiled: Arc<CompiledPlugin>) {
        let mut registry = self.registry_mut();
        registry.plugins.insert(record.name.clone(), record);
        keep_compiled(&mut registry, version, compiled);
    }

    /// Checks an upload against the caps, then compiles it in its turn.
    async fn compile_upload(
        &self,
        wasm: Vec<u8>,
    ) -> Result<(Arc<CompiledPlugin>, Vec<u8>), DispatcherError> {
        let wasm = tokio::task::spawn_blocking(move || check_caps(&wasm).map(|()| wasm))
            .await
            .expect("checking does not panic")?;
        let runtime = self.runtime.clone();
        let (compiled, wasm) = self
            .compiling
            .run(Waiter::Request, move || {
                runtime.compile(&wasm).map(|compiled| (compiled, wasm))
            })
            .await??;
        Ok((Arc::new(compiled), wasm))
    }

    /// A version's compiled form, compiled from storage in its turn when it is not kept.
    async fn compiled(
        &self,
        name: &str,
        digest: &str,
        waiter: Waiter,
    ) -> Result<Arc<CompiledPlugin>, DispatcherError> {
        let cached = self.registry().compiled.get(digest);
        if let Some(compiled) = cached {
            return Ok(compiled);
        }
        let storage = self.storage().clone();
        let runtime = self.runtime.clone();
        let owned = digest.to_string();
        let compiled = self
            .compiling
            .run(waiter, move || {
                let Some(wasm) = storage.read_plugin_binary(&owned)? else {
                    return Ok(None);
                };
                Ok::<_, DispatcherError>(Some(runtime.compile(&wasm)?))
            })
            .await??;
        match compiled {
            Some(compiled) => Ok(Arc::new(compiled)),
            // Deleted since the caller resolved it.
            None if !lists(&self.plugin_record(name)?, digest) => {
                Err(version_not_found(name, digest))
            }
            None => Err(StorageError::Corrupt {
                what: format!("plugin binary {digest} is missing"),
            }
            .into()),
        }
    }

    /// Compiles every plugin's active version at start, all in their turn (each digest
    /// once, however many plugins have it active), and wakes a plugin's consumers as soon
    /// as its version is ready.
    pub(super) async fn compile_active_versions(&self) {
        let mut active: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for record in self.registry().plugins.values() {
            if let Some(digest) = &record.active_version {
                active
                    .entry(digest.clone())
                    .or_default()
                    .push(record.name.clone());
            }
        }
        let compiles = active.into_iter().map(|(digest, plugins)| async move {
            match self.compiled(&plugins[0], &digest, Waiter::Start).await {
                Ok(compiled) => {
                    keep_compiled(&mut self.registry_mut(), digest, compiled);
                    for plugin in &plugins {
                        self.wake_consumers_of(plugin);
                    }
                }
                Err(error) => {
                    tracing::error!(plugins = ?plugins, version = %digest, %error, "cannot compile an active plugin version");
                }
            }
        });
        futures::future::join_all(compiles).await;
    }
}

/// Keeps `version` compiled, evicting the least recently used of those no plugin has
/// active when there are too many.
fn keep_compiled(registry: &mut Registry, version: String, compiled: Arc<CompiledPlugin>) {
    let Registry {
        plugins,
        compiled: kept,
        ..
    } = registry;
    kept.insert(version, compiled, |digest| {
        plugins
            .values()
            .any(|r| r.active_version.as_deref() == Some(digest))
    });
}

fn lists(record: &PluginRecord, digest: &str) -> bool {
    record.versions.iter().any(|v| v.version == digest)
}

fn version_not_found(plugin: &str, version: &str) -> DispatcherError {
    DispatcherError::VersionNotFound {
        plugin: plugin.to_string(),
        version: version.to_string(),
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
        [] => Err(version_not_found(&record.name, version)),
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
