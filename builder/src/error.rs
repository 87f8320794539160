//! Why a build failed, worded so the author knows what to do next.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;

/// A failed build.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The directory does not look like a task of any supported language.
    #[error("{}: {message}", dir.display())]
    Layout { dir: PathBuf, message: String },
    /// The toolchain for the directory's language is not installed.
    #[error(
        "building a {language} task needs {tool}, which was not found (looked in {looked}).\n\
         Install it: {install}\n\
         (`bash scripts/setup.sh` in the wasmdask repository installs every toolchain.)"
    )]
    MissingTool {
        language: crate::Language,
        tool: String,
        looked: String,
        install: String,
    },
    /// A toolchain command ran and failed.
    #[error("`{command}` failed ({status}){hint}\n--- its output ---\n{output}")]
    ToolFailed {
        command: String,
        status: ExitStatus,
        output: String,
        hint: String,
    },
    /// The task's WIT is missing or does not resolve.
    #[error("the task's WIT in {} is unusable: {message}", dir.display())]
    Wit { dir: PathBuf, message: String },
    /// The C toolchain's core module could not be turned into a component.
    #[error("cannot make a component of the C build: {0}")]
    Component(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl BuildError {
    pub(crate) fn layout(dir: &Path, message: impl Into<String>) -> Self {
        BuildError::Layout {
            dir: dir.to_path_buf(),
            message: message.into(),
        }
    }

    pub(crate) fn wit(dir: &Path, message: impl ToString) -> Self {
        BuildError::Wit {
            dir: dir.to_path_buf(),
            message: message.to_string(),
        }
    }

    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| BuildError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
