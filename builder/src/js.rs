//! JavaScript: `componentize-js` (StarlingMonkey) snapshots the task module into a component.

use crate::stage::Staging;
use crate::tool::{self, Tool};
use crate::{BuildError, Language};
use std::path::Path;
use std::process::Command;

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
    let out = staging.scratch("out")?.join("task.wasm");
    tool::run(
        Command::new(&componentize)
            .arg(&entry)
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
