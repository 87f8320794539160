//! Printing component types in WIT syntax.
//!
//! `inspect` shows a task's signature with it and every value error names the expected type
//! with it, so users see the same notation as in the `.wit` file they (or their bindings
//! generator) wrote. Component types are structural: a record prints as `record { x: s32 }`
//! because the type's WIT name is not part of the component's type information.

use std::fmt::Write;

use wasmtime::component::Type;

/// The WIT spelling of `ty`, e.g. `list<u32>`, `result<u64, string>`,
/// `record { x: s32, y: s32 }`, `variant { circle(f64), none }`.
pub fn wit_type(ty: &Type) -> String {
    let mut out = String::new();
    write_type(&mut out, ty);
    out
}

/// The parameter list of a function in WIT syntax, e.g. `n: u32, label: option<string>`
/// (empty for a function without parameters).
pub fn wit_params(params: &[(String, Type)]) -> String {
    wit_members(params.iter().map(|(name, ty)| (name.as_str(), ty)))
}

/// `a: T, b: U` for named members (record fields or parameters).
pub(crate) fn wit_members<'a>(members: impl Iterator<Item = (&'a str, &'a Type)>) -> String {
    members
        .map(|(name, ty)| format!("{name}: {}", wit_type(ty)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn write_type(out: &mut String, ty: &Type) {
    let simple = match ty {
        Type::Bool => "bool",
        Type::S8 => "s8",
        Type::U8 => "u8",
        Type::S16 => "s16",
        Type::U16 => "u16",
        Type::S32 => "s32",
        Type::U32 => "u32",
        Type::S64 => "s64",
        Type::U64 => "u64",
        Type::Float32 => "f32",
        Type::Float64 => "f64",
        Type::Char => "char",
        Type::String => "string",
        Type::ErrorContext => "error-context",
        // Resource types carry no name in the component's type information.
        Type::Own(_) => "own<resource>",
        Type::Borrow(_) => "borrow<resource>",
        _ => "",
    };
    if !simple.is_empty() {
        out.push_str(simple);
        return;
    }
    match ty {
        Type::List(list) => generic(out, "list", &[list.ty()]),
        Type::FixedLengthList(list) => {
            out.push_str("list<");
            write_type(out, &list.ty());
            // Writing to a String cannot fail.
            let _ = write!(out, ", {}>", list.len());
        }
        Type::Map(map) => generic(out, "map", &[map.key(), map.value()]),
        Type::Tuple(tuple) => generic(out, "tuple", &tuple.types().collect::<Vec<_>>()),
        Type::Option(option) => generic(out, "option", &[option.ty()]),
        Type::Result(result) => match (result.ok(), result.err()) {
            (None, None) => out.push_str("result"),
            (Some(ok), None) => generic(out, "result", &[ok]),
            (None, Some(err)) => {
                out.push_str("result<_, ");
                write_type(out, &err);
                out.push('>');
            }
            (Some(ok), Some(err)) => generic(out, "result", &[ok, err]),
        },
        Type::Future(future) => generic(out, "future", future.ty().as_slice()),
        Type::Stream(stream) => generic(out, "stream", stream.ty().as_slice()),
        Type::Record(record) => braced(
            out,
            "record",
            record.fields().map(|field| (field.name, Some(field.ty))),
            ": ",
        ),
        Type::Variant(variant) => braced(
            out,
            "variant",
            variant.cases().map(|case| (case.name, case.ty)),
            "(",
        ),
        Type::Enum(enum_) => braced(out, "enum", enum_.names().map(|n| (n, None)), ""),
        Type::Flags(flags) => braced(out, "flags", flags.names().map(|n| (n, None)), ""),
        _ => unreachable!("simple types are handled above"),
    }
}

/// `name<A, B>`, or just `name` without arguments (`future`, `stream`).
fn generic(out: &mut String, name: &str, args: &[Type]) {
    out.push_str(name);
    if args.is_empty() {
        return;
    }
    out.push('<');
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_type(out, arg);
    }
    out.push('>');
}

/// `keyword { a: T, b }` for records (`sep` = `": "`) or `keyword { a(T), b }` for variants
/// (`sep` = `"("`).
fn braced<'a>(
    out: &mut String,
    keyword: &str,
    items: impl Iterator<Item = (&'a str, Option<Type>)>,
    sep: &str,
) {
    out.push_str(keyword);
    out.push_str(" {");
    for (i, (name, ty)) in items.enumerate() {
        out.push_str(if i == 0 { " " } else { ", " });
        out.push_str(name);
        if let Some(ty) = ty {
            out.push_str(sep);
            write_type(out, &ty);
            if sep == "(" {
                out.push(')');
            }
        }
    }
    out.push_str(" }");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_types::{func_params, types};

    #[test]
    fn prints_wit_syntax() {
        let cases = [
            ("bool", "bool"),
            ("s8", "s8"),
            ("u64", "u64"),
            ("float32", "f32"),
            ("float64", "f64"),
            ("char", "char"),
            ("string", "string"),
            ("(list u32)", "list<u32>"),
            ("(option string)", "option<string>"),
            ("(result u64 (error string))", "result<u64, string>"),
            ("(result u64)", "result<u64>"),
            ("(result (error string))", "result<_, string>"),
            ("(result)", "result"),
            ("(tuple u8 string)", "tuple<u8, string>"),
            ("$point", "record { x: s32, y: s32 }"),
            ("$shape", "variant { circle(f64), none }"),
            ("$color", "enum { red, green }"),
            ("$perms", "flags { read, write }"),
            (
                "(list (option $point))",
                "list<option<record { x: s32, y: s32 }>>",
            ),
            ("(map string u32)", "map<string, u32>"),
            ("(list u8 4)", "list<u8, 4>"),
        ];
        let defs = [
            ("point", r#"(record (field "x" s32) (field "y" s32))"#),
            (
                "shape",
                r#"(variant (case "circle" float64) (case "none"))"#,
            ),
            ("color", r#"(enum "red" "green")"#),
            ("perms", r#"(flags "read" "write")"#),
        ];
        let tys = types(&defs, &cases.map(|(wat, _)| wat));
        for ((wat, wit), ty) in cases.iter().zip(&tys) {
            assert_eq!(wit_type(ty), *wit, "for {wat}");
        }
    }

    #[test]
    fn prints_parameter_lists() {
        let params = func_params(&[], r#"(param "n" u32) (param "label" (option string))"#);
        assert_eq!(wit_params(&params), "n: u32, label: option<string>");
        assert_eq!(wit_params(&[]), "");
    }
}
