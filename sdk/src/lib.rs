#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod allow;
mod host;
pub mod http;
pub mod limits;
mod message;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use host::{
    Level, Publication, config, debug, error, info, kv, log, now_ms, publish, publish_json, warn,
};
pub use message::{Batch, Message, Outcome};
pub use switchyard_sdk_macros::handler;

/// What a host call or a payload conversion can fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Stable snake_case code, e.g. `topic_not_found`, `http_denied`.
    pub code: String,
    /// What went wrong, in words.
    pub message: String,
}

impl Error {
    /// An error with this code and message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for Error {}
