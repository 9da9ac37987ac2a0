//! Redrive jobs: a redrive runs in the background at its pace, shows its progress, can be
//! cancelled between chunks, and runs one at a time per dead-letter queue. Pacing is
//! checked from the job's own timestamps: a job may never finish sooner than its pace
//! allows (a lower bound, which a slow machine cannot break).

use serde_json::json;
use switchyard_client::{Client, PublishBatch, RedriveRequest, RedriveState};
use switchyard_tests::*;

/// Queues `dlq` holding `count` ready messages, and `work` to redrive them into.
async fn server_with_dead_letters(count: usize) -> anyhow::Result<TestServer> {
    let server = TestServer::start().await?;
    let client = &server.client;
    client.create_queue(&queue("dlq")).await?;
    client.create_queue(&queue("work")).await?;
    let messages = (0..count)
        .map(|n| json_message(json!({ "n": n })))
        .collect();
    client.send_batch("dlq", &PublishBatch { messages }).await?;
    Ok(server)
}

fn paced(rate: u32) -> RedriveRequest {
    RedriveRequest {
        destination: Some("work".into()),
        max_per_second: Some(rate),
        ..RedriveRequest::default()
    }
}

async fn ready(client: &Client, queue: &str) -> anyhow::Result<u64> {
    Ok(client
        .get_queue(queue)
        .await?
        .stats
        .unwrap_or_default()
        .ready)
}

#[tokio::test]
async fn a_paced_redrive_runs_in_the_background_no_faster_than_its_pace() -> anyhow::Result<()> {
    let server = server_with_dead_letters(60).await?;
    let client = &server.client;
    let rate = 20;
    let started = client.start_redrive("dlq", &paced(rate)).await?;
    assert_eq!(started.state, RedriveState::Running);
    assert_eq!((started.total, started.moved), (60, 0));

    let mut seen_midway = false;
    let job = wait_for("the redrive to end", PATIENCE, async || {
        let job = client.get_redrive("dlq", &started.id).await?;
        seen_midway |= job.state == RedriveState::Running && job.moved > 0 && job.moved < 60;
        Ok(job.state.is_finished().then_some(job))
    })
    .await?;
    assert_eq!(job.state, RedriveState::Done);
    assert_eq!((job.moved, job.skipped), (60, 0));
    assert!(seen_midway, "its progress showed while it ran");
    // Chunks of a tenth of a second's worth: the last one (2 messages) may not start
    // before 58 messages' worth of time at 20/s.
    let took = job.finished_at_ms.expect("finished") - job.started_at_ms;
    assert!(
        took + 5 >= 58 * 1000 / u64::from(rate),
        "60 messages at 20/s in {took} ms"
    );
    assert_eq!(
        (ready(client, "work").await?, ready(client, "dlq").await?),
        (60, 0)
    );
    let listed = client.list_redrives("dlq").await?;
    assert_eq!(listed.first().map(|j| &j.id), Some(&job.id));
    Ok(())
}

#[tokio::test]
async fn a_cancelled_redrive_stops_between_chunks_and_leaves_the_rest() -> anyhow::Result<()> {
    let server = server_with_dead_letters(200).await?;
    let client = &server.client;
    let started = client.start_redrive("dlq", &paced(10)).await?;
    let again = client.start_redrive("dlq", &paced(10)).await;
    assert_api_error(again, 409, "redrive_running");

    wait_until("the first chunk", PATIENCE, async || {
        Ok(client.get_redrive("dlq", &started.id).await?.moved > 0)
    })
    .await?;
    client.cancel_redrive("dlq", &started.id).await?;
    let job = wait_for("the cancel to take", PATIENCE, async || {
        let job = client.get_redrive("dlq", &started.id).await?;
        Ok(job.state.is_finished().then_some(job))
    })
    .await?;
    assert_eq!(job.state, RedriveState::Cancelled);
    assert!(job.moved > 0 && job.moved < 200, "moved {}", job.moved);
    assert_eq!(ready(client, "work").await?, job.moved);
    assert_eq!(
        ready(client, "dlq").await?,
        200 - job.moved,
        "the rest stayed"
    );

    // Ended, the queue takes another redrive; it moves what is left, unpaced.
    let rest = client
        .redrive(
            "dlq",
            &RedriveRequest {
                destination: Some("work".into()),
                ..RedriveRequest::default()
            },
        )
        .await?;
    assert_eq!(rest.moved, 200 - job.moved);
    Ok(())
}

#[tokio::test]
async fn bad_redrives_are_refused_and_move_nothing() -> anyhow::Result<()> {
    let server = server_with_dead_letters(3).await?;
    let client = &server.client;
    assert_api_error(
        client.start_redrive("dlq", &paced(0)).await,
        400,
        "invalid_setting",
    );
    assert_api_error(
        client.start_redrive("dlq", &paced(100_001)).await,
        400,
        "invalid_setting",
    );
    assert_api_error(
        client.get_redrive("dlq", "01JNOSUCHJOB0000000000000").await,
        404,
        "redrive_not_found",
    );
    assert_api_error(
        client.start_redrive("nowhere", &paced(5)).await,
        404,
        "queue_not_found",
    );
    assert_eq!(ready(client, "dlq").await?, 3);
    assert!(client.list_redrives("dlq").await?.is_empty());
    Ok(())
}
