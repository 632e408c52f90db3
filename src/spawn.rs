//! Starting the main child: everything it needs is built first, then fork,
//! then the child's side before exec.
//!
//! Between fork and exec the child makes only async-signal-safe calls: no
//! allocation, no logging, no locks. It ends in exec or `_exit`, never
//! returning into Rust. pidone never starts a thread, which is what makes
//! the fork sound in the first place. An exec failure travels back to
//! pidone as an errno over a close-on-exec pipe, so pidone can say what
//! went wrong instead of guessing from an exit code.
#![allow(unsafe_code)]

use std::ffi::{CString, OsString};
use std::fmt;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::unistd::{self, ForkResult};

use crate::signals::Inherited;
use crate::sys;

/// The PATH searched when none is set, as Docker sets it.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The running main child.
#[derive(Clone, Copy, Debug)]
pub struct Child {
    /// Its pid, which is also its process group's id.
    pub pid: i32,
    /// The terminal it was made the foreground of, if pidone owned one.
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
    Nul(String),
    Pipe(Errno),
    Fork(Errno),
    /// exec failed in the child; `errno` came back over the pipe.
    Exec {
        command: String,
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
            SpawnError::Exec { command, errno } => {
                let reason = if *errno == Errno::EACCES && std::path::Path::new(command).is_dir() {
                    "Is a directory"
                } else {
                    errno.desc()
                };
                write!(f, "cannot run '{command}': {reason}")
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
    own_group: bool,
    inherited: Inherited,
}

/// Starts `command` with the signal mask pidone was given, in its own
/// process group, in the terminal's foreground if pidone held it.
pub fn spawn(command: &[OsString], inherited: Inherited) -> Result<Child, SpawnError> {
    let mut plan = Plan::new(command, inherited)?;
    let (read_end, write_end) = unistd::pipe2(OFlag::O_CLOEXEC).map_err(SpawnError::Pipe)?;

    // SAFETY: pidone has no other thread, and the child runs only `exec_child`,
    // which makes async-signal-safe calls and ends in exec or _exit.
    match unsafe { unistd::fork() }.map_err(SpawnError::Fork)? {
        ForkResult::Child => {
            drop(read_end);
            // SAFETY: we are the freshly forked child.
            unsafe { exec_child(&mut plan, write_end.as_raw_fd()) }
        }
        ForkResult::Parent { child } => {
            drop(write_end);
            let pid = child.as_raw();
            match read_errno(&read_end) {
                None => Ok(Child {
                    pid,
                    tty: plan.tty,
                    own_group: plan.own_group,
                }),
                Some(errno) => {
                    // The child has _exit'ed (or is about to): collect it now so
                    // it never shows up as a zombie or an orphan.
                    let _ = nix::sys::wait::waitpid(child, None);
                    Err(SpawnError::Exec {
                        command: command[0].to_string_lossy().into_owned(),
                        errno,
                    })
                }
            }
        }
    }
}

/// Blocks until exec succeeds (EOF: the pipe closed on exec) or the child
/// reports why it failed.
fn read_errno(pipe: &OwnedFd) -> Option<Errno> {
    let mut buf = [0u8; 4];
    let mut got = 0;
    while got < buf.len() {
        match unistd::read(pipe.as_raw_fd(), &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    (got == buf.len()).then(|| Errno::from_raw(i32::from_ne_bytes(buf)))
}

impl Plan {
    fn new(command: &[OsString], inherited: Inherited) -> Result<Plan, SpawnError> {
        let cstring = |bytes: &[u8], what: &str| {
            CString::new(bytes).map_err(|_| SpawnError::Nul(what.to_owned()))
        };
        let argv = command
            .iter()
            .map(|a| cstring(a.as_bytes(), "an argument"))
            .collect::<Result<Vec<_>, _>>()?;
        let name = command.first().map(|c| c.as_bytes()).unwrap_or_default();
        let candidates = if name.contains(&b'/') || name.is_empty() {
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
        Ok(Plan {
            candidates,
            _argv: argv,
            argv_ptrs,
            sh_argv,
            _env: env,
            env_ptrs,
            listen_pid,
            tty: foreground_tty(),
            // getpgrp() is 0 when the group's leader is outside pidone's
            // PID namespace (pid_namespaces(7)). That matters only with a
            // terminal at hand.
            own_group: unistd::getpgrp().as_raw() != 0 || !(0..=2).any(sys::is_terminal),
            inherited,
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

/// The terminal on stdin, stdout or stderr whose foreground process group
/// is pidone's own, if any. Only then may the child take the foreground:
/// pidone never steals a terminal it does not own.
fn foreground_tty() -> Option<RawFd> {
    let mine = unistd::getpgrp().as_raw();
    (0..=2).find(|&fd| sys::terminal_foreground(fd) == Some(mine))
}

/// The child's side: own process group, terminal foreground, the signal
/// state pidone was given, exec. Reports errno over `report` on failure.
///
/// # Safety
/// Call only in the child right after fork; it never returns.
unsafe fn exec_child(plan: &mut Plan, report: RawFd) -> ! {
    // SAFETY (whole function): only async-signal-safe calls (setpgid,
    // tcsetpgrp, signal, rt_sigprocmask, execve, access, write, _exit) on memory
    // that was fully built before fork; nothing is allocated.
    unsafe {
        if plan.own_group {
            libc::setpgid(0, 0);
            if let Some(fd) = plan.tty {
                // pidone blocks SIGTTOU, so a background group may take the
                // terminal without being stopped (tcsetpgrp(3)).
                libc::tcsetpgrp(fd, libc::getpid());
            }
        }
        // Rust's runtime ignores SIGPIPE before main, and an ignored
        // disposition survives exec: give the child the default back.
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        if plan.inherited.sigchld_ignored {
            libc::signal(libc::SIGCHLD, libc::SIG_IGN);
        }
        let _ = sys::set_mask(plan.inherited.mask);

        let mut listen_buf = [0u8; 32];
        if let Some(slot) = plan.listen_pid {
            plan.env_ptrs[slot] = format_listen_pid(&mut listen_buf, libc::getpid());
        }

        // PATH search as execvp(3) does it: remember EACCES, skip entries
        // that do not exist, stop at any other error.
        let mut errno = libc::ENOENT;
        let mut denied = false;
        for path in &plan.candidates {
            libc::execve(
                path.as_ptr(),
                plan.argv_ptrs.as_ptr(),
                plan.env_ptrs.as_ptr(),
            );
            match Errno::last_raw() {
                libc::ENOEXEC => {
                    // No shebang: run it under /bin/sh, as execvp and tini do.
                    plan.sh_argv[1] = path.as_ptr();
                    libc::execve(
                        c"/bin/sh".as_ptr(),
                        plan.sh_argv.as_ptr(),
                        plan.env_ptrs.as_ptr(),
                    );
                    errno = Errno::last_raw();
                    break;
                }
                // A file that is there but may not run; not a PATH entry
                // pidone may not search, which hides nothing it could run
                // (shells skip those too).
                libc::EACCES => denied |= libc::access(path.as_ptr(), libc::F_OK) == 0,
                libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
                other => {
                    errno = other;
                    break;
                }
            }
        }
        if denied && errno == libc::ENOENT {
            errno = libc::EACCES;
        }
        let bytes = errno.to_ne_bytes();
        libc::write(report, bytes.as_ptr().cast(), bytes.len());
        libc::_exit(127)
    }
}

/// Writes `LISTEN_PID=<pid>\0` into `buf` without allocating.
fn format_listen_pid(buf: &mut [u8; 32], pid: libc::pid_t) -> *const libc::c_char {
    const KEY: &[u8] = b"LISTEN_PID=";
    buf[..KEY.len()].copy_from_slice(KEY);
    let mut digits = [0u8; 12];
    let mut n = pid.unsigned_abs();
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        buf[KEY.len() + i] = digits[len - 1 - i];
    }
    buf[KEY.len() + len] = 0;
    buf.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_listen_pid_without_allocating() {
        let mut buf = [0xffu8; 32];
        let ptr = format_listen_pid(&mut buf, 4_194_304);
        let s = unsafe { std::ffi::CStr::from_ptr(ptr) };
        assert_eq!(s.to_bytes(), b"LISTEN_PID=4194304");
        format_listen_pid(&mut buf, 7);
        assert_eq!(&buf[..13], b"LISTEN_PID=7\0");
    }

    #[test]
    fn exit_codes_follow_shells() {
        let exec = |errno| SpawnError::Exec {
            command: "x".into(),
            errno,
        };
        assert_eq!(exec(Errno::ENOENT).exit_code(), 127);
        assert_eq!(exec(Errno::EACCES).exit_code(), 126);
        assert_eq!(exec(Errno::ENOEXEC).exit_code(), 126);
        assert_eq!(SpawnError::Fork(Errno::EAGAIN).exit_code(), 125);
        assert_eq!(
            exec(Errno::ENOENT).to_string(),
            "cannot run 'x': No such file or directory"
        );
    }
}
