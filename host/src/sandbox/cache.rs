//! On-disk cache of compiled components, keyed by content digest and engine fingerprint.
//!
//! Compiling an 18 MB Python component takes seconds; loading its precompiled artifact takes
//! milliseconds. The key includes the engine's compatibility hash, so an artifact built by a
//! different wasmtime version or with different settings is never loaded.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use wasmtime::Engine;

/// A directory of `<digest>-<engine>.cwasm` files.
#[derive(Debug, Clone)]
pub(crate) struct ArtifactCache {
    dir: PathBuf,
    engine_key: String,
}

impl ArtifactCache {
    pub(crate) fn new(dir: PathBuf, engine: &Engine) -> Self {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        ArtifactCache {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        }
    }

    /// The default location: `$WASMDASK_CACHE_DIR`, else `$XDG_CACHE_HOME/wasmdask`, else
    /// `~/.cache/wasmdask`, else a directory under the system temp dir.
    pub(crate) fn default_dir() -> PathBuf {
        if let Some(dir) = std::env::var_os("WASMDASK_CACHE_DIR") {
            return PathBuf::from(dir);
        }
        if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
            return PathBuf::from(dir).join("wasmdask");
        }
        if let Some(home) = std::env::var_os("HOME") {
            return PathBuf::from(home).join(".cache").join("wasmdask");
        }
        std::env::temp_dir().join("wasmdask-cache")
    }

    pub(crate) fn path_for(&self, digest_hex: &str) -> PathBuf {
        self.dir
            .join(format!("{digest_hex}-{}.cwasm", self.engine_key))
    }

    /// Writes atomically (temp file + rename) so a concurrent reader never sees half a file.
    pub(crate) fn store(&self, digest_hex: &str, bytes: &[u8]) -> std::io::Result<()> {
        create_private_dir(&self.dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(bytes)?;
        tmp.persist(self.path_for(digest_hex))
            .map_err(|e| e.error)?;
        Ok(())
    }
}

/// The cache holds native code the host will map executable, so only its owner may write it.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Where compiled components are cached unless configured otherwise.
pub fn default_cache_dir() -> PathBuf {
    ArtifactCache::default_dir()
}
