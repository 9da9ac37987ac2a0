//! A replay job's task: read a bounded batch of the archive, filter it, and write the
//! copies together with the job's progress in one durable write, until the range is done,
//! the job is cancelled, or the server shuts down (a running job resumes at the next
//! start). A copy's retention counts from its replay, not from its publish.

use std::sync::atomic::Ordering;

use super::super::archive::matches;
use super::super::filter::Filter;
use super::super::publish::{add_copies, fresh_delivery};
use super::super::queue::enqueued_at;
use super::super::{Broker, now_ms};
use crate::storage::{
    DeliveryRecord, MessageId, Op, OpOutcome, ReplayRecord, ReplayState, StoredMessage,
};

/// Archived messages read per batch (each batch is one durable write).
const BATCH: usize = 512;

impl Broker {
    pub(super) async fn run_replay(&self, id: String) {
        let Some(job) = self.replay_record(&id) else {
            return;
        };
        let filter = match job.filter.as_ref().map(Filter::compile).transpose() {
            Ok(filter) => filter,
            Err(error) => {
                self.fail_replay(&id, format!("its filter no longer compiles: {error}"))
                    .await;
                return;
            }
        };
        loop {
            if self.is_closing() {
                return;
            }
            let Some(job) = self.replay_record(&id) else {
                return;
            };
            if job.state != ReplayState::Running {
                return;
            }
            match self.replay_batch(job, filter.as_ref()).await {
                Ok(true) => tokio::task::yield_now().await,
                Ok(false) => return,
                Err(reason) => {
                    if !self.is_closing() {
                        self.fail_replay(&id, reason).await;
                    }
                    return;
                }
            }
        }
    }

    /// One batch; `Ok(true)` when there is more to do.
    async fn replay_batch(
        &self,
        job: ReplayRecord,
        filter: Option<&Filter>,
    ) -> Result<bool, String> {
        let queue = self
            .catalog()
            .queues
            .values()
            .find(|q| q.id == job.queue_id)
            .cloned();
        let Some(queue) = queue.filter(|q| !q.is_deleted()) else {
            return Err(format!("queue {:?} was deleted", job.queue));
        };
        let storage = self.storage.clone();
        let (archive, from, to) = (job.archive, job.cursor, job.to_position);
        let batch =
            tokio::task::spawn_blocking(move || storage.read_archive(archive, from, to, BATCH))
                .await
                .expect("reading the archive does not panic")
                .map_err(|e| format!("reading the archive failed: {e}"))?;
        let cursor = match batch.last() {
            Some(last) if batch.len() == BATCH => last.position + 1,
            // Fewer than a batch: the rest of the range has been read.
            _ => to,
        };
        let now = now_ms();
        let visible_at = now + queue.delay_ms.load(Ordering::Relaxed);
        let copy = |id: MessageId, message: &StoredMessage| DeliveryRecord {
            enqueued_at_ms: enqueued_at(id, now),
            group_hash: queue.group_hash(&message.attributes),
            ..fresh_delivery(visible_at, message)
        };
        let copies: Vec<_> = batch
            .iter()
            .filter(|a| filter.is_none_or(|f| matches(f, &a.message)))
            .map(|a| (a.id, &a.message))
            .collect();
        let mut progress = job;
        progress.cursor = cursor;
        progress.scanned += batch.len() as u64;
        progress.matched += copies.len() as u64;
        let done = cursor >= progress.to_position;
        if done {
            progress.state = ReplayState::Done;
            progress.finished_at_ms = Some(now);
        }
        let mut ops = Vec::with_capacity(copies.len() + 1);
        ops.push(Op::ReplayProgress(progress.clone()));
        ops.extend(copies.iter().map(|(id, key)| Op::PutCopy {
            queue: queue.id,
            id: *id,
            record: copy(*id, key),
        }));
        let pending = self.storage.submit_background(ops);
        let sequence = pending.sequence();
        let outcomes = pending
            .wait()
            .await
            .map_err(|e| format!("writing a batch failed: {e}"))?;
        if outcomes[0] == OpOutcome::Missing {
            // Cancelled meanwhile: nothing of this batch was written.
            return Ok(false);
        }
        let added = copies
            .into_iter()
            .zip(&outcomes[1..])
            .filter(|(_, outcome)| **outcome == OpOutcome::Done)
            .map(|((id, key), _)| (id, copy(id, key)))
            .collect();
        add_copies(&queue, added, sequence, now);
        let mut replays = self.replays.lock().expect("replays lock");
        if let Some(record) = replays.get_mut(&progress.id) {
            record.cursor = progress.cursor;
            record.scanned = progress.scanned;
            record.matched = progress.matched;
            if done {
                record.state = ReplayState::Done;
                record.finished_at_ms = progress.finished_at_ms;
            }
        }
        if done {
            tracing::info!(replay = %progress.id, scanned = progress.scanned, matched = progress.matched, "replay done");
        }
        Ok(!done)
    }

    fn replay_record(&self, id: &str) -> Option<ReplayRecord> {
        self.replays.lock().expect("replays lock").get(id).cloned()
    }

    async fn fail_replay(&self, id: &str, reason: String) {
        tracing::warn!(replay = id, %reason, "replay failed");
        if let Err(error) = self.end_replay(id, ReplayState::Failed, Some(reason)).await {
            tracing::error!(%error, replay = id, "cannot record the replay's failure");
        }
    }
}
