//! `/metrics` in the Prometheus text format (0.0.4), encoded by `prometheus-client`.
//!
//! Every value is read at scrape time from the scheduler's state and the workers' reported
//! totals (a [`Collector`]), so serving metrics adds nothing to the task path. Names follow
//! Dask's where a Dask user would look (`dask_scheduler_workers{state}` →
//! `wasmdask_scheduler_workers{state}`, `dask_scheduler_tasks{state}` →
//! `wasmdask_scheduler_tasks{state}`).
//!
//! The data plane is exported per worker (label `worker`, its name), as the worker last
//! reported it in a heartbeat: what it holds in memory and on disk are gauges, what it spilled,
//! read back, fetched and served since it started are counters, so `rate()` works on them and a
//! restarted worker shows up as a counter reset rather than a drop.

use super::WorkerView;
use super::service::Shared;
use super::state::DataView;
use crate::activity::Histogram;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{Registry, Unit};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// The content type of the Prometheus text format.
pub(super) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The registry of a scheduler: one collector reading `shared` on every scrape.
pub(super) fn registry(shared: Shared) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SchedulerCollector(shared)));
    registry
}

/// Encodes every metric of `registry` as Prometheus text.
pub(super) fn render(registry: &Registry) -> String {
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, registry);
    text
}

#[derive(Debug)]
struct SchedulerCollector(Shared);

type Labels = Vec<(&'static str, String)>;

impl Collector for SchedulerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let e = &mut encoder;
        let (mut idle, mut partial, mut saturated) = (0u64, 0u64, 0u64);
        let (workers, queued, waiting, processing, held, clients, totals) = {
            let hub = self.0.hub.lock();
            let state = &hub.state;
            let workers = state.workers(Instant::now());
            for w in &workers {
                if w.busy == 0 && w.processing == 0 {
                    idle += 1;
                } else if w.busy >= w.nthreads.max(1) {
                    saturated += 1;
                } else {
                    partial += 1;
                }
            }
            (
                workers,
                state.queued(),
                state.waiting(),
                state.processing(),
                state.held_results(),
                state.clients(),
                state.totals(),
            )
        };
        let state = |s: &str| vec![("state", s.to_string())];
        gauges(
            e,
            "wasmdask_scheduler_workers",
            "Workers by state: idle (nothing held), partially_saturated, saturated (every slot busy)",
            [
                (state("idle"), idle),
                (state("partially_saturated"), partial),
                (state("saturated"), saturated),
            ],
        )?;
        gauges(
            e,
            "wasmdask_scheduler_tasks",
            "Tasks the scheduler holds, by state (waiting = for inputs not in memory yet; \
             processing = assigned to a worker, running or prefetched; memory = result held on a worker)",
            [
                (state("waiting"), waiting as u64),
                (state("queued"), queued as u64),
                (state("processing"), processing as u64),
                (state("memory"), held.0 as u64),
            ],
        )?;
        let m = e.encode_descriptor(
            "wasmdask_scheduler_clients",
            "Connected client sessions",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(clients as i64).encode(m)?;
        counter(
            e,
            "wasmdask_scheduler_tasks_submitted",
            "Tasks submitted by clients and by running tasks",
            totals.submitted,
        )?;
        counter(
            e,
            "wasmdask_scheduler_tasks_completed",
            "Tasks that finished with a value",
            totals.completed,
        )?;
        counter(
            e,
            "wasmdask_scheduler_tasks_erred",
            "Tasks that finished with an error (guest failures, limits, lost)",
            totals.erred,
        )?;
        counter(
            e,
            "wasmdask_scheduler_workers_lost",
            "Workers removed after their connection broke or their heartbeats stopped",
            totals.lost_workers,
        )?;
        counter(
            e,
            "wasmdask_scheduler_results_recomputed",
            "Results computed again from their call and inputs (lineage) because the worker \
             holding them was lost or could not serve them",
            totals.recomputed,
        )?;
        let bytes = &self.0.bytes;
        let mut m = e.encode_descriptor(
            "wasmdask_scheduler_comm",
            "Bytes through the comm port (gRPC, as on the wire)",
            Some(&Unit::Bytes),
            MetricType::Counter,
        )?;
        for (direction, n) in [
            ("in", bytes.received.load(Ordering::Relaxed)),
            ("out", bytes.sent.load(Ordering::Relaxed)),
        ] {
            let labels = vec![("direction", direction.to_string())];
            ConstCounter::new(n).encode(m.encode_family(&labels)?)?;
        }
        data_plane(e, &latest_by_name(&workers))?;

        let telemetry = self.0.telemetry.lock();
        let mut m = e.encode_descriptor(
            "wasmdask_worker_executions",
            "Sandboxed executions on workers by function and outcome (ok or the error kind)",
            None,
            MetricType::Counter,
        )?;
        for (function, f) in telemetry.functions() {
            for (outcome, n) in &f.outcomes {
                let labels: Labels =
                    vec![("function", function.clone()), ("outcome", outcome.clone())];
                ConstCounter::new(*n).encode(m.encode_family(&labels)?)?;
            }
        }
        let mut m = e.encode_descriptor(
            "wasmdask_execution_duration",
            "Wall time of one sandboxed execution (instantiation and call) on a worker",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for (function, f) in telemetry.functions() {
            let labels: Labels = vec![("function", function.clone())];
            histogram(&mut m.encode_family(&labels)?, &f.duration)?;
        }
        let mut m = e.encode_descriptor(
            "wasmdask_sandbox_instantiate",
            "Time to create a fresh store and instance for one execution",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        histogram(&mut m, telemetry.instantiate())?;
        let (hits, misses) = telemetry.cache();
        counter(
            e,
            "wasmdask_compiled_cache_hits",
            "Component loads on workers served by the compiled cache",
            hits,
        )?;
        counter(
            e,
            "wasmdask_compiled_cache_misses",
            "Component loads on workers that had to compile",
            misses,
        )?;
        Ok(())
    }
}

/// The data plane of every worker: what it holds (gauges) and what it moved (counters).
fn data_plane(e: &mut DescriptorEncoder, workers: &[&WorkerView]) -> fmt::Result {
    let (bytes, seconds) = (Some(&Unit::Bytes), Some(&Unit::Seconds));
    per_worker(
        e,
        ("wasmdask_worker_memory_held", bytes),
        "Bytes of the results a worker holds in memory (including those being spilled)",
        workers,
        |d| ConstGauge::new(gauge(d.memory_bytes)),
    )?;
    per_worker(
        e,
        ("wasmdask_worker_memory_held_keys", None),
        "Results a worker holds in memory",
        workers,
        |d| ConstGauge::new(gauge(d.memory_keys)),
    )?;
    per_worker(
        e,
        ("wasmdask_worker_spilled", bytes),
        "Bytes of the results a worker holds spilled to its disk",
        workers,
        |d| ConstGauge::new(gauge(d.spilled_bytes)),
    )?;
    per_worker(
        e,
        ("wasmdask_worker_spilled_keys", None),
        "Results a worker holds spilled to its disk",
        workers,
        |d| ConstGauge::new(gauge(d.spilled_keys)),
    )?;
    per_worker(
        e,
        ("wasmdask_worker_spills", None),
        "Results a worker wrote to its disk because its memory target was exceeded",
        workers,
        |d| ConstCounter::new(d.spills),
    )?;
    per_worker(
        e,
        ("wasmdask_worker_unspills", None),
        "Spilled results a worker read back from its disk",
        workers,
        |d| ConstCounter::new(d.unspills),
    )?;
    per_worker(
        e,
        ("wasmdask_worker_transfer", bytes),
        "Bytes a worker fetched from other workers (inputs of its calls, results its tasks took)",
        workers,
        |d| ConstCounter::new(d.fetched_bytes),
    )?;
    per_worker(
        e,
        ("wasmdask_worker_transfers", None),
        "Values a worker fetched from other workers",
        workers,
        |d| ConstCounter::new(d.fetches),
    )?;
    per_worker(
        e,
        ("wasmdask_worker_transfer", seconds),
        "Time a worker spent fetching values from other workers",
        workers,
        |d| ConstCounter::new(d.fetch_seconds),
    )?;
    per_worker(
        e,
        ("wasmdask_worker_served", bytes),
        "Bytes a worker sent of the results it holds, to other workers and to owners taking them",
        workers,
        |d| ConstCounter::new(d.served_bytes),
    )
}

/// One worker per name, the one that joined last: a worker that reconnects before its old
/// connection is reaped would otherwise be exported twice under one label set, which makes the
/// scrape invalid. The newest connection is the live process, so its numbers are the current
/// ones.
fn latest_by_name(workers: &[WorkerView]) -> Vec<&WorkerView> {
    let mut at: HashMap<&str, usize> = HashMap::with_capacity(workers.len());
    let mut latest: Vec<&WorkerView> = Vec::with_capacity(workers.len());
    // `workers` is in join order: a later duplicate takes the earlier one's place.
    for w in workers {
        match at.get(w.name.as_str()) {
            Some(&i) => latest[i] = w,
            None => {
                at.insert(&w.name, latest.len());
                latest.push(w);
            }
        }
    }
    latest
}

/// One family with a sample per worker, labelled with its name; its type is the metric's, so
/// a counter cannot be declared a gauge by mistake.
fn per_worker<M: EncodeMetric + TypedMetric>(
    e: &mut DescriptorEncoder,
    (name, unit): (&str, Option<&Unit>),
    help: &str,
    workers: &[&WorkerView],
    metric: impl Fn(&DataView) -> M,
) -> fmt::Result {
    let mut m = e.encode_descriptor(name, help, unit, M::TYPE)?;
    for w in workers {
        let labels: Labels = vec![("worker", w.name.clone())];
        metric(&w.data).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A byte or key count as a gauge value (saturating: no real count reaches 2^63).
fn gauge(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(value).encode(m)
}

fn gauges<const N: usize>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    values: [(Labels, u64); N],
) -> fmt::Result {
    let mut m = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in values {
        ConstGauge::new(value as i64).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

fn histogram(m: &mut prometheus_client::encoding::MetricEncoder<'_>, h: &Histogram) -> fmt::Result {
    m.encode_histogram::<NoLabelSet>(h.sum(), h.count(), &h.buckets(), None)
}

#[cfg(test)]
mod tests {
    //! The exposition itself, on a state driven by hand: names, types and label sets are the
    //! contract dashboards and alerts are written against.

    use super::super::events::Event;
    use super::super::hub::{Hub, Link};
    use super::super::state::{Policy, State};
    use super::*;
    use crate::proto::{self, WorkerCommand, worker_command::Cmd};
    use crate::scheduler::counted::CommBytes;
    use crate::scheduler::telemetry::Telemetry;
    use parking_lot::Mutex;
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
    use tonic::Status;

    fn shared() -> Shared {
        let state = State::new(Policy {
            allowed_failures: 1,
            worker_ttl: Duration::from_secs(60),
            heartbeat: Duration::from_secs(1),
        });
        Shared {
            hub: Arc::new(Mutex::new(Hub::new(state))),
            components: Arc::default(),
            telemetry: Arc::new(Mutex::new(Telemetry::default())),
            bytes: Arc::new(CommBytes::default()),
        }
    }

    /// Registers worker `name` and sends one heartbeat with `data`; returns its id and what it
    /// is sent.
    fn worker(
        shared: &Shared,
        name: &str,
        data: proto::DataHeld,
    ) -> (u64, UnboundedReceiver<Result<WorkerCommand, Status>>) {
        let mut hub = shared.hub.lock();
        let id = hub.state.next_id();
        let (tx, rx) = unbounded_channel();
        hub.connect(id, Link::Worker(tx));
        let register = proto::Register {
            name: name.to_string(),
            nthreads: 1,
            memory_limit: 1 << 30,
            version: String::new(),
            data_address: format!("127.0.0.1:{}", 9000 + id),
        };
        hub.apply(Event::WorkerJoined { id, register });
        let beat = proto::Heartbeat {
            data: Some(data),
            ..Default::default()
        };
        hub.apply(Event::Heartbeat { worker: id, beat });
        (id, rx)
    }

    /// The scheduler keys of the calls assigned to a worker so far.
    fn assigned(rx: &mut UnboundedReceiver<Result<WorkerCommand, Status>>) -> Vec<u64> {
        let mut keys = Vec::new();
        while let Ok(Ok(command)) = rx.try_recv() {
            if let Some(Cmd::Assign(calls)) = command.cmd {
                keys.extend(calls.calls.iter().map(|c| c.key));
            }
        }
        keys
    }

    /// The value of the sample written exactly as `series` (name and labels), if there is one.
    fn value(text: &str, series: &str) -> Option<f64> {
        let mut found = text
            .lines()
            .filter_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map(|v| v.parse::<f64>().expect("a number"));
        let first = found.next();
        assert!(
            found.next().is_none(),
            "{series} is exported twice:\n{text}"
        );
        first
    }

    fn declared(text: &str, name: &str, kind: &str) -> bool {
        text.lines().any(|l| l == format!("# TYPE {name} {kind}"))
    }

    #[test]
    fn the_data_plane_is_exported_per_worker_with_counters_as_counters() {
        let shared = shared();
        let data = proto::DataHeld {
            memory_bytes: 3_000_000,
            memory_keys: 3,
            spilled_bytes: 1_000_000,
            spilled_keys: 1,
            spills: 4,
            unspills: 2,
            fetched_bytes: 500_000,
            fetches: 5,
            fetch_us: 1_500_000,
            served_bytes: 700_000,
        };
        let _a = worker(&shared, "a", data);
        let _b = worker(&shared, "b", proto::DataHeld::default());
        let text = render(&registry(shared));

        let a = |name: &str| value(&text, &format!("{name}{{worker=\"a\"}}"));
        assert_eq!(a("wasmdask_worker_memory_held_bytes"), Some(3e6));
        assert_eq!(a("wasmdask_worker_memory_held_keys"), Some(3.0));
        assert_eq!(a("wasmdask_worker_spilled_bytes"), Some(1e6));
        assert_eq!(a("wasmdask_worker_spilled_keys"), Some(1.0));
        assert_eq!(a("wasmdask_worker_spills_total"), Some(4.0));
        assert_eq!(a("wasmdask_worker_unspills_total"), Some(2.0));
        assert_eq!(a("wasmdask_worker_transfer_bytes_total"), Some(5e5));
        assert_eq!(a("wasmdask_worker_transfers_total"), Some(5.0));
        assert_eq!(a("wasmdask_worker_transfer_seconds_total"), Some(1.5));
        assert_eq!(a("wasmdask_worker_served_bytes_total"), Some(7e5));
        // A worker that holds nothing is exported too, so "absent" never means "zero".
        let b = |name: &str| value(&text, &format!("{name}{{worker=\"b\"}}"));
        assert_eq!(b("wasmdask_worker_memory_held_bytes"), Some(0.0));
        assert_eq!(b("wasmdask_worker_transfers_total"), Some(0.0));

        for gauge in [
            "wasmdask_worker_memory_held_bytes",
            "wasmdask_worker_memory_held_keys",
            "wasmdask_worker_spilled_bytes",
            "wasmdask_worker_spilled_keys",
        ] {
            assert!(declared(&text, gauge, "gauge"), "{gauge}:\n{text}");
        }
        for counter in [
            "wasmdask_worker_spills_total",
            "wasmdask_worker_unspills_total",
            "wasmdask_worker_transfer_bytes_total",
            "wasmdask_worker_transfers_total",
            "wasmdask_worker_transfer_seconds_total",
            "wasmdask_worker_served_bytes_total",
            "wasmdask_scheduler_results_recomputed_total",
        ] {
            assert!(declared(&text, counter, "counter"), "{counter}:\n{text}");
        }
        assert_eq!(
            value(&text, "wasmdask_scheduler_results_recomputed_total"),
            Some(0.0)
        );
    }

    #[test]
    fn a_worker_that_reconnected_under_its_name_is_exported_once_with_its_new_numbers() {
        let shared = shared();
        let old = proto::DataHeld {
            memory_bytes: 1,
            ..Default::default()
        };
        let new = proto::DataHeld {
            memory_bytes: 2,
            ..Default::default()
        };
        let _old = worker(&shared, "a", old);
        let _new = worker(&shared, "a", new);
        let text = render(&registry(shared));
        // `value` fails on a second sample.
        assert_eq!(
            value(&text, "wasmdask_worker_memory_held_bytes{worker=\"a\"}"),
            Some(2.0)
        );
    }

    #[test]
    fn tasks_waiting_for_inputs_and_results_in_memory_are_task_states() {
        let shared = shared();
        let (w, mut commands) = worker(&shared, "a", proto::DataHeld::default());
        {
            let mut hub = shared.hub.lock();
            let client = hub.state.next_id();
            hub.apply(Event::ClientJoined { id: client });
            let call = |key, inputs| proto::Call {
                key,
                digest: "sha256:d".to_string(),
                function: "f".to_string(),
                depth: 1,
                inputs,
                ..Default::default()
            };
            let input = proto::Input {
                key: 1,
                handle: 1,
                function: "f".to_string(),
                param: "x".to_string(),
                ..Default::default()
            };
            // 2 takes 1's result: it waits while 1 runs.
            let calls = vec![call(1, vec![]), call(2, vec![input])];
            hub.apply(Event::Submitted {
                owner: client,
                calls,
            });
        }
        let tasks = |text: &str, state: &str| {
            value(
                text,
                &format!("wasmdask_scheduler_tasks{{state=\"{state}\"}}"),
            )
        };
        let text = render(&registry(shared.clone()));
        assert_eq!(tasks(&text, "waiting"), Some(1.0), "{text}");
        assert_eq!(tasks(&text, "processing"), Some(1.0));
        assert_eq!(tasks(&text, "memory"), Some(0.0));

        // 1 finishes on the worker, which keeps its result; 2 runs.
        let first = assigned(&mut commands);
        assert_eq!(first.len(), 1);
        let result = proto::Result {
            key: first[0],
            outcome: Some(proto::result::Outcome::Held(proto::Held {
                address: String::new(),
                key: first[0],
                nbytes: 100_000,
            })),
            ..Default::default()
        };
        shared.hub.lock().apply(Event::Results {
            worker: w,
            results: vec![result],
        });
        assert_eq!(assigned(&mut commands).len(), 1);
        let text = render(&registry(shared.clone()));
        assert_eq!(tasks(&text, "waiting"), Some(0.0), "{text}");
        assert_eq!(tasks(&text, "processing"), Some(1.0));
        assert_eq!(tasks(&text, "memory"), Some(1.0));
        assert_eq!(shared.hub.lock().state.held_results(), (1, 100_000));
    }
}
