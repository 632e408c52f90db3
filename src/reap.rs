//! Collecting children: `waitpid(-1, WNOHANG)` until nothing is ready, and
//! turning a wait status into an exit code.
//!
//! Never blocks and never signals anyone; `supervise` decides what an exit
//! means.

use log::Level::{Debug, Warn};
use nix::errno::Errno;

use crate::signals;
use crate::sys;

/// What a child's wait status says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Exited(i32),
    /// Ended by a signal.
    Signaled(i32),
    Stopped(i32),
    Continued,
}

impl Status {
    /// Decodes a raw status as wait(2)'s W* macros do.
    pub fn from_raw(raw: i32) -> Status {
        match raw {
            _ if libc::WIFEXITED(raw) => Status::Exited(libc::WEXITSTATUS(raw)),
            _ if libc::WIFSIGNALED(raw) => Status::Signaled(libc::WTERMSIG(raw)),
            _ if libc::WIFSTOPPED(raw) => Status::Stopped(libc::WSTOPSIG(raw)),
            _ => Status::Continued,
        }
    }

    /// The child's own exit code, or 128 plus the signal that killed it, as
    /// a shell's `$?`. `None` while it lives (stopped or continued).
    pub fn exit_code(self) -> Option<u8> {
        match self {
            Status::Exited(code) => Some(code as u8),
            Status::Signaled(signo) => Some((128 + signo).min(255) as u8),
            Status::Stopped(_) | Status::Continued => None,
        }
    }
}

/// What one pass of [`reap_ready`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reaped {
    /// The main child's last status change, if it had one.
    pub main: Option<Status>,
    /// pidone has no child left at all (ECHILD).
    pub none_left: bool,
    /// waitpid(2) failed for another reason: what is ready may not all
    /// have been collected, and no SIGCHLD will say so again.
    pub retry: bool,
}

/// Collects every child that has exited, not only the one that raised
/// SIGCHLD.
///
/// SIGCHLD does not queue: orphans dying together may raise it once, so this
/// calls waitpid(WNOHANG) until nothing is ready. The main child's stops and
/// continues are reported too, for job control; they are never taken for an
/// exit.
pub fn reap_ready(main: Option<i32>, warn_orphans: bool) -> Reaped {
    let mut reaped = Reaped::default();
    // Stops and continues are asked of the main child alone: waitpid(pid)
    // goes straight to one task, while WUNTRACED|WCONTINUED on waitpid(-1)
    // makes the kernel inspect every live child on every call, which is
    // what costs most when thousands of orphans exit at once.
    let changes = libc::WNOHANG | libc::WUNTRACED | libc::WCONTINUED;
    if let Some(Ok(Some((pid, raw)))) = main.map(|pid| sys::wait(pid, changes)) {
        reaped.main = Some(note_main(pid, raw));
    }
    loop {
        match sys::wait(-1, libc::WNOHANG) {
            Ok(Some((pid, raw))) if Some(pid) == main => reaped.main = Some(note_main(pid, raw)),
            Ok(Some((pid, raw))) => {
                let status = Status::from_raw(raw);
                let lvl = if warn_orphans { Warn } else { Debug };
                log::log!(lvl, "reaped orphan pid {pid}, which {}", describe(status));
            }
            Ok(None) => break,
            Err(Errno::ECHILD) => {
                reaped.none_left = true;
                break;
            }
            Err(Errno::EINTR) => continue,
            Err(e) => {
                log::warn!("waitpid failed: {}; trying again shortly", e.desc());
                reaped.retry = true;
                break;
            }
        }
    }
    reaped
}

/// The main child's status change, logged when it is the end.
fn note_main(pid: i32, raw: i32) -> Status {
    let status = Status::from_raw(raw);
    if status.exit_code().is_some() {
        log::info!("child pid {pid} {}", describe(status));
    }
    status
}

fn describe(status: Status) -> String {
    match status {
        Status::Exited(code) => format!("exited with {code}"),
        Status::Signaled(signo) => format!("was killed by {}", signals::name(signo)),
        Status::Stopped(signo) => format!("was stopped by {}", signals::name(signo)),
        Status::Continued => "was continued".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_as_a_shell_reports_them() {
        assert_eq!(Status::from_raw(3 << 8).exit_code(), Some(3));
        assert_eq!(Status::from_raw(255 << 8).exit_code(), Some(255));
        assert_eq!(Status::from_raw(libc::SIGKILL).exit_code(), Some(137));
        assert_eq!(
            Status::from_raw(libc::SIGSEGV | 0x80).exit_code(),
            Some(139)
        );
        assert_eq!(Status::from_raw(64).exit_code(), Some(192));
    }

    #[test]
    fn stops_and_continues_are_not_exits() {
        let stopped = (libc::SIGTSTP << 8) | 0x7f;
        assert_eq!(Status::from_raw(stopped), Status::Stopped(libc::SIGTSTP));
        assert_eq!(Status::from_raw(stopped).exit_code(), None);
        assert_eq!(Status::from_raw(0xffff), Status::Continued);
        assert_eq!(Status::Continued.exit_code(), None);
    }
}
