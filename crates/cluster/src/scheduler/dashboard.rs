//! The live dashboard: one JSON [`Snapshot`] of the cluster, served at `/api/dashboard` and
//! pushed every second on the `/api/events` server-sent-event stream, and the page that draws it
//! (`dashboard/`, embedded in the binary: no CDN, works offline and behind a prefix).

use super::WorkerView;
use super::service::Shared;
use super::state::Totals;
use super::telemetry::{ErrorRecord, StreamEntry, unix_ms_now};
use serde::Serialize;
use std::sync::atomic::Ordering;
use std::time::Instant;

pub(super) const PAGE: &str = include_str!("dashboard/index.html");
pub(super) const SCRIPT: &str = include_str!("dashboard/app.js");
pub(super) const STYLE: &str = include_str!("dashboard/style.css");

/// Executions of the task stream sent to the page (the latest ones).
const STREAM_SENT: usize = 200;
/// Failures sent to the page (the latest ones; each may carry 32 KiB of output).
const ERRORS_SENT: usize = 20;

#[derive(Debug, Serialize)]
pub(super) struct Snapshot {
    now_unix_ms: u64,
    workers: Vec<WorkerView>,
    clients: usize,
    tasks: Tasks,
    functions: Vec<FunctionSummary>,
    stream: Vec<StreamEntry>,
    errors: Vec<ErrorRecord>,
    sandbox: SandboxSummary,
    comm: CommSummary,
}

#[derive(Debug, Serialize)]
struct Tasks {
    waiting: usize,
    queued: usize,
    processing: usize,
    /// Results held on workers, as the scheduler counts them (the workers' own numbers, in
    /// `workers[].data`, lag by a heartbeat and include spilled values).
    held_keys: usize,
    held_bytes: u64,
    #[serde(flatten)]
    totals: Totals,
}

/// Per-function execution times, from the workers' histograms (quantiles are bucket means, so
/// they are approximate).
#[derive(Debug, Serialize)]
struct FunctionSummary {
    function: String,
    executions: u64,
    errors: u64,
    mean_ms: Option<f64>,
    p50_ms: Option<f64>,
    p90_ms: Option<f64>,
    p99_ms: Option<f64>,
}

#[derive(Debug, Serialize)]
struct SandboxSummary {
    instantiate_p50_ms: Option<f64>,
    instantiate_p99_ms: Option<f64>,
    cache_hits: u64,
    cache_misses: u64,
}

#[derive(Debug, Serialize)]
struct CommSummary {
    received_bytes: u64,
    sent_bytes: u64,
}

fn ms(seconds: Option<f64>) -> Option<f64> {
    seconds.map(|s| s * 1000.0)
}

pub(super) fn snapshot(shared: &Shared) -> Snapshot {
    let (workers, clients, tasks, errors) = {
        let hub = shared.hub.lock();
        let state = &hub.state;
        let (held_keys, held_bytes) = state.held_results();
        let tasks = Tasks {
            waiting: state.waiting(),
            queued: state.queued(),
            processing: state.processing(),
            held_keys,
            held_bytes,
            totals: state.totals(),
        };
        (
            state.workers(Instant::now()),
            state.clients(),
            tasks,
            state.recent_errors(ERRORS_SENT),
        )
    };
    let telemetry = shared.telemetry.lock();
    let functions = telemetry
        .functions()
        .iter()
        .map(|(name, f)| {
            let executions: u64 = f.outcomes.values().sum();
            let count = f.duration.count();
            FunctionSummary {
                function: name.clone(),
                executions,
                errors: executions - f.outcomes.get("ok").copied().unwrap_or(0),
                mean_ms: (count > 0).then(|| f.duration.sum() / count as f64 * 1000.0),
                p50_ms: ms(f.duration.quantile(0.5)),
                p90_ms: ms(f.duration.quantile(0.9)),
                p99_ms: ms(f.duration.quantile(0.99)),
            }
        })
        .collect();
    let skip = telemetry.stream().count().saturating_sub(STREAM_SENT);
    let stream = telemetry.stream().skip(skip).cloned().collect();
    let (cache_hits, cache_misses) = telemetry.cache();
    let sandbox = SandboxSummary {
        instantiate_p50_ms: ms(telemetry.instantiate().quantile(0.5)),
        instantiate_p99_ms: ms(telemetry.instantiate().quantile(0.99)),
        cache_hits,
        cache_misses,
    };
    drop(telemetry);
    Snapshot {
        now_unix_ms: unix_ms_now(),
        workers,
        clients,
        tasks,
        functions,
        stream,
        errors,
        sandbox,
        comm: CommSummary {
            received_bytes: shared.bytes.received.load(Ordering::Relaxed),
            sent_bytes: shared.bytes.sent.load(Ordering::Relaxed),
        },
    }
}
