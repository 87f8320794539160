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

/// Runs `wasmdask ARGS…` in `dir` with `input` on stdin (as [`wasmdask`] does otherwise).
fn wasmdask_in(dir: &std::path::Path, args: &[&str], input: &[u8]) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasmdask"))
        .args(args)
        .current_dir(dir)
        // `@~/…` names a file in `dir`.
        .env("HOME", dir)
        .env("WASMDASK_CACHE_DIR", cache_dir())
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wasmdask");
    // A command that fails before reading stdin closes it: not a failure of the test.
    let _ = child.stdin.take().unwrap().write_all(input);
    child.wait_with_output().expect("wait for wasmdask")
}

/// `wasmdask run guests::TYPES -f FUNCTION --json -- ARGS…` in `dir`, with `input` on stdin.
fn run_types(
    dir: &std::path::Path,
    function: &str,
    args: &[&str],
    input: &[u8],
) -> std::process::Output {
    let mut all = vec!["run", guests::TYPES, "-f", function, "--json", "--"];
    all.extend(args);
    wasmdask_in(dir, &all, input)
}

#[track_caller]
fn json_out(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", stderr(out));
    serde_json::from_str(stdout(out).trim()).unwrap()
}

#[test]
fn run_reads_a_big_argument_from_a_file_or_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let numbers: Vec<u32> = (0..100_000).map(|n| n * 7).collect();
    let json = serde_json::to_vec(&numbers).unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/xs.json"), &json).unwrap();
    let expected = serde_json::json!(numbers);
    // Relative to the current directory, absolute, or under the home directory.
    let out = run_types(dir.path(), "echo-list-u32", &["x=@data/xs.json"], b"");
    assert_eq!(json_out(&out), expected);
    let absolute = format!("x=@{}", dir.path().join("data/xs.json").display());
    let out = run_types(dir.path(), "echo-list-u32", &[&absolute], b"");
    assert_eq!(json_out(&out), expected);
    // The shell leaves `~` after `=@` alone; wasmdask reads it as the home directory.
    let out = run_types(dir.path(), "echo-list-u32", &["x=@~/data/xs.json"], b"");
    assert_eq!(json_out(&out), expected);
    let out = run_types(dir.path(), "echo-list-u32", &["x=@-"], &json);
    assert_eq!(json_out(&out), expected);
    // A string parameter takes the file's text as it is; `@@` passes a literal `@`.
    let out = run_types(dir.path(), "echo-string", &["x=@-"], b"{\"not\": json}\n");
    assert_eq!(json_out(&out), "{\"not\": json}\n");
    let out = run_types(dir.path(), "echo-string", &["x=@@me"], b"");
    assert_eq!(json_out(&out), "@me");
    // Files and literal values mix.
    std::fs::write(dir.path().join("tags.json"), br#"["a", "b"]"#).unwrap();
    let out = run_types(
        dir.path(),
        "describe",
        &["name=@-", "age=30", "tags=@tags.json"],
        b"Ada",
    );
    assert_eq!(json_out(&out), "Ada (30): a, b");
}

#[test]
fn file_arguments_that_fail_name_the_parameter_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("people.json"),
        br#"[{"full-name": "A", "age": 3}, {"full-name": "B", "age": 300}]"#,
    )
    .unwrap();
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "echo-list-u32",
            &["x=@./missing.json"],
            "argument `x`: cannot read @./missing.json: No such file or directory (os error 2)",
        ),
        (
            "echo-list-record",
            &["x=@people.json"],
            "@people.json: at `x[1].age`: expected u8 (an integer from 0 to 255), got 300",
        ),
        ("echo-string", &["x=@"], "`@` names no file"),
        (
            "describe",
            &["name=@-", "age=1", "tags=@-"],
            "arguments `name` and `tags` both read stdin",
        ),
    ];
    for (function, args, needle) in cases {
        let out = run_types(dir.path(), function, args, b"\"x\"");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_stderr_has(&out, needle);
    }
}

#[test]
fn render_writes_inputs_read_from_a_file() {
    use prost::Message;
    let dir = tempfile::tempdir().unwrap();
    let numbers: Vec<u32> = (0..100_000).collect();
    std::fs::write(
        dir.path().join("xs.json"),
        serde_json::to_vec(&numbers).unwrap(),
    )
    .unwrap();
    let prefix = dir.path().join("out");
    let args = [
        "render",
        guests::TYPES,
        "-f",
        "echo-list-u32",
        "--image",
        "ghcr.io/example/wasmdask:0.1",
        "--output-prefix",
        prefix.to_str().unwrap(),
        "--",
        "x=@xs.json",
    ];
    let out = wasmdask_in(dir.path(), &args, b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let bytes = std::fs::read(prefix.join("inputs.pb")).unwrap();
    let inputs = wasmdask_flyte::idl::core::LiteralMap::decode(bytes.as_slice()).unwrap();
    let x = wasmdask_flyte::literals::literal_to_json(&inputs.literals["x"]).unwrap();
    assert_eq!(x, serde_json::json!(numbers));
}

/// A runner killed outright (SIGKILL: no handler of its own runs) leaves no cluster process
/// behind: the scheduler and workers of `run --processes` stop when their stdin pipe from it
/// closes. Without that, the scheduler would serve on forever and each worker would wait out its
/// 10 s death timeout.
#[cfg(target_os = "linux")]
#[test]
fn killing_run_processes_leaves_no_cluster_process_behind() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let mut runner = Command::new(env!("CARGO_BIN_EXE_wasmdask"))
        .args(["run", guests::FAULTS, "-f", "spin", "--timeout", "60s"])
        .args(["--processes", "--workers", "2", "--"])
        .env("WASMDASK_CACHE_DIR", cache_dir())
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start wasmdask run");
    let started = Instant::now();
    let children = loop {
        let children = live_children(runner.id());
        if children.len() == 3 {
            break children;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the runner started {children:?}, not a scheduler and 2 workers"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    runner.kill().expect("SIGKILL the runner");
    runner.wait().expect("reap the runner");
    let killed = Instant::now();
    while children.iter().any(|&pid| alive(pid)) {
        assert!(
            killed.elapsed() < Duration::from_secs(8),
            "still running 8 s after the runner was killed: {:?}",
            children
                .iter()
                .filter(|&&pid| alive(pid))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The running (not zombie) processes whose parent is `parent`, from /proc.
#[cfg(target_os = "linux")]
fn live_children(parent: u32) -> Vec<u32> {
    let entries = std::fs::read_dir("/proc").expect("read /proc");
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| alive(pid) && parent_of(pid) == Some(parent))
        .collect()
}

/// `/proc/<pid>/stat` after the command name: state, then parent pid.
#[cfg(target_os = "linux")]
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

#[cfg(target_os = "linux")]
fn parent_of(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// Exists and is not a zombie (an exited child nobody has reaped yet).
#[cfg(target_os = "linux")]
fn alive(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|fields| fields.first().is_some_and(|state| state != "Z"))
}
