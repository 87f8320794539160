//! `wasmdask execute`: the job runner of a Flyte `dask` task (the pyflyte-execute contract).
//!
//! Reads `inputs.pb`, fetches and verifies the component, calls the export — its fan-out going
//! to the Dask-shaped cluster at `$DASK_SCHEDULER_ADDRESS` (set by the dask-kubernetes operator
//! in the runner pod), or to an embedded one — and writes `outputs.pb`, or `error.pb` on any
//! failure. Like pyflyte-execute it exits 0 after writing `error.pb` (Flyte reads the file),
//! unless `FLYTE_FAIL_ON_ERROR=true`.

use std::time::Duration;

use clap::Args;

use super::units::parse_duration;
use super::{ExecutionArgs, Failure, LogFormat, default_workers};
use wasmdask_flyte::execute::normalize_path_arg;
use wasmdask_runner::execute::{Job, JobFailure};

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

    /// Where the files, directories and datasets a task returns are uploaded (under a fresh
    /// random directory each, as flytekit does).
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

    #[command(flatten)]
    pub exec: ExecutionArgs,

    /// The component (`URI[@sha256:HEX]`) and the export to call, after `--`.
    #[arg(last = true, required = true, num_args = 2, value_names = ["COMPONENT", "FUNCTION"])]
    pub target: Vec<String>,
}

pub(super) fn execute(args: ExecuteArgs, log_format: LogFormat) -> Result<(), Failure> {
    let output_prefix = normalize_path_arg(Some(&args.output_prefix)).ok_or_else(|| {
        Failure::usage("--output-prefix is empty or an unsubstituted {{.outputPrefix}} template")
    })?;
    let [component, function] = args.target.as_slice() else {
        unreachable!("clap requires exactly two values after --");
    };
    let job = Job {
        inputs: args.inputs.clone(),
        output_prefix,
        raw_output_prefix: normalize_path_arg(args.raw_output_data_prefix.as_deref()),
        component: component.clone(),
        function: function.clone(),
        sandbox: args
            .exec
            .sandbox
            .to_config(args.exec.memory.bytes)
            .map_err(|f| f.message),
        workers: args.workers.unwrap_or_else(default_workers).max(1),
        token: args.exec.auth.token.clone(),
        tls_ca: args.exec.auth.tls_ca.clone(),
        connect_timeout: args.connect_timeout,
        json_logs: log_format == LogFormat::Json,
    };
    let written = wasmdask_runner::execute::execute(&job)?;
    let Some(failure) = written.failure else {
        return Ok(());
    };
    match log_format {
        LogFormat::Text => eprintln!("{failure} (written to {})", written.uri),
        // The pod's log collector reads one JSON object per line.
        LogFormat::Json => tracing::error!(written_to = %written.uri, "{failure}"),
    }
    let fail = std::env::var("FLYTE_FAIL_ON_ERROR")
        .is_ok_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1"));
    match (fail, failure) {
        (false, _) => Ok(()),
        (true, JobFailure::Task(error)) => Err(Failure::task(&error)),
        // The job ran and failed, through no fault of the task: exit 1 like a task failure.
        (true, JobFailure::System(error)) => Err(Failure {
            code: 1,
            message: error.to_string(),
        }),
    }
}
