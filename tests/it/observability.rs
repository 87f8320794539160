//! Observability, black-box: `/metrics` parsed by a Prometheus text parser must count exactly the
//! job that ran, failed subtasks bring their output back to the client, the workers' data plane
//! (results held, spilled, transferred) shows per worker in `/metrics` and `/api/state`, and a
//! real headless browser (Debian's chromium, installed by `scripts/setup.sh`) renders the live
//! dashboard.

use crate::common::*;
use crate::distributed::{BIN, Cluster, finish, http_get, wait_until};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Heartbeats every 500 ms (a tenth of the TTL), so worker-reported metrics arrive quickly.
const FAST_HEARTBEATS: [&str; 2] = ["--worker-ttl", "5s"];

/// `wasmdask run --verbose` of a fanout export against `cluster`.
fn run_verbose(cluster: &Cluster, function: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["run", guests::FANOUT, "-f", function, "--verbose"])
        .args(["--scheduler", &cluster.address(), "--"])
        .args(args)
        .env("WASMDASK_CACHE_DIR", cache_dir())
        .env_remove("WASMDASK_TOKEN")
        .output()
        .unwrap()
}

/// One sample's value by metric name and labels.
fn sample(metrics: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = metrics
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)));
    match found.map(|s| &s.value) {
        Some(
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v),
        ) => *v,
        other => panic!("no sample {name}{labels:?}: {other:?}"),
    }
}

/// Every per-worker series of the data plane, with the type it must be exported as.
const DATA_PLANE: [(&str, &str); 10] = [
    ("wasmdask_worker_memory_held_bytes", "gauge"),
    ("wasmdask_worker_memory_held_keys", "gauge"),
    ("wasmdask_worker_spilled_bytes", "gauge"),
    ("wasmdask_worker_spilled_keys", "gauge"),
    ("wasmdask_worker_spills_total", "counter"),
    ("wasmdask_worker_unspills_total", "counter"),
    ("wasmdask_worker_transfer_bytes_total", "counter"),
    ("wasmdask_worker_transfers_total", "counter"),
    ("wasmdask_worker_transfer_seconds_total", "counter"),
    ("wasmdask_worker_served_bytes_total", "counter"),
];

/// Checks that `worker` has every data-plane series, typed as it must be.
fn assert_data_plane_of(metrics: &prometheus_parse::Scrape, worker: &str) {
    for (name, kind) in DATA_PLANE {
        let value = sample(metrics, name, &[("worker", worker)]);
        assert!(value >= 0.0, "{name}{{worker={worker}}} = {value}");
        let typed = metrics.samples.iter().any(|s| {
            s.metric == name
                && s.labels.get("worker") == Some(worker)
                && matches!(
                    (&s.value, kind),
                    (prometheus_parse::Value::Counter(_), "counter")
                        | (prometheus_parse::Value::Gauge(_), "gauge")
                )
        });
        assert!(typed, "{name} of {worker} is not a {kind}");
    }
}

/// The sum of `name` over every worker.
fn over_workers(metrics: &prometheus_parse::Scrape, name: &str) -> f64 {
    metrics
        .samples
        .iter()
        .filter(|s| s.metric == name && s.labels.get("worker").is_some())
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
            _ => panic!("{name} is neither a counter nor a gauge"),
        })
        .sum()
}

/// A worker process with its own arguments, killed on drop.
struct Worker(Child);

impl Worker {
    fn start(cluster: &Cluster, name: &str, args: &[&str]) -> Worker {
        let child = Command::new(BIN)
            .args(["worker", &cluster.address(), "--name", name])
            .args(["--death-timeout", "5s"])
            .args(args)
            .env("WASMDASK_CACHE_DIR", cache_dir())
            .env_remove("WASMDASK_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Worker(child)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn scrape(port: u16, path: &str) -> prometheus_parse::Scrape {
    let text = http_get(port, path).expect("/metrics answers");
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses")
}

#[test]
fn metrics_count_exactly_the_job_that_ran_and_failures_bring_their_output_back() {
    let cluster = Cluster::start(2, &FAST_HEARTBEATS, None);
    let squares = finish(cluster.spawn_run(guests::FANOUT, "sum-of-squares", &["n=300"]));
    assert_eq!(stdout(&squares).trim(), "9045050", "{}", stderr(&squares));
    // 6 `noisy` subtasks: the odd ones panic after logging and printing.
    let noisy = run_verbose(&cluster, "map-noisy", &["n=6"]);
    assert_eq!(stdout(&noisy).trim(), "3", "{}", stderr(&noisy));
    let err = stderr(&noisy);
    for expected in [
        "--- subtask `noisy` failed: trap: the task panicked: task 3 failed on purpose",
        "[subtask info] task 3",
        "stdout of task 3",
        "stderr of task 3",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    assert!(!err.contains("task 2 failed"), "{err}");

    // Worker-reported counts arrive with heartbeats: wait until every execution is in.
    let executed = |m: &prometheus_parse::Scrape| {
        m.samples
            .iter()
            .filter(|s| s.metric == "wasmdask_worker_executions_total")
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum::<f64>()
    };
    wait_until(Duration::from_secs(15), || {
        executed(&scrape(cluster.dashboard, "/metrics")) == 306.0
    });
    let m = scrape(cluster.dashboard, "/metrics");
    assert_eq!(
        sample(&m, "wasmdask_scheduler_tasks_submitted_total", &[]),
        306.0
    );
    assert_eq!(
        sample(&m, "wasmdask_scheduler_tasks_completed_total", &[]),
        303.0
    );
    assert_eq!(sample(&m, "wasmdask_scheduler_tasks_erred_total", &[]), 3.0);
    let outcome = |function, outcome| {
        sample(
            &m,
            "wasmdask_worker_executions_total",
            &[("function", function), ("outcome", outcome)],
        )
    };
    assert_eq!(outcome("square", "ok"), 300.0);
    assert_eq!(outcome("noisy", "ok"), 3.0);
    assert_eq!(outcome("noisy", "trap"), 3.0);
    let count = |name, labels: &[(&str, &str)]| {
        m.samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .and_then(|s| match &s.value {
                prometheus_parse::Value::Histogram(buckets) => buckets.last().map(|b| b.count),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no histogram {name}"))
    };
    assert_eq!(
        count(
            "wasmdask_execution_duration_seconds",
            &[("function", "square")]
        ),
        300.0
    );
    assert_eq!(count("wasmdask_sandbox_instantiate_seconds", &[]), 306.0);
    let loads = sample(&m, "wasmdask_compiled_cache_hits_total", &[])
        + sample(&m, "wasmdask_compiled_cache_misses_total", &[]);
    assert!(
        (1.0..=2.0).contains(&loads),
        "each worker loads the component once: {loads}"
    );
    for direction in ["in", "out"] {
        assert!(
            sample(
                &m,
                "wasmdask_scheduler_comm_bytes_total",
                &[("direction", direction)]
            ) > 0.0
        );
    }
    assert_eq!(
        sample(&m, "wasmdask_scheduler_tasks", &[("state", "queued")]),
        0.0
    );
    wait_until(Duration::from_secs(5), || {
        sample(
            &scrape(cluster.dashboard, "/metrics"),
            "wasmdask_scheduler_workers",
            &[("state", "idle")],
        ) == 2.0
    });

    // The data plane: every worker reports it, and once the jobs are over (their clients gone)
    // the workers were told to free every result, which their next heartbeat shows.
    wait_until(Duration::from_secs(5), || {
        let m = scrape(cluster.dashboard, "/metrics");
        over_workers(&m, "wasmdask_worker_memory_held_keys") == 0.0
            && sample(&m, "wasmdask_scheduler_tasks", &[("state", "memory")]) == 0.0
    });
    let m = scrape(cluster.dashboard, "/metrics");
    for worker in ["w0", "w1"] {
        assert_data_plane_of(&m, worker);
        assert_eq!(
            sample(
                &m,
                "wasmdask_worker_memory_held_bytes",
                &[("worker", worker)]
            ),
            0.0
        );
    }
    // No call took another's result and every value was small enough to travel inline, so
    // nothing moved between workers or spilled (a default memory limit is the machine's).
    for name in [
        "wasmdask_worker_transfers_total",
        "wasmdask_worker_transfer_bytes_total",
        "wasmdask_worker_spills_total",
        "wasmdask_worker_spilled_bytes",
    ] {
        assert_eq!(over_workers(&m, name), 0.0, "{name}");
    }
    assert_eq!(
        sample(&m, "wasmdask_scheduler_tasks", &[("state", "waiting")]),
        0.0
    );
    assert_eq!(
        sample(&m, "wasmdask_scheduler_results_recomputed_total", &[]),
        0.0
    );
    let state: Value =
        serde_json::from_str(&http_get(cluster.dashboard, "/api/state").unwrap()).unwrap();
    assert_eq!(state["tasks"]["waiting"], 0, "{state}");
    assert_eq!(state["held"], serde_json::json!({"keys": 0, "bytes": 0}));
    assert_eq!(state["totals"]["recomputed"], 0);
    for worker in state["workers"].as_array().unwrap() {
        let address = worker["data_address"].as_str().unwrap();
        assert!(address.starts_with("127.0.0.1:"), "{worker}");
        assert_eq!(worker["data"]["memory_keys"], 0, "{worker}");
    }

    // The dashboard keeps each failure with the guest's message, backtrace and output.
    let snapshot: Value =
        serde_json::from_str(&http_get(cluster.dashboard, "/api/dashboard").unwrap()).unwrap();
    let errors = snapshot["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 3, "{errors:?}");
    let error = errors
        .iter()
        .find(|e| {
            e["message"]
                .as_str()
                .unwrap()
                .contains("task 1 failed on purpose")
        })
        .expect("task 1's failure");
    assert_eq!(error["kind"], "trap");
    assert_eq!(error["function"], "noisy");
    assert!(
        error["detail"].as_str().unwrap().contains("wasm backtrace"),
        "{error}"
    );
    assert!(
        error["output"]["stdout"]
            .as_str()
            .unwrap()
            .contains("stdout of task 1")
    );
    assert_eq!(error["output"]["logs"][0]["message"], "task 1");
    let noisy = snapshot["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["function"] == "noisy")
        .unwrap();
    assert_eq!(
        (noisy["executions"].as_u64(), noisy["errors"].as_u64()),
        (Some(6), Some(3))
    );
    assert!(noisy["p50_ms"].as_f64().unwrap() > 0.0);
}

#[test]
fn held_spilled_and_transferred_results_show_per_worker_and_are_freed_after_the_job() {
    let cluster = Cluster::start(0, &FAST_HEARTBEATS, None);
    // 16 MiB each: results spill past 60% of it (about 10 MB), and 16 leaves of 2 MB held
    // across two workers are 16 MB each.
    let small = ["--nthreads", "1", "--memory-limit", "16MiB"];
    let _workers = [
        Worker::start(&cluster, "d0", &small),
        Worker::start(&cluster, "d1", &small),
    ];
    wait_until(Duration::from_secs(10), || {
        cluster
            .state()
            .is_some_and(|s| s["workers"].as_array().map_or(0, Vec::len) == 2)
    });
    // The leaves summed pairwise in a tree: each pair's values meet on one worker, so some
    // travel worker to worker.
    let (count, len) = (16.0, 250_000.0);
    let out = finish(cluster.spawn_run(guests::GRAPH, "tree-sum", &["count=16", "len=250000"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let n: f64 = count * len;
    assert_eq!(
        stdout(&out).trim().parse::<f64>().unwrap(),
        n * (n - 1.0) / 4.0
    );
    // The tree may read every leaf before it spills, so read-backs are certain only when all
    // 32 MB are held before anything reads them: one call that takes the 16 leaves at once.
    // The two workers keep at most 20 MB of them in memory, so at least 6 leaves are on disk
    // when it starts, and it reads each one.
    let out = finish(cluster.spawn_run(guests::GRAPH, "gather-sum", &["count=16", "len=250000"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim().parse::<f64>().unwrap(),
        n * (n - 1.0) / 4.0
    );

    // Cumulative counters arrive with heartbeats; frees reach the workers once the client is
    // gone. Wait for both.
    wait_until(Duration::from_secs(10), || {
        let m = scrape(cluster.dashboard, "/metrics");
        over_workers(&m, "wasmdask_worker_transfers_total") > 0.0
            && over_workers(&m, "wasmdask_worker_memory_held_keys") == 0.0
            && over_workers(&m, "wasmdask_worker_spilled_keys") == 0.0
    });
    let m = scrape(cluster.dashboard, "/metrics");
    for worker in ["d0", "d1"] {
        assert_data_plane_of(&m, worker);
    }
    for name in [
        "wasmdask_worker_memory_held_bytes",
        "wasmdask_worker_spilled_bytes",
    ] {
        assert_eq!(over_workers(&m, name), 0.0, "{name} after the job");
    }
    // A value is 8 bytes per f64 (and a length): every transfer is at least one leaf's worth.
    let fetched = over_workers(&m, "wasmdask_worker_transfer_bytes_total");
    let fetches = over_workers(&m, "wasmdask_worker_transfers_total");
    assert!(
        fetched >= fetches * len * 8.0,
        "{fetched} bytes in {fetches} fetches"
    );
    assert!(over_workers(&m, "wasmdask_worker_transfer_seconds_total") > 0.0);
    // Only workers fetched (the caller took nothing but the total, which travels inline):
    // every byte fetched was served by the other worker.
    assert_eq!(
        over_workers(&m, "wasmdask_worker_served_bytes_total"),
        fetched
    );
    let (spills, unspills) = (
        over_workers(&m, "wasmdask_worker_spills_total"),
        over_workers(&m, "wasmdask_worker_unspills_total"),
    );
    assert!(
        spills > 0.0,
        "32 MB of leaves on 2 workers with a 10 MB target spill"
    );
    assert!(
        unspills >= 6.0 && unspills <= spills,
        "{unspills} read back of {spills} spilled"
    );
    // The sums waited for their inputs while the job ran; now nothing waits, and no worker
    // was lost, so nothing was recomputed.
    assert_eq!(
        sample(&m, "wasmdask_scheduler_tasks", &[("state", "waiting")]),
        0.0
    );
    assert_eq!(
        sample(&m, "wasmdask_scheduler_results_recomputed_total", &[]),
        0.0
    );

    // `/api/state` says the same, per worker and as the scheduler counts the results held.
    let state = cluster.state().unwrap();
    assert_eq!(state["held"], serde_json::json!({"keys": 0, "bytes": 0}));
    assert_eq!(state["tasks"]["waiting"], 0);
    let workers = state["workers"].as_array().unwrap();
    let total = |field: &str| {
        workers
            .iter()
            .map(|w| w["data"][field].as_u64().unwrap())
            .sum::<u64>() as f64
    };
    assert_eq!(total("fetched_bytes"), fetched);
    assert_eq!(total("spills"), spills);
    assert_eq!(total("memory_bytes"), 0.0);
}

/// Debian's chromium, as `scripts/setup.sh` installs it. Missing is a failure, not a skip.
fn chromium() -> PathBuf {
    let path = Path::new("/usr/bin/chromium");
    assert!(
        path.exists(),
        "chromium is missing: run `bash scripts/setup.sh` (it installs Debian's chromium), \
         which the dashboard test needs"
    );
    path.to_path_buf()
}

/// Headless chromium on `url` with `args`; fails the test after a minute.
fn headless(url: &str, args: &[&str]) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
        ])
        .args(["--no-first-run", "--disable-background-networking"])
        .args(["--disable-component-update", "--disable-sync"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        // The page streams server-sent events forever, so virtual time would never advance:
        // chromium takes its snapshot once the page has loaded (or after this many ms).
        .arg("--timeout=5000")
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("chromium did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

/// The number in the element with `id` in a DOM dump (`<div ... id="completed">42</div>`).
fn number_in(dom: &str, id: &str) -> Option<u64> {
    let start = dom.find(&format!("id=\"{id}\">"))? + id.len() + 6;
    let digits: String = dom[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[test]
fn a_headless_browser_shows_workers_and_completed_tasks_live_under_the_dashboard_prefix() {
    let mut args = vec!["--dashboard-prefix", "/proxy/dask"];
    args.extend(FAST_HEARTBEATS);
    let cluster = Cluster::start(2, &args, None);
    let failed = run_verbose(&cluster, "map-noisy", &["n=4"]);
    assert_eq!(stdout(&failed).trim(), "2", "{}", stderr(&failed));
    // A job that keeps both workers busy for about 6 s while the browser looks.
    let job = cluster.spawn_run(guests::FANOUT, "map-spin", &["n=40", "ms=300"]);
    wait_until(Duration::from_secs(20), || cluster.busy_worker().is_some());
    let url = format!("http://127.0.0.1:{}/proxy/dask/", cluster.dashboard);

    // A screenshot to look at (kept under the test's target dir), taken first: the job runs.
    let png = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let _ = std::fs::remove_file(&png);
    let shot = headless(
        &url,
        &[
            "--window-size=1400,1100",
            "--hide-scrollbars",
            &format!("--screenshot={}", png.display()),
        ],
    );
    assert!(shot.status.success(), "chromium failed: {}", stderr(&shot));
    let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000,
        "a real picture"
    );
    eprintln!("dashboard screenshot: {}", png.display());

    // The DOM after at least one server-sent update, with both workers and completed tasks.
    let mut dom = String::new();
    // Chromium dumps the DOM at the page's load event, which races the first server-sent
    // event (it is sent at once, but a loaded machine can deliver it after `load`): retry.
    for _ in 0..20 {
        let out = headless(&url, &["--dump-dom"]);
        assert!(out.status.success(), "chromium failed: {}", stderr(&out));
        dom = stdout(&out);
        if number_in(&dom, "updates").unwrap_or(0) > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        number_in(&dom, "updates").unwrap_or(0) > 0,
        "no live update reached the page:\n{dom}"
    );
    assert_eq!(number_in(&dom, "workers-count"), Some(2), "{dom}");
    for worker in ["<td>w0</td>", "<td>w1</td>"] {
        assert!(dom.contains(worker), "{worker} missing:\n{dom}");
    }
    assert!(number_in(&dom, "completed").unwrap_or(0) > 0, "{dom}");
    assert_eq!(number_in(&dom, "erred"), Some(2), "{dom}");
    // The task graph's counts and each worker's data plane (no call here takes another's
    // result, and no worker was lost).
    assert_eq!(number_in(&dom, "waiting"), Some(0), "{dom}");
    assert_eq!(number_in(&dom, "recomputed"), Some(0), "{dom}");
    for column in ["<th>held</th>", "<th>spilled</th>", "<th>transfers</th>"] {
        assert!(dom.contains(column), "{column} missing:\n{dom}");
    }
    assert!(
        dom.contains("<td title=\"0 results on disk\">0 B</td>"),
        "each worker shows what it spilled:\n{dom}"
    );
    assert!(
        dom.contains("failed on purpose"),
        "the failures are listed:\n{dom}"
    );

    assert!(http_get(cluster.dashboard, "/proxy/dask/metrics").is_some());
    let out = finish(job);
    assert_eq!(stdout(&out).trim(), "40", "{}", stderr(&out));
}
