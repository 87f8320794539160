//! Files and directories on the command line: `wasmdask run` takes local paths and object-store
//! URIs for `wasmdask:task/data` parameters and copies what the task returns under
//! `--outputs`; `wasmdask render` copies local data next to the run's outputs, where the runner
//! pod reads it. The `files` test guest reads the data, S3 is moto's server on loopback.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::{cache_dir, guests, stderr, stdout};
use crate::flyte::{Moto, flytekit, python};
use crate::flyte_data::flyte_data_py;

const BIN: &str = env!("CARGO_BIN_EXE_wasmdask");
const SHARDS: usize = 25;

/// `SHARDS` shards `s00.txt`.. in `dir/shards`, shard i holding the lines i and 10·i, and the
/// `shard-sums` file the guest writes for them.
fn shards(dir: &Path) -> String {
    std::fs::create_dir_all(dir.join("shards")).unwrap();
    let mut sums = String::new();
    for i in 0..SHARDS {
        let name = format!("s{i:02}.txt");
        std::fs::write(dir.join("shards").join(&name), format!("{i}\n{}\n", 10 * i)).unwrap();
        sums += &format!("{name},{}\n", 11 * i);
    }
    sums
}

/// `wasmdask run` of the files guest in `dir`, with `env`.
fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("run")
        .arg(guests::FILES)
        .args(args)
        .current_dir(dir)
        .env("WASMDASK_CACHE_DIR", cache_dir())
        .envs(env.iter().copied())
        .output()
        .expect("run wasmdask")
}

fn result(output: &Output) -> Value {
    assert!(output.status.success(), "{}", stderr(output));
    serde_json::from_str(&stdout(output)).unwrap_or_else(|e| panic!("{e}: {}", stdout(output)))
}

#[test]
fn run_reads_local_files_and_directories_and_copies_what_it_returns() {
    let tmp = tempfile::tempdir().unwrap();
    let want = shards(tmp.path());
    let line_sum = run(
        tmp.path(),
        &[],
        &["-f", "line-sum", "--", "shard=shards/s07.txt"],
    );
    assert_eq!(result(&line_sum), 77);

    // Embedded, then across worker processes: each subtask fetches its shard where it runs.
    for mode in [&[][..], &["--processes", "-w", "2"][..]] {
        let mut args = mode.to_vec();
        args.extend(["-f", "shard-sums", "--", "shards=./shards/"]);
        let file = result(&run(tmp.path(), &[], &args));
        let uri = file["uri"].as_str().unwrap();
        let written = Path::new(uri);
        assert!(
            written.is_absolute() && written.starts_with(tmp.path().join("wasmdask-outputs")),
            "{mode:?}: the output is copied under ./wasmdask-outputs: {file}"
        );
        assert_eq!(std::fs::read_to_string(written).unwrap(), want, "{mode:?}");
        assert_eq!(file["path"], "/outputs/sums.csv");
    }
}

#[test]
fn run_takes_object_store_uris_and_writes_its_outputs_there() {
    let moto = Moto::start();
    let tmp = tempfile::tempdir().unwrap();
    let want = shards(tmp.path());
    let s3 = |args: &[&str]| {
        let mut all = vec!["s3", moto.endpoint.as_str()];
        all.extend(args);
        flytekit(tmp.path(), &all)
    };
    s3(&["mkbucket", "flyte"]);
    for i in 0..SHARDS {
        let name = format!("s{i:02}.txt");
        let local = tmp.path().join("shards").join(&name);
        s3(&[
            "put",
            "flyte",
            &format!("in/shards/{name}"),
            local.to_str().unwrap(),
        ]);
    }
    let env = moto.env();
    let file = result(&run(
        tmp.path(),
        &env,
        &[
            "--processes",
            "-w",
            "2",
            "-f",
            "shard-sums",
            "--outputs",
            "s3://flyte/out",
            "--",
            "shards=s3://flyte/in/shards",
        ],
    ));
    let uri = file["uri"].as_str().unwrap();
    let key = uri
        .strip_prefix("s3://flyte/")
        .unwrap_or_else(|| panic!("the output is uploaded under --outputs: {file}"));
    assert!(
        key.starts_with("out/") && key.ends_with("/sums.csv"),
        "{uri}"
    );
    let local = tmp.path().join("sums.csv");
    s3(&["get", "flyte", key, local.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(local).unwrap(), want);
    assert!(
        !tmp.path().join("wasmdask-outputs").exists(),
        "nothing is written locally when --outputs is a bucket"
    );
}

#[test]
fn local_paths_that_are_missing_or_of_the_wrong_kind_fail_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    shards(tmp.path());
    let cases = [
        (
            &["-f", "shard-sums", "--", "shards=./shardz/"][..],
            "argument `shards`: ./shardz/: No such file or directory",
        ),
        (
            &["-f", "line-sum", "--", "shard=shards"][..],
            "argument `shard`: shards is a directory, but `shard` takes a file",
        ),
        (
            &["-f", "shard-sums", "--", "shards=shards/s01.txt"][..],
            "shards/s01.txt is a file, but `shards` takes a directory",
        ),
    ];
    for (args, message) in cases {
        let output = run(tmp.path(), &[], args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(message),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    assert!(!tmp.path().join("wasmdask-outputs").exists());
}

#[test]
fn render_copies_local_data_where_the_runner_reads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let want = shards(tmp.path());
    let prefix = tmp.path().join("run");
    let prefix = prefix.to_str().unwrap();
    let render = Command::new(BIN)
        .args(["render", guests::FILES, "-f", "shard-sums", "--image", "x"])
        .args(["--output-prefix", prefix, "--", "shards=shards"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(render.status.success(), "{}", stderr(&render));
    assert!(
        stderr(&render).contains(&format!("({SHARDS} files) to {prefix}/inputs/")),
        "{}",
        stderr(&render)
    );
    // The pods read the copy: the local shards may go away.
    std::fs::remove_dir_all(tmp.path().join("shards")).unwrap();

    let raw = tmp.path().join("raw");
    let execute = Command::new(BIN)
        .args(["execute", "--inputs", &format!("{prefix}/inputs.pb")])
        .args(["--output-prefix", prefix, "--raw-output-data-prefix"])
        .arg(&raw)
        .args(["--", guests::FILES, "shard-sums"])
        .env("WASMDASK_CACHE_DIR", cache_dir())
        .env_remove("DASK_SCHEDULER_ADDRESS")
        .output()
        .unwrap();
    assert!(execute.status.success(), "{}", stderr(&execute));
    let outputs = flyte_data_py(tmp.path(), &[], &["read-outputs", prefix, "file"]);
    assert_eq!(outputs["o0"]["text"], want.as_str(), "{outputs}");
}

#[test]
fn a_dataset_is_a_directory_of_parquet_files_or_one_parquet_file() {
    let tmp = tempfile::tempdir().unwrap();
    // pandas writes the same 10 rows as one file and as a directory of two.
    let write = Command::new(python())
        .args([
            "-c",
            "import pandas as pd, os\n\
df = pd.DataFrame({'id': list(range(10)), 'amount': [0.5 * i for i in range(10)]})\n\
df.to_parquet('one.parquet')\n\
os.mkdir('parts')\n\
df[:4].to_parquet('parts/a.parquet')\n\
df[4:].to_parquet('parts/b.parquet')",
        ])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(write.status.success(), "{}", stderr(&write));
    for table in ["one.parquet", "./parts/"] {
        let args = [
            "-f",
            "filter-table",
            "--",
            &format!("table={table}"),
            "every=3",
        ];
        let dataset = result(&run(tmp.path(), &[], &args));
        let uri = dataset["uri"].as_str().unwrap();
        let read = Command::new(python())
            .args([
                "-c",
                "import pandas as pd, sys, json\n\
df = pd.read_parquet(sys.argv[1])\n\
print(json.dumps({'ids': sorted(df['id'].tolist()), 'total': float(df['total'].sum())}))",
                uri,
            ])
            .output()
            .unwrap();
        assert!(read.status.success(), "{table}: {}", stderr(&read));
        let got: Value = serde_json::from_str(stdout(&read).trim()).unwrap();
        // Rows 0, 3, 6, 9 are kept; total = id + amount = 1.5 · id.
        assert_eq!(got["ids"], serde_json::json!([0, 3, 6, 9]), "{table}");
        assert_eq!(got["total"], 27.0, "{table}");
    }
}

#[test]
fn a_task_cannot_change_its_inputs_or_read_around_them() {
    let tmp = tempfile::tempdir().unwrap();
    shards(tmp.path());
    let first = tmp.path().join("shards/s00.txt");
    let before = std::fs::read_to_string(&first).unwrap();
    // The directory is mounted lazily: every attempt goes through the sandbox's shadows of
    // open-at and stat-at before wasmtime-wasi refuses it.
    let got = result(&run(
        tmp.path(),
        &[],
        &["-f", "trespass", "--", "src=./shards/"],
    ));
    assert_eq!(
        got,
        serde_json::json!([[], before]),
        "attempts that succeeded, then the first file"
    );
    assert_eq!(std::fs::read_to_string(&first).unwrap(), before);
    let names = std::fs::read_dir(tmp.path().join("shards"))
        .unwrap()
        .count();
    assert_eq!(
        names, SHARDS,
        "nothing was added to or removed from the input"
    );
}

#[test]
fn shards_of_many_megabytes_are_fetched_and_read_where_their_subtasks_run() {
    // 8 shards of 1,000,000 lines (6.9 MB each, 55 MB in all), summed on two worker processes.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("big");
    std::fs::create_dir(&dir).unwrap();
    let mut want = String::new();
    for shard in 0..8_i64 {
        let first = shard * 1_000_000;
        let text: String = (first..first + 1_000_000)
            .map(|n| format!("{n}\n"))
            .collect();
        assert!(text.len() > 6_500_000);
        std::fs::write(dir.join(format!("s{shard}.txt")), &text).unwrap();
        let sum: i64 = (first..first + 1_000_000).sum();
        want += &format!("s{shard}.txt,{sum}\n");
    }
    let args = [
        "--processes",
        "-w",
        "2",
        "-f",
        "shard-sums",
        "--",
        "shards=big",
    ];
    let file = result(&run(tmp.path(), &[], &args));
    let written = std::fs::read_to_string(file["uri"].as_str().unwrap()).unwrap();
    assert_eq!(written, want);
}
