//! The limit and grant flags shared by every command that executes tasks.

use super::AuthArgs;
use super::Failure;
use super::units::{parse_bytes, parse_duration};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;
use wasmdask_sandbox::{DirGrant, Grants, Limits, SandboxConfig, default_cache_dir};

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Sandbox limits and grants (deny by default)")]
pub struct SandboxArgs {
    /// Wall-clock timeout of each execution, including waits for its subtasks.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Maximum wasm stack of each execution.
    #[arg(long, value_name = "SIZE", default_value = "1MiB", value_parser = parse_bytes)]
    pub max_stack: u64,

    /// Bytes of guest stdout (and of stderr) kept per execution; writing more fails the task.
    #[arg(long, value_name = "SIZE", default_value = "1MiB", value_parser = parse_bytes)]
    pub output_limit: u64,

    /// Pass the host environment variable NAME to the guest (repeatable).
    #[arg(long = "allow-env", value_name = "NAME")]
    pub allow_env: Vec<String>,

    /// Mount a host directory into the guest: HOST::GUEST, or HOST::GUEST::ro for read-only
    /// (repeatable).
    #[arg(long = "dir", value_name = "HOST::GUEST[::ro]")]
    pub dirs: Vec<String>,

    /// Do not read or write the compiled-component cache.
    #[arg(long)]
    pub no_cache: bool,

    /// Executions that may hold a pooled wasm instance at once [default: 128; for `worker`,
    /// 4 × nthreads, at least 8]. The pool is reserved up front; an execution waiting for its
    /// subtasks keeps its instance, and when all are held that way, further executions run on
    /// instances made beyond the pool.
    #[arg(long, value_name = "N")]
    pub max_instances: Option<usize>,
}

/// `--memory-limit` of the commands that run a task themselves (`run`, `execute`). A worker's
/// differs: it is the whole worker's budget, in Dask's syntax.
#[derive(Debug, Clone, Args)]
pub struct TaskMemory {
    /// Linear-memory cap of each execution (e.g. 512MiB, 4Gi, 2e9).
    #[arg(long = "memory-limit", value_name = "SIZE", default_value = "1GiB",
          value_parser = parse_bytes, help_heading = "Sandbox limits and grants (deny by default)")]
    pub bytes: u64,
}

/// What every command that runs a task itself (`run`, `execute`) takes: the memory cap, the
/// sandbox's limits and grants, and the scheduler's token.
#[derive(Debug, Clone, Args)]
pub struct ExecutionArgs {
    #[command(flatten)]
    pub memory: TaskMemory,

    #[command(flatten)]
    pub auth: AuthArgs,

    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

impl SandboxArgs {
    /// The same limits and grants as flags, for child worker processes.
    pub fn to_flags(&self) -> Vec<String> {
        let mut flags = vec![
            format!("--timeout={}ms", self.timeout.as_millis()),
            format!("--max-stack={}", self.max_stack),
            format!("--output-limit={}", self.output_limit),
        ];
        flags.extend(self.allow_env.iter().map(|n| format!("--allow-env={n}")));
        flags.extend(self.dirs.iter().map(|d| format!("--dir={d}")));
        if self.no_cache {
            flags.push("--no-cache".to_string());
        }
        if let Some(n) = self.max_instances {
            flags.push(format!("--max-instances={n}"));
        }
        flags
    }

    /// Validates the flags into a sandbox configuration with a per-execution memory cap.
    pub fn to_config(&self, memory_limit: u64) -> Result<SandboxConfig, Failure> {
        const MAX_STACK: u64 = 64 << 20;
        if self.max_stack < 64 << 10 || self.max_stack > MAX_STACK {
            return Err(Failure::usage(
                "--max-stack must be between 64KiB and 64MiB".to_string(),
            ));
        }
        if memory_limit < 64 << 10 {
            return Err(Failure::usage(
                "--memory-limit must be at least 64KiB (one wasm page)",
            ));
        }
        if self.max_instances == Some(0) {
            return Err(Failure::usage("--max-instances must be at least 1"));
        }
        let mut grants = Grants::default();
        for name in &self.allow_env {
            match std::env::var(name) {
                Ok(value) => grants.env.push((name.clone(), value)),
                Err(_) => {
                    return Err(Failure::usage(format!(
                        "--allow-env {name}: the variable is not set in this environment"
                    )));
                }
            }
        }
        for spec in &self.dirs {
            grants.dirs.push(parse_dir(spec)?);
        }
        let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        let defaults = SandboxConfig::default();
        Ok(SandboxConfig {
            limits: Limits {
                timeout: self.timeout,
                memory_bytes: to_usize(memory_limit),
                max_stack_bytes: to_usize(self.max_stack),
                output_bytes: to_usize(self.output_limit),
                ..Limits::default()
            },
            grants,
            cache_dir: (!self.no_cache).then(default_cache_dir),
            max_instances: self.max_instances.unwrap_or(defaults.max_instances),
            ..defaults
        })
    }
}

fn parse_dir(spec: &str) -> Result<DirGrant, Failure> {
    let parts: Vec<&str> = spec.split("::").collect();
    let (host, guest, read_only) = match parts.as_slice() {
        [host, guest] => (*host, *guest, false),
        [host, guest, "ro"] => (*host, *guest, true),
        _ => {
            return Err(Failure::usage(format!(
                "--dir {spec}: write HOST::GUEST or HOST::GUEST::ro, e.g. --dir ./data::/data::ro"
            )));
        }
    };
    let host = PathBuf::from(host);
    if !host.is_dir() {
        return Err(Failure::usage(format!(
            "--dir {spec}: {} is not a directory",
            host.display()
        )));
    }
    Ok(DirGrant {
        host,
        guest: guest.to_string(),
        read_only,
    })
}
