//! The generated flyteidl subset (`proto/flyteidl/`) and its proto3-JSON form.
//!
//! The JSON is produced by prost-reflect from the compiled descriptors, with the same rules as
//! protobuf's `MessageToJson`/`MessageToDict` that flytekit uses (lowerCamelCase names, enums by
//! name, default values omitted, `Struct` as a plain JSON object), so `--json` output and the
//! DaskJob `custom` compare equal to flytekit's.

#![allow(missing_docs, missing_debug_implementations, clippy::all)]

use std::sync::LazyLock;

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};

pub mod core {
    tonic::include_proto!("flyteidl.core");
}
pub mod plugins {
    tonic::include_proto!("flyteidl.plugins");
}
pub mod admin {
    tonic::include_proto!("flyteidl.admin");
}

static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(&include_bytes!(concat!(env!("OUT_DIR"), "/flyteidl.bin"))[..])
        .expect("the flyteidl descriptor set compiled by build.rs decodes")
});

/// `message` (of the flyteidl type `full_name`, e.g. `flyteidl.plugins.DaskJob`) as proto3 JSON.
pub fn to_json(message: &impl Message, full_name: &str) -> serde_json::Value {
    let descriptor = POOL
        .get_message_by_name(full_name)
        .unwrap_or_else(|| panic!("{full_name} is in proto/flyteidl"));
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .expect("a message re-decodes with its own descriptor");
    let mut serializer = serde_json::Serializer::new(Vec::new());
    dynamic
        .serialize_with_options(&mut serializer, &SerializeOptions::new())
        .expect("serializing to memory cannot fail");
    serde_json::from_slice(&serializer.into_inner()).expect("prost-reflect writes valid JSON")
}

/// A JSON value as a protobuf `Struct` value (numbers become doubles, as in protobuf's own
/// `Struct` conversion).
pub fn json_to_struct_value(json: &serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match json {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(*b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => Kind::StringValue(s.clone()),
        serde_json::Value::Array(items) => Kind::ListValue(prost_types::ListValue {
            values: items.iter().map(json_to_struct_value).collect(),
        }),
        serde_json::Value::Object(map) => Kind::StructValue(json_to_struct(map)),
    };
    prost_types::Value { kind: Some(kind) }
}

/// A JSON object as a protobuf `Struct`.
pub fn json_to_struct(map: &serde_json::Map<String, serde_json::Value>) -> prost_types::Struct {
    prost_types::Struct {
        fields: map
            .iter()
            .map(|(k, v)| (k.clone(), json_to_struct_value(v)))
            .collect(),
    }
}

/// A protobuf `Struct` value as JSON (integral numbers stay numbers; `as_f64` readers accept
/// either form).
pub fn struct_value_to_json(value: &prost_types::Value) -> serde_json::Value {
    use prost_types::value::Kind;
    match &value.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::BoolValue(b)) => serde_json::Value::Bool(*b),
        Some(Kind::NumberValue(n)) => serde_json::Number::from_f64(*n)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Some(Kind::StringValue(s)) => serde_json::Value::String(s.clone()),
        Some(Kind::ListValue(list)) => {
            serde_json::Value::Array(list.values.iter().map(struct_value_to_json).collect())
        }
        Some(Kind::StructValue(s)) => struct_to_json(s),
    }
}

/// A protobuf `Struct` as a JSON object.
pub fn struct_to_json(s: &prost_types::Struct) -> serde_json::Value {
    serde_json::Value::Object(
        s.fields
            .iter()
            .map(|(k, v)| (k.clone(), struct_value_to_json(v)))
            .collect(),
    )
}
