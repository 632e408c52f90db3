//! The command line and environment, turned into a validated [`Config`].
//!
//! Two stages, as ripgrep does: clap reads the raw flags (`args`); then
//! [`parse`] fills what no flag set from the environment (`vars`: pidone's
//! own variables first, then those of tini and dumb-init), reads every value
//! (`values`) and builds the config. Pure: no system calls, so every rule
//! is unit-tested. Option parsing stops at the first word that is not
//! pidone's, so `pidone sh -c 'exit 3'` gives `-c` to sh.

mod args;
mod error;
mod values;
mod vars;

use std::ffi::OsString;
use std::time::Duration;

pub(crate) use args::command;
pub use error::{Origin, UsageError};
pub use values::{DurationProblem, ValueError};
pub use vars::{Variable, VARIABLES};

use crate::signals::Rewrite;
use crate::targets::Target;
use args::Raw;
use vars::Env;

/// Everything pidone was asked to do. [`Config::default`] is pidone with no
/// option set (and no command, which only the self-init entry goes without).
#[derive(Clone, Debug, PartialEq, Eq)]
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
        }
    }
}

/// The default `--grace`: well inside Docker's 10 s stop timeout, leaving
/// the main child time of its own to stop first.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Run with this config.
    Run(Box<Config>),
    /// Help, version or license: print `text` on stdout and exit 0.
    Print(String),
}

const VERSION_LINE: &str = concat!(
    "pidone version ",
    env!("CARGO_PKG_VERSION"),
    " - git.",
    env!("PIDONE_GIT_COMMIT"),
    "\n"
);

const LICENSE: &str = include_str!("../../LICENSE");

/// Reads `args` (with `argv[0]`) and the environment through `env`. Pure:
/// no system call, nothing printed.
///
/// ```
/// use pidone::cli::{parse, Parsed};
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
    let raw = match plain_command(&args) {
        Some(command) => Raw {
            command,
            ..Raw::default()
        },
        None => read_options(args)?,
    };
    if raw.version {
        return Ok(Parsed::Print(VERSION_LINE.to_owned()));
    }
    if raw.license {
        return Ok(Parsed::Print(LICENSE.to_owned()));
    }
    configure(raw, &Env(&env))
}

/// The command, when the line holds no option at all: `pidone -- CMD...`
/// (how Docker and podman start their init) or `pidone CMD...`. clap would
/// read it the same way; skipping it saves its setup on every start.
fn plain_command(args: &[OsString]) -> Option<Vec<OsString>> {
    let first = args.get(1)?;
    if first == "--" {
        return Some(args.get(2..).unwrap_or_default().to_vec());
    }
    (!first.as_encoded_bytes().starts_with(b"-")).then(|| args[1..].to_vec())
}

/// The options, through clap (the first stage).
fn read_options(args: Vec<OsString>) -> Result<Raw, UsageError> {
    let matches = match command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
            return Ok(Raw {
                help: Some(e.to_string()),
                ..Raw::default()
            });
        }
        Err(e) => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid command line");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            return Err(UsageError::Syntax(first.to_owned()));
        }
    };
    Ok(Raw::from_matches(&matches))
}

/// The second stage: the raw options, with the environment filling what
/// they leave unset, read and checked.
fn configure(raw: Raw, env: &Env) -> Result<Parsed, UsageError> {
    if let Some(help) = raw.help {
        return Ok(Parsed::Print(help));
    }
    let pause = first(&[
        &|| Ok(raw.pause.then_some((true, Origin::Flag("-P")))),
        &|| {
            Ok(env
                .boolean("PIDONE_PAUSE")?
                .map(|on| (on, Origin::Variable("PIDONE_PAUSE"))))
        },
    ])?;
    match (pause, raw.command.first()) {
        (Some((true, by)), Some(command)) => {
            return Err(UsageError::PauseWithCommand {
                by,
                command: command.to_string_lossy().into_owned(),
            })
        }
        (None | Some((false, _)), None) => return Err(UsageError::NoCommand),
        _ => {}
    }
    let defaults = Config::default();
    Ok(Parsed::Run(Box::new(Config {
        forward: forward(&raw, env)?,
        rewrite: rewrite(&raw, env)?,
        subreaper: first(&[
            &|| Ok(raw.subreaper.then_some(true)),
            &|| env.boolean("PIDONE_SUBREAPER"),
            &|| Ok(env.is_set("TINI_SUBREAPER").then_some(true)),
        ])?
        .unwrap_or(false),
        parent_death_signal: first(&[
            &|| {
                flag_value(
                    "--parent-death-signal",
                    &raw.parent_death_signal,
                    values::death_signal,
                )
            },
            &|| variable_value(env, "PIDONE_PARENT_DEATH_SIGNAL", values::death_signal),
        ])?,
        success_codes: list(
            &raw.success_exit,
            env,
            "--success-exit",
            "PIDONE_SUCCESS_EXIT",
        )?
        .map(|(origin, items)| each(origin, &items, values::exit_code))
        .transpose()?
        .unwrap_or_default(),
        warn_orphans: first(&[&|| Ok(raw.warn_orphans.then_some(true)), &|| {
            env.boolean("PIDONE_WARN_ORPHANS")
        }])?
        .unwrap_or(false),
        verbosity: verbosity(&raw, env)?,
        log_spec: variable_value(env, "PIDONE_LOG", values::log_spec)?,
        grace: first(&[
            &|| flag_value("--grace", &raw.grace, values::duration),
            &|| variable_value(env, "PIDONE_GRACE", values::duration),
        ])?
        .unwrap_or(defaults.grace),
        pause: pause.is_some_and(|(on, _)| on),
        drain: !first(&[&|| Ok(raw.no_drain.then_some(true)), &|| {
            env.boolean("PIDONE_NO_DRAIN")
        }])?
        .unwrap_or(false),
        command: raw.command,
        ..Config::default()
    })))
}

/// A setting's source: `Ok(Some(value))` when it sets the option.
type Source<'a, T> = &'a dyn Fn() -> Result<Option<T>, UsageError>;

/// The one precedence rule: the first source that sets the option wins; the
/// ones after it are not even read (a flag hides a bad variable).
fn first<T>(sources: &[Source<T>]) -> Result<Option<T>, UsageError> {
    for source in sources {
        if let Some(value) = source()? {
            return Ok(Some(value));
        }
    }
    Ok(None)
}

fn flag_value<T>(
    flag: &'static str,
    text: &Option<String>,
    read: fn(&str) -> Result<T, ValueError>,
) -> Result<Option<T>, UsageError> {
    text.as_deref()
        .map(|t| read(t).map_err(|error| value_error(Origin::Flag(flag), error)))
        .transpose()
}

fn variable_value<T>(
    env: &Env,
    name: &'static str,
    read: fn(&str) -> Result<T, ValueError>,
) -> Result<Option<T>, UsageError> {
    env.value(name)?
        .map(|t| read(&t).map_err(|error| value_error(Origin::Variable(name), error)))
        .transpose()
}

fn value_error(origin: Origin, error: ValueError) -> UsageError {
    UsageError::Value { origin, error }
}

/// A repeatable option's values, or else its variable's, split on commas
/// and whitespace, with where they came from.
fn list(
    flags: &[String],
    env: &Env,
    flag: &'static str,
    name: &'static str,
) -> Result<Option<(Origin, Vec<String>)>, UsageError> {
    if !flags.is_empty() {
        return Ok(Some((Origin::Flag(flag), flags.to_vec())));
    }
    Ok(env.text(name)?.map(|v| {
        let items = v
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        (Origin::Variable(name), items)
    }))
}

fn each<T>(
    origin: Origin,
    items: &[String],
    read: fn(&str) -> Result<T, ValueError>,
) -> Result<Vec<T>, UsageError> {
    items
        .iter()
        .map(|item| read(item).map_err(|error| value_error(origin, error)))
        .collect()
}

/// Flags first (`--forward`, `-c`, `-g`), then pidone's variables, then
/// dumb-init's: it runs the child in a session of its own unless
/// DUMB_INIT_SETSID is exactly "0", and without one signals the child alone.
/// (tini's TINI_KILL_PROCESS_GROUP asks for the group: the default anyway.)
fn forward(raw: &Raw, env: &Env) -> Result<Target, UsageError> {
    let target = first(&[
        &|| flag_value("--forward", &raw.forward, values::target),
        &|| Ok(raw.single_child.then_some(Target::Child)),
        &|| Ok(raw.group.then_some(Target::Group)),
        &|| variable_value(env, "PIDONE_FORWARD", values::target),
        &|| {
            let single = env.boolean("PIDONE_SINGLE_CHILD")?;
            Ok(single.map(|on| if on { Target::Child } else { Target::Group }))
        },
        &|| Ok(env.equals("DUMB_INIT_SETSID", "0").then_some(Target::Child)),
    ])?;
    Ok(target.unwrap_or(Target::Group))
}

fn rewrite(raw: &Raw, env: &Env) -> Result<Rewrite, UsageError> {
    let mut map = Rewrite::default();
    if let Some((origin, specs)) = list(&raw.rewrite, env, "--rewrite", "PIDONE_REWRITE")? {
        for spec in specs {
            map.add(&spec)
                .map_err(|e| value_error(origin, ValueError::Rewrite(e)))?;
        }
    }
    Ok(map)
}

/// `-v` counts; PIDONE_VERBOSE is a number; tini counts from 1 (its
/// default, warnings) where pidone counts from 0; dumb-init's debug is on
/// for exactly "1".
fn verbosity(raw: &Raw, env: &Env) -> Result<u8, UsageError> {
    let level = first(&[
        &|| Ok((raw.verbose > 0).then_some(raw.verbose)),
        &|| match env.text("PIDONE_VERBOSE")? {
            None => Ok(None),
            Some(v) if v.is_empty() => Ok(Some(0)),
            Some(v) => v
                .trim()
                .parse::<u8>()
                .map(Some)
                .map_err(|_| UsageError::NotNumber {
                    name: "PIDONE_VERBOSE",
                    value: v,
                }),
        },
        &|| {
            Ok(env
                .atoi("TINI_VERBOSITY")
                .map(|n| (n - 1).clamp(0, 255) as u8))
        },
        &|| Ok(env.equals("DUMB_INIT_DEBUG", "1").then_some(2)),
    ])?;
    Ok(level.unwrap_or(0))
}

#[cfg(test)]
mod tests;
