//! Finding a toolchain command and running it with output an author can act on.

use crate::{BuildError, Language};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The componentize-py release this repository pins (`scripts/requirements.txt`).
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";
/// The componentize-js release this repository pins (`package.json`).
pub const COMPONENTIZE_JS_VERSION: &str = "0.23.0";

/// An external command a language needs, and where an installation of it usually lives.
#[derive(Debug)]
pub(crate) struct Tool {
    pub(crate) language: Language,
    /// The executable's name on `PATH`.
    pub(crate) name: &'static str,
    /// An environment variable naming the executable; wins over every other place.
    pub(crate) env: &'static str,
    /// Paths relative to the task directory or any of its parents (or of the running program's
    /// location), e.g. a repository-local `.venv/bin/componentize-py`.
    pub(crate) local: &'static [&'static str],
    /// How to install it.
    pub(crate) install: &'static str,
}

impl Tool {
    /// The executable: `$<env>`, else a local installation next to `dir` or to this program,
    /// else `PATH`.
    pub(crate) fn find(&self, dir: &Path) -> Result<PathBuf, BuildError> {
        if let Some(path) = std::env::var_os(self.env) {
            let path = PathBuf::from(path);
            if path.is_file() {
                return Ok(path);
            }
            return Err(self.missing(format!(
                "${} names {}, which is not a file",
                self.env,
                path.display()
            )));
        }
        let exe = std::env::current_exe().ok();
        let roots = dir
            .ancestors()
            .chain(exe.iter().flat_map(|exe| exe.ancestors()));
        for root in roots {
            for local in self.local {
                let candidate = root.join(local);
                if candidate.is_file() {
                    return Ok(candidate);
                }
            }
        }
        if let Some(found) = on_path(self.name) {
            return Ok(found);
        }
        let mut looked = vec![format!("${}", self.env)];
        looked.extend(
            self.local
                .iter()
                .map(|local| format!("{local} in the task directory and its parents")),
        );
        looked.push("PATH".to_owned());
        Err(self.missing(looked.join(", ")))
    }

    fn missing(&self, looked: String) -> BuildError {
        BuildError::MissingTool {
            language: self.language,
            tool: self.name.to_owned(),
            looked,
            install: self.install.to_owned(),
        }
    }
}

/// The first `name` on `PATH`.
pub(crate) fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Runs `command`; on failure returns its combined output, with `hint` when `explain` finds the
/// output matches a known cause.
pub(crate) fn run(
    command: &mut Command,
    explain: impl Fn(&str) -> Option<String>,
) -> Result<(), BuildError> {
    let shown = show(command);
    let output = command.output().map_err(|source| BuildError::Io {
        path: PathBuf::from(command.get_program()),
        source,
    })?;
    if output.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Err(BuildError::ToolFailed {
        command: shown,
        status: output.status,
        hint: explain(&text)
            .map(|hint| format!("\n{hint}"))
            .unwrap_or_default(),
        output: text.trim_end().to_owned(),
    })
}

/// The command line as an author would type it, for error messages.
fn show(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}
