//! The supervisor: start the child, then wait for signals and act on them
//! until nothing is left, in three states.
//!
//! - **Running**: the main child lives. SIGCHLD means reap; every other
//!   signal is rewritten and forwarded.
//! - **Draining**: the main child is gone. Whatever remains got SIGTERM and
//!   has `--grace` to finish; a SIGTERM or SIGINT now, or the deadline,
//!   escalates to SIGKILL.
//! - **Done**: pidone has no child left: exit with the main child's code.
//!
//! Signals were blocked in `main` and are taken here one at a time with
//! rt_sigtimedwait(2), with no timeout unless a deadline is pending: an idle
//! pidone never wakes up.

use std::fs;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::cli::Config;
use crate::reap::{self, Status};
use crate::signals::{self, Inherited};
use crate::spawn::{self, Child};
use crate::sys::{self, Mask, SigInfo};
use crate::targets::{self, Scope, Target};

/// Runs `config` to its end and returns pidone's exit code. `inherited` is
/// the signal state pidone was started with.
pub fn run(config: &Config, inherited: &Inherited) -> u8 {
    let scope = Scope::current();

    // An init that is not PID 1 (shareProcessNamespace, `--pid=host`, a
    // test harness) must still get the orphans of its tree: become their
    // reaper (PR_SET_CHILD_SUBREAPER, prctl(2)). Not fatal: the command can
    // run without it, leaving orphans to the real init.
    if config.subreaper || !scope.is_init {
        if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
            log::warn!(
                "failed to register as child subreaper: {}; orphans will not be reaped",
                e.desc()
            );
        }
    }

    if let Some(signo) = config.parent_death_signal {
        let parent = nix::unistd::getppid();
        match sys::set_parent_death_signal(signo) {
            Err(e) => log::warn!("failed to set the parent death signal: {}", e.desc()),
            // The parent may have died before the request took effect; then
            // no signal will come, so queue it now (it is blocked, so it
            // waits for the loop below).
            Ok(()) if nix::unistd::getppid() != parent => {
                log::info!("parent is already gone; acting on {}", signals::name(signo));
                let _ = sys::kill(scope.me, signo);
            }
            Ok(()) => {}
        }
    }

    let child = if config.pause {
        None
    } else {
        match spawn::spawn(&config.command, *inherited) {
            Ok(child) => {
                log::info!("started child pid {}", child.pid);
                Some(child)
            }
            Err(e) => {
                log::error!("{e}");
                return e.exit_code();
            }
        }
    };
    release_inherited();

    // From here on, nothing may end pidone but the end of its children: as
    // PID 1 its death would take the whole container with it. Errors are
    // logged and the loop goes on.

    // The forward target, decided once. A child left in pidone's own group
    // (see `Child::own_group`) cannot be signalled as a group without
    // pidone signalling itself.
    let forward = match (config.forward, child) {
        (Target::Group, Some(c)) if !c.own_group => Target::Child,
        (target, _) => target,
    };
    Supervisor {
        config,
        scope,
        forward,
        child,
        main_alive: child.is_some(),
        main_code: None,
        state: State::Running,
        stopped_self: false,
        drained: 0,
        killed: 0,
    }
    .run()
}

/// Lets go of what pidone inherited for the child: file descriptors >= 3
/// (the child has its own copies now) and the working directory, so pidone
/// pins no file, socket or mount of the child's.
fn release_inherited() {
    let fds: Vec<i32> = match fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .filter(|&fd| fd > 2)
            .collect(),
        Err(_) => (3..1024).collect(),
    };
    // The directory's own fd is among them and already closed: EBADF.
    for fd in fds {
        let _ = nix::unistd::close(fd);
    }
    if let Err(e) = nix::unistd::chdir("/") {
        log::warn!("failed to change directory to /: {}", e.desc());
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Running,
    Draining {
        deadline: Instant,
    },
    /// SIGKILL sent; waiting for the last children to be reaped.
    Killing,
}

struct Supervisor<'a> {
    config: &'a Config,
    scope: Scope,
    forward: Target,
    child: Option<Child>,
    main_alive: bool,
    /// The exit code pidone will end with, once known.
    main_code: Option<u8>,
    state: State,
    /// pidone stopped itself because the child was stopped from the terminal.
    stopped_self: bool,
    drained: usize,
    killed: usize,
}

impl Supervisor<'_> {
    fn run(mut self) -> u8 {
        loop {
            let timeout = match self.state {
                State::Draining { deadline } => {
                    Some(deadline.saturating_duration_since(Instant::now()))
                }
                _ => None,
            };
            // Checked before waiting: a wait with a pending signal returns
            // the signal, not a timeout, so under a steady stream of signals
            // a deadline that only the wait could report would never pass.
            let done = if timeout == Some(Duration::ZERO) {
                self.escalate("the grace period is over")
            } else {
                match sys::wait_signal(Mask::ALL, timeout) {
                    Ok(None) | Err(Errno::EINTR) => false,
                    Ok(Some(info)) if info.signo == libc::SIGCHLD => self.on_child_event(),
                    Ok(Some(info)) => self.on_signal(info),
                    Err(e) => {
                        log::warn!("failed to wait for signals: {}", e.desc());
                        false
                    }
                }
            };
            if done {
                return self.finish();
            }
        }
    }

    /// Reaps what is ready. Returns true when pidone is done.
    fn on_child_event(&mut self) -> bool {
        let main = self.child.filter(|_| self.main_alive).map(|c| c.pid);
        let reaped = reap::reap_ready(main, self.config.warn_orphans);
        if let Some(status) = reaped.main {
            match status {
                Status::Stopped(signo) => self.on_child_stopped(signo),
                Status::Continued => {}
                Status::Exited(_) | Status::Killed(_) => {
                    self.main_alive = false;
                    self.main_code = status.exit_code();
                    return reaped.none_left || self.start_drain();
                }
            }
        }
        reaped.none_left && self.main_code.is_some()
    }

    /// Job control: the child was stopped from the terminal (Ctrl-Z). Under
    /// a job-control shell, pidone stops too, so the shell sees its job stop
    /// and can continue it. Elsewhere (PID 1, a session leader) nobody would
    /// ever continue pidone, and it stays put.
    fn on_child_stopped(&mut self, signo: i32) {
        log::debug!("child stopped by {}", signals::name(signo));
        let from_terminal = matches!(signo, libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU);
        if from_terminal && !self.scope.is_init && in_shell_job() {
            self.stopped_self = true;
            let _ = sys::kill(self.scope.me, libc::SIGSTOP);
        }
    }

    /// A signal for pidone. Returns true when pidone is done.
    fn on_signal(&mut self, info: SigInfo) -> bool {
        let signo = info.signo;
        log::debug!("received {} from pid {}", signals::name(signo), info.pid);
        let stop_request = matches!(signo, libc::SIGTERM | libc::SIGINT);
        match self.state {
            State::Running if self.config.pause && stop_request => {
                self.main_code = Some(0);
                return self.start_drain();
            }
            State::Draining { .. } if stop_request => {
                return self.escalate(&format!("{} during the grace period", signals::name(signo)));
            }
            _ => {}
        }
        if signo == libc::SIGCONT && self.stopped_self {
            self.resume_child_in_foreground();
        }
        if info.code == libc::SI_KERNEL && self.child.is_some_and(|c| !c.own_group) {
            // A terminal's signal (Ctrl-C, a resize) to pidone's group, which
            // the child shares: it has its own copy already.
            log::debug!(
                "{} came from the terminal to the child too",
                signals::name(signo)
            );
            return false;
        }
        let Some(to) = self.config.rewrite.apply(signo) else {
            log::debug!("dropped {} (rewrite)", signals::name(signo));
            return false;
        };
        let child = self
            .child
            .filter(|_| self.main_alive || self.forward == Target::Group);
        match targets::forward(&self.scope, self.forward, child.map(|c| c.pid), to) {
            Ok(()) if to == signo => log::debug!("forwarded {}", signals::name(to)),
            Ok(()) => log::debug!(
                "forwarded {} as {}",
                signals::name(signo),
                signals::name(to)
            ),
            Err(Errno::ESRCH) => log::debug!(
                "{} not forwarded: no process to receive it",
                signals::name(to)
            ),
            Err(e) => log::warn!("failed to forward {}: {}", signals::name(to), e.desc()),
        }
        false
    }

    /// pidone was continued (`fg`): if the shell gave it the terminal, hand
    /// the terminal back to the child before the SIGCONT is passed on.
    fn resume_child_in_foreground(&mut self) {
        self.stopped_self = false;
        let Some(Child {
            pid, tty: Some(fd), ..
        }) = self.child
        else {
            return;
        };
        if sys::terminal_foreground(fd) == Some(nix::unistd::getpgrp().as_raw()) {
            if let Err(e) = sys::give_terminal(fd, pid) {
                log::warn!(
                    "failed to give the terminal back to the child: {}",
                    e.desc()
                );
            }
        }
    }

    /// The main child is gone and other processes remain: SIGTERM them and
    /// start the grace period. Returns true when pidone is done.
    fn start_drain(&mut self) -> bool {
        if self.config.grace.is_zero() {
            let done = self.escalate("--grace is 0");
            self.drained = self.killed;
            return done;
        }
        self.drained = self.scope.signal_all(libc::SIGTERM);
        log::info!(
            "sent SIGTERM to {}; waiting up to {:?}",
            processes(self.drained),
            self.config.grace
        );
        self.state = State::Draining {
            deadline: Instant::now() + self.config.grace,
        };
        // Some may have been gone already.
        self.on_child_event()
    }

    /// SIGKILLs every process that remains. Returns true when pidone is done.
    fn escalate(&mut self, why: &str) -> bool {
        log::info!("{why}: killing what remains");
        self.killed += self.scope.kill_all();
        self.state = State::Killing;
        self.on_child_event()
    }

    fn finish(self) -> u8 {
        if self.drained > 0 || self.killed > 0 {
            log::info!(
                "drained {} after the main child exited; {} had to be killed",
                processes(self.drained),
                self.killed
            );
        }
        let code = self.main_code.unwrap_or(0);
        if self.config.success_codes.contains(&code) {
            log::info!("exit code {code} reported as 0 (-e)");
            return 0;
        }
        code
    }
}

/// "1 process", "3 processes".
fn processes(n: usize) -> String {
    if n == 1 {
        "1 process".to_owned()
    } else {
        format!("{n} processes")
    }
}
