//! The compiled-component cache: a second process start does not recompile.

use crate::common::*;
use serde_json::json;
use std::time::Duration;
use wasmdask_sandbox::{Limits, Sandbox, SandboxConfig};

#[test]
fn a_second_sandbox_loads_the_compiled_artifact_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let config = || SandboxConfig {
        limits: Limits {
            timeout: Duration::from_secs(10),
            ..Limits::default()
        },
        cache_dir: Some(dir.path().to_path_buf()),
        max_instances: 4,
        ..SandboxConfig::default()
    };
    let first = Sandbox::new(config()).unwrap();
    let loaded = load(&first, guests::EXAMPLE_RUST);
    assert!(!loaded.from_cache, "an empty cache cannot hit");
    let artifacts = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(artifacts, 1, "one compiled artifact written");

    let second = Sandbox::new(config()).unwrap();
    let cached = load(&second, guests::EXAMPLE_RUST);
    assert!(cached.from_cache, "the second engine reuses the artifact");
    assert_eq!(cached.digest, loaded.digest);
    let result = call(&second, &cached, "square", json!([12]), 1);
    assert_eq!(ok_json(result), json!(144));
}

#[test]
fn a_corrupt_cache_entry_is_ignored_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let config = || SandboxConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        max_instances: 4,
        ..SandboxConfig::default()
    };
    let first = Sandbox::new(config()).unwrap();
    load(&first, guests::EXAMPLE_RUST);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    let second = Sandbox::new(config()).unwrap();
    let loaded = load(&second, guests::EXAMPLE_RUST);
    assert!(!loaded.from_cache);
    assert_eq!(
        ok_json(call(&second, &loaded, "square", json!([3]), 1)),
        json!(9)
    );
}
