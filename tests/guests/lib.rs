//! The test guests: real WebAssembly components, built from source by `build.rs` while this crate
//! builds, exposed as absolute paths to their `.wasm` files.
//!
//! Each constant is one crate of `programs/` (a nested workspace, one crate per guest, each with
//! its own `wit/world.wit` saying what it exports and why), plus [`EXAMPLE_RUST`], the Rust
//! example task in `examples/rust/`, and the non-Rust guests built with `wasmdask build`'s library:
//! [`EXAMPLE_PYTHON`], [`EXAMPLE_JS`], [`EXAMPLE_C`] (`examples/`) and the error guests of
//! `polyglot/` ([`ERRORS_PYTHON`], [`ERRORS_JS`]) and the Python Flyte data guest
//! ([`FILES_PYTHON`]). [`ALL`] lists every one of them, so a test can check that
//! each guest is used and loads. The host depends on this crate as a dev-dependency only.
//!
//! Adding a guest: create `programs/<name>/` (a `cdylib` with a one-line `description`), list it
//! in `members` of `programs/Cargo.toml`, and the constant `<NAME>` appears here.

include!(concat!(env!("OUT_DIR"), "/guests.rs"));
