//! pidone runs one command as PID 1 of a container: it forwards every signal
//! it receives to the command (optionally rewritten), reaps every zombie
//! re-parented to it, drains what is left when the command exits, and exits
//! with the command's status.
//!
//! As a library it offers the same, for a Rust program that wants to be its
//! own init: call [`init_self`] first thing in `main`. The rest of the
//! public surface is what the `pidone` binary is made of: [`cli::parse`]
//! reads a command line into a [`Config`] (pure), [`block_all`] blocks every
//! signal, [`run`] runs a command to its end, [`main`] does all of it.
//!
//! Inside, module by module: `supervise` is the event loop (start there);
//! `spawn` starts the child and lets go of what pidone inherited; `reap`
//! collects children; `targets` decides who a forwarded signal reaches and
//! holds each by a pidfd; `jobctl` is terminal job control; `logging` is
//! pidone's own output, which never blocks; `procfs` reads /proc; `sys`
//! holds the raw system calls nix does not offer.

#![deny(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod cli;
mod error;
mod jobctl;
mod logging;
mod procfs;
mod reap;
mod selfinit;
pub mod signals;
mod spawn;
mod supervise;
mod sys;
mod targets;
mod user;

use std::ffi::OsString;

pub use cli::Config;
pub use error::Error;
pub use selfinit::{init_self, SelfInitError};
pub use signals::{block_all, Blocked};
pub use spawn::SpawnError;
pub use targets::Target;
pub use user::UserError;

/// The `pidone` binary, from argv to exit code: prepares pidone's own
/// stderr, parses `args` (`argv[0]` first) and the environment, prints help or
/// the version, sets up logging, runs the command to its end. Every fatal
/// error is printed here, once, as `pidone: <error>`, whatever the log level.
///
/// Side effects: those of [`run`]. Call it only from a process that has no
/// other thread, with `blocked` from [`block_all`] called first.
pub fn main(args: Vec<OsString>, blocked: Blocked) -> u8 {
    logging::open_stderr();
    match try_main(args, blocked) {
        Ok(code) => code,
        Err(err) => {
            logging::print_error(&err);
            err.exit_code()
        }
    }
}

fn try_main(args: Vec<OsString>, blocked: Blocked) -> Result<u8, Error> {
    // One pass over the environment for the variables pidone reads (the
    // option table names them), not a scan of it per variable.
    let vars: Vec<(&[u8], &std::ffi::OsStr)> = sys::environment()
        .filter_map(|entry| {
            let entry = entry.to_bytes();
            let eq = entry.iter().position(|&b| b == b'=')?;
            let (name, value) = (&entry[..eq], &entry[eq + 1..]);
            cli::variables()
                .any(|ours| ours.as_bytes() == name)
                .then(|| (name, std::os::unix::ffi::OsStrExt::from_bytes(value)))
        })
        .collect();
    let lookup = |name: &str| {
        vars.iter()
            .find(|(n, _)| *n == name.as_bytes())
            .map(|(_, v)| v.to_os_string())
    };
    let config = match cli::parse(args, lookup)? {
        cli::Parsed::Run(config) => config,
        cli::Parsed::Print(text) => {
            logging::print_stdout(&text);
            return Ok(0);
        }
    };
    logging::init(config.verbosity, config.log_spec.as_deref());
    run(&config, blocked)
}

/// Runs `config` as an init: starts the command, forwards signals, reaps,
/// drains, and returns the exit code to end with (after `-e`).
///
/// Side effects: registers as child subreaper unless PID 1; moves the
/// process to `/` (the command still starts in the current directory);
/// closes every descriptor above 2 it did not open itself; as PID 1, sends
/// `kill(-1, SIGTERM)` and `kill(-1, SIGKILL)` to the whole PID namespace
/// when the command exits (unless `config.drain` is off); returns only once
/// no child is left. `blocked` proves every signal is blocked; pidone's
/// logging must have been set up by [`main`] for diagnostics to appear.
pub fn run(config: &Config, blocked: Blocked) -> Result<u8, Error> {
    if config.command.is_empty() && !config.pause {
        return Err(cli::UsageError(cli::NO_COMMAND.to_owned()).into());
    }
    Ok(supervise::run(config, blocked)?)
}

/// pidone's command line as clap defines it, for generating the man page.
#[doc(hidden)]
pub fn command_line() -> clap::Command {
    cli::command()
}
