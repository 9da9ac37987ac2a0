//! Archive bodies counted as references, and replay jobs resumed from their saved cursor.

use std::time::Duration;

use switchyard_client::{ArchiveSettings, CreateQueue, PublishMessage, ReceiveRequest};

use crate::broker::Broker;
use crate::config::Config;
use crate::storage::{Op, ReplayRecord, ReplayState};

fn numbers(range: std::ops::Range<u64>) -> Vec<PublishMessage> {
    range.map(|n| PublishMessage::json(&n).unwrap()).collect()
}

async fn received_numbers(broker: &Broker, queue: &str) -> Vec<u64> {
    let request = ReceiveRequest {
        max_messages: Some(1000),
        ..Default::default()
    };
    let received = broker.receive(queue, request).await.unwrap();
    received
        .iter()
        .map(|m| m.payload_json::<u64>().unwrap().unwrap())
        .collect()
}

#[tokio::test]
async fn an_archived_body_is_one_reference_and_goes_with_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(&Config::for_data_dir(dir.path())).unwrap();
    let archive = ArchiveSettings::default();
    broker.create_topic("t", Some(archive)).await.unwrap();
    let queue = CreateQueue {
        name: "q".into(),
        ..Default::default()
    };
    broker.create_queue(queue).await.unwrap();
    let subscription = switchyard_client::CreateSubscription {
        topic: "t".into(),
        queue: "q".into(),
        filter: None,
        start: None,
    };
    broker.create_subscription(subscription).await.unwrap();
    broker.publish("t", numbers(0..3), true).await.unwrap();
    assert_eq!(broker.storage.message_count().unwrap(), 3, "one body each");
    let request = ReceiveRequest {
        max_messages: Some(10),
        ..Default::default()
    };
    let received = broker.receive("q", request).await.unwrap();
    let receipts = received
        .iter()
        .map(|m| m.receipt.clone().unwrap())
        .collect();
    broker.ack("q", receipts).await.unwrap();
    assert_eq!(
        broker.storage.message_count().unwrap(),
        3,
        "the archive still holds them"
    );
    let archive = broker.archive_of("t").unwrap();
    let trim = Op::TrimArchive {
        archive,
        before_time_ms: None,
        max_bytes: None,
        all: true,
        limit: 2,
        forget: false,
    };
    broker.storage.write(vec![trim]).await.unwrap();
    assert_eq!(
        broker.storage.message_count().unwrap(),
        1,
        "bounded: two of three"
    );
    let head = broker.storage.archive_head(archive).unwrap();
    assert_eq!(
        (head.first_position, head.messages, head.next_position),
        (2, 1, 3)
    );
    broker.close();
}

#[tokio::test]
async fn a_running_job_resumes_from_its_saved_cursor_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::for_data_dir(dir.path());
    let broker = Broker::open(&config).unwrap();
    broker
        .create_topic("t", Some(ArchiveSettings::default()))
        .await
        .unwrap();
    let queue = CreateQueue {
        name: "q".into(),
        ..Default::default()
    };
    broker.create_queue(queue).await.unwrap();
    broker.publish("t", numbers(0..10), true).await.unwrap();
    // A job that had copied positions 0..4 when the server stopped (its copies were
    // consumed since).
    let queue = broker.queue("q").unwrap();
    let record = ReplayRecord {
        id: "job".into(),
        topic: "t".into(),
        archive: broker.archive_of("t").unwrap(),
        queue: "q".into(),
        queue_id: queue.id,
        subscription: None,
        filter: None,
        from_position: 0,
        to_position: 10,
        cursor: 4,
        total: 10,
        scanned: 4,
        matched: 4,
        state: ReplayState::Running,
        error: None,
        created_at_ms: 0,
        finished_at_ms: None,
    };
    let op = Op::PutReplay { record, cut: false };
    broker.storage.write(vec![op]).await.unwrap();
    broker.close();
    drop(broker);

    let broker = Broker::open(&config).unwrap();
    assert_eq!(broker.get_replay("job").unwrap().scanned, 4);
    broker.resume_replays();
    let mut job = broker.get_replay("job").unwrap();
    for _ in 0..500 {
        if job.state.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        job = broker.get_replay("job").unwrap();
    }
    assert_eq!(job.state, switchyard_client::ReplayState::Done);
    assert_eq!((job.scanned, job.matched), (10, 10));
    assert_eq!(
        received_numbers(&broker, "q").await,
        (4..10).collect::<Vec<_>>()
    );
    broker.begin_shutdown();
    broker.stop_replays().await;
    broker.close();
}
