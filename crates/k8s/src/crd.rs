//! The dask-kubernetes operator's custom resources (`kubernetes.dask.org/v1`), as typed serde
//! structs around k8s-openapi's `PodSpec` and `ServiceSpec` (operator Go types, contract §4).
//!
//! Only what wasmdask renders is modelled: status is the operator's to write, and
//! `spec.cluster.metadata`, which the Flyte backend emits, is left out because the CRD has no
//! such field and the API server drops it.

use k8s_openapi::api::core::v1::{PodSpec, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

/// The operator's API group and version.
pub const API_VERSION: &str = "kubernetes.dask.org/v1";

/// One of the operator's resources: its API version, kind, metadata and spec, in the order
/// `kubectl` prints them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource<Spec> {
    /// `kubernetes.dask.org/v1`.
    pub api_version: &'static str,
    /// The resource kind.
    pub kind: &'static str,
    /// Name, namespace and labels.
    pub metadata: ObjectMeta,
    /// What the operator runs.
    pub spec: Spec,
}

/// A job: a runner pod plus the cluster it uses, deleted when the runner ends.
pub type DaskJob = Resource<DaskJobSpec>;

/// A standing cluster: a scheduler and one worker group.
pub type DaskCluster = Resource<DaskClusterSpec>;

/// What a `DaskJob` runs.
#[derive(Debug, Clone, Serialize)]
pub struct DaskJobSpec {
    /// The runner pod.
    pub job: JobSpec,
    /// The cluster the runner's fan-out goes to.
    pub cluster: ClusterTemplate,
}

/// The runner pod's spec.
#[derive(Debug, Clone, Serialize)]
pub struct JobSpec {
    /// The runner pod's spec.
    pub spec: PodSpec,
}

/// The cluster a job creates (named like the job).
#[derive(Debug, Clone, Serialize)]
pub struct ClusterTemplate {
    /// The scheduler and workers.
    pub spec: DaskClusterSpec,
}

/// What a cluster runs.
#[derive(Debug, Clone, Serialize)]
pub struct DaskClusterSpec {
    /// The default worker group.
    pub worker: WorkerSpec,
    /// The scheduler pod and its Service.
    pub scheduler: SchedulerSpec,
}

/// The default worker group: `replicas` pods of `spec`.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerSpec {
    /// How many worker pods.
    pub replicas: i32,
    /// Each worker pod's spec.
    pub spec: PodSpec,
}

/// The scheduler pod and the Service in front of it.
#[derive(Debug, Clone, Serialize)]
pub struct SchedulerSpec {
    /// The scheduler pod's spec.
    pub spec: PodSpec,
    /// The Service workers and the runner dial.
    pub service: ServiceSpec,
}

/// The `kind` a spec is served under.
pub trait SpecKind {
    /// `DaskJob`, `DaskCluster`.
    const KIND: &'static str;
}

impl SpecKind for DaskJobSpec {
    const KIND: &'static str = "DaskJob";
}

impl SpecKind for DaskClusterSpec {
    const KIND: &'static str = "DaskCluster";
}

impl<Spec: SpecKind> Resource<Spec> {
    /// The resource with the operator's API version and the spec's kind.
    pub fn new(metadata: ObjectMeta, spec: Spec) -> Self {
        Resource {
            api_version: API_VERSION,
            kind: Spec::KIND,
            metadata,
            spec,
        }
    }
}
