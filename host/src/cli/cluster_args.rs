//! Flags shared by every command that talks to a scheduler: where it is and how to authenticate.

use super::Failure;
use super::dask_compat::{SCHEDULER_ADDRESS_ENV, parse_scheduler_address};
use crate::cluster::remote::Target;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// Shared token of the cluster (required by a scheduler listening beyond loopback).
    #[arg(long, env = "WASMDASK_TOKEN", hide_env_values = true)]
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
        let parsed = parse_scheduler_address(&text).map_err(Failure::usage)?;
        let tls = parsed.tls || self.tls_ca.is_some();
        Ok(Target {
            host: parsed.host,
            port: parsed.port,
            tls,
            tls_ca: self.tls_ca.clone(),
            token: self.token.clone().filter(|t| !t.is_empty()),
        })
    }
}
