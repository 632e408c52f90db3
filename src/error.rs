//! The one error type of pidone's fatal paths: everything that can end
//! pidone before the command runs, with the exit code each is documented
//! to give. `main` prints it once, whatever the log level.

use std::fmt;

use crate::cli::UsageError;
use crate::spawn::SpawnError;

/// Why pidone could not run the command.
#[derive(Debug)]
pub enum Error {
    /// The command line or environment cannot be used (exit code 2).
    Usage(UsageError),
    /// The command could not be started (125, 126 or 127).
    Spawn(SpawnError),
}

impl Error {
    /// The exit code pidone ends with for this error (see the README).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(e) => e.exit_code(),
            Error::Spawn(e) => e.exit_code(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(e) => e.fmt(f),
            Error::Spawn(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Usage(e) => Some(e),
            Error::Spawn(e) => Some(e),
        }
    }
}

impl From<UsageError> for Error {
    fn from(e: UsageError) -> Error {
        Error::Usage(e)
    }
}

impl From<SpawnError> for Error {
    fn from(e: SpawnError) -> Error {
        Error::Spawn(e)
    }
}
