//! A call that skips `Val` for the commonest large values, lists of numbers: results such as
//! `chunk: func(i: u32, len: u32) -> list<f64>`, and arguments such as `scale: func(xs:
//! list<f64>, k: f64)` or a reducer's `sum-lists: func(parts: list<list<f64>>) -> f64`.
//!
//! Wasmtime's dynamic [`Func::call`] lifts a result into one `Val` per element, and a worker
//! then walks those `Val`s into the binary encoding: about 130 ms for a million `f64`s, most of
//! a data-heavy fan-out's time (bench [7]). Arguments went the same way in reverse: 64 results
//! of a million `f64`s passed to one `list<list<f64>>` parameter took 9.6 s and 3.5 GB as `Val`s.
//! A [`TypedFunc`](wasmtime::component::TypedFunc) lifts and lowers the same lists as vectors
//! in one copy each; the arguments come as [`ArgValue`]s, which keep lists decoded straight
//! from their binary encoding ([`NumberList`]), and the result is encoded by
//! [`numbers_to_binary`]. The bytes are the ones the `Val` path gives, so nothing downstream can
//! tell the paths apart; the tests compare the two.
//!
//! A typed call needs its parameter types at compile time, and a task's are known only when
//! the component loads. [`Params`] is a parameter list of scalars and number lists that checks
//! the export's real parameter types when the typed function is made, and lowers each argument
//! itself (scalars to their core value, lists through wasmtime's own lowering of slices). It
//! implements wasmtime's canonical-ABI traits, whose methods are `#[doc(hidden)]`: wasmtime is
//! pinned to one minor line (48.0.x) in Cargo.toml, and this file is the only place that relies
//! on them.

use std::mem::MaybeUninit;
use wasmdask_values::{ArgValue, Number, NumberList, NumberLists, is_number, numbers_to_binary};
use wasmtime::component::__internal::{
    CanonicalAbiInfo, InstanceType, InterfaceType, LowerContext,
};
use wasmtime::component::{ComponentNamedList, ComponentType, Func, Lift, Lower, Type, Val};
use wasmtime::{AsContextMut, ValRaw};

/// The most core values the canonical ABI passes as flat arguments (`MAX_FLAT_PARAMS`); a
/// scalar takes one, a list two (its address and length).
const MAX_FLAT_PARAMS: usize = 16;

/// The exports a typed call serves: parameters that are scalars, number lists or lists of
/// number lists, returning a number list (or a `result<list<N>, string>`); or, when a
/// parameter is a list, returning a number (or a `result<N, string>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shape {
    params: Vec<Param>,
    returns: Returns,
}

/// How one parameter is passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Param {
    /// A scalar: one core value.
    Scalar,
    /// A `list<N>` of this number type.
    List(Type),
    /// A `list<list<N>>` of this number type.
    Lists(Type),
}

/// The result: a number or a list of numbers, maybe the `ok` side of a `result<_, string>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Returns {
    element: Element,
    list: bool,
    fallible: bool,
}

/// A WIT number type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Element {
    U8,
    S8,
    U16,
    S16,
    U32,
    S32,
    U64,
    S64,
    F32,
    F64,
}

impl Element {
    fn of(ty: &Type) -> Option<Element> {
        Some(match ty {
            Type::U8 => Element::U8,
            Type::S8 => Element::S8,
            Type::U16 => Element::U16,
            Type::S16 => Element::S16,
            Type::U32 => Element::U32,
            Type::S32 => Element::S32,
            Type::U64 => Element::U64,
            Type::S64 => Element::S64,
            Type::Float32 => Element::F32,
            Type::Float64 => Element::F64,
            _ => return None,
        })
    }
}

impl Shape {
    /// The shape of an export with these parameters and result, if a typed call serves it.
    pub(crate) fn of(params: &[(String, Type)], result: Option<&Type>) -> Option<Shape> {
        let mut flat = 0;
        let params = params
            .iter()
            .map(|(_, ty)| {
                if is_scalar(ty) {
                    flat += 1;
                    return Some(Param::Scalar);
                }
                let Type::List(list) = ty else { return None };
                flat += 2;
                match list.ty() {
                    element if is_number(&element) => Some(Param::List(element)),
                    Type::List(inner) if is_number(&inner.ty()) => Some(Param::Lists(inner.ty())),
                    _ => None,
                }
            })
            .collect::<Option<Vec<Param>>>()?;
        if flat > MAX_FLAT_PARAMS {
            return None;
        }
        let takes_list = params.iter().any(|p| *p != Param::Scalar);
        let returns = |ty: &Type, fallible: bool| match ty {
            Type::List(list) => Some(Returns {
                element: Element::of(&list.ty())?,
                list: true,
                fallible,
            }),
            // A call of scalars returning a scalar has nothing large to skip.
            number if takes_list => Some(Returns {
                element: Element::of(number)?,
                list: false,
                fallible,
            }),
            _ => None,
        };
        let returns = match result? {
            Type::Result(result) => match (result.ok(), result.err()) {
                (Some(ok), Some(Type::String)) => returns(&ok, true)?,
                _ => return None,
            },
            other => returns(other, false)?,
        };
        Some(Shape { params, returns })
    }

    /// How each parameter is passed, in order.
    pub(crate) fn params(&self) -> &[Param] {
        &self.params
    }

    /// Calls `func` with `args` and returns the binary encoding of the result, or the guest's
    /// `err` string. `args` must fit the export's parameters (the caller checked them against
    /// the same types); wasmtime's own type check runs when the typed function is made.
    pub(crate) fn call(
        &self,
        store: impl AsContextMut,
        func: Func,
        args: Vec<ArgValue>,
    ) -> wasmtime::Result<Result<Vec<u8>, String>> {
        let params = Params::new(&self.params, args)?;
        let r = self.returns;
        match r.element {
            Element::U8 => typed::<u8>(store, func, params, r),
            Element::S8 => typed::<i8>(store, func, params, r),
            Element::U16 => typed::<u16>(store, func, params, r),
            Element::S16 => typed::<i16>(store, func, params, r),
            Element::U32 => typed::<u32>(store, func, params, r),
            Element::S32 => typed::<i32>(store, func, params, r),
            Element::U64 => typed::<u64>(store, func, params, r),
            Element::S64 => typed::<i64>(store, func, params, r),
            Element::F32 => typed::<f32>(store, func, params, r),
            Element::F64 => typed::<f64>(store, func, params, r),
        }
    }
}

fn typed<N: Number + Lift>(
    mut store: impl AsContextMut,
    func: Func,
    params: Params,
    returns: Returns,
) -> wasmtime::Result<Result<Vec<u8>, String>> {
    let one = |n: N| {
        let mut out = Vec::new();
        N::extend(&[n], &mut out);
        out
    };
    Ok(match (returns.list, returns.fallible) {
        (true, false) => {
            let typed = func.typed::<Params, (Vec<N>,)>(&store)?;
            let (items,) = typed.call(store.as_context_mut(), params)?;
            Ok(numbers_to_binary(&items))
        }
        (true, true) => {
            let typed = func.typed::<Params, (Result<Vec<N>, String>,)>(&store)?;
            let (returned,) = typed.call(store.as_context_mut(), params)?;
            returned.map(|items| numbers_to_binary(&items))
        }
        (false, false) => {
            let typed = func.typed::<Params, (N,)>(&store)?;
            let (n,) = typed.call(store.as_context_mut(), params)?;
            Ok(one(n))
        }
        (false, true) => {
            let typed = func.typed::<Params, (Result<N, String>,)>(&store)?;
            let (returned,) = typed.call(store.as_context_mut(), params)?;
            returned.map(one)
        }
    })
}

fn is_scalar(ty: &Type) -> bool {
    is_number(ty) || matches!(ty, Type::Bool | Type::Char)
}

/// The arguments of a typed call, each ready to lower: scalars already as their core value,
/// lists as vectors that wasmtime's own slice lowering copies into the guest.
struct Params(Vec<Lowered>);

enum Lowered {
    Raw(ValRaw),
    List(NumberList),
    Lists(NumberLists),
}

impl Params {
    fn new(kinds: &[Param], args: Vec<ArgValue>) -> wasmtime::Result<Params> {
        if kinds.len() != args.len() {
            wasmtime::bail!("{} arguments for {} parameters", args.len(), kinds.len());
        }
        let lowered = kinds
            .iter()
            .zip(args)
            .map(|(kind, arg)| {
                Ok(match (kind, arg) {
                    (Param::Scalar, ArgValue::Val(val)) => Lowered::Raw(raw_scalar(&val)?),
                    (Param::List(_), ArgValue::Numbers(list)) => Lowered::List(list),
                    (Param::List(element), ArgValue::Val(val)) => {
                        Lowered::List(NumberList::from_val(&val, element)?)
                    }
                    (Param::Lists(_), ArgValue::NumberLists(lists)) => Lowered::Lists(lists),
                    (Param::Lists(element), ArgValue::Val(Val::List(lists))) => {
                        let lists = lists
                            .iter()
                            .map(|list| NumberList::from_val(list, element))
                            .collect::<Result<Vec<_>, _>>()?;
                        Lowered::Lists(NumberLists::from_lists(lists, element)?)
                    }
                    (kind, arg) => wasmtime::bail!("{arg:?} cannot be passed as {kind:?}"),
                })
            })
            .collect::<wasmtime::Result<Vec<_>>>()?;
        Ok(Params(lowered))
    }
}

/// A scalar argument as the canonical ABI lowers it (wasmtime's own lowering of the Rust types:
/// small integers widened to i32, signed ones sign-extended, floats as their bits).
fn raw_scalar(arg: &Val) -> wasmtime::Result<ValRaw> {
    Ok(match *arg {
        Val::Bool(b) => ValRaw::i32(i32::from(b)),
        Val::U8(n) => ValRaw::u32(u32::from(n)),
        Val::S8(n) => ValRaw::i32(i32::from(n)),
        Val::U16(n) => ValRaw::u32(u32::from(n)),
        Val::S16(n) => ValRaw::i32(i32::from(n)),
        Val::U32(n) => ValRaw::u32(n),
        Val::S32(n) => ValRaw::i32(n),
        Val::U64(n) => ValRaw::u64(n),
        Val::S64(n) => ValRaw::i64(n),
        Val::Float32(f) => ValRaw::f32(f.to_bits()),
        Val::Float64(f) => ValRaw::f64(f.to_bits()),
        Val::Char(c) => ValRaw::u32(u32::from(c)),
        ref other => wasmtime::bail!("a typed call takes scalars here, not {other:?}"),
    })
}

/// `items` lowered into the guest by wasmtime (the guest's `realloc`, one copy): the list's
/// address and length.
fn lower_slice<T: Lower, U>(
    items: &[T],
    cx: &mut LowerContext<'_, U>,
    ty: InterfaceType,
) -> wasmtime::Result<[ValRaw; 2]> {
    let mut pair = MaybeUninit::new([ValRaw::u64(0); 2]);
    items.linear_lower_to_flat(cx, ty, &mut pair)?;
    // SAFETY: `pair` was initialised when it was made; the lowering only overwrites it.
    #[allow(unsafe_code)]
    Ok(unsafe { pair.assume_init() })
}

macro_rules! lower_numbers {
    ($list:expr, $cx:expr, $ty:expr, $enum:ident) => {
        match $list {
            $enum::U8(items) => lower_slice(items, $cx, $ty),
            $enum::S8(items) => lower_slice(items, $cx, $ty),
            $enum::U16(items) => lower_slice(items, $cx, $ty),
            $enum::S16(items) => lower_slice(items, $cx, $ty),
            $enum::U32(items) => lower_slice(items, $cx, $ty),
            $enum::S32(items) => lower_slice(items, $cx, $ty),
            $enum::U64(items) => lower_slice(items, $cx, $ty),
            $enum::S64(items) => lower_slice(items, $cx, $ty),
            $enum::F32(items) => lower_slice(items, $cx, $ty),
            $enum::F64(items) => lower_slice(items, $cx, $ty),
        }
    };
}

fn is_number_type(ty: &InterfaceType) -> bool {
    matches!(
        ty,
        InterfaceType::U8
            | InterfaceType::S8
            | InterfaceType::U16
            | InterfaceType::S16
            | InterfaceType::U32
            | InterfaceType::S32
            | InterfaceType::U64
            | InterfaceType::S64
            | InterfaceType::Float32
            | InterfaceType::Float64
    )
}

// SAFETY: `Lower` is an array of `ValRaw`, as the trait requires. `typecheck` accepts only a
// tuple of scalars (one core value each) and lists of numbers or of number lists (two each: the
// address and length), at most 16 core values, so the canonical ABI passes them flat and the
// memory form below is never asked for; `ABI` describes 16 eight-byte slots, the widest such
// tuple. Lists are written through the guest's `realloc`, hence `MAY_REQUIRE_REALLOC`.
#[allow(unsafe_code)]
unsafe impl ComponentType for Params {
    type Lower = [ValRaw; MAX_FLAT_PARAMS];

    const ABI: CanonicalAbiInfo =
        CanonicalAbiInfo::fixed_length_list_static(&CanonicalAbiInfo::SCALAR8, 16);

    const MAY_REQUIRE_REALLOC: bool = true;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        let InterfaceType::Tuple(tuple) = ty else {
            wasmtime::bail!("expected a parameter list");
        };
        let list_element = |ty: &InterfaceType| match ty {
            InterfaceType::List(list) => Some(types.types[*list].element),
            _ => None,
        };
        let mut flat = 0;
        for param in types.types[*tuple].types.iter() {
            flat += if is_number_type(param)
                || matches!(param, InterfaceType::Bool | InterfaceType::Char)
            {
                1
            } else {
                match list_element(param) {
                    Some(element) if is_number_type(&element) => 2,
                    Some(element) if list_element(&element).is_some_and(|e| is_number_type(&e)) => {
                        2
                    }
                    _ => wasmtime::bail!("expected scalar and number-list parameters"),
                }
            };
        }
        if flat > MAX_FLAT_PARAMS {
            wasmtime::bail!("expected at most {MAX_FLAT_PARAMS} flat parameter values");
        }
        Ok(())
    }
}

// SAFETY: a parameter list, checked by `typecheck` above.
#[allow(unsafe_code)]
unsafe impl ComponentNamedList for Params {}

// SAFETY: writes every slot of `Lower`.
#[allow(unsafe_code)]
unsafe impl Lower for Params {
    fn linear_lower_to_flat<T>(
        &self,
        cx: &mut LowerContext<'_, T>,
        ty: InterfaceType,
        dst: &mut MaybeUninit<Self::Lower>,
    ) -> wasmtime::Result<()> {
        let InterfaceType::Tuple(tuple) = ty else {
            wasmtime::bail!("expected a parameter list");
        };
        let fields: Vec<InterfaceType> = cx.types[tuple].types.to_vec();
        let mut raw = [ValRaw::u64(0); MAX_FLAT_PARAMS];
        let mut at = 0;
        for (param, field) in self.0.iter().zip(fields) {
            match param {
                Lowered::Raw(value) => {
                    raw[at] = *value;
                    at += 1;
                }
                Lowered::List(list) => {
                    let pair = lower_numbers!(list, cx, field, NumberList)?;
                    raw[at..at + 2].copy_from_slice(&pair);
                    at += 2;
                }
                Lowered::Lists(lists) => {
                    let pair = lower_numbers!(lists, cx, field, NumberLists)?;
                    raw[at..at + 2].copy_from_slice(&pair);
                    at += 2;
                }
            }
        }
        dst.write(raw);
        Ok(())
    }

    fn linear_lower_to_memory<T>(
        &self,
        _cx: &mut LowerContext<'_, T>,
        _ty: InterfaceType,
        _offset: usize,
    ) -> wasmtime::Result<()> {
        wasmtime::bail!("at most 16 flat values are passed flat, never through memory")
    }
}

#[cfg(test)]
mod tests {
    use crate::{ErrorKind, Sandbox, SandboxConfig};
    use wasmdask_values::{ArgValue, arg_values_from_binary, args_to_binary, to_binary};
    use wasmtime::component::Val;

    /// `(WIT type, core type, store instruction, bytes)` of each element type.
    const ELEMENTS: [(&str, &str, &str, usize); 10] = [
        ("u8", "i32", "i32.store8", 1),
        ("s8", "i32", "i32.store8", 1),
        ("u16", "i32", "i32.store16", 2),
        ("s16", "i32", "i32.store16", 2),
        ("u32", "i32", "i32.store", 4),
        ("s32", "i32", "i32.store", 4),
        ("u64", "i64", "i64.store", 8),
        ("s64", "i64", "i64.store", 8),
        ("f32", "f32", "f32.store", 4),
        ("f64", "f64", "f64.store", 8),
    ];

    /// Every scalar parameter type, 16 of them: the most the canonical ABI passes flat.
    const SCALARS: [(&str, &str); 16] = [
        ("bool", "i32"),
        ("s8", "i32"),
        ("u8", "i32"),
        ("s16", "i32"),
        ("u16", "i32"),
        ("s32", "i32"),
        ("u32", "i32"),
        ("s64", "i64"),
        ("u64", "i64"),
        ("f32", "f32"),
        ("f64", "f64"),
        ("char", "i32"),
        ("u32", "i32"),
        ("u32", "i32"),
        ("u32", "i32"),
        ("u32", "i32"),
    ];

    /// A component whose exports return lists read from a data segment of 64 pattern bytes,
    /// in every element type:
    /// - `list-<t>(first: t, count: u32) -> list<t>`: element 0 is `first` (stored with the
    ///   element's own width), the rest the pattern;
    /// - `maybe-f64(fail: bool) -> result<list<f64>, string>`: the pattern, or the err `boom`;
    /// - `scalars(16 parameters) -> list<u64>`: each parameter's core value, widened.
    fn component() -> Vec<u8> {
        let pattern: String = (0..64u8)
            .map(|b| format!("\\{:02x}", b * 37 + 11))
            .collect();
        let mut core = format!(
            r#"(memory (export "memory") 1)
               (data (i32.const 1024) "{pattern}")
               (data (i32.const 2048) "boom")"#
        );
        let mut lifts = String::new();
        for (wit, core_ty, store, width) in ELEMENTS {
            core += &format!(
                r#"(func (export "list-{wit}") (param {core_ty} i32) (result i32)
                     (i32.const 1024) (local.get 0) ({store})
                     (i32.store (i32.const 16) (i32.const 1024))
                     (i32.store (i32.const 20) (i32.const {len}))
                     (i32.const 16))"#,
                len = 64 / width
            );
            lifts += &format!(
                r#"(func (export "list-{wit}") (param "first" {wit}) (param "count" u32)
                     (result (list {wit}))
                     (canon lift (core func $i "list-{wit}") (memory $mem)))"#
            );
        }
        core += r#"(func (export "maybe-f64") (param i32) (result i32)
                     (i32.store8 (i32.const 32) (local.get 0))
                     (if (local.get 0)
                       (then (i32.store (i32.const 36) (i32.const 2048))
                             (i32.store (i32.const 40) (i32.const 4)))
                       (else (i32.store (i32.const 36) (i32.const 1024))
                             (i32.store (i32.const 40) (i32.const 8))))
                     (i32.const 32))"#;
        lifts += r#"(func (export "maybe-f64") (param "fail" bool)
                     (result (result (list f64) (error string)))
                     (canon lift (core func $i "maybe-f64") (memory $mem)))"#;
        let core_params: Vec<&str> = SCALARS.iter().map(|(_, core)| *core).collect();
        let stores: String = SCALARS
            .iter()
            .enumerate()
            .map(|(k, (_, core))| {
                let widened = match *core {
                    "i32" => format!("(i64.extend_i32_u (local.get {k}))"),
                    "i64" => format!("(local.get {k})"),
                    "f32" => format!("(i64.extend_i32_u (i32.reinterpret_f32 (local.get {k})))"),
                    _ => format!("(i64.reinterpret_f64 (local.get {k}))"),
                };
                format!("(i64.store (i32.const {}) {widened})", 4096 + 8 * k)
            })
            .collect();
        core += &format!(
            r#"(func (export "scalars") (param {}) (result i32)
                 {stores}
                 (i32.store (i32.const 16) (i32.const 4096))
                 (i32.store (i32.const 20) (i32.const 16))
                 (i32.const 16))"#,
            core_params.join(" ")
        );
        let params: String = SCALARS
            .iter()
            .enumerate()
            .map(|(k, (wit, _))| format!(r#"(param "p{k}" {wit}) "#))
            .collect();
        lifts += &format!(
            r#"(func (export "scalars") {params} (result (list u64))
                 (canon lift (core func $i "scalars") (memory $mem)))"#
        );
        let wat = format!(
            r#"(component
                 (core module $m {core})
                 (core instance $i (instantiate $m))
                 (alias core export $i "memory" (core memory $mem))
                 {lifts})"#
        );
        wat::parse_str(&wat).unwrap_or_else(|e| panic!("{e}\n{wat}"))
    }

    fn sandbox() -> std::sync::Arc<Sandbox> {
        Sandbox::new(SandboxConfig {
            cache_dir: None,
            ..SandboxConfig::default()
        })
        .unwrap()
    }

    /// Runs `function` both ways and checks that the typed call took it and gave the bytes
    /// the `Val` path encodes. Returns the `Val`s.
    fn both_ways(sandbox: &Sandbox, function: &str, args: Vec<Val>) -> Vec<Val> {
        let component = sandbox.load(component()).unwrap();
        let task = component.task(function).unwrap();
        assert!(task.typed.is_some(), "`{function}` takes the typed call");
        let by_val = sandbox.execute(&component, function, args.clone(), None, 0);
        let args = args.into_iter().map(ArgValue::Val).collect();
        let typed = sandbox.execute_encoded(&component, function, args, None, 0, None);
        let val = by_val.outcome.unwrap().unwrap();
        let ty = task.output_type().unwrap();
        assert_eq!(
            typed.outcome.unwrap().to_vec(),
            to_binary(&val, &ty).unwrap(),
            "`{function}`"
        );
        match val {
            Val::List(items) => items,
            other => panic!("`{function}` returned {other:?}"),
        }
    }

    #[test]
    fn every_element_type_encodes_as_its_vals_do() {
        let sandbox = sandbox();
        let firsts = [
            Val::U8(u8::MAX),
            Val::S8(i8::MIN),
            Val::U16(u16::MAX),
            Val::S16(-2),
            Val::U32(u32::MAX),
            Val::S32(i32::MIN),
            Val::U64(u64::MAX),
            Val::S64(-3),
            Val::Float32(-1.5),
            Val::Float64(f64::MAX),
        ];
        for ((wit, _, _, width), first) in ELEMENTS.into_iter().zip(firsts) {
            let function = format!("list-{wit}");
            let items = both_ways(&sandbox, &function, vec![first.clone(), Val::U32(0)]);
            assert_eq!(items.len(), 64 / width, "`{function}`");
            assert_eq!(items[0], first, "`{function}` got its first argument");
        }
    }

    #[test]
    fn sixteen_scalars_are_lowered_as_wasmtime_lowers_them() {
        let args = vec![
            Val::Bool(true),
            Val::S8(-1),
            Val::U8(200),
            Val::S16(-300),
            Val::U16(60_000),
            Val::S32(-5),
            Val::U32(4_000_000_000),
            Val::S64(i64::MIN),
            Val::U64(u64::MAX - 1),
            Val::Float32(f32::NAN),
            Val::Float64(-0.0),
            Val::Char('🦀'),
            Val::U32(1),
            Val::U32(2),
            Val::U32(3),
            Val::U32(u32::MAX),
        ];
        let raw = both_ways(&sandbox(), "scalars", args);
        // Spot checks of what the guest saw: s8 -1 sign-extended to i32, a char as its code point.
        assert_eq!(raw[1], Val::U64(u64::from(u32::MAX)));
        assert_eq!(raw[11], Val::U64(0x1F980));
        assert_eq!(raw[15], Val::U64(u64::from(u32::MAX)));
    }

    #[test]
    fn a_result_err_is_a_guest_error_either_way() {
        let sandbox = sandbox();
        both_ways(&sandbox, "maybe-f64", vec![Val::Bool(false)]);
        let component = sandbox.load(component()).unwrap();
        let failing = vec![Val::Bool(true)];
        let by_val = sandbox.execute(&component, "maybe-f64", failing.clone(), None, 0);
        let failing = failing.into_iter().map(ArgValue::Val).collect();
        let typed = sandbox.execute_encoded(&component, "maybe-f64", failing, None, 0, None);
        let (by_val, typed) = (by_val.outcome.unwrap_err(), typed.outcome.unwrap_err());
        assert_eq!(typed.kind, ErrorKind::GuestError);
        assert_eq!(typed.message, "boom");
        assert_eq!((typed.kind, &typed.message), (by_val.kind, &by_val.message));
    }

    #[test]
    fn only_scalar_parameters_and_number_lists_take_it() {
        use super::Shape;
        use wasmtime::component::Type;
        let scalars = [("x".to_string(), Type::U32)];
        assert_eq!(Shape::of(&scalars, None), None, "no result");
        assert_eq!(Shape::of(&scalars, Some(&Type::U32)), None, "not a list");
        assert_eq!(Shape::of(&scalars, Some(&Type::String)), None);
        let seventeen: Vec<(String, Type)> = (0..17).map(|k| (format!("p{k}"), Type::U8)).collect();
        let component = sandbox().load(component()).unwrap();
        let list = component.task("list-u8").unwrap().result.clone();
        assert_eq!(Shape::of(&seventeen, list.as_ref()), None, "17 parameters");
        let string = [("s".to_string(), Type::String)];
        assert_eq!(
            Shape::of(&string, list.as_ref()),
            None,
            "a string parameter"
        );
        assert!(Shape::of(&scalars, list.as_ref()).is_some());
    }

    /// A component whose exports take lists of numbers (a bump allocator is its `realloc`):
    /// - `sum-f64(xs: list<f64>) -> f64` and `sum-u32(xs: list<u32>) -> u64`;
    /// - `sum-lists(parts: list<list<f64>>, k: f64) -> f64`: every element, times `k`;
    /// - `scale(xs: list<f64>, k: f64) -> list<f64>`.
    fn lists_component() -> Vec<u8> {
        let wat = r#"(component
          (core module $m
            (memory (export "memory") 1)
            (global $next (mut i32) (i32.const 1024))
            (func (export "realloc") (param i32 i32 i32 i32) (result i32) (local $p i32)
              (local.set $p (i32.and (i32.add (global.get $next) (i32.const 7)) (i32.const -8)))
              (global.set $next (i32.add (local.get $p) (local.get 3)))
              (if (i32.gt_u (global.get $next) (i32.mul (memory.size) (i32.const 65536)))
                (then (drop (memory.grow (i32.add (i32.shr_u (i32.sub (global.get $next)
                  (i32.mul (memory.size) (i32.const 65536))) (i32.const 16)) (i32.const 1))))))
              (local.get $p))
            (func $sum (param $p i32) (param $n i32) (result f64) (local $acc f64)
              (block $done (loop $next
                (br_if $done (i32.eqz (local.get $n)))
                (local.set $acc (f64.add (local.get $acc) (f64.load (local.get $p))))
                (local.set $p (i32.add (local.get $p) (i32.const 8)))
                (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                (br $next)))
              (local.get $acc))
            (func (export "sum-f64") (param i32 i32) (result f64) (call $sum (local.get 0) (local.get 1)))
            (func (export "sum-u32") (param $p i32) (param $n i32) (result i64) (local $acc i64)
              (block $done (loop $next
                (br_if $done (i32.eqz (local.get $n)))
                (local.set $acc (i64.add (local.get $acc) (i64.load32_u (local.get $p))))
                (local.set $p (i32.add (local.get $p) (i32.const 4)))
                (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                (br $next)))
              (local.get $acc))
            (func (export "sum-lists") (param $p i32) (param $n i32) (param $k f64) (result f64)
              (local $acc f64)
              (block $done (loop $next
                (br_if $done (i32.eqz (local.get $n)))
                (local.set $acc (f64.add (local.get $acc)
                  (call $sum (i32.load (local.get $p)) (i32.load offset=4 (local.get $p)))))
                (local.set $p (i32.add (local.get $p) (i32.const 8)))
                (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                (br $next)))
              (f64.mul (local.get $acc) (local.get $k)))
            (func (export "scale") (param $p i32) (param $n i32) (param $k f64) (result i32)
              (local $out i32) (local $i i32)
              (local.set $out (call 0 (i32.const 0) (i32.const 0) (i32.const 8)
                (i32.mul (local.get $n) (i32.const 8))))
              (block $done (loop $next
                (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
                (f64.store (i32.add (local.get $out) (i32.mul (local.get $i) (i32.const 8)))
                  (f64.mul (local.get $k) (f64.load (i32.add (local.get $p)
                    (i32.mul (local.get $i) (i32.const 8))))))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $next)))
              (i32.store (i32.const 16) (local.get $out))
              (i32.store (i32.const 20) (local.get $n))
              (i32.const 16)))
          (core instance $i (instantiate $m))
          (alias core export $i "memory" (core memory $mem))
          (alias core export $i "realloc" (core func $realloc))
          (func (export "sum-f64") (param "xs" (list f64)) (result f64)
            (canon lift (core func $i "sum-f64") (memory $mem) (realloc $realloc)))
          (func (export "sum-u32") (param "xs" (list u32)) (result u64)
            (canon lift (core func $i "sum-u32") (memory $mem) (realloc $realloc)))
          (func (export "sum-lists") (param "parts" (list (list f64))) (param "k" f64) (result f64)
            (canon lift (core func $i "sum-lists") (memory $mem) (realloc $realloc)))
          (func (export "scale") (param "xs" (list f64)) (param "k" f64) (result (list f64))
            (canon lift (core func $i "scale") (memory $mem) (realloc $realloc))))"#;
        wat::parse_str(wat).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Number-list arguments lowered typed, given as `Val`s or decoded straight from their
    /// binary encoding, give the bytes the `Val` path gives.
    #[test]
    fn number_list_parameters_are_lowered_as_wasmtime_lowers_them() {
        let sandbox = sandbox();
        let component = sandbox.load(lists_component()).unwrap();
        let floats =
            |n: usize, k: f64| Val::List((0..n).map(|i| Val::Float64(i as f64 * k)).collect());
        let cases = [
            ("sum-f64", vec![floats(100_000, 0.5)]),
            ("sum-f64", vec![floats(0, 1.0)]),
            (
                "sum-u32",
                vec![Val::List(
                    (0..1000).map(|i| Val::U32(u32::MAX - i)).collect(),
                )],
            ),
            (
                "sum-lists",
                vec![
                    Val::List(vec![floats(1000, 1.0), floats(0, 1.0), floats(3, -2.0)]),
                    Val::Float64(0.25),
                ],
            ),
            ("sum-lists", vec![Val::List(vec![]), Val::Float64(1.0)]),
            ("scale", vec![floats(5000, 1.5), Val::Float64(-2.0)]),
        ];
        for (function, args) in cases {
            let task = component.task(function).unwrap();
            assert!(task.is_typed(), "`{function}` takes the typed call");
            let by_val = sandbox.execute(&component, function, args.clone(), None, 0);
            let val = by_val.outcome.unwrap().unwrap();
            let expected = to_binary(&val, &task.output_type().unwrap()).unwrap();
            let as_vals = args.iter().cloned().map(ArgValue::Val).collect();
            let typed = sandbox.execute_encoded(&component, function, as_vals, None, 0, None);
            assert_eq!(
                typed.outcome.unwrap().to_vec(),
                expected,
                "`{function}`, Vals"
            );
            let binary = args_to_binary(&args, &task.params).unwrap();
            let decoded = arg_values_from_binary(&binary, &task.params).unwrap();
            assert!(
                decoded.iter().any(|arg| !matches!(arg, ArgValue::Val(_))),
                "`{function}`: lists decode as vectors"
            );
            let typed = sandbox.execute_encoded(&component, function, decoded, None, 0, None);
            assert_eq!(
                typed.outcome.unwrap().to_vec(),
                expected,
                "`{function}`, vectors"
            );
        }
    }
}
