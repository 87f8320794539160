//! `wasmdask execute`: the job runner of a Flyte `dask` task (the pyflyte-execute contract).
//!
//! Reads `inputs.pb`, fetches and verifies the component, calls the export — its fan-out going
//! to the Dask-shaped cluster at `$DASK_SCHEDULER_ADDRESS` (set by the dask-kubernetes operator
//! in the runner pod), or to an embedded one — and writes `outputs.pb`, or `error.pb` on any
//! failure. Like pyflyte-execute it exits 0 after writing `error.pb` (Flyte reads the file),
//! unless `FLYTE_FAIL_ON_ERROR=true`.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use prost::Message;

use super::root_task::{connect_with_retry, run_root};
use super::units::{parse_bytes, parse_duration};
use super::{AuthArgs, Failure, SandboxArgs};
use crate::cli::dask_compat::SCHEDULER_ADDRESS_ENV;
use crate::cluster::{Cluster, GuestOutput, LocalCluster};
use crate::flyte::execute::{
    ComponentRef, ERROR_FILE, OUTPUTS_FILE, Origin, args_from_inputs, error_document,
    normalize_path_arg, origin_of, outputs_from_result,
};
use crate::flyte::idl::core::LiteralMap;
use crate::flyte::storage::{Location, StorageError};
use crate::sandbox::{Sandbox, digest_of};
use crate::task_error::{ErrorKind, TaskError};

const EXECUTE_EXAMPLES: &str = "\
This is the command in the container args that `wasmdask serialize` writes; Flyte substitutes
the {{.placeholders}}. By hand:
  wasmdask execute --inputs run/inputs.pb --output-prefix run/out -- tasks.wasm sum-of-squares
  wasmdask execute --inputs s3://bucket/run/inputs.pb --output-prefix s3://bucket/run/out \\
      -- s3://bucket/tasks/tasks.wasm@sha256:<hex> sum-of-squares

On success it writes <output-prefix>/outputs.pb (a LiteralMap: `o0` holds the result); on any
failure <output-prefix>/error.pb (an ErrorDocument) and exits 0, as pyflyte-execute does —
set FLYTE_FAIL_ON_ERROR=true to exit 1 instead. Fan-out goes to the scheduler at
$DASK_SCHEDULER_ADDRESS when it is set, otherwise to an embedded cluster.
S3: FLYTE_AWS_ENDPOINT / FLYTE_AWS_ACCESS_KEY_ID / FLYTE_AWS_SECRET_ACCESS_KEY or AWS_*.";

#[derive(Debug, Args)]
#[command(after_help = EXECUTE_EXAMPLES)]
pub struct ExecuteArgs {
    /// The task's inputs.pb (local path, file:// or s3:// URI).
    #[arg(long, value_name = "URI")]
    pub inputs: String,

    /// Where outputs.pb or error.pb is written.
    #[arg(long, value_name = "URI")]
    pub output_prefix: String,

    /// Accepted for compatibility; wasmdask tasks have no offloaded (blob) outputs.
    #[arg(long, value_name = "URI")]
    pub raw_output_data_prefix: Option<String>,

    /// Accepted for compatibility; wasmdask tasks do not checkpoint.
    #[arg(long, value_name = "URI")]
    pub checkpoint_path: Option<String>,

    /// Accepted for compatibility; wasmdask tasks do not checkpoint.
    #[arg(long, value_name = "URI")]
    pub prev_checkpoint: Option<String>,

    /// Worker threads of the embedded cluster (when no scheduler is set) [default: CPU count].
    #[arg(short, long, value_name = "N")]
    pub workers: Option<usize>,

    /// How long to wait for the scheduler at $DASK_SCHEDULER_ADDRESS to come up.
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// Linear-memory cap of each execution (e.g. 512MiB, 4Gi).
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_bytes,
          help_heading = "Sandbox limits and grants (deny by default)")]
    pub memory_limit: u64,

    #[command(flatten)]
    pub auth: AuthArgs,

    #[command(flatten)]
    pub sandbox: SandboxArgs,

    /// The component (`URI[@sha256:HEX]`) and the export to call, after `--`.
    #[arg(last = true, required = true, num_args = 2, value_names = ["COMPONENT", "FUNCTION"])]
    pub target: Vec<String>,
}

/// Why the job failed, and how Flyte should treat it.
struct JobFailure {
    /// The part of the error code after `USER:`/`SYSTEM:`.
    reason: &'static str,
    error: TaskError,
    origin: Origin,
    recoverable: bool,
}

impl JobFailure {
    /// A failure of the platform around the task (storage, the scheduler, the host).
    fn system(reason: &'static str, kind: ErrorKind, message: String, recoverable: bool) -> Self {
        JobFailure {
            reason,
            error: TaskError {
                kind,
                message,
                detail: None,
            },
            origin: Origin::System,
            recoverable,
        }
    }

    /// A classified failure of the task itself (or of its inputs).
    fn user(error: TaskError) -> Self {
        JobFailure {
            reason: error.kind.as_str(),
            origin: origin_of(error.kind),
            recoverable: error.kind.is_recoverable(),
            error,
        }
    }

    /// A storage failure: a missing object will stay missing, anything else may be transient.
    fn storage(what: &str, e: StorageError) -> Self {
        let recoverable = !matches!(e, StorageError::NotFound { .. } | StorageError::Scheme(_));
        let kind = ErrorKind::InvalidComponent;
        Self::system("storage", kind, format!("{what}: {e}"), recoverable)
    }
}

pub(super) fn execute(args: ExecuteArgs) -> Result<(), Failure> {
    let output_prefix = normalize_path_arg(Some(&args.output_prefix)).ok_or_else(|| {
        Failure::usage("--output-prefix is empty or an unsubstituted {{.outputPrefix}} template")
    })?;
    let runtime = super::runtime()?;
    let outcome = run_job(&args, &runtime);
    let (name, bytes, failed) = match outcome {
        Ok(outputs) => (OUTPUTS_FILE, outputs.encode_to_vec(), None),
        Err(f) => {
            let document = error_document(f.reason, &f.error, f.origin, f.recoverable);
            (ERROR_FILE, document.encode_to_vec(), Some(f.error))
        }
    };
    let uri = Location::join(&output_prefix, name);
    runtime
        .block_on(async { Location::parse(&uri)?.write(bytes).await })
        .map_err(|e| Failure::host(format!("cannot write {name}: {e}")))?;
    match failed {
        None => Ok(()),
        Some(error) => {
            eprintln!(
                "the task failed [{}]: {} (written to {uri})",
                error.kind, error.message
            );
            let fail = std::env::var("FLYTE_FAIL_ON_ERROR")
                .is_ok_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1"));
            if fail {
                Err(Failure::task(&error))
            } else {
                Ok(())
            }
        }
    }
}

/// Everything between reading the inputs and having the outputs; any failure is one that
/// belongs in `error.pb`.
fn run_job(
    args: &ExecuteArgs,
    runtime: &tokio::runtime::Runtime,
) -> Result<LiteralMap, JobFailure> {
    let [component_ref, function] = args.target.as_slice() else {
        unreachable!("clap requires exactly two values after --");
    };
    let component_ref = ComponentRef::parse(component_ref);

    let bytes = runtime
        .block_on(async { Location::parse(&component_ref.uri)?.read().await })
        .map_err(|e| JobFailure::storage("cannot fetch the component", e))?;
    let digest = digest_of(&bytes);
    if let Some(expected) = &component_ref.digest
        && *expected != digest
    {
        return Err(JobFailure::system(
            "digest-mismatch",
            ErrorKind::InvalidComponent,
            format!(
                "the component at {} has digest {digest}, but the task was serialized with \
                 {expected}: it changed after `wasmdask serialize`; serialize and register the \
                 task again, or restore the original file",
                component_ref.uri
            ),
            false,
        ));
    }

    let config = args
        .sandbox
        .to_config(args.memory_limit)
        .map_err(|f| JobFailure::system("host", ErrorKind::InvalidComponent, f.message, false))?;
    let sandbox = Sandbox::new(config).map_err(|e| {
        JobFailure::system(
            "host",
            ErrorKind::InvalidComponent,
            format!("cannot start the sandbox: {e}"),
            true,
        )
    })?;
    let component = sandbox.load(bytes.to_vec()).map_err(|e| {
        JobFailure::user(TaskError {
            kind: ErrorKind::InvalidComponent,
            message: format!("{}: {e}", component_ref.uri),
            detail: None,
        })
    })?;
    let task = component.task(function).map_err(JobFailure::user)?;

    let inputs = read_inputs(args, runtime, task.params.is_empty())?;
    let call_args = args_from_inputs(&inputs, task).map_err(JobFailure::user)?;

    // Keep the embedded cluster or the remote session alive until the task is done.
    let (cluster, _local): (Arc<dyn Cluster>, _) = match std::env::var(SCHEDULER_ADDRESS_ENV)
        .ok()
        .filter(|a| !a.trim().is_empty())
    {
        Some(address) => {
            let target = args.auth.target(Some(&address)).map_err(|f| {
                JobFailure::system(
                    "scheduler-address",
                    ErrorKind::Lost,
                    format!("{SCHEDULER_ADDRESS_ENV}: {f}"),
                    false,
                )
            })?;
            let session = runtime
                .block_on(connect_with_retry(&target, args.connect_timeout))
                .map_err(|e| {
                    JobFailure::system(
                        "scheduler-unreachable",
                        ErrorKind::Lost,
                        format!(
                            "no scheduler at {address} after {}: {e}",
                            humantime::format_duration(args.connect_timeout)
                        ),
                        true,
                    )
                })?;
            (session, None)
        }
        None => {
            let workers = args
                .workers
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
                .max(1);
            let local = LocalCluster::new(sandbox.clone(), workers);
            (local.client(), Some(local))
        }
    };
    let report = run_root(&sandbox, &component, &task.name, call_args, cluster)
        .map_err(|f| JobFailure::system("host", ErrorKind::Lost, f.message, true))?;
    // The runner's log is what Flyte shows: the guest's output belongs there.
    let _ = GuestOutput::all_of(&report).print(&mut std::io::stderr().lock(), "guest");
    let value = report.outcome.map_err(JobFailure::user)?;
    outputs_from_result(value.as_ref(), task).map_err(JobFailure::user)
}

fn read_inputs(
    args: &ExecuteArgs,
    runtime: &tokio::runtime::Runtime,
    no_params: bool,
) -> Result<LiteralMap, JobFailure> {
    let bad_input = |message: String| {
        JobFailure::user(TaskError {
            kind: ErrorKind::BadInput,
            message,
            detail: None,
        })
    };
    let Some(uri) = normalize_path_arg(Some(&args.inputs)) else {
        return if no_params {
            Ok(LiteralMap::default())
        } else {
            Err(bad_input(
                "--inputs is empty or an unsubstituted {{.input}} template".into(),
            ))
        };
    };
    match runtime.block_on(async { Location::parse(&uri)?.read().await }) {
        Ok(bytes) => LiteralMap::decode(bytes).map_err(|e| {
            bad_input(format!(
                "{uri} is not a Flyte LiteralMap (inputs.pb written by Flyte or flytekit): {e}"
            ))
        }),
        // A task without parameters needs no inputs file.
        Err(StorageError::NotFound { .. }) if no_params => Ok(LiteralMap::default()),
        Err(e) => Err(JobFailure::storage("cannot read the inputs", e)),
    }
}
