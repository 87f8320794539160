//! A one-shot result slot shared by whoever runs a call and whoever waits for it.

use crate::task_error::{ErrorKind, TaskError};
use bytes::Bytes;
use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::time::Instant;

/// The eventual result (or task error) of one submitted call: its output value in the binary
/// encoding ([`TaskSig::encode_output`](crate::TaskSig::encode_output)), shared, not copied, by
/// everyone who waits for it.
#[derive(Debug, Clone, Default)]
pub struct Pending(Arc<Slot>);

#[derive(Debug, Default)]
struct Slot {
    result: Mutex<Option<Result<Bytes, TaskError>>>,
    ready: Condvar,
}

impl Pending {
    /// An empty slot.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fills the slot; the first result wins.
    pub fn complete(&self, result: Result<Bytes, TaskError>) {
        let mut slot = self.0.result.lock();
        if slot.is_none() {
            *slot = Some(result);
            self.0.ready.notify_all();
        }
    }

    /// Whether the result is there.
    pub fn is_done(&self) -> bool {
        self.0.result.lock().is_some()
    }

    /// Blocks until the result is there or `deadline` passes (then a `timeout` error).
    pub fn wait(&self, deadline: Instant) -> Result<Bytes, TaskError> {
        let mut slot = self.0.result.lock();
        loop {
            if let Some(result) = slot.as_ref() {
                return result.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(TaskError::new(
                    ErrorKind::Timeout,
                    "the subtask did not finish before the calling task's timeout; raise \
                     --timeout or split the work into smaller calls",
                ));
            }
            self.0.ready.wait_until(&mut slot, deadline);
        }
    }
}
