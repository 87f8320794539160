//! The pieces of `wasmdask execute`, the job runner of a Flyte `dask` task: the pyflyte-execute
//! contract (`inputs.pb` in, `outputs.pb` or `error.pb` out) for a component export.

use std::collections::HashMap;
use std::time::SystemTime;

use wasmtime::component::Val;

use super::idl::core::{
    ContainerError, ErrorDocument, LiteralMap, container_error, execution_error,
};
use super::interface::{OUTPUT_NAME, variable_name};
use super::literals::{json_to_literal, literal_to_json, stored_kind_mismatch};
use wasmdask_sandbox::TaskSig;
use wasmdask_sandbox::{ErrorKind, TaskError};
use wasmdask_values::{self as values, flyte_output_type};

/// The file the runner writes on success.
pub const OUTPUTS_FILE: &str = "outputs.pb";
/// The file the runner writes on failure.
pub const ERROR_FILE: &str = "error.pb";

/// A component reference `<uri>@sha256:<hex>` (the digest is optional for hand-written runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentRef {
    /// Where the component is.
    pub uri: String,
    /// `sha256:<hex>`, when the reference carries one.
    pub digest: Option<String>,
}

impl ComponentRef {
    /// Splits off a trailing `@sha256:<64 hex>`.
    pub fn parse(text: &str) -> Self {
        match text.rsplit_once("@sha256:") {
            Some((uri, hex)) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                ComponentRef {
                    uri: uri.to_string(),
                    digest: Some(format!("sha256:{}", hex.to_ascii_lowercase())),
                }
            }
            _ => ComponentRef {
                uri: text.to_string(),
                digest: None,
            },
        }
    }
}

/// A path argument as pyflyte-execute normalizes it: a template flytepropeller did not
/// substitute (`{{.prevCheckpointPrefix}}`) and an empty value (`""`, `'""'`) mean "absent".
pub fn normalize_path_arg(arg: Option<&str>) -> Option<String> {
    let arg = arg?.trim();
    let unsubstituted = arg.starts_with("{{") && arg.ends_with("}}");
    (!(arg.is_empty() || arg == "\"\"" || arg == "'\"\"'" || unsubstituted)).then(|| arg.into())
}

/// The arguments of `task` from an `inputs.pb` literal map, by Flyte variable name (the WIT
/// name in snake_case; the WIT name itself is accepted too).
///
/// # Errors
///
/// A [`ErrorKind::BadInput`] error naming the variable: missing (and not an `option`),
/// unknown, of a kind tasks cannot take, or not of the parameter's type.
pub fn args_from_inputs(inputs: &LiteralMap, task: &TaskSig) -> Result<Vec<Val>, TaskError> {
    let bad = |message: String| TaskError {
        kind: ErrorKind::BadInput,
        message,
        detail: None,
    };
    let mut remaining: HashMap<&str, _> = inputs
        .literals
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let mut args = Vec::with_capacity(task.params.len());
    for (name, ty) in &task.params {
        let flyte_name = variable_name(name);
        let literal = remaining
            .remove(flyte_name.as_str())
            .or_else(|| remaining.remove(name.as_str()));
        let json = match literal {
            Some(literal) => {
                if let Some(message) = stored_kind_mismatch(literal, &values::flyte_type(ty)) {
                    return Err(bad(format!("input `{flyte_name}`: {message}")));
                }
                literal_to_json(literal).map_err(|e| bad(format!("input `{flyte_name}`: {e}")))?
            }
            None if matches!(ty, wasmtime::component::Type::Option(_)) => serde_json::Value::Null,
            None => {
                return Err(bad(format!(
                    "input `{flyte_name}` is missing from inputs.pb (`{}` takes {})",
                    task.name,
                    values::wit_params(&task.params)
                )));
            }
        };
        let val = values::to_val(&json, ty).map_err(|e| {
            bad(format!(
                "input `{flyte_name}` does not fit `{}`: {e}",
                values::wit_type(ty)
            ))
        })?;
        args.push(val);
    }
    if let Some(extra) = remaining.keys().min() {
        return Err(bad(format!(
            "input `{extra}` is not a parameter of `{}` (it takes {})",
            task.name,
            values::wit_params(&task.params)
        )));
    }
    Ok(args)
}

/// The `outputs.pb` of a successful call: `o0` holds the result, or the map is empty for a
/// function without one.
///
/// # Errors
///
/// A [`ErrorKind::GuestError`] when the result has no Flyte literal (an integer beyond 64 bits).
pub fn outputs_from_result(result: Option<&Val>, task: &TaskSig) -> Result<LiteralMap, TaskError> {
    let mut outputs = LiteralMap::default();
    let ty = flyte_output_type(task.result.as_ref());
    if let (Some(val), false) = (result, ty == values::FlyteType::None) {
        let literal = json_to_literal(&values::from_val(val), &ty).map_err(|e| TaskError {
            kind: ErrorKind::GuestError,
            message: format!(
                "the result of `{}` cannot be a Flyte output: {e}",
                task.name
            ),
            detail: None,
        })?;
        outputs.literals.insert(OUTPUT_NAME.into(), literal);
    }
    Ok(outputs)
}

/// Who is to blame for a failure, as Flyte records it (`ContainerError.origin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The task's code or its inputs.
    User,
    /// The platform: storage, lost workers, the host.
    System,
}

/// The `error.pb` for a failure: `code` is `USER:<reason>` or `SYSTEM:<reason>` (`reason` is
/// the error kind of a task failure, or the platform's own reason, e.g. `storage`). `kind` is
/// RECOVERABLE when running again can help (timeouts, lost workers, storage hiccups) so Flyte
/// retries it, NON_RECOVERABLE otherwise.
pub fn error_document(
    origin: Origin,
    reason: &str,
    message: &str,
    recoverable: bool,
) -> ErrorDocument {
    let (prefix, origin) = match origin {
        Origin::User => ("USER", execution_error::ErrorKind::User),
        Origin::System => ("SYSTEM", execution_error::ErrorKind::System),
    };
    let worker = ["FLYTE_INTERNAL_WORKER_NAME", "_F_WN"]
        .iter()
        .find_map(|name| std::env::var(name).ok())
        .unwrap_or_default();
    ErrorDocument {
        error: Some(ContainerError {
            code: format!("{prefix}:{reason}"),
            message: message.to_string(),
            kind: if recoverable {
                container_error::Kind::Recoverable
            } else {
                container_error::Kind::NonRecoverable
            } as i32,
            origin: origin as i32,
            timestamp: Some(prost_types::Timestamp::from(SystemTime::now())),
            worker,
        }),
    }
}

/// The origin of a task failure: lost workers are the platform's, everything else the task's.
pub fn origin_of(kind: ErrorKind) -> Origin {
    match kind {
        ErrorKind::Lost => Origin::System,
        _ => Origin::User,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_refs_split_off_a_digest() {
        let hex = "ab".repeat(32);
        assert_eq!(
            ComponentRef::parse(&format!("s3://b/t.wasm@sha256:{hex}")),
            ComponentRef {
                uri: "s3://b/t.wasm".into(),
                digest: Some(format!("sha256:{hex}"))
            }
        );
        assert_eq!(ComponentRef::parse("/x/t.wasm").digest, None);
        assert_eq!(
            ComponentRef::parse("/x/t@sha256:short").uri,
            "/x/t@sha256:short"
        );
    }

    #[test]
    fn unsubstituted_and_empty_paths_are_absent() {
        for arg in ["{{.prevCheckpointPrefix}}", "", "\"\"", "'\"\"'", "  "] {
            assert_eq!(normalize_path_arg(Some(arg)), None, "{arg:?}");
        }
        assert_eq!(normalize_path_arg(None), None);
        assert_eq!(
            normalize_path_arg(Some("s3://b/cp")),
            Some("s3://b/cp".into())
        );
    }
}
