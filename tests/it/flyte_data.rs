//! Flyte's data types through the real flytekit, pandas and pyarrow, on moto's S3 server:
//! flytekit uploads a FlyteFile, a FlyteDirectory, a StructuredDataset (a pandas DataFrame as
//! parquet), datetimes and durations and writes inputs.pb; `wasmdask execute` runs the `files`
//! test guest (Rust) or `files-python` (Python), which read them as files (and fan out over a
//! directory's shards, each subtask fetching only its own shard; the Rust guest parses the
//! parquet); flytekit reads outputs.pb and downloads what the guest wrote.

use std::cell::Cell;
use std::path::Path;
use std::process::Command;

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
        self.moto.env()
    }

    /// Runs `tests/flyte/flyte_data.py` against this store.
    fn flytekit(&self, args: &[&str]) -> Value {
        flyte_data_py(self.tmp.path(), &self.env(), args)
    }

    /// Writes flytekit's inputs.pb for `spec` (see flyte_data.py; uploads go under
    /// s3://flyte/raw-in) and returns the job that runs `function` of `guest` on it.
    fn job(&self, guest: &'static str, function: &'static str, name: &str, spec: Value) -> Job<'_> {
        let inputs = self.tmp.path().join(format!("{name}.pb"));
        let inputs = inputs.to_str().unwrap().to_string();
        self.flytekit(&[
            "write-inputs",
            "s3://flyte/raw-in",
            &inputs,
            &spec.to_string(),
        ]);
        Job {
            store: self,
            guest,
            function,
            name: name.to_owned(),
            inputs,
            raw: "s3://flyte/raw-out",
            env: Vec::new(),
            runs: Cell::new(0),
        }
    }
}

/// `wasmdask execute` of one function of a guest on one inputs.pb, as often as a test asks.
struct Job<'s> {
    store: &'s Store,
    guest: &'static str,
    function: &'static str,
    name: String,
    inputs: String,
    /// `--raw-output-data-prefix`.
    raw: &'static str,
    env: Vec<(&'static str, &'static str)>,
    /// How many times it ran: each run gets an output prefix of its own.
    runs: Cell<u32>,
}

impl Job<'_> {
    fn raw(mut self, raw: &'static str) -> Self {
        self.raw = raw;
        self
    }

    fn env(mut self, name: &'static str, value: &'static str) -> Self {
        self.env.push((name, value));
        self
    }

    /// Runs it with outputs under `prefix`.
    fn execute(&self, prefix: &str) {
        let output = Command::new(BIN)
            .args([
                "execute",
                "--inputs",
                &self.inputs,
                "--output-prefix",
                prefix,
            ])
            .args([
                "--raw-output-data-prefix",
                self.raw,
                "--",
                self.guest,
                self.function,
            ])
            .env("WASMDASK_CACHE_DIR", cache_dir())
            .env_remove("DASK_SCHEDULER_ADDRESS")
            .env_remove("FLYTE_FAIL_ON_ERROR")
            .env_remove("_F_L_MIN_SIZE_MB")
            .envs(self.store.env())
            .envs(self.env.iter().copied())
            .output()
            .expect("run wasmdask execute");
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "execute exits 0 (error.pb or not)");
    }

    /// Runs it with outputs on S3 and returns what flytekit reads back from outputs.pb, `o0`
    /// as `kind` (and whether it was offloaded).
    fn outputs(&self, kind: &str) -> Value {
        let run = self.runs.replace(self.runs.get() + 1);
        let prefix = format!("s3://flyte/{}/out-{run}", self.name);
        self.execute(&prefix);
        self.store.flytekit(&["read-outputs", &prefix, kind])
    }

    /// [`Job::outputs`]'s `o0`.
    fn o0(&self, kind: &str) -> Value {
        self.outputs(kind)["o0"].clone()
    }

    /// Runs it with a local output prefix and returns error.pb as flytekit reads it, checking
    /// that no outputs.pb was written.
    fn error(&self) -> Value {
        let prefix = self.store.tmp.path().join(format!("{}-out", self.name));
        self.execute(prefix.to_str().unwrap());
        assert!(
            !prefix.join("outputs.pb").exists(),
            "{}: outputs.pb written next to error.pb",
            self.name
        );
        error_pb(self.store.tmp.path(), &prefix)
    }
}

/// Runs `tests/flyte/flyte_data.py` with `env` (flytekit leaves its temporary files in `tmp`)
/// and parses the JSON line it prints.
pub(crate) fn flyte_data_py(tmp: &Path, env: &[(&str, &str)], args: &[&str]) -> Value {
    let output = Command::new(python())
        .arg(repo().join("tests/flyte/flyte_data.py"))
        .args(args)
        .envs(env.iter().copied())
        .env("TMPDIR", tmp)
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
        let spec = json!({"start": ["datetime", start], "step": ["timedelta", step]});
        let later = store
            .job(guests::FILES, "later", &format!("dt{i}"), spec)
            .o0("datetime");
        assert_eq!(later, json!(expected), "{start} + {step}s");
    }
}

#[test]
fn large_outputs_are_offloaded_as_flytekit_offloads_them() {
    let store = Store::start();
    // An offloaded input, as flytepropeller passes a large upstream output.
    let spec = json!({
        "start": ["offload", ["datetime", "2024-01-01T00:00:00+00:00"]],
        "step": ["timedelta", 1.5]
    });
    // With `_F_L_MIN_SIZE_MB=0` every output is large enough.
    let offloaded = store
        .job(guests::FILES, "later", "offload", spec.clone())
        .env("_F_L_MIN_SIZE_MB", "0")
        .outputs("datetime");
    assert_eq!(offloaded["offloaded"], json!(true), "{offloaded}");
    assert_eq!(offloaded["o0"], json!("2024-01-01T00:00:01.500000+00:00"));
    // Without it, the same output is inline.
    let inline = store
        .job(guests::FILES, "later", "inline", spec)
        .outputs("datetime");
    assert_eq!(inline["offloaded"], json!(false), "{inline}");
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

/// Where flytekit puts an upload: under the raw-output prefix, in a fresh random directory: a
/// file by its name, a directory's files straight in it (`name` is `None`).
fn assert_uploaded_as_flytekit_does(uri: &Value, name: Option<&str>) {
    let uri = uri.as_str().unwrap();
    let rest = uri.strip_prefix("s3://flyte/raw-out/").unwrap_or_default();
    let (random, found) = rest.split_once('/').unwrap_or((rest, ""));
    let found = (!found.is_empty()).then_some(found);
    assert_eq!((random.len(), found), (32, name), "{uri}");
}

#[test]
fn a_directory_of_shards_fans_out_and_a_file_comes_back() {
    let store = Store::start();
    let (files, sums) = shards(150);
    let out = store
        .job(
            guests::FILES,
            "shard-sums",
            "shards",
            json!({"shards": ["dir", files]}),
        )
        .o0("file");
    let expected: String = sums.iter().map(|(n, s)| format!("{n},{s}\n")).collect();
    assert_eq!(out["text"], json!(expected));
    assert_uploaded_as_flytekit_does(&out["uri"], Some("sums.csv"));
}

#[test]
fn directories_come_back_as_flytekit_reads_them() {
    let store = Store::start();
    let (files, sums) = shards(40);
    let out = store
        .job(
            guests::FILES,
            "double-dir",
            "double",
            json!({"src": ["dir", files]}),
        )
        .o0("dir");
    let doubled = out["files"].as_object().unwrap();
    assert_eq!(doubled.len(), 40);
    for (name, sum) in &sums {
        let text = doubled[name].as_str().unwrap();
        let total: i64 = text.lines().map(|l| l.parse::<i64>().unwrap()).sum();
        assert_eq!(total, 2 * sum, "{name}");
    }
}

#[test]
fn a_rust_task_parses_the_dataframe_pandas_wrote_and_writes_a_new_one() {
    let store = Store::start();
    let rows: i64 = 1000;
    let ids: Vec<i64> = (0..rows).collect();
    let amounts: Vec<f64> = (0..rows).map(|i| i as f64 * 0.25).collect();
    let out = store
        .job(
            guests::FILES,
            "filter-table",
            "table",
            json!({"table": ["dataframe", {"id": ids, "amount": amounts}], "every": ["int", 3]}),
        )
        .o0("dataframe");
    // The rows whose id is a multiple of 3, with `total` = id + amount = 1.25 × id.
    let kept: Vec<i64> = (0..rows).filter(|id| id % 3 == 0).collect();
    assert_eq!(out["rows"], json!(kept.len()));
    assert_eq!(out["columns"], json!(["id", "amount", "total"]));
    assert_eq!(out["values"]["id"], json!(kept));
    let id_sum: i64 = kept.iter().sum();
    assert_eq!(out["sums"]["id"], json!(id_sum as f64));
    assert_eq!(out["sums"]["amount"], json!(0.25 * id_sum as f64));
    assert_eq!(out["sums"]["total"], json!(1.25 * id_sum as f64));
    assert_eq!(out["format"], json!("parquet"));
}

#[test]
fn a_python_task_reads_a_file_a_directory_and_a_datetime_and_fans_out() {
    let store = Store::start();
    let (files, sums) = shards(30);
    let spec = json!({
        "notes": ["file", "shard totals\nsecond line\n"],
        "shards": ["dir", files.clone()],
        "at": ["datetime", "2024-05-01T12:30:00.123456+00:00"],
    });
    let report = store
        .job(guests::FILES_PYTHON, "report", "py-report", spec)
        .o0("file");
    let mut expected = "shard totals\n2024-05-01T12:30:00.123456+00:00\n".to_owned();
    expected.extend(sums.iter().map(|(n, s)| format!("{n},{s}\n")));
    assert_eq!(report["text"], json!(expected));
    assert_uploaded_as_flytekit_does(&report["uri"], Some("report.txt"));

    let spec = json!({"shards": ["dir", files], "factor": ["int", -3]});
    let scaled = store
        .job(guests::FILES_PYTHON, "scaled", "py-scaled", spec)
        .o0("dir");
    let written = scaled["files"].as_object().unwrap();
    assert_eq!(written.len(), sums.len());
    for (name, sum) in &sums {
        let total: i64 = written[name]
            .as_str()
            .unwrap()
            .lines()
            .map(|l| l.parse::<i64>().unwrap())
            .sum();
        assert_eq!(total, -3 * sum, "{name}");
    }
    assert_uploaded_as_flytekit_does(&scaled["uri"], None);
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
    let size = |name: &str, spec: Value| store.job(guests::FILES, "size", name, spec).error();

    // A missing object.
    let error = size(
        "missing",
        json!({"f": ["file-uri", "s3://flyte/nothing/here.txt"]}),
    );
    check(
        &error,
        "USER:bad-input",
        "NON_RECOVERABLE",
        "s3://flyte/nothing/here.txt does not exist",
    );

    // A directory where a file is expected: as a multipart literal, and as a single-blob
    // literal whose URI is a prefix.
    let error = size("dir-literal", json!({"f": ["dir", {"a.txt": "1\n"}]}));
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
    let error = size(
        "prefix-as-file",
        json!({"f": ["file-uri", "s3://flyte/raw-in"]}),
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
        let error = store
            .job(guests::FILES, "claim", name, json!({"path": ["str", path]}))
            .error();
        check(&error, "USER:denied", "NON_RECOVERABLE", needle);
        assert!(error["message"].as_str().unwrap().contains(path), "{error}");
    }

    // A dataset whose file is not parquet, and one without the column the task reads: the
    // task's own error, naming the file and the column.
    let filter = |name: &str, table: Value| {
        let spec = json!({"table": table, "every": ["int", 2]});
        store.job(guests::FILES, "filter-table", name, spec).error()
    };
    let error = filter(
        "not-parquet",
        json!(["dataframe-files", ["s3://flyte/text-table", {"00000": "id,amount\n1,2.5\n"}]]),
    );
    check(
        &error,
        "USER:guest-error",
        "NON_RECOVERABLE",
        "s3://flyte/text-table/00000 is not a parquet file",
    );
    let error = filter(
        "no-id",
        json!(["dataframe", {"key": [1, 2, 3], "amount": [0.5, 1.5, 2.5]}]),
    );
    check(
        &error,
        "USER:guest-error",
        "NON_RECOVERABLE",
        "has no column `id`",
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("s3://flyte/raw-in/"),
        "{error}"
    );

    // An upload that fails (no such bucket): the platform's, retried, naming the URI.
    let error = store
        .job(
            guests::FILES,
            "double-dir",
            "upload",
            json!({"src": ["dir", {"a.txt": "1\n", "b.txt": "2\n"}]}),
        )
        .raw("s3://no-such-bucket/raw")
        .error();
    check(
        &error,
        "SYSTEM:storage",
        "RECOVERABLE",
        "s3://no-such-bucket/raw/",
    );
}
