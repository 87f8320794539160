//! Structured logs kept with the task execution (shown by `wasmdask run --verbose`).
//!
//! Unlike `println!`, which lands in the byte-bounded stdout capture, these records carry a level
//! and are attributed to the execution that wrote them, also when it runs on a remote worker.

use crate::bindings::wasmdask::task::log::{self as wit, Level};

fn emit(level: Level, message: &str) {
    crate::link_imports();
    wit::log(level, message);
}

/// Logs very fine-grained detail (per element of a loop, ...).
pub fn trace(message: impl AsRef<str>) {
    emit(Level::Trace, message.as_ref());
}

/// Logs detail useful while developing a task.
pub fn debug(message: impl AsRef<str>) {
    emit(Level::Debug, message.as_ref());
}

/// Logs progress worth seeing in a normal run.
pub fn info(message: impl AsRef<str>) {
    emit(Level::Info, message.as_ref());
}

/// Logs something suspicious that the task recovered from.
pub fn warn(message: impl AsRef<str>) {
    emit(Level::Warn, message.as_ref());
}

/// Logs a failure (usually right before returning an error).
pub fn error(message: impl AsRef<str>) {
    emit(Level::Error, message.as_ref());
}
