//! The use cases of wasmdask, between the command line and the layers below.
//!
//! The CLI maps its arguments to the configurations here and the outcomes back to exit codes;
//! everything a command *does* lives in this crate:
//!
//! - [`task`] — load a component, pick the export, run the root call on its own big-stack
//!   thread ([`task::run_root`]).
//! - [`fanout`] — where a run's fan-out goes: an embedded cluster, a remote scheduler, or a
//!   scheduler and worker processes started on loopback ([`fanout::ClusterChoice`]); the
//!   [`fanout::ClusterGuard`] keeps it alive for the run.
//! - [`execute`] — the Flyte job runner (`wasmdask execute`: the pyflyte-execute contract,
//!   `inputs.pb` → `outputs.pb` or `error.pb`).
//! - [`inputs`] — `key=value` arguments as the `inputs.pb` Flyte would write (`wasmdask render`);
//!   [`local_data`] — file, directory and dataset arguments given as local paths there and to
//!   `wasmdask run`.
//! - [`data`] — files, directories and datasets (`wasmdask:task/data`): inputs fetched once
//!   per process and mounted per execution ([`data::StorePort`]), outputs uploaded
//!   ([`data::Outputs`]); [`root_data`] — the port, mounts and `/outputs` of one root call;
//!   [`offload`] — offloaded literals, read and written as flytekit does.
//! - [`storage`] — the URIs those files live at, behind the [`storage::Storage`] trait.
//! - [`error`] — [`RunError`] and the [`SystemError`] of the platform around a task, which is
//!   never labelled with a task-error kind.

#![warn(missing_docs, unreachable_pub)]

pub mod data;
pub mod error;
pub mod execute;
pub mod fanout;
pub mod inputs;
pub mod local_data;
pub mod offload;
pub mod root_data;
pub mod storage;
pub mod task;

pub use error::{RunError, SystemError};

/// The async runtime of the networked work (storage, the remote session): small, since the
/// tasks themselves run on sandbox threads.
pub fn runtime() -> Result<tokio::runtime::Runtime, SystemError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| SystemError::host(format!("cannot start the async runtime: {e}")))
}
