//! The embedded cluster: worker threads in this process, each running one sandboxed call at a
//! time, fed from one queue.
//!
//! A call that waits in `gather` lends its slot to the pool while it waits (Dask's
//! `secede`/`rejoin`), starting an extra thread when no idle one is left, so nested fan-out
//! never deadlocks on a full pool.

use super::{Call, Cluster, Pending};
use crate::sandbox::Sandbox;
use crate::task_error::TaskError;
use crate::values;
use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

thread_local! {
    /// Set on pool threads, so `gather` knows whether it holds a slot to lend out.
    static IN_POOL: Cell<bool> = const { Cell::new(false) };
}

/// Counters for progress bars and tests.
#[derive(Debug, Default)]
pub struct Progress {
    pub submitted: AtomicU64,
    pub done: AtomicU64,
    pub failed: AtomicU64,
}

/// The owner handle of an embedded cluster; dropping it stops the worker threads.
#[derive(Debug)]
pub struct LocalCluster {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    sandbox: Arc<Sandbox>,
    slots: usize,
    state: Mutex<State>,
    work: Condvar,
    progress: Arc<Progress>,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<(Call, Pending)>,
    /// Calls executing and not waiting in `gather`.
    running: usize,
    threads: usize,
    idle: usize,
    shutdown: bool,
}

/// A non-owning handle given to guests for nested fan-out.
#[derive(Debug, Clone)]
struct Handle(Arc<Inner>);

impl LocalCluster {
    /// A cluster of `slots` concurrent sandboxes. Threads start on demand.
    pub fn new(sandbox: Arc<Sandbox>, slots: usize) -> Self {
        LocalCluster {
            inner: Arc::new(Inner {
                sandbox,
                slots: slots.max(1),
                state: Mutex::new(State::default()),
                work: Condvar::new(),
                progress: Arc::default(),
            }),
        }
    }

    /// The handle executions use to submit to this cluster.
    pub fn client(&self) -> Arc<dyn Cluster> {
        Arc::new(Handle(self.inner.clone()))
    }

    /// Live counters of the calls submitted to this cluster.
    pub fn progress(&self) -> Arc<Progress> {
        self.inner.progress.clone()
    }

    pub fn slots(&self) -> usize {
        self.inner.slots
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.inner.lock().shutdown = true;
        self.inner.work.notify_all();
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn spawn_thread(self: &Arc<Self>, state: &mut State) {
        state.threads += 1;
        let inner = self.clone();
        // Guest code runs on this thread's stack: leave room above the wasm stack cap.
        let stack = inner.sandbox.config().limits.max_stack_bytes * 2 + (8 << 20);
        let spawned = std::thread::Builder::new()
            .name(format!("wasmdask-worker-{}", state.threads))
            .stack_size(stack)
            .spawn(move || inner.work_loop());
        if let Err(e) = spawned {
            state.threads -= 1;
            tracing::error!("cannot start a worker thread: {e}");
        }
    }

    fn work_loop(self: Arc<Self>) {
        IN_POOL.with(|p| p.set(true));
        let client: Arc<dyn Cluster> = Arc::new(Handle(self.clone()));
        loop {
            let (call, pending) = {
                let mut state = self.lock();
                loop {
                    if state.shutdown {
                        state.threads -= 1;
                        return;
                    }
                    if state.running < self.slots
                        && let Some(job) = state.queue.pop_front()
                    {
                        state.running += 1;
                        break job;
                    }
                    state.idle += 1;
                    state = self.work.wait(state).unwrap_or_else(|e| e.into_inner());
                    state.idle -= 1;
                }
            };
            let result = run_call(&self.sandbox, call, client.clone());
            match &result {
                Ok(_) => self.progress.done.fetch_add(1, Ordering::Relaxed),
                Err(_) => self.progress.failed.fetch_add(1, Ordering::Relaxed),
            };
            pending.complete(result);
            let mut state = self.lock();
            state.running -= 1;
            if !state.queue.is_empty() {
                self.work.notify_one();
            }
        }
    }
}

/// Executes one call and encodes its result as JSON text.
fn run_call(sandbox: &Sandbox, call: Call, client: Arc<dyn Cluster>) -> Result<String, TaskError> {
    let report = sandbox.execute(&call.component, &call.function, call.args, Some(client));
    report.outcome.map(|value| match value {
        Some(v) => values::from_val(&v).to_string(),
        None => "null".to_string(),
    })
}

impl Cluster for Handle {
    fn submit(&self, calls: Vec<Call>) -> Result<Vec<Pending>, TaskError> {
        let inner = &self.0;
        let mut state = inner.lock();
        let pending: Vec<Pending> = calls
            .into_iter()
            .map(|call| {
                let p = Pending::new();
                state.queue.push_back((call, p.clone()));
                p
            })
            .collect();
        inner
            .progress
            .submitted
            .fetch_add(pending.len() as u64, Ordering::Relaxed);
        let wanted = inner.slots.min(state.queue.len() + state.running);
        while state.threads < wanted {
            inner.spawn_thread(&mut state);
        }
        if pending.len() == 1 {
            inner.work.notify_one();
        } else {
            inner.work.notify_all();
        }
        Ok(pending)
    }

    fn gather(&self, pending: &[Pending], deadline: Instant) -> Vec<Result<String, TaskError>> {
        let inner = &self.0;
        let in_pool = IN_POOL.with(Cell::get);
        let must_wait = pending.iter().any(|p| !p.is_done());
        if in_pool && must_wait {
            // secede: lend this slot to queued work while we wait.
            let mut state = inner.lock();
            state.running -= 1;
            if state.idle == 0 && !state.queue.is_empty() {
                inner.spawn_thread(&mut state);
            }
            inner.work.notify_one();
        }
        let results = pending.iter().map(|p| p.wait(deadline)).collect();
        if in_pool && must_wait {
            // rejoin: may briefly exceed the slot count, like Dask.
            inner.lock().running += 1;
        }
        results
    }
}
