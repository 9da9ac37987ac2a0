//! Bulk work in bounded chunks: retention drops, the rest of a purge, the copies of deleted
//! queues, and the sweeps of message status and dedup ids. Each chunk is one write of at
//! most [`CHUNK`] rows, and the next is submitted only once it is durable, so other
//! requests' group commits go in between and a sweep of a million messages delays no
//! publish by more than one chunk's commit.

use std::sync::Arc;
use std::time::Duration;

use super::consume::settle;
use super::queue::QueueHandle;
use super::rollback::restore_on_failure;
use super::{Broker, BrokerError, now_ms};
use crate::storage::{Op, OpOutcome, QueueId, Settled};

/// Rows one chunk's write deletes or moves, at most.
pub(crate) const CHUNK: usize = 1024;

impl Broker {
    /// Submits `op(CHUNK)` again and again, each once the last is durable, until storage
    /// says nothing is left; returns the rows deleted.
    pub(crate) async fn write_in_chunks(
        &self,
        op: impl Fn(usize) -> Op,
    ) -> Result<u64, BrokerError> {
        let mut total = 0;
        loop {
            let outcomes = self
                .storage
                .submit_background(vec![op(CHUNK)])
                .wait()
                .await?;
            match outcomes.first() {
                Some(OpOutcome::Chunk { count, more }) => {
                    total += count;
                    if !more {
                        return Ok(total);
                    }
                }
                _ => return Ok(total),
            }
        }
    }

    /// Deletes copies that have been in the queue longer than its retention, a chunk per
    /// write.
    pub(crate) async fn drop_expired(
        &self,
        handle: &Arc<QueueHandle>,
        now: u64,
    ) -> Result<(), BrokerError> {
        loop {
            let (pending, more) = {
                let mut state = handle.lock();
                let (removed, more) = state.take_expired(now, CHUNK);
                let pending = (!removed.is_empty()).then(|| {
                    tracing::debug!(queue = %handle.name, count = removed.len(), "retention expired messages");
                    let ops = removed
                        .iter()
                        .map(|(id, entry)| settle(handle, *id, entry, Settled::Expired, now))
                        .collect();
                    (self.storage.submit_background(ops), removed)
                });
                (pending, more)
            };
            match pending {
                Some((pending, removed)) => {
                    restore_on_failure(handle, pending, removed, now).await?;
                }
                // Only copies that stay were looked at: look on, letting others in.
                None if more => tokio::task::yield_now().await,
                None => return Ok(()),
            }
            if !more {
                return Ok(());
            }
        }
    }

    /// Deletes the copies a deleted queue left on disk, then forgets the queue.
    pub(crate) async fn drop_queue_copies(&self, queue: QueueId) -> Result<(), BrokerError> {
        let dropped = self
            .write_in_chunks(|limit| Op::DropQueueCopies { id: queue, limit })
            .await?;
        if dropped > 0 {
            tracing::debug!(queue, dropped, "deleted the copies of a deleted queue");
        }
        self.orphans.lock().expect("orphans lock").remove(&queue);
        Ok(())
    }

    /// Deletes what deleted queues left on disk.
    async fn sweep_orphans(&self) {
        let orphans: Vec<QueueId> = self
            .orphans
            .lock()
            .expect("orphans lock")
            .iter()
            .copied()
            .collect();
        for queue in orphans {
            if let Err(error) = self.drop_queue_copies(queue).await {
                tracing::warn!(%error, queue, "deleting a deleted queue's copies failed");
            }
        }
    }

    /// Forgets message statuses settled longer ago than the status retention, and dedup
    /// ids past their window.
    async fn sweep_statuses(&self, now: u64) -> Result<(), BrokerError> {
        self.write_in_chunks(|limit| Op::SweepDedup { now_ms: now, limit })
            .await?;
        let before_ms = now.saturating_sub(self.limits.status_retention_ms);
        self.write_in_chunks(|limit| Op::SweepSettled { before_ms, limit })
            .await?;
        Ok(())
    }
}

/// Every second: archive retention, deleted queues' copies, queue retention; every minute
/// the status and dedup sweeps. Runs beside the 20 ms upkeep of leases and delays, which
/// it never holds up.
pub(super) async fn sweep(broker: &Broker) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_status_sweep = now_ms();
    loop {
        tick.tick().await;
        let now = now_ms();
        broker.trim_archives(now).await;
        broker.sweep_orphans().await;
        for queue in broker.queues() {
            if let Err(error) = broker.drop_expired(&queue, now).await {
                tracing::warn!(%error, queue = %queue.name, "retention sweep failed");
            }
        }
        if now.saturating_sub(last_status_sweep) >= 60_000 {
            last_status_sweep = now;
            if let Err(error) = broker.sweep_statuses(now).await {
                tracing::warn!(%error, "dedup and status sweep failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use switchyard_client::{CreateQueue, PublishMessage, RedriveRequest};

    use super::*;
    use crate::config::Config;

    const MANY: usize = CHUNK + 904;

    /// A broker whose queues `q` and `dlq` exist, with `count` messages sent to `into`.
    async fn broker_with(dir: &std::path::Path, into: &str, count: usize) -> Arc<Broker> {
        let broker = Broker::open(&Config::for_data_dir(dir)).unwrap();
        for name in ["q", "dlq"] {
            let queue = CreateQueue {
                name: name.into(),
                ..Default::default()
            };
            broker.create_queue(queue).await.unwrap();
        }
        let messages: Vec<PublishMessage> = (0..count)
            .map(|n| PublishMessage::json(&n).unwrap())
            .collect();
        for batch in messages.chunks(1000) {
            broker.send(into, batch.to_vec(), true).await.unwrap();
        }
        broker
    }

    fn writes(broker: &Broker) -> u64 {
        broker.write_counters().requests.load(Ordering::Relaxed)
    }

    fn total(broker: &Broker, queue: &str) -> u64 {
        let stats = broker.get_queue(queue).unwrap().stats.unwrap();
        stats.ready + stats.in_flight + stats.delayed
    }

    #[tokio::test]
    async fn a_retention_sweep_of_many_messages_writes_a_chunk_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let broker = broker_with(dir.path(), "q", MANY).await;
        let handle = broker.queue("q").unwrap();
        let before = writes(&broker);
        let far_future = now_ms() + super::super::MAX_RETENTION_MS + 1;
        broker.drop_expired(&handle, far_future).await.unwrap();
        assert_eq!(writes(&broker) - before, 2, "{CHUNK} and the rest");
        assert_eq!(total(&broker, "q"), 0);
        assert_eq!(broker.stored_messages().unwrap(), 0);
    }

    #[tokio::test]
    async fn a_purge_of_many_messages_writes_a_chunk_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let broker = broker_with(dir.path(), "q", MANY).await;
        let before = writes(&broker);
        assert_eq!(broker.purge_queue("q").await.unwrap(), MANY as u64);
        assert_eq!(writes(&broker) - before, 2);
        assert_eq!(broker.stored_messages().unwrap(), 0);
    }

    #[tokio::test]
    async fn a_redrive_of_many_messages_writes_a_chunk_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let broker = broker_with(dir.path(), "dlq", MANY).await;
        let before = writes(&broker);
        let request = RedriveRequest {
            destination: Some("q".into()),
            ..RedriveRequest::default()
        };
        let response = broker.redrive("dlq", request).await.unwrap();
        assert_eq!((response.moved, response.skipped), (MANY as u64, 0));
        assert_eq!(writes(&broker) - before, 2);
        assert_eq!(
            (total(&broker, "q"), total(&broker, "dlq")),
            (MANY as u64, 0)
        );
    }

    #[tokio::test]
    async fn the_copies_a_deleted_queue_left_behind_a_restart_are_deleted_by_the_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::for_data_dir(dir.path());
        let broker = broker_with(dir.path(), "q", 10).await;
        // The queue's record goes, and the server stops before its copies do.
        let id = broker.queue("q").unwrap().id;
        let delete = Op::DeleteQueue {
            id,
            name: "q".into(),
        };
        broker.storage.write(vec![delete]).await.unwrap();
        broker.close();
        drop(broker);
        let broker = Broker::open(&config).unwrap();
        assert_eq!(broker.stored_messages().unwrap(), 10, "held by the copies");
        broker.sweep_orphans().await;
        assert_eq!(broker.stored_messages().unwrap(), 0);
        assert!(broker.orphans.lock().unwrap().is_empty());
    }
}
