//! Receiving in bulk: until a count arrives, or until a queue is drained; acking; ids.

use std::collections::HashSet;
use std::time::Instant;

use anyhow::{Context, ensure};
use switchyard_client::{Client, Message};

use crate::{PATIENCE, receive_request};

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
