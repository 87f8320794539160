//! How every role logs to stderr: text, coloured only on a terminal and never under `NO_COLOR`
//! (no-color.org), or one JSON object per line for log collectors (`--log-format`, or
//! `RUST_LOG_FORMAT` where a Flyte or Kubernetes spec sets only the environment).

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// The environment variable `--log-format` falls back to.
pub const FORMAT_ENV: &str = "RUST_LOG_FORMAT";

/// The shape of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for people: time, level, target, message, fields.
    Text,
    /// One JSON object per line (`timestamp`, `level`, `message`, the event's fields,
    /// `target`), for log collectors.
    Json,
}

impl LogFormat {
    fn name(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// The logging choices of this process, made once at start.
#[derive(Debug, Clone, Copy)]
pub struct Logging {
    pub format: LogFormat,
    /// ANSI colours in text lines.
    pub color: bool,
    /// The filter used when `RUST_LOG` is unset.
    pub default_filter: &'static str,
}

impl Logging {
    /// Colour only when stderr is a terminal, so files, pipes and log collectors get plain text,
    /// and never when `NO_COLOR` is set to anything but the empty string.
    pub fn new(format: LogFormat, default_filter: &'static str) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Logging {
            format,
            color: std::io::stderr().is_terminal() && !no_color,
            default_filter,
        }
    }

    /// Installs the global subscriber writing to stderr, filtered by `RUST_LOG` or else the
    /// default filter.
    pub fn init(self) {
        let filter = EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new(self.default_filter));
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr);
        match self.format {
            LogFormat::Text => builder.with_ansi(self.color).init(),
            LogFormat::Json => builder.json().flatten_event(true).with_ansi(false).init(),
        }
    }

    /// The environment of the cluster processes this one starts (`run --processes`). They write
    /// to this process's stderr, so they must log as it does: the format is passed on, and
    /// colour is turned off when it is off here (it is on only when that shared stderr is a
    /// terminal and `NO_COLOR` is unset, which the processes then see too).
    /// Without `RUST_LOG` they also get this process's filter: a scheduler and workers started
    /// by `run` would otherwise log their lifecycle at `info` into the output of a one-shot
    /// command that only shows warnings.
    pub fn child_env(self) -> Vec<(String, String)> {
        let mut env = vec![(FORMAT_ENV.to_string(), self.format.name().to_string())];
        if std::env::var_os("RUST_LOG").is_none() {
            env.push(("RUST_LOG".to_string(), self.default_filter.to_string()));
        }
        if !self.color {
            env.push(("NO_COLOR".to_string(), "1".to_string()));
        }
        env
    }
}
