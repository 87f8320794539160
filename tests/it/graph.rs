//! Task graphs: results passed to other calls by handle (futures as arguments), embedded and
//! across worker processes: long chains and diamonds, data-heavy chains and tree reductions whose
//! values move worker to worker and never through the scheduler, failed inputs, bad handles,
//! and a worker killed while it holds results that later calls need (lineage).

use crate::common::{stderr, stdout, wasmdask};
use crate::distributed::{Cluster, finish, http_get, wait_until};
use std::time::Duration;
use wasmdask_test_guests as guests;

fn run_graph(function: &str, args: &[&str], extra: &[&str]) -> std::process::Output {
    run_on(guests::GRAPH, function, args, extra)
}

/// `chain` and `diamond` are the Rust example's (the graphs of bench/vs_dask.py).
fn run_example(function: &str, args: &[&str], extra: &[&str]) -> std::process::Output {
    run_on(guests::EXAMPLE_RUST, function, args, extra)
}

fn run_on(component: &str, function: &str, args: &[&str], extra: &[&str]) -> std::process::Output {
    let mut argv = vec!["run", component, "-f", function];
    argv.extend_from_slice(extra);
    argv.push("--");
    argv.extend_from_slice(args);
    wasmdask(&argv)
}

fn answer(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}", stderr(out));
    stdout(out).trim().to_string()
}

/// Σ floats(len, i) over i < count: Σ k/2 for k < count·len.
fn float_sum(count: u32, len: u32) -> f64 {
    let n = f64::from(count) * f64::from(len);
    n * (n - 1.0) / 4.0
}

const PROCESSES: &[&str] = &["--processes", "--workers", "2"];

#[test]
fn a_chain_of_ten_thousand_dependent_calls_runs_in_order() {
    assert_eq!(answer(&run_example("chain", &["n=10000"], &[])), "10000");
}

#[test]
fn diamonds_join_two_results_of_one_call() {
    assert_eq!(answer(&run_example("diamond", &["n=2500"], &[])), "5000");
    assert_eq!(
        answer(&run_example("diamond", &["n=300"], PROCESSES)),
        "600"
    );
}

#[test]
fn chains_across_worker_processes() {
    assert_eq!(
        answer(&run_example("chain", &["n=2000"], PROCESSES)),
        "2000"
    );
    // 100 chains of 20, submitted a level at a time: 2,000 calls whose inputs are spread over
    // both workers.
    let out = run_graph("many-chains", &["n=100", "len=20", "ms=0"], PROCESSES);
    assert_eq!(answer(&out), "2000");
}

#[test]
fn a_data_heavy_chain_passes_values_without_the_caller() {
    // 1M f64 (8 MB) scaled 8 times: 72 MB of values handed from call to call; each execution
    // (the caller too) may hold 48 MiB.
    let extra = ["--memory-limit", "48MiB"];
    // floats(len, 1) is the second block of `len` halves.
    let expected = (float_sum(2, 1_000_000) - float_sum(1, 1_000_000)) * 256.0;
    let out = run_graph("big-chain", &["len=1000000", "steps=8"], &extra);
    assert_eq!(answer(&out).parse::<f64>().unwrap(), expected);
}

#[test]
fn values_move_worker_to_worker_not_through_the_scheduler() {
    let cluster = Cluster::start(2, &[], None);
    // 16 × 1M f64 (128 MB of leaves) summed pairwise in a tree: the pairs sit on different
    // workers, so values must travel between them.
    let out = finish(cluster.spawn_run(guests::GRAPH, "tree-sum", &["count=16", "len=1000000"]));
    assert_eq!(
        answer(&out).parse::<f64>().unwrap(),
        float_sum(16, 1_000_000)
    );
    let state = cluster.state().unwrap();
    let workers = state["workers"].as_array().unwrap();
    // Heartbeats carry the transfer counters; wait for one after the run.
    wait_until(Duration::from_secs(5), || {
        let state = cluster.state().unwrap();
        state["workers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["data"]["fetched_bytes"].as_u64().unwrap_or(0))
            .sum::<u64>()
            >= 8_000_000
    });
    assert_eq!(workers.len(), 2);
    // What the scheduler received over the whole run, gRPC framing included: a small fraction
    // of the 128 MB of leaves and 120 MB of partial sums.
    let metrics = http_get(cluster.dashboard, "/metrics").unwrap();
    let received: f64 = metrics
        .lines()
        .find(|l| l.starts_with("wasmdask_scheduler_comm") && l.contains("in"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no comm counter in:\n{metrics}"));
    assert!(
        received < 4_000_000.0,
        "the scheduler received {received} bytes for 248 MB of values"
    );
}

#[test]
fn many_results_reach_one_call_as_one_list() {
    // 32 × 250k f64 (64 MB) into one `sum-lists` call, embedded and on two workers.
    let expected = float_sum(32, 250_000);
    for extra in [&[][..], PROCESSES] {
        let out = run_graph("gather-sum", &["count=32", "len=250000"], extra);
        assert_eq!(answer(&out).parse::<f64>().unwrap(), expected);
    }
}

#[test]
fn a_failed_input_fails_its_dependents_naming_the_handles() {
    for extra in [&[][..], PROCESSES] {
        let said = answer(&run_graph("failed-input", &[], extra));
        assert!(said.starts_with("guest-error: `inc` did not run"), "{said}");
        // inc(inc(boom)): the outer names its input `inc`, which names `boom`'s failure.
        assert_eq!(said.matches("did not run").count(), 2, "{said}");
        assert!(said.contains("(`boom`) failed: boom on purpose"), "{said}");
    }
}

#[test]
fn handles_the_task_does_not_hold_are_bad_input_naming_them() {
    for extra in [&[][..], PROCESSES] {
        let said: Vec<String> =
            serde_json::from_str(&answer(&run_graph("bad-handles", &[], extra)))
                .expect("a list of messages");
        assert_eq!(said.len(), 6, "{said:?}");
        assert!(
            said.iter().all(|s| s.starts_with("bad-input: ")),
            "{said:?}"
        );
        assert!(
            said[0].contains("was already taken or released"),
            "{}",
            said[0]
        );
        assert!(
            said[1].contains("was already taken or released"),
            "{}",
            said[1]
        );
        assert!(
            said[2].contains("is not a handle of this execution"),
            "{}",
            said[2]
        );
        assert!(
            said[3].contains("argument `x` is u64, but call")
                && said[3].contains("returns list<f64>"),
            "{}",
            said[3]
        );
        assert!(
            said[4].contains("2 argument(s) given, the export takes 1"),
            "{}",
            said[4]
        );
        assert!(
            said[5].contains("argument `x` is u64, not a list"),
            "{}",
            said[5]
        );
    }
}

#[test]
fn a_killed_worker_s_results_are_recomputed_for_the_calls_that_need_them() {
    let mut cluster = Cluster::start(2, &[], None);
    // 8 chains of 20 steps of 20 ms, a level at a time: the kill lands while results that the
    // next level needs sit on the victim.
    let run = cluster.spawn_run(guests::GRAPH, "many-chains", &["n=8", "len=20", "ms=20"]);
    wait_until(Duration::from_secs(20), || {
        cluster
            .state()
            .is_some_and(|s| s["totals"]["completed"].as_u64().unwrap_or(0) >= 40)
    });
    cluster.kill_worker("w0");
    let out = finish(run);
    assert_eq!(answer(&out), (8 * 20).to_string());
    let state = cluster.state().unwrap();
    assert!(
        state["totals"]["recomputed"].as_u64().unwrap() > 0,
        "nothing was recomputed: {state}"
    );
}
