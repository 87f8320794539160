//! `wasmdask serialize`: one Flyte `dask` TaskSpec per exported task, ready for
//! `flytectl register files`.

use std::path::PathBuf;

use clap::Args;
use prost::Message;

use super::Failure;
use super::token_args::TokenSecretArg;
use super::{absolute_uri, load_dask};
use wasmdask_flyte::Resources;
use wasmdask_flyte::idl::to_json;
use wasmdask_flyte::template::{
    DOMAIN_PLACEHOLDER, PROJECT_PLACEHOLDER, TemplateOptions, VERSION_PLACEHOLDER, task_spec,
};
use wasmdask_k8s::TokenSecret;
use wasmdask_runner::task::inspect_component;

const SERIALIZE_EXAMPLES: &str = "\
Examples:
  kubectl create secret generic wasmdask-token --from-literal=token=$(openssl rand -hex 16)
  wasmdask serialize tasks.wasm --config dask.yaml --image ghcr.io/me/wasmdask:0.1 \\
      --component-uri s3://my-bucket/tasks/tasks.wasm -o flyte-out
  flytectl register files flyte-out/*.pb --project flytesnacks --domain development --version v1

dask.yaml mirrors flytekitplugins-dask's Dask(...) (YAML, JSON or TOML):
  scheduler: {image: ghcr.io/me/wasmdask:0.1, limits: {cpu: \"2\", mem: 4Gi}}
  workers: {number_of_workers: 3, limits: {cpu: \"4\", mem: 16Gi, gpu: \"1\"}}

Each task is written as NN_<name>_1.pb (a flyteidl.admin.TaskSpec, as `pyflyte package`
writes); --json adds the same as proto3 JSON. The runner fetches the component from
--component-uri and checks its digest, so upload the exact file you serialized.

The scheduler pod listens beyond loopback, so it refuses to start without WASMDASK_TOKEN. Each
task therefore carries a pod template (flytekit's `@task(pod_template=...)` form) whose primary
container reads WASMDASK_TOKEN from the Secret key --token-secret names; the Flyte backend
builds the runner, the scheduler and the workers from it. Create that Secret once per
namespace that runs the task (the `kubectl create secret` line above, with
`-n <project>-<domain>`).";

#[derive(Debug, Args)]
#[command(after_help = SERIALIZE_EXAMPLES)]
pub struct SerializeArgs {
    /// The task component (.wasm).
    pub component: PathBuf,

    /// The Dask spec (YAML, JSON or TOML) [default: Dask(): one worker, the task's resources].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The host image that runs the job runner (and the scheduler and workers, unless the
    /// spec names their own).
    #[arg(long, value_name = "IMAGE")]
    pub image: String,

    /// Where the runner fetches the component: s3://…, file://… or a path inside the image
    /// [default: the component's absolute path here, for local runs].
    #[arg(long, value_name = "URI")]
    pub component_uri: Option<String>,

    /// Task name prefix: tasks are named PREFIX.<function> [default: the file's stem].
    #[arg(long, value_name = "PREFIX")]
    pub name: Option<String>,

    /// Flyte project [default: the placeholder `flytectl register` fills in].
    #[arg(long, default_value = PROJECT_PLACEHOLDER)]
    pub project: String,

    /// Flyte domain [default: the placeholder `flytectl register` fills in].
    #[arg(long, default_value = DOMAIN_PLACEHOLDER)]
    pub domain: String,

    /// Task version [default: the placeholder `flytectl register` fills in].
    #[arg(long, default_value = VERSION_PLACEHOLDER)]
    pub version: String,

    /// Requests of the task container, e.g. cpu=1,mem=2Gi (as @task(requests=Resources(...))).
    #[arg(long, value_name = "RESOURCES", value_parser = Resources::parse_pairs)]
    pub task_requests: Option<Resources>,

    /// Limits of the task container, e.g. cpu=2,mem=4Gi,gpu=1,ephemeral_storage=10Gi.
    #[arg(long, value_name = "RESOURCES", value_parser = Resources::parse_pairs)]
    pub task_limits: Option<Resources>,

    #[command(flatten)]
    pub token: TokenSecretArg,

    /// Serialize only this export (repeatable) [default: every export].
    #[arg(short, long = "function", value_name = "NAME")]
    pub functions: Vec<String>,

    /// Also write each TaskSpec as proto3 JSON (NN_<name>_1.json).
    #[arg(long)]
    pub json: bool,

    /// Output directory (created if missing).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
}

pub(super) fn serialize(args: SerializeArgs) -> Result<(), Failure> {
    let dask = load_dask(args.config.as_deref())?;
    if args.image.trim().is_empty() {
        return Err(Failure::usage(
            "--image is empty; name the wasmdask host image",
        ));
    }
    let component = inspect_component(&args.component)?;
    let tasks = if args.functions.is_empty() {
        component.tasks.iter().collect::<Vec<_>>()
    } else {
        args.functions
            .iter()
            .map(|f| component.task(f).map_err(|e| Failure::component(e.message)))
            .collect::<Result<_, _>>()?
    };
    let component_uri = match &args.component_uri {
        Some(uri) => uri.clone(),
        None => {
            let absolute = absolute_uri(&args.component)?;
            eprintln!(
                "note: the runner will read the component from {absolute} — pass \
                 --component-uri (e.g. s3://bucket/tasks.wasm) when it runs anywhere else"
            );
            absolute
        }
    };
    if args.token.token_secret.is_none() {
        eprintln!(
            "note: no --token-secret: the scheduler pod refuses to start without \
             WASMDASK_TOKEN unless a pod template of your own sets it"
        );
    }
    let options = TemplateOptions {
        image: args.image.clone(),
        name_prefix: args.name.clone().unwrap_or_else(|| {
            args.component
                .file_stem()
                .map_or("wasmdask".into(), |s| s.to_string_lossy().into_owned())
        }),
        project: args.project.clone(),
        domain: args.domain.clone(),
        version: args.version.clone(),
        component_uri,
        digest: component.digest.clone(),
        requests: args.task_requests.clone(),
        limits: args.task_limits.clone(),
        pod_template: args
            .token
            .token_secret
            .as_ref()
            .map(TokenSecret::pod_template),
    };
    std::fs::create_dir_all(&args.output)
        .map_err(|e| Failure::usage(format!("cannot create {}: {e}", args.output.display())))?;
    for (i, task) in tasks.iter().enumerate() {
        let spec = task_spec(task, &dask, &options);
        let name = spec
            .template
            .as_ref()
            .and_then(|t| t.id.as_ref())
            .map_or_else(String::new, |id| id.name.clone());
        let write = |ext: &str, bytes: Vec<u8>| {
            let path = args.output.join(format!("{i}_{name}_1.{ext}"));
            std::fs::write(&path, bytes)
                .map_err(|e| Failure::host(format!("cannot write {}: {e}", path.display())))?;
            eprintln!("wrote {}", path.display());
            Ok::<_, Failure>(())
        };
        write("pb", spec.encode_to_vec())?;
        if args.json {
            let json = to_json(&spec, "flyteidl.admin.TaskSpec");
            write("json", serde_json::to_vec_pretty(&json).unwrap_or_default())?;
        }
    }
    Ok(())
}
