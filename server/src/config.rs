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

# How often the server samples every queue's counts and topic's publishes for
# GET /v1/history, which keeps the last 360 samples (an hour at the default 10 s), in ms
# (100 ms to 1 minute).
history_interval_ms = 10000

# Every /v1 request carries "Authorization: Bearer <token>". On a data directory without
# tokens, the first admin token is SWITCHYARD_ADMIN_TOKEN (at least 16 characters) if set,
# else a random one written to <data_dir>/admin-token (mode 0600).
# admin_token = "..."

# Turn authentication off (every request acts as an admin). Refused unless `listen` is a
# loopback address.
insecure_no_auth = false

# Origins (scheme://host[:port]) besides the server's own whose browser pages may call the
# API. A request with any other Origin header is refused.
allowed_origins = []

# Host names clients use to reach the server besides IP addresses and localhost (for
# example "switchyard.example.com"); a request for any other Host is refused, which keeps
# DNS-rebinding pages out.
public_hosts = []

# How many changes the audit log keeps (100 to 10 000 000); the oldest go first.
audit_max_entries = 100000

# Plugin invocations running at once across all consumers (1 to 4096): each holds one
# pooled WebAssembly instance; more wait for a free one.
max_plugin_instances = 256

# Open connections at once (1 to 1 000 000); more wait to be accepted.
max_connections = 10000

# Requests in progress at once, long polls included (1 to 1 000 000); past it requests
# are shed with 503 and Retry-After (/healthz is never shed).
max_concurrent_requests = 8192

# Time a client has to send a request's headers, in ms (100 ms to 10 minutes); a
# kept-alive connection idle that long between requests is closed too.
header_timeout_ms = 30000

# TLS: a PEM certificate chain and its PEM private key. Both or neither; without them the
# server speaks plain HTTP (put it behind a TLS proxy, or keep it on loopback).
# tls_cert = "/etc/switchyard/cert.pem"
# tls_key = "/etc/switchyard/key.pem"

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
    /// How often queue and topic figures are sampled for `GET /v1/history`, in ms.
    pub history_interval_ms: u64,
    /// The first admin token's secret, for a data directory without tokens.
    #[serde(default)]
    pub admin_token: Option<Secret>,
    /// Authentication off: every request acts as an admin (loopback only).
    pub insecure_no_auth: bool,
    /// Origins besides the server's own allowed to call the API from a browser.
    pub allowed_origins: Vec<String>,
    /// Host names besides IP addresses and localhost that requests may name.
    pub public_hosts: Vec<String>,
    /// How many changes the audit log keeps.
    pub audit_max_entries: u64,
    /// Plugin invocations running at once (pooled instances).
    pub max_plugin_instances: u32,
    /// Open connections at once.
    pub max_connections: usize,
    /// Requests in progress at once before shedding with 503.
    pub max_concurrent_requests: usize,
    /// Time to send a request's headers (and longest idle time between requests), in ms.
    pub header_timeout_ms: u64,
    /// PEM certificate chain for TLS.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Directory of the built web console, served at `/`.
    #[serde(default)]
    pub console_dir: Option<PathBuf>,
}

/// A secret setting: compared and used, never printed.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
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
    /// `SWITCHYARD_ADMIN_TOKEN`.
    pub admin_token: Option<Secret>,
    /// `--insecure-no-auth`.
    pub insecure_no_auth: bool,
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
        if let Some(token) = overrides.admin_token {
            config.admin_token = Some(token);
        }
        config.insecure_no_auth |= overrides.insecure_no_auth;
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

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
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
        )?;
        within(
            "history_interval_ms",
            self.history_interval_ms,
            100,
            60_000,
            "ms (100 ms to 1 minute)",
        )?;
        within(
            "max_plugin_instances",
            u64::from(self.max_plugin_instances),
            1,
            4096,
            "instances",
        )?;
        within(
            "audit_max_entries",
            self.audit_max_entries,
            100,
            10_000_000,
            "entries",
        )?;
        let connections = self.max_connections as u64;
        within("max_connections", connections, 1, 1_000_000, "connections")?;
        let concurrent = self.max_concurrent_requests as u64;
        within(
            "max_concurrent_requests",
            concurrent,
            1,
            1_000_000,
            "requests",
        )?;
        within(
            "header_timeout_ms",
            self.header_timeout_ms,
            100,
            600_000,
            "ms (100 ms to 10 minutes)",
        )?;
        if let Some(token) = &self.admin_token
            && token.0.trim().chars().count() < crate::access::MIN_SECRET_CHARS
        {
            return Err(ConfigError::Invalid {
                name: "admin_token",
                reason: format!(
                    "is shorter than {} characters; use a long random secret",
                    crate::access::MIN_SECRET_CHARS
                ),
            });
        }
        if self.insecure_no_auth && !self.listen.ip().is_loopback() {
            return Err(ConfigError::Invalid {
                name: "insecure_no_auth",
                reason: format!(
                    "authentication can be turned off only on a loopback address, and listen is {}",
                    self.listen
                ),
            });
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Invalid {
                name: "tls_cert",
                reason: "tls_cert and tls_key go together: set both or neither".into(),
            });
        }
        for origin in &self.allowed_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://"))
                || origin.trim_end_matches('/').matches('/').count() != 2
            {
                return Err(ConfigError::Invalid {
                    name: "allowed_origins",
                    reason: format!(
                        "{origin:?} is not an origin; write scheme://host[:port], such as https://ops.example.com"
                    ),
                });
            }
        }
        Ok(())
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
            ("history_interval_ms = 5", "history_interval_ms"),
            ("history_interval_ms = 60001", "history_interval_ms"),
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
    fn auth_is_turned_off_only_on_loopback_and_a_given_admin_token_is_long() {
        let off = |listen: &str| Overrides {
            listen: Some(listen.parse().unwrap()),
            insecure_no_auth: true,
            ..Overrides::default()
        };
        assert!(Config::load(None, off("127.0.0.1:7700")).is_ok());
        assert!(Config::load(None, off("[::1]:7700")).is_ok());
        for listen in ["0.0.0.0:7700", "10.0.0.5:7700", "[::]:7700"] {
            let error = Config::load(None, off(listen)).unwrap_err().to_string();
            assert!(error.contains("insecure_no_auth"), "{error}");
        }
        let short = Overrides {
            admin_token: Some(Secret("tiny-secret".into())),
            ..Overrides::default()
        };
        let error = Config::load(None, short).unwrap_err().to_string();
        assert!(
            error.contains("admin_token") && !error.contains("tiny-secret"),
            "{error}"
        );
        assert_eq!(format!("{:?}", Secret("hidden".into())), "<redacted>");
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
