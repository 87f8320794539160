//! Skipping a build whose inputs did not change.
//!
//! A Python or JavaScript build takes tens of seconds (the toolchain snapshots a whole
//! interpreter), so `wasmdask build` and the test-guest build script keep the last component when
//! nothing it was made from changed: the task's files, the embedded wasmdask WIT, the embedded
//! Python and JavaScript SDK modules, and this crate's version. The digest is stored next to the
//! component as `<out>.inputs`.

use crate::{BuildError, Language};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Directories of a task that are outputs or caches, not inputs.
const SKIPPED_DIRS: &[&str] = &["target", "node_modules", "__pycache__"];

/// The digest of everything a build of `dir` reads.
pub(crate) fn inputs(dir: &Path, language: Language) -> Result<String, BuildError> {
    let mut hasher = Sha256::new();
    hasher.update(env!("CARGO_PKG_VERSION"));
    hasher.update(language.to_string());
    hasher.update(include_str!("../../wit/wasmdask.wit"));
    for (name, source) in crate::python::SDK.iter().chain(crate::js::SDK) {
        hasher.update(name);
        hasher.update(source);
    }
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    for file in files {
        let relative = file.strip_prefix(dir).unwrap_or(&file);
        hasher.update(relative.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(std::fs::read(&file).map_err(BuildError::io(&file))?);
        hasher.update([0]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Whether `out` exists and was built from `inputs`.
pub(crate) fn is_current(out: &Path, inputs: &str) -> bool {
    out.is_file() && std::fs::read_to_string(record_path(out)).is_ok_and(|old| old == inputs)
}

pub(crate) fn record(out: &Path, inputs: &str) -> Result<(), BuildError> {
    let path = record_path(out);
    std::fs::write(&path, inputs).map_err(BuildError::io(&path))
}

fn record_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".inputs");
    PathBuf::from(name)
}

/// Every file under `dir` (following symlinks, such as a `wit` linked from another example),
/// except hidden entries and [`SKIPPED_DIRS`], in a stable order.
fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), BuildError> {
    for entry in crate::stage::read_dir(dir)? {
        let name = crate::stage::file_name(&entry).to_string_lossy();
        if name.starts_with('.') || SKIPPED_DIRS.contains(&name.as_ref()) {
            continue;
        }
        if entry.is_dir() {
            collect(&entry, files)?;
        } else {
            files.push(entry);
        }
    }
    Ok(())
}
