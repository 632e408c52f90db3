//! The command line and environment, turned into a validated [`Config`].
//!
//! Every option is one row of the table in `options`: its flags, its
//! variable, the peers' variables and their rules, what it takes, its help.
//! [`parse`] reads in two stages, as ripgrep does: clap reads the flags the
//! table defines; then, option by option, the first source that sets it
//! wins (flags, then pidone's variables, then those of tini and dumb-init),
//! its value is read (`values`) and set in the config. Pure: no system
//! calls, so every rule is unit-tested. Option parsing stops at the first
//! word that is not pidone's, so `pidone sh -c 'exit 3'` gives `-c` to sh.

mod options;
mod values;

use std::ffi::{CStr, OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

use clap::{error::ErrorKind, ArgMatches};

pub use options::{command, Kind, Opt, Peer, OPTIONS};

use crate::signals::{printable, Rewrite};
use crate::targets::Target;
use options::{peer, Env, COMMAND};

/// Everything pidone was asked to do. [`Config::default`] is pidone with no
/// option set (and no command, which only the self-init entry goes
/// without); [`Config::from_options`] reads pidone's own options, as the
/// binary does, and says what is wrong with them.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The command and its arguments, as bytes; empty in pause mode.
    pub command: Vec<OsString>,
    /// Who forwarded signals reach.
    pub forward: Target,
    /// Applied to every signal before it is forwarded.
    pub rewrite: Rewrite,
    /// Register as child subreaper even as PID 1 (`-s`); pidone always does
    /// when it is not PID 1.
    pub subreaper: bool,
    /// Signal pidone asks to get when its parent dies (`-p`).
    pub parent_death_signal: Option<i32>,
    /// Final exit codes reported as 0 (`-e`).
    pub success_codes: Vec<u8>,
    /// Log each reaped orphan as a warning (`-w`).
    pub warn_orphans: bool,
    /// 0 = warnings, 1 = info, 2 or more = debug.
    pub verbosity: u8,
    /// An env_logger filter (`PIDONE_LOG`), which beats `verbosity`.
    pub log_spec: Option<String>,
    /// How long leftovers get between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// Run no command: reap, and exit 0 on SIGTERM or SIGINT (`-P`).
    pub pause: bool,
    /// Drain the processes left when the main child exits; `--no-drain`
    /// turns it off.
    pub drain: bool,
    /// How long a stop request waits before it is forwarded (`--stop-delay`).
    pub stop_delay: Duration,
    /// When the main child exits, wait for every other process to end
    /// instead of draining (`--wait-all`).
    pub wait_all: bool,
    /// `--user USER[:GROUP]`: who the command runs as, resolved in the
    /// image's /etc/passwd and /etc/group when it starts; None keeps
    /// pidone's user.
    pub user: Option<String>,
    /// `--no-new-privs`: PR_SET_NO_NEW_PRIVS in the child, so nothing it
    /// runs gains privileges through setuid bits or file capabilities.
    pub no_new_privs: bool,
    /// Where to write the termination message when the command fails
    /// (`--termination-log`), unless the file holds one already.
    pub termination_log: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            command: Vec::new(),
            forward: Target::Group,
            rewrite: Rewrite::default(),
            subreaper: false,
            parent_death_signal: None,
            success_codes: Vec::new(),
            warn_orphans: false,
            verbosity: 0,
            log_spec: None,
            grace: DEFAULT_GRACE,
            pause: false,
            drain: true,
            stop_delay: Duration::ZERO,
            wait_all: false,
            user: None,
            no_new_privs: false,
            termination_log: None,
        }
    }
}

impl Config {
    /// A config from pidone's options as the binary takes them, without a
    /// command (for [`crate::init_self`]); variables are not read.
    ///
    /// ```
    /// let config = pidone::Config::from_options(["--grace", "2s", "-r", "TERM:QUIT"])?;
    /// assert_eq!(config.grace, std::time::Duration::from_secs(2));
    /// assert!(pidone::Config::from_options(["--grace", "soon"]).is_err());
    /// # Ok::<(), pidone::UsageError>(())
    /// ```
    pub fn from_options<S: Into<OsString>>(
        options: impl IntoIterator<Item = S>,
    ) -> Result<Config, UsageError> {
        let options = options.into_iter().map(Into::into);
        let args = ["pidone".into()].into_iter().chain(options);
        match parse(args.chain(["--".into(), "-".into()]).collect(), |_| None)? {
            Parsed::Run(mut config) if config.command.len() == 1 => {
                config.command.clear();
                Ok(*config)
            }
            _ => Err(UsageError(NOT_A_CONFIG.to_owned())),
        }
    }
}

const NOT_A_CONFIG: &str = "not options for a config: a command or --help, --version or --license";

/// Why a command line or environment cannot be used: the one line that
/// says what was wrong, written where it was found (escaped: a newline in a
/// value never breaks the line). Always exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

impl UsageError {
    /// The exit code for a usage error, as for tini and most Unix tools.
    pub fn exit_code(&self) -> u8 {
        2
    }
}

/// The default `--grace`: well inside Docker's 10 s stop timeout, leaving
/// the main child time of its own to stop first.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

pub(crate) const NO_COMMAND: &str =
    "no command given (usage: pidone [OPTIONS] [--] COMMAND [ARG]...; see 'pidone --help')";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Run with this config.
    Run(Box<Config>),
    /// Help, version or license: print `text` on stdout and exit 0.
    Print(String),
}

/// Every variable pidone reads, as the table names them.
pub fn variables() -> impl Iterator<Item = &'static str> {
    OPTIONS
        .iter()
        .flat_map(|o| o.variable.into_iter().chain(o.peers.iter().map(|p| p.0)))
}

/// The variables pidone reads, picked out of `environment` (`NAME=value`
/// entries) in one pass, not a scan of it per variable.
pub(crate) fn lookup<'a>(
    environment: impl Iterator<Item = &'a CStr>,
) -> impl Fn(&str) -> Option<OsString> + 'a {
    let ours = |entry: &&[u8]| variables().any(|name| value(entry, name).is_some());
    let ours: Vec<_> = environment.map(CStr::to_bytes).filter(ours).collect();
    move |name| Some(OsStr::from_bytes(ours.iter().find_map(|e| value(e, name))?).into())
}

/// The value in `entry` (`NAME=value`) if it is variable `name`'s.
fn value<'a>(entry: &'a [u8], name: &str) -> Option<&'a [u8]> {
    entry.strip_prefix(name.as_bytes())?.strip_prefix(b"=")
}

/// Reads `args` (with `argv[0]`) and the environment through `env`. Pure:
/// no system call, nothing printed.
///
/// ```
/// use pidone::{parse, Parsed};
/// let args = ["pidone", "--grace", "2s", "--", "nginx", "-g", "daemon off;"];
/// let vars = |name: &str| (name == "PIDONE_REWRITE").then(|| "TERM:QUIT".into());
/// let Ok(Parsed::Run(config)) = parse(args.iter().map(Into::into).collect(), vars) else {
///     panic!("not a run");
/// };
/// assert_eq!(config.grace, std::time::Duration::from_secs(2));
/// assert_eq!(config.command, ["nginx", "-g", "daemon off;"]);
/// assert_eq!(config.rewrite.apply(libc::SIGTERM), Some(libc::SIGQUIT));
/// ```
pub fn parse(
    args: Vec<OsString>,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<Parsed, UsageError> {
    if let Some(command) = plain_command(&args) {
        return configure(command, None, &env);
    }
    let matches = match command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::DisplayHelp => return Ok(Parsed::Print(e.to_string())),
        Err(e) => {
            // clap's own complaint (unknown option, missing value): its first line.
            let text = e.to_string().replacen("error: ", "", 1);
            let first = printable(text.lines().next().unwrap_or("invalid command line"));
            return Err(UsageError(format!("{first} (see 'pidone --help')")));
        }
    };
    for o in OPTIONS {
        if let (Kind::Print(text), Some(_)) = (o.kind, o.flag(&matches)) {
            return Ok(Parsed::Print(text.to_owned()));
        }
    }
    let command = matches.get_many::<OsString>(COMMAND);
    let command = command.map(|v| v.cloned().collect()).unwrap_or_default();
    configure(command, Some(&matches), &env)
}

/// The command, when the line holds no option at all: `pidone -- CMD...`
/// (how Docker and podman start their init) or `pidone CMD...`. clap would
/// read it the same way; skipping it saves its setup on every start.
fn plain_command(args: &[OsString]) -> Option<Vec<OsString>> {
    let start = if args.get(1)? == "--" { 2 } else { 1 };
    (start == 2 || !args[1].as_encoded_bytes().starts_with(b"-")).then(|| args[start..].to_vec())
}

/// The second stage: each option from the first source that sets it, read
/// and set; then the command checked against pause mode.
fn configure(
    command: Vec<OsString>,
    flags: Option<&ArgMatches>,
    env: &Env,
) -> Result<Parsed, UsageError> {
    let mut config = Config::default();
    let mut paused_by = None;
    for rows in OPTIONS.chunk_by(|_, next| matches!(next.kind, Kind::Shorthand(_))) {
        // The one precedence rule, for an option and its shorthands: flags,
        // then pidone's variables, then the peers'. The first source that
        // sets the option wins, with the variable it was (None for a flag);
        // the ones after it are not even read (a flag hides a bad variable).
        let flag = |o| Ok(flags.and_then(|m| Opt::flag(o, m)).map(|g| (o, None, g)));
        let own = |o: &'static Opt| Ok(o.own(env)?.map(|g| (o, o.variable, g)));
        let peers = |o: &'static Opt| {
            let read = move |&(name, rule)| Ok(peer(env, name, rule).map(|g| (o, Some(name), g)));
            o.peers.iter().map(read)
        };
        let sources = rows.iter().map(flag).chain(rows.iter().map(own));
        let mut sources = sources.chain(rows.iter().flat_map(peers));
        let Some((row, variable, given)) = sources.find_map(Result::transpose).transpose()? else {
            continue;
        };
        let origin = variable.or(row.long()).unwrap_or_default();
        row.apply(&mut config, given)
            .map_err(|error| UsageError(format!("{origin}: {error}")))?;
        // Only pause mode's own row sets `pause`: the row that turned it on
        // is the one a command conflicts with.
        if config.pause && paused_by.is_none() {
            paused_by = variable.or(row.names().next());
        }
    }
    match (paused_by, command.first()) {
        (Some(by), Some(command)) => {
            let command = printable(&command.to_string_lossy());
            let line = format!("{by} (pause mode) runs no command, but '{command}' was given");
            Err(UsageError(line))
        }
        (None, None) => Err(UsageError(NO_COMMAND.to_owned())),
        _ => Ok(Parsed::Run(Box::new(Config { command, ..config }))),
    }
}

#[cfg(test)]
mod tests;
