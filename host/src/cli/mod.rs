//! The command line: raw arguments → validated configuration → calls into the library.
//!
//! Exit-code policy (also in `--help`): 0 success; 1 the task ran and failed; 2 bad usage or bad
//! task arguments; 3 the component could not be loaded or has no such function; 4 the host
//! itself could not start (e.g. the sandbox could not be created).

mod build;
mod cluster_args;
pub mod dask_compat;
mod execute;
mod inspect;
mod logging;
mod render;
mod run;
mod sandbox_args;
mod scheduler;
mod serialize;
mod token_args;
pub mod units;
mod worker;

use clap::{Parser, Subcommand};
use std::fmt;
use wasmdask_cluster::address::STOP_WITH_STDIN_ENV;
use wasmdask_flyte::Dask;
use wasmdask_runner::{RunError, SystemError};

pub use build::BuildArgs;
pub use cluster_args::AuthArgs;
pub use execute::ExecuteArgs;
pub use inspect::InspectArgs;
pub use logging::{LogFormat, Logging};
pub use render::RenderArgs;
pub use run::RunArgs;
pub use sandbox_args::{ExecutionArgs, SandboxArgs};
pub use scheduler::SchedulerArgs;
pub use serialize::SerializeArgs;
pub use worker::WorkerArgs;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the task ran and failed (timeout, trap, memory limit, guest error, ...)
  2  bad usage or task arguments that do not match the function's parameters
  3  the component could not be loaded, or has no such function
  4  the host could not start (sandbox or cache setup failed)";

/// Run Flyte Dask tasks written as WebAssembly components, every execution in its own sandbox.
#[derive(Debug, Parser)]
#[command(name = "wasmdask", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// How log lines on stderr are written. Text is coloured only on a terminal, and never when
    /// NO_COLOR is set; the cluster processes of `run --processes` log the same way. RUST_LOG
    /// picks which lines.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "FORMAT",
        env = logging::FORMAT_ENV,
        default_value = "text"
    )]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Call a task export with typed arguments; its cluster fan-out runs on an embedded cluster.
    Run(RunArgs),
    /// Show a component's digest, exported tasks (WIT and Flyte types) and imports.
    Inspect(InspectArgs),
    /// Build a task directory (Rust, Python, JavaScript or C) into a component.
    Build(BuildArgs),
    /// Run the cluster scheduler (also installed as `dask-scheduler`).
    Scheduler(SchedulerArgs),
    /// Run a worker for a scheduler (also installed as `dask-worker`).
    Worker(WorkerArgs),
    /// Write a Flyte `dask` TaskSpec per exported task, from a flytekitplugins-dask-style spec.
    Serialize(SerializeArgs),
    /// Run a task as Flyte's job runner: inputs.pb in, outputs.pb or error.pb out.
    Execute(ExecuteArgs),
    /// Print the Kubernetes objects of a task: the DaskJob, a DaskCluster or plain Pods.
    Render(RenderArgs),
}

/// Why a command failed, with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: message.into(),
        }
    }

    pub fn component(message: impl Into<String>) -> Self {
        Failure {
            code: 3,
            message: message.into(),
        }
    }

    pub fn host(message: impl Into<String>) -> Self {
        Failure {
            code: 4,
            message: message.into(),
        }
    }

    /// A task failure; bad input and unknown functions keep their own codes.
    pub fn task(error: &wasmdask_sandbox::TaskError) -> Self {
        use wasmdask_sandbox::ErrorKind;
        let code = match error.kind {
            ErrorKind::BadInput => 2,
            ErrorKind::UnknownFunction | ErrorKind::InvalidComponent => 3,
            _ => 1,
        };
        Failure {
            code,
            message: format!("the task failed [{}]: {}", error.kind, error.full_message()),
        }
    }
}

impl From<RunError> for Failure {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Usage(message) => Failure::usage(message),
            RunError::Component(message) => Failure::component(message),
            RunError::System(e) => e.into(),
            RunError::Task(error) => Failure::task(&error),
        }
    }
}

impl From<SystemError> for Failure {
    fn from(e: SystemError) -> Self {
        Failure::host(e.message)
    }
}

/// The Dask spec in `config`, or flytekitplugins-dask's default `Dask()`.
fn load_dask(config: Option<&std::path::Path>) -> Result<Dask, Failure> {
    config.map_or_else(
        || Ok(Dask::default()),
        |path| Dask::from_file(path).map_err(|e| Failure::usage(e.to_string())),
    )
}

/// Where the runner reads a local component from when no `--component-uri` is given: its
/// absolute path.
fn absolute_uri(component: &std::path::Path) -> Result<String, Failure> {
    std::path::absolute(component)
        .map(|path| path.display().to_string())
        .map_err(|e| Failure::usage(format!("{}: {e}", component.display())))
}

/// Threads of an embedded cluster when `--workers` is not given: one per CPU.
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Runs a parsed command; `logging` is how this process logs, which the processes it starts
/// inherit.
pub fn dispatch(cli: Cli, logging: Logging) -> Result<(), Failure> {
    match cli.command {
        Command::Run(args) => run::run(args, logging),
        Command::Inspect(args) => inspect::inspect(args),
        Command::Build(args) => build::build(args),
        Command::Scheduler(args) => scheduler::scheduler(args),
        Command::Worker(args) => worker::worker(args),
        Command::Serialize(args) => serialize::serialize(args),
        Command::Execute(args) => execute::execute(args, logging.format),
        Command::Render(args) => render::render(args),
    }
}

/// The async runtime of the networked commands: small, since the work runs on sandbox threads.
fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    Ok(wasmdask_runner::runtime()?)
}

/// Resolves with a reason on SIGTERM or Ctrl-C, or, in a process `run --processes` started,
/// when the runner exits.
async fn termination() -> String {
    tokio::select! {
        reason = signalled() => reason,
        reason = runner_exited() => reason,
    }
}

/// Resolves when stdin closes if [`STOP_WITH_STDIN_ENV`] is set, and never otherwise. A plain
/// thread reads it: a blocking read cannot be cancelled, and the runtime must not wait for it.
async fn runner_exited() -> String {
    use std::io::Read;
    if std::env::var_os(STOP_WITH_STDIN_ENV).is_none() {
        return std::future::pending().await;
    }
    let (closed, on_close) = tokio::sync::oneshot::channel();
    let reader = std::thread::Builder::new()
        .name("stdin-watch".into())
        .spawn(move || {
            let mut buffer = [0u8; 64];
            while matches!(std::io::stdin().read(&mut buffer), Ok(n) if n > 0) {}
            let _ = closed.send(());
        });
    match reader {
        Ok(_) => {
            let _ = on_close.await;
            "the runner that started this cluster exited".to_string()
        }
        Err(_) => std::future::pending().await,
    }
}

/// Resolves with a reason on SIGTERM or Ctrl-C.
async fn signalled() -> String {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
        "interrupted (Ctrl-C)".to_string()
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "terminated (SIGTERM)".to_string(),
                reason = ctrl_c => reason,
            },
            Err(_) => ctrl_c.await,
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await
}
