//! A terminal job, as an editor or pager is one: it logs the job-control
//! signals it gets and echoes the lines it reads from its terminal, so tests
//! can watch Ctrl-C, Ctrl-Z, `fg` and `bg` under a real pseudo-terminal.
//!
//!     tty_job
//!
//! Prints `ready pid=<pid> ppid=<ppid> pgid=<pgid> tpgid=<tpgid>` once its
//! handlers are set, where tpgid is the foreground process group of the
//! terminal on stdin. Then logs each SIGINT, SIGTSTP, SIGCONT and SIGUSR1 as
//! `got N NAME` (SIGINT does not end it). SIGTSTP is handled as vim or less
//! handle it: log, then stop by SIGTSTP's default action, and take it up
//! again once continued. Each line read from stdin is echoed as
//! `line <text> pgid=<pgid> tpgid=<tpgid>`; `exit N` ends it with code N,
//! end of input with 0.

use std::io::{BufRead, Write};

extern "C" fn on_signal(signo: libc::c_int) {
    let text: &[u8] = match signo {
        libc::SIGINT => b"got 2 SIGINT\n",
        libc::SIGTSTP => b"got 20 SIGTSTP\n",
        libc::SIGCONT => b"got 18 SIGCONT\n",
        libc::SIGUSR1 => b"got 10 SIGUSR1\n",
        _ => b"got ? unexpected\n",
    };
    // SAFETY: write, signal, sigprocmask, raise and sigaction are
    // async-signal-safe, and every buffer is a live local or static.
    unsafe {
        libc::write(1, text.as_ptr().cast(), text.len());
        if signo == libc::SIGTSTP {
            // Stop by the very signal, so the parent's waitpid sees
            // WSTOPSIG == SIGTSTP, as a shell expects of a suspended job.
            libc::signal(libc::SIGTSTP, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTSTP);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::raise(libc::SIGTSTP);
            // Continued: handle the next Ctrl-Z as this one.
            install(libc::SIGTSTP);
        }
    }
}

/// # Safety
/// `signo` must be a signal that may be caught.
unsafe fn install(signo: libc::c_int) {
    // SAFETY: see the function's contract; the sigaction is a live local.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signo, &action, std::ptr::null_mut());
    }
}

fn groups() -> (libc::pid_t, libc::pid_t) {
    // SAFETY: getpgrp and tcgetpgrp have no preconditions.
    unsafe { (libc::getpgrp(), libc::tcgetpgrp(0)) }
}

fn main() {
    // SAFETY: the program is single-threaded, and these signals
    // may be caught.
    unsafe {
        for signo in [libc::SIGINT, libc::SIGTSTP, libc::SIGCONT, libc::SIGUSR1] {
            install(signo);
        }
    }
    let (pgid, tpgid) = groups();
    // SAFETY: getpid and getppid have no preconditions.
    let (pid, ppid) = unsafe { (libc::getpid(), libc::getppid()) };
    let mut out = std::io::stdout();
    let _ = writeln!(out, "ready pid={pid} ppid={ppid} pgid={pgid} tpgid={tpgid}");
    let _ = out.flush();

    let stdin = std::io::stdin();
    let mut line = String::new();
    loop {
        line.clear();
        match stdin.lock().read_line(&mut line) {
            Ok(0) => std::process::exit(0),
            Ok(_) => {}
            Err(e) => {
                eprintln!("tty_job: cannot read stdin: {e}");
                std::process::exit(1);
            }
        }
        let text = line.trim_end();
        if let Some(code) = text.strip_prefix("exit ").and_then(|c| c.parse().ok()) {
            std::process::exit(code);
        }
        let (pgid, tpgid) = groups();
        let _ = writeln!(out, "line {text} pgid={pgid} tpgid={tpgid}");
        let _ = out.flush();
    }
}
