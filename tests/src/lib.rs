//! The test harness: the real Switchyard server on 127.0.0.1, port 0, with a temp data
//! directory, either in this process ([`TestServer`]) or as a child process a test can
//! `kill -9` ([`ChildServer`]); plus bounded polling and the checks the tests share, and
//! headless Chromium driving the web console ([`Browser`]), and the real AWS clients driving
//! the SQS-compatible endpoint ([`run_sqs_scenario`]).
//! It talks to the server only over HTTP (the typed client, or raw `reqwest` for bodies the
//! typed client cannot send); it never reaches into the server's internals.

mod aws;
mod browser;
mod checks;
mod child;
mod plugins;
mod polling;
mod receiving;
pub mod torture;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use reqwest::{Method, StatusCode};
use switchyard::{Config, Server};
use switchyard_client::Client;
use tempfile::TempDir;

pub use aws::{aws_python, run_sqs_scenario};
pub use browser::{Browser, console_assets, console_server};
pub use checks::{Snapshot, assert_api_error, assert_still_serving, snapshot, states};
pub use child::{ChildServer, temp_data_dir};
pub use plugins::{HttpSink, SinkRequest, plugin_wasm, plugin_wasm_path};
pub use polling::{json_message, now_ms, queue, receive_request, wait_for, wait_until};
pub use receiving::{ack_all, assert_ulid, distinct_ids, drain, payload, receipt, receive_exactly};

/// The admin token of every server the harness starts (its first token, given by the
/// harness so that tests know it; see [`ChildServer::spawn_generating_token`] for the
/// generated one).
pub const ADMIN_TOKEN: &str = "sy_harness-admin-token-0123456789";

/// A typed client of the server at `url` that authenticates as the harness's admin.
pub fn admin_client(url: impl Into<String>) -> Client {
    Client::new(url).with_token(ADMIN_TOKEN)
}

/// Upper bound of every "wait until the server has done X" loop in the tests. Generous: it
/// only matters when something is broken, and a slow CI machine must not fail a test.
pub const PATIENCE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- in-process server

/// A real server in this process, on a fresh temp data directory, with a client of it.
pub struct TestServer {
    /// A typed client of the running server.
    pub client: Client,
    server: Option<Server>,
    config: Config,
    // Declared last so the directory outlives the server that uses it.
    _data: TempDir,
}

impl TestServer {
    /// Starts a server with the default configuration on a new temp data directory.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(|_| {}).await
    }

    /// Starts a server after `adjust` has changed its configuration (for example to lower
    /// `max_message_bytes`). The data directory and the listen address are the harness's.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> anyhow::Result<Self> {
        let data = tempfile::Builder::new()
            .prefix("switchyard-test-")
            .tempdir()
            .context("creating a temp data directory")?;
        let mut config = Config::for_data_dir(data.path());
        config.admin_token = Some(switchyard::config::Secret(ADMIN_TOKEN.into()));
        adjust(&mut config);
        config.data_dir = data.path().to_path_buf();
        config.listen = ([127, 0, 0, 1], 0).into();
        let server = switchyard::start(config.clone())
            .await
            .context("starting the in-process server")?;
        let client = admin_client(server.url());
        Ok(Self {
            client,
            server: Some(server),
            config,
            _data: data,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        self.client.base_url()
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    /// Shuts the server down gracefully and starts a new one on the same data directory
    /// (on a new port: use the returned value's client).
    pub async fn restart(mut self) -> anyhow::Result<Self> {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        let server = switchyard::start(self.config.clone())
            .await
            .context("restarting the in-process server on the same data directory")?;
        self.client = admin_client(server.url());
        self.server = Some(server);
        Ok(self)
    }

    /// Shuts the server down gracefully.
    pub async fn shutdown(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }

    /// Sends a raw request (for bodies the typed client cannot produce: malformed JSON,
    /// unknown fields, wrong types) and returns the status and the body.
    pub async fn raw(&self, method: Method, path: &str, body: Option<&str>) -> RawResponse {
        raw_request(self.url(), method, path, body).await
    }
}

// ---------------------------------------------------------------- raw HTTP

/// The answer to a raw request.
#[derive(Debug)]
pub struct RawResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// The body as text.
    pub text: String,
    /// The body as JSON (`Null` when it is not JSON).
    pub json: serde_json::Value,
}

impl RawResponse {
    /// The error code of an error body, if the body is one.
    pub fn error_code(&self) -> Option<&str> {
        self.json.pointer("/error/code")?.as_str()
    }

    /// Asserts this is an error answer with `status` and `code` and a non-empty message.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status.as_u16(), self.error_code()),
            (status, Some(code)),
            "expected {status} {code}, got {} {}",
            self.status,
            self.text
        );
        let message = self.json.pointer("/error/message").and_then(|m| m.as_str());
        assert!(
            message.is_some_and(|m| !m.trim().is_empty()),
            "error without a message: {}",
            self.text
        );
    }
}

/// Sends `body` (if any) as `application/json` to `base + path`, as the harness's admin.
pub async fn raw_request(
    base: &str,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> RawResponse {
    let request = Raw {
        body,
        ..Raw::default()
    };
    raw_request_with(base, method, path, request).await
}

/// How a raw request goes out: which token, which content type, which other headers.
#[derive(Debug, Clone, Copy)]
pub struct Raw<'a> {
    /// The body, if any.
    pub body: Option<&'a str>,
    /// The bearer token (none: no `Authorization` header).
    pub token: Option<&'a str>,
    /// The content type of a body.
    pub content_type: &'a str,
    /// More headers.
    pub headers: &'a [(&'a str, &'a str)],
}

impl Default for Raw<'_> {
    fn default() -> Self {
        Self {
            body: None,
            token: Some(ADMIN_TOKEN),
            content_type: "application/json",
            headers: &[],
        }
    }
}

/// Sends a request shaped by `raw` to `base + path`.
pub async fn raw_request_with(base: &str, method: Method, path: &str, raw: Raw<'_>) -> RawResponse {
    let url = format!("{base}{path}");
    let mut request = reqwest::Client::new().request(method.clone(), &url);
    if let Some(token) = raw.token {
        request = request.bearer_auth(token);
    }
    for (name, value) in raw.headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = raw.body {
        request = request
            .header(reqwest::header::CONTENT_TYPE, raw.content_type)
            .body(body.to_string());
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: no answer: {e}"));
    let status = response.status();
    let text = response
        .text()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: unreadable body: {e}"));
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    RawResponse { status, text, json }
}
