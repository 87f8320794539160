//! Side-by-side benchmark of the sandbox (run with `cargo bench -p wasmdask --bench overhead`).
//!
//! Every number is reported next to a peer measured in the same run, as a ratio, because these
//! machines are noisy:
//! - per-execution overhead of a trivial task (fresh store + instance + call + drop), with the
//!   pooling allocator and without, next to a native function call and a process spawn;
//! - the example's CPU kernel in the sandbox vs. the same source compiled natively.

// Its unit test is not run here (no test harness), hence the allow.
#[path = "../examples/rust/src/kernel.rs"]
#[allow(unused_imports)]
mod kernel;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmdask_sandbox::{LoadedComponent, Sandbox, SandboxConfig};
use wasmdask_values as values;

const EXAMPLE: &str = wasmdask_test_guests::EXAMPLE_RUST;

fn sandbox(pooling: bool) -> (Arc<Sandbox>, Arc<LoadedComponent>) {
    let sandbox = Sandbox::new(SandboxConfig {
        pooling,
        cache_dir: None,
        max_instances: 16,
        ..SandboxConfig::default()
    })
    .expect("sandbox");
    let component = sandbox.load_file(EXAMPLE.as_ref()).expect("example loads");
    (sandbox, component)
}

/// Mean time per iteration of `f`, after a warm-up, over at least `min` wall time.
fn time_per_iter(min: Duration, mut f: impl FnMut()) -> Duration {
    for _ in 0..100 {
        f();
    }
    let mut iters = 0u32;
    let started = Instant::now();
    while started.elapsed() < min {
        for _ in 0..100 {
            f();
        }
        iters += 100;
    }
    started.elapsed() / iters
}

fn per_execution(pooling: bool) -> Duration {
    let (sandbox, component) = sandbox(pooling);
    let params = &component.task("square").expect("square").params;
    let args = values::args_from_json(&serde_json::json!([7]), params).expect("args");
    time_per_iter(Duration::from_secs(2), || {
        let report = sandbox.execute(&component, "square", args.clone(), None, 0);
        assert!(report.outcome.is_ok());
    })
}

fn kernel_in_sandbox(seed: u64, rounds: u32) -> (u64, Duration) {
    let (sandbox, component) = sandbox(true);
    let params = &component.task("hash-rounds").expect("hash-rounds").params;
    let args = values::args_from_json(&serde_json::json!([seed, rounds]), params).expect("args");
    let started = Instant::now();
    let report = sandbox.execute(&component, "hash-rounds", args, None, 0);
    let elapsed = started.elapsed();
    let value = match report.outcome {
        Ok(Some(v)) => values::from_val(&v).as_u64().expect("u64"),
        other => panic!("kernel failed: {other:?}"),
    };
    (value, elapsed)
}

fn main() {
    // Guest code runs on the calling thread's stack: give it room, as the worker pool does.
    std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(run)
        .expect("spawn")
        .join()
        .expect("benchmark");
}

fn run() {
    println!("wasmdask sandbox benchmark (ratios are within this run)\n");

    let native_call = time_per_iter(Duration::from_millis(500), || {
        black_box(black_box(7u64) * black_box(7u64));
    });
    let spawn = time_per_iter(Duration::from_secs(2), || {
        std::process::Command::new("true")
            .status()
            .expect("spawn `true`");
    });
    let pooled = per_execution(true);
    let on_demand = per_execution(false);
    println!("per-execution overhead, trivial task `square` (instantiate + call + drop):");
    println!("  sandbox, pooling allocator   {:>10.2?}", pooled);
    println!("  sandbox, on-demand allocator {:>10.2?}", on_demand);
    println!("  native function call         {:>10.2?}", native_call);
    println!("  process spawn (`true`)       {:>10.2?}", spawn);
    println!(
        "  ratios: on-demand/pooling = {:.2}x, spawn/sandbox = {:.0}x, sandbox/native call = {:.0}x\n",
        on_demand.as_secs_f64() / pooled.as_secs_f64(),
        spawn.as_secs_f64() / pooled.as_secs_f64(),
        pooled.as_secs_f64() / native_call.as_secs_f64().max(1e-12),
    );

    let (seed, rounds) = (42u64, 200_000_000u32);
    let (wasm_value, wasm_time) = kernel_in_sandbox(seed, rounds);
    let started = Instant::now();
    let native_value = kernel::hash_rounds(black_box(seed), black_box(rounds));
    let native_time = started.elapsed();
    assert_eq!(
        wasm_value, native_value,
        "the sandboxed kernel computes the same value"
    );
    println!("CPU kernel hash_rounds(seed={seed}, rounds={rounds}):");
    println!("  sandbox {:>10.2?}", wasm_time);
    println!("  native  {:>10.2?}", native_time);
    println!(
        "  ratio sandbox/native = {:.2}x (target: within 1.5x)",
        wasm_time.as_secs_f64() / native_time.as_secs_f64()
    );
}
