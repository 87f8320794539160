//! The port through which an execution's file, directory and dataset arguments become files the
//! guest can read (`wasmdask:task/data`).
//!
//! The sandbox decides *what* a guest may see: nothing but the inputs of that one call, each
//! read-only, and a fresh `/outputs` directory when the export returns stored data. *Where* the
//! bytes come from (an object store, a cache of earlier fetches, a local path) is the business
//! of whoever implements [`DataPort`] (the runner, which owns storage), so the dependency runs
//! one way, as for [`FanOut`](crate::FanOut).
//!
//! A directory input may be [lazy](LazyFiles): its mount holds every name of the listing from
//! the start, but a file's bytes are fetched only when the guest first opens or stats it
//! (`crate::lazy` watches those calls). A task that only lists a directory of 1,000 shards and
//! fans out over them then downloads none, and each subtask only its own shard.

use crate::component::TaskSig;
use crate::grants::DirGrant;
use crate::task_error::TaskError;
use std::sync::Arc;
use wasmtime::component::Val;

/// Where an execution's stored-data arguments are mounted: `/inputs/0`, `/inputs/1`, ...
pub const INPUTS_DIR: &str = "/inputs";
/// Where an execution writes the files, directories and datasets it returns.
pub const OUTPUTS_DIR: &str = "/outputs";

/// Makes the stored-data arguments of one call available as local directories.
pub trait DataPort: Send + Sync + std::fmt::Debug {
    /// Fetches (or finds in the cache) every file value among `args` (the arguments of
    /// `task`) and lists every directory and dataset value, sets each value's path field to
    /// where the guest will see it, and returns the read-only directories to mount for exactly
    /// these values (a directory's files fetched when first used).
    ///
    /// # Errors
    ///
    /// A `bad-input` error naming the URI when an object does not exist or is of the wrong
    /// kind; a `lost` error (retried by the scheduler) when the store failed.
    fn mount_inputs(&self, task: &TaskSig, args: &mut [Val]) -> Result<Vec<Mount>, TaskError>;
}

/// A directory only one execution sees: one of its data inputs, or its `/outputs`.
#[derive(Debug, Clone)]
pub struct Mount {
    /// The host directory and where the guest sees it.
    pub grant: DirGrant,
    /// Who puts a file's bytes in place when the guest first reaches for it; `None` when every
    /// file under the directory is complete already.
    pub lazy: Option<Arc<dyn LazyFiles>>,
}

impl From<DirGrant> for Mount {
    fn from(grant: DirGrant) -> Self {
        Mount { grant, lazy: None }
    }
}

/// The files of a mounted directory whose bytes arrive on first use. The directory holds every
/// file and subdirectory from the start (so listing it reads nothing), each file empty until
/// [`fetch`](Self::fetch) fills it; the sandbox calls `fetch` before the guest opens or stats
/// a path under the mount, so the guest never sees an unfilled file.
pub trait LazyFiles: Send + Sync + std::fmt::Debug {
    /// Fills the file at `path` (relative to the mount: `/`-separated, no `.`, `..` or empty
    /// parts; `""` is the mount itself) if it is one of the mount's files and not yet filled;
    /// a path that names a directory or nothing is left alone (the open that follows finds
    /// it or reports it missing). Safe to call from many executions at once: each file is
    /// filled once.
    ///
    /// # Errors
    ///
    /// `bad-input` naming the URI when the object is gone from the store; `lost` when the
    /// store failed (the execution fails with it).
    fn fetch(&self, path: &str) -> Result<(), TaskError>;
}
