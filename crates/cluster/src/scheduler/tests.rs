//! The scheduling rules, driven through [`State::on`] with events and checked on the messages
//! it returns (in the spirit of Dask's `test_scheduler.py`): no sockets, no runtime, no sleeps.

use super::events::{Event, Outgoing};
use super::state::{PREFETCH_PER_THREAD, Policy, State};
use crate::proto::{self, ClientEvent, WorkerCommand, client_event::Ev, worker_command::Cmd};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use wasmdask_sandbox::{ErrorKind, TaskError};

const TTL: Duration = Duration::from_secs(10);
const HEARTBEAT: Duration = Duration::from_millis(500);
pub(super) const D: &str =
    "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";
const E: &str = "sha256:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
const G: &str = "sha256:gggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg";

/// A scheduler state with a clock the test moves by hand.
pub(super) struct Sim {
    pub(super) state: State,
    pub(super) now: Instant,
}

impl Sim {
    pub(super) fn new(allowed_failures: u32) -> Self {
        Sim {
            state: State::new(Policy {
                allowed_failures,
                worker_ttl: TTL,
                heartbeat: HEARTBEAT,
            }),
            now: Instant::now(),
        }
    }

    pub(super) fn on(&mut self, event: Event) -> Vec<Outgoing> {
        self.state.on(self.now, event)
    }

    /// A worker registers; returns its id and what the state said on its arrival.
    pub(super) fn worker(&mut self, name: &str, nthreads: u32) -> (u64, Vec<Outgoing>) {
        let id = self.state.next_id();
        let register = proto::Register {
            name: name.to_string(),
            nthreads,
            memory_limit: 1 << 30,
            version: String::new(),
            data_address: format!("{name}:1"),
        };
        let out = self.on(Event::WorkerJoined { id, register });
        (id, out)
    }

    pub(super) fn client(&mut self) -> u64 {
        let id = self.state.next_id();
        assert!(self.on(Event::ClientJoined { id }).is_empty());
        id
    }

    pub(super) fn submit(&mut self, owner: u64, calls: Vec<proto::Call>) -> Vec<Outgoing> {
        self.on(Event::Submitted { owner, calls })
    }

    pub(super) fn finish(&mut self, worker: u64, results: Vec<proto::Result>) -> Vec<Outgoing> {
        self.on(Event::Results { worker, results })
    }

    fn secede(&mut self, worker: u64, key: u64) -> Vec<Outgoing> {
        self.on(Event::Seceded { worker, key })
    }

    fn rejoin(&mut self, worker: u64, key: u64) -> Vec<Outgoing> {
        self.on(Event::Rejoined { worker, key })
    }

    pub(super) fn leave(&mut self, worker: u64) -> Vec<Outgoing> {
        let reason = "its connection closed".to_string();
        self.on(Event::WorkerLeft { id: worker, reason })
    }
}

pub(super) fn call(key: u64, digest: &str, function: &str) -> proto::Call {
    proto::Call {
        key,
        digest: digest.to_string(),
        function: function.to_string(),
        depth: 1,
        ..Default::default()
    }
}

/// A call of `function` at `depth` in its fan-out tree.
fn at_depth(key: u64, function: &str, depth: u32) -> proto::Call {
    proto::Call {
        depth,
        ..call(key, D, function)
    }
}

/// `n` calls of `inc` keyed `0..n`.
fn calls(n: u64) -> Vec<proto::Call> {
    (0..n).map(|key| call(key, D, "inc")).collect()
}

pub(super) fn ok(key: u64) -> proto::Result {
    proto::Result::from_outcome(key, Ok(bytes::Bytes::from_static(&[1])))
}

pub(super) fn failed(key: u64, kind: ErrorKind, message: &str) -> proto::Result {
    proto::Result::from_outcome(key, Err(TaskError::new(kind, message)))
}

/// The command that tells worker `to` to drop the results of `keys`.
pub(super) fn free(to: u64, keys: &[u64]) -> Outgoing {
    Outgoing::ToWorker {
        id: to,
        cmd: WorkerCommand {
            cmd: Some(Cmd::Free(proto::Keys {
                keys: keys.to_vec(),
            })),
        },
    }
}

/// The calls assigned to worker `to`, over every `Assign` batch in `out`.
pub(super) fn assigned(out: &[Outgoing], to: u64) -> Vec<proto::Call> {
    let mut calls = Vec::new();
    for message in out {
        if let Outgoing::ToWorker {
            id,
            cmd: WorkerCommand {
                cmd: Some(Cmd::Assign(batch)),
            },
        } = message
            && *id == to
        {
            calls.extend(batch.calls.iter().cloned());
        }
    }
    calls
}

/// Every call assigned to any worker in `out`.
pub(super) fn assigned_anywhere(out: &[Outgoing]) -> usize {
    out.iter()
        .filter_map(|m| match m {
            Outgoing::ToWorker {
                cmd:
                    WorkerCommand {
                        cmd: Some(Cmd::Assign(batch)),
                    },
                ..
            } => Some(batch.calls.len()),
            _ => None,
        })
        .sum()
}

/// The results sent to client `to`, over every `Results` batch in `out`.
pub(super) fn results_for(out: &[Outgoing], to: u64) -> Vec<proto::Result> {
    let mut results = Vec::new();
    for message in out {
        if let Outgoing::ToClient {
            id,
            ev: ClientEvent {
                ev: Some(Ev::Results(batch)),
            },
        } = message
            && *id == to
        {
            results.extend(batch.results.iter().cloned());
        }
    }
    results
}

pub(super) fn keys(calls: &[proto::Call]) -> BTreeSet<u64> {
    calls.iter().map(|c| c.key).collect()
}

#[test]
fn a_worker_is_welcomed_before_its_first_assignment() {
    let mut sim = Sim::new(1);
    let client = sim.client();
    assert!(sim.submit(client, calls(2)).is_empty(), "no worker yet");
    let (w, out) = sim.worker("w", 1);
    let welcome = WorkerCommand {
        cmd: Some(Cmd::Welcome(proto::Welcome {
            worker_id: w.to_string(),
            heartbeat_ms: 500,
        })),
    };
    assert_eq!(
        out[0],
        Outgoing::ToWorker {
            id: w,
            cmd: welcome
        }
    );
    assert_eq!(assigned(&out[1..], w).len(), 2);
    assert_eq!(sim.state.queued(), 0);
}

#[test]
fn a_lost_worker_reschedules_its_tasks_and_counts_one_failure_each() {
    let mut sim = Sim::new(1);
    let client = sim.client();
    let (a, _) = sim.worker("a", 1);
    let held = assigned(&sim.submit(client, calls(3)), a);
    assert_eq!(held.len(), 3);
    let (b, out) = sim.worker("b", 1);
    assert_eq!(assigned_anywhere(&out), 0, "nothing was queued");

    let out = sim.leave(a);
    assert!(out.contains(&Outgoing::Close { id: a }));
    assert_eq!(keys(&assigned(&out, b)), keys(&held), "all three move to b");
    assert!(
        results_for(&out, client).is_empty(),
        "within allowed-failures"
    );
    let totals = sim.state.totals();
    assert_eq!((totals.lost_workers, totals.erred), (1, 0));

    // Each task, prefetched or not, counted one failure on `a`: with allowed-failures=1 the
    // next death fails all three.
    let out = sim.leave(b);
    let results = results_for(&out, client);
    assert_eq!(results.len(), 3);
    for result in results {
        let error = result.into_outcome().expect_err("lost");
        assert_eq!(error.kind, ErrorKind::Lost);
        assert!(
            error.message.contains("2 workers that died (a, b)"),
            "{error}"
        );
    }
    assert_eq!(sim.state.totals().erred, 3);
    assert_eq!(sim.state.queued(), 0);
}

#[test]
fn a_task_whose_workers_die_more_than_allowed_failures_fails_as_lost_naming_it() {
    let mut sim = Sim::new(2);
    let client = sim.client();
    assert!(sim.submit(client, vec![call(7, D, "spin-for")]).is_empty());
    for name in ["w1", "w2"] {
        let (w, out) = sim.worker(name, 1);
        assert_eq!(assigned(&out, w).len(), 1);
        let out = sim.leave(w);
        assert!(
            results_for(&out, client).is_empty(),
            "{name}: still allowed"
        );
        assert_eq!(sim.state.queued(), 1, "{name}: waits for a worker");
    }
    let (w3, out) = sim.worker("w3", 1);
    assert_eq!(assigned(&out, w3).len(), 1);

    let out = sim.leave(w3);
    let results = results_for(&out, client);
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].key, 7, "the client's own key");
    let error = results[0].clone().into_outcome().expect_err("lost");
    assert_eq!(error.kind, ErrorKind::Lost);
    for needle in [
        "task `spin-for`",
        "3 workers that died (w1, w2, w3)",
        "allowed-failures=2",
    ] {
        assert!(error.message.contains(needle), "{needle} in {error}");
    }
    assert_eq!(sim.state.queued(), 0);
    assert_eq!(sim.state.totals().erred, 1);
    let recent = sim.state.recent_errors(10);
    assert_eq!(recent.len(), 1);
    assert_eq!(
        (recent[0].worker.as_str(), recent[0].function.as_str()),
        ("w3", "spin-for")
    );
}

#[test]
fn a_guest_error_is_a_result_and_never_a_failure() {
    // No failure allowed at all: counting this one would fail or reschedule the task.
    let mut sim = Sim::new(0);
    let client = sim.client();
    let (w, _) = sim.worker("w", 1);
    let task = assigned(&sim.submit(client, vec![call(5, D, "parse")]), w);

    let error = failed(task[0].key, ErrorKind::GuestError, "not a number: x");
    let out = sim.finish(w, vec![error]);
    assert_eq!(assigned_anywhere(&out), 0, "not rescheduled");
    let results = results_for(&out, client);
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].key, 5);
    let error = results[0].clone().into_outcome().expect_err("guest error");
    assert_eq!(error.kind, ErrorKind::GuestError);
    assert_eq!(error.message, "not a number: x");

    let totals = sim.state.totals();
    assert_eq!((totals.erred, totals.completed), (1, 0));
    assert_eq!((sim.state.queued(), sim.state.processing()), (0, 0));
    assert_eq!(sim.state.recent_errors(10)[0].message, "not a number: x");
    // The worker no longer holds it, so losing the worker now changes nothing for the task.
    let out = sim.leave(w);
    assert!(results_for(&out, client).is_empty());
    assert_eq!(sim.state.totals().erred, 1);
}

#[test]
fn a_call_goes_to_the_worker_that_holds_its_component() {
    let mut sim = Sim::new(1);
    let client = sim.client();
    let (a, _) = sim.worker("a", 4);
    let (b, _) = sim.worker("b", 4);

    // Equal workers are tried in join order: a component nobody holds goes to `a`.
    let out = sim.submit(client, vec![call(1, G, "f")]);
    assert_eq!(assigned(&out, a).len(), 1, "{out:?}");

    // Known from a heartbeat: `b` holds D.
    let beat = proto::Heartbeat {
        digests: vec![D.to_string()],
        ..Default::default()
    };
    assert!(sim.on(Event::Heartbeat { worker: b, beat }).is_empty());
    let out = sim.submit(client, vec![call(2, D, "f")]);
    assert_eq!(assigned(&out, b).len(), 1, "{out:?}");
    assert!(assigned(&out, a).is_empty());

    // Known from a finished task: round-robin puts G on `a` and E on `b`, …
    let out = sim.submit(client, vec![call(3, G, "f"), call(4, E, "f")]);
    let on_b = assigned(&out, b);
    assert_eq!((assigned(&out, a).len(), on_b.len()), (1, 1));
    assert_eq!(on_b[0].digest, E);
    sim.finish(b, vec![ok(on_b[0].key)]);
    // … so the next E call goes to `b` too.
    let out = sim.submit(client, vec![call(5, E, "f")]);
    assert_eq!(assigned(&out, b).len(), 1, "{out:?}");
    assert!(assigned(&out, a).is_empty());
}

#[test]
fn saturation_caps_what_a_worker_holds_and_results_release_the_rest() {
    let mut sim = Sim::new(1);
    let client = sim.client();
    let (w, _) = sim.worker("w", 2);
    let cap = 2 * PREFETCH_PER_THREAD;
    assert_eq!(cap, 32);

    let out = sim.submit(client, calls(40));
    let held = assigned(&out, w);
    assert_eq!(held.len(), cap);
    assert_eq!((sim.state.queued(), sim.state.processing()), (8, cap));

    let results: Vec<_> = held[..5].iter().map(|c| ok(c.key)).collect();
    let out = sim.finish(w, results);
    assert_eq!(results_for(&out, client).len(), 5);
    let refill = assigned(&out, w);
    assert_eq!(refill.len(), 5, "exactly the freed slots");
    assert!(keys(&refill).is_disjoint(&keys(&held)));
    assert_eq!((sim.state.queued(), sim.state.processing()), (3, cap));
    assert_eq!(sim.state.totals().completed, 5);

    // A worker with no thread count ("not limited") still holds one thread's worth.
    let (v, out) = sim.worker("v", 0);
    assert_eq!(assigned(&out, v).len(), 3);
    let out = sim.submit(client, calls(20));
    assert_eq!(assigned(&out, v).len(), PREFETCH_PER_THREAD - 3);
    assert!(assigned(&out, w).is_empty(), "w is full");
    assert_eq!(sim.state.queued(), 20 - (PREFETCH_PER_THREAD - 3));
}

#[test]
fn a_seceded_task_frees_its_place_for_the_subtasks_it_waits_for() {
    let mut sim = Sim::new(1);
    let client = sim.client();
    let (w, _) = sim.worker("w", 1);
    let parents = assigned(&sim.submit(client, calls(PREFETCH_PER_THREAD as u64)), w);
    assert_eq!(parents.len(), PREFETCH_PER_THREAD, "the worker is full");

    // A parent fans out: its subtasks queue behind the full worker ...
    let children = (0..3).map(|key| at_depth(key, "child", 2)).collect();
    assert_eq!(assigned_anywhere(&sim.submit(w, children)), 0);
    assert_eq!(sim.state.queued(), 3);
    // ... until it waits for them without its slot.
    let parent = parents[0].key;
    let out = sim.secede(w, parent);
    let first = assigned(&out, w);
    assert_eq!(first.len(), 1, "exactly the parent's place: {out:?}");
    assert_eq!(first[0].function, "child");
    assert_eq!(sim.state.workers(sim.now)[0].seceded, 1);

    // The same news twice, or news of a task the worker does not hold, frees nothing more.
    assert!(sim.secede(w, parent).is_empty());
    assert!(sim.secede(w, 999).is_empty());

    // A finished subtask's place goes to the next one.
    let out = sim.finish(w, vec![ok(first[0].key)]);
    let second = assigned(&out, w);
    assert_eq!(second.len(), 1);
    assert_eq!(sim.state.queued(), 1);

    // Back from its wait, the parent counts again: the worker holds one task too many, so a
    // finished subtask frees no place ...
    assert!(sim.rejoin(w, parent).is_empty());
    assert_eq!(sim.state.workers(sim.now)[0].seceded, 0);
    assert_eq!(
        assigned_anywhere(&sim.finish(w, vec![ok(second[0].key)])),
        0
    );
    // ... and the parent's own result does.
    let out = sim.finish(w, vec![ok(parent)]);
    assert_eq!(assigned(&out, w).len(), 1);
    assert_eq!(results_for(&out, client).len(), 1);
    assert_eq!(sim.state.queued(), 0);
}

#[test]
fn a_finished_seceded_task_is_forgotten() {
    let mut sim = Sim::new(1);
    let client = sim.client();
    let (w, _) = sim.worker("w", 1);
    let parents = assigned(&sim.submit(client, calls(PREFETCH_PER_THREAD as u64)), w);
    sim.secede(w, parents[0].key);
    // Its result arrives before its rejoin would have: it no longer frees a place.
    sim.finish(w, vec![ok(parents[0].key)]);
    assert_eq!(sim.state.workers(sim.now)[0].seceded, 0);
    let out = sim.submit(client, calls(2));
    assert_eq!(
        assigned(&out, w).len(),
        1,
        "one place, from the finished task"
    );
}

#[test]
fn deeper_tasks_are_assigned_first_and_equal_depths_in_submission_order() {
    let mut sim = Sim::new(1);
    let client = sim.client();
    sim.submit(
        client,
        vec![at_depth(1, "root-a", 1), at_depth(2, "root-b", 1)],
    );
    sim.submit(
        client,
        vec![
            at_depth(3, "leaf-a", 3),
            at_depth(4, "middle", 2),
            at_depth(5, "leaf-b", 3),
        ],
    );
    let (w, out) = sim.worker("w", 1);
    let order: Vec<String> = assigned(&out, w).into_iter().map(|c| c.function).collect();
    assert_eq!(order, ["leaf-a", "leaf-b", "middle", "root-a", "root-b"]);
}

#[test]
fn a_rescheduled_task_keeps_its_place_by_depth_and_age() {
    let mut sim = Sim::new(1);
    let client = sim.client();
    let (a, _) = sim.worker("a", 1);
    let held = assigned(&sim.submit(client, vec![at_depth(1, "old", 1)]), a);
    assert_eq!(held.len(), 1);
    assert!(sim.leave(a).contains(&Outgoing::Close { id: a }));
    sim.submit(
        client,
        vec![at_depth(2, "deep", 3), at_depth(3, "young", 1)],
    );
    // Deeper first; among equals the older task, rescheduled or not.
    let (b, out) = sim.worker("b", 1);
    let order: Vec<String> = assigned(&out, b).into_iter().map(|c| c.function).collect();
    assert_eq!(order, ["deep", "old", "young"]);
}

#[test]
fn a_silent_worker_dies_at_the_ttl_and_a_heartbeat_keeps_it() {
    let mut sim = Sim::new(1);
    let client = sim.client();
    let (quiet, _) = sim.worker("quiet", 1);
    let (alive, _) = sim.worker("alive", 1);
    sim.submit(client, calls(2));

    sim.now += TTL;
    let beat = proto::Heartbeat::default();
    sim.on(Event::Heartbeat {
        worker: alive,
        beat,
    });
    assert!(
        sim.on(Event::Tick).is_empty(),
        "exactly the ttl is not yet too long"
    );

    sim.now += Duration::from_millis(1);
    let out = sim.on(Event::Tick);
    assert!(out.contains(&Outgoing::Close { id: quiet }));
    assert!(!out.contains(&Outgoing::Close { id: alive }));
    assert_eq!(assigned(&out, alive).len(), 1, "quiet's task moved");
    assert_eq!(sim.state.totals().lost_workers, 1);
    let views = sim.state.workers(sim.now);
    assert_eq!(views.len(), 1);
    assert_eq!(
        (views[0].name.as_str(), views[0].last_heartbeat_ms_ago),
        ("alive", 1)
    );
    // Its stream ending later changes nothing more.
    assert!(sim.leave(quiet).is_empty());
}

#[test]
fn a_client_that_leaves_drops_its_queued_tasks_and_running_results() {
    let mut sim = Sim::new(1);
    let client = sim.client();
    let (w, _) = sim.worker("w", 1);
    let held = assigned(&sim.submit(client, calls(20)), w);
    assert_eq!(sim.state.clients(), 1);

    let out = sim.on(Event::ClientLeft { id: client });
    assert_eq!(out, vec![Outgoing::Close { id: client }]);
    assert_eq!((sim.state.queued(), sim.state.clients()), (0, 0));
    let out = sim.finish(w, vec![ok(held[0].key)]);
    // Nobody to tell and nothing to assign: the worker only frees the result.
    assert_eq!(out, vec![free(w, &[held[0].key])]);
}

#[test]
fn a_workers_fan_out_results_come_back_on_its_own_stream() {
    let mut sim = Sim::new(1);
    let (w, _) = sim.worker("w", 1);
    let sub = assigned(&sim.submit(w, vec![call(9, D, "child")]), w);
    let out = sim.finish(w, vec![ok(sub[0].key)]);
    let results = proto::Results {
        results: vec![ok(9)],
    };
    let cmd = WorkerCommand {
        cmd: Some(Cmd::Results(results)),
    };
    assert_eq!(out, vec![Outgoing::ToWorker { id: w, cmd }]);
}

#[test]
fn shutdown_tells_every_worker_and_client() {
    let mut sim = Sim::new(1);
    let client = sim.client();
    let (w, _) = sim.worker("w", 1);
    let reason = "SIGTERM".to_string();
    let out = sim.on(Event::Shutdown {
        reason: reason.clone(),
    });
    assert_eq!(out.len(), 2);
    let shutdown = proto::Shutdown { reason };
    assert!(out.contains(&Outgoing::ToWorker {
        id: w,
        cmd: WorkerCommand {
            cmd: Some(Cmd::Shutdown(shutdown.clone())),
        },
    }));
    assert!(out.contains(&Outgoing::ToClient {
        id: client,
        ev: ClientEvent {
            ev: Some(Ev::Shutdown(shutdown)),
        },
    }));
}
