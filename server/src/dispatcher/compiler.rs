//! When compiling may run: a few compiles at once, each on a thread of its own that holds its
//! permit until the compile is over. A request (an upload, an activation) waits a bounded
//! time for a permit, behind a bounded number of others, and for its compile; past either
//! bound it gives up waiting, answers, and the compile it started (which cannot be
//! interrupted) finishes in the background, still holding its permit, so that abandoned
//! compiles never add to the ones running. The upload caps bound how long one can take; a
//! shutdown does not wait for it (the thread is not the async runtime's).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::DispatcherError;

/// How long compiling may run, and how many wait for it.
#[derive(Debug, Clone, Copy)]
pub(super) struct CompileLimits {
    /// Compiles at once.
    pub(super) permits: usize,
    /// Requests waiting for a permit; more are refused at once.
    pub(super) max_waiting: usize,
    /// How long a request waits for a permit.
    pub(super) wait: Duration,
    /// How long a request waits for its compile.
    pub(super) time: Duration,
}

impl Default for CompileLimits {
    /// Two at once, and a request answered within the API's 30 s request timeout: at most
    /// 8 s in line, then at most 20 s compiling.
    fn default() -> Self {
        Self {
            permits: 2,
            max_waiting: 16,
            wait: Duration::from_secs(8),
            time: Duration::from_secs(20),
        }
    }
}

/// Who is waiting for a compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Waiter {
    /// A request, answered within the [`CompileLimits`].
    Request,
    /// The start's compiles of active versions: they wait their turn and their compile.
    Start,
}

/// The permits to compile.
pub(super) struct CompileGate {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    limits: CompileLimits,
}

impl CompileGate {
    pub(super) fn new(limits: CompileLimits) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limits.permits)),
            waiting: AtomicUsize::new(0),
            limits,
        }
    }

    /// Runs `compile` on a thread of its own once a permit is free.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        waiter: Waiter,
        compile: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, DispatcherError> {
        let permit = match waiter {
            Waiter::Request => self.queue().await?,
            Waiter::Start => self
                .permits
                .clone()
                .acquire_owned()
                .await
                .expect("never closed"),
        };
        let (done, compiling) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("switchyard-compile".into())
            .spawn(move || {
                // Nobody hears the answer when the request gave up; the permit goes back.
                let _ = done.send(compile());
                drop(permit);
            })
            .map_err(|_| DispatcherError::CompileBusy)?;
        let finished = match waiter {
            Waiter::Request => tokio::time::timeout(self.limits.time, compiling)
                .await
                .map_err(|_| DispatcherError::CompileTimeout {
                    limit_secs: self.limits.time.as_secs(),
                })?,
            Waiter::Start => compiling.await,
        };
        Ok(finished.expect("compiling does not panic"))
    }

    /// A permit for a request, within the bounds on waiting.
    async fn queue(&self) -> Result<OwnedSemaphorePermit, DispatcherError> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let max = self.limits.max_waiting;
        self.waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|_| DispatcherError::CompileBusy)?;
        let _in_line = InLine(&self.waiting);
        tokio::time::timeout(self.limits.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| DispatcherError::CompileBusy)
            .map(|permit| permit.expect("never closed"))
    }
}

/// One request waiting for a permit (counted until it has one or gives up).
struct InLine<'a>(&'a AtomicUsize);

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    fn gate(max_waiting: usize, time: Duration) -> Arc<CompileGate> {
        Arc::new(CompileGate::new(CompileLimits {
            permits: 2,
            max_waiting,
            wait: Duration::from_secs(30),
            time,
        }))
    }

    /// Starts a compile on `gate` that runs until `release` is sent to; says when it starts.
    fn hold(
        gate: &Arc<CompileGate>,
        started: &tokio::sync::mpsc::UnboundedSender<()>,
    ) -> (
        mpsc::Sender<()>,
        tokio::task::JoinHandle<Result<(), DispatcherError>>,
    ) {
        let (release, wait) = mpsc::channel::<()>();
        let (gate, started) = (gate.clone(), started.clone());
        let task = tokio::spawn(async move {
            gate.run(Waiter::Request, move || {
                started.send(()).unwrap();
                let _ = wait.recv();
            })
            .await
        });
        (release, task)
    }

    async fn waiting_is(gate: &CompileGate, count: usize) {
        while gate.waiting.load(Ordering::Acquire) != count {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn two_compile_at_once_and_the_next_starts_when_one_ends() {
        let gate = gate(4, Duration::from_secs(30));
        let (started, mut starts) = tokio::sync::mpsc::unbounded_channel();
        let (first, first_task) = hold(&gate, &started);
        let (_second, _second_task) = hold(&gate, &started);
        starts.recv().await;
        starts.recv().await;
        let (third, third_task) = hold(&gate, &started);
        waiting_is(&gate, 1).await;
        assert!(starts.try_recv().is_err(), "a third compile started");
        first.send(()).unwrap();
        first_task.await.unwrap().unwrap();
        starts.recv().await;
        third.send(()).unwrap();
        third_task.await.unwrap().unwrap();
        assert_eq!(gate.waiting.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn a_request_past_the_line_is_refused_at_once() {
        let gate = gate(1, Duration::from_secs(30));
        let (started, mut starts) = tokio::sync::mpsc::unbounded_channel();
        let held: Vec<_> = (0..2).map(|_| hold(&gate, &started)).collect();
        starts.recv().await;
        starts.recv().await;
        let (_waiting, _waiting_task) = hold(&gate, &started);
        waiting_is(&gate, 1).await;
        let refused = gate.run(Waiter::Request, || ()).await;
        assert!(
            matches!(refused, Err(DispatcherError::CompileBusy)),
            "{refused:?}"
        );
        drop(held);
    }

    #[tokio::test]
    async fn a_compile_past_its_time_is_abandoned_but_keeps_its_permit() {
        let gate = gate(4, Duration::from_millis(1));
        let (started, mut starts) = tokio::sync::mpsc::unbounded_channel();
        let (release, task) = hold(&gate, &started);
        starts.recv().await;
        let abandoned = task.await.unwrap();
        assert!(
            matches!(abandoned, Err(DispatcherError::CompileTimeout { .. })),
            "{abandoned:?}"
        );
        assert_eq!(gate.permits.available_permits(), 1, "it still compiles");
        release.send(()).unwrap();
        let _ = gate.permits.acquire_many(2).await.unwrap();
    }
}
