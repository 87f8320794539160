//! `wasmdask run --processes`: a scheduler and worker processes on loopback, started from this
//! very binary and stopped when the run ends.

use super::{Failure, SandboxArgs};
use std::process::{Child, Command, Stdio};

/// The child processes of a local cluster; killed on drop.
#[derive(Debug)]
pub struct LocalProcesses {
    pub address: String,
    pub token: String,
    children: Vec<Child>,
}

impl LocalProcesses {
    pub fn start(
        workers: usize,
        sandbox: &SandboxArgs,
        memory_limit: u64,
    ) -> Result<Self, Failure> {
        let exe = std::env::current_exe()
            .map_err(|e| Failure::host(format!("cannot find the wasmdask binary: {e}")))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| Failure::host(format!("no free loopback port: {e}")))?
            .port();
        let address = format!("tcp://127.0.0.1:{port}");
        let token = format!("{:032x}", rand_u128());
        let mut cluster = LocalProcesses {
            address: address.clone(),
            token: token.clone(),
            children: Vec::new(),
        };
        let spawn = |args: Vec<String>| {
            Command::new(&exe)
                .args(args)
                .env("WASMDASK_TOKEN", &token)
                .stdin(Stdio::null())
                .spawn()
                .map_err(|e| Failure::host(format!("cannot start a cluster process: {e}")))
        };
        cluster.children.push(spawn(vec![
            "scheduler".into(),
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "--dashboard-address".into(),
            "none".into(),
        ])?);
        for i in 0..workers {
            let mut args = vec![
                "worker".into(),
                address.clone(),
                "--name".into(),
                format!("local-{i}"),
                "--nthreads".into(),
                "1".into(),
                "--death-timeout".into(),
                "10s".into(),
            ];
            args.push(format!("--memory-limit={memory_limit}"));
            args.extend(sandbox.to_flags());
            cluster.children.push(spawn(args)?);
        }
        Ok(cluster)
    }
}

impl Drop for LocalProcesses {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A random value for the cluster's one-off token.
fn rand_u128() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let mut value = 0u128;
    for _ in 0..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(value);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        value = (value << 64) | u128::from(h.finish());
    }
    value
}
