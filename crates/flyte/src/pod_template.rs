//! flytekit's `@task(pod_template=PodTemplate(...))`: the TaskTemplate's target becomes a
//! `k8s_pod` whose primary container is the task's own container merged into the template's.
//!
//! This is how a task gets what its container alone cannot carry, such as an environment
//! variable taken from a Kubernetes Secret. The Flyte backend builds the pod from it
//! (`ToK8sPodSpec`), and its Dask plugin copies that pod, renamed per role, into the runner,
//! the scheduler and the workers (contract §3), so whatever the primary container holds reaches
//! all three.

use serde_json::{Map, Value, json};

use super::idl::core::resources::{ResourceEntry, ResourceName};
use super::idl::core::{Container, K8sObjectMetadata, K8sPod};
use super::idl::json_to_struct;

/// flytekit's default primary container name (`PRIMARY_CONTAINER_DEFAULT_NAME`).
pub const PRIMARY_CONTAINER: &str = "primary";

/// The TaskTemplate `config` key that names the primary container; the backend refuses a
/// `k8s_pod` task without it (flyteplugins' `PrimaryContainerKey`).
pub(crate) const PRIMARY_CONTAINER_KEY: &str = "primary_container_name";

/// A task's pod template, as flytekit's `PodTemplate(pod_spec=…, primary_container_name=…)`.
#[derive(Debug, Clone, PartialEq)]
pub struct PodTemplate {
    /// A Kubernetes `PodSpec` in its JSON form (camelCase, as the API server takes it).
    pub pod_spec: Map<String, Value>,
    /// The container the task's container is merged into; added when the spec lacks it.
    pub primary_container_name: String,
}

impl PodTemplate {
    /// flytekit's `get_k8s_pod` (`_serialize_pod_spec`): the primary container gets the task's
    /// command, args and (when set) resources, the task's image unless the template names one,
    /// and the task's environment ahead of its own. Other containers are left as they are.
    pub(crate) fn k8s_pod(&self, task: &Container) -> K8sPod {
        let mut pod_spec = self.pod_spec.clone();
        let containers = pod_spec.entry("containers").or_insert_with(|| json!([]));
        if !containers.is_array() {
            *containers = json!([]);
        }
        let containers = containers.as_array_mut().expect("made an array above");
        let name = self.primary_container_name.as_str();
        let index = match containers.iter().position(|c| c["name"] == name) {
            Some(index) => index,
            None => {
                containers.push(json!({ "name": name }));
                containers.len() - 1
            }
        };
        let primary = containers[index]
            .as_object_mut()
            .expect("a container with a name is an object");
        merge_primary(primary, task);
        K8sPod {
            metadata: Some(K8sObjectMetadata::default()),
            pod_spec: Some(json_to_struct(&pod_spec)),
        }
    }
}

fn merge_primary(primary: &mut Map<String, Value>, task: &Container) {
    if primary.get("image").is_none_or(Value::is_null) {
        primary.insert("image".into(), json!(task.image));
    }
    primary.insert("command".into(), json!(task.command));
    primary.insert("args".into(), json!(task.args));
    if let Some(resources) = &task.resources
        && !(resources.requests.is_empty() && resources.limits.is_empty())
    {
        // Both keys, as flytekit's `V1ResourceRequirements(limits=…, requests=…)` prints them.
        primary.insert(
            "resources".into(),
            json!({
                "requests": resource_map(&resources.requests),
                "limits": resource_map(&resources.limits),
            }),
        );
    }
    let mut env: Vec<Value> = task
        .env
        .iter()
        .map(|kv| json!({"name": kv.key, "value": kv.value}))
        .collect();
    if let Some(Value::Array(own)) = primary.remove("env") {
        env.extend(own);
    }
    primary.insert("env".into(), Value::Array(env));
}

/// flytekit's `_sanitize_resource_name`: the flyteidl name lowercased, `_` → `-` (`cpu`,
/// `memory`, `gpu`, `ephemeral-storage`); the backend maps `gpu` to its GPU resource name.
fn resource_map(entries: &[ResourceEntry]) -> Map<String, Value> {
    entries
        .iter()
        .map(|entry| {
            let name = ResourceName::try_from(entry.name)
                .unwrap_or(ResourceName::Unknown)
                .as_str_name()
                .to_lowercase()
                .replace('_', "-");
            (name, json!(entry.value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idl::core::{KeyValuePair, Resources};
    use crate::idl::struct_to_json;

    fn task() -> Container {
        Container {
            image: "img:1".into(),
            command: Vec::new(),
            args: vec!["wasmdask".into(), "execute".into()],
            resources: Some(Resources {
                requests: Vec::new(),
                limits: vec![
                    ResourceEntry {
                        name: ResourceName::Cpu as i32,
                        value: "2".into(),
                    },
                    ResourceEntry {
                        name: ResourceName::EphemeralStorage as i32,
                        value: "1Gi".into(),
                    },
                ],
            }),
            env: vec![KeyValuePair {
                key: "A".into(),
                value: "b".into(),
            }],
        }
    }

    fn pod_spec(k8s_pod: &K8sPod) -> Value {
        struct_to_json(k8s_pod.pod_spec.as_ref().unwrap()).unwrap()
    }

    #[test]
    fn the_task_container_merges_into_the_primary_one() {
        let template = PodTemplate {
            pod_spec: json!({
                "containers": [
                    {"name": "sidecar", "image": "side:1"},
                    {"name": "primary", "env": [{"name": "T", "valueFrom": {}}]},
                ],
                "priorityClassName": "high",
            })
            .as_object()
            .unwrap()
            .clone(),
            primary_container_name: PRIMARY_CONTAINER.into(),
        };
        let pod = template.k8s_pod(&task());
        assert_eq!(pod.metadata, Some(K8sObjectMetadata::default()));
        assert_eq!(
            pod_spec(&pod),
            json!({
                "containers": [
                    {"name": "sidecar", "image": "side:1"},
                    {
                        "name": "primary",
                        "image": "img:1",
                        "command": [],
                        "args": ["wasmdask", "execute"],
                        "resources": {
                            "requests": {},
                            "limits": {"cpu": "2", "ephemeral-storage": "1Gi"},
                        },
                        "env": [{"name": "A", "value": "b"}, {"name": "T", "valueFrom": {}}],
                    },
                ],
                "priorityClassName": "high",
            })
        );
    }

    #[test]
    fn a_missing_primary_container_is_added_and_its_own_image_kept() {
        let mut template = PodTemplate {
            pod_spec: Map::new(),
            primary_container_name: "main".into(),
        };
        let mut bare = task();
        bare.resources = None;
        bare.env.clear();
        assert_eq!(
            pod_spec(&template.k8s_pod(&bare)),
            json!({"containers": [{
                "name": "main", "image": "img:1", "command": [],
                "args": ["wasmdask", "execute"], "env": [],
            }]})
        );
        template.pod_spec = json!({"containers": [{"name": "main", "image": "own:2"}]})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(
            pod_spec(&template.k8s_pod(&bare))["containers"][0]["image"],
            "own:2"
        );
    }
}
