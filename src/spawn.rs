//! Starting the main child, and letting go of what pidone inherited for it.
//!
//! Everything the child needs is built first, then fork, then the child's
//! side before exec. Between fork and exec the child makes only
//! async-signal-safe calls: no allocation, no logging, no locks, no
//! bounds-checked indexing that could panic. It ends in exec or `_exit`,
//! never returning into Rust. pidone never starts a thread, which is what
//! makes the fork sound in the first place. An exec failure travels back to
//! pidone as an errno over a close-on-exec pipe, so pidone can say what
//! went wrong instead of guessing from an exit code.
//!
//! pidone moves to `/` before the fork and closes the descriptors it
//! inherited right after it: the child goes back to the caller's directory
//! itself (fchdir(2) on a descriptor opened before), so pidone pins no
//! directory, mount, file or socket, even for a moment.
#![allow(unsafe_code)]

use std::ffi::{CString, OsString};
use std::fmt;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::unistd::{self, ForkResult};

use crate::signals::{printable, Blocked};
use crate::sys;
use crate::targets::Process;

/// The PATH searched when none is set, as Docker sets it.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the child reports instead of an index into the candidates when it
/// could not go back to the caller's working directory.
const CWD_FAILED: i32 = -1;

/// The running main child.
#[derive(Debug)]
pub(crate) struct Child {
    /// The child itself; its pid is also its process group's id.
    pub process: Process,
    /// pidone's controlling terminal (on stdin, stdout or stderr), if it
    /// has one, for job control.
    pub tty: Option<RawFd>,
    /// It leads a process group of its own. Not so when pidone has a
    /// terminal and its own group lies outside its PID namespace
    /// (`unshare --pid --fork` typed in a shell): pidone cannot tell whether
    /// that group holds the terminal, so the child stays in it rather than
    /// risk a background group that stops at its first read.
    pub own_group: bool,
}

/// Why the child could not be started.
#[derive(Debug)]
pub enum SpawnError {
    /// An argument or variable holds a NUL byte, which exec cannot pass.
    Nul(&'static str),
    Pipe(Errno),
    Fork(Errno),
    /// The child could not go back to the caller's working directory.
    Cwd {
        command: String,
        errno: Errno,
    },
    /// exec failed in the child; `errno` came back over the pipe. `path` is
    /// the file exec tried, when a PATH search found one.
    Exec {
        command: String,
        path: Option<String>,
        errno: Errno,
    },
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::Nul(what) => {
                write!(f, "cannot run the command: {what} contains a NUL byte")
            }
            SpawnError::Pipe(e) => write!(f, "failed to create a pipe: {}", e.desc()),
            SpawnError::Fork(e) => write!(f, "failed to fork: {}", e.desc()),
            SpawnError::Cwd { command, errno } => write!(
                f,
                "cannot run '{command}': cannot return to the working directory: {}",
                errno.desc()
            ),
            SpawnError::Exec {
                command,
                path: Some(path),
                errno,
            } => write!(f, "cannot run '{command}' ({path}): {}", errno.desc()),
            SpawnError::Exec { command, errno, .. } => {
                write!(f, "cannot run '{command}': {}", errno.desc())
            }
        }
    }
}

impl std::error::Error for SpawnError {}

impl SpawnError {
    /// 127 when the command was not found, 126 when it was found but could
    /// not run, as shells and Docker report them; 125 when pidone itself
    /// failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            SpawnError::Exec {
                errno: Errno::ENOENT,
                ..
            } => 127,
            SpawnError::Exec { .. } => 126,
            _ => 125,
        }
    }
}

/// Everything the child touches between fork and exec, built beforehand.
struct Plan {
    /// Paths to try, in PATH order.
    candidates: Vec<CString>,
    /// Whether the candidates come from a PATH search.
    searched: bool,
    /// Owns the strings `argv_ptrs` points into.
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    /// `/bin/sh <path> args...` for a script without a shebang; slot 1 is
    /// filled in by the child.
    sh_argv: Vec<*const libc::c_char>,
    /// Owns the strings `env_ptrs` points into.
    _env: Vec<CString>,
    env_ptrs: Vec<*const libc::c_char>,
    /// Index in `env_ptrs` of `LISTEN_PID=<pidone's pid>`, to be rewritten
    /// with the child's own pid (sd_listen_fds(3)).
    listen_pid: Option<usize>,
    tty: Option<RawFd>,
    /// pidone's group holds the terminal: the child takes it over.
    take_terminal: bool,
    own_group: bool,
    /// The caller's working directory (O_PATH), for the child to go back to.
    cwd: Option<RawFd>,
    blocked: Blocked,
}

/// Starts `command` with the signal state pidone was given, in its own
/// process group, in the terminal's foreground if pidone held it, in the
/// working directory pidone was started in. pidone itself is in `/` and
/// holds none of its inherited descriptors afterwards (see
/// [`release_inherited`]), whether or not the child could start.
pub(crate) fn spawn(command: &[OsString], blocked: Blocked) -> Result<Child, SpawnError> {
    let mut plan = Plan::new(command, blocked)?;
    let (read_end, write_end) = unistd::pipe2(OFlag::O_CLOEXEC).map_err(SpawnError::Pipe)?;
    plan.cwd = leave_cwd();

    // SAFETY: pidone has no other thread, and the child runs only
    // `exec_child`, which makes async-signal-safe calls and ends in exec or
    // _exit.
    let fork = unsafe { unistd::fork() };
    let child = match fork {
        Ok(ForkResult::Child) => {
            drop(read_end);
            // SAFETY: we are the freshly forked child.
            unsafe { exec_child(&mut plan, write_end.as_raw_fd()) }
        }
        Ok(ForkResult::Parent { child }) => child.as_raw(),
        Err(e) => {
            release_inherited(&[read_end.as_raw_fd()]);
            return Err(SpawnError::Fork(e));
        }
    };
    drop(write_end);
    let process = Process::child(child);
    // The saved directory is among the inherited descriptors closed here.
    release_inherited(&[read_end.as_raw_fd(), process.pidfd().unwrap_or(-1)]);
    match read_report(&read_end) {
        None => Ok(Child {
            process,
            tty: plan.tty,
            own_group: plan.own_group,
        }),
        Some((errno, index)) => {
            // The child has _exit'ed (or is about to): collect it now so it
            // never shows up as a zombie or an orphan.
            let _ = sys::wait(child, 0);
            let command = printable(&command[0].to_string_lossy());
            if index == CWD_FAILED {
                return Err(SpawnError::Cwd { command, errno });
            }
            let path = usize::try_from(index)
                .ok()
                .filter(|_| plan.searched && errno != Errno::ENOENT)
                .and_then(|i| plan.candidates.get(i))
                .map(|p| printable(&p.to_string_lossy()));
            Err(SpawnError::Exec {
                command,
                path,
                errno,
            })
        }
    }
}

/// Opens the working directory (O_PATH: no permission needed, nothing read)
/// for the child to return to, and moves pidone to `/`. `None` if the
/// directory cannot be held: then pidone stays where it is rather than lose
/// the child's directory.
fn leave_cwd() -> Option<RawFd> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let cwd = match nix::fcntl::open(".", flags, nix::sys::stat::Mode::empty()) {
        Ok(fd) => fd,
        Err(e) => {
            log::warn!(
                "cannot hold the working directory ({}): pidone stays in it",
                e.desc()
            );
            return None;
        }
    };
    if let Err(e) = unistd::chdir("/") {
        log::warn!("failed to change directory to /: {}", e.desc());
    }
    Some(cwd)
}

/// Lets go of the caller's working directory and descriptors without
/// starting anything (pause mode).
pub(crate) fn let_go() {
    if let Err(e) = unistd::chdir("/") {
        log::warn!("failed to change directory to /: {}", e.desc());
    }
    release_inherited(&[]);
}

/// Lets go of what pidone inherited: every descriptor above stderr except
/// `keep` and pidone's own stderr description. The child (if any) has its
/// own copies; pidone pins no file, socket or pipe end of the caller's.
///
/// close_range(2) (Linux 5.9) closes the gaps between the kept ones; older
/// kernels get one close(2) per descriptor /proc lists, or per number up to
/// the descriptor limit where /proc is missing.
pub(crate) fn release_inherited(keep: &[RawFd]) {
    let mut keep: Vec<u32> = keep
        .iter()
        .chain(crate::logging::own_fd().as_ref())
        .filter_map(|&fd| u32::try_from(fd).ok())
        .filter(|&fd| fd > 2)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let mut first = 3u32;
    let mut ranges = Vec::new();
    for &fd in &keep {
        if fd > first {
            ranges.push((first, fd - 1));
        }
        first = fd.saturating_add(1);
    }
    ranges.push((first, u32::MAX));
    if ranges
        .iter()
        .all(|&(lo, hi)| sys::close_range(lo, hi).is_ok())
    {
        return;
    }
    let listed: Option<Vec<u32>> = std::fs::read_dir("/proc/self/fd").ok().map(|dir| {
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect()
    });
    let numbers: Box<dyn Iterator<Item = u32>> = match listed {
        Some(fds) => Box::new(fds.into_iter()),
        None => Box::new(3..sys::descriptor_limit()),
    };
    for fd in numbers.filter(|fd| *fd > 2 && keep.binary_search(fd).is_err()) {
        let _ = unistd::close(fd as RawFd);
    }
}

/// Blocks until exec succeeds (EOF: the pipe closed on exec) or the child
/// reports why it failed: its errno and which candidate it was.
fn read_report(pipe: &OwnedFd) -> Option<(Errno, i32)> {
    let mut buf = [0u8; 8];
    let mut got = 0;
    while got < buf.len() {
        match unistd::read(pipe.as_raw_fd(), &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    if got < buf.len() {
        return None;
    }
    let (errno, index) = buf.split_at(4);
    let word = |b: &[u8]| i32::from_ne_bytes(b.try_into().unwrap_or_default());
    Some((Errno::from_raw(word(errno)), word(index)))
}

impl Plan {
    fn new(command: &[OsString], blocked: Blocked) -> Result<Plan, SpawnError> {
        let cstring = |bytes: &[u8], what| CString::new(bytes).map_err(|_| SpawnError::Nul(what));
        let argv = command
            .iter()
            .map(|a| cstring(a.as_bytes(), "an argument"))
            .collect::<Result<Vec<_>, _>>()?;
        let name = command.first().map(|c| c.as_bytes()).unwrap_or_default();
        let searched = !(name.contains(&b'/') || name.is_empty());
        let candidates = if !searched {
            vec![cstring(name, "the command")?]
        } else {
            let path = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
            path.as_bytes()
                .split(|&b| b == b':')
                .map(|dir| {
                    // An empty PATH entry means the current directory.
                    let dir = if dir.is_empty() { &b"."[..] } else { dir };
                    let mut full = dir.to_vec();
                    full.push(b'/');
                    full.extend_from_slice(name);
                    cstring(&full, "PATH")
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        let my_pid = std::process::id().to_string();
        let mut listen_pid = None;
        let mut env = Vec::new();
        for (key, value) in std::env::vars_os() {
            if key == "LISTEN_PID" && value.as_bytes() == my_pid.as_bytes() {
                listen_pid = Some(env.len());
            }
            let mut kv = key.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(value.as_bytes());
            env.push(cstring(&kv, "an environment variable")?);
        }
        let argv_ptrs = null_terminated(&argv);
        let env_ptrs = null_terminated(&env);
        let mut sh_argv = vec![c"/bin/sh".as_ptr(), std::ptr::null()];
        sh_argv.extend(argv.iter().skip(1).map(|a| a.as_ptr()));
        sh_argv.push(std::ptr::null());
        let tty = controlling_terminal();
        let my_group = unistd::getpgrp().as_raw();
        Ok(Plan {
            candidates,
            searched,
            _argv: argv,
            argv_ptrs,
            sh_argv,
            _env: env,
            env_ptrs,
            listen_pid,
            tty,
            take_terminal: tty.and_then(sys::terminal_foreground) == Some(my_group),
            // getpgrp() is 0 when the group's leader is outside pidone's
            // PID namespace (pid_namespaces(7)). That matters only with a
            // terminal at hand.
            own_group: my_group != 0 || !(0..=2).any(sys::is_terminal),
            cwd: None,
            blocked,
        })
    }
}

fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// pidone's controlling terminal, if stdin, stdout or stderr is on it,
/// whether or not pidone is in its foreground now (`pidone cmd &` in a
/// shell): job control hands it to the child once pidone is brought to the
/// foreground.
fn controlling_terminal() -> Option<RawFd> {
    let session = unistd::getsid(None).ok()?.as_raw();
    (0..=2).find(|&fd| sys::terminal_session(fd) == Some(session))
}

/// The child's side: own process group, terminal foreground, the signal
/// state pidone was given, the caller's directory, exec. Reports errno and
/// the candidate's index over `report` on failure.
///
/// # Safety
/// Call only in the child right after fork; it never returns.
unsafe fn exec_child(plan: &mut Plan, report: RawFd) -> ! {
    if plan.own_group {
        // SAFETY: setpgid is async-signal-safe and takes integers.
        unsafe { libc::setpgid(0, 0) };
        if let Some(fd) = plan.tty.filter(|_| plan.take_terminal) {
            // pidone blocks SIGTTOU, so a background group may take the
            // terminal without being stopped (tcsetpgrp(3)).
            // SAFETY: tcsetpgrp and getpid are async-signal-safe.
            unsafe { libc::tcsetpgrp(fd, libc::getpid()) };
        }
    }
    if plan.blocked.sigchld_ignored {
        // SAFETY: signal(2) with SIG_IGN installs no handler; async-signal-safe.
        unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    }
    let _ = sys::set_mask(plan.blocked.mask);
    if let Some(cwd) = plan.cwd {
        // SAFETY: fchdir takes a descriptor, async-signal-safe.
        if unsafe { libc::fchdir(cwd) } != 0 {
            // SAFETY: the report is written to a live pipe; we then _exit.
            unsafe { fail(report, Errno::last_raw(), CWD_FAILED) }
        }
    }

    let mut listen_buf = [0u8; 32];
    if let Some(slot) = plan.listen_pid.and_then(|i| plan.env_ptrs.get_mut(i)) {
        // SAFETY: getpid is async-signal-safe.
        *slot = format_listen_pid(&mut listen_buf, unsafe { libc::getpid() });
    }

    // PATH search as execvp(3) does it: remember the first file that is
    // there but may not run, skip entries that do not exist, stop at any
    // other error.
    let mut denied: Option<(i32, i32)> = None;
    for (index, path) in (0i32..).zip(&plan.candidates) {
        // SAFETY: path, argv and envp are NUL-terminated strings and
        // null-terminated arrays built before fork and still alive.
        unsafe {
            libc::execve(
                path.as_ptr(),
                plan.argv_ptrs.as_ptr(),
                plan.env_ptrs.as_ptr(),
            )
        };
        match Errno::last_raw() {
            libc::ENOEXEC => {
                // No shebang: run it under /bin/sh, as execvp and tini do.
                if let Some(slot) = plan.sh_argv.get_mut(1) {
                    *slot = path.as_ptr();
                }
                // SAFETY: as above; sh_argv points into the same strings.
                unsafe {
                    libc::execve(
                        c"/bin/sh".as_ptr(),
                        plan.sh_argv.as_ptr(),
                        plan.env_ptrs.as_ptr(),
                    )
                };
                // Without a /bin/sh the file is what cannot run.
                let errno = match Errno::last_raw() {
                    libc::ENOENT => libc::ENOEXEC,
                    other => other,
                };
                // SAFETY: as below.
                unsafe { fail(report, errno, index) }
            }
            // A file that is there but may not run; not a PATH entry pidone
            // may not search, which hides nothing it could run (shells skip
            // those too). A directory says so.
            libc::EACCES => {
                if denied.is_none() {
                    // SAFETY: all-zero is a valid stat buffer; stat(2) is
                    // async-signal-safe and the path is NUL-terminated.
                    let mut st: libc::stat = unsafe { std::mem::zeroed() };
                    // SAFETY: as above.
                    if unsafe { libc::stat(path.as_ptr(), &mut st) } == 0 {
                        let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
                        denied = Some((if is_dir { libc::EISDIR } else { libc::EACCES }, index));
                    }
                }
            }
            libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
            // SAFETY: as below.
            other => unsafe { fail(report, other, index) },
        }
    }
    let (errno, index) = denied.unwrap_or((libc::ENOENT, 0));
    // SAFETY: `report` is the pipe's write end; fail ends in _exit.
    unsafe { fail(report, errno, index) }
}

/// Tells pidone why exec failed and ends the child.
///
/// # Safety
/// Only in the forked child: it calls `_exit`.
unsafe fn fail(report: RawFd, errno: i32, index: i32) -> ! {
    let mut bytes = [0u8; 8];
    let (e, i) = bytes.split_at_mut(4);
    e.copy_from_slice(&errno.to_ne_bytes());
    i.copy_from_slice(&index.to_ne_bytes());
    // SAFETY: write(2) and _exit(2) are async-signal-safe; `bytes` is live.
    unsafe {
        libc::write(report, bytes.as_ptr().cast(), bytes.len());
        libc::_exit(127)
    }
}

/// Writes `LISTEN_PID=<pid>\0` into `buf` without allocating or indexing.
fn format_listen_pid(buf: &mut [u8; 32], pid: libc::pid_t) -> *const libc::c_char {
    let mut digits = [0u8; 10];
    let mut n = pid.unsigned_abs();
    let mut len = 0;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
        if n == 0 {
            break;
        }
    }
    let digits = digits.get(digits.len() - len..).unwrap_or_default();
    let text = b"LISTEN_PID=".iter().chain(digits).chain(&[0u8]);
    for (slot, &b) in buf.iter_mut().zip(text) {
        *slot = b;
    }
    buf.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_listen_pid_without_allocating() {
        let mut buf = [0xffu8; 32];
        let ptr = format_listen_pid(&mut buf, 4_194_304);
        // SAFETY: format_listen_pid wrote a NUL-terminated string into buf.
        let s = unsafe { std::ffi::CStr::from_ptr(ptr) };
        assert_eq!(s.to_bytes(), b"LISTEN_PID=4194304");
        format_listen_pid(&mut buf, 7);
        assert_eq!(&buf[..13], b"LISTEN_PID=7\0");
    }

    #[test]
    fn exit_codes_follow_shells() {
        let exec = |errno| SpawnError::Exec {
            command: "x".into(),
            path: None,
            errno,
        };
        assert_eq!(exec(Errno::ENOENT).exit_code(), 127);
        assert_eq!(exec(Errno::EACCES).exit_code(), 126);
        assert_eq!(exec(Errno::EISDIR).exit_code(), 126);
        assert_eq!(exec(Errno::ENOEXEC).exit_code(), 126);
        assert_eq!(SpawnError::Fork(Errno::EAGAIN).exit_code(), 125);
        assert_eq!(
            exec(Errno::ENOENT).to_string(),
            "cannot run 'x': No such file or directory"
        );
    }
}
