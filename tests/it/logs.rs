//! What the roles write to stderr where Flyte users read it (a file or a pipe, not a terminal):
//! plain text or JSON lines, from the run and the cluster processes it starts alike, and no
//! alarms when a local cluster stops at the end of a run.

use crate::common::*;
use std::process::{Command, Output};

/// `run --processes` of the example: the scheduler and both workers log too.
const LOCAL_CLUSTER_RUN: &[&str] = &[
    "run",
    guests::EXAMPLE_RUST,
    "-f",
    "sum-of-squares",
    "--processes",
    "--workers",
    "2",
    "--",
    "n=1000",
];

/// `wasmdask` with stderr piped, in an environment that asks nothing of logging but `env`.
fn wasmdask_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasmdask"))
        .args(args)
        .env("WASMDASK_CACHE_DIR", cache_dir())
        .env_remove("RUST_LOG")
        .env_remove("RUST_LOG_FORMAT")
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .output()
        .expect("run wasmdask")
}

/// Every stderr line as a JSON object with a level and a message.
#[track_caller]
fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    let text = stderr(output);
    text.lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {line:?} in:\n{text}"));
            assert!(
                value["level"].is_string() && value["message"].is_string(),
                "no level or message: {line}"
            );
            value
        })
        .collect()
}

#[test]
fn a_local_cluster_logs_plain_text_to_a_pipe_and_stops_quietly() {
    // A one-shot command shows warnings only, and its cluster processes log as it does: a
    // normal run writes nothing.
    let out = wasmdask_with(LOCAL_CLUSTER_RUN, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "333833500");
    assert_eq!(stderr(&out), "", "a normal run logs nothing");
    // Asked for their lifecycle, they log it.
    let out = wasmdask_with(LOCAL_CLUSTER_RUN, &[("RUST_LOG", "info")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("worker joined"), "the cluster logs:\n{err}");
    assert!(!err.contains("\x1b["), "colour escapes in a pipe:\n{err}");
    // Neither side of a cluster stopped as planned takes it for a fault.
    for alarm in ["lost the scheduler", "reconnecting", "worker lost"] {
        assert!(!err.contains(alarm), "{alarm:?} at a normal end:\n{err}");
    }
}

#[test]
fn log_format_json_reaches_the_cluster_processes() {
    let mut args = vec!["--log-format", "json"];
    args.extend(LOCAL_CLUSTER_RUN);
    let out = wasmdask_with(&args, &[("RUST_LOG", "info")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "333833500");
    let targets: Vec<String> = json_lines(&out)
        .iter()
        .map(|line| line["target"].as_str().unwrap_or_default().to_string())
        .collect();
    for process in ["wasmdask_cluster::scheduler", "wasmdask_cluster::worker"] {
        assert!(
            targets.iter().any(|t| t.starts_with(process)),
            "no line of {process}: {targets:?}"
        );
    }
}

#[test]
fn rust_log_format_sets_the_format_and_is_checked() {
    // The failure that ends the command is one of the JSON lines.
    let out = wasmdask_with(
        &["run", guests::EXAMPLE_RUST, "-f", "nope", "--"],
        &[("RUST_LOG_FORMAT", "json")],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let lines = json_lines(&out);
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "ERROR" && l["message"].as_str().unwrap().contains("nope")),
        "{lines:?}"
    );

    let bad = wasmdask_with(
        &["inspect", guests::EXAMPLE_RUST],
        &[("RUST_LOG_FORMAT", "xml")],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert_stderr_has(&bad, "invalid value 'xml' for '--log-format <FORMAT>'");
}

#[test]
fn guest_output_is_json_lines_too() {
    // `run --verbose`: the root's log call and stdout, and the summary.
    let out = wasmdask_with(
        &[
            "--log-format",
            "json",
            "run",
            guests::FAULTS,
            "-f",
            "log-and-print",
            "-v",
            "--",
            "message=hi",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = json_lines(&out);
    let guest: Vec<_> = lines.iter().filter(|l| l["target"] == "guest").collect();
    assert!(
        guest
            .iter()
            .any(|l| l["stream"] == "log" && l["guest_level"] == "info" && l["message"] == "hi"),
        "{lines:?}"
    );
    assert!(guest.iter().any(|l| l["stream"] == "stdout"), "{lines:?}");
    assert!(
        lines.iter().any(|l| l["message"] == "task finished"),
        "{lines:?}"
    );

    // `execute`, as a Flyte pod runs it: what the guest wrote is in the pod's JSON log.
    let tmp = tempfile::tempdir().unwrap();
    let inputs = tmp.path().join("inputs.pb");
    crate::flyte::flytekit(
        tmp.path(),
        &[
            "write-inputs",
            inputs.to_str().unwrap(),
            r#"{"message": ["str", "hi"]}"#,
        ],
    );
    let out = wasmdask_with(
        &[
            "execute",
            "--inputs",
            inputs.to_str().unwrap(),
            "--output-prefix",
            tmp.path().to_str().unwrap(),
            "--",
            guests::FAULTS,
            "log-and-print",
        ],
        &[("RUST_LOG_FORMAT", "json")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(tmp.path().join("outputs.pb").exists(), "{}", stderr(&out));
    let lines = json_lines(&out);
    assert!(
        lines
            .iter()
            .any(|l| l["target"] == "guest" && l["source"] == "guest" && l["message"] == "hi"),
        "{lines:?}"
    );
}
