//! The one error type every failed task execution ends in, wherever it ran.
//!
//! Its kinds mirror `wasmdask:task/types.error-kind` in `wit/wasmdask.wit`, so a guest that gathers
//! a failed subtask sees exactly what the CLI would print, and the Flyte runner can decide
//! recoverable vs. non-recoverable from the kind alone.
//!
//! [`ErrorKind::as_str`] is the one table of kind names: `Display`, `FromStr` and serde are written
//! in terms of it, so JSON, the CLI and the dashboard cannot drift apart. The WIT enum and the wire
//! enum (`ErrorKind` in `proto/wasmdask/cluster.proto`) are generated from their own definition
//! files; each converts through one exhaustive `match` (a new case there fails to compile here),
//! and tests hold their case names to this table.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// What went wrong, as a closed set the host can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// Every kind, in the order of `error-kind` in `wit/wasmdask.wit` (a test holds it to the
    /// WIT), for parsing names and for tests that must cover every kind.
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::BadInput,
        ErrorKind::GuestError,
        ErrorKind::Trap,
        ErrorKind::Timeout,
        ErrorKind::OutOfMemory,
        ErrorKind::StackOverflow,
        ErrorKind::OutputLimit,
        ErrorKind::Denied,
        ErrorKind::UnknownFunction,
        ErrorKind::InvalidComponent,
        ErrorKind::Lost,
    ];

    /// The kebab-case WIT name (`guest-error`, ...) used in JSON, the CLI and the dashboard: the
    /// only place the names are spelled on the host.
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

/// A name that is not one of [`ErrorKind::as_str`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown error kind `{0}`; expected one of: {names}", names = ErrorKind::ALL.map(ErrorKind::as_str).join(", "))]
pub struct UnknownErrorKind(pub String);

impl FromStr for ErrorKind {
    type Err = UnknownErrorKind;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        ErrorKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| UnknownErrorKind(name.to_string()))
    }
}

/// The kind's name as a string, exactly what `#[serde(rename_all = "kebab-case")]` would write.
impl Serialize for ErrorKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// A classified task failure: what happened, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct TaskError {
    /// What went wrong, as the host and guests act on it.
    pub kind: ErrorKind,
    /// One paragraph for a human: what happened and what to do next.
    pub message: String,
    /// Extra evidence, e.g. the wasm backtrace of a trap or the tail of the guest's stderr.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl TaskError {
    /// An error without detail.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        TaskError {
            kind,
            message: message.into(),
            detail: None,
        }
    }

    /// Adds evidence; a blank detail is none.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        self.detail = (!detail.trim().is_empty()).then_some(detail);
        self
    }

    /// The message followed by the detail (a backtrace, the guest's last words), if any.
    pub fn full_message(&self) -> String {
        match &self.detail {
            Some(detail) => format!("{}\n{detail}", self.message),
            None => self.message.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_name_and_json() {
        for kind in ErrorKind::ALL {
            assert_eq!(kind.as_str().parse::<ErrorKind>(), Ok(kind));
            assert_eq!(kind.to_string(), kind.as_str());
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<ErrorKind>(&json).unwrap(), kind);
        }
    }

    #[test]
    fn all_lists_each_kind_once_in_declaration_order() {
        for (i, kind) in ErrorKind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, i, "{kind} is out of place in ErrorKind::ALL");
        }
        assert_eq!(ErrorKind::Lost as usize + 1, ErrorKind::ALL.len());
    }

    #[test]
    fn unknown_names_are_errors_not_a_default_kind() {
        let error = "segfault".parse::<ErrorKind>().unwrap_err();
        assert_eq!(error, UnknownErrorKind("segfault".into()));
        assert!(error.to_string().contains("`segfault`"), "{error}");
        assert!(error.to_string().contains("bad-input"), "{error}");
        let json = serde_json::from_str::<ErrorKind>("\"BadInput\"").unwrap_err();
        assert!(json.to_string().contains("`BadInput`"), "{json}");
    }

    #[test]
    fn task_errors_keep_their_json_shape() {
        let error = TaskError::new(ErrorKind::OutOfMemory, "too big").with_detail("at f");
        let json = serde_json::to_value(&error).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "out-of-memory", "message": "too big", "detail": "at f"})
        );
        assert_eq!(serde_json::from_value::<TaskError>(json).unwrap(), error);
    }
}
