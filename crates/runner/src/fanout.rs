//! Where a run's fan-out goes, chosen once: an embedded cluster in this process, a remote
//! scheduler, or a scheduler and worker processes started on loopback from this very binary.
//! `wasmdask run` and `wasmdask execute` both go through [`ClusterGuard::start`].

use crate::error::SystemError;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use wasmdask_cluster::address::TOKEN_ENV;
use wasmdask_cluster::{FailedSubtasks, LocalCluster, Progress};
use wasmdask_cluster::{RemoteCluster, RemoteError, Target};
use wasmdask_sandbox::{ExecReport, FanOut, LoadedComponent, Sandbox};
use wasmtime::component::Val;

/// Where the fan-out of one run goes.
#[derive(Debug, Clone)]
pub enum ClusterChoice {
    /// Worker threads in this process.
    Embedded {
        /// Concurrent executions.
        workers: usize,
    },
    /// The cluster of a running scheduler.
    Remote {
        /// The scheduler and how to authenticate.
        target: Target,
        /// How long a scheduler that is still coming up is waited for.
        patience: Duration,
    },
    /// A scheduler and `workers` worker processes on loopback, stopped when the run ends.
    Processes {
        /// Worker processes, one execution slot each.
        workers: usize,
        /// Sandbox flags every worker gets (`--timeout=…`, `--dir=…`, ...).
        worker_flags: Vec<String>,
        /// Each worker's `--memory-limit` in bytes.
        memory_limit: u64,
    },
}

/// The chosen cluster, alive until dropped: its fan-out client, progress and failed subtasks.
#[derive(Debug)]
pub struct ClusterGuard {
    /// Where the root call's `cluster` imports go.
    pub client: Arc<dyn FanOut>,
    /// Subtasks submitted / done / failed.
    pub progress: Arc<Progress>,
    /// The failed subtasks' errors and output.
    pub failures: Arc<FailedSubtasks>,
    // Dropped in this order: the session, then the processes, then the runtime under them.
    _processes: Option<LocalProcesses>,
    _runtime: Option<Arc<Runtime>>,
    _local: Option<LocalCluster>,
}

impl ClusterGuard {
    /// Starts or connects to the cluster `choice` names.
    ///
    /// # Errors
    ///
    /// `scheduler-unreachable` when no scheduler answered within the patience, `host` when
    /// local processes or the runtime could not start.
    ///
    /// A remote session runs on `runtime` when the caller has one (the Flyte job's storage
    /// runtime), else on a runtime of its own; the guard keeps it alive as long as the session.
    pub fn start(
        choice: ClusterChoice,
        sandbox: &Arc<Sandbox>,
        runtime: Option<&Arc<Runtime>>,
    ) -> Result<Self, SystemError> {
        let (target, patience, processes) = match choice {
            ClusterChoice::Embedded { workers } => {
                let local = LocalCluster::new(sandbox.clone(), workers.max(1));
                return Ok(ClusterGuard {
                    client: local.client(),
                    progress: local.progress(),
                    failures: local.failures(),
                    _processes: None,
                    _runtime: None,
                    _local: Some(local),
                });
            }
            ClusterChoice::Remote { target, patience } => (target, patience, None),
            ClusterChoice::Processes {
                workers,
                worker_flags,
                memory_limit,
            } => {
                let spawned = LocalProcesses::start(workers, &worker_flags, memory_limit)?;
                let target = spawned.target.clone();
                (target, Duration::from_secs(15), Some(spawned))
            }
        };
        let runtime = match runtime {
            Some(runtime) => runtime.clone(),
            None => Arc::new(crate::runtime()?),
        };
        let session = runtime
            .block_on(connect_with_retry(&target, patience))
            .map_err(|e| SystemError {
                reason: "scheduler-unreachable",
                message: format!(
                    "no scheduler at {target} after {}: {e}",
                    humantime::format_duration(patience)
                ),
                recoverable: true,
            })?;
        Ok(ClusterGuard {
            progress: session.progress(),
            failures: session.failures(),
            client: session,
            _processes: processes,
            _runtime: Some(runtime),
            _local: None,
        })
    }

    /// Runs the root call of `function`, its fan-out going to this cluster (see
    /// [`run_root`](crate::task::run_root)).
    ///
    /// # Errors
    ///
    /// Only when the host cannot run the call at all; task failures are in the report.
    pub fn run(
        &self,
        sandbox: &Arc<Sandbox>,
        component: &Arc<LoadedComponent>,
        function: &str,
        args: Vec<Val>,
    ) -> Result<ExecReport, SystemError> {
        crate::task::run_root(sandbox, component, function, args, self.client.clone())
    }
}

/// Connects a client session, retrying for up to `patience`: a scheduler that is still coming
/// up (started by this command, or a scheduler pod starting next to the runner pod) is waited
/// for rather than reported as down.
async fn connect_with_retry(
    target: &Target,
    patience: Duration,
) -> Result<Arc<RemoteCluster>, RemoteError> {
    let deadline = Instant::now() + patience;
    loop {
        match RemoteCluster::session(target).await {
            Ok(session) => return Ok(session),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// The child processes of a local cluster; killed on drop.
#[derive(Debug)]
struct LocalProcesses {
    target: Target,
    children: Vec<Child>,
}

impl LocalProcesses {
    fn start(
        workers: usize,
        worker_flags: &[String],
        memory_limit: u64,
    ) -> Result<Self, SystemError> {
        let exe = std::env::current_exe()
            .map_err(|e| SystemError::host(format!("cannot find the wasmdask binary: {e}")))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| SystemError::host(format!("no free loopback port: {e}")))?
            .port();
        let address = format!("tcp://127.0.0.1:{port}");
        let token = random_token()?;
        let target = Target::new(&address, Some(token.clone()), None)
            .map_err(|e| SystemError::host(e.to_string()))?;
        let mut cluster = LocalProcesses {
            target,
            children: Vec::new(),
        };
        let spawn = |args: Vec<String>| {
            Command::new(&exe)
                .args(args)
                .env(TOKEN_ENV, &token)
                .stdin(Stdio::null())
                .spawn()
                .map_err(|e| SystemError::host(format!("cannot start a cluster process: {e}")))
        };
        cluster.children.push(spawn(vec![
            "scheduler".into(),
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "--dashboard-address".into(),
            "none".into(),
        ])?);
        for i in 0..workers {
            let mut args = vec![
                "worker".into(),
                address.clone(),
                "--name".into(),
                format!("local-{i}"),
                "--nthreads".into(),
                "1".into(),
                "--death-timeout".into(),
                "10s".into(),
            ];
            args.push(format!("--memory-limit={memory_limit}"));
            args.extend(worker_flags.iter().cloned());
            cluster.children.push(spawn(args)?);
        }
        Ok(cluster)
    }
}

impl Drop for LocalProcesses {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The one-off token of a loopback cluster: 128 bits from the operating system's generator.
fn random_token() -> Result<String, SystemError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| SystemError::host(format!("no randomness for the cluster token: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
