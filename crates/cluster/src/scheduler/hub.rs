//! The scheduler [`State`] together with the channels its messages leave on.
//!
//! Both live behind one lock so that messages reach each connection in the order the state
//! produced them (a worker's welcome before its first assignment); sending on an unbounded
//! channel never waits, so the critical section stays short and await-free.

use super::events::{Event, Outgoing};
use super::state::State;
use crate::proto::{ClientEvent, WorkerCommand};
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
}

impl Hub {
    pub(super) fn new(state: State) -> Self {
        Hub {
            state,
            links: HashMap::new(),
        }
    }

    /// Files a new connection's channel under `id` (from [`State::next_id`]) before the state
    /// hears of it, so that its first messages find it.
    pub(super) fn connect(&mut self, id: u64, link: Link) {
        self.links.insert(id, link);
    }

    /// Feeds `event` to the state and delivers what it says.
    pub(super) fn apply(&mut self, event: Event) {
        let outgoing = self.state.on(Instant::now(), event);
        for message in outgoing {
            self.deliver(message);
        }
    }

    fn deliver(&mut self, message: Outgoing) {
        // A closed channel means the connection is ending; its own cleanup handles the rest.
        match message {
            Outgoing::ToWorker { id, cmd } => {
                if let Some(Link::Worker(tx)) = self.links.get(&id) {
                    let _ = tx.send(Ok(cmd));
                }
            }
            Outgoing::ToClient { id, ev } => {
                if let Some(Link::Client(tx)) = self.links.get(&id) {
                    let _ = tx.send(Ok(ev));
                }
            }
            Outgoing::Close { id } => {
                self.links.remove(&id);
            }
        }
    }
}
