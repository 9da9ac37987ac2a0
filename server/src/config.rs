//! Server configuration: built-in defaults, overlaid by a TOML file, then `SWITCHYARD_*`
//! environment variables, then command-line flags; parsed once into [`Config`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The commented default configuration; `switchyard serve --print-config` shows it.
pub const DEFAULT_CONFIG: &str = r#"# Switchyard server configuration.
# Every setting can also be given as SWITCHYARD_<NAME> (upper case) or as a --flag.

# Directory of the embedded redb database.
data_dir = "./switchyard-data"

# Address of the REST API and the console. Bind to loopback unless you mean otherwise.
listen = "127.0.0.1:7700"

# Largest payload accepted, in bytes (1 MiB; at most 64 MiB).
max_message_bytes = 1048576

# Largest request body, in bytes (16 MiB; 1 KiB to 1 GiB, and at least max_message_bytes);
# a batch must fit in it. A single message of max_message_bytes (base64-encoded) is always
# accepted.
max_request_bytes = 16777216

# Largest number of messages in one batch publish (at most 10000).
max_batch_messages = 1000

# Most write requests the writer applies in one transaction (group commit; at most 65536).
max_group_commit = 4096

# How long a dedup id is remembered, in ms (5 minutes; 1 s to 1 day).
dedup_window_ms = 300000

# How long message status remembers acked and expired copies, counted from the message's
# publish time, in ms (1 day; 1 minute to 14 days).
status_retention_ms = 86400000

# Directory of the built web console (index.html, switchyard-console.js, its _bg.wasm and
# style.css), served at `/`. `cargo xtask serve` builds it and sets this; without it `/`
# says how to build it.
# console_dir = "./target/console"
"#;

/// The parsed configuration.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Directory of the embedded redb database.
    pub data_dir: PathBuf,
    /// Address of the REST API and the console.
    pub listen: SocketAddr,
    /// Largest payload accepted, in bytes.
    pub max_message_bytes: usize,
    /// Largest request body, in bytes.
    pub max_request_bytes: usize,
    /// Largest number of messages in one batch publish.
    pub max_batch_messages: usize,
    /// Most write requests the writer applies in one transaction.
    pub max_group_commit: usize,
    /// How long a dedup id is remembered, in ms.
    pub dedup_window_ms: u64,
    /// How long message status remembers acked and expired copies, in ms.
    pub status_retention_ms: u64,
    /// Directory of the built web console, served at `/`.
    #[serde(default)]
    pub console_dir: Option<PathBuf>,
}

/// Settings given by flags or environment variables; each one set overrides the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--data-dir` / `SWITCHYARD_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--listen` / `SWITCHYARD_LISTEN`.
    pub listen: Option<SocketAddr>,
    /// `--max-message-bytes` / `SWITCHYARD_MAX_MESSAGE_BYTES`.
    pub max_message_bytes: Option<usize>,
    /// `--console-dir` / `SWITCHYARD_CONSOLE_DIR`.
    pub console_dir: Option<PathBuf>,
}

/// A configuration that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown or mistyped settings.
    #[error("invalid config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: toml::de::Error,
    },
    /// A setting has a value out of range.
    #[error("invalid setting {name}: {reason}")]
    Invalid {
        /// The setting.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

impl Default for Config {
    fn default() -> Self {
        toml::from_str(DEFAULT_CONFIG).expect("the default configuration parses")
    }
}

impl Config {
    /// Defaults, overlaid by `file` (if given), then by `overrides`.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> Result<Self, ConfigError> {
        let mut table: toml::Table =
            toml::from_str(DEFAULT_CONFIG).expect("the default configuration parses");
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            let user: toml::Table = toml::from_str(&text).map_err(|source| ConfigError::Parse {
                path: path.to_path_buf(),
                source,
            })?;
            table.extend(user);
        }
        let text = toml::to_string(&table).expect("a TOML table serializes");
        let mut config: Config = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: file.map(Path::to_path_buf).unwrap_or_default(),
            source,
        })?;
        if let Some(data_dir) = overrides.data_dir {
            config.data_dir = data_dir;
        }
        if let Some(listen) = overrides.listen {
            config.listen = listen;
        }
        if let Some(max) = overrides.max_message_bytes {
            config.max_message_bytes = max;
        }
        if let Some(dir) = overrides.console_dir {
            config.console_dir = Some(dir);
        }
        config.validate()?;
        Ok(config)
    }

    /// A configuration for tests: a given data directory, port 0 on loopback.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..Self::default()
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let within = |name, value: u64, min: u64, max: u64, unit: &str| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(ConfigError::Invalid {
                    name,
                    reason: format!("{value} is outside {min}..={max} {unit}"),
                })
            }
        };
        let message = self.max_message_bytes as u64;
        within("max_message_bytes", message, 1, MAX_MESSAGE_BYTES, "bytes")?;
        let request = self.max_request_bytes as u64;
        within(
            "max_request_bytes",
            request,
            1024,
            MAX_REQUEST_BYTES,
            "bytes",
        )?;
        if request < message {
            return Err(ConfigError::Invalid {
                name: "max_request_bytes",
                reason: format!(
                    "{request} is less than max_message_bytes ({message}); a batch of one \
                     largest message must fit in a request"
                ),
            });
        }
        let batch = self.max_batch_messages as u64;
        within("max_batch_messages", batch, 1, 10_000, "messages")?;
        let group = self.max_group_commit as u64;
        within("max_group_commit", group, 1, 65_536, "requests")?;
        within(
            "dedup_window_ms",
            self.dedup_window_ms,
            1000,
            DAY_MS,
            "ms (1 s to 1 day)",
        )?;
        within(
            "status_retention_ms",
            self.status_retention_ms,
            60_000,
            14 * DAY_MS,
            "ms (1 minute to 14 days)",
        )
    }
}

/// Largest `max_message_bytes`: 64 MiB.
const MAX_MESSAGE_BYTES: u64 = 64 << 20;
/// Largest `max_request_bytes`: 1 GiB.
const MAX_REQUEST_BYTES: u64 = 1 << 30;
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_validate() {
        let config = Config::load(None, Overrides::default()).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:7700");
        assert_eq!(config.max_message_bytes, 1 << 20);
    }

    #[test]
    fn file_then_overrides_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("switchyard.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nmax_message_bytes = 2048\n",
        )
        .unwrap();
        let overrides = Overrides {
            max_message_bytes: Some(4096),
            ..Overrides::default()
        };
        let config = Config::load(Some(&path), overrides).unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.max_message_bytes, 4096);
    }

    #[test]
    fn unknown_settings_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("switchyard.toml");
        std::fs::write(&path, "lisen = \"127.0.0.1:9000\"\n").unwrap();
        let err = Config::load(Some(&path), Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
    }

    fn load_with(file_text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("switchyard.toml");
        std::fs::write(&path, file_text).unwrap();
        Config::load(Some(&path), Overrides::default())
    }

    #[test]
    fn out_of_range_settings_are_refused_with_their_name_and_bounds() {
        for (text, name) in [
            ("dedup_window_ms = 0", "dedup_window_ms"),
            ("dedup_window_ms = 18446744073709551615", "dedup_window_ms"),
            ("status_retention_ms = 5", "status_retention_ms"),
            ("status_retention_ms = 9999999999999", "status_retention_ms"),
            ("max_group_commit = 0", "max_group_commit"),
            ("max_group_commit = 100000000", "max_group_commit"),
            ("max_batch_messages = 0", "max_batch_messages"),
            ("max_message_bytes = 0", "max_message_bytes"),
            ("max_request_bytes = 10", "max_request_bytes"),
            (
                "max_message_bytes = 4194304\nmax_request_bytes = 2097152",
                "max_request_bytes",
            ),
        ] {
            let error = load_with(text).expect_err(text).to_string();
            assert!(error.contains(name), "{text}: {error}");
        }
        assert!(load_with("dedup_window_ms = 1000\nstatus_retention_ms = 60000").is_ok());
    }

    #[test]
    fn a_message_limit_over_the_request_limit_is_refused_from_a_flag_too() {
        let overrides = Overrides {
            max_message_bytes: Some(32 << 20),
            ..Overrides::default()
        };
        let error = Config::load(None, overrides).unwrap_err().to_string();
        assert!(error.contains("max_request_bytes"), "{error}");
    }
}
