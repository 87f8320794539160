//! The one error type every failed task execution ends in, wherever it ran.
//!
//! Its kinds mirror `wasmdask:task/types.error-kind` in `wit/wasmdask.wit`, so a guest that gathers
//! a failed subtask sees exactly what the CLI would print, and the Flyte runner can decide
//! recoverable vs. non-recoverable from the kind alone.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What went wrong, as a closed set the host can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The arguments did not match the export's parameter types.
    BadInput,
    /// The task returned an `err` value.
    GuestError,
    /// The guest trapped (panic, `unreachable`, out-of-bounds access, ...).
    Trap,
    /// The wall-clock timeout expired.
    Timeout,
    /// The guest asked for more memory or table space than its cap.
    OutOfMemory,
    /// The guest exhausted its wasm stack.
    StackOverflow,
    /// The guest wrote more to stdout/stderr than the capture bound.
    OutputLimit,
    /// The guest used a capability it was not granted.
    Denied,
    /// The function is not an export of the component.
    UnknownFunction,
    /// The component could not be loaded or instantiated.
    InvalidComponent,
    /// The worker running the task was lost too many times.
    Lost,
}

impl ErrorKind {
    /// The kebab-case name used in WIT, JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadInput => "bad-input",
            ErrorKind::GuestError => "guest-error",
            ErrorKind::Trap => "trap",
            ErrorKind::Timeout => "timeout",
            ErrorKind::OutOfMemory => "out-of-memory",
            ErrorKind::StackOverflow => "stack-overflow",
            ErrorKind::OutputLimit => "output-limit",
            ErrorKind::Denied => "denied",
            ErrorKind::UnknownFunction => "unknown-function",
            ErrorKind::InvalidComponent => "invalid-component",
            ErrorKind::Lost => "lost",
        }
    }

    /// Whether running the same call again could succeed. Deterministic guest failures are not
    /// retried anywhere (unlike Dask's KilledWorker, a bad task never burns through workers).
    pub fn is_recoverable(self) -> bool {
        matches!(self, ErrorKind::Timeout | ErrorKind::Lost)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A classified task failure: what happened, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct TaskError {
    pub kind: ErrorKind,
    /// One paragraph for a human: what happened and what to do next.
    pub message: String,
    /// Extra evidence, e.g. the wasm backtrace of a trap or the tail of the guest's stderr.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl TaskError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        TaskError {
            kind,
            message: message.into(),
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        self.detail = (!detail.trim().is_empty()).then_some(detail);
        self
    }
}
