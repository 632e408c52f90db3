//! pidone.1, the man page, made from the clap definition the binary parses
//! with (`pidone::command_line()`), so its options are `--help`'s options.
//!
//! clap_mangen renders the name, synopsis, description and options; each
//! option gets its variable here (`Arg::env`, only for the rendering: the
//! binary reads the environment in `cli::parse`). The sections clap knows
//! nothing of (every variable, exit status, signals) are written below. The
//! tests at the end fail when an option has no decision about its variable,
//! when a variable named here is not read anywhere under `src/`, or when
//! the exit codes `--help` names are missing from EXIT STATUS.

use std::io::{self, Write};

use clap::Command;
use clap_mangen::Man;
use pidone::cli::VARIABLES;

/// Each option of pidone's command line and the variable that sets it
/// (None: the option has none). Every option must be listed.
pub const OPTION_VARIABLES: &[(&str, Option<&str>)] = &[
    ("command", None),
    ("forward", Some("PIDONE_FORWARD")),
    ("single-child", Some("PIDONE_SINGLE_CHILD")),
    ("group", None),
    ("rewrite", Some("PIDONE_REWRITE")),
    ("grace", Some("PIDONE_GRACE")),
    ("subreaper", Some("PIDONE_SUBREAPER")),
    ("parent-death-signal", Some("PIDONE_PARENT_DEATH_SIGNAL")),
    ("success-exit", Some("PIDONE_SUCCESS_EXIT")),
    ("warn-orphans", Some("PIDONE_WARN_ORPHANS")),
    ("no-drain", Some("PIDONE_NO_DRAIN")),
    ("user", Some("PIDONE_USER")),
    ("no-new-privs", Some("PIDONE_NO_NEW_PRIVS")),
    ("pause", Some("PIDONE_PAUSE")),
    ("verbose", Some("PIDONE_VERBOSE")),
    ("version", None),
    ("license", None),
    ("help", None),
];

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
     pidone's variables beat tini's and dumb-init's.";

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
    for var in VARIABLES {
        item(w, var.name, var.meaning)?;
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
    for (id, variable) in OPTION_VARIABLES {
        if let Some(variable) = variable {
            cmd = cmd.mut_arg(*id, |arg| arg.env(*variable));
        }
    }
    cmd
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
    use std::path::Path;

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
    fn every_option_has_a_decision_about_its_variable() {
        let cmd = pidone::command_line();
        let ids: Vec<String> = cmd
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .chain(["help".to_owned()])
            .collect();
        for id in &ids {
            assert!(
                OPTION_VARIABLES.iter().any(|(known, _)| known == id),
                "option {id:?} of pidone::command_line() is missing from man::OPTION_VARIABLES"
            );
        }
        for (known, _) in OPTION_VARIABLES {
            assert!(
                ids.iter().any(|id| id == known),
                "man::OPTION_VARIABLES names {known:?}, which pidone::command_line() does not have"
            );
        }
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
            let variable = OPTION_VARIABLES.iter().find(|(k, _)| *k == id);
            if let Some((_, Some(variable))) = variable {
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

    /// Each variable listed is one pidone reads: its name is a string
    /// literal somewhere under src/ besides the table itself
    /// (src/cli/vars.rs).
    #[test]
    fn every_variable_in_the_page_is_read_by_pidone() {
        let mut sources = String::new();
        read_rust(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../src"),
            &mut sources,
        );
        for var in VARIABLES {
            assert!(
                sources.contains(&format!("\"{}\"", var.name)),
                "the man page lists {}, which no file under src/ reads",
                var.name
            );
        }
        for (_, variable) in OPTION_VARIABLES {
            if let Some(variable) = variable {
                assert!(
                    VARIABLES.iter().any(|var| var.name == *variable),
                    "{variable}"
                );
            }
        }
    }

    fn read_rust(dir: &Path, into: &mut String) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                read_rust(&path, into);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("cli/vars.rs")
            {
                into.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
}
