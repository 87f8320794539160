//! Large values through the cluster: binary lists of many megabytes gathered at once, reductions
//! larger than the task's memory, large arguments, and out-of-memory errors that say which value
//! did not fit. Embedded and with worker processes (values chunked over gRPC).

use crate::common::{assert_stderr_has, stderr, stdout, wasmdask};
use crate::distributed::{Cluster, finish};
use wasmdask_test_guests as guests;

const MB8: u32 = 8_000_000;

/// The sum of every byte of `bytes(len, seed)` for seed in 0..count (see the data guest).
fn byte_sum(count: u32, len: u32) -> u64 {
    (0..count)
        .map(|seed| (0..len).map(|k| u64::from((seed + k) % 251)).sum::<u64>())
        .sum()
}

fn run_data(function: &str, args: &[&str], extra: &[&str]) -> std::process::Output {
    let mut argv = vec!["run", guests::DATA, "-f", function];
    argv.extend_from_slice(extra);
    argv.push("--");
    argv.extend_from_slice(args);
    wasmdask(&argv)
}

#[test]
fn sixty_four_results_of_eight_megabytes_gather_at_once_within_the_default_memory() {
    // 512 MB held at once by a task of 1 GiB. Each 8 MB `list<u8>` is 8M list elements, which
    // wasmtime lifts one `Val` at a time (~0.3 s each on this 2-core machine): the time limit is
    // raised so that a loaded CI machine cannot turn this memory test into a timeout.
    let out = run_data(
        "gather-bytes",
        &["count=64", "len=8000000"],
        &["--timeout", "10m"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), byte_sum(64, MB8).to_string());
}

#[test]
fn a_gigabyte_reduces_through_a_task_of_one_gigabyte_within_the_default_limits() {
    // 128 × 1M f64 = 1.02 GB: more than the task's memory cap, taken one result at a time.
    let out = run_data("sum-floats", &["count=128", "len=1000000"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Σ k/2 for k < 128M: every partial sum is a multiple of 0.5 below 2^52, so exact.
    let n = 128.0 * 1_000_000.0;
    assert_eq!(
        stdout(&out).trim().parse::<f64>().unwrap(),
        n * (n - 1.0) / 4.0
    );
}

#[test]
fn large_values_cross_worker_processes_in_chunks() {
    let cluster = Cluster::start(2, &[], None);
    // 16 results of 8 chunks each, interleaved on the streams of two workers.
    let gathered =
        finish(cluster.spawn_run(guests::DATA, "reduce-bytes", &["count=16", "len=8000000"]));
    assert!(gathered.status.success(), "{}", stderr(&gathered));
    assert_eq!(stdout(&gathered).trim(), byte_sum(16, MB8).to_string());
    // A large argument: 8 MB handed to a call on another process.
    let sent = finish(cluster.spawn_run(guests::DATA, "send-bytes", &["len=8000000"]));
    assert!(sent.status.success(), "{}", stderr(&sent));
    assert_eq!(stdout(&sent).trim(), "8000000");
    // Floats stay exact: no text on the way.
    let floats =
        finish(cluster.spawn_run(guests::DATA, "sum-floats", &["count=16", "len=1000000"]));
    assert!(floats.status.success(), "{}", stderr(&floats));
    let n = 16.0 * 1_000_000.0;
    assert_eq!(
        stdout(&floats).trim().parse::<f64>().unwrap(),
        n * (n - 1.0) / 4.0
    );
}

#[test]
fn a_result_too_large_for_the_host_is_out_of_memory_not_invalid_component() {
    // 20M list elements need 640 MB in the host's value form, over twice a 64 MiB cap.
    let out = run_data(
        "bytes",
        &["len=20000000", "seed=0"],
        &["--memory-limit", "64MiB"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_stderr_has(&out, "out-of-memory");
    assert_stderr_has(&out, "too large");
    assert_stderr_has(&out, "--memory-limit");
}

#[test]
fn a_gather_that_does_not_fit_names_the_value_it_received() {
    // 30 results of 3 MB each do not fit a 64 MiB task when held all at once.
    let out = run_data(
        "gather-bytes",
        &["count=30", "len=3000000"],
        &["--memory-limit", "64MiB"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_stderr_has(&out, "out-of-memory");
    assert_stderr_has(&out, "of `bytes`, 2.9 MiB in the binary encoding");
    assert_stderr_has(&out, "gather_iter");
    // Folding over them one at a time fits.
    let out = run_data(
        "reduce-bytes",
        &["count=30", "len=3000000"],
        &["--memory-limit", "64MiB"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), byte_sum(30, 3_000_000).to_string());
}

#[test]
fn a_component_built_against_wit_0_1_0_still_runs() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/example-wit-0.1.0.wasm"
    );
    let bytes = std::fs::read(fixture).unwrap();
    let imports_old = |version: &str| {
        let needle = format!("wasmdask:task/cluster@{version}");
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    };
    assert!(
        imports_old("0.1.0") && !imports_old("0.1.1"),
        "the fixture must import @0.1.0"
    );
    // Its fan-out goes through the JSON calls of 0.1.0, and the results through the binary slots.
    let out = wasmdask(&["run", fixture, "-f", "sum-of-squares", "--", "n=100"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "338350");
}
