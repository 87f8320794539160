//! What the dashboard and `/metrics` show beyond the scheduler's own counts: the sums workers
//! send in heartbeats ([`Telemetry`]) and the latest task failures ([`RecentErrors`]).

use crate::activity::Histogram;
use crate::guest_output::GuestOutput;
use crate::proto;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::time::{SystemTime, UNIX_EPOCH};

/// Executions kept for the task stream (workers send a sample of their latest ones).
const STREAM_KEPT: usize = 400;
/// Failures kept for the dashboard.
const ERRORS_KEPT: usize = 50;

/// Totals of everything workers reported, merged heartbeat by heartbeat.
#[derive(Debug, Default)]
pub(super) struct Telemetry {
    functions: BTreeMap<String, FunctionTotals>,
    instantiate: Histogram,
    cache_hits: u64,
    cache_misses: u64,
    stream: VecDeque<StreamEntry>,
}

/// One function's executions, over all workers.
#[derive(Debug, Default)]
pub(super) struct FunctionTotals {
    pub duration: Histogram,
    /// Executions by outcome: `ok` or an error kind.
    pub outcomes: BTreeMap<String, u64>,
}

/// One execution in the task stream.
#[derive(Debug, Clone, Serialize)]
pub(super) struct StreamEntry {
    pub worker: String,
    pub function: String,
    pub started_unix_ms: u64,
    pub duration_us: u64,
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<GuestOutput>,
}

impl Telemetry {
    /// Adds what `worker` reported in one heartbeat.
    pub(super) fn merge(&mut self, worker: &str, activity: proto::Activity) {
        for f in activity.functions {
            let totals = self.functions.entry(f.function).or_default();
            if let Some(duration) = &f.duration {
                totals.duration.add(duration);
            }
            for (outcome, n) in f.outcomes {
                *totals.outcomes.entry(outcome).or_default() += n;
            }
        }
        if let Some(instantiate) = &activity.instantiate {
            self.instantiate.add(instantiate);
        }
        self.cache_hits += activity.cache_hits;
        self.cache_misses += activity.cache_misses;
        for e in activity.recent {
            if self.stream.len() == STREAM_KEPT {
                self.stream.pop_front();
            }
            self.stream.push_back(StreamEntry {
                worker: worker.to_string(),
                function: e.function,
                started_unix_ms: e.started_unix_ms,
                duration_us: e.duration_us,
                outcome: e.outcome,
                output: e.output.map(Into::into),
            });
        }
    }

    pub(super) fn functions(&self) -> &BTreeMap<String, FunctionTotals> {
        &self.functions
    }

    pub(super) fn instantiate(&self) -> &Histogram {
        &self.instantiate
    }

    /// Compiled-cache (hits, misses) of component loads on workers.
    pub(super) fn cache(&self) -> (u64, u64) {
        (self.cache_hits, self.cache_misses)
    }

    /// The task stream, oldest first.
    pub(super) fn stream(&self) -> impl Iterator<Item = &StreamEntry> {
        self.stream.iter()
    }
}

/// A task that failed: the guest's message, the wasm backtrace (in `detail`) and its output.
#[derive(Debug, Clone, Serialize)]
pub(super) struct ErrorRecord {
    pub unix_ms: u64,
    pub worker: String,
    pub function: String,
    pub kind: String,
    pub message: String,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<GuestOutput>,
}

impl ErrorRecord {
    pub(super) fn new(
        worker: &str,
        function: &str,
        error: &proto::TaskError,
        output: Option<&proto::GuestOutput>,
    ) -> Self {
        ErrorRecord {
            unix_ms: unix_ms_now(),
            worker: worker.to_string(),
            function: function.to_string(),
            kind: error.kind_name(),
            message: error.message.clone(),
            detail: error.detail.clone(),
            output: output.cloned().map(Into::into),
        }
    }
}

/// The latest failures, newest last.
#[derive(Debug, Default)]
pub(super) struct RecentErrors(VecDeque<ErrorRecord>);

impl RecentErrors {
    pub(super) fn push(&mut self, record: ErrorRecord) {
        if self.0.len() == ERRORS_KEPT {
            self.0.pop_front();
        }
        self.0.push_back(record);
    }

    /// The latest `n`, oldest first.
    pub(super) fn latest(&self, n: usize) -> Vec<ErrorRecord> {
        self.0
            .iter()
            .skip(self.0.len().saturating_sub(n))
            .cloned()
            .collect()
    }
}

pub(super) fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
