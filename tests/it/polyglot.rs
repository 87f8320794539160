//! Tasks written in Python, JavaScript and C next to Rust: the same exports, called with the same
//! arguments, must give the same results (or the same classified errors) in every language, on
//! the embedded cluster and on a scheduler with worker processes; an interpreter's uncaught
//! exception must reach the caller classified, with the guest's own message.

use crate::common::*;
use crate::distributed::Cluster;
use serde_json::{Value, json};
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};
use wasmdask_sandbox::{ErrorKind, GuestRuntime};
use wasmdask_sandbox::{LoadedComponent, Sandbox};

/// Every example, Rust first: the others are compared with it.
const EXAMPLES: &[(&str, &str)] = &[
    ("rust", guests::EXAMPLE_RUST),
    ("python", guests::EXAMPLE_PYTHON),
    ("js", guests::EXAMPLE_JS),
    ("c", guests::EXAMPLE_C),
];

/// A sandbox and the components loaded into it, by path.
type Loaded = (Arc<Sandbox>, Vec<(&'static str, Arc<LoadedComponent>)>);

/// The sandbox of this file's in-process tests and every polyglot component, loaded once.
///
/// Compiling an interpreter component takes tens of seconds; tests running in parallel would each
/// compile it again before the first one had filled the on-disk cache. Every test here (also those
/// that start `wasmdask` processes, which read that cache) goes through this first, so each
/// component is compiled once per test run, and not at all when the cache already has it.
fn loaded() -> &'static Loaded {
    static LOADED: OnceLock<Loaded> = OnceLock::new();
    LOADED.get_or_init(|| {
        let sandbox = sandbox(test_limits());
        let paths = EXAMPLES.iter().map(|(_, path)| *path).chain([
            guests::ERRORS_PYTHON,
            guests::ERRORS_JS,
            guests::FAULTS,
        ]);
        let components = paths.map(|path| (path, load(&sandbox, path))).collect();
        (sandbox, components)
    })
}

/// The sandbox and a component of [`loaded`], by path.
fn component(path: &str) -> (&'static Arc<Sandbox>, &'static Arc<LoadedComponent>) {
    let (sandbox, components) = loaded();
    let (_, component) = components
        .iter()
        .find(|(loaded_path, _)| *loaded_path == path)
        .expect("every polyglot component is loaded");
    (sandbox, component)
}

/// The toolchain of every example is recognised from what it leaves in the component, so each
/// gets its language's failure-report parsing.
#[test]
fn each_example_is_recognised_as_its_language() {
    let expected = [
        GuestRuntime::Rust,
        GuestRuntime::Python,
        GuestRuntime::JavaScript,
        GuestRuntime::C,
    ];
    for ((language, path), runtime) in EXAMPLES.iter().zip(expected) {
        assert_eq!(component(path).1.runtime, runtime, "{language}");
    }
}

/// One call per behaviour worth comparing: integer wrap-around, fan-out, records with present and
/// absent options, non-finite floats in and out, and each `err` path.
fn cases() -> Vec<(&'static str, Value)> {
    vec![
        ("hash-rounds", json!([42, 1000])),
        ("hash-rounds", json!({"seed": u64::MAX, "rounds": 3})),
        ("square", json!([u64::from(u32::MAX)])),
        ("square", json!([u64::MAX - 6])),
        ("sum-of-squares", json!([120])),
        // A future as an argument: square's result passed by handle to a second square, and the
        // outer result taken in the binary encoding.
        ("square-twice", json!([3])),
        ("square-twice", json!([u64::from(u32::MAX)])),
        ("square-twice", json!({"x": u64::MAX})),
        ("summarize", json!([[1.5, 2.0, 8.0, -3.25, 0.1], "weights"])),
        ("summarize", json!({"samples": [], "label": null})),
        ("summarize", json!([[0.1, "NaN", 0.2, "-inf"], null])),
        ("histogram", json!([[1.0, 2.0, 2.5, 9.75, 3.0, 0.3], 4])),
        ("histogram", json!([[5.0, 5.0, 5.0], 3])),
        ("histogram", json!([[1.0], 0])),
        ("histogram", json!([[], 2])),
        ("histogram", json!([[1.0, "inf"], 2])),
    ]
}

/// A call's outcome in comparable form: the result's JSON, or the error's kind and message.
fn outcome(report: wasmdask_sandbox::ExecReport) -> Result<Value, (ErrorKind, String)> {
    match report.outcome {
        Ok(Some(value)) => Ok(wasmdask_values::from_val(&value)),
        Ok(None) => Ok(Value::Null),
        Err(error) => Err((error.kind, error.message)),
    }
}

#[test]
fn every_language_gives_the_rust_results_on_the_embedded_cluster() {
    let (sandbox, rust) = component(guests::EXAMPLE_RUST);
    for (function, args) in cases() {
        let expected = outcome(call(sandbox, rust, function, args.clone(), 4));
        for (language, path) in &EXAMPLES[1..] {
            let got = outcome(call(sandbox, component(path).1, function, args.clone(), 4));
            assert_eq!(
                got, expected,
                "{language} differs from rust for {function}({args})"
            );
        }
    }
}

/// The comparison above is only as good as the Rust answers; check a few against arithmetic.
#[test]
fn the_reference_answers_are_right() {
    let (sandbox, rust) = component(guests::EXAMPLE_RUST);
    let n: u64 = 120;
    assert_eq!(
        ok_json(call(sandbox, rust, "sum-of-squares", json!([n]), 2)),
        json!(n * (n + 1) * (2 * n + 1) / 6)
    );
    assert_eq!(
        ok_json(call(sandbox, rust, "square", json!([u64::MAX - 6]), 1)),
        json!((u64::MAX - 6).wrapping_mul(u64::MAX - 6))
    );
    assert_eq!(
        ok_json(call(sandbox, rust, "square-twice", json!([3]), 2)),
        json!(81)
    );
    let x = u64::from(u32::MAX);
    assert_eq!(
        ok_json(call(sandbox, rust, "square-twice", json!([x]), 2)),
        json!(x.wrapping_mul(x).wrapping_mul(x.wrapping_mul(x)))
    );
    let stats = ok_json(call(
        sandbox,
        rust,
        "summarize",
        json!([[1.0, 2.0, 6.0], null]),
        1,
    ));
    assert_eq!(
        stats,
        json!({"count": 3, "mean": 3.0, "min": 1.0, "max": 6.0, "label": "unnamed"})
    );
}

#[test]
fn the_run_command_gives_the_same_answer_in_every_language() {
    loaded();
    let mut answers = Vec::new();
    for (language, path) in EXAMPLES {
        let out = wasmdask(&[
            "run",
            path,
            "-f",
            "summarize",
            "--json",
            "--",
            "samples=[2.5, 1, 4]",
            "label=w",
        ]);
        assert!(out.status.success(), "{language}: {}", stderr(&out));
        answers.push((language, stdout(&out)));
    }
    for (language, answer) in &answers[1..] {
        assert_eq!(answer, &answers[0].1, "{language} differs from rust");
    }
}

/// `wasmdask run --json` against the cluster: stdout on success, the error line otherwise.
fn run_remote(cluster: &Cluster, component: &str, function: &str, args: &[&str]) -> String {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_wasmdask"))
        .args(["run", component, "-f", function, "--json"])
        .args(["--scheduler", &cluster.address(), "--"])
        .args(args)
        .env("WASMDASK_CACHE_DIR", cache_dir())
        .env_remove("WASMDASK_TOKEN")
        .env_remove("RUST_LOG")
        .output()
        .expect("run wasmdask");
    if out.status.success() {
        stdout(&out).trim().to_owned()
    } else {
        let text = stderr(&out);
        text.lines()
            .find(|line| line.starts_with("error:"))
            .unwrap_or(&text)
            .to_owned()
    }
}

#[test]
fn every_language_gives_the_rust_results_on_scheduler_and_workers() {
    loaded();
    let cluster = Cluster::start(2, &[], None);
    let calls: &[(&str, &[&str])] = &[
        ("sum-of-squares", &["n=60"]),
        // The inner result moves to the outer call worker to worker, never through the caller.
        ("square-twice", &["x=4294967295"]),
        ("summarize", &["samples=[0.5, -2, 7.25]", "label=null"]),
        ("histogram", &["samples=[1, 2, 2.5, 9.75]", "buckets=3"]),
        ("histogram", &["samples=[1]", "buckets=0"]),
    ];
    for (function, args) in calls {
        let expected = run_remote(&cluster, guests::EXAMPLE_RUST, function, args);
        for (language, path) in &EXAMPLES[1..] {
            let got = run_remote(&cluster, path, function, args);
            assert_eq!(got, expected, "{language} differs from rust for {function}");
        }
    }
    let n = 60;
    assert_eq!(
        run_remote(
            &cluster,
            guests::EXAMPLE_PYTHON,
            "sum-of-squares",
            &["n=60"]
        ),
        (n * (n + 1) * (2 * n + 1) / 6).to_string()
    );
}

/// Calls `fail` of an error guest, checks the toolchain was recognised, and returns the trap
/// message.
fn interpreter_trap(path: &str, runtime: GuestRuntime) -> String {
    let (sandbox, guest) = component(path);
    assert_eq!(guest.runtime, runtime, "{path}");
    let error = call(sandbox, guest, "fail", json!(["no such sample 42"]), 1)
        .outcome
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Trap, "{error:?}");
    error.message
}

#[test]
fn interpreter_exceptions_are_traps_with_the_interpreters_words() {
    for (path, runtime, prefix) in [
        (
            guests::ERRORS_PYTHON,
            GuestRuntime::Python,
            "the task raised ValueError: no such sample 42 (at app.py line ",
        ),
        (
            guests::ERRORS_JS,
            GuestRuntime::JavaScript,
            "the task threw: no such sample 42 (at fail@",
        ),
    ] {
        let message = interpreter_trap(path, runtime);
        assert!(message.starts_with(prefix), "{message}");
    }
}

/// Every execution starts fresh, in every language: what one call leaves in module state and
/// memory (Rust statics, Python module globals, JavaScript top-level `let`s, a 1 MiB block each)
/// is gone for the next, however the pooled slot it ran in was reset and reused. More calls than
/// the sandbox has slots, so slots are reused many times over.
#[test]
fn no_execution_sees_what_an_earlier_one_left_in_any_language() {
    for (language, path) in [
        ("rust", guests::FAULTS),
        ("python", guests::ERRORS_PYTHON),
        ("js", guests::ERRORS_JS),
    ] {
        let (sandbox, guest) = component(path);
        // The probe works: the third round in one instance sees two counts and the block's 7.
        assert_eq!(
            ok_json(call(sandbox, guest, "poke", json!([3]), 1)),
            json!(9),
            "{language}"
        );
        for round in 0..40 {
            let seen = ok_json(call(sandbox, guest, "poke", json!([1]), 1));
            assert_eq!(seen, json!(0), "{language}, call {round}");
        }
    }
}

#[test]
fn a_subtask_exception_reaches_the_caller_classified() {
    for (language, path, expected) in [
        (
            "python",
            guests::ERRORS_PYTHON,
            "trap: the task raised ValueError: lost it",
        ),
        ("js", guests::ERRORS_JS, "trap: the task threw: lost it"),
    ] {
        let (sandbox, guest) = component(path);
        let reported = ok_json(call(sandbox, guest, "fail-child", json!(["lost it"]), 2));
        let reported = reported.as_str().unwrap_or_default();
        assert!(reported.starts_with(expected), "{language}: {reported}");
    }
}

#[test]
fn build_names_the_missing_toolchain_and_how_to_install_it() {
    for (example, variable, tool, install) in [
        (
            "examples/python",
            "WASMDASK_COMPONENTIZE_PY",
            "componentize-py",
            "pip install componentize-py==",
        ),
        (
            "examples/js",
            "WASMDASK_COMPONENTIZE_JS",
            "componentize-js",
            "npm install",
        ),
        (
            "examples/c",
            "WASMDASK_CLANG",
            "clang",
            "apt-get install clang",
        ),
    ] {
        let dir = repo_root().join(example);
        let out = Command::new(env!("CARGO_BIN_EXE_wasmdask"))
            .args(["build", "--force", "--no-load", "--out"])
            .arg(tempfile::tempdir().unwrap().path().join("task.wasm"))
            .arg(&dir)
            .env(variable, "/nonexistent/tool")
            .output()
            .expect("run wasmdask build");
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(4), "{example}: {text}");
        assert!(
            text.contains(tool) && text.contains(install),
            "{example}: {text}"
        );
        assert!(text.contains("scripts/setup.sh"), "{example}: {text}");
    }
}

#[test]
fn build_makes_a_runnable_component_from_c_sources() {
    let out_dir = tempfile::tempdir().unwrap();
    let component = out_dir.path().join("tasks.wasm");
    let out = Command::new(env!("CARGO_BIN_EXE_wasmdask"))
        .args(["build", "--force", "--out"])
        .arg(&component)
        .arg(repo_root().join("examples/c"))
        .env("WASMDASK_CACHE_DIR", cache_dir())
        .output()
        .expect("run wasmdask build");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_stderr_has(&out, "tasks hash-rounds, square");
    let run = wasmdask(&[
        "run",
        component.to_str().unwrap(),
        "-f",
        "square",
        "--",
        "x=12",
    ]);
    assert_eq!(stdout(&run).trim(), "144", "{}", stderr(&run));
}

/// The Python and JavaScript guest helpers' codec modules (`guest-sdk/{python,js}/
/// wasmdask_binary`) write and read the bytes Rust's postcard does, and their Flyte data helpers
/// convert datetimes and durations and name files: their own unit tests, run with the README
/// setup's CPython (`.venv`, no componentize-py needed) and Node.
#[test]
fn the_python_and_js_helpers_pass_their_unit_tests() {
    let runs: [(std::path::PathBuf, &[&str]); 2] = [
        (
            crate::flyte::python(),
            &[
                "-m",
                "unittest",
                "-v",
                "guest-sdk/python/test_wasmdask_binary.py",
                "guest-sdk/python/test_wasmdask_guest_data.py",
            ],
        ),
        (
            "node".into(),
            &[
                "--test",
                "guest-sdk/js/test_wasmdask_binary.mjs",
                "guest-sdk/js/test_wasmdask_data.mjs",
            ],
        ),
    ];
    for (program, args) in runs {
        let out = Command::new(&program)
            .args(args)
            .current_dir(repo_root())
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            out.status.success(),
            "{} {args:?}:\n{text}",
            program.display()
        );
        // Both exit 0 when they find no test at all: make sure some ran.
        let ran = ["Ran ", "# pass "].iter().find_map(|said| {
            let count = text.split(said).nth(1)?.split_whitespace().next()?;
            count.parse::<u32>().ok()
        });
        assert!(
            ran.is_some_and(|ran| ran > 0),
            "{} {args:?} ran no tests:\n{text}",
            program.display()
        );
    }
}

fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ sits in the repository root")
        .to_path_buf()
}
