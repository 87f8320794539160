//! Lists of numbers held as Rust vectors instead of one `Val` per element.
//!
//! A task that takes a `list<f64>` (or a `list<list<f64>>`, Dask's `client.submit(f, futures)`)
//! from earlier calls' results got it as `Val`s: 32 bytes and a decode step per element, then
//! wasmtime lowering each `Val` into the guest. 64 results of a million `f64`s passed to one
//! reducing call took 9.6 s and 3.5 GB that way. Decoded into a [`NumberList`], the same bytes
//! are one copy into a vector, which wasmtime lowers with one more (`sandbox/src/typed_call.rs`).

use super::binary::{list_prefix, val_kind};
use super::error::ValueError;
use super::numbers::numbers_to_binary;
use super::wit_type::wit_type;
use wasmtime::component::{Type, Val};

macro_rules! number_lists {
    ($($case:ident($ty:ty) = $wit:ident),* $(,)?) => {
        /// A `list<N>` of one WIT number type.
        #[derive(Debug, Clone, PartialEq)]
        pub enum NumberList {
            $(
                #[allow(missing_docs)]
                $case(Vec<$ty>),
            )*
        }

        /// A `list<list<N>>` of one WIT number type.
        #[derive(Debug, Clone, PartialEq)]
        pub enum NumberLists {
            $(
                #[allow(missing_docs)]
                $case(Vec<Vec<$ty>>),
            )*
        }

        impl NumberList {
            /// The binary encoding of the list (as [`to_binary`](crate::to_binary) encodes its
            /// `Val`s).
            pub fn to_binary(&self) -> Vec<u8> {
                match self {
                    $(NumberList::$case(items) => numbers_to_binary(items),)*
                }
            }

            /// The same list as `Val`s (for a call that is not lowered typed).
            pub fn into_val(self) -> Val {
                match self {
                    $(NumberList::$case(items) => Val::List(items.into_iter().map(Val::$wit).collect()),)*
                }
            }

            /// The numbers of `val`, a `list<element>`.
            ///
            /// # Errors
            ///
            /// When `element` is not a number type or `val` is not a list of it.
            pub fn from_val(val: &Val, element: &Type) -> Result<Self, ValueError> {
                let Val::List(items) = val else {
                    return Err(not_a_list(val, element));
                };
                match element {
                    $(Type::$wit => items
                        .iter()
                        .map(|item| match item {
                            Val::$wit(n) => Ok(*n),
                            other => Err(not_a_list(other, element)),
                        })
                        .collect::<Result<_, _>>()
                        .map(NumberList::$case),)*
                    other => Err(not_a_number(other)),
                }
            }
        }

        impl NumberLists {
            /// The binary encoding of the lists.
            pub fn to_binary(&self) -> Vec<u8> {
                match self {
                    $(NumberLists::$case(lists) => {
                        let mut out = list_prefix(lists.len());
                        for items in lists {
                            out.extend_from_slice(&numbers_to_binary(items));
                        }
                        out
                    })*
                }
            }

            /// The same lists as `Val`s.
            pub fn into_val(self) -> Val {
                match self {
                    $(NumberLists::$case(lists) => Val::List(
                        lists
                            .into_iter()
                            .map(|items| NumberList::$case(items).into_val())
                            .collect(),
                    ),)*
                }
            }

            /// Lists of `element` from each of `lists` (a `list<list<element>>` put together
            /// from separate values), all of which must hold that element type.
            ///
            /// # Errors
            ///
            /// When a list holds another number type than `element`.
            pub fn from_lists(lists: Vec<NumberList>, element: &Type) -> Result<Self, ValueError> {
                match element {
                    $(Type::$wit => lists
                        .into_iter()
                        .enumerate()
                        .map(|(i, list)| match list {
                            NumberList::$case(items) => Ok(items),
                            other => Err(ValueError::new(format!(
                                "a list of {} where {} was expected",
                                other.element_name(),
                                wit_type(element)
                            ))
                            .in_index(i)),
                        })
                        .collect::<Result<_, _>>()
                        .map(NumberLists::$case),)*
                    other => Err(not_a_number(other)),
                }
            }
        }

        impl NumberList {
            fn element_name(&self) -> &'static str {
                match self {
                    $(NumberList::$case(_) => number_lists!(@name $wit),)*
                }
            }
        }
    };
    (@name U8) => { "u8" };
    (@name S8) => { "s8" };
    (@name U16) => { "u16" };
    (@name S16) => { "s16" };
    (@name U32) => { "u32" };
    (@name S32) => { "s32" };
    (@name U64) => { "u64" };
    (@name S64) => { "s64" };
    (@name Float32) => { "f32" };
    (@name Float64) => { "f64" };
}

number_lists!(
    U8(u8) = U8,
    S8(i8) = S8,
    U16(u16) = U16,
    S16(i16) = S16,
    U32(u32) = U32,
    S32(i32) = S32,
    U64(u64) = U64,
    S64(i64) = S64,
    F32(f32) = Float32,
    F64(f64) = Float64,
);

/// One argument of a call as a sandbox executes it: a `Val`, or a list of numbers that never
/// became `Val`s, which a typed call lowers into the guest as it is.
#[derive(Debug, Clone)]
pub enum ArgValue {
    /// Any value.
    Val(Val),
    /// A `list<N>` of numbers.
    Numbers(NumberList),
    /// A `list<list<N>>` of numbers.
    NumberLists(NumberLists),
}

impl ArgValue {
    /// The binary encoding of the argument, a value of `ty`.
    ///
    /// # Errors
    ///
    /// When a `Val` is not of type `ty` (see [`to_binary`](crate::to_binary)).
    pub fn to_binary(&self, ty: &Type) -> Result<Vec<u8>, ValueError> {
        match self {
            ArgValue::Val(val) => crate::to_binary(val, ty),
            ArgValue::Numbers(list) => Ok(list.to_binary()),
            ArgValue::NumberLists(lists) => Ok(lists.to_binary()),
        }
    }

    /// The argument as a `Val`, for a call that does not take the typed path.
    pub fn into_val(self) -> Val {
        match self {
            ArgValue::Val(val) => val,
            ArgValue::Numbers(list) => list.into_val(),
            ArgValue::NumberLists(lists) => lists.into_val(),
        }
    }
}

/// Whether `ty` is a WIT number type, the element of a [`NumberList`].
pub fn is_number(ty: &Type) -> bool {
    matches!(
        ty,
        Type::U8
            | Type::S8
            | Type::U16
            | Type::S16
            | Type::U32
            | Type::S32
            | Type::U64
            | Type::S64
            | Type::Float32
            | Type::Float64
    )
}

fn not_a_number(ty: &Type) -> ValueError {
    ValueError::new(format!("{} is not a number type", wit_type(ty)))
}

fn not_a_list(val: &Val, element: &Type) -> ValueError {
    ValueError::new(format!(
        "expected a list of {}, got {}",
        wit_type(element),
        val_kind(val)
    ))
}
