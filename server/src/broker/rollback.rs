//! Putting a queue's memory back when the write of a change made ahead of it fails, so
//! memory keeps matching the disk: removed copies come back, changed ones are reverted.

use std::sync::Arc;

use super::BrokerError;
use super::queue::{Entry, QueueHandle, QueueState};
use crate::storage::{DeliveryRecord, MessageId, PendingWrite};

/// A copy changed in memory ahead of its write: its id, as changed, and as it was.
pub(crate) type Change = (MessageId, Entry, Entry);

/// Reschedules a checked, leased copy (see [`super::queue::QueueState::reschedule`]).
pub(crate) fn reschedule(
    state: &mut QueueState,
    id: MessageId,
    visible_at_ms: u64,
    release: bool,
) -> (DeliveryRecord, Change) {
    let before = state.get(id).cloned().expect("the receipt was checked");
    let record = state
        .reschedule(id, visible_at_ms, release)
        .expect("the receipt was checked");
    let changed = state.get(id).cloned().expect("rescheduled");
    (record, (id, changed, before))
}

/// Ends a checked lease without counting its delivery (see
/// [`super::queue::QueueState::forget_delivery`]), visible again at `visible_at_ms`.
pub(crate) fn give_back(
    state: &mut QueueState,
    id: MessageId,
    visible_at_ms: u64,
) -> (DeliveryRecord, Change) {
    let before = state.get(id).cloned().expect("the receipt was checked");
    state.forget_delivery(id);
    let record = state
        .reschedule(id, visible_at_ms, true)
        .expect("the receipt was checked");
    let changed = state.get(id).cloned().expect("rescheduled");
    (record, (id, changed, before))
}

/// Waits for `pending`; when it fails, memory goes back to how it was before `changes`
/// (also when the caller stops waiting: see [`PendingWrite::then`]).
pub(crate) async fn revert_on_failure(
    handle: &Arc<QueueHandle>,
    pending: PendingWrite,
    changes: Vec<Change>,
    now: u64,
) -> Result<(), BrokerError> {
    undo_on_failure(handle, pending, move |state, sequence| {
        for (id, changed, before) in &changes {
            state.revert(*id, changed, before, sequence, now);
        }
    })
    .await
}

/// Waits for `pending`; when it fails, the copies it was to remove come back (also when
/// the caller stops waiting).
pub(crate) async fn restore_on_failure(
    handle: &Arc<QueueHandle>,
    pending: PendingWrite,
    removed: Vec<(MessageId, Entry)>,
    now: u64,
) -> Result<(), BrokerError> {
    undo_on_failure(handle, pending, move |state, sequence| {
        for (id, entry) in &removed {
            state.restore(*id, entry, sequence, now);
        }
    })
    .await
}

/// Waits for `pending`; when it fails, runs `undo` on the queue's state under its lock,
/// with the write's sequence number.
async fn undo_on_failure(
    handle: &Arc<QueueHandle>,
    pending: PendingWrite,
    undo: impl FnOnce(&mut QueueState, u64) + Send + 'static,
) -> Result<(), BrokerError> {
    let handle = handle.clone();
    let sequence = pending.sequence();
    pending
        .then(move |result| {
            result.map(drop).map_err(|error| {
                undo(&mut handle.lock(), sequence);
                error.into()
            })
        })
        .await
}

#[cfg(test)]
mod tests {
    use switchyard_client::{CreateQueue, PublishMessage, ReceiveRequest};

    use crate::broker::{Broker, now_ms};
    use crate::config::Config;

    /// A broker with one ready message in queue `q`.
    async fn broker_with_a_message(dir: &std::path::Path) -> std::sync::Arc<Broker> {
        let broker = Broker::open(&Config::for_data_dir(dir)).unwrap();
        let queue = CreateQueue {
            name: "q".into(),
            ..Default::default()
        };
        broker.create_queue(queue).await.unwrap();
        let message = PublishMessage::json(&"m").unwrap();
        broker.send("q", vec![message], false).await.unwrap();
        broker
    }

    fn counts(broker: &Broker) -> (u64, u64, u64) {
        let stats = broker.get_queue("q").unwrap().stats.unwrap();
        (stats.ready, stats.in_flight, stats.delayed)
    }

    async fn receipt(broker: &Broker) -> String {
        let mut got = broker
            .receive("q", ReceiveRequest::default())
            .await
            .unwrap();
        got.remove(0).receipt.unwrap()
    }

    #[tokio::test]
    async fn a_receive_that_cannot_be_stored_leaves_the_message_ready() {
        let dir = tempfile::tempdir().unwrap();
        let broker = broker_with_a_message(dir.path()).await;
        broker.close();
        assert!(
            broker
                .receive("q", ReceiveRequest::default())
                .await
                .is_err()
        );
        assert_eq!(counts(&broker), (1, 0, 0));
    }

    #[tokio::test]
    async fn a_nack_or_extend_that_cannot_be_stored_keeps_the_lease_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let broker = broker_with_a_message(dir.path()).await;
        let receipt = receipt(&broker).await;
        let handle = broker.queue("q").unwrap();
        let lease_end = |h: &super::QueueHandle| {
            let state = h.lock();
            let (id, entry) = state.browse(None, 1).remove(0);
            (id, entry.visible_at_ms, entry.leased)
        };
        let before = lease_end(&handle);
        broker.close();
        assert!(broker.nack("q", vec![receipt.clone()], None).await.is_err());
        assert_eq!(counts(&broker), (0, 1, 0));
        assert!(broker.extend("q", &receipt, 600_000).await.is_err());
        assert_eq!(lease_end(&handle), before);
        assert_eq!(counts(&broker), (0, 1, 0));
    }

    #[tokio::test]
    async fn a_purge_or_retention_sweep_that_cannot_be_stored_keeps_the_messages() {
        let dir = tempfile::tempdir().unwrap();
        let broker = broker_with_a_message(dir.path()).await;
        let handle = broker.queue("q").unwrap();
        broker.close();
        assert!(broker.purge_queue("q").await.is_err());
        assert_eq!(counts(&broker), (1, 0, 0));
        let far_future = now_ms() + (1 << 45);
        assert!(broker.drop_expired(&handle, far_future).await.is_err());
        assert_eq!(counts(&broker), (1, 0, 0));
    }
}
