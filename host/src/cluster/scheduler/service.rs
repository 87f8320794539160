//! The gRPC service: turns streams and calls into [`State`] events.

use super::counted::CommBytes;
use super::state::{Outbox, State};
use super::telemetry::Telemetry;
use crate::cluster::proto::{
    self, ClientEvent, ClientMessage, Component, ComponentRef, Presence, WorkerCommand,
    WorkerMessage, scheduler_server,
};
use crate::sandbox::digest_of;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status, Streaming};

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Shared by every connection.
#[derive(Debug, Clone)]
pub struct Shared {
    pub state: Arc<Mutex<State>>,
    pub components: Arc<Mutex<HashMap<String, Arc<Vec<u8>>>>>,
    pub heartbeat: Duration,
    /// Behind its own lock so that merging heartbeats and rendering the dashboard never hold up
    /// the scheduling state.
    pub telemetry: Arc<Mutex<Telemetry>>,
    pub bytes: Arc<CommBytes>,
}

impl Shared {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn telemetry(&self) -> std::sync::MutexGuard<'_, Telemetry> {
        self.telemetry.lock().unwrap_or_else(|e| e.into_inner())
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
        let id = {
            let mut state = self.lock();
            let id = state.next_id();
            let _ = tx.send(Ok(WorkerCommand {
                cmd: Some(proto::worker_command::Cmd::Welcome(proto::Welcome {
                    worker_id: id.to_string(),
                    heartbeat_ms: self.heartbeat.as_millis() as u32,
                })),
            }));
            state.add_worker(id, &register, tx);
            id
        };
        let shared = self.clone();
        let name = register.name.clone();
        tokio::spawn(async move {
            let reason = loop {
                match inbound.message().await {
                    Ok(Some(message)) => shared.on_worker_message(id, message),
                    Ok(None) => break "its connection closed".to_string(),
                    Err(status) => break format!("its connection failed: {}", status.message()),
                }
            };
            tracing::debug!(worker = %name, "worker stream ended: {reason}");
            shared.lock().worker_lost(id, &reason);
        });
        Ok(Response::new(Box::pin(UnboundedReceiverStream::new(rx))))
    }

    async fn session(
        &self,
        request: Request<Streaming<ClientMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::unbounded_channel();
        let id = {
            let mut state = self.lock();
            let id = state.next_id();
            state.add_owner(id, Outbox::Client(tx));
            id
        };
        let shared = self.clone();
        tokio::spawn(async move {
            while let Ok(Some(message)) = inbound.message().await {
                if let Some(proto::client_message::Msg::Submit(calls)) = message.msg {
                    shared.lock().submit(id, calls.calls);
                }
            }
            shared.lock().owner_gone(id);
        });
        Ok(Response::new(Box::pin(UnboundedReceiverStream::new(rx))))
    }

    async fn put_component(
        &self,
        request: Request<Component>,
    ) -> Result<Response<ComponentRef>, Status> {
        let wasm = request.into_inner().wasm;
        let digest = digest_of(&wasm);
        let mut components = self.components.lock().unwrap_or_else(|e| e.into_inner());
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
        let components = self.components.lock().unwrap_or_else(|e| e.into_inner());
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
        let present = self
            .components
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&digest);
        Ok(Response::new(Presence { present }))
    }
}

impl Shared {
    fn on_worker_message(&self, id: u64, message: WorkerMessage) {
        use proto::worker_message::Msg;
        match message.msg {
            Some(Msg::Heartbeat(mut beat)) => {
                let activity = beat.activity.take();
                let name = self.lock().heartbeat(id, &beat);
                if let (Some(name), Some(activity)) = (name, activity) {
                    self.telemetry().merge(&name, activity);
                }
            }
            Some(Msg::Done(results)) => self.lock().done(id, results.results),
            Some(Msg::Submit(calls)) => self.lock().submit(id, calls.calls),
            Some(Msg::Register(_)) | None => {}
        }
    }
}
