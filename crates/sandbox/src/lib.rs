//! The sandbox: the only crate that runs wasmtime.
//!
//! One [`Sandbox`] per process owns the `Engine`, the `Linker` (deny-by-default WASI p2 plus the
//! `wasmdask:task` imports), the compiled-component cache and registry. Every call of a task
//! export runs in a fresh `Store` with its own [`Limits`] (epoch timeout, memory and table caps,
//! wasm stack, bounded stdout/stderr) and [`Grants`], and ends in an [`ExecReport`] whose failure,
//! if any, is classified into a [`TaskError`]. How a failure reads depends on the language the
//! component was written in: its [`GuestRuntime`], detected once from its metadata at load.
//!
//! A guest's `cluster` imports go to the [`FanOut`] port, which this crate defines and the
//! cluster crate implements.

#![warn(missing_docs, unreachable_pub)]

mod cache;
mod classify;
mod component;
mod data;
mod engine;
mod exception;
mod exec;
mod fanout;
mod grants;
mod guest_runtime;
mod host;
#[cfg(test)]
mod isolation_tests;
mod lazy;
mod limits;
mod output;
mod overflow;
mod pending;
mod task_error;
mod typed_call;

pub use cache::default_cache_dir;
pub use component::{LoadError, LoadedComponent, TaskSig, digest_of};
pub use data::{DataPort, INPUTS_DIR, LazyFiles, Mount, OUTPUTS_DIR};
pub use engine::{Sandbox, SandboxConfig, SandboxError};
pub use exec::ExecReport;
pub use fanout::{Arg, Call, FanOut, Input, Pending, input_failed};
pub use grants::{Denial, DirGrant, Grants};
pub use guest_runtime::GuestRuntime;
pub use host::LogLine;
pub use limits::Limits;
pub use pending::Fetch;
pub use task_error::{ErrorKind, TaskError, UnknownErrorKind};
/// The arguments [`Sandbox::execute_encoded`] takes.
pub use wasmdask_values::ArgValue;
