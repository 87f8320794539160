//! Where a run's fan-out goes, chosen once: an embedded cluster in this process, a remote
//! scheduler, or a scheduler and worker processes started on loopback from this very binary.
//! `wasmdask run` and `wasmdask execute` both go through [`ClusterGuard::start`].

use crate::error::SystemError;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use wasmdask_cluster::address::{STOP_WITH_STDIN_ENV, TOKEN_ENV};
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
        /// Environment variables set for every process on top of this one's: how to log, so
        /// the processes log as this one does whatever their stderr is.
        env: Vec<(String, String)>,
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
                env,
            } => {
                let spawned = LocalProcesses::start(workers, &worker_flags, memory_limit, &env)?;
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
    /// [`run_root`](crate::task::run_root)), with `mounts`, the directories only the root
    /// execution sees (its data inputs and `/outputs`).
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
        mounts: Vec<wasmdask_sandbox::Mount>,
    ) -> Result<ExecReport, SystemError> {
        crate::task::run_root(
            sandbox,
            component,
            function,
            args,
            self.client.clone(),
            mounts,
        )
    }

    /// Where an embedded cluster's calls fetch their file, directory and dataset arguments
    /// (remote workers have their own).
    pub fn set_data(&self, data: Arc<dyn wasmdask_sandbox::DataPort>) {
        if let Some(local) = &self._local {
            local.set_data(data);
        }
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

/// How long the processes of a local cluster get to exit after the scheduler is asked to stop;
/// what is still running then is killed.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// The child processes of a local cluster; stopped on drop.
#[derive(Debug)]
struct LocalProcesses {
    target: Target,
    scheduler: Child,
    workers: Vec<Child>,
}

impl LocalProcesses {
    fn start(
        workers: usize,
        worker_flags: &[String],
        memory_limit: u64,
        env: &[(String, String)],
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
        let spawn = |args: Vec<String>| {
            Command::new(&exe)
                .args(args)
                .env(TOKEN_ENV, &token)
                .envs(env.iter().map(|(name, value)| (name, value)))
                // The child's stdin is ours to close: it stops when we exit, however we exit.
                .env(STOP_WITH_STDIN_ENV, "1")
                .stdin(Stdio::piped())
                .spawn()
                .map_err(|e| SystemError::host(format!("cannot start a cluster process: {e}")))
        };
        let scheduler = spawn(vec![
            "scheduler".into(),
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "--dashboard-address".into(),
            "none".into(),
        ])?;
        let mut cluster = LocalProcesses {
            target,
            scheduler,
            workers: Vec::new(),
        };
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
            cluster.workers.push(spawn(args)?);
        }
        Ok(cluster)
    }
}

impl Drop for LocalProcesses {
    /// Stops the cluster the way a scheduler pod is stopped: the scheduler, asked to stop, tells
    /// its workers, which then exit on their own. Killing the scheduler instead (or before the
    /// workers) had every worker warn that it lost the scheduler at the end of every run.
    fn drop(&mut self) {
        let deadline = Instant::now() + STOP_GRACE;
        ask_to_stop(&mut self.scheduler);
        exit_by(&mut self.scheduler, deadline);
        // A worker that was still connecting when the run ended was told nothing.
        for worker in &mut self.workers {
            if matches!(worker.try_wait(), Ok(None)) {
                ask_to_stop(worker);
            }
        }
        for worker in &mut self.workers {
            exit_by(worker, deadline);
        }
    }
}

/// Waits for `child` to exit until `deadline`, then kills it.
fn exit_by(child: &mut Child, deadline: Instant) {
    while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// SIGTERM, which `wasmdask scheduler` and `wasmdask worker` answer with a clean shutdown.
#[cfg(unix)]
fn ask_to_stop(child: &mut Child) {
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_child(child),
        rustix::process::Signal::TERM,
    );
}

/// Without signals there is no asking: the processes are killed.
#[cfg(not(unix))]
fn ask_to_stop(child: &mut Child) {
    let _ = child.kill();
}

/// The one-off token of a loopback cluster: 128 bits from the operating system's generator.
fn random_token() -> Result<String, SystemError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| SystemError::host(format!("no randomness for the cluster token: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
