//! The child's side of the fork: everything it touches is built before
//! the fork ([`Plan`], [`Terminal`]), and what runs in it between fork and
//! exec makes only async-signal-safe calls: no allocation, no logging, no
//! locks, no indexing that could panic. It ends in exec or `_exit`, never
//! returning into Rust (the self-init entry's child, which returns into the
//! program, only enters its group and restores its signals).
#![allow(unsafe_code)]

use std::ffi::{c_char, CStr, CString, OsString};
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;

use libc::{EACCES, EISDIR, ENODEV, ENOENT, ENOEXEC, ENOTDIR, ESTALE, ETIMEDOUT};
use nix::errno::Errno;

use super::{SpawnError, STEPS};
use crate::cli::Config;
use crate::jobctl::Terminal;
use crate::signals::Blocked;
use crate::sys;
use crate::user::{self, Identity};

/// The PATH searched when none is set, as Docker sets it.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Everything the child touches between fork and exec, built beforehand.
pub(super) struct Plan {
    /// Paths to try, in PATH order.
    pub(super) candidates: Vec<CString>,
    /// Owns the strings `argv` points into.
    _args: Vec<CString>,
    /// `/bin/sh`, then the command's arguments, null-terminated. exec gets
    /// it from slot 1; a script without a shebang gets it whole, with its
    /// path in slot 1 (`/bin/sh <path> args...`).
    argv: Vec<*const c_char>,
    env: Vec<*const c_char>,
    /// Index in `env` of `LISTEN_PID=<pidone's pid>`, to be rewritten
    /// with the child's own pid (sd_listen_fds(3)).
    listen_pid: Option<usize>,
    pub(super) terminal: Terminal,
    /// The caller's working directory (O_PATH), for the child to go back to.
    pub(super) cwd: Option<RawFd>,
    blocked: Blocked,
    /// Who the command runs as (`--user`); `env` points to its `HOME=`
    /// string, if any, instead of pidone's HOME.
    user: Option<Identity>,
    no_new_privs: bool,
}

impl Plan {
    pub(super) fn new(config: &Config, blocked: Blocked) -> Result<Plan, SpawnError> {
        let cstring = |bytes: &[u8], what| CString::new(bytes).map_err(|_| SpawnError::Nul(what));
        let arg = |a: &OsString| cstring(a.as_bytes(), "an argument");
        let args: Vec<_> = config.command.iter().map(arg).collect::<Result<_, _>>()?;
        let name = args.first().cloned().unwrap_or_default();
        let searched = !(name.as_bytes().contains(&b'/') || name.is_empty());
        let candidates = if searched {
            let path = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
            let dirs = path.as_bytes().split(|&b| b == b':');
            // An empty PATH entry means the current directory.
            let dirs = dirs.map(|dir| if dir.is_empty() { &b"."[..] } else { dir });
            let full = dirs.map(|dir| cstring(&[dir, b"/", name.as_bytes()].concat(), "PATH"));
            full.collect::<Result<_, _>>()?
        } else {
            vec![name]
        };
        let user = config.user.as_deref().map(user::resolve).transpose();
        let user = user.map_err(|e| SpawnError::user(config, e))?;
        let (env, listen_pid) = environment(user.as_ref().and_then(|u| u.home.as_ref()));
        let mut argv = vec![c"/bin/sh".as_ptr()];
        argv.extend(args.iter().map(|a| a.as_ptr()));
        argv.push(std::ptr::null());
        Ok(Plan {
            candidates,
            _args: args,
            argv,
            env,
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
fn environment(home: Option<&CString>) -> (Vec<*const c_char>, Option<usize>) {
    let kept = |e: &&CStr| home.is_none() || !e.to_bytes().starts_with(b"HOME=");
    let mut env: Vec<&CStr> = sys::environment().filter(kept).collect();
    env.extend(home.map(|h| h.as_c_str()));
    let mine = format!("LISTEN_PID={}", std::process::id());
    let listen_pid = env.iter().position(|e| e.to_bytes() == mine.as_bytes());
    let env = env.iter().map(|e| e.as_ptr()).chain([std::ptr::null()]);
    (env.collect(), listen_pid)
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
/// state pidone was given, then [`STEPS`], then exec. Reports errno and
/// the step's or the candidate's index over `report` on failure.
///
/// # Safety
/// Call only in the child right after fork; it never returns.
pub(super) unsafe fn exec_child(plan: &mut Plan, report: RawFd) -> ! {
    plan.terminal.enter();
    restore_signals(plan.blocked);
    for k in 0..STEPS.len() as i32 {
        // SAFETY: fchdir, setgroups, setgid, setuid and prctl on data built
        // before the fork: async-signal-safe, nothing allocated.
        let rc = unsafe {
            match (k, &plan.user) {
                (0, _) => plan.cwd.map_or(0, |cwd| libc::fchdir(cwd)),
                (1, Some(u)) => libc::setgroups(u.groups.len(), u.groups.as_ptr()),
                (2, Some(u)) => libc::setgid(u.gid),
                (3, Some(u)) => libc::setuid(u.uid),
                (4, _) if plan.no_new_privs => libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
                _ => 0,
            }
        };
        if rc != 0 {
            // SAFETY: as below.
            unsafe { fail(report, Errno::last_raw(), -1 - k) }
        }
    }

    let mut listen_buf = [0u8; 32];
    if let Some(slot) = plan.listen_pid.and_then(|i| plan.env.get_mut(i)) {
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
        let args = plan.argv.get(1..).unwrap_or_default();
        // SAFETY: path, argv and envp are NUL-terminated strings and
        // null-terminated arrays built before fork and still alive.
        unsafe { libc::execve(path.as_ptr(), args.as_ptr(), plan.env.as_ptr()) };
        match Errno::last_raw() {
            ENOEXEC => {
                // No shebang: run it under /bin/sh, as execvp and tini do.
                if let Some(slot) = plan.argv.get_mut(1) {
                    *slot = path.as_ptr();
                }
                let sh = c"/bin/sh".as_ptr();
                // SAFETY: as above; argv points into the same strings.
                unsafe { libc::execve(sh, plan.argv.as_ptr(), plan.env.as_ptr()) };
                // Without a /bin/sh the file is what cannot run.
                let e = Errno::last_raw();
                // SAFETY: as below.
                unsafe { fail(report, if e == ENOENT { ENOEXEC } else { e }, index) }
            }
            // A file that is there but may not run; not a PATH entry pidone
            // may not search, which hides nothing it could run (shells skip
            // those too). A directory says so.
            EACCES if denied.is_none() => {
                // SAFETY: all-zero is a valid stat buffer; stat(2) is
                // async-signal-safe and the path is NUL-terminated.
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                // SAFETY: as above.
                if unsafe { libc::stat(path.as_ptr(), &mut st) } == 0 {
                    let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
                    denied = Some((if is_dir { EISDIR } else { EACCES }, index));
                }
            }
            EACCES | ENOENT | ENOTDIR | ESTALE | ENODEV | ETIMEDOUT => {}
            // SAFETY: as below.
            other => unsafe { fail(report, other, index) },
        }
    }
    let (errno, index) = denied.unwrap_or((ENOENT, 0));
    // SAFETY: `report` is the pipe's write end; fail ends in _exit.
    unsafe { fail(report, errno, index) }
}

/// Tells pidone why exec failed (errno, then the index, as two native
/// words) and ends the child.
///
/// # Safety
/// Only in the forked child: it calls `_exit`.
unsafe fn fail(report: RawFd, errno: i32, index: i32) -> ! {
    let words = [errno, index];
    // SAFETY: write(2) and _exit(2) are async-signal-safe; `words` is live.
    unsafe {
        libc::write(report, words.as_ptr().cast(), std::mem::size_of_val(&words));
        libc::_exit(127)
    }
}

/// Writes `LISTEN_PID=<pid>\0` into `buf` without allocating or indexing.
fn format_listen_pid(buf: &mut [u8; 32], pid: libc::pid_t) -> *const c_char {
    let n = pid.unsigned_abs();
    let width = n.checked_ilog10().unwrap_or(0);
    let digits = (0..=width)
        .rev()
        .map(|k| b'0' + (n / 10u32.pow(k) % 10) as u8);
    let text = b"LISTEN_PID=".iter().copied().chain(digits).chain([0]);
    for (slot, b) in buf.iter_mut().zip(text) {
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
