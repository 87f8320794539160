//! The TaskTemplate of a `dask` task whose job runner is `wasmdask execute`.
//!
//! It is what flytekit's `DaskTask` serializes (same `type`, same `custom`, same argument
//! placeholders), except that the runner's command is `wasmdask execute` and the code is a
//! component named by URI *and digest*, so the runner verifies it fetched the bytes that were
//! serialized. With a [`PodTemplate`] the target is a `k8s_pod` instead of a container, as
//! flytekit writes `@task(pod_template=...)`.

use super::dask::{Dask, Resources, TASK_CONTAINER_ORDER, to_idl_resources};
use super::idl::admin::TaskSpec;
use super::idl::core::{
    Container, Identifier, ResourceType, RetryStrategy, RuntimeMetadata, TaskMetadata,
    TaskTemplate, runtime_metadata, task_template,
};
use super::idl::{json_to_struct, to_json};
use super::interface::typed_interface;
use super::pod_template::{PRIMARY_CONTAINER_KEY, PodTemplate};
use wasmdask_sandbox::TaskSig;

/// flytekitplugins-dask's task type.
pub const DASK_TASK_TYPE: &str = "dask";

/// What `flytectl register files` substitutes, as in `pyflyte package` output.
pub const PROJECT_PLACEHOLDER: &str = "{{ registration.project }}";
/// See [`PROJECT_PLACEHOLDER`].
pub const DOMAIN_PLACEHOLDER: &str = "{{ registration.domain }}";
/// See [`PROJECT_PLACEHOLDER`].
pub const VERSION_PLACEHOLDER: &str = "{{ registration.version }}";

/// Everything about a serialized task that does not come from the component.
#[derive(Debug, Clone)]
pub struct TemplateOptions {
    /// The container image (runner; scheduler and workers too unless the spec overrides it).
    pub image: String,
    /// Flyte task name prefix; the task is `<prefix>.<function in snake_case>`.
    pub name_prefix: String,
    /// The Flyte project.
    pub project: String,
    /// The Flyte domain.
    pub domain: String,
    /// The task version.
    pub version: String,
    /// Where the runner fetches the component: a path inside the image, `file://` or `s3://`.
    pub component_uri: String,
    /// The component's digest (`sha256:<hex>`), checked by the runner.
    pub digest: String,
    /// The task container's requests, written to the TaskTemplate's container as
    /// `@task(requests=...)` would.
    pub requests: Option<Resources>,
    /// The task container's limits, as `@task(limits=...)` would write them.
    pub limits: Option<Resources>,
    /// The task's pod template (`@task(pod_template=...)`): the runner, scheduler and workers
    /// all start from it.
    pub pod_template: Option<PodTemplate>,
}

/// `<uri>@sha256:<hex>`: the component reference `wasmdask execute` takes.
pub fn component_ref(uri: &str, digest: &str) -> String {
    format!("{uri}@{digest}")
}

/// The job runner's container args, with the placeholders flytepropeller substitutes.
pub fn execute_args(component_ref: &str, function: &str) -> Vec<String> {
    execute_command(
        &[
            ("--inputs", "{{.input}}"),
            ("--output-prefix", "{{.outputPrefix}}"),
            ("--raw-output-data-prefix", "{{.rawOutputDataPrefix}}"),
            ("--checkpoint-path", "{{.checkpointOutputPrefix}}"),
            ("--prev-checkpoint", "{{.prevCheckpointPrefix}}"),
        ],
        component_ref,
        function,
    )
}

/// The runner's args without Flyte: the inputs and output prefix given, and none of the
/// optional checkpoint and raw-output flags, which only propeller fills.
pub fn execute_args_at(
    component_ref: &str,
    function: &str,
    inputs: &str,
    output_prefix: &str,
) -> Vec<String> {
    execute_command(
        &[("--inputs", inputs), ("--output-prefix", output_prefix)],
        component_ref,
        function,
    )
}

/// `wasmdask execute FLAG VALUE… -- COMPONENT FUNCTION`.
fn execute_command(flags: &[(&str, &str)], component_ref: &str, function: &str) -> Vec<String> {
    let mut args = vec!["wasmdask".to_string(), "execute".to_string()];
    for (flag, value) in flags {
        args.extend([flag.to_string(), value.to_string()]);
    }
    args.extend([
        "--".to_string(),
        component_ref.to_string(),
        function.to_string(),
    ]);
    args
}

/// The Flyte task name of `function`.
pub fn task_name(prefix: &str, function: &str) -> String {
    format!("{prefix}.{}", function.replace('-', "_"))
}

/// The TaskSpec (as `pyflyte package` writes it) of one exported task.
pub fn task_spec(task: &TaskSig, dask: &Dask, options: &TemplateOptions) -> TaskSpec {
    let custom = match to_json(&dask.to_idl(), "flyteidl.plugins.DaskJob") {
        serde_json::Value::Object(map) => json_to_struct(&map),
        other => unreachable!("a message is a JSON object, got {other}"),
    };
    let container = Container {
        image: options.image.clone(),
        command: Vec::new(),
        args: execute_args(
            &component_ref(&options.component_uri, &options.digest),
            &task.name,
        ),
        resources: Some(to_idl_resources(
            options.requests.as_ref(),
            options.limits.as_ref(),
            TASK_CONTAINER_ORDER,
        )),
        env: Vec::new(),
    };
    let config = options
        .pod_template
        .iter()
        .map(|p| {
            (
                PRIMARY_CONTAINER_KEY.into(),
                p.primary_container_name.clone(),
            )
        })
        .collect();
    let template = TaskTemplate {
        id: Some(Identifier {
            resource_type: ResourceType::Task as i32,
            project: options.project.clone(),
            domain: options.domain.clone(),
            name: task_name(&options.name_prefix, &task.name),
            version: options.version.clone(),
            org: String::new(),
        }),
        r#type: DASK_TASK_TYPE.into(),
        metadata: Some(TaskMetadata {
            runtime: Some(RuntimeMetadata {
                r#type: runtime_metadata::RuntimeType::FlyteSdk as i32,
                version: env!("CARGO_PKG_VERSION").into(),
                flavor: "wasmdask".into(),
            }),
            retries: Some(RetryStrategy::default()),
            generates_deck: Some(false),
            ..TaskMetadata::default()
        }),
        interface: Some(typed_interface(task)),
        custom: Some(custom),
        target: Some(match &options.pod_template {
            Some(pod_template) => task_template::Target::K8sPod(pod_template.k8s_pod(&container)),
            None => task_template::Target::Container(container),
        }),
        task_type_version: 0,
        config,
    };
    TaskSpec {
        template: Some(template),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runner_args_without_flyte_fill_what_propeller_would() {
        assert_eq!(
            execute_args_at(
                "s3://b/t.wasm@sha256:ab",
                "sum",
                "s3://b/in.pb",
                "s3://b/out"
            ),
            [
                "wasmdask",
                "execute",
                "--inputs",
                "s3://b/in.pb",
                "--output-prefix",
                "s3://b/out",
                "--",
                "s3://b/t.wasm@sha256:ab",
                "sum"
            ]
        );
    }

    #[test]
    fn flyte_args_carry_every_placeholder() {
        assert_eq!(
            execute_args("c@sha256:ab", "sum").join(" "),
            "wasmdask execute --inputs {{.input}} --output-prefix {{.outputPrefix}} \
             --raw-output-data-prefix {{.rawOutputDataPrefix}} \
             --checkpoint-path {{.checkpointOutputPrefix}} \
             --prev-checkpoint {{.prevCheckpointPrefix}} -- c@sha256:ab sum"
        );
    }
}
