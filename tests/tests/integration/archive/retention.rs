//! Archive retention (by size, by age, turned off) drops the oldest messages and never a
//! queue's copy; the archive and its positions survive a restart.

use std::time::Duration;

use switchyard_client::{ArchivePoint, ArchiveSettings, PatchTopic, StartReplay};
use switchyard_tests::*;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_by_size_drops_the_oldest_and_keeps_queue_copies() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    archived_topic(client, "events").await?;
    client.create_queue(&queue("subscriber")).await?;
    client.subscribe("events", "subscriber", None).await?;
    publish_numbers(client, "events", 0..50).await?;
    let full = stats(client, "events").await?;
    let per_message = full.bytes / 50;
    let max_bytes = per_message * 10 + per_message / 2;
    let patch = PatchTopic {
        archive: Some(Some(ArchiveSettings {
            max_age_ms: None,
            max_bytes: Some(max_bytes),
        })),
    };
    client.patch_topic("events", &patch).await?;
    let trimmed = wait_for(
        "the archive to shrink under max_bytes",
        PATIENCE,
        async || {
            let now = stats(client, "events").await?;
            Ok((now.bytes <= max_bytes).then_some(now))
        },
    )
    .await?;
    // Sizes differ by a byte or two ("n": 9 vs 10): about ten stay, the newest.
    assert!((9..=11).contains(&trimmed.messages), "{trimmed:?}");
    assert_eq!(trimmed.last_position, Some(49));
    assert_eq!(trimmed.first_position, Some(50 - trimmed.messages));
    assert_eq!(trimmed.next_position, 50);

    // The queue's copies kept their bodies.
    assert_eq!(
        drained_numbers(client, "subscriber").await?,
        (0..50).collect::<Vec<_>>()
    );
    // A replay from 0 starts at the oldest position still archived.
    client.create_queue(&queue("replayed")).await?;
    let request = StartReplay {
        queue: "replayed".into(),
        from: ArchivePoint::Position(0),
        to: None,
        filter: None,
    };
    let job = client.start_replay("events", &request).await?;
    let first = trimmed.first_position.expect("not empty");
    assert_eq!(
        (job.total, finished(client, &job.id).await?.scanned),
        (trimmed.messages, trimmed.messages)
    );
    assert_eq!(
        drained_numbers(client, "replayed").await?,
        (first..50).collect::<Vec<_>>()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_by_age_drops_the_oldest() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let client = &server.client;
    let settings = ArchiveSettings {
        max_age_ms: Some(2000),
        max_bytes: None,
    };
    client.create_archived_topic("events", settings).await?;
    publish_numbers(client, "events", 0..5).await?;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    publish_numbers(client, "events", 5..10).await?;
    // Housekeeping sweeps every second: the first five go, the five younger ones stay
    // until they are two seconds old.
    let kept = wait_for("the old five to be dropped", PATIENCE, async || {
        let now = stats(client, "events").await?;
        Ok((now.first_position == Some(5) || now.messages == 0).then_some(now))
    })
    .await?;
    assert_eq!(
        (kept.messages, kept.last_position),
        (5, Some(9)),
        "{kept:?}"
    );
    wait_until("the rest to age out", PATIENCE, async || {
        Ok(stats(client, "events").await?.messages == 0)
    })
    .await?;
    let empty = stats(client, "events").await?;
    assert_eq!((empty.first_position, empty.next_position), (None, 10));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_and_positions_survive_restart_and_turning_off() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    archived_topic(&server.client, "events").await?;
    publish_numbers(&server.client, "events", 0..10).await?;
    let before = server.client.get_topic("events").await?;
    assert_eq!(before.published, 10);
    let server = server.restart().await?;
    let client = &server.client;
    // The publish counter counts since the server started; everything else is durable.
    let restarted = client.get_topic("events").await?;
    assert_eq!(restarted.published, 0);
    assert_eq!(restarted.archive, before.archive);
    assert_eq!(restarted.archive_stats, before.archive_stats);
    assert_eq!(restarted.created_at_ms, before.created_at_ms);

    publish_numbers(client, "events", 10..15).await?;
    let after = stats(client, "events").await?;
    assert_eq!((after.messages, after.last_position), (15, Some(14)));
    client.create_queue(&queue("target")).await?;
    let request = StartReplay {
        queue: "target".into(),
        from: ArchivePoint::Position(8),
        to: None,
        filter: None,
    };
    let job = client.start_replay("events", &request).await?;
    assert_done(&finished(client, &job.id).await?, 7, 7);
    assert_eq!(
        drained_numbers(client, "target").await?,
        (8..15).collect::<Vec<_>>()
    );

    // Off: the archive is emptied and publishes are not archived; on again: positions go
    // on from where they were.
    client
        .patch_topic(
            "events",
            &PatchTopic {
                archive: Some(None),
            },
        )
        .await?;
    assert_eq!(client.get_topic("events").await?.archive, None);
    wait_until(
        "the turned-off archive to be emptied",
        PATIENCE,
        async || Ok(client.get_topic("events").await?.archive_stats.is_none()),
    )
    .await?;
    publish_numbers(client, "events", 15..20).await?;
    let server = server.restart().await?;
    let client = &server.client;
    assert_eq!(
        client.list_replays().await?.len(),
        1,
        "jobs survive a restart"
    );
    assert_eq!(
        client.get_replay(&job.id).await?.state,
        switchyard_client::ReplayState::Done
    );
    let on = PatchTopic {
        archive: Some(Some(ArchiveSettings::default())),
    };
    client.patch_topic("events", &on).await?;
    publish_numbers(client, "events", 20..22).await?;
    let again = stats(client, "events").await?;
    assert_eq!(
        (again.messages, again.first_position, again.next_position),
        (2, Some(15), 17)
    );
    Ok(())
}
