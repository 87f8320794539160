//! How a use case fails: the task failed (a classified [`TaskError`]), or the platform around it
//! did ([`SystemError`]), or the request itself was wrong.

use crate::storage::StorageError;
use wasmdask_sandbox::TaskError;

/// A failure of the platform around a task: storage, host setup, the scheduler. It has its own
/// reason code (Flyte's `SYSTEM:<reason>`) and is never labelled with a task-error kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SystemError {
    /// Flyte's reason code after `SYSTEM:` (`storage`, `host`, `digest-mismatch`, ...).
    pub reason: &'static str,
    /// What failed, naming the URI, address or resource.
    pub message: String,
    /// Whether running again could help (a storage hiccup, a scheduler still starting).
    pub recoverable: bool,
}

impl SystemError {
    /// The host itself could not do its part (threads, runtime, sandbox setup).
    pub fn host(message: impl Into<String>) -> Self {
        SystemError {
            reason: "host",
            message: message.into(),
            recoverable: true,
        }
    }

    /// A storage failure: a missing object will stay missing, anything else may be transient.
    pub fn storage(what: &str, e: &StorageError) -> Self {
        SystemError {
            reason: "storage",
            message: format!("{what}: {e}"),
            recoverable: e.is_transient(),
        }
    }
}

/// Why a use case did not produce its result.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The request was wrong (arguments, flags, configuration files).
    #[error("{0}")]
    Usage(String),
    /// The component cannot be used: unreadable, not a component, no such function.
    #[error("{0}")]
    Component(String),
    /// The platform around the task failed.
    #[error(transparent)]
    System(#[from] SystemError),
    /// The task ran and failed.
    #[error("the task failed [{}]: {}", .0.kind, .0.message)]
    Task(TaskError),
}
