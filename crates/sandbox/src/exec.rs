//! One execution: a fresh store and instance, the call, and a classified outcome.

use super::classify;
use super::component::LoadedComponent;
use super::engine::{EPOCH_TICK, Sandbox};
use super::grants::{Denial, DenialLog};
use super::host::{GuestCalls, HostState, LogLine};
use super::limits::Limiter;
use super::output::BoundedOutput;
use crate::fanout::FanOut;
use crate::task_error::{ErrorKind, TaskError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::Store;
use wasmtime::component::{ResourceTable, Val};

/// What one execution produced, whether it succeeded or not.
#[derive(Debug)]
pub struct ExecReport {
    /// The return value (the `ok` payload for `result` returns; `None` for no return value),
    /// or the classified failure.
    pub outcome: Result<Option<Val>, TaskError>,
    /// What the guest wrote to stdout (bounded by the output limit).
    pub stdout: Vec<u8>,
    /// What the guest wrote to stderr (bounded by the output limit).
    pub stderr: Vec<u8>,
    /// The guest's `log` calls.
    pub logs: Vec<LogLine>,
    /// Capabilities the guest reached for without a grant.
    pub denials: Vec<Denial>,
    /// Calls the guest submitted to the cluster.
    pub submitted: u64,
    /// Time to create the store and instance.
    pub instantiate_time: Duration,
    /// Wall time of the whole execution.
    pub elapsed: Duration,
}

impl Sandbox {
    /// Runs `function` with `args` in a fresh sandbox. Never panics on guest behaviour; every
    /// failure is in `outcome`. `depth` is the execution's place in the fan-out tree (0 for a
    /// root task, [`Call::depth`](crate::Call::depth) for a call); its own calls get `depth + 1`.
    pub fn execute(
        &self,
        component: &Arc<LoadedComponent>,
        function: &str,
        args: Vec<Val>,
        cluster: Option<Arc<dyn FanOut>>,
        depth: u32,
    ) -> ExecReport {
        let started = Instant::now();
        let limits = &self.config.limits;
        let stdout = BoundedOutput::new("stdout", limits.output_bytes);
        let stderr = BoundedOutput::new("stderr", limits.output_bytes);
        let denials = DenialLog::default();
        let mut report = ExecReport {
            outcome: Ok(None),
            stdout: Vec::new(),
            stderr: Vec::new(),
            logs: Vec::new(),
            denials: Vec::new(),
            submitted: 0,
            instantiate_time: Duration::ZERO,
            elapsed: Duration::ZERO,
        };
        let task = match component.task(function) {
            Ok(task) => task,
            Err(e) => {
                report.outcome = Err(e);
                return report;
            }
        };
        let wasi = match self.config.grants.wasi_ctx(&stdout, &stderr, &denials) {
            Ok(wasi) => wasi,
            Err(e) => {
                report.outcome = Err(TaskError::new(ErrorKind::Denied, e.to_string()));
                return report;
            }
        };

        let lease = match self.lease(component) {
            Ok(lease) => lease,
            Err(e) => {
                report.outcome = Err(e);
                return report;
            }
        };
        let state = HostState {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter::new(limits),
            denials: denials.clone(),
            logs: Vec::new(),
            logs_dropped: 0,
            fanout: GuestCalls::new(
                lease.fan_out(cluster),
                component.clone(),
                started + limits.timeout,
                depth,
            ),
        };
        let mut store = Store::new(&lease.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_hostcall_fuel(limits.hostcall_fuel());
        store.set_epoch_deadline(ticks(limits.timeout));
        store.epoch_deadline_trap();

        let result = lease.pre.instantiate(&mut store).and_then(|instance| {
            report.instantiate_time = started.elapsed();
            let func = lease
                .export(&mut store, &instance, task)
                .ok_or_else(|| wasmtime::format_err!("export `{}` is not a function", task.name))?;
            let mut results = vec![Val::Bool(false); usize::from(task.result.is_some())];
            func.call(&mut store, &args, &mut results)?;
            Ok(results.pop())
        });

        report.stdout = stdout.take();
        report.stderr = stderr.take();
        report.denials = denials.take();
        if component.runtime.reads_environment_at_start() {
            report
                .denials
                .retain(|denial| *denial != Denial::Environment);
        }
        let state = store.data_mut();
        report.logs = std::mem::take(&mut state.logs);
        report.submitted = state.fanout.submitted;
        report.outcome = match result {
            Ok(value) => classify::returned(value, &report.denials),
            Err(error) => Err(classify::with_received(
                classify::failed(
                    error,
                    &state.limiter,
                    limits,
                    &report.denials,
                    &report.stderr,
                    component.runtime,
                ),
                state.fanout.largest_received.as_ref(),
            )),
        };
        drop(store);
        report.elapsed = started.elapsed();
        report
    }
}

/// Epoch ticks covering `timeout` (at least one).
fn ticks(timeout: Duration) -> u64 {
    (timeout.as_nanos() / EPOCH_TICK.as_nanos()).max(1) as u64 + 1
}
