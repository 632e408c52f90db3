//! Who a signal reaches, and how to reach exactly them and nobody else.
//!
//! A pid is not an identity: once a process is reaped its number can be
//! handed to a stranger. pidone names a process by its pid and its start
//! time (`/proc/PID/stat`), and signals it through a pidfd
//! (pidfd_open(2), Linux 5.3; pidfd_send_signal(2), Linux 5.1) opened
//! before that identity is checked: the signal reaches that process or, if
//! it is gone, nobody. Where pidfds are refused, whatever the errno (old
//! kernels say ENOSYS, old Docker seccomp profiles EPERM, a full descriptor
//! table EMFILE), pidone falls back to kill(2) right after the same check.
//! No process is ever skipped for want of a descriptor, and the walk holds
//! at most one at a time.
//!
//! "Every process pidone may signal" depends on where pidone stands. As PID 1
//! of its namespace it is everyone else there, and `kill(-1, ...)` reaches
//! exactly them (pid_namespaces(7)). Anywhere else it is only pidone's own
//! descendants, walked down from pidone through /proc: pidone never sends
//! `kill(-1, ...)` outside its own namespace.

use std::collections::BTreeSet;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use log::Level;
use nix::errno::Errno;

use crate::procfs;
use crate::signals;
use crate::sys;

/// Who forwarded signals reach (`--forward`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The main child's process group: a whole shell pipeline (default).
    Group,
    /// The main child alone (`--single-child`, tini's default).
    Child,
    /// Every process pidone may signal, daemons that called setsid too.
    All,
}

/// The main child, held by a pidfd where the kernel gives one.
#[derive(Debug)]
pub(crate) struct Process {
    pub pid: i32,
    pidfd: Option<OwnedFd>,
}

impl Process {
    /// Holds `pid`, which the caller knows to be its own un-reaped child:
    /// its number cannot be reused before pidone reaps it, so a pidfd
    /// opened now is race-free, and kill(2) is exact where there is none.
    pub fn own(pid: i32) -> Process {
        let pidfd = open_pidfd(pid);
        Process { pid, pidfd }
    }

    /// The pidfd's descriptor, if the kernel gave one.
    pub fn pidfd(&self) -> Option<RawFd> {
        self.pidfd.as_ref().map(|fd| fd.as_raw_fd())
    }

    /// Sends `signo` to this process, and only to it.
    pub fn signal(&self, signo: i32) -> Result<(), Errno> {
        send(self.pidfd.as_ref(), self.pid, signo)
    }
}

/// A process found by a walk, named by its pid and start time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Leftover {
    pub pid: i32,
    start: u64,
}

impl Leftover {
    fn of(stat: procfs::Stat) -> Leftover {
        let (pid, start) = (stat.pid, stat.start);
        Leftover { pid, start }
    }

    /// Sends `signos`, one after the other, if `pid` still names the
    /// process the walk found; whether they arrived. The pidfd is opened
    /// first and the identity checked after, so a pidfd that passes names
    /// that very process; without one the check is followed at once by
    /// kill(2).
    fn deliver(self, signos: &[i32]) -> bool {
        let pidfd = open_pidfd(self.pid);
        let now = procfs::stat(self.pid);
        if !now.is_some_and(|now| now.start == self.start && !now.zombie) {
            return false;
        }
        let sent = signos.iter().map(|&s| send(pidfd.as_ref(), self.pid, s));
        match sent.fold(Ok(()), Result::and) {
            Err(Errno::ESRCH) => false,
            Err(e) => {
                let first = signos.first().copied().unwrap_or(0);
                warn_failed(first, &format!("pid {}", self.pid), e);
                false
            }
            Ok(()) => true,
        }
    }
}

/// Whether pidfds still work here; false once the kernel or a sandbox
/// refused one for good (not for a passing shortage of descriptors).
static PIDFDS: AtomicBool = AtomicBool::new(true);
/// Whether pidone has said it signals by pid.
static SAID: AtomicBool = AtomicBool::new(false);

fn open_pidfd(pid: i32) -> Option<OwnedFd> {
    if !PIDFDS.load(Ordering::Relaxed) {
        return None;
    }
    let pidfd = sys::pidfd_open(pid);
    pidfd.inspect_err(|&e| fall_back("pidfd_open", e)).ok()
}

/// Through the pidfd when there is one; else, or when the pidfd call
/// fails, by kill(2) (the caller has made sure `pid` is the process). An
/// EPERM that kill(2) does not repeat was a refusal of the interface, not
/// of the signal.
fn send(pidfd: Option<&OwnedFd>, pid: i32, signo: i32) -> Result<(), Errno> {
    let Some(fd) = pidfd else {
        return sys::kill(pid, signo);
    };
    match sys::pidfd_send_signal(fd.as_raw_fd(), signo) {
        Err(e) if e != Errno::ESRCH => {
            let sent = sys::kill(pid, signo);
            if e != Errno::EPERM || sent.is_ok() {
                fall_back("pidfd_send_signal", e);
            }
            sent
        }
        done => done,
    }
}

/// A pidfd call failed with `e`: said once, and for good when the interface
/// itself is refused. ESRCH refuses nothing: the process is gone.
fn fall_back(call: &str, e: Errno) {
    if e == Errno::ESRCH {
        return;
    }
    let refused = [Errno::ENOSYS, Errno::EPERM, Errno::EACCES, Errno::EINVAL].contains(&e);
    if refused {
        PIDFDS.store(false, Ordering::Relaxed);
    }
    if !SAID.swap(true, Ordering::Relaxed) {
        let level = if refused { Level::Info } else { Level::Warn };
        let e = e.desc();
        let what = "signalling by pid, each process checked by its start time first";
        log::log!(level, "{call} failed ({e}): {what}");
    }
}

/// Who a signal to every process reached.
#[derive(Debug)]
pub(crate) enum Reached {
    /// These processes.
    These(Vec<Leftover>),
    /// As PID 1, everyone in the namespace by `kill(-1)`, not counted.
    Everyone,
    /// Nobody: pidone cannot see its descendants ([`BLIND`]).
    Blind,
}

/// Why pidone, not PID 1, cannot find its descendants.
pub(crate) const BLIND: &str =
    "/proc is missing or belongs to another PID namespace, so pidone cannot tell its descendants";

/// Where pidone stands, which decides what "every process" means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// PID 1 of its namespace: everyone else in it, by `kill(-1)`.
    Init,
    /// Anything else: pidone's own descendants, one by one.
    Subreaper { me: i32 },
}

impl Scope {
    pub fn current() -> Scope {
        match std::process::id() as i32 {
            1 => Scope::Init,
            me => Scope::Subreaper { me },
        }
    }

    pub fn is_init(self) -> bool {
        self == Scope::Init
    }

    /// pidone's own pid.
    pub fn me(self) -> i32 {
        match self {
            Scope::Init => 1,
            Scope::Subreaper { me } => me,
        }
    }

    /// Every live process pidone may signal, if it can see them.
    pub fn processes(self) -> Option<Vec<Leftover>> {
        procfs::is_ours().then(|| match self {
            Scope::Init => procfs::all()
                .filter(|p| p.pid != 1 && !p.zombie)
                .map(Leftover::of)
                .collect(),
            Scope::Subreaper { me } => descendants(me),
        })
    }

    /// Sends `signo` to every process pidone may signal, each followed by
    /// SIGCONT when `wake` (so a stopped one can act on a SIGTERM). As
    /// PID 1 the processes are listed only when `count`.
    pub fn signal_all(self, signo: i32, wake: bool, count: bool) -> Reached {
        let both = [signo, libc::SIGCONT];
        let signals = if wake { &both[..] } else { &both[..1] };
        if self.is_init() {
            let listed = count.then(|| self.processes()).flatten();
            for &s in signals {
                match sys::kill(-1, s) {
                    Ok(()) | Err(Errno::ESRCH) => {}
                    Err(e) => warn_failed(s, "every process", e),
                }
            }
            return listed.map_or(Reached::Everyone, Reached::These);
        }
        let Some(found) = self.processes() else {
            return Reached::Blind;
        };
        Reached::These(found.into_iter().filter(|p| p.deliver(signals)).collect())
    }

    /// SIGKILLs every process pidone may signal.
    ///
    /// Outside PID 1 there is no atomic `kill(-1)`: a process may fork
    /// between the walk and the kill, so walk again until a walk finds
    /// nobody new, or `until` passes. Killed processes cannot fork, so this
    /// ends after a walk or two.
    pub fn kill_all(self, count: bool, until: Instant) -> Reached {
        if self.is_init() {
            return self.signal_all(libc::SIGKILL, false, count);
        }
        let mut seen = BTreeSet::new();
        let mut killed = Vec::new();
        loop {
            let Some(found) = self.processes() else {
                return Reached::Blind;
            };
            let fresh: Vec<Leftover> = found.into_iter().filter(|p| seen.insert(*p)).collect();
            killed.extend(fresh.iter().filter(|p| p.deliver(&[libc::SIGKILL])));
            if fresh.is_empty() || Instant::now() >= until {
                return Reached::These(killed);
            }
        }
    }
}

fn warn_failed(signo: i32, whom: &str, e: Errno) {
    let name = signals::name(signo);
    log::warn!("failed to send {name} to {whom}: {}", e.desc());
}

/// pidone's live descendants (a process lives while any of its threads
/// does), each checked to be the child of a process already found (or of
/// pidone) when its stat was read. Holds no descriptor.
fn descendants(me: i32) -> Vec<Leftover> {
    let mut found = Vec::new();
    let mut seen = BTreeSet::new();
    let mut parents = vec![me];
    let mut scan = None;
    while let Some(parent) = parents.pop() {
        // A process re-parented during the walk may be listed twice.
        let fresh = procfs::children(parent, &mut scan).into_iter();
        for pid in fresh.filter(|&pid| seen.insert(pid)) {
            let stat = procfs::stat(pid).filter(|s| s.ppid == parent && !s.zombie);
            if let Some(stat) = stat {
                parents.push(pid);
                found.push(Leftover::of(stat));
            }
        }
    }
    found
}

impl Target {
    /// Who forwarded signals reach while the main child runs. A child left
    /// in pidone's own group (see `jobctl::Terminal::own_group`) cannot be
    /// signalled as a group without pidone signalling itself.
    pub(crate) fn at_start(self, own_group: bool) -> Target {
        match self {
            Target::Group if !own_group => Target::Child,
            other => other,
        }
    }

    /// Who they reach once the main child is gone: its group becomes "what
    /// remains of pidone's processes", the child alone becomes nobody.
    pub(crate) fn after_main_child(self) -> Option<Target> {
        match self {
            Target::Group | Target::All => Some(Target::All),
            Target::Child => None,
        }
    }

    /// Sends `signo`, each process woken with SIGCONT after it when
    /// `wake`. `main` is the running main child, needed by `Group` and
    /// `Child`. ESRCH when nobody received it, ENOENT when pidone cannot
    /// see its descendants in /proc.
    pub(crate) fn send(
        self,
        scope: Scope,
        main: Option<&Process>,
        signo: i32,
        wake: bool,
    ) -> Result<(), Errno> {
        let sent = match (self, main) {
            (Target::All, _) => {
                return match scope.signal_all(signo, wake, false) {
                    Reached::Blind => Err(Errno::ENOENT),
                    Reached::These(p) if p.is_empty() => Err(Errno::ESRCH),
                    _ => Ok(()),
                }
            }
            (Target::Child, Some(child)) => child.signal(signo),
            (Target::Group, Some(child)) => to_group(child, signo),
            _ => return Err(Errno::ESRCH),
        };
        if wake && sent.is_ok() {
            let _ = self.send(scope, main, libc::SIGCONT, false);
        }
        sent
    }
}

/// The group's id is the main child's pid, which cannot be reused while
/// the child is un-reaped. If the child moved itself to another group, it
/// still gets the signal.
fn to_group(child: &Process, signo: i32) -> Result<(), Errno> {
    let group = sys::kill(-child.pid, signo);
    let left = nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(child.pid)))
        .is_ok_and(|g| g.as_raw() != child.pid);
    if left || group.is_err() {
        return child.signal(signo).or(group);
    }
    group
}
