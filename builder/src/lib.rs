//! Builds a wasmdask task component from a directory of sources: the library behind
//! `wasmdask build` and the test-guest build script (`tests/guests/build.rs`), so that authors and
//! tests go through the one pipeline.
//!
//! The toolchain is chosen by the files the directory holds:
//!
//! | found            | language   | toolchain                                                      |
//! |------------------|------------|----------------------------------------------------------------|
//! | `Cargo.toml`     | Rust       | `cargo build --release --target wasm32-wasip2`                 |
//! | `*.py`           | Python     | `componentize-py` (PyPI)                                       |
//! | `*.js`           | JavaScript | `componentize-js` (npm `@bytecodealliance/componentize-js`)    |
//! | `*.c`            | C          | `wit-bindgen c` (built in) + clang + the WASI p1 reactor adapter |
//!
//! For Python, JavaScript and C the task's exports are declared in `wit/` as a world of plain
//! exported functions, exactly as for Rust; the build adds the `wasmdask:task` imports (embedded in
//! this crate from the repository's `wit/`), so an author never copies the wasmdask WIT package
//! (see [`stage`]). A build whose inputs did not change since the last one is skipped.

mod c;
mod error;
mod fingerprint;
mod js;
mod python;
mod rust;
mod stage;
mod tool;

use std::fmt;
use std::path::{Path, PathBuf};

pub use error::BuildError;
pub use tool::{COMPONENTIZE_JS_VERSION, COMPONENTIZE_PY_VERSION};

/// The language of a task directory, from the files it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Rust,
    Python,
    JavaScript,
    C,
}

impl Language {
    /// The source-file extension that marks the language (Rust is marked by `Cargo.toml`).
    fn extension(self) -> Option<&'static str> {
        match self {
            Language::Rust => None,
            Language::Python => Some("py"),
            Language::JavaScript => Some("js"),
            Language::C => Some("c"),
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Language::Rust => "Rust",
            Language::Python => "Python",
            Language::JavaScript => "JavaScript",
            Language::C => "C",
        })
    }
}

/// How to build.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Where to write the component; by default `<dir>/target/wasmdask/<name>.wasm`, where
    /// `<name>` is the task world's name (Rust: the crate's library name).
    pub out: Option<PathBuf>,
    /// Rebuild even when the inputs did not change since the last build.
    pub force: bool,
}

/// A finished build.
#[derive(Debug, Clone)]
pub struct Built {
    pub language: Language,
    /// The component file.
    pub component: PathBuf,
    /// The inputs had not changed, so the previous component was kept.
    pub up_to_date: bool,
}

/// Builds the task in `dir` with the toolchain its files call for.
pub fn build(dir: &Path, options: &Options) -> Result<Built, BuildError> {
    let dir = dir.canonicalize().map_err(|source| BuildError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let language = detect(&dir)?;
    if language == Language::Rust {
        let component = rust::build(&dir, options.out.as_deref())?;
        return Ok(Built {
            language,
            component,
            up_to_date: false,
        });
    }
    let world = stage::TaskWorld::read(&dir)?;
    let out = options
        .out
        .clone()
        .unwrap_or_else(|| default_out_dir(&dir).join(format!("{}.wasm", world.name)));
    let inputs = fingerprint::inputs(&dir, language)?;
    if !options.force && fingerprint::is_current(&out, &inputs) {
        return Ok(Built {
            language,
            component: out,
            up_to_date: true,
        });
    }
    let staging = stage::Staging::new(&dir, &world)?;
    let bytes = match language {
        Language::Python => python::build(&dir, &staging)?,
        Language::JavaScript => js::build(&dir, &staging)?,
        Language::C => c::build(&dir, &staging)?,
        Language::Rust => unreachable!("handled above"),
    };
    write_file(&out, &bytes)?;
    fingerprint::record(&out, &inputs)?;
    Ok(Built {
        language,
        component: out,
        up_to_date: false,
    })
}

/// Chooses the language by the files in `dir` (not its subdirectories); exactly one must match.
pub fn detect(dir: &Path) -> Result<Language, BuildError> {
    if dir.join("Cargo.toml").is_file() {
        return Ok(Language::Rust);
    }
    let mut found = Vec::new();
    for language in [Language::Python, Language::JavaScript, Language::C] {
        if !sources(dir, language)?.is_empty() {
            found.push(language);
        }
    }
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(BuildError::layout(
            dir,
            "found no task sources: expected a Cargo.toml (Rust), *.py (Python), *.js \
             (JavaScript) or *.c (C) files",
        )),
        several => Err(BuildError::layout(
            dir,
            format!(
                "found sources of several languages ({}); keep one task per directory",
                several
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// The source files of `language` directly in `dir`, sorted.
fn sources(dir: &Path, language: Language) -> Result<Vec<PathBuf>, BuildError> {
    let Some(extension) = language.extension() else {
        return Ok(Vec::new());
    };
    let entries = std::fs::read_dir(dir).map_err(|source| BuildError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_file() && path.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    Ok(files)
}

/// The one entry module of an interpreted task: the only `*.<ext>` file, or `app.<ext>`.
fn entry_file(dir: &Path, language: Language) -> Result<PathBuf, BuildError> {
    let files = sources(dir, language)?;
    let extension = language.extension().unwrap_or_default();
    match files.as_slice() {
        [one] => Ok(one.clone()),
        _ => {
            let app = dir.join(format!("app.{extension}"));
            if app.is_file() {
                Ok(app)
            } else {
                Err(BuildError::layout(
                    dir,
                    format!(
                        "found several *.{extension} files and no app.{extension}; name the \
                         module that defines the tasks app.{extension}"
                    ),
                ))
            }
        }
    }
}

/// `<dir>/target/wasmdask`: next to what cargo writes, so one ignore rule covers both.
fn default_out_dir(dir: &Path) -> PathBuf {
    dir.join("target").join("wasmdask")
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    let io = |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, bytes).map_err(io)
}
