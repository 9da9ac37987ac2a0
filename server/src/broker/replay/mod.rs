//! Replay jobs: copy a range of a topic's archive into a queue, optionally through a
//! filter, in the background (the batches are in [`run`]). A job record is durable before
//! it is reported; its progress is saved with each batch of copies, in the same
//! transaction, so a restart resumes a running job where it stopped, copying nothing twice.
//! Also a subscription that starts from a past position: its history is such a job.

mod run;

use std::sync::Arc;

use switchyard_client::{ArchivePoint, Replay, StartReplay, Subscription};

use super::catalog::subscription_view;
use super::filter::Filter;
use super::{Broker, BrokerError, now_ms};
use crate::storage::{ArchiveId, Op, OpOutcome, ReplayRecord, ReplayState, SubscriptionRecord};

impl Broker {
    /// Starts a replay job: archived positions `from..to` of `topic` (to: the end of the
    /// archive now, when absent) into a queue. Answers once the job is durable.
    pub async fn start_replay(
        &self,
        topic: &str,
        request: StartReplay,
    ) -> Result<Replay, BrokerError> {
        if let Some(pattern) = &request.filter {
            Filter::compile(pattern)?;
        }
        let archive = self.archive_of(topic)?;
        let queue = self.queue(&request.queue)?;
        let head = self.storage.archive_head(archive).unwrap_or_default();
        let from = self
            .resolve_point(archive, request.from, &head, "from")
            .await?;
        let to = match request.to {
            Some(point) => self.resolve_point(archive, point, &head, "to").await?,
            None => head.next_position,
        };
        if from > to {
            return Err(BrokerError::InvalidRange {
                reason: format!("from ({from}) is after to ({to})"),
            });
        }
        let mut record = new_job(topic, archive, &queue, request.filter, from);
        record.to_position = to;
        record.cursor = from.max(head.first_position);
        record.total = to.saturating_sub(record.cursor);
        if record.cursor >= to {
            record.state = ReplayState::Done;
            record.finished_at_ms = Some(record.created_at_ms);
        }
        self.storage
            .write(vec![Op::PutReplay {
                record: record.clone(),
                cut: false,
            }])
            .await?;
        tracing::info!(replay = %record.id, topic, queue = %record.queue, from, to, "replay started");
        Ok(self.track(record))
    }

    /// Creates a subscription together with a replay job of its history from `start`. The
    /// subscription joins the routes and the job's end (the archive's next position) is
    /// taken while publishes are held at their gate, and both are stored in one write: every
    /// publish is either before the cut (archived, so replayed) or after it (routed live).
    pub(super) async fn subscribe_from(
        &self,
        subscription: SubscriptionRecord,
        start: ArchivePoint,
    ) -> Result<Subscription, BrokerError> {
        let archive = self.archive_of(&subscription.topic)?;
        let queue = self.queue(&subscription.queue)?;
        let head = self.storage.archive_head(archive).unwrap_or_default();
        let from = self.resolve_point(archive, start, &head, "start").await?;
        let mut job = new_job(
            &subscription.topic,
            archive,
            &queue,
            subscription.filter.clone(),
            from,
        );
        job.subscription = Some(subscription.id.clone());
        let pending = {
            let _gate = self.publish_gate.write().expect("publish gate poisoned");
            let mut catalog = self.catalog_mut();
            catalog
                .subscriptions
                .insert(subscription.id.clone(), subscription.clone());
            catalog.rebuild_routes(&subscription.topic);
            drop(catalog);
            self.storage.submit(vec![
                Op::PutSubscription(subscription.clone()),
                Op::PutReplay {
                    record: job.clone(),
                    cut: true,
                },
            ])
        };
        let outcomes = match pending.wait().await {
            Ok(outcomes) => outcomes,
            Err(error) => {
                let mut catalog = self.catalog_mut();
                catalog.subscriptions.remove(&subscription.id);
                catalog.rebuild_routes(&subscription.topic);
                return Err(error.into());
            }
        };
        if let Some(OpOutcome::Cut { to, total, cursor }) = outcomes.get(1) {
            job.to_position = *to;
            job.total = *total;
            job.cursor = *cursor;
            if *cursor >= *to {
                job.state = ReplayState::Done;
                job.finished_at_ms = Some(job.created_at_ms);
            }
        }
        tracing::info!(
            subscription = %subscription.id,
            replay = %job.id,
            from,
            to = job.to_position,
            "subscription starts from the archive"
        );
        let replay = self.track(job);
        let mut view = subscription_view(&subscription);
        view.replay = Some(replay.id);
        Ok(view)
    }

    /// Every replay job, oldest first.
    pub fn list_replays(&self) -> Vec<Replay> {
        self.replays
            .lock()
            .expect("replays lock")
            .values()
            .map(replay_view)
            .collect()
    }

    /// One replay job with its progress.
    pub fn get_replay(&self, id: &str) -> Result<Replay, BrokerError> {
        self.replays
            .lock()
            .expect("replays lock")
            .get(id)
            .map(replay_view)
            .ok_or_else(|| BrokerError::ReplayNotFound { id: id.into() })
    }

    /// Cancels a running job: once this answers, it copies nothing more (the writer
    /// refuses progress of a job that is not running).
    pub async fn cancel_replay(&self, id: &str) -> Result<Replay, BrokerError> {
        self.get_replay(id)?;
        let outcome = self.end_replay(id, ReplayState::Cancelled, None).await?;
        if outcome == OpOutcome::Missing {
            let replay = self.get_replay(id)?;
            return Err(BrokerError::ReplayNotRunning {
                id: id.into(),
                state: replay.state.name(),
            });
        }
        // A batch committed just before the cancel may not have updated memory yet: answer
        // with the committed progress, which is final from now on.
        let storage = self.storage.clone();
        let key = id.to_string();
        let stored = tokio::task::spawn_blocking(move || storage.read_replay(&key))
            .await
            .expect("reading a replay does not panic")?;
        if let Some(stored) = stored
            && let Some(record) = self.replays.lock().expect("replays lock").get_mut(id)
        {
            record.cursor = record.cursor.max(stored.cursor);
            record.scanned = record.scanned.max(stored.scanned);
            record.matched = record.matched.max(stored.matched);
        }
        tracing::info!(replay = id, "replay cancelled");
        self.get_replay(id)
    }

    /// Ends a running job durably and in memory; [`OpOutcome::Missing`] when it was not
    /// running.
    async fn end_replay(
        &self,
        id: &str,
        state: ReplayState,
        error: Option<String>,
    ) -> Result<OpOutcome, BrokerError> {
        let at_ms = now_ms();
        let op = Op::EndReplay {
            id: id.into(),
            state,
            error: error.clone(),
            at_ms,
        };
        let outcome = self.storage.write(vec![op]).await?[0];
        if outcome == OpOutcome::Done
            && let Some(record) = self.replays.lock().expect("replays lock").get_mut(id)
        {
            record.state = state;
            record.error = error;
            record.finished_at_ms = Some(at_ms);
        }
        Ok(outcome)
    }

    /// Remembers a committed job and starts it when it has work.
    fn track(&self, record: ReplayRecord) -> Replay {
        let view = replay_view(&record);
        let running = record.state == ReplayState::Running;
        let id = record.id.clone();
        self.replays
            .lock()
            .expect("replays lock")
            .insert(id.clone(), record);
        if running {
            self.spawn_replay(id);
        }
        view
    }

    /// Starts the jobs that were running when the server stopped, where they stopped.
    pub fn resume_replays(&self) {
        let running: Vec<String> = self
            .replays
            .lock()
            .expect("replays lock")
            .values()
            .filter(|r| r.state == ReplayState::Running)
            .map(|r| r.id.clone())
            .collect();
        if !running.is_empty() {
            tracing::info!(jobs = running.len(), "resuming replay jobs");
        }
        for id in running {
            self.spawn_replay(id);
        }
    }

    fn spawn_replay(&self, id: String) {
        let Some(broker) = self.me.upgrade() else {
            return;
        };
        let task = tokio::spawn(async move { broker.run_replay(id).await });
        let mut tasks = self.replay_tasks.lock().expect("replay tasks lock");
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }

    /// Waits for the replay tasks to stop (call after [`Broker::begin_shutdown`]; each
    /// stops before its next batch and resumes at the next start).
    pub async fn stop_replays(&self) {
        let tasks = std::mem::take(&mut *self.replay_tasks.lock().expect("replay tasks lock"));
        for task in tasks {
            let _ = task.await;
        }
    }
}

fn new_job(
    topic: &str,
    archive: ArchiveId,
    queue: &Arc<super::queue::QueueHandle>,
    filter: Option<serde_json::Value>,
    from: u64,
) -> ReplayRecord {
    ReplayRecord {
        id: ulid::Ulid::new().to_string(),
        topic: topic.into(),
        archive,
        queue: queue.name.clone(),
        queue_id: queue.id,
        subscription: None,
        filter,
        from_position: from,
        to_position: from,
        cursor: from,
        total: 0,
        scanned: 0,
        matched: 0,
        state: ReplayState::Running,
        error: None,
        created_at_ms: now_ms(),
        finished_at_ms: None,
    }
}

fn replay_view(record: &ReplayRecord) -> Replay {
    Replay {
        id: record.id.clone(),
        topic: record.topic.clone(),
        queue: record.queue.clone(),
        subscription: record.subscription.clone(),
        filter: record.filter.clone(),
        from_position: record.from_position,
        to_position: record.to_position,
        state: record.state,
        scanned: record.scanned,
        matched: record.matched,
        total: record.total,
        error: record.error.clone(),
        created_at_ms: record.created_at_ms,
        finished_at_ms: record.finished_at_ms,
    }
}

#[cfg(test)]
mod tests;
