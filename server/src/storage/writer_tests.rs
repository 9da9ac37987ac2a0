//! The writer's reference counts: a message body lives exactly as long as its last copy,
//! whatever publishes and moves name twice or collide.

use redb::Database;
use redb::backends::InMemoryBackend;

use super::power_loss_tests::{publish, queue};
use super::*;

async fn storage_with_queues(ids: &[QueueId]) -> Storage {
    let db = Database::builder()
        .create_with_backend(InMemoryBackend::new())
        .expect("an in-memory database opens");
    let (storage, _) = Storage::from_database(db, 64).expect("storage opens");
    let ops = ids.iter().map(|id| Op::PutQueue(queue(*id))).collect();
    storage.write(ops).await.unwrap();
    storage
}

fn delete(queue: QueueId, id: MessageId) -> Op {
    Op::DeleteDelivery { queue, id }
}

fn move_to(from: QueueId, to: QueueId, id: MessageId) -> Op {
    Op::MoveDelivery {
        from,
        to,
        id,
        record: DeliveryRecord {
            visible_at_ms: 0,
            receive_count: 0,
            leases: 1,
            leased: false,
            first_received_at_ms: None,
            dead_letter: None,
            enqueued_at_ms: None,
            key_hash: None,
            group_hash: None,
            size: 0,
        },
    }
}

#[tokio::test]
async fn a_queue_named_twice_in_one_publish_holds_one_reference() {
    let storage = storage_with_queues(&[1]).await;
    storage.write(vec![publish(7, &[1, 1])]).await.unwrap();
    assert_eq!(storage.message_count().unwrap(), 1);
    assert_eq!(
        storage.write(vec![delete(1, 7)]).await.unwrap(),
        [OpOutcome::Done]
    );
    assert_eq!(
        storage.message_count().unwrap(),
        0,
        "the body goes with the only copy"
    );
}

#[tokio::test]
async fn a_move_onto_an_existing_copy_deletes_the_source_and_its_reference() {
    let storage = storage_with_queues(&[1, 2, 3]).await;
    storage.write(vec![publish(7, &[1, 2])]).await.unwrap();
    let outcomes = storage
        .write(vec![move_to(1, 3, 7), move_to(2, 3, 7)])
        .await
        .unwrap();
    assert_eq!(outcomes, [OpOutcome::Done, OpOutcome::Merged]);
    assert_eq!(
        storage.write(vec![delete(2, 7)]).await.unwrap(),
        [OpOutcome::Missing],
        "the source copy of the merged move is gone"
    );
    storage.write(vec![delete(3, 7)]).await.unwrap();
    assert_eq!(
        storage.message_count().unwrap(),
        0,
        "no body is left behind"
    );
}

#[tokio::test]
async fn a_move_tells_a_missing_source_from_a_missing_target() {
    let storage = storage_with_queues(&[1, 2]).await;
    storage.write(vec![publish(7, &[1])]).await.unwrap();
    let outcomes = storage
        .write(vec![move_to(1, 9, 7), move_to(2, 1, 7)])
        .await
        .unwrap();
    assert_eq!(outcomes, [OpOutcome::TargetGone, OpOutcome::Missing]);
    assert_eq!(storage.message_count().unwrap(), 1, "nothing changed");
}

#[tokio::test]
async fn writes_are_numbered_in_the_order_they_are_applied() {
    let storage = storage_with_queues(&[1]).await;
    let first = storage.submit(vec![publish(7, &[1])]);
    let second = storage.submit(vec![delete(1, 7)]);
    assert!(first.sequence() < second.sequence());
    first.wait().await.unwrap();
    assert_eq!(second.wait().await.unwrap(), [OpOutcome::Done]);
}
