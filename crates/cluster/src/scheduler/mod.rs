//! `wasmdask scheduler`: the central scheduler of a distributed cluster.
//!
//! Serves the gRPC protocol of `proto/wasmdask/cluster.proto` on the comm port (8786) and the
//! live dashboard, `/metrics`, `/health` and `/api/state` on the dashboard port (8787).
//! Shutdown is passed in (a future), so tests and the CLI decide when; on shutdown every worker
//! and client is told why.

mod counted;
mod dashboard;
mod events;
#[cfg(test)]
mod graph_tests;
mod http;
mod hub;
mod metrics;
mod service;
mod state;
mod telemetry;
#[cfg(test)]
mod tests;

pub(crate) use state::WorkerView;

use super::auth::CheckToken;
use super::proto::scheduler_server::SchedulerServer;
use counted::{CommBytes, Counted};
use events::Event;
use hub::Hub;
use parking_lot::Mutex;
use service::Shared;
use state::{Policy, State};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use telemetry::Telemetry;
use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;

/// Largest message accepted (components travel in one message).
pub(crate) const MAX_MESSAGE_BYTES: usize = 512 << 20;

/// Certificate files for TLS on the comm port.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
}

/// How a scheduler serves: its addresses, token, TLS and failure policy.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Where workers and clients connect (gRPC).
    pub comm: SocketAddr,
    /// Where the dashboard, `/metrics` and `/api/state` are served; `None` for nowhere.
    pub dashboard: Option<SocketAddr>,
    /// A path prefix the dashboard is also served under (behind a proxy).
    pub dashboard_prefix: String,
    /// The token workers and clients must present.
    pub token: Option<String>,
    /// TLS for the comm port.
    pub tls: Option<TlsFiles>,
    /// Worker deaths a task may cause before it fails as `lost`.
    pub allowed_failures: u32,
    /// A worker silent for this long is removed and its tasks rescheduled.
    pub worker_ttl: Duration,
    /// How often workers are asked to send a heartbeat.
    pub heartbeat: Duration,
}

/// The scheduler could not start or failed while serving.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS setup failed: {0}")]
    Tls(String),
    #[error(
        "the scheduler listens on {0}, beyond loopback, and needs a shared token: pass --token or \
         set WASMDASK_TOKEN (workers and clients need the same value)"
    )]
    TokenRequired(SocketAddr),
    #[error("the scheduler failed: {0}")]
    Serve(String),
}

/// A bound scheduler, ready to serve. Binding first lets callers learn the real ports.
#[derive(Debug)]
pub struct BoundScheduler {
    config: SchedulerConfig,
    comm: TcpListener,
    dashboard: Option<TcpListener>,
    shared: Shared,
}

impl BoundScheduler {
    /// Binds the comm and dashboard sockets, so a port in use fails before anything runs.
    pub async fn bind(config: SchedulerConfig) -> Result<Self, SchedulerError> {
        if config.token.is_none() && !config.comm.ip().is_loopback() {
            return Err(SchedulerError::TokenRequired(config.comm));
        }
        let comm = TcpListener::bind(config.comm)
            .await
            .map_err(|source| SchedulerError::Bind {
                addr: config.comm,
                source,
            })?;
        let dashboard = match config.dashboard {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| SchedulerError::Bind { addr, source })?,
            ),
            None => None,
        };
        let state = State::new(Policy {
            allowed_failures: config.allowed_failures,
            worker_ttl: config.worker_ttl,
            heartbeat: config.heartbeat,
        });
        let shared = Shared {
            hub: Arc::new(Mutex::new(Hub::new(state))),
            components: Arc::new(Mutex::new(HashMap::new())),
            telemetry: Arc::new(Mutex::new(Telemetry::default())),
            bytes: Arc::new(CommBytes::default()),
        };
        Ok(BoundScheduler {
            config,
            comm,
            dashboard,
            shared,
        })
    }

    /// The bound comm address (the real port when 0 was asked for).
    pub fn comm_addr(&self) -> SocketAddr {
        self.comm.local_addr().unwrap_or(self.config.comm)
    }

    /// The bound dashboard address, if any.
    pub fn dashboard_addr(&self) -> Option<SocketAddr> {
        self.dashboard.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` resolves, then tells every connection `reason` and stops.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = String> + Send + 'static,
    ) -> Result<(), SchedulerError> {
        let BoundScheduler {
            config,
            comm,
            dashboard,
            shared,
        } = self;
        tracing::info!(comm = %comm.local_addr().map(|a| a.to_string()).unwrap_or_default(), "scheduler listening");

        if let Some(listener) = dashboard {
            let router = http::router(shared.clone(), &config.dashboard_prefix);
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    tracing::error!("dashboard server failed: {e}");
                }
            });
        }

        let reaper = shared.clone();
        let ttl = config.worker_ttl;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval((ttl / 4).max(Duration::from_millis(100)));
            loop {
                tick.tick().await;
                reaper.apply(Event::Tick);
            }
        });

        let grpc = SchedulerServer::new(shared.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let grpc = tonic::service::interceptor::InterceptedService::new(
            grpc,
            CheckToken(config.token.clone()),
        );
        let mut builder = tonic::transport::Server::builder()
            .initial_stream_window_size(crate::chunk::STREAM_WINDOW_BYTES)
            .initial_connection_window_size(crate::chunk::CONNECTION_WINDOW_BYTES)
            .http2_keepalive_interval(Some(Duration::from_secs(10)))
            .http2_keepalive_timeout(Some(Duration::from_secs(20)));
        if let Some(tls) = &config.tls {
            let cert = std::fs::read(&tls.cert)
                .map_err(|e| SchedulerError::Tls(format!("{}: {e}", tls.cert.display())))?;
            let key = std::fs::read(&tls.key)
                .map_err(|e| SchedulerError::Tls(format!("{}: {e}", tls.key.display())))?;
            builder = builder
                .tls_config(
                    tonic::transport::ServerTlsConfig::new()
                        .identity(tonic::transport::Identity::from_pem(cert, key)),
                )
                .map_err(|e| SchedulerError::Tls(e.to_string()))?;
        }
        let notify = shared.clone();
        let stop = async move {
            let reason = shutdown.await;
            tracing::info!("scheduler shutting down: {reason}");
            notify.apply(Event::Shutdown { reason });
            // Give the goodbye messages a moment to leave: until every connection has ended
            // (the peers heard it), so a cluster stopped after every run is not slowed by it.
            let deadline = Instant::now() + Duration::from_millis(200);
            while notify.hub.lock().connections() > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        let bytes = shared.bytes.clone();
        let incoming = TcpListenerStream::new(comm)
            .map(move |accepted| accepted.map(|stream| Counted::new(stream, bytes.clone())));
        builder
            .add_service(grpc)
            .serve_with_incoming_shutdown(incoming, stop)
            .await
            .map_err(|e| SchedulerError::Serve(e.to_string()))?;
        Ok(())
    }
}
