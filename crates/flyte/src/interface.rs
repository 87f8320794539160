//! A task export's Flyte interface: variable names and literal types.
//!
//! Flyte variable names are the WIT parameter names in snake_case (`sample-count` →
//! `sample_count`), because Flyte users bind inputs by Python keyword; the single output is `o0`,
//! as flytekit names the return value of a function.

use std::collections::HashMap;

use super::idl::core::{
    LiteralType, SimpleType, TypedInterface, Variable, VariableMap, literal_type,
};
use wasmdask_sandbox::TaskSig;
use wasmdask_values::{FlyteType, flyte_output_type, flyte_type};

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
        FlyteType::Collection(element) => {
            literal_type::Type::CollectionType(Box::new(literal_type(element)))
        }
    };
    LiteralType {
        r#type: Some(kind),
        ..LiteralType::default()
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
