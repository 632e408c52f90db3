//! The command line and environment, turned into a validated [`Config`].
//!
//! Two stages, as ripgrep does: clap reads the raw flags; [`parse`] then
//! fills what no flag set from the environment (`PIDONE_*` first, then the
//! variables of tini and dumb-init), validates every value and builds the
//! config. Pure: no system calls, so every rule is unit-tested below.
//! Option parsing stops at the first word that is not pidone's, so
//! `pidone sh -c 'exit 3'` gives `-c` to sh.

use std::ffi::OsString;
use std::fmt;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::signals::{self, printable, Rewrite};
use crate::targets::Target;

/// Everything pidone was asked to do.
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
    /// 0 = warnings, 1 = info, 2 = debug, 3+ = trace.
    pub verbosity: u8,
    /// An env_logger filter (`PIDONE_LOG`), which beats `verbosity`.
    pub log_spec: Option<String>,
    /// How long leftovers get between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// Run no command: reap, and exit 0 on SIGTERM or SIGINT (`-P`).
    pub pause: bool,
}

/// The default `--grace`: well inside Docker's 10 s stop timeout, leaving
/// the main child time of its own to stop first.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Box<Config>),
    /// Help, version, license or usage: print `text` and exit with `code`.
    Print {
        text: String,
        to_stderr: bool,
        code: u8,
    },
}

/// A command line or variable pidone cannot use. Always exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError(pub String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

impl CliError {
    /// The exit code for a usage error, as for tini and most Unix tools.
    pub fn exit_code(&self) -> u8 {
        2
    }
}

const VERSION_LINE: &str = concat!(
    "pidone version ",
    env!("CARGO_PKG_VERSION"),
    " - git.",
    env!("PIDONE_GIT_COMMIT"),
    "\n"
);

const LICENSE: &str = "pidone is distributed under the MIT license:

Copyright (c) 2026 the pidone authors

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the \"Software\"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
";

pub(crate) fn command() -> Command {
    let flag = |id: &'static str| Arg::new(id).action(ArgAction::SetTrue);
    Command::new("pidone")
        .about("Runs COMMAND as PID 1: forwards every signal, reaps every zombie, exits with its status.")
        .override_usage("pidone [OPTIONS] [--] COMMAND [ARG]...\n       pidone -P")
        .disable_version_flag(true)
        .after_help(
            "Every option can also be set in the environment (PIDONE_FORWARD, PIDONE_REWRITE, ...); \
             see the README.\nExit status: the command's, or 128+N if signal N killed it; \
             2 usage error, 126 command not runnable, 127 command not found.",
        )
        .arg(
            Arg::new("command")
                .value_name("COMMAND")
                .num_args(1..)
                .trailing_var_arg(true)
                .value_parser(clap::value_parser!(OsString)),
        )
        .arg(
            Arg::new("forward")
                .long("forward")
                .value_name("TARGET")
                .help("Who forwarded signals reach: group (the child's process group, default), child, or all"),
        )
        .arg(
            flag("single-child")
                .short('c')
                .long("single-child")
                .help("Forward signals to the child alone (--forward child)"),
        )
        .arg(
            flag("group")
                .short('g')
                .help("Forward signals to the child's process group (the default; for tini and catatonit)"),
        )
        .arg(
            Arg::new("rewrite")
                .short('r')
                .long("rewrite")
                .value_name("FROM:TO")
                .action(ArgAction::Append)
                .help("Forward signal FROM as TO (names, numbers, RTMIN+n); TO = 0 or IGNORE drops FROM"),
        )
        .arg(
            Arg::new("grace")
                .long("grace")
                .value_name("DURATION")
                .allow_negative_numbers(true)
                .help("After the command exits, how long the rest get between SIGTERM and SIGKILL (500ms, 3s, 1m; default 5s)"),
        )
        .arg(
            flag("subreaper")
                .short('s')
                .long("subreaper")
                .help("Register as child subreaper even as PID 1 (always done otherwise)"),
        )
        .arg(
            Arg::new("parent-death-signal")
                .short('p')
                .long("parent-death-signal")
                .value_name("SIGNAL")
                .help("Get SIGNAL when pidone's parent dies, and forward it"),
        )
        .arg(
            Arg::new("success-exit")
                .short('e')
                .long("success-exit")
                .value_name("CODE")
                .allow_negative_numbers(true)
                .action(ArgAction::Append)
                .help("Exit 0 when the final exit code is CODE (after 128+N mapping); repeatable"),
        )
        .arg(
            flag("warn-orphans")
                .short('w')
                .long("warn-orphans")
                .help("Log a warning for each orphan reaped"),
        )
        .arg(
            flag("pause")
                .short('P')
                .long("pause")
                .help("Run no command: reap orphans, exit 0 on SIGTERM or SIGINT"),
        )
        .arg(
            Arg::new("verbose")
                .short('v')
                .long("verbose")
                .action(ArgAction::Count)
                .help("Log more: -v info, -vv debug (each signal forwarded, each orphan reaped)"),
        )
        .arg(flag("version").short('V').long("version").help("Print the version"))
        .arg(
            flag("license")
                .short('l')
                .short_alias('L')
                .long("license")
                .help("Print the license (-L too)"),
        )
}

/// Reads `args` (with argv[0]) and the environment through `env`.
pub fn parse(
    args: Vec<OsString>,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<Parsed, CliError> {
    let mut cmd = command();
    let m = match cmd.try_get_matches_from_mut(args) {
        Ok(m) => m,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
            return Ok(Parsed::Print {
                text: e.to_string(),
                to_stderr: false,
                code: 0,
            });
        }
        Err(e) => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid command line");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            return Err(CliError(format!(
                "{} (see 'pidone --help')",
                printable(first)
            )));
        }
    };
    if m.get_flag("version") {
        return Ok(print(VERSION_LINE));
    }
    if m.get_flag("license") {
        return Ok(print(LICENSE));
    }
    let env = Env(&env);
    let pause = flag_or_env(&m, "pause", &env, &["PIDONE_PAUSE"])?;
    let command: Vec<OsString> = m
        .get_many::<OsString>("command")
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    if command.is_empty() && !pause {
        return Ok(Parsed::Print {
            text: format!(
                "pidone: no command given\n{}\nTry 'pidone --help' for more information.\n",
                cmd.render_usage()
            ),
            to_stderr: true,
            code: 2,
        });
    }
    if pause && !command.is_empty() {
        let by = if m.get_flag("pause") {
            "-P"
        } else {
            "PIDONE_PAUSE"
        };
        return Err(CliError(format!(
            "{by} (pause mode) runs no command, but '{}' was given",
            printable(&command[0].to_string_lossy())
        )));
    }

    Ok(Parsed::Run(Box::new(Config {
        command,
        forward: forward(&m, &env)?,
        rewrite: rewrite(&m, &env)?,
        subreaper: flag_or_env(
            &m,
            "subreaper",
            &env,
            &["PIDONE_SUBREAPER", "TINI_SUBREAPER"],
        )?,
        parent_death_signal: value_or_env(
            &m,
            "parent-death-signal",
            &env,
            "PIDONE_PARENT_DEATH_SIGNAL",
        )
        .map(|(src, v)| signals::parse(&v).map_err(|e| CliError(format!("{src}: {e}"))))
        .transpose()?,
        success_codes: success_codes(&m, &env)?,
        warn_orphans: flag_or_env(&m, "warn-orphans", &env, &["PIDONE_WARN_ORPHANS"])?,
        verbosity: verbosity(&m, &env)?,
        log_spec: env.text("PIDONE_LOG")?.filter(|s| !s.is_empty()),
        grace: value_or_env(&m, "grace", &env, "PIDONE_GRACE")
            .map(|(src, v)| parse_duration(&v).map_err(|e| CliError(format!("{src}: {e}"))))
            .transpose()?
            .unwrap_or(DEFAULT_GRACE),
        pause,
    })))
}

fn print(text: &str) -> Parsed {
    Parsed::Print {
        text: text.to_owned(),
        to_stderr: false,
        code: 0,
    }
}

/// Environment lookup that insists on UTF-8 for pidone's own settings.
struct Env<'a>(&'a dyn Fn(&str) -> Option<OsString>);

impl Env<'_> {
    fn text(&self, name: &str) -> Result<Option<String>, CliError> {
        match (self.0)(name) {
            None => Ok(None),
            Some(v) => v
                .into_string()
                .map(Some)
                .map_err(|_| CliError(format!("{name} is not valid UTF-8"))),
        }
    }

    /// `Some(true)` for 1/true/yes/on, `Some(false)` for 0/false/no/off or
    /// empty, `None` when unset. Unlike tini, a variable set to 0 is off.
    fn boolean(&self, name: &str) -> Result<Option<bool>, CliError> {
        let Some(v) = self.text(name)? else {
            return Ok(None);
        };
        match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(Some(true)),
            "" | "0" | "false" | "no" | "off" => Ok(Some(false)),
            _ => Err(CliError(format!(
                "{name}='{}' is not a boolean (use 1 or 0, true or false, yes or no, on or off)",
                printable(&v)
            ))),
        }
    }
}

/// A flag, or else the first of `vars` that is set.
fn flag_or_env(m: &ArgMatches, id: &str, env: &Env, vars: &[&str]) -> Result<bool, CliError> {
    if m.get_flag(id) {
        return Ok(true);
    }
    for var in vars {
        if let Some(on) = env.boolean(var)? {
            return Ok(on);
        }
    }
    Ok(false)
}

/// An option's value with where it came from (for error messages), or else
/// the variable's. An empty variable counts as unset.
fn value_or_env(m: &ArgMatches, id: &str, env: &Env, var: &str) -> Option<(String, String)> {
    if let Some(v) = m.get_one::<String>(id) {
        return Some((format!("--{id}"), v.clone()));
    }
    let v = (env.0)(var)?;
    let v = v.to_string_lossy().into_owned();
    (!v.is_empty()).then(|| (var.to_owned(), v))
}

/// Flags first (`--forward`, `-c`, `-g`), then pidone's variables, then the
/// peers'.
fn forward(m: &ArgMatches, env: &Env) -> Result<Target, CliError> {
    let named = |src: &str, v: &str| match v.to_ascii_lowercase().as_str() {
        "group" => Ok(Target::Group),
        "child" => Ok(Target::Child),
        "all" => Ok(Target::All),
        _ => Err(CliError(format!(
            "{src}: unknown target '{}' (expected group, child or all)",
            printable(v)
        ))),
    };
    if let Some(v) = m.get_one::<String>("forward") {
        return named("--forward", v);
    }
    if m.get_flag("single-child") {
        return Ok(Target::Child);
    }
    if m.get_flag("group") {
        return Ok(Target::Group);
    }
    if let Some(v) = env.text("PIDONE_FORWARD")?.filter(|v| !v.is_empty()) {
        return named("PIDONE_FORWARD", &v);
    }
    if let Some(single) = env.boolean("PIDONE_SINGLE_CHILD")? {
        return Ok(if single { Target::Child } else { Target::Group });
    }
    // dumb-init runs the child in a session of its own unless told not to;
    // without one, it signals the child alone.
    if env.boolean("DUMB_INIT_SETSID")? == Some(false) {
        return Ok(Target::Child);
    }
    // tini's -g; the group is pidone's default anyway, but a bad value is
    // still an error.
    env.boolean("TINI_KILL_PROCESS_GROUP")?;
    Ok(Target::Group)
}

fn rewrite(m: &ArgMatches, env: &Env) -> Result<Rewrite, CliError> {
    let mut map = Rewrite::default();
    let (src, specs) = list_or_env(m, "rewrite", env, "PIDONE_REWRITE")?;
    for spec in specs {
        map.add(&spec).map_err(|e| CliError(format!("{src}{e}")))?;
    }
    Ok(map)
}

fn success_codes(m: &ArgMatches, env: &Env) -> Result<Vec<u8>, CliError> {
    let (src, codes) = list_or_env(m, "success-exit", env, "PIDONE_SUCCESS_EXIT")?;
    codes
        .iter()
        .map(|c| parse_exit_code(c).map_err(|e| CliError(format!("{src}{e}"))))
        .collect()
}

/// A repeatable option's values, or else the variable's, split on commas and
/// spaces. The first item says where they came from, as an error prefix:
/// empty for flags (whose errors quote the flag's value), `VAR: ` for a
/// variable.
fn list_or_env(
    m: &ArgMatches,
    id: &str,
    env: &Env,
    var: &str,
) -> Result<(String, Vec<String>), CliError> {
    if let Some(values) = m.get_many::<String>(id) {
        return Ok((String::new(), values.cloned().collect()));
    }
    let values = env
        .text(var)?
        .map(|v| {
            v.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok((format!("{var}: "), values))
}

fn verbosity(m: &ArgMatches, env: &Env) -> Result<u8, CliError> {
    let count = m.get_count("verbose");
    if count > 0 {
        return Ok(count);
    }
    let level = |name: &str| -> Result<Option<u8>, CliError> {
        match env.text(name)? {
            None => Ok(None),
            Some(v) if v.is_empty() => Ok(Some(0)),
            Some(v) => v
                .trim()
                .parse::<u8>()
                .map(Some)
                .map_err(|_| CliError(format!("{name}='{}' is not a number", printable(&v)))),
        }
    };
    if let Some(n) = level("PIDONE_VERBOSE")? {
        return Ok(n);
    }
    // tini counts from 1 (its default, warnings); pidone from 0.
    if let Some(n) = level("TINI_VERBOSITY")? {
        return Ok(n.saturating_sub(1));
    }
    if env.boolean("DUMB_INIT_DEBUG")? == Some(true) {
        return Ok(2);
    }
    Ok(0)
}

/// An exit code, 0 to 255.
pub fn parse_exit_code(text: &str) -> Result<u8, CliError> {
    let shown = printable(text);
    match text.trim().parse::<u32>() {
        Ok(n) if n <= 255 => Ok(n as u8),
        Ok(_) => Err(CliError(format!(
            "invalid exit code '{shown}': out of range 0-255"
        ))),
        Err(_) => Err(CliError(format!(
            "invalid exit code '{shown}': not a number 0-255"
        ))),
    }
}

/// `500ms`, `3s`, `1m`, `1h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let shown = printable(text);
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    if digits.is_empty() {
        return Err(format!(
            "invalid duration '{shown}': expected a number and a unit (500ms, 3s, 1m)"
        ));
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("invalid duration '{shown}': number too large"))?;
    let millis_per = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => {
            return Err(format!(
                "invalid duration '{shown}': unknown unit '{}' (use ms, s, m or h)",
                printable(unit)
            ))
        }
    };
    n.checked_mul(millis_per)
        .filter(|&ms| ms <= 365 * 24 * 3_600_000)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("invalid duration '{shown}': longer than a year"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn run_with(args: &[&str], vars: &[(&str, &str)]) -> Result<Parsed, CliError> {
        let vars: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        let mut argv = vec![OsString::from("pidone")];
        argv.extend(args.iter().map(OsString::from));
        parse(argv, |name| vars.get(name).cloned())
    }

    fn config(args: &[&str], vars: &[(&str, &str)]) -> Config {
        match run_with(args, vars) {
            Ok(Parsed::Run(c)) => *c,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn error(args: &[&str], vars: &[(&str, &str)]) -> String {
        match run_with(args, vars) {
            Err(e) => e.0,
            other => panic!("{args:?} should fail: {other:?}"),
        }
    }

    #[test]
    fn option_parsing_stops_at_the_command() {
        let c = config(&["sh", "-c", "exit 3"], &[]);
        assert_eq!(c.command, ["sh", "-c", "exit 3"]);
        assert_eq!(c.forward, Target::Group);
        let c = config(&["-v", "--", "ls", "-v", "--", "x"], &[]);
        assert_eq!(c.command, ["ls", "-v", "--", "x"]);
        assert_eq!(c.verbosity, 1);
        let c = config(&["--", "-weird-name"], &[]);
        assert_eq!(c.command, ["-weird-name"]);
    }

    #[test]
    fn defaults() {
        let c = config(&["true"], &[]);
        assert_eq!(c.grace, DEFAULT_GRACE);
        assert!(c.rewrite.is_identity());
        assert!(!c.subreaper && !c.warn_orphans && !c.pause);
        assert_eq!(c.parent_death_signal, None);
        assert!(c.success_codes.is_empty());
    }

    #[test]
    fn no_command_prints_usage_to_stderr_with_code_2() {
        match run_with(&[], &[]) {
            Ok(Parsed::Print {
                text,
                to_stderr,
                code,
            }) => {
                assert!(to_stderr);
                assert_eq!(code, 2);
                assert!(text.contains("Usage:"), "{text}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_option_is_one_line() {
        let e = error(&["--bogus", "true"], &[]);
        assert!(e.contains("--bogus"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn version_has_the_shape_docker_parses() {
        match run_with(&["-V"], &[]) {
            Ok(Parsed::Print {
                text,
                to_stderr: false,
                code: 0,
            }) => {
                assert!(text.starts_with("pidone version 0."), "{text}");
                let git = text.trim_end().rsplit(" - git.").next().unwrap();
                assert!(git == "unknown" || git.len() == 7, "{text}");
                assert_eq!(text.lines().count(), 1);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn help_and_license_go_to_stdout() {
        for args in [&["-h"][..], &["--help"], &["-l"], &["-L"], &["--license"]] {
            match run_with(args, &[]) {
                Ok(Parsed::Print {
                    to_stderr: false,
                    code: 0,
                    ..
                }) => {}
                other => panic!("{args:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn forward_targets_from_flags_and_variables() {
        assert_eq!(config(&["-c", "x"], &[]).forward, Target::Child);
        assert_eq!(config(&["--single-child", "x"], &[]).forward, Target::Child);
        assert_eq!(config(&["-g", "x"], &[]).forward, Target::Group);
        assert_eq!(config(&["--forward", "all", "x"], &[]).forward, Target::All);
        assert_eq!(
            config(&["x"], &[("PIDONE_FORWARD", "all")]).forward,
            Target::All
        );
        assert_eq!(
            config(&["--forward=child", "x"], &[("PIDONE_FORWARD", "all")]).forward,
            Target::Child
        );
        assert_eq!(
            config(&["x"], &[("PIDONE_SINGLE_CHILD", "1")]).forward,
            Target::Child
        );
        assert_eq!(
            config(&["x"], &[("PIDONE_SINGLE_CHILD", "0")]).forward,
            Target::Group
        );
        assert_eq!(
            config(&["x"], &[("DUMB_INIT_SETSID", "0")]).forward,
            Target::Child
        );
        assert_eq!(
            config(&["x"], &[("DUMB_INIT_SETSID", "1")]).forward,
            Target::Group
        );
        assert_eq!(
            config(&["x"], &[("TINI_KILL_PROCESS_GROUP", "1")]).forward,
            Target::Group
        );
        assert!(error(&["--forward", "some", "x"], &[]).contains("'some'"));
    }

    #[test]
    fn forward_flags_beat_variables_and_pidones_variables_beat_the_peers() {
        assert!(error(&["x"], &[("TINI_KILL_PROCESS_GROUP", "yes please")])
            .contains("TINI_KILL_PROCESS_GROUP"));
        assert_eq!(
            config(&["-g", "x"], &[("PIDONE_FORWARD", "child")]).forward,
            Target::Group
        );
        assert_eq!(
            config(&["-c", "x"], &[("PIDONE_FORWARD", "all")]).forward,
            Target::Child
        );
        assert_eq!(
            config(
                &["x"],
                &[("PIDONE_SINGLE_CHILD", "0"), ("DUMB_INIT_SETSID", "0")]
            )
            .forward,
            Target::Group
        );
    }

    #[test]
    fn booleans_off_when_zero_false_or_empty() {
        for off in ["0", "false", "", "no", "OFF"] {
            assert!(
                !config(&["x"], &[("TINI_SUBREAPER", off)]).subreaper,
                "{off:?}"
            );
        }
        for on in ["1", "true", "yes", "On"] {
            assert!(
                config(&["x"], &[("TINI_SUBREAPER", on)]).subreaper,
                "{on:?}"
            );
        }
        assert!(config(&["x"], &[("PIDONE_SUBREAPER", "1")]).subreaper);
        assert!(
            !config(
                &["x"],
                &[("PIDONE_SUBREAPER", "0"), ("TINI_SUBREAPER", "1")]
            )
            .subreaper
        );
        assert!(config(&["-s", "x"], &[("PIDONE_SUBREAPER", "0")]).subreaper);
        assert!(config(&["x"], &[("PIDONE_WARN_ORPHANS", "yes")]).warn_orphans);
        let e = error(&["x"], &[("PIDONE_SUBREAPER", "maybe")]);
        assert!(e.contains("PIDONE_SUBREAPER") && e.contains("maybe"), "{e}");
    }

    #[test]
    fn rewrite_from_flags_or_variable() {
        let c = config(
            &["-r", "TERM:QUIT", "--rewrite", "15:3", "-r", "USR1:0", "x"],
            &[],
        );
        assert_eq!(c.rewrite.apply(libc::SIGTERM), Some(libc::SIGQUIT));
        assert_eq!(c.rewrite.apply(libc::SIGUSR1), None);
        let c = config(&["x"], &[("PIDONE_REWRITE", "TERM:QUIT, INT:QUIT")]);
        assert_eq!(c.rewrite.apply(libc::SIGINT), Some(libc::SIGQUIT));
        let c = config(&["-r", "HUP:USR1", "x"], &[("PIDONE_REWRITE", "TERM:QUIT")]);
        assert_eq!(c.rewrite.apply(libc::SIGTERM), Some(libc::SIGTERM));
        for bad in [
            ":",
            "TERM:",
            "FOO:TERM",
            "99:1",
            "TERM:QUIT:HUP",
            "KILL:TERM",
        ] {
            let e = error(&["-r", bad, "x"], &[]);
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn success_codes_and_bad_values() {
        assert_eq!(
            config(&["-e", "143", "-e", "0", "x"], &[]).success_codes,
            [143, 0]
        );
        assert_eq!(
            config(&["x"], &[("PIDONE_SUCCESS_EXIT", "1,2")]).success_codes,
            [1, 2]
        );
        assert!(error(&["-e", "256", "x"], &[]).contains("'256'"));
        assert!(error(&["-e", "x", "x"], &[]).contains("'x'"));
        assert!(error(&["-e", "-1", "x"], &[]).contains("'-1'"));
        assert!(
            error(&["x"], &[("PIDONE_SUCCESS_EXIT", "300")]).starts_with("PIDONE_SUCCESS_EXIT: ")
        );
        assert!(error(&["x"], &[("PIDONE_REWRITE", "FOO:TERM")]).starts_with("PIDONE_REWRITE: "));
    }

    #[test]
    fn parent_death_signal() {
        assert_eq!(
            config(&["-p", "SIGKILL", "x"], &[]).parent_death_signal,
            Some(9)
        );
        assert_eq!(
            config(&["x"], &[("PIDONE_PARENT_DEATH_SIGNAL", "term")]).parent_death_signal,
            Some(15)
        );
        assert!(error(&["-p", "FOO", "x"], &[]).contains("'FOO'"));
    }

    #[test]
    fn verbosity_from_flags_and_peers() {
        assert_eq!(config(&["-vv", "x"], &[]).verbosity, 2);
        assert_eq!(config(&["-v", "-v", "-v", "x"], &[]).verbosity, 3);
        assert_eq!(config(&["x"], &[("TINI_VERBOSITY", "3")]).verbosity, 2);
        assert_eq!(config(&["x"], &[("TINI_VERBOSITY", "1")]).verbosity, 0);
        assert_eq!(config(&["x"], &[("DUMB_INIT_DEBUG", "1")]).verbosity, 2);
        assert_eq!(config(&["x"], &[("PIDONE_VERBOSE", "1")]).verbosity, 1);
        assert_eq!(
            config(&["x"], &[("PIDONE_LOG", "debug")])
                .log_spec
                .as_deref(),
            Some("debug")
        );
        assert!(error(&["x"], &[("TINI_VERBOSITY", "lots")]).contains("TINI_VERBOSITY"));
    }

    #[test]
    fn pause_mode() {
        let c = config(&["-P"], &[]);
        assert!(c.pause && c.command.is_empty());
        assert!(config(&[], &[("PIDONE_PAUSE", "1")]).pause);
        assert!(error(&["-P", "sleep", "1"], &[]).contains("pause"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in [
            "-1",
            "5x",
            "",
            "ms",
            "1.5s",
            "99999999999999999999s",
            "999999999h",
            "s5",
        ] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains(&format!("'{bad}'")), "{bad}: {e}");
        }
        assert_eq!(
            config(&["--grace", "250ms", "x"], &[]).grace,
            Duration::from_millis(250)
        );
        assert_eq!(
            config(&["x"], &[("PIDONE_GRACE", "1s")]).grace,
            Duration::from_secs(1)
        );
        assert!(error(&["--grace", "5x", "x"], &[]).starts_with("--grace: invalid duration '5x'"));
    }
}
