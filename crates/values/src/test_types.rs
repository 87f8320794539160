//! Test support: component [`Type`]s from WAT text, so tests need no canonical-ABI code.
//!
//! The component model only lets an imported function mention records, variants, enums and
//! flags through *named* (imported) types, so every definition in `defs` is imported under its
//! name and can be referred to as `$name` by later definitions and by the types asked for. The
//! definition `"resource"` imports an abstract resource type instead.

use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Type};
use wasmtime::{Config, Engine};

/// The types written in WAT (`"u32"`, `"(list $point)"`), given named definitions such as
/// `("point", r#"(record (field "x" s32))"#)`.
pub(crate) fn types(defs: &[(&str, &str)], tys: &[&str]) -> Vec<Type> {
    let imports: Vec<String> = tys
        .iter()
        .map(|ty| format!("(func (param \"p\" {ty}))"))
        .collect();
    imported_funcs(defs, &imports)
        .into_iter()
        .map(|mut params| params.remove(0).1)
        .collect()
}

/// One type written in WAT, given named definitions.
pub(crate) fn ty(defs: &[(&str, &str)], ty: &str) -> Type {
    types(defs, &[ty]).remove(0)
}

/// The parameters of a function written as WAT `(param "name" type)` clauses.
pub(crate) fn func_params(defs: &[(&str, &str)], params: &str) -> Vec<(String, Type)> {
    imported_funcs(defs, &[format!("(func {params})")]).remove(0)
}

/// Imports each function type in `funcs` (as `f0`, `f1`, ..) and returns their parameters.
fn imported_funcs(defs: &[(&str, &str)], funcs: &[String]) -> Vec<Vec<(String, Type)>> {
    let mut wat = String::from("(component\n");
    for (name, def) in defs {
        if *def == "resource" {
            wat += &format!("(import \"{name}\" (type ${name} (sub resource)))\n");
        } else {
            wat += &format!(
                "(type ${name}-def {def}) (import \"{name}\" (type ${name} (eq ${name}-def)))\n"
            );
        }
    }
    for (i, func) in funcs.iter().enumerate() {
        wat += &format!("(import \"f{i}\" {func})\n");
    }
    wat.push(')');
    let bytes = wat::parse_str(&wat).unwrap_or_else(|e| panic!("bad WAT: {e}\n{wat}"));
    let engine = engine();
    let component = Component::new(&engine, bytes)
        .unwrap_or_else(|e| panic!("invalid component: {e:?}\n{wat}"));
    let component_type = component.component_type();
    (0..funcs.len())
        .map(|i| {
            let import = component_type
                .get_import(&engine, &format!("f{i}"))
                .expect("the function is imported");
            match import.ty {
                ComponentItem::ComponentFunc(func) => func
                    .params()
                    .map(|(name, ty)| (name.to_string(), ty))
                    .collect(),
                other => panic!("`f{i}` is not a function: {other:?}"),
            }
        })
        .collect()
}

/// An engine that also accepts the opt-in `map` and fixed-length `list` types.
fn engine() -> Engine {
    let mut config = Config::new();
    config
        .wasm_component_model_map(true)
        .wasm_component_model_fixed_length_lists(true);
    Engine::new(&config).expect("valid engine config")
}
