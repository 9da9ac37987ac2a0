//! The store's data for one invocation and the host side of the plugin contract: logging,
//! buffered publishes and key-value writes, config, the clock, WASI with captured stdio,
//! and `wasi:http` gated by the consumer's allow-list. What the plugin makes the host hold
//! is accounted by the SDK's [`Ledger`] (one definition of the limits for the server and
//! the native test kit): over its byte budget the invocation faults.

use std::collections::BTreeMap;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{ResourceLimiter, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use switchyard_sdk::limits::{self, Ledger, MAX_STDIO_BYTES, Refusal};

use super::http::HttpGate;
use super::stdio::CappedPipe;

use super::{Fault, FaultKind, Invocation, InvocationContext, Outcome, PluginMessage, Publication};

wasmtime::component::bindgen!({
    path: "../sdk/wit",
    world: "consumer",
    imports: {
        "switchyard:plugin/host.kv-get": async | trappable,
        default: trappable,
    },
    exports: { default: async },
});

use self::switchyard::plugin::types;
pub(super) use Consumer as Bindings;
pub(super) use ConsumerPre as BindingsPre;

/// Key-value reads and publish checks, answered by the server.
pub trait HostServices: Send + Sync {
    /// The committed value of `key` in `plugin`'s namespace. Blocking (the runtime calls it
    /// off the async threads).
    fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, HostError>;
    /// Whether this publication would be accepted (topic exists, sizes within limits).
    fn check_publication(&self, publication: &Publication) -> Result<(), HostError>;
}

/// An error a host call returns to the plugin.
#[derive(Debug, Clone)]
pub struct HostError {
    /// Stable snake_case code.
    pub code: String,
    /// In words.
    pub message: String,
}

impl HostError {
    /// An error with this code and message.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_string(),
            message: message.into(),
        }
    }
}

/// One line a plugin logged.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// Unix ms.
    pub at_ms: u64,
    /// `trace`, `debug`, `info`, `warn`, `error`.
    pub level: &'static str,
    /// The text.
    pub text: String,
}

/// Caps linear memory growth and remembers when the cap stopped it.
struct MemoryCap {
    cap: usize,
    exceeded: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap {
            self.exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// The data of one invocation's store.
pub(super) struct InvocationState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    gate: HttpGate,
    table: ResourceTable,
    memory: MemoryCap,
    stdout: CappedPipe,
    stderr: CappedPipe,
    context: InvocationContext,
    ledger: Ledger,
    publications: Vec<Publication>,
    kv_writes: BTreeMap<String, Option<Vec<u8>>>,
    logs: Vec<LogLine>,
    /// Set by the epoch callback when the deadline passed.
    pub(super) deadline_hit: bool,
    /// Why the invocation went over its byte budget, once it did.
    over_budget: Option<String>,
}

impl InvocationState {
    pub(super) fn new(
        context: &InvocationContext,
        memory_cap: usize,
        deadline: tokio::time::Instant,
    ) -> Self {
        let stdout = CappedPipe::new(MAX_STDIO_BYTES);
        let stderr = CappedPipe::new(MAX_STDIO_BYTES);
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build();
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            gate: HttpGate::new(context.allowed_hosts.clone(), deadline),
            table: ResourceTable::new(),
            memory: MemoryCap {
                cap: memory_cap,
                exceeded: false,
            },
            stdout,
            stderr,
            context: context.clone(),
            ledger: Ledger::new(memory_cap as u64),
            publications: Vec::new(),
            kv_writes: BTreeMap::new(),
            logs: Vec::new(),
            deadline_hit: false,
            over_budget: None,
        }
    }

    pub(super) fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.memory
    }

    fn push_log(&mut self, level: &'static str, text: &str) {
        if let Some(text) = self.ledger.log(text) {
            self.logs.push(LogLine {
                at_ms: crate::broker::now_ms(),
                level,
                text,
            });
        }
    }

    /// A note from the server itself, kept whatever the plugin's log caps.
    fn push_note(&mut self, level: &'static str, text: String) {
        self.logs.push(LogLine {
            at_ms: crate::broker::now_ms(),
            level,
            text,
        });
    }

    /// Turns a ledger refusal into the call's answer: a size or count refusal goes back to
    /// the guest, a budget refusal traps the invocation.
    fn refused(&mut self, refusal: Refusal) -> wasmtime::Result<types::Error> {
        match refusal {
            Refusal::Call(error) => Ok(types::Error {
                code: error.code,
                message: error.message,
            }),
            Refusal::Budget(message) => {
                let error = wasmtime::format_err!("{message}");
                self.over_budget = Some(message);
                Err(error)
            }
        }
    }

    /// Accounts the outcomes' dead-letter reasons (cut to their cap); `Err` when they take
    /// the invocation over its budget.
    pub(super) fn account_outcomes(
        &mut self,
        outcomes: Vec<types::Outcome>,
    ) -> Result<Vec<Outcome>, Fault> {
        outcomes
            .into_iter()
            .map(|outcome| match outcome {
                types::Outcome::Ack => Ok(Outcome::Ack),
                types::Outcome::Retry(delay) => Ok(Outcome::Retry(delay)),
                types::Outcome::DeadLetter(reason) => match self.ledger.reason(&reason) {
                    Ok(reason) => Ok(Outcome::DeadLetter(reason)),
                    Err(
                        Refusal::Budget(message)
                        | Refusal::Call(switchyard_sdk::Error { message, .. }),
                    ) => Err(budget_fault(message)),
                },
            })
            .collect()
    }

    /// Names the fault behind a failed call.
    pub(super) fn classify(
        &self,
        error: &wasmtime::Error,
        context: &InvocationContext,
        memory_cap: u64,
    ) -> Fault {
        let timeout = context.timeout;
        if let Some(message) = &self.over_budget {
            return budget_fault(message.clone());
        }
        if error.downcast_ref::<Trap>() == Some(&Trap::OutOfFuel) {
            return Fault {
                kind: FaultKind::Fuel,
                message: format!(
                    "used up its fuel of {} units",
                    context.fuel.unwrap_or(u64::MAX)
                ),
            };
        }
        if self.deadline_hit || error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            return Fault {
                kind: FaultKind::Deadline,
                message: format!("ran past its deadline of {} ms", timeout.as_millis()),
            };
        }
        if self.memory.exceeded {
            return Fault {
                kind: FaultKind::Memory,
                message: format!(
                    "tried to grow its memory past the cap of {} MiB",
                    memory_cap >> 20
                ),
            };
        }
        let stderr = String::from_utf8_lossy(&self.stderr.contents().0).into_owned();
        if let Some(panic) = stderr.lines().find(|line| line.contains("panicked at")) {
            let detail: Vec<&str> = stderr
                .lines()
                .skip_while(|line| !line.contains("panicked at"))
                .take(2)
                .collect();
            let message = if detail.len() == 2 {
                format!("{} {}", detail[0], detail[1])
            } else {
                panic.to_string()
            };
            return Fault {
                kind: FaultKind::Panic,
                message,
            };
        }
        let text = format!("{error:#}");
        Fault {
            kind: FaultKind::Trap,
            message: text.lines().next().unwrap_or("trap").to_string(),
        }
    }

    /// Collects what the invocation produced.
    pub(super) fn finish(&mut self, result: Result<Vec<Outcome>, Fault>) -> Invocation {
        for authority in std::mem::take(&mut self.gate.denied) {
            self.push_note(
                "error",
                format!(
                    "outbound HTTP to {authority} denied: not on this consumer's allowed_hosts"
                ),
            );
        }
        let mut dropped_bytes = 0;
        for (pipe, level) in [(self.stdout.clone(), "info"), (self.stderr.clone(), "warn")] {
            let (contents, dropped) = pipe.contents();
            dropped_bytes += dropped;
            for line in String::from_utf8_lossy(&contents).lines() {
                if !line.trim().is_empty() {
                    self.push_log(level, line);
                }
            }
        }
        let dropped = self.ledger.dropped_log_lines();
        if dropped > 0 || dropped_bytes > 0 {
            self.push_note(
                "warn",
                format!(
                    "{dropped} more log lines and {dropped_bytes} bytes of stdout/stderr were \
                     dropped (caps: {} lines, {MAX_STDIO_BYTES} bytes per stream)",
                    limits::MAX_LOG_LINES
                ),
            );
        }
        if let Some(message) = &self.over_budget {
            let message = message.clone();
            self.push_note("error", format!("over budget: {message}"));
        }
        Invocation {
            result,
            publications: std::mem::take(&mut self.publications),
            kv_writes: std::mem::take(&mut self.kv_writes),
            logs: std::mem::take(&mut self.logs),
        }
    }
}

impl WasiView for InvocationState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InvocationState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.gate,
        }
    }
}

fn guest_error(error: HostError) -> types::Error {
    types::Error {
        code: error.code,
        message: error.message,
    }
}

fn budget_fault(message: String) -> Fault {
    Fault {
        kind: FaultKind::Budget,
        message,
    }
}

impl types::Host for InvocationState {}

impl self::switchyard::plugin::host::Host for InvocationState {
    fn log(&mut self, level: types::Level, text: String) -> wasmtime::Result<()> {
        let level = match level {
            types::Level::Trace => "trace",
            types::Level::Debug => "debug",
            types::Level::Info => "info",
            types::Level::Warn => "warn",
            types::Level::Error => "error",
        };
        self.push_log(level, &text);
        Ok(())
    }

    fn publish(
        &mut self,
        topic: String,
        payload: Vec<u8>,
        attributes: Vec<(String, String)>,
        key: Option<String>,
    ) -> wasmtime::Result<Result<(), types::Error>> {
        let bytes = limits::publication_bytes(&topic, &payload, &attributes, key.as_deref());
        let publication = Publication {
            topic,
            payload,
            attributes,
            key,
        };
        if let Err(error) = self.context.services.check_publication(&publication) {
            return Ok(Err(guest_error(error)));
        }
        if let Err(refusal) = self.ledger.publish(bytes) {
            return self.refused(refusal).map(Err);
        }
        self.publications.push(publication);
        Ok(Ok(()))
    }

    async fn kv_get(
        &mut self,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, types::Error>> {
        if let Err(error) = limits::check_key(&key) {
            return Ok(Err(types::Error {
                code: error.code,
                message: error.message,
            }));
        }
        if let Some(written) = self.kv_writes.get(&key) {
            return Ok(Ok(written.clone()));
        }
        let services = self.context.services.clone();
        let plugin = self.context.plugin.clone();
        let read = tokio::task::spawn_blocking(move || services.kv_get(&plugin, &key)).await;
        Ok(match read {
            Ok(value) => value.map_err(guest_error),
            Err(_) => Err(guest_error(HostError::new(
                "storage_failed",
                "the read was interrupted",
            ))),
        })
    }

    fn kv_set(
        &mut self,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), types::Error>> {
        self.kv_write(key, Some(value))
    }

    fn kv_delete(&mut self, key: String) -> wasmtime::Result<Result<(), types::Error>> {
        self.kv_write(key, None)
    }

    fn now_ms(&mut self) -> wasmtime::Result<u64> {
        Ok(crate::broker::now_ms())
    }

    fn config(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        Ok(self.context.config.get(&name).cloned())
    }
}

impl InvocationState {
    fn kv_write(
        &mut self,
        key: String,
        value: Option<Vec<u8>>,
    ) -> wasmtime::Result<Result<(), types::Error>> {
        if let Err(refusal) = self.ledger.kv_write(&key, value.as_deref()) {
            return self.refused(refusal).map(Err);
        }
        self.kv_writes.insert(key, value);
        Ok(Ok(()))
    }
}

/// Links exactly the interfaces [`super::world::ALLOWED`] lists: no filesystem, sockets or
/// name lookup, whatever a component asks for.
pub(super) fn add_to_linker(linker: &mut Linker<InvocationState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::cli::{WasiCli, WasiCliView};
    use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
    use wasmtime_wasi::p2::bindings::{cli, clocks, io, random};
    use wasmtime_wasi::random::WasiRandom;

    let l = linker;
    io::error::add_to_linker::<_, HasSelf<ResourceTable>>(l, |state| &mut state.table)?;
    io::poll::add_to_linker::<_, HasSelf<ResourceTable>>(l, |state| &mut state.table)?;
    io::streams::add_to_linker::<_, HasSelf<ResourceTable>>(l, |state| &mut state.table)?;
    clocks::wall_clock::add_to_linker::<_, WasiClocks>(l, InvocationState::clocks)?;
    clocks::monotonic_clock::add_to_linker::<_, WasiClocks>(l, InvocationState::clocks)?;
    random::random::add_to_linker::<_, WasiRandom>(l, |state| state.wasi.random())?;
    random::insecure::add_to_linker::<_, WasiRandom>(l, |state| state.wasi.random())?;
    random::insecure_seed::add_to_linker::<_, WasiRandom>(l, |state| state.wasi.random())?;
    cli::environment::add_to_linker::<_, WasiCli>(l, InvocationState::cli)?;
    cli::exit::add_to_linker::<_, WasiCli>(l, InvocationState::cli)?;
    cli::stdin::add_to_linker::<_, WasiCli>(l, InvocationState::cli)?;
    cli::stdout::add_to_linker::<_, WasiCli>(l, InvocationState::cli)?;
    cli::stderr::add_to_linker::<_, WasiCli>(l, InvocationState::cli)?;
    cli::terminal_input::add_to_linker::<_, WasiCli>(l, InvocationState::cli)?;
    cli::terminal_output::add_to_linker::<_, WasiCli>(l, InvocationState::cli)?;
    cli::terminal_stdin::add_to_linker::<_, WasiCli>(l, InvocationState::cli)?;
    cli::terminal_stdout::add_to_linker::<_, WasiCli>(l, InvocationState::cli)?;
    cli::terminal_stderr::add_to_linker::<_, WasiCli>(l, InvocationState::cli)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(l)?;
    Consumer::add_to_linker::<_, HasSelf<InvocationState>>(l, |state| state)?;
    Ok(())
}

pub(super) fn to_wit(message: PluginMessage) -> types::Message {
    types::Message {
        id: message.id,
        topic: message.topic,
        queue: message.queue,
        key: message.key,
        attributes: message.attributes,
        payload: message.payload,
        published_at_ms: message.published_at_ms,
        attempt: message.attempt,
    }
}
