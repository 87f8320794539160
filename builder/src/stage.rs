//! The WIT a non-Rust task is built against, assembled in a temporary directory.
//!
//! An author's `wit/` holds one world of exported functions (the tasks), like a Rust task's. The
//! Rust SDK adds the `wasmdask:task` imports at link time; for the other languages this module
//! does the same before the toolchain runs, by staging
//!
//! ```text
//! wit/build.wit                    package wasmdask:build;
//!                                  world <name> { include <author's world>; include wasmdask:task/imports@<version>; }
//! wit/deps/author/*.wit            the author's wit/*.wit
//! wit/deps/<dep>                   the author's wit/deps/*, if any
//! wit/deps/wasmdask-task/*.wit     the wasmdask package, embedded in this crate
//! ```
//!
//! The wrapper world keeps the author's world name, so C identifiers read `exports_<name>_...`.

use crate::BuildError;
use std::fs;
use std::path::{Path, PathBuf};
use wit_parser::Resolve;

/// The wasmdask WIT package, from the repository's `wit/` (never copied into the repository).
const WASMDASK_WIT: &str = include_str!("../../wit/wasmdask.wit");
/// The world every task world is merged with, at the version the package declares.
fn imports_world() -> String {
    let version = WASMDASK_WIT
        .lines()
        .find_map(|line| {
            line.strip_prefix("package wasmdask:task@")?
                .strip_suffix(';')
        })
        .expect("wit/wasmdask.wit declares `package wasmdask:task@<version>;`");
    format!("wasmdask:task/imports@{version}")
}
/// The package of the generated wrapper world.
const WRAPPER_PACKAGE: &str = "wasmdask:build";

/// The author's task world, from `<dir>/wit`.
#[derive(Debug, Clone)]
pub(crate) struct TaskWorld {
    /// The world's name, e.g. `tasks`.
    pub(crate) name: String,
    /// How WIT refers to it from another package, e.g. `example:tasks/tasks`.
    include: String,
}

impl TaskWorld {
    /// Reads the single world of the package in `<dir>/wit`.
    pub(crate) fn read(dir: &Path) -> Result<Self, BuildError> {
        let wit = dir.join("wit");
        if !wit.is_dir() {
            return Err(BuildError::layout(
                dir,
                "has no wit/ directory; declare the tasks in wit/world.wit as a world of \
                 exported functions (see examples/rust/wit/world.wit)",
            ));
        }
        let mut resolve = Resolve::default();
        resolve
            .push_str("wasmdask.wit", WASMDASK_WIT)
            .map_err(|e| BuildError::wit(&wit, format!("{e:#}")))?;
        let (package, _) = resolve
            .push_dir(&wit)
            .map_err(|e| BuildError::wit(&wit, format!("{e:#}")))?;
        let world = resolve
            .select_world(&[package], None)
            .map_err(|e| BuildError::wit(&wit, format!("{e:#}")))?;
        let name = resolve.worlds[world].name.clone();
        let package = &resolve.packages[package].name;
        let version = package
            .version
            .as_ref()
            .map(|v| format!("@{v}"))
            .unwrap_or_default();
        Ok(TaskWorld {
            include: format!("{}:{}/{name}{version}", package.namespace, package.name),
            name,
        })
    }
}

/// A temporary directory holding the merged WIT (and whatever else a toolchain needs staged).
#[derive(Debug)]
pub(crate) struct Staging {
    dir: tempfile::TempDir,
    /// The world to build: `wasmdask:build/<name>`.
    pub(crate) world: String,
}

impl Staging {
    pub(crate) fn new(task_dir: &Path, world: &TaskWorld) -> Result<Self, BuildError> {
        let dir = tempfile::Builder::new()
            .prefix("wasmdask-build-")
            .tempdir()
            .map_err(BuildError::io(&std::env::temp_dir()))?;
        let staging = Staging {
            dir,
            world: format!("{WRAPPER_PACKAGE}/{}", world.name),
        };
        let wit = staging.wit();
        let deps = wit.join("deps");
        write(
            &wit.join("build.wit"),
            &format!(
                "package {WRAPPER_PACKAGE};\n\nworld {} {{\n    include {};\n    include \
                 {};\n}}\n",
                world.name,
                world.include,
                imports_world()
            ),
        )?;
        write(&deps.join("wasmdask-task/wasmdask.wit"), WASMDASK_WIT)?;
        let author_wit = task_dir.join("wit");
        for entry in read_dir(&author_wit)? {
            if entry.is_file() && entry.extension().is_some_and(|e| e == "wit") {
                copy(&entry, &deps.join("author").join(file_name(&entry)))?;
            }
        }
        let author_deps = author_wit.join("deps");
        if author_deps.is_dir() {
            copy_tree(&author_deps, &deps)?;
        }
        Ok(staging)
    }

    /// The staged WIT directory (`build.wit` + `deps/`).
    pub(crate) fn wit(&self) -> PathBuf {
        self.dir.path().join("wit")
    }

    /// A scratch subdirectory for a toolchain's own files.
    pub(crate) fn scratch(&self, name: &str) -> Result<PathBuf, BuildError> {
        let path = self.dir.path().join(name);
        fs::create_dir_all(&path).map_err(BuildError::io(&path))?;
        Ok(path)
    }
}

pub(crate) fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, BuildError> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(BuildError::io(dir))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .collect();
    paths.sort();
    Ok(paths)
}

pub(crate) fn write(path: &Path, text: &str) -> Result<(), BuildError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(BuildError::io(parent))?;
    }
    fs::write(path, text).map_err(BuildError::io(path))
}

fn copy(from: &Path, to: &Path) -> Result<(), BuildError> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(BuildError::io(parent))?;
    }
    fs::copy(from, to).map_err(BuildError::io(from))?;
    Ok(())
}

/// Copies the files with one of `extensions` under `from` into `to` (skipping hidden, output and
/// cache directories), following symlinks: the sources of an interpreted task, for a build that
/// stages the guest SDK's modules next to them.
pub(crate) fn copy_sources(from: &Path, to: &Path, extensions: &[&str]) -> Result<(), BuildError> {
    for entry in read_dir(from)? {
        let name = file_name(&entry).to_string_lossy();
        if name.starts_with('.') || ["target", "__pycache__", "node_modules"].contains(&&*name) {
            continue;
        }
        let target = to.join(file_name(&entry));
        if entry.is_dir() {
            copy_sources(&entry, &target, extensions)?;
        } else if entry
            .extension()
            .is_some_and(|e| extensions.iter().any(|wanted| e == *wanted))
        {
            copy(&entry, &target)?;
        }
    }
    Ok(())
}

/// Copies the files under `from` into `to`, following symlinks.
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<(), BuildError> {
    for entry in read_dir(from)? {
        let target = to.join(file_name(&entry));
        if entry.is_dir() {
            copy_tree(&entry, &target)?;
        } else {
            copy(&entry, &target)?;
        }
    }
    Ok(())
}

pub(crate) fn file_name(path: &Path) -> &std::ffi::OsStr {
    path.file_name().unwrap_or(path.as_os_str())
}
