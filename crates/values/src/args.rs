//! The arguments of a call and its result, from the forms users and guests write them in.
//!
//! `cluster.submit` and `wasmdask run --json` take a JSON array (positional) or object (by
//! parameter name); `wasmdask run` takes `key=value` words, where quoting JSON strings in a
//! shell would be a chore, so a value that is not JSON (or does not fit) is also tried as a
//! plain string: `name=hello`, `name=123` (for a string parameter), `color=red`, `x=inf`.
//! A value too big for a command line is read from a file (`key=@file.json`) or stdin
//! (`key=@-`); this crate only decides what to read and parses the bytes, the caller reads
//! them ([`ArgFile`]), so value conversion stays free of IO.

use std::fmt;

use serde_json::Value;
use wasmtime::component::{Type, Val};

use super::describe::{example, expected, got};
use super::error::ValueError;
use super::json::to_val;
use super::members::Members;
use super::wit_type::wit_type;

/// The arguments of a call of a function with `params` (as from
/// [`ComponentFunc::params`](wasmtime::component::types::ComponentFunc::params)).
///
/// `json` is an array of the arguments in order, or an object keyed by parameter name
/// (`snake_case` accepted; absent `option` parameters are `none`). A function with one
/// parameter also takes that argument on its own — `5` for `f(n: u32)`, `[1, 2]` for
/// `f(xs: list<u32>)`, `{"x": 1, "y": 2}` for `f(p: point)` — when the JSON does not read as
/// an argument list.
///
/// # Errors
///
/// When the arguments do not fit the parameters; the message lists the parameters.
pub fn args_from_json(json: &Value, params: &[(String, Type)]) -> Result<Vec<Val>, ValueError> {
    let members = Members::params(params);
    // Whether `json` has the wrong shape for an argument list (wrong length, unknown names),
    // as opposed to an argument list with a bad argument in it.
    let (read, wrong_shape) = match json {
        Value::Array(items) => {
            let wrong_length = items.len() != params.len();
            (positional(items, params, &members), wrong_length)
        }
        Value::Object(object) => {
            let keys: Vec<&str> = object.keys().map(String::as_str).collect();
            let unknown = members.match_names(&keys).is_err();
            (members.read_object(object), unknown)
        }
        _ if params.len() == 1 => return single(json, &params[0]),
        _ => {
            return Err(ValueError::new(format!(
                "expected the arguments as a JSON array (in order) or object (by name), got {}; {}",
                got(json),
                members.listing()
            )));
        }
    };
    match (read, params) {
        // `[1, 2]` for `f(xs: list<u32>)`, `{"x": 1}` for `f(p: point)`: the value itself.
        // When neither reading works, the error of the more plausible one is reported.
        (Err(error), [param]) if takes_json_like(&param.1, json) => match single(json, param) {
            Ok(args) => Ok(args),
            Err(single_error) if wrong_shape => Err(single_error),
            Err(_) => Err(error),
        },
        (read, _) => read,
    }
}

/// The arguments of a call written as `key=value` words (`wasmdask run task.wasm -- n=10`).
///
/// A value is read as JSON when it parses and fits the parameter's type; otherwise it is read
/// as a plain string, which is how `string`, `char` and `enum` values, variant cases without a
/// payload and `inf`/`NaN` are usually written. Absent `option` parameters are `none`.
///
/// A value starting with `@` is read with `read` instead, for values too big for a command
/// line: `key=@PATH` from a file, `key=@-` from stdin (one argument at most, since stdin can
/// be read once). The bytes are the value's JSON, except for a `string` or `option<string>`
/// parameter, which takes them as UTF-8 text exactly as they are (a final newline included):
/// a text file is then passed as it is, without JSON quoting. `key=@@TEXT` is the literal
/// value `@TEXT` (read as above); a bare `key=@` is an error, as it names no file. Nothing is
/// read until every word has been checked, so a mistaken command line consumes no stdin.
///
/// # Errors
///
/// A word without `=`, an unknown or repeated parameter, a missing parameter, a bare `@`, two
/// arguments reading stdin, or a value that does not fit (the message names the parameter, its
/// type and a valid example); a file that cannot be read (naming the parameter, the file and
/// the OS error) or that does not hold a value of the parameter's type (the message starts
/// with the file).
pub fn args_from_key_values(
    pairs: &[String],
    params: &[(String, Type)],
    mut read: impl FnMut(ArgFile<'_>) -> std::io::Result<Vec<u8>>,
) -> Result<Vec<Val>, KeyValueError> {
    let members = Members::params(params);
    let mut keys = Vec::with_capacity(pairs.len());
    let mut raws = Vec::with_capacity(pairs.len());
    for pair in pairs {
        let (key, raw) = pair
            .split_once('=')
            .ok_or_else(|| usage(pair, params, &members))?;
        keys.push(key);
        raws.push(raw);
    }
    let slots = members.match_names(&keys)?;
    // Every value's source, checked before anything is read.
    let mut stdin_reader: Option<&str> = None;
    let mut sources = Vec::with_capacity(params.len());
    for ((name, _), slot) in params.iter().zip(&slots) {
        let source = slot
            .map(|position| source(raws[position], name))
            .transpose()?;
        if let Some(Source::File(ArgFile::Stdin)) = source {
            if let Some(first) = stdin_reader {
                return Err(ValueError::new(format!(
                    "arguments `{first}` and `{name}` both read stdin (`@-`), which can be read \
                     once; put one of them in a file and pass it as {name}=@FILE"
                ))
                .into());
            }
            stdin_reader = Some(name);
        }
        sources.push(source);
    }
    params
        .iter()
        .zip(sources)
        .map(|((name, ty), source)| match source {
            Some(Source::Text(raw)) => key_value(raw, ty).map_err(|e| {
                KeyValueError::from(
                    e.with_hint(&format!("for example {}", example_arg(name, ty)))
                        .in_name(name),
                )
            }),
            Some(Source::File(file)) => {
                let bytes = read(file).map_err(|error| KeyValueError::Read {
                    param: name.clone(),
                    file: file.to_string(),
                    error,
                })?;
                file_value(bytes, ty).map_err(|e| KeyValueError::InFile {
                    file: file.to_string(),
                    error: e.in_name(name),
                })
            }
            None => Ok(members.absent(name, ty)?),
        })
        .collect()
}

/// Where the value of a `key=@…` argument is read from. The caller of
/// [`args_from_key_values`] reads it, so this crate does no IO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgFile<'a> {
    /// `key=@PATH`: the file at `PATH`, relative to the current directory or absolute.
    Path(&'a str),
    /// `key=@-`: all of standard input.
    Stdin,
}

impl fmt::Display for ArgFile<'_> {
    /// As the user wrote it: `@data/points.json`, `@- (stdin)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgFile::Path(path) => write!(f, "@{path}"),
            ArgFile::Stdin => f.write_str("@- (stdin)"),
        }
    }
}

/// Why `key=value` arguments could not be turned into a call's arguments.
#[derive(Debug, thiserror::Error)]
pub enum KeyValueError {
    /// A malformed word, an unknown, repeated or missing parameter, or a value that does not
    /// fit its parameter.
    #[error(transparent)]
    Value(#[from] ValueError),
    /// The file (or stdin) of a `key=@…` argument could not be read.
    #[error("argument `{param}`: cannot read {file}: {error}")]
    Read {
        /// The parameter whose value it holds.
        param: String,
        /// The file as written, `@PATH` or `@- (stdin)`.
        file: String,
        /// Why it could not be read.
        error: std::io::Error,
    },
    /// The contents of a `key=@…` argument do not fit the parameter; the error's path starts
    /// at the parameter, e.g. ``@pts.json: at `points[2].x`: expected s32 …``.
    #[error("{file}: {error}")]
    InFile {
        /// The file as written, `@PATH` or `@- (stdin)`.
        file: String,
        /// What in it does not fit.
        error: ValueError,
    },
}

/// A `key=value` value as written: the text itself, or where to read it from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source<'a> {
    Text(&'a str),
    File(ArgFile<'a>),
}

/// What `raw`, the value of parameter `name`, says to read: `@@…` escapes a literal `@`.
fn source<'a>(raw: &'a str, name: &str) -> Result<Source<'a>, ValueError> {
    Ok(match raw.strip_prefix('@') {
        None => Source::Text(raw),
        Some(escaped) if escaped.starts_with('@') => Source::Text(escaped),
        Some("-") => Source::File(ArgFile::Stdin),
        Some("") => {
            return Err(ValueError::new(format!(
                "`@` names no file; write {name}=@FILE to read the value from a file, \
                 {name}=@- to read it from stdin, or {name}=@@ for the text `@`"
            ))
            .in_name(name));
        }
        Some(path) => Source::File(ArgFile::Path(path)),
    })
}

/// The value of `ty` in the bytes of a `key=@…` file: the text itself for a string (so a text
/// file needs no JSON quoting), JSON for every other type.
fn file_value(bytes: Vec<u8>, ty: &Type) -> Result<Val, ValueError> {
    if takes_text(ty) {
        let text = String::from_utf8(bytes).map_err(|e| {
            ValueError::new(format!(
                "not UTF-8 text ({}); a {} parameter takes the file's text",
                e.utf8_error(),
                wit_type(ty)
            ))
        })?;
        return to_val(&Value::String(text), ty);
    }
    // RFC 8259 lets a parser ignore a byte order mark, which some editors write.
    let json = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let json: Value = serde_json::from_slice(json).map_err(|syntax| {
        ValueError::new(format!(
            "not valid JSON ({syntax}); expected {}",
            expected(ty)
        ))
    })?;
    to_val(&json, ty)
}

/// Whether a file for a parameter of `ty` is read as text rather than JSON.
fn takes_text(ty: &Type) -> bool {
    match ty {
        Type::String => true,
        Type::Option(option) => matches!(option.ty(), Type::String),
        _ => false,
    }
}

fn positional(
    items: &[Value],
    params: &[(String, Type)],
    members: &Members<'_>,
) -> Result<Vec<Val>, ValueError> {
    if items.len() != params.len() {
        let count = |n: usize| match n {
            1 => "1 argument".to_string(),
            n => format!("{n} arguments"),
        };
        return Err(ValueError::new(format!(
            "expected {}, got {}; {}",
            count(params.len()),
            count(items.len()),
            members.listing()
        )));
    }
    items
        .iter()
        .zip(params)
        .map(|(item, (name, ty))| to_val(item, ty).map_err(|e| e.in_name(name)))
        .collect()
}

/// The only argument of a one-parameter function, given on its own.
fn single(json: &Value, (name, ty): &(String, Type)) -> Result<Vec<Val>, ValueError> {
    to_val(json, ty)
        .map(|val| vec![val])
        .map_err(|e| e.in_name(name))
}

/// Whether values of `ty` are written as the same kind of JSON (array or object) as `json`.
fn takes_json_like(ty: &Type, json: &Value) -> bool {
    match ty {
        Type::Option(option) => takes_json_like(&option.ty(), json),
        Type::List(_) | Type::FixedLengthList(_) | Type::Tuple(_) | Type::Flags(_) => {
            json.is_array()
        }
        Type::Map(_) => json.is_array() || json.is_object(),
        Type::Record(_) | Type::Variant(_) | Type::Result(_) => json.is_object(),
        _ => false,
    }
}

/// One `key=value` value: JSON that fits, else the text as a string.
fn key_value(raw: &str, ty: &Type) -> Result<Val, ValueError> {
    let parsed = serde_json::from_str::<Value>(raw);
    let json_error = match &parsed {
        Ok(json) => match to_val(json, ty) {
            Ok(val) => return Ok(val),
            Err(error) => Some(error),
        },
        Err(_) => None,
    };
    let text_error = match to_val(&Value::String(raw.to_string()), ty) {
        Ok(val) => return Ok(val),
        Err(error) => error,
    };
    Err(match (json_error, parsed) {
        // It is JSON, just not of this type: that error is the useful one.
        (Some(json_error), _) => json_error,
        (None, Err(syntax)) if raw.trim_start().starts_with(['{', '[', '"']) => {
            ValueError::new(format!(
                "`{raw}` is not valid JSON ({syntax}); expected {}",
                expected(ty)
            ))
        }
        (None, _) => text_error,
    })
}

/// `name=value` with a valid value of `ty`, quoted for a POSIX shell when needed.
fn example_arg(name: &str, ty: &Type) -> String {
    let value = match example(ty) {
        Value::String(text) => text,
        json => json.to_string(),
    };
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.,:+/@%".contains(c);
    if !value.is_empty() && value.chars().all(plain) {
        format!("{name}={value}")
    } else {
        format!("{name}='{}'", value.replace('\'', r"'\''"))
    }
}

fn usage(word: &str, params: &[(String, Type)], members: &Members<'_>) -> ValueError {
    if params.is_empty() {
        return ValueError::new(format!(
            "unexpected argument `{word}`: the function takes no arguments"
        ));
    }
    let examples: Vec<String> = params
        .iter()
        .map(|(name, ty)| example_arg(name, ty))
        .collect();
    ValueError::new(format!(
        "argument `{word}` is not of the form name=value; pass each argument as name=value, \
         e.g. {} ({})",
        examples.join(" "),
        members.listing()
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::test_types::func_params;

    const DEFS: &[(&str, &str)] = &[
        ("point", r#"(record (field "x" s32) (field "y" s32))"#),
        ("color", r#"(enum "red" "green")"#),
        (
            "shape",
            r#"(variant (case "circle" float64) (case "none"))"#,
        ),
    ];

    fn params(wat: &str) -> Vec<(String, Type)> {
        func_params(DEFS, wat)
    }

    /// `n: u32, label: option<string>`.
    fn n_label() -> Vec<(String, Type)> {
        params(r#"(param "n" u32) (param "label" (option string))"#)
    }

    fn words(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    /// [`args_from_key_values`] of words that read no file.
    fn key_values(pairs: &[String], params: &[(String, Type)]) -> Result<Vec<Val>, KeyValueError> {
        args_from_key_values(pairs, params, |file| panic!("{file} read"))
    }

    fn some(val: Val) -> Val {
        Val::Option(Some(Box::new(val)))
    }

    #[test]
    fn json_arguments_by_position_and_by_name() {
        let params = n_label();
        let expected = vec![Val::U32(3), some(Val::String("a".into()))];
        assert_eq!(args_from_json(&json!([3, "a"]), &params).unwrap(), expected);
        assert_eq!(
            args_from_json(&json!({"label": "a", "n": 3}), &params).unwrap(),
            expected
        );
        assert_eq!(
            args_from_json(&json!({"n": 3}), &params).unwrap(),
            vec![Val::U32(3), Val::Option(None)]
        );
        assert_eq!(args_from_json(&json!([]), &[]).unwrap(), vec![]);
        assert_eq!(args_from_json(&json!({}), &[]).unwrap(), vec![]);
    }

    #[test]
    fn json_argument_errors_list_the_parameters() {
        let params = n_label();
        assert_eq!(
            args_from_json(&json!([3]), &params)
                .unwrap_err()
                .to_string(),
            "expected 2 arguments, got 1 argument; the function takes: n: u32, label: option<string>"
        );
        assert_eq!(
            args_from_json(&json!({"label": "a"}), &params)
                .unwrap_err()
                .to_string(),
            "missing argument `n` (u32); the function takes: n: u32, label: option<string>"
        );
        assert_eq!(
            args_from_json(&json!({"n": 1, "m": 2}), &params)
                .unwrap_err()
                .to_string(),
            "unknown argument `m`; the function takes: n: u32, label: option<string>"
        );
        assert_eq!(
            args_from_json(&json!([-1, null]), &params)
                .unwrap_err()
                .to_string(),
            "at `n`: expected u32 (an integer from 0 to 4294967295), got -1"
        );
        assert_eq!(
            args_from_json(&json!(5), &params).unwrap_err().to_string(),
            "expected the arguments as a JSON array (in order) or object (by name), got 5; \
             the function takes: n: u32, label: option<string>"
        );
        assert_eq!(
            args_from_json(&json!([1]), &[]).unwrap_err().to_string(),
            "expected 0 arguments, got 1 argument; the function takes no arguments"
        );
    }

    #[test]
    fn snake_case_argument_names() {
        let params = params(r#"(param "max-len" u32)"#);
        assert_eq!(
            args_from_json(&json!({"max_len": 4}), &params).unwrap(),
            vec![Val::U32(4)]
        );
        assert_eq!(
            key_values(&words(&["max_len=4"]), &params).unwrap(),
            vec![Val::U32(4)]
        );
    }

    #[test]
    fn one_parameter_takes_its_value_alone() {
        let n = params(r#"(param "n" u32)"#);
        assert_eq!(args_from_json(&json!(7), &n).unwrap(), vec![Val::U32(7)]);
        assert_eq!(
            args_from_json(&json!("x"), &n).unwrap_err().to_string(),
            r#"at `n`: expected u32 (an integer from 0 to 4294967295), got "x""#
        );

        let xs = params(r#"(param "xs" (list u32))"#);
        let list = |items: &[u32]| vec![Val::List(items.iter().map(|&n| Val::U32(n)).collect())];
        assert_eq!(
            args_from_json(&json!([[1, 2]]), &xs).unwrap(),
            list(&[1, 2])
        );
        assert_eq!(args_from_json(&json!([1, 2]), &xs).unwrap(), list(&[1, 2]));
        assert_eq!(args_from_json(&json!([1]), &xs).unwrap(), list(&[1]));
        // Wrong length for an argument list: the error is about the list itself.
        assert_eq!(
            args_from_json(&json!([1, -2]), &xs).unwrap_err().path(),
            "xs[1]"
        );
        // Right length, bad argument: the error is about that argument.
        assert_eq!(
            args_from_json(&json!([[1, -2]]), &xs).unwrap_err().path(),
            "xs[1]"
        );
        assert_eq!(args_from_json(&json!(["a"]), &xs).unwrap_err().path(), "xs");

        let p = params(r#"(param "p" $point)"#);
        let point = vec![Val::Record(vec![
            ("x".into(), Val::S32(1)),
            ("y".into(), Val::S32(2)),
        ])];
        assert_eq!(args_from_json(&json!({"x": 1, "y": 2}), &p).unwrap(), point);
        assert_eq!(
            args_from_json(&json!({"p": {"x": 1, "y": 2}}), &p).unwrap(),
            point
        );
        // Read as `{"p": ...}`, the mistake is inside `p`: that is the error reported.
        assert_eq!(
            args_from_json(&json!({"p": {"x": 1}}), &p)
                .unwrap_err()
                .to_string(),
            "at `p`: missing field `y` (s32); the record's fields are: x: s32, y: s32"
        );
    }

    #[test]
    fn key_values_read_json_that_fits() {
        let params = params(
            r#"(param "n" u64) (param "xs" (list float64)) (param "p" $point) (param "ok" bool)"#,
        );
        let args = key_values(
            &words(&[
                "n=18446744073709551615",
                "xs=[1.5, inf]",
                r#"p={"x": 1, "y": -1}"#,
                "ok=true",
            ]),
            &params,
        );
        // `inf` is not JSON, so the whole list is not either.
        assert_eq!(
            args.unwrap_err().to_string(),
            "at `xs`: `[1.5, inf]` is not valid JSON (expected value at line 1 column 7); \
             expected list<f64> (an array); for example xs='[1.5]'"
        );
        let args = key_values(
            &words(&[
                "n=18446744073709551615",
                r#"xs=[1.5, "inf"]"#,
                r#"p={"x": 1, "y": -1}"#,
                "ok=true",
            ]),
            &params,
        )
        .unwrap();
        assert_eq!(args[0], Val::U64(u64::MAX));
        assert_eq!(
            args[1],
            Val::List(vec![Val::Float64(1.5), Val::Float64(f64::INFINITY)])
        );
        assert_eq!(
            args[2],
            Val::Record(vec![("x".into(), Val::S32(1)), ("y".into(), Val::S32(-1))])
        );
        assert_eq!(args[3], Val::Bool(true));
    }

    #[test]
    fn key_values_take_strings_literally() {
        let params = params(
            r#"(param "name" string) (param "initial" char) (param "label" (option string))
               (param "color" $color) (param "shape" $shape) (param "x" float64)"#,
        );
        let parse = |given: &[&str]| key_values(&words(given), &params).unwrap();
        let args = parse(&[
            "name=123",
            "initial=7",
            "label=null",
            "color=green",
            "shape=none",
            "x=NaN",
        ]);
        assert_eq!(args[0], Val::String("123".into()));
        assert_eq!(args[1], Val::Char('7'));
        assert_eq!(args[2], Val::Option(None));
        assert_eq!(args[3], Val::Enum("green".into()));
        assert_eq!(args[4], Val::Variant("none".into(), None));
        assert_eq!(args[5], Val::Float64(f64::NAN));

        let args = parse(&[
            "name=hello",
            r#"initial="x""#,
            "label=true",
            r#"color="red""#,
            r#"shape={"circle": 2}"#,
            "x=-inf",
        ]);
        assert_eq!(args[0], Val::String("hello".into()));
        assert_eq!(args[1], Val::Char('x'));
        assert_eq!(args[2], some(Val::String("true".into())));
        assert_eq!(args[3], Val::Enum("red".into()));
        assert_eq!(
            args[4],
            Val::Variant("circle".into(), Some(Box::new(Val::Float64(2.0))))
        );
        assert_eq!(args[5], Val::Float64(f64::NEG_INFINITY));

        // A JSON string is unquoted; text with `=` in it stays whole.
        let args = parse(&[
            r#"name="a b""#,
            "initial==",
            "label=k=v",
            "color=red",
            "shape=none",
            "x=0",
        ]);
        assert_eq!(args[0], Val::String("a b".into()));
        assert_eq!(args[1], Val::Char('='));
        assert_eq!(args[2], some(Val::String("k=v".into())));
    }

    #[test]
    fn key_value_errors_name_the_parameter_and_show_an_example() {
        let params = n_label();
        let error = |given: &[&str]| key_values(&words(given), &params).unwrap_err().to_string();
        assert_eq!(
            error(&["n=abc"]),
            r#"at `n`: expected u32 (an integer from 0 to 4294967295), got "abc"; for example n=42"#
        );
        assert_eq!(
            error(&["n=1.5"]),
            "at `n`: expected u32 (an integer from 0 to 4294967295), got 1.5; for example n=42"
        );
        assert_eq!(
            error(&["label=x"]),
            "missing argument `n` (u32); the function takes: n: u32, label: option<string>"
        );
        assert_eq!(
            error(&["n=1", "N=2"]),
            "argument `n` is given twice (as `n` and `N`); give it once"
        );
        assert_eq!(
            error(&["n=1", "m=2"]),
            "unknown argument `m`; the function takes: n: u32, label: option<string>"
        );
        assert_eq!(
            error(&["5"]),
            "argument `5` is not of the form name=value; pass each argument as name=value, \
             e.g. n=42 label=hello (the function takes: n: u32, label: option<string>)"
        );
        let p = super::super::test_types::func_params(DEFS, r#"(param "p" $point)"#);
        assert_eq!(
            key_values(&words(&["p={x: 1}"]), &p)
                .unwrap_err()
                .to_string(),
            "at `p`: `{x: 1}` is not valid JSON (key must be a string at line 1 column 2); \
             expected record { x: s32, y: s32 } (an object keyed by field name); \
             for example p='{\"x\":42,\"y\":42}'"
        );
        assert_eq!(
            key_values(&words(&["x=1"]), &[]).unwrap_err().to_string(),
            "unknown argument `x`; the function takes no arguments"
        );
        assert_eq!(
            key_values(&words(&["x"]), &[]).unwrap_err().to_string(),
            "unexpected argument `x`: the function takes no arguments"
        );
    }

    /// [`args_from_key_values`] with files from `files` (`"-"` is stdin); any other file is
    /// missing, with the OS's error.
    fn with_files(
        given: &[&str],
        params: &[(String, Type)],
        files: &[(&str, &[u8])],
    ) -> Result<Vec<Val>, KeyValueError> {
        args_from_key_values(&words(given), params, |file| {
            let name = match file {
                ArgFile::Path(path) => path,
                ArgFile::Stdin => "-",
            };
            files
                .iter()
                .find(|(path, _)| *path == name)
                .map(|(_, bytes)| bytes.to_vec())
                .ok_or_else(not_found)
        })
    }

    fn not_found() -> std::io::Error {
        std::io::Error::from_raw_os_error(2)
    }

    #[test]
    fn key_files_hold_json_of_the_parameter_type() {
        let params = params(r#"(param "xs" (list u32)) (param "p" $point) (param "n" u64)"#);
        let xs: Vec<u32> = (0..100_000).collect();
        let xs_json = serde_json::to_vec(&xs).unwrap();
        let args = with_files(
            &["xs=@data/xs.json", "p=@/abs/p.json", "n=@-"],
            &params,
            &[
                ("data/xs.json", &xs_json),
                ("/abs/p.json", b" {\"y\": 2,\n \"x\": -1}\n"),
                ("-", b"7\n"),
            ],
        )
        .unwrap();
        assert_eq!(
            args[0],
            Val::List(xs.iter().map(|&n| Val::U32(n)).collect())
        );
        assert_eq!(
            args[1],
            Val::Record(vec![("x".into(), Val::S32(-1)), ("y".into(), Val::S32(2))])
        );
        assert_eq!(args[2], Val::U64(7));
        // A byte order mark, as some editors write, is not part of the JSON.
        let args = with_files(
            &["xs=@a", "p={\"x\":0,\"y\":0}", "n=1"],
            &params,
            &[("a", b"\xEF\xBB\xBF[1]")],
        )
        .unwrap();
        assert_eq!(args[0], Val::List(vec![Val::U32(1)]));
    }

    #[test]
    fn key_files_of_string_parameters_are_text_as_it_is() {
        let params = params(r#"(param "name" string) (param "label" (option string))"#);
        let args = with_files(
            &["name=@notes.txt", "label=@-"],
            &params,
            &[
                ("notes.txt", b"\"quoted\" and {not json}\n"),
                ("-", b"null"),
            ],
        )
        .unwrap();
        assert_eq!(args[0], Val::String("\"quoted\" and {not json}\n".into()));
        assert_eq!(args[1], some(Val::String("null".into())));
        let args = with_files(&["name=@empty"], &params, &[("empty", b"")]).unwrap();
        assert_eq!(args[0], Val::String(String::new()));
        assert_eq!(args[1], Val::Option(None));
        assert_eq!(
            with_files(&["name=@bin"], &params, &[("bin", b"ab\xFF")])
                .unwrap_err()
                .to_string(),
            "@bin: at `name`: not UTF-8 text (invalid utf-8 sequence of 1 bytes from index 2); \
             a string parameter takes the file's text"
        );
    }

    #[test]
    fn double_at_escapes_a_literal_at() {
        let params = params(r#"(param "name" string) (param "n" (option u32))"#);
        let parse = |given: &[&str]| key_values(&words(given), &params);
        assert_eq!(
            parse(&["name=@@text"]).unwrap()[0],
            Val::String("@text".into())
        );
        assert_eq!(parse(&["name=@@"]).unwrap()[0], Val::String("@".into()));
        assert_eq!(parse(&["name=@@@-"]).unwrap()[0], Val::String("@@-".into()));
        // Only a leading `@` is special.
        assert_eq!(parse(&["name=a@b"]).unwrap()[0], Val::String("a@b".into()));
        // The unescaped text is read as any other value.
        assert_eq!(
            parse(&["name=x", "n=@@5"]).unwrap_err().to_string(),
            r#"at `n`: expected u32 (an integer from 0 to 4294967295), got "@5"; for example n=42"#
        );
    }

    #[test]
    fn a_bare_at_names_no_file() {
        let params = params(r#"(param "name" string)"#);
        assert_eq!(
            key_values(&words(&["name=@"]), &params)
                .unwrap_err()
                .to_string(),
            "at `name`: `@` names no file; write name=@FILE to read the value from a file, \
             name=@- to read it from stdin, or name=@@ for the text `@`"
        );
    }

    #[test]
    fn only_one_argument_reads_stdin_and_mistakes_read_nothing() {
        let params = params(r#"(param "a" string) (param "b" (list u32))"#);
        assert_eq!(
            key_values(&words(&["b=@-", "a=@-"]), &params)
                .unwrap_err()
                .to_string(),
            "arguments `a` and `b` both read stdin (`@-`), which can be read once; put one of \
             them in a file and pass it as b=@FILE"
        );
        // Unknown names and a bare `@` are reported before any file is read.
        assert!(key_values(&words(&["a=@-", "c=@x"]), &params).is_err());
        assert!(key_values(&words(&["a=@-", "b=@"]), &params).is_err());
    }

    #[test]
    fn unreadable_key_files_name_the_parameter_the_file_and_the_os_error() {
        let params = params(r#"(param "points" (list $point))"#);
        assert_eq!(
            with_files(&["points=@./pts.json"], &params, &[])
                .unwrap_err()
                .to_string(),
            format!(
                "argument `points`: cannot read @./pts.json: {}",
                not_found()
            )
        );
        assert_eq!(
            with_files(&["points=@-"], &params, &[])
                .unwrap_err()
                .to_string(),
            format!("argument `points`: cannot read @- (stdin): {}", not_found())
        );
    }

    #[test]
    fn key_file_values_that_do_not_fit_start_with_the_file() {
        let params = params(r#"(param "points" (list $point))"#);
        let error = |contents: &[u8]| {
            with_files(&["points=@pts.json"], &params, &[("pts.json", contents)])
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            error(br#"[{"x": 1, "y": 2}, {"x": 3, "y": 4}, {"x": 3.5, "y": 0}]"#),
            "@pts.json: at `points[2].x`: expected s32 (an integer from -2147483648 to \
             2147483647), got 3.5"
        );
        assert_eq!(
            error(b"[{\"x\": 1, \"y\": 2},\n  {\"x\": 3 \"y\": 4}]"),
            "@pts.json: at `points`: not valid JSON (expected `,` or `}` at line 2 column 11); \
             expected list<record { x: s32, y: s32 }> (an array)"
        );
        assert_eq!(
            error(b""),
            "@pts.json: at `points`: not valid JSON (EOF while parsing a value at line 1 column \
             0); expected list<record { x: s32, y: s32 }> (an array)"
        );
    }
}
