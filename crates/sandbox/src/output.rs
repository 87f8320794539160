//! Bounded capture of a guest's stdout/stderr.
//!
//! A guest that prints without end must not fill the host's memory or disk. The first
//! `limit` bytes are kept; the write that would exceed the bound traps the guest with
//! [`OutputLimitExceeded`], which the classifier turns into an `output-limit` task error.

use bytes::Bytes;
use parking_lot::Mutex;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// The trap raised when a guest writes more than the capture bound.
#[derive(Debug, thiserror::Error)]
#[error("the task wrote more than {limit} bytes to {stream}")]
pub(crate) struct OutputLimitExceeded {
    /// `stdout` or `stderr`.
    pub stream: &'static str,
    /// The bound, in bytes.
    pub limit: usize,
}

/// A cloneable handle to one captured stream: the guest writes through one clone, the host
/// reads the bytes through another after the call.
#[derive(Debug, Clone)]
pub(crate) struct BoundedOutput {
    name: &'static str,
    limit: usize,
    buffer: Arc<Mutex<Vec<u8>>>,
}

impl BoundedOutput {
    pub(crate) fn new(name: &'static str, limit: usize) -> Self {
        BoundedOutput {
            name,
            limit,
            buffer: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Everything captured so far.
    pub(crate) fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.buffer.lock())
    }

    /// Appends what fits; reports whether everything fit.
    fn append(&self, bytes: &[u8]) -> bool {
        let mut buffer = self.buffer.lock();
        let room = self.limit.saturating_sub(buffer.len());
        buffer.extend_from_slice(&bytes[..bytes.len().min(room)]);
        bytes.len() <= room
    }

    fn exceeded(&self) -> StreamError {
        StreamError::Trap(
            OutputLimitExceeded {
                stream: self.name,
                limit: self.limit,
            }
            .into(),
        )
    }
}

impl IsTerminal for BoundedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for BoundedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for BoundedOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for BoundedOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        if self.append(&bytes) {
            Ok(())
        } else {
            Err(self.exceeded())
        }
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        // Permit generous writes; the write that crosses the bound traps.
        Ok(1 << 20)
    }
}

impl AsyncWrite for BoundedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.append(buf) {
            Poll::Ready(Ok(buf.len()))
        } else {
            Poll::Ready(Err(std::io::Error::other(OutputLimitExceeded {
                stream: self.name,
                limit: self.limit,
            })))
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
