//! Flyte compatibility: a wasmdask task is a Flyte `dask` task that an unmodified Flyte backend
//! runs with its Dask plugin.
//!
//! - [`dask`] — the `Dask(scheduler=…, workers=…)` spec of flytekitplugins-dask, read from a
//!   file, validated as flytekit does, and turned into the `DaskJob` proto ([`quantity`] checks
//!   its resource quantities).
//! - [`idl`] — the flyteidl subset in `proto/flyteidl/` (prost) and its proto3-JSON form.
//! - [`interface`], [`literals`] — a component export's Flyte interface, and Flyte literals ⇄
//!   component values.
//! - [`template`] — the TaskTemplate `wasmdask serialize` writes.
//! - [`execute`] — the pieces of `wasmdask execute`, the job runner (the pyflyte-execute
//!   contract: `inputs.pb` → `outputs.pb` or `error.pb`), and [`storage`] for the URIs it reads
//!   and writes (local, `file://`, `s3://`).

pub mod dask;
pub mod execute;
pub mod idl;
pub mod interface;
pub mod literals;
pub mod quantity;
pub mod storage;
pub mod template;

pub use dask::{ConfigError, Dask, Resources};
pub use quantity::Quantity;
