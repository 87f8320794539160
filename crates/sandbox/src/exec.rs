//! One execution: a fresh store and instance, the call, and a classified outcome.

use super::classify;
use super::component::LoadedComponent;
use super::component::TaskSig;
use super::engine::{EPOCH_TICK, Sandbox};
use super::grants::{Denial, DenialLog};
use super::host::{GuestCalls, HostState, LogLine};
use super::limits::Limiter;
use super::output::BoundedOutput;
use crate::data::{DataPort, Mount};
use crate::fanout::FanOut;
use crate::lazy::LazyMounts;
use crate::task_error::{ErrorKind, TaskError};
use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmdask_values::ArgValue;
use wasmtime::Store;
use wasmtime::component::{Func, ResourceTable, Val};

/// What one execution produced, whether it succeeded or not. `T` is how a successful result
/// comes back: a `Val` for [`Sandbox::execute`], the binary encoding for
/// [`Sandbox::execute_encoded`].
#[derive(Debug)]
pub struct ExecReport<T = Option<Val>> {
    /// The return value (the `ok` payload for `result` returns; `None` for no return value),
    /// or the classified failure.
    pub outcome: Result<T, TaskError>,
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
        self.execute_with_mounts(component, function, args, cluster, depth, &[])
    }

    /// [`execute`](Self::execute) with directories only this execution sees (its data inputs,
    /// its `/outputs`), on top of the grants every execution has. A lazy mount's files are
    /// fetched while the guest runs, and a failed fetch ends the execution with the port's
    /// error.
    pub fn execute_with_mounts(
        &self,
        component: &Arc<LoadedComponent>,
        function: &str,
        args: Vec<Val>,
        cluster: Option<Arc<dyn FanOut>>,
        depth: u32,
        mounts: &[Mount],
    ) -> ExecReport {
        let call = |store: &mut Store<HostState>, func: Func, task: &TaskSig| {
            let mut results = vec![Val::Bool(false); usize::from(task.result.is_some())];
            func.call(store, &args, &mut results)?;
            Ok(results.pop())
        };
        self.run(
            component,
            function,
            Place {
                cluster,
                depth,
                mounts,
            },
            call,
            |value, _, denials| classify::returned(value, denials),
        )
    }

    /// Like [`execute`](Self::execute), but the result comes back in the binary encoding, as it
    /// travels to whoever takes it (empty when the export returns nothing). An export whose
    /// parameters and result are scalars and lists of numbers skips the per-element `Val`s
    /// (`typed_call`): its list arguments are lowered from the [`ArgValue`]s as they are.
    ///
    /// With a `data` port, the call's file, directory and dataset arguments are mounted
    /// read-only for this execution alone (`wasmdask:task/data`).
    pub fn execute_encoded(
        &self,
        component: &Arc<LoadedComponent>,
        function: &str,
        args: Vec<ArgValue>,
        cluster: Option<Arc<dyn FanOut>>,
        depth: u32,
        data: Option<&dyn DataPort>,
    ) -> ExecReport<Bytes> {
        let task = component.task(function);
        // A typed call lowers the arguments as they are; any other call takes `Val`s.
        let (mut args, typed_args) = if task.as_ref().is_ok_and(|task| task.is_typed()) {
            (Vec::new(), args)
        } else {
            (
                args.into_iter().map(ArgValue::into_val).collect(),
                Vec::new(),
            )
        };
        let mounts = match (data, task) {
            (Some(data), Ok(task)) if task.has_stored_params() => {
                match data.mount_inputs(task, &mut args) {
                    Ok(mounts) => mounts,
                    Err(error) => return ExecReport::failed(error),
                }
            }
            _ => Vec::new(),
        };
        let call = |store: &mut Store<HostState>, func: Func, task: &TaskSig| match &task.typed {
            Some(shape) => shape.call(store, func, typed_args).map(Returned::Encoded),
            None => {
                let mut results = vec![Val::Bool(false); usize::from(task.result.is_some())];
                func.call(store, &args, &mut results)?;
                Ok(Returned::Val(results.pop()))
            }
        };
        self.run(
            component,
            function,
            Place {
                cluster,
                depth,
                mounts: &mounts,
            },
            call,
            |returned, task, denials| match returned {
                Returned::Val(value) => {
                    task.encode_output(classify::returned(value, denials)?.as_ref())
                }
                Returned::Encoded(Ok(bytes)) => Ok(Bytes::from(bytes)),
                Returned::Encoded(Err(message)) => Err(classify::guest_error(message, denials)),
            },
        )
    }

    /// One execution: `call` runs the export in the fresh instance, `returned` turns what it
    /// returned into the report's outcome (once the denials are known).
    fn run<R, T>(
        &self,
        component: &Arc<LoadedComponent>,
        function: &str,
        Place {
            cluster,
            depth,
            mounts,
        }: Place<'_>,
        call: impl FnOnce(&mut Store<HostState>, Func, &TaskSig) -> wasmtime::Result<R>,
        returned: impl FnOnce(R, &TaskSig, &[Denial]) -> Result<T, TaskError>,
    ) -> ExecReport<T> {
        let started = Instant::now();
        let limits = &self.config.limits;
        let stdout = BoundedOutput::new("stdout", limits.output_bytes);
        let stderr = BoundedOutput::new("stderr", limits.output_bytes);
        let denials = DenialLog::default();
        let mut report = ExecReport::failed(TaskError::new(ErrorKind::InvalidComponent, "not run"));
        let task = match component.task(function) {
            Ok(task) => task,
            Err(e) => {
                report.outcome = Err(e);
                return report;
            }
        };
        let wasi = match self
            .config
            .grants
            .wasi_ctx(&stdout, &stderr, &denials, mounts)
        {
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
            lazy: LazyMounts::new(self.config.grants.dirs.len(), mounts),
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
            call(&mut store, func, task)
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
            Ok(value) => returned(value, task, &report.denials),
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

impl<T> ExecReport<T> {
    /// A report of an execution that failed before the guest ran.
    fn failed(error: TaskError) -> Self {
        ExecReport {
            outcome: Err(error),
            stdout: Vec::new(),
            stderr: Vec::new(),
            logs: Vec::new(),
            denials: Vec::new(),
            submitted: 0,
            instantiate_time: Duration::ZERO,
            elapsed: Duration::ZERO,
        }
    }
}

/// Where an execution sits: the cluster its fan-out goes to, its depth in the fan-out tree,
/// and the directories only it sees.
struct Place<'a> {
    cluster: Option<Arc<dyn FanOut>>,
    depth: u32,
    mounts: &'a [Mount],
}

/// What [`Sandbox::execute_encoded`]'s call returned: a `Val` to encode, or a typed call's
/// encoding or `err` string.
enum Returned {
    Val(Option<Val>),
    Encoded(Result<Vec<u8>, String>),
}

/// Epoch ticks covering `timeout` (at least one).
fn ticks(timeout: Duration) -> u64 {
    (timeout.as_nanos() / EPOCH_TICK.as_nanos()).max(1) as u64 + 1
}
