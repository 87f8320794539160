//! The per-execution host state (wasmtime's "view" pattern) and the host side of the
//! `wasmdask:task` imports: `cluster` fan-out and `log`.

use super::component::{LoadedComponent, TaskSig};
use super::grants::DenialLog;
use super::limits::Limiter;
use crate::fanout::{Arg, Call, FanOut, Input, Pending};
use crate::pending::{READ_AHEAD, READ_AHEAD_VALUE_BYTES};
use crate::task_error::{ErrorKind, TaskError};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use wasmdask_values as values;
use wasmdask_values::ArgValue;
use wasmtime::component::{ResourceTable, Type};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "wasmdask:task/imports",
});

use self::wasmdask::task::{cluster as wit_cluster, log as wit_log, types as wit_types};

/// Log lines kept per execution; more are counted but dropped.
const MAX_LOG_LINES: usize = 1000;

/// One `log` call of the guest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogLine {
    /// `trace` … `error`.
    pub level: String,
    /// What the guest logged.
    pub message: String,
}

/// Everything one execution's store owns.
pub(crate) struct HostState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) denials: DenialLog,
    /// The lazy mounts and the descriptors open in them (`crate::lazy`).
    pub(crate) lazy: crate::lazy::LazyMounts,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) logs_dropped: usize,
    pub(crate) fanout: GuestCalls,
}

/// The guest's view of the cluster: its own component, the calls it has in flight, and the
/// deadline its waits must respect.
pub(crate) struct GuestCalls {
    pub(crate) cluster: Option<Arc<dyn FanOut>>,
    pub(crate) component: Arc<LoadedComponent>,
    pub(crate) deadline: Instant,
    /// The execution's depth in the fan-out tree; its calls are one deeper.
    depth: u32,
    /// Calls submitted and not yet taken or released, with the export each calls.
    pending: HashMap<u64, (Pending, Arc<str>)>,
    /// Handles are `base | n` for n = 1, 2, …: the random high half tells another execution's
    /// handle (passed along in a value, say) from one of ours that was used up. Drawn at the
    /// first submit: most executions (the leaves) never submit, and it costs a system call.
    base: Option<u64>,
    next_id: u64,
    /// Sum of `submit`/`map` calls, reported for progress and metrics.
    pub(crate) submitted: u64,
    /// The largest result handed to the guest, named in an out-of-memory error.
    pub(crate) largest_received: Option<Received>,
}

/// A result handed to the guest (by `gather` or `take`).
#[derive(Debug, Clone)]
pub(crate) struct Received {
    /// The guest's handle of the call.
    pub(crate) call: u64,
    /// The export it called.
    pub(crate) function: Arc<str>,
    /// Its size in the binary encoding.
    pub(crate) bytes: usize,
}

impl GuestCalls {
    pub(crate) fn new(
        cluster: Option<Arc<dyn FanOut>>,
        component: Arc<LoadedComponent>,
        deadline: Instant,
        depth: u32,
    ) -> Self {
        GuestCalls {
            cluster,
            component,
            deadline,
            depth,
            pending: HashMap::new(),
            base: None,
            next_id: 1,
            submitted: 0,
            largest_received: None,
        }
    }

    /// Checks the calls against the export's types and hands them to the cluster.
    fn submit(&mut self, function: &str, args: Vec<Args>) -> Result<Vec<u64>, TaskError> {
        let Some(cluster) = self.cluster.clone() else {
            return Err(TaskError::new(
                ErrorKind::InvalidComponent,
                "cluster fan-out is not available in this execution",
            ));
        };
        let task = self.component.task(function)?;
        let mut calls = Vec::with_capacity(args.len());
        for (i, args) in args.iter().enumerate() {
            let bad = |e: String| {
                TaskError::new(
                    ErrorKind::BadInput,
                    format!("call {i} of `{}`: {e}", task.name),
                )
            };
            let args = match args {
                Args::Json(text) => {
                    let json: serde_json::Value = serde_json::from_str(text)
                        .map_err(|e| bad(format!("arguments are not valid JSON: {e}")))?;
                    values::args_from_json(&json, &task.params)
                        .map_err(|e| bad(e.to_string()))?
                        .into_iter()
                        .map(|value| Arg::Value(ArgValue::Val(value)))
                        .collect()
                }
                Args::Binary(bytes) => task
                    .args_from_binary(bytes)
                    .map_err(|e| {
                        bad(format!(
                            "the arguments in the binary encoding do not fit its parameters \
                             ({}): {e}",
                            values::wit_params(&task.params)
                        ))
                    })?
                    .into_iter()
                    .map(Arg::Value)
                    .collect(),
                Args::Parts(parts) => self.args_of_parts(task, parts).map_err(bad)?,
            };
            calls.push(Call {
                component: self.component.clone(),
                function: task.name.clone(),
                args,
                depth: self.depth + 1,
            });
        }
        let function: Arc<str> = task.name.as_str().into();
        let pending = cluster.submit(calls)?;
        self.submitted += pending.len() as u64;
        let base = *self.base.get_or_insert_with(handle_base);
        Ok(pending
            .into_iter()
            .map(|p| {
                let id = base | self.next_id;
                self.next_id += 1;
                self.pending.insert(id, (p, function.clone()));
                id
            })
            .collect())
    }

    /// The arguments of a `submit-args` call: each value checked against its parameter's type,
    /// each handle one this execution holds, of an export whose result has that type.
    fn args_of_parts(
        &self,
        task: &TaskSig,
        parts: &[wit_cluster::Arg],
    ) -> Result<Vec<Arg>, String> {
        if parts.len() != task.params.len() {
            return Err(format!(
                "{} argument(s) given, the export takes {} ({})",
                parts.len(),
                task.params.len(),
                values::wit_params(&task.params)
            ));
        }
        parts
            .iter()
            .zip(&task.params)
            .map(|(part, (name, ty))| match part {
                wit_cluster::Arg::Value(bytes) => values::from_binary(bytes, ty)
                    .map(|value| Arg::Value(ArgValue::Val(value)))
                    .map_err(|e| {
                        format!(
                            "argument `{name}` does not decode as {}: {e}",
                            values::wit_type(ty)
                        )
                    }),
                wit_cluster::Arg::Call(handle) => self.input(name, ty, *handle).map(Arg::Result),
                wit_cluster::Arg::Calls(handles) => {
                    let Type::List(list) = ty else {
                        return Err(format!(
                            "argument `{name}` is {}, not a list: pass one handle as `call`",
                            values::wit_type(ty)
                        ));
                    };
                    let item = list.ty();
                    handles
                        .iter()
                        .map(|handle| self.input(name, &item, *handle))
                        .collect::<Result<Vec<_>, _>>()
                        .map(Arg::Results)
                }
            })
            .collect()
    }

    /// The result of `handle` as (an element of) the argument `name` of type `ty`: a handle this
    /// execution holds, of an export whose result has that type.
    fn input(&self, name: &str, ty: &Type, handle: u64) -> Result<Input, String> {
        let (pending, function) = self
            .pending
            .get(&handle)
            .ok_or_else(|| format!("argument `{name}`: {}", self.unheld(handle)))?;
        let made = self.component.task(function).map_err(|e| e.message)?;
        let output = made.output_type();
        let fits = output
            .as_ref()
            .is_some_and(|out| values::wit_type(out) == values::wit_type(ty));
        if !fits {
            let made_type = output
                .as_ref()
                .map_or_else(|| "nothing".to_string(), values::wit_type);
            return Err(format!(
                "argument `{name}` is {}, but call {handle} (`{function}`) returns {made_type}",
                values::wit_type(ty)
            ));
        }
        Ok(Input {
            result: pending.clone(),
            handle,
            function: function.clone(),
        })
    }

    /// Why `handle` is not one this execution holds.
    fn unheld(&self, handle: u64) -> String {
        let never = || format!("call id {handle} was never returned by `submit` in this execution");
        let Some(base) = self.base else {
            return never();
        };
        if handle & HANDLE_BASE_MASK != base {
            format!(
                "call id {handle} is not a handle of this execution (handles are local to the \
                 execution that submitted the call; pass the value instead)"
            )
        } else if handle & !HANDLE_BASE_MASK < self.next_id {
            format!(
                "call id {handle} was already taken or released; pass a handle to `submit-args` \
                 before taking or releasing it"
            )
        } else {
            never()
        }
    }

    /// `release`: drops the handles this execution holds among `ids`.
    fn release(&mut self, ids: &[u64]) {
        let released: Vec<Pending> = ids
            .iter()
            .filter_map(|id| self.pending.remove(id).map(|(p, _)| p))
            .collect();
        if let (Some(cluster), false) = (&self.cluster, released.is_empty()) {
            cluster.release(&released);
        }
    }

    /// Waits for the calls `ids` (giving up the slot meanwhile) and uses their handles up; each
    /// result comes with the export it called.
    fn take(&mut self, ids: &[u64]) -> Vec<Result<(Bytes, Arc<str>), TaskError>> {
        let handles: Vec<Option<(Pending, Arc<str>)>> =
            ids.iter().map(|id| self.pending.remove(id)).collect();
        let known: Vec<Pending> = handles.iter().flatten().map(|(p, _)| p.clone()).collect();
        self.read_ahead(ids);
        let mut results = self.wait_for(&known).into_iter();
        if let (Some(cluster), false) = (&self.cluster, known.is_empty()) {
            cluster.release(&known);
        }
        let mut taken = Vec::with_capacity(ids.len());
        for (id, handle) in ids.iter().zip(handles) {
            taken.push(match handle {
                Some((_, function)) => {
                    let result = results.next().expect("one result per known handle");
                    result.map(|bytes| {
                        self.received(*id, &function, bytes.len());
                        (bytes, function)
                    })
                }
                None => Err(TaskError::new(ErrorKind::BadInput, self.unheld(*id))),
            });
        }
        taken
    }

    /// Starts fetching the results of the calls submitted right after the last of `ids`: a
    /// guest that takes its results one by one in the order it submitted them (the commonest
    /// reduce) then finds the next one here instead of waiting for its transfer.
    fn read_ahead(&self, ids: &[u64]) {
        let Some(&last) = ids.iter().max() else {
            return;
        };
        for next in (last.saturating_add(1)..).take(READ_AHEAD) {
            if let Some((pending, _)) = self.pending.get(&next) {
                pending.prefetch(self.deadline, READ_AHEAD_VALUE_BYTES);
            }
        }
    }

    fn received(&mut self, call: u64, function: &Arc<str>, bytes: usize) {
        if self
            .largest_received
            .as_ref()
            .is_none_or(|largest| bytes > largest.bytes)
        {
            self.largest_received = Some(Received {
                call,
                function: function.clone(),
                bytes,
            });
        }
    }

    /// Waits for calls until the deadline, through the cluster (which lends the slot out).
    fn wait_for(&self, pending: &[Pending]) -> Vec<Result<Bytes, TaskError>> {
        match &self.cluster {
            Some(cluster) if !pending.is_empty() => cluster.gather(pending, self.deadline),
            _ => Vec::new(),
        }
    }

    /// `wait`: waits for the known handles among `ids`, keeping them for `take`.
    fn wait(&self, ids: &[u64]) {
        let pending: Vec<Pending> = ids
            .iter()
            .filter_map(|id| self.pending.get(id).map(|(p, _)| p.clone()))
            .collect();
        self.wait_for(&pending);
    }

    /// `gather`: the results as JSON text.
    fn gather_json(&mut self, ids: Vec<u64>) -> Vec<Result<String, TaskError>> {
        self.take(&ids)
            .into_iter()
            .map(|result| {
                let (bytes, function) = result?;
                let task = self.component.task(&function)?;
                Ok(task.output_json(&bytes)?.to_string())
            })
            .collect()
    }

    /// `take`: one result in the binary encoding.
    fn take_binary(&mut self, id: u64) -> Result<Vec<u8>, TaskError> {
        let (bytes, _) = self.take(&[id]).pop().expect("one result per id")?;
        Ok(bytes.into())
    }
}

/// The handles an execution still holds when it ends are released with it.
impl Drop for GuestCalls {
    fn drop(&mut self) {
        let ids: Vec<u64> = self.pending.keys().copied().collect();
        self.release(&ids);
    }
}

/// The high half of a handle: the execution's random tag.
const HANDLE_BASE_MASK: u64 = !0 << 32;

/// A random tag for one execution's handles (see `GuestCalls::base`). Without randomness (never
/// seen on a supported system) handles still work; only the "another execution's handle"
/// diagnosis loses precision.
fn handle_base() -> u64 {
    let mut tag = [0u8; 4];
    let _ = getrandom::fill(&mut tag);
    // Never zero, so a small number a guest made up is recognisably not a handle.
    u64::from(u32::from_le_bytes(tag).max(1)) << 32
}

/// The arguments of one call as the guest wrote them.
enum Args {
    /// The JSON encoding (`submit`, `map`).
    Json(String),
    /// Values and handles (`submit-args`, `map-args`).
    Parts(Vec<wit_cluster::Arg>),
    /// The binary encoding (`submit-binary`, `map-binary`).
    Binary(Vec<u8>),
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

// The WIT `error-kind` and [`ErrorKind`] are two Rust enums for one set of cases: wasmtime 48's
// `bindgen!` `with:` remaps only interfaces, packages and resources (a WIT enum always gets a
// generated type), so the kinds convert through one exhaustive `match` each way. A case added to
// the WIT fails to compile here; the tests hold the names to `ErrorKind::as_str`.
impl From<ErrorKind> for wit_types::ErrorKind {
    fn from(kind: ErrorKind) -> Self {
        use wit_types::ErrorKind as K;
        match kind {
            ErrorKind::BadInput => K::BadInput,
            ErrorKind::GuestError => K::GuestError,
            ErrorKind::Trap => K::Trap,
            ErrorKind::Timeout => K::Timeout,
            ErrorKind::OutOfMemory => K::OutOfMemory,
            ErrorKind::StackOverflow => K::StackOverflow,
            ErrorKind::OutputLimit => K::OutputLimit,
            ErrorKind::Denied => K::Denied,
            ErrorKind::UnknownFunction => K::UnknownFunction,
            ErrorKind::InvalidComponent => K::InvalidComponent,
            ErrorKind::Lost => K::Lost,
        }
    }
}

impl From<wit_types::ErrorKind> for ErrorKind {
    fn from(kind: wit_types::ErrorKind) -> Self {
        use wit_types::ErrorKind as K;
        match kind {
            K::BadInput => ErrorKind::BadInput,
            K::GuestError => ErrorKind::GuestError,
            K::Trap => ErrorKind::Trap,
            K::Timeout => ErrorKind::Timeout,
            K::OutOfMemory => ErrorKind::OutOfMemory,
            K::StackOverflow => ErrorKind::StackOverflow,
            K::OutputLimit => ErrorKind::OutputLimit,
            K::Denied => ErrorKind::Denied,
            K::UnknownFunction => ErrorKind::UnknownFunction,
            K::InvalidComponent => ErrorKind::InvalidComponent,
            K::Lost => ErrorKind::Lost,
        }
    }
}

/// What the guest sees of a task error: the WIT record has no `detail` (a guest gets the message;
/// backtraces and output tails stay with the host's report).
fn to_wit(error: TaskError) -> wit_types::TaskError {
    wit_types::TaskError {
        kind: error.kind.into(),
        message: error.message,
    }
}

impl wit_types::Host for HostState {}

impl wit_cluster::Host for HostState {
    fn submit(&mut self, function: String, args: String) -> Result<u64, wit_types::TaskError> {
        self.fanout
            .submit(&function, vec![Args::Json(args)])
            .map(|ids| ids[0])
            .map_err(to_wit)
    }

    fn map(
        &mut self,
        function: String,
        args: Vec<String>,
    ) -> Result<Vec<u64>, wit_types::TaskError> {
        let args = args.into_iter().map(Args::Json).collect();
        self.fanout.submit(&function, args).map_err(to_wit)
    }

    fn gather(&mut self, calls: Vec<u64>) -> Vec<Result<String, wit_types::TaskError>> {
        self.fanout
            .gather_json(calls)
            .into_iter()
            .map(|r| r.map_err(to_wit))
            .collect()
    }

    fn submit_binary(
        &mut self,
        function: String,
        args: Vec<u8>,
    ) -> Result<u64, wit_types::TaskError> {
        self.fanout
            .submit(&function, vec![Args::Binary(args)])
            .map(|ids| ids[0])
            .map_err(to_wit)
    }

    fn map_binary(
        &mut self,
        function: String,
        args: Vec<Vec<u8>>,
    ) -> Result<Vec<u64>, wit_types::TaskError> {
        let args = args.into_iter().map(Args::Binary).collect();
        self.fanout.submit(&function, args).map_err(to_wit)
    }

    fn wait(&mut self, calls: Vec<u64>) {
        self.fanout.wait(&calls);
    }

    fn take(&mut self, call: u64) -> Result<Vec<u8>, wit_types::TaskError> {
        self.fanout.take_binary(call).map_err(to_wit)
    }

    fn submit_args(
        &mut self,
        function: String,
        args: Vec<wit_cluster::Arg>,
    ) -> Result<u64, wit_types::TaskError> {
        self.fanout
            .submit(&function, vec![Args::Parts(args)])
            .map(|ids| ids[0])
            .map_err(to_wit)
    }

    fn map_args(
        &mut self,
        function: String,
        args: Vec<Vec<wit_cluster::Arg>>,
    ) -> Result<Vec<u64>, wit_types::TaskError> {
        let args = args.into_iter().map(Args::Parts).collect();
        self.fanout.submit(&function, args).map_err(to_wit)
    }

    fn release(&mut self, calls: Vec<u64>) {
        self.fanout.release(&calls);
    }
}

impl wit_log::Host for HostState {
    fn log(&mut self, level: wit_log::Level, message: String) {
        let level = match level {
            wit_log::Level::Trace => "trace",
            wit_log::Level::Debug => "debug",
            wit_log::Level::Info => "info",
            wit_log::Level::Warn => "warn",
            wit_log::Level::Error => "error",
        };
        tracing::debug!(target: "wasmdask::guest", level, "{message}");
        if self.logs.len() < MAX_LOG_LINES {
            self.logs.push(LogLine {
                level: level.to_string(),
                message,
            });
        } else {
            self.logs_dropped += 1;
        }
    }
}

/// Adds the `wasmdask:task` imports to a linker.
pub(crate) fn add_to_linker(
    linker: &mut wasmtime::component::Linker<HostState>,
) -> wasmtime::Result<()> {
    Imports::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(linker, |s| s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The case names of `enum error-kind` in the WIT package, in order, as wit-parser reads
    /// them (the same parser the guest toolchains use).
    fn wit_error_kinds() -> Vec<String> {
        let mut resolve = wit_parser::Resolve::default();
        resolve
            .push_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../wit"))
            .expect("the WIT package parses");
        resolve
            .types
            .iter()
            .find_map(|(_, ty)| match (&ty.name, &ty.kind) {
                (Some(name), wit_parser::TypeDefKind::Enum(e)) if name == "error-kind" => {
                    Some(e.cases.iter().map(|case| case.name.clone()).collect())
                }
                _ => None,
            })
            .expect("the WIT declares error-kind")
    }

    #[test]
    fn every_kind_round_trips_through_the_wit_enum() {
        for kind in ErrorKind::ALL {
            let wit = wit_types::ErrorKind::from(kind);
            assert_eq!(ErrorKind::from(wit), kind);
        }
    }

    #[test]
    fn host_kinds_are_the_wit_cases_by_name_and_position() {
        let names: Vec<&str> = ErrorKind::ALL.map(ErrorKind::as_str).to_vec();
        assert_eq!(names, wit_error_kinds());
        // The generated enum is `#[repr(u8)]` in WIT case order: the same case, not a neighbour.
        for (i, kind) in ErrorKind::ALL.into_iter().enumerate() {
            assert_eq!(wit_types::ErrorKind::from(kind) as usize, i, "{kind}");
        }
    }

    #[test]
    fn the_guest_sees_kind_and_message() {
        let error = TaskError::new(ErrorKind::Denied, "no files").with_detail("backtrace");
        let wit = to_wit(error);
        assert_eq!(wit.kind, wit_types::ErrorKind::Denied);
        assert_eq!(wit.message, "no files");
    }
}
