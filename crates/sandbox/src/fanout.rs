//! The port a guest's `cluster` imports go to.
//!
//! The sandbox validates each call against the component's export types, hands it to a
//! [`FanOut`], and later waits on the [`Pending`] results. The sandbox defines this trait and
//! never implements it: the embedded cluster, the remote client and the worker do
//! (`wasmdask-cluster`), so the dependency runs one way.

use crate::component::{LoadedComponent, TaskSig};
use crate::task_error::{ErrorKind, TaskError};
use crate::typed_call::{Param, Shape};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Instant;
use wasmdask_values::ArgValue;
use wasmdask_values::{NumberLists, number_list_from_binary, number_lists_from_binary};
use wasmtime::component::{Type, Val};

pub use crate::pending::Pending;

/// One call of a component export, already checked against the export's parameter types.
#[derive(Debug, Clone)]
pub struct Call {
    /// The component whose export is called.
    pub component: Arc<LoadedComponent>,
    /// The export's canonical (WIT) name.
    pub function: String,
    /// One per parameter, checked against its type: values, or results of earlier calls that
    /// the call waits for. Executors in other processes send values in the binary value
    /// encoding (`wasmdask_values::args_to_binary`) and results by reference.
    pub args: Vec<Arg>,
    /// How deep in the fan-out tree the call sits: the calls of a root task are depth 1, theirs
    /// depth 2, … Schedulers run deeper calls first, so a tree finishes the branches it started
    /// before it starts new ones and the parents waiting in `gather` stay few.
    pub depth: u32,
}

/// One argument of a [`Call`].
#[derive(Debug, Clone)]
pub enum Arg {
    /// A value of the parameter's type (a number list maybe still a vector, see [`ArgValue`]).
    Value(ArgValue),
    /// The result of an earlier call of the same caller (a future, in Dask's words).
    Result(Input),
    /// A `list<T>` of results of earlier calls, in order.
    Results(Vec<Input>),
}

/// The result of an earlier call, used as an argument.
#[derive(Debug, Clone)]
pub struct Input {
    /// Where the result arrives.
    pub result: Pending,
    /// The caller's handle of the earlier call, named in errors.
    pub handle: u64,
    /// The export the earlier call runs, named in errors.
    pub function: Arc<str>,
}

impl Call {
    /// A call whose arguments are all values.
    pub fn with_values(
        component: Arc<LoadedComponent>,
        function: String,
        args: Vec<ArgValue>,
        depth: u32,
    ) -> Self {
        Call {
            component,
            function,
            args: args.into_iter().map(Arg::Value).collect(),
            depth,
        }
    }

    /// The results this call waits for.
    pub fn inputs(&self) -> impl Iterator<Item = &Input> {
        self.args.iter().flat_map(|arg| match arg {
            Arg::Result(input) => std::slice::from_ref(input),
            Arg::Results(inputs) => inputs.as_slice(),
            Arg::Value(_) => &[],
        })
    }

    /// The argument values, with every input's result decoded into its parameter's type. The
    /// inputs must have finished ([`Pending::is_done`]); a failed one fails the call with its
    /// kind, in a message that names the handle (see [`input_failed`]). For a call that takes
    /// the typed path, a number-list input stays a vector ([`ArgValue::Numbers`]) instead of
    /// becoming a `Val` per element.
    pub fn values(self, deadline: Instant) -> Result<Vec<ArgValue>, TaskError> {
        let task = self.component.task(&self.function)?;
        let kinds = task.typed.as_ref().map(Shape::params);
        let mut values = Vec::with_capacity(self.args.len());
        for (i, arg) in self.args.into_iter().enumerate() {
            let (name, ty) = &task.params[i];
            let kind = kinds.and_then(|kinds| kinds.get(i));
            match (arg, kind) {
                (Arg::Value(value), _) => values.push(value),
                (Arg::Result(input), Some(Param::List(element))) => {
                    let numbers = input.decode(task, name, ty, deadline, |bytes| {
                        number_list_from_binary(bytes, element)
                    })?;
                    values.push(ArgValue::Numbers(numbers));
                }
                (Arg::Result(input), Some(Param::Lists(element))) => {
                    let lists = input.decode(task, name, ty, deadline, |bytes| {
                        number_lists_from_binary(bytes, element)
                    })?;
                    values.push(ArgValue::NumberLists(lists));
                }
                (Arg::Result(input), _) => {
                    values.push(ArgValue::Val(input.value(task, name, ty, deadline)?))
                }
                (Arg::Results(inputs), kind) => {
                    let Type::List(list) = ty else {
                        return Err(TaskError::new(
                            ErrorKind::BadInput,
                            format!("argument `{name}` of `{}` is not a list", task.name),
                        ));
                    };
                    let item = list.ty();
                    if let Some(Param::Lists(element)) = kind {
                        let lists = inputs
                            .iter()
                            .map(|input| {
                                input.decode(task, name, &item, deadline, |bytes| {
                                    number_list_from_binary(bytes, element)
                                })
                            })
                            .collect::<Result<Vec<_>, _>>()?;
                        let lists = NumberLists::from_lists(lists, element).map_err(|e| {
                            TaskError::new(ErrorKind::InvalidComponent, e.to_string())
                        })?;
                        values.push(ArgValue::NumberLists(lists));
                        continue;
                    }
                    let items = inputs
                        .iter()
                        .map(|input| input.value(task, name, &item, deadline))
                        .collect::<Result<Vec<_>, _>>()?;
                    values.push(ArgValue::Val(Val::List(items)));
                }
            }
        }
        Ok(values)
    }
}

impl Input {
    /// The finished result, decoded as `ty` for the argument `param` of `task`.
    fn value(
        &self,
        task: &TaskSig,
        param: &str,
        ty: &Type,
        deadline: Instant,
    ) -> Result<Val, TaskError> {
        self.decode(task, param, ty, deadline, |bytes| {
            wasmdask_values::from_binary(bytes, ty)
        })
    }

    /// The finished result, decoded by `decode` (as `ty`) for the argument `param` of `task`.
    fn decode<T>(
        &self,
        task: &TaskSig,
        param: &str,
        ty: &Type,
        deadline: Instant,
        decode: impl FnOnce(&[u8]) -> Result<T, wasmdask_values::ValueError>,
    ) -> Result<T, TaskError> {
        let bytes = self
            .result
            .wait(deadline)
            .map_err(|e| input_failed(&task.name, param, self.handle, &self.function, &e))?;
        decode(&bytes).map_err(|e| {
            TaskError::new(
                ErrorKind::InvalidComponent,
                format!(
                    "argument `{param}` of `{}` (the result of call {} `{}`) does not decode as \
                     {}: {e}",
                    task.name,
                    self.handle,
                    self.function,
                    wasmdask_values::wit_type(ty)
                ),
            )
        })
    }
}

/// The error of a call `function` whose argument `param` is the result of call `handle` (of
/// the export `made_by`), which failed with `error`: the same kind (a timeout stays a timeout),
/// and a message that names the handle. When that call did not run either, the message names
/// the call whose failure started it all, once, instead of nesting one sentence per link of a
/// chain. The embedded cluster and the scheduler both say it so.
pub fn input_failed(
    function: &str,
    param: &str,
    handle: u64,
    made_by: &str,
    error: &TaskError,
) -> TaskError {
    let what = match first_failure(&error.message) {
        Some(first) => format!("did not run: {first}"),
        None => format!("failed: {}", error.message),
    };
    TaskError::new(
        error.kind,
        format!(
            "`{function}` did not run: its argument `{param}` is the result of call {handle} \
             (`{made_by}`), which {what}"
        ),
    )
}

/// In a message of [`input_failed`], the call whose failure started it: `call 5 (`boom`) failed:
/// boom on purpose`.
fn first_failure(message: &str) -> Option<String> {
    let (_, link) = message.split_once(INPUT_OF)?;
    let (call, rest) = link.split_once("), which ")?;
    if let Some(first) = rest.strip_prefix("did not run: ") {
        return Some(first.to_string());
    }
    let reason = rest.strip_prefix("failed: ")?;
    Some(format!("call {call}) failed: {reason}"))
}

/// What every message of [`input_failed`] says right before the input's handle.
const INPUT_OF: &str = "` is the result of call ";

/// Where a guest's fan-out runs: each call in its own sandbox, its result returned in the binary
/// value encoding.
pub trait FanOut: Send + Sync + std::fmt::Debug {
    /// Queues the calls, in order. A call with [`Arg::Result`] arguments runs once they have
    /// finished, and fails without running when one of them failed.
    fn submit(&self, calls: Vec<Call>) -> Result<Vec<Pending>, TaskError>;

    /// Waits for each call until `deadline`. A fan-out whose callers occupy its own worker
    /// slots overrides this to lend the slot out while waiting (Dask's `secede`/`rejoin`), so
    /// nested fan-out cannot deadlock.
    fn gather(&self, pending: &[Pending], deadline: Instant) -> Vec<Result<Bytes, TaskError>> {
        crate::pending::wait_all(pending, deadline)
    }

    /// The caller no longer needs these results (taken, released, or its execution ended).
    /// A cluster that keeps results elsewhere drops them once no waiting call needs them
    /// either; in-process results are freed with their last [`Pending`].
    fn release(&self, _pending: &[Pending]) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_input_names_its_handle_and_the_first_failure_once() {
        let boom = TaskError::new(ErrorKind::GuestError, "boom on purpose");
        let once = input_failed("inc", "x", 5, "boom", &boom);
        assert_eq!(once.kind, ErrorKind::GuestError);
        assert_eq!(
            once.message,
            "`inc` did not run: its argument `x` is the result of call 5 (`boom`), which failed: \
             boom on purpose"
        );
        let twice = input_failed("mean", "a", 6, "inc", &once);
        assert_eq!(
            twice.message,
            "`mean` did not run: its argument `a` is the result of call 6 (`inc`), which did not \
             run: call 5 (`boom`) failed: boom on purpose"
        );
        // A chain of any length says the same two things.
        let mut error = twice.clone();
        for handle in 7..1000 {
            error = input_failed("inc", "x", handle, "mean", &error);
        }
        assert!(error.message.len() < 200, "{}", error.message);
        assert!(
            error
                .message
                .ends_with("which did not run: call 5 (`boom`) failed: boom on purpose"),
            "{}",
            error.message
        );
    }
}
