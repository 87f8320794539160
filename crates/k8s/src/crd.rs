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

/// A job: a runner pod plus the cluster it uses, deleted when the runner ends.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DaskJob {
    /// `kubernetes.dask.org/v1`.
    pub api_version: &'static str,
    /// The resource kind.
    pub kind: &'static str,
    /// Name, namespace and labels.
    pub metadata: ObjectMeta,
    /// The runner pod and its cluster.
    pub spec: DaskJobSpec,
}

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

/// A standing cluster: a scheduler and one worker group.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DaskCluster {
    /// `kubernetes.dask.org/v1`.
    pub api_version: &'static str,
    /// The resource kind.
    pub kind: &'static str,
    /// Name, namespace and labels.
    pub metadata: ObjectMeta,
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

impl DaskJob {
    /// A `DaskJob` with the operator's API version and kind.
    pub fn new(metadata: ObjectMeta, spec: DaskJobSpec) -> DaskJob {
        DaskJob {
            api_version: API_VERSION,
            kind: "DaskJob",
            metadata,
            spec,
        }
    }
}

impl DaskCluster {
    /// A `DaskCluster` with the operator's API version and kind.
    pub fn new(metadata: ObjectMeta, spec: DaskClusterSpec) -> DaskCluster {
        DaskCluster {
            api_version: API_VERSION,
            kind: "DaskCluster",
            metadata,
            spec,
        }
    }
}
