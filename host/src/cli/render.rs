//! `wasmdask render`: the Kubernetes objects of one task — the `DaskJob` the Flyte backend would
//! submit, a standing `DaskCluster`, or the plain Pods and Service the operator would run — for
//! `kubectl apply -f -` without Flyte.
//!
//! Without Flyte nobody substitutes `{{.input}}` and `{{.outputPrefix}}`: `--output-prefix`
//! names where the runner writes `outputs.pb`/`error.pb`, and the `-- key=value` inputs are
//! written as a Flyte `inputs.pb` to `--inputs` (default `<output-prefix>/inputs.pb`), which
//! the runner pod reads. Use s3:// (or a volume path) the pods can reach.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::Failure;
use super::run::read_arg_file;
use super::token_args::TokenSecretArg;
use super::{absolute_uri, load_dask};
use wasmdask_flyte::Resources;
use wasmdask_flyte::template::{component_ref, execute_args_at};
use wasmdask_k8s::default_cluster_name;
use wasmdask_k8s::{RenderSpec, dask_cluster, dask_job, pods};
use wasmdask_runner::inputs::parse_inputs;
use wasmdask_runner::storage::Location;
use wasmdask_runner::task::{inspect_component, pick_task};

const RENDER_EXAMPLES: &str = "\
Examples:
  kubectl create secret generic wasmdask-token --from-literal=token=$(openssl rand -hex 16)
  wasmdask render tasks.wasm -f sum-of-squares --config dask.yaml --image ghcr.io/me/wasmdask:0.1 \\
      --component-uri s3://bucket/tasks.wasm --output-prefix s3://bucket/runs/1 -- n=1000 \\
    | kubectl apply -f -
  kubectl get daskjobs      # then read s3://bucket/runs/1/outputs.pb (or error.pb)

The inputs after `--` are written as inputs.pb to --inputs (default <output-prefix>/inputs.pb);
without them, --inputs names an inputs.pb that already exists. They are KEY=VALUE as for
`wasmdask run`, and KEY=@FILE reads a value from a file (its JSON; a string parameter takes the
text as it is), KEY=@- from stdin, KEY=@@TEXT is the text @TEXT (see `wasmdask run --help`):
  wasmdask render tasks.wasm -f summarize --image ghcr.io/me/wasmdask:0.1 \\
      --output-prefix s3://bucket/runs/2 -- samples=@samples.json label=weights
A file, directory or dataset parameter takes an object-store URI, which the pods read where it
is, or a local path, which is first copied to <output-prefix>/inputs/<random>/<name>:
  wasmdask render tasks.wasm -f shard-sums --image ghcr.io/me/wasmdask:0.1 \\
      --output-prefix s3://bucket/runs/3 -- shards=./shards/

The scheduler listens beyond loopback, so it refuses to start without WASMDASK_TOKEN: every
container reads it from the Secret key --token-secret names (NAME or NAME/KEY, as for
`wasmdask serialize`), which the `kubectl create secret` line above makes.";

/// What to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The `kubernetes.dask.org/v1 DaskJob` the Flyte Dask plugin submits.
    Daskjob,
    /// A standing `DaskCluster` (scheduler + workers, no runner).
    Daskcluster,
    /// A `v1 List` of the Pods and Service the operator would run, with the env it injects.
    Pods,
}

#[derive(Debug, Args)]
#[command(after_help = RENDER_EXAMPLES)]
pub struct RenderArgs {
    /// The task component (.wasm).
    pub component: PathBuf,

    /// The export to run [default: the component's only export].
    #[arg(short, long, value_name = "NAME")]
    pub function: Option<String>,

    /// The Dask spec (YAML, JSON or TOML) [default: Dask(): one worker, the task's resources].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The wasmdask host image (runner; scheduler and workers unless the spec names theirs).
    #[arg(long, value_name = "IMAGE")]
    pub image: String,

    /// Cluster and job name, at most 53 characters [default: <file stem>-<function>].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// The namespace of every object (and of the scheduler's Service DNS name).
    #[arg(long, value_name = "NS", default_value = "default")]
    pub namespace: String,

    /// What to print.
    #[arg(long, value_enum, default_value = "daskjob")]
    pub format: Format,

    /// Where the runner fetches the component: s3://…, file://… or a path inside the image
    /// [default: the component's absolute path here].
    #[arg(long, value_name = "URI")]
    pub component_uri: Option<String>,

    /// Where the runner writes outputs.pb or error.pb (required except for daskcluster).
    #[arg(long, value_name = "URI")]
    pub output_prefix: Option<String>,

    /// The runner's inputs.pb; written here from the `-- key=value` inputs
    /// [default: <output-prefix>/inputs.pb].
    #[arg(long, value_name = "URI")]
    pub inputs: Option<String>,

    /// Requests of the task container, e.g. cpu=1,mem=2Gi.
    #[arg(long, value_name = "RESOURCES", value_parser = Resources::parse_pairs)]
    pub task_requests: Option<Resources>,

    /// Limits of the task container, e.g. cpu=2,mem=4Gi,gpu=1,ephemeral_storage=10Gi.
    #[arg(long, value_name = "RESOURCES", value_parser = Resources::parse_pairs)]
    pub task_limits: Option<Resources>,

    #[command(flatten)]
    pub token: TokenSecretArg,

    /// Print JSON instead of YAML.
    #[arg(long)]
    pub json: bool,

    /// The task's inputs, KEY=VALUE or KEY=@FILE as for `wasmdask run`.
    #[arg(last = true, value_name = "KEY=VALUE")]
    pub args: Vec<String>,
}

pub(super) fn render(args: RenderArgs) -> Result<(), Failure> {
    let dask = load_dask(args.config.as_deref())?;
    let component = inspect_component(&args.component)?;
    let task = pick_task(&component, args.function.as_deref())?;
    let stem = args
        .component
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let name = match &args.name {
        Some(name) => name.clone(),
        None => default_cluster_name(&stem, &task.name),
    };

    // Where the `-- key=value` inputs go, written only once the objects rendered.
    let mut inputs_to_write = None;
    let runner = if args.format == Format::Daskcluster {
        Vec::new()
    } else {
        let prefix = args.output_prefix.as_deref().ok_or_else(|| {
            Failure::usage(
                "--output-prefix is required: the runner writes outputs.pb or error.pb there \
                 (e.g. s3://bucket/runs/1)",
            )
        })?;
        let inputs = args
            .inputs
            .clone()
            .unwrap_or_else(|| Location::join(prefix, "inputs.pb"));
        if !args.args.is_empty() || args.inputs.is_none() {
            inputs_to_write = Some((
                inputs.clone(),
                prefix.to_string(),
                parse_inputs(&task, &args.args, read_arg_file)?,
            ));
        }
        let uri = match &args.component_uri {
            Some(uri) => uri.clone(),
            None => absolute_uri(&args.component)?,
        };
        execute_args_at(
            &component_ref(&uri, &component.digest),
            &task.name,
            &inputs,
            prefix,
        )
    };

    let spec = RenderSpec {
        name,
        namespace: args.namespace.clone(),
        image: args.image.clone(),
        dask,
        task_requests: args.task_requests.clone(),
        task_limits: args.task_limits.clone(),
        runner_args: runner,
        token_secret: args.token.token_secret.clone(),
    };
    let usage = |e: wasmdask_k8s::RenderError| Failure::usage(e.to_string());
    let text = match args.format {
        Format::Daskjob => print(&dask_job(&spec).map_err(usage)?, args.json),
        Format::Daskcluster => print(&dask_cluster(&spec).map_err(usage)?, args.json),
        Format::Pods => print(&pods(&spec).map_err(usage)?, args.json),
    }?;
    if let Some((uri, prefix, inputs)) = inputs_to_write {
        inputs.write(&uri, &prefix)?;
        eprintln!("wrote the inputs to {uri}");
    }
    print!("{text}");
    Ok(())
}

fn print(object: &impl serde::Serialize, json: bool) -> Result<String, Failure> {
    let text = if json {
        serde_json::to_string_pretty(object)
            .map(|t| t + "\n")
            .map_err(|e| e.to_string())
    } else {
        serde_yaml_ng::to_string(object).map_err(|e| e.to_string())
    };
    text.map_err(|e| Failure::host(format!("cannot print the objects: {e}")))
}
