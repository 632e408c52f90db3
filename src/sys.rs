//! The raw system calls pidone needs and nix cannot give in the shape needed.
//!
//! nix models signals as an enum of the 31 standard ones, so it can neither
//! block, wait for nor send real-time signals, and its `waitpid` fails on a
//! child killed by one. These wrappers take signal numbers as the kernel does
//! (1..=64). Masks go straight to the kernel's `rt_sig*` calls, because libc
//! wrappers quietly leave out the signals they reserve for themselves (32-34).
//! Nothing here allocates, so the child may call [`set_mask`] between fork
//! and exec.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::ptr::{null, null_mut};
use std::time::Duration;

use libc::{syscall, SYS_close_range, SYS_pidfd_open, SYS_pidfd_send_signal, SIG_SETMASK};
use libc::{SYS_rt_sigprocmask, SYS_rt_sigtimedwait};
use nix::errno::Errno;
use nix::sys::resource::{getrlimit, Resource};
use nix::sys::time::TimeSpec;

/// The highest signal number on Linux (`_NSIG - 1`).
pub const SIGMAX: i32 = 64;

/// A kernel signal mask: bit `n - 1` stands for signal `n`. Transparent:
/// a pointer to it is a pointer to the kernel's sigset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct Mask(pub u64);

impl Mask {
    /// Every signal, 1 to 64.
    pub const ALL: Mask = Mask(!0);
}

/// Sets the calling thread's signal mask and returns the one it replaces.
/// Async-signal-safe.
pub fn set_mask(mask: Mask) -> Result<Mask, Errno> {
    let mut old = Mask(0);
    // SAFETY: both pointers are to live masks (u64s), and 8 bytes is the
    // kernel's sigset size on every Linux architecture pidone builds for.
    let rc = unsafe { syscall(SYS_rt_sigprocmask, SIG_SETMASK, &mask, &mut old, 8usize) };
    Errno::result(rc).map(|_| old)
}

/// What pidone needs to know of a signal it took from its queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SigInfo {
    pub signo: i32,
    /// The sender's pid, where the kernel says (`kill`, `sigqueue`, SIGCHLD).
    pub pid: i32,
    /// `si_code`: SI_USER for kill(2), SI_KERNEL for a terminal's signals.
    pub code: i32,
}

/// Takes the next pending signal of `mask`, sleeping until one comes or
/// `timeout` passes (`Ok(None)`). With no timeout it sleeps for as long as
/// it takes: an idle pidone never wakes up.
pub fn wait_signal(mask: Mask, timeout: Option<Duration>) -> Result<Option<SigInfo>, Errno> {
    // A timeout past what a timespec holds would be EINVAL: cap it (at
    // about 292 billion years).
    let ts = timeout.map(|t| TimeSpec::from(t.min(Duration::from_secs(i64::MAX as u64))));
    let ts_ptr: *const libc::timespec = ts.as_ref().map_or(null(), |t| t.as_ref());
    // SAFETY: siginfo_t is plain data for which all-zero is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: every pointer is to a live value of the type the kernel
    // expects; the timespec, when given, outlives the call.
    let rc = unsafe { syscall(SYS_rt_sigtimedwait, &mask, &mut info, ts_ptr, 8usize) };
    match Errno::result(rc) {
        Ok(signo) => Ok(Some(SigInfo {
            signo: signo as i32,
            // SAFETY: `info` is initialised (zeroed, then filled by the
            // kernel), and every member of siginfo's union is plain data, so
            // reading its first field as a pid is defined for any signal. It
            // *means* the sender's pid for kill(2), sigqueue(3), SIGCHLD and
            // signals the kernel sends as SI_USER (SIGPIPE, SIGXFSZ); for a
            // fault or a timer it holds other bits, which pidone only logs.
            pid: unsafe { info.si_pid() },
            code: info.si_code,
        })),
        Err(Errno::EAGAIN) => Ok(None),
        Err(err) => Err(err),
    }
}

/// kill(2) with a raw signal number, so real-time signals can be sent.
pub fn kill(pid: i32, signo: i32) -> Result<(), Errno> {
    // SAFETY: kill has no memory-safety preconditions.
    Errno::result(unsafe { libc::kill(pid, signo) }).map(drop)
}

/// A pidfd for `pid` (pidfd_open(2), Linux 5.3): a handle on the process
/// itself, not on its number, so a signal sent through it can never reach
/// a process that got the number later. ENOSYS on older kernels.
pub fn pidfd_open(pid: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes a pid and flags, no pointers.
    let fd = Errno::result(unsafe { syscall(SYS_pidfd_open, pid, 0) })?;
    // SAFETY: the kernel returned a new descriptor that nothing else owns
    // (pidfd_open sets close-on-exec itself).
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Sends `signo` through a pidfd (pidfd_send_signal(2), Linux 5.1): ESRCH
/// once that very process has exited, whoever holds its number now.
pub fn pidfd_send_signal(pidfd: RawFd, signo: i32) -> Result<(), Errno> {
    // SAFETY: a null siginfo (0usize: the argument is pointer-sized) makes
    // the kernel fill in a kill(2)-like one; the rest are plain integers.
    let rc = unsafe { syscall(SYS_pidfd_send_signal, pidfd, signo, 0usize, 0) };
    Errno::result(rc).map(drop)
}

/// Closes every descriptor from `first` to `last` (close_range(2), Linux
/// 5.9): ENOSYS on older kernels.
pub fn close_range(first: u32, last: u32) -> Result<(), Errno> {
    // SAFETY: close_range takes integers only; closing descriptors is
    // memory-safe (the callers own what they close).
    let rc = unsafe { syscall(SYS_close_range, first, last, 0) };
    Errno::result(rc).map(drop)
}

/// One write(2), whatever the descriptor; never retried, never blocking
/// more than the descriptor itself does.
pub fn write(fd: RawFd, bytes: &[u8]) -> Result<usize, Errno> {
    // SAFETY: the pointer and length describe `bytes`, which outlives the call.
    let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    Errno::result(n).map(|n| n as usize)
}

/// One send(2) on a socket that never blocks (MSG_DONTWAIT) and never
/// raises SIGPIPE (MSG_NOSIGNAL).
pub fn send_nonblocking(fd: RawFd, bytes: &[u8]) -> Result<usize, Errno> {
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    // SAFETY: the pointer and length describe `bytes`, which outlives the call.
    let n = unsafe { libc::send(fd, bytes.as_ptr().cast(), bytes.len(), flags) };
    Errno::result(n).map(|n| n as usize)
}

/// Whether a write of up to PIPE_BUF bytes to `fd` would not block now
/// (poll(2) with no timeout).
pub fn writable_now(fd: RawFd) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one live pollfd, count 1, no timeout.
    let rc = unsafe { libc::poll(&mut pfd, 1, 0) };
    rc == 1 && pfd.revents & libc::POLLOUT != 0
}

/// One `waitpid(pid, ...)` (`pid` -1 for any child): `Ok(None)` when
/// children exist but none is ready (WNOHANG), `Err(ECHILD)` when there are
/// none at all. The raw status is returned because nix cannot decode a
/// death by a real-time signal.
pub fn wait(pid: i32, flags: libc::c_int) -> Result<Option<(i32, libc::c_int)>, Errno> {
    let mut status: libc::c_int = 0;
    // SAFETY: `status` is a live c_int for the kernel to fill.
    let pid = Errno::result(unsafe { libc::waitpid(pid, &mut status, flags) })?;
    Ok((pid > 0).then_some((pid, status)))
}

/// Asks the kernel to send `signo` to pidone when its parent dies
/// (PR_SET_PDEATHSIG, prctl(2)).
pub fn set_parent_death_signal(signo: i32) -> Result<(), Errno> {
    // SAFETY: PR_SET_PDEATHSIG takes one integer argument.
    Errno::result(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signo as libc::c_ulong) }).map(drop)
}

/// Sets SIGCHLD to its default disposition, returning whether it was
/// ignored. An ignored SIGCHLD (or SA_NOCLDWAIT) makes the kernel reap
/// children itself, and pidone would never learn the main child's status.
pub fn reset_sigchld() -> bool {
    // SAFETY: all-zero is a valid sigaction (SIG_DFL, no flags, empty mask).
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action makes sigaction only read the current one
    // into `old`, a live struct.
    unsafe { libc::sigaction(libc::SIGCHLD, null(), &mut old) };
    let ignored = old.sa_sigaction == libc::SIG_IGN;
    if ignored || old.sa_flags & libc::SA_NOCLDWAIT != 0 {
        // SAFETY: as above; SIG_DFL with no flags and an empty mask.
        let default: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: installs SIG_DFL (no handler, so nothing can run
        // asynchronously) from a live struct; the old action is not asked.
        unsafe { libc::sigaction(libc::SIGCHLD, &default, null_mut()) };
    }
    ignored
}

/// The foreground process group of the terminal on `fd`, if it is one.
pub fn terminal_foreground(fd: i32) -> Option<i32> {
    // SAFETY: tcgetpgrp only reads the descriptor.
    let pgrp = unsafe { libc::tcgetpgrp(fd) };
    (pgrp > 0).then_some(pgrp)
}

/// Makes `pgrp` the foreground process group of the terminal on `fd`.
pub fn give_terminal(fd: i32, pgrp: i32) -> Result<(), Errno> {
    // SAFETY: tcsetpgrp has no memory-safety preconditions.
    Errno::result(unsafe { libc::tcsetpgrp(fd, pgrp) }).map(drop)
}

/// One past the highest descriptor number this process may have:
/// RLIMIT_NOFILE's hard limit, capped at the kernel's default `nr_open`.
pub fn descriptor_limit() -> u32 {
    const NR_OPEN: u32 = 1 << 20;
    let max = getrlimit(Resource::RLIMIT_NOFILE).map_or(libc::RLIM_INFINITY, |(_, max)| max);
    u32::try_from(max).map_or(NR_OPEN, |max| max.min(NR_OPEN))
}

extern "C" {
    /// The C library's environment: `NAME=value` strings, null-terminated.
    static environ: *const *const libc::c_char;
}

/// The environment as the C library holds it, without copying a byte:
/// pidone passes it to the child as it is. Valid until something changes
/// the environment, which pidone itself never does.
pub fn environment() -> impl Iterator<Item = &'static CStr> {
    // SAFETY: reading the pointer itself; pidone has no other thread that
    // could be changing it.
    let mut next = unsafe { environ };
    std::iter::from_fn(move || {
        // SAFETY: `next` is null (no environment) or points into environ's
        // null-terminated array, never past the null that ends it.
        let entry = *unsafe { next.as_ref() }?;
        if entry.is_null() {
            return None;
        }
        // SAFETY: not past the terminating null, checked just above.
        next = unsafe { next.add(1) };
        // SAFETY: every entry is a NUL-terminated string that lives as long
        // as the environment is not changed.
        Some(unsafe { CStr::from_ptr(entry) })
    })
}
