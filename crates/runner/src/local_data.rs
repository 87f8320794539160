//! File, directory and dataset arguments written on a command line (`shards=./shards/`,
//! `table=s3://bucket/t.parquet`), for `wasmdask run` and `wasmdask render`.
//!
//! A local path is checked before anything starts (a typo costs no cluster start), and made
//! absolute, so that every process of a local cluster finds it whatever its working directory.
//! `render` then copies local data next to the run's outputs, because the pods it renders
//! cannot read the machine it ran on. Object-store URIs pass through untouched: the runner and
//! workers fetch them where they run.

use crate::data::{DataError, random_hex, upload_dir, upload_file};
use crate::error::RunError;
use crate::storage::Location;
use std::path::{Path, PathBuf};
use tokio::runtime::Runtime;
use wasmdask_sandbox::TaskSig;
use wasmdask_values::{DataType, visit_stored};
use wasmtime::component::Val;

/// Makes every local path among `args` (the arguments of `task`) absolute, and checks that it
/// exists and is of the kind its parameter takes.
///
/// # Errors
///
/// [`RunError::Usage`] naming the parameter and the path that is missing or of the wrong kind.
pub fn resolve_local_paths(task: &TaskSig, args: &mut [Val]) -> Result<(), RunError> {
    for ((name, ty), val) in task.params.iter().zip(args.iter_mut()) {
        visit_stored(val, ty, &mut |data, fields| {
            let Some(path) = local_path(&fields.uri) else {
                return Ok(());
            };
            let absolute = std::path::absolute(path).map_err(|e| {
                RunError::Usage(format!("argument `{name}`: cannot resolve {path}: {e}"))
            })?;
            check_kind(name, data, path, &absolute)?;
            fields.uri = absolute.to_string_lossy().into_owned();
            Ok::<_, RunError>(())
        })?;
    }
    Ok(())
}

/// Copies every local file, directory and dataset among `args` (resolved by
/// [`resolve_local_paths`]) to a fresh directory under `prefix`, as flytekit uploads a local
/// `FlyteFile` it is handed, and points the value at the copy. Reports each copy on stderr.
///
/// # Errors
///
/// The first copy that failed, naming the URI.
pub fn upload_local_data(
    runtime: &Runtime,
    task: &TaskSig,
    args: &mut [Val],
    prefix: &str,
) -> Result<(), DataError> {
    for ((_, ty), val) in task.params.iter().zip(args.iter_mut()) {
        visit_stored(val, ty, &mut |data, fields| {
            let Some(path) = local_path(&fields.uri).map(PathBuf::from) else {
                return Ok(());
            };
            let name = path
                .file_name()
                .map_or_else(|| "data".into(), |n| n.to_string_lossy().into_owned());
            let target = Location::join(&Location::join(prefix, "inputs"), &random_hex());
            let target = Location::join(&target, &name);
            let files = if *data == DataType::File {
                upload_file(runtime, &path, &target)?;
                1
            } else {
                upload_dir(runtime, &path, &target)?
            };
            eprintln!(
                "copied {} ({files} file{}) to {target}",
                path.display(),
                if files == 1 { "" } else { "s" }
            );
            fields.uri = target;
            Ok::<_, DataError>(())
        })?;
    }
    Ok(())
}

/// `prefix` (where outputs go) made absolute when it is a local path, so the URIs a run
/// prints can be opened from anywhere; an object-store URI unchanged.
///
/// # Errors
///
/// [`RunError::Usage`] when the current directory cannot be read.
pub fn absolute_prefix(prefix: &str) -> Result<String, RunError> {
    match local_path(prefix) {
        Some(path) => std::path::absolute(path)
            .map(|p| p.to_string_lossy().into_owned())
            .map_err(|e| RunError::Usage(format!("{prefix}: {e}"))),
        None => Ok(prefix.to_string()),
    }
}

/// The local path a URI names: a plain path, or a `file://` one; `None` for an object store.
fn local_path(uri: &str) -> Option<&str> {
    if let Some(path) = uri.strip_prefix("file://") {
        return Some(path);
    }
    (!uri.is_empty() && !uri.contains("://")).then_some(uri)
}

/// That `absolute` (written as `path`) exists and is a file for a file parameter, a directory
/// for a directory, and either for a dataset (a single parquet file is a one-file dataset).
fn check_kind(name: &str, data: &DataType, path: &str, absolute: &Path) -> Result<(), RunError> {
    let meta = std::fs::metadata(absolute).map_err(|e| {
        RunError::Usage(format!(
            "argument `{name}`: {path}: {e}; pass {} as a local path or an object-store URI \
             (s3://…, gs://…)",
            data.noun()
        ))
    })?;
    let wrong = match data {
        DataType::File if meta.is_dir() => Some("a directory"),
        DataType::Directory if !meta.is_dir() => Some("a file"),
        _ => None,
    };
    match wrong {
        Some(kind) => Err(RunError::Usage(format!(
            "argument `{name}`: {path} is {kind}, but `{name}` takes {}",
            data.noun()
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_and_file_uris_are_local() {
        assert_eq!(local_path("./shards/"), Some("./shards/"));
        assert_eq!(local_path("/data/a.csv"), Some("/data/a.csv"));
        assert_eq!(local_path("file:///data/a.csv"), Some("/data/a.csv"));
        assert_eq!(local_path("s3://bucket/a.csv"), None);
        assert_eq!(local_path(""), None);
    }

    #[test]
    fn kinds_are_checked_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.csv");
        std::fs::write(&file, "1\n").unwrap();
        let e = check_kind("shard", &DataType::File, "d/", dir.path()).unwrap_err();
        assert!(e.to_string().contains("d/ is a directory"), "{e}");
        let e = check_kind("shards", &DataType::Directory, "a.csv", &file).unwrap_err();
        assert!(e.to_string().contains("takes a directory"), "{e}");
        let missing = dir.path().join("nope");
        let e = check_kind("shard", &DataType::File, "nope", &missing).unwrap_err();
        assert!(e.to_string().starts_with("argument `shard`: nope:"), "{e}");
        let dataset = DataType::Dataset { columns: None };
        assert!(check_kind("t", &dataset, "a.csv", &file).is_ok());
        assert!(check_kind("t", &dataset, "d", dir.path()).is_ok());
    }
}
