//! The task graph: calls that take results of their owner's earlier calls as inputs, driven
//! through [`State::on`](super::state::State::on) with events and checked on the exact messages
//! it returns (the harness is the one of `tests.rs`).

use super::events::{Event, Outgoing, to_worker};
use super::tests::{
    D, Sim, assigned, assigned_anywhere, call, failed, free, keys, ok, results_for,
};
use crate::proto::{self, ClientEvent, client_event::Ev, result::Outcome, worker_command::Cmd};
use std::collections::BTreeSet;
use wasmdask_sandbox::ErrorKind;

/// Input `param` of a submitted call: the result of the owner's call `key`, which the guest
/// knows as `handle`, made by the export `function`.
fn input(key: u64, handle: u64, function: &str, param: &str) -> proto::Input {
    proto::Input {
        offset: 0,
        key,
        handle,
        function: function.to_string(),
        param: param.to_string(),
        ..Default::default()
    }
}

/// A call of `function` keyed `key` by its owner, taking `inputs`.
fn taking(key: u64, function: &str, inputs: Vec<proto::Input>) -> proto::Call {
    proto::Call {
        inputs,
        ..call(key, D, function)
    }
}

/// A worker's notice that it keeps the `nbytes` result of task `key`.
fn held(key: u64, nbytes: u64) -> proto::Result {
    proto::Result {
        key,
        outcome: Some(Outcome::Held(proto::Held {
            address: String::new(),
            key,
            nbytes,
        })),
        ..Default::default()
    }
}

/// What the owner hears of a held result: `owner_key`, and where to fetch task `key`'s value.
fn held_at(owner_key: u64, address: &str, key: u64, nbytes: u64) -> proto::Result {
    proto::Result {
        key: owner_key,
        outcome: Some(Outcome::Held(proto::Held {
            address: address.to_string(),
            key,
            nbytes,
        })),
        ..Default::default()
    }
}

/// A worker's answer that task `key` did not run: it could not fetch these inputs.
fn missing(key: u64, inputs: &[u64]) -> proto::Result {
    proto::Result {
        key,
        missing: inputs.to_vec(),
        ..Default::default()
    }
}

/// The failure the owner hears under `owner_key`.
fn error(owner_key: u64, kind: ErrorKind, message: &str) -> proto::Result {
    failed(owner_key, kind, message)
}

/// The message that assigns `calls` to worker `to`, in one batch.
fn assign(to: u64, calls: Vec<proto::Call>) -> Outgoing {
    to_worker(to, Cmd::Assign(proto::Calls { calls }))
}

/// The message that brings client `to` these results, in one batch.
fn results(to: u64, results: Vec<proto::Result>) -> Outgoing {
    Outgoing::ToClient {
        id: to,
        ev: ClientEvent {
            ev: Some(Ev::Results(proto::Results { results })),
        },
    }
}

/// `submitted` as the scheduler assigns it: under its task key `id`, each input under the task
/// key, with the address of its holder and its size (`(key, holder, nbytes)` per input).
fn as_assigned(submitted: &proto::Call, id: u64, inputs: &[(u64, &str, u64)]) -> proto::Call {
    assert_eq!(submitted.inputs.len(), inputs.len());
    let mut call = submitted.clone();
    call.key = id;
    for (input, (key, holder, nbytes)) in call.inputs.iter_mut().zip(inputs) {
        input.key = *key;
        input.holders = vec![holder.to_string()];
        input.nbytes = *nbytes;
    }
    call
}

/// The single call assigned in `out`, to worker `to`.
fn only(out: &[Outgoing], to: u64) -> proto::Call {
    let calls = assigned(out, to);
    assert_eq!(calls.len(), 1, "one call for {to}: {out:?}");
    assert_eq!(assigned_anywhere(out), 1, "{out:?}");
    calls.into_iter().next().expect("one")
}

/// `out` without the `Close` messages (a lost worker's connection is closed).
fn without_closes(out: Vec<Outgoing>) -> Vec<Outgoing> {
    out.into_iter()
        .filter(|m| !matches!(m, Outgoing::Close { .. }))
        .collect()
}

fn release(sim: &mut Sim, owner: u64, keys: &[u64]) -> Vec<Outgoing> {
    sim.on(Event::Released {
        owner,
        keys: keys.to_vec(),
    })
}

#[test]
fn a_call_waits_for_its_input_then_runs_on_the_worker_that_holds_it() {
    let mut sim = Sim::new(1);
    let client = sim.client();
    let (a, _) = sim.worker("a", 1);
    let (b, _) = sim.worker("b", 1);
    // Round-robin: the first call goes to `a`, the input to `b`.
    let out = sim.submit(client, vec![call(1, D, "other"), call(2, D, "load")]);
    let other = assigned(&out, a);
    assert_eq!(other[0].function, "other");
    let load = assigned(&out, b);
    assert_eq!(load.len(), 1, "{out:?}");
    assert_eq!(load[0].function, "load");
    let load = load[0].key;

    let d = taking(3, "inc", vec![input(2, 12, "load", "x")]);
    let out = sim.submit(client, vec![d.clone()]);
    assert!(out.is_empty(), "waits for its input: {out:?}");
    assert_eq!((sim.state.waiting(), sim.state.queued()), (1, 0));

    // `a` finished its call, so it is idle, first in round-robin order and holds the
    // component too; but `b` holds the input.
    assert_eq!(
        sim.finish(a, vec![ok(other[0].key)]),
        vec![results(client, vec![ok(1)])]
    );
    let out = sim.finish(b, vec![held(load, 4096)]);
    let id = only(&out, b).key;
    assert_eq!(
        out,
        vec![
            results(client, vec![held_at(2, "b:1", load, 4096)]),
            assign(b, vec![as_assigned(&d, id, &[(load, "b:1", 4096)])]),
        ]
    );
    assert_eq!((sim.state.waiting(), sim.state.queued()), (0, 0));
}

/// Inputs of `x_bytes` on `a` and `y_bytes` on `b`: the call goes to `expect` ("a" or "b").
fn most_bytes_win(x_bytes: u64, y_bytes: u64, expect: &str) {
    let mut sim = Sim::new(1);
    let client = sim.client();
    let (a, _) = sim.worker("a", 1);
    let (b, _) = sim.worker("b", 1);
    let out = sim.submit(client, vec![call(1, D, "x"), call(2, D, "y")]);
    let (x, y) = (assigned(&out, a)[0].key, assigned(&out, b)[0].key);
    sim.finish(a, vec![held(x, x_bytes)]);
    sim.finish(b, vec![held(y, y_bytes)]);

    let d = taking(
        3,
        "add",
        vec![input(1, 1, "x", "left"), input(2, 2, "y", "right")],
    );
    let out = sim.submit(client, vec![d.clone()]);
    let to = if expect == "a" { a } else { b };
    let id = only(&out, to).key;
    let inputs = [(x, "a:1", x_bytes), (y, "b:1", y_bytes)];
    assert_eq!(
        out,
        vec![assign(to, vec![as_assigned(&d, id, &inputs)])],
        "{x_bytes} bytes on a, {y_bytes} on b"
    );
}

#[test]
fn a_call_with_inputs_on_two_workers_goes_to_the_one_with_more_input_bytes() {
    most_bytes_win(100, 5000, "b");
    most_bytes_win(5000, 100, "a");
}

#[test]
fn a_result_is_freed_once_released_and_every_call_taking_it_has_finished() {
    let mut sim = Sim::new(1);
    let client = sim.client();
    let (w, _) = sim.worker("w", 1);

    // Released first: kept until both calls that take it have finished.
    let i = only(&sim.submit(client, vec![call(1, D, "load")]), w).key;
    sim.finish(w, vec![ok(i)]);
    let out = sim.submit(
        client,
        vec![
            taking(2, "inc", vec![input(1, 1, "load", "x")]),
            taking(3, "dec", vec![input(1, 1, "load", "x")]),
        ],
    );
    let takers = assigned(&out, w);
    assert_eq!(takers.len(), 2, "{out:?}");
    assert!(release(&mut sim, client, &[1]).is_empty(), "still needed");
    let out = sim.finish(w, vec![ok(takers[0].key)]);
    assert_eq!(out, vec![results(client, vec![ok(2)])], "still needed");
    let out = sim.finish(w, vec![ok(takers[1].key)]);
    assert_eq!(
        out,
        vec![results(client, vec![ok(3)]), free(w, &[i])],
        "released and no longer needed"
    );

    // The call finishes first: the result stays while the owner holds it.
    let j = only(&sim.submit(client, vec![call(4, D, "load")]), w).key;
    sim.finish(w, vec![ok(j)]);
    let out = sim.submit(
        client,
        vec![taking(5, "inc", vec![input(4, 4, "load", "x")])],
    );
    let taker = only(&out, w).key;
    let out = sim.finish(w, vec![ok(taker)]);
    assert_eq!(out, vec![results(client, vec![ok(5)])], "still held");
    // Releasing the call's own result frees that one only.
    assert_eq!(release(&mut sim, client, &[5]), vec![free(w, &[taker])]);
    assert_eq!(sim.state.held_results(), (3, 3), "2, 3 and 4 are held");
    assert_eq!(release(&mut sim, client, &[4]), vec![free(w, &[j])]);

    // Releasing twice, or a key never submitted, frees nothing.
    assert!(release(&mut sim, client, &[4, 77]).is_empty());
    assert_eq!(sim.state.held_results(), (2, 2));
    let out = release(&mut sim, client, &[2, 3]);
    assert_eq!(out.len(), 1, "{out:?}");
    let Outgoing::ToWorker {
        id,
        cmd: proto::WorkerCommand {
            cmd: Some(Cmd::Free(freed)),
        },
    } = &out[0]
    else {
        panic!("a free: {out:?}");
    };
    assert_eq!(*id, w);
    assert_eq!(
        freed.keys.iter().copied().collect::<BTreeSet<_>>(),
        keys(&takers)
    );
    assert_eq!(sim.state.held_results(), (0, 0));
}

#[test]
fn a_call_released_before_it_finishes_is_freed_when_it_does() {
    let mut sim = Sim::new(1);
    let client = sim.client();
    let (w, _) = sim.worker("w", 1);
    let i = only(&sim.submit(client, vec![call(1, D, "load")]), w).key;
    assert!(release(&mut sim, client, &[1]).is_empty());
    // Nobody to tell: the worker only frees it.
    assert_eq!(sim.finish(w, vec![ok(i)]), vec![free(w, &[i])]);
    assert_eq!(sim.state.held_results(), (0, 0));
}

#[test]
fn a_failed_input_fails_its_dependents_transitively_without_running_them() {
    let mut sim = Sim::new(1);
    let client = sim.client();
    let (w, _) = sim.worker("w", 1);
    let root = only(&sim.submit(client, vec![call(1, D, "boom")]), w).key;
    let out = sim.submit(
        client,
        vec![
            taking(2, "inc", vec![input(1, 5, "boom", "x")]),
            taking(3, "mean", vec![input(2, 6, "inc", "a")]),
        ],
    );
    assert!(out.is_empty(), "both wait: {out:?}");

    let out = sim.finish(w, vec![failed(root, ErrorKind::Timeout, "ran past 1s")]);
    let inc = "`inc` did not run: its argument `x` is the result of call 5 (`boom`), which \
               failed: ran past 1s";
    let mean = "`mean` did not run: its argument `a` is the result of call 6 (`inc`), which did \
                not run: call 5 (`boom`) failed: ran past 1s";
    assert_eq!(
        out,
        vec![results(
            client,
            vec![
                error(1, ErrorKind::Timeout, "ran past 1s"),
                error(2, ErrorKind::Timeout, inc),
                error(3, ErrorKind::Timeout, mean),
            ]
        )]
    );
    assert_eq!(sim.state.totals().erred, 3);
    assert_eq!((sim.state.waiting(), sim.state.queued()), (0, 0));

    // Submitted after the failure: they fail at once, with the same messages.
    let out = sim.submit(
        client,
        vec![
            taking(7, "inc", vec![input(1, 5, "boom", "x")]),
            taking(8, "mean", vec![input(2, 6, "inc", "a")]),
        ],
    );
    assert_eq!(
        out,
        vec![results(
            client,
            vec![
                error(7, ErrorKind::Timeout, inc),
                error(8, ErrorKind::Timeout, mean),
            ]
        )]
    );
    assert_eq!(sim.state.totals().erred, 5);
    assert_eq!((sim.state.waiting(), sim.state.queued()), (0, 0));
    assert_eq!(sim.state.processing(), 0);
}

#[test]
fn a_failure_down_a_long_chain_fails_every_call_once_without_overflowing_the_stack() {
    const N: u64 = 10_000;
    let mut sim = Sim::new(1);
    let client = sim.client();
    let (w, _) = sim.worker("w", 1);
    let mut chain = vec![call(1, D, "inc")];
    chain.extend((2..=N).map(|k| taking(k, "inc", vec![input(k - 1, k - 1, "inc", "x")])));
    let root = only(&sim.submit(client, chain), w).key;
    assert_eq!(sim.state.waiting(), N as usize - 1);

    let out = sim.finish(w, vec![failed(root, ErrorKind::Trap, "unreachable")]);
    let results = results_for(&out, client);
    assert_eq!(results.len(), N as usize);
    assert_eq!(assigned_anywhere(&out), 0);
    let last = results.last().expect("some").clone();
    assert_eq!(last.key, N);
    let last = last.into_outcome().expect_err("failed");
    assert_eq!(last.kind, ErrorKind::Trap);
    assert_eq!(
        last.message,
        format!(
            "`inc` did not run: its argument `x` is the result of call {} (`inc`), which did \
             not run: call 1 (`inc`) failed: unreachable",
            N - 1
        )
    );
    assert_eq!(sim.state.totals().erred, N);
    assert_eq!(sim.state.waiting(), 0);
}

#[test]
fn an_input_the_scheduler_does_not_have_fails_the_call_as_lost_at_once() {
    let mut sim = Sim::new(1);
    let client = sim.client();
    let (w, _) = sim.worker("w", 1);

    // Never submitted.
    let out = sim.submit(
        client,
        vec![taking(2, "inc", vec![input(99, 7, "load", "x")])],
    );
    let lost = "`inc` did not run: its argument `x` is the result of call 7 (`load`), which the \
                scheduler no longer has (released, or submitted before a reconnection)";
    assert_eq!(
        out,
        vec![results(client, vec![error(2, ErrorKind::Lost, lost)])]
    );

    // Already released.
    let i = only(&sim.submit(client, vec![call(3, D, "load")]), w).key;
    sim.finish(w, vec![ok(i)]);
    assert_eq!(release(&mut sim, client, &[3]), vec![free(w, &[i])]);
    let out = sim.submit(
        client,
        vec![taking(4, "sum", vec![input(3, 8, "load", "xs")])],
    );
    let lost = "`sum` did not run: its argument `xs` is the result of call 8 (`load`), which \
                the scheduler no longer has (released, or submitted before a reconnection)";
    assert_eq!(
        out,
        vec![results(client, vec![error(4, ErrorKind::Lost, lost)])]
    );

    // One input known, one not: the known one is not kept for the failed call.
    let j = only(&sim.submit(client, vec![call(5, D, "load")]), w).key;
    sim.finish(w, vec![ok(j)]);
    let out = sim.submit(
        client,
        vec![taking(
            6,
            "add",
            vec![input(5, 9, "load", "left"), input(3, 8, "load", "right")],
        )],
    );
    let lost = "`add` did not run: its argument `right` is the result of call 8 (`load`), which \
                the scheduler no longer has (released, or submitted before a reconnection)";
    assert_eq!(
        out,
        vec![results(client, vec![error(6, ErrorKind::Lost, lost)])]
    );
    assert_eq!(release(&mut sim, client, &[5]), vec![free(w, &[j])]);
    assert_eq!(sim.state.totals().erred, 3);
    assert_eq!(
        (
            sim.state.waiting(),
            sim.state.queued(),
            sim.state.processing()
        ),
        (0, 0, 0)
    );
}

#[test]
fn a_lost_input_of_a_waiting_call_is_recomputed_before_the_call_runs() {
    let mut sim = Sim::new(1);
    let client = sim.client();
    let (a, _) = sim.worker("a", 1);
    let (b, _) = sim.worker("b", 1);
    let out = sim.submit(client, vec![call(1, D, "load"), call(2, D, "slow")]);
    let (load, slow) = (only(&out[..1], a), only(&out[1..], b).key);
    sim.finish(a, vec![held(load.key, 10)]);
    let d = taking(
        3,
        "add",
        vec![input(1, 1, "load", "x"), input(2, 2, "slow", "y")],
    );
    assert!(
        sim.submit(client, vec![d.clone()]).is_empty(),
        "waits for y"
    );

    let out = sim.leave(a);
    assert!(out.contains(&Outgoing::Close { id: a }));
    assert_eq!(
        without_closes(out),
        vec![assign(b, vec![load.clone()])],
        "recomputed on b"
    );
    assert_eq!(sim.state.totals().recomputed, 1);
    assert_eq!(sim.state.waiting(), 1);

    // The other input is not enough.
    let out = sim.finish(b, vec![ok(slow)]);
    assert_eq!(out, vec![results(client, vec![ok(2)])]);
    // The recomputed one is: the owner, which still holds it, hears where it is now.
    let out = sim.finish(b, vec![held(load.key, 10)]);
    let id = only(&out, b).key;
    assert_eq!(
        out,
        vec![
            results(client, vec![held_at(1, "b:1", load.key, 10)]),
            assign(
                b,
                vec![as_assigned(
                    &d,
                    id,
                    &[(load.key, "b:1", 10), (slow, "b:1", 1)]
                )]
            ),
        ]
    );
    assert_eq!(sim.state.totals().recomputed, 1);
}

#[test]
fn a_lost_input_of_a_queued_call_is_recomputed_before_the_call_runs() {
    let mut sim = Sim::new(1);
    let client = sim.client();
    let (a, _) = sim.worker("a", 1);
    let load = only(&sim.submit(client, vec![call(1, D, "load")]), a);
    // Fill `a`, with one more waiting in the queue.
    let fillers: Vec<proto::Call> = (100..116).map(|k| call(k, D, "fill")).collect();
    let out = sim.submit(client, fillers);
    assert_eq!(assigned(&out, a).len(), 15);
    let d = taking(2, "inc", vec![input(1, 1, "load", "x")]);
    assert!(sim.submit(client, vec![d.clone()]).is_empty());

    // The input's slot goes to the older filler: the call is queued behind a full worker.
    let out = sim.finish(a, vec![held(load.key, 10)]);
    assert_eq!(only(&out, a).function, "fill");
    assert_eq!((sim.state.waiting(), sim.state.queued()), (0, 1));

    // `a` dies with the input: the call must wait for it again.
    let out = sim.leave(a);
    assert_eq!(assigned_anywhere(&out), 0, "no worker left");
    assert_eq!(sim.state.totals().recomputed, 1);
    assert_eq!(
        (sim.state.waiting(), sim.state.queued()),
        (1, 17),
        "the call waits, the input and the 16 fillers are queued"
    );

    let (b, out) = sim.worker("b", 4);
    let first = assigned(&out, b);
    assert_eq!(first.len(), 17, "{first:?}");
    assert!(
        first.iter().all(|c| c.function != "inc"),
        "the call is assigned before its input is recomputed: {:?}",
        first.iter().find(|c| c.function == "inc")
    );
    assert!(first.contains(&load));

    let out = sim.finish(b, vec![held(load.key, 10)]);
    let id = only(&out, b).key;
    assert_eq!(
        out,
        vec![
            results(client, vec![held_at(1, "b:1", load.key, 10)]),
            assign(b, vec![as_assigned(&d, id, &[(load.key, "b:1", 10)])]),
        ]
    );
}

#[test]
fn a_held_result_whose_worker_is_lost_is_recomputed_and_sent_again() {
    let mut sim = Sim::new(1);
    let client = sim.client();
    let (a, _) = sim.worker("a", 1);
    let (b, _) = sim.worker("b", 1);
    let load = only(&sim.submit(client, vec![call(1, D, "load")]), a);
    let out = sim.finish(a, vec![held(load.key, 64)]);
    assert_eq!(
        out,
        vec![results(client, vec![held_at(1, "a:1", load.key, 64)])]
    );

    let out = sim.leave(a);
    assert_eq!(without_closes(out), vec![assign(b, vec![load.clone()])]);
    assert_eq!(sim.state.totals().recomputed, 1);
    let out = sim.finish(b, vec![held(load.key, 64)]);
    assert_eq!(
        out,
        vec![results(client, vec![held_at(1, "b:1", load.key, 64)])]
    );
    assert_eq!(sim.state.held_results(), (1, 64));

    // Released: lost with its worker, it is not recomputed.
    assert_eq!(release(&mut sim, client, &[1]), vec![free(b, &[load.key])]);
    let (_c, _) = sim.worker("c", 1);
    let out = sim.leave(b);
    assert_eq!(without_closes(out), vec![]);
    assert_eq!(sim.state.totals().recomputed, 1);
}

#[test]
fn lineage_is_recomputed_recursively_from_results_already_freed() {
    let mut sim = Sim::new(1);
    let client = sim.client();
    let (a, _) = sim.worker("a", 1);
    let first = only(&sim.submit(client, vec![call(1, D, "load")]), a);
    sim.finish(a, vec![ok(first.key)]);
    let out = sim.submit(
        client,
        vec![taking(2, "inc", vec![input(1, 1, "load", "x")])],
    );
    let second = only(&out, a);
    sim.finish(a, vec![held(second.key, 8)]);
    // The first result is freed; its record stays for the second's lineage.
    assert_eq!(release(&mut sim, client, &[1]), vec![free(a, &[first.key])]);

    let (b, out) = sim.worker("b", 1);
    assert_eq!(assigned_anywhere(&out), 0);
    let out = sim.leave(a);
    assert_eq!(without_closes(out), vec![assign(b, vec![first.clone()])]);
    assert_eq!(sim.state.totals().recomputed, 2);

    // Not the owner's any more: nobody hears of it, and the second runs where it is.
    let out = sim.finish(b, vec![ok(first.key)]);
    let mut again = second.clone();
    again.inputs[0].holders = vec!["b:1".to_string()];
    assert_eq!(out, vec![assign(b, vec![again])]);
    let out = sim.finish(b, vec![held(second.key, 8)]);
    assert_eq!(
        out,
        vec![
            results(client, vec![held_at(2, "b:1", second.key, 8)]),
            free(b, &[first.key]),
        ]
    );
    assert_eq!(sim.state.held_results(), (1, 8));
}

#[test]
fn a_long_lineage_is_recomputed_without_overflowing_the_stack() {
    const N: u64 = 10_000;
    let mut sim = Sim::new(1);
    let client = sim.client();
    let (a, _) = sim.worker("a", 1);
    let mut chain = vec![call(1, D, "load")];
    chain.extend((2..=N).map(|k| taking(k, "inc", vec![input(k - 1, k - 1, "inc", "x")])));
    let mut next = only(&sim.submit(client, chain), a);
    for k in 1..N {
        let out = sim.finish(a, vec![ok(next.key)]);
        assert_eq!(results_for(&out, client).len(), 1, "{k}");
        next = only(&out, a);
    }
    sim.finish(a, vec![ok(next.key)]);
    // All but the last are released and freed; their records stay for its lineage.
    let out = release(&mut sim, client, &(1..N).collect::<Vec<_>>());
    assert_eq!(assigned_anywhere(&out), 0);
    assert_eq!(sim.state.held_results(), (1, 1));

    let (b, _) = sim.worker("b", 1);
    let out = sim.leave(a);
    assert_eq!(sim.state.totals().recomputed, N);
    let mut next = only(&out, b);
    assert_eq!(next.function, "load");
    for k in 1..N {
        let out = sim.finish(b, vec![ok(next.key)]);
        assert!(results_for(&out, client).is_empty(), "{k}: released");
        next = only(&out, b);
    }
    let out = sim.finish(b, vec![ok(next.key)]);
    assert_eq!(results_for(&out, client), vec![ok(N)]);
    assert_eq!(sim.state.held_results(), (1, 1));
    assert_eq!(sim.state.waiting(), 0);
}

#[test]
fn an_input_a_worker_cannot_fetch_is_recomputed_then_the_call_fails_as_lost() {
    let mut sim = Sim::new(1);
    let client = sim.client();
    let (a, _) = sim.worker("a", 1);
    let (b, _) = sim.worker("b", 1);
    let out = sim.submit(client, vec![call(1, D, "small"), call(2, D, "large")]);
    let (small, large) = (only(&out[..1], a), only(&out[1..], b));
    sim.finish(a, vec![held(small.key, 10)]);
    sim.finish(b, vec![held(large.key, 1000)]);
    let d = taking(
        3,
        "add",
        vec![input(1, 1, "small", "x"), input(2, 2, "large", "y")],
    );
    let out = sim.submit(client, vec![d.clone()]);
    let id = only(&out, b).key;
    let d = as_assigned(&d, id, &[(small.key, "a:1", 10), (large.key, "b:1", 1000)]);
    assert_eq!(out, vec![assign(b, vec![d.clone()])]);

    for retry in 1..=5 {
        // `b` cannot fetch the small input from `a`: it is made again (round-robin: on `a`).
        let out = sim.finish(b, vec![missing(id, &[small.key])]);
        // `a` drops whatever it still has of it.
        assert_eq!(
            out,
            vec![free(a, &[small.key]), assign(a, vec![small.clone()])],
            "{retry}"
        );
        assert_eq!(sim.state.totals().recomputed, retry);
        assert_eq!(sim.state.waiting(), 1, "{retry}");
        let out = sim.finish(a, vec![held(small.key, 10)]);
        assert_eq!(
            out,
            vec![
                results(client, vec![held_at(1, "a:1", small.key, 10)]),
                assign(b, vec![d.clone()]),
            ],
            "{retry}"
        );
    }
    let out = sim.finish(b, vec![missing(id, &[small.key])]);
    let lost = "`add` did not run: its inputs could not be fetched from the workers holding them \
                5 times; check that workers can reach each other's data address";
    assert_eq!(
        out,
        vec![results(client, vec![error(3, ErrorKind::Lost, lost)])]
    );
    assert_eq!(sim.state.totals().recomputed, 5);
    assert_eq!(
        (
            sim.state.waiting(),
            sim.state.queued(),
            sim.state.processing()
        ),
        (0, 0, 0)
    );
    // The inputs are still the owner's: released, they are freed.
    assert_eq!(release(&mut sim, client, &[1]), vec![free(a, &[small.key])]);
    assert_eq!(release(&mut sim, client, &[2]), vec![free(b, &[large.key])]);
    assert_eq!(sim.state.held_results(), (0, 0));
}

#[test]
fn an_input_lost_at_its_holder_makes_every_queued_call_taking_it_wait_again() {
    let mut sim = Sim::new(1);
    let client = sim.client();
    let (w, _) = sim.worker("w", 1);
    let load = only(&sim.submit(client, vec![call(1, D, "load")]), w);
    sim.finish(w, vec![held(load.key, 10)]);
    let first = taking(2, "inc", vec![input(1, 1, "load", "x")]);
    let out = sim.submit(client, vec![first.clone()]);
    let first = as_assigned(&first, only(&out, w).key, &[(load.key, "w:1", 10)]);
    // Fill `w`: the second call taking the input is queued behind it.
    let fillers: Vec<proto::Call> = (100..115).map(|k| call(k, D, "fill")).collect();
    let fillers = assigned(&sim.submit(client, fillers), w);
    assert_eq!(fillers.len(), 15);
    let second = taking(3, "dec", vec![input(1, 1, "load", "x")]);
    assert!(sim.submit(client, vec![second.clone()]).is_empty());
    assert_eq!((sim.state.waiting(), sim.state.queued()), (0, 1));

    // The first cannot fetch it: it is recomputed, and neither call may run before it is back.
    let out = sim.finish(w, vec![missing(first.key, &[load.key])]);
    // The holder is told to drop whatever it still has of it, then makes it again.
    assert_eq!(
        out,
        vec![free(w, &[load.key]), assign(w, vec![load.clone()])]
    );
    assert_eq!(
        (sim.state.waiting(), sim.state.queued()),
        (2, 0),
        "both calls wait for the recomputed input"
    );
    let out = sim.finish(w, vec![ok(fillers[0].key)]);
    assert_eq!(
        out,
        vec![results(client, vec![ok(100)])],
        "a free slot must not run the second call before its input is back"
    );

    let out = sim.finish(w, vec![held(load.key, 10)]);
    let calls = assigned(&out, w);
    assert_eq!(calls.len(), 2, "{out:?}");
    let second = as_assigned(&second, calls[1].key, &[(load.key, "w:1", 10)]);
    assert_eq!(
        out,
        vec![
            results(client, vec![held_at(1, "w:1", load.key, 10)]),
            assign(w, vec![first, second]),
        ]
    );
}

#[test]
fn a_result_passed_twice_is_waited_for_once_and_fetched_for_both() {
    let mut sim = Sim::new(1);
    let client = sim.client();
    let (w, _) = sim.worker("w", 1);
    let i = only(&sim.submit(client, vec![call(1, D, "load")]), w).key;
    let d = taking(
        2,
        "add",
        vec![input(1, 1, "load", "left"), input(1, 1, "load", "right")],
    );
    assert!(sim.submit(client, vec![d.clone()]).is_empty());
    let out = sim.finish(w, vec![held(i, 7)]);
    let id = only(&out, w).key;
    let d = as_assigned(&d, id, &[(i, "w:1", 7), (i, "w:1", 7)]);
    assert_eq!(
        out,
        vec![
            results(client, vec![held_at(1, "w:1", i, 7)]),
            assign(w, vec![d]),
        ]
    );
    assert!(release(&mut sim, client, &[1]).is_empty());
    assert_eq!(
        sim.finish(w, vec![ok(id)]),
        vec![results(client, vec![ok(2)]), free(w, &[i])]
    );
}

#[test]
fn a_chain_of_ten_thousand_results_released_frees_them_all_and_forgets_them() {
    const N: u64 = 10_000;
    let mut sim = Sim::new(1);
    let client = sim.client();
    let (w, _) = sim.worker("w", 1);
    let mut chain = vec![call(1, D, "load")];
    chain.extend((2..=N).map(|k| taking(k, "inc", vec![input(k - 1, k - 1, "inc", "x")])));
    let mut next = only(&sim.submit(client, chain), w);
    assert_eq!(sim.state.waiting(), N as usize - 1);
    let mut ids = BTreeSet::new();
    for k in 1..=N {
        ids.insert(next.key);
        let out = sim.finish(w, vec![ok(next.key)]);
        assert_eq!(results_for(&out, client), vec![ok(k)]);
        if k < N {
            next = only(&out, w);
            assert_eq!(next.inputs[0].holders, ["w:1"]);
        } else {
            assert_eq!(assigned_anywhere(&out), 0);
        }
    }
    assert_eq!(sim.state.held_results(), (N as usize, N));

    // Oldest first: every result but the last is kept as a record for the later ones, until
    // the last goes and takes the whole chain with it.
    let out = release(&mut sim, client, &(1..=N).collect::<Vec<_>>());
    let mut freed = BTreeSet::new();
    for message in &out {
        let Outgoing::ToWorker {
            id,
            cmd: proto::WorkerCommand {
                cmd: Some(Cmd::Free(batch)),
            },
        } = message
        else {
            panic!("only frees: {message:?}");
        };
        assert_eq!(*id, w);
        for key in &batch.keys {
            assert!(freed.insert(*key), "{key} freed twice");
        }
    }
    assert_eq!(freed, ids);
    assert_eq!(sim.state.held_results(), (0, 0));
    assert_eq!(
        (
            sim.state.waiting(),
            sim.state.queued(),
            sim.state.processing()
        ),
        (0, 0, 0)
    );
    // Forgotten: no handle is left to take as an input.
    let out = sim.submit(
        client,
        vec![taking(N + 1, "inc", vec![input(N, N, "inc", "x")])],
    );
    assert_eq!(
        results_for(&out, client)[0]
            .clone()
            .into_outcome()
            .expect_err("lost")
            .kind,
        ErrorKind::Lost
    );
    // And losing the worker recomputes nothing.
    let (_v, _) = sim.worker("v", 1);
    let out = sim.leave(w);
    assert_eq!(assigned_anywhere(&out), 0);
    assert_eq!(sim.state.totals().recomputed, 0);
}

#[test]
fn an_owner_that_leaves_cancels_its_waiting_calls_and_frees_its_results() {
    let mut sim = Sim::new(1);
    let client = sim.client();
    let other = sim.client();
    let (w, _) = sim.worker("w", 1);
    let done = only(&sim.submit(client, vec![call(1, D, "load")]), w).key;
    sim.finish(w, vec![held(done, 100)]);
    let running = only(&sim.submit(client, vec![call(2, D, "slow")]), w).key;
    let out = sim.submit(
        client,
        vec![
            taking(
                3,
                "add",
                vec![input(1, 1, "load", "x"), input(2, 2, "slow", "y")],
            ),
            taking(4, "inc", vec![input(3, 3, "add", "x")]),
        ],
    );
    assert!(out.is_empty());
    // Another owner's result stays.
    let kept = only(&sim.submit(other, vec![call(1, D, "load")]), w).key;
    sim.finish(w, vec![ok(kept)]);
    assert_eq!(sim.state.waiting(), 2);

    let out = sim.on(Event::ClientLeft { id: client });
    assert_eq!(out, vec![Outgoing::Close { id: client }, free(w, &[done])]);
    assert_eq!((sim.state.waiting(), sim.state.queued()), (0, 0));
    assert_eq!(sim.state.held_results(), (1, 1));

    // The running call finishes unheard and is freed; what waited for it never runs.
    assert_eq!(sim.finish(w, vec![ok(running)]), vec![free(w, &[running])]);
    assert_eq!(
        (
            sim.state.waiting(),
            sim.state.queued(),
            sim.state.processing()
        ),
        (0, 0, 0)
    );
    assert_eq!(sim.state.held_results(), (1, 1));
    assert_eq!(sim.state.totals().erred, 0);
}
