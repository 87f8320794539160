//! Typed fan-out: run calls of this component's own exports as separate tasks on the cluster.
//!
//! Arguments and results travel in the host's binary value encoding (the postcard wire format,
//! see `wit/wasmdask.wit`): serde turns Rust values into it and back, so a task reads like
//! ordinary Rust and a `Vec<f64>` or `Vec<u8>` crosses as its bytes, not as text:
//!
//! ```ignore
//! let squares: Vec<u64> = cluster::map_gather("square", (1..=n).map(|x: u64| (x,)))?;
//! ```
//!
//! # Arguments
//!
//! The arguments of one call are a tuple in parameter order (`(x,)` for a single argument, `()`
//! for none) or a struct whose fields are the parameters **in order**: the binary encoding is
//! positional, field names are not sent.
//!
//! # Results
//!
//! A result is decoded into the Rust type the [`Call`] was made with, which must mirror the WIT
//! type: record fields and enum/variant cases in WIT order (names do not matter), `Option` for
//! `option`, a tuple for `tuple`. An export returning `result<T, E>` reports its `err` as a
//! [`TaskError`] of kind [`ErrorKind::GuestError`], and its `ok` value decodes into `T`.
//! Non-finite floats cross unchanged.
//!
//! [`gather`] waits for all its calls first and then takes the results one at a time, so only one
//! encoded result is in the guest's memory next to the decoded ones: a task can gather results
//! whose encoded total would not fit twice.
//!
//! # Futures as arguments (0.1.2)
//!
//! [`Call::arg`] passes a call's result to another call without taking it: the value goes from
//! wherever it was made to wherever the next call runs (worker to worker), never through this
//! task. A graph of calls reads like Dask's `client.submit(f, future)`:
//!
//! ```ignore
//! let a: Call<Vec<f64>> = cluster::submit("load", (shard,))?;
//! let b: Call<Vec<f64>> = cluster::submit_with("normalize", [a.arg()])?;
//! let total: f64 = cluster::submit_with("sum", [b.arg()])?.result()?;
//! ```
//!
//! Dropping a [`Call`] releases its result: the cluster keeps it only while a handle or a
//! waiting call refers to it.
//!
//! # JSON
//!
//! [`submit_json`], [`map_json`] and [`gather_json`] use the JSON encoding instead (records keyed
//! by their WIT kebab-case names, variants as `"case"` / `{"case": payload}`): slower, but
//! field and case order do not matter. Handles are the same either way: a call submitted as JSON
//! can be gathered as binary and the other way round.

use std::any::type_name;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::bindings::wasmdask::task::cluster as wit;
use crate::{ErrorKind, TaskError};

/// The handle of one submitted call whose result decodes into `R`.
///
/// It is consumed by [`gather`] (or [`Call::result`]) because the host lets each handle be
/// gathered once; the type system enforces that instead of a runtime `bad-input`. Dropping a
/// handle without gathering it is allowed: the call still runs, and its result is released
/// (freed on the cluster once no waiting call needs it).
pub struct Call<R> {
    id: u64,
    /// Still held: not taken yet, so dropping it releases the result.
    held: bool,
    /// The export called, kept for error messages about its result.
    function: Arc<str>,
    /// `fn() -> R`: the handle produces an `R` but owns none, so it is `Send`/`Sync` whatever `R`.
    _marker: PhantomData<fn() -> R>,
}

impl<R> Call<R> {
    /// The host's id of this call (unique within the calling execution), for logging.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// This call's result as an argument of another call ([`submit_with`], [`map_with`]),
    /// without taking it: the value never enters this task. The handle stays usable.
    pub fn arg(&self) -> Arg {
        Arg(wit::Arg::Call(self.id))
    }

    /// Releases the result without taking it (what dropping the handle does, said out loud).
    pub fn release(self) {}

    /// The id, for a host call that uses the handle up: dropping `self` then releases nothing.
    fn take_id(mut self) -> u64 {
        self.held = false;
        self.id
    }

    /// The name of the export this call runs.
    pub fn function(&self) -> &str {
        &self.function
    }
}

impl<R: DeserializeOwned + 'static> Call<R> {
    /// Waits for this one call; gathering many at once with [`gather`] lets the host wait for
    /// them together.
    pub fn result(self) -> Result<R, TaskError> {
        gather([self])
            .pop()
            .unwrap_or_else(|| Err(missing_result()))
    }
}

impl<R> Drop for Call<R> {
    fn drop(&mut self) {
        if self.held {
            crate::link_imports();
            wit::release(&[self.id]);
        }
    }
}

/// One argument of [`submit_with`] / [`map_with`]: a value ([`Arg::value`]) or an earlier
/// call's result ([`Call::arg`]).
pub struct Arg(wit::Arg);

impl Arg {
    /// `value` as one argument, in the binary encoding of its parameter's type.
    pub fn value<T: Serialize>(value: &T) -> Result<Arg, TaskError> {
        let bytes = postcard::to_allocvec(value).map_err(|error| {
            bad_input(format!(
                "cannot encode an argument of type `{}` in the binary encoding: {error}",
                type_name::<T>()
            ))
        })?;
        Ok(Arg(wit::Arg::Value(bytes)))
    }

    /// The results of `calls`, in order, as one `list<T>` argument (Dask's
    /// `client.submit(f, [futures])`): the call receives them all without any entering this
    /// task. Each call's result type must be the list's element type.
    pub fn calls<'a, R: 'a>(calls: impl IntoIterator<Item = &'a Call<R>>) -> Arg {
        Arg(wit::Arg::Calls(
            calls.into_iter().map(|call| call.id).collect(),
        ))
    }

    /// An earlier call's result by its raw id ([`Call::id`]), for ids kept outside their
    /// [`Call`]; the host checks that this task still holds it. Prefer [`Call::arg`].
    pub fn handle(id: u64) -> Arg {
        Arg(wit::Arg::Call(id))
    }
}

impl fmt::Debug for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            wit::Arg::Value(bytes) => write!(f, "Arg::value({} bytes)", bytes.len()),
            wit::Arg::Call(id) => write!(f, "Arg::call({id})"),
            wit::Arg::Calls(ids) => write!(f, "Arg::calls({ids:?})"),
        }
    }
}

/// Submits one call of `function` whose arguments, one per parameter in order, are values or
/// results of earlier calls (see the module docs). The call runs once those results exist; it
/// fails without running, naming the handle, if one of them failed.
///
/// Fails right away for a handle this task does not hold (taken, released, or another
/// execution's), or whose export's result type is not the parameter's type.
pub fn submit_with<R: DeserializeOwned + 'static>(
    function: &str,
    args: impl IntoIterator<Item = Arg>,
) -> Result<Call<R>, TaskError> {
    let args: Vec<wit::Arg> = args.into_iter().map(|arg| arg.0).collect();
    crate::link_imports();
    let id = wit::submit_args(function, &args)?;
    Ok(handle(function.into(), id))
}

/// [`submit_with`] for each element of `args`, in order, in one host round trip.
pub fn map_with<R: DeserializeOwned + 'static, A: IntoIterator<Item = Arg>>(
    function: &str,
    args: impl IntoIterator<Item = A>,
) -> Result<Vec<Call<R>>, TaskError> {
    let args: Vec<Vec<wit::Arg>> = args
        .into_iter()
        .map(|call| call.into_iter().map(|arg| arg.0).collect())
        .collect();
    crate::link_imports();
    let ids = wit::map_args(function, &args)?;
    Ok(handles(function, ids))
}

impl<R> fmt::Debug for Call<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("id", &self.id)
            .field("function", &self.function)
            .field("result", &type_name::<R>())
            .finish()
    }
}

/// Submits one call of the export `function` with `args` (a tuple or a struct whose fields are
/// the parameters in order, see the module docs) and returns its handle at once.
///
/// Fails right away, without running anything, when the arguments cannot be encoded or the host
/// knows the call can never succeed (an unknown export, arguments that do not fit its types).
pub fn submit<A: Serialize, R: DeserializeOwned + 'static>(
    function: &str,
    args: A,
) -> Result<Call<R>, TaskError> {
    let args = encode_binary_args(function, &args)?;
    crate::link_imports();
    let id = wit::submit_binary(function, &args)?;
    Ok(handle(function.into(), id))
}

/// Submits one call of `function` per element of `args`, in order, in one host round trip.
///
/// All arguments are encoded before anything is submitted, so a bad element fails the whole map
/// instead of leaving part of it running.
pub fn map<A: Serialize, R: DeserializeOwned + 'static>(
    function: &str,
    args: impl IntoIterator<Item = A>,
) -> Result<Vec<Call<R>>, TaskError> {
    let args = args
        .into_iter()
        .map(|args| encode_binary_args(function, &args))
        .collect::<Result<Vec<_>, _>>()?;
    crate::link_imports();
    let ids = wit::map_binary(function, &args)?;
    Ok(handles(function, ids))
}

/// Waits for `calls` and returns their outcomes in the same order.
///
/// Each outcome is independent: one failed call does not hide the others' results. A result that
/// does not decode into `R` becomes a [`TaskError`] of kind [`ErrorKind::BadInput`] that names
/// the export and the Rust type.
pub fn gather<R: DeserializeOwned + 'static>(
    calls: impl IntoIterator<Item = Call<R>>,
) -> Vec<Result<R, TaskError>> {
    gather_iter(calls).collect()
}

/// Waits for `calls`, then hands out their outcomes in order, one at a time: each result is
/// copied into the guest and decoded only when the iterator reaches it.
///
/// This is how a task reduces more data than fits its memory: fold over the iterator and drop
/// each value before taking the next, and only one result is held at a time.
///
/// ```ignore
/// let calls: Vec<Call<Vec<f64>>> = cluster::map("chunk", (0..64).map(|i| (i,)))?;
/// let mut total = 0.0;
/// for chunk in cluster::gather_iter(calls) {
///     total += chunk?.iter().sum::<f64>();
/// }
/// ```
pub fn gather_iter<R: DeserializeOwned + 'static>(
    calls: impl IntoIterator<Item = Call<R>>,
) -> impl Iterator<Item = Result<R, TaskError>> {
    let calls: Vec<Call<R>> = calls.into_iter().collect();
    if !calls.is_empty() {
        let ids: Vec<u64> = calls.iter().map(|call| call.id).collect();
        crate::link_imports();
        wit::wait(&ids);
    }
    calls.into_iter().map(|call| {
        let function = call.function.clone();
        let bytes = wit::take(call.take_id())?;
        decode_binary(&function, &bytes)
    })
}

/// [`map`] then [`gather`]: the common "run this export over these inputs" step.
///
/// Returns the results in input order, or the first failure in input order (the other calls
/// have still run to completion).
pub fn map_gather<A: Serialize, R: DeserializeOwned + 'static>(
    function: &str,
    args: impl IntoIterator<Item = A>,
) -> Result<Vec<R>, TaskError> {
    gather(map(function, args)?).into_iter().collect()
}

/// [`submit`] with the arguments as JSON: a tuple (positional) or a struct keyed by parameter
/// name, in any order.
pub fn submit_json<A: Serialize, R: DeserializeOwned>(
    function: &str,
    args: A,
) -> Result<Call<R>, TaskError> {
    let args = encode_args(function, &args)?;
    crate::link_imports();
    let id = wit::submit(function, &args)?;
    Ok(handle(function.into(), id))
}

/// [`map`] with the arguments as JSON (see [`submit_json`]).
pub fn map_json<A: Serialize, R: DeserializeOwned>(
    function: &str,
    args: impl IntoIterator<Item = A>,
) -> Result<Vec<Call<R>>, TaskError> {
    let args = args
        .into_iter()
        .map(|args| encode_args(function, &args))
        .collect::<Result<Vec<_>, _>>()?;
    crate::link_imports();
    let ids = wit::map(function, &args)?;
    Ok(handles(function, ids))
}

/// The handles of calls of `function`.
fn handles<R>(function: &str, ids: Vec<u64>) -> Vec<Call<R>> {
    let function: Arc<str> = function.into();
    ids.into_iter()
        .map(|id| handle(Arc::clone(&function), id))
        .collect()
}

/// The handle of one call of `function`.
fn handle<R>(function: Arc<str>, id: u64) -> Call<R> {
    Call {
        id,
        held: true,
        function,
        _marker: PhantomData,
    }
}

/// [`gather`] with the results as JSON: records keyed by name, and a `result<T, E>` export's
/// value decodes into `T` or into a Rust `Result<T, E>`. A result that does not decode names the
/// JSON received.
pub fn gather_json<R: DeserializeOwned>(
    calls: impl IntoIterator<Item = Call<R>>,
) -> Vec<Result<R, TaskError>> {
    let calls: Vec<Call<R>> = calls.into_iter().collect();
    if calls.is_empty() {
        return Vec::new();
    }
    let ids: Vec<u64> = calls.iter().map(|call| call.id).collect();
    crate::link_imports();
    let mut results = wit::gather(&ids).into_iter();
    calls
        .into_iter()
        .map(|call| (call.function.clone(), call.take_id()))
        .collect::<Vec<_>>()
        .iter()
        .map(|(function, _)| match results.next() {
            Some(Ok(json)) => decode(function, &json),
            Some(Err(error)) => Err(error.into()),
            None => Err(missing_result()),
        })
        .collect()
}

fn bad_input(message: String) -> TaskError {
    TaskError::new(ErrorKind::BadInput, message)
}

/// A host that answers fewer results than calls broke the `gather` contract; say so instead of
/// silently returning a shorter vector that would misalign results with inputs.
fn missing_result() -> TaskError {
    TaskError::new(
        ErrorKind::Lost,
        "the host returned no result for this call (fewer results than calls were gathered)",
    )
}

/// Encodes the arguments of one call in the binary encoding: the parameters one after another.
fn encode_binary_args<A: Serialize>(function: &str, args: &A) -> Result<Vec<u8>, TaskError> {
    postcard::to_allocvec(args).map_err(|error| {
        bad_input(format!(
            "cannot encode the arguments of `{function}` in the binary encoding: {error}"
        ))
    })
}

/// Decodes a result of `function` in the binary encoding into `R`, all of its bytes.
fn decode_binary<R: DeserializeOwned + 'static>(
    function: &str,
    bytes: &[u8],
) -> Result<R, TaskError> {
    let mismatch = |what: String| {
        bad_input(format!(
            "the result of `{function}` does not decode into `{}`: {what}; the Rust type must \
             mirror the export's WIT result type (record fields and cases in WIT order)",
            type_name::<R>()
        ))
    };
    if let Some(decoded) = crate::numbers::decode::<R>(bytes) {
        return decoded.map_err(mismatch);
    }
    match postcard::take_from_bytes::<R>(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(mismatch(format!(
            "{} of its {} bytes are left over",
            rest.len(),
            bytes.len()
        ))),
        Err(error) => Err(mismatch(error.to_string())),
    }
}

/// Encodes the arguments of one call as the JSON array or object the host expects.
fn encode_args<A: Serialize>(function: &str, args: &A) -> Result<String, TaskError> {
    let value = serde_json::to_value(args).map_err(|error| {
        bad_input(format!(
            "cannot encode the arguments of `{function}` as JSON: {error}"
        ))
    })?;
    match value {
        Value::Array(_) | Value::Object(_) => Ok(value.to_string()),
        // `()` serializes to `null`: the natural way to say "no arguments".
        Value::Null => Ok("[]".to_owned()),
        other => Err(bad_input(format!(
            "the arguments of `{function}` must encode as a JSON array (a tuple: `(x,)` for one \
             argument) or a JSON object (a struct keyed by parameter name), not `{}`",
            truncate(&other.to_string())
        ))),
    }
}

/// Decodes the JSON result of a call of `function` into `R`.
fn decode<R: DeserializeOwned>(function: &str, json: &str) -> Result<R, TaskError> {
    let value: Value = serde_json::from_str(json).map_err(|error| {
        bad_input(format!(
            "the host returned a result of `{function}` that is not JSON ({error}): {}",
            truncate(json)
        ))
    })?;
    let first_error = match R::deserialize(&value) {
        Ok(result) => return Ok(result),
        Err(error) => error,
    };
    // An export returning `result<T, E>` answers `{"ok": value}`; accept it as a `T`, or as a
    // Rust `Result` (whose serde form spells the keys `Ok`/`Err`).
    if let Value::Object(map) = &value
        && map.len() == 1
        && let Some((key, inner)) = map.iter().next()
    {
        let retry = match key.as_str() {
            "ok" | "Ok" => R::deserialize(inner)
                .or_else(|_| R::deserialize(&single_key("Ok", inner)))
                .ok(),
            "err" | "Err" => R::deserialize(&single_key("Err", inner)).ok(),
            _ => None,
        };
        if let Some(result) = retry {
            return Ok(result);
        }
    }
    Err(bad_input(format!(
        "the result of `{function}` does not decode into `{}`: {first_error}; the result was: {}",
        type_name::<R>(),
        truncate(json)
    )))
}

fn single_key(key: &str, value: &Value) -> Value {
    Value::Object([(key.to_owned(), value.clone())].into_iter().collect())
}

/// Keeps error messages readable when a value is large.
fn truncate(text: &str) -> String {
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize)]
    struct Named {
        start: u64,
        count: u32,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "kebab-case")]
    struct Stats {
        sample_count: u32,
        label: Option<String>,
    }

    #[test]
    fn tuples_encode_positionally_and_structs_by_name() {
        assert_eq!(encode_args("f", &(1u64, "a")).unwrap(), r#"[1,"a"]"#);
        assert_eq!(encode_args("f", &(7u64,)).unwrap(), "[7]");
        assert_eq!(encode_args("f", &()).unwrap(), "[]");
        let named: Value =
            serde_json::from_str(&encode_args("f", &Named { start: 3, count: 4 }).unwrap())
                .unwrap();
        assert_eq!(named, serde_json::json!({"start": 3, "count": 4}));
        assert_eq!(
            encode_args("f", &(u64::MAX,)).unwrap(),
            "[18446744073709551615]"
        );
    }

    #[test]
    fn a_bare_value_is_not_an_argument_list() {
        let error = encode_args("square", &5u64).unwrap_err();
        assert_eq!(error.kind, ErrorKind::BadInput);
        assert!(error.message.contains("`(x,)`"), "{error}");
        assert!(error.message.contains("`square`"), "{error}");
    }

    #[test]
    fn results_decode_into_the_requested_type() {
        assert_eq!(decode::<u64>("f", "42"), Ok(42));
        assert_eq!(decode::<()>("f", "null"), Ok(()));
        assert_eq!(
            decode::<Stats>("f", r#"{"sample-count": 2, "label": null}"#),
            Ok(Stats {
                sample_count: 2,
                label: None
            })
        );
    }

    #[test]
    fn wit_results_unwrap_or_map_to_rust_results() {
        assert_eq!(decode::<u64>("f", r#"{"ok": 9}"#), Ok(9));
        assert_eq!(
            decode::<Result<u64, String>>("f", r#"{"ok": 9}"#),
            Ok(Ok(9))
        );
        assert_eq!(
            decode::<Result<u64, String>>("f", r#"{"err": "no"}"#),
            Ok(Err("no".to_owned()))
        );
    }

    #[test]
    fn a_mismatched_result_is_bad_input_naming_the_type() {
        let error = decode::<u64>("square", r#""forty-two""#).unwrap_err();
        assert_eq!(error.kind, ErrorKind::BadInput);
        assert!(error.message.contains("`square`"), "{error}");
        assert!(error.message.contains("`u64`"), "{error}");
        assert!(error.message.contains("forty-two"), "{error}");
    }

    #[test]
    fn binary_arguments_are_positional() {
        assert_eq!(
            encode_binary_args("f", &(300u64, "a")).unwrap(),
            [0xac, 0x02, 1, b'a']
        );
        assert_eq!(encode_binary_args("f", &()).unwrap(), Vec::<u8>::new());
        assert_eq!(
            encode_binary_args("f", &Named { start: 1, count: 2 }).unwrap(),
            [1, 2]
        );
    }

    #[test]
    fn binary_results_decode_whole_or_name_the_mismatch() {
        let floats = vec![1.5f64, f64::INFINITY];
        let bytes = postcard::to_allocvec(&floats).unwrap();
        assert_eq!(decode_binary::<Vec<f64>>("f", &bytes), Ok(floats));
        assert_eq!(decode_binary::<()>("f", &[]), Ok(()));
        let error = decode_binary::<u8>("square", &[1, 2]).unwrap_err();
        assert_eq!(error.kind, ErrorKind::BadInput);
        assert!(error.message.contains("`square`"), "{error}");
        assert!(
            error.message.contains("1 of its 2 bytes are left over"),
            "{error}"
        );
        let error = decode_binary::<String>("f", &[5, b'a']).unwrap_err();
        assert!(error.message.contains("`alloc::string::String`"), "{error}");
    }

    #[test]
    fn long_values_are_truncated_on_a_char_boundary() {
        let long = "é".repeat(500);
        let short = truncate(&long);
        assert!(short.ends_with("..."));
        assert_eq!(short.chars().count(), 203);
    }
}
