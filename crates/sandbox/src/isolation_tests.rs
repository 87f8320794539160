//! Every execution starts from the component's initial state, however the pooling allocator
//! reuses and resets its slots (memory kept resident and zeroed with `memset`, the rest
//! returned to the kernel): a call sees nothing a previous call left in globals, linear memory
//! (below and above the resident part, in pages it grew), data segments or tables.

use crate::{Sandbox, SandboxConfig};
use wasmtime::component::Val;

/// `poke: func() -> u64` returns how much of a previous call it sees (0 in a fresh instance),
/// then leaves its own marks everywhere: a global, a data segment's byte, memory written low,
/// a table slot, and memory grown by 300 pages (past the resident part) and written at the top,
/// where it also looks (1000 if it cannot grow).
fn poking_component() -> Vec<u8> {
    let wat = r#"(component
      (core module $m
        (memory (export "memory") 1)
        (global $g (mut i32) (i32.const 0))
        (table $t 2 funcref)
        (func $f)
        (elem declare func $f)
        (data (i32.const 200) "\2a")
        (func (export "poke") (result i64)
          (local $seen i32)
          (local.set $seen
            (i32.add
              (i32.add (global.get $g) (i32.load (i32.const 100)))
              (i32.add
                (i32.sub (memory.size) (i32.const 1))
                (i32.ne (i32.load8_u (i32.const 200)) (i32.const 42)))))
          (local.set $seen
            (i32.add (local.get $seen) (i32.eqz (ref.is_null (table.get $t (i32.const 1))))))
          (global.set $g (i32.const 7))
          (i32.store (i32.const 100) (i32.const 9))
          (i32.store8 (i32.const 200) (i32.const 0))
          (table.set $t (i32.const 1) (ref.func $f))
          (if (i32.eq (memory.grow (i32.const 300)) (i32.const -1))
            (then (return (i64.const 1000))))
          (local.set $seen (i32.add (local.get $seen) (i32.load (i32.const 19726332))))
          (i32.store (i32.const 19726332) (i32.const 5))
          (i64.extend_i32_u (local.get $seen))))
      (core instance $i (instantiate $m))
      (func (export "poke") (result u64) (canon lift (core func $i "poke"))))"#;
    wat::parse_str(wat).expect("valid WAT")
}

/// The probe works: the same instance, called twice, sees its own marks the second time.
#[test]
fn the_probe_sees_marks_left_in_its_own_instance() {
    use wasmtime::component::{Component, Linker};
    let engine = wasmtime::Engine::default();
    let component = Component::new(&engine, poking_component()).unwrap();
    let mut store = wasmtime::Store::new(&engine, ());
    let instance = Linker::new(&engine)
        .instantiate(&mut store, &component)
        .unwrap();
    let poke = instance
        .get_typed_func::<(), (u64,)>(&mut store, "poke")
        .unwrap();
    assert_eq!(poke.call(&mut store, ()).unwrap(), (0,));
    // global 7 + memory 9 + 300 grown pages + the data byte + the table slot + the high word 5.
    assert_eq!(
        poke.call(&mut store, ()).unwrap(),
        (7 + 9 + 300 + 1 + 1 + 5,)
    );
}

#[test]
fn no_call_sees_what_an_earlier_one_left() {
    // Two pooled instances: every call after the second reuses a slot another call dirtied.
    let sandbox = Sandbox::new(SandboxConfig {
        cache_dir: None,
        max_instances: 2,
        ..SandboxConfig::default()
    })
    .unwrap();
    let component = sandbox.load(poking_component()).unwrap();
    for call in 0..200 {
        let report = sandbox.execute(&component, "poke", Vec::new(), None, 0);
        assert_eq!(
            report.outcome.expect("pokes"),
            Some(Val::U64(0)),
            "call {call} saw an earlier call's state"
        );
    }
}
