//! A subscription that starts from a past position gets the archived history (through its
//! filter) and every publish after it, with no gap and no duplicate, even while publishes
//! race with its creation.

use std::collections::BTreeSet;

use serde_json::json;
use switchyard_client::{ArchivePoint, CreateSubscription};
use switchyard_tests::*;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_from_a_past_position_gets_history_then_live_without_gap_or_duplicate()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    archived_topic(client, "events").await?;
    client.create_queue(&queue("catch-up")).await?;
    client.create_queue(&queue("evens")).await?;
    publish_numbers(client, "events", 0..100).await?;

    // Publishers keep going while the subscriptions are created.
    let publisher = {
        let client = client.clone();
        tokio::spawn(async move {
            for n in 100..400u64 {
                let kind = if n % 2 == 0 { "even" } else { "odd" };
                let message = json_message(json!({ "n": n })).attribute("kind", kind);
                client.publish("events", &message).await?;
            }
            anyhow::Ok(())
        })
    };
    wait_until("publishing to be under way", PATIENCE, async || {
        Ok(stats(client, "events").await?.messages >= 150)
    })
    .await?;
    let everything = CreateSubscription {
        topic: "events".into(),
        queue: "catch-up".into(),
        filter: None,
        start: Some(ArchivePoint::Position(0)),
    };
    let created = client.create_subscription(&everything).await?;
    let history = created.replay.clone().expect("a start makes a replay job");
    let evens = CreateSubscription {
        topic: "events".into(),
        queue: "evens".into(),
        filter: Some(json!({"attributes": {"kind": ["even"]}})),
        start: Some(ArchivePoint::Position(30)),
    };
    let filtered = client.create_subscription(&evens).await?;
    publisher.await??;

    let job = finished(client, &history).await?;
    assert_eq!(job.subscription.as_deref(), Some(created.id.as_str()));
    assert_eq!((job.from_position, job.scanned), (0, job.to_position));
    assert!(job.to_position >= 150 && job.to_position <= 400, "{job:?}");
    let got = drained_numbers(client, "catch-up").await?;
    assert_eq!(
        got,
        (0..400).collect::<Vec<_>>(),
        "history + live, each once"
    );

    let job = finished(client, filtered.replay.as_deref().expect("job")).await?;
    assert_eq!(
        job.matched,
        (30..job.to_position).filter(|n| n % 2 == 0).count() as u64
    );
    let got: BTreeSet<u64> = drained_numbers(client, "evens")
        .await?
        .into_iter()
        .collect();
    let want: BTreeSet<u64> = (30..400).filter(|n| n % 2 == 0).collect();
    assert_eq!(got, want);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_needs_an_archive_and_a_point_inside_it() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_topic("plain").await?;
    archived_topic(client, "events").await?;
    client.create_queue(&queue("q")).await?;
    publish_numbers(client, "events", 0..3).await?;
    let before = snapshot(client).await?;
    let request = |topic: &str, start| CreateSubscription {
        topic: topic.into(),
        queue: "q".into(),
        filter: None,
        start: Some(start),
    };
    let result = client
        .create_subscription(&request("plain", ArchivePoint::Position(0)))
        .await;
    assert_api_error(result, 409, "archive_not_enabled");
    let result = client
        .create_subscription(&request("events", ArchivePoint::Position(4)))
        .await;
    assert_api_error(result, 400, "invalid_range");
    assert_eq!(snapshot(client).await?, before);
    assert!(client.list_replays().await?.is_empty());

    // A start at the end: no history, live from the next publish.
    let created = client
        .create_subscription(&request("events", ArchivePoint::Position(3)))
        .await?;
    let job = client
        .get_replay(created.replay.as_deref().expect("job"))
        .await?;
    assert_done(&job, 0, 0);
    publish_numbers(client, "events", 3..5).await?;
    assert_eq!(drained_numbers(client, "q").await?, vec![3, 4]);
    Ok(())
}
