//! `wasmdask scheduler` (also `dask-scheduler`): the central scheduler.

use super::Failure;
use super::units::parse_duration;
use clap::Args;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;
use wasmdask_cluster::address::{DASHBOARD_PORT, SCHEDULER_PORT, TOKEN_ENV};
use wasmdask_cluster::{BoundScheduler, SchedulerConfig, TlsFiles};

#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Interface to listen on. Anything beyond loopback requires --token.
    #[arg(long, default_value = "0.0.0.0")]
    pub host: String,

    /// Port of the scheduler's comm protocol (gRPC).
    #[arg(long, default_value_t = SCHEDULER_PORT)]
    pub port: u16,

    /// Address of the dashboard (live page, /metrics, /health, /api/state): `:8787`,
    /// `HOST:PORT`, or `none`.
    #[arg(long, default_value_t = format!(":{DASHBOARD_PORT}"))]
    pub dashboard_address: String,

    /// Serve the dashboard under this path prefix too (behind a proxy).
    #[arg(long, default_value = "")]
    pub dashboard_prefix: String,

    /// Shared token that workers and clients must present.
    #[arg(long, env = TOKEN_ENV, hide_env_values = true)]
    pub token: Option<String>,

    /// TLS certificate (PEM) for the comm port; with --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// TLS private key (PEM) for the comm port; with --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Accepted for symmetry with workers; the scheduler does not verify clients by certificate.
    #[arg(long, value_name = "FILE", hide = true)]
    pub tls_ca: Option<PathBuf>,

    /// Worker deaths a task may cause before it fails with `lost` (Dask's default: 3).
    #[arg(long, default_value_t = 3)]
    pub allowed_failures: u32,

    /// Remove a worker that has not sent a heartbeat for this long.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub worker_ttl: Duration,
}

impl SchedulerArgs {
    pub fn to_config(&self) -> Result<SchedulerConfig, Failure> {
        let comm = resolve(&self.host, self.port)?;
        let dashboard = match self.dashboard_address.trim() {
            "" | "none" | "off" => None,
            text => {
                let (host, port) = text.rsplit_once(':').ok_or_else(|| {
                    Failure::usage(format!(
                        "--dashboard-address {text}: write :PORT or HOST:PORT"
                    ))
                })?;
                let port: u16 = port
                    .parse()
                    .map_err(|_| Failure::usage(format!("--dashboard-address {text}: bad port")))?;
                Some(resolve(
                    if host.is_empty() { &self.host } else { host },
                    port,
                )?)
            }
        };
        Ok(SchedulerConfig {
            comm,
            dashboard,
            dashboard_prefix: self.dashboard_prefix.clone(),
            token: self.token.clone().filter(|t| !t.is_empty()),
            tls: self
                .tls_cert
                .clone()
                .zip(self.tls_key.clone())
                .map(|(cert, key)| TlsFiles { cert, key }),
            allowed_failures: self.allowed_failures,
            worker_ttl: self.worker_ttl,
            heartbeat: (self.worker_ttl / 10)
                .clamp(Duration::from_millis(100), Duration::from_secs(2)),
        })
    }
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr, Failure> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| Failure::usage(format!("cannot resolve the address {host}:{port}")))
}

pub(super) fn scheduler(args: SchedulerArgs) -> Result<(), Failure> {
    let config = args.to_config()?;
    let runtime = super::runtime()?;
    runtime.block_on(async move {
        let bound = BoundScheduler::bind(config)
            .await
            .map_err(|e| Failure::host(e.to_string()))?;
        // Logged, not printed: with `--log-format json` every line is a JSON object.
        tracing::info!("wasmdask scheduler at tcp://{}", bound.comm_addr());
        if let Some(dashboard) = bound.dashboard_addr() {
            tracing::info!("dashboard, /metrics and /health at http://{dashboard}");
        }
        bound
            .serve(super::termination())
            .await
            .map_err(|e| Failure::host(e.to_string()))
    })
}
