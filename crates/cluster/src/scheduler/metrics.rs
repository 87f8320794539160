//! `/metrics` in the Prometheus text format (0.0.4), encoded by `prometheus-client`.
//!
//! Every value is read at scrape time from the scheduler's state and the workers' reported
//! totals (a [`Collector`]), so serving metrics adds nothing to the task path. Names follow
//! Dask's where a Dask user would look (`dask_scheduler_workers{state}` →
//! `wasmdask_scheduler_workers{state}`, `dask_scheduler_tasks{state}` →
//! `wasmdask_scheduler_tasks{state}`).

use super::service::Shared;
use crate::activity::Histogram;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};
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
        let (queued, processing, clients, totals) = {
            let hub = self.0.hub.lock();
            let state = &hub.state;
            for w in state.workers(Instant::now()) {
                if w.busy == 0 && w.processing == 0 {
                    idle += 1;
                } else if w.busy >= w.nthreads.max(1) {
                    saturated += 1;
                } else {
                    partial += 1;
                }
            }
            (
                state.queued(),
                state.processing(),
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
            "Tasks the scheduler holds, by state (processing = assigned to a worker, running or prefetched)",
            [
                (state("queued"), queued as u64),
                (state("processing"), processing as u64),
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
