//! A pool of worker threads that each run one sandboxed call at a time, fed from one queue.
//!
//! Used by the embedded cluster and by `wasmdask worker`. A call that waits for its own
//! subtasks lends its slot to the pool while it waits (Dask's `secede`/`rejoin`), starting an
//! extra thread when no idle one is left, so nested fan-out never deadlocks on a full pool.
//!
//! The queue runs deeper calls first (first come, first served among equals): a fan-out tree
//! finishes the branches it started before it starts new ones, so the parents waiting for
//! their subtasks stay about slots × depth instead of growing with the tree's width.

use super::guest_output::GuestOutput;
use bytes::Bytes;
use parking_lot::{Condvar, Mutex};
use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Instant;
use wasmdask_sandbox::TaskError;
use wasmdask_sandbox::{Call, DataPort, FanOut, Pending};
use wasmdask_sandbox::{ExecReport, Sandbox};

thread_local! {
    /// The pool this thread belongs to (its address), so `gather` knows whether it holds a slot.
    static POOL_OF_THREAD: Cell<usize> = const { Cell::new(0) };
    /// The key of the job this thread runs, under which its secede and rejoin are reported.
    static KEY_OF_THREAD: Cell<Option<u64>> = const { Cell::new(None) };
}

/// What to do with a finished call.
pub(crate) type Done = Box<dyn FnOnce(Finished) + Send>;

/// A call for the pool and what to do when it finishes.
pub(crate) struct Job {
    pub(crate) call: Call,
    pub(crate) done: Done,
    /// The scheduler's key of a worker's task: the [`Secessions`] listener hears the task
    /// secede and rejoin under it. `None` in the embedded cluster, which has no scheduler.
    pub(crate) key: Option<u64>,
}

/// Hears when a keyed job waits for its subtasks without its slot (`secede`) and when it runs
/// again (`rejoin`); a worker tells its scheduler, which then does not count the job toward
/// what the worker may hold.
pub(crate) trait Secessions: Send + Sync {
    fn seceded(&self, key: u64);
    fn rejoined(&self, key: u64);
}

/// A finished call: its result (binary encoding) or error and, when it failed, the tails of what it wrote
/// (see [`GuestOutput::tail_of`]), so the error reaches its submitter with the evidence.
#[derive(Debug)]
pub(crate) struct Finished {
    pub function: String,
    pub outcome: Result<Bytes, TaskError>,
    pub output: GuestOutput,
}

/// Sees every execution of a pool before its result is handed on; workers aggregate their
/// metrics through it.
pub(crate) trait Observer: Send + Sync {
    fn executed(&self, function: &str, report: &ExecReport<Bytes>);
}

/// Counters for progress bars, metrics and tests.
#[derive(Debug, Default)]
pub struct Progress {
    /// Calls submitted so far.
    pub submitted: AtomicU64,
    /// Calls that returned a value.
    pub done: AtomicU64,
    /// Calls that failed.
    pub failed: AtomicU64,
}

/// The owner handle of a pool; dropping it stops the threads once they finish their call.
pub(crate) struct Pool {
    inner: Arc<PoolInner>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("slots", &self.inner.slots)
            .finish()
    }
}

pub(crate) struct PoolInner {
    sandbox: Arc<Sandbox>,
    slots: usize,
    state: Mutex<State>,
    work: Condvar,
    progress: Arc<Progress>,
    /// Where the nested fan-out of this pool's calls goes.
    fanout: OnceLock<Arc<dyn FanOut>>,
    observer: OnceLock<Arc<dyn Observer>>,
    secessions: OnceLock<Arc<dyn Secessions>>,
    /// Where the calls' file, directory and dataset arguments are fetched from.
    data: OnceLock<Arc<dyn DataPort>>,
}

#[derive(Default)]
struct State {
    /// Deepest first, then in order of arrival.
    queue: BTreeMap<(Reverse<u32>, u64), Job>,
    /// Jobs queued so far: the arrival order that breaks ties between equal depths.
    arrived: u64,
    /// Calls executing and not waiting in `gather`.
    running: usize,
    threads: usize,
    idle: usize,
    /// Threads spawned that have not yet looked at the queue (about to be idle).
    starting: usize,
    shutdown: bool,
}

impl Pool {
    /// A pool of `slots` concurrent sandboxes. Threads start on demand.
    pub(crate) fn new(sandbox: Arc<Sandbox>, slots: usize) -> Self {
        Pool {
            inner: Arc::new(PoolInner {
                sandbox,
                slots: slots.max(1),
                state: Mutex::new(State::default()),
                work: Condvar::new(),
                progress: Arc::default(),
                fanout: OnceLock::new(),
                observer: OnceLock::new(),
                secessions: OnceLock::new(),
                data: OnceLock::new(),
            }),
        }
    }

    /// Sets where the calls' own fan-out goes (once). Waits through it lend the slot out.
    pub(crate) fn set_fanout(&self, upstream: Arc<dyn FanOut>) {
        let client: Arc<dyn FanOut> = Arc::new(Seceding {
            pool: Arc::downgrade(&self.inner),
            upstream,
        });
        let _ = self.inner.fanout.set(client);
    }

    /// Sets where the calls' stored-data arguments are fetched from (once): without it a call
    /// gets their URIs but no files.
    pub(crate) fn set_data(&self, data: Arc<dyn DataPort>) {
        let _ = self.inner.data.set(data);
    }

    /// Sets who sees every execution (once).
    pub(crate) fn set_observer(&self, observer: Arc<dyn Observer>) {
        let _ = self.inner.observer.set(observer);
    }

    /// Sets who hears keyed jobs secede and rejoin (once).
    pub(crate) fn set_secessions(&self, listener: Arc<dyn Secessions>) {
        let _ = self.inner.secessions.set(listener);
    }

    /// Queues calls; `done` runs on the pool thread when each finishes.
    pub(crate) fn push(&self, jobs: Vec<Job>) {
        self.inner.push(jobs);
    }

    pub(crate) fn progress(&self) -> Arc<Progress> {
        self.inner.progress.clone()
    }

    pub(crate) fn slots(&self) -> usize {
        self.inner.slots
    }

    pub(crate) fn sandbox(&self) -> &Arc<Sandbox> {
        &self.inner.sandbox
    }

    pub(crate) fn downgrade(&self) -> Weak<PoolInner> {
        Arc::downgrade(&self.inner)
    }

    /// Calls queued or running.
    pub(crate) fn load(&self) -> usize {
        let state = self.inner.state.lock();
        state.queue.len() + state.running
    }

    /// Calls executing and not waiting in `gather`: the busy slots.
    pub(crate) fn busy(&self) -> usize {
        self.inner.state.lock().running
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.inner.state.lock().shutdown = true;
        self.inner.work.notify_all();
    }
}

impl PoolInner {
    fn id(&self) -> usize {
        self as *const PoolInner as usize
    }

    pub(crate) fn push(self: &Arc<Self>, jobs: Vec<Job>) {
        let n = jobs.len();
        let mut state = self.state.lock();
        for job in jobs {
            let priority = (Reverse(job.call.depth), state.arrived);
            state.arrived += 1;
            state.queue.insert(priority, job);
        }
        self.progress
            .submitted
            .fetch_add(n as u64, Ordering::Relaxed);
        self.top_up(&mut state);
        if n == 1 {
            self.work.notify_one();
        } else {
            self.work.notify_all();
        }
    }

    /// Starts threads so that every free slot with queued work has one to run it. Threads
    /// blocked in `gather` hold no slot, so they do not count as available.
    fn top_up(self: &Arc<Self>, state: &mut State) {
        let free_slots = self.slots.saturating_sub(state.running);
        let wanted = state
            .queue
            .len()
            .min(free_slots)
            .saturating_sub(state.idle + state.starting);
        for _ in 0..wanted {
            if !self.spawn_thread(state) {
                break;
            }
        }
    }

    fn spawn_thread(self: &Arc<Self>, state: &mut State) -> bool {
        state.threads += 1;
        state.starting += 1;
        let inner = self.clone();
        // Guest code runs on this thread's stack: leave room above the wasm stack cap.
        let stack = inner.sandbox.config().limits.max_stack_bytes * 2 + (8 << 20);
        let spawned = std::thread::Builder::new()
            .name(format!("wasmdask-slot-{}", state.threads))
            .stack_size(stack)
            .spawn(move || inner.work_loop());
        if let Err(e) = spawned {
            state.threads -= 1;
            state.starting -= 1;
            tracing::error!("cannot start a worker thread: {e}");
            return false;
        }
        true
    }

    fn work_loop(self: Arc<Self>) {
        POOL_OF_THREAD.with(|p| p.set(self.id()));
        self.state.lock().starting -= 1;
        loop {
            let Job { call, done, key } = {
                let mut state = self.state.lock();
                loop {
                    if state.shutdown {
                        state.threads -= 1;
                        return;
                    }
                    if state.running < self.slots
                        && let Some((_, job)) = state.queue.pop_first()
                    {
                        state.running += 1;
                        break job;
                    }
                    state.idle += 1;
                    self.work.wait(&mut state);
                    state.idle -= 1;
                }
            };
            KEY_OF_THREAD.set(key);
            let finished = self.run_call(call);
            match &finished.outcome {
                Ok(_) => self.progress.done.fetch_add(1, Ordering::Relaxed),
                Err(_) => self.progress.failed.fetch_add(1, Ordering::Relaxed),
            };
            done(finished);
            let mut state = self.state.lock();
            state.running -= 1;
            if !state.queue.is_empty() {
                self.work.notify_one();
            }
        }
    }

    /// Executes one call and encodes its result in the binary encoding. Its inputs have
    /// finished (the embedded cluster queues a call only then); one that failed fails the call
    /// without running it.
    fn run_call(&self, call: Call) -> Finished {
        let fanout = self.fanout.get().cloned();
        let (component, function, depth) =
            (call.component.clone(), call.function.clone(), call.depth);
        let deadline = Instant::now() + self.sandbox.config().limits.timeout;
        let args = match call.values(deadline) {
            Ok(args) => args,
            Err(error) => {
                return Finished {
                    function,
                    outcome: Err(error),
                    output: GuestOutput::default(),
                };
            }
        };
        let report = self.sandbox.execute_encoded(
            &component,
            &function,
            args,
            fanout,
            depth,
            self.data.get().map(|d| &**d as &dyn DataPort),
        );
        if let Some(observer) = self.observer.get() {
            observer.executed(&function, &report);
        }
        let output = match &report.outcome {
            Ok(_) => GuestOutput::default(),
            Err(_) => GuestOutput::tail_of(&report),
        };
        Finished {
            function,
            outcome: report.outcome,
            output,
        }
    }

    /// Lends the calling thread's slot to queued work while it blocks in `wait`, and tells the
    /// [`Secessions`] listener when the job has a key.
    fn while_blocked<T>(self: &Arc<Self>, wait: impl FnOnce() -> T) -> T {
        if POOL_OF_THREAD.with(Cell::get) != self.id() {
            return wait();
        }
        {
            let mut state = self.state.lock();
            state.running -= 1;
            self.top_up(&mut state);
            self.work.notify_one();
        }
        let listener = KEY_OF_THREAD
            .get()
            .and_then(|key| Some((key, self.secessions.get()?)));
        if let Some((key, listener)) = listener {
            listener.seceded(key);
        }
        let result = wait();
        // rejoin: may briefly exceed the slot count, like Dask.
        self.state.lock().running += 1;
        if let Some((key, listener)) = listener {
            listener.rejoined(key);
        }
        result
    }
}

/// The fan-out client given to a pool's calls: submits upstream, and lends the slot out while
/// waiting for results.
#[derive(Debug)]
struct Seceding {
    pool: Weak<PoolInner>,
    upstream: Arc<dyn FanOut>,
}

impl FanOut for Seceding {
    fn submit(&self, calls: Vec<Call>) -> Result<Vec<Pending>, TaskError> {
        self.upstream.submit(calls)
    }

    fn gather(&self, pending: &[Pending], deadline: Instant) -> Vec<Result<Bytes, TaskError>> {
        let all_done = pending.iter().all(Pending::is_done);
        match self.pool.upgrade() {
            Some(pool) if !all_done => {
                pool.while_blocked(|| self.upstream.gather(pending, deadline))
            }
            _ => self.upstream.gather(pending, deadline),
        }
    }
    fn release(&self, pending: &[Pending]) {
        self.upstream.release(pending);
    }
}
