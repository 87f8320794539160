//! The per-execution host state (wasmtime's "view" pattern) and the host side of the
//! `wasmdask:task` imports: `cluster` fan-out and `log`.

use super::component::LoadedComponent;
use super::grants::DenialLog;
use super::limits::Limiter;
use crate::fanout::{Call, FanOut, Pending};
use crate::task_error::{ErrorKind, TaskError};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use wasmdask_values as values;
use wasmtime::component::ResourceTable;
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
    /// Calls submitted and not yet gathered, with the export each calls (for decoding).
    pending: HashMap<u64, (Pending, Arc<str>)>,
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
                    values::args_from_json(&json, &task.params).map_err(|e| bad(e.to_string()))?
                }
                Args::Binary(bytes) => {
                    values::args_from_binary(bytes, &task.params).map_err(|e| {
                        bad(format!(
                            "the arguments in the binary encoding do not fit its parameters \
                             ({}): {e}",
                            values::wit_params(&task.params)
                        ))
                    })?
                }
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
        Ok(pending
            .into_iter()
            .map(|p| {
                let id = self.next_id;
                self.next_id += 1;
                self.pending.insert(id, (p, function.clone()));
                id
            })
            .collect())
    }

    /// Waits for the calls `ids` (giving up the slot meanwhile) and uses their handles up; each
    /// result comes with the export it called.
    fn take(&mut self, ids: &[u64]) -> Vec<Result<(Bytes, Arc<str>), TaskError>> {
        let mut known = Vec::with_capacity(ids.len());
        let handles: Vec<Option<(Pending, Arc<str>)>> =
            ids.iter().map(|id| self.pending.remove(id)).collect();
        for (pending, _) in handles.iter().flatten() {
            known.push(pending.clone());
        }
        let mut results = self.wait_for(&known).into_iter();
        ids.iter()
            .zip(handles)
            .map(|(id, handle)| match handle {
                Some((_, function)) => {
                    let result = results.next().expect("one result per known handle");
                    result.map(|bytes| {
                        self.received(*id, &function, bytes.len());
                        (bytes, function)
                    })
                }
                None => Err(TaskError::new(
                    ErrorKind::BadInput,
                    format!(
                        "call id {id} is unknown or was already gathered; each id can be \
                         gathered (or taken) once"
                    ),
                )),
            })
            .collect()
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

/// The arguments of one call as the guest wrote them.
enum Args {
    /// The JSON encoding (`submit`, `map`).
    Json(String),
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
