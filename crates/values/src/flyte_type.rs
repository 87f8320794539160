//! The Flyte literal type of a component type.
//!
//! Flyte's type system is smaller than WIT's, so the mapping is many-to-one:
//!
//! | WIT                                    | Flyte                       |
//! |----------------------------------------|-----------------------------|
//! | `bool`                                 | `BOOLEAN`                   |
//! | `s8`..`s64`, `u8`..`u64`               | `INTEGER` (an `i64`; `u64` values above `i64::MAX` do not fit) |
//! | `f32`, `f64`                           | `FLOAT`                     |
//! | `char`, `string`                       | `STRING`                    |
//! | `list<T>`                              | `collection(T)`             |
//! | `datetime`, `duration` (`wasmdask:task/data`) | `DATETIME`, `DURATION` |
//! | `file`, `directory`                    | `Blob` single (FlyteFile), `Blob` multipart (FlyteDirectory), any format |
//! | `structured-dataset`                   | `StructuredDataset`, format `parquet`, with the columns of its `columns` record if it has one |
//! | `option<T>`                            | `union(T, NONE)`, flytekit's `Optional[T]` (variants tagged as flytekit tags them); `option<option<T>>` is the same union, as `Optional[Optional[T]]` is `Optional[T]` |
//! | `record`, `variant`, `enum`, `flags`, `tuple`, `map`, fixed-length `list`, nested `result` | `STRUCT` |
//! | the function result `result<T, E>`     | the type of `T`; `err` becomes a task error |
//! | no function result                     | `NONE`                      |
//!
//! Why: an `option<T>` is exactly what a Python `Optional[T]` is, and flytekit writes `None`
//! only as a union literal (`scalar.union` holding the value and its variant's type), so a
//! task typed `union(T, NONE)` takes what a Python task hands it and gives a Python task what it
//! reads back (`execute` still accepts a plain `T` literal and an absent input for an option).
//! In `option<option<T>>`, `some(none)` cannot be told from `none` in Flyte (nor in Python): it
//! is written as `none`. Everything structured is a `STRUCT` holding the value's JSON from
//! [`from_val`](super::from_val), so it round-trips through Flyte unchanged and a Python task
//! reads the same shape a guest receives; one generic type is simpler and more faithful than
//! mapping each WIT shape onto a different Flyte construct.

use std::fmt;

use wasmtime::component::Type;

use super::data::{DataType, data_type};

/// The Flyte `LiteralType` of a task input or output (its `simple` type, or a collection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlyteType {
    /// `SimpleType.NONE`: a function without a result.
    None,
    /// `SimpleType.BOOLEAN`.
    Boolean,
    /// `SimpleType.INTEGER`.
    Integer,
    /// `SimpleType.FLOAT`.
    Float,
    /// `SimpleType.STRING`.
    String,
    /// `LiteralType.collection_type`.
    Collection(Box<FlyteType>),
    /// `SimpleType.STRUCT`, holding the value's JSON (see the module docs).
    Struct,
    /// `SimpleType.DATETIME`.
    Datetime,
    /// `SimpleType.DURATION`.
    Duration,
    /// `BlobType` with `SINGLE` dimensionality and any format: a `FlyteFile`.
    File,
    /// `BlobType` with `MULTIPART` dimensionality and any format: a `FlyteDirectory`.
    Directory,
    /// `StructuredDatasetType` of format `parquet`; no columns means any columns.
    Dataset(Vec<(String, FlyteType)>),
    /// `UnionType` of the payload's type and `NONE`: an `option`. An option of an option keeps
    /// its nesting here (the JSON of its values does), though its Flyte type is the same union
    /// ([`FlyteType::payload`]).
    Optional(Box<FlyteType>),
}

impl FlyteType {
    /// The type inside any number of [`FlyteType::Optional`]s: the non-`NONE` variant of the
    /// union an option's Flyte type is.
    pub fn payload(&self) -> &FlyteType {
        match self {
            FlyteType::Optional(inner) => inner.payload(),
            other => other,
        }
    }
}

/// The format of the structured datasets wasmdask tasks read and write.
pub const DATASET_FORMAT: &str = "parquet";

/// The Flyte type of a value of `ty` (a parameter, or an element of a structure).
pub fn flyte_type(ty: &Type) -> FlyteType {
    if let Some(data) = data_type(ty) {
        return match data {
            DataType::Datetime => FlyteType::Datetime,
            DataType::Duration => FlyteType::Duration,
            DataType::File => FlyteType::File,
            DataType::Directory => FlyteType::Directory,
            DataType::Dataset { columns } => FlyteType::Dataset(
                columns
                    .unwrap_or_default()
                    .iter()
                    .map(|(name, ty)| (name.replace('-', "_"), flyte_type(ty)))
                    .collect(),
            ),
        };
    }
    match ty {
        Type::Bool => FlyteType::Boolean,
        Type::S8
        | Type::U8
        | Type::S16
        | Type::U16
        | Type::S32
        | Type::U32
        | Type::S64
        | Type::U64 => FlyteType::Integer,
        Type::Float32 | Type::Float64 => FlyteType::Float,
        Type::Char | Type::String => FlyteType::String,
        Type::List(list) => FlyteType::Collection(Box::new(flyte_type(&list.ty()))),
        Type::Option(option) => FlyteType::Optional(Box::new(flyte_type(&option.ty()))),
        _ => FlyteType::Struct,
    }
}

/// The Flyte type of a function's output, given its result type (`None` when it has none):
/// `result<T, E>` is the type of `T` because an `err` becomes a task error, not an output.
pub fn flyte_output_type(result: Option<&Type>) -> FlyteType {
    match result {
        None => FlyteType::None,
        Some(Type::Result(result)) => result.ok().map_or(FlyteType::None, |ok| flyte_type(&ok)),
        Some(ty) => flyte_type(ty),
    }
}

impl fmt::Display for FlyteType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlyteType::None => f.write_str("NONE"),
            FlyteType::Boolean => f.write_str("BOOLEAN"),
            FlyteType::Integer => f.write_str("INTEGER"),
            FlyteType::Float => f.write_str("FLOAT"),
            FlyteType::String => f.write_str("STRING"),
            FlyteType::Collection(element) => write!(f, "collection({element})"),
            FlyteType::Struct => f.write_str("STRUCT"),
            FlyteType::Datetime => f.write_str("DATETIME"),
            FlyteType::Duration => f.write_str("DURATION"),
            FlyteType::File => f.write_str("BLOB(single)"),
            FlyteType::Directory => f.write_str("BLOB(multipart)"),
            FlyteType::Dataset(columns) => {
                write!(f, "STRUCTURED_DATASET({DATASET_FORMAT}")?;
                for (i, (name, ty)) in columns.iter().enumerate() {
                    f.write_str(if i == 0 { ": " } else { ", " })?;
                    write!(f, "{name} {ty}")?;
                }
                f.write_str(")")
            }
            FlyteType::Optional(_) => write!(f, "union({}, NONE)", self.payload()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_types::types;

    const DEFS: &[(&str, &str)] = &[
        ("point", r#"(record (field "x" s32) (field "y" s32))"#),
        (
            "shape",
            r#"(variant (case "circle" float64) (case "none"))"#,
        ),
        ("color", r#"(enum "red" "green")"#),
        ("perms", r#"(flags "read" "write")"#),
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
            "table",
            r#"(record (field "dataset-path" string) (field "uri" string) (field "format" string))"#,
        ),
        (
            "row",
            r#"(record (field "region" string) (field "amount" float64) (field "units" s64))"#,
        ),
        (
            "sales",
            r#"(record (field "dataset-path" string) (field "uri" string) (field "format" string) (field "columns" (option $row)))"#,
        ),
    ];

    #[test]
    fn maps_the_data_types() {
        let cases = [
            ("$datetime", "DATETIME"),
            ("$duration", "DURATION"),
            ("$file", "BLOB(single)"),
            ("$directory", "BLOB(multipart)"),
            ("(list $file)", "collection(BLOB(single))"),
            ("$table", "STRUCTURED_DATASET(parquet)"),
            ("(option $file)", "union(BLOB(single), NONE)"),
            ("(option $datetime)", "union(DATETIME, NONE)"),
            (
                "$sales",
                "STRUCTURED_DATASET(parquet: region STRING, amount FLOAT, units INTEGER)",
            ),
        ];
        let tys = types(DEFS, &cases.map(|(wat, _)| wat));
        for ((wat, flyte), ty) in cases.iter().zip(&tys) {
            assert_eq!(flyte_type(ty).to_string(), *flyte, "for {wat}");
        }
    }

    #[test]
    fn maps_every_kind_of_type() {
        let cases = [
            ("bool", "BOOLEAN"),
            ("s8", "INTEGER"),
            ("u8", "INTEGER"),
            ("s16", "INTEGER"),
            ("u16", "INTEGER"),
            ("s32", "INTEGER"),
            ("u32", "INTEGER"),
            ("s64", "INTEGER"),
            ("u64", "INTEGER"),
            ("float32", "FLOAT"),
            ("float64", "FLOAT"),
            ("char", "STRING"),
            ("string", "STRING"),
            ("(list float64)", "collection(FLOAT)"),
            ("(list (list string))", "collection(collection(STRING))"),
            ("(option u32)", "union(INTEGER, NONE)"),
            ("(option (option u32))", "union(INTEGER, NONE)"),
            ("(list (option bool))", "collection(union(BOOLEAN, NONE))"),
            (
                "(option (list (option string)))",
                "union(collection(union(STRING, NONE)), NONE)",
            ),
            ("(option $point)", "union(STRUCT, NONE)"),
            ("(list $point)", "collection(STRUCT)"),
            ("$point", "STRUCT"),
            ("$shape", "STRUCT"),
            ("$color", "STRUCT"),
            ("$perms", "STRUCT"),
            ("(tuple u8 string)", "STRUCT"),
            ("(result u64 (error string))", "STRUCT"),
            ("(map string u32)", "STRUCT"),
            ("(list u8 4)", "STRUCT"),
        ];
        let tys = types(DEFS, &cases.map(|(wat, _)| wat));
        for ((wat, flyte), ty) in cases.iter().zip(&tys) {
            assert_eq!(flyte_type(ty).to_string(), *flyte, "for {wat}");
        }
    }

    #[test]
    fn function_outputs_unwrap_results() {
        let wats = [
            "(result u64 (error string))",
            "(result (list float32) (error string))",
            "(result (error string))",
            "(result)",
            "(result (result u8 (error string)) (error string))",
            "(option string)",
            "$point",
            "(result (option u8) (error string))",
        ];
        let outputs: Vec<String> = types(DEFS, &wats)
            .iter()
            .map(|ty| flyte_output_type(Some(ty)).to_string())
            .collect();
        assert_eq!(
            outputs,
            [
                "INTEGER",
                "collection(FLOAT)",
                "NONE",
                "NONE",
                "STRUCT",
                "union(STRING, NONE)",
                "STRUCT",
                "union(INTEGER, NONE)"
            ]
        );
        assert_eq!(flyte_output_type(None), FlyteType::None);
    }
}
