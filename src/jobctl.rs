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

use nix::unistd::{getpgid, getpgrp, getpid, getppid, getsid, isatty, setpgid};

use crate::signals;
use crate::sys::{self, SigInfo};

/// Where the child stands towards pidone's terminal.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Terminal {
    /// pidone's controlling terminal, if stdin, stdout or stderr is on it,
    /// whether or not pidone is in its foreground now (`pidone cmd &` in a
    /// shell): job control hands it to the child once pidone is brought to
    /// the foreground.
    tty: Option<RawFd>,
    /// pidone's group holds the terminal: the child takes it over.
    take: bool,
    /// The child gets a process group of its own.
    pub own_group: bool,
}

impl Terminal {
    pub(crate) fn now() -> Terminal {
        // tcgetpgrp(3) answers only for the caller's controlling terminal
        // (ENOTTY for any other), in the foreground or not.
        let foreground = (0..=2).find_map(|fd| Some((fd, sys::terminal_foreground(fd)?)));
        let my_group = getpgrp().as_raw();
        Terminal {
            tty: foreground.map(|(fd, _)| fd),
            take: foreground.is_some_and(|(_, group)| group == my_group),
            // getpgrp() is 0 when the group's leader is outside pidone's
            // PID namespace (pid_namespaces(7)). That matters only with a
            // terminal at hand.
            own_group: my_group != 0 || !(0..=2).any(|fd| isatty(fd) == Ok(true)),
        }
    }

    /// The child's side: its own group, and the terminal if pidone's group
    /// held it. Async-signal-safe.
    pub(crate) fn enter(self) {
        if self.own_group {
            let me = getpid();
            let _ = setpgid(me, me);
            if let Some(fd) = self.tty.filter(|_| self.take) {
                // pidone blocks SIGTTOU, so a background group may take the
                // terminal without being stopped (tcsetpgrp(3)).
                let _ = sys::give_terminal(fd, me.as_raw());
            }
        }
    }
}

/// What job control knows of the main child and pidone's terminal.
#[derive(Debug)]
pub(crate) struct JobControl {
    /// Where the child stands towards the terminal; `None` without a child.
    terminal: Option<Terminal>,
    /// pidone is its namespace's init: nobody would continue it.
    is_init: bool,
}

impl JobControl {
    pub fn new(terminal: Option<Terminal>, is_init: bool) -> JobControl {
        JobControl { terminal, is_init }
    }

    /// The child was stopped by `signo`. Under a job-control shell, pidone
    /// stops too, so the shell sees its job stop and can continue it.
    /// Elsewhere (PID 1, a session leader) nobody would ever continue
    /// pidone, and it stays put.
    pub fn child_stopped(&self, signo: i32) {
        log::debug!("child stopped by {}", signals::name(signo));
        let from_terminal = matches!(signo, libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU);
        if from_terminal && !self.is_init && in_shell_job() {
            let _ = sys::kill(std::process::id() as i32, libc::SIGSTOP);
        }
    }

    /// pidone got SIGCONT: if its group holds the terminal now (the shell
    /// ran `fg`), the terminal goes to the child, which is about to be
    /// continued too. Works whether pidone had the terminal when it started
    /// the child or was started in the background (`pidone cmd &`).
    pub fn continued(&self, child_pid: i32) {
        let tty = self.terminal.filter(|t| t.own_group).and_then(|t| t.tty);
        let held = |fd: &RawFd| sys::terminal_foreground(*fd) == Some(getpgrp().as_raw());
        if let Some(Err(e)) = tty.filter(held).map(|fd| sys::give_terminal(fd, child_pid)) {
            log::warn!("failed to give the terminal to the child: {}", e.desc());
        }
    }

    /// Whether `info` is a terminal's signal to pidone's group that the
    /// child, sharing that group, has received already.
    pub fn child_has_it(&self, info: &SigInfo) -> bool {
        info.code == libc::SI_KERNEL && self.terminal.is_some_and(|t| !t.own_group)
    }
}

/// Whether pidone runs as a job of a job-control shell: its parent is in
/// the same session but another process group, so pidone's group is not
/// orphaned and a stop of it will be seen and continued (the test POSIX
/// uses for orphaned process groups, setpgid(2)).
fn in_shell_job() -> bool {
    let parent = getppid();
    getsid(Some(parent)).ok() == getsid(None).ok()
        && getpgid(Some(parent)).is_ok_and(|group| group != getpgrp())
}
