//! Consumers: each leases batches from its queue, runs its plugin's active version in the
//! [`crate::runtime`], and completes the batch through the broker (outcomes, publishes and
//! key-value writes in one durable write). Also the plugin registry: uploaded versions,
//! checked and compiled a few at a time, kept compiled while used, and which one is active.
//! Knows the broker and the runtime; no HTTP.

mod compiled;
mod compiler;
mod consumers;
mod error;
mod plugins;
mod running;
mod services;
mod upload;
mod worker;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, Weak};

use compiled::CompiledVersions;
use compiler::{CompileGate, CompileLimits};
use consumers::ConsumerHandle;
pub use error::DispatcherError;
pub use upload::{Cap, MAX_PLUGIN_BYTES};

use crate::broker::Broker;
use crate::runtime::{CompiledPlugin, Runtime};
use crate::storage::{PluginRecord, Storage};

#[derive(Default)]
struct Registry {
    plugins: BTreeMap<String, PluginRecord>,
    /// Compiled versions of any plugin, by digest.
    compiled: CompiledVersions,
    consumers: BTreeMap<String, Arc<ConsumerHandle>>,
}

/// Runs consumers and holds the plugin registry.
pub struct Dispatcher {
    me: Weak<Dispatcher>,
    broker: Arc<Broker>,
    runtime: Arc<Runtime>,
    registry: RwLock<Registry>,
    /// Bounds the compiles of uploads, activations and the start.
    compiling: CompileGate,
    /// Serializes changes to plugins and consumers across their durable write.
    admin: tokio::sync::Mutex<()>,
    stopping: AtomicBool,
    /// Workers holding a leased batch (invoking, completing or giving it back).
    busy: std::sync::atomic::AtomicUsize,
    /// Woken when `busy` drops to zero.
    idle: tokio::sync::Notify,
}

impl Dispatcher {
    /// Loads plugins and consumers, starts every consumer's workers, and compiles the
    /// active plugin versions in the background (consumers start once theirs is ready).
    pub async fn start(
        broker: Arc<Broker>,
        runtime: Arc<Runtime>,
    ) -> Result<Arc<Self>, DispatcherError> {
        let storage = broker.storage().clone();
        let recovered = tokio::task::spawn_blocking(move || storage.read_plugins())
            .await
            .expect("reading plugins does not panic")?;
        let mut registry = Registry::default();
        for record in recovered.plugins {
            registry.plugins.insert(record.name.clone(), record);
        }
        for record in recovered.consumers {
            if let Err(error) = broker.claim_queue(&record.queue, &record.name).await {
                // A queue deleted under a consumer before deletes were refused for it.
                tracing::warn!(consumer = %record.name, %error, "a consumer's queue is gone");
            }
            registry
                .consumers
                .insert(record.name.clone(), Arc::new(ConsumerHandle::new(record)));
        }
        let dispatcher = Arc::new_cyclic(|me| Self {
            me: me.clone(),
            broker,
            runtime,
            registry: RwLock::new(registry),
            compiling: CompileGate::new(CompileLimits::default()),
            admin: tokio::sync::Mutex::new(()),
            stopping: AtomicBool::new(false),
            busy: std::sync::atomic::AtomicUsize::new(0),
            idle: tokio::sync::Notify::new(),
        });
        let consumers: Vec<_> = dispatcher.registry().consumers.values().cloned().collect();
        for consumer in consumers {
            dispatcher.ensure_workers(&consumer);
        }
        let compiling = dispatcher.clone();
        tokio::spawn(async move { compiling.compile_active_versions().await });
        Ok(dispatcher)
    }

    /// Stops leasing; invocations in flight finish.
    pub fn shutdown(&self) {
        self.stopping.store(true, Ordering::Release);
        for consumer in self.registry().consumers.values() {
            consumer.wake.notify_waiters();
        }
    }

    /// After [`Self::shutdown`]: waits, at most `limit`, until no worker holds a batch
    /// (invocations in flight finish and their outcomes commit; pieces not started are
    /// given back). Returns whether all finished in time.
    pub async fn drain(&self, limit: std::time::Duration) -> bool {
        let drained = async {
            loop {
                let idle = self.idle.notified();
                tokio::pin!(idle);
                idle.as_mut().enable();
                if self.busy.load(Ordering::Acquire) == 0 {
                    return;
                }
                idle.await;
            }
        };
        tokio::time::timeout(limit, drained).await.is_ok()
    }

    fn me(&self) -> Option<Arc<Self>> {
        self.me.upgrade()
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    fn registry(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry.read().expect("registry lock")
    }

    fn registry_mut(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.registry.write().expect("registry lock")
    }

    fn storage(&self) -> &Arc<Storage> {
        self.broker.storage()
    }

    /// The active version of `plugin`, once compiled.
    fn active(&self, plugin: &str) -> Option<(String, Arc<CompiledPlugin>)> {
        let registry = self.registry();
        let version = registry.plugins.get(plugin)?.active_version.as_ref()?;
        let compiled = registry.compiled.get(version)?;
        Some((version.clone(), compiled))
    }

    /// Wakes the workers of every consumer of `plugin` (its active version changed).
    fn wake_consumers_of(&self, plugin: &str) {
        for consumer in self.registry().consumers.values() {
            if consumer.settings().plugin == plugin {
                consumer.wake.notify_waiters();
            }
        }
    }
}
