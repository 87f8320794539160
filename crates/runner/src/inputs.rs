//! `wasmdask render`'s inputs: `key=value` arguments written as the `inputs.pb` Flyte would
//! write, so the runner reads them exactly as in a Flyte execution.

use crate::error::{RunError, SystemError};
use crate::local_data::{resolve_local_paths, upload_local_data};
use crate::storage::{Location, write_blocking};
use prost::Message;
use wasmdask_flyte::literals::inputs_from_vals;
use wasmdask_sandbox::TaskSig;
use wasmdask_values::ArgFile;
use wasmtime::component::Val;

/// The `key=value` inputs of a task, checked and waiting to be written ([`Inputs::write`]).
#[derive(Debug)]
pub struct Inputs {
    task: TaskSig,
    vals: Vec<Val>,
}

/// Reads the `key=value` inputs of `task`; `read` reads the `key=@FILE` values, as for
/// [`args_from_key_values`](wasmdask_values::args_from_key_values). Local paths of files,
/// directories and datasets are checked here, before anything is written.
///
/// # Errors
///
/// [`RunError::Usage`] naming the parameter that does not parse or convert, whose file
/// cannot be read, or whose local path is missing or of the wrong kind.
pub fn parse_inputs(
    task: &TaskSig,
    pairs: &[String],
    read: impl FnMut(ArgFile<'_>) -> std::io::Result<Vec<u8>>,
) -> Result<Inputs, RunError> {
    let mut vals = wasmdask_values::args_from_key_values(pairs, &task.params, read)
        .map_err(|e| RunError::Usage(format!("`{}`: {e}", task.name)))?;
    resolve_local_paths(task, &mut vals)?;
    // Converting now reports a value Flyte cannot hold before anything is copied.
    inputs_from_vals(&task.params, &vals).map_err(RunError::Usage)?;
    Ok(Inputs {
        task: task.clone(),
        vals,
    })
}

impl Inputs {
    /// Copies local data to `<data_prefix>/inputs/<random>/<name>` (where the runner and the
    /// workers can fetch it), then writes the inputs as a `LiteralMap` to `uri` (a local path,
    /// `file://` or an object-store URI).
    ///
    /// # Errors
    ///
    /// The storage failure, naming the URI.
    pub fn write(mut self, uri: &str, data_prefix: &str) -> Result<(), RunError> {
        let runtime = crate::runtime()?;
        upload_local_data(&runtime, &self.task, &mut self.vals, data_prefix).map_err(|e| {
            SystemError::host(format!(
                "cannot copy the local inputs under {}: {e}",
                Location::join(data_prefix, "inputs")
            ))
        })?;
        let map = inputs_from_vals(&self.task.params, &self.vals).map_err(RunError::Usage)?;
        write_blocking(&runtime, uri, map.encode_to_vec())
            .map_err(|e| SystemError::storage(&format!("cannot write the inputs to {uri}"), &e))?;
        Ok(())
    }
}
