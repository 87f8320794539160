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
//! - `none` (an `option` without a value) is the `none_type` scalar; an absent input or a
//!   `none_type` literal is `none`; a flytekit `Optional[T]` union literal is unwrapped.

use serde_json::Value;

use super::idl::core::{
    Binary, Literal, LiteralCollection, LiteralMap, Primitive, Scalar, Void, literal, primitive,
    scalar,
};
use super::idl::struct_to_json;
use super::interface::variable_name;
use wasmdask_values::FlyteType;

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
    }
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
            Some(primitive::Value::Datetime(_)) | Some(primitive::Value::Duration(_)) => {
                Err(LiteralError(
                    "datetime and duration inputs are not supported; pass a string or an integer"
                        .into(),
                ))
            }
            None => Err(LiteralError("the primitive is empty".into())),
        },
        Some(S::NoneType(_)) => Ok(Value::Null),
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
            "unsupported literal (blobs, schemas and structured datasets cannot be task inputs)"
                .into(),
        )),
    }
}

/// The literal of `json` (from [`wasmdask_values::from_val`]) as a Flyte value of type `ty`.
///
/// # Errors
///
/// When an integer does not fit Flyte's 64-bit signed `INTEGER`.
pub fn json_to_literal(json: &Value, ty: &FlyteType) -> Result<Literal, LiteralError> {
    let primitive = |value| scalar(scalar::Value::Primitive(Primitive { value: Some(value) }));
    if json.is_null() {
        return Ok(scalar(scalar::Value::NoneType(Void {})));
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
        (_, other) => scalar(scalar::Value::Binary(Binary {
            value: rmp_serde::to_vec_named(other)
                .map_err(|e| LiteralError(format!("cannot encode the value as msgpack: {e}")))?,
            tag: MSGPACK_TAG.into(),
        })),
    })
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
        ];
        for (value, ty) in cases {
            let literal = json_to_literal(&value, &ty).unwrap();
            assert_eq!(literal_to_json(&literal).unwrap(), value, "{ty}");
        }
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
    fn integers_beyond_i64_are_refused() {
        let err = json_to_literal(&json!(u64::MAX), &FlyteType::Integer).unwrap_err();
        assert!(err.0.contains("does not fit a Flyte INTEGER"), "{err}");
    }
}
