//! JavaScript: `componentize-js` (StarlingMonkey) snapshots the task module into a component.
//!
//! The task's JavaScript files are built from a staged copy, next to the guest SDK's modules, so
//! `import { submitWith } from './wasmdask_guest.js'` resolves (componentize-js follows relative
//! imports) without the author copying them.

use crate::stage::{self, Staging};
use crate::tool::{self, Tool};
use crate::{BuildError, Language};
use std::path::Path;
use std::process::Command;

/// The guest SDK's JavaScript modules (file name, source), staged next to the task's entry
/// module; a file of the same name in the task directory wins.
pub(crate) const SDK: &[(&str, &str)] = &[
    (
        "wasmdask_guest.js",
        include_str!("../../guest-sdk/js/wasmdask_guest.js"),
    ),
    (
        "wasmdask_binary.js",
        include_str!("../../guest-sdk/js/wasmdask_binary.js"),
    ),
    (
        "wasmdask_data.js",
        include_str!("../../guest-sdk/js/wasmdask_data.js"),
    ),
];

const COMPONENTIZE_JS: Tool = Tool {
    language: Language::JavaScript,
    name: "componentize-js",
    env: "WASMDASK_COMPONENTIZE_JS",
    local: &["node_modules/.bin/componentize-js"],
    install: "npm install --save-dev @bytecodealliance/componentize-js@0.23.0 (needs Node.js \
              20 or later; a node_modules in the task directory or a parent is found on its own)",
};

pub(crate) fn build(dir: &Path, staging: &Staging) -> Result<Vec<u8>, BuildError> {
    let componentize = COMPONENTIZE_JS.find(dir)?;
    if tool::on_path("node").is_none() {
        return Err(BuildError::MissingTool {
            language: Language::JavaScript,
            tool: "node (Node.js, which runs componentize-js)".to_owned(),
            looked: "PATH".to_owned(),
            install: "apt-get install nodejs npm (Node.js 20 or later)".to_owned(),
        });
    }
    let entry = crate::entry_file(dir, Language::JavaScript)?;
    let app = staging.scratch("app")?;
    stage::copy_sources(dir, &app, &["js", "mjs", "json"])?;
    for (name, source) in SDK {
        let path = app.join(name);
        if !path.exists() {
            stage::write(&path, source)?;
        }
    }
    let out = staging.scratch("out")?.join("task.wasm");
    tool::run(
        Command::new(&componentize)
            .arg(app.join(stage::file_name(&entry)))
            .arg("--wit")
            .arg(staging.wit())
            .args(["--world-name", &staging.world])
            // A task is not an HTTP handler: without these the component would import
            // `wasi:http`, which the sandbox does not provide.
            .args(["--disable", "http", "fetch-event"])
            .arg("--out")
            .arg(&out),
        |_| None,
    )?;
    std::fs::read(&out).map_err(BuildError::io(&out))
}
