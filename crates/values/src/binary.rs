//! Component values ⇄ the compact binary encoding, driven by the WIT type.
//!
//! This is how arguments and results travel between host processes and how a guest that asks
//! for it receives them (`wit/wasmdask.wit`, "Binary value encoding"). It is the
//! [postcard](https://postcard.jamesmunns.com/wire-format) wire format of the Rust type that
//! mirrors the WIT type, so a Rust guest decodes it with `postcard` + serde into its own types,
//! and a `list<u8>` or `list<f64>` is its bytes behind a length, not text:
//!
//! | WIT type                 | bytes                                                          |
//! |--------------------------|----------------------------------------------------------------|
//! | bool, u8, s8             | one byte                                                       |
//! | u16..u64                 | unsigned LEB128 varint                                         |
//! | s16..s64                 | zigzag, then varint                                            |
//! | f32, f64                 | little-endian IEEE 754 (non-finite values as they are)         |
//! | char, string             | varint byte length, then UTF-8                                 |
//! | list<T>, map<K, V>       | varint element count, then the elements (`K` then `V`)         |
//! | tuple, record, list<T,N> | the elements or fields in WIT order, no count                  |
//! | variant, enum            | varint case index, then the payload if the case has one        |
//! | option<T>                | `0`, or `1` then the value                                     |
//! | result<T, E>             | `0` then the ok payload, or `1` then the err payload           |
//! | flags                    | varint count, then the set flag names as strings               |
//!
//! A call's arguments are the parameters' values one after another (a tuple).
//!
//! Decoding takes bytes from another process or a guest, so it trusts nothing: every length is
//! checked against the bytes that are left before anything is allocated, and trailing bytes are
//! an error.

use wasmtime::component::{Type, Val};

use super::error::ValueError;
use super::json::check_plain_data;
use super::number_list::{ArgValue, NumberList, NumberLists, is_number};
use super::wit_type::wit_type;

/// Element counts of zero-sized element types (such as an empty record) accepted in one list.
const MAX_EMPTY_ELEMENTS: u64 = 1 << 20;

/// The binary encoding of `val`, of type `ty`.
///
/// # Errors
///
/// When `val` does not fit `ty` (a case or flag that `ty` does not have) or `ty` is not plain
/// data.
pub fn to_binary(val: &Val, ty: &Type) -> Result<Vec<u8>, ValueError> {
    let mut out = Vec::new();
    encode(val, ty, &mut out)?;
    Ok(out)
}

/// The value of type `ty` that `bytes` encode, all of them.
///
/// # Errors
///
/// When the bytes end early, go on after the value, or hold something `ty` does not allow (an
/// unknown case, invalid UTF-8, a varint too long for its type); the error names the path.
pub fn from_binary(bytes: &[u8], ty: &Type) -> Result<Val, ValueError> {
    read_all(bytes, |reader| reader.value(ty))
}

/// What `read` reads from `bytes`, which must end exactly where that value does.
fn read_all<'b, T>(
    bytes: &'b [u8],
    read: impl FnOnce(&mut Reader<'b>) -> Result<T, ValueError>,
) -> Result<T, ValueError> {
    let mut reader = Reader { bytes, at: 0 };
    let value = read(&mut reader)?;
    reader.finish()?;
    Ok(value)
}

/// The binary encoding of a call's arguments: the parameters' values one after another.
///
/// # Errors
///
/// As [`to_binary`], with the parameter's name in the path; also when the counts differ.
pub fn args_to_binary(args: &[Val], params: &[(String, Type)]) -> Result<Vec<u8>, ValueError> {
    if args.len() != params.len() {
        return Err(ValueError::new(format!(
            "expected {} arguments, got {}",
            params.len(),
            args.len()
        )));
    }
    let mut out = Vec::new();
    for (val, (name, ty)) in args.iter().zip(params) {
        encode(val, ty, &mut out).map_err(|e| e.in_name(name))?;
    }
    Ok(out)
}

/// The binary encoding of a `list<element>` of numbers as a [`NumberList`]: the same checks as
/// [`from_binary`], without a `Val` per element.
///
/// # Errors
///
/// As [`from_binary`]; also when `element` is not a number type.
pub fn number_list_from_binary(bytes: &[u8], element: &Type) -> Result<NumberList, ValueError> {
    read_all(bytes, |reader| reader.numbers(element))
}

/// The binary encoding of a `list<list<element>>` of numbers as [`NumberLists`].
///
/// # Errors
///
/// As [`number_list_from_binary`].
pub fn number_lists_from_binary(bytes: &[u8], element: &Type) -> Result<NumberLists, ValueError> {
    read_all(bytes, |reader| reader.number_lists(element))
}

/// A call's arguments from their binary encoding (see [`args_to_binary`]).
///
/// # Errors
///
/// As [`from_binary`], with the parameter's name in the path.
pub fn args_from_binary(bytes: &[u8], params: &[(String, Type)]) -> Result<Vec<Val>, ValueError> {
    read_all(bytes, |reader| reader.params(params, Reader::value))
}

/// As [`args_from_binary`], but an argument of type `list<N>` or `list<list<N>>` of numbers
/// becomes a vector ([`ArgValue::Numbers`], [`ArgValue::NumberLists`]) instead of a `Val` per
/// element: the arguments of a call that lowers them typed.
///
/// # Errors
///
/// As [`args_from_binary`].
pub fn arg_values_from_binary(
    bytes: &[u8],
    params: &[(String, Type)],
) -> Result<Vec<ArgValue>, ValueError> {
    read_all(bytes, |reader| reader.params(params, Reader::arg_value))
}

fn encode(val: &Val, ty: &Type, out: &mut Vec<u8>) -> Result<(), ValueError> {
    match (val, ty) {
        (Val::Bool(b), Type::Bool) => out.push(u8::from(*b)),
        (Val::U8(n), Type::U8) => out.push(*n),
        (Val::S8(n), Type::S8) => out.push(n.to_le_bytes()[0]),
        (Val::U16(n), Type::U16) => varint(u64::from(*n), out),
        (Val::U32(n), Type::U32) => varint(u64::from(*n), out),
        (Val::U64(n), Type::U64) => varint(*n, out),
        (Val::S16(n), Type::S16) => varint(zigzag(i64::from(*n)), out),
        (Val::S32(n), Type::S32) => varint(zigzag(i64::from(*n)), out),
        (Val::S64(n), Type::S64) => varint(zigzag(*n), out),
        (Val::Float32(f), Type::Float32) => out.extend_from_slice(&f.to_le_bytes()),
        (Val::Float64(f), Type::Float64) => out.extend_from_slice(&f.to_le_bytes()),
        (Val::Char(c), Type::Char) => text(c.encode_utf8(&mut [0; 4]), out),
        (Val::String(s), Type::String) => text(s, out),
        (Val::List(items), Type::List(list)) => {
            varint(items.len() as u64, out);
            encode_list(items, &list.ty(), out)?;
        }
        (Val::FixedLengthList(items), Type::FixedLengthList(list))
            if items.len() == list.len() as usize =>
        {
            encode_list(items, &list.ty(), out)?;
        }
        (Val::Tuple(items), Type::Tuple(tuple)) if items.len() == tuple.types().len() => {
            encode_each(items, tuple.types(), out)?;
        }
        (Val::Map(pairs), Type::Map(map)) => {
            varint(pairs.len() as u64, out);
            for (i, (key, value)) in pairs.iter().enumerate() {
                encode(key, &map.key(), out).map_err(|e| e.in_index(i))?;
                encode(value, &map.value(), out).map_err(|e| e.in_index(i))?;
            }
        }
        (Val::Record(fields), Type::Record(record)) if fields.len() == record.fields().len() => {
            for ((name, val), field) in fields.iter().zip(record.fields()) {
                encode(val, &field.ty, out).map_err(|e| e.in_name(name))?;
            }
        }
        (Val::Variant(name, payload), Type::Variant(variant)) => {
            let cases = variant.cases().map(|case| (case.name, case.ty));
            case(name, payload.as_deref(), cases, ty, out)?;
        }
        (Val::Enum(name), Type::Enum(enum_)) => {
            let cases = enum_.names().map(|name| (name, None));
            case(name, None, cases, ty, out)?;
        }
        (Val::Option(payload), Type::Option(option)) => match payload {
            None => out.push(0),
            Some(payload) => {
                out.push(1);
                encode(payload, &option.ty(), out).map_err(|e| e.in_name("some"))?;
            }
        },
        (Val::Result(outcome), Type::Result(result)) => {
            let (tag, name, payload, payload_ty) = match outcome {
                Ok(payload) => (0, "ok", payload, result.ok()),
                Err(payload) => (1, "err", payload, result.err()),
            };
            out.push(tag);
            match (payload, payload_ty) {
                (Some(payload), Some(ty)) => {
                    encode(payload, &ty, out).map_err(|e| e.in_name(name))?
                }
                (None, None) => {}
                _ => return Err(not_of_type(val, ty).in_name(name)),
            }
        }
        (Val::Flags(set), Type::Flags(flags)) => {
            varint(set.len() as u64, out);
            for name in set {
                if !flags.names().any(|flag| flag == name) {
                    return Err(not_of_type(val, ty));
                }
                text(name, out);
            }
        }
        _ => {
            check_plain_data(ty)?;
            return Err(not_of_type(val, ty));
        }
    }
    Ok(())
}

/// The elements of a list, all of one type: the type is looked at once, not cloned per element,
/// and lists of bytes take one copy (megabyte `list<u8>` values are common).
fn encode_list(items: &[Val], ty: &Type, out: &mut Vec<u8>) -> Result<(), ValueError> {
    if *ty == Type::U8 {
        out.reserve(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Val::U8(byte) => out.push(*byte),
                other => return Err(not_of_type(other, ty).in_index(i)),
            }
        }
        return Ok(());
    }
    for (i, item) in items.iter().enumerate() {
        encode(item, ty, out).map_err(|e| e.in_index(i))?;
    }
    Ok(())
}

fn encode_each(
    items: &[Val],
    tys: impl Iterator<Item = Type>,
    out: &mut Vec<u8>,
) -> Result<(), ValueError> {
    for (i, (item, ty)) in items.iter().zip(tys).enumerate() {
        encode(item, &ty, out).map_err(|e| e.in_index(i))?;
    }
    Ok(())
}

/// A variant or enum case: its index, then its payload.
fn case<'a>(
    name: &str,
    payload: Option<&Val>,
    mut cases: impl Iterator<Item = (&'a str, Option<Type>)>,
    ty: &Type,
    out: &mut Vec<u8>,
) -> Result<(), ValueError> {
    let Some((index, (_, case_ty))) = cases.by_ref().enumerate().find(|(_, (n, _))| *n == name)
    else {
        return Err(ValueError::new(format!(
            "{} has no case `{name}`",
            wit_type(ty)
        )));
    };
    varint(index as u64, out);
    match (payload, case_ty) {
        (Some(payload), Some(case_ty)) => {
            encode(payload, &case_ty, out).map_err(|e| e.in_name(name))
        }
        (None, None) => Ok(()),
        _ => Err(ValueError::new(format!(
            "the payload of case `{name}` does not fit {}",
            wit_type(ty)
        ))),
    }
}

fn not_of_type(val: &Val, ty: &Type) -> ValueError {
    ValueError::new(format!(
        "a {} value cannot be encoded as {}",
        val_kind(val),
        wit_type(ty)
    ))
}

/// The kind of a value for error messages (the values of a mismatch have no type to print).
pub(crate) fn val_kind(val: &Val) -> &'static str {
    match val {
        Val::Bool(_) => "bool",
        Val::S8(_) => "s8",
        Val::U8(_) => "u8",
        Val::S16(_) => "s16",
        Val::U16(_) => "u16",
        Val::S32(_) => "s32",
        Val::U32(_) => "u32",
        Val::S64(_) => "s64",
        Val::U64(_) => "u64",
        Val::Float32(_) => "f32",
        Val::Float64(_) => "f64",
        Val::Char(_) => "char",
        Val::String(_) => "string",
        Val::List(_) => "list",
        Val::FixedLengthList(_) => "fixed-length list",
        Val::Record(_) => "record",
        Val::Tuple(_) => "tuple",
        Val::Variant(..) => "variant",
        Val::Enum(_) => "enum",
        Val::Option(_) => "option",
        Val::Result(_) => "result",
        Val::Flags(_) => "flags",
        Val::Map(_) => "map",
        Val::Resource(_) => "resource",
        Val::Future(_) => "future",
        Val::Stream(_) => "stream",
        Val::ErrorContext(_) => "error-context",
    }
}

/// The bytes a `list<T>` of `len` elements starts with: its element count. The elements follow
/// as they are, so a list can be put together from values encoded elsewhere.
pub fn list_prefix(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(2);
    varint(len as u64, &mut out);
    out
}

pub(crate) fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

pub(crate) fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

fn text(s: &str, out: &mut Vec<u8>) {
    varint(s.len() as u64, out);
    out.extend_from_slice(s.as_bytes());
}

/// A cursor over untrusted bytes.
struct Reader<'b> {
    bytes: &'b [u8],
    at: usize,
}

impl<'b> Reader<'b> {
    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn take(&mut self, n: usize) -> Result<&'b [u8], ValueError> {
        if n > self.left() {
            return Err(ValueError::new(format!(
                "the binary value ends early: {n} more bytes needed at offset {}, {} left",
                self.at,
                self.left()
            )));
        }
        let slice = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8, ValueError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ValueError> {
        Ok(self.take(N)?.try_into().expect("took N bytes"))
    }

    /// An unsigned varint that must fit `bits` bits.
    fn varint(&mut self, bits: u32) -> Result<u64, ValueError> {
        let mut n: u64 = 0;
        let mut shift = 0;
        loop {
            let byte = self.byte()?;
            let part = u64::from(byte & 0x7f);
            // The tenth byte may only hold the 64th bit.
            if shift == 63 && part > 1 {
                return Err(self.bad_varint(bits));
            }
            n |= part << shift;
            if byte & 0x80 == 0 {
                if bits < 64 && n >> bits != 0 {
                    return Err(self.bad_varint(bits));
                }
                return Ok(n);
            }
            shift += 7;
            if shift > 63 {
                return Err(self.bad_varint(bits));
            }
        }
    }

    fn bad_varint(&self, bits: u32) -> ValueError {
        ValueError::new(format!(
            "the varint before offset {} does not fit {bits} bits",
            self.at
        ))
    }

    /// An element count, checked against the bytes left so a hostile count allocates nothing.
    fn count(&mut self, element: &Type) -> Result<usize, ValueError> {
        let n = self.varint(64)?;
        let fits = if encodes_to_nothing(element) {
            n <= MAX_EMPTY_ELEMENTS
        } else {
            n <= self.left() as u64
        };
        if !fits {
            return Err(ValueError::new(format!(
                "the binary value claims {n} elements of {} but only {} bytes are left",
                wit_type(element),
                self.left()
            )));
        }
        Ok(n as usize)
    }

    fn text(&mut self) -> Result<&'b str, ValueError> {
        let len = self.varint(64)?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        std::str::from_utf8(self.take(len)?)
            .map_err(|e| ValueError::new(format!("the string is not UTF-8: {e}")))
    }

    fn finish(&self) -> Result<(), ValueError> {
        match self.left() {
            0 => Ok(()),
            n => Err(ValueError::new(format!(
                "{n} bytes are left over after the binary value (offset {})",
                self.at
            ))),
        }
    }

    fn value(&mut self, ty: &Type) -> Result<Val, ValueError> {
        Ok(match ty {
            Type::Bool => match self.byte()? {
                0 => Val::Bool(false),
                1 => Val::Bool(true),
                b => return Err(ValueError::new(format!("expected bool (0 or 1), got {b}"))),
            },
            Type::U8 => Val::U8(self.byte()?),
            Type::S8 => Val::S8(i8::from_le_bytes([self.byte()?])),
            Type::U16 => Val::U16(self.varint(16)? as u16),
            Type::U32 => Val::U32(self.varint(32)? as u32),
            Type::U64 => Val::U64(self.varint(64)?),
            Type::S16 => Val::S16(unzigzag(self.varint(16)?) as i16),
            Type::S32 => Val::S32(unzigzag(self.varint(32)?) as i32),
            Type::S64 => Val::S64(unzigzag(self.varint(64)?)),
            Type::Float32 => Val::Float32(f32::from_le_bytes(self.array()?)),
            Type::Float64 => Val::Float64(f64::from_le_bytes(self.array()?)),
            Type::Char => {
                let s = self.text()?;
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => Val::Char(c),
                    _ => {
                        return Err(ValueError::new(format!(
                            "expected one char, got the string {s:?}"
                        )));
                    }
                }
            }
            Type::String => Val::String(self.text()?.to_string()),
            Type::List(list) => {
                let element = list.ty();
                let n = self.count(&element)?;
                Val::List(self.list(&element, n)?)
            }
            Type::FixedLengthList(list) => {
                let n = list.len() as usize;
                Val::FixedLengthList(self.list(&list.ty(), n)?)
            }
            Type::Tuple(tuple) => Val::Tuple(self.each(tuple.types())?),
            Type::Map(map) => {
                let (key_ty, value_ty) = (map.key(), map.value());
                let n = self.count(&key_ty)?;
                let mut pairs = Vec::with_capacity(n);
                for i in 0..n {
                    let key = self.value(&key_ty).map_err(|e| e.in_index(i))?;
                    let value = self.value(&value_ty).map_err(|e| e.in_index(i))?;
                    pairs.push((key, value));
                }
                Val::Map(pairs)
            }
            Type::Record(record) => Val::Record(
                record
                    .fields()
                    .map(|field| {
                        let val = self.value(&field.ty).map_err(|e| e.in_name(field.name))?;
                        Ok((field.name.to_string(), val))
                    })
                    .collect::<Result<_, ValueError>>()?,
            ),
            Type::Variant(variant) => {
                let index = self.varint(32)? as usize;
                let case = variant
                    .cases()
                    .nth(index)
                    .ok_or_else(|| no_case(index, ty))?;
                let payload = match case.ty {
                    Some(case_ty) => Some(Box::new(
                        self.value(&case_ty).map_err(|e| e.in_name(case.name))?,
                    )),
                    None => None,
                };
                Val::Variant(case.name.to_string(), payload)
            }
            Type::Enum(enum_) => {
                let index = self.varint(32)? as usize;
                let name = enum_.names().nth(index).ok_or_else(|| no_case(index, ty))?;
                Val::Enum(name.to_string())
            }
            Type::Option(option) => match self.byte()? {
                0 => Val::Option(None),
                1 => Val::Option(Some(Box::new(
                    self.value(&option.ty()).map_err(|e| e.in_name("some"))?,
                ))),
                b => {
                    return Err(ValueError::new(format!(
                        "expected option tag 0 or 1, got {b}"
                    )));
                }
            },
            Type::Result(result) => {
                let (name, payload_ty) = match self.byte()? {
                    0 => ("ok", result.ok()),
                    1 => ("err", result.err()),
                    b => {
                        return Err(ValueError::new(format!(
                            "expected result tag 0 or 1, got {b}"
                        )));
                    }
                };
                let payload = match payload_ty {
                    Some(ty) => Some(Box::new(self.value(&ty).map_err(|e| e.in_name(name))?)),
                    None => None,
                };
                Val::Result(if name == "ok" {
                    Ok(payload)
                } else {
                    Err(payload)
                })
            }
            Type::Flags(flags) => {
                let n = self.count(&Type::String)?;
                let mut set = Vec::with_capacity(n);
                for i in 0..n {
                    let name = self.text().map_err(|e| e.in_index(i))?;
                    if !flags.names().any(|flag| flag == name) {
                        return Err(ValueError::new(format!(
                            "{} has no flag `{name}`",
                            wit_type(ty)
                        ))
                        .in_index(i));
                    }
                    set.push(name.to_string());
                }
                Val::Flags(set)
            }
            Type::Own(_)
            | Type::Borrow(_)
            | Type::Future(_)
            | Type::Stream(_)
            | Type::ErrorContext => {
                return Err(ValueError::new(format!(
                    "values of type {} have no binary encoding; a task's parameters and results \
                     must be plain data",
                    wit_type(ty)
                )));
            }
        })
    }

    /// `n` elements of type `ty`; a list of bytes is read in one piece.
    fn list(&mut self, ty: &Type, n: usize) -> Result<Vec<Val>, ValueError> {
        if *ty == Type::U8 {
            return Ok(self.take(n)?.iter().map(|&byte| Val::U8(byte)).collect());
        }
        (0..n)
            .map(|i| self.value(ty).map_err(|e| e.in_index(i)))
            .collect()
    }

    /// One value per parameter, one after another, each read by `read`; an error names the
    /// parameter.
    fn params<T>(
        &mut self,
        params: &[(String, Type)],
        read: impl Fn(&mut Self, &Type) -> Result<T, ValueError>,
    ) -> Result<Vec<T>, ValueError> {
        params
            .iter()
            .map(|(name, ty)| read(self, ty).map_err(|e| e.in_name(name)))
            .collect()
    }

    /// A `list<element>` of numbers, each element decoded as `value` decodes it.
    fn numbers(&mut self, element: &Type) -> Result<NumberList, ValueError> {
        if !is_number(element) {
            return Err(ValueError::new(format!(
                "{} is not a number type",
                wit_type(element)
            )));
        }
        let n = self.count(element)?;
        Ok(match element {
            Type::U8 => NumberList::U8(self.take(n)?.to_vec()),
            Type::S8 => NumberList::S8(self.take(n)?.iter().map(|&b| b as i8).collect()),
            Type::Float32 => NumberList::F32(self.fixed(n, f32::from_le_bytes)?),
            Type::Float64 => NumberList::F64(self.fixed(n, f64::from_le_bytes)?),
            Type::U16 => NumberList::U16(self.varints(n, 16, |v| v as u16)?),
            Type::U32 => NumberList::U32(self.varints(n, 32, |v| v as u32)?),
            Type::U64 => NumberList::U64(self.varints(n, 64, |v| v)?),
            Type::S16 => NumberList::S16(self.varints(n, 16, |v| unzigzag(v) as i16)?),
            Type::S32 => NumberList::S32(self.varints(n, 32, |v| unzigzag(v) as i32)?),
            _ => NumberList::S64(self.varints(n, 64, unzigzag)?),
        })
    }

    /// `n` varints of at most `bits` bits each, converted by `from`.
    fn varints<T>(
        &mut self,
        n: usize,
        bits: u32,
        from: impl Fn(u64) -> T,
    ) -> Result<Vec<T>, ValueError> {
        (0..n)
            .map(|i| self.varint(bits).map(&from).map_err(|e| e.in_index(i)))
            .collect()
    }

    /// A `list<list<element>>` of numbers.
    fn number_lists(&mut self, element: &Type) -> Result<NumberLists, ValueError> {
        // Every inner list takes at least its count byte, so `count` bounds the outer count by
        // the bytes left as it does for any element type that encodes to something.
        let n = self.count(&Type::U8)?;
        let lists = (0..n)
            .map(|i| self.numbers(element).map_err(|e| e.in_index(i)))
            .collect::<Result<Vec<_>, _>>()?;
        NumberLists::from_lists(lists, element)
    }

    /// One argument of type `ty`: number lists as vectors, anything else as a `Val`.
    fn arg_value(&mut self, ty: &Type) -> Result<ArgValue, ValueError> {
        if let Type::List(list) = ty {
            match list.ty() {
                element if is_number(&element) => {
                    return self.numbers(&element).map(ArgValue::Numbers);
                }
                Type::List(inner) if is_number(&inner.ty()) => {
                    return self.number_lists(&inner.ty()).map(ArgValue::NumberLists);
                }
                _ => {}
            }
        }
        self.value(ty).map(ArgValue::Val)
    }

    /// `n` fixed-width numbers of `W` little-endian bytes each.
    fn fixed<const W: usize, T>(
        &mut self,
        n: usize,
        from: fn([u8; W]) -> T,
    ) -> Result<Vec<T>, ValueError> {
        let bytes = self.take(n.saturating_mul(W))?;
        Ok(bytes
            .chunks_exact(W)
            .map(|chunk| from(chunk.try_into().expect("W bytes")))
            .collect())
    }

    fn each(&mut self, tys: impl Iterator<Item = Type>) -> Result<Vec<Val>, ValueError> {
        tys.enumerate()
            .map(|(i, ty)| self.value(&ty).map_err(|e| e.in_index(i)))
            .collect()
    }
}

fn no_case(index: usize, ty: &Type) -> ValueError {
    ValueError::new(format!("{} has no case number {index}", wit_type(ty)))
}

/// Whether every value of `ty` encodes to zero bytes (an empty tuple or record, or a list of
/// fixed length 0), so an element count cannot be checked against the bytes left.
fn encodes_to_nothing(ty: &Type) -> bool {
    match ty {
        Type::Tuple(tuple) => tuple.types().all(|ty| encodes_to_nothing(&ty)),
        Type::Record(record) => record.fields().all(|field| encodes_to_nothing(&field.ty)),
        Type::FixedLengthList(list) => list.len() == 0 || encodes_to_nothing(&list.ty()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{from_val, to_val};
    use crate::test_types::{func_params, ty};
    use serde::Serialize;
    use serde_json::json;

    const DEFS: &[(&str, &str)] = &[
        (
            "point",
            r#"(record (field "x" s32) (field "y" float64) (field "label" (option string)))"#,
        ),
        (
            "shape",
            r#"(variant (case "circle" float64) (case "rect" (tuple float64 float64)) (case "none"))"#,
        ),
        ("color", r#"(enum "red" "green" "dark-blue")"#),
        ("perms", r#"(flags "read" "write" "exec")"#),
    ];

    fn t(wat: &str) -> Type {
        ty(DEFS, wat)
    }

    /// The binary encoding of the value that `json` gives at type `wat`.
    fn bin(json: serde_json::Value, wat: &str) -> Vec<u8> {
        let ty = t(wat);
        to_binary(&to_val(&json, &ty).unwrap(), &ty).unwrap()
    }

    fn postcard<T: Serialize>(value: &T) -> Vec<u8> {
        postcard::to_allocvec(value).unwrap()
    }

    #[test]
    fn scalars_are_postcard() {
        assert_eq!(bin(json!(true), "bool"), postcard(&true));
        assert_eq!(bin(json!(-3), "s8"), postcard(&-3i8));
        assert_eq!(bin(json!(300), "u16"), postcard(&300u16));
        assert_eq!(bin(json!(-70000), "s32"), postcard(&-70000i32));
        assert_eq!(bin(json!(u64::MAX), "u64"), postcard(&u64::MAX));
        assert_eq!(bin(json!(i64::MIN), "s64"), postcard(&i64::MIN));
        assert_eq!(bin(json!(1.5), "float32"), postcard(&1.5f32));
        assert_eq!(bin(json!("inf"), "float64"), postcard(&f64::INFINITY));
        assert_eq!(bin(json!("é"), "char"), postcard(&'é'));
        assert_eq!(bin(json!("hello"), "string"), postcard(&"hello"));
    }

    #[test]
    fn compound_values_are_the_postcard_of_the_mirroring_rust_type() {
        #[derive(Serialize)]
        struct Point {
            x: i32,
            y: f64,
            label: Option<String>,
        }
        #[derive(Serialize)]
        enum Shape {
            #[allow(dead_code)]
            Circle(f64),
            Rect((f64, f64)),
        }
        #[derive(Serialize)]
        enum Color {
            #[allow(dead_code)]
            Red,
            #[allow(dead_code)]
            Green,
            DarkBlue,
        }
        let point = json!({"x": -1, "y": 2.5, "label": "a"});
        let expected = Point {
            x: -1,
            y: 2.5,
            label: Some("a".into()),
        };
        assert_eq!(bin(point, "$point"), postcard(&expected));
        assert_eq!(
            bin(json!({"rect": [1.0, 2.0]}), "$shape"),
            postcard(&Shape::Rect((1.0, 2.0)))
        );
        assert_eq!(
            bin(json!("dark-blue"), "$color"),
            postcard(&Color::DarkBlue)
        );
        let floats: Vec<f64> = (0..100).map(|i| f64::from(i) / 3.0).collect();
        assert_eq!(bin(json!(floats), "(list float64)"), postcard(&floats));
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(bin(json!(bytes), "(list u8)"), postcard(&bytes));
        assert_eq!(
            bin(json!([7, "x"]), "(tuple u32 string)"),
            postcard(&(7u32, "x"))
        );
        assert_eq!(bin(json!(null), "(option u32)"), postcard(&None::<u32>));
        assert_eq!(
            bin(json!({"err": "no"}), "(result u32 (error string))"),
            postcard(&Err::<u32, &str>("no"))
        );
        assert_eq!(
            bin(json!({"ok": 5}), "(result u32 (error string))"),
            postcard(&Ok::<u32, &str>(5))
        );
        assert_eq!(
            bin(json!(["read", "exec"]), "$perms"),
            postcard(&["read", "exec"].to_vec())
        );
    }

    #[test]
    fn every_kind_round_trips() {
        let cases = [
            (json!({"x": 1, "y": -0.5, "label": null}), "$point"),
            (
                json!([{"circle": 1.0}, "none", {"rect": [0.0, 1e300]}]),
                "(list $shape)",
            ),
            (json!(["green", "red"]), "(list $color)"),
            (json!(["write"]), "$perms"),
            (json!({"some": null}), "(option (option u8))"),
            (json!([[1, 2], [3]]), "(list (list s64))"),
            (json!(["NaN", "-inf", 0.0]), "(list float32)"),
            (json!({"ok": null}), "(result (error string))"),
            (json!([]), "(list string)"),
            (json!(["a", "ß", ""]), "(list string)"),
        ];
        for (json, wat) in cases {
            let ty = t(wat);
            let val = to_val(&json, &ty).unwrap();
            let bytes = to_binary(&val, &ty).unwrap();
            let back = from_binary(&bytes, &ty).unwrap();
            assert_eq!(from_val(&back), from_val(&val), "{wat}");
        }
    }

    #[test]
    fn arguments_are_a_tuple_of_the_parameters() {
        let params = func_params(DEFS, r#"(param "n" u64) (param "xs" (list float64))"#);
        let args = vec![
            Val::U64(3),
            Val::List(vec![Val::Float64(1.0), Val::Float64(2.0)]),
        ];
        let bytes = args_to_binary(&args, &params).unwrap();
        assert_eq!(bytes, postcard(&(3u64, vec![1.0f64, 2.0])));
        assert_eq!(args_from_binary(&bytes, &params).unwrap(), args);
        let err = args_from_binary(&bytes[..bytes.len() - 1], &params).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("at `xs[1]`: the binary value ends early"),
            "{err}"
        );
    }

    /// Every number type decodes to the same numbers as the `Val` path, nested too, and the
    /// same bad bytes are refused.
    #[test]
    fn number_lists_decode_as_their_vals_do() {
        for (wit, json) in [
            ("u8", json!([0, 1, 255])),
            ("s8", json!([-128, -1, 0, 127])),
            ("u16", json!([0, 300, 65535])),
            ("s16", json!([-32768, -65, 64, 32767])),
            ("u32", json!([0, 1, 4294967295u32])),
            ("s32", json!([-2147483648i32, 0, 2147483647])),
            ("u64", json!([0, 18446744073709551615u64])),
            (
                "s64",
                json!([-9223372036854775808i64, -1, 9223372036854775807i64]),
            ),
            ("f32", json!([-0.5, 0.0, 3.25])),
            ("f64", json!([-1e300, 0.5, 2.0])),
            ("f64", json!([])),
        ] {
            let element = t(wit);
            let list_ty = t(&format!("(list {wit})"));
            let bytes = bin(json.clone(), &format!("(list {wit})"));
            let numbers = number_list_from_binary(&bytes, &element).unwrap();
            assert_eq!(numbers.to_binary(), bytes, "{wit} encodes back");
            assert_eq!(
                numbers.clone().into_val(),
                from_binary(&bytes, &list_ty).unwrap(),
                "{wit}"
            );
            assert_eq!(
                NumberList::from_val(&from_binary(&bytes, &list_ty).unwrap(), &element).unwrap(),
                numbers,
                "{wit}"
            );
            let nested = format!("(list (list {wit}))");
            let bytes = bin(json!([json.clone(), [], json]), &nested);
            let lists = number_lists_from_binary(&bytes, &element).unwrap();
            assert_eq!(lists.to_binary(), bytes, "{wit} lists encode back");
            let arg = ArgValue::NumberLists(lists.clone());
            assert_eq!(arg.to_binary(&t(&nested)).unwrap(), bytes);
            assert_eq!(
                lists.into_val(),
                from_binary(&bytes, &t(&nested)).unwrap(),
                "{wit}"
            );
            if !bytes.is_empty() {
                let short = &bytes[..bytes.len() - 1];
                assert!(number_lists_from_binary(short, &element).is_err(), "{wit}");
            }
        }
        let bytes = bin(json!([1, 2]), "(list u32)");
        assert!(number_list_from_binary(&bytes, &t("string")).is_err());
        let long = [bytes.as_slice(), &[0]].concat();
        assert!(
            number_list_from_binary(&long, &t("u32")).is_err(),
            "a byte left over"
        );
        // A count larger than the bytes left allocates nothing.
        assert!(number_list_from_binary(&[0xff, 0xff, 0xff, 0x0f], &t("f64")).is_err());
    }

    #[test]
    fn hostile_bytes_are_errors_not_allocations() {
        let list = t("(list u64)");
        // A count of 2^62 elements with nothing behind it.
        let mut bytes = Vec::new();
        varint(1 << 62, &mut bytes);
        let err = from_binary(&bytes, &list).unwrap_err().to_string();
        assert!(err.contains("claims 4611686018427387904 elements"), "{err}");
        // A varint longer than 64 bits.
        let err = from_binary(&[0xff; 11], &t("u64")).unwrap_err().to_string();
        assert!(err.contains("does not fit 64 bits"), "{err}");
        // 2^32 does not fit a u32.
        let mut bytes = Vec::new();
        varint(1 << 32, &mut bytes);
        let err = from_binary(&bytes, &t("u32")).unwrap_err().to_string();
        assert!(err.contains("does not fit 32 bits"), "{err}");
        let err = from_binary(&[2], &t("bool")).unwrap_err().to_string();
        assert!(err.contains("expected bool"), "{err}");
        let err = from_binary(&[9], &t("$color")).unwrap_err().to_string();
        assert!(err.contains("no case number 9"), "{err}");
        let err = from_binary(&[2, 0xff, 0xfe], &t("string"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not UTF-8"), "{err}");
        let err = from_binary(&[1, 2], &t("u8")).unwrap_err().to_string();
        assert!(err.contains("1 bytes are left over"), "{err}");
        let err = from_binary(&[1, 5, b'w', b'r', b'o', b'n', b'g'], &t("$perms"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no flag `wrong`"), "{err}");
    }

    #[test]
    fn a_value_of_another_type_is_refused() {
        let err = to_binary(&Val::String("x".into()), &t("u32")).unwrap_err();
        assert_eq!(err.to_string(), "a string value cannot be encoded as u32");
        let err = to_binary(&Val::Enum("purple".into()), &t("$color")).unwrap_err();
        assert!(err.to_string().contains("no case `purple`"), "{err}");
    }
}
