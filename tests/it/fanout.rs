//! Fan-out through `cluster`: results are right at scale, nested fan-out does not deadlock, and
//! subtask failures reach the parent classified.

use crate::common::*;
use serde_json::json;
use std::sync::atomic::Ordering;
use wasmdask_cluster::LocalCluster;
use wasmdask_sandbox::Limits;

fn sum_of_squares(n: u64) -> u64 {
    n * (n + 1) * (2 * n + 1) / 6
}

#[test]
fn ten_thousand_subtasks_give_the_right_answer() {
    let sandbox = sandbox(Limits::default());
    let example = load(&sandbox, guests::EXAMPLE_RUST);
    let report = call(
        &sandbox,
        &example,
        "sum-of-squares",
        json!({"n": 10_000}),
        2,
    );
    assert_eq!(report.submitted, 10_000);
    assert_eq!(ok_json(report), json!(sum_of_squares(10_000)));
}

#[test]
fn nested_fan_out_completes_on_a_single_slot() {
    // One slot: a parent waiting in `gather` must lend its slot to its children.
    let sandbox = sandbox(Limits::default());
    let fanout = load(&sandbox, guests::FANOUT);
    let report = call(
        &sandbox,
        &fanout,
        "nested",
        json!({"groups": 8, "per-group": 25}),
        1,
    );
    assert_eq!(ok_json(report), json!(sum_of_squares(200)));
}

#[test]
fn subtask_errors_reach_the_parent_classified() {
    let sandbox = sandbox(Limits::default());
    let fanout = load(&sandbox, guests::FANOUT);
    let report = call(&sandbox, &fanout, "fail-some", json!([10]), 2);
    assert_eq!(ok_json(report), json!(5));
}

#[test]
fn submitting_an_unknown_function_fails_at_submit() {
    let sandbox = sandbox(Limits::default());
    let fanout = load(&sandbox, guests::FANOUT);
    let message = ok_json(call(&sandbox, &fanout, "submit-unknown", json!([]), 1));
    let message = message.as_str().unwrap();
    assert!(message.contains("exports no function"), "{message}");
    assert!(
        message.contains("square"),
        "lists the real exports: {message}"
    );
}

#[test]
fn submitting_mistyped_arguments_fails_at_submit() {
    let sandbox = sandbox(Limits::default());
    let fanout = load(&sandbox, guests::FANOUT);
    let message = ok_json(call(&sandbox, &fanout, "bad-args", json!([]), 1));
    let message = message.as_str().unwrap();
    assert!(
        message.contains("u64"),
        "names the expected type: {message}"
    );
}

#[test]
fn progress_counts_every_subtask() {
    let sandbox = sandbox(Limits::default());
    let example = load(&sandbox, guests::EXAMPLE_RUST);
    let cluster = LocalCluster::new(sandbox.clone(), 2);
    let report = execute_on(&cluster, &sandbox, &example, "sum-of-squares", json!([300]));
    assert_eq!(ok_json(report), json!(sum_of_squares(300)));
    let progress = cluster.progress();
    assert_eq!(progress.submitted.load(Ordering::Relaxed), 300);
    assert_eq!(progress.done.load(Ordering::Relaxed), 300);
    assert_eq!(progress.failed.load(Ordering::Relaxed), 0);
}
