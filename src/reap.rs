//! Collecting children: `waitpid(-1, WNOHANG)` until nothing is ready, and
//! turning a wait status into an exit code.
//!
//! Never blocks and never signals anyone; `supervise` decides what an exit
//! means.

use std::time::Duration;

use nix::errno::Errno;

use crate::signals;
use crate::sys::{self, Mask};

/// What a child's wait status says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Exited(i32),
    Killed(i32),
    Stopped(i32),
    Continued,
}

impl Status {
    /// Decodes a raw status as wait(2)'s W* macros do.
    pub fn from_raw(raw: i32) -> Status {
        if libc::WIFEXITED(raw) {
            Status::Exited(libc::WEXITSTATUS(raw))
        } else if libc::WIFSIGNALED(raw) {
            Status::Killed(libc::WTERMSIG(raw))
        } else if libc::WIFSTOPPED(raw) {
            Status::Stopped(libc::WSTOPSIG(raw))
        } else {
            Status::Continued
        }
    }

    /// The child's own exit code, or 128 plus the signal that killed it, as
    /// a shell's `$?`. `None` while it lives (stopped or continued).
    pub fn exit_code(self) -> Option<u8> {
        match self {
            Status::Exited(code) => Some(code as u8),
            Status::Killed(signo) => Some((128 + signo).min(255) as u8),
            Status::Stopped(_) | Status::Continued => None,
        }
    }
}

/// What one pass of [`reap_ready`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reaped {
    /// The main child's last status change, if it had one.
    pub main: Option<Status>,
    /// How many other processes were collected.
    pub orphans: usize,
    /// pidone has no child left at all (ECHILD).
    pub none_left: bool,
}

/// How many SIGCHLDs [`reap_ready`] follows by the pids they name before it
/// scans all children anyway, so that other signals are not kept waiting
/// through a long storm of exits.
const NAMED_BATCH: usize = 4096;

/// Collects every child that has exited, not only the one that raised
/// SIGCHLD; `named` is the pid that SIGCHLD named (its si_pid).
///
/// Every `waitpid(-1)` walks all of pidone's children holding the kernel's
/// tasklist lock, which every exiting child needs too: with thousands of
/// live orphans, a scan per SIGCHLD makes the exits wait on the scans and
/// pidone spend its time walking. So this first collects the child each
/// SIGCHLD names (`waitpid(pid)` goes straight to one task), taking further
/// SIGCHLDs off the queue for as long as they keep coming. Only when none
/// is pending does it scan: SIGCHLD does not queue, so children whose exit
/// raised no signal of their own (it was already pending) are found there.
/// Any child that exits after that scan raises a new SIGCHLD.
///
/// The main child's stops and continues are reported too, for job control;
/// they are never taken for an exit.
pub fn reap_ready(named: i32, main: Option<i32>, warn_orphans: bool) -> Reaped {
    let mut reaped = Reaped::default();
    let mut next = Some(named);
    for _ in 0..NAMED_BATCH {
        let Some(pid) = next.take() else { break };
        if pid > 0 {
            if let Ok(Some((pid, raw))) = sys::wait(pid, libc::WNOHANG) {
                reaped.record(pid, Status::from_raw(raw), main, warn_orphans);
            }
        }
        next = sys::wait_signal(Mask::of(libc::SIGCHLD), Some(Duration::ZERO))
            .ok()
            .flatten()
            .map(|info| info.pid);
    }
    // Stops and continues are asked of the main child alone: WUNTRACED or
    // WCONTINUED on waitpid(-1) would make the kernel inspect every live
    // child more closely on every call.
    if let Some(pid) = main.filter(|_| reaped.main.is_none()) {
        if let Ok(Some((pid, raw))) =
            sys::wait(pid, libc::WNOHANG | libc::WUNTRACED | libc::WCONTINUED)
        {
            reaped.record(pid, Status::from_raw(raw), main, warn_orphans);
        }
    }
    loop {
        match sys::wait(-1, libc::WNOHANG) {
            Ok(Some((pid, raw))) => reaped.record(pid, Status::from_raw(raw), main, warn_orphans),
            Ok(None) => break,
            Err(Errno::ECHILD) => {
                reaped.none_left = true;
                break;
            }
            Err(Errno::EINTR) => continue,
            Err(e) => {
                log::warn!("waitpid failed: {e}");
                break;
            }
        }
    }
    reaped
}

impl Reaped {
    fn record(&mut self, pid: i32, status: Status, main: Option<i32>, warn_orphans: bool) {
        if Some(pid) == main {
            if status.exit_code().is_some() {
                log::info!("child pid {pid} {}", describe(status));
            }
            self.main = Some(status);
        } else {
            self.orphans += 1;
            if warn_orphans {
                log::warn!("reaped orphan pid {pid}, which {}", describe(status));
            } else {
                log::debug!("reaped orphan pid {pid}, which {}", describe(status));
            }
        }
    }
}

fn describe(status: Status) -> String {
    match status {
        Status::Exited(code) => format!("exited with {code}"),
        Status::Killed(signo) => format!("was killed by {}", signals::name(signo)),
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
