//! The scheduler's state machine: tasks queued → processing on a worker → forwarded to their
//! owner (memory) or erred. Synchronous and lock-protected; the RPC layer only feeds it events.
//!
//! Fault semantics follow Dask, minus KilledWorker's flaw: a deterministic guest failure comes
//! back as a result and fails the task at once; only a lost worker counts against
//! `allowed_failures`, and a task whose workers died more often than that fails with `lost`.

use super::telemetry::{ErrorRecord, RecentErrors};
use crate::cluster::proto::{self, ClientEvent, WorkerCommand};
use crate::task_error::{ErrorKind, TaskError};
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;
use tonic::Status;

/// Tasks a worker may hold per thread (running + prefetched), so tiny tasks stream without a
/// round trip each.
pub const PREFETCH_PER_THREAD: usize = 16;

/// Where results for a submitter go.
#[derive(Debug, Clone)]
pub enum Outbox {
    Worker(UnboundedSender<Result<WorkerCommand, Status>>),
    Client(UnboundedSender<Result<ClientEvent, Status>>),
}

impl Outbox {
    fn send_results(&self, results: Vec<proto::Result>) {
        let results = proto::Results { results };
        // A closed outbox means the connection is ending; its cleanup handles the rest.
        match self {
            Outbox::Worker(tx) => {
                let _ = tx.send(Ok(WorkerCommand {
                    cmd: Some(proto::worker_command::Cmd::Results(results)),
                }));
            }
            Outbox::Client(tx) => {
                let _ = tx.send(Ok(ClientEvent {
                    ev: Some(proto::client_event::Ev::Results(results)),
                }));
            }
        }
    }

    pub fn send_shutdown(&self, reason: &str) {
        let shutdown = proto::Shutdown {
            reason: reason.to_string(),
        };
        match self {
            Outbox::Worker(tx) => {
                let _ = tx.send(Ok(WorkerCommand {
                    cmd: Some(proto::worker_command::Cmd::Shutdown(shutdown)),
                }));
            }
            Outbox::Client(tx) => {
                let _ = tx.send(Ok(ClientEvent {
                    ev: Some(proto::client_event::Ev::Shutdown(shutdown)),
                }));
            }
        }
    }
}

#[derive(Debug)]
struct Task {
    owner: u64,
    owner_key: u64,
    call: proto::Call,
    worker: Option<u64>,
    /// Names of workers that died while holding this task.
    lost_on: Vec<String>,
}

/// What the dashboard and `/api/state` show about a worker.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WorkerView {
    pub id: u64,
    pub name: String,
    pub nthreads: u32,
    pub memory_limit: u64,
    /// Tasks assigned to it: running and prefetched.
    pub processing: usize,
    /// Slots executing a task, as of its last heartbeat.
    pub busy: u32,
    pub done: u64,
    pub last_heartbeat_ms_ago: u64,
}

#[derive(Debug)]
struct Worker {
    name: String,
    nthreads: u32,
    memory_limit: u64,
    outbox: UnboundedSender<Result<WorkerCommand, Status>>,
    processing: HashSet<u64>,
    digests: HashSet<String>,
    last_seen: Instant,
    busy: u32,
    done: u64,
}

impl Worker {
    fn capacity(&self) -> usize {
        (self.nthreads.max(1) as usize * PREFETCH_PER_THREAD).saturating_sub(self.processing.len())
    }
}

/// Counts for `/api/state` and metrics.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Totals {
    pub submitted: u64,
    pub completed: u64,
    pub erred: u64,
    pub lost_workers: u64,
}

/// The whole scheduler state.
#[derive(Debug)]
pub struct State {
    allowed_failures: u32,
    next_id: u64,
    tasks: HashMap<u64, Task>,
    queue: VecDeque<u64>,
    workers: HashMap<u64, Worker>,
    owners: HashMap<u64, Outbox>,
    totals: Totals,
    errors: RecentErrors,
}

impl State {
    pub fn new(allowed_failures: u32) -> Self {
        State {
            allowed_failures,
            next_id: 1,
            tasks: HashMap::new(),
            queue: VecDeque::new(),
            workers: HashMap::new(),
            owners: HashMap::new(),
            totals: Totals::default(),
            errors: RecentErrors::default(),
        }
    }

    /// A fresh id for a connection or task.
    pub fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub fn add_owner(&mut self, id: u64, outbox: Outbox) {
        self.owners.insert(id, outbox);
    }

    pub fn add_worker(
        &mut self,
        id: u64,
        register: &proto::Register,
        outbox: UnboundedSender<Result<WorkerCommand, Status>>,
    ) {
        tracing::info!(worker = %register.name, nthreads = register.nthreads, memory_limit = register.memory_limit, "worker joined");
        self.owners.insert(id, Outbox::Worker(outbox.clone()));
        self.workers.insert(
            id,
            Worker {
                name: register.name.clone(),
                nthreads: register.nthreads,
                memory_limit: register.memory_limit,
                outbox,
                processing: HashSet::new(),
                digests: HashSet::new(),
                last_seen: Instant::now(),
                busy: 0,
                done: 0,
            },
        );
        self.schedule();
    }

    /// Records a heartbeat; returns the worker's name while it is known.
    pub fn heartbeat(&mut self, worker: u64, beat: &proto::Heartbeat) -> Option<String> {
        let w = self.workers.get_mut(&worker)?;
        w.last_seen = Instant::now();
        w.busy = beat.busy;
        w.digests.extend(beat.digests.iter().cloned());
        Some(w.name.clone())
    }

    /// Queues calls from an owner (a client session or a worker's running task).
    pub fn submit(&mut self, owner: u64, calls: Vec<proto::Call>) {
        for mut call in calls {
            let id = self.next_id();
            let owner_key = call.key;
            call.key = id;
            self.tasks.insert(
                id,
                Task {
                    owner,
                    owner_key,
                    call,
                    worker: None,
                    lost_on: Vec::new(),
                },
            );
            self.queue.push_back(id);
            self.totals.submitted += 1;
        }
        self.schedule();
    }

    /// Results of tasks a worker finished.
    pub fn done(&mut self, worker: u64, results: Vec<proto::Result>) {
        let mut by_owner: HashMap<u64, Vec<proto::Result>> = HashMap::new();
        if let Some(w) = self.workers.get_mut(&worker) {
            w.last_seen = Instant::now();
        }
        for mut result in results {
            let Some(task) = self.tasks.remove(&result.key) else {
                continue; // cancelled, or rescheduled after this worker was declared lost
            };
            if task.worker != Some(worker) {
                // Rescheduled elsewhere meanwhile; the other copy will answer.
                self.tasks.insert(result.key, task);
                continue;
            }
            if let Some(w) = self.workers.get_mut(&worker) {
                w.processing.remove(&result.key);
                w.done += 1;
                w.digests.insert(task.call.digest.clone());
            }
            if let Some(proto::result::Outcome::Error(error)) = &result.outcome {
                self.totals.erred += 1;
                let name = self.workers.get(&worker).map_or("", |w| w.name.as_str());
                self.errors.push(ErrorRecord::new(
                    name,
                    &task.call.function,
                    error,
                    result.output.as_ref(),
                ));
            } else {
                self.totals.completed += 1;
            }
            result.key = task.owner_key;
            by_owner.entry(task.owner).or_default().push(result);
        }
        for (owner, results) in by_owner {
            if let Some(outbox) = self.owners.get(&owner) {
                outbox.send_results(results);
            }
        }
        self.schedule();
    }

    /// A worker's connection ended or its heartbeats stopped: reschedule what it held.
    pub fn worker_lost(&mut self, worker: u64, reason: &str) {
        let Some(w) = self.workers.remove(&worker) else {
            return;
        };
        self.owners.remove(&worker);
        self.totals.lost_workers += 1;
        tracing::warn!(worker = %w.name, "worker lost: {reason}; rescheduling {} task(s)", w.processing.len());
        let mut failed: HashMap<u64, Vec<proto::Result>> = HashMap::new();
        for id in w.processing {
            let Some(task) = self.tasks.get_mut(&id) else {
                continue;
            };
            task.worker = None;
            task.lost_on.push(w.name.clone());
            if task.lost_on.len() as u32 > self.allowed_failures {
                let task = self.tasks.remove(&id).expect("present");
                self.totals.erred += 1;
                let error = TaskError::new(
                    ErrorKind::Lost,
                    format!(
                        "task `{}` ({}) was running on {} workers that died ({}); it exceeded \
                         allowed-failures={}. The task probably crashes or exhausts its worker: \
                         check the workers' logs and limits",
                        task.call.function,
                        short_digest(&task.call.digest),
                        task.lost_on.len(),
                        task.lost_on.join(", "),
                        self.allowed_failures
                    ),
                );
                let wire = proto::TaskError::from(&error);
                let record = ErrorRecord::new(&w.name, &task.call.function, &wire, None);
                self.errors.push(record);
                failed
                    .entry(task.owner)
                    .or_default()
                    .push(proto::Result::from_outcome(task.owner_key, Err(error)));
            } else {
                self.queue.push_front(id);
            }
        }
        for (owner, results) in failed {
            if let Some(outbox) = self.owners.get(&owner) {
                outbox.send_results(results);
            }
        }
        self.cancel_owned_by(worker);
        self.schedule();
    }

    /// A submitter went away: its queued tasks are dropped, running ones are left to finish
    /// and their results discarded.
    pub fn owner_gone(&mut self, owner: u64) {
        self.owners.remove(&owner);
        self.cancel_owned_by(owner);
    }

    fn cancel_owned_by(&mut self, owner: u64) {
        let cancelled: HashSet<u64> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.owner == owner && t.worker.is_none())
            .map(|(id, _)| *id)
            .collect();
        if cancelled.is_empty() {
            return;
        }
        self.queue.retain(|id| !cancelled.contains(id));
        for id in cancelled {
            self.tasks.remove(&id);
        }
    }

    /// Workers whose last heartbeat is older than `ttl`.
    pub fn silent_workers(&self, ttl: Duration) -> Vec<u64> {
        let now = Instant::now();
        self.workers
            .iter()
            .filter(|(_, w)| now.duration_since(w.last_seen) > ttl)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Assigns queued tasks round-robin to workers with free capacity, one batch per worker.
    fn schedule(&mut self) {
        if self.queue.is_empty() || self.workers.is_empty() {
            return;
        }
        let mut ids: Vec<u64> = self.workers.keys().copied().collect();
        // Prefer workers that already hold the next task's component compiled.
        if let Some(front) = self.queue.front().and_then(|id| self.tasks.get(id)) {
            let digest = front.call.digest.clone();
            ids.sort_by_key(|id| !self.workers[id].digests.contains(&digest));
        }
        let mut batches: HashMap<u64, Vec<proto::Call>> = HashMap::new();
        loop {
            let mut assigned = false;
            for id in &ids {
                let Some(worker) = self.workers.get_mut(id) else {
                    continue;
                };
                if worker.capacity() == 0 {
                    continue;
                }
                let Some(task_id) = self.queue.pop_front() else {
                    break;
                };
                let Some(task) = self.tasks.get_mut(&task_id) else {
                    continue;
                };
                task.worker = Some(*id);
                worker.processing.insert(task_id);
                batches.entry(*id).or_default().push(task.call.clone());
                assigned = true;
            }
            if !assigned || self.queue.is_empty() {
                break;
            }
        }
        for (id, calls) in batches {
            if let Some(worker) = self.workers.get(&id) {
                let _ = worker.outbox.send(Ok(WorkerCommand {
                    cmd: Some(proto::worker_command::Cmd::Assign(proto::Calls { calls })),
                }));
            }
        }
    }

    /// Tells every connection the scheduler is going away.
    pub fn shutdown(&mut self, reason: &str) {
        for outbox in self.owners.values() {
            outbox.send_shutdown(reason);
        }
    }

    pub fn workers(&self) -> Vec<WorkerView> {
        let now = Instant::now();
        let mut views: Vec<WorkerView> = self
            .workers
            .iter()
            .map(|(id, w)| WorkerView {
                id: *id,
                name: w.name.clone(),
                nthreads: w.nthreads,
                memory_limit: w.memory_limit,
                processing: w.processing.len(),
                busy: w.busy,
                done: w.done,
                last_heartbeat_ms_ago: now.duration_since(w.last_seen).as_millis() as u64,
            })
            .collect();
        views.sort_by_key(|w| w.id);
        views
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    pub fn processing(&self) -> usize {
        self.workers.values().map(|w| w.processing.len()).sum()
    }

    pub fn totals(&self) -> Totals {
        self.totals.clone()
    }

    /// Connected client sessions (every owner that is not a worker).
    pub fn clients(&self) -> usize {
        self.owners.len().saturating_sub(self.workers.len())
    }

    /// The latest `n` task failures, oldest first.
    pub fn recent_errors(&self, n: usize) -> Vec<ErrorRecord> {
        self.errors.latest(n)
    }
}

fn short_digest(digest: &str) -> &str {
    &digest[..digest.len().min(19)]
}
