//! Every kind of misbehaving guest gets its specific error, and the same host process then runs
//! a normal task correctly.

use crate::common::*;
use serde_json::json;
use std::time::{Duration, Instant};
use wasmdask_sandbox::ErrorKind;

/// Runs the misbehaving call, checks its classification, then checks the host still works.
fn expect_failure(function: &str, args: serde_json::Value, kind: ErrorKind, needle: &str) {
    let sandbox = sandbox(test_limits());
    let faults = load(&sandbox, guests::FAULTS);
    let started = Instant::now();
    let report = call(&sandbox, &faults, function, args, 1);
    let error = report.outcome.expect_err("the call must fail");
    assert_eq!(error.kind, kind, "{function}: {error:?}");
    assert!(
        error.message.contains(needle),
        "{function}: message {:?} should mention {needle:?}",
        error.message
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{function} took too long"
    );
    let after = call(&sandbox, &faults, "ok", json!([41]), 1);
    assert_eq!(
        ok_json(after),
        json!(42),
        "host still serves after {function}"
    );
}

#[test]
fn infinite_loop_times_out() {
    expect_failure("spin", json!([]), ErrorKind::Timeout, "--timeout");
}

#[test]
fn unbounded_allocation_hits_the_memory_cap() {
    expect_failure("hog", json!([]), ErrorKind::OutOfMemory, "--memory-limit");
}

#[test]
fn unbounded_recursion_overflows_the_stack() {
    expect_failure(
        "recurse",
        json!([u64::MAX]),
        ErrorKind::StackOverflow,
        "recursion",
    );
}

#[test]
fn printing_a_gigabyte_hits_the_output_limit() {
    expect_failure("spam", json!([]), ErrorKind::OutputLimit, "stdout");
}

#[test]
fn reading_etc_passwd_is_denied() {
    expect_failure("read-passwd", json!([]), ErrorKind::Denied, "--dir");
}

#[test]
fn reading_the_environment_is_denied() {
    expect_failure("read-env", json!([]), ErrorKind::Denied, "--allow-env");
}

#[test]
fn opening_a_socket_is_denied() {
    expect_failure(
        "open-socket",
        json!([]),
        ErrorKind::Denied,
        "connect to 127.0.0.1:9",
    );
}

#[test]
fn a_panic_is_a_trap_with_the_panic_message() {
    expect_failure(
        "panic",
        json!(["boom at the task"]),
        ErrorKind::Trap,
        "boom at the task",
    );
}

#[test]
fn an_err_return_is_a_guest_error() {
    expect_failure(
        "fail",
        json!(["bad row 7"]),
        ErrorKind::GuestError,
        "bad row 7",
    );
}

#[test]
fn a_panic_carries_a_wasm_backtrace() {
    let sandbox = sandbox(test_limits());
    let faults = load(&sandbox, guests::FAULTS);
    let error = call(&sandbox, &faults, "panic", json!(["x"]), 1)
        .outcome
        .expect_err("panics");
    let detail = error.detail.expect("a trap has evidence");
    assert!(detail.contains("wasm backtrace"), "{detail}");
}

#[test]
fn guest_output_and_logs_are_captured() {
    let sandbox = sandbox(test_limits());
    let faults = load(&sandbox, guests::FAULTS);
    let report = call(
        &sandbox,
        &faults,
        "log-and-print",
        json!(["hello there"]),
        1,
    );
    assert!(String::from_utf8_lossy(&report.stdout).contains("hello there"));
    assert!(
        report
            .logs
            .iter()
            .any(|l| l.message.contains("hello there"))
    );
    assert!(report.outcome.is_ok());
}
