//! The job runner of a Flyte `dask` task (`wasmdask execute`): the pyflyte-execute contract.
//!
//! Reads `inputs.pb`, fetches and verifies the component, calls the export — its fan-out going
//! to the Dask-shaped cluster at `$DASK_SCHEDULER_ADDRESS` (set by the dask-kubernetes operator
//! in the runner pod), or to an embedded one — and writes `outputs.pb`, or `error.pb` on any
//! failure.

use crate::error::SystemError;
use crate::fanout::{ClusterChoice, ClusterGuard};
use crate::offload::{OffloadError, fetch_offloaded, offload_large};
use crate::root_data::RootData;
use crate::storage::{Location, StorageError, read_blocking, write_blocking};
use prost::Message;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Runtime;
use wasmdask_cluster::GuestOutput;
use wasmdask_cluster::Target;
use wasmdask_cluster::address::SCHEDULER_ADDRESS_ENV;
use wasmdask_flyte::execute::{
    ComponentRef, ERROR_FILE, OUTPUTS_FILE, Origin, args_from_inputs, error_document,
    normalize_path_arg, origin_of, outputs_from_result,
};
use wasmdask_flyte::idl::core::LiteralMap;
use wasmdask_sandbox::{ErrorKind, Sandbox, SandboxConfig, TaskError, digest_of};

/// One job, as the container args and environment describe it.
#[derive(Debug, Clone)]
pub struct Job {
    /// The `inputs.pb` URI (may be an unsubstituted template when the task has no inputs).
    pub inputs: String,
    /// Where `outputs.pb` or `error.pb` goes (already normalized: not empty, not a template).
    pub output_prefix: String,
    /// Where output files, directories and datasets are uploaded (Flyte's
    /// `--raw-output-data-prefix`), when the task returns any.
    pub raw_output_prefix: Option<String>,
    /// `URI[@sha256:HEX]` of the component.
    pub component: String,
    /// The export to call.
    pub function: String,
    /// The validated sandbox, or why the flags do not make one (reported in `error.pb`, since
    /// Flyte reads only that).
    pub sandbox: Result<SandboxConfig, String>,
    /// Worker threads of the embedded cluster (when no scheduler is set).
    pub workers: usize,
    /// The token of the scheduler at `$DASK_SCHEDULER_ADDRESS`.
    pub token: Option<String>,
    /// CA certificate (PEM) of the scheduler's TLS certificate.
    pub tls_ca: Option<std::path::PathBuf>,
    /// How long a scheduler that is still starting is waited for.
    pub connect_timeout: Duration,
    /// Print the guest's output as JSON lines, as the host logs (`--log-format json`).
    pub json_logs: bool,
}

/// What the job wrote.
#[derive(Debug)]
pub struct Written {
    /// The URI of `outputs.pb` or `error.pb`.
    pub uri: String,
    /// The failure written to `error.pb`, if the job failed.
    pub failure: Option<JobFailure>,
}

/// Why a job failed: the task (its classified error), or the platform around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobFailure {
    /// The task, or its inputs, failed.
    Task(TaskError),
    /// Storage, setup or the scheduler failed.
    System(SystemError),
}

impl From<SystemError> for JobFailure {
    fn from(e: SystemError) -> Self {
        JobFailure::System(e)
    }
}

impl JobFailure {
    /// `error.pb` for this failure: `USER:<kind>` or `SYSTEM:<reason>`, recoverable when a
    /// retry can help.
    fn document(&self) -> wasmdask_flyte::idl::core::ErrorDocument {
        match self {
            JobFailure::Task(error) => error_document(
                origin_of(error.kind),
                error.kind.as_str(),
                &error.full_message(),
                error.kind.is_recoverable(),
            ),
            JobFailure::System(e) => {
                error_document(Origin::System, e.reason, &e.message, e.recoverable)
            }
        }
    }
}

impl std::fmt::Display for JobFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobFailure::Task(e) => write!(f, "the task failed [{}]: {}", e.kind, e.message),
            JobFailure::System(e) => {
                write!(f, "the job failed [SYSTEM:{}]: {}", e.reason, e.message)
            }
        }
    }
}

/// Runs the job and writes `outputs.pb` or `error.pb` under its output prefix.
///
/// # Errors
///
/// Only when neither file could be written (then Flyte sees no result at all).
pub fn execute(job: &Job) -> Result<Written, SystemError> {
    let runtime = Arc::new(crate::runtime()?);
    let (name, bytes, failure) = match run_job(job, &runtime) {
        Ok(outputs) => (OUTPUTS_FILE, outputs.encode_to_vec(), None),
        Err(f) => (ERROR_FILE, f.document().encode_to_vec(), Some(f)),
    };
    let uri = Location::join(&job.output_prefix, name);
    write_blocking(&runtime, &uri, bytes)
        .map_err(|e| SystemError::storage(&format!("cannot write {name}"), &e))?;
    Ok(Written { uri, failure })
}

/// Everything between reading the inputs and having the outputs; any failure is one that
/// belongs in `error.pb`.
fn run_job(job: &Job, runtime: &Arc<Runtime>) -> Result<LiteralMap, JobFailure> {
    let component_ref = ComponentRef::parse(&job.component);
    let bytes = read_blocking(runtime, &component_ref.uri)
        .map_err(|e| SystemError::storage("cannot fetch the component", &e))?;
    let digest = digest_of(&bytes);
    if let Some(expected) = &component_ref.digest
        && *expected != digest
    {
        return Err(JobFailure::System(SystemError {
            reason: "digest-mismatch",
            message: format!(
                "the component at {} has digest {digest}, but the task was serialized with \
                 {expected}: it changed after `wasmdask serialize`; serialize and register the \
                 task again, or restore the original file",
                component_ref.uri
            ),
            recoverable: false,
        }));
    }

    let config = job.sandbox.clone().map_err(|message| SystemError {
        reason: "host",
        message,
        recoverable: false,
    })?;
    let (sandbox, component) = open(config, &bytes, &component_ref.uri)?;
    let task = component.task(&job.function).map_err(JobFailure::Task)?;

    let mut inputs = read_inputs(job, runtime, task.params.is_empty())?;
    fetch_offloaded(runtime, &mut inputs).map_err(|e| match e {
        OffloadError::Storage(e) => JobFailure::System(SystemError::storage(
            "cannot read an offloaded input literal",
            &e,
        )),
        OffloadError::Invalid(message) => {
            JobFailure::Task(TaskError::new(ErrorKind::BadInput, message))
        }
    })?;
    let mut call_args = args_from_inputs(&inputs, task).map_err(JobFailure::Task)?;

    // Stored inputs are mounted here (files fetched, directories listed), not by the sandbox,
    // so a store that fails is the platform's (recoverable) and a missing object the user's.
    let mut data =
        RootData::prepare(runtime, task, &mut call_args).map_err(|e| e.to_job_failure())?;

    let cluster = ClusterGuard::start(cluster_choice(job)?, &sandbox, Some(runtime))?;
    // Kept here too: a remote cluster takes no port, and the root's mounts live in its cache.
    cluster.set_data(data.port());
    let mounts = data.take_mounts();
    let report = cluster.run(&sandbox, &component, &task.name, call_args, mounts)?;
    // The runner's log is what Flyte shows: the guest's output belongs there.
    let output = GuestOutput::all_of(&report);
    let mut stderr = std::io::stderr().lock();
    let _ = if job.json_logs {
        output.print_json(&mut stderr, "guest")
    } else {
        output.print(&mut stderr, "guest")
    };
    drop(stderr);
    let mut value = report.outcome.map_err(root_failure)?;
    data.upload(
        runtime,
        task,
        value.as_mut(),
        job.raw_output_prefix.as_deref(),
    )
    .map_err(|e| e.to_job_failure())?;
    let mut literals = outputs_from_result(value.as_ref(), task).map_err(JobFailure::Task)?;
    let interface = wasmdask_flyte::typed_interface_of(task);
    let output_type = |name: &str| {
        interface
            .outputs
            .as_ref()
            .and_then(|o| o.variables.get(name))
            .and_then(|v| v.r#type.clone())
    };
    offload_large(runtime, &job.output_prefix, &mut literals, &output_type).map_err(
        |e| match e {
            OffloadError::Storage(e) => {
                JobFailure::System(SystemError::storage("cannot offload an output literal", &e))
            }
            OffloadError::Invalid(message) => {
                JobFailure::Task(TaskError::new(ErrorKind::GuestError, message))
            }
        },
    )?;
    Ok(literals)
}

/// How the root execution's failure reads in `error.pb`. A directory input's files are fetched
/// while the root runs (`StorePort`), and a fetch the store failed ends it as `lost`, which
/// nothing else can end a root execution with: that is the store's failure, `SYSTEM:storage`
/// (recoverable) as when the inputs are fetched before the task starts.
fn root_failure(error: TaskError) -> JobFailure {
    if error.kind == ErrorKind::Lost {
        JobFailure::System(SystemError {
            reason: "storage",
            message: error.message,
            recoverable: true,
        })
    } else {
        JobFailure::Task(error)
    }
}

/// A sandbox of `config` with the component loaded.
fn open(
    config: wasmdask_sandbox::SandboxConfig,
    bytes: &[u8],
    uri: &str,
) -> Result<(Arc<Sandbox>, Arc<wasmdask_sandbox::LoadedComponent>), JobFailure> {
    let sandbox = Sandbox::new(config)
        .map_err(|e| SystemError::host(format!("cannot start the sandbox: {e}")))?;
    let component = sandbox.load(bytes.to_vec()).map_err(|e| {
        JobFailure::Task(TaskError::new(
            ErrorKind::InvalidComponent,
            format!("{uri}: {e}"),
        ))
    })?;
    Ok((sandbox, component))
}

/// The scheduler at `$DASK_SCHEDULER_ADDRESS` (the operator sets it in the runner pod), else an
/// embedded cluster.
fn cluster_choice(job: &Job) -> Result<ClusterChoice, SystemError> {
    let Some(address) = std::env::var(SCHEDULER_ADDRESS_ENV)
        .ok()
        .filter(|a| !a.trim().is_empty())
    else {
        return Ok(ClusterChoice::Embedded {
            workers: job.workers,
        });
    };
    let target =
        Target::new(&address, job.token.clone(), job.tls_ca.clone()).map_err(|e| SystemError {
            reason: "scheduler-address",
            message: format!("{SCHEDULER_ADDRESS_ENV}: {e}"),
            recoverable: false,
        })?;
    Ok(ClusterChoice::Remote {
        target,
        patience: job.connect_timeout,
    })
}

fn read_inputs(job: &Job, runtime: &Runtime, no_params: bool) -> Result<LiteralMap, JobFailure> {
    let bad_input =
        |message: String| JobFailure::Task(TaskError::new(ErrorKind::BadInput, message));
    let Some(uri) = normalize_path_arg(Some(&job.inputs)) else {
        return if no_params {
            Ok(LiteralMap::default())
        } else {
            Err(bad_input(
                "--inputs is empty or an unsubstituted {{.input}} template".into(),
            ))
        };
    };
    match read_blocking(runtime, &uri) {
        Ok(bytes) => LiteralMap::decode(bytes).map_err(|e| {
            bad_input(format!(
                "{uri} is not a Flyte LiteralMap (inputs.pb written by Flyte or flytekit): {e}"
            ))
        }),
        // A task without parameters needs no inputs file.
        Err(StorageError::NotFound { .. }) if no_params => Ok(LiteralMap::default()),
        Err(e) => Err(SystemError::storage("cannot read the inputs", &e).into()),
    }
}
