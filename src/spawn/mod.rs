//! Starting the main child, and letting go of what pidone inherited for it.
//! This is the parent's side of the fork; `exec` is the child's side.
//!
//! The child gets everything it needs built before the fork, ends in exec,
//! and reports an exec failure as an errno over a close-on-exec pipe, so
//! pidone can say what went wrong instead of guessing from an exit code.
//! pidone never starts a thread, which is what makes the fork sound.
//!
//! pidone moves to `/` before the fork and closes the descriptors it
//! inherited right after it: the child goes back to the caller's directory
//! itself (fchdir(2) on a descriptor opened before), so pidone pins no
//! directory, mount, file or socket, even for a moment.
#![allow(unsafe_code)]

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fmt;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::unistd::{self, ForkResult};

mod exec;

use exec::{exec_child, restore_signals, Plan};

use crate::cli::Config;
use crate::jobctl::Terminal;
use crate::signals::{printable, Blocked};
use crate::sys;
use crate::targets::Process;
use crate::user::UserError;

/// What the child does before exec, in this order: go back to the caller's
/// working directory, then become the user (after setuid, setgroups and
/// setgid are refused) and give up gaining privileges. Step k failing is
/// reported instead of a candidate's index as `-1 - k`.
const STEPS: [&str; 5] = [
    "fchdir",
    "setgroups",
    "setgid",
    "setuid",
    "PR_SET_NO_NEW_PRIVS",
];

/// The main child, as started.
#[derive(Debug)]
pub(crate) struct Started {
    /// The child itself; its pid is also its process group's id.
    pub process: Process,
    /// Where it stands towards pidone's terminal, for job control.
    pub terminal: Terminal,
}

/// Why the child could not be started.
#[derive(Debug)]
pub enum SpawnError {
    /// An argument or variable holds a NUL byte, which exec cannot pass.
    Nul(&'static str),
    /// pipe(2) failed.
    Pipe(Errno),
    /// fork(2) failed.
    Fork(Errno),
    /// The child could not go back to the caller's working directory.
    Cwd {
        /// The command, escaped for one line.
        command: String,
        /// Why fchdir(2) failed.
        errno: Errno,
    },
    /// The command cannot run as `--user` says (exit code 2, before the
    /// fork), or the child's setgroups, setgid, setuid or prctl failed
    /// (125, reported over the pipe).
    User {
        /// The command, escaped for one line.
        command: String,
        /// The `--user` spec, if one was given.
        user: Option<String>,
        /// What went wrong.
        error: UserError,
    },
    /// exec failed in the child; `errno` came back over the pipe.
    Exec {
        /// The command, escaped for one line.
        command: String,
        /// The file exec tried, when a PATH search found one.
        path: Option<String>,
        /// Why it could not run: ENOENT (not found), EACCES, EISDIR, ...
        errno: Errno,
    },
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::Nul(what) => {
                write!(f, "cannot run the command: {what} contains a NUL byte")
            }
            SpawnError::Pipe(e) => write!(f, "failed to create a pipe: {}", e.desc()),
            SpawnError::Fork(Errno::EAGAIN) => f.write_str(
                "failed to fork: the process limit is reached (RLIMIT_NPROC, or the pids cgroup's pids.max)",
            ),
            SpawnError::Fork(e) => write!(f, "failed to fork: {}", e.desc()),
            SpawnError::Cwd { command, errno } => write!(
                f,
                "cannot run '{command}': cannot return to the working directory: {}",
                errno.desc()
            ),
            SpawnError::User { command, user, error } => {
                let who = user.as_deref().map(|u| format!(" as user '{}'", printable(u)));
                write!(f, "cannot run '{command}'{}: {error}", who.unwrap_or_default())
            }
            SpawnError::Exec { command, path, errno } => {
                let path = path.as_deref().map(|p| format!(" ({p})"));
                write!(f, "cannot run '{command}'{}: {}", path.unwrap_or_default(), errno.desc())
            }
        }
    }
}

impl std::error::Error for SpawnError {}

impl SpawnError {
    /// 127 when the command was not found, 126 when it was found but could
    /// not run, as shells and Docker report them; 2 for a `--user` that
    /// cannot be resolved (bad input); 125 when pidone itself failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            SpawnError::User { error, .. } if !matches!(error, UserError::Refused(..)) => 2,
            SpawnError::Exec { errno, .. } if *errno == Errno::ENOENT => 127,
            SpawnError::Exec { .. } => 126,
            _ => 125,
        }
    }

    /// Running the command as `config.user` (or without new privileges)
    /// failed.
    fn user(config: &Config, error: UserError) -> SpawnError {
        let (command, user) = (shown(&config.command), config.user.clone());
        SpawnError::User {
            command,
            user,
            error,
        }
    }
}

/// Starts `command` with the signal state pidone was given, in its own
/// process group, in the terminal's foreground if pidone held it, in the
/// working directory pidone was started in. pidone itself is in `/` and
/// holds none of its inherited descriptors afterwards (see
/// [`release_inherited`]), whether or not the child could start.
pub(crate) fn spawn(config: &Config, blocked: Blocked) -> Result<Started, SpawnError> {
    let mut plan = Plan::new(config, blocked)?;
    let (read_end, write_end) = unistd::pipe2(OFlag::O_CLOEXEC).map_err(SpawnError::Pipe)?;
    plan.cwd = leave_cwd();
    let process = fork_exec(&mut plan, write_end.as_raw_fd()).map(Process::own);
    // The child has its own copies (or none is coming). The directory is
    // closed by number: with stdio closed it may be 0, 1 or 2, which
    // release_inherited keeps.
    if let Some(cwd) = plan.cwd.take() {
        let _ = unistd::close(cwd);
    }
    drop(write_end);
    let pidfd = process.as_ref().ok().and_then(Process::pidfd);
    release_inherited(&[read_end.as_raw_fd(), pidfd.unwrap_or(-1)]);
    let process = process.map_err(SpawnError::Fork)?;
    if let Some((errno, index)) = read_report(read_end) {
        // The child has _exit'ed (or is about to): collect it now so it
        // never shows up as a zombie or an orphan.
        let _ = sys::wait(process.pid, 0);
        return Err(failure(config, &plan, errno, index));
    }
    let terminal = plan.terminal;
    Ok(Started { process, terminal })
}

/// What the child reported, as an error: the step that failed (returning
/// to the directory, becoming the user, exec of which candidate) and why.
fn failure(config: &Config, plan: &Plan, errno: Errno, index: i32) -> SpawnError {
    let command = shown(&config.command);
    match usize::try_from(-1 - index).ok().and_then(|k| STEPS.get(k)) {
        Some(&"fchdir") => SpawnError::Cwd { command, errno },
        Some(call) => SpawnError::user(config, UserError::Refused(call, errno)),
        None => {
            // The file exec found, where a PATH search made it other than
            // the command as given.
            let path = usize::try_from(index).map(|i| plan.candidates.get(i));
            let path = path.ok().flatten().map(|p| printable(&p.to_string_lossy()));
            let path = path.filter(|p| errno != Errno::ENOENT && *p != command);
            SpawnError::Exec {
                command,
                path,
                errno,
            }
        }
    }
}

/// The command's name as messages show it: escaped, on one line.
fn shown(command: &[OsString]) -> String {
    let name = command.first().map(|c| c.to_string_lossy());
    printable(&name.unwrap_or_default())
}

/// Forks the child, which runs `exec_child` in its own copy of pidone's
/// memory: nothing it does can touch pidone's. Its pidfd is taken after,
/// with pidfd_open (see `Process::own`), not with CLONE_PIDFD: one way to
/// start, whatever a sandbox refuses.
fn fork_exec(plan: &mut Plan, report: RawFd) -> Result<i32, Errno> {
    // SAFETY: pidone has no other thread, and the child runs only
    // `exec_child`, which makes async-signal-safe calls and ends in exec or
    // _exit.
    match unsafe { unistd::fork() }? {
        // SAFETY: we are the freshly forked child; exec_child never returns.
        ForkResult::Child => unsafe { exec_child(plan, report) },
        ForkResult::Parent { child } => Ok(child.as_raw()),
    }
}

/// Opens the working directory (O_PATH: no permission needed, nothing read)
/// for the child to return to, and moves pidone to `/`. `None` if the
/// directory cannot be held: then pidone stays where it is rather than lose
/// the child's directory.
fn leave_cwd() -> Option<RawFd> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let cwd = nix::fcntl::open(".", flags, Mode::empty()).map_err(Errno::desc);
    match &cwd {
        Ok(_) => to_root(),
        Err(e) => log::warn!("cannot hold the working directory ({e}): pidone stays in it"),
    }
    cwd.ok()
}

fn to_root() {
    if let Err(e) = unistd::chdir("/") {
        log::warn!("failed to change directory to /: {}", e.desc());
    }
}

/// Lets go of the caller's working directory and of every descriptor above
/// stderr but `keep`, when pidone starts no command itself (pause mode, the
/// self-init entry).
pub(crate) fn let_go(keep: &[RawFd]) {
    to_root();
    release_inherited(keep);
}

/// Lets go of what pidone inherited: every descriptor above stderr except
/// `keep` and pidone's own stderr description. The child (if any) has its
/// own copies; pidone pins no file, socket or pipe end of the caller's.
///
/// close_range(2) (Linux 5.9) closes the gaps between the kept ones; older
/// kernels get one close(2) per descriptor /proc lists, or per number up to
/// the descriptor limit where /proc is missing.
pub(crate) fn release_inherited(keep: &[RawFd]) {
    let own = crate::logging::own_fd();
    let keep = keep.iter().copied().chain(own).filter(|&fd| fd > 2);
    let keep: BTreeSet<u32> = keep.filter_map(|fd| u32::try_from(fd).ok()).collect();
    let (mut first, mut closed) = (3, true);
    for &fd in &keep {
        closed = closed && (fd == first || sys::close_range(first, fd - 1).is_ok());
        first = fd + 1;
    }
    if closed && sys::close_range(first, u32::MAX).is_ok() {
        return;
    }
    let listed = std::fs::read_dir("/proc/self/fd").into_iter().flatten();
    let listed: Vec<u32> = listed
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    // Without /proc, every number up to the descriptor limit.
    let unlisted = 3..listed.is_empty().then(sys::descriptor_limit).unwrap_or(3);
    for fd in listed.into_iter().chain(unlisted) {
        if fd > 2 && !keep.contains(&fd) {
            let _ = unistd::close(fd as RawFd);
        }
    }
}

/// Blocks until exec succeeds (EOF: the pipe closed on exec) or the child
/// reports why it failed: its errno and which step or candidate it was.
fn read_report(pipe: OwnedFd) -> Option<(Errno, i32)> {
    let mut buf = [0u8; 8];
    std::fs::File::from(pipe).read_exact(&mut buf).ok()?;
    let (errno, index) = buf.split_at(4);
    let word = |b: &[u8]| i32::from_ne_bytes(b.try_into().unwrap_or_default());
    Some((Errno::from_raw(word(errno)), word(index)))
}

/// Forks the calling program itself, for the self-init entry: `None` in the
/// child, which goes on as the program in a group of its own with its
/// signal state back; the child's handle in the parent, which has moved to
/// `/` and closed every descriptor above stderr (the program's files and
/// sockets stay the child's alone). When fork fails, the program's signal
/// state is back as it was before `blocked`.
pub(crate) fn fork_program(blocked: Blocked) -> Result<Option<Started>, Errno> {
    let terminal = Terminal::now();
    // SAFETY: the caller checked that the process has one thread; the
    // child only returns into the program, which is sound without others.
    let forked = unsafe { unistd::fork() }.inspect_err(|_| restore_signals(blocked))?;
    match forked {
        ForkResult::Child => {
            terminal.enter();
            restore_signals(blocked);
            Ok(None)
        }
        ForkResult::Parent { child } => {
            let process = Process::own(child.as_raw());
            let_go(&[process.pidfd().unwrap_or(-1)]);
            Ok(Some(Started { process, terminal }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_shells() {
        let exec = |errno| SpawnError::Exec {
            command: "x".into(),
            path: None,
            errno,
        };
        assert_eq!(exec(Errno::ENOENT).exit_code(), 127);
        assert_eq!(exec(Errno::EACCES).exit_code(), 126);
        assert_eq!(exec(Errno::EISDIR).exit_code(), 126);
        assert_eq!(exec(Errno::ENOEXEC).exit_code(), 126);
        assert_eq!(SpawnError::Fork(Errno::EAGAIN).exit_code(), 125);
        assert_eq!(
            exec(Errno::ENOENT).to_string(),
            "cannot run 'x': No such file or directory"
        );
    }
}
