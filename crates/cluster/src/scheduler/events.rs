//! What goes into the scheduler's [`State`](super::state::State) and what comes out of it.
//!
//! The core never touches a socket or a channel: the gRPC service turns each stream message
//! into an [`Event`], and delivers the [`Outgoing`] messages the state returns to the
//! connection they name. That keeps the scheduling rules testable without a runtime.

use crate::proto::{self, ClientEvent, WorkerCommand};

/// Something that happened to the scheduler. Connection ids come from
/// [`State::next_id`](super::state::State::next_id), so the service can file the
/// connection's channel under the id before the state hears of it.
#[derive(Debug, Clone)]
pub(super) enum Event {
    /// A worker connected on `id` and registered.
    WorkerJoined { id: u64, register: proto::Register },
    /// A worker's connection ended (closed or failed) for `reason`.
    WorkerLeft { id: u64, reason: String },
    /// A worker's heartbeat. Its `activity` is not the state's business (telemetry keeps it
    /// behind its own lock), so the service may take it out first.
    Heartbeat { worker: u64, beat: proto::Heartbeat },
    /// A client session opened on `id`.
    ClientJoined { id: u64 },
    /// A client session ended: its queued tasks are dropped.
    ClientLeft { id: u64 },
    /// Calls from a client session or from a worker's running task (its fan-out).
    Submitted { owner: u64, calls: Vec<proto::Call> },
    /// An owner no longer needs the results of these calls (its keys).
    Released { owner: u64, keys: Vec<u64> },
    /// Tasks a worker finished.
    Results {
        worker: u64,
        results: Vec<proto::Result>,
    },
    /// A task on `worker` waits for its subtasks without its slot (Dask's `secede`).
    Seceded { worker: u64, key: u64 },
    /// A seceded task runs again (Dask's `rejoin`).
    Rejoined { worker: u64, key: u64 },
    /// Time passed: workers silent for longer than the worker ttl are declared lost.
    Tick,
    /// The scheduler is going away; every connection is told `reason`.
    Shutdown { reason: String },
}

/// A message for one connection, or the end of it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Outgoing {
    /// A command on worker `id`'s stream.
    ToWorker { id: u64, cmd: WorkerCommand },
    /// An event on client session `id`'s stream.
    ToClient { id: u64, ev: ClientEvent },
    /// The state forgot connection `id`: drop its channel, which ends its response stream
    /// (how a worker declared dead by ttl learns it, as its connection may still be open).
    Close { id: u64 },
}

/// Which stream an owner of tasks listens on: decides the message type its results take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Peer {
    Worker,
    Client,
}

impl Peer {
    /// `payload` in this peer's envelope: a `WorkerCommand` or a `ClientEvent`.
    fn envelope<T>(
        self,
        id: u64,
        payload: T,
        to_worker: fn(T) -> proto::worker_command::Cmd,
        to_client: fn(T) -> proto::client_event::Ev,
    ) -> Outgoing {
        match self {
            Peer::Worker => Outgoing::ToWorker {
                id,
                cmd: WorkerCommand {
                    cmd: Some(to_worker(payload)),
                },
            },
            Peer::Client => Outgoing::ToClient {
                id,
                ev: ClientEvent {
                    ev: Some(to_client(payload)),
                },
            },
        }
    }

    pub(super) fn results(self, id: u64, results: Vec<proto::Result>) -> Outgoing {
        self.envelope(
            id,
            proto::Results { results },
            proto::worker_command::Cmd::Results,
            proto::client_event::Ev::Results,
        )
    }

    pub(super) fn shutdown(self, id: u64, reason: &str) -> Outgoing {
        let shutdown = proto::Shutdown {
            reason: reason.to_string(),
        };
        self.envelope(
            id,
            shutdown,
            proto::worker_command::Cmd::Shutdown,
            proto::client_event::Ev::Shutdown,
        )
    }
}

/// A command for worker `id`.
pub(super) fn to_worker(id: u64, cmd: proto::worker_command::Cmd) -> Outgoing {
    Outgoing::ToWorker {
        id,
        cmd: WorkerCommand { cmd: Some(cmd) },
    }
}
