//! The scheduler protocol (`proto/wasmdask/cluster.proto`): the generated types, re-exported as
//! `wasmdask_cluster::proto::*`, and every conversion between them and the library's own types.
//!
//! The conversions live here, outside the generated module, so that the wire vocabulary has one
//! place to read and to review; the generated code keeps its lint exemptions to itself.

/// What `tonic-prost-build` generates from `cluster.proto` (see `build.rs`).
#[allow(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    clippy::all
)]
mod generated {
    tonic::include_proto!("wasmdask.cluster.v1");
}

pub(crate) use generated::*;

use crate::guest_output::GuestOutput as LibOutput;
use bytes::Bytes;
use wasmdask_sandbox::{ErrorKind as LibKind, LogLine as LibLogLine, TaskError as LibError};

/// Something a peer sent that this build cannot read. The scheduler, its workers and its clients
/// are meant to run one wasmdask version; these arise when they do not (or from a buggy peer), and
/// say so instead of guessing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error(
        "the peer sent an unknown error kind {0} (a newer wasmdask has more kinds than this one); \
         upgrade so that the scheduler, the workers and the clients run the same wasmdask version"
    )]
    UnknownErrorKind(i32),
    #[error(
        "the peer sent a task error without a kind (ERROR_KIND_UNSPECIFIED); run the same \
         wasmdask version on the scheduler, the workers and the clients"
    )]
    UnspecifiedErrorKind,
    #[error(
        "the peer sent a result with neither a value nor an error; run the same wasmdask version \
         on the scheduler, the workers and the clients"
    )]
    EmptyResult,
}

/// A task whose result could not be read fails with `invalid-component`: it ran, but this
/// process cannot say how it ended. Not `lost` (that is recoverable: retrying cannot fix a version
/// mismatch) and not `trap` (nothing says the guest trapped); the message names the problem and
/// the fix, and the CLI and the Flyte runner treat it as a non-retryable setup failure.
impl From<ProtocolError> for LibError {
    fn from(error: ProtocolError) -> Self {
        LibError::new(LibKind::InvalidComponent, error.to_string())
    }
}

impl From<LibKind> for ErrorKind {
    fn from(kind: LibKind) -> Self {
        match kind {
            LibKind::BadInput => ErrorKind::BadInput,
            LibKind::GuestError => ErrorKind::GuestError,
            LibKind::Trap => ErrorKind::Trap,
            LibKind::Timeout => ErrorKind::Timeout,
            LibKind::OutOfMemory => ErrorKind::OutOfMemory,
            LibKind::StackOverflow => ErrorKind::StackOverflow,
            LibKind::OutputLimit => ErrorKind::OutputLimit,
            LibKind::Denied => ErrorKind::Denied,
            LibKind::UnknownFunction => ErrorKind::UnknownFunction,
            LibKind::InvalidComponent => ErrorKind::InvalidComponent,
            LibKind::Lost => ErrorKind::Lost,
        }
    }
}

impl TryFrom<ErrorKind> for LibKind {
    type Error = ProtocolError;

    fn try_from(kind: ErrorKind) -> std::result::Result<Self, ProtocolError> {
        Ok(match kind {
            ErrorKind::Unspecified => return Err(ProtocolError::UnspecifiedErrorKind),
            ErrorKind::BadInput => LibKind::BadInput,
            ErrorKind::GuestError => LibKind::GuestError,
            ErrorKind::Trap => LibKind::Trap,
            ErrorKind::Timeout => LibKind::Timeout,
            ErrorKind::OutOfMemory => LibKind::OutOfMemory,
            ErrorKind::StackOverflow => LibKind::StackOverflow,
            ErrorKind::OutputLimit => LibKind::OutputLimit,
            ErrorKind::Denied => LibKind::Denied,
            ErrorKind::UnknownFunction => LibKind::UnknownFunction,
            ErrorKind::InvalidComponent => LibKind::InvalidComponent,
            ErrorKind::Lost => LibKind::Lost,
        })
    }
}

impl TaskError {
    /// The kind as the library knows it. prost keeps an enum field as the raw `i32` the peer sent
    /// (its generated `kind()` reads an unknown value as `Unspecified`), so this is where an
    /// unknown value is caught, by number.
    pub fn checked_kind(&self) -> std::result::Result<LibKind, ProtocolError> {
        ErrorKind::try_from(self.kind)
            .map_err(|_| ProtocolError::UnknownErrorKind(self.kind))?
            .try_into()
    }

    /// The kind's name for records and metrics (the dashboard's recent errors): an unknown value
    /// from a newer worker is still shown, by number, rather than dropped.
    pub fn kind_name(&self) -> String {
        match self.checked_kind() {
            Ok(kind) => kind.as_str().to_string(),
            Err(_) => format!("unknown-{}", self.kind),
        }
    }
}

impl From<&LibError> for TaskError {
    fn from(e: &LibError) -> Self {
        TaskError {
            kind: ErrorKind::from(e.kind).into(),
            message: e.message.clone(),
            detail: e.detail.clone().unwrap_or_default(),
        }
    }
}

/// The receiving side: never fails and never panics. A kind this build cannot read becomes the
/// [`ProtocolError`] as the task's error, with the peer's own words kept as its detail.
impl From<TaskError> for LibError {
    fn from(e: TaskError) -> Self {
        match e.checked_kind() {
            Ok(kind) => LibError::new(kind, e.message).with_detail(e.detail),
            Err(protocol) => {
                let mut words = format!("the peer's message: {}", e.message);
                if !e.detail.is_empty() {
                    words.push('\n');
                    words.push_str(&e.detail);
                }
                LibError::from(protocol).with_detail(words)
            }
        }
    }
}

impl Result {
    pub(crate) fn from_outcome(key: u64, outcome: std::result::Result<Bytes, LibError>) -> Self {
        Result {
            key,
            outcome: Some(match outcome {
                Ok(value) => result::Outcome::Value(value),
                Err(e) => result::Outcome::Error((&e).into()),
            }),
            output: None,
            more: false,
            missing: Vec::new(),
        }
    }

    /// Attaches what the guest wrote (kept for failed tasks only, and only when there is some).
    pub(crate) fn with_output(mut self, output: LibOutput) -> Self {
        if matches!(self.outcome, Some(result::Outcome::Error(_))) && !output.is_empty() {
            self.output = Some(output.into());
        }
        self
    }

    pub(crate) fn into_outcome(self) -> std::result::Result<Bytes, LibError> {
        match self.outcome {
            Some(result::Outcome::Value(value)) => Ok(value),
            Some(result::Outcome::Error(e)) => Err(e.into()),
            None => Err(ProtocolError::EmptyResult.into()),
            // Only a worker's own notice says "held"; the scheduler tells owners where to fetch
            // it, and `Outstanding` handles that before asking for a value.
            Some(result::Outcome::Held(_)) => Err(ProtocolError::EmptyResult.into()),
        }
    }
}

impl From<LibOutput> for GuestOutput {
    fn from(o: LibOutput) -> Self {
        GuestOutput {
            stdout: o.stdout,
            stderr: o.stderr,
            logs: o
                .logs
                .into_iter()
                .map(|l| LogLine {
                    level: l.level,
                    message: l.message,
                })
                .collect(),
            truncated: o.truncated,
        }
    }
}

impl From<GuestOutput> for LibOutput {
    fn from(o: GuestOutput) -> Self {
        LibOutput {
            stdout: o.stdout,
            stderr: o.stderr,
            logs: o
                .logs
                .into_iter()
                .map(|l| LibLogLine {
                    level: l.level,
                    message: l.message,
                })
                .collect(),
            truncated: o.truncated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire_error(kind: i32) -> TaskError {
        TaskError {
            kind,
            message: "it broke".into(),
            detail: "at f".into(),
        }
    }

    #[test]
    fn every_kind_round_trips_through_the_wire_enum() {
        for kind in LibKind::ALL {
            let wire = ErrorKind::from(kind);
            assert_ne!(wire, ErrorKind::Unspecified, "{kind}");
            assert_eq!(LibKind::try_from(wire), Ok(kind));
            // The proto names follow the WIT names: `bad-input` is `ERROR_KIND_BAD_INPUT`.
            let expected = format!("ERROR_KIND_{}", kind.as_str().replace('-', "_"));
            assert_eq!(wire.as_str_name(), expected.to_uppercase());
        }
    }

    #[test]
    fn every_task_error_round_trips_through_the_wire() {
        for kind in LibKind::ALL {
            let error = LibError::new(kind, format!("{kind} happened")).with_detail("why");
            let wire = TaskError::from(&error);
            assert_eq!(wire.checked_kind(), Ok(kind));
            assert_eq!(wire.kind_name(), kind.as_str());
            assert_eq!(LibError::from(wire), error);
            let result = Result::from_outcome(7, Err(error.clone()));
            assert_eq!(result.into_outcome(), Err(error));
        }
    }

    #[test]
    fn an_unknown_wire_kind_is_an_error_naming_it() {
        let wire = wire_error(42);
        assert_eq!(
            wire.checked_kind(),
            Err(ProtocolError::UnknownErrorKind(42))
        );
        assert_eq!(wire.kind_name(), "unknown-42");

        let error = LibError::from(wire);
        assert_eq!(error.kind, LibKind::InvalidComponent);
        assert!(error.message.contains("unknown error kind 42"), "{error}");
        assert!(error.message.contains("upgrade"), "{error}");
        assert_eq!(
            error.detail.as_deref(),
            Some("the peer's message: it broke\nat f")
        );
    }

    #[test]
    fn an_unspecified_wire_kind_is_an_error() {
        let wire = wire_error(ErrorKind::Unspecified.into());
        assert_eq!(
            wire.checked_kind(),
            Err(ProtocolError::UnspecifiedErrorKind)
        );
        assert_eq!(
            LibKind::try_from(ErrorKind::Unspecified),
            Err(ProtocolError::UnspecifiedErrorKind)
        );
        let error = LibError::from(wire);
        assert_eq!(error.kind, LibKind::InvalidComponent);
        assert!(error.message.contains("without a kind"), "{error}");
    }

    #[test]
    fn unreadable_results_fail_the_task_not_the_receiver() {
        let empty = Result {
            key: 1,
            outcome: None,
            output: None,
            more: false,
            missing: Vec::new(),
        };
        let error = empty.into_outcome().unwrap_err();
        assert_eq!(error.kind, LibKind::InvalidComponent);
        assert!(
            error.message.contains("neither a value nor an error"),
            "{error}"
        );

        let unknown = Result {
            key: 2,
            outcome: Some(result::Outcome::Error(wire_error(-3))),
            output: None,
            more: false,
            missing: Vec::new(),
        };
        let error = unknown.into_outcome().unwrap_err();
        assert!(error.message.contains("unknown error kind -3"), "{error}");
    }

    #[test]
    fn a_decoded_message_keeps_an_unknown_kind_by_number() {
        use prost::Message;
        // What a newer peer would send: kind 12 does not exist in this build.
        let bytes = wire_error(12).encode_to_vec();
        let decoded = TaskError::decode(bytes.as_slice()).unwrap();
        assert_eq!(decoded.kind, 12);
        assert_eq!(
            decoded.checked_kind(),
            Err(ProtocolError::UnknownErrorKind(12))
        );
    }

    #[test]
    fn guest_output_round_trips() {
        let output = LibOutput {
            stdout: b"out".to_vec(),
            stderr: b"err".to_vec(),
            logs: vec![LibLogLine {
                level: "info".into(),
                message: "hi".into(),
            }],
            truncated: true,
        };
        assert_eq!(LibOutput::from(GuestOutput::from(output.clone())), output);
    }
}
