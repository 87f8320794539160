//! `wasmdask worker`: connects to a scheduler, runs assigned calls in a [`Pool`] of sandboxes
//! (one fresh sandbox per call), streams results back in batches, and reconnects after a
//! scheduler restart within the death timeout.

use super::activity::Recorder;
use super::chunk::{self, Joiners};
use super::data::{self, Peers, Transfers};
use super::pool::{Done, Finished, Job, Pool, Secessions};
use super::proto::{self, WorkerMessage};
use super::remote::{
    self, Client, Outstanding, RemoteCluster, RemoteError, SendUpstream, Target, Upstream,
};
use super::store::Store;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use wasmdask_sandbox::{Call, FanOut, Pending};
use wasmdask_sandbox::{ErrorKind, TaskError};
use wasmdask_sandbox::{LoadedComponent, Sandbox, SandboxConfig, digest_of};

/// Results up to this size travel with their completion notice (through the scheduler to the
/// owner, which usually takes them next); larger ones stay on the worker until someone fetches
/// them. A round trip costs more than this many bytes.
const INLINE_BYTES: usize = 64 << 10;

/// The fraction of `--memory-limit` that held results may use before the least recently used
/// spill to disk (Dask's `distributed.worker.memory.target`).
const SPILL_TARGET: f64 = 0.6;

/// What the worker's connections share: its data store, the service that serves it and the
/// connections to other workers' stores.
#[derive(Debug, Clone)]
struct DataPlane {
    store: Arc<Store>,
    peers: Arc<Peers>,
    /// Where the data service listens, announced in `Register`.
    address: String,
}

/// How a worker runs: its scheduler, name, slots, memory and sandbox.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The scheduler.
    pub target: Target,
    /// The name the scheduler and dashboard show.
    pub name: String,
    /// Concurrent executions.
    pub nthreads: usize,
    /// The worker's memory budget; each of the `nthreads` slots gets an equal share.
    pub memory_limit: u64,
    /// Give up (exit non-zero) after this long without a scheduler.
    pub death_timeout: Duration,
    /// Limits and grants of every execution.
    pub sandbox: SandboxConfig,
    /// Where calls fetch their file, directory and dataset arguments (the runner's store).
    pub data: Option<Arc<dyn wasmdask_sandbox::DataPort>>,
}

/// Why a worker stopped for good.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("{0}")]
    /// The sandbox could not be set up.
    Sandbox(#[from] wasmdask_sandbox::SandboxError),
    #[error("no scheduler for {waited:?} (the death timeout): {last}")]
    /// No scheduler for longer than `--death-timeout`.
    DeathTimeout {
        /// How long it waited.
        waited: Duration,
        /// The last connection error.
        last: String,
    },
    #[error("cannot serve this worker's results on {address}: {reason}")]
    /// The data service could not listen.
    DataListen {
        /// Where it tried.
        address: String,
        /// The operating system's words.
        reason: String,
    },
    #[error("the scheduler refused this worker: {0}")]
    /// The scheduler refused this worker.
    Refused(String),
}

/// How a worker's connection ended.
enum Ended {
    /// The scheduler said goodbye; the worker exits cleanly.
    Shutdown(String),
    /// The connection broke; the worker tries to reconnect. `registered` says whether the
    /// scheduler had accepted the worker (only then does the death-timeout clock restart).
    Broken { reason: String, registered: bool },
    /// The scheduler will never accept this worker (e.g. a wrong token).
    Fatal(String),
}

/// Runs a worker until the scheduler shuts it down, `shutdown` resolves, or no scheduler can be
/// reached for the death timeout.
pub async fn run(
    config: WorkerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), WorkerError> {
    let sandbox = Sandbox::new(config.sandbox.clone())?;
    let pool = Pool::new(sandbox.clone(), config.nthreads);
    if let Some(data) = &config.data {
        pool.set_data(data.clone());
    }
    let fanout = Arc::new(Relay::default());
    pool.set_fanout(fanout.clone());
    pool.set_secessions(fanout.clone());
    let recorder = Arc::new(Recorder::default());
    pool.set_observer(recorder.clone());
    let pool = Arc::new(pool);
    let plane = start_data_plane(&config).await?;
    let serving = async {
        let mut disconnected_since = Instant::now();
        loop {
            let session = async {
                let client = remote::connect(&config.target).await?;
                Ok::<_, RemoteError>(
                    serve(&config, client, &pool, &fanout, &recorder, &plane).await,
                )
            };
            let last_error = match session.await {
                Ok(Ended::Shutdown(reason)) => {
                    tracing::info!("the scheduler shut down: {reason}; worker exiting");
                    return Ok(());
                }
                Ok(Ended::Broken { reason, registered }) => {
                    // A scheduler this worker never registered with was not lost: like a failed
                    // connect, a failed registration (say, a scheduler stopping as the worker
                    // comes up) is reported only if the death timeout runs out, by its error.
                    if registered {
                        tracing::warn!("lost the scheduler: {reason}; reconnecting");
                        disconnected_since = Instant::now();
                    } else {
                        tracing::debug!("{reason}");
                    }
                    reason
                }
                Ok(Ended::Fatal(reason)) => return Err(WorkerError::Refused(reason)),
                Err(e) => {
                    tracing::debug!("{e}");
                    e.to_string()
                }
            };
            let waited = disconnected_since.elapsed();
            if waited > config.death_timeout {
                return Err(WorkerError::DeathTimeout {
                    waited,
                    last: last_error,
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    // Watched over the pauses between attempts too, so a worker told to stop while it waits
    // to reconnect stops at once.
    tokio::select! {
        () = shutdown => {
            tracing::info!("worker stopping");
            Ok(())
        }
        result = serving => result,
    }
}

/// Opens the data store and serves it on the address through which this host reaches the
/// scheduler (loopback for a loopback scheduler), on a port the system picks.
async fn start_data_plane(config: &WorkerConfig) -> Result<DataPlane, WorkerError> {
    let ip = route_to(&config.target);
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, 0))
        .await
        .map_err(|e| WorkerError::DataListen {
            address: ip.to_string(),
            reason: e.to_string(),
        })?;
    let address = listener
        .local_addr()
        .map_err(|e| WorkerError::DataListen {
            address: ip.to_string(),
            reason: e.to_string(),
        })?
        .to_string();
    let target = (config.memory_limit as f64 * SPILL_TARGET) as u64;
    let store = Arc::new(Store::new(target, None));
    let transfers = Arc::new(Transfers::default());
    let token = config.target.token.clone();
    data::serve(listener, store.clone(), transfers.clone(), token.clone());
    tracing::info!(%address, "serving results to other workers");
    Ok(DataPlane {
        store,
        peers: Arc::new(Peers::new(token, transfers)),
        address,
    })
}

/// The local address of the route to the scheduler: the one other workers can reach too.
fn route_to(target: &Target) -> IpAddr {
    use std::net::{ToSocketAddrs, UdpSocket};
    let host = (target.address.host.as_str(), target.address.port);
    let routed = host.to_socket_addrs().ok().and_then(|mut addrs| {
        let scheduler = addrs.next()?;
        let unspecified: IpAddr = match scheduler {
            SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::UNSPECIFIED.into(),
        };
        // Connecting a UDP socket sends nothing; it only picks the route.
        let socket = UdpSocket::bind(SocketAddr::new(unspecified, 0)).ok()?;
        socket.connect(scheduler).ok()?;
        Some(socket.local_addr().ok()?.ip())
    });
    routed.unwrap_or(Ipv4Addr::LOCALHOST.into())
}

/// One connection: register, heartbeat, run assignments, return results.
async fn serve(
    config: &WorkerConfig,
    mut client: Client,
    pool: &Arc<Pool>,
    fanout: &Arc<Relay>,
    recorder: &Arc<Recorder>,
    plane: &DataPlane,
) -> Ended {
    // Results held for an earlier scheduler mean nothing to this one (it numbers tasks anew).
    plane.store.clear();
    let (tx, rx) = mpsc::unbounded_channel::<WorkerMessage>();
    let _ = tx.send(WorkerMessage {
        msg: Some(proto::worker_message::Msg::Register(proto::Register {
            name: config.name.clone(),
            nthreads: config.nthreads as u32,
            memory_limit: config.memory_limit,
            version: env!("CARGO_PKG_VERSION").to_string(),
            data_address: plane.address.clone(),
        })),
    });
    let mut inbound = match client.work(UnboundedReceiverStream::new(rx)).await {
        Ok(response) => response.into_inner(),
        Err(status) if status.code() == tonic::Code::Unauthenticated => {
            return Ended::Fatal(status.message().to_string());
        }
        Err(status) => {
            return Ended::Broken {
                reason: format!("registration failed: {}", status.message()),
                registered: false,
            };
        }
    };

    // Fan-out of tasks running here goes over this connection.
    let outstanding = Arc::new(Outstanding::new(plane.peers.clone()));
    let submit_tx = tx.clone();
    let send: SendUpstream = Arc::new(move |upstream| {
        use proto::worker_message::Msg;
        let msg = match upstream {
            Upstream::Submit(calls) => Msg::Submit(proto::Calls { calls }),
            Upstream::Release(keys) => Msg::Release(proto::Keys { keys }),
        };
        submit_tx.send(WorkerMessage { msg: Some(msg) }).is_ok()
    });
    fanout.set(Some(Connection {
        cluster: Arc::new(RemoteCluster::new(outstanding.clone(), send, None)),
        tx: tx.clone(),
    }));

    // Results leave in batches: whatever finished since the last send.
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<proto::Result>();
    let results_tx = tx.clone();
    let batcher = tokio::spawn(async move {
        while let Some(first) = done_rx.recv().await {
            let mut results = vec![first];
            while let Ok(more) = done_rx.try_recv() {
                results.push(more);
            }
            for results in chunk::batches(results) {
                let message = WorkerMessage {
                    msg: Some(proto::worker_message::Msg::Done(proto::Results { results })),
                };
                if results_tx.send(message).is_err() {
                    return;
                }
            }
        }
    });

    let mut heartbeat = tokio::time::interval(Duration::from_secs(1));
    let digests = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut registered = false;
    let mut joiners = Joiners::default();
    let ended = loop {
        tokio::select! {
            _ = heartbeat.tick() => {
                let beat = proto::Heartbeat {
                    running: pool.load() as u32,
                    digests: digests.lock().clone(),
                    busy: pool.busy() as u32,
                    activity: recorder.take(),
                    data: Some(data_held(plane)),
                };
                let _ = tx.send(WorkerMessage { msg: Some(proto::worker_message::Msg::Heartbeat(beat)) });
            }
            message = inbound.message() => match message {
                Ok(Some(command)) => {
                    use proto::worker_command::Cmd;
                    match command.cmd {
                        Some(Cmd::Welcome(welcome)) => {
                            tracing::info!(id = %welcome.worker_id, "registered with the scheduler");
                            registered = true;
                            heartbeat = tokio::time::interval(Duration::from_millis(u64::from(welcome.heartbeat_ms.max(100))));
                        }
                        Some(Cmd::Assign(calls)) => {
                            let calls = joiners.calls(calls.calls);
                            let assignment = Assignment { client: client.clone(), pool: pool.clone(), done_tx: done_tx.clone(), digests: digests.clone(), recorder: recorder.clone(), plane: plane.clone() };
                            tokio::spawn(async move { assignment.run(calls).await });
                        }
                        Some(Cmd::Results(results)) => outstanding.complete(joiners.results(results.results)),
                        Some(Cmd::Shutdown(s)) => break Ended::Shutdown(s.reason),
                        Some(Cmd::Free(keys)) => plane.store.remove(&keys.keys),
                        None => {}
                    }
                }
                Ok(None) => break Ended::Broken { reason: "the scheduler closed the connection".into(), registered },
                Err(status) if status.code() == tonic::Code::Unauthenticated => {
                    break Ended::Fatal(status.message().to_string());
                }
                Err(status) => break Ended::Broken { reason: status.message().to_string(), registered },
            }
        }
    };
    batcher.abort();
    let reason = match &ended {
        Ended::Shutdown(r) | Ended::Fatal(r) | Ended::Broken { reason: r, .. } => r.clone(),
    };
    outstanding.close(TaskError::new(
        ErrorKind::Lost,
        format!("lost the scheduler: {reason}"),
    ));
    fanout.set(None);
    ended
}

/// What running one assignment needs.
#[derive(Clone)]
struct Assignment {
    client: Client,
    pool: Arc<Pool>,
    done_tx: mpsc::UnboundedSender<proto::Result>,
    digests: Arc<Mutex<Vec<String>>>,
    recorder: Arc<Recorder>,
    plane: DataPlane,
}

impl Assignment {
    /// Loads the components of an assignment (fetching and verifying them by digest on first
    /// use), gathers each call's inputs (from this worker's store, or from the workers that hold
    /// them), and queues the calls on the pool.
    async fn run(mut self, calls: Vec<proto::Call>) {
        let sandbox = self.pool.sandbox().clone();
        let mut components: HashMap<String, Result<Arc<LoadedComponent>, TaskError>> =
            HashMap::new();
        let mut jobs: Vec<Job> = Vec::with_capacity(calls.len());
        for mut call in calls {
            if !components.contains_key(&call.digest) {
                let loaded = fetch(&mut self.client, &sandbox, &call.digest, &self.recorder).await;
                // Reported in every heartbeat: each digest once, or the list grows per batch.
                let mut held = self.digests.lock();
                if loaded.is_ok() && !held.contains(&call.digest) {
                    held.push(call.digest.clone());
                }
                drop(held);
                components.insert(call.digest.clone(), loaded);
            }
            let component = components[&call.digest].clone();
            if call.inputs.is_empty() {
                if let Some(job) = self.job(component, &call) {
                    jobs.push(job);
                }
            } else {
                // Its inputs may have to come from other workers: fetch them without holding up
                // the rest of the batch.
                let this = self.clone();
                tokio::spawn(async move {
                    match this.gather_inputs(&call).await {
                        Ok(args) => {
                            call.args = args;
                            if let Some(job) = this.job(component, &call) {
                                this.pool.push(vec![job]);
                            }
                        }
                        Err(missing) => {
                            let key = call.key;
                            let missing = proto::Result {
                                key,
                                missing,
                                ..Default::default()
                            };
                            let _ = this.done_tx.send(missing);
                        }
                    }
                });
            }
        }
        if !jobs.is_empty() {
            self.pool.push(jobs);
        }
    }

    /// The pool job for `call` (its arguments complete), or `None` after reporting why it
    /// cannot run.
    fn job(
        &self,
        component: Result<Arc<LoadedComponent>, TaskError>,
        call: &proto::Call,
    ) -> Option<Job> {
        let prepared = component.and_then(|component| {
            let task = component.task(&call.function)?;
            let args = task.args_from_binary(&call.args).map_err(|e| {
                TaskError::new(
                    ErrorKind::BadInput,
                    format!("the arguments of `{}` do not decode: {e}", task.name),
                )
            })?;
            Ok(Call::with_values(
                component.clone(),
                task.name.clone(),
                args,
                call.depth,
            ))
        });
        match prepared {
            Ok(prepared) => Some(Job {
                call: prepared,
                done: self.done(call.key),
                key: Some(call.key),
            }),
            Err(error) => {
                let _ = self
                    .done_tx
                    .send(proto::Result::from_outcome(call.key, Err(error)));
                None
            }
        }
    }

    /// What to do when the call `key` finishes: keep its value here and tell the scheduler,
    /// with the value itself when it is small.
    fn done(&self, key: u64) -> Done {
        let done_tx = self.done_tx.clone();
        let plane = self.plane.clone();
        Box::new(move |finished: Finished| {
            let outcome = finished.outcome;
            let result = match outcome {
                Ok(value) => {
                    plane.store.put(key, value.clone());
                    held_result(key, value, &plane.address)
                }
                Err(error) => {
                    proto::Result::from_outcome(key, Err(error)).with_output(finished.output)
                }
            };
            let _ = done_tx.send(result);
        })
    }

    /// The call's arguments with its inputs' values spliced in, or the keys of the inputs that
    /// could not be had.
    async fn gather_inputs(&self, call: &proto::Call) -> Result<Bytes, Vec<u64>> {
        let mut args = Vec::with_capacity(
            call.args.len() + call.inputs.iter().map(|i| i.nbytes as usize).sum::<usize>(),
        );
        let mut at = 0;
        let mut missing = Vec::new();
        for input in &call.inputs {
            let offset = (input.offset as usize).min(call.args.len());
            args.extend_from_slice(&call.args[at..offset]);
            at = offset;
            match self.input(input).await {
                Some(value) => args.extend_from_slice(&value),
                None => missing.push(input.key),
            }
        }
        args.extend_from_slice(&call.args[at..]);
        if missing.is_empty() {
            Ok(args.into())
        } else {
            Err(missing)
        }
    }

    /// One input's value: from this worker's store, or fetched from a holder.
    async fn input(&self, input: &proto::Input) -> Option<Bytes> {
        let store = self.plane.store.clone();
        let key = input.key;
        // A local value may be spilled: read it off the runtime's threads.
        if store.contains(key)
            && let Ok(Some(Ok(value))) = tokio::task::spawn_blocking(move || store.get(key)).await
        {
            return Some(value);
        }
        for holder in &input.holders {
            if *holder == self.plane.address {
                continue;
            }
            match self.plane.peers.fetch(holder, input.key).await {
                Ok(value) => return Some(value),
                Err(error) => tracing::warn!("{}", error.message),
            }
        }
        None
    }
}

/// The result message of a finished call whose value this worker keeps.
fn held_result(key: u64, value: Bytes, address: &str) -> proto::Result {
    if value.len() <= INLINE_BYTES {
        return proto::Result::from_outcome(key, Ok(value));
    }
    proto::Result {
        key,
        outcome: Some(proto::result::Outcome::Held(proto::Held {
            address: address.to_string(),
            key,
            nbytes: value.len() as u64,
        })),
        ..Default::default()
    }
}

/// What the store holds and what was transferred, for the heartbeat.
fn data_held(plane: &DataPlane) -> proto::DataHeld {
    use std::sync::atomic::Ordering::Relaxed;
    let stats = plane.store.stats();
    let t = &plane.peers.transfers;
    proto::DataHeld {
        memory_bytes: stats.memory_bytes,
        memory_keys: stats.memory_keys,
        spilled_bytes: stats.spilled_bytes,
        spilled_keys: stats.spilled_keys,
        spills: stats.spills,
        unspills: stats.unspills,
        fetched_bytes: t.fetched_bytes.load(Relaxed),
        fetches: t.fetches.load(Relaxed),
        fetch_us: t.fetch_us.load(Relaxed),
        served_bytes: t.served_bytes.load(Relaxed),
    }
}

async fn fetch(
    client: &mut Client,
    sandbox: &Arc<Sandbox>,
    digest: &str,
    recorder: &Recorder,
) -> Result<Arc<LoadedComponent>, TaskError> {
    if let Some(found) = sandbox.lookup(digest) {
        return Ok(found);
    }
    let wasm = client
        .get_component(proto::ComponentRef {
            digest: digest.to_string(),
        })
        .await
        .map_err(|status| {
            TaskError::new(
                ErrorKind::InvalidComponent,
                format!("cannot fetch component {digest}: {}", status.message()),
            )
        })?
        .into_inner()
        .wasm;
    let actual = digest_of(&wasm);
    if actual != digest {
        return Err(TaskError::new(
            ErrorKind::InvalidComponent,
            format!("the scheduler sent component bytes with digest {actual}, expected {digest}"),
        ));
    }
    let sandbox = sandbox.clone();
    let loaded = tokio::task::spawn_blocking(move || sandbox.load(wasm).map_err(TaskError::from))
        .await
        .map_err(|e| {
            TaskError::new(
                ErrorKind::InvalidComponent,
                format!("compiling failed: {e}"),
            )
        })??;
    recorder.component_loaded(loaded.from_cache);
    Ok(loaded)
}

/// The pool's way to the scheduler, swapped on every (re)connection: where its tasks' fan-out
/// goes and where their secede and rejoin are reported.
#[derive(Debug, Default)]
struct Relay(Mutex<Option<Connection>>);

/// One connection to the scheduler, as the pool's tasks use it.
#[derive(Debug, Clone)]
struct Connection {
    cluster: Arc<RemoteCluster>,
    tx: mpsc::UnboundedSender<WorkerMessage>,
}

impl Relay {
    fn set(&self, connection: Option<Connection>) {
        *self.0.lock() = connection;
    }

    fn current(&self) -> Result<Arc<RemoteCluster>, TaskError> {
        let connection = self.0.lock();
        connection
            .as_ref()
            .map(|c| c.cluster.clone())
            .ok_or_else(|| {
                TaskError::new(
                    ErrorKind::Lost,
                    "the worker is not connected to a scheduler",
                )
            })
    }

    /// Sends `msg` to the scheduler, if connected. Without a connection there is nothing to
    /// tell: the scheduler that assigned the task has rescheduled it.
    fn tell(&self, msg: proto::worker_message::Msg) {
        if let Some(connection) = &*self.0.lock() {
            let _ = connection.tx.send(WorkerMessage { msg: Some(msg) });
        }
    }
}

impl FanOut for Relay {
    fn submit(&self, calls: Vec<Call>) -> Result<Vec<Pending>, TaskError> {
        self.current()?.submit(calls)
    }

    fn release(&self, pending: &[Pending]) {
        if let Ok(cluster) = self.current() {
            cluster.release(pending);
        }
    }
}

/// A task waiting for its subtasks does not count toward what this worker may hold (Dask's
/// long-running tasks), so the scheduler can assign the subtasks it waits for.
impl Secessions for Relay {
    fn seceded(&self, key: u64) {
        self.tell(proto::worker_message::Msg::Seceded(proto::TaskKey { key }));
    }

    fn rejoined(&self, key: u64) {
        self.tell(proto::worker_message::Msg::Rejoined(proto::TaskKey { key }));
    }
}
