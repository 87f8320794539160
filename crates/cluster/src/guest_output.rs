//! What a guest wrote during one execution (stdout, stderr, `log` lines), kept with its task:
//! attached to a failed task's result so the submitter gets it with the error, sampled into the
//! dashboard's task stream, and printed by `wasmdask run --verbose`.

use parking_lot::Mutex;
use serde::Serialize;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use wasmdask_sandbox::TaskError;
use wasmdask_sandbox::{ExecReport, LogLine};

/// Bytes of each stream kept when output travels with a task: the tail, where a failure shows.
/// The sandbox bounds a stream at `--output-limit` (1 MiB); a result message stays far smaller.
pub(crate) const TAIL_BYTES: usize = 16 << 10;
/// Log lines kept when output travels with a task (the last ones).
pub(crate) const TAIL_LOG_LINES: usize = 100;
/// Failed subtasks whose output a client keeps for `--verbose` (the first ones).
const FAILURES_KEPT: usize = 20;

/// One execution's output. Streams serialize as (lossy) UTF-8 text for the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GuestOutput {
    #[serde(serialize_with = "lossy_text")]
    /// What the guest wrote to stdout (up to the output limit).
    pub stdout: Vec<u8>,
    #[serde(serialize_with = "lossy_text")]
    /// What the guest wrote to stderr (up to the output limit).
    pub stderr: Vec<u8>,
    /// The guest's `log` calls.
    pub logs: Vec<LogLine>,
    /// Older bytes or lines were dropped to keep it small.
    pub truncated: bool,
}

impl GuestOutput {
    /// Everything the execution wrote (already bounded by the sandbox).
    pub fn all_of<T>(report: &ExecReport<T>) -> Self {
        GuestOutput {
            stdout: report.stdout.clone(),
            stderr: report.stderr.clone(),
            logs: report.logs.clone(),
            truncated: false,
        }
    }

    /// The tails of what the execution wrote, small enough to travel with its result.
    pub fn tail_of<T>(report: &ExecReport<T>) -> Self {
        let tail = |bytes: &[u8]| bytes[bytes.len().saturating_sub(TAIL_BYTES)..].to_vec();
        let skip = report.logs.len().saturating_sub(TAIL_LOG_LINES);
        GuestOutput {
            stdout: tail(&report.stdout),
            stderr: tail(&report.stderr),
            logs: report.logs[skip..].to_vec(),
            truncated: skip > 0
                || report.stdout.len() > TAIL_BYTES
                || report.stderr.len() > TAIL_BYTES,
        }
    }

    /// Whether the guest wrote nothing at all.
    pub fn is_empty(&self) -> bool {
        self.stdout.is_empty() && self.stderr.is_empty() && self.logs.is_empty()
    }

    /// Writes log lines, then each non-empty stream under a heading naming `whose` output it is.
    pub fn print(&self, out: &mut impl Write, whose: &str) -> std::io::Result<()> {
        for line in &self.logs {
            writeln!(out, "[{whose} {}] {}", line.level, line.message)?;
        }
        for (name, bytes) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            if !bytes.is_empty() {
                writeln!(out, "--- {whose} {name} ---")?;
                out.write_all(bytes)?;
                if !bytes.ends_with(b"\n") {
                    writeln!(out)?;
                }
            }
        }
        if self.truncated {
            writeln!(out, "--- ({whose}: older output was cut) ---")?;
        }
        Ok(())
    }
}

impl GuestOutput {
    /// The same, as one JSON object per line for log collectors (`--log-format json`): each
    /// `log` call, and each line of stdout and stderr, with the shape of the host's own JSON
    /// log lines (`timestamp`, `level`, `target`, `message`) plus `source` (`whose`), `stream`
    /// and, for a `log` call, the guest's own `guest_level`.
    pub fn print_json(&self, out: &mut impl Write, whose: &str) -> std::io::Result<()> {
        let line = JsonLine::now(whose);
        for log in &self.logs {
            let level = match log.level.as_str() {
                "error" => "ERROR",
                "warn" => "WARN",
                _ => "INFO",
            };
            line.write(out, "log", level, Some(&log.level), &log.message)?;
        }
        for (name, bytes) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            for text in String::from_utf8_lossy(bytes).lines() {
                line.write(out, name, "INFO", None, text)?;
            }
        }
        if self.truncated {
            line.write(out, "log", "WARN", None, "older output was cut")?;
        }
        Ok(())
    }
}

/// JSON log lines of one source of guest output, stamped with one time.
struct JsonLine<'a> {
    timestamp: String,
    source: &'a str,
}

impl<'a> JsonLine<'a> {
    fn now(source: &'a str) -> Self {
        JsonLine {
            timestamp: humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string(),
            source,
        }
    }

    fn write(
        &self,
        out: &mut impl Write,
        stream: &str,
        level: &str,
        guest_level: Option<&str>,
        message: &str,
    ) -> std::io::Result<()> {
        let mut object = serde_json::json!({
            "timestamp": self.timestamp,
            "level": level,
            "target": "guest",
            "source": self.source,
            "stream": stream,
            "message": message,
        });
        if let Some(guest_level) = guest_level {
            object["guest_level"] = guest_level.into();
        }
        writeln!(out, "{object}")
    }
}

fn lossy_text<S: serde::Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&String::from_utf8_lossy(bytes))
}

/// A subtask that failed, with what it wrote.
#[derive(Debug, Clone)]
pub(crate) struct FailedSubtask {
    pub function: String,
    pub error: TaskError,
    pub output: GuestOutput,
}

/// The failed subtasks a client got back: the first few are kept whole, the rest counted, so a
/// run with a million failures does not hold a million outputs.
#[derive(Debug, Default)]
pub struct FailedSubtasks {
    kept: Mutex<Vec<FailedSubtask>>,
    total: AtomicU64,
}

impl FailedSubtasks {
    /// Keeps a failed subtask's error and output (the latest ones, bounded).
    pub fn record(&self, function: &str, error: &TaskError, output: GuestOutput) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let mut kept = self.kept.lock();
        if kept.len() < FAILURES_KEPT {
            kept.push(FailedSubtask {
                function: function.to_string(),
                error: error.clone(),
                output,
            });
        }
    }

    /// [`print`](Self::print) as JSON lines (see [`GuestOutput::print_json`]).
    pub fn print_json(&self, out: &mut impl Write) -> std::io::Result<()> {
        let kept = self.kept.lock();
        for failure in kept.iter() {
            let source = format!("subtask {}", failure.function);
            let mut message = failure.error.to_string();
            if let Some(detail) = &failure.error.detail {
                message = format!("{message}\n{}", detail.trim_end());
            }
            JsonLine::now(&source).write(out, "error", "ERROR", None, &message)?;
            failure.output.print_json(out, &source)?;
        }
        let total = self.total.load(Ordering::Relaxed);
        if total > kept.len() as u64 {
            let more = format!("and {} more failed subtasks", total - kept.len() as u64);
            JsonLine::now("subtask").write(out, "error", "ERROR", None, &more)?;
        }
        Ok(())
    }

    /// Prints each kept failure with its output, and how many more there were.
    pub fn print(&self, out: &mut impl Write) -> std::io::Result<()> {
        let kept = self.kept.lock();
        for failure in kept.iter() {
            writeln!(
                out,
                "--- subtask `{}` failed: {} ---",
                failure.function, failure.error
            )?;
            if let Some(detail) = &failure.error.detail {
                writeln!(out, "{}", detail.trim_end())?;
            }
            failure.output.print(out, "subtask")?;
        }
        let total = self.total.load(Ordering::Relaxed);
        if total > kept.len() as u64 {
            writeln!(
                out,
                "--- and {} more failed subtasks ---",
                total - kept.len() as u64
            )?;
        }
        Ok(())
    }
}
