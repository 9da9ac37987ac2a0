//! What can go wrong managing plugins and consumers.

use super::Cap;
use crate::broker::BrokerError;
use crate::runtime::PluginError;
use crate::storage::StorageError;

/// A plugin or consumer request that cannot be carried out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DispatcherError {
    /// No such plugin.
    #[error("plugin {name:?} does not exist")]
    PluginNotFound {
        /// Its name.
        name: String,
    },
    /// No such version of the plugin.
    #[error("plugin {plugin:?} has no version {version:?}")]
    VersionNotFound {
        /// The plugin.
        plugin: String,
        /// The version asked for.
        version: String,
    },
    /// A version prefix matches several versions.
    #[error("version {version:?} of plugin {plugin:?} is ambiguous: give more digits")]
    AmbiguousVersion {
        /// The plugin.
        plugin: String,
        /// The prefix.
        version: String,
    },
    /// The version is the active one (activate another first).
    #[error("version {version} is plugin {plugin:?}'s active version: activate another one first")]
    VersionActive {
        /// The plugin.
        plugin: String,
        /// The version.
        version: String,
    },
    /// No such key in the plugin's store.
    #[error("plugin {plugin:?} has no value under key {key:?}")]
    KeyNotFound {
        /// The plugin.
        plugin: String,
        /// The key.
        key: String,
    },
    /// The upload is not a plugin we can run.
    #[error(transparent)]
    InvalidPlugin(#[from] PluginError),
    /// The upload is too large.
    #[error("the component is {size} bytes; the limit is {max}")]
    PluginTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The upload is over a cap on what a component may hold.
    #[error("{}", cap.refusal(*found))]
    OverCap {
        /// Which cap.
        cap: Cap,
        /// How many (or how large) it has.
        found: u64,
    },
    /// Compiling took longer than a request waits for it.
    #[error(
        "the component did not compile within {limit_secs} s; a smaller component (fewer or \
         smaller functions) compiles faster"
    )]
    CompileTimeout {
        /// The limit.
        limit_secs: u64,
    },
    /// Too many compiles are running and waiting to take another now.
    #[error("the server is compiling as many components as it takes at once; retry shortly")]
    CompileBusy,
    /// No such consumer.
    #[error("consumer {name:?} does not exist")]
    ConsumerNotFound {
        /// Its name.
        name: String,
    },
    /// A consumer with that name exists.
    #[error("consumer {name:?} already exists")]
    ConsumerExists {
        /// Its name.
        name: String,
    },
    /// A consumer setting is out of range.
    #[error("invalid {name}: {reason}")]
    InvalidSetting {
        /// The setting.
        name: &'static str,
        /// Why.
        reason: String,
    },
    /// A broker rule refused it (unknown queue, invalid name, ...).
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// Storage failed; nothing changed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl DispatcherError {
    /// Stable snake_case code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            DispatcherError::PluginNotFound { .. } => "plugin_not_found",
            DispatcherError::VersionNotFound { .. } => "version_not_found",
            DispatcherError::AmbiguousVersion { .. } => "ambiguous_version",
            DispatcherError::VersionActive { .. } => "version_active",
            DispatcherError::KeyNotFound { .. } => "key_not_found",
            DispatcherError::InvalidPlugin(error) => match error {
                PluginError::NotWasm => "not_wasm",
                PluginError::CoreModule => "not_a_component",
                PluginError::Invalid { .. } => "invalid_component",
                PluginError::WrongWorld { .. } => "wrong_world",
                _ => "runtime_unavailable",
            },
            DispatcherError::PluginTooLarge { .. } => "plugin_too_large",
            DispatcherError::OverCap { cap, .. } => cap.code(),
            DispatcherError::CompileTimeout { .. } => "compile_timeout",
            DispatcherError::CompileBusy => "overloaded",
            DispatcherError::ConsumerNotFound { .. } => "consumer_not_found",
            DispatcherError::ConsumerExists { .. } => "consumer_exists",
            DispatcherError::InvalidSetting { .. } => "invalid_setting",
            DispatcherError::Broker(error) => error.code(),
            DispatcherError::Storage(_) => "storage_failed",
        }
    }
}
