//! A write submitted to the writer thread: its number in apply order, and its answer once
//! durable; [`PendingWrite::then`] finishes the caller's work even if the caller goes away.

use super::{OpOutcome, StorageError};

/// A submitted write; [`PendingWrite::wait`] resolves once it is durable.
#[must_use = "a write is acknowledged only once `wait` says it is durable"]
pub struct PendingWrite {
    sequence: u64,
    receiver: Option<tokio::sync::oneshot::Receiver<Result<Vec<OpOutcome>, StorageError>>>,
}

impl PendingWrite {
    pub(super) fn new(
        sequence: u64,
        receiver: tokio::sync::oneshot::Receiver<Result<Vec<OpOutcome>, StorageError>>,
    ) -> Self {
        Self {
            sequence,
            receiver: Some(receiver),
        }
    }

    pub(super) fn stopped() -> Self {
        Self {
            sequence: 0,
            receiver: None,
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
        let result = match guard.pending.as_mut().and_then(|p| p.receiver.as_mut()) {
            Some(receiver) => receiver.await.unwrap_or(Err(StorageError::WriterStopped)),
            None => Err(StorageError::WriterStopped),
        };
        guard.pending = None;
        let finish = guard.finish.take().expect("finished once");
        finish(result)
    }

    /// Waits for the group commit that carries this write.
    pub async fn wait(self) -> Result<Vec<OpOutcome>, StorageError> {
        let receiver = self.receiver.ok_or(StorageError::WriterStopped)?;
        receiver.await.map_err(|_| StorageError::WriterStopped)?
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
