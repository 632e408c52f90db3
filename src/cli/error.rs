//! Why a command line or environment cannot be used: always exit code 2,
//! one line, naming what was wrong (escaped: a newline in a value never
//! breaks the line).

use std::fmt;

/// A command line or variable pidone cannot use: the one line that says
/// what was wrong, written where it was found.
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
