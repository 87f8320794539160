//! Write wasmdask tasks in Rust.
//!
//! A wasmdask task is a WebAssembly component whose root-level exported functions are the tasks.
//! This crate gives such a component what it may import from the host, typed:
//!
//! - [`cluster`]: fan-out — run calls of the component's own exports as separate tasks
//!   ([`cluster::submit`], [`cluster::map`], [`cluster::gather`], [`cluster::map_gather`]),
//!   with arguments and results converted by serde;
//! - [`log`]: structured logs kept with the execution;
//! - [`data`]: Flyte's files, directories, datasets, datetimes and durations
//!   (`wasmdask:task/data`), for task signatures, with helpers to read and write them as files;
//! - [`TaskError`] / [`ErrorKind`]: why a call failed.
//!
//! It also re-exports [`wit_bindgen`], [`serde`] and [`serde_json`] so a task crate depends on
//! this crate alone and always uses the wit-bindgen version the SDK was built with.
//!
//! # How the pieces fit
//!
//! The SDK generates the bindings of the `imports` world of `wit/wasmdask.wit` itself. Your crate
//! generates bindings only for its own world, which lists only its exports: when the component is
//! linked, `wasm-component-ld` merges the WIT type information that every crate embedded, so the
//! `wasmdask:task/cluster` and `wasmdask:task/log` imports appear in the component exactly when
//! your code calls into [`cluster`] or [`log`]. Your `wit/` folder therefore needs no copy of the
//! wasmdask WIT package. A world that takes or returns Flyte data `use`s the records of
//! `wasmdask:task/data` and reads the package from wasmdask's `wit/` (see [`data`]).
//!
//! # Example
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [package]
//! name = "my-tasks"
//! version = "0.1.0"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! wasmdask-guest = { path = "../wasmdask/guest-sdk" }
//!
//! [profile.release]
//! opt-level = "s"
//! lto = true
//! strip = true
//! codegen-units = 1
//! ```
//!
//! `wit/world.wit` (the task signatures; the host maps these types to Flyte types):
//!
//! ```wit
//! package my:tasks;
//!
//! world tasks {
//!     export square: func(x: u64) -> u64;
//!     export sum-of-squares: func(n: u32) -> result<u64, string>;
//! }
//! ```
//!
//! `src/lib.rs`:
//!
//! ```ignore
//! use wasmdask_guest::{cluster, log};
//!
//! wasmdask_guest::wit_bindgen::generate!({
//!     world: "tasks",
//!     path: "wit",
//!     // The generated code names the wit-bindgen runtime; point it at the SDK's re-export so
//!     // the task crate needs no direct wit-bindgen dependency.
//!     runtime_path: "wasmdask_guest::wit_bindgen::rt",
//! });
//!
//! struct Tasks;
//!
//! impl Guest for Tasks {
//!     fn square(x: u64) -> u64 {
//!         x * x
//!     }
//!
//!     fn sum_of_squares(n: u32) -> Result<u64, String> {
//!         log::info(format!("fanning out {n} calls"));
//!         // One task per element; `(x,)` is the positional argument list of `square`.
//!         let squares: Vec<u64> = cluster::map_gather("square", (1..=u64::from(n)).map(|x| (x,)))?;
//!         squares
//!             .into_iter()
//!             .try_fold(0u64, u64::checked_add)
//!             .ok_or_else(|| "the sum overflows u64".to_owned())
//!     }
//! }
//!
//! export!(Tasks);
//! ```
//!
//! Build and run:
//!
//! ```sh
//! cargo build --release --target wasm32-wasip2   # rustup target add wasm32-wasip2 once
//! wasmdask run target/wasm32-wasip2/release/my_tasks.wasm --function sum-of-squares -- n=100
//! ```
//!
//! A world that imports interfaces of *other* WIT packages (for example WASI interfaces by name)
//! additionally needs wit-bindgen's `generate_all` option (or a `with` entry per interface); a
//! world of plain exported functions does not.
//!
//! `examples/rust/` in the wasmdask repository is a complete task crate in this shape.
//!
//! # Outside a component
//!
//! The crate compiles for any target so a workspace can build, test and lint task code natively,
//! but the host functions exist only inside wasmdask: calling [`cluster`] or [`log`] functions in
//! a native program panics.

mod error;
mod numbers;

pub mod cluster;
pub mod data;
pub mod log;

pub use cluster::{Arg, Call};
pub use error::{ErrorKind, TaskError};
pub use serde;
pub use serde_json;
pub use wit_bindgen;

/// The generated bindings of the `imports` world. Private: the typed modules above are the API.
#[allow(unsafe_code, missing_debug_implementations, dead_code, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        world: "imports",
        path: "../wit",
    });
}

/// References the helper wit-bindgen generates next to the SDK's embedded WIT type section.
///
/// The component's `cluster`/`log` imports can only be typed if that section reaches the linker,
/// and a linker keeps an object file of a library only when one of its symbols is used. In the
/// builds we tried (release with LTO, debug without) the section survived anyway, but nothing
/// promises the section and the import wrappers share an object file; calling this helper from
/// every host call makes it so, at the cost of one empty call.
fn link_imports() {
    bindings::__link_custom_section_describing_imports();
}
