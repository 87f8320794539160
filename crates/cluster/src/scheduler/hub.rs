//! The scheduler [`State`] together with the channels its messages leave on.
//!
//! Both live behind one lock so that messages reach each connection in the order the state
//! produced them (a worker's welcome before its first assignment); sending on an unbounded
//! channel never waits, so the critical section stays short and await-free.

use super::events::{Event, Outgoing, Peer};
use super::state::State;
use crate::chunk;
use crate::proto::{self, ClientEvent, WorkerCommand};
use std::collections::HashMap;
use std::time::Instant;
use tokio::sync::mpsc::UnboundedSender;
use tonic::Status;

/// The sending half of one connection's response stream.
#[derive(Debug)]
pub(super) enum Link {
    Worker(UnboundedSender<Result<WorkerCommand, Status>>),
    Client(UnboundedSender<Result<ClientEvent, Status>>),
}

#[derive(Debug)]
pub(super) struct Hub {
    pub state: State,
    links: HashMap<u64, Link>,
    /// Why the scheduler is stopping, once it said goodbye ([`Event::Shutdown`]).
    stopping: Option<String>,
}

impl Hub {
    pub(super) fn new(state: State) -> Self {
        Hub {
            state,
            links: HashMap::new(),
            stopping: None,
        }
    }

    /// Files a new connection's channel under `id` (from [`State::next_id`]) before the state
    /// hears of it, so that its first messages find it.
    pub(super) fn connect(&mut self, id: u64, link: Link) {
        self.links.insert(id, link);
    }

    /// Feeds `event` to the state and delivers what it says.
    pub(super) fn apply(&mut self, event: Event) {
        if let Some(reason) = &self.stopping {
            // The state is done: workers leave because they were told to, which is no loss to
            // reschedule or warn about, and whoever connects now (a worker that was still
            // starting) is told the same goodbye instead of being welcomed to a cluster that is
            // about to vanish under it.
            let answer = match event {
                Event::WorkerJoined { id, .. } => Peer::Worker.shutdown(id, reason),
                Event::ClientJoined { id } => Peer::Client.shutdown(id, reason),
                Event::WorkerLeft { id, .. } | Event::ClientLeft { id } => Outgoing::Close { id },
                _ => return,
            };
            self.deliver(answer);
            return;
        }
        if let Event::Shutdown { reason } = &event {
            self.stopping = Some(reason.clone());
        }
        let outgoing = self.state.on(Instant::now(), event);
        for message in outgoing {
            self.deliver(message);
        }
    }

    /// Connections whose stream has not ended yet.
    pub(super) fn connections(&self) -> usize {
        self.links.len()
    }

    fn deliver(&mut self, message: Outgoing) {
        // A closed channel means the connection is ending; its own cleanup handles the rest.
        match message {
            Outgoing::ToWorker { id, cmd } => {
                if let Some(Link::Worker(tx)) = self.links.get(&id) {
                    for cmd in chunked_command(cmd) {
                        let _ = tx.send(Ok(cmd));
                    }
                }
            }
            Outgoing::ToClient { id, ev } => {
                if let Some(Link::Client(tx)) = self.links.get(&id) {
                    for ev in chunked_event(ev) {
                        let _ = tx.send(Ok(ev));
                    }
                }
            }
            Outgoing::Close { id } => {
                self.links.remove(&id);
            }
        }
    }
}

/// A command as messages of about one chunk each (see [`chunk`]).
fn chunked_command(cmd: WorkerCommand) -> Vec<WorkerCommand> {
    use proto::worker_command::Cmd;
    let wrap = |cmd| WorkerCommand { cmd: Some(cmd) };
    match cmd.cmd {
        Some(Cmd::Assign(calls)) => chunk::batches(calls.calls)
            .into_iter()
            .map(|calls| wrap(Cmd::Assign(proto::Calls { calls })))
            .collect(),
        Some(Cmd::Results(results)) => chunk::batches(results.results)
            .into_iter()
            .map(|results| wrap(Cmd::Results(proto::Results { results })))
            .collect(),
        other => vec![WorkerCommand { cmd: other }],
    }
}

/// A client event as messages of about one chunk each (see [`chunk`]).
fn chunked_event(ev: ClientEvent) -> Vec<ClientEvent> {
    use proto::client_event::Ev;
    match ev.ev {
        Some(Ev::Results(results)) => chunk::batches(results.results)
            .into_iter()
            .map(|results| ClientEvent {
                ev: Some(Ev::Results(proto::Results { results })),
            })
            .collect(),
        other => vec![ClientEvent { ev: other }],
    }
}
