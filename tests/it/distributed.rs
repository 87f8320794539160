//! The distributed cluster, black-box: real scheduler and worker processes on loopback, killed
//! and stopped for real.

use crate::common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_wasmdask");

/// A child process killed (and reaped) on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A scheduler and workers on loopback ports (shared with the other test modules).
pub(crate) struct Cluster {
    port: u16,
    pub(crate) dashboard: u16,
    token: Option<&'static str>,
    /// Set for every worker on top of the test's environment.
    env: Vec<(String, String)>,
    scheduler: Proc,
    workers: Vec<Proc>,
}

impl Cluster {
    pub(crate) fn start(
        workers: usize,
        scheduler_args: &[&str],
        token: Option<&'static str>,
    ) -> Cluster {
        Cluster::start_with_env(workers, scheduler_args, token, &[])
    }

    /// [`start`](Self::start) with `env` set for every worker (a store's settings, say).
    pub(crate) fn start_with_env(
        workers: usize,
        scheduler_args: &[&str],
        token: Option<&'static str>,
        env: &[(&str, &str)],
    ) -> Cluster {
        let (port, dashboard) = (free_port(), free_port());
        let scheduler = spawn_scheduler(port, dashboard, scheduler_args, token);
        let mut cluster = Cluster {
            port,
            dashboard,
            token,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            scheduler,
            workers: Vec::new(),
        };
        wait_until(Duration::from_secs(10), || cluster.state().is_some());
        for i in 0..workers {
            cluster.add_worker(&format!("w{i}"));
        }
        wait_until(Duration::from_secs(10), || {
            cluster.worker_count() == workers
        });
        cluster
    }

    pub(crate) fn address(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    fn add_worker(&mut self, name: &str) {
        let mut command = Command::new(BIN);
        command
            .args(["worker", &self.address(), "--name", name, "--nthreads", "1"])
            .args(["--death-timeout", "5s"])
            .env("WASMDASK_CACHE_DIR", cache_dir())
            .env_remove("WASMDASK_TOKEN")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(token) = self.token {
            command.env("WASMDASK_TOKEN", token);
        }
        self.workers.push(Proc(command.spawn().unwrap()));
    }

    pub(crate) fn state(&self) -> Option<Value> {
        http_get(self.dashboard, "/api/state").and_then(|body| serde_json::from_str(&body).ok())
    }

    fn worker_count(&self) -> usize {
        self.state()
            .map_or(0, |s| s["workers"].as_array().map_or(0, Vec::len))
    }

    /// The name of a worker currently processing something.
    pub(crate) fn busy_worker(&self) -> Option<String> {
        let state = self.state()?;
        state["workers"]
            .as_array()?
            .iter()
            .find(|w| w["processing"].as_u64().unwrap_or(0) > 0)
            .map(|w| w["name"].as_str().unwrap().to_string())
    }

    pub(crate) fn kill_worker(&mut self, name: &str) {
        let index: usize = name.trim_start_matches('w').parse().unwrap();
        let worker = &mut self.workers[index].0;
        worker.kill().unwrap(); // SIGKILL
        worker.wait().unwrap();
    }

    /// `wasmdask run` against this cluster, in the background.
    pub(crate) fn spawn_run(&self, component: &str, function: &str, args: &[&str]) -> Child {
        let mut command = Command::new(BIN);
        command
            .args([
                "run",
                component,
                "-f",
                function,
                "--scheduler",
                &self.address(),
            ])
            .arg("--")
            .args(args)
            .env("WASMDASK_CACHE_DIR", cache_dir())
            .env_remove("WASMDASK_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(token) = self.token {
            command.env("WASMDASK_TOKEN", token);
        }
        command.spawn().unwrap()
    }
}

fn spawn_scheduler(port: u16, dashboard: u16, args: &[&str], token: Option<&str>) -> Proc {
    let mut command = Command::new(BIN);
    command
        .args([
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .args(["--dashboard-address", &format!("127.0.0.1:{dashboard}")])
        .args(args)
        .env_remove("WASMDASK_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(token) = token {
        command.env("WASMDASK_TOKEN", token);
    }
    Proc(command.spawn().unwrap())
}

pub(crate) fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

pub(crate) fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < limit,
            "condition not met within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn finish(child: Child) -> Output {
    child.wait_with_output().unwrap()
}

#[test]
fn a_remote_cluster_gives_the_embedded_answer() {
    let cluster = Cluster::start(2, &[], None);
    let run = cluster.spawn_run(guests::EXAMPLE_RUST, "sum-of-squares", &["n=2000"]);
    let out = finish(run);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "2668667000");
    let nested = finish(cluster.spawn_run(guests::FANOUT, "nested", &["groups=6", "per-group=10"]));
    assert_eq!(stdout(&nested).trim(), "73810", "{}", stderr(&nested));
    let state = cluster.state().unwrap();
    assert_eq!(state["totals"]["completed"], 2000 + 6 + 60);
}

#[test]
fn run_processes_starts_its_own_cluster() {
    let out = wasmdask(&[
        "run",
        guests::EXAMPLE_RUST,
        "-f",
        "sum-of-squares",
        "--processes",
        "--workers",
        "2",
        "--",
        "n=500",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "41791750");
}

#[test]
fn a_killed_worker_s_tasks_are_rescheduled() {
    let mut cluster = Cluster::start(3, &[], None);
    let run = cluster.spawn_run(guests::FANOUT, "map-spin", &["n=6", "ms=800"]);
    let mut victim = None;
    wait_until(Duration::from_secs(20), || {
        victim = cluster.busy_worker();
        victim.is_some()
    });
    cluster.kill_worker(victim.as_deref().unwrap());
    let out = finish(run);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "6",
        "every task finished despite the kill"
    );
    assert_eq!(cluster.state().unwrap()["totals"]["lost_workers"], 1);
}

#[test]
fn a_task_that_keeps_killing_workers_fails_as_lost_and_the_rest_continue() {
    let mut cluster = Cluster::start(2, &["--allowed-failures", "1"], None);
    let poison = cluster.spawn_run(guests::FANOUT, "map-spin", &["n=1", "ms=60000"]);
    for round in 0..2 {
        let mut victim = None;
        wait_until(Duration::from_secs(20), || {
            victim = cluster.busy_worker();
            victim.is_some()
        });
        cluster.kill_worker(victim.as_deref().unwrap());
        cluster.add_worker(&format!("w{}", 2 + round));
    }
    let out = finish(poison);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("spin-for") && err.contains("allowed-failures=1"),
        "{err}"
    );
    assert!(err.contains("lost"), "{err}");
    // The cluster still serves other work.
    let ok = finish(cluster.spawn_run(guests::EXAMPLE_RUST, "sum-of-squares", &["n=100"]));
    assert_eq!(stdout(&ok).trim(), "338350", "{}", stderr(&ok));
}

#[test]
fn a_silent_worker_is_removed() {
    let cluster = Cluster::start(1, &["--worker-ttl", "1s"], None);
    let pid = cluster.workers[0].0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    wait_until(Duration::from_secs(10), || cluster.worker_count() == 0);
    let _ = Command::new("kill").args(["-CONT", &pid]).status();
}

#[test]
fn sigterm_shuts_the_scheduler_down_and_tells_clients_why() {
    let mut cluster = Cluster::start(1, &[], None);
    let run = cluster.spawn_run(guests::FANOUT, "map-spin", &["n=2", "ms=20000"]);
    wait_until(Duration::from_secs(20), || cluster.busy_worker().is_some());
    let pid = cluster.scheduler.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = cluster.scheduler.0.wait().unwrap();
    assert!(status.success(), "the scheduler exits cleanly on SIGTERM");
    let out = finish(run);
    assert_ne!(out.status.code(), Some(0));
    assert_stderr_has(&out, "SIGTERM");
    let worker = cluster.workers[0].0.wait().unwrap();
    assert!(worker.success(), "workers exit cleanly when told");
}

#[test]
fn tokens_are_required_and_checked() {
    let cluster = Cluster::start(1, &[], Some("sesame"));
    let ok = finish(cluster.spawn_run(guests::EXAMPLE_RUST, "square", &["x=5"]));
    assert_eq!(stdout(&ok).trim(), "25", "{}", stderr(&ok));

    let wrong = Command::new(BIN)
        .args([
            "run",
            guests::FANOUT,
            "-f",
            "sum-of-squares",
            "--scheduler",
            &cluster.address(),
        ])
        .args(["--token", "open", "--", "n=3"])
        .output()
        .unwrap();
    assert_ne!(wrong.status.code(), Some(0));
    assert_stderr_has(&wrong, "wrong token");

    let anonymous = Command::new(BIN)
        .args(["worker", &cluster.address(), "--death-timeout", "1s"])
        .env_remove("WASMDASK_TOKEN")
        .output()
        .unwrap();
    assert_ne!(anonymous.status.code(), Some(0));
    assert_stderr_has(&anonymous, "requires a token");

    let exposed = Command::new(BIN)
        .args([
            "scheduler",
            "--host",
            "0.0.0.0",
            "--port",
            &free_port().to_string(),
        ])
        .env_remove("WASMDASK_TOKEN")
        .output()
        .unwrap();
    assert_eq!(exposed.status.code(), Some(4));
    assert_stderr_has(&exposed, "WASMDASK_TOKEN");
}

#[test]
fn malformed_bytes_do_not_take_the_scheduler_down() {
    let cluster = Cluster::start(1, &[], None);
    for junk in [
        &b"\x00\xff garbage \r\n\r\n"[..],
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\xff\xff\xff\xff\xff\xff",
    ] {
        let mut stream = TcpStream::connect(("127.0.0.1", cluster.port)).unwrap();
        let _ = stream.write_all(junk);
        let _ = stream.write_all(&[0u8; 70_000]);
    }
    let ok = finish(cluster.spawn_run(guests::EXAMPLE_RUST, "sum-of-squares", &["n=10"]));
    assert_eq!(stdout(&ok).trim(), "385", "{}", stderr(&ok));
}

#[test]
fn dask_entry_point_names_take_the_operator_s_arguments() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["dask-scheduler", "dask-worker", "dask"] {
        std::os::unix::fs::symlink(BIN, dir.path().join(name)).unwrap();
    }
    let (port, dashboard) = (free_port(), free_port());
    let bin = |name: &str| dir.path().join(name);
    let scheduler = Proc(
        Command::new(bin("dask-scheduler"))
            .args([
                "--port",
                &port.to_string(),
                "--dashboard-address",
                &format!(":{dashboard}"),
            ])
            .env("WASMDASK_TOKEN", "k8s")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let address = format!("tcp://127.0.0.1:{port}");
    let worker = |name: &str, args: &[&str]| {
        Proc(
            Command::new(bin(name))
                .args(args)
                .env("WASMDASK_TOKEN", "k8s")
                .env("DASK_SCHEDULER_ADDRESS", &address)
                .env("WASMDASK_CACHE_DIR", cache_dir())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    // v1 (Flyte backend): dask-worker --name $(DASK_WORKER_NAME) --nthreads 4 --memory-limit 16Gi
    let _v1 = worker(
        "dask-worker",
        &[
            "--name",
            "job-default-worker-0a",
            "--nthreads",
            "4",
            "--memory-limit",
            "16Gi",
            "--no-nanny",
        ],
    );
    // v2: dask worker --name ... --nthreads ... --memory-limit ...
    let _v2 = worker(
        "dask",
        &[
            "worker",
            "--name",
            "job-default-worker-0b",
            "--nthreads",
            "1",
            "--memory-limit",
            "2G",
        ],
    );
    wait_until(Duration::from_secs(15), || {
        http_get(dashboard, "/api/state")
            .and_then(|b| serde_json::from_str::<Value>(&b).ok())
            .is_some_and(|s| s["workers"].as_array().map_or(0, Vec::len) == 2)
    });
    let state: Value = serde_json::from_str(&http_get(dashboard, "/api/state").unwrap()).unwrap();
    let workers = state["workers"].as_array().unwrap();
    let v1 = workers
        .iter()
        .find(|w| w["name"] == "job-default-worker-0a")
        .unwrap();
    assert_eq!(v1["nthreads"], 4);
    assert_eq!(v1["memory_limit"], 16u64 << 30);
    let out = Command::new(BIN)
        .args([
            "run",
            guests::EXAMPLE_RUST,
            "-f",
            "sum-of-squares",
            "--scheduler",
            &address,
            "--",
            "n=30",
        ])
        .env("WASMDASK_TOKEN", "k8s")
        .output()
        .unwrap();
    assert_eq!(stdout(&out).trim(), "9455", "{}", stderr(&out));
    drop(scheduler);
    assert!(Path::new(&dir.path().join("dask")).exists());
}

#[test]
fn tls_encrypts_the_comm_port() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let (cert_path, key_path) = (cert_path.to_str().unwrap(), key_path.to_str().unwrap());
    let (port, dashboard) = (free_port(), free_port());
    let _scheduler = spawn_scheduler(
        port,
        dashboard,
        &["--tls-cert", cert_path, "--tls-key", key_path],
        None,
    );
    wait_until(Duration::from_secs(10), || {
        http_get(dashboard, "/health").is_some()
    });
    let address = format!("tls://localhost:{port}");
    let _worker = Proc(
        Command::new(BIN)
            .args([
                "worker",
                &address,
                "--tls-ca",
                cert_path,
                "--nthreads",
                "1",
                "--death-timeout",
                "5s",
            ])
            .env("WASMDASK_CACHE_DIR", cache_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let out = Command::new(BIN)
        .args([
            "run",
            guests::EXAMPLE_RUST,
            "-f",
            "sum-of-squares",
            "--scheduler",
            &address,
        ])
        .args(["--tls-ca", cert_path, "--", "n=20"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out).trim(), "2870", "{}", stderr(&out));
    // A plaintext client cannot talk to it.
    let plain = Command::new(BIN)
        .args([
            "run",
            guests::EXAMPLE_RUST,
            "-f",
            "sum-of-squares",
            "--scheduler",
            &format!("tcp://localhost:{port}"),
            "--",
            "n=2",
        ])
        .output()
        .unwrap();
    assert_ne!(plain.status.code(), Some(0));
}

#[test]
fn workers_reconnect_after_a_scheduler_restart_and_give_up_after_the_death_timeout() {
    let mut cluster = Cluster::start(1, &[], None);
    cluster.scheduler.0.kill().unwrap();
    cluster.scheduler.0.wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    cluster.scheduler = spawn_scheduler(cluster.port, cluster.dashboard, &[], None);
    wait_until(Duration::from_secs(15), || cluster.worker_count() == 1);
    let ok = finish(cluster.spawn_run(guests::EXAMPLE_RUST, "sum-of-squares", &["n=50"]));
    assert_eq!(stdout(&ok).trim(), "42925", "{}", stderr(&ok));

    // With no scheduler for longer than --death-timeout (5s here), the worker exits non-zero.
    cluster.scheduler.0.kill().unwrap();
    cluster.scheduler.0.wait().unwrap();
    let started = Instant::now();
    let status = cluster.workers[0].0.wait().unwrap();
    assert!(
        !status.success(),
        "a worker that lost its scheduler for good exits non-zero"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}
