//! The guest's language runtime: which one built a component, detected once when it loads, and
//! everything the sandbox does differently because of it.
//!
//! The sandbox runs every component the same way; only the reading of what a failing guest left
//! behind depends on its language. A trap says just `unreachable`: the words that explain it are
//! what the runtime printed to stderr before (a Rust panic, a Python traceback, a JavaScript
//! error with its stack, a C assertion), and an interpreter's own start-up and error reporting
//! touch capabilities the task never asked for. This module keeps that knowledge in one
//! [`Profile`] per language, so a new language is one variant, one profile, one detection rule
//! and, if its runtime prints a report of its own, one parser in [`exception`](super::exception).
//!
//! Detection reads the `producers` custom sections (the WebAssembly tool conventions'
//! `language` / `processed-by` / `sdk` fields) of the component and of every core module nested
//! in it, and the names the component gives its core modules: no toolchain writes a field that
//! says "this is the task's language" on the component alone, so the evidence is weighed in
//! [`Evidence::runtime`].

use super::exception::{self, Exception};
use wasmparser::{ComponentName, Encoding, KnownCustom, Name, Parser, Payload};

/// The language runtime a component was built with, as far as its metadata tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum GuestRuntime {
    /// Rust compiled for `wasm32-wasip2` (rustc, wit-bindgen).
    Rust,
    /// CPython and the task's modules, snapshotted by componentize-py.
    Python,
    /// StarlingMonkey (SpiderMonkey) and the task's script, snapshotted by componentize-js.
    JavaScript,
    /// C compiled by clang with wit-bindgen-c bindings (`wasmdask build` for `*.c`).
    C,
    /// Nothing recognised (another toolchain, or a component stripped of its metadata): every
    /// report format is tried, and no language-specific allowance is made.
    #[default]
    Unknown,
}

/// Reads one report format from a guest's stderr.
type ReportParser = fn(&str) -> Option<Exception>;

/// What the sandbox knows about one language runtime.
#[derive(Debug)]
struct Profile {
    /// Stable lowercase name, for `inspect` output and logs.
    name: &'static str,
    /// How a failure it reported is told: `the task {verb} {message}`.
    verb: &'static str,
    /// The report formats its failures can leave on stderr, the most specific first. Only these
    /// are tried: a Rust task that prints a Python-looking traceback as data has not raised one.
    reports: &'static [ReportParser],
    /// An interpreter, whose own error reporting touches the filesystem (a traceback reads the
    /// source file), so the report is not evidence that the task reached for a denied capability.
    interpreter: bool,
    /// The runtime reads the environment when every call starts, before the task's code runs.
    reads_environment_at_start: bool,
}

const RUST: Profile = Profile {
    name: "rust",
    verb: "panicked:",
    // A Rust task may link C (the `cc` crate), whose failed assertions wasi-libc reports.
    reports: &[exception::rust_panic, exception::c_assertion],
    interpreter: false,
    reads_environment_at_start: false,
};

const PYTHON: Profile = Profile {
    name: "python",
    verb: "raised",
    // componentize-py's runtime is Rust: after a traceback it panics with "Python function threw
    // an unexpected exception", which says nothing of the cause, so the traceback comes first;
    // a panic of the runtime itself is still a report.
    reports: &[exception::python_traceback, exception::rust_panic],
    interpreter: true,
    // componentize-py's runtime copies the whole environment when each call starts, and CPython
    // answers `os.environ` from that copy: an environment read says nothing about the task.
    reads_environment_at_start: true,
};

const JAVASCRIPT: Profile = Profile {
    name: "javascript",
    verb: "threw:",
    reports: &[exception::javascript_error, exception::rust_panic],
    interpreter: true,
    reads_environment_at_start: false,
};

const C: Profile = Profile {
    name: "c",
    verb: "aborted:",
    reports: &[exception::c_assertion],
    interpreter: false,
    reads_environment_at_start: false,
};

const UNKNOWN: Profile = Profile {
    name: "unknown",
    verb: "failed:",
    // The formats in the order the language-specific profiles would try them, interpreters
    // first (their runtimes may print a Rust panic after the real report).
    reports: &[
        exception::python_traceback,
        exception::javascript_error,
        exception::rust_panic,
        exception::c_assertion,
    ],
    interpreter: false,
    reads_environment_at_start: false,
};

impl GuestRuntime {
    /// The runtime that built `bytes` (a component or a core module), from its metadata. Never
    /// fails: unreadable or missing metadata is [`GuestRuntime::Unknown`].
    pub fn detect(bytes: &[u8]) -> GuestRuntime {
        Evidence::read(bytes).runtime()
    }

    fn profile(self) -> &'static Profile {
        match self {
            GuestRuntime::Rust => &RUST,
            GuestRuntime::Python => &PYTHON,
            GuestRuntime::JavaScript => &JAVASCRIPT,
            GuestRuntime::C => &C,
            GuestRuntime::Unknown => &UNKNOWN,
        }
    }

    /// `rust`, `python`, `javascript`, `c` or `unknown`.
    pub fn name(self) -> &'static str {
        self.profile().name
    }

    /// Whether the runtime reads the environment when every call starts, so that an environment
    /// read is no sign of what the task itself did and must not make its failure `denied`.
    pub(crate) fn reads_environment_at_start(self) -> bool {
        self.profile().reads_environment_at_start
    }

    /// Whether failures this runtime reports come through an interpreter's error path.
    pub(crate) fn is_interpreter(self) -> bool {
        self.profile().interpreter
    }

    /// `panicked:` / `raised` / `threw:` / `aborted:`.
    pub(crate) fn verb(self) -> &'static str {
        self.profile().verb
    }

    /// The last failure report this runtime's formats find in `stderr`.
    pub(crate) fn parse_exception(self, stderr: &[u8]) -> Option<Exception> {
        let text = String::from_utf8_lossy(stderr);
        self.profile().reports.iter().find_map(|parse| parse(&text))
    }
}

impl std::fmt::Display for GuestRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Prefix wit-component gives the core modules it adds itself (the WASI preview-1 adapter, shim
/// and fixup modules) in the component's names. The adapter is built from Rust and says so in its
/// producers, which is no evidence about the task's language.
const WIT_COMPONENT_MODULE: &str = "wit-component:";

/// What a component's metadata says about the tools that built it.
#[derive(Debug, Default, PartialEq, Eq)]
struct Evidence {
    /// `(field, name)` of every producers entry of the component, its nested components and its
    /// core modules, except the modules wit-component added.
    producers: Vec<(String, String)>,
    /// Names of the core modules, from the component's names or each module's own.
    module_names: Vec<String>,
}

/// One module or component met while reading, until its names are known.
#[derive(Debug)]
struct Unit {
    name: Option<String>,
    producers: Vec<(String, String)>,
}

impl Evidence {
    /// Reads the metadata of `bytes` and of everything nested in it; the code is not looked at.
    /// Never fails: a malformed binary yields what was read before the error (the compiler
    /// reports it), and a section is read up to its first error (`map_while`, because a bad
    /// subsection does not advance the reader).
    fn read(bytes: &[u8]) -> Evidence {
        let mut units: Vec<Unit> = Vec::new();
        // Units being read, innermost last.
        let mut open: Vec<usize> = Vec::new();
        // The units of the outermost component's core modules, in index order: its names
        // section names them by that index.
        let mut top_modules: Vec<usize> = Vec::new();
        let mut top_module_names: Vec<(u32, String)> = Vec::new();
        let mut outermost_is_component = false;

        for payload in Parser::new(0).parse_all(bytes) {
            let Ok(payload) = payload else { break };
            match payload {
                Payload::Version { encoding, .. } => {
                    if open.is_empty() {
                        outermost_is_component = encoding == Encoding::Component;
                    } else if open.len() == 1
                        && outermost_is_component
                        && encoding == Encoding::Module
                    {
                        top_modules.push(units.len());
                    }
                    open.push(units.len());
                    units.push(Unit {
                        name: None,
                        producers: Vec::new(),
                    });
                }
                Payload::End(_) => {
                    open.pop();
                }
                Payload::CustomSection(section) => {
                    let Some(&current) = open.last() else {
                        continue;
                    };
                    match section.as_known() {
                        KnownCustom::Producers(reader) => {
                            for field in reader.into_iter().map_while(Result::ok) {
                                for value in field.values.into_iter().map_while(Result::ok) {
                                    units[current]
                                        .producers
                                        .push((field.name.to_string(), value.name.to_string()));
                                }
                            }
                        }
                        KnownCustom::Name(reader) => {
                            for name in reader.into_iter().map_while(Result::ok) {
                                if let Name::Module { name, .. } = name {
                                    units[current].name = Some(name.to_string());
                                }
                            }
                        }
                        KnownCustom::ComponentName(reader) if open.len() == 1 => {
                            for name in reader.into_iter().map_while(Result::ok) {
                                if let ComponentName::CoreModules(map) = name {
                                    top_module_names.extend(
                                        map.into_iter()
                                            .map_while(Result::ok)
                                            .map(|n| (n.index, n.name.to_string())),
                                    );
                                }
                            }
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }

        for (index, name) in top_module_names {
            if let Some(&unit) = top_modules.get(index as usize) {
                units[unit].name = Some(name);
            }
        }
        let mut evidence = Evidence::default();
        for unit in units {
            let added_by_wit_component = unit
                .name
                .as_deref()
                .is_some_and(|name| name.starts_with(WIT_COMPONENT_MODULE));
            if !added_by_wit_component {
                evidence.producers.extend(unit.producers);
            }
            evidence.module_names.extend(unit.name);
        }
        evidence
    }

    /// Whether some producers entry has this field and (case-insensitively) this name.
    fn has(&self, field: &str, name: &str) -> bool {
        self.producers
            .iter()
            .any(|(f, n)| f == field && n.eq_ignore_ascii_case(name))
    }

    /// Weighs the evidence. A component holds the code of several languages, so the marks of
    /// the task's own toolchain are looked for first. What the toolchains write (checked on the
    /// components `wasmdask build` and the test guests produce):
    ///
    /// - componentize-py: nothing of its own. Its libraries' producers are stripped; the
    ///   component's names list `libpython3.*.so` and `libcomponentize_py_runtime.so`.
    /// - componentize-js: `language: JavaScript`, `processed-by: ComponentizeJS` on the component;
    ///   StarlingMonkey's module says C11, C++14, Rust, clang, rustc, wit-bindgen-c.
    /// - Rust (`strip = true`, as the examples build): no `language` at all; the main module keeps
    ///   only what wit-component copies from the bindings' metadata, `wit-bindgen-rust` and the
    ///   `wit-bindgen-c` of Rust's own `wasm32-wasip2` standard library.
    /// - C (`wasmdask build`): `language: C99` (wasi-libc's objects carry debug information),
    ///   clang and `wit-bindgen-c`.
    /// - Every C, Python and JavaScript component links the WASI adapter, a Rust module
    ///   (`language: Rust`, rustc); named `wit-component:adapter:…`, it is left out of the
    ///   evidence, and a C language entry outranks a Rust one for when the names are missing.
    fn runtime(&self) -> GuestRuntime {
        let python = self.has("processed-by", "componentize-py")
            || self.has("language", "Python")
            || self
                .module_names
                .iter()
                .any(|name| name.contains("componentize_py_runtime"));
        let javascript =
            self.has("processed-by", "ComponentizeJS") || self.has("language", "JavaScript");
        // LLVM names C as `C89`, `C99`, `C11`, `C17`... (C++ is `C_plus_plus_*`).
        let c_language = self.producers.iter().any(|(field, name)| {
            field == "language"
                && name
                    .strip_prefix('C')
                    .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit()))
        });
        // `clang` from wasi-sdk, `Debian clang` from the distribution's package.
        let clang = self
            .producers
            .iter()
            .any(|(field, name)| field == "processed-by" && name.ends_with("clang"));
        if python {
            GuestRuntime::Python
        } else if javascript {
            GuestRuntime::JavaScript
        } else if self.has("processed-by", "wit-bindgen-rust") {
            GuestRuntime::Rust
        } else if c_language {
            GuestRuntime::C
        } else if self.has("language", "Rust") || self.has("processed-by", "rustc") {
            GuestRuntime::Rust
        } else if clang && self.has("processed-by", "wit-bindgen-c") {
            GuestRuntime::C
        } else {
            GuestRuntime::Unknown
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_encoder::{
        Component, ComponentNameSection, Module, ModuleSection, NameMap, NameSection,
        NestedComponentSection, ProducersField, ProducersSection,
    };

    fn producers(entries: &[(&str, &str)]) -> ProducersSection {
        let mut section = ProducersSection::new();
        for field in ["language", "processed-by", "sdk"] {
            let mut values = ProducersField::new();
            let mut any = false;
            for (_, name) in entries.iter().filter(|(f, _)| *f == field) {
                values.value(name, "1.0");
                any = true;
            }
            if any {
                section.field(field, &values);
            }
        }
        section
    }

    /// An empty core module with a producers section and, optionally, its own module name.
    fn module(entries: &[(&str, &str)], name: Option<&str>) -> Module {
        let mut module = Module::new();
        if let Some(name) = name {
            let mut names = NameSection::new();
            names.module(name);
            module.section(&names);
        }
        if !entries.is_empty() {
            module.section(&producers(entries));
        }
        module
    }

    /// A component holding `modules` (named in its names section when a name is given), with
    /// `entries` in its own producers section.
    fn component(entries: &[(&str, &str)], modules: &[(Module, Option<&str>)]) -> Component {
        let mut component = Component::new();
        let mut names = NameMap::new();
        for (index, (module, name)) in modules.iter().enumerate() {
            component.section(&ModuleSection(module));
            if let Some(name) = name {
                names.append(index as u32, name);
            }
        }
        if !entries.is_empty() {
            component.section(&producers(entries));
        }
        let mut section = ComponentNameSection::new();
        section.core_modules(&names);
        component.section(&section);
        component
    }

    const ADAPTER: &str = "wit-component:adapter:wasi_snapshot_preview1";

    /// The WASI adapter wit-component links into C, Python and JavaScript components.
    fn adapter() -> Module {
        module(&[("language", "Rust"), ("processed-by", "rustc")], None)
    }

    #[test]
    fn an_unstripped_rust_module_says_so_in_its_producers() {
        let bytes = module(&[("language", "Rust"), ("processed-by", "rustc")], None).finish();
        assert_eq!(GuestRuntime::detect(&bytes), GuestRuntime::Rust);
    }

    #[test]
    fn a_stripped_rust_component_is_known_by_wit_bindgen_rust() {
        // examples/rust: `strip = true` leaves what wit-component copies from the bindings,
        // including the wit-bindgen-c of Rust's own standard library.
        let main = module(
            &[
                ("processed-by", "wit-component"),
                ("processed-by", "wit-bindgen-rust"),
                ("processed-by", "wit-bindgen-c"),
            ],
            None,
        );
        let bytes = component(
            &[("processed-by", "wit-component")],
            &[
                (main, Some("main")),
                (
                    module(&[("processed-by", "wit-component")], None),
                    Some("wit-component-shim-module"),
                ),
            ],
        );
        assert_eq!(GuestRuntime::detect(&bytes.finish()), GuestRuntime::Rust);
    }

    #[test]
    fn a_javascript_component_is_known_by_its_own_producers() {
        // StarlingMonkey itself is C, C++ and Rust; componentize-js marks the component.
        let engine = module(
            &[
                ("language", "C11"),
                ("language", "Rust"),
                ("language", "C_plus_plus_14"),
                ("processed-by", "clang"),
                ("processed-by", "rustc"),
                ("processed-by", "wit-bindgen-c"),
            ],
            None,
        );
        let bytes = component(
            &[
                ("processed-by", "wit-component"),
                ("processed-by", "ComponentizeJS"),
                ("language", "JavaScript"),
            ],
            &[(engine, Some("main")), (adapter(), Some(ADAPTER))],
        );
        assert_eq!(
            GuestRuntime::detect(&bytes.finish()),
            GuestRuntime::JavaScript
        );
    }

    #[test]
    fn a_python_component_is_known_by_its_runtime_library() {
        // componentize-py strips its libraries' producers; the names remain.
        let bytes = component(
            &[
                ("processed-by", "wit-component"),
                ("processed-by", "component-init-transform"),
            ],
            &[
                (
                    module(&[("processed-by", "wit-component")], None),
                    Some("main"),
                ),
                (adapter(), Some(ADAPTER)),
                (
                    module(&[], Some("libpython3.14.so")),
                    Some("libpython3.14.so"),
                ),
                (
                    module(&[], Some("componentize_py_runtime.wasm")),
                    Some("libcomponentize_py_runtime.so"),
                ),
            ],
        );
        assert_eq!(GuestRuntime::detect(&bytes.finish()), GuestRuntime::Python);
    }

    #[test]
    fn a_module_name_of_its_own_counts_too() {
        let bytes = component(
            &[],
            &[(module(&[], Some("componentize_py_runtime.wasm")), None)],
        );
        assert_eq!(GuestRuntime::detect(&bytes.finish()), GuestRuntime::Python);
    }

    #[test]
    fn the_rust_wasi_adapter_does_not_make_a_c_task_rust() {
        // examples/c as `wasmdask build` makes it.
        let main = module(
            &[
                ("language", "C99"),
                ("processed-by", "Debian clang"),
                ("processed-by", "wit-component"),
                ("processed-by", "wit-bindgen-c"),
            ],
            None,
        );
        let named = component(
            &[("processed-by", "wit-component")],
            &[(main.clone(), Some("main")), (adapter(), Some(ADAPTER))],
        );
        assert_eq!(GuestRuntime::detect(&named.finish()), GuestRuntime::C);
        // Without names, the C language entry outranks the adapter's Rust.
        let unnamed = component(&[], &[(main, None), (adapter(), None)]);
        assert_eq!(GuestRuntime::detect(&unnamed.finish()), GuestRuntime::C);

        // Without debug information there is no language entry: clang and wit-bindgen-c are
        // the marks, and the named adapter is still no evidence.
        let main = module(
            &[("processed-by", "clang"), ("processed-by", "wit-bindgen-c")],
            None,
        );
        let bytes = component(&[], &[(main, Some("main")), (adapter(), Some(ADAPTER))]);
        assert_eq!(GuestRuntime::detect(&bytes.finish()), GuestRuntime::C);
    }

    #[test]
    fn wit_bindgen_c_alone_is_no_mark_of_c() {
        // Rust's standard library brings it too: a stripped Rust task without wit-bindgen-rust
        // is unknown rather than C.
        let main = module(&[("processed-by", "wit-bindgen-c")], None);
        let bytes = component(&[], &[(main, Some("main")), (adapter(), Some(ADAPTER))]);
        assert_eq!(GuestRuntime::detect(&bytes.finish()), GuestRuntime::Unknown);
    }

    #[test]
    fn a_rust_task_linking_c_is_rust() {
        let main = module(
            &[
                ("language", "Rust"),
                ("language", "C11"),
                ("processed-by", "wit-bindgen-rust"),
            ],
            None,
        );
        assert_eq!(GuestRuntime::detect(&main.finish()), GuestRuntime::Rust);
        let cpp = module(&[("language", "C_plus_plus_14")], None);
        assert_eq!(GuestRuntime::detect(&cpp.finish()), GuestRuntime::Unknown);
    }

    #[test]
    fn producers_in_a_nested_component_count() {
        let inner = component(&[], &[(module(&[("language", "Rust")], None), None)]);
        let mut outer = Component::new();
        outer.section(&NestedComponentSection(&inner));
        assert_eq!(GuestRuntime::detect(&outer.finish()), GuestRuntime::Rust);
    }

    #[test]
    fn no_metadata_or_no_wasm_is_unknown() {
        assert_eq!(
            GuestRuntime::detect(&component(&[], &[]).finish()),
            GuestRuntime::Unknown
        );
        assert_eq!(GuestRuntime::detect(b"not wasm"), GuestRuntime::Unknown);
        // Truncated after a producers section: what was read still counts.
        let mut bytes = module(&[("language", "Rust")], None).finish();
        bytes.extend_from_slice(&[0x01, 0x7f]);
        assert_eq!(GuestRuntime::detect(&bytes), GuestRuntime::Rust);
    }

    #[test]
    fn only_python_reads_the_environment_at_start() {
        for runtime in [
            GuestRuntime::Rust,
            GuestRuntime::JavaScript,
            GuestRuntime::C,
            GuestRuntime::Unknown,
        ] {
            assert!(!runtime.reads_environment_at_start(), "{runtime}");
        }
        assert!(GuestRuntime::Python.reads_environment_at_start());
    }
}
