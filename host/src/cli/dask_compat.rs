//! Dask's command lines, translated into wasmdask's.
//!
//! The container image installs this binary under the names `dask-scheduler`, `dask-worker` and
//! `dask`, because the Flyte backend and the dask-kubernetes operator start the cluster with
//! Dask's own command lines (contract §3–4):
//!
//! - v1: `dask-scheduler` and `dask-worker --name $(DASK_WORKER_NAME) --nthreads 8 --memory-limit 17G`
//! - v2: `dask scheduler [--dashboard-prefix P]` and `dask worker --name X --nthreads 4 …`
//!
//! [`translate`] turns such an argv into the `wasmdask scheduler|worker …` argv that clap parses,
//! plus one warning per Dask flag that does not apply here. It is pure: `main` prints the
//! warnings (they carry no `warning:` prefix) and hands the args to clap. Dask's CLI accepts
//! unknown options (`ignore_unknown_options`), so an unknown flag is a warning here too, never
//! an error: a pod must not crash-loop because of a flag it can do without.
//!
//! The worker reads no environment here; when no scheduler address is given, the `worker`
//! subcommand falls back to `DASK_SCHEDULER_ADDRESS` as Dask's worker does.

use super::units::parse_bytes;
use wasmdask_cluster::address;

/// Which Dask process a command line starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Scheduler,
    Worker,
}

impl Role {
    fn from_word(word: &str) -> Option<Role> {
        match word {
            "scheduler" => Some(Role::Scheduler),
            "worker" => Some(Role::Worker),
            _ => None,
        }
    }

    /// The wasmdask subcommand, which is also the `dask` subcommand.
    fn subcommand(self) -> &'static str {
        match self {
            Role::Scheduler => "scheduler",
            Role::Worker => "worker",
        }
    }

    /// The v1 program name, used to label warnings.
    fn program(self) -> &'static str {
        match self {
            Role::Scheduler => "dask-scheduler",
            Role::Worker => "dask-worker",
        }
    }

    fn flags(self) -> &'static [Flag] {
        match self {
            Role::Scheduler => SCHEDULER_FLAGS,
            Role::Worker => WORKER_FLAGS,
        }
    }
}

/// A translated command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translated {
    /// The full argv for clap: `["wasmdask", "scheduler" | "worker", …]`.
    pub args: Vec<String>,
    /// One line per flag or argument that was dropped, saying why.
    pub warnings: Vec<String>,
}

const ACCEPTED_FORMS: &str = "wasmdask implements `dask scheduler [FLAGS]` and \
     `dask worker [SCHEDULER_ADDRESS] [FLAGS]` (also installed as `dask-scheduler` and \
     `dask-worker`)";

/// Translates a Dask command line into a wasmdask one.
///
/// Returns `None` when `argv` is an ordinary wasmdask invocation: the basename of `argv[0]` is
/// not `dask-scheduler`, `dask-worker` or `dask`, and `argv[1]` is not `dask`. Returns `Err`
/// only for command lines that cannot run at all: `dask` without a role or with one wasmdask
/// does not implement, a kept flag without its value, or an unusable scheduler address.
///
/// Flags in both `--flag value` and `--flag=value` form are recognised. Flags wasmdask knows
/// are passed on (Dask spellings mapped, e.g. `--tls-ca-file` → `--tls-ca`); Dask flags that do
/// not apply are dropped with one warning each. An unknown flag is dropped with a warning, and
/// its arity is guessed by this rule:
///
/// 1. `--flag=value` is one token and is dropped whole;
/// 2. a flag followed by nothing, by a token starting with `-`, or named `--no-…` is boolean;
/// 3. for a worker still without a scheduler address, a following token that looks like one
///    (contains `://`, or ends in `:PORT`) is the address, and the flag is boolean;
/// 4. otherwise the following token is the flag's value and is dropped with it (the warning
///    names it, so a bare `host` address eaten this way is visible: write it as
///    `tcp://host:8786`, or before the flags).
///
/// After `--`, every token is positional.
pub fn translate(argv: &[String]) -> Option<Result<Translated, String>> {
    let program = basename(argv.first()?);
    let role_at = match program {
        "dask-scheduler" => return Some(translate_role(Role::Scheduler, &argv[1..])),
        "dask-worker" => return Some(translate_role(Role::Worker, &argv[1..])),
        "dask" => 1,
        _ if argv.get(1).map(String::as_str) == Some("dask") => 2,
        _ => return None,
    };
    let result = match argv.get(role_at).map(String::as_str) {
        None => Err(format!("`dask` needs a role: {ACCEPTED_FORMS}")),
        Some(word) => match Role::from_word(word) {
            Some(role) => translate_role(role, &argv[role_at + 1..]),
            None => Err(format!("`dask {word}` is not supported: {ACCEPTED_FORMS}")),
        },
    };
    Some(result)
}

/// `/usr/local/bin/dask-worker` → `dask-worker` (and `dask.exe` → `dask`).
fn basename(argv0: &str) -> &str {
    let name = argv0.rsplit(['/', '\\']).next().unwrap_or(argv0);
    name.strip_suffix(".exe").unwrap_or(name)
}

/// What to do with a recognised flag.
#[derive(Debug, Clone, Copy)]
enum Action {
    /// Pass the value on under this wasmdask flag.
    Value(&'static str),
    /// Pass this wasmdask switch on.
    Switch(&'static str),
    /// Accept silently: it asks for what wasmdask does anyway.
    Implied { takes_value: bool },
    /// Drop with a warning giving the reason.
    Ignore {
        takes_value: bool,
        why: &'static str,
    },
    /// `--protocol`: silent for `tcp`, a warning otherwise.
    Protocol,
    /// Scheduler `--host`: a host, or a Dask URI such as `tcp://0.0.0.0:8786`.
    ListenHost,
    /// Worker `--name`: passed on, with a warning if it is an unexpanded `$(VAR)`.
    Name,
    /// `--nworkers` and its older spellings: silent for 1, a warning otherwise.
    Workers,
    /// `--help`/`-h`: passed on to the subcommand.
    Help,
    /// `--version`/`-V`: wasmdask's version.
    Version,
}

impl Action {
    fn takes_value(self) -> bool {
        match self {
            Action::Value(_)
            | Action::Protocol
            | Action::ListenHost
            | Action::Name
            | Action::Workers => true,
            Action::Implied { takes_value } | Action::Ignore { takes_value, .. } => takes_value,
            Action::Switch(_) | Action::Help | Action::Version => false,
        }
    }
}

#[derive(Debug)]
struct Flag {
    names: &'static [&'static str],
    action: Action,
}

const fn flag(names: &'static [&'static str], action: Action) -> Flag {
    Flag { names, action }
}

const fn ignore(names: &'static [&'static str], why: &'static str) -> Flag {
    flag(
        names,
        Action::Ignore {
            takes_value: true,
            why,
        },
    )
}

const fn ignore_switch(names: &'static [&'static str], why: &'static str) -> Flag {
    flag(
        names,
        Action::Ignore {
            takes_value: false,
            why,
        },
    )
}

const NO_PRELOAD: &str = "wasmdask runs no Python preload modules";
const NO_PID_FILE: &str = "wasmdask writes no PID file";
const NO_BOKEH: &str = "the Bokeh flags are long deprecated in Dask";
const NO_INTERFACE: &str = "wasmdask picks no address by network interface; use --host";

/// Flags both roles share: TLS (Dask spells the CA flag `--tls-ca-file`), the token, help and
/// version, and Dask flags that mean nothing in either role.
const COMMON_FLAGS: &[Flag] = &[
    flag(&["--tls-ca-file", "--tls-ca"], Action::Value("--tls-ca")),
    flag(&["--tls-cert"], Action::Value("--tls-cert")),
    flag(&["--tls-key"], Action::Value("--tls-key")),
    flag(&["--token"], Action::Value("--token")),
    // Not Dask's: wasmdask's own global flag, so a pod's command line can ask for JSON logs
    // as well as its `RUST_LOG_FORMAT` environment variable can.
    flag(&["--log-format"], Action::Value("--log-format")),
    flag(&["--protocol"], Action::Protocol),
    flag(&["--help", "-h"], Action::Help),
    flag(&["--version", "-V"], Action::Version),
    ignore(&["--preload", "--preload-argv"], NO_PRELOAD),
    ignore(&["--pid-file"], NO_PID_FILE),
    ignore(&["--interface"], NO_INTERFACE),
    ignore_switch(&["--bokeh", "--no-bokeh"], NO_BOKEH),
    ignore(
        &["--bokeh-port"],
        "deprecated in Dask; use --dashboard-address",
    ),
];

const SCHEDULER_FLAGS: &[Flag] = &[
    flag(&["--host"], Action::ListenHost),
    flag(&["--port"], Action::Value("--port")),
    flag(
        &["--dashboard-address"],
        Action::Value("--dashboard-address"),
    ),
    flag(&["--dashboard-prefix"], Action::Value("--dashboard-prefix")),
    flag(&["--allowed-failures"], Action::Value("--allowed-failures")),
    flag(&["--worker-ttl"], Action::Value("--worker-ttl")),
    flag(&["--dashboard"], Action::Implied { takes_value: false }),
    ignore_switch(
        &["--no-dashboard"],
        "the scheduler always serves its dashboard (the readiness probe and /metrics use it)",
    ),
    ignore(
        &["--scheduler-file"],
        "unsupported: the scheduler writes no scheduler file; workers find it by address",
    ),
    ignore_switch(
        &["--show", "--no-show"],
        "wasmdask opens no browser; the dashboard is on --dashboard-address",
    ),
    ignore_switch(
        &["--jupyter", "--no-jupyter"],
        "wasmdask runs no Jupyter server",
    ),
    ignore(
        &["--use-xheaders"],
        "the dashboard does not read X-Forwarded headers; use --dashboard-prefix behind a proxy",
    ),
    ignore(
        &["--idle-timeout"],
        "the cluster ends when the job runner exits (the operator deletes it)",
    ),
    ignore(
        &["--log-file"],
        "wasmdask logs to stderr (set RUST_LOG for detail)",
    ),
    ignore(&["--preload-nanny"], NO_PRELOAD),
];

const NO_LISTEN: &str = "a wasmdask worker opens no port: it connects out to the scheduler";
const ONE_PROCESS: &str = "a wasmdask worker runs in this process and is restarted by Kubernetes";
const WORKER_DASHBOARD: &str = "a wasmdask worker serves no dashboard; the scheduler's shows it";

const WORKER_FLAGS: &[Flag] = &[
    flag(&["--name"], Action::Name),
    flag(&["--nthreads"], Action::Value("--nthreads")),
    flag(&["--memory-limit"], Action::Value("--memory-limit")),
    flag(&["--death-timeout"], Action::Value("--death-timeout")),
    // The sandbox flags, so an image can tune them through the Dask entry points.
    flag(&["--timeout"], Action::Value("--timeout")),
    flag(&["--max-stack"], Action::Value("--max-stack")),
    flag(&["--output-limit"], Action::Value("--output-limit")),
    flag(&["--allow-env"], Action::Value("--allow-env")),
    flag(&["--dir"], Action::Value("--dir")),
    flag(&["--no-cache"], Action::Switch("--no-cache")),
    flag(
        &["--nworkers", "--num-workers", "--nprocs"],
        Action::Workers,
    ),
    ignore_switch(&["--nanny", "--no-nanny"], ONE_PROCESS),
    ignore_switch(&["--dashboard", "--no-dashboard"], WORKER_DASHBOARD),
    ignore(
        &["--dashboard-address", "--dashboard-prefix"],
        WORKER_DASHBOARD,
    ),
    ignore(&["--host", "--worker-port", "--nanny-port"], NO_LISTEN),
    ignore(&["--listen-address", "--contact-address"], NO_LISTEN),
    ignore(
        &["--scheduler-file"],
        "unsupported: give the scheduler address (or set DASK_SCHEDULER_ADDRESS)",
    ),
    ignore(
        &["--local-directory"],
        "a worker keeps no spill files; tasks see only the directories granted with --dir",
    ),
    ignore(
        &["--resources"],
        "wasmdask schedules by thread slots only, not by abstract resources",
    ),
    ignore(
        &["--lifetime", "--lifetime-stagger"],
        "a worker runs until the cluster is deleted",
    ),
    ignore_switch(
        &["--lifetime-restart", "--no-lifetime-restart"],
        "a worker runs until the cluster is deleted",
    ),
    ignore_switch(
        &["--reconnect", "--no-reconnect"],
        "a worker retries the scheduler until --death-timeout",
    ),
    ignore(&["--worker-class"], "there is one worker implementation"),
    ignore(&["--preload-nanny"], NO_PRELOAD),
];

fn lookup(role: Role, name: &str) -> Option<Action> {
    role.flags()
        .iter()
        .chain(COMMON_FLAGS)
        .find(|f| f.names.contains(&name))
        .map(|f| f.action)
}

/// Does `token` look like a scheduler address rather than some flag's value?
fn looks_like_address(token: &str) -> bool {
    token.contains("://")
        || token.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
        })
}

/// Translation state for one command line.
struct Translator {
    role: Role,
    flags: Vec<String>,
    warnings: Vec<String>,
    address: Option<String>,
    /// Port taken from a scheduler `--host tcp://h:PORT`, used unless `--port` is given.
    host_port: Option<u16>,
    explicit_port: bool,
    tls_host: bool,
    tls_cert: bool,
}

impl Translator {
    fn warn(&mut self, message: String) {
        self.warnings
            .push(format!("{}: {message}", self.role.program()));
    }

    /// Passes `--flag value` on; a value starting with `-` goes as `--flag=value` so that clap
    /// does not read it as a flag.
    fn push_value(&mut self, flag: &str, value: &str) {
        if value.starts_with('-') {
            self.flags.push(format!("{flag}={value}"));
        } else {
            self.flags.push(flag.to_string());
            self.flags.push(value.to_string());
        }
    }

    fn positional(&mut self, token: &str) -> Result<(), String> {
        match self.role {
            Role::Worker if self.address.is_none() => {
                address::parse(token).map_err(|e| format!("{}: {e}", self.role.program()))?;
                self.address = Some(token.to_string());
            }
            _ => self.warn(format!(
                "ignoring argument `{token}`: Dask passes extra arguments to --preload modules, \
                 and {NO_PRELOAD}"
            )),
        }
        Ok(())
    }

    fn apply(&mut self, name: &str, action: Action, value: Option<&str>) -> Result<(), String> {
        let shown = match value {
            Some(v) => format!("{name} {v}"),
            None => name.to_string(),
        };
        let needed = || format!("`{name}` needs a value");
        match action {
            Action::Value(target) => {
                if target == "--port" {
                    self.explicit_port = true;
                }
                if target == "--tls-cert" {
                    self.tls_cert = true;
                }
                self.push_value(target, value.ok_or_else(needed)?);
            }
            Action::Switch(target) => self.flags.push(target.to_string()),
            Action::Implied { .. } => {}
            Action::Ignore { why, .. } => self.warn(format!("ignoring `{shown}`: {why}")),
            Action::Protocol => match value {
                Some(p) if p.eq_ignore_ascii_case("tcp") => {}
                Some(p) if p.eq_ignore_ascii_case("tls") => self.warn(format!(
                    "ignoring `{shown}`: TLS is chosen by a tls:// address and the --tls-* flags"
                )),
                _ => self.warn(format!(
                    "ignoring `{shown}`: wasmdask speaks gRPC over TCP (optionally TLS) only"
                )),
            },
            Action::ListenHost => {
                let text = value.ok_or_else(needed)?;
                let (tls, host, port) =
                    address::split_listen(text).map_err(|e| format!("`{name}`: {e}"))?;
                self.tls_host |= tls;
                if let Some(port) = port {
                    self.host_port = Some(port);
                }
                if !host.is_empty() {
                    self.push_value("--host", &host);
                }
            }
            Action::Name => {
                let text = value.ok_or_else(needed)?;
                if text.contains("$(") {
                    self.warn(format!(
                        "`--name {text}` looks like an unexpanded Kubernetes variable; \
                         Kubernetes expands `$(VAR)` only when VAR is in the container's env \
                         (the operator sets DASK_WORKER_NAME)"
                    ));
                }
                self.push_value("--name", text);
            }
            Action::Workers => {
                if value.map(str::trim) != Some("1") {
                    self.warn(format!(
                        "ignoring `{shown}`: one worker runs per process here; scale with the \
                         worker replicas (number_of_workers) instead"
                    ));
                }
            }
            Action::Help => self.flags.push("--help".to_string()),
            Action::Version => {}
        }
        Ok(())
    }

    fn finish(mut self) -> Translated {
        if let Some(port) = self.host_port.filter(|_| !self.explicit_port) {
            self.flags.push("--port".to_string());
            self.flags.push(port.to_string());
        }
        if self.tls_host && !self.tls_cert {
            self.warn(
                "`--host tls://…`: the scheduler serves TLS only when --tls-cert and --tls-key \
                 are given"
                    .to_string(),
            );
        }
        let mut args = vec!["wasmdask".to_string(), self.role.subcommand().to_string()];
        args.extend(self.address);
        args.extend(self.flags);
        Translated {
            args,
            warnings: self.warnings,
        }
    }
}

fn translate_role(role: Role, args: &[String]) -> Result<Translated, String> {
    let mut t = Translator {
        role,
        flags: Vec::new(),
        warnings: Vec::new(),
        address: None,
        host_port: None,
        explicit_port: false,
        tls_host: false,
        tls_cert: false,
    };
    let mut i = 0;
    while i < args.len() {
        let token = args[i].as_str();
        i += 1;
        if token == "--" {
            for rest in &args[i..] {
                t.positional(rest)?;
            }
            break;
        }
        if !token.starts_with('-') || token == "-" {
            t.positional(token)?;
            continue;
        }
        let (name, inline) = match token.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (token, None),
        };
        match lookup(role, name) {
            Some(Action::Version) => {
                return Ok(Translated {
                    args: vec!["wasmdask".to_string(), "--version".to_string()],
                    warnings: Vec::new(),
                });
            }
            Some(action) => {
                // Like Dask's CLI (click), a value-taking flag takes the next token whatever
                // it looks like.
                let value = match inline {
                    Some(v) => Some(v),
                    None if action.takes_value() => {
                        let next = args.get(i).map(String::as_str);
                        i += usize::from(next.is_some());
                        next
                    }
                    None => None,
                };
                t.apply(name, action, value)?;
            }
            None => {
                let next = args.get(i).map(String::as_str);
                let value = match next {
                    _ if inline.is_some() => None,
                    None => None,
                    Some(n) if n.starts_with('-') || name.starts_with("--no-") => None,
                    Some(n) if role == Role::Worker && t.address.is_none() => {
                        (!looks_like_address(n)).then_some(n)
                    }
                    Some(n) => Some(n),
                };
                i += usize::from(value.is_some());
                let shown = match value {
                    Some(v) => format!("{name} {v}"),
                    None => token.to_string(),
                };
                t.warn(format!(
                    "ignoring unknown flag `{shown}`; if a value after it was meant as the \
                     scheduler address, write it as tcp://HOST:PORT or put it first"
                ));
            }
        }
    }
    Ok(t.finish())
}

/// Parses a worker's `--memory-limit` in Dask's syntax into bytes.
///
/// - `auto`, `0`, `none` (or any size that comes to 0 bytes): all of `total_memory`. Dask's
///   `auto` is `total × min(1, nthreads / cores)`; a wasmdask worker is the only worker in its
///   process and pod, so that factor is 1 and the thread count plays no part.
/// - a plain number up to 1 (`0.5`, `1`): that fraction of `total_memory`.
/// - a size: `4GiB`, `16Gi`, `17G`, `2e9`, `1048576`.
///
/// `total_memory` is the machine's or cgroup's memory in bytes, or 0 when unknown (then only an
/// explicit size is accepted). Like Dask, a limit above `total_memory` is lowered to it.
pub fn parse_memory_limit(text: &str, total_memory: u64) -> Result<u64, String> {
    let forms = "use `auto`, a fraction of the machine's memory such as `0.5`, a size such as \
         `4GiB`, `16Gi`, `17G` or `2e9`, or `0`/`none` for all of it";
    let t = text.trim();
    let whole = || {
        if total_memory == 0 {
            Err(format!(
                "--memory-limit `{text}` needs the machine's memory, which is unknown here; \
                 give a size such as `4GiB`"
            ))
        } else {
            Ok(total_memory)
        }
    };
    if t.eq_ignore_ascii_case("auto") || t.eq_ignore_ascii_case("none") {
        return whole();
    }
    let bytes = match t.parse::<f64>() {
        Ok(v) if !v.is_finite() || v < 0.0 => {
            return Err(format!("`{text}` is not a memory limit; {forms}"));
        }
        Ok(v) if v > 0.0 && v <= 1.0 => return Ok((whole()? as f64 * v) as u64),
        _ => parse_bytes(t).map_err(|_| format!("`{text}` is not a memory limit; {forms}"))?,
    };
    if bytes == 0 {
        return whole();
    }
    Ok(if total_memory == 0 {
        bytes
    } else {
        bytes.min(total_memory)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    fn ok(words: &[&str]) -> Translated {
        translate(&argv(words))
            .expect("a Dask command line")
            .expect("translates")
    }

    fn err(words: &[&str]) -> String {
        translate(&argv(words))
            .expect("a Dask command line")
            .expect_err("fails")
    }

    #[test]
    fn flyte_v1_worker_and_scheduler() {
        let t = ok(&[
            "dask-worker",
            "--name",
            "w-1",
            "--nthreads",
            "8",
            "--memory-limit",
            "17G",
        ]);
        assert_eq!(
            t.args,
            argv(&[
                "wasmdask",
                "worker",
                "--name",
                "w-1",
                "--nthreads",
                "8",
                "--memory-limit",
                "17G"
            ])
        );
        assert!(t.warnings.is_empty(), "{:?}", t.warnings);

        let t = ok(&["dask-scheduler"]);
        assert_eq!(t.args, argv(&["wasmdask", "scheduler"]));
        assert!(t.warnings.is_empty());
    }

    #[test]
    fn flyte_v2_worker_and_scheduler() {
        let t = ok(&[
            "dask",
            "worker",
            "--name",
            "x",
            "--nthreads",
            "4",
            "--memory-limit",
            "16Gi",
        ]);
        assert_eq!(
            t.args,
            argv(&[
                "wasmdask",
                "worker",
                "--name",
                "x",
                "--nthreads",
                "4",
                "--memory-limit",
                "16Gi"
            ])
        );
        assert!(t.warnings.is_empty());

        let t = ok(&["dask", "scheduler", "--dashboard-prefix", "/proxy/x"]);
        assert_eq!(
            t.args,
            argv(&["wasmdask", "scheduler", "--dashboard-prefix", "/proxy/x"])
        );
        assert!(t.warnings.is_empty());
    }

    #[test]
    fn dask_only_flags_are_dropped_with_one_warning_each() {
        let t = ok(&[
            "/usr/local/bin/dask-worker",
            "tcp://sched:8786",
            "--nworkers",
            "2",
            "--no-nanny",
        ]);
        assert_eq!(t.args, argv(&["wasmdask", "worker", "tcp://sched:8786"]));
        assert_eq!(t.warnings.len(), 2, "{:?}", t.warnings);
        assert!(t.warnings[0].contains("--nworkers 2") && t.warnings[0].contains("replicas"));
        assert!(t.warnings[1].contains("--no-nanny"));

        // One worker is what wasmdask runs anyway.
        assert!(ok(&["dask-worker", "--nprocs", "1"]).warnings.is_empty());

        let t = ok(&[
            "dask-worker",
            "--local-directory",
            "/tmp/x",
            "--resources",
            "GPU=1",
            "--dashboard",
            "--lifetime",
            "1h",
            "--preload",
            "mod",
            "--worker-port",
            "9000",
            "--nthreads",
            "2",
        ]);
        assert_eq!(t.args, argv(&["wasmdask", "worker", "--nthreads", "2"]));
        assert_eq!(t.warnings.len(), 6, "{:?}", t.warnings);
        assert!(t.warnings.iter().all(|w| w.starts_with("dask-worker: ")));

        let t = ok(&[
            "dask-scheduler",
            "--no-dashboard",
            "--idle-timeout",
            "60",
            "--show",
        ]);
        assert_eq!(t.args, argv(&["wasmdask", "scheduler"]));
        assert_eq!(t.warnings.len(), 3, "{:?}", t.warnings);
        // The scheduler always serves a dashboard: asking for one is fine.
        assert!(ok(&["dask-scheduler", "--dashboard"]).warnings.is_empty());
    }

    #[test]
    fn equals_forms_and_dask_spellings() {
        let t = ok(&[
            "dask-worker",
            "--name=w-2",
            "--nthreads=3",
            "--memory-limit=4GiB",
            "--death-timeout=60",
            "--tls-ca-file=/ca.pem",
            "--nworkers=4",
            "--protocol=tcp",
            "tls://sched:8786",
        ]);
        assert_eq!(
            t.args,
            argv(&[
                "wasmdask",
                "worker",
                "tls://sched:8786",
                "--name",
                "w-2",
                "--nthreads",
                "3",
                "--memory-limit",
                "4GiB",
                "--death-timeout",
                "60",
                "--tls-ca",
                "/ca.pem"
            ])
        );
        assert_eq!(t.warnings.len(), 1, "{:?}", t.warnings);

        let t = ok(&[
            "dask-scheduler",
            "--port=9786",
            "--dashboard-address=:9787",
            "--protocol",
            "ucx",
        ]);
        assert_eq!(
            t.args,
            argv(&[
                "wasmdask",
                "scheduler",
                "--port",
                "9786",
                "--dashboard-address",
                ":9787"
            ])
        );
        assert_eq!(t.warnings.len(), 1);
        assert!(t.warnings[0].contains("--protocol ucx"));

        // A value starting with `-` stays a value for clap.
        let t = ok(&["dask-worker", "--name", "-odd"]);
        assert_eq!(t.args, argv(&["wasmdask", "worker", "--name=-odd"]));
    }

    #[test]
    fn log_format_passes_through_to_a_global_flag() {
        use clap::Parser;
        for line in [
            &["dask-worker", "tcp://s:8786", "--log-format", "json"][..],
            &["dask-scheduler", "--log-format=json"][..],
        ] {
            let t = ok(line);
            assert!(t.warnings.is_empty(), "{:?}", t.warnings);
            let cli = super::super::Cli::try_parse_from(&t.args).expect("wasmdask parses it");
            assert_eq!(cli.log_format, super::super::LogFormat::Json, "{line:?}");
        }
    }

    #[test]
    fn scheduler_host_may_be_a_dask_uri() {
        let t = ok(&["dask-scheduler", "--host", "tcp://0.0.0.0:9000"]);
        assert_eq!(
            t.args,
            argv(&[
                "wasmdask",
                "scheduler",
                "--host",
                "0.0.0.0",
                "--port",
                "9000"
            ])
        );
        assert!(t.warnings.is_empty());
        // An explicit --port wins, wherever it is.
        let t = ok(&["dask-scheduler", "--host", "h:1", "--port", "2"]);
        assert_eq!(
            t.args,
            argv(&["wasmdask", "scheduler", "--host", "h", "--port", "2"])
        );
        let t = ok(&["dask-scheduler", "--host", "[::]"]);
        assert_eq!(t.args, argv(&["wasmdask", "scheduler", "--host", "::"]));
        let t = ok(&["dask-scheduler", "--host", "tls://"]);
        assert_eq!(t.args, argv(&["wasmdask", "scheduler"]));
        assert!(t.warnings[0].contains("--tls-cert"));
        assert!(err(&["dask-scheduler", "--host", "ucx://h"]).contains("ucx"));
    }

    #[test]
    fn unknown_flags_are_dropped_and_never_eat_an_address() {
        let t = ok(&[
            "dask-worker",
            "--frobnicate",
            "tcp://s:8786",
            "--nthreads",
            "2",
        ]);
        assert_eq!(
            t.args,
            argv(&["wasmdask", "worker", "tcp://s:8786", "--nthreads", "2"])
        );
        assert_eq!(t.warnings.len(), 1);
        assert!(t.warnings[0].contains("`--frobnicate`"));

        let t = ok(&["dask-worker", "--colour", "blue", "s:8786"]);
        assert_eq!(t.args, argv(&["wasmdask", "worker", "s:8786"]));
        assert!(t.warnings[0].contains("`--colour blue`"));

        let t = ok(&["dask-worker", "--new-thing=3", "--no-frob", "s", "--x"]);
        assert_eq!(t.args, argv(&["wasmdask", "worker", "s"]));
        assert_eq!(t.warnings.len(), 3, "{:?}", t.warnings);

        // Once the address is known, a following token is the unknown flag's value.
        let t = ok(&["dask-worker", "s:1", "--tag", "a:2"]);
        assert_eq!(t.args, argv(&["wasmdask", "worker", "s:1"]));
        assert!(t.warnings[0].contains("`--tag a:2`"));

        let t = ok(&["dask", "scheduler", "--wat", "x", "extra"]);
        assert_eq!(t.args, argv(&["wasmdask", "scheduler"]));
        assert_eq!(t.warnings.len(), 2, "{:?}", t.warnings);
    }

    #[test]
    fn extra_positionals_and_unexpanded_names_warn() {
        let t = ok(&["dask-worker", "a:1", "b:2"]);
        assert_eq!(t.args, argv(&["wasmdask", "worker", "a:1"]));
        assert!(t.warnings[0].contains("`b:2`"));

        let t = ok(&["dask-worker", "--name", "$(DASK_WORKER_NAME)"]);
        assert_eq!(
            t.args,
            argv(&["wasmdask", "worker", "--name", "$(DASK_WORKER_NAME)"])
        );
        assert!(t.warnings[0].contains("unexpanded"));

        let t = ok(&["dask-worker", "--nthreads", "2", "--", "tcp://s:1"]);
        assert_eq!(
            t.args,
            argv(&["wasmdask", "worker", "tcp://s:1", "--nthreads", "2"])
        );
    }

    #[test]
    fn entry_points() {
        let t = ok(&[
            "wasmdask",
            "dask",
            "worker",
            "tcp://s:8786",
            "--nthreads",
            "2",
        ]);
        assert_eq!(
            t.args,
            argv(&["wasmdask", "worker", "tcp://s:8786", "--nthreads", "2"])
        );
        let t = ok(&["/opt/bin/wasmdask", "dask", "scheduler"]);
        assert_eq!(t.args, argv(&["wasmdask", "scheduler"]));
        assert_eq!(
            ok(&["/usr/bin/dask", "worker"]).args,
            argv(&["wasmdask", "worker"])
        );

        assert!(translate(&argv(&["wasmdask", "run", "x.wasm"])).is_none());
        assert!(translate(&argv(&["wasmdask"])).is_none());
        assert!(translate(&[]).is_none());

        assert!(err(&["dask"]).contains("dask worker"));
        let e = err(&["dask", "foo"]);
        assert!(
            e.contains("`dask foo`") && e.contains("dask scheduler"),
            "{e}"
        );
        assert!(err(&["wasmdask", "dask"]).contains("needs a role"));

        assert_eq!(
            ok(&["dask-worker", "--version"]).args,
            argv(&["wasmdask", "--version"])
        );
        assert_eq!(
            ok(&["dask", "scheduler", "-h"]).args,
            argv(&["wasmdask", "scheduler", "--help"])
        );
    }

    #[test]
    fn unrunnable_worker_lines_fail() {
        assert!(err(&["dask-worker", "--nthreads"]).contains("`--nthreads` needs a value"));
        assert!(err(&["dask-worker", "tcp://s:99999"]).contains("not a port"));
        assert!(err(&["dask-worker", "ucx://s:1"]).contains("ucx"));
        // A missing value of an ignored flag is only a warning.
        assert_eq!(ok(&["dask-worker", "--resources"]).warnings.len(), 1);
    }

    #[test]
    fn memory_limits() {
        const TOTAL: u64 = 64 << 30;
        let parse = |t: &str| parse_memory_limit(t, TOTAL);
        assert_eq!(parse("auto").unwrap(), TOTAL);
        assert_eq!(parse("AUTO").unwrap(), TOTAL);
        assert_eq!(parse("0.5").unwrap(), TOTAL / 2);
        assert_eq!(parse("1").unwrap(), TOTAL);
        assert_eq!(parse("4Gi").unwrap(), 4 << 30);
        assert_eq!(parse("4GiB").unwrap(), 4 << 30);
        assert_eq!(parse("16G").unwrap(), 16_000_000_000);
        assert_eq!(parse("2e9").unwrap(), 2_000_000_000);
        assert_eq!(parse("0").unwrap(), TOTAL);
        assert_eq!(parse("none").unwrap(), TOTAL);
        // Like Dask, never more than the machine has.
        assert_eq!(parse("1Ti").unwrap(), TOTAL);
        // Unknown machine memory: only explicit sizes.
        assert_eq!(parse_memory_limit("4Gi", 0).unwrap(), 4 << 30);
        assert!(
            parse_memory_limit("auto", 0)
                .unwrap_err()
                .contains("unknown")
        );

        for bad in ["lots", "-1", "4Qb", "nan", ""] {
            let e = parse(bad).expect_err(bad);
            assert!(
                e.contains("`auto`") && e.contains("`0.5`") && e.contains("4GiB"),
                "{e}"
            );
        }
    }
}
