//! The one table of pidone's options. A row holds an option's flags, its
//! variable, the variables of tini and dumb-init that mean the same (each
//! with the rule its program reads it by), what it takes and sets, and its
//! help line. clap's definition (so `--help` and the man page), the
//! variables pidone looks up, and how each source is read all come from it;
//! no name is written anywhere else.

use std::ffi::OsString;

use clap::{Arg, ArgAction, ArgMatches, Command};

use super::values::{self, ValueError};
use super::{Config, UsageError};
use crate::signals::printable;
use crate::targets::Target;
use Kind::*;
use Peer::*;

/// One option, by every name it goes by.
pub struct Opt {
    /// Its flags as `--help` shows them: `-s, --subreaper`; a second short
    /// name is an alias `--help` hides (`-l, -L, --license`). Empty for a
    /// variable alone (`PIDONE_LOG`).
    pub flags: &'static str,
    /// pidone's own variable.
    pub variable: Option<&'static str>,
    /// The variables of tini and dumb-init that set it too, and how.
    pub peers: &'static [(&'static str, Peer)],
    /// What it takes, and what it sets in [`Config`].
    pub kind: Kind,
    /// Its line in `--help` and the man page.
    pub help: &'static str,
}

/// What an option takes, and what it does with it.
#[derive(Clone, Copy)]
pub enum Kind {
    /// A flag; its variable is a boolean.
    Switch(fn(&mut Config, bool)),
    /// A switch that sets what the row above sets, and is read with it: a
    /// flag beats both rows' variables (`-c` and `-g` for `--forward`).
    Shorthand(fn(&mut Config, bool)),
    /// A flag that counts (`-vv`); its variable is the count.
    Count(fn(&mut Config, u8)),
    /// One value, called so in `--help`.
    Value(&'static str, Read),
    /// A value that the flag may go without (`--termination-log`), given
    /// with `=`: then this default. The next word stays the command's.
    OptionalValue(&'static str, &'static str, Read),
    /// Values: the flag repeated, or several in the variable, separated by
    /// commas or blanks.
    List(&'static str, Read),
    /// Print this and exit 0.
    Print(&'static str),
}

/// Reads one value into the config.
pub type Read = fn(&mut Config, &str) -> Result<(), ValueError>;

/// How tini or dumb-init reads its variable: as a number of times the flag
/// was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// Set to anything, even 0 or empty: once (tini's switches).
    Set,
    /// Exactly this text: this many times; any other value is as if unset
    /// (dumb-init's).
    Exactly(&'static str, u8),
    /// A number as C's atoi(3) reads it, counted from 1 as tini counts
    /// verbosity: N is N-1 times.
    AtoiFrom1,
}

/// pidone's options, in `--help`'s order. A flag beats its variable, and
/// pidone's variables beat the peers'.
#[rustfmt::skip]
pub const OPTIONS: &[Opt] = &[
    Opt { flags: "--forward", variable: Some("PIDONE_FORWARD"), peers: &[],
        kind: Value("TARGET", |c, t| values::target(t).map(|t| c.forward = t)),
        help: "Who forwarded signals reach: group (the child's process group, default), child, or all" },
    Opt { flags: "-c, --single-child", variable: Some("PIDONE_SINGLE_CHILD"), peers: &[("DUMB_INIT_SETSID", Exactly("0", 1))],
        kind: Shorthand(|c, on| c.forward = if on { Target::Child } else { Target::Group }),
        help: "Forward signals to the child alone (--forward child)" },
    Opt { flags: "-g", variable: None, peers: &[], kind: Shorthand(|c, _| c.forward = Target::Group),
        help: "Forward signals to the child's process group (the default; for tini and catatonit)" },
    Opt { flags: "-r, --rewrite", variable: Some("PIDONE_REWRITE"), peers: &[],
        kind: List("FROM:TO", |c, t| c.rewrite.add(t).map_err(|e| e.to_string())),
        help: "Forward signal FROM as TO (names, numbers, RTMIN+n); TO = 0 or IGNORE drops FROM" },
    Opt { flags: "--grace", variable: Some("PIDONE_GRACE"), peers: &[],
        kind: Value("DURATION", |c, t| values::duration(t).map(|d| c.grace = d)),
        help: "After the command exits, how long the rest get between SIGTERM and SIGKILL (500ms, 3s, 1m; default 5s)" },
    Opt { flags: "-s, --subreaper", variable: Some("PIDONE_SUBREAPER"), peers: &[("TINI_SUBREAPER", Set)],
        kind: Switch(|c, on| c.subreaper = on),
        help: "Register as child subreaper even as PID 1 (always done otherwise)" },
    Opt { flags: "-p, --parent-death-signal", variable: Some("PIDONE_PARENT_DEATH_SIGNAL"), peers: &[],
        kind: Value("SIGNAL", |c, t| values::death_signal(t).map(|s| c.parent_death_signal = Some(s))),
        help: "Get SIGNAL when pidone's parent dies, and forward it (not KILL or STOP)" },
    Opt { flags: "-e, --success-exit", variable: Some("PIDONE_SUCCESS_EXIT"), peers: &[],
        kind: List("CODE", |c, t| values::exit_code(t).map(|n| c.success_codes.push(n))),
        help: "Exit 0 when the final exit code is CODE (after 128+N mapping); repeatable" },
    Opt { flags: "-w, --warn-orphans", variable: Some("PIDONE_WARN_ORPHANS"), peers: &[],
        kind: Switch(|c, on| c.warn_orphans = on), help: "Log a warning for each orphan reaped" },
    Opt { flags: "--no-drain", variable: Some("PIDONE_NO_DRAIN"), peers: &[], kind: Switch(|c, on| c.drain = !on),
        help: "Exit as soon as the command does: leave the processes it left to the next reaper instead of stopping them (as PID 1 the kernel kills them when pidone exits)" },
    Opt { flags: "--stop-delay", variable: Some("PIDONE_STOP_DELAY"), peers: &[],
        kind: Value("DURATION", |c, t| values::duration(t).map(|d| c.stop_delay = d)),
        help: "Hold a SIGTERM or SIGINT back this long before forwarding it (a second one goes at once); other signals go at once" },
    Opt { flags: "--wait-all", variable: Some("PIDONE_WAIT_ALL"), peers: &[], kind: Switch(|c, on| c.wait_all = on),
        help: "When the command exits, wait for every other process to end (forwarding to all) instead of draining; a stop request drains" },
    Opt { flags: "--user", variable: Some("PIDONE_USER"), peers: &[],
        kind: Value("USER[:GROUP]", |c, t| values::user(t).map(|u| c.user = Some(u))),
        help: "Run the command as USER (and GROUP): names or numbers, from the image's /etc/passwd and /etc/group; pidone stays root" },
    Opt { flags: "--no-new-privs", variable: Some("PIDONE_NO_NEW_PRIVS"), peers: &[],
        kind: Switch(|c, on| c.no_new_privs = on),
        help: "Set no_new_privs in the command: nothing it runs gains privileges through setuid bits or file capabilities" },
    Opt { flags: "--termination-log", variable: Some("PIDONE_TERMINATION_LOG"), peers: &[],
        kind: OptionalValue("PATH", "/dev/termination-log", |c, t| values::absolute_path(t).map(|p| c.termination_log = Some(p))),
        help: "When the command fails, say why in PATH (default /dev/termination-log, with =PATH another) unless it holds a message already" },
    Opt { flags: "-P, --pause", variable: Some("PIDONE_PAUSE"), peers: &[], kind: Switch(|c, on| c.pause = on),
        help: "Run no command: reap orphans, exit 0 on SIGTERM or SIGINT" },
    Opt { flags: "-v, --verbose", variable: Some("PIDONE_VERBOSE"), peers: &[("TINI_VERBOSITY", AtoiFrom1), ("DUMB_INIT_DEBUG", Exactly("1", 2))],
        kind: Count(|c, n| c.verbosity = n),
        help: "Log more: -v info, -vv debug (each signal forwarded, each orphan reaped)" },
    Opt { flags: "", variable: Some("PIDONE_LOG"), peers: &[],
        kind: Value("FILTER", |c, t| values::log_spec(t).map(|s| c.log_spec = Some(s))),
        help: "An env_logger filter (debug, pidone=info), which beats --verbose; one env_logger cannot read is a usage error" },
    Opt { flags: "-V, --version", variable: None, peers: &[], help: "Print the version",
        kind: Print(concat!("pidone version ", env!("CARGO_PKG_VERSION"), " - git.", env!("PIDONE_GIT_COMMIT"), "\n")) },
    Opt { flags: "-l, -L, --license", variable: None, peers: &[], help: "Print the license (-L too)",
        kind: Print(include_str!("../../LICENSE")) },
];

/// The positional argument: the command and its arguments.
pub(crate) const COMMAND: &str = "COMMAND";

/// What one source says about an option.
pub(crate) enum Given {
    /// How many times a flag was given; 0 or 1 for a boolean variable.
    Times(u8),
    /// A value, or a list's values.
    Texts(Vec<String>),
}

/// Looks a variable up (pure: the caller decides where from).
pub(crate) type Env<'a> = dyn Fn(&str) -> Option<OsString> + 'a;

impl Opt {
    /// Its flags, `-s` and `--subreaper`, the first as shown in messages.
    pub(crate) fn names(&self) -> impl Iterator<Item = &'static str> {
        self.flags.split(", ").filter(|name| !name.is_empty())
    }

    /// Its long flag, `--subreaper`, if it has one: how messages name it.
    pub fn long(&self) -> Option<&'static str> {
        self.names().find(|name| name.starts_with("--"))
    }

    /// clap's id for it: its long name, else its short one, without dashes;
    /// "" for a variable alone.
    pub fn id(&self) -> &'static str {
        self.long().unwrap_or(self.flags).trim_start_matches('-')
    }

    fn arg(&self) -> Arg {
        let shorts = self.names().filter(|n| !n.starts_with("--"));
        let mut shorts = shorts.filter_map(|n| n.chars().nth(1));
        let long = self.long().and_then(|l| l.strip_prefix("--"));
        let arg = Arg::new(self.id()).long(long).help(self.help);
        let arg = arg.short(shorts.next()).short_aliases(shorts);
        let arg = arg.allow_negative_numbers(matches!(self.kind, Value(..) | List(..)));
        match self.kind {
            Count(_) => arg.action(ArgAction::Count),
            OptionalValue(name, default, _) => {
                let arg = arg.value_name(name).num_args(0..=1).require_equals(true);
                arg.default_missing_value(default)
            }
            Value(name, _) => arg.value_name(name),
            List(name, _) => arg.value_name(name).action(ArgAction::Append),
            _ => arg.action(ArgAction::SetTrue),
        }
    }

    /// What its flag says, if it was given.
    pub(crate) fn flag(&self, m: &ArgMatches) -> Option<Given> {
        let id = self.id();
        match self.kind {
            _ if id.is_empty() => None,
            Count(_) => Some(m.get_count(id)).filter(|&n| n > 0).map(Given::Times),
            Switch(_) | Shorthand(_) | Print(_) => m.get_flag(id).then_some(Given::Times(1)),
            _ => Some(Given::Texts(m.get_many::<String>(id)?.cloned().collect())),
        }
    }

    /// What pidone's own variable says, if it is set: UTF-8, a boolean for
    /// a switch, a number 0-255 for a count (empty is 0), a value unless
    /// empty, a list's values separated by commas or blanks.
    pub(crate) fn own(&self, env: &Env) -> Result<Option<Given>, UsageError> {
        let Some((name, value)) = self.variable.and_then(|name| Some((name, env(name)?))) else {
            return Ok(None);
        };
        let not_utf8 = |_| UsageError(format!("{name} is not valid UTF-8"));
        let text = value.into_string().map_err(not_utf8)?;
        let times = match self.kind {
            Value(..) | OptionalValue(..) | List(..) => {
                let list = matches!(self.kind, List(..));
                let items = text.split(|c: char| list && (c == ',' || c.is_whitespace()));
                let items: Vec<_> = items.filter(|s| !s.is_empty()).map(str::to_owned).collect();
                return Ok((!items.is_empty()).then_some(Given::Texts(items)));
            }
            Count(_) => values::byte(if text.is_empty() { "0" } else { &text }),
            _ => values::boolean(&text).map(u8::from),
        };
        let not = |not| UsageError(format!("{name}='{}' is {not}", printable(&text)));
        Ok(Some(Given::Times(times.map_err(not)?)))
    }

    /// Sets in `config` what a source said.
    pub(crate) fn apply(&self, config: &mut Config, given: Given) -> Result<(), ValueError> {
        match (self.kind, given) {
            (Switch(set) | Shorthand(set), Given::Times(n)) => set(config, n > 0),
            (Count(set), Given::Times(n)) => set(config, n),
            (Value(_, read) | OptionalValue(_, _, read) | List(_, read), Given::Texts(texts)) => {
                return texts.iter().try_for_each(|text| read(config, text))
            }
            _ => {}
        }
        Ok(())
    }
}

/// What a peer's variable `name` says, read by `rule`, if it says anything.
pub(crate) fn peer(env: &Env, name: &str, rule: Peer) -> Option<Given> {
    let value = env(name)?;
    Some(Given::Times(match rule {
        Set => 1,
        Exactly(text, times) if value == text => times,
        Exactly(..) => return None,
        AtoiFrom1 => {
            let value = value.to_string_lossy();
            let t = value.trim_start();
            let t = t.strip_prefix('+').unwrap_or(t);
            let digits = &t[..t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len())];
            let n: i64 = digits.parse().unwrap_or(0);
            u8::try_from(n.saturating_sub(1).max(0)).unwrap_or(u8::MAX)
        }
    }))
}

/// pidone's command line, as clap defines it (also the source of `--help`
/// and of the man page).
pub fn command() -> Command {
    let command = Arg::new(COMMAND).num_args(1..).trailing_var_arg(true);
    let command = command.value_parser(clap::value_parser!(OsString));
    let flags = OPTIONS.iter().filter(|o| !o.id().is_empty());
    Command::new("pidone")
        .about("Runs COMMAND as PID 1: forwards every signal, reaps every zombie, exits with its status.")
        .override_usage("pidone [OPTIONS] [--] COMMAND [ARG]...\n       pidone -P")
        .disable_version_flag(true)
        .after_help(
            "Every option can also be set in the environment (PIDONE_FORWARD, PIDONE_REWRITE, ...); \
             see the README.\nExit status: the command's, or 128+N if signal N killed it; \
             2 usage error, 125 command could not be started, 126 command not runnable, \
             127 command not found.",
        )
        .arg(command)
        .args(flags.map(Opt::arg))
}
