//! Flyte compatibility: a wasmdask task is a Flyte `dask` task that an unmodified Flyte backend
//! runs with its Dask plugin.
//!
//! - [`Dask`] — the `Dask(scheduler=…, workers=…)` spec of flytekitplugins-dask, read from a
//!   file, validated as flytekit does, and turned into the `DaskJob` proto ([`Quantity`] checks
//!   its resource quantities).
//! - [`idl`] — the flyteidl subset in `proto/flyteidl/` (prost) and its proto3-JSON form.
//! - `interface`, [`literals`] — a component export's Flyte interface, and Flyte literals ⇄
//!   component values.
//! - [`template`] — the TaskTemplate `wasmdask serialize` writes, and [`pod_template`], the
//!   flytekit `PodTemplate` that can become its target (how a Secret reaches every pod).
//! - [`execute`] — the pieces of the pyflyte-execute contract (`inputs.pb` → `outputs.pb` or
//!   `error.pb`) that the job runner (`wasmdask-runner`) puts together.

#![warn(missing_docs, unreachable_pub)]

mod dask;
pub mod execute;
pub mod idl;
mod interface;
pub mod literals;
pub mod pod_template;
mod quantity;
pub mod template;

pub use dask::{ConfigError, Dask, Resources};

/// The Flyte `TypedInterface` of a task export (what `serialize` writes and `execute` honours).
pub fn typed_interface_of(task: &wasmdask_sandbox::TaskSig) -> idl::core::TypedInterface {
    interface::typed_interface(task)
}
pub use quantity::Quantity;
