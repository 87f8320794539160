//! On-disk cache of compiled components, keyed by content digest and engine fingerprint.
//!
//! Compiling an 18 MB Python component takes seconds; loading its precompiled artifact takes
//! milliseconds. The key includes the engine's compatibility hash, so an artifact built by a
//! different wasmtime version or with different settings is never loaded.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;

/// A directory of `<digest>-<engine>.cwasm` files.
#[derive(Debug, Clone)]
pub(crate) struct ArtifactCache {
    dir: PathBuf,
    engine_key: String,
}

impl ArtifactCache {
    pub(crate) fn new(dir: PathBuf, engine: &Engine) -> Self {
        ArtifactCache {
            dir,
            engine_key: engine_key(engine),
        }
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

/// The SHA-256 (hex) of what makes an artifact loadable: the engine's compatibility hash (its
/// wasmtime version, target and settings) and this crate's version.
///
/// SHA-256 rather than `DefaultHasher`, whose algorithm may change with any Rust release: the
/// key names files that outlive the binary that wrote them, so the same engine must always get
/// the same key (and a new toolchain must not silently orphan the whole cache).
fn engine_key(engine: &Engine) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    hex::encode(hasher.0.finalize())
}

/// Feeds what a [`Hash`] value writes into SHA-256: wasmtime offers the compatibility hash only
/// as `impl Hash`.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Only to satisfy the trait: the key is the whole digest, taken by [`engine_key`].
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(
            digest[..8]
                .try_into()
                .expect("a SHA-256 digest has 32 bytes"),
        )
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

/// Where compiled components are cached unless configured otherwise: `$WASMDASK_CACHE_DIR`,
/// else `$XDG_CACHE_HOME/wasmdask`, else `~/.cache/wasmdask`, else a directory under the system
/// temp dir.
pub fn default_cache_dir() -> PathBuf {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(fuel: bool) -> Engine {
        let mut config = wasmtime::Config::new();
        config.consume_fuel(fuel);
        Engine::new(&config).expect("an engine")
    }

    #[test]
    fn engine_key_is_a_sha256_of_the_engine_settings() {
        let key = engine_key(&engine(false));
        assert_eq!(key.len(), 64, "{key}");
        assert!(key.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
        assert_eq!(engine_key(&engine(false)), key, "same settings, same key");
        assert_ne!(engine_key(&engine(true)), key, "other settings, other key");
    }

    #[test]
    fn artifact_file_names_carry_digest_and_engine_key() {
        let engine = engine(false);
        let cache = ArtifactCache::new(PathBuf::from("/cache"), &engine);
        let path = cache.path_for("ab12");
        assert_eq!(
            path,
            PathBuf::from(format!("/cache/ab12-{}.cwasm", engine_key(&engine)))
        );
    }
}
