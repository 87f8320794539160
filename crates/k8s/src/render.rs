//! Task + Dask spec → the objects the Flyte Dask plugin and the dask-kubernetes operator create
//! (contract §3–4): the `DaskJob`, a standing `DaskCluster`, or the plain Pods and Service the
//! operator would end up running, with the environment it would inject.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, Pod, PodSpec, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;

use super::crd::{
    ClusterTemplate, DaskCluster, DaskClusterSpec, DaskJob, DaskJobSpec, JobSpec, SchedulerSpec,
    WorkerSpec,
};
use super::names::{NameError, check_cluster_name, check_namespace};
use super::resources::RoleResources;
use super::token::TokenSecret;
use wasmdask_cluster::address::{DASHBOARD_PORT, SCHEDULER_ADDRESS_ENV, SCHEDULER_PORT};
use wasmdask_flyte::{Dask, Resources};

/// Names of the containers, as the plugin renames them.
pub(crate) const RUNNER_CONTAINER: &str = "job-runner";
pub(crate) const SCHEDULER_CONTAINER: &str = "scheduler";
pub(crate) const WORKER_CONTAINER: &str = "dask-worker";
/// The variable the operator sets to a worker's Deployment (here: Pod) name.
pub(crate) const WORKER_NAME_ENV: &str = "DASK_WORKER_NAME";

const CLUSTER_LABEL: &str = "dask.org/cluster-name";
const COMPONENT_LABEL: &str = "dask.org/component";
const WORKER_GROUP_LABEL: &str = "dask.org/workergroup-name";
/// The operator's one worker group.
const WORKER_GROUP: &str = "default";

/// Everything a rendering needs.
#[derive(Debug, Clone)]
pub struct RenderSpec {
    /// The cluster (and job) name: checked by `check_cluster_name` (a DNS-1123 label of at most 53 characters).
    pub name: String,
    /// The namespace of every object.
    pub namespace: String,
    /// The task's image: the runner's, and the scheduler's and workers' unless `dask` names
    /// their own.
    pub image: String,
    /// The Dask spec: scheduler and worker images and resources, worker count.
    pub dask: Dask,
    /// The task container's requests (`@task(requests=…)`): the runner pod's, and the
    /// scheduler's and workers' where the Dask spec sets none (contract §3).
    pub task_requests: Option<Resources>,
    /// The task container's limits (`@task(limits=…)`), inherited the same way.
    pub task_limits: Option<Resources>,
    /// The runner container's args (see [`wasmdask_flyte::template::execute_args_at`]).
    pub runner_args: Vec<String>,
    /// The Secret key every container gets as `WASMDASK_TOKEN` (as a task's pod template
    /// gives it to all three roles under Flyte).
    pub token_secret: Option<TokenSecret>,
}

/// A spec that cannot be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The cluster name or namespace would be refused.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A role has no image.
    #[error("the {0} image is empty: pass --image (or set it in the Dask spec)")]
    NoImage(&'static str),
}

/// One of the objects `--format pods` lists.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Object {
    /// The runner, scheduler or a worker.
    Pod(Box<Pod>),
    /// The scheduler's Service.
    Service(Box<Service>),
}

/// A `v1 List`, which `kubectl apply -f` takes like a multi-document file.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct List {
    /// `v1`.
    pub api_version: &'static str,
    /// `List`.
    pub kind: &'static str,
    /// The pods and the Service.
    pub items: Vec<Object>,
}

impl RenderSpec {
    fn check(&self) -> Result<(), RenderError> {
        check_cluster_name(&self.name)?;
        check_namespace(&self.namespace)?;
        for (role, image) in [
            ("task", Some(&self.image)),
            ("scheduler", self.dask.scheduler.image.as_ref()),
            ("worker", self.dask.workers.image.as_ref()),
        ] {
            if image.is_some_and(|i| i.trim().is_empty()) {
                return Err(RenderError::NoImage(role));
            }
        }
        Ok(())
    }

    fn task_resources(&self) -> (Option<&Resources>, Option<&Resources>) {
        (self.task_requests.as_ref(), self.task_limits.as_ref())
    }

    fn metadata(&self, name: &str, labels: Option<BTreeMap<String, String>>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(self.namespace.clone()),
            labels,
            ..ObjectMeta::default()
        }
    }

    /// `tcp://<name>-scheduler.<ns>.svc.cluster.local:8786`, as the operator injects it.
    pub fn scheduler_address(&self) -> String {
        format!(
            "tcp://{}-scheduler.{}.svc.cluster.local:{SCHEDULER_PORT}",
            self.name, self.namespace
        )
    }

    fn container(
        &self,
        name: &str,
        image: Option<&String>,
        args: Vec<String>,
        resources: &RoleResources,
    ) -> Container {
        let token = self.token_secret.as_ref().map(TokenSecret::env_var);
        Container {
            name: name.into(),
            image: Some(image.unwrap_or(&self.image).clone()),
            args: Some(args),
            env: token.map(|t| vec![t]),
            resources: resources.to_k8s(),
            ..Container::default()
        }
    }

    fn runner_pod_spec(&self) -> PodSpec {
        let resources = RoleResources::resolve(self.task_resources(), self.task_resources());
        pod_spec(
            self.container(RUNNER_CONTAINER, None, self.runner_args.clone(), &resources),
            // Explicitly: the CRD defaults the runner to OnFailure, and a failed runner must
            // end the job, not rerun the task.
            "Never",
        )
    }

    fn scheduler_pod_spec(&self) -> PodSpec {
        let s = &self.dask.scheduler;
        let resources = RoleResources::resolve(
            (s.requests.as_ref(), s.limits.as_ref()),
            self.task_resources(),
        );
        let mut container = self.container(
            SCHEDULER_CONTAINER,
            s.image.as_ref(),
            vec!["dask-scheduler".into()],
            &resources,
        );
        container.ports = Some(
            scheduler_ports()
                .map(|(name, port)| ContainerPort {
                    name: Some(name.into()),
                    container_port: port.into(),
                    protocol: Some("TCP".into()),
                    ..ContainerPort::default()
                })
                .to_vec(),
        );
        pod_spec(container, "Always")
    }

    fn worker_pod_spec(&self) -> PodSpec {
        let w = &self.dask.workers;
        let resources = RoleResources::resolve(
            (w.requests.as_ref(), w.limits.as_ref()),
            self.task_resources(),
        );
        let mut args: Vec<String> = ["dask-worker", "--name", &format!("$({WORKER_NAME_ENV})")]
            .map(String::from)
            .to_vec();
        args.extend(resources.worker_flags());
        pod_spec(
            self.container(WORKER_CONTAINER, w.image.as_ref(), args, &resources),
            "Always",
        )
    }

    fn service_spec(&self) -> ServiceSpec {
        ServiceSpec {
            type_: Some("NodePort".into()),
            selector: Some(labels(&self.name, "scheduler")),
            ports: Some(
                scheduler_ports()
                    .map(|(name, port)| ServicePort {
                        name: Some(name.into()),
                        protocol: Some("TCP".into()),
                        port: port.into(),
                        // A name, not a number: the CRD types int-or-string as a string.
                        target_port: Some(IntOrString::String(name.into())),
                        ..ServicePort::default()
                    })
                    .to_vec(),
            ),
            ..ServiceSpec::default()
        }
    }

    fn cluster_spec(&self) -> DaskClusterSpec {
        DaskClusterSpec {
            worker: WorkerSpec {
                replicas: i32::try_from(self.dask.workers.number_of_workers).unwrap_or(i32::MAX),
                spec: self.worker_pod_spec(),
            },
            scheduler: SchedulerSpec {
                spec: self.scheduler_pod_spec(),
                service: self.service_spec(),
            },
        }
    }
}

fn scheduler_ports() -> [(&'static str, u16); 2] {
    [("tcp-comm", SCHEDULER_PORT), ("dashboard", DASHBOARD_PORT)]
}

fn pod_spec(container: Container, restart_policy: &str) -> PodSpec {
    PodSpec {
        containers: vec![container],
        restart_policy: Some(restart_policy.into()),
        ..PodSpec::default()
    }
}

fn labels(cluster: &str, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (CLUSTER_LABEL.to_string(), cluster.to_string()),
        (COMPONENT_LABEL.to_string(), component.to_string()),
    ])
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

/// The `DaskJob` the Flyte backend submits for this task.
///
/// # Errors
///
/// A bad name or namespace, or an empty image.
pub fn dask_job(spec: &RenderSpec) -> Result<DaskJob, RenderError> {
    spec.check()?;
    Ok(DaskJob::new(
        spec.metadata(&spec.name, None),
        DaskJobSpec {
            job: JobSpec {
                spec: spec.runner_pod_spec(),
            },
            cluster: ClusterTemplate {
                spec: spec.cluster_spec(),
            },
        },
    ))
}

/// A standing `DaskCluster` with the same scheduler and workers (no runner): point
/// `wasmdask run --scheduler` or a runner pod at it.
///
/// # Errors
///
/// As [`dask_job`].
pub fn dask_cluster(spec: &RenderSpec) -> Result<DaskCluster, RenderError> {
    spec.check()?;
    Ok(DaskCluster::new(
        spec.metadata(&spec.name, None),
        spec.cluster_spec(),
    ))
}

/// What the operator runs for the `DaskJob`, as plain objects: the scheduler Pod and Service,
/// `number_of_workers` worker Pods and the runner Pod, with the operator's labels and injected
/// environment (`DASK_SCHEDULER_ADDRESS`, `DASK_WORKER_NAME`). Workers are named
/// `<name>-default-worker-<i>` where the operator appends a random suffix.
///
/// # Errors
///
/// As [`dask_job`].
pub fn pods(spec: &RenderSpec) -> Result<List, RenderError> {
    spec.check()?;
    let cluster = spec.cluster_spec();
    let address = spec.scheduler_address();
    let pod =
        |name: &str, labels: BTreeMap<String, String>, mut pod_spec: PodSpec, env: Vec<EnvVar>| {
            for container in &mut pod_spec.containers {
                container
                    .env
                    .get_or_insert_with(Vec::new)
                    .extend(env.clone());
            }
            Object::Pod(Box::new(Pod {
                metadata: spec.metadata(name, Some(labels)),
                spec: Some(pod_spec),
                ..Pod::default()
            }))
        };
    let scheduler_name = format!("{}-scheduler", spec.name);
    let mut items = vec![
        Object::Service(Box::new(Service {
            metadata: spec.metadata(&scheduler_name, Some(labels(&spec.name, "scheduler"))),
            spec: Some(cluster.scheduler.service),
            ..Service::default()
        })),
        pod(
            &scheduler_name,
            labels(&spec.name, "scheduler"),
            cluster.scheduler.spec,
            Vec::new(),
        ),
    ];
    for i in 0..cluster.worker.replicas {
        let name = format!("{}-{WORKER_GROUP}-worker-{i}", spec.name);
        let mut worker_labels = labels(&spec.name, "worker");
        worker_labels.insert(WORKER_GROUP_LABEL.into(), WORKER_GROUP.into());
        items.push(pod(
            &name,
            worker_labels,
            cluster.worker.spec.clone(),
            vec![
                env(WORKER_NAME_ENV, &name),
                env(SCHEDULER_ADDRESS_ENV, &address),
            ],
        ));
    }
    items.push(pod(
        &format!("{}-runner", spec.name),
        labels(&spec.name, "job-runner"),
        spec.runner_pod_spec(),
        vec![env(SCHEDULER_ADDRESS_ENV, &address)],
    ));
    Ok(List {
        api_version: "v1",
        kind: "List",
        items,
    })
}
