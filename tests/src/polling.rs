//! Bounded polling (never a timing assertion) and small request builders.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::bail;
use switchyard_client::{CreateQueue, PublishMessage, ReceiveRequest};

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
