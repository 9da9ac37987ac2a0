//! Checks: API errors, and snapshots of everything a client can see, to prove a refused
//! request changed nothing and the server still serves.

use std::collections::BTreeMap;

use anyhow::{Context, ensure};
use switchyard_client::{Client, ClientError, DeliveryState, Queue, Subscription, Topic};

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
    let mut topics = client.list_topics().await.context("listing topics")?;
    for topic in &mut topics {
        // Publishes since the server started: a restart rightly starts it again at zero.
        topic.published = 0;
    }
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

/// Each queue named in a message status with the state there, sorted by queue.
pub fn states(
    status: &switchyard_client::MessageStatus,
) -> Vec<(String, switchyard_client::DeliveryState)> {
    let mut states: Vec<_> = status
        .deliveries
        .iter()
        .map(|d| (d.queue.clone(), d.state))
        .collect();
    states.sort_by(|a, b| a.0.cmp(&b.0));
    states
}
