//! The generated scheduler protocol (`proto/wasmdask/cluster.proto`) and conversions to the
//! library's own types.

#![allow(missing_docs, missing_debug_implementations, clippy::all)]

tonic::include_proto!("wasmdask.cluster.v1");

use super::guest_output::GuestOutput as LibOutput;
use crate::task_error::{ErrorKind, TaskError as LibError};

impl From<&LibError> for TaskError {
    fn from(e: &LibError) -> Self {
        TaskError {
            kind: e.kind.as_str().to_string(),
            message: e.message.clone(),
            detail: e.detail.clone().unwrap_or_default(),
        }
    }
}

impl From<TaskError> for LibError {
    fn from(e: TaskError) -> Self {
        let kind: ErrorKind = serde_json::from_value(serde_json::Value::String(e.kind.clone()))
            .unwrap_or(ErrorKind::Trap);
        LibError::new(kind, e.message).with_detail(e.detail)
    }
}

impl Result {
    pub fn from_outcome(key: u64, outcome: std::result::Result<String, LibError>) -> Self {
        Result {
            key,
            outcome: Some(match outcome {
                Ok(json) => result::Outcome::ValueJson(json),
                Err(e) => result::Outcome::Error((&e).into()),
            }),
            output: None,
        }
    }

    /// Attaches what the guest wrote (kept for failed tasks only, and only when there is some).
    pub fn with_output(mut self, output: LibOutput) -> Self {
        if matches!(self.outcome, Some(result::Outcome::Error(_))) && !output.is_empty() {
            self.output = Some(output.into());
        }
        self
    }

    pub fn into_outcome(self) -> std::result::Result<String, LibError> {
        match self.outcome {
            Some(result::Outcome::ValueJson(json)) => Ok(json),
            Some(result::Outcome::Error(e)) => Err(e.into()),
            None => Err(LibError::new(
                ErrorKind::Lost,
                "the scheduler sent an empty result",
            )),
        }
    }
}
