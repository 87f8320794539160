//! The scheduler's state machine: tasks waiting for their inputs → queued → processing on a
//! worker → in memory on that worker (their owner told where) or erred → released → forgotten.
//!
//! Sans-IO: [`State::on`] takes one [`Event`] and returns the [`Outgoing`] messages it causes,
//! with the time passed in, so the rules below run (and are tested) without sockets, channels
//! or a clock. The service keeps it behind one lock with short, await-free critical sections.
//!
//! Fault semantics follow Dask, minus KilledWorker's flaw: a deterministic guest failure comes
//! back as a result and fails the task at once; only a lost worker counts against
//! `allowed_failures`, and a task whose workers died more often than that fails with `lost`.
//!
//! Task graph (Dask's, with the same names): a call may take results of its owner's earlier
//! calls as inputs. It waits until they are in memory, then goes to the worker that holds most
//! of their bytes, which fetches the rest from their holders. A result is kept while its owner
//! holds its handle or a call that has not finished needs it; then its worker is told to free
//! it. The record stays while a later result derives from it, so a value lost with its worker
//! is recomputed from its call and inputs (lineage), recursively.
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
use wasmdask_sandbox::input_failed;
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

/// How often a call may find an input missing at its holder (recomputed each time) before it
/// fails as `lost`: a holder that keeps losing values must not make the call retry forever.
const MISSING_RETRIES: u32 = 5;

#[derive(Debug)]
struct Task {
    owner: u64,
    owner_key: u64,
    /// Its `inputs` carry scheduler keys.
    call: proto::Call,
    stage: Stage,
    /// Names of workers that died while holding this task.
    lost_on: Vec<String>,
    /// The owner still holds its handle: the result is kept (and recomputed if lost).
    held: bool,
    /// Unfinished tasks that take this result as an input: while there are any, it is kept.
    waiting: HashSet<u64>,
    /// Every task on record that takes this result as an input: it may need it recomputed.
    dependents: HashSet<u64>,
    /// Times an input of this task could not be fetched.
    missing_retries: u32,
}

/// Where a task is in its life.
#[derive(Debug, Clone, PartialEq)]
enum Stage {
    /// Some inputs are not in memory yet.
    Waiting,
    Queued,
    Processing(u64),
    /// The result is on `worker`.
    Memory {
        worker: u64,
        nbytes: u64,
    },
    /// The result was freed (nothing needed it); the record stays for lineage.
    Released,
    Erred(TaskError),
}

impl Stage {
    fn finished(&self) -> bool {
        matches!(
            self,
            Stage::Memory { .. } | Stage::Released | Stage::Erred(_)
        )
    }
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
    /// Where it serves the results it holds.
    pub data_address: String,
    /// The results it holds, as of its last heartbeat.
    pub data: DataView,
}

/// A worker's data store and transfers, as of its last heartbeat.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub(crate) struct DataView {
    pub memory_bytes: u64,
    pub memory_keys: u64,
    pub spilled_bytes: u64,
    pub spilled_keys: u64,
    pub spills: u64,
    pub unspills: u64,
    pub fetched_bytes: u64,
    pub fetches: u64,
    pub fetch_seconds: f64,
    pub served_bytes: u64,
}

impl From<&proto::DataHeld> for DataView {
    fn from(d: &proto::DataHeld) -> Self {
        DataView {
            memory_bytes: d.memory_bytes,
            memory_keys: d.memory_keys,
            spilled_bytes: d.spilled_bytes,
            spilled_keys: d.spilled_keys,
            spills: d.spills,
            unspills: d.unspills,
            fetched_bytes: d.fetched_bytes,
            fetches: d.fetches,
            fetch_seconds: d.fetch_us as f64 / 1e6,
            served_bytes: d.served_bytes,
        }
    }
}

#[derive(Debug)]
struct Worker {
    name: String,
    nthreads: u32,
    memory_limit: u64,
    data_address: String,
    processing: HashSet<u64>,
    /// Tasks of `processing` that wait for their subtasks without a slot: like Dask's
    /// long-running tasks they do not count toward the worker's capacity, or a tree of tasks
    /// whose parents fill every worker would never get its leaves assigned.
    seceded: HashSet<u64>,
    /// Results it holds: task → bytes.
    held: HashMap<u64, u64>,
    digests: HashSet<String>,
    last_seen: Instant,
    busy: u32,
    done: u64,
    data: DataView,
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
    /// Results recomputed because the worker holding them was lost (or could not serve them).
    pub recomputed: u64,
}

/// The whole scheduler state.
#[derive(Debug)]
pub(super) struct State {
    policy: Policy,
    next_id: u64,
    tasks: HashMap<u64, Task>,
    /// The task of each handle an owner holds: (owner, owner key) → task.
    handles: HashMap<(u64, u64), u64>,
    /// Queued tasks, deepest first, then by id (the order they were submitted in).
    queue: BTreeSet<(Reverse<u32>, u64)>,
    workers: HashMap<u64, Worker>,
    /// Every connection that may own tasks (workers too: their fan-out), by id.
    owners: HashMap<u64, Peer>,
    totals: Totals,
    errors: RecentErrors,
    /// Results to free, by worker, sent when the event is handled.
    frees: HashMap<u64, Vec<u64>>,
    /// Results for owners, sent when the event is handled.
    results: HashMap<u64, Vec<proto::Result>>,
    /// Messages produced by the event being handled; [`State::on`] hands them out.
    out: Vec<Outgoing>,
}

impl State {
    pub(super) fn new(policy: Policy) -> Self {
        State {
            policy,
            next_id: 1,
            tasks: HashMap::new(),
            handles: HashMap::new(),
            queue: BTreeSet::new(),
            workers: HashMap::new(),
            owners: HashMap::new(),
            totals: Totals::default(),
            errors: RecentErrors::default(),
            frees: HashMap::new(),
            results: HashMap::new(),
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
            Event::Released { owner, keys } => self.release(owner, &keys),
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
        self.flush();
        std::mem::take(&mut self.out)
    }

    /// Sends the results and frees gathered while handling an event, one batch per peer.
    fn flush(&mut self) {
        for (owner, results) in std::mem::take(&mut self.results) {
            if let Some(peer) = self.owners.get(&owner) {
                self.out.push(peer.results(owner, results));
            }
        }
        for (worker, keys) in std::mem::take(&mut self.frees) {
            if self.workers.contains_key(&worker) {
                let free = proto::worker_command::Cmd::Free(proto::Keys { keys });
                self.out.push(to_worker(worker, free));
            }
        }
        self.schedule();
    }

    fn add_worker(&mut self, now: Instant, id: u64, register: &proto::Register) {
        tracing::info!(worker = %register.name, nthreads = register.nthreads, memory_limit = register.memory_limit, data = %register.data_address, "worker joined");
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
                data_address: register.data_address.clone(),
                processing: HashSet::new(),
                seceded: HashSet::new(),
                held: HashMap::new(),
                digests: HashSet::new(),
                last_seen: now,
                busy: 0,
                done: 0,
                data: DataView::default(),
            },
        );
    }

    fn heartbeat(&mut self, now: Instant, worker: u64, beat: &proto::Heartbeat) {
        let Some(w) = self.workers.get_mut(&worker) else {
            return;
        };
        w.last_seen = now;
        w.busy = beat.busy;
        w.digests.extend(beat.digests.iter().cloned());
        if let Some(data) = &beat.data {
            w.data = data.into();
        }
    }

    /// Queues calls from an owner (a client session or a worker's running task). A call whose
    /// inputs are not all in memory waits for them.
    fn submit(&mut self, owner: u64, calls: Vec<proto::Call>) {
        for mut call in calls {
            let id = self.next_id();
            let owner_key = call.key;
            call.key = id;
            let mut unknown = None;
            for input in &mut call.inputs {
                match self.handles.get(&(owner, input.key)) {
                    Some(&task) => input.key = task,
                    None => unknown = Some(input.clone()),
                }
            }
            self.handles.insert((owner, owner_key), id);
            self.totals.submitted += 1;
            let task = Task {
                owner,
                owner_key,
                call,
                stage: Stage::Waiting,
                lost_on: Vec::new(),
                held: true,
                waiting: HashSet::new(),
                dependents: HashSet::new(),
                missing_retries: 0,
            };
            let inputs: Vec<u64> = task.call.inputs.iter().map(|i| i.key).collect();
            let function = task.call.function.clone();
            self.tasks.insert(id, task);
            if let Some(input) = unknown {
                let error = TaskError::new(
                    ErrorKind::Lost,
                    format!(
                        "`{function}` did not run: its argument `{}` is the result of call {} \
                         (`{}`), which the scheduler no longer has (released, or submitted \
                         before a reconnection)",
                        input.param, input.handle, input.function
                    ),
                );
                self.fail(id, error, None);
                continue;
            }
            for input in inputs {
                if let Some(dep) = self.tasks.get_mut(&input) {
                    dep.dependents.insert(id);
                }
            }
            self.plan(id);
        }
    }

    /// Puts task `id` (new, lost or recomputed) where its inputs allow: queued when they are
    /// all in memory, waiting otherwise (recomputing those that were freed), failed when one
    /// failed.
    fn plan(&mut self, id: u64) {
        // A worklist, not recursion: a lost result may be the end of a long lineage.
        let mut work = vec![id];
        while let Some(id) = work.pop() {
            self.plan_one(id, &mut work);
        }
    }

    /// [`State::plan`] for one task; inputs to recompute go on `work`.
    fn plan_one(&mut self, id: u64, work: &mut Vec<u64>) {
        let Some(task) = self.tasks.get(&id) else {
            return;
        };
        let inputs: Vec<proto::Input> = task.call.inputs.clone();
        let mut seen = HashSet::new();
        let mut missing = 0;
        let mut failed = None;
        for input in &inputs {
            if !seen.insert(input.key) {
                continue; // the same result passed twice is waited for once
            }
            let Some(dep) = self.tasks.get_mut(&input.key) else {
                let gone = TaskError::new(
                    ErrorKind::Lost,
                    "its result is gone and cannot be recomputed",
                );
                failed = Some((input, gone));
                break;
            };
            // Needed until this task finishes, even when it is in memory already.
            dep.waiting.insert(id);
            match &dep.stage {
                Stage::Memory { .. } => {}
                Stage::Erred(error) => {
                    failed = Some((input, error.clone()));
                    break;
                }
                stage => {
                    if *stage == Stage::Released {
                        // Planned next; marked now so that no other dependent plans it again.
                        dep.stage = Stage::Waiting;
                        self.totals.recomputed += 1;
                        work.push(input.key);
                    }
                    missing += 1;
                }
            }
        }
        if let Some((input, error)) = failed {
            let error = input_failed(
                &self.tasks[&id].call.function,
                &input.param,
                input.handle,
                &input.function,
                &error,
            );
            self.fail(id, error, None);
            return;
        }
        let task = self.tasks.get_mut(&id).expect("present");
        if missing == 0 {
            task.stage = Stage::Queued;
            self.queue.insert((Reverse(task.call.depth), id));
        } else {
            task.stage = Stage::Waiting;
        }
    }

    /// The result of `id` left memory: the queued calls that take it wait for it again.
    fn unqueue_dependents(&mut self, id: u64) {
        let Some(task) = self.tasks.get(&id) else {
            return;
        };
        let dependents: Vec<u64> = task.waiting.iter().copied().collect();
        for dependent in dependents {
            if let Some(d) = self.tasks.get_mut(&dependent)
                && d.stage == Stage::Queued
            {
                self.queue.remove(&(Reverse(d.call.depth), dependent));
                d.stage = Stage::Waiting;
            }
        }
    }

    /// How many distinct inputs of `id` are not in memory.
    fn missing_inputs(&self, id: u64) -> usize {
        let Some(task) = self.tasks.get(&id) else {
            return 0;
        };
        let inputs: HashSet<u64> = task.call.inputs.iter().map(|i| i.key).collect();
        inputs
            .into_iter()
            .filter(|key| {
                !matches!(
                    self.tasks.get(key).map(|t| &t.stage),
                    Some(Stage::Memory { .. })
                )
            })
            .count()
    }

    /// The owner no longer needs these results.
    fn release(&mut self, owner: u64, keys: &[u64]) {
        for key in keys {
            if let Some(id) = self.handles.remove(&(owner, *key))
                && let Some(task) = self.tasks.get_mut(&id)
            {
                task.held = false;
                self.settle(id);
            }
        }
    }

    /// Frees the results nothing needs any more and forgets the records nothing derives from,
    /// starting at `id` and following its inputs (a worklist: chains are long).
    fn settle(&mut self, id: u64) {
        let mut work = vec![id];
        while let Some(id) = work.pop() {
            let Some(task) = self.tasks.get_mut(&id) else {
                continue;
            };
            if !task.stage.finished() || task.held || !task.waiting.is_empty() {
                continue;
            }
            if let Stage::Memory { worker, .. } = task.stage {
                task.stage = Stage::Released;
                self.frees.entry(worker).or_default().push(id);
                if let Some(w) = self.workers.get_mut(&worker) {
                    w.held.remove(&id);
                }
            }
            if !task.dependents.is_empty() {
                continue;
            }
            let task = self.tasks.remove(&id).expect("present");
            self.handles.remove(&(task.owner, task.owner_key));
            for input in &task.call.inputs {
                if let Some(dep) = self.tasks.get_mut(&input.key) {
                    dep.dependents.remove(&id);
                    dep.waiting.remove(&id);
                    work.push(input.key);
                }
            }
        }
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
        }
    }

    /// Results of tasks a worker finished.
    fn done(&mut self, now: Instant, worker: u64, results: Vec<proto::Result>) {
        if let Some(w) = self.workers.get_mut(&worker) {
            w.last_seen = now;
        }
        for result in results {
            let id = result.key;
            let Some(task) = self.tasks.get(&id) else {
                continue; // cancelled
            };
            if task.stage != Stage::Processing(worker) {
                continue; // rescheduled elsewhere meanwhile; the other copy will answer
            }
            if let Some(w) = self.workers.get_mut(&worker) {
                w.processing.remove(&id);
                w.seceded.remove(&id);
                w.done += 1;
                w.digests.insert(task.call.digest.clone());
            }
            if !result.missing.is_empty() {
                self.inputs_missing(id, &result.missing);
                continue;
            }
            match &result.outcome {
                Some(proto::result::Outcome::Error(error)) => {
                    let name = self.workers.get(&worker).map_or("", |w| w.name.as_str());
                    self.errors.push(ErrorRecord::new(
                        name,
                        &task.call.function,
                        error,
                        result.output.as_ref(),
                    ));
                    let error = TaskError::from(error.clone());
                    self.fail(id, error, Some(result));
                }
                _ => self.in_memory(id, worker, result),
            }
        }
    }

    /// Task `id` finished on `worker`, which keeps its result; its owner hears where it is
    /// (with the value, when small), and calls waiting for it may run.
    fn in_memory(&mut self, id: u64, worker: u64, mut result: proto::Result) {
        let address = self
            .workers
            .get(&worker)
            .map(|w| w.data_address.clone())
            .unwrap_or_default();
        let nbytes = match &mut result.outcome {
            Some(proto::result::Outcome::Value(value)) => value.len() as u64,
            Some(proto::result::Outcome::Held(held)) => {
                held.address = address;
                held.nbytes
            }
            _ => 0,
        };
        self.totals.completed += 1;
        let task = self.tasks.get_mut(&id).expect("present");
        task.stage = Stage::Memory { worker, nbytes };
        if let Some(w) = self.workers.get_mut(&worker) {
            w.held.insert(id, nbytes);
        }
        if task.held {
            result.key = task.owner_key;
            self.results.entry(task.owner).or_default().push(result);
        }
        let waiting: Vec<u64> = task.waiting.iter().copied().collect();
        for dependent in waiting {
            if self.tasks.get(&dependent).map(|d| &d.stage) == Some(&Stage::Waiting)
                && self.missing_inputs(dependent) == 0
            {
                let d = self.tasks.get_mut(&dependent).expect("present");
                d.stage = Stage::Queued;
                self.queue.insert((Reverse(d.call.depth), dependent));
            }
        }
        self.finished(id);
    }

    /// Task `id` finished (in memory or failed): its inputs may be needed no more, and it may
    /// not be needed itself.
    fn finished(&mut self, id: u64) {
        let inputs: Vec<u64> = self.tasks[&id].call.inputs.iter().map(|i| i.key).collect();
        for input in inputs {
            if let Some(dep) = self.tasks.get_mut(&input) {
                dep.waiting.remove(&id);
            }
            self.settle(input);
        }
        self.settle(id);
    }

    /// Task `id` failed with `error`: its owner hears (with the worker's `result`, when there is
    /// one, which carries the guest's output), and so, transitively, does every call waiting
    /// for it, without running.
    fn fail(&mut self, id: u64, error: TaskError, result: Option<proto::Result>) {
        let mut work = vec![(id, error, result)];
        while let Some((id, error, result)) = work.pop() {
            let Some(task) = self.tasks.get_mut(&id) else {
                continue;
            };
            if task.stage.finished() {
                continue;
            }
            self.totals.erred += 1;
            task.stage = Stage::Erred(error.clone());
            if task.held {
                let mut result =
                    result.unwrap_or_else(|| proto::Result::from_outcome(0, Err(error.clone())));
                result.key = task.owner_key;
                self.results.entry(task.owner).or_default().push(result);
            }
            let waiting: Vec<u64> = task.waiting.drain().collect();
            let function = task.call.function.clone();
            for dependent in waiting {
                let Some(d) = self.tasks.get(&dependent) else {
                    continue;
                };
                let Some(input) = d.call.inputs.iter().find(|i| i.key == id) else {
                    continue;
                };
                let error = input_failed(
                    &d.call.function,
                    &input.param,
                    input.handle,
                    &function,
                    &error,
                );
                work.push((dependent, error, None));
            }
            self.finished(id);
        }
    }

    /// The worker running `id` could not fetch these inputs: recompute them, then run it again.
    fn inputs_missing(&mut self, id: u64, missing: &[u64]) {
        let task = self.tasks.get_mut(&id).expect("present");
        task.missing_retries += 1;
        if task.missing_retries > MISSING_RETRIES {
            let error = TaskError::new(
                ErrorKind::Lost,
                format!(
                    "`{}` did not run: its inputs could not be fetched from the workers holding \
                     them {MISSING_RETRIES} times; check that workers can reach each other's \
                     data address",
                    task.call.function
                ),
            );
            self.fail(id, error, None);
            return;
        }
        for key in missing {
            self.lose_value(*key);
        }
        self.plan(id);
    }

    /// The result of `id` is no longer where the scheduler thought (its worker is gone or
    /// could not serve it).
    fn lose_value(&mut self, id: u64) {
        let Some(task) = self.tasks.get_mut(&id) else {
            return;
        };
        if let Stage::Memory { worker, .. } = task.stage {
            task.stage = Stage::Released;
            if let Some(w) = self.workers.get_mut(&worker) {
                w.held.remove(&id);
                // It may still have it (unreachable for a moment, say): not for long.
                self.frees.entry(worker).or_default().push(id);
            }
            self.unqueue_dependents(id);
        }
    }

    /// A worker's connection ended or its heartbeats stopped: reschedule what it ran and
    /// recompute what it held that is still needed.
    fn worker_lost(&mut self, worker: u64, reason: &str) {
        let Some(w) = self.workers.remove(&worker) else {
            return;
        };
        self.totals.lost_workers += 1;
        tracing::warn!(worker = %w.name, "worker lost: {reason}; rescheduling {} task(s), {} result(s) held there", w.processing.len(), w.held.len());
        // Its results are gone: nothing may be planned on them.
        for id in w.held.keys() {
            if let Some(task) = self.tasks.get_mut(id) {
                task.stage = Stage::Released;
            }
            self.unqueue_dependents(*id);
        }
        for id in w.processing {
            let Some(task) = self.tasks.get_mut(&id) else {
                continue;
            };
            task.stage = Stage::Waiting;
            if !task.held && task.waiting.is_empty() {
                // Nobody wants it any more: forget it instead of running it again.
                task.stage = Stage::Released;
                self.settle(id);
                continue;
            }
            task.lost_on.push(w.name.clone());
            if task.lost_on.len() as u32 > self.policy.allowed_failures {
                let error = lost_error(task, self.policy.allowed_failures);
                let wire = proto::TaskError::from(&error);
                let record = ErrorRecord::new(&w.name, &task.call.function, &wire, None);
                self.errors.push(record);
                self.fail(id, error, None);
            } else {
                self.plan(id);
            }
        }
        for id in w.held.into_keys() {
            let needed = self
                .tasks
                .get(&id)
                .is_some_and(|t| t.stage == Stage::Released && (t.held || !t.waiting.is_empty()));
            if needed {
                self.totals.recomputed += 1;
                self.plan(id);
            } else {
                self.settle(id);
            }
        }
        // Its own fan-out dies with it: the parents are rescheduled and submit again. This
        // also closes its connection.
        self.owner_gone(worker);
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

    /// A submitter went away: its handles are dropped, its waiting and queued tasks cancelled;
    /// running ones are left to finish and their results freed.
    fn owner_gone(&mut self, owner: u64) {
        if self.owners.remove(&owner).is_some() {
            self.out.push(Outgoing::Close { id: owner });
        }
        let owned: Vec<u64> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.owner == owner)
            .map(|(id, _)| *id)
            .collect();
        let mut cancelled = HashSet::new();
        for id in &owned {
            let task = self.tasks.get_mut(id).expect("present");
            task.held = false;
            self.handles.remove(&(owner, task.owner_key));
            if matches!(task.stage, Stage::Waiting | Stage::Queued) {
                cancelled.insert(*id);
            }
        }
        if !cancelled.is_empty() {
            self.queue.retain(|(_, id)| !cancelled.contains(id));
        }
        for id in &cancelled {
            // Cancelled: finished as far as the graph is concerned, with nobody to tell.
            if let Some(task) = self.tasks.get_mut(id) {
                task.stage = Stage::Released;
            }
        }
        for id in owned {
            if let Some(task) = self.tasks.get_mut(&id) {
                task.waiting.retain(|d| !cancelled.contains(d));
            }
            self.settle(id);
        }
    }

    /// Assigns queued tasks to workers with free capacity, one batch per worker: a task with
    /// inputs to the worker that holds most of their bytes, the others round-robin.
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
        let mut next = 0;
        while let Some(&(_, task_id)) = self.queue.first() {
            let Some(task) = self.tasks.get(&task_id) else {
                self.queue.pop_first();
                continue;
            };
            let local = self.holder_of_most_inputs(task);
            let chosen = local.or_else(|| {
                (0..ids.len())
                    .map(|i| ids[(next + i) % ids.len()])
                    .find(|id| self.workers[id].capacity() > 0)
            });
            let Some(worker_id) = chosen else {
                break; // every worker is full
            };
            if local.is_none() {
                next = ids
                    .iter()
                    .position(|id| *id == worker_id)
                    .map_or(0, |i| i + 1);
            }
            self.queue.pop_first();
            let mut call = self.tasks[&task_id].call.clone();
            for input in &mut call.inputs {
                if let Some(Stage::Memory { worker, nbytes }) =
                    self.tasks.get(&input.key).map(|t| &t.stage)
                {
                    input.holders = vec![self.workers[worker].data_address.clone()];
                    input.nbytes = *nbytes;
                }
            }
            let task = self.tasks.get_mut(&task_id).expect("present");
            task.stage = Stage::Processing(worker_id);
            let worker = self.workers.get_mut(&worker_id).expect("present");
            worker.processing.insert(task_id);
            batches.entry(worker_id).or_default().push(call);
        }
        for id in ids {
            if let Some(calls) = batches.remove(&id) {
                let assign = proto::worker_command::Cmd::Assign(proto::Calls { calls });
                self.out.push(to_worker(id, assign));
            }
        }
    }

    /// The worker with free capacity that holds the most bytes of `task`'s inputs, if any
    /// holds some.
    fn holder_of_most_inputs(&self, task: &Task) -> Option<u64> {
        let mut bytes: HashMap<u64, u64> = HashMap::new();
        for input in &task.call.inputs {
            if let Some(Stage::Memory { worker, nbytes }) =
                self.tasks.get(&input.key).map(|t| &t.stage)
            {
                *bytes.entry(*worker).or_default() += nbytes + 1;
            }
        }
        bytes
            .into_iter()
            .filter(|(w, _)| self.workers.get(w).is_some_and(|w| w.capacity() > 0))
            .max_by_key(|(w, b)| (*b, Reverse(*w)))
            .map(|(w, _)| w)
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
                data_address: w.data_address.clone(),
                data: w.data.clone(),
            })
            .collect();
        views.sort_by_key(|w| w.id);
        views
    }

    pub(super) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Tasks waiting for their inputs.
    pub(super) fn waiting(&self) -> usize {
        self.tasks
            .values()
            .filter(|t| t.stage == Stage::Waiting)
            .count()
    }

    /// Results in memory on workers, and their bytes.
    pub(super) fn held_results(&self) -> (usize, u64) {
        self.workers.values().fold((0, 0), |(n, b), w| {
            (n + w.held.len(), b + w.held.values().sum::<u64>())
        })
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
