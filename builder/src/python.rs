//! Python: `componentize-py` snapshots CPython with the task module into a component.

use crate::stage::{self, Staging};
use crate::tool::{self, Tool};
use crate::{BuildError, Language};
use std::path::Path;
use std::process::Command;

/// The guest SDK's Python module, staged next to the task so `import wasmdask_guest` works.
pub(crate) const SDK: &str = include_str!("../../guest-sdk/python/wasmdask_guest.py");

const COMPONENTIZE_PY: Tool = Tool {
    language: Language::Python,
    name: "componentize-py",
    env: "WASMDASK_COMPONENTIZE_PY",
    local: &[".venv/bin/componentize-py"],
    install: "pip install componentize-py==0.25.1 (into a virtualenv; a .venv in the task \
              directory or a parent is found on its own)",
};

pub(crate) fn build(dir: &Path, staging: &Staging) -> Result<Vec<u8>, BuildError> {
    let componentize = COMPONENTIZE_PY.find(dir)?;
    let entry = crate::entry_file(dir, Language::Python)?;
    let module = entry
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    // componentize-py imports the app at build time and writes `__pycache__` next to it: build
    // from a copy so the author's directory stays clean.
    let app = staging.scratch("app")?;
    copy_python_sources(dir, &app)?;
    let sdk = staging.scratch("sdk")?;
    stage::write(&sdk.join("wasmdask_guest.py"), SDK)?;
    let out = staging.scratch("out")?.join("task.wasm");
    tool::run(
        Command::new(&componentize)
            .arg("--quiet")
            .arg("--wit-path")
            .arg(staging.wit())
            .args(["--world", &staging.world, "componentize", &module])
            .arg("--python-path")
            .arg(&app)
            .arg("--python-path")
            .arg(&sdk)
            .arg("--output")
            .arg(&out),
        |output| {
            output.contains("ModuleNotFoundError").then(|| {
                "A module the task imports is missing: put it next to the task, or install it \
                 into the virtualenv that VIRTUAL_ENV names (componentize-py adds its \
                 site-packages)."
                    .to_owned()
            })
        },
    )?;
    std::fs::read(&out).map_err(BuildError::io(&out))
}

/// Copies the `*.py` files under `from` (skipping hidden, output and cache directories).
fn copy_python_sources(from: &Path, to: &Path) -> Result<(), BuildError> {
    for entry in stage::read_dir(from)? {
        let name = stage::file_name(&entry).to_string_lossy();
        if name.starts_with('.') || ["target", "__pycache__", "node_modules"].contains(&&*name) {
            continue;
        }
        let target = to.join(stage::file_name(&entry));
        if entry.is_dir() {
            copy_python_sources(&entry, &target)?;
        } else if entry.extension().is_some_and(|e| e == "py") {
            std::fs::create_dir_all(to).map_err(BuildError::io(to))?;
            std::fs::copy(&entry, &target).map_err(BuildError::io(&entry))?;
        }
    }
    Ok(())
}
