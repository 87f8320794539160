//! Golden files: the rendered YAML of fixed specs, in `tests/k8s/golden/` (the integration test
//! `k8s` validates the same files against the CRD and Kubernetes schemas). Regenerate with
//! `UPDATE_GOLDEN=1 cargo test --release -p wasmdask --lib k8s::golden_tests` and review the diff.

use std::path::PathBuf;

use super::{DEFAULT_TOKEN_SECRET, RenderSpec, TokenSecret, dask_cluster, dask_job, pods};
use wasmdask_flyte::template::execute_args_at;
use wasmdask_flyte::{Dask, Resources};

fn golden(name: &str, object: &impl serde::Serialize) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/k8s/golden")
        .join(name);
    let rendered = serde_yaml_ng::to_string(object).unwrap();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &rendered).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(
        rendered, expected,
        "{name} differs; UPDATE_GOLDEN=1 rewrites it"
    );
}

fn spec(dask: &str) -> RenderSpec {
    RenderSpec {
        name: "sum-of-squares".into(),
        namespace: "flytesnacks-development".into(),
        image: "ghcr.io/example/wasmdask:0.1".into(),
        dask: Dask::from_str(dask, false).unwrap(),
        task_requests: Some(Resources::parse_pairs("cpu=1").unwrap()),
        task_limits: Some(Resources::parse_pairs("cpu=2,mem=2G").unwrap()),
        runner_args: execute_args_at(
            &format!("s3://bucket/tasks.wasm@sha256:{}", "ab".repeat(32)),
            "sum-of-squares",
            "s3://bucket/runs/1/inputs.pb",
            "s3://bucket/runs/1",
        ),
        token_secret: TokenSecret::parse_flag(DEFAULT_TOKEN_SECRET).unwrap(),
    }
}

/// Run (b) of the contract: own images and resources for scheduler and three workers.
const FULL: &str = "
scheduler:
  image: ghcr.io/example/sched:1
  requests: {cpu: '1', mem: 2Gi}
  limits: {cpu: '2', mem: 4Gi}
workers:
  number_of_workers: 3
  image: ghcr.io/example/worker:1
  limits: {cpu: 3500m, mem: 16Gi, gpu: '1', ephemeral_storage: 20Gi}
";

#[test]
fn default_spec_uses_the_task_s_image_and_resources() {
    golden("default-daskjob.yaml", &dask_job(&spec("")).unwrap());
}

#[test]
fn full_spec_in_every_format() {
    let spec = spec(FULL);
    golden("full-daskjob.yaml", &dask_job(&spec).unwrap());
    golden("full-daskcluster.yaml", &dask_cluster(&spec).unwrap());
    golden("full-pods.yaml", &pods(&spec).unwrap());
}

#[test]
fn no_resources_and_no_token() {
    let mut spec = spec("workers: {number_of_workers: 2}");
    (spec.task_requests, spec.task_limits, spec.token_secret) = (None, None, None);
    golden("bare-pods.yaml", &pods(&spec).unwrap());
}

#[test]
fn bad_names_and_images_are_refused() {
    let mut bad = spec("");
    bad.name = "x".repeat(54);
    let e = dask_job(&bad).unwrap_err().to_string();
    assert!(e.contains("more than 53"), "{e}");
    let mut bad = spec("");
    bad.namespace = "Flyte_Dev".into();
    assert!(pods(&bad).unwrap_err().to_string().contains("namespace"));
    let bad = spec("workers: {image: ' '}");
    let e = dask_cluster(&bad).unwrap_err().to_string();
    assert!(e.contains("worker image is empty"), "{e}");
}
