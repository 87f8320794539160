//! Component values ⇄ JSON, driven by the WIT type.
//!
//! This is the encoding documented in `wit/wasmdask.wit` (the package doc comment): values
//! cross `cluster` calls, `wasmdask run` arguments and results, and Flyte `STRUCT` literals in
//! it. [`to_val`] is lenient where a reading is unambiguous (loose names, integral floats for
//! integers, decimal strings for 64-bit integers that JavaScript cannot represent exactly) and
//! [`from_val`] always writes the canonical form, so `to_val(&from_val(v), ty) == v`.
//!
//! # Nested options
//!
//! `option<T>` is `null` or the JSON of the payload, which cannot tell `none` from `some(none)`
//! in `option<option<T>>`. So when the payload is itself an option, [`from_val`] writes
//! `some(x)` as `{"some": x}` (`some(none)` is `{"some": null}`), and [`to_val`] reads `null`
//! as `none`, a one-key object `{"some": x}` as `some(x)`, and any other value `v` as
//! `some(v)` read as the inner option (so a plain `5` is `some(some(5))`). Options of
//! non-option types never use the wrapper.

use serde_json::{Number, Value, json};
use wasmtime::component::types::{Case, Flags, Map as MapType};
use wasmtime::component::{Type, Val};

use super::data;
use super::describe::{expected, got};
use super::error::ValueError;
use super::members::Members;
use super::names::{self, Lookup};
use super::wit_type::wit_type;

/// The component value of type `ty` that `json` encodes.
///
/// # Errors
///
/// When `json` does not fit `ty`, or `ty` contains a resource, future, stream or
/// error-context; the error names the path of the offending part and what it should be.
pub fn to_val(json: &Value, ty: &Type) -> Result<Val, ValueError> {
    Ok(match ty {
        Type::Bool => Val::Bool(json.as_bool().ok_or_else(|| mismatch(json, ty))?),
        Type::S8 => Val::S8(integer(json, ty)?),
        Type::U8 => Val::U8(integer(json, ty)?),
        Type::S16 => Val::S16(integer(json, ty)?),
        Type::U16 => Val::U16(integer(json, ty)?),
        Type::S32 => Val::S32(integer(json, ty)?),
        Type::U32 => Val::U32(integer(json, ty)?),
        Type::S64 => Val::S64(integer(json, ty)?),
        Type::U64 => Val::U64(integer(json, ty)?),
        Type::Float32 => Val::Float32(float32(json, ty)?),
        Type::Float64 => Val::Float64(float(json).ok_or_else(|| mismatch(json, ty))?),
        Type::Char => Val::Char(single_char(json).ok_or_else(|| mismatch(json, ty))?),
        Type::String => Val::String(json.as_str().ok_or_else(|| mismatch(json, ty))?.into()),
        Type::List(list) => Val::List(elements(array(json, ty, None)?, &list.ty())?),
        Type::FixedLengthList(list) => {
            let items = array(json, ty, Some(list.len() as usize))?;
            Val::FixedLengthList(elements(items, &list.ty())?)
        }
        Type::Tuple(tuple) => {
            let tys: Vec<Type> = tuple.types().collect();
            let items = array(json, ty, Some(tys.len()))?;
            let vals = items
                .iter()
                .zip(&tys)
                .enumerate()
                .map(|(i, (item, ty))| to_val(item, ty).map_err(|e| e.in_index(i)));
            Val::Tuple(vals.collect::<Result<_, _>>()?)
        }
        Type::Map(map) => Val::Map(map_pairs(json, map, ty)?),
        Type::Record(record) => {
            let data = data::data_type(ty);
            if let Some(data) = &data
                && let Some(val) = data::to_val(json, data)?
            {
                return Ok(val);
            }
            let object = json.as_object().ok_or_else(|| mismatch(json, ty))?;
            let members = Members::fields(record);
            let vals = match &data {
                Some(data) if data.is_stored() => {
                    members.read_object(&data::with_defaults(object, data))?
                }
                _ => members.read_object(object)?,
            };
            let names = members.items().iter().map(|(name, _)| name.to_string());
            Val::Record(names.zip(vals).collect())
        }
        Type::Variant(variant) => {
            let (name, payload) = case(json, ty, variant.cases())?;
            Val::Variant(name, payload.map(Box::new))
        }
        Type::Enum(enum_) => {
            let cases = enum_.names().map(|name| Case { name, ty: None });
            Val::Enum(case(json, ty, cases)?.0)
        }
        Type::Option(option) => Val::Option(option_payload(json, &option.ty())?.map(Box::new)),
        Type::Result(result) => {
            let cases = [
                Case {
                    name: "ok",
                    ty: result.ok(),
                },
                Case {
                    name: "err",
                    ty: result.err(),
                },
            ];
            let (name, payload) = case(json, ty, cases.into_iter())?;
            let payload = payload.map(Box::new);
            Val::Result(if name == "ok" {
                Ok(payload)
            } else {
                Err(payload)
            })
        }
        Type::Flags(flags) => Val::Flags(flag_names(json, flags, ty)?),
        Type::Own(_) | Type::Borrow(_) | Type::Future(_) | Type::Stream(_) | Type::ErrorContext => {
            return Err(unsupported(ty));
        }
    })
}

/// The JSON encoding of `val` (WIT names for fields and cases, 64-bit integers exact,
/// non-finite floats as `"NaN"`, `"inf"`, `"-inf"`).
///
/// Resources, futures, streams and error-contexts have no JSON form; they are written as a
/// placeholder string such as `"<resource>"` that [`to_val`] rejects. Check a function's types
/// with [`check_plain_data`] before calling it so such values never come up.
pub fn from_val(val: &Val) -> Value {
    match val {
        Val::Bool(b) => json!(b),
        Val::S8(n) => json!(n),
        Val::U8(n) => json!(n),
        Val::S16(n) => json!(n),
        Val::U16(n) => json!(n),
        Val::S32(n) => json!(n),
        Val::U32(n) => json!(n),
        Val::S64(n) => json!(n),
        Val::U64(n) => json!(n),
        Val::Float32(f) => float32_json(*f),
        Val::Float64(f) => float_json(*f),
        Val::Char(c) => json!(c.to_string()),
        Val::String(s) => json!(s),
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => {
            items.iter().map(from_val).collect()
        }
        Val::Map(pairs) => pairs
            .iter()
            .map(|(key, value)| json!([from_val(key), from_val(value)]))
            .collect(),
        Val::Record(fields) => data::from_val(val).unwrap_or_else(|| {
            Value::Object(
                fields
                    .iter()
                    .map(|(name, val)| (name.clone(), from_val(val)))
                    .collect(),
            )
        }),
        Val::Variant(name, None) | Val::Enum(name) => json!(name),
        Val::Variant(name, Some(payload)) => json!({ name: from_val(payload) }),
        Val::Option(None) => Value::Null,
        Val::Option(Some(payload)) => match **payload {
            Val::Option(_) => json!({ "some": from_val(payload) }),
            _ => from_val(payload),
        },
        Val::Result(Ok(payload)) => {
            json!({ "ok": payload.as_deref().map_or(Value::Null, from_val) })
        }
        Val::Result(Err(payload)) => {
            json!({ "err": payload.as_deref().map_or(Value::Null, from_val) })
        }
        Val::Flags(names) => json!(names),
        Val::Resource(_) => json!("<resource>"),
        Val::Future(_) => json!("<future>"),
        Val::Stream(_) => json!("<stream>"),
        Val::ErrorContext(_) => json!("<error-context>"),
    }
}

/// Succeeds when every value of `ty` has a JSON form, i.e. `ty` contains no resource, future,
/// stream or error-context. Use it to reject a task export when a component is loaded rather
/// than when it is called.
///
/// # Errors
///
/// Names the path to the first unsupported part, e.g. ``at `[0].handle`: ...``.
pub fn check_plain_data(ty: &Type) -> Result<(), ValueError> {
    let each = |tys: Vec<(Option<&str>, Type)>| -> Result<(), ValueError> {
        for (i, (name, ty)) in tys.into_iter().enumerate() {
            check_plain_data(&ty).map_err(|e| match name {
                Some(name) => e.in_name(name),
                None => e.in_index(i),
            })?;
        }
        Ok(())
    };
    match ty {
        Type::List(list) => check_plain_data(&list.ty()).map_err(|e| e.in_index(0)),
        Type::FixedLengthList(list) => check_plain_data(&list.ty()).map_err(|e| e.in_index(0)),
        Type::Map(map) => each(vec![(None, map.key()), (None, map.value())]),
        Type::Tuple(tuple) => each(tuple.types().map(|ty| (None, ty)).collect()),
        Type::Record(record) => each(record.fields().map(|f| (Some(f.name), f.ty)).collect()),
        Type::Variant(variant) => each(
            variant
                .cases()
                .filter_map(|case| Some((Some(case.name), case.ty?)))
                .collect(),
        ),
        Type::Option(option) => check_plain_data(&option.ty()),
        Type::Result(result) => each(
            [("ok", result.ok()), ("err", result.err())]
                .into_iter()
                .filter_map(|(name, ty)| Some((Some(name), ty?)))
                .collect(),
        ),
        Type::Own(_) | Type::Borrow(_) | Type::Future(_) | Type::Stream(_) | Type::ErrorContext => {
            Err(unsupported(ty))
        }
        _ => Ok(()),
    }
}

fn unsupported(ty: &Type) -> ValueError {
    ValueError::new(format!(
        "values of type {} cannot be encoded as JSON; a task's parameters and results must be \
         plain data (no resources, futures, streams or error-contexts), so change the task's \
         signature",
        wit_type(ty)
    ))
}

/// `expected <type and shape>, got <json>`.
fn mismatch(json: &Value, ty: &Type) -> ValueError {
    ValueError::new(format!("expected {}, got {}", expected(ty), got(json)))
}

/// An integer of any width: a JSON integer, a float without fraction (`3.0`, `1e3`) or a
/// decimal string (`"18446744073709551615"`), range-checked against `T`.
///
/// Floats are taken only up to 2^53, where every integer is exact: a JSON integer too large
/// for 64 bits arrives here as a rounded float (`-9223372036854775809` as `-2^63`), and must
/// not silently become a different, in-range number.
fn integer<T: TryFrom<i128>>(json: &Value, ty: &Type) -> Result<T, ValueError> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    let wide = match json {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .or_else(|| {
                let f = n.as_f64()?;
                (f.fract() == 0.0 && f.abs() <= EXACT).then_some(f as i128)
            }),
        Value::String(s) => s.trim().parse::<i128>().ok(),
        _ => None,
    };
    wide.and_then(|wide| T::try_from(wide).ok())
        .ok_or_else(|| mismatch(json, ty))
}

/// A number, or one of the names of the non-finite values (any letter case).
fn float(json: &Value) -> Option<f64> {
    match json {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "nan" | "+nan" | "-nan" => Some(f64::NAN),
            "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
            "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// Like [`float`], rounded to `f32`; finite numbers beyond the `f32` range are rejected.
fn float32(json: &Value, ty: &Type) -> Result<f32, ValueError> {
    let wide = float(json).ok_or_else(|| mismatch(json, ty))?;
    let narrow = wide as f32;
    if wide.is_finite() && narrow.is_infinite() {
        return Err(ValueError::new(format!(
            "expected {}, got {}, which is too large for f32",
            expected(ty),
            got(json)
        )));
    }
    Ok(narrow)
}

fn float_json(f: f64) -> Value {
    match Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None if f.is_nan() => json!("NaN"),
        None if f > 0.0 => json!("inf"),
        None => json!("-inf"),
    }
}

/// An `f32` as the shortest decimal that reads back as the same `f32` (`0.1`, not the exact
/// `0.10000000149011612`), or exactly when that decimal would not.
fn float32_json(f: f32) -> Value {
    let exact = f64::from(f);
    let short = f.to_string().parse::<f64>().unwrap_or(exact);
    let same = short as f32 == f;
    float_json(if same { short } else { exact })
}

fn single_char(json: &Value) -> Option<char> {
    let mut chars = json.as_str()?.chars();
    let first = chars.next()?;
    chars.next().is_none().then_some(first)
}

/// The elements of a JSON array, of exactly `len` elements when given.
fn array<'j>(json: &'j Value, ty: &Type, len: Option<usize>) -> Result<&'j [Value], ValueError> {
    match json.as_array() {
        Some(items) if len.is_none_or(|len| len == items.len()) => Ok(items),
        _ => Err(mismatch(json, ty)),
    }
}

fn elements(items: &[Value], ty: &Type) -> Result<Vec<Val>, ValueError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| to_val(item, ty).map_err(|e| e.in_index(i)))
        .collect()
}

/// A map from an array of `[key, value]` pairs, or from an object when keys are strings.
fn map_pairs(json: &Value, map: &MapType, ty: &Type) -> Result<Vec<(Val, Val)>, ValueError> {
    let (key_ty, value_ty) = (map.key(), map.value());
    match json {
        Value::Object(object) => object
            .iter()
            .map(|(key, value)| {
                let key_val = to_val(&json!(key), &key_ty);
                let pair = key_val.and_then(|k| Ok((k, to_val(value, &value_ty)?)));
                pair.map_err(|e| e.in_name(key))
            })
            .collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| map_pair(item, &key_ty, &value_ty, ty).map_err(|e| e.in_index(i)))
            .collect(),
        _ => Err(mismatch(json, ty)),
    }
}

/// One `[key, value]` element of a map written as an array.
fn map_pair(
    item: &Value,
    key_ty: &Type,
    value_ty: &Type,
    ty: &Type,
) -> Result<(Val, Val), ValueError> {
    match item.as_array().map(Vec::as_slice) {
        Some([key, value]) => Ok((
            to_val(key, key_ty).map_err(|e| e.in_index(0))?,
            to_val(value, value_ty).map_err(|e| e.in_index(1))?,
        )),
        _ => Err(ValueError::new(format!(
            "expected a [key, value] pair of {}, got {}",
            wit_type(ty),
            got(item)
        ))),
    }
}

/// A case of a variant, enum or result: `"case"` (no payload) or `{"case": payload}`.
/// Returns the WIT name of the case and its payload.
fn case<'t>(
    json: &Value,
    ty: &Type,
    cases: impl Iterator<Item = Case<'t>>,
) -> Result<(String, Option<Val>), ValueError> {
    let cases: Vec<Case<'t>> = cases.collect();
    let (given, payload) = match json {
        Value::String(name) => (name.as_str(), None),
        Value::Object(object) if object.len() == 1 => {
            let (name, payload) = object.iter().next().expect("one entry");
            (name.as_str(), Some(payload))
        }
        _ => return Err(mismatch(json, ty)),
    };
    let case = match names::lookup(given, cases.iter().map(|case| case.name)) {
        Lookup::Found(index) => &cases[index],
        Lookup::Unknown => {
            return Err(ValueError::new(format!(
                "unknown case `{given}`; expected {}",
                expected(ty)
            )));
        }
        Lookup::Ambiguous(candidates) => {
            return Err(ValueError::new(format!(
                "case `{given}` could mean any of {}; use the exact name",
                candidates.join(", ")
            )));
        }
    };
    let name = case.name;
    let payload = match (&case.ty, payload) {
        (None, None | Some(Value::Null)) => None,
        (None, Some(other)) => {
            return Err(ValueError::new(format!(
                "case `{name}` has no payload, got {}; write \"{name}\"",
                got(other)
            )));
        }
        (Some(payload_ty), Some(payload)) => {
            Some(to_val(payload, payload_ty).map_err(|e| e.in_name(name))?)
        }
        (Some(payload_ty), None) => {
            let example = json!({ name: super::describe::example(payload_ty) });
            return Err(ValueError::new(format!(
                "case `{name}` needs a payload of type {}; write it as {example}",
                wit_type(payload_ty)
            )));
        }
    };
    Ok((name.to_string(), payload))
}

/// The payload of an option (see the module docs for nested options).
fn option_payload(json: &Value, payload_ty: &Type) -> Result<Option<Val>, ValueError> {
    if json.is_null() {
        return Ok(None);
    }
    if let (Type::Option(_), Some(object)) = (payload_ty, json.as_object())
        && object.len() == 1
        && let Some(inner) = object.get("some")
    {
        return to_val(inner, payload_ty)
            .map(Some)
            .map_err(|e| e.in_name("some"));
    }
    to_val(json, payload_ty).map(Some)
}

/// The set flags, in declaration order (as wasmtime lifts them), from an array of names.
fn flag_names(json: &Value, flags: &Flags, ty: &Type) -> Result<Vec<String>, ValueError> {
    let items = array(json, ty, None)?;
    let all: Vec<&str> = flags.names().collect();
    let mut set = vec![false; all.len()];
    for (i, item) in items.iter().enumerate() {
        let error = |what: &str| {
            let e = ValueError::new(format!(
                "{what}; the flags are: {}",
                names::list(all.iter().copied())
            ));
            e.in_index(i)
        };
        let name = item
            .as_str()
            .ok_or_else(|| error(&format!("expected a flag name, got {}", got(item))))?;
        match names::lookup(name, all.iter().copied()) {
            Lookup::Found(index) => set[index] = true,
            Lookup::Unknown => return Err(error(&format!("unknown flag `{name}`"))),
            Lookup::Ambiguous(_) => {
                return Err(error(&format!(
                    "flag `{name}` is ambiguous; use the exact name"
                )));
            }
        }
    }
    Ok(all
        .iter()
        .zip(set)
        .filter(|(_, set)| *set)
        .map(|(name, _)| name.to_string())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_types::{ty, types};

    const DEFS: &[(&str, &str)] = &[
        (
            "point",
            r#"(record (field "x" s32) (field "y" s32) (field "label" (option string)))"#,
        ),
        (
            "limits",
            r#"(record (field "max-len" u32) (field "min-len" u32))"#,
        ),
        (
            "shape",
            r#"(variant (case "circle" float64) (case "rect" (tuple float64 float64)) (case "none"))"#,
        ),
        ("color", r#"(enum "red" "green" "dark-blue")"#),
        ("perms", r#"(flags "read" "write" "exec")"#),
        ("handle", "resource"),
    ];

    fn t(wat: &str) -> Type {
        ty(DEFS, wat)
    }

    fn err(json: Value, wat: &str) -> String {
        match to_val(&json, &t(wat)) {
            Ok(val) => panic!("{json} was accepted as {wat}: {val:?}"),
            Err(e) => e.to_string(),
        }
    }

    /// `json` is accepted as `wat`, and is the canonical form: it survives JSON → Val → JSON
    /// unchanged and the value survives Val → JSON → Val unchanged.
    fn assert_round_trip(wat: &str, json: Value) {
        let ty = t(wat);
        let val = to_val(&json, &ty).unwrap_or_else(|e| panic!("{json} as {wat}: {e}"));
        let back = from_val(&val);
        assert_eq!(back, json, "{wat}: JSON → Val → JSON");
        let again = to_val(&back, &ty).unwrap_or_else(|e| panic!("{back} as {wat}: {e}"));
        assert_eq!(again, val, "{wat}: Val → JSON → Val");
    }

    #[test]
    fn every_type_round_trips() {
        let cases = [
            ("bool", json!(true)),
            ("bool", json!(false)),
            ("s8", json!(-5)),
            ("u16", json!(65535)),
            ("s64", json!(i64::MIN)),
            ("u64", json!(u64::MAX)),
            ("float32", json!(0.1)),
            ("float32", json!(-0.0)),
            ("float32", json!("NaN")),
            ("float64", json!(1.5e300)),
            ("float64", json!("inf")),
            ("float64", json!("-inf")),
            ("char", json!("é")),
            ("char", json!("🦀")),
            ("string", json!("hello \"world\"")),
            ("(list u32)", json!([1, 2, 3])),
            ("(list u32)", json!([])),
            ("(list u8 3)", json!([1, 2, 3])),
            ("(tuple u8 string)", json!([7, "x"])),
            ("$point", json!({"x": 1, "y": -2, "label": "a"})),
            ("$point", json!({"x": 1, "y": -2, "label": null})),
            ("$limits", json!({"max-len": 10, "min-len": 1})),
            ("$shape", json!({"circle": 2.5})),
            ("$shape", json!({"rect": [1.0, 2.0]})),
            ("$shape", json!("none")),
            ("$color", json!("dark-blue")),
            ("$perms", json!(["read", "exec"])),
            ("$perms", json!([])),
            ("(option u32)", json!(null)),
            ("(option u32)", json!(7)),
            ("(option (option u32))", json!(null)),
            ("(option (option u32))", json!({"some": null})),
            ("(option (option u32))", json!({"some": 7})),
            (
                "(option (option (option u32)))",
                json!({"some": {"some": null}}),
            ),
            ("(result u64 (error string))", json!({"ok": 5})),
            ("(result u64 (error string))", json!({"err": "boom"})),
            ("(result (option u8))", json!({"ok": null})),
            ("(result (error string))", json!({"ok": null})),
            ("(result)", json!({"err": null})),
            ("(map string u32)", json!([["a", 1], ["b", 2]])),
            ("(map u8 bool)", json!([[1, true]])),
            (
                "(list (list $point))",
                json!([[{"x": 0, "y": 0, "label": null}]]),
            ),
        ];
        for (wat, json) in cases {
            assert_round_trip(wat, json);
        }
    }

    #[test]
    fn integer_bounds_for_every_width() {
        let bounds: [(&str, i128, i128); 8] = [
            ("s8", i8::MIN.into(), i8::MAX.into()),
            ("u8", u8::MIN.into(), u8::MAX.into()),
            ("s16", i16::MIN.into(), i16::MAX.into()),
            ("u16", u16::MIN.into(), u16::MAX.into()),
            ("s32", i32::MIN.into(), i32::MAX.into()),
            ("u32", u32::MIN.into(), u32::MAX.into()),
            ("s64", i64::MIN.into(), i64::MAX.into()),
            ("u64", u64::MIN.into(), u64::MAX.into()),
        ];
        for (wat, min, max) in bounds {
            let ty = t(wat);
            for ok in [min, max] {
                // Through JSON text, so the number is parsed the way inputs are.
                let json: Value = serde_json::from_str(&ok.to_string()).unwrap();
                let val = to_val(&json, &ty).unwrap_or_else(|e| panic!("{ok} as {wat}: {e}"));
                assert_eq!(from_val(&val).to_string(), ok.to_string(), "{wat}");
            }
            for bad in [min - 1, max + 1] {
                let json: Value = serde_json::from_str(&bad.to_string()).unwrap();
                let message = err(json, wat);
                let expected = format!("expected {wat} (an integer from {min} to {max}), got ");
                assert!(message.starts_with(&expected), "{message}");
            }
        }
    }

    #[test]
    fn sixty_four_bit_extremes_are_exact() {
        assert_eq!(
            to_val(&json!(u64::MAX), &t("u64")).unwrap(),
            Val::U64(u64::MAX)
        );
        assert_eq!(
            to_val(&json!(i64::MIN), &t("s64")).unwrap(),
            Val::S64(i64::MIN)
        );
        assert_eq!(
            from_val(&Val::U64(u64::MAX)).to_string(),
            "18446744073709551615"
        );
        assert_eq!(
            from_val(&Val::S64(i64::MIN)).to_string(),
            "-9223372036854775808"
        );
        // Decimal strings, for producers that cannot write such numbers exactly.
        assert_eq!(
            to_val(&json!("18446744073709551615"), &t("u64")).unwrap(),
            Val::U64(u64::MAX)
        );
    }

    #[test]
    fn integers_reject_fractions_and_other_kinds() {
        assert_eq!(
            err(json!(3.5), "s32"),
            "expected s32 (an integer from -2147483648 to 2147483647), got 3.5"
        );
        assert_eq!(to_val(&json!(3.0), &t("u8")).unwrap(), Val::U8(3));
        assert_eq!(to_val(&json!(1e3), &t("u16")).unwrap(), Val::U16(1000));
        assert!(err(json!(1e300), "u64").ends_with("got 1e+300"));
        // Integral, but beyond 2^53 a float may be a rounded, different integer.
        assert!(err(json!(1e18), "u64").ends_with("got 1e+18"));
        assert_eq!(
            to_val(&json!(9007199254740992.0), &t("u64")).unwrap(),
            Val::U64(1 << 53)
        );
        assert!(err(json!("12abc"), "u32").contains(r#"got "12abc""#));
        assert!(err(json!(true), "s8").contains("got true"));
        assert!(err(json!(null), "u8").contains("got null"));
        assert!(err(json!(-1), "u64").starts_with("expected u64"));
    }

    #[test]
    fn non_finite_floats() {
        for (text, expected) in [
            ("NaN", f64::NAN),
            ("nan", f64::NAN),
            ("inf", f64::INFINITY),
            ("+inf", f64::INFINITY),
            ("Infinity", f64::INFINITY),
            ("-inf", f64::NEG_INFINITY),
            ("-Infinity", f64::NEG_INFINITY),
        ] {
            assert_eq!(
                to_val(&json!(text), &t("float64")).unwrap(),
                Val::Float64(expected),
                "{text}"
            );
        }
        assert!(matches!(
            to_val(&json!("-inf"), &t("float32")).unwrap(),
            Val::Float32(f) if f == f32::NEG_INFINITY
        ));
        assert_eq!(from_val(&Val::Float64(f64::NAN)), json!("NaN"));
        assert_eq!(from_val(&Val::Float32(f32::INFINITY)), json!("inf"));
        assert_eq!(from_val(&Val::Float64(f64::NEG_INFINITY)), json!("-inf"));
        assert!(err(json!("infinite"), "float64").starts_with("expected f64 (a number"));
        assert!(err(json!(1e300), "float32").contains("too large for f32"));
    }

    #[test]
    fn floats_accept_integers_and_keep_f32_short() {
        assert_eq!(to_val(&json!(3), &t("float64")).unwrap(), Val::Float64(3.0));
        assert_eq!(from_val(&Val::Float32(0.1)).to_string(), "0.1");
        let tiny = f32::from_bits(1);
        assert_round_trip("float32", from_val(&Val::Float32(tiny)));
    }

    #[test]
    fn chars_are_exactly_one_character() {
        assert_eq!(to_val(&json!("x"), &t("char")).unwrap(), Val::Char('x'));
        for bad in [json!("ab"), json!(""), json!(65)] {
            let message = err(bad, "char");
            assert!(message.starts_with("expected char (a string of exactly one character)"));
        }
    }

    #[test]
    fn records_accept_snake_case_and_absent_options() {
        let val = to_val(&json!({"max_len": 3, "minLen": 1}), &t("$limits")).unwrap();
        assert_eq!(
            val,
            Val::Record(vec![
                ("max-len".into(), Val::U32(3)),
                ("min-len".into(), Val::U32(1)),
            ])
        );
        let val = to_val(&json!({"y": 2, "x": 1}), &t("$point")).unwrap();
        assert_eq!(
            val,
            Val::Record(vec![
                ("x".into(), Val::S32(1)),
                ("y".into(), Val::S32(2)),
                ("label".into(), Val::Option(None)),
            ])
        );
    }

    #[test]
    fn record_errors_name_the_field() {
        assert_eq!(
            err(json!({"x": 1}), "$point"),
            "missing field `y` (s32); the record's fields are: x: s32, y: s32, label: option<string>"
        );
        assert_eq!(
            err(json!({"x": 1, "y": 2, "z": 3}), "$point"),
            "unknown field `z`; the record's fields are: x: s32, y: s32, label: option<string>"
        );
        assert_eq!(
            err(json!({"max-len": 1, "max_len": 2, "min-len": 0}), "$limits"),
            "field `max-len` is given twice (as `max-len` and `max_len`); give it once"
        );
        assert_eq!(
            err(json!({"x": 1, "y": 2, "label": 5}), "$point"),
            "at `label`: expected string (a string), got 5"
        );
        assert!(err(json!([1, 2]), "$point").starts_with("expected record { x: s32"));
    }

    #[test]
    fn paths_lead_to_the_bad_part() {
        let points = json!([
            {"x": 0, "y": 0},
            {"x": 1, "y": 1},
            {"x": 3.5, "y": 2},
        ]);
        assert_eq!(
            err(points, "(list $point)"),
            "at `[2].x`: expected s32 (an integer from -2147483648 to 2147483647), got 3.5"
        );
        assert_eq!(
            err(json!({"rect": [1.0, "wide"]}), "$shape"),
            "at `rect[1]`: expected f64 (a number, \"NaN\", \"inf\" or \"-inf\"), got \"wide\""
        );
        assert!(
            err(json!({"ok": -1}), "(result u64 (error string))")
                .starts_with("at `ok`: expected u64")
        );
        assert!(
            err(json!({"some": "x"}), "(option (option u32))")
                .starts_with("at `some`: expected u32")
        );
        assert_eq!(
            err(json!([[1, true], [2, 3]]), "(map u8 bool)"),
            "at `[1][1]`: expected bool (true or false), got 3"
        );
        assert!(err(json!({"a": "x"}), "(map string u32)").starts_with("at `a`: expected u32"));
    }

    #[test]
    fn tuples_and_fixed_lists_have_exact_length() {
        assert_eq!(
            err(json!([1]), "(tuple u8 string)"),
            "expected tuple<u8, string> (an array of exactly 2 elements), got [1]"
        );
        assert!(err(json!([1, 2]), "(list u8 3)").starts_with("expected list<u8, 3>"));
        assert!(err(json!("abc"), "(list u8)").starts_with("expected list<u8> (an array)"));
    }

    #[test]
    fn variant_and_enum_cases() {
        let shape = t("$shape");
        assert_eq!(
            to_val(&json!("None"), &shape).unwrap(),
            Val::Variant("none".into(), None)
        );
        assert_eq!(
            to_val(&json!({"none": null}), &shape).unwrap(),
            Val::Variant("none".into(), None)
        );
        assert_eq!(
            to_val(&json!({"Circle": 1}), &shape).unwrap(),
            Val::Variant("circle".into(), Some(Box::new(Val::Float64(1.0))))
        );
        assert_eq!(
            err(json!("circle"), "$shape"),
            r#"case `circle` needs a payload of type f64; write it as {"circle":1.5}"#
        );
        assert_eq!(
            err(json!({"none": 1}), "$shape"),
            r#"case `none` has no payload, got 1; write "none""#
        );
        assert!(
            err(json!("square"), "$shape").starts_with("unknown case `square`; expected variant")
        );
        assert!(err(json!({"circle": 1, "none": null}), "$shape").starts_with("expected variant"));

        let color = t("$color");
        for given in ["dark-blue", "dark_blue", "DarkBlue", "DARK-BLUE"] {
            assert_eq!(
                to_val(&json!(given), &color).unwrap(),
                Val::Enum("dark-blue".into()),
                "{given}"
            );
        }
        assert_eq!(
            err(json!("purple"), "$color"),
            r#"unknown case `purple`; expected enum { red, green, dark-blue } (one of "red", "green", "dark-blue")"#
        );
    }

    #[test]
    fn results_accept_rust_style_names_and_bare_cases() {
        let ty = t("(result u64 (error string))");
        assert_eq!(
            to_val(&json!({"Ok": 1}), &ty).unwrap(),
            Val::Result(Ok(Some(Box::new(Val::U64(1)))))
        );
        assert_eq!(
            to_val(&json!({"Err": "no"}), &ty).unwrap(),
            Val::Result(Err(Some(Box::new(Val::String("no".into())))))
        );
        let unit = t("(result (error string))");
        assert_eq!(to_val(&json!("ok"), &unit).unwrap(), Val::Result(Ok(None)));
        assert_eq!(
            to_val(&json!({"ok": null}), &unit).unwrap(),
            Val::Result(Ok(None))
        );
        assert!(
            err(json!("ok"), "(result u64 (error string))")
                .starts_with("case `ok` needs a payload")
        );
        assert!(err(json!({"value": 1}), "(result u64)").starts_with("unknown case `value`"));
    }

    #[test]
    fn flags_are_sets_in_declaration_order() {
        let perms = t("$perms");
        assert_eq!(
            to_val(&json!(["exec", "READ", "exec"]), &perms).unwrap(),
            Val::Flags(vec!["read".into(), "exec".into()])
        );
        assert_eq!(
            err(json!(["read", "delete"]), "$perms"),
            "at `[1]`: unknown flag `delete`; the flags are: read, write, exec"
        );
        assert_eq!(
            err(json!([1]), "$perms"),
            "at `[0]`: expected a flag name, got 1; the flags are: read, write, exec"
        );
    }

    #[test]
    fn options_without_the_wrapper_unless_nested() {
        let nested = t("(option (option u32))");
        assert_eq!(
            to_val(&json!(5), &nested).unwrap(),
            Val::Option(Some(Box::new(Val::Option(Some(Box::new(Val::U32(5)))))))
        );
        assert_eq!(
            to_val(&json!({"some": null}), &nested).unwrap(),
            Val::Option(Some(Box::new(Val::Option(None))))
        );
        // A plain option does not treat `{"some": ..}` specially.
        assert!(err(json!({"some": 1}), "(option u32)").starts_with("expected u32"));
    }

    #[test]
    fn maps_accept_objects_for_string_keys() {
        assert_eq!(
            to_val(&json!({"a": 1}), &t("(map string u32)")).unwrap(),
            Val::Map(vec![(Val::String("a".into()), Val::U32(1))])
        );
        assert_eq!(
            err(json!([[1]]), "(map u8 bool)"),
            "at `[0]`: expected a [key, value] pair of map<u8, bool>, got [1]"
        );
    }

    #[test]
    fn resources_are_unsupported() {
        let tys = types(
            DEFS,
            &["(own $handle)", "(list (tuple u8 (borrow $handle)))"],
        );
        let message = to_val(&json!(1), &tys[0]).unwrap_err().to_string();
        assert!(
            message.starts_with("values of type own<resource> cannot be encoded as JSON"),
            "{message}"
        );
        assert!(check_plain_data(&tys[0]).is_err());
        let nested = check_plain_data(&tys[1]).unwrap_err();
        assert_eq!(nested.path(), "[0][1]");
        assert!(nested.message().contains("borrow<resource>"));
        for plain in [
            "$point",
            "$shape",
            "(result u64 (error string))",
            "(map string u8)",
        ] {
            assert_eq!(check_plain_data(&t(plain)), Ok(()), "{plain}");
        }
    }
}
