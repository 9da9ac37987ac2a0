//! Runs consumer plugins: WebAssembly components of the `switchyard:plugin/consumer` world.
//! The only module that imports wasmtime. One engine with a pooling allocator, one
//! `InstancePre` per plugin version, a fresh `Store` per invocation with a wall-clock
//! deadline (epoch interruption), a memory cap, and outbound HTTP limited to an allow-list.
//! It knows nothing of queues: the dispatcher hands it a batch and applies what comes back.

mod host;
mod http;
mod stdio;
mod world;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};

use host::{Bindings, BindingsPre, InvocationState};
pub use host::{HostError, HostServices, LogLine};

/// How often the epoch ticks; deadlines are checked (and long invocations yield) per tick.
const TICK: Duration = Duration::from_millis(2);

/// Engine-wide limits.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The largest memory cap a consumer may ask for, in bytes.
    pub max_memory_bytes: u64,
    /// Invocations that can hold an instance at once; more wait for a slot.
    pub max_instances: u32,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            max_memory_bytes: 256 << 20,
            max_instances: 256,
        }
    }
}

/// Why a plugin was refused, or an invocation could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// The bytes are not WebAssembly at all.
    #[error("not a WebAssembly binary: it does not start with the \\0asm magic number")]
    NotWasm,
    /// A core module where a component is expected.
    #[error(
        "this is a core WebAssembly module, not a component: build the plugin for the \
         wasm32-wasip2 target (cargo build --target wasm32-wasip2)"
    )]
    CoreModule,
    /// The component did not compile.
    #[error("the component does not compile: {reason}")]
    Invalid {
        /// Why.
        reason: String,
    },
    /// The component needs imports Switchyard does not offer, or lacks the handler export.
    #[error("the component does not implement the switchyard:plugin/consumer world: {reason}")]
    WrongWorld {
        /// Why.
        reason: String,
    },
    /// The engine could not be set up.
    #[error("the WebAssembly engine could not start: {reason}")]
    Engine {
        /// Why.
        reason: String,
    },
    /// No instance could be made for an invocation (e.g. the pool is exhausted).
    #[error("the plugin could not be instantiated: {reason}")]
    Instantiate {
        /// Why.
        reason: String,
    },
}

/// A message as a plugin sees it.
#[derive(Debug, Clone)]
pub struct PluginMessage {
    /// Its id (ULID text).
    pub id: String,
    /// Its topic.
    pub topic: Option<String>,
    /// The queue it was leased from.
    pub queue: String,
    /// Its key.
    pub key: Option<String>,
    /// Its attributes.
    pub attributes: Vec<(String, String)>,
    /// The payload bytes.
    pub payload: Vec<u8>,
    /// Unix ms.
    pub published_at_ms: u64,
    /// Delivery number, from 1.
    pub attempt: u32,
}

/// What a plugin decided for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Delete it.
    Ack,
    /// Deliver again after the delay (ms).
    Retry(Option<u64>),
    /// Dead-letter it with this reason.
    DeadLetter(String),
}

/// A message the plugin published.
#[derive(Debug, Clone)]
pub struct Publication {
    /// The topic.
    pub topic: String,
    /// The payload.
    pub payload: Vec<u8>,
    /// Attributes.
    pub attributes: Vec<(String, String)>,
    /// Key.
    pub key: Option<String>,
}

/// How an invocation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// It ran past its deadline.
    Deadline,
    /// It tried to grow memory past its cap.
    Memory,
    /// It panicked.
    Panic,
    /// Any other trap.
    Trap,
    /// It returned the wrong number of outcomes.
    BadOutcomes,
    /// It used up its fuel.
    Fuel,
    /// It made the host hold more than its byte budget (publications, key-value writes,
    /// dead-letter reasons).
    Budget,
}

impl FaultKind {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Deadline => "deadline",
            FaultKind::Memory => "memory",
            FaultKind::Panic => "panic",
            FaultKind::Trap => "trap",
            FaultKind::BadOutcomes => "bad_outcomes",
            FaultKind::Fuel => "fuel",
            FaultKind::Budget => "budget",
        }
    }
}

/// A failed invocation: it costs only this invocation.
#[derive(Debug, Clone)]
pub struct Fault {
    /// What kind.
    pub kind: FaultKind,
    /// What happened, in words.
    pub message: String,
}

/// Everything one invocation produced. On a fault, publishes and key-value writes are
/// discarded by the caller; logs are kept.
#[derive(Debug)]
pub struct Invocation {
    /// One outcome per message, or the fault.
    pub result: Result<Vec<Outcome>, Fault>,
    /// Messages to publish with the outcomes.
    pub publications: Vec<Publication>,
    /// Key-value writes (`None` deletes), to commit with the outcomes.
    pub kv_writes: BTreeMap<String, Option<Vec<u8>>>,
    /// What the plugin logged (and wrote to stdout/stderr).
    pub logs: Vec<LogLine>,
}

/// What an invocation may do and use.
#[derive(Clone)]
pub struct InvocationContext {
    /// The plugin's name (its key-value namespace).
    pub plugin: Arc<str>,
    /// The consumer's name (for logs).
    pub consumer: Arc<str>,
    /// The consumer's config values.
    pub config: Arc<BTreeMap<String, String>>,
    /// Origins outbound HTTP may reach (`https://name[:port]`, see
    /// `switchyard_sdk::allow`; bare `name[:port]` entries stored before origins were
    /// required match either scheme).
    pub allowed_hosts: Arc<Vec<String>>,
    /// Wall-clock deadline per invocation.
    pub timeout: Duration,
    /// Memory cap, bytes.
    pub memory_bytes: u64,
    /// Fuel per invocation (roughly, wasm instructions), or none for no limit.
    pub fuel: Option<u64>,
    /// Key-value reads and publish checks.
    pub services: Arc<dyn HostServices>,
}

/// A compiled, checked plugin version, ready to instantiate.
#[derive(Clone)]
pub struct CompiledPlugin {
    pre: BindingsPre<InvocationState>,
}

/// The engine and everything shared by invocations.
pub struct Runtime {
    engine: Engine,
    linker: Linker<InvocationState>,
    config: RuntimeConfig,
    /// One slot per pooled instance: an invocation waits for a slot rather than failing
    /// to instantiate when all are taken.
    slots: tokio::sync::Semaphore,
    stop: Arc<AtomicBool>,
}

impl Runtime {
    /// Starts the engine and its epoch ticker.
    pub fn new(config: RuntimeConfig) -> Result<Self, PluginError> {
        let engine = match Engine::new(&engine_config(&config, true)) {
            Ok(engine) => engine,
            Err(error) => {
                tracing::warn!(%error, "pooling allocator unavailable; allocating instances on demand");
                Engine::new(&engine_config(&config, false)).map_err(|e| PluginError::Engine {
                    reason: e.to_string(),
                })?
            }
        };
        let mut linker = Linker::new(&engine);
        host::add_to_linker(&mut linker).map_err(|e| PluginError::Engine {
            reason: e.to_string(),
        })?;
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = (engine.weak(), stop.clone());
        std::thread::Builder::new()
            .name("switchyard-epoch".into())
            .spawn(move || {
                let (engine, stop) = ticker;
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    match engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| PluginError::Engine {
                reason: format!("cannot start the epoch ticker: {e}"),
            })?;
        Ok(Self {
            engine,
            linker,
            slots: tokio::sync::Semaphore::new(config.max_instances as usize),
            config,
            stop,
        })
    }

    /// The largest memory cap a consumer may ask for.
    pub fn max_memory_bytes(&self) -> u64 {
        self.config.max_memory_bytes
    }

    /// Compiles a component and checks that it implements our world (imports only what
    /// Switchyard offers, exports the handler). Blocking and CPU-heavy.
    pub fn compile(&self, bytes: &[u8]) -> Result<CompiledPlugin, PluginError> {
        match bytes.get(..8) {
            Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => return Err(PluginError::CoreModule),
            Some([0, b'a', b's', b'm', ..]) => {}
            _ => return Err(PluginError::NotWasm),
        }
        let component = Component::new(&self.engine, bytes).map_err(|e| PluginError::Invalid {
            reason: format!("{e:#}"),
        })?;
        world::check_imports(&self.engine, &component)?;
        let instance_pre =
            self.linker
                .instantiate_pre(&component)
                .map_err(|e| PluginError::WrongWorld {
                    reason: format!("{e:#}"),
                })?;
        let pre = BindingsPre::new(instance_pre).map_err(|e| PluginError::WrongWorld {
            reason: format!("{e:#}"),
        })?;
        Ok(CompiledPlugin { pre })
    }

    /// Calls the plugin's handler with `batch` in a fresh store, once a pooled instance is
    /// free. Faults (trap, deadline, memory, budget) are returned in
    /// [`Invocation::result`]; only a failure to start is an error. The deadline bounds the
    /// whole invocation from instantiation on: running guest code (epoch interruption) and
    /// time blocked in the host alike (sleeps, `wasi:io/poll`, outbound HTTP).
    pub async fn invoke(
        &self,
        plugin: &CompiledPlugin,
        context: &InvocationContext,
        batch: Vec<PluginMessage>,
    ) -> Result<Invocation, PluginError> {
        let count = batch.len();
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| PluginError::Instantiate {
                reason: "the runtime is shutting down".into(),
            })?;
        let memory_cap = context.memory_bytes.min(self.config.max_memory_bytes);
        let deadline = Instant::now() + context.timeout;
        let host_deadline = tokio::time::Instant::now() + context.timeout;
        let state = InvocationState::new(context, memory_cap as usize, host_deadline);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| state.limiter());
        // Fuel is metered for every plugin; a consumer without a budget gets all there is.
        store
            .set_fuel(context.fuel.unwrap_or(u64::MAX))
            .map_err(|e| PluginError::Instantiate {
                reason: format!("{e:#}"),
            })?;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |mut store| {
            if Instant::now() >= deadline {
                store.data_mut().deadline_hit = true;
                Ok(wasmtime::UpdateDeadline::Interrupt)
            } else {
                Ok(wasmtime::UpdateDeadline::Yield(1))
            }
        });
        let batch: Vec<_> = batch.into_iter().map(host::to_wit).collect();
        let run = async {
            let bindings: Bindings =
                plugin
                    .pre
                    .instantiate_async(&mut store)
                    .await
                    .map_err(|e| PluginError::Instantiate {
                        reason: format!("{e:#}"),
                    })?;
            Ok::<_, PluginError>(
                bindings
                    .switchyard_plugin_handler()
                    .call_handle(&mut store, &batch)
                    .await,
            )
        };
        let called = match tokio::time::timeout_at(host_deadline, run).await {
            Ok(called) => called?,
            Err(_) => {
                let state = store.data_mut();
                state.deadline_hit = true;
                let fault = Fault {
                    kind: FaultKind::Deadline,
                    message: format!(
                        "ran past its deadline of {} ms (waiting in a host call)",
                        context.timeout.as_millis()
                    ),
                };
                return Ok(state.finish(Err(fault)));
            }
        };
        let state = store.data_mut();
        let result = match called {
            Ok(outcomes) if outcomes.len() == count => state.account_outcomes(outcomes),
            Ok(outcomes) => Err(Fault {
                kind: FaultKind::BadOutcomes,
                message: format!(
                    "the handler returned {} outcomes for {count} messages",
                    outcomes.len()
                ),
            }),
            Err(error) => Err(state.classify(&error, context, memory_cap)),
        };
        Ok(state.finish(result))
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn engine_config(config: &RuntimeConfig, pooling: bool) -> Config {
    let mut engine = Config::new();
    engine.epoch_interruption(true);
    engine.consume_fuel(true);
    engine.wasm_component_model(true);
    if pooling {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(config.max_instances)
            .total_core_instances(config.max_instances * 4)
            .max_core_instances_per_component(16)
            .total_memories(config.max_instances * 2)
            .max_memories_per_component(4)
            .total_tables(config.max_instances * 4)
            .total_stacks(config.max_instances)
            .max_memory_size(config.max_memory_bytes as usize);
        engine.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    engine
}
