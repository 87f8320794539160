//! C: bindings from `wit-bindgen c` (linked into this crate, no CLI to install), a WASI preview-1
//! *reactor* module from clang, then a component made with the preview-1 reactor adapter.
//!
//! A reactor (`-mexec-model=reactor`) has no `main`: its exports are called any number of times,
//! which is what task exports are. wasi-libc speaks WASI preview 1; the adapter from wasmtime's
//! release (matching the host) translates it to the WASI p2 imports the sandbox provides.

use crate::stage::Staging;
use crate::tool::{self, Tool};
use crate::{BuildError, Language};
use std::path::Path;
use std::process::Command;
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wit_bindgen_core::Files;
use wit_component::ComponentEncoder;
use wit_parser::Resolve;

const CLANG: Tool = Tool {
    language: Language::C,
    name: "clang",
    env: "WASMDASK_CLANG",
    local: &[],
    install: "apt-get install clang lld wasi-libc libclang-rt-dev-wasm32 (Debian/Ubuntu: clang \
              with the wasm32 linker, the WASI libc sysroot and compiler-rt builtins)",
};

pub(crate) fn build(dir: &Path, staging: &Staging) -> Result<Vec<u8>, BuildError> {
    let clang = CLANG.find(dir)?;
    let bindings = staging.scratch("bindings")?;
    generate_bindings(staging, &bindings)?;
    let core = staging.scratch("out")?.join("core.wasm");
    let mut command = Command::new(&clang);
    command
        .args(["--target=wasm32-wasi", "-mexec-model=reactor", "-O2"])
        .args(["-Wall", "-Wextra", "-Werror=implicit-function-declaration"])
        .arg("-I")
        .arg(&bindings)
        .arg("-I")
        .arg(dir)
        .args(crate::sources(dir, Language::C)?)
        .args(
            crate::stage::read_dir(&bindings)?
                .into_iter()
                .filter(|path| path.extension().is_some_and(|e| e == "c" || e == "o")),
        )
        .arg("-o")
        .arg(&core);
    tool::run(&mut command, explain_clang)?;
    let module = std::fs::read(&core).map_err(BuildError::io(&core))?;
    ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .and_then(|encoder| {
            encoder.adapter(
                WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
                WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )
        })
        .and_then(ComponentEncoder::encode)
        .map_err(|e| BuildError::Component(format!("{e:#}")))
}

/// Writes `<world>.h`, `<world>.c` and `<world>_component_type.o` (the WIT type information the
/// component encoder reads back) into `out`.
fn generate_bindings(staging: &Staging, out: &Path) -> Result<(), BuildError> {
    let wit = staging.wit();
    let mut resolve = Resolve::default();
    let (package, _) = resolve
        .push_dir(&wit)
        .map_err(|e| BuildError::wit(&wit, format!("{e:#}")))?;
    let world = resolve
        .select_world(&[package], Some(&staging.world))
        .map_err(|e| BuildError::wit(&wit, format!("{e:#}")))?;
    let mut files = Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)
        .map_err(|e| BuildError::wit(&wit, format!("wit-bindgen c: {e:#}")))?;
    for (name, contents) in files.iter() {
        let path = out.join(name);
        std::fs::write(&path, contents).map_err(BuildError::io(&path))?;
    }
    Ok(())
}

/// Recognises a missing WASI sysroot or wasm linker in clang's output.
fn explain_clang(output: &str) -> Option<String> {
    let missing = if output.contains("file not found") && output.contains(".h'") {
        "the WASI libc headers"
    } else if output.contains("wasm-ld")
        && [
            "not found",
            "No such file",
            "unable to execute",
            "cannot find",
        ]
        .iter()
        .any(|said| output.contains(said))
    {
        // Only a linker that cannot be run: an error that wasm-ld reports (an undefined
        // symbol, say) is the program's, and clang's own words say it best.
        "the wasm32 linker (wasm-ld)"
    } else if output.contains("libclang_rt.builtins-wasm32")
        || output.contains("unable to find library -lc")
    {
        "the WASI libc or compiler-rt builtins for wasm32"
    } else {
        return None;
    };
    Some(format!(
        "clang is installed but {missing} is not: {}",
        CLANG.install
    ))
}

#[cfg(test)]
mod tests {
    use super::explain_clang;

    #[test]
    fn only_a_missing_toolchain_part_gets_an_install_hint() {
        let missing = "clang: error: unable to execute command: Executable \"wasm-ld\" doesn't \
                       exist! (No such file or directory)";
        assert!(explain_clang(missing).unwrap().contains("wasm-ld"));
        let no_libc = "wasm-ld-14: error: unable to find library -lc";
        assert!(explain_clang(no_libc).unwrap().contains("WASI libc"));
        // The program's own mistake: clang's words are the hint.
        let undefined = "wasm-ld-14: error: /tmp/tasks.o: undefined symbol: exports_tasks_f";
        assert_eq!(explain_clang(undefined), None);
    }
}
