//! Rust: `cargo build --release --target wasm32-wasip2`, whose linker makes the component.

use crate::BuildError;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

/// Builds the crate in `dir` into `<dir>/target` (cargo's usual place) and returns the
/// component's path, copied to `out` when one is given.
pub(crate) fn build(dir: &Path, out: Option<&Path>) -> Result<PathBuf, BuildError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = dir.join("Cargo.toml");
    let mut command = Command::new(&cargo);
    command
        .args(["build", "--release", "--target", TARGET])
        .args([
            "--message-format",
            "json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(&manifest);
    let output = command.output().map_err(|source| BuildError::Io {
        path: PathBuf::from(&cargo),
        source,
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("may not be installed") {
            format!("\nThe Rust toolchain lacks the {TARGET} target: rustup target add {TARGET}")
        } else {
            String::new()
        };
        return Err(BuildError::ToolFailed {
            command: format!(
                "cargo build --release --target {TARGET} --manifest-path {}",
                manifest.display()
            ),
            status: output.status,
            output: stderr.trim_end().to_owned(),
            hint,
        });
    }
    let built = wasm_artifact(&String::from_utf8_lossy(&output.stdout)).ok_or_else(|| {
        BuildError::layout(
            dir,
            "cargo built no .wasm file: the crate needs `[lib] crate-type = [\"cdylib\"]`",
        )
    })?;
    match out {
        Some(out) => {
            let bytes = std::fs::read(&built).map_err(BuildError::io(&built))?;
            crate::write_file(out, &bytes)?;
            Ok(out.to_path_buf())
        }
        None => Ok(built),
    }
}

/// The `.wasm` file among cargo's `compiler-artifact` messages.
fn wasm_artifact(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .flat_map(|message| message["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|name| name.as_str().map(PathBuf::from))
        .find(|path| path.extension().is_some_and(|e| e == "wasm"))
}
