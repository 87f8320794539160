//! `wasmdask render`'s inputs: `key=value` arguments written as the `inputs.pb` Flyte would
//! write, so the runner reads them exactly as in a Flyte execution.

use crate::error::{RunError, SystemError};
use crate::storage::write_blocking;
use prost::Message;
use wasmdask_flyte::idl::core::LiteralMap;
use wasmdask_flyte::literals::inputs_from_vals;
use wasmdask_sandbox::TaskSig;
use wasmdask_values::ArgFile;

/// The `key=value` inputs of `task` as a `LiteralMap` keyed by the Flyte variable names;
/// `read` reads the `key=@FILE` values, as for
/// [`args_from_key_values`](wasmdask_values::args_from_key_values).
///
/// # Errors
///
/// [`RunError::Usage`] naming the parameter that does not parse or convert, or whose file
/// cannot be read.
pub fn inputs_map(
    task: &TaskSig,
    pairs: &[String],
    read: impl FnMut(ArgFile<'_>) -> std::io::Result<Vec<u8>>,
) -> Result<LiteralMap, RunError> {
    let vals = wasmdask_values::args_from_key_values(pairs, &task.params, read)
        .map_err(|e| RunError::Usage(format!("`{}`: {e}", task.name)))?;
    inputs_from_vals(&task.params, &vals).map_err(RunError::Usage)
}

/// Writes `inputs` to `uri` (a local path, `file://` or an object-store URI).
///
/// # Errors
///
/// The storage failure, naming the URI.
pub fn write_inputs(uri: &str, inputs: &LiteralMap) -> Result<(), SystemError> {
    let runtime = crate::runtime()?;
    write_blocking(&runtime, uri, inputs.encode_to_vec())
        .map_err(|e| SystemError::storage(&format!("cannot write the inputs to {uri}"), &e))
}
