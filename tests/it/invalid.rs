//! What is not a usable component, or not a valid call, is refused with a clear error.

use crate::common::*;
use serde_json::json;
use wasmdask_sandbox::ErrorKind;
use wasmdask_sandbox::{Limits, LoadError};
use wasmdask_values as values;

#[test]
fn corrupt_bytes_are_not_wasm() {
    let sandbox = sandbox(Limits::default());
    let error = sandbox.load(b"this is not wasm".to_vec()).unwrap_err();
    assert!(matches!(error, LoadError::NotWasm(_)), "{error}");
    assert!(error.to_string().contains("magic"), "{error}");
}

#[test]
fn a_truncated_component_is_invalid() {
    let sandbox = sandbox(Limits::default());
    let bytes = std::fs::read(guests::FAULTS).unwrap();
    let error = sandbox.load(bytes[..bytes.len() / 2].to_vec()).unwrap_err();
    assert!(matches!(error, LoadError::Invalid(_)), "{error}");
}

#[test]
fn a_core_module_is_refused_with_advice() {
    let sandbox = sandbox(Limits::default());
    let module = wat::parse_str(r#"(module (func (export "f")))"#).unwrap();
    let error = sandbox.load(module).unwrap_err();
    assert!(matches!(error, LoadError::CoreModule), "{error}");
    assert!(error.to_string().contains("component new"), "{error}");
}

#[test]
fn an_unknown_import_is_named() {
    let sandbox = sandbox(Limits::default());
    let error = sandbox.load_file(guests::BAD_IMPORT.as_ref()).unwrap_err();
    assert!(
        error.to_string().contains("acme:missing/thing"),
        "the error names the import: {error}"
    );
}

#[test]
fn an_unknown_function_lists_the_exports() {
    let sandbox = sandbox(Limits::default());
    let faults = load(&sandbox, guests::FAULTS);
    let error = faults.task("no-such-task").unwrap_err();
    assert_eq!(error.kind, ErrorKind::UnknownFunction);
    assert!(error.message.contains("spin"), "{}", error.message);
    let report = sandbox.execute(&faults, "no-such-task", vec![], None, 0);
    assert_eq!(report.outcome.unwrap_err().kind, ErrorKind::UnknownFunction);
}

#[test]
fn missing_extra_and_mistyped_arguments_name_the_parameter() {
    let sandbox = sandbox(Limits::default());
    let example = load(&sandbox, guests::EXAMPLE_RUST);
    let params = &example.task("hash-rounds").unwrap().params;
    let cases = [
        (json!({"seed": 1}), "rounds"),
        (json!({"seed": 1, "rounds": 2, "salt": 3}), "salt"),
        (json!({"seed": 1, "rounds": "many"}), "rounds"),
        (json!({"seed": -1, "rounds": 2}), "seed"),
        (json!([1]), "rounds"),
    ];
    for (args, name) in cases {
        let error = values::args_from_json(&args, params)
            .unwrap_err()
            .to_string();
        assert!(error.contains(name), "{args}: {error} should name `{name}`");
    }
}
