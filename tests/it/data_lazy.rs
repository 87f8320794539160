//! Directory inputs fetched lazily, on a real cluster: a scheduler and two `wasmdask worker`
//! processes, `wasmdask execute` as the Flyte job runner, flytekit writing the inputs and moto's
//! S3 server recording every request it serves. A task that only lists a directory downloads
//! none of it; each shard is downloaded once in the whole cluster, by the worker whose subtask
//! reads it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmdask_cluster::{RemoteCluster, Target};
use wasmdask_runner::data::StorePort;
use wasmdask_sandbox::{
    Arg, Call, DataPort, DirGrant, ErrorKind, FanOut, Grants, Mount, Sandbox, SandboxConfig,
    TaskError, TaskSig,
};

use crate::common::{cache_dir, guests, load, sandbox, test_limits};
use crate::distributed::{BIN, Cluster};
use crate::flyte::Moto;

/// moto (recording its requests) with a `flyte` bucket, and two workers that read it.
struct Store {
    moto: Moto,
    tmp: tempfile::TempDir,
    recording: PathBuf,
    cluster: Cluster,
}

impl Store {
    fn start() -> Store {
        let tmp = tempfile::tempdir().unwrap();
        let recording = tmp.path().join("requests.jsonl");
        let moto = Moto::start_with(&[
            ("MOTO_ENABLE_RECORDING", "1"),
            ("MOTO_RECORDER_FILEPATH", recording.to_str().unwrap()),
        ]);
        let made = crate::flyte::flytekit(tmp.path(), &["s3", &moto.endpoint, "mkbucket", "flyte"]);
        assert_eq!(made, json!({"ok": "mkbucket"}));
        let env = moto.env();
        let cluster = Cluster::start_with_env(2, &[], None, &env);
        Store {
            moto,
            tmp,
            recording,
            cluster,
        }
    }

    /// Runs `tests/flyte/flyte_data.py` against this store.
    fn flytekit(&self, args: &[&str]) -> Value {
        crate::flyte_data::flyte_data_py(self.tmp.path(), &self.moto.env(), args)
    }

    /// flytekit's inputs.pb for `spec` (uploads under s3://flyte/raw-in) and the URI of each
    /// input's blob.
    fn inputs(&self, name: &str, spec: Value) -> (String, HashMap<String, String>) {
        let path = self.tmp.path().join(format!("{name}.pb"));
        let path = path.to_str().unwrap().to_string();
        let written = self.flytekit(&[
            "write-inputs",
            "s3://flyte/raw-in",
            &path,
            &spec.to_string(),
        ]);
        let uris = written
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, literal)| (name.clone(), blob_uri(literal.as_str().unwrap())))
            .collect();
        (path, uris)
    }

    /// `wasmdask execute` of `function` of the files guest, its fan-out going to the cluster;
    /// returns the runner's stderr.
    fn execute(&self, inputs: &str, prefix: &str, function: &str) -> String {
        let output = Command::new(BIN)
            .args(["execute", "--inputs", inputs, "--output-prefix", prefix])
            .args(["--raw-output-data-prefix", "s3://flyte/raw-out", "--"])
            .args([guests::FILES, function])
            .env("WASMDASK_CACHE_DIR", cache_dir())
            .env("DASK_SCHEDULER_ADDRESS", self.cluster.address())
            .env("RUST_LOG", "wasmdask_runner::data=debug")
            .env_remove("WASMDASK_TOKEN")
            .env_remove("FLYTE_FAIL_ON_ERROR")
            .env_remove("_F_L_MIN_SIZE_MB")
            .envs(self.moto.env())
            .output()
            .expect("run wasmdask execute");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        eprintln!("{stderr}");
        assert!(output.status.success(), "execute exits 0: {stderr}");
        stderr
    }

    /// Forgets the requests recorded so far.
    fn forget_requests(&self) {
        std::fs::write(&self.recording, "").unwrap();
    }

    /// The GETs moto served since [`forget_requests`](Self::forget_requests), by URL path
    /// (query included).
    fn gets(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.recording).unwrap_or_default();
        text.lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .filter(|request| request["method"] == "GET")
            .map(|request| {
                let url = request["url"].as_str().unwrap();
                let path = url.split_once("://").map_or(url, |(_, rest)| rest);
                path[path.find('/').unwrap_or(path.len())..].to_string()
            })
            .collect()
    }
}

/// The `uri: "..."` of a literal in protobuf text form.
fn blob_uri(literal: &str) -> String {
    let start = literal.find("uri: \"").expect("a blob literal") + 6;
    let end = literal[start..].find('"').unwrap() + start;
    literal[start..end].to_string()
}

/// `n` shards of integers, and the sum of each.
fn shards(n: usize) -> (Value, Vec<(String, i64)>) {
    let mut files = serde_json::Map::new();
    let mut sums = Vec::new();
    for i in 0..n {
        let name = format!("shard-{i:04}.txt");
        let numbers: Vec<i64> = (0..(i % 5 + 2) as i64).map(|k| k * 17 - i as i64).collect();
        sums.push((name.clone(), numbers.iter().sum()));
        files.insert(
            name,
            json!(numbers.iter().map(|x| format!("{x}\n")).collect::<String>()),
        );
    }
    (Value::Object(files), sums)
}

/// How often each object under `dir` (an s3://flyte/... prefix) was downloaded, and how many
/// LISTs of it there were.
fn downloads(gets: &[String], dir: &str) -> (HashMap<String, usize>, usize) {
    let key = dir
        .strip_prefix("s3://flyte/")
        .unwrap()
        .trim_end_matches('/');
    let mut objects = HashMap::new();
    let mut lists = 0;
    for path in gets {
        if path.starts_with("/flyte?") && path.contains("list-type=2") {
            lists += usize::from(path.contains(&key.replace('/', "%2F")) || path.contains(key));
        } else if let Some(name) = path.strip_prefix(&format!("/flyte/{key}/")) {
            *objects.entry(name.to_string()).or_default() += 1;
        }
    }
    (objects, lists)
}

#[test]
fn a_fan_out_over_a_directory_downloads_each_shard_once_and_only_where_it_is_read() {
    let store = Store::start();
    let (files, sums) = shards(40);
    let (inputs, uris) = store.inputs("shards", json!({"shards": ["dir", files]}));
    store.forget_requests();
    let runner_log = store.execute(&inputs, "s3://flyte/shards/out", "shard-sums");
    let gets = store.gets();

    let out = store.flytekit(&["read-outputs", "s3://flyte/shards/out", "file"])["o0"].clone();
    let expected: String = sums.iter().map(|(n, s)| format!("{n},{s}\n")).collect();
    assert_eq!(out["text"], json!(expected), "{runner_log}");

    let (objects, lists) = downloads(&gets, &uris["shards"]);
    eprintln!(
        "shard-sums: {} GETs of {} shards, {lists} LIST",
        objects.values().sum::<usize>(),
        objects.len()
    );
    // The subtasks ran on the workers (two other processes), so every shard had to be
    // downloaded there at least once: once in all means the runner, which only lists the
    // directory, downloaded none.
    assert_eq!(objects.len(), 40, "{objects:?}");
    let twice: Vec<_> = objects.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        twice.is_empty(),
        "shards downloaded more than once: {twice:?}"
    );
    assert_eq!(lists, 1, "one LIST of the directory: {gets:#?}");
    assert!(
        !runner_log.contains("fetched a stored input"),
        "the runner fetched: {runner_log}"
    );
}

#[test]
fn a_directory_read_whole_is_downloaded_once_where_the_task_runs() {
    let store = Store::start();
    let (files, sums) = shards(40);
    let (inputs, uris) = store.inputs("double", json!({"src": ["dir", files]}));
    store.forget_requests();
    let runner_log = store.execute(&inputs, "s3://flyte/double/out", "double-dir");
    let (objects, lists) = downloads(&store.gets(), &uris["src"]);
    assert_eq!((objects.len(), lists), (40, 1), "{objects:?}");
    assert!(objects.values().all(|n| *n == 1), "{objects:?}");
    assert_eq!(runner_log.matches("fetched a stored input").count(), 40);

    let out = store.flytekit(&["read-outputs", "s3://flyte/double/out", "dir"])["o0"].clone();
    let doubled = out["files"].as_object().unwrap();
    assert_eq!(doubled.len(), 40);
    for (name, sum) in &sums {
        let total: i64 = doubled[name]
            .as_str()
            .unwrap()
            .lines()
            .map(|l| l.parse::<i64>().unwrap())
            .sum();
        assert_eq!(total, 2 * sum, "{name}");
    }
}

#[test]
fn a_missing_shard_fails_its_subtask_as_bad_input_naming_the_uri() {
    let store = Store::start();
    let (files, _) = shards(1);
    let (_, uris) = store.inputs("present", json!({"shards": ["dir", files]}));
    let present = format!("{}/shard-0000.txt", uris["shards"]);
    let missing = format!("{}/shard-9999.txt", uris["shards"]);

    let sandbox = sandbox(test_limits());
    let component = load(&sandbox, guests::FILES);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let target = Target::new(&store.cluster.address(), None, None).unwrap();
    let session: Arc<RemoteCluster> = runtime.block_on(RemoteCluster::session(&target)).unwrap();
    let params = &component.task("line-sum").unwrap().params;
    let calls = [&present, &missing]
        .into_iter()
        .map(|uri| {
            let shard = json!({"shard": {"path": "", "uri": uri, "format": ""}});
            let args = wasmdask_values::args_from_json(&shard, params).unwrap();
            Call {
                component: component.clone(),
                function: "line-sum".into(),
                args: args
                    .into_iter()
                    .map(|value| Arg::Value(wasmdask_values::ArgValue::Val(value)))
                    .collect(),
                depth: 1,
            }
        })
        .collect();
    let pending = session.submit(calls).unwrap();
    let results = session.gather(&pending, Instant::now() + Duration::from_secs(60));
    assert!(results[0].is_ok(), "{:?}", results[0]);
    let error = results[1].as_ref().unwrap_err();
    assert_eq!(error.kind, ErrorKind::BadInput, "{error:?}");
    assert!(
        error.message.contains(&format!("{missing} does not exist")),
        "{error:?}"
    );
}

/// The runner's port, but one file vanishes from the store right after the directory is
/// listed: the guest then reads a file the listing promised and the store no longer has.
#[derive(Debug)]
struct Vanishing {
    port: StorePort,
    victim: PathBuf,
}

impl DataPort for Vanishing {
    fn mount_inputs(
        &self,
        task: &TaskSig,
        args: &mut [wasmtime::component::Val],
    ) -> Result<Vec<Mount>, TaskError> {
        let mounts = self.port.mount_inputs(task, args)?;
        std::fs::remove_file(&self.victim).unwrap();
        Ok(mounts)
    }
}

#[test]
fn a_listed_file_gone_when_the_task_opens_it_fails_the_task_as_bad_input_naming_the_uri() {
    let src = tempfile::tempdir().unwrap();
    for i in 0..3 {
        std::fs::write(src.path().join(format!("shard-{i}.txt")), format!("{i}\n")).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::new(SandboxConfig {
        limits: test_limits(),
        grants: Grants {
            env: Vec::new(),
            dirs: vec![DirGrant {
                host: out.path().to_path_buf(),
                guest: "/outputs".into(),
                read_only: false,
            }],
        },
        cache_dir: Some(cache_dir()),
        ..SandboxConfig::default()
    })
    .unwrap();
    let component = load(&sandbox, guests::FILES);
    let params = &component.task("double-dir").unwrap().params;
    let uri = src.path().to_str().unwrap();
    let args = wasmdask_values::args_from_json(&json!({"src": uri}), params)
        .unwrap()
        .into_iter()
        .map(wasmdask_values::ArgValue::Val)
        .collect();
    let runtime = Arc::new(wasmdask_runner::runtime().unwrap());
    let port = Vanishing {
        port: StorePort::new(runtime).unwrap(),
        victim: src.path().join("shard-1.txt"),
    };
    let report = sandbox.execute_encoded(&component, "double-dir", args, None, 0, Some(&port));
    let error = report.outcome.unwrap_err();
    assert_eq!(error.kind, ErrorKind::BadInput, "{error:?}");
    assert!(
        error
            .message
            .contains(&format!("{uri}/shard-1.txt does not exist")),
        "{error:?}"
    );
    // The file read before it was whole; the one after it was never reached.
    let copied = |name: &str| std::fs::read_to_string(out.path().join("copy").join(name));
    assert_eq!(copied("shard-0.txt").unwrap(), "0\n");
    assert!(copied("shard-2.txt").is_err());
}
