//! Deny-by-default WASI: the one place where a guest's capabilities are decided.
//!
//! A fresh context has no preopened directories, no environment variables, no arguments, no
//! stdin, no network addresses and no name lookups. Each capability is granted explicitly by a
//! [`Grants`] entry (CLI: `--allow-env NAME`, `--dir HOST::GUEST`). When the guest reaches for a
//! capability it was not granted, the attempt is recorded as a [`Denial`] so a failure can be
//! reported as "denied: grant it with ..." instead of a vague guest error.

use super::output::BoundedOutput;
use parking_lot::Mutex;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

/// Capabilities granted to every execution of a run or worker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Environment variables passed through from the host, by name, with their host values.
    pub env: Vec<(String, String)>,
    /// Host directories mounted into the guest.
    pub dirs: Vec<DirGrant>,
}

/// One host directory visible to the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the guest sees it.
    pub guest: String,
    /// Whether the guest may only read.
    pub read_only: bool,
}

/// A capability the guest tried to use without a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// Read the environment (`--allow-env` grants variables).
    Environment,
    /// Opened a path (`--dir` grants directories).
    Filesystem,
    /// Reached for a network address.
    Network {
        /// The address.
        addr: SocketAddr,
        /// How (connect, bind, ...).
        usage: String,
    },
}

impl Denial {
    /// What was denied and how to grant it.
    pub fn explain(&self) -> String {
        match self {
            Denial::Environment => "the task read environment variables, but none are granted; \
                 pass `--allow-env NAME` to expose one"
                .to_string(),
            Denial::Filesystem => "the task accessed the filesystem, but no directory is granted; \
                 pass `--dir HOST_PATH::GUEST_PATH` to mount one"
                .to_string(),
            Denial::Network { addr, usage } => format!(
                "the task tried to {usage} {addr}, but sockets are denied in the sandbox; \
                 move network I/O out of the task"
            ),
        }
    }
}

/// The denials recorded during one execution, shared with WASI callbacks.
#[derive(Debug, Clone, Default)]
pub(crate) struct DenialLog(Arc<Mutex<Vec<Denial>>>);

impl DenialLog {
    pub(crate) fn record(&self, denial: Denial) {
        let mut log = self.0.lock();
        if !log.contains(&denial) {
            log.push(denial);
        }
    }

    pub(crate) fn take(&self) -> Vec<Denial> {
        std::mem::take(&mut *self.0.lock())
    }
}

impl Grants {
    /// Builds the WASI context of one execution: these grants plus `mounts`, the directories
    /// of that execution alone (its data inputs and outputs, `wasmdask:task/data`).
    pub(crate) fn wasi_ctx(
        &self,
        stdout: &BoundedOutput,
        stderr: &BoundedOutput,
        denials: &DenialLog,
        mounts: &[crate::data::Mount],
    ) -> Result<WasiCtx, std::io::Error> {
        let mut builder = WasiCtxBuilder::new();
        builder
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            // Sockets may be created so that every address they use reaches the check below,
            // which refuses (and records) all of them.
            .allow_tcp(true)
            .allow_udp(true)
            .allow_ip_name_lookup(false);
        let network_denials = denials.clone();
        builder.socket_addr_check(move |addr, usage| {
            // The implicit bind of a client socket to an ephemeral wildcard address is harmless
            // (listening is refused below); allowing it lets the real destination be checked.
            let implicit_bind = matches!(usage, SocketAddrUse::TcpBind | SocketAddrUse::UdpBind)
                && addr.ip().is_unspecified()
                && addr.port() == 0;
            if implicit_bind {
                return Box::pin(async { true });
            }
            let usage = match usage {
                SocketAddrUse::TcpConnect => "connect to",
                SocketAddrUse::UdpSend => "send a datagram to",
                SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => "bind",
                SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => "listen on",
                SocketAddrUse::UdpReceive => "receive from",
            };
            network_denials.record(Denial::Network {
                addr,
                usage: usage.to_string(),
            });
            Box::pin(async { false })
        });
        for (name, value) in &self.env {
            builder.env(name, value);
        }
        for dir in self.dirs.iter().chain(mounts.iter().map(|m| &m.grant)) {
            let perms = if dir.read_only {
                FsPerms::ReadOnly
            } else {
                FsPerms::ReadWrite
            };
            builder
                .preopened_dir(&dir.host, &dir.guest, perms)
                .map_err(|e| {
                    std::io::Error::other(format!(
                        "cannot grant directory {}: {e:#}",
                        dir.host.display()
                    ))
                })?;
        }
        Ok(builder.build())
    }
}
