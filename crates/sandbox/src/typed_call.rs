//! A call that skips `Val` for the commonest large result: a list of numbers made from a few
//! scalars, such as `chunk: func(i: u32, len: u32) -> list<f64>`.
//!
//! Wasmtime's dynamic [`Func::call`] lifts a result into one `Val` per element, and a worker
//! then walks those `Val`s into the binary encoding: about 130 ms for a million `f64`s, most of
//! a data-heavy fan-out's time (bench [7]). A [`TypedFunc`] lifts the same list as a `Vec<f64>`
//! in one copy, and [`numbers_to_binary`] encodes it in another. The bytes are the ones
//! `to_binary` would give, so nothing downstream can tell the paths apart; the integration tests
//! compare the two.
//!
//! A typed call needs its parameter types at compile time, and a task's are known only when
//! the component loads. [`Scalars`] is a parameter list of up to 16 scalars (the canonical ABI
//! passes those in core-wasm arguments, never through memory) that checks the export's real
//! parameter types when the typed function is made, and lowers each `Val` to its core value.
//! It implements wasmtime's canonical-ABI traits, whose methods are `#[doc(hidden)]`: wasmtime
//! is pinned to one minor line (48.0.x) in Cargo.toml, and this file is the only place that
//! relies on them.

use std::mem::MaybeUninit;
use wasmdask_values::{Number, numbers_to_binary};
use wasmtime::component::__internal::{
    CanonicalAbiInfo, InstanceType, InterfaceType, LowerContext,
};
use wasmtime::component::{ComponentNamedList, ComponentType, Func, Lift, Lower, Type, Val};
use wasmtime::{AsContextMut, ValRaw};

/// The most parameters the canonical ABI passes as core-wasm arguments (`MAX_FLAT_PARAMS`).
const MAX_FLAT_PARAMS: usize = 16;

/// The exports a typed call serves: scalar parameters and a `list<T>` of numbers as the
/// result, or as the `ok` side of a `result<list<T>, string>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    element: Element,
    /// Whether the result is `result<list<T>, string>`.
    fallible: bool,
}

/// The number type of the result's elements.
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

impl Shape {
    /// The shape of an export with these parameters and result, if a typed call serves it.
    pub(crate) fn of(params: &[(String, Type)], result: Option<&Type>) -> Option<Shape> {
        if params.len() > MAX_FLAT_PARAMS || !params.iter().all(|(_, ty)| is_scalar(ty)) {
            return None;
        }
        let (list, fallible) = match result? {
            Type::List(list) => (list.clone(), false),
            Type::Result(result) => match (result.ok(), result.err()) {
                (Some(Type::List(list)), Some(Type::String)) => (list, true),
                _ => return None,
            },
            _ => return None,
        };
        let element = match list.ty() {
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
        };
        Some(Shape { element, fallible })
    }

    /// Calls `func` with `args` and returns the binary encoding of the list, or the guest's
    /// `err` string. `args` must fit the export's parameters (the caller checked them against
    /// the same types); wasmtime's own type check runs when the typed function is made.
    pub(crate) fn call(
        self,
        store: impl AsContextMut,
        func: Func,
        args: &[Val],
    ) -> wasmtime::Result<Result<Vec<u8>, String>> {
        let params = Scalars::lower(args)?;
        match self.element {
            Element::U8 => typed::<u8>(store, func, params, self.fallible),
            Element::S8 => typed::<i8>(store, func, params, self.fallible),
            Element::U16 => typed::<u16>(store, func, params, self.fallible),
            Element::S16 => typed::<i16>(store, func, params, self.fallible),
            Element::U32 => typed::<u32>(store, func, params, self.fallible),
            Element::S32 => typed::<i32>(store, func, params, self.fallible),
            Element::U64 => typed::<u64>(store, func, params, self.fallible),
            Element::S64 => typed::<i64>(store, func, params, self.fallible),
            Element::F32 => typed::<f32>(store, func, params, self.fallible),
            Element::F64 => typed::<f64>(store, func, params, self.fallible),
        }
    }
}

fn typed<N: Number + Lift>(
    mut store: impl AsContextMut,
    func: Func,
    params: Scalars,
    fallible: bool,
) -> wasmtime::Result<Result<Vec<u8>, String>> {
    if fallible {
        let typed = func.typed::<Scalars, (Result<Vec<N>, String>,)>(&store)?;
        let (returned,) = typed.call(store.as_context_mut(), params)?;
        Ok(returned.map(|items| numbers_to_binary(&items)))
    } else {
        let typed = func.typed::<Scalars, (Vec<N>,)>(&store)?;
        let (items,) = typed.call(store.as_context_mut(), params)?;
        Ok(Ok(numbers_to_binary(&items)))
    }
}

fn is_scalar(ty: &Type) -> bool {
    matches!(
        ty,
        Type::Bool
            | Type::U8
            | Type::S8
            | Type::U16
            | Type::S16
            | Type::U32
            | Type::S32
            | Type::U64
            | Type::S64
            | Type::Float32
            | Type::Float64
            | Type::Char
    )
}

/// Up to [`MAX_FLAT_PARAMS`] scalar arguments, already lowered to core-wasm values. Slots past
/// the export's parameter count stay zero: the call passes one buffer for arguments and
/// results, and the callee reads only its own parameters from it.
#[derive(Clone, Copy)]
struct Scalars([ValRaw; MAX_FLAT_PARAMS]);

impl Scalars {
    /// Each argument as the canonical ABI lowers it (wasmtime's own lowering of the Rust
    /// types: small integers widened to i32, signed ones sign-extended, floats as their bits).
    fn lower(args: &[Val]) -> wasmtime::Result<Scalars> {
        if args.len() > MAX_FLAT_PARAMS {
            wasmtime::bail!("{} scalar arguments, at most {MAX_FLAT_PARAMS}", args.len());
        }
        let mut raw = [ValRaw::u64(0); MAX_FLAT_PARAMS];
        for (slot, arg) in raw.iter_mut().zip(args) {
            *slot = match *arg {
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
                ref other => wasmtime::bail!("a typed call takes scalars, not {other:?}"),
            };
        }
        Ok(Scalars(raw))
    }
}

// SAFETY: `Lower` is an array of `ValRaw`, as the trait requires. `typecheck` accepts only a
// tuple of at most 16 scalars, whose canonical ABI is one core value per parameter, passed flat
// (16 is the flat limit, so the memory form below is never asked for); `ABI` describes 16
// eight-byte slots, the widest such tuple.
#[allow(unsafe_code)]
unsafe impl ComponentType for Scalars {
    type Lower = [ValRaw; MAX_FLAT_PARAMS];

    const ABI: CanonicalAbiInfo =
        CanonicalAbiInfo::fixed_length_list_static(&CanonicalAbiInfo::SCALAR8, 16);

    const MAY_REQUIRE_REALLOC: bool = false;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        let InterfaceType::Tuple(tuple) = ty else {
            wasmtime::bail!("expected a parameter list");
        };
        let params = &types.types[*tuple].types;
        let scalar = |ty: &InterfaceType| {
            matches!(
                ty,
                InterfaceType::Bool
                    | InterfaceType::U8
                    | InterfaceType::S8
                    | InterfaceType::U16
                    | InterfaceType::S16
                    | InterfaceType::U32
                    | InterfaceType::S32
                    | InterfaceType::U64
                    | InterfaceType::S64
                    | InterfaceType::Float32
                    | InterfaceType::Float64
                    | InterfaceType::Char
            )
        };
        if params.len() > MAX_FLAT_PARAMS || !params.iter().all(scalar) {
            wasmtime::bail!("expected at most {MAX_FLAT_PARAMS} scalar parameters");
        }
        Ok(())
    }
}

// SAFETY: a parameter list, checked by `typecheck` above.
#[allow(unsafe_code)]
unsafe impl ComponentNamedList for Scalars {}

// SAFETY: writes every slot of `Lower`.
#[allow(unsafe_code)]
unsafe impl Lower for Scalars {
    fn linear_lower_to_flat<T>(
        &self,
        _cx: &mut LowerContext<'_, T>,
        _ty: InterfaceType,
        dst: &mut MaybeUninit<Self::Lower>,
    ) -> wasmtime::Result<()> {
        dst.write(self.0);
        Ok(())
    }

    fn linear_lower_to_memory<T>(
        &self,
        _cx: &mut LowerContext<'_, T>,
        _ty: InterfaceType,
        _offset: usize,
    ) -> wasmtime::Result<()> {
        wasmtime::bail!("scalar parameters are passed flat, never through memory")
    }
}

#[cfg(test)]
mod tests {
    use crate::{ErrorKind, Sandbox, SandboxConfig};
    use wasmdask_values::to_binary;
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
}
