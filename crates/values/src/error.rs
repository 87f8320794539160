//! The one error type of value conversion.
//!
//! A value error says *where* in the value it went wrong (a path such as `points[2].x`, built
//! while the error bubbles out of the recursion) and *what* was expected, in terms a task user
//! can act on without reading the component's WIT.

use std::fmt;

/// A JSON value (or `key=value` argument) that does not fit the type the component expects.
///
/// Displays as ``at `points[2].x`: expected s32 (an integer from -2147483648 to 2147483647), got 3.5``;
/// the `at` part is left out when the problem is the whole value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValueError {
    /// Path segments, innermost first: each level of the recursion appends its own segment on
    /// the way out, so `segments.last()` is the outermost one.
    segments: Vec<Segment>,
    message: String,
}

/// One step of a path into a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// A record field, variant case, `ok`/`err`/`some` wrapper or function parameter.
    Name(String),
    /// A list, tuple or flags element.
    Index(usize),
}

impl ValueError {
    /// An error about the value at the current position (its path is added by the callers).
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            segments: Vec::new(),
            message: message.into(),
        }
    }

    /// Places this error inside `segment` of the enclosing value.
    pub(crate) fn at(mut self, segment: Segment) -> Self {
        self.segments.push(segment);
        self
    }

    /// Places this error inside the named field, case or parameter of the enclosing value.
    pub(crate) fn in_name(self, name: &str) -> Self {
        self.at(Segment::Name(name.to_string()))
    }

    /// Places this error inside element `index` of the enclosing value.
    pub(crate) fn in_index(self, index: usize) -> Self {
        self.at(Segment::Index(index))
    }

    /// Appends advice to the message (e.g. an example of a valid value).
    pub(crate) fn with_hint(mut self, hint: &str) -> Self {
        self.message.push_str("; ");
        self.message.push_str(hint);
        self
    }

    /// Where the problem is, e.g. `points[2].x`; empty when it is the whole value.
    pub fn path(&self) -> String {
        let mut path = String::new();
        for segment in self.segments.iter().rev() {
            match segment {
                Segment::Name(name) if path.is_empty() => path.push_str(name),
                Segment::Name(name) => {
                    path.push('.');
                    path.push_str(name);
                }
                Segment::Index(index) => {
                    path.push('[');
                    path.push_str(&index.to_string());
                    path.push(']');
                }
            }
        }
        path
    }

    /// What is wrong and what to do about it, without the path.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "at `{}`: {}", self.path(), self.message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_reads_outside_in() {
        let error = ValueError::new("expected s32, got 3.5")
            .in_name("x")
            .in_index(2)
            .in_name("points");
        assert_eq!(error.path(), "points[2].x");
        assert_eq!(error.to_string(), "at `points[2].x`: expected s32, got 3.5");
    }

    #[test]
    fn path_starting_with_an_index() {
        let error = ValueError::new("bad").in_name("ok").in_index(0);
        assert_eq!(error.path(), "[0].ok");
    }

    #[test]
    fn no_path_for_the_whole_value() {
        let error = ValueError::new("expected bool, got 1").with_hint("write true or false");
        assert_eq!(error.path(), "");
        assert_eq!(
            error.to_string(),
            "expected bool, got 1; write true or false"
        );
    }
}
