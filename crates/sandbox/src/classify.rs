//! Turns whatever an execution ended with into a [`TaskError`] that says what happened and what
//! to do next. This is the only place that interprets wasmtime's errors.

use super::grants::Denial;
use super::guest_runtime::GuestRuntime;
use super::host::Received;
use super::limits::{Limiter, Limits};
use super::output::OutputLimitExceeded;
use crate::task_error::{ErrorKind, TaskError};
use wasmdask_values as values;
use wasmtime::component::Val;
use wasmtime::{Trap, WasmBacktrace};

/// Bytes of guest stderr attached to an error as evidence.
const STDERR_TAIL: usize = 4096;

/// A normal return: unwraps `result<T, E>` so that `err` becomes a `guest-error`.
pub(crate) fn returned(value: Option<Val>, denials: &[Denial]) -> Result<Option<Val>, TaskError> {
    match value {
        Some(Val::Result(Ok(ok))) => Ok(ok.map(|v| *v)),
        Some(Val::Result(Err(err))) => {
            let message = match err.as_deref() {
                Some(Val::String(s)) => s.clone(),
                Some(other) => values::from_val(other).to_string(),
                None => "the task returned an error without a value".to_string(),
            };
            Err(guest_error(message, denials))
        }
        other => Ok(other),
    }
}

/// The `err` a task returned, as a `guest-error`.
pub(crate) fn guest_error(message: String, denials: &[Denial]) -> TaskError {
    with_denials(TaskError::new(ErrorKind::GuestError, message), denials)
}

/// Adds to an out-of-memory error the largest value the task had received from its calls: the
/// usual reason a reducing task runs out of memory.
pub(crate) fn with_received(error: TaskError, received: Option<&Received>) -> TaskError {
    match received {
        Some(received) if error.kind == ErrorKind::OutOfMemory => {
            let message = format!(
                "{}; the largest value it received was the result of call {} of `{}`, {} in the \
                 binary encoding: take results one at a time (`cluster::gather_iter` in Rust) or \
                 make the calls return smaller values",
                error.message,
                received.call,
                received.function,
                human_bytes(received.bytes)
            );
            TaskError { message, ..error }
        }
        _ => error,
    }
}

/// A failed instantiation or call. `runtime` says which report formats to look for in `stderr`.
pub(crate) fn failed(
    error: wasmtime::Error,
    limiter: &Limiter,
    limits: &Limits,
    denials: &[Denial],
    stderr: &[u8],
    runtime: GuestRuntime,
) -> TaskError {
    let backtrace = error
        .downcast_ref::<WasmBacktrace>()
        .map(|bt| bt.to_string())
        .unwrap_or_default();
    let evidence = evidence(&backtrace, stderr);

    // A host call that failed for a reason of its own (a lazy input that could not be fetched)
    // already says what happened.
    if let Some(error) = error.downcast_ref::<TaskError>() {
        return error.clone();
    }
    if let Some(limit) = error.downcast_ref::<OutputLimitExceeded>() {
        return TaskError::new(
            ErrorKind::OutputLimit,
            format!(
                "{limit}; the sandbox keeps at most {} bytes per stream. Raise --output-limit or \
                 log less",
                limit.limit
            ),
        );
    }
    if let Some(asked) = limiter.memory_refused {
        return TaskError::new(
            ErrorKind::OutOfMemory,
            format!(
                "the task asked for {} of linear memory, over its cap of {}; raise \
                 --memory-limit or process the data in smaller pieces",
                human_bytes(asked),
                human_bytes(limits.memory_bytes)
            ),
        )
        .with_detail(evidence);
    }
    // wasmtime's `HostcallFuelExhausted` is private: its message is the only way to know it.
    if error
        .chain()
        .any(|cause| cause.to_string().contains("fuel allocated for hostcalls"))
    {
        return TaskError::new(
            ErrorKind::OutOfMemory,
            format!(
                "a value the task handed to the host (its result, or the arguments of a call) is \
                 too large: in the host's form it needs more than {} (twice the memory cap of \
                 {}, at least 128 MiB); return or pass the data in smaller pieces (a list element \
                 costs the host about 32 bytes), or raise --memory-limit",
                human_bytes(limits.hostcall_fuel()),
                human_bytes(limits.memory_bytes)
            ),
        )
        .with_detail(evidence);
    }
    if let Some(asked) = limiter.table_refused {
        return TaskError::new(
            ErrorKind::OutOfMemory,
            format!(
                "the task asked for a table of {asked} elements, over its cap of {}",
                limits.table_elements
            ),
        )
        .with_detail(evidence);
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => {
            return TaskError::new(
                ErrorKind::Timeout,
                format!(
                    "the task ran longer than its timeout of {:?} and was stopped; raise \
                     --timeout or give it less work per call",
                    limits.timeout
                ),
            )
            .with_detail(backtrace);
        }
        Some(Trap::StackOverflow) => {
            return TaskError::new(
                ErrorKind::StackOverflow,
                format!(
                    "the task exhausted its wasm stack of {} (unbounded recursion?); raise \
                     --max-stack or recurse less deeply",
                    human_bytes(limits.max_stack_bytes)
                ),
            )
            .with_detail(backtrace);
        }
        _ => {}
    }
    if error.downcast_ref::<Trap>() == Some(&Trap::MemoryOutOfBounds)
        && error
            .downcast_ref::<WasmBacktrace>()
            .is_some_and(is_runaway_recursion)
    {
        return TaskError::new(
            ErrorKind::StackOverflow,
            "the task exhausted its stack (unbounded recursion?): the guest's own stack in linear \
             memory overflowed and the access that followed was out of bounds; recurse less \
             deeply, or link the guest with a larger stack (e.g. -C link-arg=-zstack-size=N)",
        )
        .with_detail(backtrace);
    }
    let Some(trap) = error.downcast_ref::<Trap>() else {
        // Not a trap: instantiation or linking failed, or the arguments did not type-check.
        let text = format!("{error:#}");
        let kind = if text.contains("type mismatch")
            || text.contains("expected") && text.contains("argument")
        {
            ErrorKind::BadInput
        } else {
            ErrorKind::InvalidComponent
        };
        return with_denials(TaskError::new(kind, text), denials).with_detail(evidence);
    };
    match runtime.parse_exception(stderr) {
        // The interpreter's own error path trips the denial log (a traceback reads the source
        // file), so the exception, which names its cause, is the message; the denials stay in
        // the report, where `run` still warns about them.
        Some(exception) if exception.reported_by_interpreter() => {
            TaskError::new(ErrorKind::Trap, exception.describe()).with_detail(evidence)
        }
        Some(panic) => with_denials(TaskError::new(ErrorKind::Trap, panic.describe()), denials)
            .with_detail(evidence),
        None => with_denials(
            TaskError::new(ErrorKind::Trap, format!("the task trapped: {trap}")),
            denials,
        )
        .with_detail(evidence),
    }
}

/// A failure after the guest reached for an ungranted capability is reported as `denied`, naming
/// the most specific denial and keeping the guest's own words. Sockets are the most specific
/// signal; the filesystem comes next (wasi-libc enumerates preopens on its first descriptor
/// operation, sockets included); the environment counts only for returned errors, because
/// Rust's panic machinery reads `RUST_BACKTRACE` on every panic.
fn with_denials(error: TaskError, denials: &[Denial]) -> TaskError {
    let network = denials.iter().find(|d| matches!(d, Denial::Network { .. }));
    let filesystem = denials.iter().find(|d| **d == Denial::Filesystem);
    let environment = denials
        .iter()
        .find(|d| **d == Denial::Environment && error.kind != ErrorKind::Trap);
    match network.or(filesystem).or(environment) {
        Some(denial) => TaskError {
            kind: ErrorKind::Denied,
            message: format!("{}. The task reported: {}", denial.explain(), error.message),
            detail: error.detail,
        },
        None => error,
    }
}

/// Frames of the same function repeated to the top of the (truncated) backtrace: a program
/// whose shadow stack in linear memory ran out before wasmtime's own stack limit was reached.
fn is_runaway_recursion(backtrace: &WasmBacktrace) -> bool {
    let frames = backtrace.frames();
    if frames.len() < 16 {
        return false;
    }
    let mut indices: Vec<u32> = frames.iter().map(|f| f.func_index()).collect();
    indices.sort_unstable();
    indices.dedup();
    indices.len() <= 3
}

fn evidence(backtrace: &str, stderr: &[u8]) -> String {
    let mut out = backtrace.trim_end().to_string();
    if !stderr.is_empty() {
        let tail = &stderr[stderr.len().saturating_sub(STDERR_TAIL)..];
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str("guest stderr (tail):\n");
        out.push_str(String::from_utf8_lossy(tail).trim_end());
    }
    out
}

/// `1.5 GiB`-style sizes for messages.
pub(crate) fn human_bytes(n: usize) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
