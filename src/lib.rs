//! pidone runs one command as PID 1 of a container: it forwards every signal
//! it receives to the command (optionally rewritten), reaps every zombie
//! re-parented to it, drains what is left when the command exits, and exits
//! with the command's status.
//!
//! The flow, module by module: [`cli`] turns argv and the environment into a
//! [`Config`]; `supervise` spawns the child with `spawn` and loops on
//! signals, reaping with `reap`, forwarding through `targets`, with terminal
//! job control in `jobctl`. `logging` is pidone's own output, `procfs` reads
//! /proc, `sys` holds the few raw system calls nix does not offer.

#![deny(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod cli;
mod jobctl;
mod logging;
mod procfs;
mod reap;
pub mod signals;
mod spawn;
mod supervise;
mod sys;
mod targets;

use std::ffi::OsString;

pub use cli::Config;
pub use signals::{block_all, Blocked};
pub use spawn::SpawnError;

/// What pidone's `main` does, from argv to exit code: prepares its own
/// stderr, parses `args` (argv[0] first) and the environment, prints help
/// or an error, sets up logging, runs the command to its end.
///
/// Side effects: everything [`run`] does; it must be called first thing in
/// a process that has no other thread, with `blocked` from [`block_all`].
pub fn main(args: Vec<OsString>, blocked: Blocked) -> u8 {
    logging::open_stderr();
    let config = match cli::parse(args, |name| std::env::var_os(name)) {
        Ok(cli::Parsed::Run(config)) => config,
        Ok(cli::Parsed::Print {
            text,
            to_stderr,
            code,
        }) => {
            if to_stderr {
                logging::print_error(&text.trim_end().trim_start_matches("pidone: "));
            } else {
                logging::print_stdout(&text);
            }
            return code;
        }
        Err(err) => {
            logging::print_error(&err);
            return err.exit_code();
        }
    };
    logging::init(config.verbosity, config.log_spec.as_deref());
    match run(&config, blocked) {
        Ok(code) => code,
        Err(err) => {
            logging::print_error(&err);
            err.exit_code()
        }
    }
}

/// Runs `config` as an init: starts the command, forwards signals, reaps,
/// drains, and returns the exit code to end with.
///
/// Side effects: registers as child subreaper unless PID 1; moves the
/// process to `/`; closes every descriptor above 2 it did not open itself;
/// as PID 1, may `kill(-1, SIGTERM)` and `kill(-1, SIGKILL)` when the
/// command exits. `blocked` proves every signal is blocked.
pub fn run(config: &Config, blocked: Blocked) -> Result<u8, SpawnError> {
    supervise::run(config, blocked)
}
