//! Telling a user what the JSON for a type looks like.
//!
//! Every value error says what was expected (the WIT type plus the shape of its JSON) and what
//! was given, and `key=value` errors add a valid example, so a user can fix the input without
//! reading the component's WIT or this crate's encoding rules.

use serde_json::{Map, Value, json};
use wasmtime::component::Type;

use super::names;
use super::wit_type::wit_type;

/// `s32 (an integer from -2147483648 to 2147483647)`: the WIT type and the JSON it takes.
pub(crate) fn expected(ty: &Type) -> String {
    format!("{} ({})", wit_type(ty), shape(ty))
}

/// The JSON shape that encodes a value of `ty`, as a phrase.
fn shape(ty: &Type) -> String {
    match ty {
        Type::Bool => "true or false".into(),
        Type::S8 => range(i8::MIN, i8::MAX),
        Type::U8 => range(u8::MIN, u8::MAX),
        Type::S16 => range(i16::MIN, i16::MAX),
        Type::U16 => range(u16::MIN, u16::MAX),
        Type::S32 => range(i32::MIN, i32::MAX),
        Type::U32 => range(u32::MIN, u32::MAX),
        Type::S64 => range(i64::MIN, i64::MAX),
        Type::U64 => range(u64::MIN, u64::MAX),
        Type::Float32 | Type::Float64 => r#"a number, "NaN", "inf" or "-inf""#.into(),
        Type::Char => "a string of exactly one character".into(),
        Type::String => "a string".into(),
        Type::List(_) => "an array".into(),
        Type::FixedLengthList(list) => elements(list.len() as usize),
        Type::Tuple(tuple) => elements(tuple.types().len()),
        Type::Map(_) => "an array of [key, value] pairs, or an object for string keys".into(),
        Type::Record(_) => "an object keyed by field name".into(),
        Type::Variant(variant) => {
            let cases: Vec<String> = variant
                .cases()
                .map(|case| match case.ty {
                    None => format!("\"{}\"", case.name),
                    Some(ty) => format!("{{\"{}\": {}}}", case.name, wit_type(&ty)),
                })
                .collect();
            format!("one of {}", cases.join(", "))
        }
        Type::Enum(enum_) => {
            let names = enum_.names().map(|name| format!("\"{name}\""));
            format!("one of {}", names.collect::<Vec<_>>().join(", "))
        }
        Type::Option(option) => format!("null or {}", shape(&option.ty())),
        Type::Result(result) => {
            let side = |name: &str, ty: Option<Type>| match ty {
                Some(ty) => format!("{{\"{name}\": {}}}", wit_type(&ty)),
                None => format!("{{\"{name}\": null}}"),
            };
            format!(
                "{} or {}",
                side("ok", result.ok()),
                side("err", result.err())
            )
        }
        Type::Flags(flags) => format!(
            "an array of flag names from: {}",
            names::list(flags.names())
        ),
        Type::Own(_) | Type::Borrow(_) | Type::Future(_) | Type::Stream(_) | Type::ErrorContext => {
            "not representable as JSON".into()
        }
    }
}

fn range(min: impl ToString, max: impl ToString) -> String {
    format!("an integer from {} to {}", min.to_string(), max.to_string())
}

fn elements(count: usize) -> String {
    match count {
        1 => "an array of exactly 1 element".into(),
        n => format!("an array of exactly {n} elements"),
    }
}

/// A short rendering of the JSON the user gave, for "got ..." in messages.
pub(crate) fn got(json: &Value) -> String {
    const MAX: usize = 60;
    let text = json.to_string();
    if text.chars().count() <= MAX {
        text
    } else {
        let mut short: String = text.chars().take(MAX - 3).collect();
        short.push_str("...");
        short
    }
}

/// A valid JSON value of `ty`, for "for example ..." hints. `null` for types that JSON cannot
/// represent.
pub(crate) fn example(ty: &Type) -> Value {
    match ty {
        Type::Bool => json!(true),
        Type::S8
        | Type::U8
        | Type::S16
        | Type::U16
        | Type::S32
        | Type::U32
        | Type::S64
        | Type::U64 => json!(42),
        Type::Float32 | Type::Float64 => json!(1.5),
        Type::Char => json!("a"),
        Type::String => json!("hello"),
        Type::List(list) => json!([example(&list.ty())]),
        Type::FixedLengthList(list) => Value::Array(vec![example(&list.ty()); list.len() as usize]),
        Type::Tuple(tuple) => tuple.types().map(|ty| example(&ty)).collect(),
        Type::Map(map) => json!([[example(&map.key()), example(&map.value())]]),
        Type::Record(record) => Value::Object(
            record
                .fields()
                .map(|field| (field.name.to_string(), example(&field.ty)))
                .collect::<Map<_, _>>(),
        ),
        Type::Variant(variant) => match variant.cases().next() {
            Some(case) => match case.ty {
                None => json!(case.name),
                Some(ty) => json!({ case.name: example(&ty) }),
            },
            None => Value::Null,
        },
        Type::Enum(enum_) => enum_.names().next().map_or(Value::Null, |name| json!(name)),
        // The example of the payload is also valid for nested options (see `json::to_val`).
        Type::Option(option) => example(&option.ty()),
        Type::Result(result) => json!({ "ok": result.ok().map_or(Value::Null, |ty| example(&ty)) }),
        Type::Flags(flags) => flags.names().take(1).collect(),
        Type::Own(_) | Type::Borrow(_) | Type::Future(_) | Type::Stream(_) | Type::ErrorContext => {
            Value::Null
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::to_val;
    use crate::test_types::types;

    const DEFS: &[(&str, &str)] = &[
        ("point", r#"(record (field "x" s32) (field "y" s32))"#),
        (
            "shape",
            r#"(variant (case "circle" float64) (case "none"))"#,
        ),
        (
            "empty-first",
            r#"(variant (case "none") (case "circle" float64))"#,
        ),
        ("color", r#"(enum "red" "green")"#),
        ("perms", r#"(flags "read" "write")"#),
    ];

    const TYPES: &[&str] = &[
        "bool",
        "s8",
        "u64",
        "float32",
        "char",
        "string",
        "(list $point)",
        "(tuple u8 string)",
        "$shape",
        "$empty-first",
        "$color",
        "$perms",
        "(option (option u8))",
        "(result u64 (error string))",
        "(result (error string))",
        "(map string u32)",
        "(list u8 3)",
    ];

    #[test]
    fn every_example_is_valid_for_its_type() {
        for (wat, ty) in TYPES.iter().zip(types(DEFS, TYPES)) {
            let example = example(&ty);
            if let Err(e) = to_val(&example, &ty) {
                panic!("example {example} of {wat} is invalid: {e}");
            }
        }
    }

    #[test]
    fn expectations_name_the_type_and_its_json() {
        let tys = types(
            DEFS,
            &["s32", "u8", "(tuple u8 string)", "$color", "$shape"],
        );
        let expectations: Vec<String> = tys.iter().map(expected).collect();
        assert_eq!(
            expectations,
            [
                "s32 (an integer from -2147483648 to 2147483647)",
                "u8 (an integer from 0 to 255)",
                "tuple<u8, string> (an array of exactly 2 elements)",
                r#"enum { red, green } (one of "red", "green")"#,
                r#"variant { circle(f64), none } (one of {"circle": f64}, "none")"#,
            ]
        );
    }

    #[test]
    fn long_inputs_are_shortened() {
        let long = Value::String("x".repeat(100));
        let shown = got(&long);
        assert_eq!(shown.chars().count(), 60);
        assert!(shown.ends_with("..."));
        assert_eq!(got(&json!(3.5)), "3.5");
    }
}
