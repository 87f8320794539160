//! wasmdask: run Flyte Dask tasks written as WebAssembly components, every execution in its own
//! sandbox.
//!
//! The map of the crate (see `DESIGN.md` at the repository root for the whole picture):
//!
//! - [`sandbox`] — the only module that touches wasmtime: one engine per process, compiled
//!   components cached by digest, a fresh store per execution with limits and deny-by-default
//!   WASI, and every failure classified into a [`TaskError`].
//! - [`values`] — component values ⇄ JSON (the encoding used across `cluster` calls and by the
//!   CLI), WIT type names and their Flyte literal types.
//! - [`cluster`] — where a guest's fan-out goes: the [`cluster::Cluster`] trait, the thread
//!   [`cluster::Pool`] (with Dask-style secede), the embedded [`cluster::LocalCluster`], and the
//!   distributed roles: [`cluster::scheduler`], [`cluster::worker`] and the [`cluster::remote`]
//!   client, speaking the gRPC protocol of `proto/` ([`cluster::proto`]). Observability:
//!   workers aggregate per-execution metrics ([`cluster::activity`]) into their heartbeats, a
//!   failed task's output travels with its error ([`cluster::guest_output`]), and the scheduler
//!   serves the live dashboard and Prometheus `/metrics` on its dashboard port.
//! - [`cli`] — argument parsing → validated configuration → calls into the library, including
//!   the translation of Dask's `dask-scheduler`/`dask-worker` command lines
//!   ([`cli::dask_compat`]); `main.rs` only maps the outcome to an exit code. `wasmdask build`
//!   (Rust, Python, JavaScript or C sources → component) is the `wasmdask-build` crate
//!   (`builder/`), shared with the test-guest build script.
//! - [`flyte`] — Flyte compatibility: the Dask spec, the flyteidl subset, `serialize`'s
//!   TaskTemplate and the `execute` job-runner contract (`inputs.pb` → `outputs.pb`/`error.pb`).
//! - [`k8s`] — `wasmdask render`: the `DaskJob` (or `DaskCluster`, or plain Pods) the Flyte
//!   backend and the dask-kubernetes operator would create, typed with k8s-openapi.
//! - [`task_error`] — the classified failure every execution can end in.

pub mod cli;
pub mod cluster;
pub mod flyte;
pub mod k8s;
pub mod sandbox;
pub mod task_error;
pub mod values;

pub use task_error::{ErrorKind, TaskError};
