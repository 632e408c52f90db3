//! Why a command line or environment cannot be used: always exit code 2,
//! one line, naming what was wrong (escaped: a newline in a value never
//! breaks the line).

use std::fmt;

use super::values::ValueError;
use crate::signals::printable;

/// Where a value came from, for the error message: `--grace`, `PIDONE_GRACE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A command-line option, by the name it was given as.
    Flag(&'static str),
    /// An environment variable.
    Variable(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(name) | Origin::Variable(name) => f.write_str(name),
        }
    }
}

/// A command line or variable pidone cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageError {
    /// clap's own complaint (unknown option, missing value), first line.
    Syntax(String),
    /// No command, and not pause mode.
    NoCommand,
    /// Pause mode with a command.
    PauseWithCommand {
        /// `-P` or `PIDONE_PAUSE`.
        by: Origin,
        /// The command's first word.
        command: String,
    },
    /// A variable of pidone's is not UTF-8.
    NotUtf8 {
        /// The variable.
        name: &'static str,
    },
    /// A boolean variable holds something else.
    NotBoolean {
        /// The variable.
        name: &'static str,
        /// What it holds.
        value: String,
    },
    /// A numeric variable holds something else.
    NotNumber {
        /// The variable.
        name: &'static str,
        /// What it holds.
        value: String,
    },
    /// A value that does not read as what its option takes.
    Value {
        /// Where the value came from.
        origin: Origin,
        /// What is wrong with it.
        error: ValueError,
    },
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::Syntax(first_line) => {
                write!(f, "{} (see 'pidone --help')", printable(first_line))
            }
            UsageError::NoCommand => f.write_str(
                "no command given (usage: pidone [OPTIONS] [--] COMMAND [ARG]...; see 'pidone --help')",
            ),
            UsageError::PauseWithCommand { by, command } => write!(
                f,
                "{by} (pause mode) runs no command, but '{}' was given",
                printable(command)
            ),
            UsageError::NotUtf8 { name } => write!(f, "{name} is not valid UTF-8"),
            UsageError::NotBoolean { name, value } => write!(
                f,
                "{name}='{}' is not a boolean (use 1 or 0, true or false, yes or no, on or off)",
                printable(value)
            ),
            UsageError::NotNumber { name, value } => {
                write!(f, "{name}='{}' is not a number", printable(value))
            }
            UsageError::Value { origin, error } => write!(f, "{origin}: {error}"),
        }
    }
}

impl std::error::Error for UsageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            UsageError::Value { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl UsageError {
    /// The exit code for a usage error, as for tini and most Unix tools.
    pub fn exit_code(&self) -> u8 {
        2
    }
}
