//! The Dask cluster spec, mirroring flytekitplugins-dask:
//! `Dask(scheduler=Scheduler(image, requests, limits), workers=WorkerGroup(number_of_workers,
//! image, requests, limits))`, read from a YAML, TOML or JSON file with the same field names.
//!
//! ```yaml
//! scheduler:
//!   image: ghcr.io/example/wasmdask:1
//!   limits: {cpu: "2", mem: 4Gi}
//! workers:
//!   number_of_workers: 3
//!   requests: {cpu: "2", mem: 8Gi}
//!   limits: {cpu: "4", mem: 16Gi, gpu: "1", ephemeral_storage: 20Gi}
//! ```
//!
//! Like flytekit, unset resources are not filled in from the task's here: they serialize as
//! `resources: {}` and the Flyte backend falls back to the task container's resources.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::idl::core::Resources as IdlResources;
use super::idl::core::resources::{ResourceEntry, ResourceName};
use super::idl::plugins::{DaskJob, DaskScheduler, DaskWorkerGroup};
use super::quantity::Quantity;

/// The whole spec (flytekitplugins-dask `Dask`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dask {
    /// The scheduler pod.
    #[serde(default)]
    pub scheduler: Scheduler,
    /// The worker pods.
    #[serde(default)]
    pub workers: WorkerGroup,
}

/// flytekitplugins-dask `Scheduler`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scheduler {
    /// Image of the scheduler pod; the task's image when unset.
    pub image: Option<String>,
    /// The scheduler container's requests.
    pub requests: Option<Resources>,
    /// The scheduler container's limits.
    pub limits: Option<Resources>,
}

/// flytekitplugins-dask `WorkerGroup`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerGroup {
    /// Signed so that 0 and -1 reach validation and get flytekit's message.
    #[serde(default = "one")]
    pub number_of_workers: i64,
    /// Image of the worker pods; the task's image when unset.
    pub image: Option<String>,
    /// Each worker container's requests.
    pub requests: Option<Resources>,
    /// Each worker container's limits (CPU → `--nthreads`, memory → `--memory-limit`).
    pub limits: Option<Resources>,
}

fn one() -> i64 {
    1
}

impl Default for WorkerGroup {
    fn default() -> Self {
        WorkerGroup {
            number_of_workers: 1,
            image: None,
            requests: None,
            limits: None,
        }
    }
}

/// flytekit `Resources`: each field a Kubernetes quantity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// CPU (`1`, `500m`); a worker's limit, rounded up, is its `--nthreads`.
    pub cpu: Option<Quantity>,
    /// Memory (`2Gi`, `512M`); a worker's limit is its `--memory-limit`, shared by its slots.
    pub mem: Option<Quantity>,
    /// GPUs, rendered under Flyte's default resource name `nvidia.com/gpu`. Wasm tasks use none;
    /// a spec written for a Python Dask task still renders the same pods.
    pub gpu: Option<Quantity>,
    /// Local scratch space of the pod (`ephemeral-storage`).
    pub ephemeral_storage: Option<Quantity>,
}

/// A config that cannot be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a Dask spec (the message names the key and line).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong, and where.
        message: String,
    },
    /// flytekit's own wording (`flytekitplugins.dask.models.WorkerGroup`).
    #[error("Each worker group needs to have at least one worker, but {0} have been specified.")]
    NoWorkers(i64),
    /// More workers than the DaskJob's 32-bit field holds.
    #[error("number_of_workers is {0}, more than a DaskWorkerGroup can hold (4294967295)")]
    TooManyWorkers(i64),
}

impl Dask {
    /// Reads a spec from `path`: TOML for `.toml`, otherwise YAML (which includes JSON).
    ///
    /// # Errors
    ///
    /// When the file cannot be read, does not parse, has an unknown key or a bad quantity
    /// (the message names the key and the line), or fails [`Dask::validate`].
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        let toml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
        Self::from_str(&text, toml).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: shown,
                message,
            },
            other => other,
        })
    }

    /// Parses a spec from YAML/JSON text (or TOML with `toml`) and validates it.
    ///
    /// # Errors
    ///
    /// As [`Dask::from_file`].
    pub fn from_str(text: &str, toml: bool) -> Result<Self, ConfigError> {
        let parsed: Result<Dask, String> = if toml {
            toml::from_str(text).map_err(|e| e.to_string())
        } else if text.trim().is_empty() {
            Ok(Dask::default())
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| e.to_string())
        };
        let dask = parsed.map_err(|message| ConfigError::Parse {
            path: "config".into(),
            message,
        })?;
        dask.validate()?;
        Ok(dask)
    }

    /// The checks flytekit makes when it serializes the task.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoWorkers`] for `number_of_workers < 1`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let n = self.workers.number_of_workers;
        if n < 1 {
            return Err(ConfigError::NoWorkers(n));
        }
        if u32::try_from(n).is_err() {
            return Err(ConfigError::TooManyWorkers(n));
        }
        Ok(())
    }

    /// The `flyteidl.plugins.DaskJob` that flytekit's `DaskTask.get_custom` builds.
    pub fn to_idl(&self) -> DaskJob {
        DaskJob {
            scheduler: Some(DaskScheduler {
                image: self.scheduler.image.clone().unwrap_or_default(),
                resources: Some(to_idl_resources(
                    self.scheduler.requests.as_ref(),
                    self.scheduler.limits.as_ref(),
                    DASK_ROLE_ORDER,
                )),
            }),
            workers: Some(DaskWorkerGroup {
                number_of_workers: u32::try_from(self.workers.number_of_workers).unwrap_or(1),
                image: self.workers.image.clone().unwrap_or_default(),
                resources: Some(to_idl_resources(
                    self.workers.requests.as_ref(),
                    self.workers.limits.as_ref(),
                    DASK_ROLE_ORDER,
                )),
            }),
        }
    }
}

/// The order of a Dask role's resource entries, as flytekit's
/// `convert_resources_to_resource_model` writes them.
const DASK_ROLE_ORDER: [ResourceName; 4] = [
    ResourceName::Cpu,
    ResourceName::Memory,
    ResourceName::Gpu,
    ResourceName::EphemeralStorage,
];

/// The order of the task container's resource entries, as flytekit's
/// `_get_container_definition` writes them (not the Dask roles' order).
pub(crate) const TASK_CONTAINER_ORDER: [ResourceName; 4] = [
    ResourceName::EphemeralStorage,
    ResourceName::Cpu,
    ResourceName::Gpu,
    ResourceName::Memory,
];

/// The flyteidl form of requests and limits: only the entries that are set, in `order`, so
/// the bytes are flytekit's.
pub(crate) fn to_idl_resources(
    requests: Option<&Resources>,
    limits: Option<&Resources>,
    order: [ResourceName; 4],
) -> IdlResources {
    let entries = |r: Option<&Resources>| r.map(|r| r.entries(order)).unwrap_or_default();
    IdlResources {
        requests: entries(requests),
        limits: entries(limits),
    }
}

impl Resources {
    fn entries(&self, order: [ResourceName; 4]) -> Vec<ResourceEntry> {
        order
            .into_iter()
            .filter_map(|name| {
                let value = match name {
                    ResourceName::Cpu => &self.cpu,
                    ResourceName::Memory => &self.mem,
                    ResourceName::Gpu => &self.gpu,
                    ResourceName::EphemeralStorage => &self.ephemeral_storage,
                    ResourceName::Unknown | ResourceName::Storage => &None,
                };
                value.as_ref().map(|q| ResourceEntry {
                    name: name as i32,
                    value: q.as_str().to_string(),
                })
            })
            .collect()
    }

    /// Parses `cpu=2,mem=4Gi,gpu=1,ephemeral_storage=10Gi` (the command-line form).
    ///
    /// # Errors
    ///
    /// On an unknown resource name, a missing `=`, or a bad quantity.
    pub fn parse_pairs(text: &str) -> Result<Self, String> {
        let mut resources = Resources::default();
        for pair in text.split(',').filter(|p| !p.trim().is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("`{pair}`: expected NAME=QUANTITY, e.g. cpu=2,mem=4Gi"))?;
            let quantity = Quantity::parse(value.trim()).map_err(|e| e.to_string())?;
            let slot = match key.trim().replace('-', "_").as_str() {
                "cpu" => &mut resources.cpu,
                "mem" | "memory" => &mut resources.mem,
                "gpu" => &mut resources.gpu,
                "ephemeral_storage" => &mut resources.ephemeral_storage,
                other => {
                    return Err(format!(
                        "unknown resource `{other}`: use cpu, mem, gpu or ephemeral_storage"
                    ));
                }
            };
            *slot = Some(quantity);
        }
        Ok(resources)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_default_spec() {
        assert_eq!(Dask::from_str("", false).unwrap(), Dask::default());
        assert_eq!(
            Dask::from_str("{}", false)
                .unwrap()
                .workers
                .number_of_workers,
            1
        );
    }

    #[test]
    fn no_workers_gets_flytekits_message() {
        for n in [0, -1] {
            let err = Dask::from_str(&format!("workers: {{number_of_workers: {n}}}"), false)
                .unwrap_err()
                .to_string();
            assert_eq!(
                err,
                format!(
                    "Each worker group needs to have at least one worker, but {n} have been specified."
                )
            );
        }
    }

    #[test]
    fn unknown_keys_and_bad_quantities_are_named() {
        let err = Dask::from_str("workers: {number_of_workerz: 2}", false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `number_of_workerz`"), "{err}");
        let err = Dask::from_str("scheduler: {limits: {mem: 4GB}}", false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`4GB` is not a Kubernetes quantity"), "{err}");
        let err = Dask::from_str("[workers]\nnumber_of_workers = 2\ncolour = 1\n", true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `colour`"), "{err}");
    }

    #[test]
    fn resource_entries_follow_flytekits_order() {
        let r = Resources::parse_pairs("ephemeral_storage=1Gi,gpu=1,mem=2Gi,cpu=500m").unwrap();
        for order in [DASK_ROLE_ORDER, TASK_CONTAINER_ORDER] {
            let names: Vec<i32> = r.entries(order).iter().map(|e| e.name).collect();
            assert_eq!(names, order.map(|n| n as i32));
        }
        let cpu_only = Resources::parse_pairs("cpu=1").unwrap();
        assert_eq!(cpu_only.entries(TASK_CONTAINER_ORDER).len(), 1);
        assert!(
            Resources::parse_pairs("disk=1Gi")
                .unwrap_err()
                .contains("unknown resource")
        );
    }
}
