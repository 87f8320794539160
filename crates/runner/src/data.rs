//! Files, directories and datasets (`wasmdask:task/data`) between the object store and the
//! sandbox: inputs fetched once per process, a directory's files only when read, and mounted
//! read-only for the one execution that takes them; outputs uploaded from the execution's
//! `/outputs` to the raw-output prefix.
//!
//! [`StorePort`] is the runner's [`DataPort`]: embedded clusters and every `wasmdask worker`
//! give it to their pools, so a subtask that takes a file fetches it where it runs. The Flyte
//! job calls [`StorePort::mount`] itself for the root execution, to tell a missing object (the
//! user's input, `USER:bad-input`) from a store that failed (`SYSTEM:storage`, recoverable).

use crate::error::SystemError;
use crate::storage::{Location, Storage, StorageError};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::runtime::Runtime;
use wasmdask_sandbox::{
    DataPort, DirGrant, ErrorKind, INPUTS_DIR, LazyFiles, Mount, OUTPUTS_DIR, TaskError, TaskSig,
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
///
/// The cache holds one local file per object URI, made empty when the object is first named
/// (listed in a directory, or taken as a file) and filled once, in place, by the first
/// execution that reads it; later ones wait on the object's lock and find it filled. What an
/// execution mounts are hard links to those files: a file value's directory holds its one file,
/// a directory or dataset value's directory the whole listing. Filling in place keeps every
/// link and the file's identity (what `metadata-hash` reports) the same before and after.
///
/// A file value is filled before the execution starts; a directory's files are filled when
/// the guest first opens or stats them ([`LazyFiles`]). A task that lists a directory of
/// shards and fans out over their URIs thus makes one LIST where it runs, and each shard is
/// downloaded once, on the worker whose subtask reads it.
#[derive(Debug)]
pub struct StorePort {
    runtime: Arc<Runtime>,
    cache: tempfile::TempDir,
    /// Names the cache's files and directories.
    made: AtomicU64,
    /// One entry per object URI.
    objects: Mutex<HashMap<String, Arc<Object>>>,
    /// One entry per value (kind and URI): its directory, made by the first execution that
    /// takes the value while later ones wait on the entry's lock.
    values: Mutex<HashMap<String, Arc<Mutex<Option<Mount>>>>>,
}

/// One stored object's file in the cache.
#[derive(Debug)]
struct Object {
    uri: String,
    path: PathBuf,
    /// Whether the file holds the object's bytes; its lock is held while they are fetched.
    filled: Mutex<bool>,
}

impl Object {
    /// Fetches the object into its file unless that was done already.
    fn fill(&self, runtime: &Runtime) -> Result<(), DataError> {
        let mut filled = self.filled.lock();
        if *filled {
            return Ok(());
        }
        let storage = |source| DataError::Storage {
            what: format!("cannot read {}", self.uri),
            source,
        };
        let location = Location::parse(&self.uri).map_err(storage)?;
        let bytes = runtime.block_on(location.read()).map_err(|e| match e {
            StorageError::NotFound { .. } => {
                DataError::Input(format!("{} does not exist", self.uri))
            }
            e => storage(e),
        })?;
        // In place (truncate and write), so every hard link to the file sees the bytes.
        std::fs::write(&self.path, &bytes)
            .map_err(|e| DataError::Local(format!("cannot write {}: {e}", self.path.display())))?;
        tracing::debug!(uri = %self.uri, bytes = bytes.len(), "fetched a stored input");
        *filled = true;
        Ok(())
    }
}

/// The files of a directory or dataset value, filled on first use.
#[derive(Debug)]
struct Listing {
    runtime: Arc<Runtime>,
    /// Path inside the mount → object.
    files: HashMap<String, Arc<Object>>,
}

impl LazyFiles for Listing {
    fn fetch(&self, path: &str) -> Result<(), TaskError> {
        match self.files.get(path) {
            Some(object) => object.fill(&self.runtime).map_err(|e| e.to_task_error()),
            None => Ok(()),
        }
    }
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
            made: AtomicU64::new(0),
            objects: Mutex::default(),
            values: Mutex::default(),
        })
    }

    /// Makes every stored value among `args` available (a file fetched, a directory or
    /// dataset listed), sets its path to where the guest sees it and returns the read-only
    /// mounts, one per value.
    ///
    /// # Errors
    ///
    /// The first value that could not be made available.
    pub fn mount(&self, task: &TaskSig, args: &mut [Val]) -> Result<Vec<Mount>, DataError> {
        let mut mounts = Vec::new();
        for ((_, ty), val) in task.params.iter().zip(args.iter_mut()) {
            visit_stored(val, ty, &mut |data, fields| {
                let guest = format!("{INPUTS_DIR}/{}", mounts.len());
                let uri = value_uri(data, fields)?;
                let mut mount = self.local(data, &uri)?;
                fields.path = if *data == DataType::File {
                    format!("{guest}/{}", file_name(&uri))
                } else {
                    guest.clone()
                };
                mount.grant.guest = guest;
                mounts.push(mount);
                Ok(())
            })?;
        }
        Ok(mounts)
    }

    /// The local directory of a value (its mount, but for the guest path).
    fn local(&self, data: &DataType, uri: &str) -> Result<Mount, DataError> {
        let entry = self
            .values
            .lock()
            .entry(format!("{}:{uri}", data.noun()))
            .or_default()
            .clone();
        let mut entry = entry.lock();
        if let Some(mount) = entry.as_ref() {
            return Ok(mount.clone());
        }
        let dir = self.fresh_path("values");
        make_dir(&dir)?;
        let lazy = if *data == DataType::File {
            let object = self.object(uri)?;
            object
                .fill(&self.runtime)
                .map_err(|e| not_a_file(e, uri, &self.runtime))?;
            link(&object.path, &dir.join(file_name(uri)))?;
            None
        } else {
            Some(Arc::new(self.listing(data, uri, &dir)?) as Arc<dyn LazyFiles>)
        };
        let mount = Mount {
            grant: DirGrant {
                host: dir,
                guest: String::new(),
                read_only: true,
            },
            lazy,
        };
        *entry = Some(mount.clone());
        Ok(mount)
    }

    /// Lists the directory or dataset at `uri` (one LIST) and lays it out under `dir`: its
    /// subdirectories, and a link to each object's (not yet filled) file.
    fn listing(&self, data: &DataType, uri: &str, dir: &Path) -> Result<Listing, DataError> {
        let storage = |source| DataError::Storage {
            what: format!("cannot read {uri}"),
            source,
        };
        let location = Location::parse(uri).map_err(storage)?;
        let names = self.runtime.block_on(location.list()).map_err(storage)?;
        if names.is_empty() {
            let is_file = self
                .runtime
                .block_on(location.is_object())
                .map_err(storage)?;
            if is_file && matches!(data, DataType::Dataset { .. }) {
                // A dataset may be one parquet file (`s3://b/t.parquet`, as `df.to_parquet`
                // writes it): the mount is a directory holding just that file.
                let name = file_name(uri);
                let object = self.object(uri)?;
                link(&object.path, &dir.join(&name))?;
                return Ok(Listing {
                    runtime: self.runtime.clone(),
                    files: HashMap::from([(name, object)]),
                });
            }
            return Err(DataError::Input(if is_file {
                format!("{uri} is a file, but the task takes {} here", data.noun())
            } else {
                format!("{uri} does not exist (no objects under it)")
            }));
        }
        let mut dirs = HashSet::new();
        for name in &names {
            let parts: Vec<&str> = name.split('/').collect();
            if parts.iter().any(|p| matches!(*p, "" | "." | "..")) {
                return Err(DataError::Input(format!(
                    "{uri} holds an object named `{name}`, which is not a path a file can have"
                )));
            }
            for end in 1..parts.len() {
                dirs.insert(parts[..end].join("/"));
            }
        }
        if let Some(both) = names.iter().find(|name| dirs.contains(name.as_str())) {
            return Err(DataError::Input(format!(
                "{uri} holds an object `{both}` and objects under `{both}/`: a directory \
                 cannot have both"
            )));
        }
        let mut files = HashMap::new();
        for name in names {
            let object = self.object(&Location::join(uri, &name))?;
            let to = dir.join(&name);
            if let Some(parent) = to.parent() {
                make_dir(parent)?;
            }
            link(&object.path, &to)?;
            files.insert(name, object);
        }
        Ok(Listing {
            runtime: self.runtime.clone(),
            files,
        })
    }

    /// The cache's file of the object at `uri`, made empty if it is new.
    fn object(&self, uri: &str) -> Result<Arc<Object>, DataError> {
        let mut objects = self.objects.lock();
        if let Some(object) = objects.get(uri) {
            return Ok(object.clone());
        }
        let path = self.fresh_path("objects");
        if let Some(parent) = path.parent() {
            make_dir(parent)?;
        }
        std::fs::File::create(&path)
            .map_err(|e| DataError::Local(format!("cannot make {}: {e}", path.display())))?;
        let object = Arc::new(Object {
            uri: uri.to_string(),
            path,
            filled: Mutex::new(false),
        });
        objects.insert(uri.to_string(), object.clone());
        Ok(object)
    }

    /// A new path under the cache's directory `kind`.
    fn fresh_path(&self, kind: &str) -> PathBuf {
        let n = self.made.fetch_add(1, Ordering::Relaxed);
        self.cache.path().join(kind).join(n.to_string())
    }
}

impl DataPort for StorePort {
    fn mount_inputs(&self, task: &TaskSig, args: &mut [Val]) -> Result<Vec<Mount>, TaskError> {
        self.mount(task, args).map_err(|e| e.to_task_error())
    }
}

/// Where a value lives: its URI, or for a value made on this machine (`wasmdask run data=./x`)
/// its path.
fn value_uri(data: &DataType, fields: &StoredFields<'_>) -> Result<String, DataError> {
    let uri = if fields.uri.is_empty() {
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
    Ok(uri.to_string())
}

/// A missing file said better when the URI is a directory (a prefix with objects under it).
fn not_a_file(error: DataError, uri: &str, runtime: &Runtime) -> DataError {
    let DataError::Input(_) = error else {
        return error;
    };
    let is_dir = Location::parse(uri)
        .ok()
        .is_some_and(|l| runtime.block_on(l.list()).is_ok_and(|l| !l.is_empty()))
        || Path::new(uri.trim_start_matches("file://")).is_dir();
    if is_dir {
        DataError::Input(format!(
            "{uri} is a directory, but the task takes a file here"
        ))
    } else {
        error
    }
}

fn make_dir(dir: &Path) -> Result<(), DataError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| DataError::Local(format!("cannot make {}: {e}", dir.display())))
}

/// A hard link: the mount's name for the cache's file.
fn link(object: &Path, to: &Path) -> Result<(), DataError> {
    std::fs::hard_link(object, to).map_err(|e| {
        DataError::Local(format!(
            "cannot link {} to {}: {e}",
            to.display(),
            object.display()
        ))
    })
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
                upload_dir(runtime, &local, &target)?;
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

pub(crate) fn upload_file(runtime: &Runtime, local: &Path, uri: &str) -> Result<(), DataError> {
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

/// Uploads every file under the local directory `dir` to the same relative path under
/// `target`, and returns how many there were.
pub(crate) fn upload_dir(runtime: &Runtime, dir: &Path, target: &str) -> Result<usize, DataError> {
    let files = files_under(dir)?;
    for relative in &files {
        upload_file(
            runtime,
            &dir.join(relative),
            &Location::join(target, relative),
        )?;
    }
    Ok(files.len())
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
pub(crate) fn random_hex() -> String {
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
    fn a_directory_is_listed_at_once_and_each_file_fetched_once_when_first_read() {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir(src.path().join("sub")).unwrap();
        std::fs::write(src.path().join("a.txt"), "alpha").unwrap();
        std::fs::write(src.path().join("sub/b.txt"), "beta").unwrap();
        let port = StorePort::new(Arc::new(crate::runtime().unwrap())).unwrap();
        let uri = src.path().to_str().unwrap();
        let read = |path: PathBuf| std::fs::read_to_string(path).unwrap();

        let dir = port.local(&DataType::Directory, uri).unwrap();
        let host = dir.grant.host.clone();
        // Every name is there from the start; no bytes are.
        assert_eq!(read(host.join("a.txt")), "");
        assert_eq!(read(host.join("sub/b.txt")), "");
        let lazy = dir.lazy.expect("a directory is lazy");
        lazy.fetch("a.txt").unwrap();
        assert_eq!(read(host.join("a.txt")), "alpha");
        assert_eq!(read(host.join("sub/b.txt")), "", "only what was read");
        // A directory, or a name the listing lacks, is left for the open to judge.
        lazy.fetch("sub").unwrap();
        lazy.fetch("nothing").unwrap();

        // Once per process: the same object taken as a file, or the same directory again,
        // is what was fetched (the source is gone now).
        std::fs::remove_file(src.path().join("a.txt")).unwrap();
        let file = port
            .local(&DataType::File, &format!("{uri}/a.txt"))
            .unwrap();
        assert!(file.lazy.is_none());
        assert_eq!(read(file.grant.host.join("a.txt")), "alpha");
        let again = port.local(&DataType::Directory, uri).unwrap();
        assert_eq!(again.grant.host, host);

        // A listed file gone by the time it is read is the user's input, named by its URI.
        std::fs::remove_file(src.path().join("sub/b.txt")).unwrap();
        let e = lazy.fetch("sub/b.txt").unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadInput, "{e:?}");
        assert!(
            e.message
                .contains(&format!("{uri}/sub/b.txt does not exist")),
            "{e:?}"
        );
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
