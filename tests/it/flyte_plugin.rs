//! The flytekit plugin (`plugins/flytekit-wasmdask`, installed editable into `.venv` by
//! `scripts/setup.sh`) against the real flytekit: `pyflyte run` of the example workflow (Python
//! → wasm fan-out → Python), that workflow's wasm node re-run by `wasmdask execute` from the
//! inputs.pb flytekit handed it with the args `pyflyte package` serialized, a workflow that
//! passes files and a directory through wasm tasks (flytekit and flyte-sdk, each with its
//! `shard-sums` node re-run through `execute`), the TaskTemplate the plugin serializes against
//! `wasmdask serialize`'s, and the errors a user sees. pyflyte is slow
//! to start, so each test batches its checks into few Python processes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use prost::Message;
use serde_json::{Value, json};
use wasmdask_flyte::idl::admin::TaskSpec;
use wasmdask_flyte::idl::core::LiteralMap;
use wasmdask_flyte::idl::core::task_template::Target;
use wasmdask_flyte::idl::struct_to_json;

use crate::common::{cache_dir, guests};
use crate::flyte::{flytekit, repo, serialize_example};

const BIN: &str = env!("CARGO_BIN_EXE_wasmdask");

/// A command from `.venv/bin` with the test binary and cache, and flytekit's temp dirs in `tmp`.
/// The plugin is this checkout's (`PYTHONPATH` comes before the venv's editable install, which
/// may point at another checkout).
fn venv(tool: &str, tmp: &Path) -> Command {
    let mut command = Command::new(repo().join(".venv/bin").join(tool));
    command
        .env("PYTHONPATH", repo().join("plugins/flytekit-wasmdask"))
        .env("TMPDIR", tmp)
        .env("WASMDASK_BIN", BIN)
        .env("WASMDASK_CACHE_DIR", cache_dir())
        .env_remove("COMPONENT_URI")
        .env_remove("DASK_SCHEDULER_ADDRESS")
        .env_remove("RUST_LOG");
    command
}

#[track_caller]
fn succeeded(output: Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Runs `tests/flyte/<script>` (`wasm_plugin.py` for flytekit, `wasm_plugin_v2.py` for
/// flyte-sdk) and parses the JSON line it prints.
fn script_checks(script: &str, tmp: &Path, args: &[&str]) -> Value {
    let output = venv("python", tmp)
        .arg(repo().join("tests/flyte").join(script))
        .args(args)
        .output()
        .expect("run python");
    let stdout = succeeded(output, &format!("{script} {args:?}"));
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn temp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    (dir, tmp)
}

/// The run directory `WASMDASK_LOCAL_RUNS=runs` kept for the sum-of-squares node.
fn sum_of_squares_run(runs: &Path) -> PathBuf {
    node_run(runs, "sum-of-squares")
}

/// The run directory `WASMDASK_LOCAL_RUNS=runs` kept for the node of `function`.
fn node_run(runs: &Path, function: &str) -> PathBuf {
    std::fs::read_dir(runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{function}-"))
        })
        .unwrap_or_else(|| panic!("the {function} node's run directory"))
}

/// The outputs.pb below an output prefix.
fn read_outputs(prefix: &Path) -> LiteralMap {
    LiteralMap::decode(std::fs::read(prefix.join("outputs.pb")).unwrap().as_slice()).unwrap()
}

/// The one file of `dir` whose name ends with `suffix`.
fn only(dir: &Path, suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one *{suffix} in {}: {found:?}",
        dir.display()
    );
    found.into_iter().next().unwrap()
}

/// The runner's image and args in a serialized task: its container's, or its pod's primary
/// container's.
fn runner(spec: &TaskSpec) -> (String, Vec<String>) {
    let template = spec.template.as_ref().expect("a template");
    assert_eq!(template.r#type, "dask");
    match template.target.as_ref().expect("a target") {
        Target::Container(container) => (container.image.clone(), container.args.clone()),
        Target::K8sPod(pod) => {
            let spec = struct_to_json(pod.pod_spec.as_ref().unwrap()).unwrap();
            let primary = &template.config["primary_container_name"];
            let container = spec["containers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == primary.as_str())
                .expect("the primary container");
            (
                container["image"].as_str().unwrap().to_string(),
                serde_json::from_value(container["args"].clone()).unwrap(),
            )
        }
    }
}

/// Serializes the example's `sum-of-squares` and `summarize` with `wasmdask serialize` into
/// `dir`, once per Dask config of `configs` (`crate::flyte::configs()`' form), with the
/// task limits `limits_flag`, and the types guest's `echo-option` (an option in, an option out)
/// with the default config, and has `tests/flyte/<script> compare-serialize` serialize the same
/// tasks with the plugin; returns its results.
fn compare_serialize(
    script: &str,
    dir: &Path,
    tmp: &Path,
    configs: Vec<(&str, Value, Option<&str>)>,
    limits_flag: &str,
    limits: Value,
) -> Vec<Value> {
    let mut cases = Vec::new();
    for (name, config, token_secret) in configs {
        let yaml = dir.join(format!("{name}.yaml"));
        // A worker `accelerator` is flyte-sdk's `gpu="T4:1"`; serialize's config has the count.
        let mut serialized = config.clone();
        if let Some(workers) = serialized.get_mut("workers").and_then(Value::as_object_mut) {
            workers.remove("accelerator");
        }
        std::fs::write(&yaml, serde_yaml_ng::to_string(&serialized).unwrap()).unwrap();
        let out = dir.join(name);
        let mut command = serialize_example(
            &yaml,
            &out,
            &["sum-of-squares", "summarize"],
            limits_flag,
            token_secret,
        );
        succeeded(command.output().unwrap(), "wasmdask serialize");
        let secret = match token_secret {
            None => json!("wasmdask-token/token"),
            Some("") => Value::Null,
            Some(flag) => json!(flag),
        };
        for (i, function) in ["sum-of-squares", "summarize"].into_iter().enumerate() {
            let snake = function.replace('-', "_");
            cases.push(json!({
                "name": format!("{name} {function}"),
                "dask": config,
                "requests": {"cpu": "1", "mem": "2Gi"},
                "limits": limits,
                "token_secret": secret,
                "function": function,
                "spec": out.join(format!("{i}_example.{snake}_1.pb")),
            }));
        }
    }
    let yaml = dir.join("types.yaml");
    std::fs::write(&yaml, "{}\n").unwrap();
    let out = dir.join("types");
    let mut command = crate::flyte::serialize_component(
        guests::TYPES,
        "types",
        &yaml,
        &out,
        &["echo-option"],
        limits_flag,
        None,
    );
    succeeded(command.output().unwrap(), "wasmdask serialize");
    cases.push(json!({
        "name": "types echo-option",
        "dask": {},
        "requests": {"cpu": "1", "mem": "2Gi"},
        "limits": limits,
        "token_secret": "wasmdask-token/token",
        "function": "echo-option",
        "component": guests::TYPES,
        "task_name": "types.echo_option",
        "component_uri": "s3://bucket/types.wasm",
        "spec": out.join("0_types.echo_option_1.pb"),
    }));
    let results = script_checks(
        script,
        tmp,
        &[
            "compare-serialize",
            guests::EXAMPLE_RUST,
            &Value::Array(cases).to_string(),
        ],
    );
    results.as_array().unwrap().clone()
}

/// `checks[check]` is the exception `error`, its message holding each of `needles`.
#[track_caller]
fn assert_raised(checks: &Value, check: &str, error: &str, needles: &[&str]) {
    let got = &checks[check];
    assert_eq!(got["type"], error, "{check}: {got}");
    let message = got["message"].as_str().unwrap();
    for needle in needles {
        assert!(
            message.contains(needle),
            "{check}: {needle:?} not in {message:?}"
        );
    }
}

/// Runs `tests/flyte/<script> errors` and checks the declaration errors both plugins raise at
/// import, naming the task, export and type; returns all its checks.
#[track_caller]
fn error_checks(script: &str, tmp: &Path) -> Value {
    let checks = script_checks(
        script,
        tmp,
        &[
            "errors",
            guests::EXAMPLE_RUST,
            guests::TYPES,
            guests::FAULTS,
        ],
    );
    assert_raised(
        &checks,
        "missing",
        "FileNotFoundError",
        &["`square`", "/nonexistent/tasks.wasm does not exist"],
    );
    assert_raised(
        &checks,
        "unknown",
        "ValueError",
        &["no export `no-such-export`", "sum-of-squares"],
    );
    assert_raised(
        &checks,
        "unmappable",
        "TypeError",
        &["`echo-tuple`", "parameter `x`", "tuple<u8, string, f64>"],
    );
    checks
}

#[test]
fn a_python_workflow_runs_a_wasm_fan_out_locally_and_its_node_reruns_through_execute() {
    let workflows = repo().join("examples/flyte/workflows.py");
    // The file the README shows is the file this test runs.
    let source = std::fs::read_to_string(&workflows).unwrap();
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        readme.contains(&source),
        "README's workflows.py is not examples/flyte/workflows.py"
    );
    // workflows.py names the example by its path from the repository's default target dir.
    assert_eq!(
        std::fs::canonicalize(guests::EXAMPLE_RUST).unwrap(),
        std::fs::canonicalize(
            repo().join("target/guests/wasm32-wasip2/release/wasmdask_example.wasm")
        )
        .unwrap(),
        "examples/flyte/workflows.py expects the example under target/"
    );

    let (dir, tmp) = temp();
    let runs = dir.path().join("runs");
    let n: u64 = 1000;
    let output = venv("pyflyte", &tmp)
        .args([
            "run",
            workflows.to_str().unwrap(),
            "wf",
            "--n",
            &n.to_string(),
        ])
        .env("WASMDASK_LOCAL_RUNS", &runs)
        .output()
        .unwrap();
    let stdout = succeeded(output, "pyflyte run");
    let total = n * (n + 1) * (2 * n + 1) / 6;
    let mean = total as f64 / n as f64;
    // check_n (Python) → sum-of-squares (wasm, n square calls on the embedded cluster) →
    // around_the_mean (Python, list[float]) → summarize (wasm, option left out; a record) →
    // report (Python, reads the record as a dict).
    let expected = format!("1²+…+{n}² = {total}; mean square {mean:?} over 3 samples (unnamed)");
    assert!(stdout.contains(&expected), "{expected:?} not in:\n{stdout}");

    // The same project through `pyflyte package --fast` (what `pyflyte register` serializes).
    let package = dir.path().join("package");
    std::fs::create_dir(&package).unwrap();
    let tgz = package.join("flyte-package.tgz");
    let output = venv("pyflyte", &tmp)
        .current_dir(workflows.parent().unwrap())
        .args([
            "--pkgs",
            "workflows",
            "package",
            "--image",
            "ghcr.io/me/flyte-app:1",
        ])
        .args(["--fast", "--output", tgz.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = succeeded(output, "pyflyte package");
    assert!(stdout.contains("example.sum_of_squares"), "{stdout}");
    let output = Command::new("tar")
        .arg("-xzf")
        .arg(&tgz)
        .arg("-C")
        .arg(&package)
        .output()
        .unwrap();
    succeeded(output, "tar");
    let spec = TaskSpec::decode(
        std::fs::read(only(&package, "_example.sum_of_squares_1.pb"))
            .unwrap()
            .as_slice(),
    )
    .unwrap();
    let (image, args) = runner(&spec);
    assert_eq!(
        &args[..2],
        ["wasmdask", "execute"],
        "not wrapped by fast registration"
    );
    assert_eq!(image, "ghcr.io/me/wasmdask:0.1", "the WasmTask's own image");

    // Its runner args, with what propeller would substitute, on the inputs.pb the local run
    // handed the wasm node.
    let node = sum_of_squares_run(&runs);
    let rerun = dir.path().join("rerun");
    let substituted: Vec<String> = args[1..]
        .iter()
        .map(|a| match a.as_str() {
            "{{.input}}" => node.join("inputs.pb").display().to_string(),
            "{{.outputPrefix}}" => rerun.display().to_string(),
            other => other.to_string(),
        })
        .collect();
    let output = Command::new(BIN)
        .args(&substituted)
        .env("WASMDASK_CACHE_DIR", cache_dir())
        .env_remove("DASK_SCHEDULER_ADDRESS")
        .output()
        .unwrap();
    succeeded(output, "wasmdask execute");
    assert_eq!(
        flytekit(&tmp, &["read-outputs", rerun.to_str().unwrap(), "int"]),
        json!({"o0": total})
    );
    assert_eq!(
        read_outputs(&rerun),
        read_outputs(&node.join("out")),
        "the local run's output"
    );
}

/// The text of the file output `o0` of an outputs.pb (a blob whose URI is a local path).
fn output_file_text(outputs: &LiteralMap) -> String {
    let json = wasmdask_flyte::idl::to_json(outputs, "flyteidl.core.LiteralMap");
    let blob = &json["literals"]["o0"]["scalar"]["blob"];
    assert_eq!(blob["metadata"]["type"]["format"], "csv", "{json}");
    let uri = blob["uri"].as_str().unwrap();
    std::fs::read_to_string(uri.trim_start_matches("file://"))
        .unwrap_or_else(|e| panic!("{uri}: {e}"))
}

#[test]
fn a_python_workflow_passes_files_through_wasm_tasks_and_a_node_reruns_through_execute() {
    let (dir, tmp) = temp();
    let runs = dir.path().join("runs");
    let n = 4;
    let output = venv("pyflyte", &tmp)
        .arg("run")
        .arg(repo().join("tests/flyte/wasm_plugin_files.py"))
        .args(["wf", "--n", &n.to_string()])
        .env("WASMDASK_FILES_WASM", guests::FILES)
        .env("WASMDASK_LOCAL_RUNS", &runs)
        .output()
        .unwrap();
    let stdout = succeeded(output, "pyflyte run wasm_plugin_files.py");
    // write_shards (Python, a FlyteDirectory) → shard-sums (wasm, a line-sum per shard on the
    // embedded cluster, a FlyteFile out) and write_numbers (Python, a FlyteFile) → line-sum
    // (wasm) → report (Python, opens the CSV file).
    let (rows, expected) = files_report(n);
    assert!(stdout.contains(&expected), "{expected:?} not in:\n{stdout}");

    rerun_shard_sums(dir.path(), &runs, &rows);
}

/// The `shard-sums` node that wrote `rows` in a local run again, through `execute` from the
/// inputs.pb the SDK handed it (a multipart blob at a local path), its output file under a
/// raw-output prefix of our own: the same CSV both times.
fn rerun_shard_sums(dir: &Path, runs: &Path, rows: &[String]) {
    let node = node_run(runs, "shard-sums");
    let csv = rows.iter().map(|r| format!("{r}\n")).collect::<String>();
    assert_eq!(output_file_text(&read_outputs(&node.join("out"))), csv);
    let rerun = dir.join("rerun");
    let raw = dir.join("raw");
    std::fs::create_dir(&raw).unwrap();
    let output = Command::new(BIN)
        .args(["execute", "--inputs"])
        .arg(node.join("inputs.pb"))
        .arg("--output-prefix")
        .arg(&rerun)
        .arg("--raw-output-data-prefix")
        .arg(&raw)
        .arg("--")
        .arg(format!(
            "{}@{}",
            std::fs::canonicalize(guests::FILES).unwrap().display(),
            component_digest(guests::FILES)
        ))
        .arg("shard-sums")
        .env("WASMDASK_CACHE_DIR", cache_dir())
        .env_remove("DASK_SCHEDULER_ADDRESS")
        .output()
        .unwrap();
    succeeded(output, "wasmdask execute shard-sums");
    let outputs = read_outputs(&rerun);
    assert_eq!(output_file_text(&outputs), csv);
    let json = wasmdask_flyte::idl::to_json(&outputs, "flyteidl.core.LiteralMap");
    let uri = json["literals"]["o0"]["scalar"]["blob"]["uri"]
        .as_str()
        .unwrap();
    assert!(
        Path::new(uri.trim_start_matches("file://")).starts_with(&raw),
        "{uri} is not under the raw-output prefix {}",
        raw.display()
    );
}

/// The CSV rows `shard-sums` writes for the `n` shards of wasm_plugin_files*.py (shard i holds
/// 10i+1..=10i+3), and the line `report` prints for them and the sum of 1..=n.
fn files_report(n: u64) -> (Vec<String>, String) {
    let rows: Vec<String> = (0..n)
        .map(|i| format!("shard-{i:02}.txt,{}", 30 * i + 6))
        .collect();
    let line = format!("sums: {}; total: {}", rows.join(";"), n * (n + 1) / 2);
    (rows, line)
}

#[test]
fn a_flyte2_run_passes_files_through_wasm_tasks_and_a_node_reruns_through_execute() {
    let (dir, tmp) = temp();
    let runs = dir.path().join("runs");
    let n = 5;
    let output = venv("python", &tmp)
        .arg(repo().join("tests/flyte/wasm_plugin_files_v2.py"))
        .arg(n.to_string())
        .env("WASMDASK_FILES_WASM", guests::FILES)
        .env("WASMDASK_LOCAL_RUNS", &runs)
        .output()
        .unwrap();
    let stdout = succeeded(output, "wasm_plugin_files_v2.py");
    // flyte.io.Dir (Python) → shard-sums (wasm, a flyte.io.File out) and flyte.io.File
    // (Python) → line-sum (wasm) → report (Python, downloads the CSV).
    let (rows, expected) = files_report(n);
    assert!(stdout.contains(&expected), "{expected:?} not in:\n{stdout}");
    rerun_shard_sums(dir.path(), &runs, &rows);

    // A dataset is `Annotated[DataFrame, {columns}, "parquet"]`: flyte-sdk's own type for it is
    // the host's (format `parquet`, not any format), columns included.
    let types: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let host = inspect_task(guests::FILES, "filter-table")["interface"].clone();
    for (side, var) in [("inputs", "table"), ("outputs", "o0")] {
        let entries = types["filter_table"][side]["variables"].as_array().unwrap();
        let entry = entries
            .iter()
            .find(|e| e["key"] == var)
            .unwrap_or_else(|| panic!("no `{var}` among the {side}: {types}"));
        assert_eq!(
            entry["value"]["type"], host[side]["variables"][var]["type"],
            "{side} `{var}`"
        );
        assert_eq!(
            host[side]["variables"][var]["type"],
            json!({"structuredDatasetType": {"format": "parquet"}})
        );
    }
    assert_eq!(
        types["columns"],
        json!({"structuredDatasetType": {"columns": [
            {"name": "region", "literalType": {"simple": "STRING"}},
            {"name": "amount", "literalType": {"simple": "FLOAT"}},
            {"name": "units", "literalType": {"simple": "INTEGER"}}],
            "format": "parquet"}})
    );
}

/// The export `function` of `component` in `wasmdask inspect --json`.
fn inspect_task(component: &str, function: &str) -> Value {
    let output = Command::new(BIN)
        .args(["inspect", "--json", component])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_str(&succeeded(output, "wasmdask inspect")).unwrap();
    doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == function)
        .unwrap_or_else(|| panic!("no {function} in {doc}"))
        .clone()
}

#[test]
fn the_plugin_serializes_what_wasmdask_serialize_writes() {
    let (dir, tmp) = temp();
    let results = compare_serialize(
        "wasm_plugin.py",
        dir.path(),
        &tmp,
        crate::flyte::configs(),
        "cpu=2,mem=4Gi,ephemeral_storage=10Gi",
        json!({"cpu": "2", "mem": "4Gi", "ephemeral_storage": "10Gi"}),
    );
    assert_eq!(results.len(), 7);
    for result in results {
        let name = result["name"].as_str().unwrap();
        let plugin = &result["plugin"];
        let wasmdask = &result["wasmdask"];
        // Each variable's type is the one flytekit's own TypeEngine gives its Python type
        // (`Optional[int]` is the host's union of an option, structure tags included).
        for side in ["inputs", "outputs"] {
            let variables = wasmdask["interface"][side]["variables"]
                .as_object()
                .unwrap();
            let engine = result["engine"][side].as_object().unwrap();
            assert_eq!(variables.len(), engine.len(), "{name} {side}");
            for (var, v) in variables {
                assert_eq!(v["type"], engine[var], "{name}: {side} `{var}`");
            }
        }
        assert_eq!(plugin, wasmdask, "{name}");
    }
}

#[test]
fn bad_declarations_fail_at_import_and_a_failed_guest_raises_a_flytekit_user_error() {
    let (_dir, tmp) = temp();
    let checks = error_checks("wasm_plugin.py", &tmp);
    assert_raised(
        &checks,
        "failed",
        "WasmTaskError",
        &["USER:guest-error", "the model diverged"],
    );
    assert!(
        checks["failed"]["mro"]
            .as_array()
            .unwrap()
            .contains(&json!("FlyteUserException")),
        "{}",
        checks["failed"]
    );
    // An option input given, and left out (None).
    assert_eq!(
        checks["option_given"]["value"],
        json!({"count": 2, "mean": 2.0, "min": 1.0, "max": 3.0, "label": "weights"})
    );
    assert_eq!(checks["option_none"]["value"]["label"], "unnamed");
    // An option result, read back by flytekit from the union literals `execute` wrote.
    assert_eq!(checks["option_result"]["value"], json!([7, null, null]));
}

// --- Flyte 2: `flyteplugins.wasmdask` on flyte-sdk (tests/flyte/wasm_plugin_v2.py) ----------

/// A flyteidl2 VariableMap in JSON (`[{"key", "value"}]`, wire-identical to v1's
/// `map<string, Variable>`) as v1's JSON map.
fn variables_as_map(side: &mut Value) {
    let entries = side["variables"].as_array().cloned().unwrap_or_default();
    side["variables"] = entries
        .into_iter()
        .map(|e| (e["key"].as_str().unwrap().to_string(), e["value"].clone()))
        .collect::<serde_json::Map<_, _>>()
        .into();
}

#[test]
fn the_flyte2_plugin_serializes_what_wasmdask_serialize_writes_and_runs_a_flyte2_workflow() {
    let (dir, tmp) = temp();
    // flyte-sdk's Resources has one value per resource (a request, or a (request, limit) tuple
    // for cpu and memory; gpu and disk are requests only) and no limit-only form, so v1's "gpu"
    // config (limits without requests, gpu and ephemeral-storage limits) has no Flyte 2
    // spelling; "gpu-requests" is the GPU config it has. Its workers ask for an accelerator
    // (`gpu="T4:1"`): flyteplugins-dask keeps only the count (a DaskJob's resources have no
    // accelerator), so it must equal serialize's `gpu: 1`.
    let mut configs: Vec<_> = crate::flyte::configs()
        .into_iter()
        .filter(|(name, _, _)| *name != "gpu")
        .collect();
    configs.push((
        "gpu-requests",
        json!({
            "workers": {"number_of_workers": 2,
                        "requests": {"cpu": "1", "mem": "4Gi", "gpu": "1",
                                     "ephemeral_storage": "50Gi"},
                        "limits": {"cpu": "8", "mem": "32Gi"},
                        "accelerator": "T4:1"},
            "scheduler": {"requests": {"mem": "1Gi"}, "limits": {"mem": "2Gi"}},
        }),
        Some(""),
    ));
    let results = compare_serialize(
        "wasm_plugin_v2.py",
        dir.path(),
        &tmp,
        configs,
        "cpu=2,mem=4Gi",
        json!({"cpu": "2", "mem": "4Gi"}),
    );
    assert_eq!(results.len(), 7);
    for result in results {
        let name = result["name"].as_str().unwrap();
        let mut plugin = result["plugin"].clone();
        let mut wasmdask = result["wasmdask"].clone();
        // What only names the serializer (flyte-sdk 2.12.1 vs wasmdask).
        for template in [&mut plugin, &mut wasmdask] {
            template["metadata"]
                .as_object_mut()
                .unwrap()
                .remove("runtime");
        }
        // The differences inherent to flyte-sdk, each checked before it is taken out:
        let metadata = plugin["metadata"].as_object_mut().unwrap();
        // flyte-sdk always writes a discovery version (its cache/identity hash of the task) and
        // an explicit `interruptible: false`; serialize leaves both unset (the same defaults).
        assert!(
            metadata.remove("discoveryVersion").unwrap().is_string(),
            "{name}"
        );
        assert_eq!(
            metadata.remove("interruptible"),
            Some(json!(false)),
            "{name}"
        );
        for side in ["inputs", "outputs"] {
            // flyteidl2's VariableMap is a list of key/value entries (wire-identical to v1's
            // map); flyte-sdk's type engine writes no descriptions (serialize's is the name).
            variables_as_map(&mut plugin["interface"][side]);
            for (var, v) in wasmdask["interface"][side]["variables"]
                .as_object_mut()
                .unwrap()
            {
                assert_eq!(
                    v.as_object_mut().unwrap().remove("description"),
                    Some(json!(var))
                );
            }
        }
        if name.ends_with("summarize") {
            // A record (dict) is a STRUCT that flyte-sdk annotates as msgpack-serialized.
            let o0 = plugin["interface"]["outputs"]["variables"]["o0"]["type"]
                .as_object_mut()
                .unwrap();
            assert_eq!(
                o0.remove("annotation"),
                Some(
                    json!({"annotations": {"cache-key-metadata": {"serialization-format": "msgpack"}}})
                ),
                "{name}"
            );
        }
        // Unset Dask resources: flytekitplugins-dask writes `"resources": {}`, flyteplugins-dask
        // omits the field; the DaskJob message (and the backend's fallback to the task's
        // resources) is the same.
        for role in ["scheduler", "workers"] {
            let custom = wasmdask["custom"][role].as_object_mut().unwrap();
            if custom.get("resources") == Some(&json!({})) {
                custom.remove("resources");
                assert!(plugin["custom"][role].get("resources").is_none(), "{name}");
            }
        }
        assert_eq!(plugin, wasmdask, "{name}");
    }

    // A Flyte 2 "workflow" run locally by flyte-sdk: Python task → wasm fan-out → Python task.
    let workflows = repo().join("examples/flyte/workflows_v2.py");
    let source = std::fs::read_to_string(&workflows).unwrap();
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        readme.contains(&source),
        "README's workflows_v2.py is not examples/flyte/workflows_v2.py"
    );
    let runs = dir.path().join("runs");
    let n: u64 = 700;
    let output = venv("python", &tmp)
        .arg(&workflows)
        .arg(n.to_string())
        .env("WASMDASK_LOCAL_RUNS", &runs)
        .output()
        .unwrap();
    let stdout = succeeded(output, "workflows_v2.py");
    let total = n * (n + 1) * (2 * n + 1) / 6;
    let expected = format!(
        "1²+…+{n}² = {total}; mean square {:?}",
        total as f64 / n as f64
    );
    assert!(stdout.contains(&expected), "{expected:?} not in:\n{stdout}");
    // The inputs.pb flyte-sdk's converter wrote is a `flyteidl2.task.Inputs`; `execute` reads
    // it as it reads v1's LiteralMap, and gives the same outputs again.
    let node = sum_of_squares_run(&runs);
    let inputs =
        LiteralMap::decode(std::fs::read(node.join("inputs.pb")).unwrap().as_slice()).unwrap();
    assert_eq!(literal_integer(&inputs, "n"), Some(n as i64), "{inputs:?}");
    let rerun = dir.path().join("rerun");
    let output = Command::new(BIN)
        .args(["execute", "--inputs"])
        .arg(node.join("inputs.pb"))
        .arg("--output-prefix")
        .arg(&rerun)
        .arg("--")
        .arg(format!(
            "{}@{}",
            std::fs::canonicalize(guests::EXAMPLE_RUST)
                .unwrap()
                .display(),
            inspect_digest()
        ))
        .arg("sum-of-squares")
        .env("WASMDASK_CACHE_DIR", cache_dir())
        .env_remove("DASK_SCHEDULER_ADDRESS")
        .output()
        .unwrap();
    succeeded(output, "wasmdask execute");
    assert_eq!(read_outputs(&rerun), read_outputs(&node.join("out")));
    assert_eq!(
        literal_integer(&read_outputs(&rerun), "o0"),
        Some(total as i64)
    );

    // Errors: at declaration, naming the function and the type; a failed guest under flyte.run.
    let checks = error_checks("wasm_plugin_v2.py", &tmp);
    assert_raised(
        &checks,
        "failed",
        "RuntimeUserError",
        &["the model diverged"],
    );
    assert_eq!(
        checks["failed"]["code"], "USER:guest-error",
        "{}",
        checks["failed"]
    );
    assert_eq!(
        checks["options"]["value"],
        json!([{"count": 2, "mean": 2.0, "min": 1.0, "max": 3.0, "label": "weights"},
               {"count": 1, "mean": 2.0, "min": 2.0, "max": 2.0, "label": "unnamed"}])
    );
    assert_eq!(
        checks["option_result"]["value"],
        json!([7, null, null]),
        "{}",
        checks["option_result"]
    );
}

/// The example component's digest, from `wasmdask inspect --json`.
fn inspect_digest() -> String {
    component_digest(guests::EXAMPLE_RUST)
}

/// A component's digest, from `wasmdask inspect --json`.
fn component_digest(component: &str) -> String {
    let output = Command::new(BIN)
        .args(["inspect", "--json", component])
        .output()
        .unwrap();
    let stdout = succeeded(output, "wasmdask inspect");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    doc["digest"].as_str().unwrap().to_string()
}

/// The integer literal `name` of a literal map, if it is one.
fn literal_integer(map: &LiteralMap, name: &str) -> Option<i64> {
    let json = wasmdask_flyte::idl::to_json(map, "flyteidl.core.LiteralMap");
    json["literals"][name]["scalar"]["primitive"]["integer"]
        .as_str()?
        .parse()
        .ok()
}
