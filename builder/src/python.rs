//! Python: `componentize-py` snapshots CPython with the task module into a component.

use crate::stage::{self, Staging};
use crate::tool::{self, Tool};
use crate::{BuildError, Language};
use std::path::Path;
use std::process::Command;

/// The guest SDK's Python modules (file name, source), staged on the task's Python path so
/// `import wasmdask_guest` works; `wasmdask_binary` is its binary-encoding codec.
pub(crate) const SDK: &[(&str, &str)] = &[
    (
        "wasmdask_guest.py",
        include_str!("../../guest-sdk/python/wasmdask_guest.py"),
    ),
    (
        "wasmdask_binary.py",
        include_str!("../../guest-sdk/python/wasmdask_binary.py"),
    ),
];

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
    stage::copy_sources(dir, &app, &["py"])?;
    let sdk = staging.scratch("sdk")?;
    for (name, source) in SDK {
        stage::write(&sdk.join(name), source)?;
    }
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
