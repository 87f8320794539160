//! Talking to a remote scheduler: connecting (token, optional TLS), the client session used by
//! `wasmdask run --scheduler`, and the [`RemoteCluster`] fan-out client shared with workers.

use super::Progress;
use super::address::{self, AddressError, SchedulerAddress};
use super::auth::SendToken;
use super::chunk::{self, Joiners};
use super::data::{Held, Peers};
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
use wasmdask_sandbox::{Arg, Call, FanOut, Input, Pending};
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
        .initial_stream_window_size(chunk::STREAM_WINDOW_BYTES)
        .initial_connection_window_size(chunk::CONNECTION_WINDOW_BYTES)
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

/// Calls submitted to a scheduler, by key (with their function's name), completed as results
/// arrive and kept until released: a result held by a worker may be placed again (recomputed
/// after its holder was lost), and a later call may name it as an input.
#[derive(Debug)]
pub(crate) struct Outstanding {
    pending: Mutex<HashMap<u64, Entry>>,
    progress: Arc<Progress>,
    failures: Arc<FailedSubtasks>,
    next_key: AtomicU64,
    closed: Mutex<Option<TaskError>>,
    /// Where results held by workers are fetched from.
    peers: Arc<Peers>,
    runtime: Handle,
}

#[derive(Debug)]
struct Entry {
    pending: Pending,
    function: Arc<str>,
    /// Counted in the progress (its first outcome).
    counted: bool,
}

impl Outstanding {
    /// Must be called inside the runtime that fetches held results.
    pub(crate) fn new(peers: Arc<Peers>) -> Self {
        Outstanding {
            pending: Mutex::new(HashMap::new()),
            progress: Arc::default(),
            failures: Arc::default(),
            next_key: AtomicU64::new(0),
            closed: Mutex::new(None),
            peers,
            runtime: Handle::current(),
        }
    }

    fn register(&self, function: Arc<str>) -> (u64, Pending) {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed) + 1;
        let pending = Pending::keyed(key);
        let entry = Entry {
            pending: pending.clone(),
            function,
            counted: false,
        };
        self.pending.lock().insert(key, entry);
        (key, pending)
    }

    pub(crate) fn complete(&self, results: Vec<proto::Result>) {
        let mut map = self.pending.lock();
        for mut result in results {
            let Some(entry) = map.get_mut(&result.key) else {
                continue; // released meanwhile
            };
            let first = !std::mem::replace(&mut entry.counted, true);
            let output = result.output.take();
            match result.outcome {
                Some(proto::result::Outcome::Held(held)) => {
                    if first {
                        self.progress.done.fetch_add(1, Ordering::Relaxed);
                    }
                    entry.pending.complete_held(Arc::new(Held {
                        peers: self.peers.clone(),
                        runtime: self.runtime.clone(),
                        address: held.address,
                        key: held.key,
                        nbytes: held.nbytes,
                    }));
                }
                outcome => {
                    result.outcome = outcome;
                    let outcome = result.into_outcome();
                    if first {
                        match &outcome {
                            Ok(_) => self.progress.done.fetch_add(1, Ordering::Relaxed),
                            Err(error) => {
                                let output = output.map(Into::into).unwrap_or_default();
                                self.failures.record(&entry.function, error, output);
                                self.progress.failed.fetch_add(1, Ordering::Relaxed)
                            }
                        };
                    }
                    entry.pending.complete(outcome);
                }
            }
        }
    }

    /// The key of `pending` if it was submitted here and is not released.
    fn key_of(&self, pending: &Pending) -> Option<u64> {
        let key = pending.key()?;
        let map = self.pending.lock();
        map.get(&key)
            .filter(|entry| entry.pending.is(pending))
            .map(|_| key)
    }

    /// Forgets the calls of `pending` that were submitted here; returns their keys.
    fn forget(&self, pending: &[Pending]) -> Vec<u64> {
        let mut map = self.pending.lock();
        pending
            .iter()
            .filter_map(|p| {
                let key = p.key()?;
                let ours = map.get(&key).is_some_and(|entry| entry.pending.is(p));
                ours.then(|| map.remove(&key).map(|_| key)).flatten()
            })
            .collect()
    }

    /// The connection is gone: fail everything in flight and every later submit.
    pub(crate) fn close(&self, error: TaskError) {
        *self.closed.lock() = Some(error.clone());
        let drained: Vec<Pending> = self
            .pending
            .lock()
            .drain()
            .map(|(_, entry)| entry.pending)
            .collect();
        for pending in drained {
            pending.complete(Err(error.clone()));
        }
    }

    fn closed(&self) -> Option<TaskError> {
        self.closed.lock().clone()
    }
}

/// What an owner sends upstream over whatever stream it holds.
#[derive(Debug)]
pub(crate) enum Upstream {
    Submit(Vec<proto::Call>),
    Release(Vec<u64>),
}

/// Sends to the scheduler; false when the stream is closed.
pub(crate) type SendUpstream = Arc<dyn Fn(Upstream) -> bool + Send + Sync>;

/// Releases are sent in batches: a guest that takes 10,000 results one by one must not cost
/// 10,000 messages. A batch leaves when it is this large, or this soon after its first key.
const RELEASE_BATCH: usize = 4096;
const RELEASE_DELAY: std::time::Duration = std::time::Duration::from_millis(2);

/// Fan-out to a remote scheduler.
pub struct RemoteCluster {
    outstanding: Arc<Outstanding>,
    send: SendUpstream,
    /// Keys released and not yet sent.
    released: Arc<Mutex<Vec<u64>>>,
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
        send: SendUpstream,
        uploader: Option<(Client, Handle)>,
    ) -> Self {
        RemoteCluster {
            outstanding,
            send,
            released: Arc::default(),
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
        let peers = Arc::new(Peers::new(target.token.clone(), Arc::default()));
        let outstanding = Arc::new(Outstanding::new(peers));
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
        let send: SendUpstream = Arc::new(move |upstream| {
            use proto::client_message::Msg;
            let msg = match upstream {
                Upstream::Submit(calls) => Msg::Submit(proto::Calls { calls }),
                Upstream::Release(keys) => Msg::Release(proto::Keys { keys }),
            };
            tx.send(proto::ClientMessage { msg: Some(msg) }).is_ok()
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

impl RemoteCluster {
    /// The wire form of one call: its values encoded one after another, and its inputs by key at
    /// the offsets where their values go.
    fn wire(&self, call: &Call, key: u64) -> Result<proto::Call, TaskError> {
        // The guest's arguments were checked against these types: this cannot fail unless the
        // component changed under us, and then nothing was registered yet.
        let task = call.component.task(&call.function)?;
        let mut args = Vec::new();
        let mut inputs = Vec::new();
        for (arg, (name, ty)) in call.args.iter().zip(&task.params) {
            match arg {
                Arg::Value(value) => {
                    let bytes = value.to_binary(ty).map_err(|e| {
                        TaskError::new(ErrorKind::BadInput, format!("`{}`: {e}", task.name))
                    })?;
                    args.extend_from_slice(&bytes);
                }
                Arg::Result(input) => inputs.push(self.input(call, name, input, args.len())?),
                Arg::Results(list) => {
                    // The list's element count, then each result where it goes.
                    args.extend_from_slice(&wasmdask_values::list_prefix(list.len()));
                    for input in list {
                        inputs.push(self.input(call, name, input, args.len())?);
                    }
                }
            }
        }
        Ok(proto::Call {
            key,
            digest: call.component.digest.clone(),
            function: call.function.clone(),
            args: args.into(),
            depth: call.depth,
            more: false,
            inputs,
        })
    }

    /// The wire form of `input`, the argument `param` of `call`, whose value goes at byte
    /// `offset` of the arguments.
    fn input(
        &self,
        call: &Call,
        param: &str,
        input: &Input,
        offset: usize,
    ) -> Result<proto::Input, TaskError> {
        let key = self.outstanding.key_of(&input.result).ok_or_else(|| {
            TaskError::new(
                ErrorKind::Lost,
                format!(
                    "argument `{param}` of `{}` is the result of call {}, which was submitted \
                     over an earlier connection to the scheduler",
                    call.function, input.handle
                ),
            )
        })?;
        Ok(proto::Input {
            offset: offset as u64,
            key,
            handle: input.handle,
            function: input.function.to_string(),
            param: param.to_string(),
            ..Default::default()
        })
    }

    /// Sends the released keys now.
    fn flush_released(released: &Mutex<Vec<u64>>, send: &SendUpstream) {
        let keys = std::mem::take(&mut *released.lock());
        if !keys.is_empty() {
            send(Upstream::Release(keys));
        }
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
            let (key, p) = self.outstanding.register(function);
            match self.wire(&call, key) {
                Ok(call) => wire.push(call),
                Err(error) => {
                    pending.push(p);
                    self.outstanding.forget(&pending);
                    return Err(error);
                }
            }
            pending.push(p);
        }
        let n = wire.len() as u64;
        if !chunk::batches(wire)
            .into_iter()
            .all(|batch| (self.send)(Upstream::Submit(batch)))
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

    fn release(&self, pending: &[Pending]) {
        let keys = self.outstanding.forget(pending);
        if keys.is_empty() {
            return;
        }
        let mut released = self.released.lock();
        let first = released.is_empty();
        released.extend(keys);
        if released.len() >= RELEASE_BATCH {
            drop(released);
            Self::flush_released(&self.released, &self.send);
        } else if first {
            drop(released);
            let (released, send) = (self.released.clone(), self.send.clone());
            self.outstanding.runtime.spawn(async move {
                tokio::time::sleep(RELEASE_DELAY).await;
                Self::flush_released(&released, &send);
            });
        }
    }
}
