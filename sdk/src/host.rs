//! Calls into the server while a batch is handled: logging, publishing, the plugin's
//! key-value store, the clock and the consumer's config. On `wasm32` they go to the
//! server; natively they go to the [`crate::testing::TestHost`] of the current thread.

use serde::Serialize;

use crate::Error;

/// How important a log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Very detailed.
    Trace,
    /// Detailed.
    Debug,
    /// Normal operation.
    Info,
    /// Something looks wrong.
    Warn,
    /// Something failed.
    Error,
}

/// Writes a line to the consumer's log.
pub fn log(level: Level, text: &str) {
    backend::log(level, text);
}

/// Logs at debug level.
pub fn debug(text: &str) {
    log(Level::Debug, text);
}

/// Logs at info level.
pub fn info(text: &str) {
    log(Level::Info, text);
}

/// Logs at warn level.
pub fn warn(text: &str) {
    log(Level::Warn, text);
}

/// Logs at error level.
pub fn error(text: &str) {
    log(Level::Error, text);
}

/// Publishes `payload` to `topic`. The message is committed together with the batch's
/// outcomes: if the batch fails, it is not published.
pub fn publish(topic: &str, payload: impl Into<Vec<u8>>) -> Result<(), Error> {
    Publication::new(topic, payload).send()
}

/// Publishes `value` as JSON to `topic` (see [`publish`]).
pub fn publish_json(topic: &str, value: &impl Serialize) -> Result<(), Error> {
    Publication::json(topic, value)?.send()
}

/// A message to publish, with attributes and a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    /// The topic.
    pub topic: String,
    /// The payload bytes.
    pub payload: Vec<u8>,
    /// Attributes.
    pub attributes: Vec<(String, String)>,
    /// The key.
    pub key: Option<String>,
}

impl Publication {
    /// A message with this payload for `topic`.
    pub fn new(topic: &str, payload: impl Into<Vec<u8>>) -> Self {
        Self {
            topic: topic.to_string(),
            payload: payload.into(),
            attributes: Vec::new(),
            key: None,
        }
    }

    /// A message with `value` as its JSON payload.
    pub fn json(topic: &str, value: &impl Serialize) -> Result<Self, Error> {
        let payload = serde_json::to_vec(value)
            .map_err(|e| Error::new("payload_not_json", format!("cannot encode JSON: {e}")))?;
        Ok(Self::new(topic, payload))
    }

    /// Adds an attribute.
    pub fn attribute(mut self, name: &str, value: &str) -> Self {
        self.attributes.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the key.
    pub fn key(mut self, key: &str) -> Self {
        self.key = Some(key.to_string());
        self
    }

    /// Publishes it (committed with the batch's outcomes).
    pub fn send(self) -> Result<(), Error> {
        backend::publish(self)
    }
}

/// The plugin's own key-value store. Writes are committed together with the batch's
/// outcomes; reads see this batch's own writes.
pub mod kv {
    use crate::Error;

    /// The value under `key`.
    pub fn get(key: &str) -> Result<Option<Vec<u8>>, Error> {
        super::backend::kv_get(key)
    }

    /// Sets `key` to `value`.
    pub fn set(key: &str, value: impl AsRef<[u8]>) -> Result<(), Error> {
        super::backend::kv_set(key, value.as_ref())
    }

    /// Deletes `key` (nothing happens when it is absent).
    pub fn delete(key: &str) -> Result<(), Error> {
        super::backend::kv_delete(key)
    }

    /// The value under `key` as a decimal counter (0 when absent).
    pub fn get_u64(key: &str) -> Result<u64, Error> {
        match get(key)? {
            None => Ok(0),
            Some(bytes) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|text| text.parse().ok())
                .ok_or_else(|| {
                    Error::new("not_a_counter", format!("{key:?} does not hold a number"))
                }),
        }
    }

    /// Adds `by` to the counter under `key`; returns the new value.
    pub fn increment(key: &str, by: u64) -> Result<u64, Error> {
        let value = get_u64(key)?.saturating_add(by);
        set(key, value.to_string())?;
        Ok(value)
    }
}

/// The wall clock, Unix milliseconds.
pub fn now_ms() -> u64 {
    backend::now_ms()
}

/// A value of the consumer's `config`.
pub fn config(name: &str) -> Option<String> {
    backend::config(name)
}

#[cfg(target_arch = "wasm32")]
mod backend {
    use super::{Level, Publication};
    use crate::__private::bindings::switchyard::plugin::host;
    use crate::__private::bindings::switchyard::plugin::types;
    use crate::Error;

    fn error(e: types::Error) -> Error {
        Error::new(e.code, e.message)
    }

    pub(super) fn log(level: Level, text: &str) {
        let level = match level {
            Level::Trace => types::Level::Trace,
            Level::Debug => types::Level::Debug,
            Level::Info => types::Level::Info,
            Level::Warn => types::Level::Warn,
            Level::Error => types::Level::Error,
        };
        host::log(level, text);
    }

    pub(super) fn publish(p: Publication) -> Result<(), Error> {
        host::publish(&p.topic, &p.payload, &p.attributes, p.key.as_deref()).map_err(error)
    }

    pub(super) fn kv_get(key: &str) -> Result<Option<Vec<u8>>, Error> {
        host::kv_get(key).map_err(error)
    }

    pub(super) fn kv_set(key: &str, value: &[u8]) -> Result<(), Error> {
        host::kv_set(key, value).map_err(error)
    }

    pub(super) fn kv_delete(key: &str) -> Result<(), Error> {
        host::kv_delete(key).map_err(error)
    }

    pub(super) fn now_ms() -> u64 {
        host::now_ms()
    }

    pub(super) fn config(name: &str) -> Option<String> {
        host::config(name)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod backend {
    use super::{Level, Publication};
    use crate::Error;
    use crate::testing::with_host;

    pub(super) fn log(level: Level, text: &str) {
        with_host(|host| host.record_log(level, text));
    }

    pub(super) fn publish(p: Publication) -> Result<(), Error> {
        with_host(|host| host.record_publish(p))
    }

    pub(super) fn kv_get(key: &str) -> Result<Option<Vec<u8>>, Error> {
        crate::limits::check_key(key)?;
        with_host(|host| Ok(host.kv.get(key).cloned()))
    }

    pub(super) fn kv_set(key: &str, value: &[u8]) -> Result<(), Error> {
        with_host(|host| {
            host.check_call(|ledger| ledger.kv_write(key, Some(value)))?;
            host.kv.insert(key.to_string(), value.to_vec());
            Ok(())
        })
    }

    pub(super) fn kv_delete(key: &str) -> Result<(), Error> {
        with_host(|host| {
            host.check_call(|ledger| ledger.kv_write(key, None))?;
            host.kv.remove(key);
            Ok(())
        })
    }

    pub(super) fn now_ms() -> u64 {
        with_host(|host| host.now_ms)
    }

    pub(super) fn config(name: &str) -> Option<String> {
        with_host(|host| host.config.get(name).cloned())
    }
}
