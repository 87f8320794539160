//! What workers measure and the scheduler cannot see: per-execution duration and outcome,
//! sandbox instantiation time, compiled-cache hits. A worker aggregates into fixed-bucket
//! [`Histogram`]s and counters and ships the sums in its next heartbeat ([`Recorder::take`]), so
//! the scheduler does no per-task work for metrics (it handles tens of thousands of tasks/s).

use super::guest_output::GuestOutput;
use super::pool::Observer;
use super::proto;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wasmdask_sandbox::ExecReport;

/// Upper bounds (seconds, Prometheus' `le`) of the duration histograms; an overflow bucket
/// follows. Shared by workers and the scheduler: the wire carries bucket counts only.
pub(crate) const BUCKETS: [f64; 19] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Executions a heartbeat carries for the dashboard's task stream (the latest ones).
const RECENT_PER_HEARTBEAT: usize = 32;

/// Counts and sums of observed values per bucket of [`BUCKETS`] plus overflow. The per-bucket
/// sums make quantiles far closer than interpolating across a bucket 2.5x wide: all tasks taking
/// 305 ms read as 305 ms, not as the middle of the 250–500 ms bucket.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Histogram {
    counts: [u64; BUCKETS.len() + 1],
    sums: [f64; BUCKETS.len() + 1],
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: [0; BUCKETS.len() + 1],
            sums: [0.0; BUCKETS.len() + 1],
        }
    }
}

impl Histogram {
    pub(crate) fn observe(&mut self, seconds: f64) {
        let bucket = BUCKETS.partition_point(|&le| le < seconds);
        self.counts[bucket] += 1;
        self.sums[bucket] += seconds;
    }

    pub(crate) fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub(crate) fn sum(&self) -> f64 {
        self.sums.iter().sum()
    }

    /// Adds what a worker sent; a message with another bucket layout is ignored.
    pub(crate) fn add(&mut self, other: &proto::Histogram) {
        if other.counts.len() != self.counts.len() || other.sums.len() != self.sums.len() {
            return;
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        for (mine, theirs) in self.sums.iter_mut().zip(&other.sums) {
            *mine += theirs;
        }
    }

    pub(crate) fn to_proto(&self) -> proto::Histogram {
        proto::Histogram {
            counts: self.counts.to_vec(),
            sums: self.sums.to_vec(),
        }
    }

    /// `(upper bound, count in this bucket)` pairs ending with `+Inf`: per bucket, not
    /// cumulative (the Prometheus encoder accumulates them into `le` counts).
    pub(crate) fn buckets(&self) -> Vec<(f64, u64)> {
        let bounds = BUCKETS.iter().copied().chain([f64::INFINITY]);
        bounds.zip(self.counts).collect()
    }

    /// The `q` quantile (0..=1), approximated by the mean of the bucket it falls in. `None` when
    /// empty.
    pub(crate) fn quantile(&self, q: f64) -> Option<f64> {
        let rank = q.clamp(0.0, 1.0) * self.count() as f64;
        let mut below = 0u64;
        for (&n, &sum) in self.counts.iter().zip(&self.sums) {
            below += n;
            if n > 0 && below as f64 >= rank {
                return Some(sum / n as f64);
            }
        }
        None
    }
}

/// A worker's measurements since its last heartbeat.
#[derive(Debug, Default)]
pub(crate) struct Recorder(Mutex<Window>);

#[derive(Debug, Default)]
struct Window {
    functions: HashMap<String, FunctionWindow>,
    instantiate: Histogram,
    cache_hits: u64,
    cache_misses: u64,
    recent: VecDeque<proto::Execution>,
}

#[derive(Debug, Default)]
struct FunctionWindow {
    duration: Histogram,
    outcomes: HashMap<&'static str, u64>,
}

impl Recorder {
    /// A component was loaded: from the compiled cache (a hit) or compiled now (a miss).
    pub(crate) fn component_loaded(&self, from_cache: bool) {
        let mut window = self.0.lock();
        if from_cache {
            window.cache_hits += 1;
        } else {
            window.cache_misses += 1;
        }
    }

    /// Everything measured since the last call, or `None` if nothing happened.
    pub(crate) fn take(&self) -> Option<proto::Activity> {
        let window = std::mem::take(&mut *self.0.lock());
        if window.functions.is_empty() && window.cache_hits + window.cache_misses == 0 {
            return None;
        }
        Some(proto::Activity {
            functions: window
                .functions
                .into_iter()
                .map(|(function, f)| proto::FunctionActivity {
                    function,
                    duration: Some(f.duration.to_proto()),
                    outcomes: f
                        .outcomes
                        .into_iter()
                        .map(|(k, n)| (k.to_string(), n))
                        .collect(),
                })
                .collect(),
            instantiate: Some(window.instantiate.to_proto()),
            cache_hits: window.cache_hits,
            cache_misses: window.cache_misses,
            recent: window.recent.into(),
        })
    }
}

impl Observer for Recorder {
    fn executed(&self, function: &str, report: &ExecReport<Bytes>) {
        let outcome = match &report.outcome {
            Ok(_) => "ok",
            Err(e) => e.kind.as_str(),
        };
        let output = GuestOutput::tail_of(report);
        let started = SystemTime::now()
            .checked_sub(report.elapsed)
            .unwrap_or(UNIX_EPOCH)
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let execution = proto::Execution {
            function: function.to_string(),
            started_unix_ms: started.as_millis() as u64,
            duration_us: report.elapsed.as_micros() as u64,
            outcome: outcome.to_string(),
            output: (!output.is_empty()).then(|| output.into()),
        };
        let mut window = self.0.lock();
        if report.instantiate_time > Duration::ZERO {
            window
                .instantiate
                .observe(report.instantiate_time.as_secs_f64());
        }
        let stats = match window.functions.get_mut(function) {
            Some(stats) => stats,
            None => window.functions.entry(function.to_string()).or_default(),
        };
        stats.duration.observe(report.elapsed.as_secs_f64());
        *stats.outcomes.entry(outcome).or_default() += 1;
        if window.recent.len() == RECENT_PER_HEARTBEAT {
            window.recent.pop_front();
        }
        window.recent.push_back(execution);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_the_means_of_their_buckets() {
        let mut h = Histogram::default();
        for _ in 0..99 {
            h.observe(0.003); // (0.0025, 0.005]
        }
        h.observe(0.4);
        assert!((h.quantile(0.5).unwrap() - 0.003).abs() < 1e-9);
        assert!((h.quantile(0.99).unwrap() - 0.003).abs() < 1e-9);
        assert!((h.quantile(1.0).unwrap() - 0.4).abs() < 1e-9);
        h.counts[12] = 0; // forget the 0.4 s task
        h.sums[12] = 0.0;
        assert_eq!(h.count(), 99);
        assert_eq!(h.buckets()[6], (0.005, 99));
        assert_eq!(h.buckets().last(), Some(&(f64::INFINITY, 0)));
        assert_eq!(Histogram::default().quantile(0.5), None);
    }

    #[test]
    fn a_histogram_survives_the_wire() {
        let mut h = Histogram::default();
        h.observe(0.2);
        h.observe(100.0);
        let mut merged = Histogram::default();
        merged.add(&h.to_proto());
        assert_eq!(merged, h);
        assert_eq!(merged.quantile(1.0), Some(100.0));
    }
}
