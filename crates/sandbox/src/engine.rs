//! The [`Sandbox`]: one wasmtime `Engine` and `Linker` per process, the epoch ticker that
//! enforces timeouts, the compiled-component registry and the instance permits.

use super::cache::{ArtifactCache, default_cache_dir};
use super::component::{self, LoadError, LoadedComponent};
use super::grants::{Denial, Grants};
use super::host::{self, HostState};
use super::limits::Limits;
use parking_lot::{Condvar, Mutex};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
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
    /// Executions that may be alive at once. With the pooling allocator this many instance
    /// slots are reserved up front; further executions wait for a slot instead of failing.
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
    permits: Permits,
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
        let err = |e: wasmtime::Error| SandboxError(format!("{e:#}"));
        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .epoch_interruption(true)
            .max_wasm_stack(config.limits.max_stack_bytes)
            // wasmtime requires the async stack to be at least the wasm stack.
            .async_stack_size(config.limits.max_stack_bytes + (1 << 20))
            .cranelift_opt_level(wasmtime::OptLevel::Speed);
        if config.pooling {
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
                .table_elements(config.limits.table_elements.min(1 << 20));
            wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&wasm).map_err(err)?;
        spawn_epoch_ticker(&engine);

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(err)?;
        host::add_to_linker(&mut linker).map_err(err)?;
        record_ungranted_reads(&mut linker, &config.grants).map_err(err)?;

        let cache = config
            .cache_dir
            .clone()
            .map(|dir| ArtifactCache::new(dir, &engine));
        Ok(Arc::new(Sandbox {
            engine,
            linker,
            cache,
            components: Mutex::new(HashMap::new()),
            permits: Permits::new(config.max_instances.max(1)),
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

    pub(crate) fn permit(&self) -> Permit<'_> {
        self.permits.acquire()
    }
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

/// Shadows the WASI functions through which a guest discovers environment variables and
/// preopened directories, so that reaching for an ungranted capability is remembered.
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
    if grants.dirs.is_empty() {
        type Descriptor = wasmtime::component::Resource<wasmtime_wasi::filesystem::Descriptor>;
        linker
            .instance("wasi:filesystem/preopens@0.2.12")?
            .func_wrap("get-directories", |mut store, (): ()| {
                store.data_mut().denials.record(Denial::Filesystem);
                Ok((Vec::<(Descriptor, String)>::new(),))
            })?;
    }
    linker.allow_shadowing(false);
    Ok(())
}

/// Bounds the executions alive at once. When the pooling allocator's slots are all taken, a new
/// execution waits here instead of failing (a failure mode users of pooled runtimes hit).
#[derive(Debug)]
struct Permits {
    free: Mutex<usize>,
    released: Condvar,
}

pub(crate) struct Permit<'a>(&'a Permits);

impl Permits {
    fn new(n: usize) -> Self {
        Permits {
            free: Mutex::new(n),
            released: Condvar::new(),
        }
    }

    fn acquire(&self) -> Permit<'_> {
        let mut free = self.free.lock();
        while *free == 0 {
            self.released.wait(&mut free);
        }
        *free -= 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.free.lock() += 1;
        self.0.released.notify_one();
    }
}
