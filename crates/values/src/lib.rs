//! Component values ⇄ JSON ⇄ Flyte types, driven by the types of a component's exports.
//!
//! A task's arguments and results cross three boundaries — `cluster` calls between guests,
//! `wasmdask run` on the command line, and Flyte literals in `execute` — and all of them use the
//! one JSON encoding documented in `wit/wasmdask.wit`. Conversions are driven by the WIT types
//! that wasmtime reports for the export (never by guessing from the JSON), so a value is checked
//! against the signature *before* a sandbox is started, and a mistake is reported with the path
//! to the bad part and what it should have been, e.g.
//! ``at `points[2].x`: expected s32 (an integer from -2147483648 to 2147483647), got 3.5``.
//!
//! - `binary`: one value or a call's arguments ⇄ the compact binary encoding that crosses
//!   processes and that guests may ask for ([`to_binary`], [`from_binary`], [`args_to_binary`],
//!   [`args_from_binary`]); `numbers`: a `list<T>` of numbers encoded straight from a slice
//!   ([`numbers_to_binary`]), for results lifted without a `Val` per element.
//! - `json`: one value ⇄ JSON ([`to_val`], [`from_val`], [`check_plain_data`]).
//! - `args`: a call's arguments from a JSON array/object ([`args_from_json`]) or `key=value`
//!   words ([`args_from_key_values`]; `key=@file` values are read by the caller, [`ArgFile`]).
//! - `data`: the Flyte data types of `wasmdask:task/data` (datetime, duration, file, directory,
//!   structured dataset), recognised by their fields ([`data_type`]), and their JSON forms.
//! - `wit_type`, `flyte_type`: types printed as WIT ([`wit_type()`]) and mapped to Flyte literal
//!   types ([`FlyteType`]; the mapping and its reasons are documented there).
//! - `members`, `names`, `describe`, `error`: the shared rules for named fields/parameters, loose
//!   name matching, the "expected ... got ..." wording, and [`ValueError`].

#![warn(missing_docs, unreachable_pub)]

mod args;
mod binary;
mod data;
mod describe;
mod error;
mod flyte_type;
mod json;
mod members;
mod names;
mod number_list;
mod numbers;
#[cfg(test)]
mod test_types;
mod wit_type;

pub use args::{ArgFile, KeyValueError, args_from_json, args_from_key_values};
pub use binary::{
    arg_values_from_binary, args_from_binary, args_to_binary, from_binary, list_prefix,
    number_list_from_binary, number_lists_from_binary, to_binary,
};
pub use data::{
    DataType, StoredFields, contains_stored, data_type, datetime_from_text, datetime_parts,
    datetime_text, duration_from_str, duration_text_of, stored_val, visit_stored,
};
pub use error::ValueError;
pub use flyte_type::{DATASET_FORMAT, FlyteType, flyte_output_type, flyte_type};
pub use json::{check_plain_data, from_val, to_val};
pub use number_list::{ArgValue, NumberList, NumberLists, is_number};
pub use numbers::{Number, numbers_to_binary};
pub use wit_type::{wit_params, wit_type};
