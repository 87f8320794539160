//! Flags shared by every command that talks to a scheduler: where it is and how to authenticate.

use super::Failure;
use clap::Args;
use std::path::PathBuf;
use wasmdask_cluster::Target;
use wasmdask_cluster::address::{SCHEDULER_ADDRESS_ENV, TOKEN_ENV};

#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// Shared token of the cluster (required by a scheduler listening beyond loopback).
    #[arg(long, env = TOKEN_ENV, hide_env_values = true)]
    pub token: Option<String>,

    /// CA certificate (PEM) that signed the scheduler's TLS certificate (for tls:// addresses).
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
}

impl AuthArgs {
    /// The scheduler at `address` (or `$DASK_SCHEDULER_ADDRESS` when absent).
    pub fn target(&self, address: Option<&str>) -> Result<Target, Failure> {
        let text = match address {
            Some(a) => a.to_string(),
            None => std::env::var(SCHEDULER_ADDRESS_ENV).map_err(|_| {
                Failure::usage(format!(
                    "no scheduler address: pass it (e.g. tcp://scheduler:8786) or set \
                     {SCHEDULER_ADDRESS_ENV}"
                ))
            })?,
        };
        Target::new(&text, self.token.clone(), self.tls_ca.clone())
            .map_err(|e| Failure::usage(e.to_string()))
    }
}
