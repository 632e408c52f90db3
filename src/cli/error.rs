//! Why a command line or environment cannot be used: always exit code 2,
//! one line, naming what was wrong (escaped: a newline in a value never
//! breaks the line).

use std::ffi::OsString;
use std::fmt;

use super::values::ValueError;
use crate::signals::printable;

/// A command line or variable pidone cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageError {
    /// clap's own complaint (unknown option, missing value), shown by its
    /// first line.
    Syntax(String),
    /// No command, and not pause mode.
    NoCommand,
    /// Pause mode, set by `-P` or `PIDONE_PAUSE` (the first), with a command
    /// (its first word).
    PauseWithCommand(&'static str, OsString),
    /// A variable of pidone's is not UTF-8.
    NotUtf8(&'static str),
    /// A boolean or numeric variable of pidone's (the first) holds a value
    /// (the second) that is not one (the third: "not a boolean (...)").
    Variable(&'static str, String, &'static str),
    /// A value that does not read as what its option takes: where it came
    /// from (`--grace`, `PIDONE_GRACE`), and what is wrong with it.
    Value(&'static str, ValueError),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::Syntax(text) => {
                let first = text.lines().next().unwrap_or("invalid command line");
                let first = first.strip_prefix("error: ").unwrap_or(first);
                write!(f, "{} (see 'pidone --help')", printable(first))
            }
            UsageError::NoCommand => f.write_str(
                "no command given (usage: pidone [OPTIONS] [--] COMMAND [ARG]...; see 'pidone --help')",
            ),
            UsageError::PauseWithCommand(by, command) => {
                let command = printable(&command.to_string_lossy());
                write!(f, "{by} (pause mode) runs no command, but '{command}' was given")
            }
            UsageError::NotUtf8(name) => write!(f, "{name} is not valid UTF-8"),
            UsageError::Variable(name, value, not) => {
                write!(f, "{name}='{}' is {not}", printable(value))
            }
            UsageError::Value(origin, error) => write!(f, "{origin}: {error}"),
        }
    }
}

impl std::error::Error for UsageError {}

impl UsageError {
    /// The exit code for a usage error, as for tini and most Unix tools.
    pub fn exit_code(&self) -> u8 {
        2
    }
}
