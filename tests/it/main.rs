//! wasmdask's integration tests: one test binary for the whole repository, so build artifacts are
//! shared, and the guests are built once (by the `wasmdask-test-guests` build script).

mod common;

mod distributed;

mod cache;
mod cli;
mod data;
mod data_cli;
mod data_lazy;
mod fanout;
mod faults;
mod flyte;
mod flyte_data;
mod flyte_plugin;
mod graph;
mod image;
mod invalid;
mod k8s;
mod logs;
mod observability;
mod polyglot;
mod roundtrip;
mod trees;
