//! Helpers shared by the integration tests.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;
use wasmdask_cluster::LocalCluster;
use wasmdask_sandbox::{ExecReport, Limits, LoadedComponent, Sandbox, SandboxConfig};
use wasmdask_values as values;

pub use wasmdask_test_guests as guests;

/// A compiled-component cache that persists between test runs (under cargo's target dir).
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasmdask-cache")
}

/// A sandbox with the given limits and the shared test cache.
pub fn sandbox(limits: Limits) -> Arc<Sandbox> {
    Sandbox::new(SandboxConfig {
        limits,
        cache_dir: Some(cache_dir()),
        max_instances: 32,
        ..SandboxConfig::default()
    })
    .expect("sandbox")
}

/// Limits small enough that fault tests finish quickly.
pub fn test_limits() -> Limits {
    Limits {
        timeout: Duration::from_secs(2),
        memory_bytes: 64 << 20,
        output_bytes: 1 << 20,
        ..Limits::default()
    }
}

pub fn load(sandbox: &Sandbox, path: &str) -> Arc<LoadedComponent> {
    sandbox
        .load_file(path.as_ref())
        .unwrap_or_else(|e| panic!("load {path}: {e}"))
}

/// Calls `function` with JSON arguments (array or object) on an embedded cluster.
pub fn call(
    sandbox: &Arc<Sandbox>,
    component: &Arc<LoadedComponent>,
    function: &str,
    args: serde_json::Value,
    workers: usize,
) -> ExecReport {
    let cluster = LocalCluster::new(sandbox.clone(), workers);
    execute_on(&cluster, sandbox, component, function, args)
}

/// Calls `function` with JSON arguments on a big-stack thread, fanning out to `cluster`.
pub fn execute_on(
    cluster: &LocalCluster,
    sandbox: &Arc<Sandbox>,
    component: &Arc<LoadedComponent>,
    function: &str,
    args: serde_json::Value,
) -> ExecReport {
    let task = component.task(function).expect("task exists");
    let vals = values::args_from_json(&args, &task.params).expect("valid arguments");
    let client = cluster.client();
    let (sandbox, component, name) = (sandbox.clone(), component.clone(), task.name.clone());
    std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(move || sandbox.execute(&component, &name, vals, Some(client), 0))
        .expect("spawn")
        .join()
        .expect("execute does not panic")
}

/// The JSON of a successful result; panics with the error otherwise.
pub fn ok_json(report: ExecReport) -> serde_json::Value {
    match report.outcome {
        Ok(Some(v)) => values::from_val(&v),
        Ok(None) => serde_json::Value::Null,
        Err(e) => panic!(
            "task failed: {e:?}\nstderr: {}",
            String::from_utf8_lossy(&report.stderr)
        ),
    }
}

/// Runs the `wasmdask` binary with the shared test cache.
pub fn wasmdask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasmdask"))
        .args(args)
        .env("WASMDASK_CACHE_DIR", cache_dir())
        .env_remove("RUST_LOG")
        .output()
        .expect("run wasmdask")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts that a command's stderr says `needle`, printing all of it when it does not.
#[track_caller]
pub fn assert_stderr_has(output: &Output, needle: &str) {
    let text = stderr(output);
    assert!(text.contains(needle), "{needle:?} not in:\n{text}");
}
