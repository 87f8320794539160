//! `wasmdask build`: one command that turns a task directory in any supported language into a
//! component, then loads it the way `run` would, so a component the sandbox would refuse (a
//! forbidden import, no tasks) fails here rather than on the cluster.

use super::Failure;
use clap::Args;
use std::path::PathBuf;
use wasmdask_build::{BuildError, Options};
use wasmdask_runner::RunError;
use wasmdask_runner::task::inspect_component;

const AFTER_HELP: &str = "\
The toolchain is chosen by the files in DIR:
  Cargo.toml  Rust        cargo build --release --target wasm32-wasip2
  *.py        Python      componentize-py (pip install componentize-py==0.25.1)
  *.js        JavaScript  componentize-js (npm install @bytecodealliance/componentize-js@0.23.0)
  *.c         C           wit-bindgen c (built in) + clang + the WASI p1 reactor adapter
                          (apt-get install clang lld wasi-libc libclang-rt-dev-wasm32)
`bash scripts/setup.sh` in the wasmdask repository installs all of them.

Python, JavaScript and C tasks declare their exports in DIR/wit/ as a world of exported
functions (as a Rust task does); the build adds the wasmdask:task imports. An interpreted task's
module is the only *.py / *.js file, or app.py / app.js. The component is written to
DIR/target/wasmdask/<world>.wasm (Rust: cargo's target/wasm32-wasip2/release/<crate>.wasm) unless
--out says otherwise, then compiled into the compiled-component cache.

Examples:
  wasmdask build examples/python
  wasmdask build examples/c --out tasks.wasm
  wasmdask run examples/python/target/wasmdask/tasks.wasm -f sum-of-squares -- n=100

Exit codes: 0 built; 1 the toolchain reported an error; 2 DIR is not a task directory or its WIT
is invalid; 3 the component was built but cannot be loaded; 4 a toolchain is missing.";

#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct BuildArgs {
    /// The task directory.
    pub dir: PathBuf,

    /// Where to write the component.
    #[arg(long, short)]
    pub out: Option<PathBuf>,

    /// Rebuild even when no input changed since the last build.
    #[arg(long)]
    pub force: bool,

    /// Do not load (and pre-compile into the cache) the built component.
    #[arg(long)]
    pub no_load: bool,
}

pub(super) fn build(args: BuildArgs) -> Result<(), Failure> {
    let options = Options {
        out: args.out,
        force: args.force,
    };
    let built = wasmdask_build::build(&args.dir, &options).map_err(failure)?;
    let state = if built.up_to_date {
        "up to date"
    } else {
        "built"
    };
    eprintln!(
        "{} task {state}: {}",
        built.language,
        built.component.display()
    );
    if args.no_load {
        return Ok(());
    }
    let component = inspect_component(&built.component).map_err(|e| match e {
        RunError::Component(message) => Failure::component(format!(
            "the task was built but cannot be loaded: {message}"
        )),
        other => other.into(),
    })?;
    let tasks: Vec<&str> = component.tasks.iter().map(|t| t.name.as_str()).collect();
    eprintln!(
        "loaded in {:.1?}{}: tasks {}",
        component.load_time,
        if component.from_cache {
            " (from the compiled cache)"
        } else {
            ", compiled into the cache"
        },
        tasks.join(", ")
    );
    println!("{}", built.component.display());
    Ok(())
}

fn failure(error: BuildError) -> Failure {
    let code = match &error {
        BuildError::ToolFailed { .. } | BuildError::Component(_) => 1,
        BuildError::Layout { .. } | BuildError::Wit { .. } => 2,
        BuildError::MissingTool { .. } | BuildError::Io { .. } => 4,
    };
    Failure {
        code,
        message: error.to_string(),
    }
}
