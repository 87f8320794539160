//! `wasmdask run`: call one task export with typed arguments on an embedded cluster.

use super::{ExecutionArgs, Failure, LogFormat, Logging, default_workers};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmdask_cluster::{FailedSubtasks, GuestOutput, Progress};
use wasmdask_runner::fanout::{ClusterChoice, ClusterGuard};
use wasmdask_runner::local_data::{absolute_prefix, resolve_local_paths};
use wasmdask_runner::root_data::RootData;
use wasmdask_runner::task::{load_component, pick_task};
use wasmdask_sandbox::{ExecReport, Sandbox};
use wasmdask_values as values;

const RUN_EXAMPLES: &str = "\
Examples:
  wasmdask run tasks.wasm --function sum-of-squares -- n=1000
  wasmdask run tasks.wasm -f summarize --json -- 'samples=[1.5, 2, 8]' label=weights
  wasmdask run tasks.wasm -f summarize -- samples=@samples.json label=@title.txt
  seq 1000000 | jq -s . | wasmdask run tasks.wasm -f summarize -- samples=@-
  wasmdask run tasks.wasm -f hash-rounds --timeout 5s --memory-limit 256MiB -- seed=7 rounds=1000000

Arguments are KEY=VALUE pairs after `--`, one per parameter. VALUE is JSON when it fits the
parameter's type (numbers, lists, records as objects, options as null or the value); for string
parameters any text is taken literally. `wasmdask inspect` lists the parameters.

KEY=@FILE reads the value from FILE (relative to the current directory, absolute, or ~/…), for
values too big for a command line: FILE holds the value's JSON, except for a string (or
option<string>) parameter, which takes FILE's text exactly as it is, final newline included
(`printf %s`, not `echo`, to leave it out). KEY=@- reads the value from stdin (one argument at
most). To pass a value that starts with `@`, double it: KEY=@@TEXT is the text @TEXT. A bare
KEY=@ is an error.

A file, directory or dataset parameter (wasmdask:task/data) takes a local path or an object-store
URI; the task reads it under /inputs, and what it returns is copied under --outputs:
  wasmdask run tasks.wasm -f shard-sums -- shards=./shards/
  wasmdask run tasks.wasm -f shard-sums --outputs s3://bucket/out -- shards=s3://bucket/shards/";

#[derive(Debug, Args)]
#[command(after_help = RUN_EXAMPLES)]
pub struct RunArgs {
    /// The task component (.wasm).
    pub component: PathBuf,

    /// The export to call; may be omitted when the component exports exactly one function.
    #[arg(short, long, value_name = "NAME")]
    pub function: Option<String>,

    /// Worker threads of the embedded cluster that runs the task's fan-out [default: CPU count].
    #[arg(short, long, value_name = "N")]
    pub workers: Option<usize>,

    /// Print the result as one line of JSON (the documented value encoding).
    #[arg(long)]
    pub json: bool,

    /// Also print the guest's stdout, stderr and log lines (to stderr), and those of failed
    /// subtasks.
    #[arg(short, long)]
    pub verbose: bool,

    /// Run the fan-out on the cluster of this scheduler (tcp://HOST:PORT) instead of the
    /// embedded one.
    #[arg(long, value_name = "ADDRESS")]
    pub scheduler: Option<String>,

    /// Start a local scheduler and --workers worker processes on loopback and run the fan-out
    /// there (the real distributed topology, on one machine).
    #[arg(long, conflicts_with = "scheduler")]
    pub processes: bool,

    /// Where files, directories and datasets the task returns are copied, each to a fresh
    /// `<random>/<name>` under it: a local directory or an object-store URI (s3://…).
    #[arg(long, value_name = "PREFIX", default_value = "wasmdask-outputs")]
    pub outputs: String,

    #[command(flatten)]
    pub exec: ExecutionArgs,

    /// Task arguments as KEY=VALUE, or KEY=@FILE to read a value from a file, after `--`.
    #[arg(last = true, value_name = "KEY=VALUE")]
    pub args: Vec<String>,
}

pub(super) fn run(args: RunArgs, logging: Logging) -> Result<(), Failure> {
    let config = args.exec.sandbox.to_config(args.exec.memory.bytes)?;
    let workers = match args.workers {
        Some(0) => return Err(Failure::usage("--workers must be at least 1")),
        Some(n) => n,
        None => default_workers(),
    };
    let sandbox = Sandbox::new(config).map_err(|e| Failure::host(e.to_string()))?;
    let component = load_component(&sandbox, &args.component)?;
    let task = pick_task(&component, args.function.as_deref())?;
    let mut call_args = values::args_from_key_values(&args.args, &task.params, read_arg_file)
        .map_err(|e| Failure::usage(format!("`{}`: {e}", task.name)))?;
    resolve_local_paths(&task, &mut call_args)?;
    let outputs = absolute_prefix(&args.outputs)?;
    // Only a component that handles stored data pays for an object-store client.
    let mut data = if component.uses_stored_data() {
        let runtime = Arc::new(wasmdask_runner::runtime()?);
        let data = RootData::prepare(&runtime, &task, &mut call_args)
            .map_err(|e| Failure::task(&e.to_task_error()))?;
        Some((runtime, data))
    } else {
        None
    };

    let choice = if args.processes {
        ClusterChoice::Processes {
            workers,
            worker_flags: args.exec.sandbox.to_flags(),
            memory_limit: args.exec.memory.bytes,
            env: logging.child_env(),
        }
    } else if let Some(address) = &args.scheduler {
        ClusterChoice::Remote {
            target: args.exec.auth.target(Some(address))?,
            patience: Duration::ZERO,
        }
    } else {
        ClusterChoice::Embedded { workers }
    };
    let cluster = ClusterGuard::start(choice, &sandbox, data.as_ref().map(|(rt, _)| rt))?;
    let mut mounts = Vec::new();
    if let Some((_, data)) = data.as_mut() {
        cluster.set_data(data.port());
        mounts = data.take_mounts();
    }
    let bar = progress_bar(cluster.progress.clone());
    let report = cluster.run(&sandbox, &component, &task.name, call_args, mounts)?;
    if let Some(stop) = bar {
        stop.store(true, Ordering::Relaxed);
    }
    if args.verbose {
        print_guest_output(&report, &cluster.failures, logging.format);
    }
    for denial in &report.denials {
        tracing::warn!("{}", denial.explain());
    }
    let mut value = report.outcome.map_err(|e| Failure::task(&e))?;
    if let Some((runtime, data)) = &data {
        data.upload(runtime, &task, value.as_mut(), Some(&outputs))
            .map_err(|e| Failure::task(&e.to_task_error()))?;
    }
    let json = value
        .as_ref()
        .map_or(serde_json::Value::Null, values::from_val);
    let text = match (&json, args.json) {
        (serde_json::Value::String(s), false) => s.clone(),
        (_, false) => serde_json::to_string_pretty(&json).unwrap_or_default(),
        (_, true) => json.to_string(),
    };
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (e.g. `| head`) is not a failure of the task.
    let _ = writeln!(stdout, "{text}");
    Ok(())
}

/// The bytes of a `KEY=@FILE` (or `KEY=@-`) task argument, read whole: the values crate
/// parses them and words the error. A leading `~/` is the home directory, since the shell
/// expands `~` after `KEY=` but not after `KEY=@`.
pub(super) fn read_arg_file(file: values::ArgFile<'_>) -> std::io::Result<Vec<u8>> {
    match file {
        values::ArgFile::Path(path) => match (path.strip_prefix("~/"), std::env::home_dir()) {
            (Some(rest), Some(home)) => std::fs::read(home.join(rest)),
            _ => std::fs::read(path),
        },
        values::ArgFile::Stdin => {
            let mut bytes = Vec::new();
            std::io::stdin().lock().read_to_end(&mut bytes)?;
            Ok(bytes)
        }
    }
}

/// A bar of subtasks done / submitted on stderr, only when stderr is a terminal. Returns the
/// stop flag of its polling thread.
fn progress_bar(progress: Arc<Progress>) -> Option<Arc<AtomicBool>> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    std::thread::spawn(move || {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} subtasks {pos}/{len} [{wide_bar}] {per_sec} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        while !stopped.load(Ordering::Relaxed) {
            let submitted = progress.submitted.load(Ordering::Relaxed);
            let failed = progress.failed.load(Ordering::Relaxed);
            if submitted > 0 {
                bar.set_length(submitted);
                bar.set_position(progress.done.load(Ordering::Relaxed) + failed);
                if failed > 0 {
                    bar.set_message(format!("{failed} failed"));
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bar.finish_and_clear();
    });
    Some(stop)
}

/// The root task's output, then the failed subtasks' (embedded or remote alike: workers send a
/// failed task's output back with its error).
fn print_guest_output(report: &ExecReport, failures: &FailedSubtasks, format: LogFormat) {
    let mut err = std::io::stderr().lock();
    let output = GuestOutput::all_of(report);
    if format == LogFormat::Json {
        let _ = output.print_json(&mut err, "guest");
        let _ = failures.print_json(&mut err);
        // Written, not logged: `--verbose` asks for it whatever the log filter.
        let summary = serde_json::json!({
            "timestamp": humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string(),
            "level": "INFO",
            "target": "wasmdask::run",
            "message": "task finished",
            "instantiate": format!("{:?}", report.instantiate_time),
            "total": format!("{:?}", report.elapsed),
            "submitted": report.submitted,
        });
        let _ = writeln!(err, "{summary}");
        return;
    }
    let _ = output.print(&mut err, "guest");
    let _ = failures.print(&mut err);
    let _ = writeln!(
        err,
        "--- instantiate {:?}, total {:?}, subtasks submitted {} ---",
        report.instantiate_time, report.elapsed, report.submitted
    );
}
