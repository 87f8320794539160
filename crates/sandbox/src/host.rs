//! The per-execution host state (wasmtime's "view" pattern) and the host side of the
//! `wasmdask:task` imports: `cluster` fan-out and `log`.

use super::component::LoadedComponent;
use super::grants::DenialLog;
use super::limits::Limiter;
use crate::fanout::{Call, FanOut, Pending};
use crate::task_error::{ErrorKind, TaskError};
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
    pending: HashMap<u64, Pending>,
    next_id: u64,
    /// Sum of `submit`/`map` calls, reported for progress and metrics.
    pub(crate) submitted: u64,
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
        }
    }

    /// Checks the calls against the export's types and hands them to the cluster.
    fn submit(&mut self, function: &str, args: Vec<String>) -> Result<Vec<u64>, TaskError> {
        let Some(cluster) = self.cluster.clone() else {
            return Err(TaskError::new(
                ErrorKind::InvalidComponent,
                "cluster fan-out is not available in this execution",
            ));
        };
        let task = self.component.task(function)?;
        let mut calls = Vec::with_capacity(args.len());
        for (i, args_json) in args.iter().enumerate() {
            let json: serde_json::Value = serde_json::from_str(args_json).map_err(|e| {
                TaskError::new(
                    ErrorKind::BadInput,
                    format!(
                        "call {i} of `{}`: arguments are not valid JSON: {e}",
                        task.name
                    ),
                )
            })?;
            let args = values::args_from_json(&json, &task.params).map_err(|e| {
                TaskError::new(
                    ErrorKind::BadInput,
                    format!("call {i} of `{}`: {e}", task.name),
                )
            })?;
            calls.push(Call {
                component: self.component.clone(),
                function: task.name.clone(),
                args,
                depth: self.depth + 1,
            });
        }
        let pending = cluster.submit(calls)?;
        self.submitted += pending.len() as u64;
        Ok(pending
            .into_iter()
            .map(|p| {
                let id = self.next_id;
                self.next_id += 1;
                self.pending.insert(id, p);
                id
            })
            .collect())
    }

    fn gather(&mut self, ids: Vec<u64>) -> Vec<Result<String, TaskError>> {
        let mut slots = Vec::with_capacity(ids.len());
        let mut unknown = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            match self.pending.remove(id) {
                Some(p) => slots.push(p),
                None => {
                    unknown.push(i);
                    slots.push(Pending::new());
                }
            }
        }
        let results = match &self.cluster {
            Some(cluster) => cluster.gather(&slots, self.deadline),
            None => Vec::new(),
        };
        let mut results: Vec<_> = results.into_iter().map(Some).collect();
        for i in unknown {
            results[i] = Some(Err(TaskError::new(
                ErrorKind::BadInput,
                format!(
                    "call id {} is unknown or was already gathered; each id can be gathered once",
                    ids[i]
                ),
            )));
        }
        results.into_iter().map(|r| r.expect("filled")).collect()
    }
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
            .submit(&function, vec![args])
            .map(|ids| ids[0])
            .map_err(to_wit)
    }

    fn map(
        &mut self,
        function: String,
        args: Vec<String>,
    ) -> Result<Vec<u64>, wit_types::TaskError> {
        self.fanout.submit(&function, args).map_err(to_wit)
    }

    fn gather(&mut self, calls: Vec<u64>) -> Vec<Result<String, wit_types::TaskError>> {
        self.fanout
            .gather(calls)
            .into_iter()
            .map(|r| r.map_err(to_wit))
            .collect()
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
