//! What a task's language costs the host (run with `cargo bench -p wasmdask --bench polyglot`).
//!
//! For the example in each language (the same tasks, built by the test-guest build script):
//! component size; **compile** time (cranelift, into an empty compiled cache); **cached load** time
//! (a fresh sandbox — as a new process or another worker would — deserializing the cached
//! artifact); and **instantiate** time per execution of the trivial `square` task (fresh store +
//! instance), next to its whole execution. Rust is the peer the interpreted languages are compared
//! with, in the same run.

use std::sync::Arc;
use std::time::Duration;
use wasmdask_sandbox::{LoadedComponent, Sandbox, SandboxConfig};
use wasmdask_test_guests as guests;
use wasmdask_values as values;

const EXAMPLES: &[(&str, &str)] = &[
    ("Rust", guests::EXAMPLE_RUST),
    ("C", guests::EXAMPLE_C),
    ("JavaScript", guests::EXAMPLE_JS),
    ("Python", guests::EXAMPLE_PYTHON),
];

/// Executions of `square` measured per language, after as many warm-up executions.
const EXECUTIONS: u32 = 200;

struct Row {
    size: usize,
    compile: Duration,
    cached_load: Duration,
    instantiate: Duration,
    execution: Duration,
}

fn sandbox(cache: &std::path::Path) -> Arc<Sandbox> {
    Sandbox::new(SandboxConfig {
        cache_dir: Some(cache.to_path_buf()),
        max_instances: 16,
        ..SandboxConfig::default()
    })
    .expect("sandbox")
}

fn load(sandbox: &Sandbox, path: &str, expect_cached: bool) -> Arc<LoadedComponent> {
    let component = sandbox.load_file(path.as_ref()).expect("example loads");
    assert_eq!(component.from_cache, expect_cached, "{path}");
    component
}

fn measure(path: &str) -> Row {
    let cache = tempfile::tempdir().expect("temp cache dir");
    let compiled = load(&sandbox(cache.path()), path, false);
    // A new sandbox has an empty in-memory registry, so this load reads the artifact from disk.
    let sandbox = sandbox(cache.path());
    let cached = load(&sandbox, path, true);
    let params = &cached.task("square").expect("square").params;
    let args = values::args_from_json(&serde_json::json!([7]), params).expect("args");
    let mut instantiate = Duration::ZERO;
    let mut execution = Duration::ZERO;
    for round in 0..2 * EXECUTIONS {
        let report = sandbox.execute(&cached, "square", args.clone(), None, 0);
        assert!(report.outcome.is_ok(), "{path}: {:?}", report.outcome);
        if round >= EXECUTIONS {
            instantiate += report.instantiate_time;
            execution += report.elapsed;
        }
    }
    Row {
        size: compiled.bytes.len(),
        compile: compiled.load_time,
        cached_load: cached.load_time,
        instantiate: instantiate / EXECUTIONS,
        execution: execution / EXECUTIONS,
    }
}

fn run() {
    println!(
        "wasmdask polyglot benchmark: the example in each language (ratios are within this run)\n"
    );
    println!(
        "{:<11} {:>9} {:>10} {:>12} {:>12} {:>12}",
        "language", "size", "compile", "cached load", "instantiate", "execution"
    );
    let rows: Vec<(&str, Row)> = EXAMPLES
        .iter()
        .map(|(language, path)| (*language, measure(path)))
        .collect();
    for (language, row) in &rows {
        println!(
            "{language:<11} {:>7.1}MB {:>10.2?} {:>12.2?} {:>12.2?} {:>12.2?}",
            row.size as f64 / 1e6,
            row.compile,
            row.cached_load,
            row.instantiate,
            row.execution,
        );
    }
    let rust = &rows[0].1;
    println!("\nratios to Rust (compile / cached load / instantiate):");
    for (language, row) in &rows[1..] {
        println!(
            "  {language:<11} {:>6.1}x {:>6.1}x {:>6.1}x; cached load is {:.0}x faster than compiling",
            row.compile.as_secs_f64() / rust.compile.as_secs_f64(),
            row.cached_load.as_secs_f64() / rust.cached_load.as_secs_f64(),
            row.instantiate.as_secs_f64() / rust.instantiate.as_secs_f64(),
            row.compile.as_secs_f64() / row.cached_load.as_secs_f64(),
        );
    }
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
