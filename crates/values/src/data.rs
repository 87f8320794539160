//! The Flyte data types of `wasmdask:task/data`: datetimes, durations, files, directories and
//! structured datasets.
//!
//! Component types are structural (a record's WIT name is not in the component's type
//! information), so a data type is recognised by its exact fields, as `wit/wasmdask.wit`
//! defines them:
//!
//! | WIT (`wasmdask:task/data`)                                               | recognised by    |
//! |--------------------------------------------------------------------------|------------------|
//! | `datetime { unix-seconds: s64, nanos: u32 }`                             | these two fields |
//! | `duration { seconds: s64, nanos: s32 }`                                  | these two fields |
//! | `file { path: string, uri: string, format: string }`                     | these three      |
//! | `directory { dir-path: string, uri: string, format: string }`            | these three      |
//! | `structured-dataset { dataset-path: string, uri: string, format: string }` | these three, and optionally `columns: option<record {..}>` |
//!
//! A record of the same fields declared anywhere else is the same type to the host; that is
//! what lets Python and JavaScript guests (whose bindings generators copy types) use them too.
//!
//! JSON forms: a datetime is an RFC 3339 string (`2024-05-01T12:30:00.123456789Z`, always
//! UTC when written; any offset is accepted when read), a duration an ISO 8601 duration
//! (`PT1H30M0.5S`, what pydantic and `isodate` read for a `timedelta`; a number of seconds and
//! protobuf's `"1.5s"` are accepted too). Files, directories and datasets are objects; a bare
//! string is read as their `uri`, and absent string fields are empty.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value};
use wasmtime::component::types::Record;
use wasmtime::component::{Type, Val};

use super::error::ValueError;

/// One of the data types of `wasmdask:task/data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataType {
    /// `datetime`: Flyte `DATETIME`.
    Datetime,
    /// `duration`: Flyte `DURATION`.
    Duration,
    /// `file`: a single blob (flytekit's `FlyteFile`).
    File,
    /// `directory`: a multipart blob (flytekit's `FlyteDirectory`).
    Directory,
    /// `structured-dataset`: flytekit's `StructuredDataset`, with the column names and types
    /// when the record has a `columns: option<record {..}>` field.
    Dataset {
        /// The columns, when the WIT declares them.
        columns: Option<Vec<(String, Type)>>,
    },
}

impl DataType {
    /// Whether values of this type are objects in the store that a guest reads as files.
    pub fn is_stored(&self) -> bool {
        matches!(
            self,
            DataType::File | DataType::Directory | DataType::Dataset { .. }
        )
    }

    /// The record field that holds the path the guest reads or writes.
    pub fn path_field(&self) -> Option<&'static str> {
        match self {
            DataType::File => Some("path"),
            DataType::Directory => Some("dir-path"),
            DataType::Dataset { .. } => Some("dataset-path"),
            DataType::Datetime | DataType::Duration => None,
        }
    }

    /// How error messages and docs name it.
    pub fn noun(&self) -> &'static str {
        match self {
            DataType::Datetime => "a datetime",
            DataType::Duration => "a duration",
            DataType::File => "a file",
            DataType::Directory => "a directory",
            DataType::Dataset { .. } => "a structured dataset",
        }
    }
}

/// The data type `ty` is, if it is one (see the module docs).
pub fn data_type(ty: &Type) -> Option<DataType> {
    let Type::Record(record) = ty else {
        return None;
    };
    let fields: Vec<(&str, Type)> = record.fields().map(|f| (f.name, f.ty)).collect();
    let shape: Vec<(&str, &Type)> = fields.iter().map(|(n, t)| (*n, t)).collect();
    match shape.as_slice() {
        [("unix-seconds", Type::S64), ("nanos", Type::U32)] => Some(DataType::Datetime),
        [("seconds", Type::S64), ("nanos", Type::S32)] => Some(DataType::Duration),
        [
            ("path", Type::String),
            ("uri", Type::String),
            ("format", Type::String),
        ] => Some(DataType::File),
        [
            ("dir-path", Type::String),
            ("uri", Type::String),
            ("format", Type::String),
        ] => Some(DataType::Directory),
        [
            ("dataset-path", Type::String),
            ("uri", Type::String),
            ("format", Type::String),
        ] => Some(DataType::Dataset { columns: None }),
        [
            ("dataset-path", Type::String),
            ("uri", Type::String),
            ("format", Type::String),
            ("columns", Type::Option(columns)),
        ] => match columns.ty() {
            Type::Record(columns) => Some(DataType::Dataset {
                columns: Some(column_list(&columns)),
            }),
            _ => None,
        },
        _ => None,
    }
}

/// Whether a value of `ty` can hold a file, directory or dataset (at any depth).
pub fn contains_stored(ty: &Type) -> bool {
    if let Some(data) = data_type(ty) {
        return data.is_stored();
    }
    match ty {
        Type::List(l) => contains_stored(&l.ty()),
        Type::FixedLengthList(l) => contains_stored(&l.ty()),
        Type::Option(o) => contains_stored(&o.ty()),
        Type::Tuple(t) => t.types().any(|t| contains_stored(&t)),
        Type::Record(r) => r.fields().any(|f| contains_stored(&f.ty)),
        Type::Variant(v) => v.cases().any(|c| c.ty.is_some_and(|t| contains_stored(&t))),
        Type::Result(r) => r.ok().is_some_and(|t| contains_stored(&t)),
        _ => false,
    }
}

/// Calls `f` with every file, directory and dataset value inside `val` (of type `ty`), in
/// order, with its type and its `path` and `uri` fields to read or change.
///
/// # Errors
///
/// The first error of `f`.
pub fn visit_stored<E>(
    val: &mut Val,
    ty: &Type,
    f: &mut impl FnMut(&DataType, &mut StoredFields<'_>) -> Result<(), E>,
) -> Result<(), E> {
    if let Some(data) = data_type(ty) {
        if let (true, Val::Record(fields)) = (data.is_stored(), val) {
            let mut path = String::new();
            let mut uri = String::new();
            let mut format = String::new();
            for (name, value) in fields.iter() {
                if let Val::String(s) = value {
                    match name.as_str() {
                        "uri" => uri.clone_from(s),
                        "format" => format.clone_from(s),
                        _ if Some(name.as_str()) == data.path_field() => path.clone_from(s),
                        _ => {}
                    }
                }
            }
            let mut stored = StoredFields {
                path,
                uri,
                format: &format,
            };
            f(&data, &mut stored)?;
            for (name, value) in fields.iter_mut() {
                if name == "uri" {
                    *value = Val::String(stored.uri.clone());
                } else if Some(name.as_str()) == data.path_field() {
                    *value = Val::String(stored.path.clone());
                }
            }
        }
        return Ok(());
    }
    match (val, ty) {
        (Val::List(items), Type::List(l)) => {
            let ty = l.ty();
            items.iter_mut().try_for_each(|v| visit_stored(v, &ty, f))
        }
        (Val::FixedLengthList(items), Type::FixedLengthList(l)) => {
            let ty = l.ty();
            items.iter_mut().try_for_each(|v| visit_stored(v, &ty, f))
        }
        (Val::Option(Some(v)), Type::Option(o)) => visit_stored(v, &o.ty(), f),
        (Val::Tuple(items), Type::Tuple(t)) => items
            .iter_mut()
            .zip(t.types())
            .try_for_each(|(v, ty)| visit_stored(v, &ty, f)),
        (Val::Record(fields), Type::Record(r)) => fields
            .iter_mut()
            .zip(r.fields())
            .try_for_each(|((_, v), field)| visit_stored(v, &field.ty, f)),
        (Val::Variant(name, Some(v)), Type::Variant(variant)) => {
            match variant
                .cases()
                .find(|c| c.name == name.as_str())
                .and_then(|c| c.ty)
            {
                Some(ty) => visit_stored(v, &ty, f),
                None => Ok(()),
            }
        }
        (Val::Result(Ok(Some(v))), Type::Result(r)) => match r.ok() {
            Some(ty) => visit_stored(v, &ty, f),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// The fields of one stored value that [`visit_stored`] lets its callback read and change.
#[derive(Debug)]
pub struct StoredFields<'a> {
    /// Where the guest sees it (its `path`, `dir-path` or `dataset-path`).
    pub path: String,
    /// Its URI.
    pub uri: String,
    /// Its format (read only).
    pub format: &'a str,
}

fn column_list(record: &Record) -> Vec<(String, Type)> {
    record
        .fields()
        .map(|f| (f.name.to_string(), f.ty))
        .collect()
}

/// The value of a data type from its JSON forms (see the module docs), or `None` when `json`
/// is the plain object form, which the generic record reading handles.
pub(crate) fn to_val(json: &Value, data: &DataType) -> Result<Option<Val>, ValueError> {
    match (data, json) {
        (DataType::Datetime, Value::String(text)) => datetime_val(text).map(Some),
        (DataType::Duration, Value::String(text)) => duration_from_text(text)
            .map(|d| Some(duration_val(d)))
            .ok_or_else(|| {
                ValueError::new(format!(
                    "expected a duration (ISO 8601 like \"PT1H30M\", \"1.5s\" or a number of \
                     seconds), got \"{text}\""
                ))
            }),
        (DataType::Duration, Value::Number(n)) => duration_from_seconds(n).map(Some),
        (data, Value::String(uri)) if data.is_stored() => Ok(Some(stored_val(data, "", uri, ""))),
        _ => Ok(None),
    }
}

/// Fills the absent string fields of a stored value's object form with `""`, so `{"uri": ..}`
/// alone is a complete file.
pub(crate) fn with_defaults(object: &Map<String, Value>, data: &DataType) -> Map<String, Value> {
    let mut object = object.clone();
    let path = data.path_field().unwrap_or("path");
    for field in [path, "uri", "format"] {
        let snake = field.replace('-', "_");
        if !object.contains_key(field) && !object.contains_key(&snake) {
            object.insert(field.to_string(), Value::String(String::new()));
        }
    }
    object
}

/// A stored value (file, directory or dataset) with the given fields (`columns` none).
pub fn stored_val(data: &DataType, path: &str, uri: &str, format: &str) -> Val {
    let mut fields = vec![
        (
            data.path_field().unwrap_or("path").to_string(),
            Val::String(path.into()),
        ),
        ("uri".to_string(), Val::String(uri.into())),
        ("format".to_string(), Val::String(format.into())),
    ];
    if matches!(data, DataType::Dataset { columns: Some(_) }) {
        fields.push(("columns".to_string(), Val::Option(None)))
    }
    Val::Record(fields)
}

/// The JSON form of a datetime or duration value, `None` for any other value.
pub(crate) fn from_val(val: &Val) -> Option<Value> {
    let Val::Record(fields) = val else {
        return None;
    };
    match fields.as_slice() {
        [(s, Val::S64(seconds)), (n, Val::U32(nanos))] if s == "unix-seconds" && n == "nanos" => {
            datetime_text(*seconds, i32::try_from(*nanos).ok()?)
                .ok()
                .map(Value::String)
        }
        [(s, Val::S64(seconds)), (n, Val::S32(nanos))] if s == "seconds" && n == "nanos" => Some(
            Value::String(duration_text(SignedDuration::new(*seconds, *nanos))),
        ),
        _ => None,
    }
}

/// A datetime value from RFC 3339 text.
fn datetime_val(text: &str) -> Result<Val, ValueError> {
    let ts: Timestamp = text.parse().map_err(|e| {
        ValueError::new(format!(
            "expected a datetime in RFC 3339 form (e.g. \"2024-05-01T12:30:00Z\"), got \
             \"{text}\": {e}"
        ))
    })?;
    let (seconds, nanos) = timestamp_parts(ts);
    Ok(datetime_parts(seconds, nanos))
}

/// Protobuf's `Timestamp` parts: whole seconds rounded down and a non-negative nanosecond part
/// (jiff gives the nanoseconds the sign of the seconds, so instants before 1970 differ).
fn timestamp_parts(ts: Timestamp) -> (i64, i32) {
    let (seconds, nanos) = (ts.as_second(), ts.subsec_nanosecond());
    if nanos < 0 {
        (seconds - 1, nanos + 1_000_000_000)
    } else {
        (seconds, nanos)
    }
}

/// The instant of protobuf `Timestamp` parts.
fn timestamp(seconds: i64, nanos: i32) -> Result<Timestamp, jiff::Error> {
    Timestamp::from_nanosecond(i128::from(seconds) * 1_000_000_000 + i128::from(nanos))
}

/// A datetime value from seconds since the Unix epoch and a non-negative nanosecond part.
pub fn datetime_parts(seconds: i64, nanos: i32) -> Val {
    Val::Record(vec![
        ("unix-seconds".into(), Val::S64(seconds)),
        ("nanos".into(), Val::U32(nanos.max(0) as u32)),
    ])
}

/// RFC 3339 text (UTC, `Z`) of a datetime given as protobuf `Timestamp` parts.
///
/// # Errors
///
/// When the instant is outside the years -9999..=9999.
pub fn datetime_text(seconds: i64, nanos: i32) -> Result<String, ValueError> {
    timestamp(seconds, nanos)
        .map(|ts| ts.to_string())
        .map_err(|e| ValueError::new(format!("the datetime is out of range: {e}")))
}

/// Seconds and nanoseconds (protobuf `Timestamp` parts) of RFC 3339 text.
///
/// # Errors
///
/// When the text is not RFC 3339.
pub fn datetime_from_text(text: &str) -> Result<(i64, i32), ValueError> {
    let ts: Timestamp = text
        .parse()
        .map_err(|e| ValueError::new(format!("`{text}` is not an RFC 3339 datetime: {e}")))?;
    Ok(timestamp_parts(ts))
}

fn duration_val(d: SignedDuration) -> Val {
    Val::Record(vec![
        ("seconds".into(), Val::S64(d.as_secs())),
        ("nanos".into(), Val::S32(d.subsec_nanos())),
    ])
}

/// ISO 8601 text of a duration given as protobuf `Duration` parts (`PT1.5S`, `-PT2H`).
pub fn duration_text_of(seconds: i64, nanos: i32) -> String {
    duration_text(SignedDuration::new(seconds, nanos))
}

/// Seconds and nanoseconds (protobuf `Duration` parts) of a duration's text form.
///
/// # Errors
///
/// When the text is none of the accepted forms.
pub fn duration_from_str(text: &str) -> Result<(i64, i32), ValueError> {
    duration_from_text(text)
        .map(|d| (d.as_secs(), d.subsec_nanos()))
        .ok_or_else(|| ValueError::new(format!("`{text}` is not a duration")))
}

/// ISO 8601 in hours, minutes and seconds only: days are not always 24 hours, so Python's
/// `timedelta` readers (pydantic, `isodate`) take `PT26H` exactly but would need a calendar
/// for `P1DT2H`.
fn duration_text(d: SignedDuration) -> String {
    let sign = if d.is_negative() { "-" } else { "" };
    let d = d.abs();
    let total = d.as_secs();
    let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
    let nanos = d.subsec_nanos();
    let mut out = format!("{sign}PT");
    if hours > 0 {
        out += &format!("{hours}H");
    }
    if minutes > 0 {
        out += &format!("{minutes}M");
    }
    if seconds > 0 || nanos > 0 || (hours == 0 && minutes == 0) {
        out += &seconds.to_string();
        if nanos > 0 {
            let fraction = format!("{nanos:09}");
            out += ".";
            out += fraction.trim_end_matches('0');
        }
        out.push('S');
    }
    out
}

/// ISO 8601 (`PT1H30M`, `P2DT3H`), jiff's friendly form (`1h 30m`), or protobuf JSON's
/// `"1.5s"`.
fn duration_from_text(text: &str) -> Option<SignedDuration> {
    let text = text.trim();
    if let Some(seconds) = text.strip_suffix('s')
        && let Ok(seconds) = seconds.parse::<f64>()
    {
        return SignedDuration::try_from_secs_f64(seconds).ok();
    }
    if let Ok(d) = text.parse::<SignedDuration>() {
        return Some(d);
    }
    // Days (`P1DT2H`): a `SignedDuration` has no calendar units, a `Span` does; a Flyte
    // duration's day is 24 hours, as Python's `timedelta` has it.
    let span: jiff::Span = text.parse().ok()?;
    span.to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .ok()
}

fn duration_from_seconds(n: &serde_json::Number) -> Result<Val, ValueError> {
    if let Some(seconds) = n.as_i64() {
        return Ok(duration_val(SignedDuration::from_secs(seconds)));
    }
    n.as_f64()
        .and_then(|s| SignedDuration::try_from_secs_f64(s).ok())
        .map(duration_val)
        .ok_or_else(|| ValueError::new(format!("{n} seconds is not a duration")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;
    use crate::test_types::ty;
    use serde_json::json;

    const DEFS: &[(&str, &str)] = &[
        (
            "datetime",
            r#"(record (field "unix-seconds" s64) (field "nanos" u32))"#,
        ),
        (
            "duration",
            r#"(record (field "seconds" s64) (field "nanos" s32))"#,
        ),
        (
            "file",
            r#"(record (field "path" string) (field "uri" string) (field "format" string))"#,
        ),
        (
            "directory",
            r#"(record (field "dir-path" string) (field "uri" string) (field "format" string))"#,
        ),
        (
            "row",
            r#"(record (field "name" string) (field "amount" float64))"#,
        ),
        (
            "sales",
            r#"(record (field "dataset-path" string) (field "uri" string) (field "format" string) (field "columns" (option $row)))"#,
        ),
        (
            "other",
            r#"(record (field "seconds" s64) (field "nanos" u32))"#,
        ),
    ];

    #[test]
    fn recognises_the_data_records_by_their_fields() {
        assert_eq!(data_type(&ty(DEFS, "$datetime")), Some(DataType::Datetime));
        assert_eq!(data_type(&ty(DEFS, "$duration")), Some(DataType::Duration));
        assert_eq!(data_type(&ty(DEFS, "$file")), Some(DataType::File));
        assert_eq!(
            data_type(&ty(DEFS, "$directory")),
            Some(DataType::Directory)
        );
        let Some(DataType::Dataset {
            columns: Some(columns),
        }) = data_type(&ty(DEFS, "$sales"))
        else {
            panic!("not a typed dataset");
        };
        let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["name", "amount"]);
        assert_eq!(data_type(&ty(DEFS, "$other")), None);
        assert_eq!(data_type(&ty(DEFS, "string")), None);
    }

    #[test]
    fn datetimes_are_rfc3339_and_round_trip_to_the_nanosecond() {
        let t = ty(DEFS, "$datetime");
        for text in [
            "2024-05-01T12:30:00Z",
            "1969-07-20T20:17:40.123456789Z",
            "9999-12-30T12:00:00.999999999Z",
            "0001-01-01T00:00:00Z",
        ] {
            let val = json::to_val(&json!(text), &t).unwrap();
            assert_eq!(json::from_val(&val), json!(text), "{text}");
        }
        let val = json::to_val(&json!("2024-05-01T14:30:00+02:00"), &t).unwrap();
        assert_eq!(json::from_val(&val), json!("2024-05-01T12:30:00Z"));
        let err = json::to_val(&json!("yesterday"), &t).unwrap_err();
        assert!(err.to_string().contains("RFC 3339"), "{err}");
    }

    #[test]
    fn durations_are_iso8601_and_accept_seconds() {
        let t = ty(DEFS, "$duration");
        let cases = [
            (json!("PT1H30M"), "PT1H30M"),
            (json!("PT0.000000001S"), "PT0.000000001S"),
            (json!("-PT2.5S"), "-PT2.5S"),
            (json!(90), "PT1M30S"),
            (json!(1.5), "PT1.5S"),
            (json!("1.5s"), "PT1.5S"),
            (json!("P2DT1H"), "PT49H"),
            (json!(0), "PT0S"),
        ];
        for (input, text) in cases {
            let val = json::to_val(&input, &t).unwrap();
            assert_eq!(json::from_val(&val), json!(text), "{input}");
            assert_eq!(json::to_val(&json!(text), &t).unwrap(), val, "{text}");
        }
        assert!(json::to_val(&json!("soon"), &t).is_err());
    }

    #[test]
    fn stored_values_take_a_bare_uri_or_a_partial_object() {
        let t = ty(DEFS, "$directory");
        let val = json::to_val(&json!("s3://b/shards"), &t).unwrap();
        assert_eq!(
            json::from_val(&val),
            json!({"dir-path": "", "uri": "s3://b/shards", "format": ""})
        );
        let val = json::to_val(&json!({"uri": "s3://b/x", "format": "csv"}), &t).unwrap();
        assert_eq!(
            json::from_val(&val),
            json!({"dir-path": "", "uri": "s3://b/x", "format": "csv"})
        );
        let t = ty(DEFS, "$sales");
        let val = json::to_val(&json!("s3://b/t"), &t).unwrap();
        assert_eq!(json::from_val(&val)["columns"], Value::Null);
    }
}
