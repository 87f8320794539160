//! Loading a component: check the bytes, compile (or load from the artifact cache), check its
//! imports, link it once (`InstancePre`) and describe its exported tasks.

use super::cache::ArtifactCache;
use super::guest_runtime::GuestRuntime;
use super::host::HostState;
use super::typed_call::Shape;
use crate::task_error::{ErrorKind, TaskError};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmdask_values as values;
use wasmdask_values::{ArgValue, ValueError};
use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, ComponentExportIndex, InstancePre, Linker, Type, Val};

/// Import namespaces a task may use; anything else is rejected at load time.
const ALLOWED_IMPORT_PREFIXES: &[&str] = &[
    "wasmdask:task/",
    "wasi:cli/",
    "wasi:clocks/",
    "wasi:filesystem/",
    "wasi:io/",
    "wasi:random/",
    "wasi:sockets/",
];

/// Why a component could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Not WebAssembly at all (the message says what it looks like).
    #[error("{0}")]
    NotWasm(String),
    #[error(
        "this is a core WebAssembly module, not a component; wrap it with \
         `wasm-tools component new` (or build for the wasm32-wasip2 target)"
    )]
    /// A core module where a component was expected.
    CoreModule,
    #[error(
        "the component imports `{name}`, which wasmdask does not provide; a task may import only \
         the `wasmdask:task` interfaces and WASI p2 (wasi:cli, clocks, filesystem, io, random, \
         sockets)"
    )]
    /// An import the sandbox does not provide.
    UnknownImport {
        /// The import's name.
        name: String,
    },
    /// wasmtime refused it.
    #[error("the component is invalid: {0}")]
    Invalid(String),
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

impl From<LoadError> for TaskError {
    fn from(e: LoadError) -> Self {
        TaskError::new(ErrorKind::InvalidComponent, e.to_string())
    }
}

/// One exported task: a root-level function of the component.
#[derive(Debug, Clone)]
pub struct TaskSig {
    /// The WIT name, e.g. `sum-of-squares`.
    pub name: String,
    /// Parameter names and types, in order.
    pub params: Vec<(String, Type)>,
    /// The return type, if any.
    pub result: Option<Type>,
    pub(crate) index: ComponentExportIndex,
    /// Set when a typed call can skip the per-element `Val`s of the result.
    pub(crate) typed: Option<Shape>,
}

impl TaskSig {
    /// Whether calls of this task lower and lift their number lists without a `Val` per
    /// element (`typed_call`).
    pub fn is_typed(&self) -> bool {
        self.typed.is_some()
    }

    /// A call's arguments from their binary encoding, as
    /// [`Sandbox::execute_encoded`](crate::Sandbox::execute_encoded) takes them: for a typed
    /// task, number lists stay vectors ([`wasmdask_values::arg_values_from_binary`]), never a
    /// `Val` per element.
    ///
    /// # Errors
    ///
    /// When the bytes are not values of the parameters' types.
    pub fn args_from_binary(&self, bytes: &[u8]) -> Result<Vec<ArgValue>, ValueError> {
        if self.is_typed() {
            wasmdask_values::arg_values_from_binary(bytes, &self.params)
        } else {
            wasmdask_values::args_from_binary(bytes, &self.params)
                .map(|args| args.into_iter().map(ArgValue::Val).collect())
        }
    }

    /// Whether an argument can be a file, directory or dataset (`wasmdask:task/data`), which a
    /// [`DataPort`](crate::DataPort) mounts for the execution.
    pub fn has_stored_params(&self) -> bool {
        self.params
            .iter()
            .any(|(_, ty)| values::contains_stored(ty))
    }

    /// Whether the result can hold a file, directory or dataset, written under `/outputs`.
    pub fn returns_stored(&self) -> bool {
        self.output_type()
            .is_some_and(|ty| values::contains_stored(&ty))
    }

    /// The type of a successful result: the `ok` side when the export returns `result<T, E>`
    /// (its `err` side becomes a task error).
    pub fn output_type(&self) -> Option<Type> {
        match &self.result {
            Some(Type::Result(r)) => r.ok(),
            other => other.clone(),
        }
    }

    /// The binary encoding of a successful result (empty when the export returns nothing), as it
    /// travels to whoever gathers it.
    pub fn encode_output(&self, value: Option<&Val>) -> Result<Bytes, TaskError> {
        match (value, self.output_type()) {
            (Some(value), Some(ty)) => values::to_binary(value, &ty)
                .map(Bytes::from)
                .map_err(|e| self.undecodable("encoded", e)),
            _ => Ok(Bytes::new()),
        }
    }

    /// The JSON of a result in the binary encoding (`null` for an export without a result).
    pub fn output_json(&self, bytes: &[u8]) -> Result<serde_json::Value, TaskError> {
        match self.output_type() {
            Some(ty) => values::from_binary(bytes, &ty)
                .map(|val| values::from_val(&val))
                .map_err(|e| self.undecodable("decoded", e)),
            None => Ok(serde_json::Value::Null),
        }
    }

    /// A result that does not fit the export's own type: the peers disagree about the
    /// component, which only mixed wasmdask versions can cause.
    fn undecodable(&self, what: &str, error: values::ValueError) -> TaskError {
        TaskError::new(
            ErrorKind::InvalidComponent,
            format!(
                "the result of `{}` could not be {what} ({error}); run one wasmdask version on \
                 every process of the cluster",
                self.name
            ),
        )
    }
}

/// A compiled, linked component, shared by every execution of it in this process.
pub struct LoadedComponent {
    /// `sha256:<hex>` of the component bytes.
    pub digest: String,
    /// The original bytes, for shipping to other workers.
    pub bytes: Arc<[u8]>,
    /// The root-level function exports: the tasks.
    pub tasks: Vec<TaskSig>,
    /// The interfaces it imports (`wasmdask:task/cluster`, `wasi:cli/…`).
    pub imports: Vec<String>,
    /// Whether the compiled artifact came from the on-disk cache.
    pub from_cache: bool,
    /// Time spent compiling or deserializing.
    pub load_time: Duration,
    /// The language runtime that built it, from its metadata: how its failures read and which
    /// of its capability uses are its runtime's rather than the task's.
    pub runtime: GuestRuntime,
    pub(crate) pre: InstancePre<HostState>,
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("digest", &self.digest)
            .field("size", &self.bytes.len())
            .field("runtime", &self.runtime)
            .field(
                "tasks",
                &self.tasks.iter().map(|t| &t.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl LoadedComponent {
    /// Finds an export by WIT name; `snake_case` spellings are accepted too.
    pub fn task(&self, name: &str) -> Result<&TaskSig, TaskError> {
        // Every call of a fan-out looks its export up by the canonical name: only a miss pays
        // for the snake_case spelling.
        self.tasks
            .iter()
            .find(|t| t.name == name)
            .or_else(|| {
                let kebab = name.replace('_', "-");
                self.tasks.iter().find(|t| t.name == kebab)
            })
            .ok_or_else(|| {
                TaskError::new(
                    ErrorKind::UnknownFunction,
                    format!(
                        "the component exports no function `{name}`; its tasks are: {}",
                        self.task_names()
                    ),
                )
            })
    }

    /// The only export, or an error listing them when there are several.
    pub fn only_task(&self) -> Result<&TaskSig, TaskError> {
        match self.tasks.as_slice() {
            [one] => Ok(one),
            [] => Err(TaskError::new(
                ErrorKind::UnknownFunction,
                "the component exports no functions, so it has no tasks",
            )),
            _ => Err(TaskError::new(
                ErrorKind::UnknownFunction,
                format!(
                    "the component exports several tasks; choose one with --function: {}",
                    self.task_names()
                ),
            )),
        }
    }

    /// Whether any export takes or returns a file, directory or dataset: only then does a run
    /// need a [`DataPort`](crate::DataPort) and an object-store client.
    pub fn uses_stored_data(&self) -> bool {
        self.tasks
            .iter()
            .any(|t| t.has_stored_params() || t.returns_stored())
    }

    fn task_names(&self) -> String {
        self.tasks
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `sha256:<hex>` of some bytes.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Rejects what is not a component before the expensive compile, with a message that says
/// what the file is instead.
fn check_header(bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(LoadError::NotWasm(
            "not a WebAssembly file (it does not start with the `\\0asm` magic); pass the \
             `.wasm` component your build produced"
                .to_string(),
        ));
    }
    match bytes[4..8] {
        [0x01, 0x00, 0x00, 0x00] => Err(LoadError::CoreModule),
        [_, _, 0x01, 0x00] => Ok(()),
        _ => Err(LoadError::NotWasm(
            "unknown WebAssembly binary version; rebuild the component with a current toolchain"
                .to_string(),
        )),
    }
}

pub(crate) fn load(
    engine: &Engine,
    linker: &Linker<HostState>,
    cache: Option<&ArtifactCache>,
    bytes: Arc<[u8]>,
) -> Result<LoadedComponent, LoadError> {
    check_header(&bytes)?;
    let digest = digest_of(&bytes);
    let hex = digest.trim_start_matches("sha256:").to_string();
    let started = Instant::now();
    let (component, from_cache) = compile_or_fetch(engine, cache, &hex, &bytes)?;
    let load_time = started.elapsed();
    // A walk over the sections, not the code: milliseconds even for an interpreter component.
    let runtime = GuestRuntime::detect(&bytes);

    let ty = component.component_type();
    let imports: Vec<String> = ty
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    if let Some(bad) = imports
        .iter()
        .find(|name| !ALLOWED_IMPORT_PREFIXES.iter().any(|p| name.starts_with(p)))
    {
        return Err(LoadError::UnknownImport { name: bad.clone() });
    }

    let mut tasks = Vec::new();
    for (name, item) in ty.exports(engine) {
        if let ComponentItem::ComponentFunc(func) = item.ty {
            let index = component
                .get_export_index(None, name)
                .ok_or_else(|| LoadError::Invalid(format!("export `{name}` has no index")))?;
            let params: Vec<(String, Type)> =
                func.params().map(|(n, t)| (n.to_string(), t)).collect();
            let result = func.results().next();
            tasks.push(TaskSig {
                name: name.to_string(),
                typed: Shape::of(&params, result.as_ref()),
                params,
                result,
                index,
            });
        }
    }

    let pre = linker
        .instantiate_pre(&component)
        .map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
    Ok(LoadedComponent {
        digest,
        bytes,
        tasks,
        imports,
        from_cache,
        load_time,
        runtime,
        pre,
    })
}

fn compile_or_fetch(
    engine: &Engine,
    cache: Option<&ArtifactCache>,
    hex: &str,
    bytes: &[u8],
) -> Result<(Component, bool), LoadError> {
    if let Some(cache) = cache {
        let path = cache.path_for(hex);
        if path.exists() {
            // SAFETY: the file is in the owner-only cache directory, written by this program
            // via `Component::serialize` under a key that includes the engine's compatibility
            // hash; wasmtime re-checks the header and version before mapping it.
            #[allow(unsafe_code)]
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok((component, true)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "ignoring unusable cached artifact: {e:#}")
                }
            }
        }
    }
    let component =
        Component::new(engine, bytes).map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
    if let Some(cache) = cache {
        match component.serialize() {
            Ok(artifact) => {
                if let Err(e) = cache.store(hex, &artifact) {
                    tracing::warn!("cannot write the compiled-component cache: {e}");
                }
            }
            Err(e) => tracing::warn!("cannot serialize the compiled component: {e:#}"),
        }
    }
    Ok((component, false))
}

#[cfg(test)]
mod tests {
    use crate::{GuestRuntime, Sandbox, SandboxConfig};
    use wasm_encoder::{Component, Module, ModuleSection, ProducersField, ProducersSection};

    #[test]
    fn a_loaded_component_knows_its_runtime() {
        let mut language = ProducersField::new();
        language.value("Rust", "1.95.0");
        let mut producers = ProducersSection::new();
        producers.field("language", &language);
        let mut module = Module::new();
        module.section(&producers);
        let mut component = Component::new();
        component.section(&ModuleSection(&module));

        let sandbox = Sandbox::new(SandboxConfig {
            cache_dir: None,
            ..SandboxConfig::types_only()
        })
        .unwrap();
        let loaded = sandbox.load(component.finish()).unwrap();
        assert_eq!(loaded.runtime, GuestRuntime::Rust);
        assert!(format!("{loaded:?}").contains("runtime: Rust"));
    }
}
