//! pidone runs one command as PID 1 of a container: it forwards every signal
//! it receives to the command (optionally rewritten), reaps every zombie
//! re-parented to it, drains what is left when the command exits, and exits
//! with the command's status.
//!
//! The flow, module by module: [`cli`] turns argv and the environment into a
//! [`Config`]; [`supervise::run`] spawns the child with [`spawn`] and loops on
//! signals, reaping with [`reap`] and forwarding through [`signals`] and
//! [`targets`]. [`sys`] holds the few raw system calls nix does not offer.

#![deny(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod cli;
pub mod logging;
pub mod reap;
pub mod signals;
pub mod spawn;
pub mod supervise;
pub mod sys;
pub mod targets;

pub use cli::Config;
pub use supervise::run;

/// The clap definition of pidone's command line, as `--help` prints it: for
/// `cargo xtask dist`, which writes the man page from it.
#[doc(hidden)]
pub fn command_line() -> clap::Command {
    cli::command()
}
