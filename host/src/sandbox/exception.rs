//! The guest's own account of why it trapped, read from its stderr.
//!
//! A trap itself says only `unreachable` or `abort`: the words that explain it are what the
//! guest's language runtime printed just before. Each runtime prints them its own way — a Rust
//! panic, a Python traceback (componentize-py), a JavaScript error with its stack
//! (componentize-js / StarlingMonkey) — and this module finds the last such report.

/// An uncaught failure the guest's runtime reported on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exception {
    pub(crate) language: Language,
    /// What the runtime said, e.g. `ValueError: bad input`.
    pub(crate) message: String,
    /// Where, when the report says (`app.py line 11`, `square@app.js:3:9`).
    pub(crate) location: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Language {
    Rust,
    Python,
    JavaScript,
}

impl Exception {
    /// Finds the report in `stderr`. A Python traceback wins over the Rust panic that
    /// componentize-py's runtime prints after it ("Python function threw an unexpected
    /// exception"), which says nothing of the cause.
    pub(crate) fn parse(stderr: &[u8]) -> Option<Exception> {
        let text = String::from_utf8_lossy(stderr);
        python(&text)
            .or_else(|| javascript(&text))
            .or_else(|| rust(&text))
    }

    /// `the task panicked: ...` / `the task raised ValueError: ...` / `the task threw: ...`.
    pub(crate) fn describe(&self) -> String {
        let verb = match self.language {
            Language::Rust => "panicked:",
            Language::Python => "raised",
            Language::JavaScript => "threw:",
        };
        match &self.location {
            Some(at) => format!("the task {verb} {} (at {at})", self.message),
            None => format!("the task {verb} {}", self.message),
        }
    }

    /// Interpreters touch the filesystem while reporting an exception (Python's traceback reads
    /// the source file; StarlingMonkey's abort path does too), so such a report is not evidence
    /// that the task itself reached for a denied capability.
    pub(crate) fn reported_by_interpreter(&self) -> bool {
        self.language != Language::Rust
    }
}

/// A Rust panic: `panicked at file:line:col:\nmessage`.
fn rust(text: &str) -> Option<Exception> {
    let start = text.find("panicked at ")?;
    let mut lines = text[start..].lines();
    let location = lines
        .next()?
        .trim_start_matches("panicked at ")
        .trim_end_matches(':');
    let message: Vec<&str> = lines.take_while(|l| !l.starts_with("note:")).collect();
    Some(Exception {
        language: Language::Rust,
        message: message.join("\n").trim().to_string(),
        location: Some(location.to_string()),
    })
}

/// A Python traceback: indented frames, then `Type: message` as the first unindented line.
fn python(text: &str) -> Option<Exception> {
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
                language: Language::Python,
                message: line.trim().to_string(),
                location,
            });
        }
    }
    None
}

/// A StarlingMonkey error report: the message, then `Stack:` and `function@file:line:col` frames.
fn javascript(text: &str) -> Option<Exception> {
    let lines: Vec<&str> = text.lines().collect();
    let stack = lines.iter().rposition(|line| *line == "Stack:")?;
    let message = lines[..stack].last()?.trim();
    let location = lines
        .get(stack + 1)
        .map(|frame| frame.trim().to_string())
        .filter(|frame| !frame.is_empty());
    Some(Exception {
        language: Language::JavaScript,
        message: message.to_string(),
        location,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_python_traceback_beats_the_runtime_panic_after_it() {
        let stderr = b"Traceback (most recent call last):\n  File \"/0/app.py\", line 11, in fail\n\
            ValueError: boom from python\n\nthread '<unnamed>' (1) panicked at runtime/src/lib.rs:1280:25:\n\
            Python function threw an unexpected exception\nnote: run with `RUST_BACKTRACE=1`\n";
        let exception = Exception::parse(stderr).unwrap();
        assert_eq!(exception.language, Language::Python);
        assert_eq!(exception.message, "ValueError: boom from python");
        assert_eq!(exception.location.as_deref(), Some("app.py line 11"));
        assert_eq!(
            exception.describe(),
            "the task raised ValueError: boom from python (at app.py line 11)"
        );
    }

    #[test]
    fn a_javascript_error_is_the_line_before_its_stack() {
        let stderr =
            b"boom from js\nStack:\n  fail@app.js:12:50\n  export_fail@initializer.js:5:1\n\n\
            Redirecting call to abort() to mozalloc_abort\n";
        let exception = Exception::parse(stderr).unwrap();
        assert_eq!(exception.language, Language::JavaScript);
        assert_eq!(
            exception.describe(),
            "the task threw: boom from js (at fail@app.js:12:50)"
        );
    }

    #[test]
    fn a_rust_panic_keeps_its_location() {
        let stderr = b"\nthread '<unnamed>' panicked at src/lib.rs:3:5:\nno way\nnote: run with\n";
        let exception = Exception::parse(stderr).unwrap();
        assert_eq!(
            exception.describe(),
            "the task panicked: no way (at src/lib.rs:3:5)"
        );
        assert!(!exception.reported_by_interpreter());
    }

    #[test]
    fn plain_output_is_no_exception() {
        assert_eq!(Exception::parse(b"progress 50%\ndone\n"), None);
    }
}
