//! The `wasmdask` binary: parse arguments (translating Dask's `dask-scheduler` / `dask-worker`
//! command lines), set up logging, run the command, map the outcome to an exit code (see
//! `wasmdask --help`). Everything else lives in the library.

use clap::Parser;
use std::process::ExitCode;
mod cli;

use cli::{Cli, LogFormat, Logging, dask_compat};

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let (cli, warnings) = match dask_compat::translate(&argv) {
        None => (Cli::parse(), Vec::new()),
        Some(Ok(translated)) => (Cli::parse_from(translated.args), translated.warnings),
        Some(Err(message)) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let logging = Logging::new(cli.log_format, default_filter(&cli));
    logging.init();
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    match cli::dispatch(cli, logging) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // A log collector reading JSON lines gets the failure as one of them.
            match logging.format {
                LogFormat::Text => eprintln!("error: {failure}"),
                LogFormat::Json => tracing::error!(exit_code = failure.code, "{failure}"),
            }
            ExitCode::from(failure.code)
        }
    }
}

/// Long-running roles log their lifecycle; one-shot commands only warnings.
fn default_filter(cli: &Cli) -> &'static str {
    match cli.command {
        cli::Command::Scheduler(_) | cli::Command::Worker(_) => "info",
        _ => "warn",
    }
}
