//! pidone runs one command as PID 1 of a container: it forwards every signal
//! it receives to the command (optionally rewritten), reaps every zombie
//! re-parented to it, drains what is left when the command exits, and exits
//! with the command's status.
//!
//! As a library it offers the same to a Rust program that wants to be its
//! own init: call [`init_self`] first thing in `main`, with a [`Config`]
//! read from pidone's own options ([`Config::from_options`]). That, the
//! config and the error types are the public API; the rest is the `pidone`
//! binary's and hidden from the docs.
//!
//! Inside, module by module: `supervise` tells the story and runs the event
//! loop (start there); `cli` reads the one table of options; `spawn` starts
//! the child and lets go of what pidone inherited; `reap` collects
//! children; `targets` decides who a signal reaches and how; `jobctl` is
//! the terminal; `logging` is pidone's own output, which never blocks;
//! `procfs` reads /proc; `sys` holds the raw system calls nix does not
//! offer; `user` reads the image's users and groups.

#![deny(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod cli;
mod jobctl;
mod logging;
mod procfs;
mod reap;
mod reasons;
mod selfinit;
mod signals;
mod spawn;
mod supervise;
mod sys;
mod targets;
mod user;

pub use cli::{Config, UsageError};
pub use selfinit::{init_self, SelfInitError};
pub use spawn::SpawnError;
pub use targets::Target;
pub use user::UserError;

// What the binary, its xtask and its tests need, not an API.
#[doc(hidden)]
pub use cli::{command as command_line, parse, variables, Kind, Opt, Parsed, Peer, OPTIONS};
#[doc(hidden)]
pub use signals::{block_all, parse as parse_signal, printable, Blocked, Rewrite};
#[doc(hidden)]
pub use supervise::main;
