//! Named members: record fields and function parameters.
//!
//! A record in JSON and the arguments of a call (a JSON object or `key=value` pairs) follow the
//! same rules, kept here so they cannot drift apart: names match exactly or loosely
//! (`snake_case` for `kebab-case`, see [`names`]), a member may be given only
//! once, an absent `option` member is `none`, and any other absent or unknown member is an
//! error that lists the valid ones.

use serde_json::{Map, Value};
use wasmtime::component::types::Record;
use wasmtime::component::{Type, Val};

use super::error::ValueError;
use super::json::to_val;
use super::names::{self, Lookup};
use super::wit_type::{wit_members, wit_type};

/// The fields of a record or the parameters of a function, in declaration order.
#[derive(Debug)]
pub(crate) struct Members<'a> {
    kind: Kind,
    items: Vec<(&'a str, Type)>,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Field,
    Argument,
}

impl<'a> Members<'a> {
    pub(crate) fn fields(record: &'a Record) -> Self {
        let items = record.fields().map(|f| (f.name, f.ty)).collect();
        Self {
            kind: Kind::Field,
            items,
        }
    }

    pub(crate) fn params(params: &'a [(String, Type)]) -> Self {
        let items = params
            .iter()
            .map(|(name, ty)| (name.as_str(), ty.clone()))
            .collect();
        Self {
            kind: Kind::Argument,
            items,
        }
    }

    /// The values of all members from an object keyed by member name.
    pub(crate) fn read_object(&self, object: &Map<String, Value>) -> Result<Vec<Val>, ValueError> {
        let keys: Vec<&str> = object.keys().map(String::as_str).collect();
        let values: Vec<&Value> = object.values().collect();
        let slots = self.match_names(&keys)?;
        self.items
            .iter()
            .zip(slots)
            .map(|((name, ty), slot)| match slot {
                Some(position) => to_val(values[position], ty).map_err(|e| e.in_name(name)),
                None => self.absent(name, ty),
            })
            .collect()
    }

    /// The members in declaration order.
    pub(crate) fn items(&self) -> &[(&'a str, Type)] {
        &self.items
    }

    /// For each member, the position in `keys` of the key that names it (`None` when absent).
    /// Fails on a key that names no member, or on two keys that name the same member.
    pub(crate) fn match_names(&self, keys: &[&str]) -> Result<Vec<Option<usize>>, ValueError> {
        let mut slots: Vec<Option<usize>> = vec![None; self.items.len()];
        for (position, key) in keys.iter().enumerate() {
            let index = self.index_of(key)?;
            if let Some(first) = slots[index] {
                let (noun, name) = (self.noun(), self.items[index].0);
                return Err(ValueError::new(format!(
                    "{noun} `{name}` is given twice (as `{}` and `{key}`); give it once",
                    keys[first]
                )));
            }
            slots[index] = Some(position);
        }
        Ok(slots)
    }

    /// The value of an absent member: `none` for an option, otherwise an error.
    pub(crate) fn absent(&self, name: &str, ty: &Type) -> Result<Val, ValueError> {
        match ty {
            Type::Option(_) => Ok(Val::Option(None)),
            _ => Err(ValueError::new(format!(
                "missing {} `{name}` ({}); {}",
                self.noun(),
                wit_type(ty),
                self.listing()
            ))),
        }
    }

    fn index_of(&self, key: &str) -> Result<usize, ValueError> {
        match names::lookup(key, self.items.iter().map(|(name, _)| *name)) {
            Lookup::Found(index) => Ok(index),
            Lookup::Unknown => Err(ValueError::new(format!(
                "unknown {} `{key}`; {}",
                self.noun(),
                self.listing()
            ))),
            Lookup::Ambiguous(candidates) => Err(ValueError::new(format!(
                "{} `{key}` could mean any of {}; use the exact name",
                self.noun(),
                names::list(candidates.iter().map(String::as_str))
            ))),
        }
    }

    fn noun(&self) -> &'static str {
        match self.kind {
            Kind::Field => "field",
            Kind::Argument => "argument",
        }
    }

    /// `the function takes: n: u32, label: option<string>` and the like.
    pub(crate) fn listing(&self) -> String {
        let list = wit_members(self.items.iter().map(|(name, ty)| (*name, ty)));
        match (self.kind, list.is_empty()) {
            (Kind::Argument, true) => "the function takes no arguments".into(),
            (Kind::Argument, false) => format!("the function takes: {list}"),
            (Kind::Field, _) => format!("the record's fields are: {list}"),
        }
    }
}
