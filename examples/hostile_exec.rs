//! Starts a program in the worst state a parent can leave it in, to show
//! that pidone copes (or says why not).
//!
//!     hostile_exec [--spare SIGNUM]... RO_DIR PROGRAM [ARG]...
//!
//! Before exec'ing PROGRAM (by path, no PATH search) it:
//! - enters a mount namespace of its own and bind-mounts RO_DIR read-only
//!   over itself, then makes it the working directory;
//! - sets RLIMIT_NOFILE to 16;
//! - sets every catchable signal (1-64 but SIGKILL and SIGSTOP, glibc's
//!   reserved 32 and 33 too) to SIG_IGN, except those given with
//!   `--spare`, and blocks all 64;
//! - closes stdin, stdout and stderr.
//!
//! Run it as PID 1 (`unshare --pid --fork --mount-proc hostile_exec ...`)
//! and PROGRAM is PID 1 in that state: `unshare --fork` itself resets
//! SIGCHLD in its child, so the hostility has to come after it. Needs
//! CAP_SYS_ADMIN (root, or root in a user namespace). Errors before the
//! descriptors are closed go to stderr with exit code 120; an exec failure
//! after is only exit code 127.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

fn main() {
    let mut args = std::env::args_os().skip(1).peekable();
    let mut spare: Vec<i32> = Vec::new();
    while args.peek().is_some_and(|a| a == "--spare") {
        args.next();
        match args.next().and_then(|v| v.to_str()?.parse().ok()) {
            Some(n) => spare.push(n),
            None => usage(),
        }
    }
    let cstring = |a: std::ffi::OsString| CString::new(a.as_bytes()).unwrap_or_else(|_| usage());
    let Some(dir) = args.next().map(cstring) else {
        usage()
    };
    let argv: Vec<CString> = args.map(cstring).collect();
    if argv.is_empty() {
        usage();
    }
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());

    // SAFETY: plain system calls on live, NUL-terminated
    // strings and initialised structs; the process is single-threaded.
    unsafe {
        check(libc::unshare(libc::CLONE_NEWNS), "unshare(CLONE_NEWNS)");
        // Keep the read-only mount to this namespace (mount_namespaces(7)).
        check(
            libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ),
            "making / private",
        );
        check(
            libc::mount(
                dir.as_ptr(),
                dir.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            ),
            "bind-mounting RO_DIR",
        );
        // A bind mount takes MS_RDONLY only on remount (mount(2)).
        check(
            libc::mount(
                std::ptr::null(),
                dir.as_ptr(),
                std::ptr::null(),
                libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY,
                std::ptr::null(),
            ),
            "remounting RO_DIR read-only",
        );
        check(libc::chdir(dir.as_ptr()), "chdir(RO_DIR)");
        let limit = libc::rlimit {
            rlim_cur: 16,
            rlim_max: 16,
        };
        check(
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit),
            "setrlimit(RLIMIT_NOFILE, 16)",
        );

        // struct kernel_sigaction { handler, flags, restorer, mask }; the
        // raw call reaches 32 and 33, which glibc's sigaction refuses.
        let ignore: [u64; 4] = [libc::SIG_IGN as u64, 0, 0, 0];
        for signo in 1..=64 {
            if signo == libc::SIGKILL || signo == libc::SIGSTOP || spare.contains(&signo) {
                continue;
            }
            let rc = libc::syscall(
                libc::SYS_rt_sigaction,
                signo,
                ignore.as_ptr(),
                std::ptr::null_mut::<u64>(),
                8usize,
            );
            check(rc as i32, "ignoring a signal");
        }
        let all: u64 = !0;
        let rc = libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &all as *const u64,
            std::ptr::null_mut::<u64>(),
            8usize,
        );
        check(rc as i32, "blocking every signal");

        libc::close(0);
        libc::close(1);
        libc::close(2);
        libc::execv(argv[0].as_ptr(), argv_ptrs.as_ptr());
        libc::_exit(127);
    }
}

fn check(rc: i32, what: &str) {
    if rc != 0 {
        eprintln!(
            "hostile_exec: {what} failed: {}",
            std::io::Error::last_os_error()
        );
        std::process::exit(120);
    }
}

fn usage() -> ! {
    eprintln!("usage: hostile_exec [--spare SIGNUM]... RO_DIR PROGRAM [ARG]...");
    std::process::exit(2);
}
