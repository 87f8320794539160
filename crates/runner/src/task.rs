//! The task a command works on: loading its component, picking the export, and running the root
//! call on its own big-stack thread with its fan-out going to a [`FanOut`].

use crate::error::{RunError, SystemError};
use std::path::Path;
use std::sync::Arc;
use wasmdask_sandbox::{
    ExecReport, FanOut, LoadedComponent, Mount, Sandbox, SandboxConfig, TaskSig,
};
use wasmtime::component::Val;

/// Loads the component at `path`; the error names the file.
pub fn load_component(sandbox: &Sandbox, path: &Path) -> Result<Arc<LoadedComponent>, RunError> {
    sandbox
        .load_file(path)
        .map_err(|e| RunError::Component(format!("{}: {e}", path.display())))
}

/// Loads the component at `path` only to read its exports and types, in a sandbox that reserves
/// nothing for executions.
pub fn inspect_component(path: &Path) -> Result<Arc<LoadedComponent>, RunError> {
    let sandbox =
        Sandbox::new(SandboxConfig::types_only()).map_err(|e| SystemError::host(e.to_string()))?;
    load_component(&sandbox, path)
}

/// The export `function` names, or the component's only export when it is `None`.
pub fn pick_task(component: &LoadedComponent, function: Option<&str>) -> Result<TaskSig, RunError> {
    match function {
        Some(name) => component.task(name),
        None => component.only_task(),
    }
    .cloned()
    .map_err(|e| RunError::Component(e.message))
}

/// Calls `function` and waits for it. The thread's stack holds the wasm stack (up to
/// `--max-stack`) twice over plus room for the host's own frames: a guest at its stack limit
/// must hit wasmtime's limit, never the host thread's guard page.
pub(crate) fn run_root(
    sandbox: &Arc<Sandbox>,
    component: &Arc<LoadedComponent>,
    function: &str,
    args: Vec<Val>,
    fanout: Arc<dyn FanOut>,
    mounts: Vec<Mount>,
) -> Result<ExecReport, SystemError> {
    let stack = sandbox.config().limits.max_stack_bytes * 2 + (8 << 20);
    let root = std::thread::Builder::new()
        .name("wasmdask-root".into())
        .stack_size(stack)
        .spawn({
            let sandbox = sandbox.clone();
            let component = component.clone();
            let function = function.to_string();
            move || {
                sandbox.execute_with_mounts(&component, &function, args, Some(fanout), 0, &mounts)
            }
        })
        .map_err(|e| SystemError::host(format!("cannot start the task thread: {e}")))?;
    root.join().map_err(|_| SystemError {
        reason: "host",
        message: "the task thread panicked (a wasmdask bug; please report it)".into(),
        recoverable: false,
    })
}
