//! A child subreaper for tests whose processes outlive their parent.
//!
//!     reaper COMMAND [ARGS...]
//!
//! Marks itself a child subreaper (PR_SET_CHILD_SUBREAPER, prctl(2)), runs
//! COMMAND, and reaps every process until none is left. Each process
//! re-parented to it (not COMMAND itself) is reported on stdout as
//! `reaped PID CODE` (CODE as a shell's `$?`: 128 plus the signal when one
//! ended it). Exits with COMMAND's code.
//!
//! It lets a test collect the exit code of a process whose parent died (a
//! pidone whose parent was killed) without making the test process itself a
//! subreaper, which would adopt the orphans of every test running beside it.

use std::io::Write;
use std::process::Command;

fn code(status: libc::c_int) -> i32 {
    if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        libc::WEXITSTATUS(status)
    }
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    let Some(program) = args.next() else {
        eprintln!("usage: reaper COMMAND [ARGS...]");
        std::process::exit(2);
    };
    // SAFETY: PR_SET_CHILD_SUBREAPER takes one integer argument.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        eprintln!("reaper: prctl: {}", std::io::Error::last_os_error());
        std::process::exit(125);
    }
    let command = match Command::new(&program).args(args).spawn() {
        Ok(child) => child.id() as i32,
        Err(e) => {
            eprintln!("reaper: cannot run {program:?}: {e}");
            std::process::exit(127);
        }
    };
    let mut command_code = 0;
    loop {
        let mut status = 0;
        // SAFETY: `status` is a live c_int for the kernel to fill.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ECHILD) => break,
                _ => {
                    eprintln!("reaper: waitpid: {e}");
                    std::process::exit(125);
                }
            }
        }
        if pid == command {
            command_code = code(status);
        } else {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "reaped {pid} {}", code(status));
            let _ = out.flush();
        }
    }
    std::process::exit(command_code);
}
