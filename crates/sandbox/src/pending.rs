//! A result slot shared by whoever runs a call and whoever waits for it.

use crate::task_error::{ErrorKind, TaskError};
use bytes::Bytes;
use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Gets a value that another process keeps (a worker's data store), when someone needs it.
pub trait Fetch: Send + Sync + std::fmt::Debug {
    /// The value in the binary encoding, by `deadline`. A holder that cannot be reached (or no
    /// longer has the value) is a [`ErrorKind::Lost`] error: the cluster recomputes the value
    /// and places it again (see [`Pending::complete_held`]).
    fn fetch(&self, deadline: Instant) -> Result<Bytes, TaskError>;

    /// The value's size in the binary encoding, as its holder reported it: what a fetch will
    /// bring into this process.
    fn nbytes(&self) -> u64;
}

/// Values fetched ahead of the one waited for: a guest that takes its results one by one, or
/// a gather of many, finds the next ones here or on their way instead of asking for each only
/// when it needs it (a round trip and a transfer per value on the critical path).
pub(crate) const READ_AHEAD: usize = 4;

/// The largest value a guest's one-by-one `take`s fetch ahead, so at most [`READ_AHEAD`] times
/// this is fetched before it is asked for: values held elsewhere can be large, and one that is
/// never taken (passed on as an argument instead) was fetched for nothing. A larger value's
/// transfer takes long enough that the round trip saved would not matter.
pub(crate) const READ_AHEAD_VALUE_BYTES: u64 = 16 << 20;

/// The eventual result (or task error) of one submitted call: its output value in the binary
/// encoding ([`TaskSig::encode_output`](crate::TaskSig::encode_output)), shared, not copied, by
/// everyone who waits for it, or where another process keeps it.
#[derive(Debug, Clone, Default)]
pub struct Pending(Arc<Slot>);

/// What a call that finished left.
#[derive(Debug, Clone)]
enum Outcome {
    /// The value (or error) is here.
    Here(Result<Bytes, TaskError>),
    /// Another process keeps the value; it is fetched when taken.
    Held(Arc<dyn Fetch>),
}

#[derive(Default)]
struct Slot {
    /// The owner's key for the call (remote clusters), see [`Pending::keyed`].
    key: Option<u64>,
    state: Mutex<State>,
    ready: Condvar,
}

#[derive(Default)]
struct State {
    outcome: Option<Outcome>,
    /// Bumped whenever the outcome is set or replaced, so a waiter whose fetch failed can wait
    /// for the value's next placement.
    placements: u64,
    /// A held value is being fetched: others wait for that fetch instead of starting their own.
    fetching: bool,
    /// Run once, at the first outcome.
    on_done: Vec<Box<dyn FnOnce() + Send>>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.lock();
        f.debug_struct("Pending")
            .field("key", &self.key)
            .field("outcome", &state.outcome)
            .finish_non_exhaustive()
    }
}

impl Pending {
    /// An empty slot.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty slot that a remote cluster knows under `key`, so a later call can name it as
    /// an argument.
    pub fn keyed(key: u64) -> Self {
        Pending(Arc::new(Slot {
            key: Some(key),
            ..Slot::default()
        }))
    }

    /// Whether `self` and `other` are the same slot (not just equal keys: a key is only
    /// meaningful to the connection that gave it).
    pub fn is(&self, other: &Pending) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The key given to [`Pending::keyed`].
    pub fn key(&self) -> Option<u64> {
        self.0.key
    }

    /// Fills the slot with a value or an error. The first value or error wins; it replaces a
    /// held placement (a value recomputed after its holder was lost may arrive inline).
    pub fn complete(&self, result: Result<Bytes, TaskError>) {
        self.place(Outcome::Here(result));
    }

    /// Records that another process keeps the value. A later placement replaces this one: the
    /// value was recomputed elsewhere after its holder was lost.
    pub fn complete_held(&self, fetch: Arc<dyn Fetch>) {
        self.place(Outcome::Held(fetch));
    }

    fn place(&self, outcome: Outcome) {
        let callbacks = {
            let mut state = self.0.state.lock();
            if matches!(state.outcome, Some(Outcome::Here(_))) {
                return;
            }
            state.outcome = Some(outcome);
            state.placements += 1;
            self.0.ready.notify_all();
            std::mem::take(&mut state.on_done)
        };
        for callback in callbacks {
            callback();
        }
    }

    /// Whether the call finished (its value may still be held elsewhere).
    pub fn is_done(&self) -> bool {
        self.0.state.lock().outcome.is_some()
    }

    /// Blocks until the call has finished (its value may be held elsewhere: nothing is fetched)
    /// or `until` passes.
    fn wait_done(&self, until: Instant) {
        let mut state = self.0.state.lock();
        while state.outcome.is_none() && !self.0.ready.wait_until(&mut state, until).timed_out() {}
    }

    /// Runs `callback` once the call has finished: now, on this thread, if it has.
    pub fn on_done(&self, callback: impl FnOnce() + Send + 'static) {
        let mut state = self.0.state.lock();
        if state.outcome.is_none() {
            state.on_done.push(Box::new(callback));
            return;
        }
        drop(state);
        callback();
    }

    /// Blocks until the result is there or `deadline` passes (then a `timeout` error). A value
    /// held elsewhere is fetched; when its holder was lost, this waits for the value's next
    /// placement.
    pub fn wait(&self, deadline: Instant) -> Result<Bytes, TaskError> {
        let mut state = self.0.state.lock();
        let mut lost: Option<TaskError> = None;
        let mut failed_placement = 0;
        loop {
            match &state.outcome {
                Some(Outcome::Here(result)) => return result.clone(),
                Some(Outcome::Held(fetch))
                    if state.placements != failed_placement && !state.fetching =>
                {
                    let (fetch, placement) = (fetch.clone(), state.placements);
                    state.fetching = true;
                    drop(state);
                    let fetched = fetch.fetch(deadline);
                    state = self.0.state.lock();
                    state.fetching = false;
                    self.0.ready.notify_all();
                    match fetched {
                        Err(error) if error.kind == ErrorKind::Lost => {
                            lost = Some(error);
                            failed_placement = placement;
                        }
                        // Kept: a guest that `wait`s for its results and then `take`s them
                        // one by one must not fetch each value twice. A placement that came
                        // meanwhile (the value recomputed after a loss) gives way to it.
                        Ok(value) => {
                            if state.placements == placement {
                                state.outcome = Some(Outcome::Here(Ok(value.clone())));
                                state.placements += 1;
                            }
                            return Ok(value);
                        }
                        other => return other,
                    }
                    continue;
                }
                _ => {}
            }
            if Instant::now() >= deadline {
                return Err(timeout(lost));
            }
            self.0.ready.wait_until(&mut state, deadline);
        }
    }

    /// Starts fetching a value held elsewhere, of at most `max_bytes`, on a thread of its own,
    /// so that a later [`wait`](Self::wait) finds it here or joins the fetch. Returns the
    /// value's size when a fetch started; nothing happens for a value that is here, being
    /// fetched, too large, or not made yet.
    pub fn prefetch(&self, deadline: Instant, max_bytes: u64) -> Option<u64> {
        let nbytes = {
            let state = self.0.state.lock();
            match &state.outcome {
                Some(Outcome::Held(fetch)) if !state.fetching && fetch.nbytes() <= max_bytes => {
                    fetch.nbytes()
                }
                _ => return None,
            }
        };
        let pending = self.clone();
        std::thread::Builder::new()
            .name("wasmdask-prefetch".into())
            .spawn(move || {
                // A failure is the waiter's to see: it fetches again and gets the error.
                let _ = pending.wait(deadline);
            })
            .ok()
            .map(|_| nbytes)
    }
}

/// How long a gather that finds its next result missing sleeps for later results at most, see
/// [`wait_all`].
const GATHER_NAP: Duration = Duration::from_millis(1);

/// Waits for each of `pending` in turn, fetching up to [`READ_AHEAD`] of the following values
/// meanwhile: a gather of many held values overlaps their transfers.
///
/// When the next result is missing, the gatherer first sleeps until the *last* one is done or
/// [`GATHER_NAP`] passes. Waiting for each result in turn woke the gathering thread once per
/// result: in a fan-out of 100,000 tiny calls on one worker that was a thread switch per call
/// and a quarter of the CPU time. The nap bounds how late a held value's fetch starts.
pub(crate) fn wait_all(pending: &[Pending], deadline: Instant) -> Vec<Result<Bytes, TaskError>> {
    (0..pending.len())
        .map(|i| {
            if let (false, Some(last)) = (pending[i].is_done(), pending.last()) {
                last.wait_done(deadline.min(Instant::now() + GATHER_NAP));
            }
            for next in pending.iter().skip(i + 1).take(READ_AHEAD) {
                next.prefetch(deadline, u64::MAX);
            }
            pending[i].wait(deadline)
        })
        .collect()
}

fn timeout(lost: Option<TaskError>) -> TaskError {
    let mut message = "the subtask did not finish before the calling task's timeout; raise \
                       --timeout or split the work into smaller calls"
        .to_string();
    if let Some(lost) = lost {
        message.push_str(&format!(
            " (its result was lost and not recomputed in time: {})",
            lost.message
        ));
    }
    TaskError::new(ErrorKind::Timeout, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[derive(Debug)]
    struct Gone;
    impl Fetch for Gone {
        fn fetch(&self, _: Instant) -> Result<Bytes, TaskError> {
            Err(TaskError::new(ErrorKind::Lost, "holder w1 is gone"))
        }
        fn nbytes(&self) -> u64 {
            0
        }
    }

    #[derive(Debug)]
    struct There(&'static [u8]);
    impl Fetch for There {
        fn fetch(&self, _: Instant) -> Result<Bytes, TaskError> {
            Ok(Bytes::from_static(self.0))
        }
        fn nbytes(&self) -> u64 {
            self.0.len() as u64
        }
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[test]
    fn the_first_value_wins_and_callbacks_run_once() {
        let pending = Pending::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = runs.clone();
        pending.on_done(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        assert!(!pending.is_done());
        pending.complete(Ok(Bytes::from_static(b"a")));
        pending.complete(Ok(Bytes::from_static(b"b")));
        assert_eq!(pending.wait(soon()).unwrap(), Bytes::from_static(b"a"));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let counter = runs.clone();
        pending.on_done(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(runs.load(Ordering::SeqCst), 2, "runs at once when done");
    }

    #[test]
    fn a_held_value_is_fetched_once() {
        let pending = Pending::keyed(7);
        assert_eq!(pending.key(), Some(7));
        let fetches = Arc::new(AtomicUsize::new(0));
        pending.complete_held(Arc::new(Counted(fetches.clone())));
        assert!(pending.is_done());
        assert_eq!(pending.wait(soon()).unwrap(), Bytes::from_static(b"xyz"));
        assert_eq!(pending.wait(soon()).unwrap(), Bytes::from_static(b"xyz"));
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[derive(Debug)]
    struct Counted(Arc<AtomicUsize>);
    impl Fetch for Counted {
        fn fetch(&self, _: Instant) -> Result<Bytes, TaskError> {
            // Slow enough that a wait comes while a prefetch is still fetching.
            std::thread::sleep(Duration::from_millis(20));
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(Bytes::from_static(b"xyz"))
        }
        fn nbytes(&self) -> u64 {
            3
        }
    }

    #[test]
    fn a_wait_joins_a_prefetch_instead_of_fetching_again() {
        let pending = Pending::new();
        assert_eq!(pending.prefetch(soon(), 3), None, "nothing to fetch yet");
        let fetches = Arc::new(AtomicUsize::new(0));
        pending.complete_held(Arc::new(Counted(fetches.clone())));
        assert_eq!(pending.prefetch(soon(), 2), None, "larger than asked for");
        assert_eq!(pending.prefetch(soon(), 3), Some(3));
        assert_eq!(pending.wait(soon()).unwrap(), Bytes::from_static(b"xyz"));
        assert_eq!(pending.prefetch(soon(), 3), None, "already here");
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    /// Each fetch of a `Pair` finishes only once the other value's fetch has started too: waited
    /// for one after the other, without fetching ahead, the first would never finish.
    #[derive(Debug)]
    struct Pair(Arc<(Mutex<usize>, Condvar)>);
    impl Fetch for Pair {
        fn fetch(&self, deadline: Instant) -> Result<Bytes, TaskError> {
            let (started, changed) = &*self.0;
            let mut started = started.lock();
            *started += 1;
            changed.notify_all();
            while *started < 2 {
                if changed.wait_until(&mut started, deadline).timed_out() {
                    return Err(TaskError::new(ErrorKind::Timeout, "fetched one at a time"));
                }
            }
            Ok(Bytes::from_static(b"pair"))
        }
        fn nbytes(&self) -> u64 {
            4
        }
    }

    #[test]
    fn waiting_for_many_fetches_the_next_ones_meanwhile() {
        let both = Arc::new((Mutex::new(0), Condvar::new()));
        let pending = [Pending::new(), Pending::new()];
        for p in &pending {
            p.complete_held(Arc::new(Pair(both.clone())));
        }
        let results = wait_all(&pending, Instant::now() + Duration::from_secs(2));
        for result in results {
            assert_eq!(result.unwrap(), Bytes::from_static(b"pair"));
        }
    }

    /// The gatherer naps on the last result while earlier ones are missing: a last result that
    /// never comes times out alone, and the naps end at the deadline.
    #[test]
    fn a_gather_whose_last_result_never_comes_still_gets_the_others() {
        let pending: Vec<Pending> = (0..3).map(|_| Pending::new()).collect();
        let early = pending[..2].to_vec();
        let completer = std::thread::spawn(move || {
            for (i, p) in early.iter().enumerate() {
                std::thread::sleep(Duration::from_millis(20));
                p.complete(Ok(Bytes::from(vec![i as u8])));
            }
        });
        let started = Instant::now();
        let results = wait_all(&pending, started + Duration::from_millis(300));
        completer.join().unwrap();
        assert_eq!(results[0].as_ref().unwrap(), &Bytes::from_static(&[0]));
        assert_eq!(results[1].as_ref().unwrap(), &Bytes::from_static(&[1]));
        assert_eq!(results[2].as_ref().unwrap_err().kind, ErrorKind::Timeout);
        let waited = started.elapsed();
        assert!(waited < Duration::from_secs(2), "waited {waited:?}");
    }

    #[test]
    fn a_lost_holder_waits_for_the_next_placement() {
        let pending = Pending::new();
        pending.complete_held(Arc::new(Gone));
        let later = pending.clone();
        let placer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            later.complete_held(Arc::new(There(b"again")));
        });
        assert_eq!(pending.wait(soon()).unwrap(), Bytes::from_static(b"again"));
        placer.join().unwrap();
    }

    #[test]
    fn a_lost_holder_that_is_never_replaced_times_out_naming_the_loss() {
        let pending = Pending::new();
        pending.complete_held(Arc::new(Gone));
        let error = pending
            .wait(Instant::now() + Duration::from_millis(30))
            .unwrap_err();
        assert_eq!(error.kind, ErrorKind::Timeout);
        assert!(error.message.contains("holder w1 is gone"), "{error}");
    }
}
