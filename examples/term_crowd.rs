//! A crowd of processes that each say which signal reached them.
//!
//!     term_crowd N FILE [--stay]
//!
//! Forks N children. Each appends `INDEX SIGNO` (one line, one write) to
//! FILE when SIGUSR1 or SIGTERM comes, and on SIGTERM exits 0; it starts
//! nothing and sleeps in pause(2). Once every child has its handlers the
//! parent prints `ready N pid=PID`, then exits 3 at once, leaving the
//! crowd behind as leftovers for a drain; with `--stay` it ignores SIGUSR1
//! and SIGTERM and waits for all of them, then exits 3, so that signals
//! forwarded to everyone can be counted.

use std::io::Write;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

/// The child's index and FILE's descriptor, for the handler.
static INDEX: AtomicUsize = AtomicUsize::new(0);
static FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(signo: libc::c_int) {
    // Async-signal-safe: digits by hand into a stack buffer, one write(2)
    // (O_APPEND: lines of several children never mix), _exit(2).
    let mut line = [0u8; 48];
    let mut len = 0;
    for value in [INDEX.load(Ordering::Relaxed), signo as usize] {
        let mut digits = [0u8; 20];
        let mut n = value;
        let mut count = 0;
        loop {
            digits[count] = b'0' + (n % 10) as u8;
            count += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for i in (0..count).rev() {
            line[len] = digits[i];
            len += 1;
        }
        line[len] = b' ';
        len += 1;
    }
    line[len - 1] = b'\n';
    // SAFETY: write and _exit are async-signal-safe; `line` is live.
    unsafe {
        libc::write(FD.load(Ordering::Relaxed), line.as_ptr().cast(), len);
        if signo == libc::SIGTERM {
            libc::_exit(0);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (n, file, stay) = match &args[..] {
        [n, file] => (n.parse::<usize>().ok(), file, false),
        [n, file, stay] if stay == "--stay" => (n.parse().ok(), file, true),
        _ => (None, &String::new(), false),
    };
    let Some(n) = n else {
        eprintln!("usage: term_crowd N FILE [--stay]");
        std::process::exit(2);
    };
    let out = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(file)
        .unwrap_or_else(|e| panic!("open {file}: {e}"));
    FD.store(std::os::fd::AsRawFd::as_raw_fd(&out), Ordering::Relaxed);
    let (ready_read, ready_write) = nix::unistd::pipe().expect("pipe");
    let ready_write = std::os::fd::AsRawFd::as_raw_fd(&ready_write);
    for index in 0..n {
        // SAFETY: single-threaded; the child calls only async-signal-safe
        // functions (sigaction, write, close, pause, _exit).
        match unsafe { libc::fork() } {
            -1 => panic!("fork failed: {}", std::io::Error::last_os_error()),
            // SAFETY: in the forked child, see above; the sigaction struct
            // is a live local; the handler is async-signal-safe.
            0 => unsafe {
                INDEX.store(index, Ordering::Relaxed);
                let mut act: libc::sigaction = std::mem::zeroed();
                act.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                libc::sigemptyset(&mut act.sa_mask);
                libc::sigaction(libc::SIGTERM, &act, std::ptr::null_mut());
                libc::sigaction(libc::SIGUSR1, &act, std::ptr::null_mut());
                let unblock: libc::sigset_t = {
                    let mut s = std::mem::zeroed();
                    libc::sigemptyset(&mut s);
                    libc::sigaddset(&mut s, libc::SIGTERM);
                    libc::sigaddset(&mut s, libc::SIGUSR1);
                    s
                };
                libc::sigprocmask(libc::SIG_UNBLOCK, &unblock, std::ptr::null_mut());
                libc::write(ready_write, b"x".as_ptr().cast(), 1);
                libc::close(ready_write);
                loop {
                    libc::pause();
                }
            },
            _ => {}
        }
    }
    // SAFETY: closing the parent's write end, which it owns.
    unsafe { libc::close(ready_write) };
    let mut ready = std::fs::File::from(ready_read);
    let mut seen = 0;
    let mut buf = [0u8; 4096];
    while seen < n {
        match std::io::Read::read(&mut ready, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => seen += k,
        }
    }
    if stay {
        // SAFETY: SIG_IGN needs no handler; set before the line that lets
        // a test send the signals.
        unsafe {
            libc::signal(libc::SIGUSR1, libc::SIG_IGN);
            libc::signal(libc::SIGTERM, libc::SIG_IGN);
        }
    }
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "ready {seen} pid={}", std::process::id());
    let _ = stdout.flush();
    if stay {
        while nix::sys::wait::wait().is_ok() {}
    }
    std::process::exit(3);
}
