//! The `wasmdask` binary, black-box: output, exit codes and messages.

use crate::common::*;

const EXAMPLE: &str = guests::EXAMPLE_RUST;

#[test]
fn run_prints_the_result_of_a_fan_out() {
    let out = wasmdask(&[
        "run",
        EXAMPLE,
        "--function",
        "sum-of-squares",
        "--",
        "n=100",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "338350");
}

#[test]
fn run_json_prints_rich_types() {
    let out = wasmdask(&[
        "run",
        EXAMPLE,
        "-f",
        "summarize",
        "--json",
        "--",
        "samples=[1.5, 2, 8.5]",
        "label=w",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let value: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(value["count"], 3);
    assert_eq!(value["mean"], 4.0);
    assert_eq!(value["label"], "w");
}

#[test]
fn run_without_function_on_a_multi_export_component_lists_them() {
    let out = wasmdask(&["run", EXAMPLE, "--", "n=1"]);
    assert_eq!(out.status.code(), Some(3));
    assert_stderr_has(&out, "--function");
}

#[test]
fn exit_codes_and_messages_for_bad_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("corrupt.wasm");
    std::fs::write(&corrupt, b"garbage").unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, wat::parse_str("(module)").unwrap()).unwrap();
    let (corrupt, core) = (corrupt.to_str().unwrap(), core.to_str().unwrap());
    let cases: &[(&[&str], i32, &str)] = &[
        (&["run", corrupt, "--", "x=1"], 3, "not a WebAssembly file"),
        (&["run", core, "--", "x=1"], 3, "core WebAssembly module"),
        (&["run", guests::BAD_IMPORT, "--"], 3, "acme:missing/thing"),
        (
            &["run", EXAMPLE, "-f", "nope", "--"],
            3,
            "exports no function `nope`",
        ),
        (&["run", EXAMPLE, "-f", "square", "--"], 2, "x"),
        (
            &["run", EXAMPLE, "-f", "square", "--", "x=1", "y=2"],
            2,
            "y",
        ),
        (&["run", EXAMPLE, "-f", "square", "--", "x=minus"], 2, "u64"),
        (
            &["run", EXAMPLE, "-f", "square", "--", "x"],
            2,
            "name=value",
        ),
        (&["run", "/no/such/file.wasm", "--"], 3, "cannot read"),
        (&["run", EXAMPLE, "--timeout", "soon", "--"], 2, "duration"),
        (
            &["run", guests::FAULTS, "-f", "spin", "--timeout", "1s", "--"],
            1,
            "timeout",
        ),
        (
            &["run", guests::FAULTS, "-f", "fail", "--", "message=nope"],
            1,
            "nope",
        ),
    ];
    for (args, code, needle) in cases {
        let out = wasmdask(args);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(needle),
            "{args:?}: {} should contain {needle:?}",
            stderr(&out)
        );
        assert!(
            !stderr(&out).contains("panicked"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn grants_open_what_they_name() {
    let out = wasmdask(&[
        "run",
        guests::FAULTS,
        "-f",
        "read-env",
        "--allow-env",
        "HOME",
        "--",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("passwd"), "root:x:0:0\n").unwrap();
    let mount = format!("{}::/etc::ro", dir.path().display());
    let out = wasmdask(&[
        "run",
        guests::FAULTS,
        "-f",
        "read-passwd",
        "--dir",
        &mount,
        "--",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("root:x:0:0"));
}

#[test]
fn verbose_shows_guest_output() {
    let out = wasmdask(&[
        "run",
        guests::FAULTS,
        "-f",
        "log-and-print",
        "-v",
        "--",
        "message=hi",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_stderr_has(&out, "[guest info] hi");
    assert_stderr_has(&out, "--- guest stdout ---");
}

#[test]
fn inspect_lists_tasks_with_wit_and_flyte_types() {
    let out = wasmdask(&["inspect", EXAMPLE, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(doc["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(doc["language"], "rust");
    let tasks = doc["tasks"].as_array().unwrap();
    let sos = tasks
        .iter()
        .find(|t| t["name"] == "sum-of-squares")
        .unwrap();
    assert_eq!(sos["params"][0]["name"], "n");
    assert_eq!(sos["params"][0]["wit"], "u32");
    assert_eq!(sos["params"][0]["flyte"], "INTEGER");
    assert_eq!(sos["result"], "result<u64, string>");
    assert_eq!(sos["output"]["flyte"], "INTEGER");
    let imports = doc["imports"].as_array().unwrap();
    assert!(
        imports
            .iter()
            .any(|i| i.as_str().unwrap().starts_with("wasmdask:task/cluster"))
    );

    let text = wasmdask(&["inspect", EXAMPLE]);
    assert!(stdout(&text).contains("sum-of-squares: func(n: u32) -> result<u64, string>"));
    assert!(
        stdout(&text).contains("language   rust"),
        "{}",
        stdout(&text)
    );
}
