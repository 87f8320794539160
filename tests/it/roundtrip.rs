//! Every WIT value type goes JSON → component value → guest → component value → JSON unchanged.

use crate::common::*;
use serde_json::{Value, json};
use wasmdask_sandbox::ErrorKind;
use wasmdask_sandbox::Limits;

fn echo_cases() -> Vec<(&'static str, Value)> {
    vec![
        ("echo-bool", json!(true)),
        ("echo-bool", json!(false)),
        ("echo-s8", json!(-128)),
        ("echo-s8", json!(127)),
        ("echo-s16", json!(-32768)),
        ("echo-s32", json!(-2147483648i64)),
        ("echo-s64", json!(i64::MIN)),
        ("echo-s64", json!(i64::MAX)),
        ("echo-u8", json!(255)),
        ("echo-u16", json!(65535)),
        ("echo-u32", json!(4294967295u64)),
        ("echo-u64", json!(u64::MAX)),
        ("echo-f32", json!(1.5)),
        ("echo-f32", json!("inf")),
        ("echo-f64", json!(-2.25e300)),
        ("echo-f64", json!("-inf")),
        ("echo-f64", json!("NaN")),
        ("echo-char", json!("ß")),
        ("echo-string", json!("héllo, wörld \u{1F980}")),
        ("echo-string", json!("")),
        ("echo-list-u32", json!([1, 2, 4294967295u64])),
        ("echo-list-u32", json!([])),
        ("echo-list-string", json!(["a", "", "c"])),
        (
            "echo-record",
            json!({"full-name": "Ada L", "age": 36, "email": "ada@example.org"}),
        ),
        (
            "echo-record",
            json!({"full-name": "Bob", "age": 0, "email": null}),
        ),
        ("echo-tuple", json!([7, "seven", 7.5])),
        ("echo-variant", json!("ping")),
        ("echo-variant", json!({"message": "hi"})),
        ("echo-variant", json!({"moved": {"x": 1.0, "y": -2.5}})),
        ("echo-enum", json!("green")),
        ("echo-option", json!(null)),
        ("echo-option", json!(9)),
        ("echo-flags", json!([])),
        ("echo-flags", json!(["read", "execute"])),
        (
            "echo-list-record",
            json!([{"full-name": "A", "age": 1, "email": null}, {"full-name": "B", "age": 2, "email": "b@x"}]),
        ),
    ]
}

#[test]
fn every_wit_type_round_trips_through_a_guest() {
    let sandbox = sandbox(Limits::default());
    let types = load(&sandbox, guests::TYPES);
    for (function, value) in echo_cases() {
        let got = ok_json(call(&sandbox, &types, function, json!([value.clone()]), 1));
        assert_eq!(got, value, "{function}");
    }
}

#[test]
fn result_returns_unwrap_ok_and_turn_err_into_a_guest_error() {
    let sandbox = sandbox(Limits::default());
    let types = load(&sandbox, guests::TYPES);
    let ok = call(&sandbox, &types, "echo-result", json!([{"ok": 5}]), 1);
    assert_eq!(ok_json(ok), json!(5));
    let err = call(&sandbox, &types, "echo-result", json!([{"err": "no"}]), 1);
    let error = err.outcome.unwrap_err();
    assert_eq!(error.kind, ErrorKind::GuestError);
    assert_eq!(error.message, "no");
}

#[test]
fn named_and_positional_arguments_and_no_result() {
    let sandbox = sandbox(Limits::default());
    let types = load(&sandbox, guests::TYPES);
    let positional = ok_json(call(
        &sandbox,
        &types,
        "describe",
        json!(["Ada", 36, ["x", "y"]]),
        1,
    ));
    let named = ok_json(call(
        &sandbox,
        &types,
        "describe",
        json!({"tags": ["x", "y"], "age": 36, "name": "Ada"}),
        1,
    ));
    assert_eq!(positional, named);
    assert!(positional.as_str().unwrap().contains("Ada"));
    assert_eq!(
        ok_json(call(&sandbox, &types, "nothing", json!([]), 1)),
        Value::Null
    );
}

#[test]
fn every_test_guest_loads() {
    let sandbox = sandbox(Limits::default());
    for (name, path) in guests::ALL {
        let result = sandbox.load_file(path.as_ref());
        if *name == "bad-import" || *name == "BAD_IMPORT" {
            assert!(result.is_err(), "{name} must be refused");
        } else {
            assert!(result.is_ok(), "{name}: {:?}", result.err());
        }
    }
}
