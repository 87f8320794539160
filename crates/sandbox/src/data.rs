//! The port through which an execution's file, directory and dataset arguments become files the
//! guest can read (`wasmdask:task/data`).
//!
//! The sandbox decides *what* a guest may see: nothing but the inputs of that one call, each
//! read-only, and a fresh `/outputs` directory when the export returns stored data. *Where* the
//! bytes come from (an object store, a cache of earlier fetches, a local path) is the business
//! of whoever implements [`DataPort`] (the runner, which owns storage), so the dependency runs
//! one way, as for [`FanOut`](crate::FanOut).

use crate::component::TaskSig;
use crate::grants::DirGrant;
use crate::task_error::TaskError;
use wasmtime::component::Val;

/// Where an execution's stored-data arguments are mounted: `/inputs/0`, `/inputs/1`, ...
pub const INPUTS_DIR: &str = "/inputs";
/// Where an execution writes the files, directories and datasets it returns.
pub const OUTPUTS_DIR: &str = "/outputs";

/// Makes the stored-data arguments of one call available as local directories.
pub trait DataPort: Send + Sync + std::fmt::Debug {
    /// Fetches (or finds in the cache) every file, directory and dataset value among `args`
    /// (the arguments of `task`), sets each value's path field to where the guest will see it,
    /// and returns the read-only directories to mount for exactly these values.
    ///
    /// # Errors
    ///
    /// A `bad-input` error naming the URI when an object does not exist or is of the wrong
    /// kind; a `lost` error (retried by the scheduler) when the store failed.
    fn mount_inputs(&self, task: &TaskSig, args: &mut [Val]) -> Result<Vec<DirGrant>, TaskError>;
}
