//! Prints every signal it receives, one per line, so tests and README
//! examples can see what pidone forwarded.
//!
//!     signal_logger [--exit-on SIGNUM]... [--ignore SIGNUM]...
//!
//! Prints `ready pid=<pid> pgid=<pgid>` once it can take signals, then the
//! number and name of each signal, e.g. `got 10 SIGUSR1`. It exits 0 after
//! logging a signal named by `--exit-on` (default 15, SIGTERM); `--ignore`
//! sets a signal to SIG_IGN instead (a process that will not listen).

use std::io::Write;

fn main() {
    let mut exit_on: Vec<i32> = Vec::new();
    let mut ignore: Vec<i32> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value: Option<i32> = args.next().and_then(|v| v.parse().ok());
        match (arg.as_str(), value) {
            ("--exit-on", Some(n)) => exit_on.push(n),
            ("--ignore", Some(n)) => ignore.push(n),
            _ => {
                eprintln!("usage: signal_logger [--exit-on SIGNUM]... [--ignore SIGNUM]...");
                std::process::exit(2);
            }
        }
    }
    if exit_on.is_empty() {
        exit_on.push(libc::SIGTERM);
    }

    // SAFETY: plain libc calls on locally owned values; the
    // process is single-threaded.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        for &n in &ignore {
            libc::signal(n, libc::SIG_IGN);
            libc::sigdelset(&mut all, n);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
        let mut out = std::io::stdout();
        let _ = writeln!(out, "ready pid={} pgid={}", libc::getpid(), libc::getpgrp());
        let _ = out.flush();
        loop {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let signo = libc::sigwaitinfo(&all, &mut info);
            if signo < 0 {
                continue;
            }
            let name = nix::sys::signal::Signal::try_from(signo).map_or("?", |s| s.as_str());
            let _ = writeln!(out, "got {signo} {name}");
            let _ = out.flush();
            if exit_on.contains(&signo) {
                std::process::exit(0);
            }
        }
    }
}
