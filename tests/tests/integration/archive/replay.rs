//! Replay: exactly the archived range (by position or by time, optionally through a
//! filter) goes into the queue; bad input is refused and changes nothing; cancel stops a
//! job.

use std::time::Duration;

use serde_json::json;
use switchyard_client::{ArchivePoint, ReplayState, StartReplay};
use switchyard_tests::*;

use super::*;

fn replay(queue: &str, from: ArchivePoint, to: Option<ArchivePoint>) -> StartReplay {
    StartReplay {
        queue: queue.into(),
        from,
        to,
        filter: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_puts_exactly_the_archived_range_into_the_queue() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    archived_topic(client, "events").await?;
    for name in ["range", "filtered", "everything"] {
        client.create_queue(&queue(name)).await?;
    }
    let ids = publish_numbers(client, "events", 0..40).await?;
    let archive = stats(client, "events").await?;
    assert_eq!(
        (
            archive.messages,
            archive.first_position,
            archive.last_position,
            archive.next_position
        ),
        (40, Some(0), Some(39), 40)
    );
    assert!(archive.bytes > 0 && archive.first_time_ms <= archive.last_time_ms);

    let by_position = replay(
        "range",
        ArchivePoint::Position(5),
        Some(ArchivePoint::Position(15)),
    );
    let job = client.start_replay("events", &by_position).await?;
    assert_eq!((job.from_position, job.to_position, job.total), (5, 15, 10));
    assert_done(&finished(client, &job.id).await?, 10, 10);
    assert_eq!(
        drained_numbers(client, "range").await?,
        (5..15).collect::<Vec<_>>()
    );

    let mut filtered = replay("filtered", ArchivePoint::Position(0), None);
    filtered.filter = Some(json!({
        "attributes": {"kind": ["even"]},
        "payload": {"n": [{"numeric": [">=", 20]}]}
    }));
    let job = client.start_replay("events", &filtered).await?;
    assert_done(&finished(client, &job.id).await?, 40, 10);
    let evens: Vec<u64> = (20..40).filter(|n| n % 2 == 0).collect();
    assert_eq!(drained_numbers(client, "filtered").await?, evens);

    // Replayed copies are the archived messages themselves: same ids.
    let job = client
        .start_replay(
            "events",
            &replay("everything", ArchivePoint::Position(0), None),
        )
        .await?;
    assert_done(&finished(client, &job.id).await?, 40, 40);
    let messages = drain(client, "everything").await?;
    let got: Vec<&String> = messages.iter().map(|m| &m.id).collect();
    assert_eq!(got, ids.iter().collect::<Vec<_>>());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_by_time_takes_what_was_archived_from_then_on() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    archived_topic(client, "events").await?;
    client.create_queue(&queue("later")).await?;
    client.create_queue(&queue("earlier")).await?;
    publish_numbers(client, "events", 0..10).await?;
    tokio::time::sleep(Duration::from_millis(30)).await;
    let cut = now_ms();
    tokio::time::sleep(Duration::from_millis(30)).await;
    publish_numbers(client, "events", 10..25).await?;

    let from_cut = replay("later", ArchivePoint::TimeMs(cut), None);
    let job = client.start_replay("events", &from_cut).await?;
    assert_eq!((job.from_position, job.total), (10, 15));
    assert_done(&finished(client, &job.id).await?, 15, 15);
    assert_eq!(
        drained_numbers(client, "later").await?,
        (10..25).collect::<Vec<_>>()
    );

    let before_cut = replay(
        "earlier",
        ArchivePoint::TimeMs(0),
        Some(ArchivePoint::TimeMs(cut)),
    );
    let job = client.start_replay("events", &before_cut).await?;
    assert_done(&finished(client, &job.id).await?, 10, 10);
    assert_eq!(
        drained_numbers(client, "earlier").await?,
        (0..10).collect::<Vec<_>>()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_replay_requests_are_refused_and_change_nothing() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    archived_topic(client, "events").await?;
    client.create_topic("plain").await?;
    client.create_queue(&queue("target")).await?;
    publish_numbers(client, "events", 0..10).await?;
    let before = snapshot(client).await?;

    let post = |topic: &'static str, body: &'static str| {
        let path = format!("/v1/topics/{topic}/replays");
        let server = &server;
        async move { server.raw(reqwest::Method::POST, &path, Some(body)).await }
    };
    let start = |body: &'static str| post("events", body);
    start(r#"{"queue":"nope","from":{"position":0}}"#)
        .await
        .assert_error(404, "queue_not_found");
    start(r#"{"queue":"target","from":{"position":11}}"#)
        .await
        .assert_error(400, "invalid_range");
    start(r#"{"queue":"target","from":{"position":6},"to":{"position":5}}"#)
        .await
        .assert_error(400, "invalid_range");
    start(r#"{"queue":"target","from":{"position":0},"to":{"position":99}}"#)
        .await
        .assert_error(400, "invalid_range");
    let bad_filter = start(
        r#"{"queue":"target","from":{"position":0},"filter":{"payload":{"n":[{"numeric":["~",1]}]}}}"#,
    )
    .await;
    bad_filter.assert_error(400, "invalid_filter");
    assert!(
        bad_filter.text.contains("$.payload.n[0]"),
        "{}",
        bad_filter.text
    );
    start(r#"{"queue":"target","from":{"position":0,"time_ms":1}}"#)
        .await
        .assert_error(400, "invalid_body");
    start(r#"{"queue":"target"}"#)
        .await
        .assert_error(400, "invalid_body");
    post("plain", r#"{"queue":"target","from":{"position":0}}"#)
        .await
        .assert_error(409, "archive_not_enabled");
    post("missing", r#"{"queue":"target","from":{"position":0}}"#)
        .await
        .assert_error(404, "topic_not_found");
    assert_api_error(client.get_replay("nope").await, 404, "replay_not_found");
    assert_api_error(client.cancel_replay("nope").await, 404, "replay_not_found");

    assert_eq!(
        snapshot(client).await?,
        before,
        "a refused replay changed something"
    );
    assert!(client.list_replays().await?.is_empty());
    assert_eq!(stats(client, "events").await?.messages, 10);
    assert_still_serving(client).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_replay_copies_nothing_more() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    archived_topic(client, "events").await?;
    client.create_queue(&queue("target")).await?;
    for chunk in 0..4 {
        publish_numbers(client, "events", chunk * 1000..(chunk + 1) * 1000).await?;
    }
    let job = client
        .start_replay("events", &replay("target", ArchivePoint::Position(0), None))
        .await?;
    match client.cancel_replay(&job.id).await {
        Ok(cancelled) => {
            assert_eq!(cancelled.state, ReplayState::Cancelled);
            tokio::time::sleep(Duration::from_millis(300)).await;
            let later = client.get_replay(&job.id).await?;
            assert_eq!(later, cancelled, "a cancelled job went on");
            let ready = client
                .get_queue("target")
                .await?
                .stats
                .unwrap_or_default()
                .ready;
            assert_eq!(
                ready, later.matched,
                "copies and progress are written together"
            );
            assert!(later.scanned < 4000 || later.matched == 4000);
        }
        Err(error) => {
            // It finished first: then cancelling is refused.
            assert_eq!(error.code(), Some("replay_not_running"), "{error}");
            assert_done(&client.get_replay(&job.id).await?, 4000, 4000);
        }
    }
    let listed = client.list_replays().await?;
    assert_eq!(listed.len(), 1);
    assert_api_error(
        client.cancel_replay(&job.id).await,
        409,
        "replay_not_running",
    );
    Ok(())
}
