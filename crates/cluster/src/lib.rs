//! Where a guest's `cluster` fan-out goes: every implementation of the sandbox's
//! [`FanOut`](wasmdask_sandbox::FanOut) port.
//!
//! - `pool` — the thread pool with Dask-style secede/rejoin, shared by the embedded cluster
//!   and the workers; `local` — the embedded cluster of `wasmdask run`.
//! - `scheduler`, `worker`, `remote` — the distributed roles, speaking the gRPC protocol
//!   of `proto/wasmdask/cluster.proto` (`proto`); `auth` checks the shared token.
//! - `data`, `store` — the data plane: each worker keeps the results it made in a store that
//!   spills to disk, and serves them to the workers and owners that need them (`Data.Fetch`).
//! - [`address`] — scheduler addresses, the well-known ports and the environment variables.
//! - `activity`, `guest_output` — what workers report: per-execution metrics in their
//!   heartbeats, and a failed task's output with its error.

#![warn(missing_docs, unreachable_pub)]

mod activity;
pub mod address;
mod auth;
mod chunk;
mod data;
mod guest_output;
mod local;
mod pool;
mod proto;
mod remote;
mod scheduler;
mod store;
mod worker;

pub use guest_output::{FailedSubtasks, GuestOutput};
pub use local::LocalCluster;
pub use pool::Progress;
pub use remote::{RemoteCluster, RemoteError, Target};
pub use scheduler::{BoundScheduler, SchedulerConfig, TlsFiles};
pub use worker::{WorkerConfig, WorkerError, run as run_worker};
