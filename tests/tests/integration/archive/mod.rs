//! Topic archives: what they hold and keep (retention, restart), replays of a range into a
//! queue, subscriptions that start from a past position, and draft-filter previews.

mod preview;
mod replay;
mod retention;
mod subscribe;

use serde_json::json;
use switchyard_client::{ArchiveSettings, ArchiveStats, Client, PublishBatch, Replay, ReplayState};
use switchyard_tests::*;

/// Creates a topic that keeps everything in its archive.
async fn archived_topic(client: &Client, name: &str) -> anyhow::Result<()> {
    client
        .create_archived_topic(name, ArchiveSettings::default())
        .await?;
    Ok(())
}

/// Publishes `{"n": from..to}` one batch, `kind` = even/odd; returns the ids in order.
async fn publish_numbers(
    client: &Client,
    topic: &str,
    range: std::ops::Range<u64>,
) -> anyhow::Result<Vec<String>> {
    let batch = PublishBatch {
        messages: range
            .map(|n| {
                let kind = if n % 2 == 0 { "even" } else { "odd" };
                json_message(json!({ "n": n })).attribute("kind", kind)
            })
            .collect(),
    };
    Ok(client.publish_batch(topic, &batch).await?)
}

/// The archive stats of a topic (which must have an archive).
async fn stats(client: &Client, topic: &str) -> anyhow::Result<ArchiveStats> {
    let topic = client.get_topic(topic).await?;
    topic
        .archive_stats
        .ok_or_else(|| anyhow::anyhow!("topic {} shows no archive stats", topic.name))
}

/// Waits until a replay job stops, and returns it.
async fn finished(client: &Client, id: &str) -> anyhow::Result<Replay> {
    wait_for(&format!("replay {id} to finish"), PATIENCE, async || {
        let job = client.get_replay(id).await?;
        Ok(job.state.is_finished().then_some(job))
    })
    .await
}

/// The `n` of every message drained from `queue`, in the order received (id order).
async fn drained_numbers(client: &Client, queue: &str) -> anyhow::Result<Vec<u64>> {
    let messages = drain(client, queue).await?;
    distinct_ids(&messages);
    Ok(messages
        .iter()
        .map(|m| payload(m)["n"].as_u64().expect("n"))
        .collect())
}

#[track_caller]
fn assert_done(job: &Replay, scanned: u64, matched: u64) {
    assert_eq!(job.state, ReplayState::Done, "{job:?}");
    assert_eq!((job.scanned, job.matched), (scanned, matched), "{job:?}");
}
