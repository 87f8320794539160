//! Offloaded literals, read and written the way flytekit's entrypoint does.
//!
//! When `_F_L_MIN_SIZE_MB` is set (Flyte sets it in task pods when literal offloading is on),
//! an output literal of at least that many MiB is written to `<output-prefix>/<name>_offloaded_
//! metadata.pb` and `outputs.pb` holds a `Literal` with only `offloaded_metadata` (its URI, size
//! and the output's type) and the hash; one of `_F_L_MAX_SIZE_MB` (default 1000) or more is an
//! error. An input literal with `offloaded_metadata` is read from its URI before use.

use crate::storage::{Location, StorageError, read_blocking, write_blocking};
use prost::Message;
use sha2::Digest;
use tokio::runtime::Runtime;
use wasmdask_flyte::idl::core::{
    Literal, LiteralMap, LiteralOffloadedMetadata, LiteralType, literal,
};

/// Replaces every offloaded literal of `map` with the literal stored at its URI.
///
/// # Errors
///
/// The storage error of the first one that could not be read, or a message when its bytes are
/// not a `Literal`.
pub fn fetch_offloaded(runtime: &Runtime, map: &mut LiteralMap) -> Result<(), OffloadError> {
    for literal in map.literals.values_mut() {
        if let Some(literal::Value::OffloadedMetadata(meta)) = &literal.value {
            let bytes = read_blocking(runtime, &meta.uri).map_err(OffloadError::Storage)?;
            *literal = Literal::decode(bytes).map_err(|e| {
                OffloadError::Invalid(format!("{} is not a Flyte Literal: {e}", meta.uri))
            })?;
        }
    }
    Ok(())
}

/// The size limits of `_F_L_MIN_SIZE_MB` / `_F_L_MAX_SIZE_MB`, when offloading is on.
fn limits() -> Option<(u64, u64)> {
    let mib = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(default)
            << 20
    };
    std::env::var_os("_F_L_MIN_SIZE_MB")?;
    Some((mib("_F_L_MIN_SIZE_MB", 10), mib("_F_L_MAX_SIZE_MB", 1000)))
}

/// Writes the outputs at least `_F_L_MIN_SIZE_MB` large next to `outputs.pb` and leaves their
/// offloaded metadata in `outputs`, as flytekit does. `types` gives each output's type.
///
/// # Errors
///
/// An output of `_F_L_MAX_SIZE_MB` or more, or a failed write (naming the URI).
pub fn offload_large(
    runtime: &Runtime,
    output_prefix: &str,
    outputs: &mut LiteralMap,
    types: &dyn Fn(&str) -> Option<LiteralType>,
) -> Result<(), OffloadError> {
    let Some((min, max)) = limits() else {
        return Ok(());
    };
    for (name, literal) in outputs.literals.iter_mut() {
        let size = literal.encoded_len() as u64;
        if size >= max {
            return Err(OffloadError::Invalid(format!(
                "output `{name}` is {size} bytes, more than the {max} bytes of _F_L_MAX_SIZE_MB"
            )));
        }
        if size < min {
            continue;
        }
        let bytes = literal.encode_to_vec();
        let uri = Location::join(output_prefix, &format!("{name}_offloaded_metadata.pb"));
        write_blocking(runtime, &uri, bytes.clone()).map_err(OffloadError::Storage)?;
        let hash = if literal.hash.is_empty() {
            base64(&sha2::Sha256::digest(&bytes))
        } else {
            literal.hash.clone()
        };
        *literal = Literal {
            value: Some(literal::Value::OffloadedMetadata(
                LiteralOffloadedMetadata {
                    uri,
                    size_bytes: size,
                    inferred_type: types(name),
                },
            )),
            hash,
            ..Literal::default()
        };
    }
    Ok(())
}

/// Why an offloaded literal could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum OffloadError {
    /// The store failed (naming the URI).
    #[error("{0}")]
    Storage(StorageError),
    /// The literal is not usable.
    #[error("{0}")]
    Invalid(String),
}

/// Standard base64 with padding (flytekit's `compute_hash_string` encoding).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
