//! A task export's Flyte interface: variable names and literal types.
//!
//! Flyte variable names are the WIT parameter names in snake_case (`sample-count` →
//! `sample_count`), because Flyte users bind inputs by Python keyword; the single output is `o0`,
//! as flytekit names the return value of a function.

use std::collections::HashMap;

use super::idl::core::{
    BlobType, LiteralType, SimpleType, StructuredDatasetType, TypeStructure, TypedInterface,
    UnionType, Variable, VariableMap, blob_type, literal_type, structured_dataset_type,
};
use wasmdask_sandbox::TaskSig;
use wasmdask_values::{DATASET_FORMAT, FlyteType, flyte_output_type, flyte_type};

/// The name flytekit gives a function's single output.
pub(crate) const OUTPUT_NAME: &str = "o0";

/// The Flyte variable name of a WIT parameter name.
pub(crate) fn variable_name(wit_name: &str) -> String {
    wit_name.replace('-', "_")
}

/// The Flyte `LiteralType` of a [`FlyteType`].
pub(crate) fn literal_type(ty: &FlyteType) -> LiteralType {
    let simple = |s: SimpleType| literal_type::Type::Simple(s as i32);
    let kind = match ty {
        FlyteType::None => simple(SimpleType::None),
        FlyteType::Boolean => simple(SimpleType::Boolean),
        FlyteType::Integer => simple(SimpleType::Integer),
        FlyteType::Float => simple(SimpleType::Float),
        FlyteType::String => simple(SimpleType::String),
        FlyteType::Struct => simple(SimpleType::Struct),
        FlyteType::Datetime => simple(SimpleType::Datetime),
        FlyteType::Duration => simple(SimpleType::Duration),
        FlyteType::File => literal_type::Type::Blob(blob(false)),
        FlyteType::Directory => literal_type::Type::Blob(blob(true)),
        FlyteType::Dataset(columns) => {
            literal_type::Type::StructuredDatasetType(dataset_type(columns))
        }
        FlyteType::Collection(element) => {
            literal_type::Type::CollectionType(Box::new(literal_type(element)))
        }
        FlyteType::Optional(_) => literal_type::Type::UnionType(UnionType {
            variants: vec![union_variant(ty.payload()), union_variant(&FlyteType::None)],
        }),
    };
    LiteralType {
        r#type: Some(kind),
        ..LiteralType::default()
    }
}

/// The type of a union variant holding a `ty` (not an option), tagged as flytekit tags the
/// variants of an `Optional[T]`: with the name of the transformer of the Python type `ty` maps
/// to, which is how flytekit tells which variant a union literal holds.
pub(crate) fn union_variant(ty: &FlyteType) -> LiteralType {
    LiteralType {
        structure: Some(TypeStructure {
            tag: union_tag(ty).into(),
        }),
        ..literal_type(ty)
    }
}

/// flytekit's transformer name for the Python type of `ty` (see flytekit's `TypeEngine`).
fn union_tag(ty: &FlyteType) -> &'static str {
    match ty {
        FlyteType::None => "none",
        FlyteType::Boolean => "bool",
        FlyteType::Integer => "int",
        FlyteType::Float => "float",
        FlyteType::String => "str",
        FlyteType::Datetime => "datetime",
        FlyteType::Duration => "timedelta",
        FlyteType::Collection(_) => "Typed List",
        // Records are dicts in Python (flytekit's `DictTransformer`).
        FlyteType::Struct => "Typed Dict",
        FlyteType::File => "FlyteFilePath",
        FlyteType::Directory => "FlyteDirectory",
        FlyteType::Dataset(_) => "StructuredDataset Transformer",
        FlyteType::Optional(inner) => union_tag(inner),
    }
}

/// The blob type of a `file` (single) or `directory` (multipart), of any format: what
/// flytekit writes for a plain `FlyteFile` / `FlyteDirectory`.
pub(crate) fn blob(multipart: bool) -> BlobType {
    BlobType {
        format: String::new(),
        dimensionality: if multipart {
            blob_type::BlobDimensionality::Multipart
        } else {
            blob_type::BlobDimensionality::Single
        } as i32,
    }
}

/// The parquet structured-dataset type with `columns` (none: any columns).
pub(crate) fn dataset_type(columns: &[(String, FlyteType)]) -> StructuredDatasetType {
    StructuredDatasetType {
        columns: columns
            .iter()
            .map(|(name, ty)| structured_dataset_type::DatasetColumn {
                name: name.clone(),
                literal_type: Some(literal_type(ty)),
            })
            .collect(),
        format: DATASET_FORMAT.into(),
        ..StructuredDatasetType::default()
    }
}

/// The typed interface of `task`: one input per parameter, `o0` for a result (none for a
/// function without one, or whose result is `result<_, E>`).
pub(crate) fn typed_interface(task: &TaskSig) -> TypedInterface {
    let variable = |name: &str, ty: &FlyteType| {
        (
            name.to_string(),
            Variable {
                r#type: Some(literal_type(ty)),
                description: name.to_string(),
            },
        )
    };
    let inputs: HashMap<String, Variable> = task
        .params
        .iter()
        .map(|(name, ty)| variable(&variable_name(name), &flyte_type(ty)))
        .collect();
    let output = flyte_output_type(task.result.as_ref());
    let outputs: HashMap<String, Variable> = match output {
        FlyteType::None => HashMap::new(),
        ty => [variable(OUTPUT_NAME, &ty)].into_iter().collect(),
    };
    TypedInterface {
        inputs: Some(VariableMap { variables: inputs }),
        outputs: Some(VariableMap { variables: outputs }),
    }
}
