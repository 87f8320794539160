//! The gRPC service: turns streams and calls into [`Event`]s for the [`Hub`], which delivers
//! what the state answers.

use super::counted::CommBytes;
use super::events::Event;
use super::hub::{Hub, Link};
use super::telemetry::Telemetry;
use crate::chunk::Joiners;
use crate::proto::{
    self, ClientEvent, ClientMessage, Component, ComponentRef, Presence, WorkerCommand,
    WorkerMessage, scheduler_server,
};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use wasmdask_sandbox::digest_of;

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Shared by every connection.
#[derive(Debug, Clone)]
pub(super) struct Shared {
    pub hub: Arc<Mutex<Hub>>,
    pub components: Arc<Mutex<HashMap<String, Arc<Vec<u8>>>>>,
    /// Behind its own lock so that merging heartbeats and rendering the dashboard never hold up
    /// the scheduling state.
    pub telemetry: Arc<Mutex<Telemetry>>,
    pub bytes: Arc<CommBytes>,
}

impl Shared {
    /// Feeds one event to the state and delivers its messages, under the lock.
    pub(super) fn apply(&self, event: Event) {
        self.hub.lock().apply(event);
    }
}

impl Shared {
    /// Files a new connection's channel and tells the state it joined, under one lock, so the
    /// state's first messages to it (the welcome) find the channel; returns its id.
    fn join(&self, link: Link, joined: impl FnOnce(u64) -> Event) -> u64 {
        let mut hub = self.hub.lock();
        let id = hub.state.next_id();
        hub.connect(id, link);
        hub.apply(joined(id));
        id
    }
}

#[tonic::async_trait]
impl scheduler_server::Scheduler for Shared {
    type WorkStream = BoxStream<WorkerCommand>;
    type SessionStream = BoxStream<ClientEvent>;

    async fn work(
        &self,
        request: Request<Streaming<WorkerMessage>>,
    ) -> Result<Response<Self::WorkStream>, Status> {
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::unbounded_channel();
        let first = inbound.message().await?.ok_or_else(|| {
            Status::invalid_argument("the worker stream ended before registering")
        })?;
        let Some(proto::worker_message::Msg::Register(register)) = first.msg else {
            return Err(Status::invalid_argument("a worker must register first"));
        };
        let name = register.name.clone();
        let id = self.join(Link::Worker(tx), |id| Event::WorkerJoined { id, register });
        let shared = self.clone();
        tokio::spawn(async move {
            let mut joiners = Joiners::default();
            let reason = loop {
                match inbound.message().await {
                    Ok(Some(mut message)) => {
                        join_worker_message(&mut joiners, &mut message);
                        shared.on_worker_message(id, message);
                    }
                    Ok(None) => break "its connection closed".to_string(),
                    Err(status) => break format!("its connection failed: {}", status.message()),
                }
            };
            tracing::debug!(worker = %name, "worker stream ended: {reason}");
            shared.apply(Event::WorkerLeft { id, reason });
        });
        Ok(Response::new(Box::pin(UnboundedReceiverStream::new(rx))))
    }

    async fn session(
        &self,
        request: Request<Streaming<ClientMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::unbounded_channel();
        let id = self.join(Link::Client(tx), |id| Event::ClientJoined { id });
        let shared = self.clone();
        tokio::spawn(async move {
            let mut joiners = Joiners::default();
            while let Ok(Some(message)) = inbound.message().await {
                match message.msg {
                    Some(proto::client_message::Msg::Submit(calls)) => {
                        let calls = joiners.calls(calls.calls);
                        if !calls.is_empty() {
                            shared.apply(Event::Submitted { owner: id, calls });
                        }
                    }
                    Some(proto::client_message::Msg::Release(keys)) => {
                        shared.apply(Event::Released {
                            owner: id,
                            keys: keys.keys,
                        });
                    }
                    None => {}
                }
            }
            shared.apply(Event::ClientLeft { id });
        });
        Ok(Response::new(Box::pin(UnboundedReceiverStream::new(rx))))
    }

    async fn put_component(
        &self,
        request: Request<Component>,
    ) -> Result<Response<ComponentRef>, Status> {
        let wasm = request.into_inner().wasm;
        let digest = digest_of(&wasm);
        let mut components = self.components.lock();
        components
            .entry(digest.clone())
            .or_insert_with(|| Arc::new(wasm));
        Ok(Response::new(ComponentRef { digest }))
    }

    async fn get_component(
        &self,
        request: Request<ComponentRef>,
    ) -> Result<Response<Component>, Status> {
        let digest = request.into_inner().digest;
        let components = self.components.lock();
        match components.get(&digest) {
            Some(wasm) => Ok(Response::new(Component {
                wasm: wasm.as_ref().clone(),
            })),
            None => Err(Status::not_found(format!(
                "the scheduler has no component {digest}; the client must upload it first"
            ))),
        }
    }

    async fn has_component(
        &self,
        request: Request<ComponentRef>,
    ) -> Result<Response<Presence>, Status> {
        let digest = request.into_inner().digest;
        let present = self.components.lock().contains_key(&digest);
        Ok(Response::new(Presence { present }))
    }
}

/// Replaces the chunks in a worker's message by the whole values they complete.
fn join_worker_message(joiners: &mut Joiners, message: &mut WorkerMessage) {
    use proto::worker_message::Msg;
    match &mut message.msg {
        Some(Msg::Done(results)) => {
            results.results = joiners.results(std::mem::take(&mut results.results));
        }
        Some(Msg::Submit(calls)) => calls.calls = joiners.calls(std::mem::take(&mut calls.calls)),
        _ => {}
    }
}

impl Shared {
    fn on_worker_message(&self, id: u64, message: WorkerMessage) {
        use proto::worker_message::Msg;
        match message.msg {
            Some(Msg::Heartbeat(mut beat)) => {
                let activity = beat.activity.take();
                let name = {
                    let mut hub = self.hub.lock();
                    hub.apply(Event::Heartbeat { worker: id, beat });
                    hub.state.worker_name(id).map(str::to_string)
                };
                if let (Some(name), Some(activity)) = (name, activity) {
                    self.telemetry.lock().merge(&name, activity);
                }
            }
            Some(Msg::Done(results)) => self.apply(Event::Results {
                worker: id,
                results: results.results,
            }),
            Some(Msg::Submit(calls)) => self.apply(Event::Submitted {
                owner: id,
                calls: calls.calls,
            }),
            Some(Msg::Seceded(task)) => self.apply(Event::Seceded {
                worker: id,
                key: task.key,
            }),
            Some(Msg::Rejoined(task)) => self.apply(Event::Rejoined {
                worker: id,
                key: task.key,
            }),
            Some(Msg::Release(keys)) => self.apply(Event::Released {
                owner: id,
                keys: keys.keys,
            }),
            Some(Msg::Register(_)) | None => {}
        }
    }
}
