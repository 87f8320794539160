//! The task a command works on: loading its component and picking the export, and running
//! the root call on its own big-stack thread, with its fan-out going to `cluster`.

use std::sync::Arc;

use wasmtime::component::Val;

use super::Failure;
use crate::cluster::Cluster;
use crate::flyte::Dask;
use crate::sandbox::{ExecReport, LoadedComponent, Sandbox, TaskSig};

/// Loads the component at `path`; the error names the file.
pub(super) fn load_component(
    sandbox: &Sandbox,
    path: &std::path::Path,
) -> Result<Arc<LoadedComponent>, Failure> {
    sandbox
        .load_file(path)
        .map_err(|e| Failure::component(format!("{}: {e}", path.display())))
}

/// The export `function` names, or the component's only export when it is `None`.
pub(super) fn pick_task(
    component: &LoadedComponent,
    function: Option<&str>,
) -> Result<TaskSig, Failure> {
    match function {
        Some(name) => component.task(name),
        None => component.only_task(),
    }
    .cloned()
    .map_err(|e| Failure::component(e.message))
}

/// The Dask spec in `config`, or flytekitplugins-dask's default `Dask()`.
pub(super) fn load_dask(config: Option<&std::path::Path>) -> Result<Dask, Failure> {
    config.map_or_else(
        || Ok(Dask::default()),
        |path| Dask::from_file(path).map_err(|e| Failure::usage(e.to_string())),
    )
}

/// Calls `function` and waits for it. The thread's stack holds the wasm stack (up to
/// `--max-stack`) twice over plus room for the host's own frames: a guest at its stack limit
/// must hit wasmtime's limit, never the host thread's guard page.
pub(super) fn run_root(
    sandbox: &Arc<Sandbox>,
    component: &Arc<LoadedComponent>,
    function: &str,
    args: Vec<Val>,
    cluster: Arc<dyn Cluster>,
) -> Result<ExecReport, Failure> {
    let stack = sandbox.config().limits.max_stack_bytes * 2 + (8 << 20);
    let root = std::thread::Builder::new()
        .name("wasmdask-root".into())
        .stack_size(stack)
        .spawn({
            let sandbox = sandbox.clone();
            let component = component.clone();
            let function = function.to_string();
            move || sandbox.execute(&component, &function, args, Some(cluster))
        })
        .map_err(|e| Failure::host(format!("cannot start the task thread: {e}")))?;
    root.join()
        .map_err(|_| Failure::host("the task thread panicked (a wasmdask bug)"))
}

/// Connects a client session, retrying for up to `patience`: a scheduler that is still coming
/// up (started by this command, or a scheduler pod starting next to the runner pod) is waited
/// for rather than reported as down.
pub(super) async fn connect_with_retry(
    target: &crate::cluster::remote::Target,
    patience: std::time::Duration,
) -> Result<Arc<crate::cluster::remote::RemoteCluster>, crate::cluster::remote::RemoteError> {
    let deadline = std::time::Instant::now() + patience;
    loop {
        match crate::cluster::remote::RemoteCluster::session(target).await {
            Ok(session) => return Ok(session),
            Err(e) if std::time::Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}
