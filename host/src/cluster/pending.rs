//! A one-shot result slot shared by whoever runs a call and whoever waits for it.

use crate::task_error::{ErrorKind, TaskError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// The eventual JSON result (or task error) of one submitted call.
#[derive(Debug, Clone, Default)]
pub struct Pending(Arc<Slot>);

#[derive(Debug, Default)]
struct Slot {
    result: Mutex<Option<Result<String, TaskError>>>,
    ready: Condvar,
}

impl Pending {
    pub fn new() -> Self {
        Self::default()
    }

    /// Fills the slot; the first result wins.
    pub fn complete(&self, result: Result<String, TaskError>) {
        let mut slot = self.0.result.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(result);
            self.0.ready.notify_all();
        }
    }

    pub fn is_done(&self) -> bool {
        self.0
            .result
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Blocks until the result is there or `deadline` passes (then a `timeout` error).
    pub fn wait(&self, deadline: Instant) -> Result<String, TaskError> {
        let mut slot = self.0.result.lock().unwrap_or_else(|e| e.into_inner());
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
            slot = self
                .0
                .ready
                .wait_timeout(slot, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}
