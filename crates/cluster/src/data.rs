//! The data plane: every worker serves the results it holds (`Data.Fetch`), and whoever needs
//! one (a worker running a call that takes it as an input, or the owner taking it) fetches it
//! from there directly. The scheduler only says where a value is.

use crate::auth::{CheckToken, SendToken};
use crate::chunk::{CONNECTION_WINDOW_BYTES, STREAM_WINDOW_BYTES};
use crate::proto::{self, data_client::DataClient, data_server};
use crate::scheduler::MAX_MESSAGE_BYTES;
use crate::store::Store;
use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio_stream::Stream;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};
use wasmdask_sandbox::{ErrorKind, Fetch, TaskError};

/// The payload of one `Data.Fetch` message. A value up to this size travels as one message,
/// which the fetching side keeps as tonic decoded it: splitting it into the control plane's 1 MiB
/// chunks made the fetcher copy every chunk into a fresh buffer of the whole value, a third of
/// the fetching process's CPU time (page faults included) in bench [7]. Larger values still
/// stream in pieces, far below the message-size limit.
const FETCH_CHUNK_BYTES: usize = 64 << 20;

/// Transfers counted for heartbeats (cumulative).
#[derive(Debug, Default)]
pub(crate) struct Transfers {
    pub(crate) fetched_bytes: AtomicU64,
    pub(crate) fetches: AtomicU64,
    pub(crate) fetch_us: AtomicU64,
    pub(crate) served_bytes: AtomicU64,
}

/// The `Data` service of one worker, backed by its [`Store`].
#[derive(Debug, Clone)]
struct Serve {
    store: Arc<Store>,
    transfers: Arc<Transfers>,
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<proto::ValueChunk, Status>> + Send>>;

#[tonic::async_trait]
impl data_server::Data for Serve {
    type FetchStream = ChunkStream;

    async fn fetch(
        &self,
        request: Request<proto::FetchRequest>,
    ) -> Result<Response<ChunkStream>, Status> {
        let key = request.into_inner().key;
        let store = self.store.clone();
        // A spilled value is read from disk: not on the runtime's threads.
        let found = tokio::task::spawn_blocking(move || store.get(key))
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        let value = match found {
            None => {
                return Err(Status::not_found(format!(
                    "this worker does not hold the result of task {key} (freed, or the worker \
                     restarted)"
                )));
            }
            Some(Err(e)) => {
                return Err(Status::internal(format!(
                    "the result of task {key} could not be read back from the spill directory: \
                     {e}"
                )));
            }
            Some(Ok(value)) => value,
        };
        self.transfers
            .served_bytes
            .fetch_add(value.len() as u64, Ordering::Relaxed);
        let chunks: Vec<Result<proto::ValueChunk, Status>> = if value.is_empty() {
            vec![Ok(proto::ValueChunk { data: value })]
        } else {
            (0..value.len())
                .step_by(FETCH_CHUNK_BYTES)
                .map(|start| {
                    let end = (start + FETCH_CHUNK_BYTES).min(value.len());
                    Ok(proto::ValueChunk {
                        data: value.slice(start..end),
                    })
                })
                .collect()
        };
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
    }
}

/// Serves `store` on `listener` until the runtime stops, with the cluster's token.
pub(crate) fn serve(
    listener: TcpListener,
    store: Arc<Store>,
    transfers: Arc<Transfers>,
    token: Option<String>,
) {
    let service = data_server::DataServer::new(Serve { store, transfers })
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
        .max_decoding_message_size(MAX_MESSAGE_BYTES);
    let service = InterceptedService::new(service, CheckToken(token));
    tokio::spawn(async move {
        let served = tonic::transport::Server::builder()
            .initial_stream_window_size(STREAM_WINDOW_BYTES)
            .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
            .add_service(service)
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await;
        if let Err(e) = served {
            tracing::error!("the data service stopped: {e}");
        }
    });
}

type Client = DataClient<InterceptedService<Channel, SendToken>>;

/// Connections to other workers' data services, one per address, made on first use.
#[derive(Debug)]
pub(crate) struct Peers {
    token: Option<String>,
    clients: Mutex<HashMap<String, Client>>,
    pub(crate) transfers: Arc<Transfers>,
}

impl Peers {
    pub(crate) fn new(token: Option<String>, transfers: Arc<Transfers>) -> Self {
        Peers {
            token,
            clients: Mutex::new(HashMap::new()),
            transfers,
        }
    }

    fn client(&self, address: &str) -> Result<Client, TaskError> {
        if let Some(client) = self.clients.lock().get(address) {
            return Ok(client.clone());
        }
        let channel = Endpoint::from_shared(format!("http://{address}"))
            .map_err(|e| lost(address, &e.to_string()))?
            .connect_timeout(Duration::from_secs(5))
            .initial_stream_window_size(STREAM_WINDOW_BYTES)
            .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
            // A holder that vanishes without closing the connection (its machine is gone)
            // fails the fetch instead of hanging it.
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(20))
            .connect_lazy();
        let client = DataClient::with_interceptor(channel, SendToken(self.token.clone()))
            .max_decoding_message_size(MAX_MESSAGE_BYTES);
        self.clients
            .lock()
            .insert(address.to_string(), client.clone());
        Ok(client)
    }

    /// The value of task `key` from the worker at `address`. Any failure is [`ErrorKind::Lost`]:
    /// the holder is gone or no longer has it, and the scheduler recomputes it.
    pub(crate) async fn fetch(&self, address: &str, key: u64) -> Result<Bytes, TaskError> {
        let started = Instant::now();
        let mut client = self.client(address)?;
        let mut stream = client
            .fetch(proto::FetchRequest { key })
            .await
            .map_err(|status| lost(address, status.message()))?
            .into_inner();
        let mut chunks: Vec<Bytes> = Vec::new();
        while let Some(chunk) = stream
            .message()
            .await
            .map_err(|status| lost(address, status.message()))?
        {
            chunks.push(chunk.data);
        }
        // One chunk (most values) is kept as it arrived, without a copy.
        let value = match chunks.len() {
            0 | 1 => chunks.pop().unwrap_or_default(),
            _ => {
                let mut joined = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
                for chunk in chunks {
                    joined.extend_from_slice(&chunk);
                }
                joined.freeze()
            }
        };
        let t = &self.transfers;
        t.fetches.fetch_add(1, Ordering::Relaxed);
        t.fetched_bytes
            .fetch_add(value.len() as u64, Ordering::Relaxed);
        t.fetch_us
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        Ok(value)
    }
}

fn lost(address: &str, why: &str) -> TaskError {
    TaskError::new(
        ErrorKind::Lost,
        format!("cannot fetch a result from the worker at {address}: {why}"),
    )
}

/// A result an owner was told is held by a worker: fetched when taken.
#[derive(Debug)]
pub(crate) struct Held {
    pub(crate) peers: Arc<Peers>,
    pub(crate) runtime: Handle,
    pub(crate) address: String,
    pub(crate) key: u64,
    pub(crate) nbytes: u64,
}

impl Fetch for Held {
    fn nbytes(&self) -> u64 {
        self.nbytes
    }

    fn fetch(&self, deadline: Instant) -> Result<Bytes, TaskError> {
        let fetch = self.peers.fetch(&self.address, self.key);
        self.runtime.block_on(async {
            tokio::time::timeout_at(deadline.into(), fetch)
                .await
                .unwrap_or_else(|_| {
                    Err(TaskError::new(
                        ErrorKind::Timeout,
                        format!(
                            "fetching a result from the worker at {} did not finish before the \
                             calling task's timeout",
                            self.address
                        ),
                    ))
                })
        })
    }
}
