//! The example plugins under `plugins/`, built for wasm32-wasip2 once per test run (in their
//! own target directory), and a local HTTP sink for plugins' outbound requests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{Context, bail};

/// Every example plugin, by crate name.
const PLUGINS: &[&str] = &[
    "ack-all",
    "alarm-webhook",
    "charge-payment",
    "confirm-order",
    "faulty",
    "mailing-list",
    "notifier",
    "release-stock",
    "reserve-stock",
    "signup-analytics",
];

static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// The component bytes of the example plugin `name` (a crate under `plugins/`).
pub fn plugin_wasm(name: &str) -> anyhow::Result<Vec<u8>> {
    let path = plugin_wasm_path(name)?;
    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
}

/// Where the built component of the example plugin `name` is (for uploads from a browser).
pub fn plugin_wasm_path(name: &str) -> anyhow::Result<PathBuf> {
    let dir = BUILT
        .get_or_init(|| build_plugins().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow::anyhow!("building the example plugins failed: {e}"))?;
    Ok(dir.join(format!("{}.wasm", name.replace('-', "_"))))
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// Builds every example plugin with a nested cargo that inherits nothing of the outer
/// build's target settings.
fn build_plugins() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the test binary")?;
    // <target>/debug/deps/<test binary>
    let target = exe
        .ancestors()
        .nth(3)
        .context("the test binary is not in a cargo target directory")?
        .join("plugins");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace_root())
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .arg("--target-dir")
        .arg(&target)
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "true");
    for name in PLUGINS {
        command.args(["-p", name]);
    }
    for (key, _) in std::env::vars() {
        if key.starts_with("CARGO_TARGET_")
            || key.starts_with("CARGO_BUILD_")
            || key.starts_with("CARGO_ENCODED_")
            || key == "RUSTFLAGS"
            || key == "RUSTC"
            || key == "RUSTC_WRAPPER"
            || key == "RUSTC_WORKSPACE_WRAPPER"
        {
            command.env_remove(key);
        }
    }
    let output = command.output().context("running cargo for the plugins")?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("wasm32-wasip2") && stderr.contains("target may not be installed") {
            bail!(
                "the wasm32-wasip2 target is missing: run `rustup target add wasm32-wasip2`\n{stderr}"
            );
        }
        bail!("cargo build of the example plugins failed:\n{stderr}");
    }
    Ok(target.join("wasm32-wasip2").join("release"))
}

/// One request the sink received.
#[derive(Debug, Clone)]
pub struct SinkRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// A local HTTP server on 127.0.0.1 that records every request and answers with the next
/// status of a script (200 once the script is used up).
#[derive(Clone)]
pub struct HttpSink {
    /// `127.0.0.1:<port>`.
    pub authority: String,
    requests: Arc<Mutex<Vec<SinkRequest>>>,
}

impl HttpSink {
    /// Starts a sink that answers `statuses` in turn, then 200.
    pub async fn start(statuses: Vec<u16>) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let authority = listener.local_addr()?.to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(statuses.into_iter()));
        let recorded = requests.clone();
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let (recorded, script) = (recorded.clone(), script.clone());
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, 16 << 20)
                    .await
                    .unwrap_or_default();
                recorded.lock().expect("sink lock").push(SinkRequest {
                    method: parts.method.to_string(),
                    path: parts.uri.to_string(),
                    headers: parts
                        .headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                        .collect(),
                    body: body.to_vec(),
                });
                let status = script.lock().expect("sink lock").next().unwrap_or(200);
                axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::OK)
            }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            authority,
            requests,
        })
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }

    /// `http://127.0.0.1:<port>`: the `allowed_hosts` entry that lets a plugin reach the sink.
    pub fn origin(&self) -> String {
        format!("http://{}", self.authority)
    }

    /// The sink's port.
    pub fn port(&self) -> u16 {
        self.authority
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse().ok())
            .expect("the sink's authority ends in its port")
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<SinkRequest> {
        self.requests.lock().expect("sink lock").clone()
    }
}
