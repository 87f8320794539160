//! Kubernetes: pure functions that turn a task and its Dask spec into the objects an
//! unmodified Flyte backend and dask-kubernetes operator would create (contract §3–4), typed
//! with k8s-openapi. `wasmdask render` prints them; nothing here talks to a cluster.
//!
//! - `render` — the `DaskJob`, a standing `DaskCluster`, or the plain Pods + Service.
//! - [`crd`] — the operator's custom resources around k8s-openapi's `PodSpec`/`ServiceSpec`.
//! - `resources` — requests/limits per role and the worker's `--nthreads`/`--memory-limit`.
//! - `names` — DNS-1123 names and the operator's 53-character cluster-name limit.
//! - `token` — [`TokenSecret`]: the Secret every container reads `WASMDASK_TOKEN` from, in the
//!   rendered objects and in the pod template `serialize` gives a Flyte task.

#![warn(missing_docs, unreachable_pub)]

pub mod crd;
mod names;
mod render;
mod resources;
mod token;

#[cfg(test)]
mod golden_tests;

pub use names::{NameError, default_cluster_name};
pub use render::{List, Object, RenderError, RenderSpec, dask_cluster, dask_job, pods};
pub use token::{DEFAULT_TOKEN_SECRET, TokenSecret, TokenSecretError};
