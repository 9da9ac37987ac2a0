//! Putting a queue's memory back when the write of a change made ahead of it fails, so
//! memory keeps matching the disk: removed copies come back, changed ones are reverted,
//! and the queue's long polls are woken to take what came back.

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

/// Runs `undo` on the queue's state under its lock, then wakes the queue's long polls:
/// what it put back may be ready.
pub(crate) fn put_back(handle: &QueueHandle, undo: impl FnOnce(&mut QueueState)) {
    undo(&mut handle.lock());
    handle.ready.notify_waiters();
}

/// Waits for `pending`; when it fails, puts memory back with `undo` (see [`put_back`]),
/// given the write's sequence number.
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
                put_back(&handle, |state| undo(state, sequence));
                error.into()
            })
        })
        .await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use switchyard_client::{CreateQueue, PublishMessage, ReceiveRequest};

    use crate::broker::{Broker, now_ms};
    use crate::config::Config;
    use crate::storage::failure_tests::FailingBackend;

    /// A broker with one ready message in queue `q`.
    async fn broker_with_a_message(dir: &std::path::Path) -> std::sync::Arc<Broker> {
        with_a_message(Broker::open(&Config::for_data_dir(dir)).unwrap()).await
    }

    /// `broker`, given queue `q` holding one ready message.
    async fn with_a_message(broker: std::sync::Arc<Broker>) -> std::sync::Arc<Broker> {
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

    /// A broker on `disk`, as stored there.
    fn reopen(disk: &FailingBackend) -> std::sync::Arc<Broker> {
        let dir = tempfile::tempdir().unwrap();
        let (storage, recovered) = disk.open();
        Broker::with_storage(storage, recovered, &Config::for_data_dir(dir.path())).unwrap()
    }

    /// A broker on `disk` with one ready message in queue `q`.
    async fn broker_on(disk: &FailingBackend) -> std::sync::Arc<Broker> {
        with_a_message(reopen(disk)).await
    }

    /// `failing` takes the message out of the ready set and submits a write that fails;
    /// the queue's long polls, waiting meanwhile, must be woken when it is put back.
    async fn long_polls_are_woken_for_what_a_failed_write_puts_back<F>(
        failing: impl FnOnce(std::sync::Arc<Broker>) -> F,
    ) where
        F: std::future::Future<Output = bool>,
    {
        let disk = FailingBackend::default();
        let broker = broker_on(&disk).await;
        let closed = disk.valve.closed();
        disk.broken.store(true, Ordering::SeqCst);
        let mut failing = std::pin::pin!(failing(broker.clone()));
        assert!(
            futures::poll!(&mut failing).is_pending(),
            "its write is held"
        );
        assert_eq!(counts(&broker).0, 0, "the message is not ready");
        // What a long poll waits on, registered as a long poll registers it.
        let handle = broker.queue("q").unwrap();
        let mut long_poll = std::pin::pin!(handle.ready.notified());
        long_poll.as_mut().enable();
        assert!(futures::poll!(&mut long_poll).is_pending());
        drop(closed);
        assert!(failing.await, "the write failed");
        assert_eq!(counts(&broker).0, 1, "the message is back");
        assert!(
            futures::poll!(&mut long_poll).is_ready(),
            "the long polls are woken to take it"
        );
    }

    #[tokio::test]
    async fn long_polls_are_woken_for_what_a_failed_receive_gives_back() {
        long_polls_are_woken_for_what_a_failed_write_puts_back(|broker| async move {
            let request = ReceiveRequest::default();
            broker.receive("q", request).await.is_err()
        })
        .await;
    }

    #[tokio::test]
    async fn long_polls_are_woken_for_what_a_failed_retention_sweep_gives_back() {
        long_polls_are_woken_for_what_a_failed_write_puts_back(|broker| async move {
            let handle = broker.queue("q").unwrap();
            let far_future = now_ms() + (1 << 45);
            broker.drop_expired(&handle, far_future).await.is_err()
        })
        .await;
    }

    #[tokio::test]
    async fn long_polls_are_woken_for_what_a_failed_purge_gives_back() {
        long_polls_are_woken_for_what_a_failed_write_puts_back(|broker| async move {
            broker.purge_queue("q").await.is_err()
        })
        .await;
    }

    #[tokio::test]
    async fn a_receive_dropped_before_it_hands_out_gives_its_leases_back_uncounted() {
        let disk = FailingBackend::default();
        let broker = broker_on(&disk).await;
        let closed = disk.valve.closed();
        let handle = broker.queue("q").unwrap();
        let mut long_poll = std::pin::pin!(handle.ready.notified());
        long_poll.as_mut().enable();
        {
            let request = ReceiveRequest {
                visibility_timeout_ms: Some(600_000),
                ..ReceiveRequest::default()
            };
            let mut receive = std::pin::pin!(broker.receive("q", request));
            assert!(
                futures::poll!(&mut receive).is_pending(),
                "its write is held"
            );
            assert_eq!(counts(&broker), (0, 1, 0), "leased");
        }
        assert_eq!(
            counts(&broker),
            (0, 0, 1),
            "visible again at once, not leased"
        );
        assert!(
            futures::poll!(&mut long_poll).is_ready(),
            "long polls are woken"
        );
        drop(closed);
        // Applied after the lease and the give-back: once it is durable, so are they.
        broker.storage.write(Vec::new()).await.unwrap();
        broker.close();
        drop(broker);

        let broker = reopen(&disk);
        assert_eq!(counts(&broker), (1, 0, 0), "not leased on disk either");
        let again = broker
            .receive("q", ReceiveRequest::default())
            .await
            .unwrap();
        assert_eq!(
            again[0].receive_count, 1,
            "the dropped delivery did not count"
        );
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
