//! Container resources and the worker's thread and memory flags, as the Flyte Dask plugin
//! derives them (contract §3).
//!
//! A role (scheduler, workers) with at least one request or limit of its own gets those;
//! otherwise it gets the task container's. Either way a request that is missing where a limit
//! is set is filled from the limit, as Flyte's resource overrides do. There is no platform
//! default or clamp here: a cluster-wide `LimitRange` is the place for those without Flyte.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;

use wasmdask_flyte::{Quantity, Resources};

/// Flyte's default GPU resource name (`plugins.k8s.gpu-resource-name`).
pub(crate) const GPU_RESOURCE: &str = "nvidia.com/gpu";

/// The requests and limits of one container.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RoleResources {
    pub requests: Resources,
    pub limits: Resources,
}

impl RoleResources {
    /// A role's own resources when it has any, else the task's; requests filled from limits.
    pub(crate) fn resolve(
        own: (Option<&Resources>, Option<&Resources>),
        task: (Option<&Resources>, Option<&Resources>),
    ) -> RoleResources {
        let has_any =
            |r: Option<&Resources>| r.is_some_and(|r| slots(r).iter().any(|q| q.is_some()));
        let (requests, limits) = if has_any(own.0) || has_any(own.1) {
            own
        } else {
            task
        };
        let limits = limits.cloned().unwrap_or_default();
        let mut requests = requests.cloned().unwrap_or_default();
        for (request, limit) in slots_mut(&mut requests).into_iter().zip(slots(&limits)) {
            if request.is_none() {
                request.clone_from(limit);
            }
        }
        RoleResources { requests, limits }
    }

    /// The Kubernetes form; `None` when nothing is set, so the field is left out.
    pub(crate) fn to_k8s(&self) -> Option<ResourceRequirements> {
        let requests = quantities(&self.requests);
        let limits = quantities(&self.limits);
        (requests.is_some() || limits.is_some()).then_some(ResourceRequirements {
            requests,
            limits,
            ..ResourceRequirements::default()
        })
    }

    /// The flags the plugin appends to `dask-worker` when limits are set:
    /// `--nthreads <cpu limit rounded up>` and `--memory-limit <memory limit>`.
    ///
    /// The plugin writes both whenever any limit is set, giving `--nthreads 0` or
    /// `--memory-limit 0` for a missing one, which Dask reads as "not limited"; leaving the flag
    /// out says the same to both Dask and wasmdask.
    pub(crate) fn worker_flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        if let Some(cpu) = &self.limits.cpu {
            // Kubernetes' `Quantity.Value()` rounds up, and a worker needs a thread.
            let threads = (cpu.value().ceil() as u64).max(1);
            flags.extend(["--nthreads".to_string(), threads.to_string()]);
        }
        if let Some(mem) = &self.limits.mem {
            flags.extend(["--memory-limit".to_string(), mem.to_string()]);
        }
        flags
    }
}

fn slots(r: &Resources) -> [&Option<Quantity>; 4] {
    [&r.cpu, &r.mem, &r.gpu, &r.ephemeral_storage]
}

fn slots_mut(r: &mut Resources) -> [&mut Option<Quantity>; 4] {
    [&mut r.cpu, &mut r.mem, &mut r.gpu, &mut r.ephemeral_storage]
}

fn quantities(resources: &Resources) -> Option<BTreeMap<String, K8sQuantity>> {
    let named = [
        ("cpu", &resources.cpu),
        ("memory", &resources.mem),
        (GPU_RESOURCE, &resources.gpu),
        ("ephemeral-storage", &resources.ephemeral_storage),
    ];
    let map: BTreeMap<String, K8sQuantity> = named
        .into_iter()
        .filter_map(|(name, q)| {
            q.as_ref()
                .map(|q: &Quantity| (name.to_string(), K8sQuantity(q.to_string())))
        })
        .collect();
    (!map.is_empty()).then_some(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(text: &str) -> Resources {
        Resources::parse_pairs(text).unwrap()
    }

    #[test]
    fn requests_are_filled_from_limits() {
        // The plugin's test: task cpu request 1, limits cpu 2 / mem 2G.
        let (req, lim) = (res("cpu=1"), res("cpu=2,mem=2G"));
        let r = RoleResources::resolve((None, None), (Some(&req), Some(&lim)));
        assert_eq!(r.requests, res("cpu=1,mem=2G"));
        assert_eq!(r.limits, lim);
        assert_eq!(
            r.worker_flags(),
            ["--nthreads", "2", "--memory-limit", "2G"]
        );
    }

    #[test]
    fn own_resources_replace_the_tasks() {
        // The plugin's test: custom {req cpu 5; lim cpu 10, mem 15G}.
        let (own_req, own_lim) = (res("cpu=5"), res("cpu=10,mem=15G"));
        let task = res("cpu=1,mem=1Gi");
        let r =
            RoleResources::resolve((Some(&own_req), Some(&own_lim)), (Some(&task), Some(&task)));
        assert_eq!(r.requests, res("cpu=5,mem=15G"));
        assert_eq!(
            r.worker_flags(),
            ["--nthreads", "10", "--memory-limit", "15G"]
        );
        // An empty own spec falls back to the task's.
        let empty = Resources::default();
        let r = RoleResources::resolve((Some(&empty), None), (Some(&task), None));
        assert_eq!(r.requests, task);
        assert!(r.worker_flags().is_empty());
    }

    #[test]
    fn fractional_cpu_rounds_up_and_names_are_kubernetes() {
        let lim = res("cpu=1500m,gpu=1,ephemeral_storage=1Gi");
        let r = RoleResources::resolve((None, Some(&lim)), (None, None));
        assert_eq!(r.worker_flags(), ["--nthreads", "2"]);
        let k8s = r.to_k8s().unwrap();
        let names: Vec<_> = k8s.limits.unwrap().into_keys().collect();
        assert_eq!(names, ["cpu", "ephemeral-storage", "nvidia.com/gpu"]);
        assert_eq!(RoleResources::default().to_k8s(), None);
    }
}
