//! Redrive jobs: a redrive runs in the background, chunk by chunk, at most
//! `max_per_second` messages a second, with its progress to follow and a cancel, like
//! SQS's message move tasks. One runs per dead-letter queue at a time. Each chunk is one
//! durable write, so what a job moved stays moved; the jobs themselves live in memory (the
//! last [`KEPT`] per queue), and a restart ends a running one where it was.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use switchyard_client::{RedriveJob, RedriveRequest, RedriveState};

use super::queue::QueueHandle;
use super::{Broker, BrokerError, now_ms};

/// Finished jobs kept per queue.
const KEPT: usize = 20;
/// The fastest pace a job may ask for.
const MAX_PER_SECOND: u32 = 100_000;

/// Every queue's recent redrive jobs.
#[derive(Default)]
pub(crate) struct RedriveJobs {
    by_queue: BTreeMap<String, VecDeque<Job>>,
}

struct Job {
    view: RedriveJob,
    cancel: Arc<AtomicBool>,
}

impl RedriveJobs {
    fn running(&self, queue: &str) -> Option<&Job> {
        self.by_queue
            .get(queue)?
            .iter()
            .find(|job| job.view.state == RedriveState::Running)
    }

    fn job_mut(&mut self, queue: &str, id: &str) -> Option<&mut Job> {
        self.by_queue
            .get_mut(queue)?
            .iter_mut()
            .find(|job| job.view.id == id)
    }
}

impl Broker {
    /// Starts moving ready messages of a dead-letter queue back to the queues they came
    /// from (or all to `destination`), as new deliveries: receive count 0, no dead-letter
    /// record, retention counting from the move. Messages in flight or delayed stay; so do
    /// messages with nowhere to go. Answers the job as it started; it goes on in the
    /// background.
    pub async fn start_redrive(
        &self,
        queue: &str,
        request: RedriveRequest,
    ) -> Result<RedriveJob, BrokerError> {
        let source = self.queue(queue)?;
        let destination = match &request.destination {
            Some(name) if name == queue => {
                return Err(BrokerError::InvalidSetting {
                    name: "destination",
                    reason: "a queue cannot be redriven into itself".into(),
                });
            }
            Some(name) => Some(self.queue(name)?),
            None => None,
        };
        if let Some(rate) = request.max_per_second
            && !(1..=MAX_PER_SECOND).contains(&rate)
        {
            return Err(BrokerError::InvalidSetting {
                name: "max_per_second",
                reason: format!("{rate} is outside 1..={MAX_PER_SECOND}"),
            });
        }
        let ready = source.lock().stats(now_ms()).ready;
        let now = now_ms();
        let view = RedriveJob {
            id: ulid::Ulid::new().to_string(),
            queue: queue.to_string(),
            destination: request.destination.clone(),
            max_messages: request.max_messages,
            max_per_second: request.max_per_second,
            state: RedriveState::Running,
            total: request
                .max_messages
                .map_or(ready, |max| ready.min(u64::from(max))),
            moved: 0,
            skipped: 0,
            error: None,
            started_at_ms: now,
            updated_at_ms: now,
            finished_at_ms: None,
        };
        let cancel = Arc::new(AtomicBool::new(false));
        {
            let mut jobs = self.redrives.lock().expect("redrive jobs lock");
            if let Some(running) = jobs.running(queue) {
                return Err(BrokerError::RedriveRunning {
                    queue: queue.to_string(),
                    id: running.view.id.clone(),
                });
            }
            let kept = jobs.by_queue.entry(queue.to_string()).or_default();
            kept.push_front(Job {
                view: view.clone(),
                cancel: cancel.clone(),
            });
            kept.truncate(KEPT);
        }
        let broker = self.me.upgrade().expect("the broker serves from an Arc");
        let job = view.clone();
        tokio::spawn(async move {
            broker.run_redrive(job, source, destination, cancel).await;
        });
        Ok(view)
    }

    /// The job's chunks, paced, until it has moved what it may, the queue has no more
    /// ready messages, it is cancelled or a write fails.
    async fn run_redrive(
        &self,
        mut job: RedriveJob,
        source: Arc<QueueHandle>,
        destination: Option<Arc<QueueHandle>>,
        cancel: Arc<AtomicBool>,
    ) {
        let limit = job.max_messages.map_or(u64::MAX, u64::from);
        let started = tokio::time::Instant::now();
        let mut after = None;
        let outcome = loop {
            if cancel.load(Ordering::Acquire) || self.is_closing() {
                break Ok(RedriveState::Cancelled);
            }
            let left = limit.saturating_sub(job.moved);
            if left == 0 {
                break Ok(RedriveState::Done);
            }
            // A paced job moves a tenth of a second's worth at a time, each chunk no
            // sooner than its pace allows.
            let chunk = match job.max_per_second {
                Some(rate) => {
                    let due = started + Duration::from_secs_f64(job.moved as f64 / f64::from(rate));
                    tokio::time::sleep_until(due).await;
                    left.min(u64::from(rate.div_ceil(10)))
                }
                None => left,
            };
            let mut done = (job.moved, job.skipped);
            let more = self
                .redrive_chunk(
                    &source,
                    destination.as_ref(),
                    &mut after,
                    chunk as usize,
                    &mut done,
                )
                .await;
            (job.moved, job.skipped) = done;
            job.updated_at_ms = now_ms();
            self.update_redrive(&job);
            match more {
                Ok(true) => {}
                Ok(false) => break Ok(RedriveState::Done),
                Err(error) => break Err(error.to_string()),
            }
        };
        let (state, error) = match outcome {
            Ok(state) => (state, None),
            Err(error) => (RedriveState::Failed, Some(error)),
        };
        job.state = state;
        job.error = error;
        job.finished_at_ms = Some(now_ms());
        self.update_redrive(&job);
        tracing::info!(queue = %job.queue, id = %job.id, state = state.name(), moved = job.moved, skipped = job.skipped, "redrive ended");
    }

    /// Runs a redrive to its end (see [`Broker::start_redrive`]); answers the job as it
    /// ended.
    #[cfg(test)]
    pub(crate) async fn redrive(
        &self,
        queue: &str,
        request: RedriveRequest,
    ) -> Result<RedriveJob, BrokerError> {
        let started = self.start_redrive(queue, request).await?;
        loop {
            let job = self.get_redrive(queue, &started.id)?;
            if job.state != RedriveState::Running {
                return Ok(job);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn update_redrive(&self, progress: &RedriveJob) {
        let mut jobs = self.redrives.lock().expect("redrive jobs lock");
        if let Some(job) = jobs.job_mut(&progress.queue, &progress.id) {
            job.view = progress.clone();
        }
    }

    /// A queue's recent redrive jobs, newest first.
    pub fn list_redrives(&self, queue: &str) -> Result<Vec<RedriveJob>, BrokerError> {
        self.queue(queue)?;
        let jobs = self.redrives.lock().expect("redrive jobs lock");
        Ok(jobs
            .by_queue
            .get(queue)
            .map(|kept| kept.iter().map(|job| job.view.clone()).collect())
            .unwrap_or_default())
    }

    /// One redrive job of `queue`.
    pub fn get_redrive(&self, queue: &str, id: &str) -> Result<RedriveJob, BrokerError> {
        self.queue(queue)?;
        let mut jobs = self.redrives.lock().expect("redrive jobs lock");
        jobs.job_mut(queue, id)
            .map(|job| job.view.clone())
            .ok_or_else(|| BrokerError::RedriveNotFound { id: id.to_string() })
    }

    /// Cancels a running redrive job: it stops before its next chunk. Answers the job as
    /// it is (still `running` until that chunk's turn comes; cancelling an ended job
    /// changes nothing).
    pub fn cancel_redrive(&self, queue: &str, id: &str) -> Result<RedriveJob, BrokerError> {
        self.queue(queue)?;
        let mut jobs = self.redrives.lock().expect("redrive jobs lock");
        let job = jobs
            .job_mut(queue, id)
            .ok_or_else(|| BrokerError::RedriveNotFound { id: id.to_string() })?;
        job.cancel.store(true, Ordering::Release);
        Ok(job.view.clone())
    }
}
