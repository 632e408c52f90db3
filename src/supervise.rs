//! The supervisor: start the child, then take signals one at a time and act
//! on them until nothing is left.
//!
//! pidone is in one of four states, each carrying what it needs:
//!
//! - **Paused** (`-P`): no command; reap orphans until SIGTERM or SIGINT.
//! - **Running**: the main child lives. SIGCHLD means reap; every other
//!   signal is rewritten and forwarded.
//! - **Draining**: the main child is gone with its exit code; whatever
//!   remains got SIGTERM (and SIGCONT) and has `--grace` to finish. A
//!   SIGTERM or SIGINT now, or the deadline, escalates to
//! - **Killing**: SIGKILL sent; waiting [`KILL_WAIT`] at most for the last
//!   reaps. A SIGTERM or SIGINT now, or the deadline, ends pidone with the
//!   command's code and a warning naming what remains.
//!
//! Every handler returns what happens next, `Continue` or `Break(code)`,
//! so when pidone exits is decided in one place: [`Supervisor::run`].
//!
//! Signals were blocked in `main` and are taken here with
//! rt_sigtimedwait(2), with no timeout unless a deadline is pending: an idle
//! pidone never wakes up.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use std::ffi::OsString;

use crate::cli::{self, Config};
use crate::jobctl::JobControl;
use crate::logging;
use crate::procfs;
use crate::reap::{self, Status};
use crate::reasons::Reasons;
use crate::signals::{self, Blocked};
use crate::spawn::{self, Started};
use crate::sys::{self, Mask, SigInfo};
use crate::targets::{Leftover, Reached, Scope, Target, BLIND};

/// pidone, from argv to exit code: the whole story, top to bottom. Call it
/// only from a process that has no other thread, with `blocked` from
/// [`signals::block_all`], called before anything else so that no signal
/// can arrive unseen. Every fatal error is printed here, once, as
/// `pidone: <error>`, whatever the log level.
pub fn main(args: Vec<OsString>, blocked: Blocked) -> u8 {
    // pidone's own output first, so every error below is seen: a
    // description of stderr that never blocks (see `logging`).
    logging::open_stderr();

    // The configuration: flags, then pidone's variables, then the peers'.
    let config = match cli::parse(args, cli::lookup(sys::environment())) {
        Ok(cli::Parsed::Run(config)) => config,
        Ok(cli::Parsed::Print(text)) => {
            logging::print_stdout(&text);
            return 0;
        }
        Err(e) => return fatal(&e, e.exit_code()),
    };
    logging::init(config.verbosity, config.log_spec.as_deref());

    // Become the reaper of the command's orphans, and ask for a signal
    // when pidone's parent dies.
    let (scope, pending) = prepare(&config);

    // Let go of the caller's directory and descriptors, and start the
    // command: in its own group, with the signal state pidone was given.
    let state = if config.pause {
        spawn::let_go(&[]);
        State::Paused
    } else {
        match spawn::spawn(&config, blocked) {
            Ok(child) => {
                log::info!("started child pid {}", child.process.pid);
                State::Running(child)
            }
            Err(e) => return fatal(&e, e.exit_code()),
        }
    };

    // ---- From here on nothing may end pidone but the end of its children
    // or a deadline: as PID 1 its death would take the container with it.
    // Errors are logged and the loop goes on. ----
    Supervisor::new(&config, scope, pending, state).run()
}

fn fatal(error: &dyn std::fmt::Display, code: u8) -> u8 {
    logging::print_error(error);
    code
}

/// Supervises `child`, which the self-init entry forked from the program
/// itself, to its end; returns the exit code.
pub(crate) fn adopt(config: &Config, child: Started) -> u8 {
    let (scope, pending) = prepare(config);
    log::info!("running the program as pid {}", child.process.pid);
    Supervisor::new(config, scope, pending, State::Running(child)).run()
}

/// Registers as the reaper of orphans and asks for the parent-death
/// signal; returns where pidone stands and a signal to act on at once.
fn prepare(config: &Config) -> (Scope, Option<i32>) {
    let scope = Scope::current();
    // Whether /proc is this namespace's is decided now, once (see
    // `procfs::is_ours`).
    procfs::is_ours();
    // An init that is not PID 1 (shareProcessNamespace, `--pid=host`, a
    // test harness) must still get the orphans of its tree: become their
    // reaper (PR_SET_CHILD_SUBREAPER, prctl(2)). Not fatal: the command can
    // run without it, leaving orphans to the real init.
    if config.subreaper || !scope.is_init() {
        if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
            let e = e.desc();
            log::warn!("failed to register as child subreaper: {e}; orphans will not be reaped");
        }
    }
    // If the parent died before the request took effect, no signal will
    // come: act on it as soon as the loop starts.
    let Some(signo) = config.parent_death_signal else {
        return (scope, None);
    };
    let parent = nix::unistd::getppid();
    match sys::set_parent_death_signal(signo) {
        Err(e) => log::warn!("failed to set the parent death signal: {}", e.desc()),
        Ok(()) if nix::unistd::getppid() != parent => {
            log::info!("parent is already gone; acting on {}", signals::name(signo));
            return (scope, Some(signo));
        }
        Ok(()) => {}
    }
    (scope, None)
}

#[derive(Debug)]
enum State {
    Paused,
    Running(Started),
    /// `--wait-all`: the main child is gone, the rest runs on.
    Waiting {
        code: u8,
    },
    /// `asked`: a stop request has come for this drain already.
    Draining {
        code: u8,
        deadline: Instant,
        asked: bool,
    },
    Killing {
        code: u8,
        deadline: Instant,
    },
}

impl State {
    /// The code pidone will exit with once no child is left, if known.
    fn code(&self) -> Option<u8> {
        match self {
            State::Waiting { code }
            | State::Draining { code, .. }
            | State::Killing { code, .. } => Some(*code),
            State::Paused | State::Running(_) => None,
        }
    }

    fn deadline(&self) -> Option<Instant> {
        match self {
            State::Draining { deadline, .. } | State::Killing { deadline, .. } => Some(*deadline),
            State::Paused | State::Running(_) | State::Waiting { .. } => None,
        }
    }
}

/// How long pidone waits for the last reaps after SIGKILL. A process that
/// outlives it cannot be killed by pidone (a setuid one under a non-root
/// pidone, one in uninterruptible sleep): pidone names it and exits; as
/// PID 1 the kernel then kills the rest of the namespace, elsewhere it goes
/// to the next reaper.
pub(crate) const KILL_WAIT: Duration = Duration::from_secs(2);

/// How soon pidone looks again after a waitpid(2) or a signal wait failed,
/// when no SIGCHLD may come to say what it missed.
const RETRY: Duration = Duration::from_millis(100);

enum Event {
    Signal(SigInfo),
    /// Look again: an earlier wait failed.
    Retry,
    /// The state's deadline passed.
    Deadline,
}

/// What the drain reached, for its summary: counted where pidone can list
/// the processes (always as subreaper, with `-v` as PID 1). A process
/// killed at once (`--grace 0`) or that appeared during the grace period
/// counts as drained too, so the killed are always among the drained.
#[derive(Debug, Default)]
struct Tally {
    drained: HashSet<Leftover>,
    killed: usize,
    /// Sent to every process of the namespace, uncounted.
    uncounted: bool,
}

impl Tally {
    /// Notes who a signal reached and returns how many; `None` when
    /// pidone cannot see its descendants.
    fn add(&mut self, reached: Reached) -> Option<usize> {
        match reached {
            Reached::Blind => None,
            Reached::Everyone => {
                self.uncounted = true;
                Some(0)
            }
            Reached::These(these) => {
                let n = these.len();
                self.drained.extend(these);
                Some(n)
            }
        }
    }
}

struct Supervisor<'a> {
    config: &'a Config,
    scope: Scope,
    /// Who forwarded signals reach, if anyone: decided at the start,
    /// changed once when the main child is gone (its pid and group may then
    /// be anyone's).
    forward: Option<Target>,
    jobs: JobControl,
    state: State,
    /// A signal to act on before waiting for the next (see `run`).
    pending: Option<i32>,
    /// A wait failed: look again after [`RETRY`].
    retry: bool,
    /// A stop request held back by `--stop-delay`, and when it goes out.
    delayed: Option<(SigInfo, Instant)>,
    tally: Tally,
    /// Why the command ended: what to say, and the termination message.
    reasons: Reasons,
}

impl<'a> Supervisor<'a> {
    fn new(config: &'a Config, scope: Scope, pending: Option<i32>, state: State) -> Supervisor<'a> {
        let child = match &state {
            State::Running(child) => Some(child),
            _ => None,
        };
        Supervisor {
            config,
            scope,
            forward: match child {
                Some(c) => Some(config.forward.at_start(c.terminal.own_group)),
                None => (config.forward == Target::All).then_some(Target::All),
            },
            jobs: JobControl::new(child.map(|c| c.terminal), scope.is_init()),
            state,
            pending,
            retry: false,
            delayed: None,
            tally: Tally::default(),
            reasons: Reasons::new(&config.command),
        }
    }

    /// The loop, and the one place where pidone decides to exit.
    ///
    /// From its start on, nothing may end pidone but the end of its
    /// children or a deadline: as PID 1 its death would take the whole
    /// container with it. Errors are logged and the loop goes on.
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
                Event::Retry => self.reap(),
                Event::Signal(info) => self.on_signal(info),
                Event::Deadline => match (&self.state, self.delayed.take()) {
                    (State::Running(_), Some((info, _))) => self.forward(info),
                    (State::Killing { .. }, _) => self.give_up(&format!(
                        "still there {} s after SIGKILL",
                        KILL_WAIT.as_secs()
                    )),
                    _ => self.escalate("the grace period is over"),
                },
            };
            if let ControlFlow::Break(code) = next {
                return self.finish(code);
            }
        }
    }

    /// Sleeps until a signal comes, the deadline passes, or it is time to
    /// look again after a failed wait.
    fn next_event(&mut self) -> Event {
        let deadline = self.state.deadline().or(self.delayed.map(|(_, at)| at));
        let retry = self.retry.then(|| Instant::now() + RETRY);
        loop {
            let now = Instant::now();
            // Checked before waiting: a wait with a pending signal returns
            // the signal, not a timeout, so under a steady stream of
            // signals a deadline that only the wait could report would
            // never pass.
            if deadline.is_some_and(|d| d <= now) {
                return Event::Deadline;
            }
            if retry.is_some_and(|r| r <= now) {
                return Event::Retry;
            }
            let until = [deadline, retry].into_iter().flatten().min();
            let timeout = until.map(|t| t.saturating_duration_since(now));
            match sys::wait_signal(Mask::ALL, timeout) {
                Ok(Some(info)) => return Event::Signal(info),
                Ok(None) | Err(Errno::EINTR) => {}
                Err(e) => {
                    // Nothing may make this loop spin: pause, then look at
                    // the children as a SIGCHLD would have made pidone do.
                    log::warn!("failed to wait for signals: {}", e.desc());
                    std::thread::sleep(RETRY);
                    return Event::Retry;
                }
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
        self.retry = reaped.retry;
        if main.is_some() {
            self.reasons.orphans_killed(&reaped.killed);
        }
        match reaped.main {
            Some(Status::Stopped(signo)) => self.jobs.child_stopped(signo),
            Some(status) => {
                if let Some(code) = status.exit_code() {
                    self.reasons.command_ended(main.unwrap_or(0), status);
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
        self.forward = self.forward.and_then(Target::after_main_child);
        self.delayed = None;
        if none_left || !self.config.drain {
            return ControlFlow::Break(code);
        }
        if self.config.wait_all {
            log::info!("waiting for every other process to end (--wait-all)");
            self.forward = Some(Target::All);
            self.state = State::Waiting { code };
            return ControlFlow::Continue(());
        }
        self.start_drain(code, false)
    }

    /// A signal for pidone.
    fn on_signal(&mut self, info: SigInfo) -> ControlFlow<u8> {
        let signo = info.signo;
        // pidone's own: SIGPIPE or SIGXFSZ raised by a write of its own
        // output (see `logging`). Consumed silently: logging it could raise
        // another.
        if info.pid == self.scope.me() && info.code == libc::SI_USER {
            return ControlFlow::Continue(());
        }
        log::debug!("received {} from pid {}", signals::name(signo), info.pid);
        if matches!(signo, libc::SIGTERM | libc::SIGINT) {
            if let Some(next) = self.stop_requested(info) {
                return next;
            }
        }
        self.forward(info)
    }

    /// A stop request (SIGTERM or SIGINT, before any rewrite): what it
    /// does depends on the state. `None`: forward it as any other signal.
    fn stop_requested(&mut self, info: SigInfo) -> Option<ControlFlow<u8>> {
        let name = signals::name(info.signo);
        let again = format!("a second stop request ({name})");
        let delay = self.config.stop_delay;
        match &mut self.state {
            State::Paused => Some(self.start_drain(0, true)),
            State::Waiting { code } => {
                let code = *code;
                Some(self.start_drain(code, true))
            }
            // The first during a drain pidone started itself: forwarded,
            // and the leftovers keep their grace period.
            State::Draining { asked, .. } if !*asked => {
                *asked = true;
                None
            }
            State::Draining { .. } => Some(self.escalate(&again)),
            State::Killing { .. } => Some(self.give_up(&again)),
            State::Running(_) if self.delayed.is_none() && !delay.is_zero() => {
                log::info!("{name} will be forwarded in {delay:?} (--stop-delay)");
                self.delayed = Some((info, after(delay)));
                Some(ControlFlow::Continue(()))
            }
            // A second one: the first goes out now, then this one.
            State::Running(_) => {
                if let Some((first, _)) = self.delayed.take() {
                    let _ = self.forward(first);
                }
                None
            }
        }
    }

    /// Rewrites and forwards a signal pidone received.
    fn forward(&mut self, info: SigInfo) -> ControlFlow<u8> {
        let signo = info.signo;
        let main = match &self.state {
            State::Running(child) => Some(&child.process),
            _ => None,
        };
        if let (libc::SIGCONT, Some(child)) = (signo, main) {
            self.jobs.continued(child.pid);
        }
        if self.jobs.child_has_it(&info) {
            self.reasons.sent(signo);
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
        // A stopped process cannot act on SIGTERM: wake it, as bash's
        // `kill` does for a stopped job and systemd for a unit's processes.
        // The command's state is read now: its SIGCHLD may still be queued.
        let wake = to == libc::SIGTERM
            && (self.forward == Some(Target::All)
                || main.is_some_and(|m| procfs::stat(m.pid).is_some_and(|s| s.stopped)));
        let (from, to_name) = (signals::name(signo), signals::name(to));
        let sent = match self.forward {
            Some(target) => target.send(self.scope, main, to, wake),
            None => Err(Errno::ESRCH),
        };
        if sent.is_ok() {
            self.reasons.sent(to);
        }
        match sent {
            Ok(()) if to == signo => log::debug!("forwarded {to_name}"),
            Ok(()) => log::debug!("forwarded {from} as {to_name}"),
            Err(Errno::ESRCH) => log::debug!("{to_name} not forwarded: no process to receive it"),
            Err(Errno::ENOENT) => log::warn!("{to_name} not forwarded: {BLIND}"),
            Err(e) => log::warn!("failed to forward {to_name}: {}", e.desc()),
        }
        ControlFlow::Continue(())
    }

    /// The main child is gone (or pause mode was stopped) with `code`, and
    /// other processes may remain: SIGTERM them (then SIGCONT, so a stopped
    /// one can act on it) and start the grace period.
    /// `asked`: a stop request started it, so the next one ends it.
    fn start_drain(&mut self, code: u8, asked: bool) -> ControlFlow<u8> {
        self.state = State::Draining {
            code,
            deadline: after(self.config.grace),
            asked,
        };
        if self.config.grace.is_zero() {
            return self.escalate("--grace is 0");
        }
        let count = log::log_enabled!(log::Level::Info) || self.config.termination_log.is_some();
        let Some(n) = self
            .tally
            .add(self.scope.signal_all(libc::SIGTERM, true, count))
        else {
            return self.leave_the_rest(code);
        };
        let whom = match self.tally.uncounted {
            true => "every other process of the namespace".to_owned(),
            false => processes(n),
        };
        log::info!(
            "sent SIGTERM to {whom}; waiting up to {:?}",
            self.config.grace
        );
        // Some may have been gone already.
        self.reap()
    }

    /// SIGKILLs every process that remains, and waits [`KILL_WAIT`] at most
    /// for the last reaps.
    fn escalate(&mut self, why: &str) -> ControlFlow<u8> {
        let Some(code) = self.state.code() else {
            return ControlFlow::Continue(());
        };
        log::info!("{why}: killing what remains");
        let deadline = after(KILL_WAIT);
        self.state = State::Killing { code, deadline };
        let count = log::log_enabled!(log::Level::Info) || self.config.termination_log.is_some();
        match self.tally.add(self.scope.kill_all(count, deadline)) {
            None => return self.leave_the_rest(code),
            Some(killed) => self.tally.killed += killed,
        }
        self.reap()
    }

    /// Stops waiting for what SIGKILL did not end: names it and exits.
    fn give_up(&self, why: &str) -> ControlFlow<u8> {
        let code = self.state.code().unwrap_or(0);
        let left = match self.scope.processes() {
            Some(left) => {
                let named: Vec<String> = left
                    .iter()
                    .take(8)
                    .map(|p| format!("pid {} ({})", p.pid, procfs::name(p.pid)))
                    .collect();
                let more = left.len().saturating_sub(named.len());
                let more = if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                };
                format!("{}{more}", named.join(", "))
            }
            None => "processes pidone cannot list without /proc".to_owned(),
        };
        let fate = if self.scope.is_init() {
            "the kernel ends them with the namespace"
        } else {
            "they go to the next reaper"
        };
        log::warn!("{why}: exiting with {code}, leaving {left}; {fate}");
        ControlFlow::Break(code)
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
        let (drained, killed) = (self.tally.drained.len(), self.tally.killed);
        if self.tally.uncounted {
            log::info!("drained every other process of the namespace after the main child exited (without /proc pidone cannot count them)");
        } else if drained > 0 {
            let drained = processes(drained);
            log::info!("drained {drained} after the main child exited; {killed} had to be killed");
        }
        if self.config.success_codes.contains(&code) {
            log::info!("exit code {code} reported as 0 (-e)");
            return 0;
        }
        if let Some(path) = &self.config.termination_log {
            let counted = !self.tally.uncounted;
            let drain = counted.then_some((self.tally.drained.len(), self.tally.killed));
            self.reasons.write_message(path, code, drain);
        }
        code
    }
}

/// `d` from now, or as far as the clock reaches (`--grace` may be huge).
fn after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(u32::MAX.into())))
        .unwrap_or(now)
}

/// "1 process", "3 processes".
fn processes(n: usize) -> String {
    if n == 1 {
        "1 process".to_owned()
    } else {
        format!("{n} processes")
    }
}
