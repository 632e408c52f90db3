//! The first stage: the command line as clap reads it, into [`Raw`], a
//! plain struct with one field per option.
//!
//! clap finds arguments by string id. Each id is a constant used both where
//! the argument is defined and where it is read, and [`Raw::from_matches`]
//! is the one place that reads them, so a mistyped id cannot compile and a
//! wrong type shows up in the unit test that fills every field. No
//! validation here: values stay text until `values` reads them.

use std::ffi::OsString;

use clap::{Arg, ArgAction, ArgMatches, Command};

const COMMAND: &str = "command";
const FORWARD: &str = "forward";
const SINGLE_CHILD: &str = "single-child";
const GROUP: &str = "group";
const REWRITE: &str = "rewrite";
const GRACE: &str = "grace";
const SUBREAPER: &str = "subreaper";
const PARENT_DEATH_SIGNAL: &str = "parent-death-signal";
const SUCCESS_EXIT: &str = "success-exit";
const WARN_ORPHANS: &str = "warn-orphans";
const NO_DRAIN: &str = "no-drain";
const USER: &str = "user";
const NO_NEW_PRIVS: &str = "no-new-privs";
const PAUSE: &str = "pause";
const VERBOSE: &str = "verbose";
const VERSION: &str = "version";
const LICENSE: &str = "license";

/// The command line as given, before any variable is consulted.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Raw {
    pub command: Vec<OsString>,
    pub forward: Option<String>,
    pub single_child: bool,
    pub group: bool,
    pub rewrite: Vec<String>,
    pub grace: Option<String>,
    pub subreaper: bool,
    pub parent_death_signal: Option<String>,
    pub success_exit: Vec<String>,
    pub warn_orphans: bool,
    pub no_drain: bool,
    pub user: Option<String>,
    pub no_new_privs: bool,
    pub pause: bool,
    pub verbose: u8,
    pub version: bool,
    pub license: bool,
    /// `-h`/`--help`: the text clap rendered.
    pub help: Option<String>,
}

impl Raw {
    /// Reads every argument of [`command`] out of `m`.
    pub fn from_matches(m: &ArgMatches) -> Raw {
        let text = |id| m.get_one::<String>(id).cloned();
        let texts = |id| {
            m.get_many::<String>(id)
                .map(|v| v.cloned().collect())
                .unwrap_or_default()
        };
        Raw {
            command: m
                .get_many::<OsString>(COMMAND)
                .map(|v| v.cloned().collect())
                .unwrap_or_default(),
            forward: text(FORWARD),
            single_child: m.get_flag(SINGLE_CHILD),
            group: m.get_flag(GROUP),
            rewrite: texts(REWRITE),
            grace: text(GRACE),
            subreaper: m.get_flag(SUBREAPER),
            parent_death_signal: text(PARENT_DEATH_SIGNAL),
            success_exit: texts(SUCCESS_EXIT),
            warn_orphans: m.get_flag(WARN_ORPHANS),
            no_drain: m.get_flag(NO_DRAIN),
            user: text(USER),
            no_new_privs: m.get_flag(NO_NEW_PRIVS),
            pause: m.get_flag(PAUSE),
            verbose: m.get_count(VERBOSE),
            version: m.get_flag(VERSION),
            license: m.get_flag(LICENSE),
            help: None,
        }
    }
}

/// pidone's command line, as clap defines it (also the source of `--help`
/// and of the man page).
pub(crate) fn command() -> Command {
    let flag = |id: &'static str| Arg::new(id).action(ArgAction::SetTrue);
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
        .arg(
            Arg::new(COMMAND)
                .value_name("COMMAND")
                .num_args(1..)
                .trailing_var_arg(true)
                .value_parser(clap::value_parser!(OsString)),
        )
        .arg(
            Arg::new(FORWARD)
                .long("forward")
                .value_name("TARGET")
                .help("Who forwarded signals reach: group (the child's process group, default), child, or all"),
        )
        .arg(
            flag(SINGLE_CHILD)
                .short('c')
                .long("single-child")
                .help("Forward signals to the child alone (--forward child)"),
        )
        .arg(
            flag(GROUP)
                .short('g')
                .help("Forward signals to the child's process group (the default; for tini and catatonit)"),
        )
        .arg(
            Arg::new(REWRITE)
                .short('r')
                .long("rewrite")
                .value_name("FROM:TO")
                .action(ArgAction::Append)
                .help("Forward signal FROM as TO (names, numbers, RTMIN+n); TO = 0 or IGNORE drops FROM"),
        )
        .arg(
            Arg::new(GRACE)
                .long("grace")
                .value_name("DURATION")
                .allow_negative_numbers(true)
                .help("After the command exits, how long the rest get between SIGTERM and SIGKILL (500ms, 3s, 1m; default 5s)"),
        )
        .arg(
            flag(SUBREAPER)
                .short('s')
                .long("subreaper")
                .help("Register as child subreaper even as PID 1 (always done otherwise)"),
        )
        .arg(
            Arg::new(PARENT_DEATH_SIGNAL)
                .short('p')
                .long("parent-death-signal")
                .value_name("SIGNAL")
                .help("Get SIGNAL when pidone's parent dies, and forward it (not KILL or STOP)"),
        )
        .arg(
            Arg::new(SUCCESS_EXIT)
                .short('e')
                .long("success-exit")
                .value_name("CODE")
                .allow_negative_numbers(true)
                .action(ArgAction::Append)
                .help("Exit 0 when the final exit code is CODE (after 128+N mapping); repeatable"),
        )
        .arg(
            flag(WARN_ORPHANS)
                .short('w')
                .long("warn-orphans")
                .help("Log a warning for each orphan reaped"),
        )
        .arg(
            flag(NO_DRAIN)
                .long("no-drain")
                .help("Exit as soon as the command does: leave the processes it left to the next reaper instead of stopping them (as PID 1 the kernel kills them when pidone exits)"),
        )
        .arg(
            Arg::new(USER)
                .long("user")
                .value_name("USER[:GROUP]")
                .help("Run the command as USER (and GROUP), names or numbers from the image's /etc/passwd and /etc/group; pidone stays root"),
        )
        .arg(
            flag(NO_NEW_PRIVS)
                .long("no-new-privs")
                .help("Set no_new_privs in the command: nothing it runs gains privileges through setuid bits or file capabilities"),
        )
        .arg(
            flag(PAUSE)
                .short('P')
                .long("pause")
                .help("Run no command: reap orphans, exit 0 on SIGTERM or SIGINT"),
        )
        .arg(
            Arg::new(VERBOSE)
                .short('v')
                .long("verbose")
                .action(ArgAction::Count)
                .help("Log more: -v info, -vv debug (each signal forwarded, each orphan reaped)"),
        )
        .arg(flag(VERSION).short('V').long("version").help("Print the version"))
        .arg(
            flag(LICENSE)
                .short('l')
                .short_alias('L')
                .long("license")
                .help("Print the license (-L too)"),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_reads_back_what_was_given() -> Result<(), clap::Error> {
        let argv = [
            "pidone",
            "--forward",
            "all",
            "-c",
            "-g",
            "-r",
            "TERM:QUIT",
            "-r",
            "1:2",
            "--grace",
            "3s",
            "-s",
            "-p",
            "HUP",
            "-e",
            "3",
            "-w",
            "--no-drain",
            "--user",
            "app:44",
            "--no-new-privs",
            "-P",
            "-vv",
            "-V",
            "-l",
            "--",
            "x",
            "-y",
        ];
        let raw = Raw::from_matches(&command().try_get_matches_from(argv)?);
        assert_eq!(
            raw,
            Raw {
                command: vec!["x".into(), "-y".into()],
                forward: Some("all".into()),
                single_child: true,
                group: true,
                rewrite: vec!["TERM:QUIT".into(), "1:2".into()],
                grace: Some("3s".into()),
                subreaper: true,
                parent_death_signal: Some("HUP".into()),
                success_exit: vec!["3".into()],
                warn_orphans: true,
                no_drain: true,
                user: Some("app:44".into()),
                no_new_privs: true,
                pause: true,
                verbose: 2,
                version: true,
                license: true,
                help: None,
            }
        );
        Ok(())
    }
}
