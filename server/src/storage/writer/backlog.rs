//! What waits for the writer: requests submitted and not yet taken into a group commit, and
//! the bytes they hold. A request's write is refused at once past either bound (the caller
//! answers `503 overloaded`), so a flood costs bounded memory and the writes already
//! queued keep their latency.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::super::StorageError;

/// Bounds of the writer's backlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BacklogLimits {
    /// Requests waiting, at most.
    pub max_requests: usize,
    /// Bytes they hold (payloads, texts, about 64 per op), at most; a single write larger
    /// than this is taken when nothing else waits.
    pub max_bytes: usize,
}

impl Default for BacklogLimits {
    fn default() -> Self {
        Self {
            max_requests: 65_536,
            max_bytes: 256 << 20,
        }
    }
}

#[derive(Debug)]
pub(super) struct Backlog {
    limits: BacklogLimits,
    requests: AtomicUsize,
    bytes: AtomicUsize,
}

impl Backlog {
    pub(super) fn new(limits: BacklogLimits) -> Self {
        Self {
            limits,
            requests: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
        }
    }

    /// Counts a request of `bytes` in, or (with `shed`) refuses it past the bounds.
    /// Called under the writer's sender lock, so admissions do not race each other.
    pub(super) fn admit(&self, bytes: usize, shed: bool) -> Result<(), StorageError> {
        let requests = self.requests.load(Ordering::Acquire);
        let queued = self.bytes.load(Ordering::Acquire);
        let full = requests >= self.limits.max_requests
            || (queued > 0 && queued.saturating_add(bytes) > self.limits.max_bytes);
        if shed && full {
            return Err(StorageError::Overloaded {
                requests,
                bytes: queued,
            });
        }
        self.requests.fetch_add(1, Ordering::AcqRel);
        self.bytes.fetch_add(bytes, Ordering::AcqRel);
        Ok(())
    }

    /// `requests` holding `bytes` left the backlog.
    pub(super) fn release(&self, requests: usize, bytes: usize) {
        self.requests.fetch_sub(requests, Ordering::AcqRel);
        self.bytes.fetch_sub(bytes, Ordering::AcqRel);
    }
}
