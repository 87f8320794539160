//! `wasmdask render` against the real things: every rendered object validates against the
//! DaskJob/DaskCluster CRD schemas of the dask-kubernetes wheel and, for Pods and Services (and
//! the pod specs inside the custom resources), against kubernetes-validate
//! (`tests/k8s/validate.py`, run with the repo's `.venv`); and the rendered `--format pods`
//! really runs: every container's args start as a local process with the environment the
//! operator injects, the scheduler's Service DNS name pointing at loopback. So does a
//! `wasmdask serialize`d task, expanded as the Flyte backend and the operator would
//! (`tests/k8s/flyte_backend.py`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{assert_stderr_has, cache_dir, guests, stderr, stdout, wasmdask};
use crate::distributed::{BIN, free_port, http_get, wait_until};
use crate::flyte::{flytekit, python, repo};

/// Runs `wasmdask render COMPONENT ARGS…`, asserting success; returns stdout.
fn render(component: &str, args: &[&str]) -> String {
    let mut all = vec!["render", component];
    all.extend(args);
    let output = wasmdask(&all);
    assert!(
        output.status.success(),
        "render {args:?}: {}",
        stderr(&output)
    );
    stdout(&output)
}

/// Validates files with `tests/k8s/validate.py`; `Err(message)` when one is rejected.
fn validate(files: &[PathBuf]) -> Result<Vec<String>, String> {
    let output = Command::new(python())
        .arg(repo().join("tests/k8s/validate.py"))
        .args(files)
        .output()
        .expect("run validate.py");
    if !output.status.success() {
        return Err(stderr(&output));
    }
    let report: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    Ok(report["checked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect())
}

const BASE: &[&str] = &[
    "--image",
    "ghcr.io/example/wasmdask:0.1",
    "--component-uri",
    "s3://bucket/example.wasm",
    "-f",
    "sum-of-squares",
];

#[test]
fn rendered_objects_validate_against_the_crd_and_kubernetes_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let config = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let full = config(
        "full.yaml",
        "scheduler: {image: ghcr.io/example/sched:1, requests: {cpu: '1', mem: 2Gi}, \
         limits: {cpu: '2', mem: 4Gi}}\n\
         workers: {number_of_workers: 3, image: ghcr.io/example/worker:1, \
         requests: {cpu: '2', mem: 8Gi}, limits: {cpu: '4', mem: 16Gi}}\n",
    );
    let edge = config(
        "edge.toml",
        "[workers]\nnumber_of_workers = 40\nrequests = { cpu = \"250m\", mem = \"1.5e9\" }\n\
         [scheduler.limits]\nephemeral_storage = \"2Gi\"\ngpu = 2\n",
    );
    let name53 = "a".repeat(53);
    let namespace63 = format!("n{}", "-9".repeat(31));
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("default", vec![]),
        (
            "task-resources",
            vec!["--task-requests", "cpu=1", "--task-limits", "cpu=2,mem=2G"],
        ),
        ("full", vec!["--config", &full]),
        (
            "edge",
            vec![
                "--config",
                &edge,
                "--name",
                &name53,
                "--namespace",
                &namespace63,
            ],
        ),
        (
            "no-token",
            vec!["--token-secret", "", "--task-limits", "cpu=500m"],
        ),
    ];
    let mut files = Vec::new();
    for (case, extra) in &cases {
        for format in ["daskjob", "daskcluster", "pods"] {
            for json in [false, true] {
                let mut args = BASE.to_vec();
                args.extend(["--format", format, "--output-prefix", out]);
                if json {
                    args.push("--json");
                }
                args.extend(extra);
                args.extend(["--", "n=10"]);
                let path = dir.path().join(format!("{case}-{format}-{json}.yaml"));
                std::fs::write(&path, render(guests::EXAMPLE_RUST, &args)).unwrap();
                files.push(path);
            }
        }
    }
    let golden = repo().join("tests/k8s/golden");
    let mut goldens: Vec<PathBuf> = std::fs::read_dir(&golden)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    goldens.sort();
    assert_eq!(goldens.len(), 5, "{goldens:?}");
    files.extend(goldens);
    let checked = validate(&files).unwrap_or_else(|e| panic!("{e}"));
    let count = |kind: &str| checked.iter().filter(|c| c.starts_with(kind)).count();
    assert_eq!(count("DaskJob/"), 2 * cases.len() + 2);
    assert_eq!(count("DaskCluster/"), 2 * cases.len() + 1);
    assert!(checked.contains(&format!("Service/{name53}-scheduler")));
    // The edge case's 40 workers, in YAML and in JSON.
    assert_eq!(
        checked
            .iter()
            .filter(|c| c.starts_with(&format!("Pod/{name53}-default-worker-")))
            .count(),
        80
    );

    // The edge case's worker: requests only, so no --nthreads/--memory-limit.
    let job: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(dir.path().join("edge-daskjob-false.yaml")).unwrap(),
    )
    .unwrap();
    let worker = &job["spec"]["cluster"]["spec"]["worker"];
    assert_eq!(worker["replicas"], 40);
    assert_eq!(
        worker["spec"]["containers"][0]["args"],
        json!(["dask-worker", "--name", "$(DASK_WORKER_NAME)"])
    );
    assert_eq!(job["spec"]["job"]["spec"]["restartPolicy"], "Never");
}

#[test]
fn the_validator_rejects_what_the_api_server_would() {
    let dir = tempfile::tempdir().unwrap();
    let job = repo().join("tests/k8s/golden/full-daskjob.yaml");
    let text = std::fs::read_to_string(job).unwrap();
    for (what, from, to) in [
        (
            "an integer targetPort",
            "targetPort: tcp-comm",
            "targetPort: 8786",
        ),
        ("an integer quantity", "cpu: '2'", "cpu: 2"),
        (
            "a field the CRD's PodSpec lacks",
            "restartPolicy: Never",
            "restartPolicy: Never\n      hostUsers: false",
        ),
        (
            "a missing container name",
            "name: job-runner",
            "stdin: false",
        ),
    ] {
        assert!(text.contains(from), "{from}");
        let path = dir.path().join("bad.yaml");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        assert!(validate(&[path]).is_err(), "{what} passed validation");
    }
    let pods = std::fs::read_to_string(repo().join("tests/k8s/golden/full-pods.yaml")).unwrap();
    let path = dir.path().join("bad-pods.yaml");
    let unknown = "    restartPolicy: Always\n    colour: blue";
    std::fs::write(
        &path,
        pods.replacen("    restartPolicy: Always", unknown, 1),
    )
    .unwrap();
    assert!(
        validate(&[path]).is_err(),
        "kubernetes-validate is strict about fields"
    );
}

#[test]
fn render_refuses_names_the_operator_cannot_run() {
    let render = |name: &str| {
        let mut args = vec!["render", guests::EXAMPLE_RUST, "--name", name];
        args.extend(BASE);
        args.extend(["--format", "daskcluster"]);
        wasmdask(&args)
    };
    let output = render(&"a".repeat(54));
    assert_eq!(output.status.code(), Some(2));
    assert_stderr_has(&output, "54 characters, more than 53");
    let output = render("Sum_Of_Squares");
    assert_eq!(output.status.code(), Some(2));
    assert_stderr_has(&output, "e.g. `sum-of-squares`");
    // The derived default is always valid: the file stem and function, sanitized.
    let mut args = vec!["render", guests::EXAMPLE_RUST];
    args.extend(BASE);
    args.extend(["--format", "daskcluster", "--json"]);
    let cluster: Value = serde_json::from_str(&stdout(&wasmdask(&args))).unwrap();
    assert_eq!(
        cluster["metadata"]["name"],
        "wasmdask-example-sum-of-squares"
    );
    // The runner needs somewhere to write.
    let mut args = vec!["render", guests::EXAMPLE_RUST];
    args.extend(BASE);
    let output = wasmdask(&args);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--output-prefix is required"));
}

/// The rendered pods running as local processes, killed on drop.
struct LocalPods {
    procs: Vec<(String, Child)>,
    dashboard: u16,
}

impl Drop for LocalPods {
    fn drop(&mut self) {
        for (_, child) in &mut self.procs {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The Secrets of the local "cluster": (name, key, value).
type Secrets<'a> = &'a [(&'a str, &'a str, &'a str)];

/// The Secret that `render` and `serialize` name by default, as the README creates it.
const SECRETS: Secrets = &[("wasmdask-token", "token", "local-pods-token")];

impl LocalPods {
    /// Starts every pod of a `v1 List` of Pods and the scheduler's Service but the runner,
    /// whose command it returns.
    fn start(list: &Value, bin_dir: &Path, secrets: Secrets) -> (LocalPods, Command) {
        let (port, dashboard) = (free_port(), free_port());
        let items = list["items"].as_array().unwrap();
        let service = items.iter().find(|i| i["kind"] == "Service").unwrap();
        let host = format!(
            "{}.{}.svc.cluster.local:8786",
            service["metadata"]["name"].as_str().unwrap(),
            service["metadata"]["namespace"].as_str().unwrap()
        );
        let mut pods = LocalPods {
            procs: Vec::new(),
            dashboard,
        };
        let mut runner = None;
        for pod in items.iter().filter(|i| i["kind"] == "Pod") {
            let name = pod["metadata"]["name"].as_str().unwrap().to_string();
            let containers = pod["spec"]["containers"].as_array().unwrap();
            assert_eq!(containers.len(), 1);
            let mut command = container_command(&containers[0], bin_dir, &host, port, secrets);
            match pod["metadata"]["labels"]["dask.org/component"]
                .as_str()
                .unwrap()
            {
                "scheduler" => {
                    // The Service maps 8786/8787 to the pod; here the ports are free ones. The
                    // host stays the pod's (all interfaces), so the token is required.
                    command.args(["--port", &port.to_string()]);
                    command.args(["--dashboard-address", &format!("127.0.0.1:{dashboard}")]);
                    pods.spawn(name, command);
                    wait_until(Duration::from_secs(10), || pods.state().is_some());
                }
                "worker" => pods.spawn(name, command),
                "job-runner" => runner = Some(command),
                other => panic!("unexpected component {other}"),
            }
        }
        let workers = pods.procs.len() - 1;
        wait_until(Duration::from_secs(20), || {
            pods.state()
                .is_some_and(|s| s["workers"].as_array().unwrap().len() == workers)
        });
        (pods, runner.expect("a runner pod"))
    }

    fn spawn(&mut self, name: String, mut command: Command) {
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.procs.push((name, child));
    }

    fn state(&self) -> Option<Value> {
        http_get(self.dashboard, "/api/state").and_then(|b| serde_json::from_str(&b).ok())
    }

    /// SIGKILLs the worker pod of that name.
    fn kill(&mut self, name: &str) {
        let (_, child) = self.procs.iter_mut().find(|(n, _)| n == name).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

/// A container as the kubelet starts it: `args` with no `command` runs `args[0]` from the
/// image's PATH (here `bin_dir`, where the image's names link to the binary), `$(VAR)`
/// expanded from the container's env, a `secretKeyRef` resolved from `secrets` (a missing
/// Secret or key keeps the kubelet from starting the container at all).
fn container_command(
    container: &Value,
    bin_dir: &Path,
    host: &str,
    port: u16,
    secrets: Secrets,
) -> Command {
    assert!(
        container["command"].as_array().is_none_or(Vec::is_empty),
        "the image's PATH finds args[0]"
    );
    let mut env = BTreeMap::new();
    for var in container["env"].as_array().into_iter().flatten() {
        let name = var["name"].as_str().unwrap().to_string();
        let value = match var["value"].as_str() {
            Some(value) => value.replace(host, &format!("127.0.0.1:{port}")),
            None => {
                let reference = &var["valueFrom"]["secretKeyRef"];
                let (secret, key) = (&reference["name"], &reference["key"]);
                let found = secrets.iter().find(|(s, k, _)| secret == s && key == k);
                let (_, _, value) = found.unwrap_or_else(|| {
                    panic!("CreateContainerConfigError: no key {key} in Secret {secret}")
                });
                value.to_string()
            }
        };
        env.insert(name, value);
    }
    let args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let mut arg = a.as_str().unwrap().to_string();
            for (name, value) in &env {
                arg = arg.replace(&format!("$({name})"), value);
            }
            arg
        })
        .collect();
    let mut command = Command::new(bin_dir.join(&args[0]));
    command
        .args(&args[1..])
        .env_clear()
        .envs(&env)
        .env("WASMDASK_CACHE_DIR", cache_dir());
    command
}

/// One local-pods run: renders `function` of `component` with 3 workers, starts the pods.
struct Scenario {
    dir: tempfile::TempDir,
    list: Value,
}

/// A directory standing in for the image: the binary under the names on its PATH, a `tmp/`
/// for flytekit, and `dask.yaml` with three one-core workers.
fn image_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tmp")).unwrap();
    for name in ["wasmdask", "dask-scheduler", "dask-worker", "dask"] {
        std::os::unix::fs::symlink(BIN, dir.path().join(name)).unwrap();
    }
    std::fs::write(
        dir.path().join("dask.yaml"),
        "workers: {number_of_workers: 3, limits: {cpu: '1', mem: 1Gi}}",
    )
    .unwrap();
    dir
}

impl Scenario {
    fn render(component: &str, function: &str, inputs: &[&str]) -> Scenario {
        let dir = image_dir();
        let config = dir.path().join("dask.yaml");
        let out = dir.path().join("out");
        let mut args = vec![
            "--format",
            "pods",
            "--json",
            "--image",
            "wasmdask:local",
            "--namespace",
            "local",
            "-f",
            function,
            "--config",
            config.to_str().unwrap(),
            "--output-prefix",
            out.to_str().unwrap(),
            "--",
        ];
        args.extend(inputs);
        let list = serde_json::from_str(&render(component, &args)).unwrap();
        Scenario { dir, list }
    }

    fn start(&self) -> (LocalPods, Command) {
        LocalPods::start(&self.list, self.dir.path(), SECRETS)
    }

    fn out(&self) -> String {
        self.dir.path().join("out").display().to_string()
    }

    fn flytekit(&self, args: &[&str]) -> Value {
        flytekit(&self.dir.path().join("tmp"), args)
    }
}

fn finish(mut runner: Command, limit: Duration) -> std::process::Output {
    let child = runner
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let output = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < limit,
        "the runner took {:?}",
        started.elapsed()
    );
    output
}

#[test]
fn rendered_pods_run_the_fan_out_on_three_workers() {
    let scenario = Scenario::render(guests::EXAMPLE_RUST, "sum-of-squares", &["n=1000"]);
    let (pods, runner) = scenario.start();
    let output = finish(runner, Duration::from_secs(60));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        scenario.flytekit(&["read-outputs", &scenario.out(), "int"]),
        json!({"o0": 333833500})
    );
    let state = pods.state().unwrap();
    assert_eq!(
        state["totals"]["completed"], 1000,
        "the squares ran on the workers"
    );
}

#[test]
fn rendered_pods_survive_a_killed_worker() {
    let scenario = Scenario::render(guests::FANOUT, "map-spin", &["n=6", "ms=800"]);
    let (mut pods, mut runner) = scenario.start();
    let child = runner
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut victim = None;
    wait_until(Duration::from_secs(30), || {
        victim = pods.state().and_then(|s| {
            s["workers"].as_array()?.iter().find_map(|w| {
                (w["processing"].as_u64().unwrap_or(0) > 0)
                    .then(|| w["name"].as_str().unwrap().to_string())
            })
        });
        victim.is_some()
    });
    let victim = victim.unwrap();
    assert!(
        victim.contains("-default-worker-"),
        "named by DASK_WORKER_NAME: {victim}"
    );
    pods.kill(&victim);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        scenario.flytekit(&["read-outputs", &scenario.out(), "int"]),
        json!({"o0": 6})
    );
    assert_eq!(pods.state().unwrap()["totals"]["lost_workers"], 1);
}

#[test]
fn rendered_pods_report_a_guest_error_in_error_pb() {
    let scenario = Scenario::render(guests::FAULTS, "fail", &["message=the model diverged"]);
    let (_pods, runner) = scenario.start();
    let output = finish(runner, Duration::from_secs(60));
    assert!(
        output.status.success(),
        "exit 0, like pyflyte-execute: {}",
        stderr(&output)
    );
    assert!(!Path::new(&scenario.out()).join("outputs.pb").exists());
    let error = &scenario.flytekit(&["read-error", &scenario.out()])["error"];
    assert_eq!(error["code"], "USER:guest-error");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("the model diverged"),
        "{error}"
    );
}

/// The token's way on a real Flyte cluster: `serialize` gives the task a pod template whose
/// primary container takes `WASMDASK_TOKEN` from a Secret; the Flyte backend makes the runner,
/// scheduler and workers from that container, and the operator's own builders expand the
/// DaskJob into pods (`tests/k8s/flyte_backend.py`), which run here as local processes.
#[test]
fn a_serialized_task_runs_as_flyte_and_the_operator_start_it() {
    let dir = image_dir();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let output = wasmdask(&[
        "serialize",
        guests::EXAMPLE_RUST,
        "--image",
        "wasmdask:local",
        "--config",
        &path("dask.yaml"),
        "--component-uri",
        guests::EXAMPLE_RUST,
        "-f",
        "sum-of-squares",
        "--name",
        "example",
        "-o",
        &path("spec"),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let tmp = dir.path().join("tmp");
    flytekit(
        &tmp,
        &[
            "write-inputs",
            &path("inputs.pb"),
            r#"{"n": ["int", 1000]}"#,
        ],
    );
    let built = Command::new(python())
        .arg(repo().join("tests/k8s/flyte_backend.py"))
        .args([
            &path("spec/0_example.sum_of_squares_1.pb"),
            "f3a9c2d1e0b4-n0-0",
            "flytesnacks-development",
            &path("inputs.pb"),
            &path("out"),
        ])
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", stderr(&built));
    let built: Value = serde_json::from_str(stdout(&built).trim()).unwrap();

    // Every role reads the token from the Secret: a reference, not a value.
    let job = &built["daskjob"]["spec"];
    let token = json!({"name": "WASMDASK_TOKEN",
                       "valueFrom": {"secretKeyRef": {"name": "wasmdask-token", "key": "token"}}});
    for role in [
        &job["job"]["spec"],
        &job["cluster"]["spec"]["scheduler"]["spec"],
        &job["cluster"]["spec"]["worker"]["spec"],
    ] {
        let env = role["containers"][0]["env"].as_array().unwrap();
        assert!(env.contains(&token), "{role:#}");
    }

    // With an empty token in the Secret, the scheduler refuses to listen beyond loopback. (Its
    // env names no Service address to point at loopback.)
    let list = &built["list"];
    let scheduler = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| {
            i["kind"] == "Pod" && i["metadata"]["labels"]["dask.org/component"] == "scheduler"
        })
        .unwrap();
    let empty: Secrets = &[("wasmdask-token", "token", "")];
    let refused = container_command(
        &scheduler["spec"]["containers"][0],
        dir.path(),
        "no-service",
        0,
        empty,
    )
    .args([
        "--port",
        &free_port().to_string(),
        "--dashboard-address",
        "none",
    ])
    .output()
    .unwrap();
    assert!(!refused.status.success());
    assert_stderr_has(&refused, "beyond loopback, and needs a shared token");

    let (pods, runner) = LocalPods::start(list, dir.path(), SECRETS);
    let output = finish(runner, Duration::from_secs(60));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        flytekit(&tmp, &["read-outputs", &path("out"), "int"]),
        json!({"o0": 333833500})
    );
    assert_eq!(
        pods.state().unwrap()["totals"]["completed"],
        1000,
        "the squares ran on the workers"
    );
}
