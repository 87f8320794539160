//! The `wasmdask` binary: parse arguments (translating Dask's `dask-scheduler` / `dask-worker`
//! command lines), set up logging, run the command, map the outcome to an exit code (see
//! `wasmdask --help`). Everything else lives in the library.

use clap::Parser;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;
mod cli;

use cli::{Cli, dask_compat};

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
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new(default_filter(&cli))),
        )
        .with_writer(std::io::stderr)
        .init();
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    match cli::dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
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
