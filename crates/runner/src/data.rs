//! Files, directories and datasets (`wasmdask:task/data`) between the object store and the
//! sandbox: inputs fetched once per process and mounted read-only for the one execution that
//! takes them, outputs uploaded from the execution's `/outputs` to the raw-output prefix.
//!
//! [`StorePort`] is the runner's [`DataPort`]: embedded clusters and workers give it to their
//! pools, so a subtask that takes a file fetches it where it runs. The Flyte job calls
//! [`StorePort::mount`] itself for the root execution, to tell a missing object (the user's
//! input, `USER:bad-input`) from a store that failed (`SYSTEM:storage`, recoverable).

use crate::error::SystemError;
use crate::storage::{Location, Storage, StorageError};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::runtime::Runtime;
use wasmdask_sandbox::{
    DataPort, DirGrant, ErrorKind, INPUTS_DIR, OUTPUTS_DIR, TaskError, TaskSig,
};
use wasmdask_values::{DataType, StoredFields, visit_stored};
use wasmtime::component::{Type, Val};

/// Why stored data could not be made available or uploaded.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The input names no object, or an object of the wrong kind: the user's mistake.
    #[error("{0}")]
    Input(String),
    /// The task returned something that is not a file it wrote under `/outputs`.
    #[error("{0}")]
    Output(String),
    /// The store or the local disk failed; trying again may help.
    #[error("{what}: {source}")]
    Storage {
        /// What was being done.
        what: String,
        /// The store's error.
        source: StorageError,
    },
    /// The local disk failed.
    #[error("{0}")]
    Local(String),
}

impl DataError {
    /// As a task error: `bad-input` for the user's input, `denied` for an output outside
    /// `/outputs`, `lost` (retried) for the store.
    pub fn to_task_error(&self) -> TaskError {
        let kind = match self {
            DataError::Input(_) => ErrorKind::BadInput,
            DataError::Output(_) => ErrorKind::Denied,
            DataError::Storage { .. } | DataError::Local(_) => ErrorKind::Lost,
        };
        TaskError::new(kind, self.to_string())
    }

    /// As a job failure: the user's for inputs and outputs, the platform's (recoverable unless
    /// the object is simply missing) for the store.
    pub fn to_job_failure(&self) -> crate::execute::JobFailure {
        use crate::execute::JobFailure;
        match self {
            DataError::Input(_) | DataError::Output(_) => JobFailure::Task(self.to_task_error()),
            DataError::Storage { what, source } => {
                JobFailure::System(SystemError::storage(what, source))
            }
            DataError::Local(message) => JobFailure::System(SystemError::host(message.clone())),
        }
    }
}

/// Fetches stored inputs into a per-process cache and mounts them per execution.
#[derive(Debug)]
pub struct StorePort {
    runtime: Arc<Runtime>,
    cache: tempfile::TempDir,
    /// One entry per URI: the local copy, filled by the first execution that needs it while
    /// later ones wait on the entry's lock (so each object is fetched once per process).
    fetched: Mutex<HashMap<String, Arc<Mutex<Option<PathBuf>>>>>,
}

impl StorePort {
    /// A port with an empty cache in the temporary directory, fetching on `runtime`.
    ///
    /// # Errors
    ///
    /// When the cache directory cannot be made.
    pub fn new(runtime: Arc<Runtime>) -> Result<Self, SystemError> {
        let cache = tempfile::Builder::new()
            .prefix("wasmdask-data-")
            .tempdir()
            .map_err(|e| SystemError::host(format!("cannot make the data cache: {e}")))?;
        Ok(StorePort {
            runtime,
            cache,
            fetched: Mutex::default(),
        })
    }

    /// Fetches every stored value among `args`, sets its path to where the guest sees it and
    /// returns the read-only mounts, one per value.
    ///
    /// # Errors
    ///
    /// The first value that could not be fetched.
    pub fn mount(&self, task: &TaskSig, args: &mut [Val]) -> Result<Vec<DirGrant>, DataError> {
        let mut mounts = Vec::new();
        for ((_, ty), val) in task.params.iter().zip(args.iter_mut()) {
            visit_stored(val, ty, &mut |data, fields| {
                let guest = format!("{INPUTS_DIR}/{}", mounts.len());
                let (host, name) = self.local_copy(data, fields)?;
                fields.path = match name {
                    Some(name) => format!("{guest}/{name}"),
                    None => guest.clone(),
                };
                mounts.push(DirGrant {
                    host,
                    guest,
                    read_only: true,
                });
                Ok(())
            })?;
        }
        Ok(mounts)
    }

    /// The local directory holding a value (and, for a file, its name in it).
    fn local_copy(
        &self,
        data: &DataType,
        fields: &StoredFields<'_>,
    ) -> Result<(PathBuf, Option<String>), DataError> {
        let uri = if fields.uri.is_empty() {
            // A value made on this machine (`wasmdask run data=./x`) has only a path.
            fields.path.as_str()
        } else {
            fields.uri.as_str()
        };
        if uri.is_empty() {
            return Err(DataError::Input(format!(
                "{} has neither a uri nor a path",
                data.noun()
            )));
        }
        let name = file_name(uri);
        let entry = self
            .fetched
            .lock()
            .entry(format!("{}:{uri}", data.noun()))
            .or_default()
            .clone();
        let mut entry = entry.lock();
        if let Some(dir) = entry.as_ref() {
            return Ok((dir.clone(), (*data == DataType::File).then_some(name)));
        }
        let dir = self
            .cache
            .path()
            .join(format!("{}", self.fetched.lock().len()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| DataError::Local(format!("cannot make {}: {e}", dir.display())))?;
        let location = Location::parse(uri).map_err(|source| DataError::Storage {
            what: format!("cannot read {uri}"),
            source,
        })?;
        self.runtime.block_on(async {
            if *data == DataType::File {
                fetch_file(&location, &dir.join(&name)).await
            } else {
                fetch_dir(&location, &dir, data).await
            }
        })?;
        *entry = Some(dir.clone());
        Ok((dir, (*data == DataType::File).then_some(name)))
    }
}

impl DataPort for StorePort {
    fn mount_inputs(&self, task: &TaskSig, args: &mut [Val]) -> Result<Vec<DirGrant>, TaskError> {
        self.mount(task, args).map_err(|e| e.to_task_error())
    }
}

/// The last segment of a URI or path (`s3://b/x/a.csv` → `a.csv`), `data` when it has none.
fn file_name(uri: &str) -> String {
    uri.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty() && !n.contains(':'))
        .unwrap_or("data")
        .to_string()
}

async fn fetch_file(location: &Location, to: &Path) -> Result<(), DataError> {
    match location.read().await {
        Ok(bytes) => write_local(to, &bytes),
        Err(StorageError::NotFound { .. }) => {
            let is_dir = location.list().await.is_ok_and(|l| !l.is_empty())
                || Path::new(location.uri().trim_start_matches("file://")).is_dir();
            Err(DataError::Input(if is_dir {
                format!(
                    "{} is a directory, but the task takes a file here",
                    location.uri()
                )
            } else {
                format!("{} does not exist", location.uri())
            }))
        }
        Err(source) => Err(DataError::Storage {
            what: format!("cannot read {}", location.uri()),
            source,
        }),
    }
}

async fn fetch_dir(location: &Location, to: &Path, data: &DataType) -> Result<(), DataError> {
    let storage = |source| DataError::Storage {
        what: format!("cannot read {}", location.uri()),
        source,
    };
    let names = location.list().await.map_err(storage)?;
    if names.is_empty() {
        let is_file = location.read().await.is_ok();
        return Err(DataError::Input(if is_file {
            format!(
                "{} is a file, but the task takes {} here",
                location.uri(),
                data.noun()
            )
        } else {
            format!("{} does not exist (no objects under it)", location.uri())
        }));
    }
    for name in names {
        let child = location.child(&name);
        let bytes = child.read().await.map_err(|source| DataError::Storage {
            what: format!("cannot read {}", child.uri()),
            source,
        })?;
        write_local(&to.join(&name), &bytes)?;
    }
    Ok(())
}

fn write_local(to: &Path, bytes: &[u8]) -> Result<(), DataError> {
    let local = |e: std::io::Error| DataError::Local(format!("cannot write {}: {e}", to.display()));
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(local)?;
    }
    std::fs::write(to, bytes).map_err(local)
}

/// The `/outputs` directory of one execution on the host.
#[derive(Debug)]
pub struct Outputs {
    dir: tempfile::TempDir,
}

impl Outputs {
    /// A fresh, empty output directory.
    ///
    /// # Errors
    ///
    /// When it cannot be made.
    pub fn new() -> Result<Self, DataError> {
        let dir = tempfile::Builder::new()
            .prefix("wasmdask-outputs-")
            .tempdir()
            .map_err(|e| DataError::Local(format!("cannot make an output directory: {e}")))?;
        Ok(Outputs { dir })
    }

    /// The writable mount of `/outputs`.
    pub fn mount(&self) -> DirGrant {
        DirGrant {
            host: self.dir.path().to_path_buf(),
            guest: OUTPUTS_DIR.into(),
            read_only: false,
        }
    }

    /// Uploads every stored value in `result` (of type `ty`) to a fresh directory under
    /// `prefix` and sets its `uri`, as flytekit names uploads (`<prefix>/<random hex>/<name>`).
    /// Nothing is referenced by an output before every upload has succeeded.
    ///
    /// # Errors
    ///
    /// A value whose path is outside `/outputs`, missing, or of the wrong kind; an upload
    /// that failed (naming its URI).
    pub fn upload(
        &self,
        runtime: &Runtime,
        result: &mut Val,
        ty: &Type,
        prefix: Option<&str>,
    ) -> Result<(), DataError> {
        visit_stored(result, ty, &mut |data, fields| {
            let local = self.host_path(&fields.path, data)?;
            let Some(prefix) = prefix else {
                return Err(DataError::Output(format!(
                    "the task returned {} ({}) but the job has no --raw-output-data-prefix to \
                     upload it to",
                    data.noun(),
                    fields.path
                )));
            };
            let target = Location::join(prefix, &random_hex());
            fields.uri = if *data == DataType::File {
                let uri = Location::join(&target, &file_name(&fields.path));
                upload_file(runtime, &local, &uri)?;
                uri
            } else {
                for relative in files_under(&local)? {
                    upload_file(
                        runtime,
                        &local.join(&relative),
                        &Location::join(&target, &relative),
                    )?;
                }
                target
            };
            Ok(())
        })
    }

    /// The host path of a guest path under `/outputs`, checked to stay inside the output
    /// directory (a symlink cannot lead out) and to be the right kind.
    fn host_path(&self, guest: &str, data: &DataType) -> Result<PathBuf, DataError> {
        let outside = || {
            DataError::Output(format!(
                "the task returned {} at `{guest}`, outside its output directory: write outputs \
                 under {OUTPUTS_DIR}/ and return that path",
                data.noun()
            ))
        };
        let relative = guest
            .strip_prefix(OUTPUTS_DIR)
            .filter(|r| r.is_empty() || r.starts_with('/'))
            .filter(|r| !r.split('/').any(|part| part == ".."))
            .ok_or_else(outside)?;
        let joined = self.dir.path().join(relative.trim_start_matches('/'));
        let real = joined.canonicalize().map_err(|_| {
            DataError::Output(format!(
                "the task returned {} at `{guest}`, but wrote nothing there",
                data.noun()
            ))
        })?;
        let root = self
            .dir
            .path()
            .canonicalize()
            .map_err(|e| DataError::Local(e.to_string()))?;
        if !real.starts_with(&root) {
            return Err(outside());
        }
        let want_file = *data == DataType::File;
        if real.is_file() != want_file {
            return Err(DataError::Output(format!(
                "the task returned `{guest}` as {}, but it is a {}",
                data.noun(),
                if want_file { "directory" } else { "file" }
            )));
        }
        Ok(real)
    }
}

fn upload_file(runtime: &Runtime, local: &Path, uri: &str) -> Result<(), DataError> {
    let bytes = std::fs::read(local)
        .map_err(|e| DataError::Local(format!("cannot read {}: {e}", local.display())))?;
    let storage = |source| DataError::Storage {
        what: format!("cannot upload {uri}"),
        source,
    };
    runtime.block_on(async {
        Location::parse(uri)
            .map_err(storage)?
            .write(bytes)
            .await
            .map_err(storage)
    })
}

/// The files under `dir`, as `/`-separated relative paths, sorted (symlinks are not followed:
/// they could lead outside the output directory).
fn files_under(dir: &Path) -> Result<Vec<String>, DataError> {
    let mut found = Vec::new();
    let mut todo = vec![PathBuf::new()];
    while let Some(relative) = todo.pop() {
        let entries = std::fs::read_dir(dir.join(&relative))
            .map_err(|e| DataError::Local(format!("cannot list {}: {e}", dir.display())))?;
        for entry in entries {
            let entry = entry.map_err(|e| DataError::Local(e.to_string()))?;
            let path = relative.join(entry.file_name());
            let kind = entry
                .file_type()
                .map_err(|e| DataError::Local(e.to_string()))?;
            if kind.is_dir() {
                todo.push(path);
            } else if kind.is_file() {
                found.push(path.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// 16 random bytes in hex: the directory name flytekit gives each upload.
fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    // getrandom fails only without an OS source of randomness; a fixed name still uploads.
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_come_from_the_last_segment() {
        assert_eq!(file_name("s3://b/x/a.csv"), "a.csv");
        assert_eq!(file_name("s3://b/x/dir/"), "dir");
        assert_eq!(file_name("/tmp/y"), "y");
        assert_eq!(file_name("s3://"), "data");
    }

    #[test]
    fn outputs_outside_the_output_directory_are_refused() {
        let outputs = Outputs::new().unwrap();
        std::fs::write(outputs.dir.path().join("a.txt"), "x").unwrap();
        assert!(outputs.host_path("/outputs/a.txt", &DataType::File).is_ok());
        for bad in ["/etc/passwd", "/outputsx/a", "/outputs/../etc/passwd"] {
            let e = outputs.host_path(bad, &DataType::File).unwrap_err();
            assert!(matches!(e, DataError::Output(_)), "{bad}: {e}");
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/etc", outputs.dir.path().join("out")).unwrap();
            let e = outputs
                .host_path("/outputs/out/passwd", &DataType::File)
                .unwrap_err();
            assert!(e.to_string().contains("outside"), "{e}");
        }
        let e = outputs
            .host_path("/outputs/a.txt", &DataType::Directory)
            .unwrap_err();
        assert!(e.to_string().contains("is a file"), "{e}");
    }
}
