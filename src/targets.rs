//! Who a signal reaches, and how to reach exactly them and nobody else.
//!
//! A pid is not an identity: once a process is reaped its number can be
//! handed to a stranger. So pidone holds processes by pidfd (pidfd_open(2),
//! Linux 5.3) and signals through it (pidfd_send_signal(2), Linux 5.1): a
//! signal sent through a pidfd reaches that process or, if it is gone,
//! nobody. On older kernels pidone falls back to kill(2).
//!
//! "Every process pidone may signal" depends on where pidone stands. As PID 1
//! of its namespace it is everyone else there, and `kill(-1, ...)` reaches
//! exactly them (pid_namespaces(7)). Anywhere else it is only pidone's own
//! descendants, walked down from pidone through /proc: pidone never sends
//! `kill(-1, ...)` outside its own namespace.

use std::collections::HashSet;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

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

/// A process held by its identity, not only its number.
#[derive(Debug)]
pub(crate) struct Process {
    pub pid: i32,
    /// `None` where the kernel has no pidfds.
    pidfd: Option<OwnedFd>,
}

impl Process {
    /// Holds `pid`, which the caller knows to be its own un-reaped child
    /// (so the number cannot have been reused yet).
    pub fn child(pid: i32) -> Process {
        Process {
            pid,
            pidfd: sys::pidfd_open(pid).ok(),
        }
    }

    /// Holds the child `pid` by a pidfd the kernel gave at clone(2).
    pub fn with_pidfd(pid: i32, pidfd: OwnedFd) -> Process {
        Process {
            pid,
            pidfd: Some(pidfd),
        }
    }

    /// Holds `pid` if, once held, it is still a live child of `parent`:
    /// checked after the pidfd is open, so the pidfd names that child and
    /// not a process that took its number after it exited. `None` if it is
    /// gone or is someone else.
    fn child_of(parent: i32, pid: i32) -> Option<Process> {
        let pidfd = match sys::pidfd_open(pid) {
            Ok(fd) => Some(fd),
            Err(Errno::ENOSYS) => None,
            Err(_) => return None,
        };
        let stat = procfs::stat(pid)?;
        (stat.ppid == parent && !stat.zombie).then_some(Process { pid, pidfd })
    }

    /// The pidfd's descriptor, if the kernel gave one.
    pub fn pidfd(&self) -> Option<RawFd> {
        self.pidfd.as_ref().map(|fd| fd.as_raw_fd())
    }

    /// Sends `signo` to this process, and only to it.
    pub fn signal(&self, signo: i32) -> Result<(), Errno> {
        match &self.pidfd {
            Some(fd) => sys::pidfd_send_signal(fd.as_raw_fd(), signo),
            None => sys::kill(self.pid, signo),
        }
    }
}

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

    /// Sends `signo` to every process pidone may signal. Returns how many
    /// there were when `count` is asked for (as PID 1 that costs a scan of
    /// /proc, so it is done only when the number will be logged), else 0;
    /// `None` when pidone cannot see its descendants (see [`descendants`]).
    pub fn signal_all(self, signo: i32, count: bool) -> Option<usize> {
        match self {
            Scope::Init => {
                let n = if count && procfs::is_ours() {
                    procfs::all().filter(|p| p.pid != 1 && !p.zombie).count()
                } else {
                    0
                };
                match sys::kill(-1, signo) {
                    Ok(()) | Err(Errno::ESRCH) => {}
                    Err(e) => log::warn!(
                        "failed to send {} to every process: {}",
                        signals::name(signo),
                        e.desc()
                    ),
                }
                Some(n)
            }
            Scope::Subreaper { me } => {
                Some(descendants(me)?.iter().filter(|p| send(p, signo)).count())
            }
        }
    }

    /// SIGKILLs every process pidone may signal; returns how many, or
    /// `None` when pidone cannot see its descendants.
    ///
    /// Outside PID 1 there is no atomic `kill(-1)`: a process may fork
    /// between the walk and the kill, so walk again until no new one is
    /// alive. Killed processes cannot fork, so this ends after a round or
    /// two.
    pub fn kill_all(self) -> Option<usize> {
        let Scope::Subreaper { me } = self else {
            return self.signal_all(libc::SIGKILL, log::log_enabled!(log::Level::Info));
        };
        let mut killed = HashSet::new();
        for _ in 0..64 {
            let fresh: Vec<Process> = descendants(me)?
                .into_iter()
                .filter(|p| !killed.contains(&p.pid))
                .collect();
            if fresh.is_empty() {
                break;
            }
            for p in fresh {
                if send(&p, libc::SIGKILL) {
                    killed.insert(p.pid);
                }
            }
        }
        Some(killed.len())
    }
}

fn send(p: &Process, signo: i32) -> bool {
    match p.signal(signo) {
        Ok(()) => true,
        Err(Errno::ESRCH) => false,
        Err(e) => {
            log::warn!(
                "failed to send {} to pid {}: {}",
                signals::name(signo),
                p.pid,
                e.desc()
            );
            false
        }
    }
}

/// pidone's live descendants, each held by a pidfd and checked to be the
/// child of a process already found (or of pidone) after it was held.
/// Zombies are left out: they are done and only wait to be reaped.
///
/// `None` when /proc is missing or another namespace's: its numbers would
/// name other processes, so pidone signals nobody rather than the wrong
/// ones.
fn descendants(me: i32) -> Option<Vec<Process>> {
    if !procfs::is_ours() {
        return None;
    }
    let mut found: Vec<Process> = Vec::new();
    let mut seen = HashSet::new();
    let mut parents = vec![me];
    let mut scan = None;
    while let Some(parent) = parents.pop() {
        for pid in procfs::children(parent, &mut scan) {
            // A process re-parented during the walk may be listed twice.
            if !seen.insert(pid) {
                continue;
            }
            if let Some(p) = Process::child_of(parent, pid) {
                parents.push(pid);
                found.push(p);
            }
        }
    }
    Some(found)
}

/// Who forwarded signals reach now. Decided once from `--forward` when the
/// child starts, and changed once, when the main child is gone: its pid and
/// group id may then be anyone's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recipient {
    /// The main child's process group (its id is the child's pid).
    Group,
    /// The main child alone.
    Child,
    /// Every process pidone may signal ([`Scope::signal_all`]).
    Everyone,
    /// Nobody: the signal is dropped.
    Nobody,
}

impl Recipient {
    /// The recipient while the main child runs. A child left in pidone's
    /// own group (see `spawn::Child::own_group`) cannot be signalled as a
    /// group without pidone signalling itself.
    pub fn at_start(target: Target, has_child: bool, own_group: bool) -> Recipient {
        match (target, has_child) {
            (Target::All, _) => Recipient::Everyone,
            (_, false) => Recipient::Nobody,
            (Target::Group, true) if own_group => Recipient::Group,
            (Target::Group | Target::Child, true) => Recipient::Child,
        }
    }

    /// The recipient once the main child is gone: its group becomes "what
    /// remains of pidone's processes", the child alone becomes nobody.
    pub fn after_main_child(self) -> Recipient {
        match self {
            Recipient::Group | Recipient::Everyone => Recipient::Everyone,
            Recipient::Child | Recipient::Nobody => Recipient::Nobody,
        }
    }

    /// Sends `signo` to this recipient. `main` is the running main child,
    /// needed by `Group` and `Child`. ESRCH when nobody received it, ENOENT
    /// when pidone cannot see its descendants in /proc.
    pub fn send(self, scope: Scope, main: Option<&Process>, signo: i32) -> Result<(), Errno> {
        match (self, main) {
            (Recipient::Everyone, _) => match scope.signal_all(signo, false) {
                Some(_) => Ok(()),
                None => Err(Errno::ENOENT),
            },
            (Recipient::Child, Some(child)) => child.signal(signo),
            (Recipient::Group, Some(child)) => {
                // The group's id is the main child's pid, which cannot be
                // reused while the child is un-reaped. If the child moved
                // itself to another group, it still gets the signal.
                let group = sys::kill(-child.pid, signo);
                let left = nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(child.pid)))
                    .is_ok_and(|g| g.as_raw() != child.pid);
                if left || group.is_err() {
                    return child.signal(signo).or(group);
                }
                group
            }
            _ => Err(Errno::ESRCH),
        }
    }
}
