//! Flyte literals ⇄ component values, through the JSON encoding of [`wasmdask_values`].
//!
//! Inputs are read self-describingly (an `integer` literal is a JSON integer, a `collection` a
//! JSON array, ...) and then checked against the parameter's WIT type by
//! [`values::to_val`](wasmdask_values::to_val), so a mismatch names the variable and the path
//! inside it. Outputs are written from the [`FlyteType`] of the result:
//!
//! - `STRUCT` values (records, variants, tuples, ...) are written as flytekit 1.16 writes
//!   dataclasses and dicts: a `Binary` scalar with tag `msgpack` holding the value's JSON
//!   encoding as MessagePack. Both that and the older `generic` (protobuf `Struct`) form are
//!   read.
//! - datetimes and durations are Flyte's `datetime` / `duration` primitives (protobuf
//!   `Timestamp` / `Duration`), read into their JSON text forms (RFC 3339, ISO 8601) and back,
//!   exact to the nanosecond.
//! - files and directories are `Blob`s (single / multipart, any format) and structured datasets
//!   `StructuredDataset`s of format `parquet`: their JSON is `{"uri": .., "format": ..}`, the
//!   parameter's type fills in the rest; the runner sets `uri` of an output after uploading it.
//! - an `option` is written as flytekit writes an `Optional[T]`: a `union` scalar holding the
//!   value (`none` is the `none_type` scalar) and the type of its variant, tagged (the
//!   `stored_type` flytekit reads it back by). A union literal is read by its value; a plain `T`
//!   literal, a `none_type` literal and an absent input are read too.

use serde_json::Value;

use super::idl::core::{
    Binary, Blob, BlobMetadata, Literal, LiteralCollection, LiteralMap, Primitive, Scalar,
    StructuredDataset, StructuredDatasetMetadata, Union, Void, blob_type, literal, primitive,
    scalar,
};
use super::idl::struct_to_json;
use super::interface::{blob, dataset_type, union_variant, variable_name};
use wasmdask_values::{self as values, FlyteType};

/// The tag flytekit gives msgpack-encoded `Binary` scalars.
pub const MSGPACK_TAG: &str = "msgpack";

/// A literal that has no JSON reading (a blob, a schema, an error, a datetime, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LiteralError(pub String);

/// Arguments as the `inputs.pb` Flyte would write for them: a `LiteralMap` keyed by the Flyte
/// variable names (the WIT names in snake_case).
///
/// # Errors
///
/// The message names the input whose value has no literal of its Flyte type.
pub fn inputs_from_vals(
    params: &[(String, wasmtime::component::Type)],
    vals: &[wasmtime::component::Val],
) -> Result<LiteralMap, String> {
    let mut inputs = LiteralMap::default();
    for ((name, ty), val) in params.iter().zip(vals) {
        let literal = json_to_literal(
            &wasmdask_values::from_val(val),
            &wasmdask_values::flyte_type(ty),
        )
        .map_err(|e| format!("input `{name}`: {}", e.0))?;
        inputs.literals.insert(variable_name(name), literal);
    }
    Ok(inputs)
}

/// The JSON value a literal holds.
///
/// # Errors
///
/// For literal kinds wasmdask tasks cannot take (blobs, datetimes, ...) or an undecodable
/// msgpack/JSON payload.
pub fn literal_to_json(literal: &Literal) -> Result<Value, LiteralError> {
    match &literal.value {
        None => Err(LiteralError("the literal is empty".into())),
        Some(literal::Value::Collection(c)) => c
            .literals
            .iter()
            .map(literal_to_json)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Some(literal::Value::Map(m)) => m
            .literals
            .iter()
            .map(|(k, v)| literal_to_json(v).map(|v| (k.clone(), v)))
            .collect::<Result<serde_json::Map<_, _>, _>>()
            .map(Value::Object),
        Some(literal::Value::Scalar(s)) => scalar_to_json(s),
        Some(literal::Value::OffloadedMetadata(o)) => Err(LiteralError(format!(
            "the literal is offloaded to {} and was not fetched",
            o.uri
        ))),
    }
}

/// Why `literal` cannot be a value of `ty` although its JSON might fit: a directory where a
/// file is expected and the like, which the JSON form (`{"uri": ..}`) no longer tells apart.
/// The message names the literal's URI.
pub fn stored_kind_mismatch(literal: &Literal, ty: &FlyteType) -> Option<String> {
    if let FlyteType::Optional(inner) = ty {
        return match &literal.value {
            Some(literal::Value::Scalar(s)) => match &s.value {
                Some(scalar::Value::Union(u)) => u
                    .value
                    .as_deref()
                    .and_then(|value| stored_kind_mismatch(value, inner)),
                _ => stored_kind_mismatch(literal, inner),
            },
            _ => stored_kind_mismatch(literal, inner),
        };
    }
    let found = match &literal.value {
        Some(literal::Value::Collection(c)) => {
            let FlyteType::Collection(element) = ty else {
                return None;
            };
            return c
                .literals
                .iter()
                .find_map(|item| stored_kind_mismatch(item, element));
        }
        Some(literal::Value::Scalar(s)) => match &s.value {
            Some(scalar::Value::Blob(b)) => {
                let multipart = b
                    .metadata
                    .as_ref()
                    .and_then(|m| m.r#type.as_ref())
                    .is_some_and(|t| {
                        t.dimensionality == blob_type::BlobDimensionality::Multipart as i32
                    });
                let found = if multipart {
                    "a directory (multipart blob)"
                } else {
                    "a file (single blob)"
                };
                (
                    found,
                    b.uri.as_str(),
                    if multipart {
                        FlyteType::Directory
                    } else {
                        FlyteType::File
                    },
                )
            }
            Some(scalar::Value::StructuredDataset(d)) if matches!(ty, FlyteType::Dataset(_)) => {
                return dataset_schema_mismatch(d, ty);
            }
            Some(scalar::Value::StructuredDataset(d)) => (
                "a structured dataset",
                d.uri.as_str(),
                FlyteType::Dataset(Vec::new()),
            ),
            _ => return None,
        },
        _ => return None,
    };
    let (noun, uri, kind) = found;
    let expected = match ty {
        FlyteType::File => "a file",
        FlyteType::Directory => "a directory",
        FlyteType::Dataset(_) => "a structured dataset",
        _ => return None,
    };
    let same = matches!(
        (&kind, ty),
        (FlyteType::File, FlyteType::File)
            | (FlyteType::Directory, FlyteType::Directory)
            | (FlyteType::Dataset(_), FlyteType::Dataset(_))
    );
    (!same).then(|| format!("{uri} is {noun}, but the task takes {expected} here"))
}

fn scalar_to_json(scalar: &Scalar) -> Result<Value, LiteralError> {
    use scalar::Value as S;
    match &scalar.value {
        Some(S::Primitive(p)) => match &p.value {
            Some(primitive::Value::Integer(n)) => Ok(Value::from(*n)),
            Some(primitive::Value::FloatValue(x)) => serde_json::Number::from_f64(*x)
                .map(Value::Number)
                .ok_or_else(|| LiteralError(format!("the float {x} has no JSON form"))),
            Some(primitive::Value::StringValue(s)) => Ok(Value::String(s.clone())),
            Some(primitive::Value::Boolean(b)) => Ok(Value::Bool(*b)),
            Some(primitive::Value::Datetime(t)) => values::datetime_text(t.seconds, t.nanos)
                .map(Value::String)
                .map_err(|e| LiteralError(e.to_string())),
            Some(primitive::Value::Duration(d)) => {
                Ok(Value::String(values::duration_text_of(d.seconds, d.nanos)))
            }
            None => Err(LiteralError("the primitive is empty".into())),
        },
        Some(S::NoneType(_)) => Ok(Value::Null),
        Some(S::Blob(b)) => Ok(stored_json(
            &b.uri,
            b.metadata
                .as_ref()
                .and_then(|m| m.r#type.as_ref())
                .map_or("", |t| t.format.as_str()),
        )),
        Some(S::StructuredDataset(d)) => Ok(stored_json(
            &d.uri,
            d.metadata
                .as_ref()
                .and_then(|m| m.structured_dataset_type.as_ref())
                .map_or("", |t| t.format.as_str()),
        )),
        Some(S::Generic(s)) => struct_to_json(s).map_err(|e| LiteralError(e.to_string())),
        Some(S::Binary(b)) if b.tag == MSGPACK_TAG || b.tag.is_empty() => {
            rmp_serde::from_slice(&b.value)
                .map_err(|e| LiteralError(format!("the msgpack value does not decode: {e}")))
        }
        Some(S::Binary(b)) => Err(LiteralError(format!(
            "binary literals tagged `{}` are not supported (only `{MSGPACK_TAG}`)",
            b.tag
        ))),
        Some(S::Json(j)) => serde_json::from_slice(&j.value)
            .map_err(|e| LiteralError(format!("the JSON value does not parse: {e}"))),
        Some(S::Union(u)) => u.value.as_deref().map_or(Ok(Value::Null), literal_to_json),
        Some(S::Error(e)) => Err(LiteralError(format!(
            "the input is an upstream error: {}",
            e.message
        ))),
        None => Err(LiteralError(
            "unsupported literal (a Flyte schema, the type before structured datasets)".into(),
        )),
    }
}

/// Why a dataset's declared columns or format do not fit the task's: flytekit writes the
/// columns of an annotated `StructuredDataset` (`Annotated[StructuredDataset, kwtypes(..)]`)
/// in the literal's type, and a task that declares its columns takes only those (a dataset
/// without declared columns, or a task without, is not checked here: that would need the
/// parquet footer).
fn dataset_schema_mismatch(d: &StructuredDataset, ty: &FlyteType) -> Option<String> {
    let FlyteType::Dataset(expected) = ty else {
        return None;
    };
    let declared = d
        .metadata
        .as_ref()
        .and_then(|m| m.structured_dataset_type.as_ref());
    let format = declared.map_or("", |t| t.format.as_str());
    if !format.is_empty() && format != values::DATASET_FORMAT {
        return Some(format!(
            "{} is a `{format}` dataset, but the task reads `{}`",
            d.uri,
            values::DATASET_FORMAT
        ));
    }
    let found = declared.map_or(&[][..], |t| t.columns.as_slice());
    if expected.is_empty() || found.is_empty() {
        return None;
    }
    for (name, want) in expected {
        let Some(column) = found.iter().find(|c| c.name == *name) else {
            return Some(format!(
                "{} has no column `{name}`, which the task reads",
                d.uri
            ));
        };
        let want_type = super::interface::literal_type(want).r#type;
        if column.literal_type.as_ref().map(|t| &t.r#type) != Some(&want_type) {
            return Some(format!(
                "{}: column `{name}` is not of the task's type {want}",
                d.uri
            ));
        }
    }
    None
}

fn stored_json(uri: &str, format: &str) -> Value {
    serde_json::json!({"uri": uri, "format": format})
}

/// The `uri` and `format` of a stored value's JSON (a file, directory or dataset).
fn stored_fields(json: &Value, ty: &FlyteType) -> Result<(String, String), LiteralError> {
    let field = |name: &str| json.get(name).and_then(Value::as_str).unwrap_or_default();
    let uri = field("uri");
    if uri.is_empty() {
        return Err(LiteralError(format!(
            "a {ty} output has no uri: it was not uploaded (write it under /outputs and return \
             its path)"
        )));
    }
    Ok((uri.to_string(), field("format").to_string()))
}

/// The literal of `json` (from [`wasmdask_values::from_val`]) as a Flyte value of type `ty`.
///
/// # Errors
///
/// When an integer does not fit Flyte's 64-bit signed `INTEGER`.
pub fn json_to_literal(json: &Value, ty: &FlyteType) -> Result<Literal, LiteralError> {
    let primitive = |value| scalar(scalar::Value::Primitive(Primitive { value: Some(value) }));
    if let FlyteType::Optional(inner) = ty {
        return optional_literal(json, inner);
    }
    if json.is_null() {
        return Ok(none_literal());
    }
    Ok(match (ty, json) {
        (FlyteType::Collection(element), Value::Array(items)) => Literal {
            value: Some(literal::Value::Collection(LiteralCollection {
                literals: items
                    .iter()
                    .map(|item| json_to_literal(item, element))
                    .collect::<Result<_, _>>()?,
            })),
            ..Literal::default()
        },
        (FlyteType::Integer, Value::Number(n)) => {
            primitive(primitive::Value::Integer(n.as_i64().ok_or_else(|| {
                LiteralError(format!(
                    "{n} does not fit a Flyte INTEGER (a 64-bit signed integer)"
                ))
            })?))
        }
        (FlyteType::Integer, Value::String(s)) => {
            primitive(primitive::Value::Integer(s.parse().map_err(|_| {
                LiteralError(format!(
                    "{s} does not fit a Flyte INTEGER (a 64-bit signed integer)"
                ))
            })?))
        }
        (FlyteType::Float, Value::Number(n)) => {
            primitive(primitive::Value::FloatValue(n.as_f64().unwrap_or(f64::NAN)))
        }
        (FlyteType::String, Value::String(s)) => {
            primitive(primitive::Value::StringValue(s.clone()))
        }
        (FlyteType::Boolean, Value::Bool(b)) => primitive(primitive::Value::Boolean(*b)),
        (FlyteType::Datetime, Value::String(s)) => {
            let (seconds, nanos) =
                values::datetime_from_text(s).map_err(|e| LiteralError(e.to_string()))?;
            primitive(primitive::Value::Datetime(prost_types::Timestamp {
                seconds,
                nanos,
            }))
        }
        (FlyteType::Duration, Value::String(s)) => {
            let (seconds, nanos) =
                values::duration_from_str(s).map_err(|e| LiteralError(e.to_string()))?;
            primitive(primitive::Value::Duration(prost_types::Duration {
                seconds,
                nanos,
            }))
        }
        (FlyteType::File | FlyteType::Directory, json @ Value::Object(_)) => {
            let (uri, format) = stored_fields(json, ty)?;
            let mut r#type = blob(*ty == FlyteType::Directory);
            r#type.format = format;
            scalar(scalar::Value::Blob(Blob {
                metadata: Some(BlobMetadata {
                    r#type: Some(r#type),
                }),
                uri,
            }))
        }
        (FlyteType::Dataset(columns), json @ Value::Object(_)) => {
            let (uri, format) = stored_fields(json, ty)?;
            let mut r#type = dataset_type(columns);
            if !format.is_empty() {
                r#type.format = format;
            }
            scalar(scalar::Value::StructuredDataset(StructuredDataset {
                uri,
                metadata: Some(StructuredDatasetMetadata {
                    structured_dataset_type: Some(r#type),
                }),
            }))
        }
        (_, other) => scalar(scalar::Value::Binary(Binary {
            value: rmp_serde::to_vec_named(other)
                .map_err(|e| LiteralError(format!("cannot encode the value as msgpack: {e}")))?,
            tag: MSGPACK_TAG.into(),
        })),
    })
}

/// The union literal flytekit writes for an `Optional[T]` value: `null` is `None`; the JSON of
/// `some(v)` in an option of an option is `{"some": v}` (see `wasmdask_values`), whose `none`
/// is `None` too.
fn optional_literal(json: &Value, payload: &FlyteType) -> Result<Literal, LiteralError> {
    if json.is_null() {
        return Ok(union_literal(none_literal(), &FlyteType::None));
    }
    if let FlyteType::Optional(inner) = payload {
        let some = json
            .as_object()
            .and_then(|o| o.get("some"))
            .ok_or_else(|| {
                LiteralError(format!("{json} is not the JSON of an option of an option"))
            })?;
        return optional_literal(some, inner);
    }
    Ok(union_literal(json_to_literal(json, payload)?, payload))
}

fn union_literal(value: Literal, ty: &FlyteType) -> Literal {
    scalar(scalar::Value::Union(Box::new(Union {
        value: Some(Box::new(value)),
        r#type: Some(union_variant(ty)),
    })))
}

fn none_literal() -> Literal {
    scalar(scalar::Value::NoneType(Void {}))
}

fn scalar(value: scalar::Value) -> Literal {
    Literal {
        value: Some(literal::Value::Scalar(Box::new(Scalar {
            value: Some(value),
        }))),
        ..Literal::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn outputs_round_trip_through_literals() {
        let cases = [
            (json!(42), FlyteType::Integer),
            (json!(-7), FlyteType::Integer),
            (json!(2.5), FlyteType::Float),
            (json!("héllo"), FlyteType::String),
            (json!(true), FlyteType::Boolean),
            (
                json!([1, 2, 3]),
                FlyteType::Collection(Box::new(FlyteType::Integer)),
            ),
            (
                json!([[1.5], []]),
                FlyteType::Collection(Box::new(FlyteType::Collection(Box::new(FlyteType::Float)))),
            ),
            (
                json!({"count": 3, "mean": 1.5, "label": null, "tags": ["a"]}),
                FlyteType::Struct,
            ),
            (json!(null), FlyteType::Integer),
            (json!("2024-05-01T12:30:00.123456789Z"), FlyteType::Datetime),
            (json!("1969-12-31T23:59:59.5Z"), FlyteType::Datetime),
            (json!("-PT1H0.25S"), FlyteType::Duration),
            (
                json!({"uri": "s3://b/f.csv", "format": "csv"}),
                FlyteType::File,
            ),
            (
                json!({"uri": "s3://b/d", "format": ""}),
                FlyteType::Directory,
            ),
            (
                json!({"uri": "s3://b/t", "format": "parquet"}),
                FlyteType::Dataset(vec![("x".into(), FlyteType::Integer)]),
            ),
        ];
        for (value, ty) in cases {
            let literal = json_to_literal(&value, &ty).unwrap();
            assert_eq!(literal_to_json(&literal).unwrap(), value, "{ty}");
        }
    }

    /// `json_to_literal` of an option, as proto3 JSON.
    fn option_literal(value: Value, ty: FlyteType) -> Value {
        let literal = json_to_literal(&value, &ty).unwrap();
        crate::idl::to_json(&literal, "flyteidl.core.Literal")
    }

    fn literal_type_json(ty: &FlyteType) -> Value {
        crate::idl::to_json(
            &crate::interface::literal_type(ty),
            "flyteidl.core.LiteralType",
        )
    }

    /// What flytekit 1.16's `TypeEngine.to_literal_type(Optional[T])` writes (MessageToDict).
    fn flytekit_optional(variant: Value) -> Value {
        json!({"unionType": {"variants": [variant, {"simple": "NONE", "structure": {"tag": "none"}}]}})
    }

    #[test]
    fn options_are_the_unions_flytekit_types_optionals_as() {
        use FlyteType as F;
        let opt = |t: F| F::Optional(Box::new(t));
        let list = |t: F| F::Collection(Box::new(t));
        let cases = [
            (
                opt(F::Integer),
                json!({"simple": "INTEGER", "structure": {"tag": "int"}}),
            ),
            (
                opt(F::Float),
                json!({"simple": "FLOAT", "structure": {"tag": "float"}}),
            ),
            (
                opt(F::String),
                json!({"simple": "STRING", "structure": {"tag": "str"}}),
            ),
            (
                opt(F::Boolean),
                json!({"simple": "BOOLEAN", "structure": {"tag": "bool"}}),
            ),
            (
                opt(F::Datetime),
                json!({"simple": "DATETIME", "structure": {"tag": "datetime"}}),
            ),
            (
                opt(F::Duration),
                json!({"simple": "DURATION", "structure": {"tag": "timedelta"}}),
            ),
            (
                opt(list(F::Integer)),
                json!({"collectionType": {"simple": "INTEGER"}, "structure": {"tag": "Typed List"}}),
            ),
            (
                opt(F::File),
                json!({"blob": {}, "structure": {"tag": "FlyteFilePath"}}),
            ),
            (
                opt(F::Directory),
                json!({"blob": {"dimensionality": "MULTIPART"}, "structure": {"tag": "FlyteDirectory"}}),
            ),
            (
                opt(F::Dataset(Vec::new())),
                json!({"structuredDatasetType": {"format": "parquet"},
                       "structure": {"tag": "StructuredDataset Transformer"}}),
            ),
            (
                opt(F::Struct),
                json!({"simple": "STRUCT", "structure": {"tag": "Typed Dict"}}),
            ),
            // Optional[Optional[int]] is Optional[int].
            (
                opt(opt(F::Integer)),
                json!({"simple": "INTEGER", "structure": {"tag": "int"}}),
            ),
            (
                opt(list(opt(F::Integer))),
                json!({"collectionType": flytekit_optional(json!({"simple": "INTEGER", "structure": {"tag": "int"}})),
                       "structure": {"tag": "Typed List"}}),
            ),
        ];
        for (ty, variant) in cases {
            assert_eq!(literal_type_json(&ty), flytekit_optional(variant), "{ty}");
        }
        assert_eq!(
            literal_type_json(&list(opt(F::String))),
            json!({"collectionType": flytekit_optional(json!({"simple": "STRING", "structure": {"tag": "str"}}))})
        );
    }

    #[test]
    fn option_values_are_the_union_literals_flytekit_writes_and_read_back() {
        use FlyteType as F;
        let opt = |t: F| F::Optional(Box::new(t));
        // flytekit 1.16's TypeEngine.to_literal(3 / None, Optional[int]) (MessageToDict).
        let three = json!({"scalar": {"union": {
            "value": {"scalar": {"primitive": {"integer": "3"}}},
            "type": {"simple": "INTEGER", "structure": {"tag": "int"}}}}});
        let none = json!({"scalar": {"union": {
            "value": {"scalar": {"noneType": {}}},
            "type": {"simple": "NONE", "structure": {"tag": "none"}}}}});
        assert_eq!(option_literal(json!(3), opt(F::Integer)), three);
        assert_eq!(option_literal(json!(null), opt(F::Integer)), none);
        // list<option<s64>> = [1, None]: a collection of unions.
        assert_eq!(
            option_literal(json!([3, null]), F::Collection(Box::new(opt(F::Integer)))),
            json!({"collection": {"literals": [three, none]}})
        );
        // option<option<s64>>: some(some(3)) is 3, none and some(none) are None.
        assert_eq!(
            option_literal(json!({"some": 3}), opt(opt(F::Integer))),
            three
        );
        assert_eq!(
            option_literal(json!({"some": null}), opt(opt(F::Integer))),
            none
        );
        assert_eq!(option_literal(json!(null), opt(opt(F::Integer))), none);
        // A file in an option: the blob, its variant's type as flytekit stores it.
        assert_eq!(
            option_literal(
                json!({"uri": "s3://b/f.csv", "format": "csv"}),
                opt(F::File)
            ),
            json!({"scalar": {"union": {
                "value": {"scalar": {"blob": {"metadata": {"type": {"format": "csv"}}, "uri": "s3://b/f.csv"}}},
                "type": {"blob": {}, "structure": {"tag": "FlyteFilePath"}}}}})
        );
        // Read back: the union's value.
        for (value, ty) in [
            (json!(3), opt(F::Integer)),
            (json!(null), opt(F::String)),
            (json!("x"), opt(F::String)),
            (json!([1, null]), F::Collection(Box::new(opt(F::Integer)))),
            (json!({"uri": "s3://b/d", "format": ""}), opt(F::Directory)),
        ] {
            let literal = json_to_literal(&value, &ty).unwrap();
            assert_eq!(literal_to_json(&literal).unwrap(), value, "{ty}");
        }
    }

    #[test]
    fn a_directory_in_an_option_where_a_file_is_expected_names_the_uri() {
        let opt = |t: FlyteType| FlyteType::Optional(Box::new(t));
        let dir = json_to_literal(&json!({"uri": "s3://b/d"}), &opt(FlyteType::Directory)).unwrap();
        let message = stored_kind_mismatch(&dir, &opt(FlyteType::File)).unwrap();
        assert!(message.contains("s3://b/d is a directory"), "{message}");
        assert_eq!(stored_kind_mismatch(&dir, &opt(FlyteType::Directory)), None);
        // A plain (not union) literal for an option input is checked too.
        let plain = json_to_literal(&json!({"uri": "s3://b/d"}), &FlyteType::Directory).unwrap();
        assert!(stored_kind_mismatch(&plain, &opt(FlyteType::File)).is_some());
        let none = json_to_literal(&json!(null), &opt(FlyteType::File)).unwrap();
        assert_eq!(stored_kind_mismatch(&none, &opt(FlyteType::File)), None);
    }

    #[test]
    fn structs_are_msgpack_binaries_like_flytekit_writes() {
        let literal = json_to_literal(&json!({"x": 1}), &FlyteType::Struct).unwrap();
        let Some(literal::Value::Scalar(scalar)) = &literal.value else {
            panic!("not a scalar: {literal:?}");
        };
        let Some(scalar::Value::Binary(b)) = &scalar.value else {
            panic!("not a binary: {scalar:?}");
        };
        assert_eq!(b.tag, "msgpack");
    }

    #[test]
    fn a_directory_where_a_file_is_expected_names_the_uri() {
        let dir = json_to_literal(&json!({"uri": "s3://b/d"}), &FlyteType::Directory).unwrap();
        let message = stored_kind_mismatch(&dir, &FlyteType::File).unwrap();
        assert!(message.contains("s3://b/d is a directory"), "{message}");
        assert_eq!(stored_kind_mismatch(&dir, &FlyteType::Directory), None);
        let err = json_to_literal(&json!({"uri": ""}), &FlyteType::File).unwrap_err();
        assert!(err.0.contains("not uploaded"), "{err}");
    }

    #[test]
    fn a_dataset_with_other_columns_names_the_uri_and_the_column() {
        let task = FlyteType::Dataset(vec![
            ("id".into(), FlyteType::Integer),
            ("amount".into(), FlyteType::Float),
        ]);
        let written = |columns: Vec<(String, FlyteType)>| {
            let json = json!({"uri": "s3://b/t", "format": "parquet"});
            json_to_literal(&json, &FlyteType::Dataset(columns)).unwrap()
        };
        let same = written(vec![
            ("amount".into(), FlyteType::Float),
            ("id".into(), FlyteType::Integer),
        ]);
        assert_eq!(stored_kind_mismatch(&same, &task), None);
        assert_eq!(stored_kind_mismatch(&written(Vec::new()), &task), None);
        let retyped = written(vec![
            ("id".into(), FlyteType::String),
            ("amount".into(), FlyteType::Float),
        ]);
        let message = stored_kind_mismatch(&retyped, &task).unwrap();
        assert!(message.contains("s3://b/t: column `id`"), "{message}");
        let missing = written(vec![("id".into(), FlyteType::Integer)]);
        let message = stored_kind_mismatch(&missing, &task).unwrap();
        assert!(message.contains("no column `amount`"), "{message}");
    }

    #[test]
    fn integers_beyond_i64_are_refused() {
        let err = json_to_literal(&json!(u64::MAX), &FlyteType::Integer).unwrap_err();
        assert!(err.0.contains("does not fit a Flyte INTEGER"), "{err}");
    }
}
