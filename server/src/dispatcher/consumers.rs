//! Consumers: create, change, pause, resume, delete; their counters and recent log lines.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use switchyard_client::{
    BatchSettings, Batching, Consumer, ConsumerFailure, ConsumerState, ConsumerStats,
    CreateConsumer, LogEntry, PatchConsumer,
};
use tokio::sync::Notify;

use super::{Dispatcher, DispatcherError};
use crate::broker::{now_ms, validate_name};
use crate::runtime::{FaultKind, LogLine};
use crate::storage::{ConsumerRecord, Op, PluginOp};

const DEFAULT_MAX_MESSAGES: u32 = 10;
const DEFAULT_MAX_BYTES: u64 = 1 << 20;
const MAX_BATCH_BYTES: u64 = 64 << 20;
const MAX_BATCH_MESSAGES: u64 = 10_000;
const MAX_BATCH_WAIT_MS: u64 = 24 * 60 * 60 * 1000;
const MAX_CONCURRENCY: u32 = 64;
const DEFAULT_TIMEOUT_MS: u64 = 30_000;
const MAX_TIMEOUT_MS: u64 = 15 * 60 * 1000;
const DEFAULT_MEMORY_BYTES: u64 = 64 << 20;
const MIN_MEMORY_BYTES: u64 = 1 << 20;
/// The smallest fuel budget: less cannot even start a handler.
const MIN_FUEL: u64 = 10_000;
const MAX_ALLOWED_HOSTS: usize = 100;
const MAX_CONFIG_ENTRIES: usize = 100;
const MAX_CONFIG_VALUE: usize = 64 << 10;
/// Log lines kept per consumer.
const LOG_LINES: usize = 1000;

/// A consumer's settings, counters, log and the signal its workers wait on.
pub(super) struct ConsumerHandle {
    settings: RwLock<Arc<ConsumerRecord>>,
    pub(super) stats: Mutex<ConsumerStats>,
    logs: Mutex<(u64, VecDeque<LogEntry>)>,
    /// Settings changed, the plugin's active version changed, or the consumer went away.
    pub(super) wake: Notify,
    pub(super) deleted: AtomicBool,
    pub(super) workers: AtomicU32,
    /// Its invocations in progress (for the monitor).
    pub(super) running: super::running::Running,
}

impl ConsumerHandle {
    pub(super) fn new(record: ConsumerRecord) -> Self {
        Self {
            settings: RwLock::new(Arc::new(record)),
            stats: Mutex::new(ConsumerStats::default()),
            logs: Mutex::new((0, VecDeque::new())),
            wake: Notify::new(),
            deleted: AtomicBool::new(false),
            workers: AtomicU32::new(0),
            running: super::running::Running::default(),
        }
    }

    pub(super) fn settings(&self) -> Arc<ConsumerRecord> {
        self.settings.read().expect("settings lock").clone()
    }

    fn set_settings(&self, record: ConsumerRecord) {
        *self.settings.write().expect("settings lock") = Arc::new(record);
        self.wake.notify_waiters();
    }

    pub(super) fn update_stats(&self, f: impl FnOnce(&mut ConsumerStats)) {
        f(&mut self.stats.lock().expect("stats lock"));
    }

    pub(super) fn record_failure(&self, kind: &str, message: String) {
        self.update_stats(|stats| {
            stats.last_error = Some(ConsumerFailure {
                at_ms: now_ms(),
                kind: kind.to_string(),
                message: message.clone(),
            });
        });
        self.log("error", format!("{kind}: {message}"));
    }

    pub(super) fn record_fault(&self, kind: FaultKind, message: &str) {
        self.update_stats(|stats| {
            *stats.faults.entry(kind.as_str().to_string()).or_default() += 1;
        });
        self.record_failure(kind.as_str(), message.to_string());
    }

    pub(super) fn log(&self, level: &str, text: String) {
        self.append_logs(std::iter::once(LogLine {
            at_ms: now_ms(),
            level: match level {
                "error" => "error",
                "warn" => "warn",
                _ => "info",
            },
            text,
        }));
    }

    pub(super) fn append_logs(&self, lines: impl IntoIterator<Item = LogLine>) {
        let mut logs = self.logs.lock().expect("log lock");
        let (next, entries) = &mut *logs;
        for line in lines {
            *next += 1;
            if entries.len() == LOG_LINES {
                entries.pop_front();
            }
            entries.push_back(LogEntry {
                seq: *next,
                at_ms: line.at_ms,
                level: line.level.to_string(),
                text: line.text,
            });
        }
    }

    fn view(&self) -> Consumer {
        let record = self.settings();
        let stats = self.stats.lock().expect("stats lock").clone();
        Consumer {
            name: record.name.clone(),
            queue: record.queue.clone(),
            plugin: record.plugin.clone(),
            batch: Batching {
                max_messages: record.max_messages,
                max_bytes: record.max_bytes,
                max_wait_ms: record.max_wait_ms,
            },
            concurrency: record.concurrency,
            timeout_ms: record.timeout_ms,
            memory_bytes: record.memory_bytes,
            fuel: record.fuel,
            config: record.config.clone(),
            secret_names: record.secrets.keys().cloned().collect(),
            allowed_hosts: record.allowed_hosts.clone(),
            state: if record.paused {
                ConsumerState::Paused
            } else {
                ConsumerState::Running
            },
            stats,
            created_at_ms: record.created_at_ms,
        }
    }
}

impl Dispatcher {
    /// Creates a consumer and starts its workers.
    pub async fn create_consumer(
        &self,
        request: CreateConsumer,
    ) -> Result<Consumer, DispatcherError> {
        validate_name("consumer", &request.name)?;
        let _admin = self.admin.lock().await;
        if self.registry().consumers.contains_key(&request.name) {
            return Err(DispatcherError::ConsumerExists { name: request.name });
        }
        self.plugin_record(&request.plugin)?;
        let mut record = ConsumerRecord {
            name: request.name,
            queue: request.queue,
            plugin: request.plugin,
            max_messages: DEFAULT_MAX_MESSAGES,
            max_bytes: DEFAULT_MAX_BYTES,
            max_wait_ms: 0,
            concurrency: 1,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            fuel: None,
            config: BTreeMap::new(),
            secrets: BTreeMap::new(),
            allowed_hosts: Vec::new(),
            paused: false,
            created_at_ms: now_ms(),
        };
        self.apply_patch(
            &mut record,
            PatchConsumer {
                plugin: None,
                batch: request.batch,
                concurrency: request.concurrency,
                timeout_ms: request.timeout_ms,
                memory_bytes: request.memory_bytes,
                fuel: request.fuel.map(Some),
                config: Some(request.config),
                secrets: Some(request.secrets),
                allowed_hosts: Some(request.allowed_hosts),
            },
        )?;
        // The queue must exist, and is kept from deletion from here on.
        self.broker.claim_queue(&record.queue, &record.name).await?;
        let written = self
            .storage()
            .write(vec![Op::Plugin(PluginOp::PutConsumer(record.clone()))])
            .await;
        if let Err(error) = written {
            self.broker.release_queue(&record.queue, &record.name);
            return Err(error.into());
        }
        let handle = Arc::new(ConsumerHandle::new(record));
        self.registry_mut()
            .consumers
            .insert(handle.settings().name.clone(), handle.clone());
        self.ensure_workers(&handle);
        tracing::info!(consumer = %handle.settings().name, "consumer created");
        Ok(handle.view())
    }

    /// Every consumer.
    pub fn list_consumers(&self) -> Vec<Consumer> {
        self.registry()
            .consumers
            .values()
            .map(|c| c.view())
            .collect()
    }

    /// One consumer with its counters.
    pub fn get_consumer(&self, name: &str) -> Result<Consumer, DispatcherError> {
        Ok(self.consumer(name)?.view())
    }

    /// Changes a consumer; the next batch uses the new settings.
    pub async fn patch_consumer(
        &self,
        name: &str,
        patch: PatchConsumer,
    ) -> Result<Consumer, DispatcherError> {
        self.change_consumer(name, |dispatcher, record| {
            dispatcher.apply_patch(record, patch)
        })
        .await
    }

    /// Pauses (`true`) or resumes a consumer. Batches in flight finish.
    pub async fn set_paused(&self, name: &str, paused: bool) -> Result<Consumer, DispatcherError> {
        self.change_consumer(name, |_, record| {
            record.paused = paused;
            Ok(())
        })
        .await
    }

    /// Deletes a consumer; its workers stop after the batch they are on.
    pub async fn delete_consumer(&self, name: &str) -> Result<(), DispatcherError> {
        let _admin = self.admin.lock().await;
        let handle = self.consumer(name)?;
        self.storage()
            .write(vec![Op::Plugin(PluginOp::DeleteConsumer {
                name: name.into(),
            })])
            .await?;
        self.registry_mut().consumers.remove(name);
        self.broker.release_queue(&handle.settings().queue, name);
        handle.deleted.store(true, Ordering::Release);
        handle.wake.notify_waiters();
        tracing::info!(consumer = name, "consumer deleted");
        Ok(())
    }

    /// Recent log lines of a consumer, after `after`.
    pub fn consumer_logs(
        &self,
        name: &str,
        after: Option<u64>,
    ) -> Result<Vec<LogEntry>, DispatcherError> {
        let handle = self.consumer(name)?;
        let logs = handle.logs.lock().expect("log lock");
        Ok(logs
            .1
            .iter()
            .filter(|entry| after.is_none_or(|after| entry.seq > after))
            .cloned()
            .collect())
    }

    fn consumer(&self, name: &str) -> Result<Arc<ConsumerHandle>, DispatcherError> {
        self.registry()
            .consumers
            .get(name)
            .cloned()
            .ok_or_else(|| DispatcherError::ConsumerNotFound { name: name.into() })
    }

    async fn change_consumer(
        &self,
        name: &str,
        change: impl FnOnce(&Self, &mut ConsumerRecord) -> Result<(), DispatcherError>,
    ) -> Result<Consumer, DispatcherError> {
        let _admin = self.admin.lock().await;
        let handle = self.consumer(name)?;
        let mut record = (*handle.settings()).clone();
        change(self, &mut record)?;
        self.storage()
            .write(vec![Op::Plugin(PluginOp::PutConsumer(record.clone()))])
            .await?;
        handle.set_settings(record);
        self.ensure_workers(&handle);
        Ok(handle.view())
    }

    fn apply_patch(
        &self,
        record: &mut ConsumerRecord,
        patch: PatchConsumer,
    ) -> Result<(), DispatcherError> {
        if let Some(plugin) = patch.plugin {
            self.plugin_record(&plugin)?;
            record.plugin = plugin;
        }
        if let Some(batch) = patch.batch {
            apply_batch(record, batch)?;
        }
        if let Some(concurrency) = patch.concurrency {
            check("concurrency", concurrency as u64, 1, MAX_CONCURRENCY as u64)?;
            record.concurrency = concurrency;
        }
        if let Some(timeout) = patch.timeout_ms {
            check("timeout_ms", timeout, 1, MAX_TIMEOUT_MS)?;
            record.timeout_ms = timeout;
        }
        if let Some(memory) = patch.memory_bytes {
            check(
                "memory_bytes",
                memory,
                MIN_MEMORY_BYTES,
                self.runtime.max_memory_bytes(),
            )?;
            record.memory_bytes = memory;
        }
        if let Some(fuel) = patch.fuel {
            if let Some(units) = fuel {
                check("fuel", units, MIN_FUEL, u64::MAX)?;
            }
            record.fuel = fuel;
        }
        if let Some(config) = patch.config {
            check_values("config", &config)?;
            record.config = config;
        }
        if let Some(secrets) = patch.secrets {
            // The message names the setting and the name, never the value.
            check_values("secrets", &secrets)?;
            record.secrets = secrets;
        }
        if let Some(name) = record
            .config
            .keys()
            .find(|k| record.secrets.contains_key(*k))
        {
            return Err(invalid(
                "secrets",
                format!("{name:?} is both a config value and a secret; a name is one or the other"),
            ));
        }
        if let Some(hosts) = patch.allowed_hosts {
            if hosts.len() > MAX_ALLOWED_HOSTS {
                return Err(invalid(
                    "allowed_hosts",
                    format!("at most {MAX_ALLOWED_HOSTS} hosts"),
                ));
            }
            for host in &hosts {
                check_host(host)?;
            }
            record.allowed_hosts = hosts;
        }
        Ok(())
    }

    /// Starts workers up to the consumer's concurrency (workers above it idle).
    pub(super) fn ensure_workers(&self, handle: &Arc<ConsumerHandle>) {
        let Some(dispatcher) = self.me() else { return };
        let wanted = handle.settings().concurrency;
        while handle.workers.load(Ordering::Acquire) < wanted {
            let index = handle.workers.fetch_add(1, Ordering::AcqRel);
            if index >= wanted {
                handle.workers.fetch_sub(1, Ordering::AcqRel);
                break;
            }
            let (dispatcher, handle) = (dispatcher.clone(), handle.clone());
            tokio::spawn(async move { dispatcher.run_worker(handle, index).await });
        }
    }
}

fn apply_batch(record: &mut ConsumerRecord, batch: BatchSettings) -> Result<(), DispatcherError> {
    if let Some(max) = batch.max_messages {
        check("batch.max_messages", max as u64, 1, MAX_BATCH_MESSAGES)?;
        record.max_messages = max;
    }
    if let Some(bytes) = batch.max_bytes {
        check("batch.max_bytes", bytes, 1, MAX_BATCH_BYTES)?;
        record.max_bytes = bytes;
    }
    if let Some(wait) = batch.max_wait_ms {
        check("batch.max_wait_ms", wait, 0, MAX_BATCH_WAIT_MS)?;
        record.max_wait_ms = wait;
    }
    Ok(())
}

/// Config values and secrets: at most [`MAX_CONFIG_ENTRIES`], each at most
/// [`MAX_CONFIG_VALUE`] bytes.
fn check_values(
    setting: &'static str,
    values: &BTreeMap<String, String>,
) -> Result<(), DispatcherError> {
    if values.len() > MAX_CONFIG_ENTRIES {
        return Err(invalid(
            setting,
            format!("at most {MAX_CONFIG_ENTRIES} entries"),
        ));
    }
    if let Some((name, _)) = values.iter().find(|(_, v)| v.len() > MAX_CONFIG_VALUE) {
        return Err(invalid(
            setting,
            format!("the value of {name:?} is over {MAX_CONFIG_VALUE} bytes"),
        ));
    }
    Ok(())
}

fn check(name: &'static str, value: u64, min: u64, max: u64) -> Result<(), DispatcherError> {
    if !(min..=max).contains(&value) {
        return Err(invalid(name, format!("{value} is outside {min}..={max}")));
    }
    Ok(())
}

fn invalid(name: &'static str, reason: String) -> DispatcherError {
    DispatcherError::InvalidSetting { name, reason }
}

/// An origin, `https://name` or `http://address:port` (the grammar is
/// `switchyard_sdk::allow`'s, shared with the HTTP gate and the SDK's test kit). Entries
/// stored before schemes were required still load; new ones name their scheme.
fn check_host(host: &str) -> Result<(), DispatcherError> {
    match switchyard_sdk::allow::Entry::parse(host) {
        Ok(_) => Ok(()),
        Err(error) => Err(invalid("allowed_hosts", format!("{host:?}: {error}"))),
    }
}
