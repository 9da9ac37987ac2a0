//! A write submitted to the writer thread: its number in apply order, and its answer once
//! durable; [`PendingWrite::then`] finishes the caller's work even if the caller goes away.

use super::{OpOutcome, StorageError};

type Answer = tokio::sync::oneshot::Receiver<Result<Vec<OpOutcome>, StorageError>>;

/// A submitted write; [`PendingWrite::wait`] resolves once it is durable.
#[must_use = "a write is acknowledged only once `wait` says it is durable"]
pub struct PendingWrite {
    sequence: u64,
    /// Where the answer arrives, or why the write was refused without being queued.
    answer: Result<Answer, StorageError>,
}

impl PendingWrite {
    pub(super) fn new(sequence: u64, receiver: Answer) -> Self {
        Self {
            sequence,
            answer: Ok(receiver),
        }
    }

    /// A write refused at once, numbered as the last write queued before it (it is
    /// applied nowhere, and every write queued after it has a higher number).
    pub(super) fn refused(sequence: u64, error: StorageError) -> Self {
        Self {
            sequence,
            answer: Err(error),
        }
    }

    /// This write's number: writes are applied in the order of their numbers (1, 2, ..),
    /// so a write with a higher number sees the effects of every lower one.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Waits for the group commit that carries this write, then runs `finish` on its
    /// result, and returns what `finish` returns. If the caller stops waiting (the future
    /// is dropped: a client went away, a timeout), `finish` still runs, in a task of its
    /// own, once the write is done: a committed change always reaches memory.
    pub async fn then<T, F>(self, finish: F) -> T
    where
        F: FnOnce(Result<Vec<OpOutcome>, StorageError>) -> T + Send + 'static,
        T: Send + 'static,
    {
        let mut guard = Completion {
            pending: Some(self),
            finish: Some(finish),
        };
        let receiver = guard.pending.as_mut().map(|p| &mut p.answer);
        let result = match receiver {
            Some(Ok(receiver)) => receiver.await.unwrap_or(Err(StorageError::WriterStopped)),
            _ => match guard.pending.take().map(|p| p.answer) {
                Some(Err(error)) => Err(error),
                _ => Err(StorageError::WriterStopped),
            },
        };
        guard.pending = None;
        let finish = guard.finish.take().expect("finished once");
        finish(result)
    }

    /// Waits for the group commit that carries this write.
    pub async fn wait(self) -> Result<Vec<OpOutcome>, StorageError> {
        self.answer?
            .await
            .map_err(|_| StorageError::WriterStopped)?
    }
}

/// Carries out [`PendingWrite::then`]'s `finish` in a task when its future is dropped.
struct Completion<T, F>
where
    F: FnOnce(Result<Vec<OpOutcome>, StorageError>) -> T + Send + 'static,
    T: Send + 'static,
{
    pending: Option<PendingWrite>,
    finish: Option<F>,
}

impl<T, F> Drop for Completion<T, F>
where
    F: FnOnce(Result<Vec<OpOutcome>, StorageError>) -> T + Send + 'static,
    T: Send + 'static,
{
    fn drop(&mut self) {
        let (Some(pending), Some(finish)) = (self.pending.take(), self.finish.take()) else {
            return;
        };
        // Without a runtime (the process is ending) there is no memory left to update.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                finish(pending.wait().await);
            });
        }
    }
}
