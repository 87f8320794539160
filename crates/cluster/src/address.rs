//! Where a scheduler is: its address in Dask's spelling, the well-known ports, and the
//! environment variables every role reads. One module, so the Kubernetes renderer, the CLI and
//! the Dask argv translator cannot disagree about them.

use std::fmt;
use std::net::Ipv6Addr;

/// The port Dask's scheduler serves comms on, and the one an address without a port means.
pub const SCHEDULER_PORT: u16 = 8786;

/// The port of the scheduler's dashboard, `/metrics` and `/api/state` (Dask's default).
pub const DASHBOARD_PORT: u16 = 8787;

/// The variable the dask-kubernetes operator sets to the scheduler's address in worker and
/// runner containers (`tcp://<cluster>-scheduler.<ns>.svc.cluster.local:8786`).
pub const SCHEDULER_ADDRESS_ENV: &str = "DASK_SCHEDULER_ADDRESS";

/// The variable that carries the cluster's shared token to every role (the Dask spec's pods
/// get no extra arguments, so it cannot be a flag there).
pub const TOKEN_ENV: &str = "WASMDASK_TOKEN";

/// Set (to `1`) by `run --processes` on the scheduler and workers it starts, whose stdin is a
/// pipe from it: they stop when that pipe closes, so no process outlives a runner that was
/// killed (a signal sent to the runner alone, even SIGKILL, gives it no chance to stop them).
pub const STOP_WITH_STDIN_ENV: &str = "WASMDASK_STOP_WITH_STDIN";

/// A text that is not a scheduler address; the message lists the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AddressError(String);

/// A scheduler's address as workers and the job runner dial it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerAddress {
    /// `tls://`: connect with TLS.
    pub tls: bool,
    /// A host name or IP address; IPv6 without brackets.
    pub host: String,
    /// The comm port.
    pub port: u16,
}

impl SchedulerAddress {
    /// The URI for a gRPC channel: `http://host:port`, or `https://host:port` for TLS.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.host_port())
    }

    fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Dask's spelling: `tcp://host:port` or `tls://host:port`.
impl fmt::Display for SchedulerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "tls" } else { "tcp" };
        write!(f, "{scheme}://{}", self.host_port())
    }
}

const ADDRESS_FORMS: &str = "write tcp://HOST:PORT, tls://HOST:PORT, HOST:PORT or HOST \
     (port 8786), with IPv6 hosts in brackets: [::1]:8786";

/// Parses a scheduler address the way Dask's worker accepts it: `tcp://host:port`,
/// `tls://host:port`, `host:port`, `host` (port 8786), `[::1]:8786`.
pub fn parse(text: &str) -> Result<SchedulerAddress, AddressError> {
    let (tls, host, port) = split_listen(text)?;
    if host.is_empty() {
        return Err(AddressError(format!(
            "`{text}` is not a scheduler address: it has no host; {ADDRESS_FORMS}"
        )));
    }
    let port = port.unwrap_or(SCHEDULER_PORT);
    if port == 0 {
        return Err(AddressError(format!(
            "`{text}` is not a scheduler address: port 0 cannot be dialled; {ADDRESS_FORMS}"
        )));
    }
    Ok(SchedulerAddress { tls, host, port })
}

/// Splits `[scheme://]host[:port]` into (TLS?, host, port). The host may be empty (Dask's
/// `--host tcp://:8786` listens everywhere) and is returned without IPv6 brackets.
pub fn split_listen(text: &str) -> Result<(bool, String, Option<u16>), AddressError> {
    let bad = |why: &str| {
        AddressError(format!(
            "`{text}` is not a scheduler address: {why}; {ADDRESS_FORMS}"
        ))
    };
    let trimmed = text.trim();
    let (tls, rest) = match trimmed.split_once("://") {
        None => (false, trimmed),
        Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
            "tcp" => (false, rest),
            "tls" => (true, rest),
            _ => return Err(bad(&format!("wasmdask speaks tcp and tls, not `{scheme}`"))),
        },
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let parse_port = |p: &str| match p.parse::<u16>() {
        Ok(port) if p.bytes().all(|b| b.is_ascii_digit()) => Ok(port),
        _ => Err(bad(&format!("`{p}` is not a port (0–65535)"))),
    };
    // IPv6 hosts come in brackets (`[::1]:8786`) or bare without a port (`::1`).
    let (host, port, ipv6) = if let Some(bracketed) = rest.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| bad("`[` without `]`"))?;
        let port = match after {
            "" => None,
            _ => Some(parse_port(after.strip_prefix(':').ok_or_else(|| {
                bad("expected `:PORT` after the bracketed host")
            })?)?),
        };
        (host, port, true)
    } else if rest.matches(':').count() > 1 {
        (rest, None, true)
    } else if let Some((host, port)) = rest.split_once(':') {
        (host, Some(parse_port(port)?), false)
    } else {
        (rest, None, false)
    };
    let valid = if ipv6 {
        host.parse::<Ipv6Addr>().is_ok()
    } else {
        host.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    };
    if !valid {
        let what = if ipv6 {
            "an IPv6 address"
        } else {
            "a host name or IP address"
        };
        return Err(bad(&format!("`{host}` is not {what}")));
    }
    Ok((tls, host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_addresses() {
        let a = parse("tcp://a:1").unwrap();
        assert_eq!((a.tls, a.host.as_str(), a.port), (false, "a", 1));
        assert_eq!(a.endpoint(), "http://a:1");
        assert_eq!(a.to_string(), "tcp://a:1");

        assert_eq!(parse("a:1").unwrap(), parse("tcp://a:1").unwrap());
        let a = parse("a").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("a", 8786));

        let a = parse("tls://a:2").unwrap();
        assert!(a.tls);
        assert_eq!(a.endpoint(), "https://a:2");
        assert_eq!(a.to_string(), "tls://a:2");

        let a = parse("[::1]:8786").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("::1", 8786));
        assert_eq!(a.endpoint(), "http://[::1]:8786");
        assert_eq!(a.to_string(), "tcp://[::1]:8786");

        let a =
            parse("tcp://job-scheduler.flytesnacks-development.svc.cluster.local:8786").unwrap();
        assert_eq!(
            a.host,
            "job-scheduler.flytesnacks-development.svc.cluster.local"
        );

        for bad in [
            "a:99999",
            "a:x",
            "a:",
            "a:0",
            "tcp://:1",
            "",
            "ucx://a:1",
            "[::1",
            "[zz]:1",
            "a b",
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(e.to_string().contains("tcp://HOST:PORT"), "{e}");
        }
    }
}
