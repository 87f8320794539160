//! The guest's own account of why it trapped, read from its stderr.
//!
//! A trap itself says only `unreachable` or `abort`: the words that explain it are what the
//! guest's language runtime printed just before. Each runtime prints them its own way — a Rust
//! panic, a Python traceback (componentize-py), a JavaScript error with its stack
//! (componentize-js / StarlingMonkey), a C assertion (wasi-libc) — and this module has one parser
//! per format. Which of them apply to a component is its [`GuestRuntime`]'s business.

use super::guest_runtime::GuestRuntime;

/// An uncaught failure the guest's runtime reported on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exception {
    /// The runtime whose report format this is (a Python component's runtime can still report a
    /// Rust panic).
    pub(crate) runtime: GuestRuntime,
    /// What the runtime said, e.g. `ValueError: bad input`.
    pub(crate) message: String,
    /// Where, when the report says (`app.py line 11`, `square@app.js:3:9`).
    pub(crate) location: Option<String>,
}

impl Exception {
    /// `the task panicked: ...` / `the task raised ValueError: ...` / `the task threw: ...`.
    pub(crate) fn describe(&self) -> String {
        let verb = self.runtime.verb();
        match &self.location {
            Some(at) => format!("the task {verb} {} (at {at})", self.message),
            None => format!("the task {verb} {}", self.message),
        }
    }

    /// Interpreters touch the filesystem while reporting an exception (Python's traceback reads
    /// the source file; StarlingMonkey's abort path does too), so such a report is not evidence
    /// that the task itself reached for a denied capability.
    pub(crate) fn reported_by_interpreter(&self) -> bool {
        self.runtime.is_interpreter()
    }
}

/// A Rust panic: `panicked at file:line:col:\nmessage`.
pub(super) fn rust_panic(text: &str) -> Option<Exception> {
    let start = text.find("panicked at ")?;
    let mut lines = text[start..].lines();
    let location = lines
        .next()?
        .trim_start_matches("panicked at ")
        .trim_end_matches(':');
    let message: Vec<&str> = lines.take_while(|l| !l.starts_with("note:")).collect();
    Some(Exception {
        runtime: GuestRuntime::Rust,
        message: message.join("\n").trim().to_string(),
        location: Some(location.to_string()),
    })
}

/// A Python traceback: indented frames, then `Type: message` as the first unindented line.
pub(super) fn python_traceback(text: &str) -> Option<Exception> {
    const HEADER: &str = "Traceback (most recent call last):";
    let start = text.rfind(HEADER)?;
    let mut location = None;
    for line in text[start + HEADER.len()..].lines().skip(1) {
        if let Some(frame) = line.trim_start().strip_prefix("File \"") {
            // `File "/0/app.py", line 11, in fail` → `app.py line 11`.
            let (path, rest) = frame.split_once('"')?;
            let file = path.rsplit('/').next().unwrap_or(path);
            let line_no = rest
                .trim_start_matches(", line ")
                .split(',')
                .next()
                .unwrap_or_default();
            location = Some(format!("{file} line {line_no}"));
        } else if !line.starts_with(' ') && !line.is_empty() {
            return Some(Exception {
                runtime: GuestRuntime::Python,
                message: line.trim().to_string(),
                location,
            });
        }
    }
    None
}

/// A StarlingMonkey error report: the message, then `Stack:` and `function@file:line:col` frames.
pub(super) fn javascript_error(text: &str) -> Option<Exception> {
    let lines: Vec<&str> = text.lines().collect();
    let stack = lines.iter().rposition(|line| *line == "Stack:")?;
    let message = lines[..stack].last()?.trim();
    let location = lines
        .get(stack + 1)
        .map(|frame| frame.trim().to_string())
        .filter(|frame| !frame.is_empty());
    Some(Exception {
        runtime: GuestRuntime::JavaScript,
        message: message.to_string(),
        location,
    })
}

/// A failed C `assert` (wasi-libc, as musl): `Assertion failed: expr (file: function: line)`.
pub(super) fn c_assertion(text: &str) -> Option<Exception> {
    const PREFIX: &str = "Assertion failed: ";
    let (line, assertion) = text
        .lines()
        .rev()
        .find_map(|line| Some((line, line.strip_prefix(PREFIX)?)))?;
    // `tasks.c: square: 31` → `tasks.c line 31, in square`; the expression may hold parentheses
    // of its own, so the location is the last parenthesised part.
    let located = assertion
        .strip_suffix(')')
        .and_then(|rest| rest.rsplit_once(" ("))
        .and_then(|(expression, at)| {
            let mut parts = at.rsplitn(3, ": ");
            let (line_no, function, file) = (parts.next()?, parts.next()?, parts.next()?);
            let file = file.rsplit('/').next().unwrap_or(file);
            Some((expression, format!("{file} line {line_no}, in {function}")))
        });
    let (message, location) = match located {
        Some((expression, location)) => {
            (format!("assertion `{expression}` failed"), Some(location))
        }
        None => (line.trim().to_string(), None),
    };
    Some(Exception {
        runtime: GuestRuntime::C,
        message,
        location,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PYTHON_STDERR: &[u8] = b"Traceback (most recent call last):\n  File \"/0/app.py\", line 11, in fail\n\
        ValueError: boom from python\n\nthread '<unnamed>' (1) panicked at runtime/src/lib.rs:1280:25:\n\
        Python function threw an unexpected exception\nnote: run with `RUST_BACKTRACE=1`\n";

    const JS_STDERR: &[u8] =
        b"boom from js\nStack:\n  fail@app.js:12:50\n  export_fail@initializer.js:5:1\n\n\
        Redirecting call to abort() to mozalloc_abort\n";

    const RUST_STDERR: &[u8] =
        b"\nthread '<unnamed>' panicked at src/lib.rs:3:5:\nno way\nnote: run with\n";

    const C_STDERR: &[u8] =
        b"progress\nAssertion failed: (n > 0) && ok (/src/examples/c/tasks.c: exports_tasks_square: 31)\n";

    /// The component's own runtime and [`GuestRuntime::Unknown`] (every format) agree.
    fn parse_both(stderr: &[u8], runtime: GuestRuntime) -> Exception {
        let exception = runtime.parse_exception(stderr).unwrap();
        assert_eq!(
            GuestRuntime::Unknown.parse_exception(stderr),
            Some(exception.clone())
        );
        exception
    }

    #[test]
    fn a_python_traceback_beats_the_runtime_panic_after_it() {
        let exception = parse_both(PYTHON_STDERR, GuestRuntime::Python);
        assert_eq!(exception.runtime, GuestRuntime::Python);
        assert_eq!(exception.message, "ValueError: boom from python");
        assert_eq!(exception.location.as_deref(), Some("app.py line 11"));
        assert_eq!(
            exception.describe(),
            "the task raised ValueError: boom from python (at app.py line 11)"
        );
        assert!(exception.reported_by_interpreter());
    }

    #[test]
    fn a_javascript_error_is_the_line_before_its_stack() {
        let exception = parse_both(JS_STDERR, GuestRuntime::JavaScript);
        assert_eq!(exception.runtime, GuestRuntime::JavaScript);
        assert_eq!(
            exception.describe(),
            "the task threw: boom from js (at fail@app.js:12:50)"
        );
        assert!(exception.reported_by_interpreter());
    }

    #[test]
    fn a_rust_panic_keeps_its_location() {
        let exception = parse_both(RUST_STDERR, GuestRuntime::Rust);
        assert_eq!(
            exception.describe(),
            "the task panicked: no way (at src/lib.rs:3:5)"
        );
        assert!(!exception.reported_by_interpreter());
    }

    #[test]
    fn a_c_assertion_names_its_expression_and_place() {
        let exception = parse_both(C_STDERR, GuestRuntime::C);
        assert_eq!(
            exception.describe(),
            "the task aborted: assertion `(n > 0) && ok` failed (at tasks.c line 31, in exports_tasks_square)"
        );
        assert!(!exception.reported_by_interpreter());
        let bare = GuestRuntime::C
            .parse_exception(b"Assertion failed: odd output\n")
            .unwrap();
        assert_eq!(
            bare.describe(),
            "the task aborted: Assertion failed: odd output"
        );
    }

    #[test]
    fn a_runtime_panic_without_a_traceback_is_still_reported() {
        let exception = GuestRuntime::Python.parse_exception(RUST_STDERR).unwrap();
        assert_eq!(exception.runtime, GuestRuntime::Rust);
        assert!(!exception.reported_by_interpreter());
    }

    #[test]
    fn a_compiled_task_printing_interpreter_output_raised_nothing() {
        // A Rust or C task that prints a traceback or a stack as data has not raised them, and
        // must not be excused from `denied` as an interpreter's report would be.
        let traceback =
            b"Traceback (most recent call last):\n  File \"/0/app.py\", line 1, in f\nE: x\n";
        assert!(GuestRuntime::Python.parse_exception(traceback).is_some());
        for runtime in [GuestRuntime::Rust, GuestRuntime::C] {
            assert_eq!(runtime.parse_exception(traceback), None);
            assert_eq!(runtime.parse_exception(JS_STDERR), None);
        }
        assert_eq!(GuestRuntime::Python.parse_exception(JS_STDERR), None);
        assert_eq!(GuestRuntime::JavaScript.parse_exception(C_STDERR), None);
    }

    #[test]
    fn plain_output_is_no_exception() {
        for runtime in [
            GuestRuntime::Rust,
            GuestRuntime::Python,
            GuestRuntime::JavaScript,
            GuestRuntime::C,
            GuestRuntime::Unknown,
        ] {
            assert_eq!(runtime.parse_exception(b"progress 50%\ndone\n"), None);
        }
    }
}
