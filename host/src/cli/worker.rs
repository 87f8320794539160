//! `wasmdask worker` (also `dask-worker`): runs tasks for a scheduler.

use super::dask_compat::parse_memory_limit;
use super::units::parse_duration;
use super::{AuthArgs, Failure, SandboxArgs};
use clap::Args;
use std::sync::Arc;
use std::time::Duration;
use wasmdask_cluster::{WorkerConfig, run_worker};
use wasmdask_runner::data::StorePort;

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The scheduler (tcp://HOST:PORT, HOST:PORT, tls://...) [default: $DASK_SCHEDULER_ADDRESS].
    pub scheduler: Option<String>,

    /// The worker's name, as shown by the scheduler [default: the host name and process id].
    #[arg(long)]
    pub name: Option<String>,

    /// Concurrent sandboxes [default: CPU count; Dask's 0 means the same].
    #[arg(long)]
    pub nthreads: Option<usize>,

    /// Memory of the worker (4Gi, 16G, 2e9, 0.5 = half the machine, auto), split equally
    /// across the threads as each execution's memory cap.
    #[arg(long, default_value = "auto")]
    pub memory_limit: String,

    /// Exit non-zero after this long without a scheduler.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub death_timeout: Duration,

    #[command(flatten)]
    pub auth: AuthArgs,

    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

pub(super) fn worker(args: WorkerArgs) -> Result<(), Failure> {
    let target = args.auth.target(args.scheduler.as_deref())?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let nthreads = match args.nthreads {
        None | Some(0) => cores,
        Some(n) => n,
    };
    let memory_limit = parse_memory_limit(&args.memory_limit, total_memory())
        .map_err(|e| Failure::usage(format!("--memory-limit: {e}")))?;
    let per_slot = (memory_limit / nthreads as u64).max(64 << 20);
    let mut sandbox = args.sandbox.to_config(per_slot)?;
    // A worker's pool reserves few slots unless told otherwise: blocked parents overflow to
    // on-demand instances instead of waiting for a slot.
    if args.sandbox.max_instances.is_none() {
        sandbox.max_instances = (nthreads * 4).max(8);
    }
    let runtime = Arc::new(super::runtime()?);
    let name = args
        .name
        .unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id()));
    let config = WorkerConfig {
        target,
        name,
        nthreads,
        memory_limit,
        death_timeout: args.death_timeout,
        sandbox,
        // Subtasks that take files, directories or datasets fetch them where they run, from
        // the store `execute` reads (Flyte's environment), each object once per worker.
        data: Some(Arc::new(StorePort::new(runtime.clone())?)),
    };
    runtime
        .block_on(run_worker(config, async {
            super::termination().await;
        }))
        .map_err(|e| Failure::host(e.to_string()))
}

/// Memory available to this process: the cgroup limit when there is one, else the machine's.
fn total_memory() -> u64 {
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    });
    match (cgroup, meminfo) {
        (Some(c), Some(m)) => c.min(m),
        (c, m) => c.or(m).unwrap_or(0),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "worker".to_string())
}
