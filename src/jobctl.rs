//! Terminal job control: pidone standing between a job-control shell and
//! its child, so that Ctrl-Z, `fg` and `bg` work on `pidone -- vim` as they
//! would on `vim`.
//!
//! - The child stops from the terminal (SIGTSTP, SIGTTIN, SIGTTOU): under a
//!   shell, pidone stops too, so the shell sees its job stop.
//! - pidone is continued: if its group now holds the terminal (`fg`), the
//!   terminal goes back to the child before the SIGCONT is passed on.
//! - A signal the terminal sent to pidone's group (Ctrl-C, a resize) already
//!   reached a child that shares the group: it is not forwarded again.
//!
//! Never touches a terminal pidone does not control.

use std::os::fd::RawFd;

use crate::signals;
use crate::spawn::Child;
use crate::sys::{self, SigInfo};

/// What job control knows of the main child and pidone's terminal.
#[derive(Debug)]
pub(crate) struct JobControl {
    /// pidone's controlling terminal, if it has one.
    tty: Option<RawFd>,
    /// The child leads its own process group.
    own_group: bool,
    /// The child stayed in pidone's process group.
    shares_group: bool,
    /// pidone is its namespace's init: nobody would continue it.
    is_init: bool,
    /// The child is stopped (its last status change was a stop).
    stopped: bool,
}

impl JobControl {
    pub fn new(child: Option<&Child>, is_init: bool) -> JobControl {
        JobControl {
            tty: child.and_then(|c| c.tty),
            own_group: child.is_some_and(|c| c.own_group),
            shares_group: child.is_some_and(|c| !c.own_group),
            is_init,
            stopped: false,
        }
    }

    /// The child was stopped by `signo`. Under a job-control shell, pidone
    /// stops too, so the shell sees its job stop and can continue it.
    /// Elsewhere (PID 1, a session leader) nobody would ever continue
    /// pidone, and it stays put.
    pub fn child_stopped(&mut self, signo: i32) {
        log::debug!("child stopped by {}", signals::name(signo));
        self.stopped = true;
        let from_terminal = matches!(signo, libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU);
        if from_terminal && !self.is_init && in_shell_job() {
            let _ = sys::kill(std::process::id() as i32, libc::SIGSTOP);
        }
    }

    /// The child was continued.
    pub fn child_continued(&mut self) {
        self.stopped = false;
    }

    /// Whether the child is stopped now, as far as its status changes say.
    pub fn child_is_stopped(&self) -> bool {
        self.stopped
    }

    /// pidone got SIGCONT: if its group holds the terminal now (the shell
    /// ran `fg`), the terminal goes to the child, which is about to be
    /// continued too. Works whether pidone had the terminal when it started
    /// the child or was started in the background (`pidone cmd &`).
    pub fn continued(&self, child_pid: i32) {
        let Some(fd) = self.tty.filter(|_| self.own_group) else {
            return;
        };
        if sys::terminal_foreground(fd) == Some(nix::unistd::getpgrp().as_raw()) {
            if let Err(e) = sys::give_terminal(fd, child_pid) {
                log::warn!("failed to give the terminal to the child: {}", e.desc());
            }
        }
    }

    /// Whether `info` is a terminal's signal to pidone's group that the
    /// child, sharing that group, has received already.
    pub fn child_has_it(&self, info: &SigInfo) -> bool {
        info.code == libc::SI_KERNEL && self.shares_group
    }
}

/// Whether pidone runs as a job of a job-control shell: its parent is in
/// the same session but another process group, so pidone's group is not
/// orphaned and a stop of it will be seen and continued (the test POSIX
/// uses for orphaned process groups, setpgid(2)).
fn in_shell_job() -> bool {
    use nix::unistd::{getpgid, getpgrp, getppid, getsid};
    let parent = getppid();
    getsid(Some(parent)).ok() == getsid(None).ok()
        && getpgid(Some(parent)).is_ok_and(|group| group != getpgrp())
}
