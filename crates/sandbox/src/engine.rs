//! The [`Sandbox`]: one wasmtime `Engine` and `Linker` per process, the epoch ticker that
//! enforces timeouts, the compiled-component registry and the instance permits (with the
//! instances beyond the pool of `overflow`).

use super::cache::{ArtifactCache, default_cache_dir};
use super::component::{self, LoadError, LoadedComponent};
use super::grants::{Denial, Grants};
use super::host::{self, HostState};
use super::limits::Limits;
use super::overflow::{self, Lease, Overflow, Permits};
use crate::task_error::TaskError;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; timeouts are enforced at this granularity.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Everything that shapes every execution of this process.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The limits of every execution.
    pub limits: Limits,
    /// What every execution may reach (deny by default).
    pub grants: Grants,
    /// Where compiled components are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Executions that hold a pooled instance at once. With the pooling allocator this many
    /// instance slots are reserved up front; further executions wait for a slot instead of
    /// failing, or, when every holder waits in `gather` for subtasks, run on instances made
    /// beyond the pool (so a deep fan-out tree cannot starve its own children).
    pub max_instances: usize,
    /// Use wasmtime's pooling allocator (faster instantiation, reserved virtual memory).
    pub pooling: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            limits: Limits::default(),
            grants: Grants::default(),
            cache_dir: Some(default_cache_dir()),
            max_instances: 128,
            pooling: true,
        }
    }
}

impl SandboxConfig {
    /// For commands that only read a component's export types (`inspect`, `build`, `render`,
    /// `serialize`): no pooling allocator, so no instance slots are reserved for executions
    /// that never happen. The compiled cache is still used, so a later run loads fast.
    pub fn types_only() -> Self {
        SandboxConfig {
            max_instances: 1,
            pooling: false,
            ..SandboxConfig::default()
        }
    }
}

/// Could not set up the sandbox itself (not a task failure).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the wasm sandbox: {0}")]
pub struct SandboxError(String);

/// The only owner of wasmtime state in the process.
pub struct Sandbox {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
    pub(crate) config: SandboxConfig,
    cache: Option<ArtifactCache>,
    components: Mutex<HashMap<String, Arc<LoadedComponent>>>,
    permits: Arc<Permits>,
    /// Made on first need: most runs never exhaust the pool.
    overflow: OnceLock<Result<Overflow, String>>,
    overflowed: AtomicU64,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("config", &self.config)
            .finish()
    }
}

impl Sandbox {
    /// The engine, linker, epoch ticker and cache for `config`.
    pub fn new(config: SandboxConfig) -> Result<Arc<Self>, SandboxError> {
        let (engine, linker) =
            new_engine(&config, config.pooling).map_err(|e| SandboxError(format!("{e:#}")))?;
        let cache = config
            .cache_dir
            .clone()
            .map(|dir| ArtifactCache::new(dir, &engine));
        Ok(Arc::new(Sandbox {
            engine,
            linker,
            cache,
            components: Mutex::new(HashMap::new()),
            permits: Arc::new(Permits::new(config.max_instances.max(1))),
            overflow: OnceLock::new(),
            overflowed: AtomicU64::new(0),
            config,
        }))
    }

    /// Compiles (or loads from cache) and links a component; the same bytes load once.
    pub fn load(&self, bytes: impl Into<Arc<[u8]>>) -> Result<Arc<LoadedComponent>, LoadError> {
        let bytes = bytes.into();
        let digest = component::digest_of(&bytes);
        if let Some(found) = self.lookup(&digest) {
            return Ok(found);
        }
        let loaded = Arc::new(component::load(
            &self.engine,
            &self.linker,
            self.cache.as_ref(),
            bytes,
        )?);
        tracing::debug!(digest = %loaded.digest, from_cache = loaded.from_cache, load_ms = loaded.load_time.as_millis() as u64, "component loaded");
        let mut map = self.components.lock();
        Ok(map.entry(digest).or_insert(loaded).clone())
    }

    /// Reads and [loads](Self::load) a component file.
    pub fn load_file(&self, path: &Path) -> Result<Arc<LoadedComponent>, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.display().to_string(),
            source,
        })?;
        self.load(bytes)
    }

    /// A component this process already loaded, by digest.
    pub fn lookup(&self, digest: &str) -> Option<Arc<LoadedComponent>> {
        self.components.lock().get(digest).cloned()
    }

    /// The configuration every execution gets.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// Executions that ran on instances beyond the pool because every pooled one was held by
    /// an execution waiting for its subtasks (for metrics; see [`SandboxConfig::max_instances`]).
    pub fn overflow_executions(&self) -> u64 {
        self.overflowed.load(Ordering::Relaxed)
    }

    /// The instance an execution of `component` runs on: a pooled one, waiting for it while a
    /// running holder can free one, else one beyond the pool.
    pub(crate) fn lease(&self, component: &LoadedComponent) -> Result<Lease, TaskError> {
        if let Some(permit) = self.permits.acquire() {
            return Ok(Lease::pooled(component, &self.engine, permit));
        }
        let overflow = self.overflow.get_or_init(|| {
            new_engine(&self.config, false)
                .map(|(engine, linker)| Overflow::new(engine, linker))
                .map_err(|e| format!("{e:#}"))
        });
        let lease = match overflow {
            Ok(overflow) => overflow.lease(component)?,
            Err(reason) => return Err(overflow::unavailable(reason.clone())),
        };
        let overflowed = self.overflowed.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(
            digest = %component.digest,
            max_instances = self.config.max_instances,
            overflowed,
            "no pooled instance is free and the executions holding them wait for their \
             subtasks; running beyond the pool"
        );
        Ok(lease)
    }
}

/// Bytes of each pooled linear memory that are reset in place when an instance ends, instead of
/// handed back to the kernel with `madvise` (which takes the process's mmap lock, so it
/// serialised every slot): the next instance in the slot then takes no page faults there. With
/// `pagemap_scan` only the pages the instance dirtied are reset; a plain memset of the whole
/// resident part was 45% of the CPU time of tiny calls. Measured on the 2-CPU VM, 100,000 tiny
/// calls (`sum-of-squares n=100000 --workers 1`): 3 `madvise` per call -> 0, user time 2.63 s ->
/// 1.1-1.45 s. Memory above it is returned to the kernel as before; either way the next instance
/// starts from the component's initial state (`isolation_tests`, and the per-language test in
/// tests/it/polyglot.rs).
const KEEP_RESIDENT: usize = 16 << 20;

/// The same for tables: a component's tables are a page or two, and without this each ended
/// instance cost two `madvise` calls (each takes the process's mmap lock) for them alone.
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// Idle slots that keep their resident memory (wasmtime's default is 100): at most 256 MiB of
/// idle instance memory stays resident, however many executions once ran at the same time (a
/// deep tree's waiting parents each hold a slot while they wait).
const WARM_SLOTS: u32 = 16;

/// An engine for `config` with its linker and epoch ticker: pooled for the sandbox itself,
/// on-demand for the instances beyond the pool. Everything but the allocator is the same, so
/// code compiled for one loads into the other.
fn new_engine(
    config: &SandboxConfig,
    pooled: bool,
) -> wasmtime::Result<(Engine, Linker<HostState>)> {
    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        .epoch_interruption(true)
        .max_wasm_stack(config.limits.max_stack_bytes)
        // wasmtime requires the async stack to be at least the wasm stack.
        .async_stack_size(config.limits.max_stack_bytes + (1 << 20))
        .cranelift_opt_level(wasmtime::OptLevel::Speed);
    if pooled {
        let mut pool = PoolingAllocationConfig::default();
        let n = config.max_instances.max(1) as u32;
        pool.total_component_instances(n)
            .total_core_instances(n * 16)
            .total_memories(n * 2)
            .total_tables(n * 8)
            .max_core_instances_per_component(64)
            .max_memories_per_component(8)
            .max_tables_per_component(32)
            // A 32-bit linear memory never exceeds 4 GiB; the limiter enforces the real cap.
            .max_memory_size(config.limits.memory_bytes.min(1 << 32))
            .table_elements(config.limits.table_elements.min(1 << 20))
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(TABLE_KEEP_RESIDENT)
            // Resets only the pages an instance dirtied (Linux >= 6.7; plain memset elsewhere).
            .pagemap_scan(wasmtime::Enabled::Auto)
            .max_unused_warm_slots(WARM_SLOTS);
        wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    let engine = Engine::new(&wasm)?;
    spawn_epoch_ticker(&engine);

    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    host::add_to_linker(&mut linker)?;
    record_ungranted_reads(&mut linker, &config.grants)?;
    crate::lazy::add_to_linker(&mut linker)?;
    Ok((engine, linker))
}

/// Advances the engine's epoch so `epoch_deadline_trap` can stop runaway guests. Holds only a
/// weak reference: the thread ends when the last engine clone is dropped.
fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("wasmdask-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })
        .expect("spawn the epoch ticker thread");
}

/// Shadows the WASI function through which a guest discovers environment variables, so that
/// reaching for them ungranted is remembered. (Reaching for directories with none granted or
/// mounted is recorded by `crate::lazy`, which knows each execution's mounts.)
fn record_ungranted_reads(linker: &mut Linker<HostState>, grants: &Grants) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    if grants.env.is_empty() {
        linker.instance("wasi:cli/environment@0.2.12")?.func_wrap(
            "get-environment",
            |mut store, (): ()| {
                store.data_mut().denials.record(Denial::Environment);
                Ok((Vec::<(String, String)>::new(),))
            },
        )?;
    }
    linker.allow_shadowing(false);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{DefaultHasher, Hash, Hasher};
    use wasm_encoder::{
        Alias, CanonicalFunctionSection, CodeSection, Component, ComponentAliasSection,
        ComponentExportKind, ComponentExportSection, ComponentTypeSection, ExportKind,
        ExportSection, Function, FunctionSection, InstanceSection, Module, ModuleArg,
        ModuleSection, PrimitiveValType, TypeSection, ValType,
    };
    use wasmtime::component::Val;

    /// A component exporting `answer: func() -> u32` that returns 42.
    fn answer_component() -> Vec<u8> {
        let mut types = TypeSection::new();
        types.ty().function([], [ValType::I32]);
        let mut functions = FunctionSection::new();
        functions.function(0);
        let mut exports = ExportSection::new();
        exports.export("answer", ExportKind::Func, 0);
        let mut code = CodeSection::new();
        let mut body = Function::new([]);
        body.instructions().i32_const(42).end();
        code.function(&body);
        let mut module = Module::new();
        module
            .section(&types)
            .section(&functions)
            .section(&exports)
            .section(&code);

        let mut instances = InstanceSection::new();
        instances.instantiate(0, Vec::<(&str, ModuleArg)>::new());
        let mut aliases = ComponentAliasSection::new();
        aliases.alias(Alias::CoreInstanceExport {
            instance: 0,
            kind: ExportKind::Func,
            name: "answer",
        });
        let mut func_types = ComponentTypeSection::new();
        func_types
            .function()
            .params(Vec::<(&str, PrimitiveValType)>::new())
            .result(Some(PrimitiveValType::U32.into()));
        let mut lift = CanonicalFunctionSection::new();
        lift.lift(0, 0, []);
        let mut component_exports = ComponentExportSection::new();
        component_exports.export("answer", ComponentExportKind::Func, 0, None);
        let mut component = Component::new();
        component
            .section(&ModuleSection(&module))
            .section(&instances)
            .section(&aliases)
            .section(&func_types)
            .section(&lift)
            .section(&component_exports);
        component.finish()
    }

    fn compatibility(engine: &Engine) -> u64 {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        hasher.finish()
    }

    #[test]
    fn code_compiled_for_the_pool_loads_beyond_it() {
        let config = SandboxConfig {
            cache_dir: None,
            max_instances: 2,
            ..SandboxConfig::default()
        };
        let (pooled, _) = new_engine(&config, true).unwrap();
        let (on_demand, _) = new_engine(&config, false).unwrap();
        assert_eq!(compatibility(&pooled), compatibility(&on_demand));
    }

    #[test]
    fn an_execution_runs_beyond_the_pool_when_every_holder_waits() {
        let sandbox = Sandbox::new(SandboxConfig {
            cache_dir: None,
            max_instances: 1,
            ..SandboxConfig::default()
        })
        .unwrap();
        let component = sandbox.load(answer_component()).unwrap();
        let answer = || {
            let report = sandbox.execute(&component, "answer", Vec::new(), None, 1);
            report.outcome.expect("answers")
        };
        assert_eq!(answer(), Some(Val::U32(42)));
        assert_eq!(sandbox.overflow_executions(), 0, "the pool sufficed");

        // The only pooled instance is held by an execution waiting for its subtasks.
        let _parent = sandbox.permits.acquire().unwrap();
        for round in 1..=2 {
            assert_eq!(sandbox.permits.while_blocked(answer), Some(Val::U32(42)));
            assert_eq!(sandbox.overflow_executions(), round);
        }
    }
}
