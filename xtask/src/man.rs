//! pidone.1, the man page, made from the clap definition the binary parses
//! with (`pidone::command_line()`), so its options are `--help`'s options,
//! and from pidone's table of options (`pidone::OPTIONS`), the one place
//! that names each option's variables and the rule each is read by.
//!
//! clap_mangen renders the name, synopsis, description and options; each
//! option gets its variable here (`Arg::env`, only for the rendering: the
//! binary reads the environment in `cli::parse`). ENVIRONMENT is written
//! from the table, each variable's meaning from its option's kind or its
//! peer's rule; exit status and signals are written below. The tests at the
//! end fail when an option or its variable is missing from the page, or when
//! the exit codes `--help` names are missing from EXIT STATUS.

use std::io::{self, Write};

use clap::Command;
use clap_mangen::Man;
use pidone::{Kind, Opt, Peer, OPTIONS};

/// EXIT STATUS: (code, when).
const EXIT_CODES: &[(&str, &str)] = &[
    ("the command's code", "The command exited with it (0 to 255)."),
    ("128+N", "Signal N killed the command (143 for SIGTERM, 137 for SIGKILL), as a shell's $?."),
    ("0", "The final code is one given with -e; or pause mode ended by SIGTERM or SIGINT."),
    ("2", "Usage error: unknown option, bad value or variable, no command, a --user the image's /etc/passwd and /etc/group cannot resolve. One line on stderr; no command started."),
    ("125", "pidone itself could not start the command (fork or pipe failed, it could not return to the working directory, or setgroups, setgid, setuid or PR_SET_NO_NEW_PRIVS failed in the child)."),
    ("126", "The command was found but cannot run (not executable, a directory)."),
    ("127", "The command was not found."),
];

const SIGNALS: &[&str] = &[
    "pidone blocks every signal and takes them one at a time; it installs no handler and starts no thread. \
     Every signal it receives is forwarded, rewritten first if --rewrite says so: HUP, INT, QUIT, USR1, USR2, \
     TERM, WINCH, ALRM, CONT, TSTP, the real-time signals, and SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, \
     SIGTRAP and SIGSYS when another process sends them with kill(1). A fault of pidone's own still ends it. \
     SIGCHLD means reap. SIGKILL and SIGSTOP cannot be caught by any process. SIGPIPE and SIGXFSZ raised by \
     pidone's own writes (their sender is pidone) are consumed, not forwarded.",
    "Processes are held by pidfd (Linux 5.3 and later) and signalled through it, so a reused pid never \
     gets a signal meant for the process that had it; older kernels fall back to kill(2).",
    "By default signals go to the command's process group, so a shell-form command (sh -c) stops as a whole.",
    "Real-time signals are named as on glibc systems: RTMIN is 34 and RTMAX is 64.",
    "When the command exits, every process left (as PID 1, every other process of the PID namespace; \
     otherwise pidone's own descendants) gets SIGTERM and --grace to end before SIGKILL. A SIGTERM or \
     SIGINT during the grace period ends the wait at once. With --no-drain pidone exits at once instead.",
];

const BOOLEANS: &str =
    "pidone's own boolean variables take 1, true, yes or on for on and 0, false, no, off or the \
     empty string for off; any other value is a usage error. A flag beats its variable; \
     pidone's variables beat tini's and dumb-init's. tini's TINI_KILL_PROCESS_GROUP is not \
     read: forwarding to the command's process group is pidone's default.";

/// The man page as roff.
pub fn page(version: &str) -> Vec<u8> {
    let cmd = with_variables(pidone::command_line());
    let man = Man::new(cmd)
        .title("PIDONE")
        .section("1")
        .source(format!("pidone {version}"))
        .manual("User Commands");
    let mut out = Vec::new();
    render(&man, &mut out).expect("writing to a Vec cannot fail");
    out
}

fn render(man: &Man, w: &mut Vec<u8>) -> io::Result<()> {
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    man.render_options_section(w)?;

    section(w, "ENVIRONMENT")?;
    for opt in OPTIONS {
        if let Some(variable) = opt.variable {
            item(w, variable, &own_meaning(opt))?;
        }
    }
    for opt in OPTIONS {
        for &(variable, rule) in opt.peers {
            item(w, variable, &peer_meaning(opt, variable, rule))?;
        }
    }
    paragraph(w, BOOLEANS)?;

    section(w, "EXIT STATUS")?;
    for (code, when) in EXIT_CODES {
        item(w, code, when)?;
    }

    section(w, "SIGNALS")?;
    for text in SIGNALS {
        paragraph(w, text)?;
    }

    section(w, "SEE ALSO")?;
    paragraph(
        w,
        "docker-run(1), kill(1), signal(7), pid_namespaces(7); the README of pidone.",
    )
}

/// The clap definition with each option's variable attached.
fn with_variables(cmd: Command) -> Command {
    let mut cmd = cmd;
    for opt in OPTIONS.iter().filter(|opt| !opt.id().is_empty()) {
        if let Some(variable) = opt.variable {
            cmd = cmd.mut_arg(opt.id(), |arg| arg.env(variable));
        }
    }
    cmd
}

/// What pidone's own variable of `opt` takes, from the option's kind.
fn own_meaning(opt: &Opt) -> String {
    let long = opt.long().unwrap_or_default();
    match opt.kind {
        _ if opt.flags.is_empty() => opt.help.to_owned(),
        Kind::Value(..) | Kind::OptionalValue(..) => format!("As {long}."),
        Kind::List(value, _) => {
            format!("As {long}; several {value} values separated by commas or spaces.")
        }
        Kind::Count(_) => format!("A number: how many times {}.", first_flag(opt)),
        _ => format!("A boolean; as {long}."),
    }
}

/// What a variable of tini or dumb-init means to pidone, from its rule.
fn peer_meaning(opt: &Opt, variable: &str, rule: Peer) -> String {
    let program = if variable.starts_with("TINI_") {
        "tini"
    } else {
        "dumb-init"
    };
    let flag = first_flag(opt);
    match rule {
        Peer::Set => format!("Set to any value, even 0 or empty: {flag}, as for {program}."),
        Peer::Exactly(value, times) => {
            let letter = flag.trim_start_matches('-');
            format!(
                "Exactly {value}: -{}, as for {program}; any other value is as if unset.",
                letter.repeat(usize::from(times))
            )
        }
        Peer::AtoiFrom1 => {
            format!("Read as atoi(3) reads it; N is N-1 times {flag}, as {program} counts.")
        }
    }
}

/// The option's first flag: `-v` for `-v, --verbose`.
fn first_flag(opt: &Opt) -> &'static str {
    opt.flags.split(", ").next().unwrap_or_default()
}

fn section(w: &mut Vec<u8>, title: &str) -> io::Result<()> {
    writeln!(w, ".SH \"{title}\"")
}

fn paragraph(w: &mut Vec<u8>, text: &str) -> io::Result<()> {
    writeln!(w, ".PP")?;
    writeln!(w, "{}", escape(text))
}

/// A tagged paragraph: the tag in bold, the text indented below it.
fn item(w: &mut Vec<u8>, tag: &str, text: &str) -> io::Result<()> {
    writeln!(w, ".TP")?;
    writeln!(w, "\\fB{}\\fR", escape(tag))?;
    writeln!(w, "{}", escape(text))
}

/// Text for roff: backslashes and hyphens escaped, no line taken for a
/// request (one that starts with `.` or `'`).
fn escape(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    if text.starts_with('.') || text.starts_with('\'') {
        format!("\\&{text}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page as plain words: roff escapes undone, requests dropped.
    fn plain(page: &[u8]) -> String {
        let text = String::from_utf8(page.to_vec()).unwrap();
        let text = text
            .replace("\\-", "-")
            .replace("\\fB", "")
            .replace("\\fI", "")
            .replace("\\fR", "")
            .replace("\\fP", "")
            .replace("\\&", "")
            .replace("\\*(Aq", "'")
            .replace("\\e", "\\");
        text.lines()
            .map(|l| l.strip_prefix(".TP").map_or(l, |_| ""))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn every_option_of_help_is_in_the_page_with_its_help_and_variable() {
        let page = plain(&page("0.0.0"));
        let mut cmd = pidone::command_line();
        cmd.build();
        for arg in cmd.get_arguments().filter(|a| !a.is_positional()) {
            let id = arg.get_id().as_str();
            if let Some(long) = arg.get_long() {
                assert!(
                    page.contains(&format!("--{long}")),
                    "no --{long} in:\n{page}"
                );
            }
            if let Some(short) = arg.get_short() {
                assert!(
                    page.contains(&format!("-{short}")),
                    "no -{short} in:\n{page}"
                );
            }
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(
                page.contains(&help),
                "no help of {id} ({help:?}) in:\n{page}"
            );
            let variable = OPTIONS.iter().find(|opt| opt.id() == id);
            if let Some(variable) = variable.and_then(|opt| opt.variable) {
                assert!(
                    page.matches(variable).count() >= 2,
                    "{variable} should be under its option and in ENVIRONMENT:\n{page}"
                );
            }
        }
        for heading in ["ENVIRONMENT", "EXIT STATUS", "SIGNALS"] {
            assert!(page.contains(&format!(".SH \"{heading}\"")), "no {heading}");
        }
    }

    #[test]
    fn the_exit_codes_help_names_are_in_exit_status() {
        let cmd = pidone::command_line();
        let after = cmd.get_after_help().map(|h| h.to_string()).unwrap();
        let page = plain(&page("0.0.0"));
        let status = &page[page.find("EXIT STATUS").unwrap()..];
        for word in after.split(|c: char| !c.is_ascii_alphanumeric() && c != '+') {
            if word.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                assert!(
                    status.contains(word),
                    "--help names {word}; EXIT STATUS lacks it"
                );
            }
        }
        for word in after.split(|c: char| !c.is_ascii_alphanumeric() && c != '_') {
            if word.starts_with("PIDONE_") {
                assert!(
                    page.contains(word),
                    "--help names {word}; the page lacks it"
                );
            }
        }
    }

    /// ENVIRONMENT lists every variable of the table, each once, and no
    /// other.
    #[test]
    fn environment_lists_each_variable_of_the_table() {
        let page = plain(&page("0.0.0"));
        let environment =
            &page[page.find("ENVIRONMENT\"").unwrap() + 13..page.find("EXIT STATUS").unwrap()];
        let listed: Vec<&str> = environment
            .lines()
            .filter(|l| {
                l.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && !l.contains(' ')
            })
            .collect();
        let mut expected: Vec<&str> = pidone::variables().collect();
        let mut got = listed;
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "{environment}");
    }
}
