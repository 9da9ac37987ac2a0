//! A disk that fails: the first failed commit stops the writer for good, every later write
//! is refused at once (redb takes none after an I/O error), and the health says why. The
//! same disk can hold its syncs, so tests keep a write in flight as long as they need.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use redb::{Database, StorageBackend};

use super::power_loss_tests::{publish, queue};
use super::*;

/// An in-memory disk whose syncs fail while `broken` is set, and wait while its `valve`
/// is closed.
#[derive(Debug, Clone, Default)]
pub(crate) struct FailingBackend {
    bytes: Arc<Mutex<Vec<u8>>>,
    /// Set: every sync fails.
    pub(crate) broken: Arc<AtomicBool>,
    /// Closed: every sync waits until it opens.
    pub(crate) valve: Arc<Valve>,
}

/// Holds syncs while closed.
#[derive(Debug, Default)]
pub(crate) struct Valve {
    /// Closed, and how many syncs it holds.
    state: Mutex<(bool, usize)>,
    changed: Condvar,
}

/// Holds the valve closed until dropped (also when a failed assertion unwinds, so the
/// writer is not left stuck).
pub(crate) struct Closed<'a>(&'a Valve);

impl Drop for Closed<'_> {
    fn drop(&mut self) {
        self.0.state.lock().unwrap().0 = false;
        self.0.changed.notify_all();
    }
}

impl Valve {
    /// Closes the valve until the answer is dropped.
    pub(crate) fn closed(&self) -> Closed<'_> {
        self.state.lock().unwrap().0 = true;
        Closed(self)
    }

    /// Waits (blocking) until a sync is held.
    pub(crate) fn wait_until_held(&self) {
        let mut state = self.state.lock().unwrap();
        while state.1 == 0 {
            state = self.changed.wait(state).unwrap();
        }
    }

    fn pass(&self) {
        let mut state = self.state.lock().unwrap();
        state.1 += 1;
        self.changed.notify_all();
        while state.0 {
            state = self.changed.wait(state).unwrap();
        }
        state.1 -= 1;
    }
}

impl FailingBackend {
    /// Storage on this disk.
    pub(crate) fn open(&self) -> (Storage, Recovered) {
        self.open_with(BacklogLimits::default())
    }

    /// Storage on this disk whose writer's backlog is bounded by `limits`.
    pub(crate) fn open_with(&self, limits: BacklogLimits) -> (Storage, Recovered) {
        let db = Database::builder()
            .create_with_backend(self.clone())
            .expect("the disk opens");
        Storage::with_limits(db, 64, limits).expect("storage opens")
    }

    /// Waits, off the async threads, until the valve holds a sync.
    pub(crate) async fn held(&self) {
        let valve = self.valve.clone();
        tokio::task::spawn_blocking(move || valve.wait_until_held())
            .await
            .unwrap();
    }
}

impl StorageBackend for FailingBackend {
    fn len(&self) -> Result<u64, std::io::Error> {
        Ok(self.bytes.lock().unwrap().len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        let bytes = self.bytes.lock().unwrap();
        let start = offset as usize;
        let end = start + out.len();
        if end > bytes.len() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "read past the end",
            ));
        }
        out.copy_from_slice(&bytes[start..end]);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.bytes.lock().unwrap().resize(len as usize, 0);
        Ok(())
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.valve.pass();
        if self.broken.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("the disk is gone"));
        }
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        let mut bytes = self.bytes.lock().unwrap();
        let start = offset as usize;
        if bytes.len() < start + data.len() {
            bytes.resize(start + data.len(), 0);
        }
        bytes[start..start + data.len()].copy_from_slice(data);
        Ok(())
    }
}

#[tokio::test]
async fn the_first_failed_commit_stops_the_writer_and_every_later_write_is_refused() {
    let backend = FailingBackend::default();
    let (storage, _) = backend.open();
    storage.write(vec![Op::PutQueue(queue(1))]).await.unwrap();
    storage.write(vec![publish(1 << 80, &[1])]).await.unwrap();
    assert!(storage.health().failure().is_none());

    backend.broken.store(true, Ordering::SeqCst);
    let failed = storage
        .write(vec![publish(2 << 80, &[1])])
        .await
        .unwrap_err();
    assert!(failed.is_io(), "{failed}");
    let reason = storage
        .health()
        .failure()
        .expect("the writer says it failed");
    assert!(reason.contains("the disk is gone"), "{reason}");
    assert_eq!(storage.health().failed().await, reason);

    // The disk comes back, but redb must not be trusted again without a restart.
    backend.broken.store(false, Ordering::SeqCst);
    for n in 3..6 {
        let refused = storage
            .write(vec![publish(n << 80, &[1])])
            .await
            .unwrap_err();
        assert!(
            matches!(refused, StorageError::WriterFailed { .. }),
            "{refused}"
        );
    }
    storage.close();
}
