//! The host image (`scripts/build-image.py`): reproducible, inspected with umoci (a standard OCI
//! tool, installed by `scripts/setup.sh`), and its binary run from the unpacked root filesystem
//! under every name the Flyte plugin and the operator call it by.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::{guests, stderr, stdout};
use crate::distributed::BIN;
use crate::flyte::{python, repo};

fn build(layout: &Path) -> String {
    let output = Command::new(python())
        .arg(repo().join("scripts/build-image.py"))
        .args(["--binary", BIN, "--output"])
        .arg(layout)
        .output()
        .expect("run build-image.py");
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output).trim().to_string()
}

fn umoci(args: &[&str]) -> Output {
    let output = Command::new("umoci")
        .args(args)
        .output()
        .expect("umoci is missing: run `bash scripts/setup.sh` (it installs Debian's umoci)");
    assert!(
        output.status.success(),
        "umoci {args:?}: {}",
        stderr(&output)
    );
    output
}

/// Runs a program of the unpacked image through the image's own loader and libraries, as the
/// container runtime would (minus the chroot, which needs privileges tests may not have).
fn run_in(rootfs: &Path, program: &str, args: &[&str]) -> Output {
    Command::new(rootfs.join("lib64/ld-linux-x86-64.so.2"))
        .arg("--library-path")
        .arg(rootfs.join("lib/x86_64-linux-gnu"))
        .arg(rootfs.join("usr/local/bin").join(program))
        .args(args)
        .env_clear()
        .env("WASMDASK_CACHE_DIR", rootfs.join("tmp/wasmdask-cache"))
        .output()
        .unwrap()
}

#[test]
fn the_host_image_is_reproducible_minimal_and_runs_every_role() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("a"), dir.path().join("b"));
    let digest = build(&first);
    assert!(digest.starts_with("sha256:"), "{digest}");
    assert_eq!(
        build(&second),
        digest,
        "the same binary gives the same image"
    );
    let index = |layout: &PathBuf| std::fs::read(layout.join("index.json")).unwrap();
    assert_eq!(index(&first), index(&second));

    let listing = stdout(&umoci(&["ls", "--layout", first.to_str().unwrap()]));
    assert_eq!(listing.trim(), "latest");
    let bundle = dir.path().join("bundle");
    let image = format!("{}:latest", first.display());
    umoci(&[
        "unpack",
        "--rootless",
        "--image",
        &image,
        bundle.to_str().unwrap(),
    ]);

    // The runtime config: non-root, PATH to the entry points, no ENTRYPOINT (args[0] is run).
    let config: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    let process = &config["process"];
    assert_eq!(process["user"]["uid"], 65532);
    assert_eq!(process["user"]["gid"], 65532);
    let env: Vec<&str> = process["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(env.contains(&"PATH=/usr/local/bin"), "{env:?}");
    assert_eq!(process["args"], serde_json::json!(["wasmdask", "--help"]));

    // The root filesystem: the binary under its names, its libraries, CA certificates, no shell.
    let rootfs = bundle.join("rootfs");
    for name in ["dask-scheduler", "dask-worker", "dask"] {
        let link = std::fs::read_link(rootfs.join("usr/local/bin").join(name)).unwrap();
        assert_eq!(link, Path::new("wasmdask"), "{name}");
    }
    assert!(rootfs.join("etc/ssl/certs/ca-certificates.crt").is_file());
    assert!(
        std::fs::read_to_string(rootfs.join("etc/passwd"))
            .unwrap()
            .contains(":65532:65532:")
    );
    for shell in ["bin/sh", "usr/bin/sh", "bin/bash", "bin/busybox"] {
        assert!(!rootfs.join(shell).exists(), "{shell} in the image");
    }

    // Every name answers, as the plugin and the operator call it.
    for (program, args, expect) in [
        ("wasmdask", &["--version"][..], "wasmdask"),
        (
            "dask-scheduler",
            &["--help"][..],
            "Usage: wasmdask scheduler",
        ),
        ("dask-worker", &["--help"][..], "Usage: wasmdask worker"),
        (
            "dask",
            &["scheduler", "--help"][..],
            "Usage: wasmdask scheduler",
        ),
    ] {
        let output = run_in(&rootfs, program, args);
        assert!(
            output.status.success(),
            "{program} {args:?}: {}",
            stderr(&output)
        );
        assert!(
            stdout(&output).contains(expect),
            "{program}: {}",
            stdout(&output)
        );
    }
    // The copied libraries run wasmtime: a fan-out on the embedded cluster.
    let output = run_in(
        &rootfs,
        "wasmdask",
        &[
            "run",
            guests::EXAMPLE_RUST,
            "-f",
            "sum-of-squares",
            "--",
            "n=10",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "385");
}
