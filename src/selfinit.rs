//! The self-init entry: a Rust program that is the only binary of its image
//! (`FROM scratch`) calls [`init_self`] first thing in `main` and gets
//! pidone's init for free, with no second binary and no wrapper script.
//!
//! As PID 1 the process forks: the parent becomes the init (forwards
//! signals, reaps orphans, drains, and exits with the child's status; it
//! never returns into the program), and the child returns from the call and
//! runs the program. Anywhere else the call returns at once. A fork is sound
//! only while the process has one thread, so a process that already has
//! more is refused and runs on as it is.

use std::fmt;

use crate::cli::Config;
use crate::{logging, signals, spawn, supervise};

/// Why [`init_self`] made no init; the program runs on as PID 1 without one.
#[derive(Debug)]
pub enum SelfInitError {
    /// The process has more than one thread (this many): forking it would
    /// leave the child with locks held by threads that do not exist there.
    Threads(usize),
    /// fork(2) failed.
    Fork(nix::errno::Errno),
    /// The config asks for something only the binary does: this field.
    Unused(&'static str),
}

impl fmt::Display for SelfInitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelfInitError::Threads(n) => write!(
                f,
                "cannot become the init: the process has {n} threads (call pidone::init_self before starting any)"
            ),
            SelfInitError::Fork(e) => write!(f, "cannot become the init: fork failed: {}", e.desc()),
            SelfInitError::Unused(field) => write!(
                f,
                "cannot become the init: Config::{field} is for the pidone binary, not init_self"
            ),
        }
    }
}

impl std::error::Error for SelfInitError {}

/// Makes the calling program its own init when it is PID 1. Returns `Ok` in
/// the process that goes on running the program.
///
/// Side effects, as PID 1: blocks every signal and forks. The parent sets
/// up pidone's logging on stderr (by `config.verbosity` and
/// `config.log_spec`), moves to `/`, closes every descriptor above 2, and
/// supervises the child as pidone supervises a command (`config.forward`,
/// `rewrite`, `grace`, `drain`, ... apply); it ends the process with the child's exit code and never
/// returns. The child gets back the signal mask and SIGCHLD disposition it
/// had, leads a process group of its own (taking the terminal's foreground
/// if the program held it), and returns. Anywhere else: registers as child
/// subreaper if `config.subreaper`, and returns. A config with a command,
/// pause mode, `user` or `no_new_privs` is refused
/// ([`SelfInitError::Unused`]): the program is the command.
///
/// ```no_run
/// use std::io::Write;
/// // First thing in `main`, before any thread is started:
/// if let Err(why) = pidone::init_self(&pidone::Config::default()) {
///     // Not an init (more threads already): the program runs on.
///     let _ = writeln!(std::io::stderr(), "{why}");
/// }
/// // The program, as PID 2 when it was started as PID 1.
/// ```
pub fn init_self(config: &Config) -> Result<(), SelfInitError> {
    let unused = [
        ("command", !config.command.is_empty()),
        ("pause", config.pause),
        ("user", config.user.is_some()),
        ("no_new_privs", config.no_new_privs),
    ];
    if let Some((field, _)) = unused.iter().find(|(_, set)| *set) {
        return Err(SelfInitError::Unused(field));
    }
    if std::process::id() != 1 {
        if config.subreaper {
            let _ = nix::sys::prctl::set_child_subreaper(true);
        }
        return Ok(());
    }
    match thread_count() {
        Some(n) if n > 1 => return Err(SelfInitError::Threads(n)),
        _ => {}
    }
    let blocked = signals::block_all();
    let child = match spawn::fork_program(blocked) {
        Ok(None) => return Ok(()),
        Ok(Some(child)) => child,
        Err(e) => return Err(SelfInitError::Fork(e)),
    };
    logging::open_stderr();
    logging::init(config.verbosity, config.log_spec.as_deref());
    let code = supervise::adopt(config, child);
    std::process::exit(i32::from(code))
}

/// The number of threads of this process, from /proc (`None` without it).
fn thread_count() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/task").ok()?.count())
}
