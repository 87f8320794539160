//! Flyte's data types through the real flytekit, pandas and pyarrow, on moto's S3 server:
//! flytekit uploads a FlyteDirectory, a StructuredDataset (a pandas DataFrame as parquet),
//! datetimes and durations and writes inputs.pb; `wasmdask execute` runs the `files` test guest,
//! which reads them as files (and fans out over a directory's shards, each subtask fetching
//! only its own shard); flytekit reads outputs.pb and downloads what the guest wrote.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::common::{cache_dir, guests};
use crate::flyte::{Moto, python, repo};

const BIN: &str = env!("CARGO_BIN_EXE_wasmdask");

/// moto with a `flyte` bucket, and the environment flytekit and wasmdask read it from.
struct Store {
    moto: Moto,
    tmp: tempfile::TempDir,
}

impl Store {
    fn start() -> Store {
        let store = Store {
            moto: Moto::start(),
            tmp: tempfile::tempdir().unwrap(),
        };
        let made = crate::flyte::flytekit(
            store.tmp.path(),
            &["s3", &store.moto.endpoint, "mkbucket", "flyte"],
        );
        assert_eq!(made, json!({"ok": "mkbucket"}));
        store
    }

    fn env(&self) -> [(&str, &str); 3] {
        [
            ("FLYTE_AWS_ENDPOINT", self.moto.endpoint.as_str()),
            ("FLYTE_AWS_ACCESS_KEY_ID", "test"),
            ("FLYTE_AWS_SECRET_ACCESS_KEY", "test"),
        ]
    }

    /// Runs `tests/flyte/flyte_data.py` and parses the JSON line it prints.
    fn flytekit(&self, args: &[&str]) -> Value {
        let output = Command::new(python())
            .arg(repo().join("tests/flyte/flyte_data.py"))
            .args(args)
            .envs(self.env())
            .env("TMPDIR", self.tmp.path())
            .output()
            .expect("run python");
        assert!(
            output.status.success(),
            "flyte_data.py {args:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }

    /// flytekit's inputs.pb for `spec` (see flyte_data.py), uploads under s3://flyte/raw-in.
    fn inputs(&self, name: &str, spec: Value) -> String {
        let path = self.tmp.path().join(format!("{name}.pb"));
        let path = path.to_str().unwrap().to_string();
        self.flytekit(&[
            "write-inputs",
            "s3://flyte/raw-in",
            &path,
            &spec.to_string(),
        ]);
        path
    }

    /// `wasmdask execute` of `function` of the files guest.
    fn execute(&self, inputs: &str, prefix: &str, raw: &str, function: &str) -> Output {
        self.execute_with(&[], inputs, prefix, raw, function)
    }

    fn execute_with(
        &self,
        env: &[(&str, &str)],
        inputs: &str,
        prefix: &str,
        raw: &str,
        function: &str,
    ) -> Output {
        let output = Command::new(BIN)
            .args(["execute", "--inputs", inputs, "--output-prefix", prefix])
            .args([
                "--raw-output-data-prefix",
                raw,
                "--",
                guests::FILES,
                function,
            ])
            .env("WASMDASK_CACHE_DIR", cache_dir())
            .env_remove("DASK_SCHEDULER_ADDRESS")
            .env_remove("FLYTE_FAIL_ON_ERROR")
            .env_remove("_F_L_MIN_SIZE_MB")
            .envs(self.env())
            .envs(env.iter().copied())
            .output()
            .expect("run wasmdask execute");
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "execute exits 0 (error.pb or not)");
        output
    }

    /// Runs `function` on `spec` and returns `o0` as flytekit reads it back as `kind`.
    fn round_trip(&self, name: &str, spec: Value, function: &str, kind: &str) -> Value {
        let inputs = self.inputs(name, spec);
        let prefix = format!("s3://flyte/{name}/out");
        self.execute(&inputs, &prefix, "s3://flyte/raw-out", function);
        self.flytekit(&["read-outputs", &prefix, kind])["o0"].clone()
    }

    /// Runs `function` with a local output prefix and returns error.pb, checking that no
    /// outputs.pb was written.
    fn failure(&self, name: &str, spec: Value, function: &str, raw: &str) -> Value {
        let inputs = self.inputs(name, spec);
        let prefix = self.tmp.path().join(format!("{name}-out"));
        self.execute(&inputs, prefix.to_str().unwrap(), raw, function);
        assert!(
            !prefix.join("outputs.pb").exists(),
            "{name}: outputs.pb written next to error.pb"
        );
        error_pb(self.tmp.path(), &prefix)
    }
}

fn error_pb(tmp: &Path, prefix: &Path) -> Value {
    crate::flyte::flytekit(tmp, &["read-error", prefix.to_str().unwrap()])["error"].clone()
}

#[test]
fn datetimes_and_durations_round_trip_exactly() {
    let store = Store::start();
    // (start, step in seconds, start + step as Python prints it)
    let cases = [
        (
            "2024-05-01T12:30:00.123456+00:00",
            90.5,
            "2024-05-01T12:31:30.623456+00:00",
        ),
        (
            "1969-07-20T20:17:40.000001+00:00",
            90061.000001,
            "1969-07-21T21:18:41.000002+00:00",
        ),
        (
            "2000-01-01T00:00:00+00:00",
            -0.000001,
            "1999-12-31T23:59:59.999999+00:00",
        ),
    ];
    for (i, (start, step, expected)) in cases.into_iter().enumerate() {
        let later = store.round_trip(
            &format!("dt{i}"),
            json!({"start": ["datetime", start], "step": ["timedelta", step]}),
            "later",
            "datetime",
        );
        assert_eq!(later, json!(expected), "{start} + {step}s");
    }
}

#[test]
fn large_outputs_are_offloaded_as_flytekit_offloads_them() {
    let store = Store::start();
    let inputs = store.inputs(
        "offload",
        // An offloaded input, as flytepropeller passes a large upstream output.
        json!({
            "start": ["offload", ["datetime", "2024-01-01T00:00:00+00:00"]],
            "step": ["timedelta", 1.5]
        }),
    );
    let prefix = "s3://flyte/offload/out";
    // With `_F_L_MIN_SIZE_MB=0` every output is large enough.
    store.execute_with(
        &[("_F_L_MIN_SIZE_MB", "0")],
        &inputs,
        prefix,
        "s3://flyte/raw-out",
        "later",
    );
    let read = store.flytekit(&["read-outputs", prefix, "datetime"]);
    assert_eq!(read["offloaded"], json!(true), "{read}");
    assert_eq!(read["o0"], json!("2024-01-01T00:00:01.500000+00:00"));
    // Without it, the same output is inline.
    let prefix = "s3://flyte/inline/out";
    store.execute(&inputs, prefix, "s3://flyte/raw-out", "later");
    let read = store.flytekit(&["read-outputs", prefix, "datetime"]);
    assert_eq!(read["offloaded"], json!(false), "{read}");
}

/// `n` shards of integers, and the sum of each.
fn shards(n: usize) -> (Value, Vec<(String, i64)>) {
    let mut files = serde_json::Map::new();
    let mut sums = Vec::new();
    for i in 0..n {
        let name = format!("shard-{i:04}.txt");
        let numbers: Vec<i64> = (0..(i % 7 + 1) as i64).map(|k| k * 31 - i as i64).collect();
        let text: String = numbers.iter().map(|x| format!("{x}\n")).collect();
        sums.push((name.clone(), numbers.iter().sum()));
        files.insert(name, json!(text));
    }
    (Value::Object(files), sums)
}

#[test]
fn a_directory_of_shards_fans_out_and_a_file_comes_back() {
    let store = Store::start();
    let (files, sums) = shards(150);
    let out = store.round_trip(
        "shards",
        json!({"shards": ["dir", files]}),
        "shard-sums",
        "file",
    );
    let expected: String = sums.iter().map(|(n, s)| format!("{n},{s}\n")).collect();
    assert_eq!(out["text"], json!(expected));
    // Where flytekit puts an upload: the raw-output prefix, a fresh random directory, the name.
    let uri = out["uri"].as_str().unwrap();
    let rest = uri.strip_prefix("s3://flyte/raw-out/").unwrap();
    let (random, name) = rest.split_once('/').unwrap();
    assert_eq!((random.len(), name), (32, "sums.csv"), "{uri}");
}

#[test]
fn directories_and_dataframes_come_back_as_flytekit_reads_them() {
    let store = Store::start();
    let (files, sums) = shards(40);
    let out = store.round_trip(
        "double",
        json!({"src": ["dir", files.clone()]}),
        "double-dir",
        "dir",
    );
    let doubled = out["files"].as_object().unwrap();
    assert_eq!(doubled.len(), 40);
    for (name, sum) in &sums {
        let text = doubled[name].as_str().unwrap();
        let total: i64 = text.lines().map(|l| l.parse::<i64>().unwrap()).sum();
        assert_eq!(total, 2 * sum, "{name}");
    }

    let rows = 1000;
    let ids: Vec<i64> = (0..rows).collect();
    let amounts: Vec<f64> = (0..rows).map(|i| i as f64 * 0.25).collect();
    let out = store.round_trip(
        "table",
        json!({"table": ["dataframe", {"id": ids, "amount": amounts}]}),
        "copy-table",
        "dataframe",
    );
    assert_eq!(out["rows"], json!(rows));
    assert_eq!(out["columns"], json!(["id", "amount"]));
    assert_eq!(out["sums"]["id"], json!((rows * (rows - 1) / 2) as f64));
    assert_eq!(
        out["sums"]["amount"],
        json!(0.25 * (rows * (rows - 1) / 2) as f64)
    );
    assert_eq!(out["format"], json!("parquet"));
}

#[test]
fn bad_data_gives_classified_errors_that_name_the_uri() {
    let store = Store::start();
    let check = |error: &Value, code: &str, kind: &str, needle: &str| {
        assert_eq!(error["code"], code, "{error}");
        // MessageToDict leaves out the enum's default, NON_RECOVERABLE.
        let found = error["kind"].as_str().unwrap_or("NON_RECOVERABLE");
        assert_eq!(found, kind, "{error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(needle), "{needle:?} not in {message}");
    };

    // A missing object.
    let error = store.failure(
        "missing",
        json!({"f": ["file-uri", "s3://flyte/nothing/here.txt"]}),
        "size",
        "s3://flyte/raw-out",
    );
    check(
        &error,
        "USER:bad-input",
        "NON_RECOVERABLE",
        "s3://flyte/nothing/here.txt does not exist",
    );

    // A directory where a file is expected: as a multipart literal, and as a single-blob
    // literal whose URI is a prefix.
    let error = store.failure(
        "dir-literal",
        json!({"f": ["dir", {"a.txt": "1\n"}]}),
        "size",
        "s3://flyte/raw-out",
    );
    check(
        &error,
        "USER:bad-input",
        "NON_RECOVERABLE",
        "is a directory",
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("s3://flyte/raw-in/"),
        "{error}"
    );
    store.inputs("prefix", json!({"d": ["dir", {"b.txt": "2\n"}]}));
    let error = store.failure(
        "prefix-as-file",
        json!({"f": ["file-uri", "s3://flyte/raw-in"]}),
        "size",
        "s3://flyte/raw-out",
    );
    check(
        &error,
        "USER:bad-input",
        "NON_RECOVERABLE",
        "s3://flyte/raw-in is a directory",
    );

    // A guest returning a path outside its output directory, or one it never wrote.
    for (name, path, needle) in [
        ("outside", "/etc/passwd", "outside its output directory"),
        (
            "dotdot",
            "/outputs/../inputs/x",
            "outside its output directory",
        ),
        ("unwritten", "/outputs/never.txt", "wrote nothing there"),
    ] {
        let error = store.failure(
            name,
            json!({"path": ["str", path]}),
            "claim",
            "s3://flyte/raw-out",
        );
        check(&error, "USER:denied", "NON_RECOVERABLE", needle);
        assert!(error["message"].as_str().unwrap().contains(path), "{error}");
    }

    // An upload that fails (no such bucket): the platform's, retried, naming the URI.
    let error = store.failure(
        "upload",
        json!({"src": ["dir", {"a.txt": "1\n", "b.txt": "2\n"}]}),
        "double-dir",
        "s3://no-such-bucket/raw",
    );
    check(
        &error,
        "SYSTEM:storage",
        "RECOVERABLE",
        "s3://no-such-bucket/raw/",
    );
}
