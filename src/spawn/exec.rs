//! The child's side of the fork: everything it touches is built before
//! the fork ([`Plan`], [`Terminal`]), and what runs in it between fork and
//! exec makes only async-signal-safe calls: no allocation, no logging, no
//! locks, no indexing that could panic. It ends in exec or `_exit`, never
//! returning into Rust (the self-init entry's child, which returns into the
//! program, only enters its group and restores its signals).
#![allow(unsafe_code)]

use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;

use super::{SpawnError, CWD_FAILED};
use crate::cli::Config;
use crate::jobctl::Terminal;
use crate::signals::Blocked;
use crate::sys;
use crate::user::{self, Identity};

/// The calls that make the child the user and keep it from gaining
/// privileges, in the order made; call k failing is reported as the index
/// `-2 - k`.
pub(super) const CALLS: [&str; 4] = ["setgroups", "setgid", "setuid", "PR_SET_NO_NEW_PRIVS"];

/// The PATH searched when none is set, as Docker sets it.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Everything the child touches between fork and exec, built beforehand.
pub(super) struct Plan {
    /// Paths to try, in PATH order.
    pub(super) candidates: Vec<CString>,
    /// Whether the candidates come from a PATH search.
    pub(super) searched: bool,
    /// Owns the strings `argv_ptrs` points into.
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    /// `/bin/sh <path> args...` for a script without a shebang; slot 1 is
    /// filled in by the child.
    sh_argv: Vec<*const libc::c_char>,
    env_ptrs: Vec<*const libc::c_char>,
    /// Index in `env_ptrs` of `LISTEN_PID=<pidone's pid>`, to be rewritten
    /// with the child's own pid (sd_listen_fds(3)).
    listen_pid: Option<usize>,
    pub(super) terminal: Terminal,
    /// The caller's working directory (O_PATH), for the child to go back to.
    pub(super) cwd: Option<RawFd>,
    blocked: Blocked,
    /// Who the command runs as (`--user`); `env_ptrs` points to its
    /// `HOME=` string, if any, instead of pidone's HOME.
    user: Option<Identity>,
    no_new_privs: bool,
}

impl Plan {
    pub(super) fn new(config: &Config, blocked: Blocked) -> Result<Plan, SpawnError> {
        let command = &config.command;
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
        let user = config.user.as_deref().map(user::resolve).transpose();
        let user = user.map_err(|e| SpawnError::user(config, e))?;
        let (env_ptrs, listen_pid) = environment(user.as_ref().and_then(|u| u.home.as_ref()));
        let argv_ptrs = null_terminated(&argv);
        let mut sh_argv = vec![c"/bin/sh".as_ptr(), std::ptr::null()];
        sh_argv.extend(argv.iter().skip(1).map(|a| a.as_ptr()));
        sh_argv.push(std::ptr::null());
        Ok(Plan {
            candidates,
            searched,
            _argv: argv,
            argv_ptrs,
            sh_argv,
            env_ptrs,
            listen_pid,
            terminal: Terminal::now(),
            cwd: None,
            blocked,
            user,
            no_new_privs: config.no_new_privs,
        })
    }
}

/// The environment goes to the child as it is, pointers and all; only a
/// LISTEN_PID naming pidone is pointed elsewhere, in the child (its index
/// is returned), and HOME is `home` when `--user` found an entry (as gosu
/// sets it).
fn environment(home: Option<&CString>) -> (Vec<*const libc::c_char>, Option<usize>) {
    let mine = format!("LISTEN_PID={}", std::process::id());
    let mut listen_pid = None;
    let mut env_ptrs = Vec::new();
    for entry in sys::environment() {
        if entry.to_bytes() == mine.as_bytes() {
            listen_pid = Some(env_ptrs.len());
        }
        if home.is_none() || !entry.to_bytes().starts_with(b"HOME=") {
            env_ptrs.push(entry.as_ptr());
        }
    }
    env_ptrs.extend(home.map(|h| h.as_ptr()));
    env_ptrs.push(std::ptr::null());
    (env_ptrs, listen_pid)
}

fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// The signal state the process had before [`crate::signals::block_all`],
/// back. Async-signal-safe.
pub(super) fn restore_signals(blocked: Blocked) {
    if blocked.sigchld_ignored {
        // SAFETY: signal(2) with SIG_IGN installs no handler; async-signal-safe.
        unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    }
    let _ = sys::set_mask(blocked.mask);
}

/// The child's side: own process group, terminal foreground, the signal
/// state pidone was given, the caller's directory, exec. Reports errno and
/// the candidate's index over `report` on failure.
///
/// # Safety
/// Call only in the child right after fork; it never returns.
pub(super) unsafe fn exec_child(plan: &mut Plan, report: RawFd) -> ! {
    plan.terminal.enter();
    restore_signals(plan.blocked);
    if let Some(cwd) = plan.cwd {
        // SAFETY: fchdir takes a descriptor, async-signal-safe.
        if unsafe { libc::fchdir(cwd) } != 0 {
            // SAFETY: the report is written to a live pipe; we then _exit.
            unsafe { fail(report, Errno::last_raw(), CWD_FAILED) }
        }
    }
    // In CALLS' order: after setuid, setgroups and setgid are refused.
    for k in 0..CALLS.len() as i32 {
        // SAFETY: setgroups, setgid, setuid and prctl on data built before
        // the fork: async-signal-safe, nothing allocated.
        let rc = unsafe {
            match (k, &plan.user) {
                (0, Some(u)) => libc::setgroups(u.groups.len(), u.groups.as_ptr()),
                (1, Some(u)) => libc::setgid(u.gid),
                (2, Some(u)) => libc::setuid(u.uid),
                (3, _) if plan.no_new_privs => libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
                _ => 0,
            }
        };
        if rc != 0 {
            // SAFETY: as below.
            unsafe { fail(report, Errno::last_raw(), -2 - k) }
        }
    }

    let mut listen_buf = [0u8; 32];
    if let Some(slot) = plan.listen_pid.and_then(|i| plan.env_ptrs.get_mut(i)) {
        // SAFETY: getpid is async-signal-safe.
        *slot = format_listen_pid(&mut listen_buf, unsafe { libc::getpid() });
    }

    // SAFETY: in the child, as this function's own contract says.
    unsafe { search_and_exec(plan, report) }
}

/// PATH search as execvp(3) does it: remember the first file that is
/// there but may not run, skip entries that do not exist, stop at any
/// other error. Async-signal-safe.
///
/// # Safety
/// As [`exec_child`].
unsafe fn search_and_exec(plan: &mut Plan, report: RawFd) -> ! {
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
                let sh = c"/bin/sh".as_ptr();
                // SAFETY: as above; sh_argv points into the same strings.
                unsafe { libc::execve(sh, plan.sh_argv.as_ptr(), plan.env_ptrs.as_ptr()) };
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
            libc::EACCES if denied.is_none() => {
                // SAFETY: all-zero is a valid stat buffer; stat(2) is
                // async-signal-safe and the path is NUL-terminated.
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                // SAFETY: as above.
                if unsafe { libc::stat(path.as_ptr(), &mut st) } == 0 {
                    let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
                    denied = Some((if is_dir { libc::EISDIR } else { libc::EACCES }, index));
                }
            }
            libc::EACCES
            | libc::ENOENT
            | libc::ENOTDIR
            | libc::ESTALE
            | libc::ENODEV
            | libc::ETIMEDOUT => {}
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
}
