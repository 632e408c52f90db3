//! The supervisor: start the child, then take signals one at a time and act
//! on them until nothing is left.
//!
//! pidone is in one of three states, each carrying what it needs:
//!
//! - **Paused** (`-P`): no command; reap orphans until SIGTERM or SIGINT.
//! - **Running**: the main child lives. SIGCHLD means reap; every other
//!   signal is rewritten and forwarded.
//! - **Ending**: the main child is gone (or pause mode was stopped), and
//!   pidone exits with its code once no process is left. The end goes
//!   through phases:
//!   - **Waiting** (`--wait-all`): the rest runs on; a SIGTERM or SIGINT
//!     starts the drain.
//!   - **Draining**: whatever remains got SIGTERM (and SIGCONT) and has
//!     `--grace` to finish. The deadline, or a second SIGTERM or SIGINT
//!     (the first is forwarded when pidone started the drain by itself),
//!     escalates to
//!   - **Killing**: SIGKILL sent; waiting [`KILL_WAIT`] at most for the last
//!     reaps. A SIGTERM or SIGINT now, or the deadline, ends pidone with the
//!     command's code and a warning naming what remains.
//!
//! Every handler returns what happens next, `Continue` or `Break(code)`,
//! so when pidone exits is decided in one place: [`Supervisor::run`].
//!
//! Signals were blocked in `main` and are taken here with
//! rt_sigtimedwait(2), with no timeout unless a deadline is pending: an idle
//! pidone never wakes up.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::ops::ControlFlow::{self, Break, Continue};
use std::time::{Duration, Instant};

use nix::errno::Errno;

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
        let child = match spawn::spawn(&config, blocked) {
            Ok(child) => child,
            Err(e) => return fatal(&e, e.exit_code()),
        };
        log::info!("started child pid {}", child.process.pid);
        State::Running(child)
    };

    // ---- From here on nothing may end pidone but the end of its children
    // or a deadline: as PID 1 its death would take the container with it.
    // Errors are logged and the loop goes on. ----
    Supervisor::new(&config, scope, state).run(pending)
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
    Supervisor::new(config, scope, State::Running(child)).run(pending)
}

/// Registers as the reaper of orphans and asks for the parent-death
/// signal; returns where pidone stands and a signal to act on at once.
fn prepare(config: &Config) -> (Scope, Option<i32>) {
    let scope = Scope::current();
    // Whether /proc is this namespace's is decided now, once (see
    // `procfs::is_ours`). As PID 1 only counting needs it.
    if !scope.is_init() {
        procfs::is_ours();
    }
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
    let pending = config.parent_death_signal.filter(|&signo| {
        let parent = nix::unistd::getppid();
        let set = sys::set_parent_death_signal(signo);
        let warn = |e: &Errno| log::warn!("failed to set the parent death signal: {}", e.desc());
        set.inspect_err(warn).is_ok() && nix::unistd::getppid() != parent
    });
    let gone = |&s: &i32| log::info!("parent is already gone; acting on {}", signals::name(s));
    (scope, pending.inspect(gone))
}

enum State {
    Paused,
    Running(Started),
    /// The main child is gone (or pause mode was stopped): pidone exits
    /// with this code once no process is left.
    Ending(u8, Phase),
}

enum Phase {
    /// `--wait-all`: the rest runs on.
    Waiting,
    /// SIGTERM sent, `until` the grace period ends; `asked`: a stop request
    /// has come for this drain already.
    Draining { until: Instant, asked: bool },
    /// SIGKILL sent, until [`KILL_WAIT`] later.
    Killing(Instant),
}

impl State {
    /// The main child, while it runs.
    fn child(&self) -> Option<&Started> {
        match self {
            State::Running(child) => Some(child),
            _ => None,
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
    /// The state's deadline, or a delayed stop request's, passed.
    Deadline,
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
    /// A wait failed: look again after [`RETRY`].
    retry: bool,
    /// A stop request held back by `--stop-delay`, and when it goes out.
    delayed: Option<(SigInfo, Instant)>,
    /// What the drain reached, for its summary: counted where pidone can
    /// list the processes. A process killed at once (`--grace 0`) or that
    /// appeared during the grace period counts as drained too, so the
    /// killed are always among the drained.
    drained: BTreeSet<Leftover>,
    killed: usize,
    /// Sent to every process of the namespace, uncounted.
    uncounted: bool,
    /// Whether to list the processes as PID 1 too, where that is only to
    /// count them: for `-v` or the termination message.
    count: bool,
    /// Why the command ended: what to say, and the termination message.
    reasons: Reasons,
}

impl<'a> Supervisor<'a> {
    fn new(config: &'a Config, scope: Scope, state: State) -> Supervisor<'a> {
        let terminal = state.child().map(|c| c.terminal);
        let all = (config.forward == Target::All).then_some(Target::All);
        Supervisor {
            config,
            scope,
            forward: terminal.map_or(all, |t| Some(config.forward.at_start(t.own_group))),
            jobs: JobControl::new(terminal, scope.is_init()),
            state,
            retry: false,
            delayed: None,
            drained: BTreeSet::new(),
            killed: 0,
            uncounted: false,
            count: log::log_enabled!(log::Level::Info) || config.termination_log.is_some(),
            reasons: Reasons::new(&config.command, scope.is_init()),
        }
    }

    /// The loop, and the one place where pidone decides to exit; `pending`
    /// is a signal to act on before waiting for the next.
    ///
    /// From its start on, nothing may end pidone but the end of its
    /// children or a deadline: as PID 1 its death would take the whole
    /// container with it. Errors are logged and the loop goes on.
    fn run(mut self, pending: Option<i32>) -> u8 {
        let signal = |signo| SigInfo {
            signo,
            pid: 0,
            code: libc::SI_USER,
        };
        let mut first = pending.map(|signo| Event::Signal(signal(signo)));
        loop {
            let next = match first.take().unwrap_or_else(|| self.next_event()) {
                Event::Signal(info) if info.signo != libc::SIGCHLD => self.on_signal(info),
                Event::Signal(_) | Event::Retry => self.reap(),
                Event::Deadline => match self.state {
                    State::Ending(code, Phase::Killing(_)) => {
                        let secs = KILL_WAIT.as_secs();
                        self.give_up(code, &format!("still there {secs} s after SIGKILL"))
                    }
                    State::Ending(code, _) => self.escalate(code, "the grace period is over"),
                    // A stop request held back by `--stop-delay` goes out.
                    _ => match self.delayed.take() {
                        Some((info, _)) => self.forward(info),
                        None => Continue(()),
                    },
                },
            };
            if let Break(code) = next {
                return self.finish(code);
            }
        }
    }

    /// Sleeps until a signal comes, the deadline passes, or it is time to
    /// look again after a failed wait.
    fn next_event(&self) -> Event {
        let deadline = match self.state {
            State::Ending(_, Phase::Draining { until, .. } | Phase::Killing(until)) => Some(until),
            _ => self.delayed.map(|(_, at)| at),
        };
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
            match sys::wait_signal(Mask::ALL, until.map(|t| t.saturating_duration_since(now))) {
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
        let main = self.state.child().map(|c| c.process.pid);
        let reaped = reap::reap_ready(main, self.config.warn_orphans);
        self.retry = reaped.retry;
        if main.is_some() {
            self.reasons.orphans_killed(&reaped.killed);
        }
        match reaped.main.map(|status| (status, status.exit_code())) {
            Some((Status::Stopped(signo), _)) => self.jobs.child_stopped(signo),
            Some((status, Some(code))) => {
                self.reasons.command_ended(main.unwrap_or(0), status);
                return self.main_exited(code, reaped.none_left);
            }
            _ => {}
        }
        match self.state {
            State::Ending(code, _) if reaped.none_left => Break(code),
            _ => Continue(()),
        }
    }

    /// The main child is gone with `code`: its pid and group may be anyone's
    /// from now on. What remains is drained, unless `--no-drain`.
    fn main_exited(&mut self, code: u8, none_left: bool) -> ControlFlow<u8> {
        self.forward = self.forward.and_then(Target::after_main_child);
        self.delayed = None;
        if none_left || !self.config.drain {
            return Break(code);
        }
        if !self.config.wait_all {
            return self.start_drain(code, false);
        }
        log::info!("waiting for every other process to end (--wait-all)");
        self.forward = Some(Target::All);
        self.state = State::Ending(code, Phase::Waiting);
        Continue(())
    }

    /// A signal for pidone. A stop request (SIGTERM or SIGINT, before any
    /// rewrite) acts on the state; any other signal is forwarded.
    fn on_signal(&mut self, info: SigInfo) -> ControlFlow<u8> {
        // pidone's own: SIGPIPE or SIGXFSZ raised by a write of its own
        // output (see `logging`). Consumed silently: logging it could raise
        // another.
        if info.pid == self.scope.me() && info.code == libc::SI_USER {
            return Continue(());
        }
        let name = signals::name(info.signo);
        log::debug!("received {name} from pid {}", info.pid);
        if !matches!(info.signo, libc::SIGTERM | libc::SIGINT) {
            return self.forward(info);
        }
        let again = format!("a second stop request ({name})");
        let delay = self.config.stop_delay;
        match self.state {
            State::Paused => self.start_drain(0, true),
            State::Ending(code, Phase::Waiting) => self.start_drain(code, true),
            // The first during a drain pidone started itself: forwarded,
            // and the leftovers keep their grace period.
            State::Ending(_, Phase::Draining { ref mut asked, .. }) if !*asked => {
                *asked = true;
                self.forward(info)
            }
            State::Ending(code, Phase::Draining { .. }) => self.escalate(code, &again),
            State::Ending(code, Phase::Killing(_)) => self.give_up(code, &again),
            State::Running(_) if self.delayed.is_none() && !delay.is_zero() => {
                log::info!("{name} will be forwarded in {delay:?} (--stop-delay)");
                self.delayed = Some((info, after(delay)));
                Continue(())
            }
            // A second one: the first goes out now, then this one.
            State::Running(_) => {
                if let Some((first, _)) = self.delayed.take() {
                    let _ = self.forward(first);
                }
                self.forward(info)
            }
        }
    }

    /// Rewrites and forwards a signal pidone received.
    fn forward(&mut self, info: SigInfo) -> ControlFlow<u8> {
        let (signo, main) = (info.signo, self.state.child().map(|c| &c.process));
        if let (libc::SIGCONT, Some(child)) = (signo, main) {
            self.jobs.continued(child.pid);
        }
        let from = signals::name(signo);
        if self.jobs.child_has_it(&info) {
            self.reasons.sent(signo);
            log::debug!("{from} came from the terminal to the child too");
            return Continue(());
        }
        let Some(to) = self.config.rewrite.apply(signo) else {
            log::debug!("dropped {from} (rewrite)");
            return Continue(());
        };
        // A stopped process cannot act on SIGTERM: wake it, as bash's
        // `kill` does for a stopped job and systemd for a unit's processes.
        // The command's state is read now: its SIGCHLD may still be queued.
        let wake = to == libc::SIGTERM
            && (self.forward == Some(Target::All)
                || main.is_some_and(|m| procfs::stat(m.pid).is_some_and(|s| s.stopped)));
        let (to_name, target) = (signals::name(to), self.forward);
        let sent = target.map_or(Err(Errno::ESRCH), |t| t.send(self.scope, main, to, wake));
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
        Continue(())
    }

    /// The main child is gone (or pause mode was stopped) with `code`, and
    /// other processes may remain: SIGTERM them (then SIGCONT, so a stopped
    /// one can act on it) and start the grace period.
    /// `asked`: a stop request started it, so the next one ends it.
    fn start_drain(&mut self, code: u8, asked: bool) -> ControlFlow<u8> {
        if self.config.grace.is_zero() {
            return self.escalate(code, "--grace is 0");
        }
        let (grace, until) = (self.config.grace, after(self.config.grace));
        self.state = State::Ending(code, Phase::Draining { until, asked });
        let reached = self.scope.signal_all(libc::SIGTERM, true, self.count);
        let Some(n) = self.tally(reached) else {
            return self.leave_the_rest(code);
        };
        let whom = match self.uncounted {
            true => "every other process of the namespace".to_owned(),
            false => processes(n),
        };
        log::info!("sent SIGTERM to {whom}; waiting up to {grace:?}");
        // Some may have been gone already.
        self.reap()
    }

    /// SIGKILLs every process that remains, and waits [`KILL_WAIT`] at most
    /// for the last reaps.
    fn escalate(&mut self, code: u8, why: &str) -> ControlFlow<u8> {
        log::info!("{why}: killing what remains");
        let until = after(KILL_WAIT);
        self.state = State::Ending(code, Phase::Killing(until));
        let Some(killed) = self.tally(self.scope.kill_all(self.count, until)) else {
            return self.leave_the_rest(code);
        };
        self.killed += killed;
        self.reap()
    }

    /// Notes who a signal reached, for the summary, and returns how many;
    /// `None` when pidone cannot see its descendants.
    fn tally(&mut self, reached: Reached) -> Option<usize> {
        self.uncounted |= matches!(reached, Reached::Everyone);
        let these = match reached {
            Reached::Blind => return None,
            Reached::Everyone => Vec::new(),
            Reached::These(these) => these,
        };
        let n = these.len();
        self.drained.extend(these);
        Some(n)
    }

    /// Stops waiting for what SIGKILL did not end: names it and exits.
    fn give_up(&self, code: u8, why: &str) -> ControlFlow<u8> {
        let left = match self.scope.processes() {
            Some(left) => {
                let name = |p: &Leftover| format!("pid {} ({})", p.pid, procfs::name(p.pid));
                let named: Vec<String> = left.iter().take(8).map(name).collect();
                let more = left.len().saturating_sub(named.len());
                let more = (more > 0).then(|| format!(" and {more} more"));
                named.join(", ") + &more.unwrap_or_default()
            }
            None => "processes pidone cannot list without /proc".to_owned(),
        };
        let fate = match self.scope.is_init() {
            true => "the kernel ends them with the namespace",
            false => "they go to the next reaper",
        };
        log::warn!("{why}: exiting with {code}, leaving {left}; {fate}");
        Break(code)
    }

    /// pidone cannot see what the main child left: waiting would be for
    /// processes it can neither signal nor count. They go to the next
    /// reaper, as with `--no-drain`.
    fn leave_the_rest(&self, code: u8) -> ControlFlow<u8> {
        log::warn!("cannot drain the processes left: {BLIND}; leaving them to the next reaper");
        Break(code)
    }

    /// The exit code for `code`, after `-e`.
    fn finish(self, code: u8) -> u8 {
        let drain = (!self.uncounted).then_some((self.drained.len(), self.killed));
        match drain {
            None => log::info!("drained every other process of the namespace after the main child exited (without /proc pidone cannot count them)"),
            Some((drained, killed)) if drained > 0 => {
                let drained = processes(drained);
                log::info!("drained {drained} after the main child exited; {killed} had to be killed");
            }
            Some(_) => {}
        }
        if self.config.success_codes.contains(&code) {
            log::info!("exit code {code} reported as 0 (-e)");
            return 0;
        }
        if let Some(path) = &self.config.termination_log {
            self.reasons.write_message(path, code, drain);
        }
        code
    }
}

/// `d` from now, or as far as the clock reaches (`--grace` may be huge).
fn after(d: Duration) -> Instant {
    let now = Instant::now();
    let far = now.checked_add(Duration::from_secs(u32::MAX.into()));
    now.checked_add(d).or(far).unwrap_or(now)
}

/// "1 process", "3 processes".
fn processes(n: usize) -> String {
    format!("{n} process{}", if n == 1 { "" } else { "es" })
}
