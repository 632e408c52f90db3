//! The supervisor: start the child, then take signals one at a time and act
//! on them until nothing is left.
//!
//! pidone is in one of four states, each carrying what it needs:
//!
//! - **Paused** (`-P`): no command; reap orphans until SIGTERM or SIGINT.
//! - **Running**: the main child lives. SIGCHLD means reap; every other
//!   signal is rewritten and forwarded.
//! - **Draining**: the main child is gone with its exit code; whatever
//!   remains got SIGTERM and has `--grace` to finish. A SIGTERM or SIGINT
//!   now, or the deadline, escalates to
//! - **Killing**: SIGKILL sent; waiting for the last reaps.
//!
//! Every handler returns what happens next, `Continue` or `Break(code)`,
//! so when pidone exits is decided in one place: [`Supervisor::run`].
//!
//! Signals were blocked in `main` and are taken here with
//! rt_sigtimedwait(2), with no timeout unless a deadline is pending: an idle
//! pidone never wakes up.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::cli::Config;
use crate::jobctl::JobControl;
use crate::reap::{self, Status};
use crate::signals::{self, Blocked};
use crate::spawn::{self, Child, SpawnError};
use crate::sys::{self, Mask, SigInfo};
use crate::targets::{Recipient, Scope};

/// Runs `config` to its end and returns pidone's exit code, or the error
/// that kept the command from starting. `blocked` proves every signal is
/// blocked and holds the state the child gets back.
pub(crate) fn run(config: &Config, blocked: Blocked) -> Result<u8, SpawnError> {
    let prologue = prepare(config);
    let state = if config.pause {
        spawn::let_go(&[]);
        State::Paused
    } else {
        let child = spawn::spawn(&config.command, blocked)?;
        log::info!("started child pid {}", child.process.pid);
        State::Running(child)
    };
    Ok(Supervisor::new(config, prologue, state).run())
}

/// Supervises `child`, which the self-init entry forked from the program
/// itself, to its end; returns the exit code.
pub(crate) fn adopt(config: &Config, child: Child) -> u8 {
    let prologue = prepare(config);
    log::info!("running the program as pid {}", child.process.pid);
    Supervisor::new(config, prologue, State::Running(child)).run()
}

/// What pidone sets up before it has a child.
struct Prologue {
    scope: Scope,
    /// A signal to act on as soon as the loop starts.
    pending: Option<i32>,
}

fn prepare(config: &Config) -> Prologue {
    let scope = Scope::current();

    // An init that is not PID 1 (shareProcessNamespace, `--pid=host`, a
    // test harness) must still get the orphans of its tree: become their
    // reaper (PR_SET_CHILD_SUBREAPER, prctl(2)). Not fatal: the command can
    // run without it, leaving orphans to the real init.
    if config.subreaper || !scope.is_init() {
        if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
            log::warn!(
                "failed to register as child subreaper: {}; orphans will not be reaped",
                e.desc()
            );
        }
    }

    // Asked for a signal when the parent dies: if the parent died before
    // the request took effect, no signal will come, so act on it as soon
    // as the loop starts.
    let mut pending = None;
    if let Some(signo) = config.parent_death_signal {
        let parent = nix::unistd::getppid();
        match sys::set_parent_death_signal(signo) {
            Err(e) => log::warn!("failed to set the parent death signal: {}", e.desc()),
            Ok(()) if nix::unistd::getppid() != parent => {
                log::info!("parent is already gone; acting on {}", signals::name(signo));
                pending = Some(signo);
            }
            Ok(()) => {}
        }
    }
    Prologue { scope, pending }
}

#[derive(Debug)]
enum State {
    Paused,
    Running(Child),
    Draining { code: u8, deadline: Instant },
    Killing { code: u8 },
}

impl State {
    /// The code pidone will exit with once no child is left, if known.
    fn code(&self) -> Option<u8> {
        match self {
            State::Draining { code, .. } | State::Killing { code } => Some(*code),
            State::Paused | State::Running(_) => None,
        }
    }
}

enum Event {
    Signal(SigInfo),
    /// The grace period is over.
    Deadline,
}

struct Supervisor<'a> {
    config: &'a Config,
    scope: Scope,
    me: i32,
    /// Who forwarded signals reach: decided at the start, changed once when
    /// the main child is gone.
    recipient: Recipient,
    jobs: JobControl,
    state: State,
    /// A signal to act on before waiting for the next (see `run`).
    pending: Option<i32>,
    drained: usize,
    killed: usize,
}

impl<'a> Supervisor<'a> {
    fn new(config: &'a Config, prologue: Prologue, state: State) -> Supervisor<'a> {
        let child = match &state {
            State::Running(child) => Some(child),
            _ => None,
        };
        Supervisor {
            config,
            scope: prologue.scope,
            me: std::process::id() as i32,
            recipient: Recipient::at_start(
                config.forward,
                child.is_some(),
                child.is_some_and(|c| c.own_group),
            ),
            jobs: JobControl::new(child, prologue.scope.is_init()),
            state,
            pending: prologue.pending,
            drained: 0,
            killed: 0,
        }
    }

    /// The loop, and the one place where pidone decides to exit.
    ///
    /// From its start on, nothing may end pidone but the end of its
    /// children: as PID 1 its death would take the whole container with it.
    /// Errors are logged and the loop goes on.
    fn run(mut self) -> u8 {
        loop {
            let event = match self.pending.take() {
                Some(signo) => Event::Signal(SigInfo {
                    signo,
                    pid: 0,
                    code: libc::SI_USER,
                }),
                None => self.next_event(),
            };
            let next = match event {
                Event::Signal(info) if info.signo == libc::SIGCHLD => self.reap(),
                Event::Signal(info) => self.on_signal(info),
                Event::Deadline => self.escalate("the grace period is over"),
            };
            if let ControlFlow::Break(code) = next {
                return self.finish(code);
            }
        }
    }

    /// Sleeps until a signal comes or the deadline passes.
    fn next_event(&self) -> Event {
        loop {
            let timeout = match self.state {
                State::Draining { deadline, .. } => {
                    Some(deadline.saturating_duration_since(Instant::now()))
                }
                _ => None,
            };
            // Checked before waiting: a wait with a pending signal returns
            // the signal, not a timeout, so under a steady stream of signals
            // a deadline that only the wait could report would never pass.
            if timeout == Some(Duration::ZERO) {
                return Event::Deadline;
            }
            match sys::wait_signal(Mask::ALL, timeout) {
                Ok(Some(info)) => return Event::Signal(info),
                Ok(None) | Err(Errno::EINTR) => {}
                Err(e) => log::warn!("failed to wait for signals: {}", e.desc()),
            }
        }
    }

    /// Reaps what is ready.
    fn reap(&mut self) -> ControlFlow<u8> {
        let main = match &self.state {
            State::Running(child) => Some(child.process.pid),
            _ => None,
        };
        let reaped = reap::reap_ready(main, self.config.warn_orphans);
        match reaped.main {
            Some(Status::Stopped(signo)) => self.jobs.child_stopped(signo),
            Some(status) => {
                if let Some(code) = status.exit_code() {
                    return self.main_exited(code, reaped.none_left);
                }
            }
            None => {}
        }
        match self.state.code() {
            Some(code) if reaped.none_left => ControlFlow::Break(code),
            _ => ControlFlow::Continue(()),
        }
    }

    /// The main child is gone with `code`: its pid and group may be anyone's
    /// from now on. What remains is drained, unless `--no-drain`.
    fn main_exited(&mut self, code: u8, none_left: bool) -> ControlFlow<u8> {
        self.recipient = self.recipient.after_main_child();
        if none_left || !self.config.drain {
            return ControlFlow::Break(code);
        }
        self.start_drain(code)
    }

    /// A signal for pidone.
    fn on_signal(&mut self, info: SigInfo) -> ControlFlow<u8> {
        let signo = info.signo;
        // pidone's own: SIGPIPE or SIGXFSZ raised by a write of its own
        // output (see `logging`). Consumed silently: logging it could raise
        // another.
        if info.pid == self.me && info.code == libc::SI_USER {
            return ControlFlow::Continue(());
        }
        log::debug!("received {} from pid {}", signals::name(signo), info.pid);
        let stop_request = matches!(signo, libc::SIGTERM | libc::SIGINT);
        match self.state {
            State::Paused if stop_request => return self.start_drain(0),
            State::Draining { .. } if stop_request => {
                return self.escalate(&format!("{} during the grace period", signals::name(signo)));
            }
            _ => {}
        }
        let main = match &self.state {
            State::Running(child) => Some(&child.process),
            _ => None,
        };
        if let (libc::SIGCONT, Some(child)) = (signo, main) {
            self.jobs.continued(child.pid);
        }
        if self.jobs.child_has_it(&info) {
            log::debug!(
                "{} came from the terminal to the child too",
                signals::name(signo)
            );
            return ControlFlow::Continue(());
        }
        let Some(to) = self.config.rewrite.apply(signo) else {
            log::debug!("dropped {} (rewrite)", signals::name(signo));
            return ControlFlow::Continue(());
        };
        match self.recipient.send(self.scope, main, to) {
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
            Err(Errno::ENOENT) => log::warn!("{} not forwarded: {BLIND}", signals::name(to)),
            Err(e) => log::warn!("failed to forward {}: {}", signals::name(to), e.desc()),
        }
        ControlFlow::Continue(())
    }

    /// The main child is gone (or pause mode was stopped) with `code`, and
    /// other processes may remain: SIGTERM them and start the grace period.
    fn start_drain(&mut self, code: u8) -> ControlFlow<u8> {
        self.state = State::Draining {
            code,
            deadline: Instant::now() + self.config.grace,
        };
        if self.config.grace.is_zero() {
            let next = self.escalate("--grace is 0");
            self.drained = self.killed;
            return next;
        }
        let count = log::log_enabled!(log::Level::Info);
        let Some(drained) = self.scope.signal_all(libc::SIGTERM, count) else {
            return self.leave_the_rest(code);
        };
        self.drained = drained;
        if count {
            log::info!(
                "sent SIGTERM to {}; waiting up to {:?}",
                processes(self.drained),
                self.config.grace
            );
        }
        // Some may have been gone already.
        self.reap()
    }

    /// SIGKILLs every process that remains.
    fn escalate(&mut self, why: &str) -> ControlFlow<u8> {
        let Some(code) = self.state.code() else {
            return ControlFlow::Continue(());
        };
        log::info!("{why}: killing what remains");
        let Some(killed) = self.scope.kill_all() else {
            return self.leave_the_rest(code);
        };
        self.killed += killed;
        self.state = State::Killing { code };
        self.reap()
    }

    /// pidone cannot see what the main child left: waiting would be for
    /// processes it can neither signal nor count. They go to the next
    /// reaper, as with `--no-drain`.
    fn leave_the_rest(&self, code: u8) -> ControlFlow<u8> {
        log::warn!("cannot drain the processes left: {BLIND}; leaving them to the next reaper");
        ControlFlow::Break(code)
    }

    /// The exit code for `code`, after `-e`.
    fn finish(self, code: u8) -> u8 {
        if self.drained > 0 || self.killed > 0 {
            log::info!(
                "drained {} after the main child exited; {} had to be killed",
                processes(self.drained),
                self.killed
            );
        }
        if self.config.success_codes.contains(&code) {
            log::info!("exit code {code} reported as 0 (-e)");
            return 0;
        }
        code
    }
}

/// Why pidone, not PID 1, cannot find its descendants.
const BLIND: &str =
    "/proc is missing or belongs to another PID namespace, so pidone cannot tell its descendants";

/// "1 process", "3 processes".
fn processes(n: usize) -> String {
    if n == 1 {
        "1 process".to_owned()
    } else {
        format!("{n} processes")
    }
}
