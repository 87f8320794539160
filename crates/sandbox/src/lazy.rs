//! The WASI filesystem calls that see a mount's files, watched so that a lazy mount's file is
//! filled before the guest reads it (see [`LazyFiles`]), and so that looking for files with
//! nothing mounted is recorded as a denial.
//!
//! wasmtime-wasi's own implementation does the work; the shadows here only run first:
//!
//! - `get-directories` hands out the preopens (or records [`Denial::Filesystem`] when the
//!   execution has none) and remembers which descriptors are the roots of lazy mounts;
//! - `open-at` and `stat-at` on a descriptor inside a lazy mount fill the file the path names,
//!   then open or stat it; a directory opened there is remembered in turn.
//!
//! Nothing else reveals a file's bytes or size: `read-directory` gives names and types, and
//! `metadata-hash-at` hashes the file's identity (device and inode), which filling the file in
//! place leaves unchanged. A descriptor's handle is only ever made by the two calls above, so
//! the map of handles is exact for every live descriptor, even when the table reuses a handle.
//! Paths are resolved as wasmtime-wasi (cap-std) resolves them inside a descriptor: `..` may
//! not leave it, and a path that tries is passed on untouched, for wasmtime-wasi to refuse.
//! Mounts are read-only, so the guest can neither write into one nor plant a symlink.

use crate::data::{LazyFiles, Mount};
use crate::grants::Denial;
use crate::host::HostState;
use std::collections::HashMap;
use std::sync::Arc;
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::filesystem::preopens::Host as _;
use wasmtime_wasi::p2::bindings::sync::filesystem::types::{
    self as fs, DescriptorFlags, DescriptorStat, ErrorCode, OpenFlags, PathFlags,
};

/// The lazy mounts of one execution and the descriptors open inside them.
#[derive(Debug, Default)]
pub(crate) struct LazyMounts {
    /// Whether the execution has any directory at all (grants or mounts).
    any_dirs: bool,
    /// Each lazy mount's guest path and fetcher.
    mounts: Vec<(String, Arc<dyn LazyFiles>)>,
    /// Descriptor handle → (mount index, the directory's path inside the mount).
    open: HashMap<u32, (usize, String)>,
}

impl LazyMounts {
    /// For an execution with `granted` directories from the grants and these mounts.
    pub(crate) fn new(granted: usize, mounts: &[Mount]) -> Self {
        LazyMounts {
            any_dirs: granted > 0 || !mounts.is_empty(),
            mounts: mounts
                .iter()
                .filter_map(|m| Some((m.grant.guest.clone(), m.lazy.clone()?)))
                .collect(),
            open: HashMap::new(),
        }
    }

    /// Where `path`, opened relative to the descriptor `fd`, lands in a lazy mount: the
    /// mount's index and the path inside it.
    fn resolve(&self, fd: u32, path: &str) -> Option<(usize, String)> {
        let (mount, dir) = self.open.get(&fd)?;
        Some((*mount, join_inside(dir, path)?))
    }

    /// Records what the descriptor `fd` (just made) is: a directory at `place` in a lazy
    /// mount, or nothing of ours.
    fn made(&mut self, fd: u32, place: Option<(usize, String)>) {
        match place {
            Some(place) => self.open.insert(fd, place),
            None => self.open.remove(&fd),
        };
    }
}

/// `path` (relative to the directory `dir` of a mount) as a path relative to the mount, or
/// `None` when it is absolute or climbs out of `dir` (which wasmtime-wasi refuses).
fn join_inside(dir: &str, path: &str) -> Option<String> {
    if path.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    let mut joined = dir.to_string();
    for part in parts {
        if !joined.is_empty() {
            joined.push('/');
        }
        joined.push_str(part);
    }
    Some(joined)
}

/// Fills the file `fd`/`path` names if it lies in a lazy mount; returns where it lies.
fn fill(state: &HostState, fd: u32, path: &str) -> wasmtime::Result<Option<(usize, String)>> {
    let Some((mount, inside)) = state.lazy.resolve(fd, path) else {
        return Ok(None);
    };
    state.lazy.mounts[mount]
        .1
        .fetch(&inside)
        .map_err(wasmtime::Error::new)?;
    Ok(Some((mount, inside)))
}

/// An `error-code` from wasmtime-wasi's result, or the trap it carries.
fn code(state: &mut HostState, error: wasmtime_wasi::p2::FsError) -> wasmtime::Result<ErrorCode> {
    fs::Host::convert_error_code(&mut state.filesystem(), error)
}

/// Shadows `get-directories`, `open-at` and `stat-at` (see the module documentation).
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker
        .instance("wasi:filesystem/preopens@0.2.12")?
        .func_wrap("get-directories", get_directories)?;
    let mut types = linker.instance("wasi:filesystem/types@0.2.12")?;
    types.func_wrap("[method]descriptor.open-at", open_at)?;
    types.func_wrap("[method]descriptor.stat-at", stat_at)?;
    linker.allow_shadowing(false);
    Ok(())
}

type Directories = Vec<(Resource<Descriptor>, String)>;

fn get_directories(
    mut store: StoreContextMut<'_, HostState>,
    (): (),
) -> wasmtime::Result<(Directories,)> {
    let state = store.data_mut();
    if !state.lazy.any_dirs {
        state.denials.record(Denial::Filesystem);
        return Ok((Vec::new(),));
    }
    let dirs = state.filesystem().get_directories()?;
    for (fd, guest) in &dirs {
        let mount = state.lazy.mounts.iter().position(|(path, _)| path == guest);
        state.lazy.made(fd.rep(), mount.map(|m| (m, String::new())));
    }
    Ok((dirs,))
}

type OpenAtArgs = (
    Resource<Descriptor>,
    PathFlags,
    String,
    OpenFlags,
    DescriptorFlags,
);

fn open_at(
    mut store: StoreContextMut<'_, HostState>,
    (fd, path_flags, path, oflags, flags): OpenAtArgs,
) -> wasmtime::Result<(Result<Resource<Descriptor>, ErrorCode>,)> {
    let state = store.data_mut();
    let place = fill(state, fd.rep(), &path)?;
    let opened =
        fs::HostDescriptor::open_at(&mut state.filesystem(), fd, path_flags, path, oflags, flags);
    match opened {
        Ok(new) => {
            let is_dir = matches!(state.table.get(&new), Ok(Descriptor::Dir(_)));
            state.lazy.made(new.rep(), place.filter(|_| is_dir));
            Ok((Ok(new),))
        }
        Err(error) => Ok((Err(code(state, error)?),)),
    }
}

fn stat_at(
    mut store: StoreContextMut<'_, HostState>,
    (fd, path_flags, path): (Resource<Descriptor>, PathFlags, String),
) -> wasmtime::Result<(Result<DescriptorStat, ErrorCode>,)> {
    let state = store.data_mut();
    fill(state, fd.rep(), &path)?;
    match fs::HostDescriptor::stat_at(&mut state.filesystem(), fd, path_flags, path) {
        Ok(stat) => Ok((Ok(stat),)),
        Err(error) => Ok((Err(code(state, error)?),)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_inside_their_directory_or_not_at_all() {
        assert_eq!(join_inside("", "a.txt").as_deref(), Some("a.txt"));
        assert_eq!(join_inside("", ".").as_deref(), Some(""));
        assert_eq!(join_inside("sub", "./x//y").as_deref(), Some("sub/x/y"));
        assert_eq!(join_inside("sub", "x/../y").as_deref(), Some("sub/y"));
        // cap-std confines a path to the descriptor it is opened from: `..` out of it, or an
        // absolute path, is refused there, so nothing is fetched for it here.
        assert_eq!(join_inside("sub", "../y"), None);
        assert_eq!(join_inside("", ".."), None);
        assert_eq!(join_inside("", "/etc/passwd"), None);
    }
}
