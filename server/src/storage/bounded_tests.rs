//! Bounded work in the writer: purges, deleted queues' copies and sweeps go a chunk per op
//! and say whether more is left; what waits for the writer is bounded, and a write past the
//! bound is refused at once.

use super::failure_tests::FailingBackend;
use super::power_loss_tests::{ids_in, publish, queue};
use super::*;

fn chunk(count: u64, more: bool) -> OpOutcome {
    OpOutcome::Chunk { count, more }
}

async fn with_copies(disk: &FailingBackend, ids: impl Iterator<Item = MessageId>) -> Storage {
    let (storage, _) = disk.open();
    storage.write(vec![Op::PutQueue(queue(1))]).await.unwrap();
    let ops = ids.map(|id| publish(id, &[1])).collect();
    storage.write(ops).await.unwrap();
    storage
}

#[tokio::test]
async fn a_purge_goes_in_chunks_and_keeps_the_copies_added_meanwhile() {
    let disk = FailingBackend::default();
    let storage = with_copies(&disk, (1..=10).map(|n| n * 10)).await;
    let purge = storage
        .write(vec![Op::PurgeQueue { id: 1, limit: 4 }])
        .await
        .unwrap();
    assert_eq!(purge, [chunk(4, true)], "10, 20, 30, 40");
    // Added after the purge began: before its cursor, past it, and past the end.
    let added = [15, 75, 200];
    let ops = added.iter().map(|id| publish(*id, &[1])).collect();
    storage.write(ops).await.unwrap();
    let more = |limit| Op::ContinuePurge { id: 1, limit };
    assert_eq!(
        storage.write(vec![more(4)]).await.unwrap(),
        [chunk(4, true)],
        "50, 60, 70, 80"
    );
    assert_eq!(
        storage.write(vec![more(4)]).await.unwrap(),
        [chunk(2, false)],
        "90, 100"
    );
    assert_eq!(
        storage.write(vec![more(4)]).await.unwrap(),
        [chunk(0, false)],
        "done"
    );
    assert_eq!(storage.message_count().unwrap(), 3, "bodies go with copies");
    storage.close();
    let (_, recovered) = disk.open();
    assert_eq!(ids_in(&recovered, 1), added);
}

#[tokio::test]
async fn a_deleted_queues_copies_go_in_chunks_and_only_once_it_is_gone() {
    let disk = FailingBackend::default();
    let storage = with_copies(&disk, 1..=10).await;
    let drop_copies = |limit| Op::DropQueueCopies { id: 1, limit };
    assert_eq!(
        storage.write(vec![drop_copies(4)]).await.unwrap(),
        [OpOutcome::Missing],
        "the queue still exists"
    );
    let delete = Op::DeleteQueue {
        id: 1,
        name: "q1".into(),
    };
    assert_eq!(
        storage.write(vec![delete]).await.unwrap(),
        [OpOutcome::Done]
    );
    // A restart here finds the copies of a queue that no longer exists.
    storage.close();
    let (storage, recovered) = disk.open();
    assert!(recovered.queues.is_empty());
    assert_eq!(ids_in(&recovered, 1).len(), 10);
    for expected in [chunk(4, true), chunk(4, true), chunk(2, false)] {
        assert_eq!(
            storage.write(vec![drop_copies(4)]).await.unwrap(),
            [expected]
        );
    }
    assert_eq!(storage.message_count().unwrap(), 0);
    storage.close();
}

fn with_dedup(id: MessageId, dedup_id: &str, now_ms: u64, expires_at_ms: u64) -> Op {
    let Op::PutMessage {
        id,
        message,
        deliveries,
        archive,
        ..
    } = publish(id, &[1])
    else {
        unreachable!("publish makes a PutMessage")
    };
    Op::PutMessage {
        id,
        message,
        deliveries,
        dedup: Some(DedupEntry {
            scope: "t:t".into(),
            dedup_id: dedup_id.into(),
            now_ms,
            expires_at_ms,
        }),
        archive,
    }
}

#[tokio::test]
async fn dedup_entries_are_swept_in_the_order_they_expire() {
    let disk = FailingBackend::default();
    let storage = with_copies(&disk, std::iter::empty()).await;
    let ops = [("a", 10), ("b", 20), ("c", 30)]
        .into_iter()
        .enumerate()
        .map(|(n, (dedup_id, expires))| with_dedup(n as u128 + 1, dedup_id, 0, expires))
        .collect();
    storage.write(ops).await.unwrap();
    let sweep = Op::SweepDedup {
        now_ms: 25,
        limit: 1,
    };
    assert_eq!(
        storage.write(vec![sweep]).await.unwrap(),
        [chunk(1, true)],
        "a"
    );
    let sweep = Op::SweepDedup {
        now_ms: 25,
        limit: 1,
    };
    assert_eq!(
        storage.write(vec![sweep]).await.unwrap(),
        [chunk(1, false)],
        "b"
    );
    let again = storage
        .write(vec![
            with_dedup(9, "a", 26, 99),
            with_dedup(10, "c", 26, 99),
        ])
        .await
        .unwrap();
    assert_eq!(again, [OpOutcome::Done, OpOutcome::Duplicate(3)]);
    // "a" is listed again, by its new expiry (99): the sweep at 50 forgets only "c".
    let sweep = Op::SweepDedup {
        now_ms: 50,
        limit: 10,
    };
    assert_eq!(storage.write(vec![sweep]).await.unwrap(), [chunk(1, false)]);
    let again = storage
        .write(vec![with_dedup(11, "a", 51, 120)])
        .await
        .unwrap();
    assert_eq!(again, [OpOutcome::Duplicate(9)]);
    storage.close();
}

#[tokio::test]
async fn settlements_of_old_messages_are_kept_from_when_they_were_made_across_restarts() {
    let disk = FailingBackend::default();
    let ids: Vec<MessageId> = (1..=6u128).map(|ms| ms << 80).collect();
    let storage = with_copies(&disk, ids.iter().copied()).await;
    let settle = |id, at_ms| Op::SettleDelivery {
        queue: 1,
        id,
        outcome: Settled::Acked,
        receive_count: 1,
        at_ms,
    };
    // Published at 1..=6 ms, settled promptly (at 10) but the last one late (at 100).
    let ops = ids[..5].iter().map(|id| settle(*id, 10)).collect();
    storage.write(ops).await.unwrap();
    let sweep = |before_ms, limit| Op::SweepSettled { before_ms, limit };
    let swept = storage.write(vec![sweep(50, 2)]).await.unwrap();
    assert_eq!(swept, [chunk(2, true)]);
    let swept = storage.write(vec![sweep(50, 2)]).await.unwrap();
    assert_eq!(swept, [chunk(2, true)]);
    let swept = storage.write(vec![sweep(50, 2)]).await.unwrap();
    assert_eq!(swept, [chunk(1, false)]);
    storage.close();

    // After a restart the sweep goes on from where it stopped: the sixth message, whose
    // id it has passed, is settled now and remembered from now.
    let (storage, _) = disk.open();
    storage.write(vec![settle(ids[5], 100)]).await.unwrap();
    storage.write(vec![sweep(90, 10)]).await.unwrap();
    assert_eq!(storage.read_settlements(ids[5]).unwrap().len(), 1);
    let swept = storage.write(vec![sweep(110, 10)]).await.unwrap();
    assert_eq!(swept, [chunk(1, false)]);
    assert!(storage.read_settlements(ids[5]).unwrap().is_empty());
    storage.close();
}

#[tokio::test]
async fn past_its_bounds_the_writer_refuses_a_request_at_once_but_takes_background_work() {
    let disk = FailingBackend::default();
    let limits = BacklogLimits {
        max_requests: 2,
        max_bytes: 1 << 20,
    };
    let (storage, _) = disk.open_with(limits);
    storage.write(vec![Op::PutQueue(queue(1))]).await.unwrap();
    let closed = disk.valve.closed();
    let held = storage.submit(vec![publish(1, &[1])]);
    disk.held().await;
    let waiting = [
        storage.submit(vec![publish(2, &[1])]),
        storage.submit(vec![publish(3, &[1])]),
    ];
    let refused = storage.submit(vec![publish(4, &[1])]);
    assert_eq!(
        refused.sequence(),
        waiting[1].sequence(),
        "numbered as the last write queued"
    );
    let background = storage.submit_background(vec![publish(5, &[1])]);
    drop(closed);
    let error = refused.wait().await.unwrap_err();
    assert!(
        matches!(error, StorageError::Overloaded { requests: 2, .. }),
        "{error}"
    );
    held.wait().await.unwrap();
    for pending in waiting {
        pending.wait().await.unwrap();
    }
    background.wait().await.unwrap();
    assert_eq!(
        storage.message_count().unwrap(),
        4,
        "all but the refused one"
    );
    storage.close();
}

/// A publish of `bytes` payload bytes.
fn sized(id: MessageId, bytes: usize) -> Op {
    let body = StoredMessage {
        topic: None,
        key: None,
        attributes: Default::default(),
        published_at_ms: 1,
        is_json: false,
        payload: vec![7; bytes],
    };
    Op::PutMessage {
        id,
        message: EncodedMessage::new(&body),
        deliveries: vec![(1, DeliveryRecord::default())],
        dedup: None,
        archive: None,
    }
}

#[tokio::test]
async fn the_writers_backlog_is_bounded_by_bytes_but_takes_one_large_write_alone() {
    let disk = FailingBackend::default();
    let limits = BacklogLimits {
        max_requests: 100,
        max_bytes: 10_000,
    };
    let (storage, _) = disk.open_with(limits);
    storage.write(vec![Op::PutQueue(queue(1))]).await.unwrap();
    let closed = disk.valve.closed();
    let held = storage.submit(vec![sized(1, 10)]);
    disk.held().await;
    // Nothing waits: one write over the bound is taken.
    let large = storage.submit(vec![sized(2, 20_000)]);
    let refused = storage.submit(vec![sized(3, 10)]);
    drop(closed);
    held.wait().await.unwrap();
    large.wait().await.unwrap();
    assert!(matches!(
        refused.wait().await,
        Err(StorageError::Overloaded { .. })
    ));
    assert_eq!(storage.message_count().unwrap(), 2);
    storage.close();
}
