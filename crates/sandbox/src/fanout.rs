//! The port a guest's `cluster` imports go to.
//!
//! The sandbox validates each call against the component's export types, hands it to a
//! [`FanOut`], and later waits on the [`Pending`] results. The sandbox defines this trait and
//! never implements it: the embedded cluster, the remote client and the worker do
//! (`wasmdask-cluster`), so the dependency runs one way.

use crate::component::LoadedComponent;
use crate::task_error::TaskError;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::Val;

pub use crate::pending::Pending;

/// One call of a component export, already checked against the export's parameter types.
#[derive(Debug, Clone)]
pub struct Call {
    /// The component whose export is called.
    pub component: Arc<LoadedComponent>,
    /// The export's canonical (WIT) name.
    pub function: String,
    /// The arguments, checked against the export's parameter types. Executors in other
    /// processes send them in the binary value encoding (`wasmdask_values::encode_args`).
    pub args: Vec<Val>,
    /// How deep in the fan-out tree the call sits: the calls of a root task are depth 1, theirs
    /// depth 2, … Schedulers run deeper calls first, so a tree finishes the branches it started
    /// before it starts new ones and the parents waiting in `gather` stay few.
    pub depth: u32,
}

/// Where a guest's fan-out runs: each call in its own sandbox, its result returned in the binary
/// value encoding.
pub trait FanOut: Send + Sync + std::fmt::Debug {
    /// Queues the calls, in order.
    fn submit(&self, calls: Vec<Call>) -> Result<Vec<Pending>, TaskError>;

    /// Waits for each call until `deadline`. A fan-out whose callers occupy its own worker
    /// slots overrides this to lend the slot out while waiting (Dask's `secede`/`rejoin`), so
    /// nested fan-out cannot deadlock.
    fn gather(&self, pending: &[Pending], deadline: Instant) -> Vec<Result<Bytes, TaskError>> {
        pending.iter().map(|p| p.wait(deadline)).collect()
    }
}
