//! Bad input: every refused request answers a 4xx with a stable code and a message, changes
//! nothing a client can see (a snapshot before equals a snapshot after), and leaves the
//! server serving.

mod bodies;
mod names;
mod receipts;
mod settings;

use reqwest::Method;
use serde_json::json;
use switchyard_client::{Client, CreateQueue, Message, PublishMessage};
use switchyard_tests::*;

/// A small world to try bad input against: topic `orders` → queue `work` (dead letters to
/// `work-dlq`), two messages, one of them leased for a minute (`held`).
struct World {
    held: Message,
    subscription: String,
}

async fn world(client: &Client) -> anyhow::Result<World> {
    client.create_topic("orders").await?;
    client.create_queue(&queue("work-dlq")).await?;
    client
        .create_queue(&CreateQueue {
            name: "work".into(),
            visibility_timeout_ms: Some(60_000),
            max_receive_count: Some(3),
            dead_letter_queue: Some("work-dlq".into()),
            ..CreateQueue::default()
        })
        .await?;
    let subscription = client.subscribe("orders", "work", None).await?.id;
    client
        .publish("orders", &json_message(json!({"n": 1})))
        .await?;
    client
        .publish("orders", &json_message(json!({"n": 2})))
        .await?;
    let held = receive_exactly(client, "work", 1).await?.remove(0);
    Ok(World { held, subscription })
}

/// Sends a raw request; says how the answer differs from the expected refusal, if it does.
async fn check_refused(
    server: &TestServer,
    method: Method,
    path: &str,
    body: &str,
    status: u16,
    code: &str,
) -> Option<String> {
    let answer = server.raw(method.clone(), path, Some(body)).await;
    let message = answer
        .json
        .pointer("/error/message")
        .and_then(|m| m.as_str());
    let as_expected = (answer.status.as_u16(), answer.error_code()) == (status, Some(code))
        && message.is_some_and(|m| !m.trim().is_empty());
    (!as_expected).then(|| {
        format!(
            "{method} {path} {body}\n    expected {status} {code}, answered {} {}",
            answer.status, answer.text
        )
    })
}

/// Sends every request of a table and asserts each is refused with `status` and `code`,
/// listing all the ones that were not.
async fn all_refused<'a>(
    server: &TestServer,
    requests: impl IntoIterator<Item = (Method, &'a str, String)>,
    status: u16,
    code: &str,
) {
    let mut wrong = Vec::new();
    for (method, path, body) in requests {
        wrong.extend(check_refused(server, method, path, &body, status, code).await);
    }
    assert!(
        wrong.is_empty(),
        "{} requests not refused as {status} {code}:\n  {}",
        wrong.len(),
        wrong.join("\n  ")
    );
}

/// Checks that nothing changed and that the server still works.
async fn unchanged(client: &Client, before: &Snapshot) -> anyhow::Result<()> {
    let after = snapshot(client).await?;
    assert_eq!(&after, before, "refused input changed the state");
    assert_still_serving(client).await
}

fn oversized(bytes: usize) -> PublishMessage {
    PublishMessage::bytes(&vec![b'x'; bytes])
}
