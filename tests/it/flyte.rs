//! Flyte compatibility against the real packages: flytekit/flyteidl from PyPI (the repo's
//! `.venv`, made by `scripts/setup.sh`) write `inputs.pb` and read back `outputs.pb` and
//! `error.pb`, and the TaskTemplate flytekit serializes for the same Dask task (with
//! flytekitplugins-dask's `custom` and, for the token, a pod template) is the reference for
//! `wasmdask serialize`'s. S3 is moto's server on loopback.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{cache_dir, guests};
use crate::distributed::Cluster;

const BIN: &str = env!("CARGO_BIN_EXE_wasmdask");

pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The venv's Python. Missing means the README setup was not run: fail, never skip.
pub(crate) fn python() -> PathBuf {
    let python = repo().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `bash scripts/setup.sh` (it installs flytekit into .venv)",
        python.display()
    );
    python
}

/// Runs `tests/flyte/flytekit_io.py` and parses the JSON line it prints.
pub(crate) fn flytekit(tmp: &Path, args: &[&str]) -> Value {
    let output = Command::new(python())
        .arg(repo().join("tests/flyte/flytekit_io.py"))
        .args(args)
        // flytekit leaves two directories in TMPDIR per process.
        .env("TMPDIR", tmp)
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "flytekit_io.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn execute(envs: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command
        .arg("execute")
        .args(args)
        .env("WASMDASK_CACHE_DIR", cache_dir())
        .env_remove("DASK_SCHEDULER_ADDRESS")
        .env_remove("FLYTE_FAIL_ON_ERROR")
        .env_remove("RUST_LOG");
    for (k, v) in envs {
        command.env(k, v);
    }
    command.output().expect("run wasmdask execute")
}

/// One execution directory: flytekit's inputs.pb, the output prefix, and the runner's args.
struct Run {
    dir: tempfile::TempDir,
}

impl Run {
    fn new(inputs: Value) -> Run {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tmp")).unwrap();
        let run = Run { dir };
        flytekit(
            &run.tmp(),
            &[
                "write-inputs",
                run.inputs().to_str().unwrap(),
                &inputs.to_string(),
            ],
        );
        run
    }
    fn tmp(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }
    fn inputs(&self) -> PathBuf {
        self.dir.path().join("inputs.pb")
    }
    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }
    /// The runner's argument list, as Flyte would substitute it (unsubstituted checkpoints).
    fn args<'a>(&'a self, component: &'a str, function: &'a str) -> Vec<String> {
        [
            "--inputs",
            self.inputs().to_str().unwrap(),
            "--output-prefix",
            self.out().to_str().unwrap(),
            "--raw-output-data-prefix",
            "{{.rawOutputDataPrefix}}",
            "--checkpoint-path",
            "{{.checkpointOutputPrefix}}",
            "--prev-checkpoint",
            "\"\"",
            "--",
            component,
            function,
        ]
        .map(String::from)
        .to_vec()
    }
    fn run(&self, envs: &[(&str, &str)], component: &str, function: &str) -> Output {
        let args = self.args(component, function);
        let output = execute(envs, &args.iter().map(String::as_str).collect::<Vec<_>>());
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        output
    }
    fn outputs(&self, ty: &str) -> Value {
        flytekit(
            &self.tmp(),
            &["read-outputs", self.out().to_str().unwrap(), ty],
        )
    }
    fn error(&self) -> Value {
        assert!(
            !self.out().join("outputs.pb").exists(),
            "outputs.pb written next to error.pb"
        );
        flytekit(&self.tmp(), &["read-error", self.out().to_str().unwrap()])["error"].clone()
    }
}

fn digest_ref(path: &str) -> String {
    let bytes = std::fs::read(path).unwrap();
    format!("{path}@{}", wasmdask_sandbox::digest_of(&bytes))
}

#[test]
fn execute_round_trips_flytekit_literals() {
    let component = digest_ref(guests::EXAMPLE_RUST);

    // An integer in, a fan-out over the embedded cluster, an integer out.
    let run = Run::new(json!({"n": ["int", 100]}));
    let output = run.run(&[], &component, "sum-of-squares");
    assert!(output.status.success());
    assert_eq!(run.outputs("int"), json!({"o0": 338350}));

    // The same through file:// URIs, with the placeholders Flyte leaves when it has no value.
    let run = Run::new(json!({"n": ["int", 10]}));
    let inputs = format!("file://{}", run.inputs().display());
    let out = format!("file://{}", run.out().display());
    let output = execute(
        &[],
        &[
            "--inputs",
            &inputs,
            "--output-prefix",
            &out,
            "--checkpoint-path",
            "{{.checkpointOutputPrefix}}",
            "--prev-checkpoint",
            "",
            "--",
            &component,
            "sum-of-squares",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(run.outputs("int"), json!({"o0": 385}));

    // A list and an absent option in, a record out (msgpack, read by flytekit as a dict).
    let run = Run::new(json!({"samples": ["list[float]", [1.5, 2.0, 8.0]]}));
    assert!(run.run(&[], &component, "summarize").status.success());
    assert_eq!(
        run.outputs("dict"),
        json!({"o0": {"count": 3, "mean": 3.8333333333333335, "min": 1.5, "max": 8.0, "label": "unnamed"}})
    );

    // flytekit's Optional[str] (a union literal) reaches the option parameter.
    let run = Run::new(json!({
        "samples": ["list[float]", [4.0]],
        "label": ["optional[str]", "weights"],
    }));
    assert!(run.run(&[], &component, "summarize").status.success());
    assert_eq!(run.outputs("dict")["o0"]["label"], "weights");
}

#[test]
fn task_failures_write_error_pb_and_exit_zero() {
    let faults = digest_ref(guests::FAULTS);

    // A returned error: the guest's message, non-recoverable, the user's fault.
    let run = Run::new(json!({"message": ["str", "the model diverged"]}));
    let output = run.run(&[], &faults, "fail");
    assert!(output.status.success(), "exit 0, like pyflyte-execute");
    let error = run.error();
    assert_eq!(error["code"], "USER:guest-error");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("the model diverged")
    );
    assert_eq!(error["origin"], "USER");
    assert_eq!(
        error.get("kind"),
        None,
        "NON_RECOVERABLE is the default (omitted)"
    );
    assert!(error["timestamp"].is_string());

    // A timeout may pass on a retry: recoverable.
    let run = Run::new(json!({}));
    let mut args = vec!["--timeout".to_string(), "300ms".to_string()];
    args.extend(run.args(&faults, "spin"));
    let output = execute(&[], &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(output.status.success());
    let error = run.error();
    assert_eq!(error["code"], "USER:timeout");
    assert_eq!(error["kind"], "RECOVERABLE");

    // FLYTE_FAIL_ON_ERROR=true: error.pb and a non-zero exit.
    let run = Run::new(json!({"message": ["str", "boom"]}));
    let output = run.run(&[("FLYTE_FAIL_ON_ERROR", "true")], &faults, "fail");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(run.error()["code"], "USER:guest-error");
}

#[test]
fn bad_inputs_name_the_variable_and_write_nothing_else() {
    let component = digest_ref(guests::EXAMPLE_RUST);

    // Missing input.
    let run = Run::new(json!({}));
    assert!(run.run(&[], &component, "sum-of-squares").status.success());
    let error = run.error();
    assert_eq!(error["code"], "USER:bad-input");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("input `n` is missing"),
        "{error}"
    );

    // Type mismatch: a string where a u32 is expected.
    let run = Run::new(json!({"n": ["str", "ten"]}));
    assert!(run.run(&[], &component, "sum-of-squares").status.success());
    let message = run.error()["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("input `n`") && message.contains("u32"),
        "{message}"
    );

    // An unknown extra input.
    let run = Run::new(json!({"n": ["int", 3], "m": ["int", 4]}));
    assert!(run.run(&[], &component, "sum-of-squares").status.success());
    assert!(
        run.error()["message"]
            .as_str()
            .unwrap()
            .contains("input `m` is not a parameter")
    );

    // Malformed inputs.pb.
    let run = Run::new(json!({}));
    std::fs::write(run.inputs(), b"\xff\xff not a protobuf").unwrap();
    assert!(run.run(&[], &component, "sum-of-squares").status.success());
    assert!(
        run.error()["message"]
            .as_str()
            .unwrap()
            .contains("is not a Flyte LiteralMap")
    );

    // A component that changed after serialization.
    let run = Run::new(json!({"n": ["int", 3]}));
    let wrong = format!("{}@sha256:{}", guests::EXAMPLE_RUST, "0".repeat(64));
    assert!(run.run(&[], &wrong, "sum-of-squares").status.success());
    let error = run.error();
    assert_eq!(error["code"], "SYSTEM:digest-mismatch");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("serialize and register the task again")
    );
}

#[test]
fn execute_fans_out_to_the_scheduler_at_dask_scheduler_address() {
    let cluster = Cluster::start(2, &[], None);
    let run = Run::new(json!({"n": ["int", 1000]}));
    let output = run.run(
        &[("DASK_SCHEDULER_ADDRESS", &cluster.address())],
        &digest_ref(guests::EXAMPLE_RUST),
        "sum-of-squares",
    );
    assert!(output.status.success());
    assert_eq!(run.outputs("int"), json!({"o0": 333833500}));
}

/// moto's S3 server on a free loopback port, stopped on drop.
pub(crate) struct Moto {
    child: Child,
    pub(crate) endpoint: String,
}

impl Moto {
    /// The variables through which wasmdask and flytekit reach this server (Flyte's names).
    pub(crate) fn env(&self) -> [(&'static str, &str); 3] {
        [
            ("FLYTE_AWS_ENDPOINT", self.endpoint.as_str()),
            ("FLYTE_AWS_ACCESS_KEY_ID", "test"),
            ("FLYTE_AWS_SECRET_ACCESS_KEY", "test"),
        ]
    }

    pub(crate) fn start() -> Moto {
        Moto::start_with(&[])
    }

    /// With these environment variables (moto's `MOTO_*` settings).
    pub(crate) fn start_with(env: &[(&str, &str)]) -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(repo().join(".venv/bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server from .venv (run scripts/setup.sh)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn execute_reads_and_writes_s3() {
    let moto = Moto::start();
    let run = Run::new(json!({"n": ["int", 10]}));
    let tmp = run.tmp();
    let s3 = |args: &[&str]| {
        let mut all = vec!["s3", moto.endpoint.as_str()];
        all.extend(args);
        flytekit(&tmp, &all)
    };
    s3(&["mkbucket", "flyte"]);
    s3(&["put", "flyte", "tasks/example.wasm", guests::EXAMPLE_RUST]);
    s3(&[
        "put",
        "flyte",
        "run1/inputs.pb",
        run.inputs().to_str().unwrap(),
    ]);

    let bytes = std::fs::read(guests::EXAMPLE_RUST).unwrap();
    let component = format!(
        "s3://flyte/tasks/example.wasm@{}",
        wasmdask_sandbox::digest_of(&bytes)
    );
    let env = [
        ("FLYTE_AWS_ENDPOINT", moto.endpoint.as_str()),
        ("FLYTE_AWS_ACCESS_KEY_ID", "test"),
        ("FLYTE_AWS_SECRET_ACCESS_KEY", "test"),
    ];
    let output = execute(
        &env,
        &[
            "--inputs",
            "s3://flyte/run1/inputs.pb",
            "--output-prefix",
            "s3://flyte/run1/out",
            "--",
            &component,
            "sum-of-squares",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::create_dir_all(run.out()).unwrap();
    s3(&[
        "get",
        "flyte",
        "run1/out/outputs.pb",
        run.out().join("outputs.pb").to_str().unwrap(),
    ]);
    assert_eq!(run.outputs("int"), json!({"o0": 385}));
    assert_eq!(
        s3(&["list", "flyte"]),
        json!([
            "run1/inputs.pb",
            "run1/out/outputs.pb",
            "tasks/example.wasm"
        ])
    );

    // A missing component on S3 is reported in error.pb (on S3).
    let output = execute(
        &env,
        &[
            "--inputs",
            "s3://flyte/run1/inputs.pb",
            "--output-prefix",
            "s3://flyte/run2",
            "--",
            "s3://flyte/tasks/missing.wasm",
            "sum-of-squares",
        ],
    );
    assert!(output.status.success());
    std::fs::remove_file(run.out().join("outputs.pb")).unwrap();
    s3(&[
        "get",
        "flyte",
        "run2/error.pb",
        run.out().join("error.pb").to_str().unwrap(),
    ]);
    let error = run.error();
    assert_eq!(error["code"], "SYSTEM:storage");
    assert_eq!(error["origin"], "SYSTEM");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{error}"
    );
}

/// The three configs the issue names, as YAML for wasmdask and JSON for flytekit, each with a
/// `--token-secret` (none given: the default).
pub(crate) fn configs() -> Vec<(&'static str, Value, Option<&'static str>)> {
    vec![
        ("default", json!({}), None),
        (
            "full",
            json!({
                "scheduler": {"image": "ghcr.io/example/sched:1",
                              "requests": {"cpu": "1", "mem": "2Gi"},
                              "limits": {"cpu": "2", "mem": "4Gi"}},
                "workers": {"number_of_workers": 3, "image": "ghcr.io/example/worker:1",
                            "requests": {"cpu": "2", "mem": "8Gi"},
                            "limits": {"cpu": "4", "mem": "16Gi"}},
            }),
            Some("team-secrets/wasmdask.token"),
        ),
        (
            "gpu",
            json!({
                "workers": {"number_of_workers": 2,
                            "limits": {"cpu": "8", "mem": "32Gi", "gpu": "1",
                                       "ephemeral_storage": "100Gi"},
                            "requests": {"gpu": "1", "ephemeral_storage": "50Gi"}},
                "scheduler": {"limits": {"mem": "1Gi", "ephemeral_storage": "2Gi"}},
            }),
            Some(""),
        ),
    ]
}

/// The container the runner is made from: the template's own, or its pod's primary one.
fn primary_container(template: &Value) -> &Value {
    match template["config"]["primary_container_name"].as_str() {
        Some(name) => template["k8sPod"]["podSpec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .expect("the primary container is in the pod spec"),
        None => &template["container"],
    }
}

/// `wasmdask serialize` of the example component as the task `example` (image
/// `ghcr.io/example/app:v1`, component URI `s3://bucket/example.wasm`, requests `cpu=1,mem=2Gi`)
/// with the Dask config in `yaml`, the exports `functions`, the task limits `limits` and, if
/// given, `--token-secret`, writing to `out`.
pub(crate) fn serialize_example(
    yaml: &Path,
    out: &Path,
    functions: &[&str],
    limits: &str,
    token_secret: Option<&str>,
) -> Command {
    serialize_component(
        guests::EXAMPLE_RUST,
        "example",
        yaml,
        out,
        functions,
        limits,
        token_secret,
    )
}

/// `wasmdask serialize` of `functions` of `component`, as [`serialize_example`] does for the
/// example, with the task name prefix `name` and the component URI `s3://bucket/<name>.wasm`.
pub(crate) fn serialize_component(
    component: &str,
    name: &str,
    yaml: &Path,
    out: &Path,
    functions: &[&str],
    limits: &str,
    token_secret: Option<&str>,
) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(["serialize", component])
        .args(["--image", "ghcr.io/example/app:v1"])
        .args(["--config", yaml.to_str().unwrap()])
        .args(["-o", out.to_str().unwrap()])
        .args(["--component-uri", &format!("s3://bucket/{name}.wasm")])
        .args(["--name", name])
        .args(functions.iter().flat_map(|f| ["-f", f]))
        .args(["--task-requests", "cpu=1,mem=2Gi"])
        .args(["--task-limits", limits])
        .env("WASMDASK_CACHE_DIR", cache_dir());
    if let Some(flag) = token_secret {
        command.args(["--token-secret", flag]);
    }
    command
}

#[test]
fn serialize_writes_the_template_flytekit_would() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    for (name, config, token_secret) in configs() {
        let json_path = dir.path().join(format!("{name}.json"));
        std::fs::write(&json_path, config.to_string()).unwrap();
        let yaml_path = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&yaml_path, serde_yaml_ng::to_string(&config).unwrap()).unwrap();
        let out = dir.path().join(format!("out-{name}"));
        let mut command = serialize_example(
            &yaml_path,
            &out,
            &["sum-of-squares"],
            "cpu=2,mem=4Gi,ephemeral_storage=10Gi",
            token_secret,
        );
        let output = command.arg("--json").output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let (secret, key) = token_secret
            .unwrap_or("wasmdask-token/token")
            .split_once('/')
            .unwrap_or_default();
        let task = json!({
            "image": "ghcr.io/example/app:v1",
            "requests": {"cpu": "1", "mem": "2Gi"},
            "limits": {"cpu": "2", "mem": "4Gi", "ephemeral_storage": "10Gi"},
            "token_secret": (!secret.is_empty()).then_some([secret, key]),
        });
        let spec = out.join("0_example.sum_of_squares_1.pb");
        let compared = flytekit(
            &tmp,
            &[
                "compare-template",
                json_path.to_str().unwrap(),
                &task.to_string(),
                spec.to_str().unwrap(),
            ],
        );
        assert_eq!(compared["equal"], true, "{name}: {compared:#}");
        let template = &compared["template"];
        assert_eq!(
            template["interface"]["inputs"]["variables"]["n"]["type"]["simple"],
            "INTEGER"
        );
        assert_eq!(
            template["interface"]["outputs"]["variables"]["o0"]["type"]["simple"],
            "INTEGER"
        );
        let primary = primary_container(template);
        let args: Vec<&str> = primary["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(
            &args[..4],
            ["wasmdask", "execute", "--inputs", "{{.input}}"]
        );
        assert!(args[13].starts_with("s3://bucket/example.wasm@sha256:"));
        assert_eq!(args[14], "sum-of-squares");
        // The token is a reference to the Secret, never a value.
        let env = primary["env"].as_array().cloned().unwrap_or_default();
        if secret.is_empty() {
            assert!(template.get("k8sPod").is_none() && env.is_empty(), "{name}");
        } else {
            assert!(template.get("container").is_none(), "{name}");
            assert_eq!(
                env,
                [json!({"name": "WASMDASK_TOKEN",
                        "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})],
                "{name}"
            );
        }
    }
}

#[test]
fn serialize_rejects_bad_configs_like_flytekit() {
    let dir = tempfile::tempdir().unwrap();
    let serialize = |config: &str, ext: &str| {
        let path = dir.path().join(format!("c.{ext}"));
        std::fs::write(&path, config).unwrap();
        Command::new(BIN)
            .args(["serialize", guests::EXAMPLE_RUST, "--image", "img", "-o"])
            .arg(dir.path().join("out"))
            .arg("--config")
            .arg(&path)
            .output()
            .unwrap()
    };
    let output = serialize("workers:\n  number_of_workers: 0\n", "yaml");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains(
        "Each worker group needs to have at least one worker, but 0 have been specified."
    ));
    let output = serialize("{\"workers\": {\"limits\": {\"mem\": \"4 GB\"}}}", "json");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("`4 GB` is not a Kubernetes quantity")
    );
    let output = serialize("[scheduler]\nimgae = \"x\"\n", "toml");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown field `imgae`"), "{stderr}");
    assert!(
        !dir.path().join("out").exists(),
        "nothing written for a bad config"
    );
}
