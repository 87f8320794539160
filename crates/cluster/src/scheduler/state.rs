//! The scheduler's state machine: tasks queued → processing on a worker → forwarded to their
//! owner (memory) or erred.
//!
//! Sans-IO: [`State::on`] takes one [`Event`] and returns the [`Outgoing`] messages it causes,
//! with the time passed in, so the rules below run (and are tested) without sockets, channels
//! or a clock. The service keeps it behind one lock with short, await-free critical sections.
//!
//! Fault semantics follow Dask, minus KilledWorker's flaw: a deterministic guest failure comes
//! back as a result and fails the task at once; only a lost worker counts against
//! `allowed_failures`, and a task whose workers died more often than that fails with `lost`.
//!
//! Fan-out trees: the queue hands out deeper tasks first, so a tree finishes the branches it
//! started before it starts new ones, and a task that waits for its subtasks (seceded, in
//! Dask's words) does not count toward what its worker may hold, so its subtasks can always be
//! assigned.

use super::events::{Event, Outgoing, Peer, to_worker};
use super::telemetry::{ErrorRecord, RecentErrors};
use crate::proto;
use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};
use wasmdask_sandbox::{ErrorKind, TaskError};

/// Tasks a worker may hold per thread (running + prefetched), so tiny tasks stream without a
/// round trip each.
pub(crate) const PREFETCH_PER_THREAD: usize = 16;

/// The scheduler's settings that decide its behaviour.
#[derive(Debug, Clone, Copy)]
pub(super) struct Policy {
    /// Deaths of workers holding a task that the task survives.
    pub allowed_failures: u32,
    /// A worker silent for longer than this is declared lost at the next [`Event::Tick`].
    pub worker_ttl: Duration,
    /// How often workers are told to send heartbeats (in their welcome).
    pub heartbeat: Duration,
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
pub(crate) struct WorkerView {
    pub id: u64,
    pub name: String,
    pub nthreads: u32,
    pub memory_limit: u64,
    /// Tasks assigned to it: running and prefetched.
    pub processing: usize,
    /// Of those, the tasks waiting for their subtasks (seceded).
    pub seceded: usize,
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
    processing: HashSet<u64>,
    /// Tasks of `processing` that wait for their subtasks without a slot: like Dask's
    /// long-running tasks they do not count toward the worker's capacity, or a tree of tasks
    /// whose parents fill every worker would never get its leaves assigned.
    seceded: HashSet<u64>,
    digests: HashSet<String>,
    last_seen: Instant,
    busy: u32,
    done: u64,
}

impl Worker {
    fn capacity(&self) -> usize {
        let held = self.processing.len() - self.seceded.len();
        (self.nthreads.max(1) as usize * PREFETCH_PER_THREAD).saturating_sub(held)
    }
}

/// Counts for `/api/state` and metrics.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub(crate) struct Totals {
    pub submitted: u64,
    pub completed: u64,
    pub erred: u64,
    pub lost_workers: u64,
}

/// The whole scheduler state.
#[derive(Debug)]
pub(super) struct State {
    policy: Policy,
    next_id: u64,
    tasks: HashMap<u64, Task>,
    /// Queued tasks, deepest first, then by id (the order they were submitted in).
    queue: BTreeSet<(Reverse<u32>, u64)>,
    workers: HashMap<u64, Worker>,
    /// Every connection that may own tasks (workers too: their fan-out), by id.
    owners: HashMap<u64, Peer>,
    totals: Totals,
    errors: RecentErrors,
    /// Messages produced by the event being handled; [`State::on`] hands them out.
    out: Vec<Outgoing>,
}

impl State {
    pub(super) fn new(policy: Policy) -> Self {
        State {
            policy,
            next_id: 1,
            tasks: HashMap::new(),
            queue: BTreeSet::new(),
            workers: HashMap::new(),
            owners: HashMap::new(),
            totals: Totals::default(),
            errors: RecentErrors::default(),
            out: Vec::new(),
        }
    }

    /// A fresh id for a connection or task.
    pub(super) fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Applies `event`, which happened at `now`, and returns the messages to deliver, in order.
    pub(super) fn on(&mut self, now: Instant, event: Event) -> Vec<Outgoing> {
        match event {
            Event::WorkerJoined { id, register } => self.add_worker(now, id, &register),
            Event::WorkerLeft { id, reason } => self.worker_lost(id, &reason),
            Event::Heartbeat { worker, beat } => self.heartbeat(now, worker, &beat),
            Event::ClientJoined { id } => {
                self.owners.insert(id, Peer::Client);
            }
            Event::ClientLeft { id } => self.owner_gone(id),
            Event::Submitted { owner, calls } => self.submit(owner, calls),
            Event::Results { worker, results } => self.done(now, worker, results),
            Event::Seceded { worker, key } => self.seceded(worker, key),
            Event::Rejoined { worker, key } => {
                if let Some(w) = self.workers.get_mut(&worker) {
                    w.seceded.remove(&key);
                }
            }
            Event::Tick => self.reap(now),
            Event::Shutdown { reason } => self.shutdown(&reason),
        }
        std::mem::take(&mut self.out)
    }

    fn add_worker(&mut self, now: Instant, id: u64, register: &proto::Register) {
        tracing::info!(worker = %register.name, nthreads = register.nthreads, memory_limit = register.memory_limit, "worker joined");
        self.out.push(to_worker(
            id,
            proto::worker_command::Cmd::Welcome(proto::Welcome {
                worker_id: id.to_string(),
                heartbeat_ms: self.policy.heartbeat.as_millis() as u32,
            }),
        ));
        self.owners.insert(id, Peer::Worker);
        self.workers.insert(
            id,
            Worker {
                name: register.name.clone(),
                nthreads: register.nthreads,
                memory_limit: register.memory_limit,
                processing: HashSet::new(),
                seceded: HashSet::new(),
                digests: HashSet::new(),
                last_seen: now,
                busy: 0,
                done: 0,
            },
        );
        self.schedule();
    }

    fn heartbeat(&mut self, now: Instant, worker: u64, beat: &proto::Heartbeat) {
        let Some(w) = self.workers.get_mut(&worker) else {
            return;
        };
        w.last_seen = now;
        w.busy = beat.busy;
        w.digests.extend(beat.digests.iter().cloned());
    }

    /// Queues calls from an owner (a client session or a worker's running task).
    fn submit(&mut self, owner: u64, calls: Vec<proto::Call>) {
        for mut call in calls {
            let id = self.next_id();
            let owner_key = call.key;
            call.key = id;
            self.queue.insert((Reverse(call.depth), id));
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
            self.totals.submitted += 1;
        }
        self.schedule();
    }

    /// A task of `worker` waits for its subtasks: its place is free for them.
    fn seceded(&mut self, worker: u64, key: u64) {
        let Some(w) = self.workers.get_mut(&worker) else {
            return;
        };
        // A key the worker no longer holds (finished, or rescheduled after a reconnection) is
        // stale news.
        if w.processing.contains(&key) {
            w.seceded.insert(key);
            self.schedule();
        }
    }

    /// Results of tasks a worker finished.
    fn done(&mut self, now: Instant, worker: u64, results: Vec<proto::Result>) {
        let mut by_owner: HashMap<u64, Vec<proto::Result>> = HashMap::new();
        if let Some(w) = self.workers.get_mut(&worker) {
            w.last_seen = now;
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
                w.seceded.remove(&result.key);
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
        self.send_results(by_owner);
        self.schedule();
    }

    /// A worker's connection ended or its heartbeats stopped: reschedule what it held.
    fn worker_lost(&mut self, worker: u64, reason: &str) {
        let Some(w) = self.workers.remove(&worker) else {
            return;
        };
        self.owners.remove(&worker);
        self.out.push(Outgoing::Close { id: worker });
        self.totals.lost_workers += 1;
        tracing::warn!(worker = %w.name, "worker lost: {reason}; rescheduling {} task(s)", w.processing.len());
        let mut failed: HashMap<u64, Vec<proto::Result>> = HashMap::new();
        for id in w.processing {
            let Some(task) = self.tasks.get_mut(&id) else {
                continue;
            };
            task.worker = None;
            task.lost_on.push(w.name.clone());
            if task.lost_on.len() as u32 > self.policy.allowed_failures {
                let task = self.tasks.remove(&id).expect("present");
                self.totals.erred += 1;
                let error = lost_error(&task, self.policy.allowed_failures);
                let wire = proto::TaskError::from(&error);
                let record = ErrorRecord::new(&w.name, &task.call.function, &wire, None);
                self.errors.push(record);
                failed
                    .entry(task.owner)
                    .or_default()
                    .push(proto::Result::from_outcome(task.owner_key, Err(error)));
            } else {
                self.queue.insert((Reverse(task.call.depth), id));
            }
        }
        self.send_results(failed);
        self.cancel_owned_by(worker);
        self.schedule();
    }

    /// Workers whose last heartbeat is older than the ttl are lost.
    fn reap(&mut self, now: Instant) {
        let ttl = self.policy.worker_ttl;
        let silent: Vec<u64> = self
            .workers
            .iter()
            .filter(|(_, w)| now.saturating_duration_since(w.last_seen) > ttl)
            .map(|(id, _)| *id)
            .collect();
        for id in silent {
            self.worker_lost(id, &format!("no heartbeat for {ttl:?}"));
        }
    }

    /// A submitter went away: its queued tasks are dropped, running ones are left to finish
    /// and their results discarded.
    fn owner_gone(&mut self, owner: u64) {
        if self.owners.remove(&owner).is_some() {
            self.out.push(Outgoing::Close { id: owner });
        }
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
        self.queue.retain(|(_, id)| !cancelled.contains(id));
        for id in cancelled {
            self.tasks.remove(&id);
        }
    }

    /// One `Results` batch per owner that is still connected; the others' results are dropped.
    fn send_results(&mut self, by_owner: HashMap<u64, Vec<proto::Result>>) {
        for (owner, results) in by_owner {
            if let Some(peer) = self.owners.get(&owner) {
                self.out.push(peer.results(owner, results));
            }
        }
    }

    /// Assigns queued tasks round-robin to workers with free capacity, one batch per worker.
    fn schedule(&mut self) {
        if self.queue.is_empty() || self.workers.is_empty() {
            return;
        }
        let mut ids: Vec<u64> = self.workers.keys().copied().collect();
        // In join order, so that equal workers are tried in the same order every time.
        ids.sort_unstable();
        // Prefer workers that already hold the next task's component compiled.
        if let Some(front) = self.queue.first().and_then(|(_, id)| self.tasks.get(id)) {
            let digest = &front.call.digest;
            ids.sort_by_key(|id| !self.workers[id].digests.contains(digest));
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
                let Some((_, task_id)) = self.queue.pop_first() else {
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
        for id in ids {
            if let Some(calls) = batches.remove(&id) {
                let assign = proto::worker_command::Cmd::Assign(proto::Calls { calls });
                self.out.push(to_worker(id, assign));
            }
        }
    }

    /// Tells every connection the scheduler is going away.
    fn shutdown(&mut self, reason: &str) {
        let goodbyes = self
            .owners
            .iter()
            .map(|(id, peer)| peer.shutdown(*id, reason));
        self.out.extend(goodbyes);
    }

    /// The name a worker registered with, while it is known.
    pub(super) fn worker_name(&self, worker: u64) -> Option<&str> {
        self.workers.get(&worker).map(|w| w.name.as_str())
    }

    /// The workers as of `now`, in join order.
    pub(super) fn workers(&self, now: Instant) -> Vec<WorkerView> {
        let mut views: Vec<WorkerView> = self
            .workers
            .iter()
            .map(|(id, w)| WorkerView {
                id: *id,
                name: w.name.clone(),
                nthreads: w.nthreads,
                memory_limit: w.memory_limit,
                processing: w.processing.len(),
                seceded: w.seceded.len(),
                busy: w.busy,
                done: w.done,
                last_heartbeat_ms_ago: now.saturating_duration_since(w.last_seen).as_millis()
                    as u64,
            })
            .collect();
        views.sort_by_key(|w| w.id);
        views
    }

    pub(super) fn queued(&self) -> usize {
        self.queue.len()
    }

    pub(super) fn processing(&self) -> usize {
        self.workers.values().map(|w| w.processing.len()).sum()
    }

    pub(super) fn totals(&self) -> Totals {
        self.totals.clone()
    }

    /// Connected client sessions (every owner that is not a worker).
    pub(super) fn clients(&self) -> usize {
        self.owners.len().saturating_sub(self.workers.len())
    }

    /// The latest `n` task failures, oldest first.
    pub(super) fn recent_errors(&self, n: usize) -> Vec<ErrorRecord> {
        self.errors.latest(n)
    }
}

/// Why a task whose workers kept dying failed: names the task and every worker it took down.
fn lost_error(task: &Task, allowed_failures: u32) -> TaskError {
    TaskError::new(
        ErrorKind::Lost,
        format!(
            "task `{}` ({}) was running on {} workers that died ({}); it exceeded \
             allowed-failures={}. The task probably crashes or exhausts its worker: \
             check the workers' logs and limits",
            task.call.function,
            short_digest(&task.call.digest),
            task.lost_on.len(),
            task.lost_on.join(", "),
            allowed_failures
        ),
    )
}

fn short_digest(digest: &str) -> &str {
    &digest[..digest.len().min(19)]
}
