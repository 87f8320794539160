//! Kubernetes: pure functions that turn a task and its Dask spec into the objects an
//! unmodified Flyte backend and dask-kubernetes operator would create (contract §3–4), typed
//! with k8s-openapi. `wasmdask render` prints them; nothing here talks to a cluster.
//!
//! - [`render`] — the `DaskJob`, a standing `DaskCluster`, or the plain Pods + Service.
//! - [`crd`] — the operator's custom resources around k8s-openapi's `PodSpec`/`ServiceSpec`.
//! - [`resources`] — requests/limits per role and the worker's `--nthreads`/`--memory-limit`.
//! - [`names`] — DNS-1123 names and the operator's 53-character cluster-name limit.

pub mod crd;
pub mod names;
pub mod render;
pub mod resources;

#[cfg(test)]
mod golden_tests;

pub use render::{List, RenderError, RenderSpec, dask_cluster, dask_job, pods};

use crate::flyte::template::execute_args;

/// The runner's args without Flyte: [`execute_args`] with the inputs and output prefix
/// filled in and the optional checkpoint and raw-output flags, which only propeller fills,
/// left out.
pub fn runner_args(
    component_ref: &str,
    function: &str,
    inputs: &str,
    output_prefix: &str,
) -> Vec<String> {
    let template = execute_args(component_ref, function);
    let mut args = Vec::with_capacity(template.len());
    let mut words = template.into_iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "--inputs" | "--output-prefix" => {
                let value = if word == "--inputs" {
                    inputs
                } else {
                    output_prefix
                };
                words.next();
                args.extend([word, value.to_string()]);
            }
            "--raw-output-data-prefix" | "--checkpoint-path" | "--prev-checkpoint" => {
                words.next();
            }
            _ => args.push(word),
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runner_args_fill_what_propeller_would() {
        assert_eq!(
            runner_args(
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
}
