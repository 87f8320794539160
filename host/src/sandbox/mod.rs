//! The sandbox: the only module that touches wasmtime.
//!
//! One [`Sandbox`] per process owns the `Engine`, the `Linker` (deny-by-default WASI p2 plus the
//! `wasmdask:task` imports), the compiled-component cache and registry. Every call of a task
//! export runs in a fresh `Store` with its own [`Limits`] (epoch timeout, memory and table caps,
//! wasm stack, bounded stdout/stderr) and [`Grants`], and ends in an [`ExecReport`] whose failure,
//! if any, is classified into a [`crate::TaskError`].

mod cache;
mod classify;
mod component;
mod engine;
mod exception;
mod exec;
mod grants;
mod host;
mod limits;
mod output;

pub use cache::default_cache_dir;
pub use classify::human_bytes;
pub use component::{LoadError, LoadedComponent, TaskSig, digest_of};
pub use engine::{Sandbox, SandboxConfig, SandboxError};
pub use exec::ExecReport;
pub use grants::{Denial, DirGrant, Grants};
pub use host::LogLine;
pub use limits::Limits;
pub use output::OutputLimitExceeded;
