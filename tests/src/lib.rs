//! The test harness: the real Switchyard server on 127.0.0.1, port 0, with a temp data
//! directory, either in this process ([`TestServer`]) or as a child process a test can
//! `kill -9` ([`ChildServer`]); plus bounded polling and the checks the tests share.
//! It talks to the server only over HTTP (the typed client, or raw `reqwest` for bodies the
//! typed client cannot send); it never reaches into the server's internals.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail, ensure};
use reqwest::{Method, StatusCode};
use switchyard::{Config, Server};
use switchyard_client::{
    Client, ClientError, CreateQueue, DeliveryState, Message, PublishMessage, Queue,
    ReceiveRequest, Subscription, Topic,
};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

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
        adjust(&mut config);
        config.data_dir = data.path().to_path_buf();
        config.listen = ([127, 0, 0, 1], 0).into();
        let server = switchyard::start(config.clone())
            .await
            .context("starting the in-process server")?;
        let client = Client::new(server.url());
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
        self.client = Client::new(server.url());
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

/// Sends `body` (if any) as `application/json` to `base + path`.
pub async fn raw_request(
    base: &str,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> RawResponse {
    let url = format!("{base}{path}");
    let mut request = reqwest::Client::new().request(method.clone(), &url);
    if let Some(body) = body {
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
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

// ---------------------------------------------------------------- child-process server

/// The real binary serving as a child process, so that a test can `kill -9` it.
pub struct ChildServer {
    /// A typed client of the running child.
    pub client: Client,
    child: Child,
    output: Arc<Mutex<String>>,
}

/// What the binary prints on stdout once it serves, followed by the URL.
const LISTENING: &str = "switchyard listening on ";

impl ChildServer {
    /// Runs `bin serve --data-dir DIR --listen 127.0.0.1:0`, waits for the line that says
    /// where it listens, then for `/healthz`.
    pub async fn spawn(bin: impl AsRef<Path>, data_dir: impl AsRef<Path>) -> anyhow::Result<Self> {
        let bin = bin.as_ref();
        let mut command = Command::new(bin);
        // The flags say everything; settings from this environment must not leak in.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("SWITCHYARD_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir.as_ref())
            .arg("--listen")
            .arg("127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawning {}", bin.display()))?;
        let output = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().context("child stderr")?;
        tokio::spawn(collect_lines(stderr, output.clone()));
        let mut stdout = BufReader::new(child.stdout.take().context("child stdout")?).lines();

        let found = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = stdout.next_line().await? {
                keep_line(&output, &line);
                if let Some(rest) = line.trim().strip_prefix(LISTENING) {
                    let url = rest.split_whitespace().next().unwrap_or_default();
                    return Ok(Some(url.trim_end_matches('/').to_string()));
                }
            }
            Ok::<_, std::io::Error>(None)
        })
        .await;
        let url = match found {
            Ok(Ok(Some(url))) if url.starts_with("http://") => url,
            other => {
                let _ = child.kill().await;
                bail!(
                    "the child server did not say where it listens ({other:?}); its output:\n{}",
                    output.lock().unwrap()
                );
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn({
            let output = output.clone();
            async move {
                while let Ok(Some(line)) = stdout.next_line().await {
                    keep_line(&output, &line);
                }
            }
        });
        let server = Self {
            client: Client::new(url),
            child,
            output,
        };
        let client = server.client.clone();
        wait_until("the child server answers /healthz", PATIENCE, async || {
            Ok(client.health().await.is_ok_and(|h| h.status == "ok"))
        })
        .await
        .with_context(|| format!("child output:\n{}", server.output()))?;
        Ok(server)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        self.client.base_url()
    }

    /// What the child printed so far (stdout and stderr, the latest part).
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Kills the child with SIGKILL (no chance to flush or close anything) and reaps it.
    pub async fn kill_9(mut self) -> anyhow::Result<ExitStatus> {
        self.child
            .kill()
            .await
            .context("killing the child server")?;
        self.child.wait().await.context("reaping the child server")
    }
}

async fn collect_lines(stream: impl AsyncRead + Unpin, output: Arc<Mutex<String>>) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        keep_line(&output, &line);
    }
}

fn keep_line(output: &Mutex<String>, line: &str) {
    const KEEP: usize = 64 * 1024;
    let mut output = output.lock().unwrap();
    output.push_str(line);
    output.push('\n');
    if output.len() > 2 * KEEP {
        let mut cut = output.len() - KEEP;
        while !output.is_char_boundary(cut) {
            cut += 1;
        }
        output.replace_range(..cut, "…\n");
    }
}

/// A fresh temp directory for a child server's data (kept until dropped).
pub fn temp_data_dir() -> anyhow::Result<(TempDir, PathBuf)> {
    let dir = tempfile::Builder::new()
        .prefix("switchyard-child-")
        .tempdir()
        .context("creating a temp data directory")?;
    let data = dir.path().join("data");
    Ok((dir, data))
}

// ---------------------------------------------------------------- bounded polling

/// Calls `attempt` until it yields `Some`, pausing a little between calls; fails after
/// `timeout` naming `what` it waited for. Never asserts how long anything took.
pub async fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut attempt: impl AsyncFnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(10);
    loop {
        if let Some(value) = attempt().await? {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            bail!("gave up after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// Calls `check` until it answers `true`, for at most `timeout`.
pub async fn wait_until(
    what: &str,
    timeout: Duration,
    mut check: impl AsyncFnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    wait_for(what, timeout, async || Ok(check().await?.then_some(()))).await
}

// ---------------------------------------------------------------- building requests

/// A message with `value` as its JSON payload.
pub fn json_message(value: serde_json::Value) -> PublishMessage {
    PublishMessage::json(&value).expect("a serde_json::Value serializes")
}

/// A queue with default settings.
pub fn queue(name: &str) -> CreateQueue {
    CreateQueue {
        name: name.into(),
        ..CreateQueue::default()
    }
}

/// A receive request for up to `max` messages waiting up to `wait_ms`.
pub fn receive_request(max: u32, wait_ms: u64) -> ReceiveRequest {
    ReceiveRequest {
        max_messages: Some(max),
        wait_ms: Some(wait_ms),
        visibility_timeout_ms: None,
    }
}

/// Unix time in ms by this machine's clock (the server's clock too).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis() as u64
}

// ---------------------------------------------------------------- receiving

/// The receipt of a received message.
#[track_caller]
pub fn receipt(message: &Message) -> String {
    message
        .receipt
        .clone()
        .unwrap_or_else(|| panic!("received message {} has no receipt", message.id))
}

/// The JSON payload of a message.
#[track_caller]
pub fn payload(message: &Message) -> serde_json::Value {
    match message.payload_json::<serde_json::Value>() {
        Some(Ok(value)) => value,
        other => panic!("message {} has no JSON payload: {other:?}", message.id),
    }
}

/// Receives (long polling) until `n` messages have arrived, without acking them; fails if
/// they do not arrive within [`PATIENCE`] or if more than `n` arrive.
pub async fn receive_exactly(
    client: &Client,
    queue: &str,
    n: usize,
) -> anyhow::Result<Vec<Message>> {
    let deadline = Instant::now() + PATIENCE;
    let mut received = Vec::new();
    while received.len() < n {
        ensure!(
            Instant::now() < deadline,
            "{queue}: received {} of {n} messages within {PATIENCE:?}",
            received.len()
        );
        let max = (n - received.len()).min(100) as u32;
        let batch = client
            .receive(queue, &receive_request(max, 1000))
            .await
            .with_context(|| format!("receiving from {queue}"))?;
        ensure!(
            batch.len() <= max as usize,
            "{queue}: asked for at most {max} messages, got {}",
            batch.len()
        );
        received.extend(batch);
    }
    Ok(received)
}

/// Receives and acks everything in `queue` until a long poll comes back empty and the
/// queue's stats say nothing is ready, in flight or delayed. Returns what it received.
/// Bounded by [`PATIENCE`] plus one long poll.
pub async fn drain(client: &Client, queue: &str) -> anyhow::Result<Vec<Message>> {
    let deadline = Instant::now() + PATIENCE;
    let mut received = Vec::new();
    loop {
        ensure!(
            Instant::now() < deadline,
            "{queue}: still not drained after {PATIENCE:?} ({} received)",
            received.len()
        );
        let batch = client
            .receive(queue, &receive_request(100, 1000))
            .await
            .with_context(|| format!("receiving from {queue}"))?;
        if batch.is_empty() {
            let stats = client.get_queue(queue).await?.stats.unwrap_or_default();
            if stats.ready == 0 && stats.in_flight == 0 && stats.delayed == 0 {
                return Ok(received);
            }
            continue;
        }
        ack_all(client, queue, &batch).await?;
        received.extend(batch);
    }
}

/// Acks `messages` and checks that every ack succeeded.
pub async fn ack_all(client: &Client, queue: &str, messages: &[Message]) -> anyhow::Result<()> {
    let receipts: Vec<String> = messages.iter().map(receipt).collect();
    let answer = client
        .ack(queue, receipts)
        .await
        .with_context(|| format!("acking {} messages in {queue}", messages.len()))?;
    ensure!(
        answer.acked == messages.len() as u64 && answer.failed.is_empty(),
        "{queue}: acked {} of {}, failed: {:?}",
        answer.acked,
        messages.len(),
        answer.failed
    );
    Ok(())
}

/// The ids of `messages`, checking that none repeats.
#[track_caller]
pub fn distinct_ids(messages: &[Message]) -> HashSet<String> {
    let mut ids = HashSet::new();
    for message in messages {
        assert!(
            ids.insert(message.id.clone()),
            "message {} was received twice",
            message.id
        );
    }
    ids
}

/// Asserts `id` is a ULID.
#[track_caller]
pub fn assert_ulid(id: &str) {
    assert!(ulid::Ulid::from_string(id).is_ok(), "{id:?} is not a ULID");
}

// ---------------------------------------------------------------- errors and state

/// Asserts that `result` is an API error with `status` and `code`; returns its message.
#[track_caller]
pub fn assert_api_error<T: std::fmt::Debug>(
    result: Result<T, ClientError>,
    status: u16,
    code: &str,
) -> String {
    match result {
        Err(ClientError::Api {
            status: got,
            code: got_code,
            message,
        }) => {
            assert_eq!(
                (got.as_u16(), got_code.as_str()),
                (status, code),
                "wrong error (message: {message})"
            );
            assert!(!message.trim().is_empty(), "error {code} without a message");
            message
        }
        other => panic!("expected {status} {code}, got {other:?}"),
    }
}

/// Everything a client can see of the server's state, minus what changes by itself
/// (message ages): used to prove a refused request changed nothing.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    /// All topics.
    pub topics: Vec<Topic>,
    /// All queues with their counts (ages left out).
    pub queues: Vec<Queue>,
    /// All subscriptions.
    pub subscriptions: Vec<Subscription>,
    /// Per queue: (id, state, receive count) of its first 100 messages, by peek.
    pub messages: BTreeMap<String, Vec<(String, Option<DeliveryState>, u32)>>,
}

/// Takes a [`Snapshot`].
pub async fn snapshot(client: &Client) -> anyhow::Result<Snapshot> {
    let topics = client.list_topics().await.context("listing topics")?;
    let mut queues = client.list_queues().await.context("listing queues")?;
    for queue in &mut queues {
        if let Some(stats) = &mut queue.stats {
            stats.oldest_age_ms = None;
        }
    }
    let mut subscriptions = client
        .list_subscriptions()
        .await
        .context("listing subscriptions")?;
    subscriptions.sort_by(|a, b| a.id.cmp(&b.id));
    let mut messages = BTreeMap::new();
    for queue in &queues {
        let peeked = client
            .peek(&queue.name, 100, None)
            .await
            .with_context(|| format!("peeking {}", queue.name))?;
        let seen = peeked
            .into_iter()
            .map(|m| (m.id, m.state, m.receive_count))
            .collect();
        messages.insert(queue.name.clone(), seen);
    }
    Ok(Snapshot {
        topics,
        queues,
        subscriptions,
        messages,
    })
}

/// Checks that the server still answers `/healthz` and still does real work (creates and
/// deletes a scratch topic).
pub async fn assert_still_serving(client: &Client) -> anyhow::Result<()> {
    let health = client.health().await.context("/healthz after bad input")?;
    ensure!(health.status == "ok", "/healthz says {:?}", health.status);
    let name = format!("still-serving-{}", ulid::Ulid::new());
    client
        .create_topic(&name)
        .await
        .context("creating a topic after bad input")?;
    client
        .delete_topic(&name)
        .await
        .context("deleting a topic after bad input")?;
    Ok(())
}
