//! Talking to a remote scheduler: connecting (token, optional TLS), the client session used by
//! `wasmdask run --scheduler`, and the [`RemoteCluster`] fan-out client shared with workers.

use super::Progress;
use super::address::{self, AddressError, SchedulerAddress};
use super::auth::SendToken;
use super::chunk::{self, Joiners};
use super::guest_output::FailedSubtasks;
use super::proto::{self, scheduler_client::SchedulerClient};
use super::scheduler::MAX_MESSAGE_BYTES;
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use wasmdask_sandbox::LoadedComponent;
use wasmdask_sandbox::{Call, FanOut, Pending};
use wasmdask_sandbox::{ErrorKind, TaskError};

/// A connected gRPC client carrying the token.
pub(crate) type Client = SchedulerClient<InterceptedService<Channel, SendToken>>;

/// Where a scheduler is and how to authenticate to it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The scheduler's address; `tls` is set when TLS is asked for in any way.
    pub address: SchedulerAddress,
    /// CA certificate (PEM) to trust for TLS; the system roots are not consulted.
    pub tls_ca: Option<PathBuf>,
    /// The cluster's shared token, sent with every request.
    pub token: Option<String>,
}

impl Target {
    /// The scheduler at `address` (any form [`address::parse`] takes). A CA certificate asks
    /// for TLS even when the address says `tcp://`; an empty token is no token.
    ///
    /// # Errors
    ///
    /// When `address` is not a scheduler address.
    pub fn new(
        address: &str,
        token: Option<String>,
        tls_ca: Option<PathBuf>,
    ) -> Result<Self, AddressError> {
        let mut address = address::parse(address)?;
        address.tls |= tls_ca.is_some();
        Ok(Target {
            address,
            tls_ca,
            token: token.filter(|t| !t.is_empty()),
        })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.address.fmt(f)
    }
}

/// Could not reach or talk to the scheduler.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("cannot connect to the scheduler at {target}: {reason}")]
    /// No connection (refused, unreachable, TLS failure).
    Connect {
        /// The scheduler's address.
        target: String,
        /// Why, with the cause chain.
        reason: String,
    },
    #[error("the scheduler at {target} refused the request: {message}")]
    /// The scheduler answered with an error (a wrong token, most often).
    Refused {
        /// The scheduler's address.
        target: String,
        /// The scheduler's words.
        message: String,
    },
}

pub(crate) async fn connect(target: &Target) -> Result<Client, RemoteError> {
    let fail = |reason: String| RemoteError::Connect {
        target: target.to_string(),
        reason,
    };
    let mut endpoint = Endpoint::from_shared(target.address.endpoint())
        .map_err(|e| fail(e.to_string()))?
        .connect_timeout(std::time::Duration::from_secs(5))
        .http2_keep_alive_interval(std::time::Duration::from_secs(10))
        .keep_alive_timeout(std::time::Duration::from_secs(20));
    if target.address.tls {
        let mut tls = ClientTlsConfig::new().domain_name(target.address.host.clone());
        if let Some(ca) = &target.tls_ca {
            let pem = std::fs::read(ca).map_err(|e| fail(format!("{}: {e}", ca.display())))?;
            tls = tls.ca_certificate(Certificate::from_pem(pem));
        }
        endpoint = endpoint.tls_config(tls).map_err(|e| fail(e.to_string()))?;
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| fail(format!("{e} ({})", source_chain(&e))))?;
    Ok(
        SchedulerClient::with_interceptor(channel, SendToken(target.token.clone()))
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES),
    )
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.join(": ")
}

/// Calls in flight to a scheduler, by key (with their function's name), completed as results
/// arrive.
#[derive(Debug, Default)]
pub(crate) struct Outstanding {
    pending: Mutex<HashMap<u64, (Pending, Arc<str>)>>,
    progress: Arc<Progress>,
    failures: Arc<FailedSubtasks>,
    next_key: AtomicU64,
    closed: Mutex<Option<TaskError>>,
}

impl Outstanding {
    fn register(&self, function: Arc<str>) -> (u64, Pending) {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed) + 1;
        let pending = Pending::new();
        self.pending.lock().insert(key, (pending.clone(), function));
        (key, pending)
    }

    pub(crate) fn complete(&self, results: Vec<proto::Result>) {
        let mut map = self.pending.lock();
        for mut result in results {
            if let Some((pending, function)) = map.remove(&result.key) {
                let output = result.output.take();
                let outcome = result.into_outcome();
                match &outcome {
                    Ok(_) => self.progress.done.fetch_add(1, Ordering::Relaxed),
                    Err(error) => {
                        let output = output.map(Into::into).unwrap_or_default();
                        self.failures.record(&function, error, output);
                        self.progress.failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
                pending.complete(outcome);
            }
        }
    }

    /// The connection is gone: fail everything in flight and every later submit.
    pub(crate) fn close(&self, error: TaskError) {
        *self.closed.lock() = Some(error.clone());
        let drained: Vec<Pending> = self.pending.lock().drain().map(|(_, (p, _))| p).collect();
        for pending in drained {
            pending.complete(Err(error.clone()));
        }
    }

    fn closed(&self) -> Option<TaskError> {
        self.closed.lock().clone()
    }
}

/// Sends a batch of calls over whatever stream the owner holds.
pub(crate) type SendCalls = Box<dyn Fn(Vec<proto::Call>) -> bool + Send + Sync>;

/// Fan-out to a remote scheduler.
pub struct RemoteCluster {
    outstanding: Arc<Outstanding>,
    send: SendCalls,
    /// Uploads components the scheduler does not have yet (clients only; a worker's components
    /// came from the scheduler).
    uploader: Option<(Client, Handle)>,
    uploaded: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for RemoteCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteCluster").finish_non_exhaustive()
    }
}

impl RemoteCluster {
    pub(crate) fn new(
        outstanding: Arc<Outstanding>,
        send: SendCalls,
        uploader: Option<(Client, Handle)>,
    ) -> Self {
        RemoteCluster {
            outstanding,
            send,
            uploader,
            uploaded: Mutex::new(HashSet::new()),
        }
    }

    /// Opens a client session (`wasmdask run --scheduler`). Must be called inside `runtime`.
    pub async fn session(target: &Target) -> Result<Arc<RemoteCluster>, RemoteError> {
        let mut client = connect(target).await?;
        let (tx, rx) = mpsc::unbounded_channel::<proto::ClientMessage>();
        let mut inbound = client
            .session(UnboundedReceiverStream::new(rx))
            .await
            .map_err(|status| RemoteError::Refused {
                target: target.to_string(),
                message: status.message().to_string(),
            })?
            .into_inner();
        let outstanding = Arc::new(Outstanding::default());
        let reader = outstanding.clone();
        tokio::spawn(async move {
            let mut joiners = Joiners::default();
            let reason = loop {
                match inbound.message().await {
                    Ok(Some(event)) => match event.ev {
                        Some(proto::client_event::Ev::Results(r)) => {
                            reader.complete(joiners.results(r.results));
                        }
                        Some(proto::client_event::Ev::Shutdown(s)) => {
                            break format!("the scheduler shut down: {}", s.reason);
                        }
                        None => {}
                    },
                    Ok(None) => break "the scheduler closed the connection".to_string(),
                    Err(status) => {
                        break format!("the scheduler connection failed: {}", status.message());
                    }
                }
            };
            // Calls still in flight fail with the reason; a finished run just drops the session.
            tracing::debug!("{reason}");
            reader.close(TaskError::new(ErrorKind::Lost, reason));
        });
        let send: SendCalls = Box::new(move |calls| {
            tx.send(proto::ClientMessage {
                msg: Some(proto::client_message::Msg::Submit(proto::Calls { calls })),
            })
            .is_ok()
        });
        Ok(Arc::new(RemoteCluster::new(
            outstanding,
            send,
            Some((client, Handle::current())),
        )))
    }

    /// Counters of the calls this client submitted and got back.
    pub fn progress(&self) -> Arc<Progress> {
        self.outstanding.progress.clone()
    }

    /// This client's calls that failed, with what they wrote (sent along by the workers).
    pub fn failures(&self) -> Arc<FailedSubtasks> {
        self.outstanding.failures.clone()
    }

    fn ensure_uploaded(&self, component: &LoadedComponent) -> Result<(), TaskError> {
        let Some((client, handle)) = &self.uploader else {
            return Ok(());
        };
        if self.uploaded.lock().contains(&component.digest) {
            return Ok(());
        }
        let mut client = client.clone();
        let digest = component.digest.clone();
        let wasm = component.bytes.to_vec();
        handle
            .block_on(async move {
                let present = client
                    .has_component(proto::ComponentRef {
                        digest: digest.clone(),
                    })
                    .await?
                    .into_inner()
                    .present;
                if !present {
                    client.put_component(proto::Component { wasm }).await?;
                }
                Ok::<_, tonic::Status>(())
            })
            .map_err(|status| {
                TaskError::new(
                    ErrorKind::Lost,
                    format!(
                        "cannot upload the component to the scheduler: {}",
                        status.message()
                    ),
                )
            })?;
        self.uploaded.lock().insert(component.digest.clone());
        Ok(())
    }
}

impl FanOut for RemoteCluster {
    fn submit(&self, calls: Vec<Call>) -> Result<Vec<Pending>, TaskError> {
        if let Some(error) = self.outstanding.closed() {
            return Err(error);
        }
        let mut pending = Vec::with_capacity(calls.len());
        let mut wire = Vec::with_capacity(calls.len());
        // A batch usually calls one function: share its name instead of copying it per call.
        let mut name: Option<Arc<str>> = None;
        for call in calls {
            self.ensure_uploaded(&call.component)?;
            let function = match &name {
                Some(n) if **n == *call.function => n.clone(),
                _ => name.insert(Arc::from(call.function.as_str())).clone(),
            };
            // The guest's arguments were checked against these types: this cannot fail unless the
            // component changed under us, and then nothing was registered yet.
            let task = call.component.task(&call.function)?;
            let args = wasmdask_values::args_to_binary(&call.args, &task.params).map_err(|e| {
                TaskError::new(ErrorKind::BadInput, format!("`{}`: {e}", task.name))
            })?;
            let (key, p) = self.outstanding.register(function);
            pending.push(p);
            wire.push(proto::Call {
                key,
                digest: call.component.digest.clone(),
                function: call.function,
                args: args.into(),
                depth: call.depth,
                more: false,
            });
        }
        let n = wire.len() as u64;
        if !chunk::batches(wire)
            .into_iter()
            .all(|batch| (self.send)(batch))
        {
            let error =
                TaskError::new(ErrorKind::Lost, "the connection to the scheduler is closed");
            self.outstanding.close(error.clone());
            return Err(error);
        }
        self.outstanding
            .progress
            .submitted
            .fetch_add(n, Ordering::Relaxed);
        Ok(pending)
    }
}
