//! A plugin's stdout and stderr: kept in memory up to a cap, and past it discarded and
//! counted, so a chatty plugin neither grows the host's memory nor fails because a pipe
//! filled up (wasmtime's own memory pipe refuses writes once full, which traps the guest).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// How much a single write may offer at once; any amount is taken.
const WRITE_PERMIT: usize = 64 << 10;

#[derive(Default)]
struct Captured {
    kept: Vec<u8>,
    dropped: u64,
}

/// An output stream that keeps its first `capacity` bytes and drops the rest.
#[derive(Clone)]
pub(super) struct CappedPipe {
    capacity: usize,
    captured: Arc<Mutex<Captured>>,
}

impl CappedPipe {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            captured: Arc::default(),
        }
    }

    /// What was kept, and how many bytes were dropped.
    pub(super) fn contents(&self) -> (Vec<u8>, u64) {
        let captured = self.captured.lock().expect("pipe lock");
        (captured.kept.clone(), captured.dropped)
    }

    fn take(&self, bytes: &[u8]) {
        let mut captured = self.captured.lock().expect("pipe lock");
        let room = self.capacity.saturating_sub(captured.kept.len());
        let kept = bytes.len().min(room);
        captured.kept.extend_from_slice(&bytes[..kept]);
        captured.dropped += (bytes.len() - kept) as u64;
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CappedPipe {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.take(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CappedPipe {
    async fn ready(&mut self) {}
}

impl AsyncWrite for CappedPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.take(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for CappedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_bytes_and_counts_the_rest() {
        let mut pipe = CappedPipe::new(10);
        for _ in 0..4 {
            assert_eq!(pipe.check_write().unwrap(), WRITE_PERMIT);
            pipe.write(Bytes::from_static(b"abcd")).unwrap();
        }
        assert_eq!(pipe.contents(), (b"abcdabcdab".to_vec(), 6));
    }
}
