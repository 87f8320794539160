//! Fan-out trees (the fanout guest's `tree`: every node maps `width` children, leaves return 1)
//! complete at any depth and width, embedded and on a scheduler with two worker processes: a
//! parent waiting for its children gives up its slot, does not count toward what its worker
//! may hold, and cannot starve its children of instances. A failing leaf's error reaches the
//! root with its path.

use crate::common::*;
use serde_json::json;
use std::process::Output;
use wasmdask_sandbox::{Sandbox, SandboxConfig};

/// `wasmdask run` of the tree on two slots, embedded or (`processes`) on a loopback scheduler
/// with two single-thread worker processes; `extra` are more flags and task arguments.
fn run_tree(processes: bool, depth: u32, width: u32, extra: &[&str]) -> Output {
    let (depth, width) = (format!("depth={depth}"), format!("width={width}"));
    let mut args = vec!["run", guests::FANOUT, "-f", "tree", "--workers", "2"];
    if processes {
        args.push("--processes");
    }
    let (flags, task_args): (Vec<&str>, Vec<&str>) =
        extra.iter().partition(|arg| arg.starts_with("--"));
    args.extend(flags);
    args.extend(["--", &depth, &width]);
    args.extend(task_args);
    wasmdask(&args)
}

/// Runs the tree and checks that every leaf answered.
fn completes(processes: bool, depth: u32, width: u32) {
    let out = run_tree(processes, depth, width, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), u64::from(width).pow(depth).to_string());
}

/// Fails leaf 37 of a depth-3, width-4 tree: child 2 of the root (leaves 32..48), its child 1
/// (36..40), that one's child 1.
fn reports_the_failing_leaf_s_path(processes: bool) {
    let out = run_tree(processes, 3, 4, &["fail-leaf=37"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_stderr_has(
        &out,
        "tree[2] > tree[1] > tree[1] > leaf 37 failed on purpose",
    );
}

#[test]
fn embedded_depth_2_width_300() {
    completes(false, 2, 300);
}

#[test]
fn embedded_depth_3_width_10() {
    completes(false, 3, 10);
}

#[test]
fn embedded_depth_4_width_5() {
    completes(false, 4, 5);
}

#[test]
fn embedded_depth_5_width_4() {
    completes(false, 5, 4);
}

#[test]
fn embedded_depth_6_width_3() {
    completes(false, 6, 3);
}

#[test]
fn embedded_failing_leaf_reaches_the_root_with_its_path() {
    reports_the_failing_leaf_s_path(false);
}

#[test]
fn processes_depth_2_width_300() {
    completes(true, 2, 300);
}

#[test]
fn processes_depth_3_width_10() {
    completes(true, 3, 10);
}

#[test]
fn processes_depth_4_width_5() {
    completes(true, 4, 5);
}

#[test]
fn processes_depth_6_width_3() {
    completes(true, 6, 3);
}

#[test]
fn processes_failing_leaf_reaches_the_root_with_its_path() {
    reports_the_failing_leaf_s_path(true);
}

#[test]
fn a_tree_deeper_than_the_instance_pool_completes_beyond_it() {
    // Six waiting parents on the path to a leaf, and two pooled instances.
    let out = run_tree(false, 6, 3, &["--max-instances=2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "729");
}

#[test]
fn executions_beyond_the_pool_are_counted() {
    let sandbox = Sandbox::new(SandboxConfig {
        limits: test_limits(),
        cache_dir: Some(cache_dir()),
        max_instances: 2,
        ..SandboxConfig::default()
    })
    .expect("sandbox");
    let fanout = load(&sandbox, guests::FANOUT);
    let report = call(
        &sandbox,
        &fanout,
        "tree",
        json!({"depth": 4, "width": 3}),
        2,
    );
    assert_eq!(ok_json(report), json!(81));
    assert!(
        sandbox.overflow_executions() > 0,
        "the pool of 2 overflowed"
    );
}
