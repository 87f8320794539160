//! The error a cluster call reports, as a plain Rust type.
//!
//! The generated WIT type lives in the hidden `bindings` module; this mirror is what task authors
//! match on, so the SDK's public API does not move when the bindings are regenerated. The
//! conversion below is an exhaustive `match`: a new WIT case makes the SDK fail to compile instead
//! of silently mislabelling errors.

use std::fmt;

use crate::bindings::wasmdask::task::types as wit;

/// Why a call failed; mirrors `error-kind` in `wit/wasmdask.wit`.
///
/// `#[non_exhaustive]` because the host may learn new ways to fail; match the kinds you handle and
/// keep a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The arguments did not match the export's parameter types, or a result did not match the
    /// Rust type it was gathered into.
    BadInput,
    /// The called task returned an `err` value.
    GuestError,
    /// The called task trapped (a panic, `unreachable`, an out-of-bounds access, ...).
    Trap,
    /// The wall-clock timeout expired.
    Timeout,
    /// The called task asked for more memory than its cap.
    OutOfMemory,
    /// The called task exhausted its wasm stack.
    StackOverflow,
    /// The called task wrote more to stdout/stderr than the capture bound.
    OutputLimit,
    /// The called task used a capability it was not granted (files, env, sockets).
    Denied,
    /// The function is not an export of this component.
    UnknownFunction,
    /// The component could not be loaded or instantiated.
    InvalidComponent,
    /// The worker running the call was lost too many times.
    Lost,
}

impl ErrorKind {
    /// The WIT name of the kind (`guest-error`, ...), the spelling the host prints, so messages
    /// written by a guest read the same as the host's own.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadInput => "bad-input",
            Self::GuestError => "guest-error",
            Self::Trap => "trap",
            Self::Timeout => "timeout",
            Self::OutOfMemory => "out-of-memory",
            Self::StackOverflow => "stack-overflow",
            Self::OutputLimit => "output-limit",
            Self::Denied => "denied",
            Self::UnknownFunction => "unknown-function",
            Self::InvalidComponent => "invalid-component",
            Self::Lost => "lost",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<wit::ErrorKind> for ErrorKind {
    fn from(kind: wit::ErrorKind) -> Self {
        match kind {
            wit::ErrorKind::BadInput => Self::BadInput,
            wit::ErrorKind::GuestError => Self::GuestError,
            wit::ErrorKind::Trap => Self::Trap,
            wit::ErrorKind::Timeout => Self::Timeout,
            wit::ErrorKind::OutOfMemory => Self::OutOfMemory,
            wit::ErrorKind::StackOverflow => Self::StackOverflow,
            wit::ErrorKind::OutputLimit => Self::OutputLimit,
            wit::ErrorKind::Denied => Self::Denied,
            wit::ErrorKind::UnknownFunction => Self::UnknownFunction,
            wit::ErrorKind::InvalidComponent => Self::InvalidComponent,
            wit::ErrorKind::Lost => Self::Lost,
        }
    }
}

/// A failed cluster call: what kind of failure, and the host's (or the child task's) message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    /// The classified kind, for deciding what to do (retry, skip, fail).
    pub kind: ErrorKind,
    /// A human-readable message that says what happened.
    pub message: String,
}

impl TaskError {
    /// Builds an error; useful in tests and for reporting a guest-side check that failed.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl From<wit::TaskError> for TaskError {
    fn from(error: wit::TaskError) -> Self {
        Self {
            kind: error.kind.into(),
            message: error.message,
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for TaskError {}

/// Lets `?` turn a [`TaskError`] into the `string` error of an export returning
/// `result<T, string>`, the most common task signature, keeping the kind in the text.
impl From<TaskError> for String {
    fn from(error: TaskError) -> Self {
        error.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The case names of `enum error-kind` in the WIT file, in order.
    fn wit_error_kinds() -> Vec<String> {
        let wit = include_str!("../../wit/wasmdask.wit");
        let start = wit
            .find("enum error-kind {")
            .expect("the WIT declares error-kind");
        let body = &wit[start..];
        let body = &body[body.find('{').unwrap() + 1..body.find('}').unwrap()];
        body.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with("//"))
            .map(|line| line.trim_end_matches(',').to_string())
            .collect()
    }

    /// The SDK's mirror keeps the WIT spelling and order: the generated enum converts through the
    /// exhaustive `match` above, and `as_str` must print what the host prints.
    #[test]
    fn kinds_mirror_the_wit_enum() {
        let wit = [
            wit::ErrorKind::BadInput,
            wit::ErrorKind::GuestError,
            wit::ErrorKind::Trap,
            wit::ErrorKind::Timeout,
            wit::ErrorKind::OutOfMemory,
            wit::ErrorKind::StackOverflow,
            wit::ErrorKind::OutputLimit,
            wit::ErrorKind::Denied,
            wit::ErrorKind::UnknownFunction,
            wit::ErrorKind::InvalidComponent,
            wit::ErrorKind::Lost,
        ];
        let names = wit_error_kinds();
        assert_eq!(
            names.len(),
            wit.len(),
            "a WIT case is missing here: {names:?}"
        );
        for (i, (kind, name)) in wit.into_iter().zip(&names).enumerate() {
            assert_eq!(kind as usize, i, "{name}");
            assert_eq!(ErrorKind::from(kind).as_str(), name);
        }
    }
}
