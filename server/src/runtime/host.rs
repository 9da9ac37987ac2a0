//! The store's data for one invocation and the host side of the plugin contract: logging,
//! buffered publishes and key-value writes, config, the clock, WASI with captured stdio,
//! and `wasi:http` gated by the consumer's allow-list.

use std::collections::BTreeMap;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{ResourceLimiter, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::http::HttpGate;

use super::{Fault, FaultKind, Invocation, InvocationContext, Outcome, PluginMessage, Publication};

wasmtime::component::bindgen!({
    path: "../sdk/wit",
    world: "consumer",
    imports: { default: trappable },
    exports: { default: async },
});

use self::switchyard::plugin::types;
pub(super) use Consumer as Bindings;
pub(super) use ConsumerPre as BindingsPre;

const MAX_PUBLICATIONS: usize = 1000;
const MAX_KV_WRITES: usize = 10_000;
const MAX_KEY_BYTES: usize = 1024;
const MAX_VALUE_BYTES: usize = 1 << 20;
const MAX_LOG_LINES: usize = 200;
const MAX_LOG_LINE: usize = 4096;
const STDIO_CAPACITY: usize = 64 << 10;

/// Key-value reads and publish checks, answered by the server.
pub trait HostServices: Send + Sync {
    /// The committed value of `key` in `plugin`'s namespace.
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
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
    context: InvocationContext,
    publications: Vec<Publication>,
    kv_writes: BTreeMap<String, Option<Vec<u8>>>,
    logs: Vec<LogLine>,
    dropped_logs: usize,
    /// Set by the epoch callback when the deadline passed.
    pub(super) deadline_hit: bool,
}

impl InvocationState {
    pub(super) fn new(context: &InvocationContext, memory_cap: usize) -> Self {
        let stdout = MemoryOutputPipe::new(STDIO_CAPACITY);
        let stderr = MemoryOutputPipe::new(STDIO_CAPACITY);
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build();
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            gate: HttpGate::new(context.allowed_hosts.clone()),
            table: ResourceTable::new(),
            memory: MemoryCap {
                cap: memory_cap,
                exceeded: false,
            },
            stdout,
            stderr,
            context: context.clone(),
            publications: Vec::new(),
            kv_writes: BTreeMap::new(),
            logs: Vec::new(),
            dropped_logs: 0,
            deadline_hit: false,
        }
    }

    pub(super) fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.memory
    }

    fn push_log(&mut self, level: &'static str, mut text: String) {
        if self.logs.len() >= MAX_LOG_LINES {
            self.dropped_logs += 1;
            return;
        }
        if text.len() > MAX_LOG_LINE {
            let mut end = MAX_LOG_LINE;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push('…');
        }
        self.logs.push(LogLine {
            at_ms: crate::broker::now_ms(),
            level,
            text,
        });
    }

    /// Names the fault behind a failed call.
    pub(super) fn classify(
        &self,
        error: &wasmtime::Error,
        context: &InvocationContext,
        memory_cap: u64,
    ) -> Fault {
        let timeout = context.timeout;
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
        let stderr = String::from_utf8_lossy(&self.stderr.contents()).into_owned();
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
            self.push_log(
                "error",
                format!(
                    "outbound HTTP to {authority} denied: not on this consumer's allowed_hosts"
                ),
            );
        }
        for (pipe, level) in [(self.stdout.clone(), "info"), (self.stderr.clone(), "warn")] {
            let contents = pipe.contents();
            for line in String::from_utf8_lossy(&contents).lines() {
                if !line.trim().is_empty() {
                    self.push_log(level, line.to_string());
                }
            }
        }
        if self.dropped_logs > 0 {
            let dropped = self.dropped_logs;
            self.logs.pop();
            self.push_log("warn", format!("{dropped} more log lines were dropped"));
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

fn check_key(key: &str) -> Result<(), types::Error> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(guest_error(HostError::new(
            "invalid_key",
            format!("a key must be 1 to {MAX_KEY_BYTES} bytes"),
        )));
    }
    Ok(())
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
        self.push_log(level, text);
        Ok(())
    }

    fn publish(
        &mut self,
        topic: String,
        payload: Vec<u8>,
        attributes: Vec<(String, String)>,
        key: Option<String>,
    ) -> wasmtime::Result<Result<(), types::Error>> {
        if self.publications.len() >= MAX_PUBLICATIONS {
            return Ok(Err(guest_error(HostError::new(
                "too_many_publications",
                format!("an invocation may publish at most {MAX_PUBLICATIONS} messages"),
            ))));
        }
        let publication = Publication {
            topic,
            payload,
            attributes,
            key,
        };
        if let Err(error) = self.context.services.check_publication(&publication) {
            return Ok(Err(guest_error(error)));
        }
        self.publications.push(publication);
        Ok(Ok(()))
    }

    fn kv_get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, types::Error>> {
        if let Err(error) = check_key(&key) {
            return Ok(Err(error));
        }
        if let Some(written) = self.kv_writes.get(&key) {
            return Ok(Ok(written.clone()));
        }
        Ok(self
            .context
            .services
            .kv_get(&self.context.plugin, &key)
            .map_err(guest_error))
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
        if let Err(error) = check_key(&key) {
            return Ok(Err(error));
        }
        if value.as_ref().is_some_and(|v| v.len() > MAX_VALUE_BYTES) {
            return Ok(Err(guest_error(HostError::new(
                "value_too_large",
                format!("a value may be at most {MAX_VALUE_BYTES} bytes"),
            ))));
        }
        if self.kv_writes.len() >= MAX_KV_WRITES && !self.kv_writes.contains_key(&key) {
            return Ok(Err(guest_error(HostError::new(
                "too_many_writes",
                format!("an invocation may write at most {MAX_KV_WRITES} keys"),
            ))));
        }
        self.kv_writes.insert(key, value);
        Ok(Ok(()))
    }
}

pub(super) fn add_to_linker(linker: &mut Linker<InvocationState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    Consumer::add_to_linker::<_, HasSelf<InvocationState>>(linker, |state| state)?;
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

pub(super) fn from_wit(outcome: types::Outcome) -> Outcome {
    match outcome {
        types::Outcome::Ack => Outcome::Ack,
        types::Outcome::Retry(delay) => Outcome::Retry(delay),
        types::Outcome::DeadLetter(reason) => Outcome::DeadLetter(reason),
    }
}
