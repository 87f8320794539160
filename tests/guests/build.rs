//! Builds the test guests (`programs/`, one crate each) and the Rust example (`examples/rust/`)
//! into wasm32-wasip2 components, the Python, JavaScript and C examples (`examples/{python,js,c}`)
//! and the polyglot test guests (`polyglot/`) with `wasmdask build`'s library, and writes their
//! paths to `$OUT_DIR/guests.rs`.
//!
//! Building them here, from source, during the host's test build means a test never runs against
//! a stale or checked-in binary, and `cargo test` needs no separate setup step. The inner builds
//! share one target directory next to the outer one (`<target>/guests`), so their dependencies
//! compile once and survive `cargo test` being re-run.

use std::env;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

/// The non-Rust guests: (constant, name, directory relative to the repository root). Each is
/// built by the toolchain its files call for; a missing toolchain fails the build with the
/// builder's message saying how to install it (the tests never skip a language).
const POLYGLOT: &[(&str, &str, &str)] = &[
    ("EXAMPLE_PYTHON", "example-python", "examples/python"),
    ("EXAMPLE_JS", "example-js", "examples/js"),
    ("EXAMPLE_C", "example-c", "examples/c"),
    (
        "ERRORS_PYTHON",
        "errors-python",
        "tests/guests/polyglot/errors-python",
    ),
    ("ERRORS_JS", "errors-js", "tests/guests/polyglot/errors-js"),
    (
        "FILES_PYTHON",
        "files-python",
        "tests/guests/polyglot/files-python",
    ),
];

/// The first 8 bytes of a component: the `\0asm` magic, then version 0x0d and layer 1. A core
/// module has version 1, layer 0 there.
const COMPONENT_HEADER: [u8; 8] = *b"\0asm\x0d\x00\x01\x00";

/// One component this crate exposes.
struct Guest {
    /// The Rust constant naming it (`TYPES`, `EXAMPLE_RUST`).
    constant: String,
    /// Its name in `ALL`.
    name: String,
    /// What it is for, from its `Cargo.toml` description; becomes the constant's doc comment.
    description: String,
    /// Where the inner build puts it.
    wasm: PathBuf,
}

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let programs = manifest_dir.join("programs");
    let repo = manifest_dir
        .ancestors()
        .nth(2)
        .expect("tests/guests sits two levels below the repository root");
    let example = repo.join("examples/rust");

    for path in [
        programs.join("Cargo.toml"),
        programs.join("Cargo.lock"),
        example.join("Cargo.toml"),
        example.join("Cargo.lock"),
        example.join("src"),
        example.join("wit"),
        repo.join("guest-sdk"),
        repo.join("wit"),
    ] {
        rerun_if_changed(&path);
    }
    for (_, _, dir) in POLYGLOT {
        rerun_if_changed(&repo.join(dir));
    }

    let target_dir = guests_target_dir(&out_dir);
    let artifacts = target_dir.join(TARGET).join("release");
    let mut guests = Vec::new();
    for program in program_dirs(&programs) {
        // Only what the build reads: a `target/` left by a manual build in programs/ must not
        // make every later build re-run this script.
        for part in ["Cargo.toml", "src", "wit"] {
            rerun_if_changed(&program.join(part));
        }
        let name = file_name(&program);
        guests.push(Guest {
            constant: name.to_uppercase().replace('-', "_"),
            description: description(&program),
            wasm: artifacts.join(format!("{}.wasm", name.replace('-', "_"))),
            name,
        });
    }
    guests.push(Guest {
        constant: "EXAMPLE_RUST".to_owned(),
        name: "example-rust".to_owned(),
        description: description(&example),
        wasm: artifacts.join("wasmdask_example.wasm"),
    });

    build(&programs, &target_dir);
    build(&example, &target_dir);
    guests.extend(build_polyglot(repo, &target_dir.join("polyglot")));
    for guest in &guests {
        check_component(guest);
    }
    fs::write(out_dir.join("guests.rs"), constants(&guests)).expect("cannot write guests.rs");
}

fn rerun_if_changed(path: &Path) {
    println!("cargo:rerun-if-changed={}", path.display());
}

/// Builds the [`POLYGLOT`] guests in parallel (each toolchain is mostly single-threaded, and the
/// interpreted ones take tens of seconds). The builder skips a guest whose inputs did not change,
/// so re-running this script after a Rust-only change costs nothing here.
fn build_polyglot(repo: &Path, out_dir: &Path) -> Vec<Guest> {
    let results: Vec<_> = std::thread::scope(|scope| {
        let builds: Vec<_> = POLYGLOT
            .iter()
            .map(|&(constant, name, dir)| {
                let options = wasmdask_build::Options {
                    out: Some(out_dir.join(format!("{name}.wasm"))),
                    force: false,
                };
                let dir = repo.join(dir);
                scope.spawn(move || (constant, name, wasmdask_build::build(&dir, &options)))
            })
            .collect();
        builds
            .into_iter()
            .map(|build| build.join().expect("a guest build panicked"))
            .collect()
    });
    results
        .into_iter()
        .map(|(constant, name, result)| {
            let built = result
                .unwrap_or_else(|error| panic!("building the {name} test guest failed:\n{error}"));
            Guest {
                constant: constant.to_owned(),
                name: name.to_owned(),
                description: format!(
                    "The {name} guest ({}), built by `wasmdask build`'s library.",
                    built.language
                ),
                wasm: built.component,
            }
        })
        .collect()
}

/// `<target>/guests`, from `OUT_DIR` = `<target>[/<triple>]/<profile>/build/<pkg>-<hash>/out`.
///
/// The target root is recognised by the `CACHEDIR.TAG` cargo keeps there, so a `--target` build
/// shares the same guests instead of building them again under `<target>/<triple>`.
fn guests_target_dir(out_dir: &Path) -> PathBuf {
    let profile_parent = out_dir
        .ancestors()
        .find(|dir| dir.file_name() == Some(OsStr::new("build")))
        .and_then(Path::parent)
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("unexpected OUT_DIR layout: {}", out_dir.display()));
    let root = profile_parent
        .ancestors()
        .take(2)
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .unwrap_or(profile_parent);
    root.join("guests")
}

/// The guest crates: every directory of `programs/` with a `Cargo.toml`, in name order so the
/// generated file is stable.
fn program_dirs(programs: &Path) -> Vec<PathBuf> {
    let entries = fs::read_dir(programs)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", programs.display()));
    let mut dirs: Vec<PathBuf> = entries
        .map(|entry| entry.expect("cannot read a directory entry").path())
        .filter(|path| path.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .and_then(OsStr::to_str)
        .unwrap_or_else(|| panic!("not a UTF-8 directory name: {}", path.display()))
        .to_owned()
}

/// The `description = "..."` of a crate's `Cargo.toml` (a line scan: no TOML parser needed for
/// manifests we write ourselves).
fn description(crate_dir: &Path) -> String {
    let manifest = crate_dir.join("Cargo.toml");
    let text = fs::read_to_string(&manifest)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", manifest.display()));
    text.lines()
        .find_map(|line| line.strip_prefix("description = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{} has no one-line `description`", manifest.display()))
        .to_owned()
}

/// Runs `cargo build --release --target wasm32-wasip2` for the workspace in `crate_dir`.
fn build(crate_dir: &Path, target_dir: &Path) {
    let manifest = crate_dir.join("Cargo.toml");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command
        .args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir);
    // Keep what makes the inner cargo a good citizen (the jobserver in CARGO_MAKEFLAGS, the
    // toolchain in RUSTC/RUSTUP_TOOLCHAIN, RUSTC_WRAPPER caches); drop what describes the outer
    // build and would change or break the inner one.
    for (key, _) in env::vars_os() {
        if key.to_str().is_some_and(leaks_into_inner_build) {
            command.env_remove(&key);
        }
    }
    let output = command.output().unwrap_or_else(|error| {
        panic!(
            "cannot run `{}` to build the test guests: {error}",
            Path::new(&cargo).display()
        )
    });
    if output.status.success() {
        return;
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let hint = if stderr.contains("may not be installed") {
        format!(
            "The Rust toolchain has no {TARGET} target: run `rustup target add {TARGET}` (or \
             `rustup toolchain install` in the repository root, which installs what \
             rust-toolchain.toml lists)."
        )
    } else {
        format!(
            "Fix the error the inner build reports below; to reproduce it on its own, run `cargo \
             build --release --target {TARGET} --manifest-path {}`.",
            manifest.display()
        )
    };
    panic!(
        "building the wasm test guests in {} failed ({}).\n{hint}\n\n--- stderr of the inner \
         cargo build ---\n{stderr}",
        crate_dir.display(),
        output.status
    );
}

/// Environment the outer cargo sets for this build script, or configuration meant for the outer
/// build only: its target, target dir, flags and profile overrides, clippy's wrapper (which would
/// lint the guests as workspace members), and the metadata of this package.
fn leaks_into_inner_build(key: &str) -> bool {
    const EXACT: &[&str] = &[
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_TARGET_DIR",
        "CARGO_BUILD_BUILD_DIR",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_DIR",
        "CARGO_CRATE_NAME",
        "CLIPPY_ARGS",
        "CLIPPY_CONF_DIR",
        "DEBUG",
        "HOST",
        "NUM_JOBS",
        "OPT_LEVEL",
        "OUT_DIR",
        "PROFILE",
        "RUSTC_LINKER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTDOC",
        "RUSTDOCFLAGS",
        "RUSTFLAGS",
        "TARGET",
    ];
    const PREFIXES: &[&str] = &[
        "CARGO_CFG_",
        "CARGO_FEATURE_",
        "CARGO_MANIFEST_",
        "CARGO_PKG_",
        "CARGO_PROFILE_",
        "DEP_",
        "__CARGO",
    ];
    EXACT.contains(&key) || PREFIXES.iter().any(|prefix| key.starts_with(prefix))
}

/// A build that "succeeded" but left no component (a guest directory missing from the
/// workspace's `members`, a crate that is not a `cdylib`, a core module) must fail here, not
/// later in a test with a confusing load error.
fn check_component(guest: &Guest) {
    let bytes = fs::read(&guest.wasm).unwrap_or_else(|error| {
        panic!(
            "the {} guest was not built at {} ({error}): is its crate listed in `members` of \
             programs/Cargo.toml, named like its directory, with crate-type [\"cdylib\"]?",
            guest.name,
            guest.wasm.display()
        )
    });
    assert!(
        bytes.starts_with(&COMPONENT_HEADER),
        "{} is not a WebAssembly component (header {:02x?}, expected {COMPONENT_HEADER:02x?}); \
         build it for {TARGET}, whose linker makes components",
        guest.wasm.display(),
        &bytes[..bytes.len().min(8)]
    );
}

/// The text of `guests.rs`: one constant per guest, then `ALL`.
fn constants(guests: &[Guest]) -> String {
    let mut text = String::new();
    for guest in guests {
        let path = guest.wasm.to_str().unwrap_or_else(|| {
            panic!("not a UTF-8 path: {}", guest.wasm.display());
        });
        writeln!(
            text,
            "/// {}\npub const {}: &str = {path:?};",
            guest.description, guest.constant
        )
        .expect("writing to a String cannot fail");
    }
    text.push_str(
        "/// Every guest above as `(name, path)`, for checks that must cover them all.\n",
    );
    text.push_str("pub const ALL: &[(&str, &str)] = &[\n");
    for guest in guests {
        writeln!(text, "    ({:?}, {}),", guest.name, guest.constant)
            .expect("writing to a String cannot fail");
    }
    text.push_str("];\n");
    text
}
