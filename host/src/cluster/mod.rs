//! Where a guest's `cluster` fan-out goes.
//!
//! The sandbox only knows the [`Cluster`] trait: it validates each call against the component's
//! export types, hands it over, and later waits on the [`Pending`] results. [`local`] is the
//! embedded cluster of worker threads used by `wasmdask run`; a remote client implements the
//! same trait.

pub mod activity;
mod auth;
pub mod guest_output;
pub mod local;
mod pending;
pub mod pool;
pub mod proto;
pub mod remote;
pub mod scheduler;
pub mod worker;

pub use guest_output::{FailedSubtasks, GuestOutput};
pub use local::LocalCluster;
pub use pending::Pending;
pub use pool::{Pool, Progress};

use crate::sandbox::LoadedComponent;
use crate::task_error::TaskError;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::Val;

/// One call of a component export, already checked against the export's parameter types.
#[derive(Debug, Clone)]
pub struct Call {
    pub component: Arc<LoadedComponent>,
    /// The export's canonical (WIT) name.
    pub function: String,
    /// The arguments as parsed, for executors in this process.
    pub args: Vec<Val>,
    /// The arguments in the documented JSON encoding, for executors elsewhere.
    pub args_json: String,
}

/// A cluster that runs calls, each in its own sandbox, and returns JSON results.
pub trait Cluster: Send + Sync {
    /// Queues the calls, in order.
    fn submit(&self, calls: Vec<Call>) -> Result<Vec<Pending>, TaskError>;

    /// Waits for each call until `deadline`. A cluster whose callers occupy its own worker
    /// slots overrides this to lend the slot out while waiting (Dask's `secede`/`rejoin`), so
    /// nested fan-out cannot deadlock.
    fn gather(&self, pending: &[Pending], deadline: Instant) -> Vec<Result<String, TaskError>> {
        pending.iter().map(|p| p.wait(deadline)).collect()
    }
}
