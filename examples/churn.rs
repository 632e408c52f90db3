//! Makes processes for pidone to reap, as fast as one core allows: the load
//! behind the torture tests.
//!
//!     churn orphans TOTAL BATCH
//!     churn fork-loop SECONDS CODE
//!
//! `orphans` prints `ready`, waits for SIGUSR1 (so the test can measure
//! pidone first), then makes TOTAL orphans, BATCH at a time: an intermediate
//! process forks BATCH grandchildren and exits, handing them to the reaper.
//! In even batches the grandchildren wait on a pipe and exit together when
//! it closes (a burst of SIGCHLDs that coalesce); in odd ones they exit at
//! once, so many are zombies already when they are handed over. Batching
//! keeps at most BATCH + 2 processes alive: 100,000 at once would not fit
//! in the kernel's pid space (`/proc/sys/kernel/pid_max`). It then waits
//! until the reaper has collected them, prints `done orphans=N zombies=Z
//! others=O secs=S` and waits for SIGTERM, on which it exits 0.
//!
//! `fork-loop` forks for SECONDS in a tight loop; each child forks a
//! grandchild and both exit at once, so the grandchild is orphaned, dead or
//! alive. It then waits for the reaper, prints `done orphans=N zombies=Z
//! others=O secs=S` and exits CODE.
//!
//! `zombies` counts the namespace's zombies; `others` its processes other
//! than PID 1 and this one. Both mean "in this PID namespace": run it under
//! pidone as PID 1.

use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize| args.get(i).and_then(|v| v.parse::<u64>().ok());
    match (args.first().map(String::as_str), number(1), number(2)) {
        (Some("orphans"), Some(total), Some(batch)) if batch > 0 => orphans(total, batch),
        (Some("fork-loop"), Some(secs), Some(code)) => fork_loop(secs, code as i32),
        _ => {
            eprintln!("usage: churn orphans TOTAL BATCH | churn fork-loop SECONDS CODE");
            std::process::exit(2);
        }
    }
}

fn orphans(total: u64, batch: u64) {
    let usr1_term = mask(&[libc::SIGUSR1, libc::SIGTERM]);
    block(&usr1_term);
    println!("ready");
    wait_for(&mask(&[libc::SIGUSR1]));

    let started = Instant::now();
    let mut made = 0;
    let mut round = 0;
    while made < total {
        let n = batch.min(total - made);
        orphan_batch(n, round % 2 == 0);
        made += n;
        round += 1;
    }
    let (zombies, others) = settle(Duration::from_secs(15));
    println!(
        "done orphans={made} zombies={zombies} others={others} secs={:.2}",
        started.elapsed().as_secs_f64()
    );
    wait_for(&mask(&[libc::SIGTERM]));
}

/// One intermediate with `n` children; it exits before they do, so they
/// become orphans. With `burst`, they exit together when the pipe closes.
fn orphan_batch(n: u64, burst: bool) {
    let mut fds = [0; 2];
    // SAFETY: plain system calls; the process is
    // single-threaded, and the forked processes make only async-signal-safe
    // calls before _exit.
    unsafe {
        if libc::pipe(fds.as_mut_ptr()) != 0 {
            fail("pipe");
        }
        match libc::fork() {
            -1 => fail("fork"),
            0 => {
                libc::close(fds[1]);
                for _ in 0..n {
                    match libc::fork() {
                        -1 => libc::_exit(3),
                        0 => {
                            if burst {
                                let mut byte = 0u8;
                                libc::read(fds[0], (&mut byte as *mut u8).cast(), 1);
                            }
                            libc::_exit(0);
                        }
                        _ => {}
                    }
                }
                libc::_exit(0);
            }
            pid => {
                libc::close(fds[0]);
                let mut status = 0;
                libc::waitpid(pid, &mut status, 0);
                if status != 0 {
                    eprintln!("churn: an intermediate could not fork (status {status:#x})");
                    std::process::exit(1);
                }
                // The release: every grandchild's read returns 0.
                libc::close(fds[1]);
            }
        }
    }
}

fn fork_loop(secs: u64, code: i32) {
    // SAFETY: as in `orphan_batch`.
    unsafe {
        // The direct children are collected by the kernel, so only the
        // grandchildren are the reaper's business.
        libc::signal(libc::SIGCHLD, libc::SIG_IGN);
        let started = Instant::now();
        let deadline = started + Duration::from_secs(secs);
        let mut made = 0u64;
        while Instant::now() < deadline {
            match libc::fork() {
                -1 => {
                    // Out of pids for a moment: let the reaper catch up.
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
                0 => {
                    // Not inherited by the grandchild: it must be the
                    // reaper's, not auto-reaped by its exiting parent.
                    libc::signal(libc::SIGCHLD, libc::SIG_DFL);
                    if libc::fork() == 0 {
                        libc::_exit(0);
                    }
                    libc::_exit(0);
                }
                _ => made += 1,
            }
        }
        let (zombies, others) = settle(Duration::from_secs(10));
        println!(
            "done orphans={made} zombies={zombies} others={others} secs={:.2}",
            started.elapsed().as_secs_f64()
        );
    }
    std::process::exit(code);
}

/// Waits (at most `limit`) until the namespace holds no zombie and no
/// process but PID 1 and this one; returns what is left then.
fn settle(limit: Duration) -> (usize, usize) {
    let deadline = Instant::now() + limit;
    loop {
        let (zombies, others) = census();
        if (zombies == 0 && others == 0) || Instant::now() > deadline {
            return (zombies, others);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// (zombies, live processes other than PID 1 and this one) in /proc.
fn census() -> (usize, usize) {
    let me = std::process::id();
    let mut zombies = 0;
    let mut others = 0;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        fail("read /proc");
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let state = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next());
        match state {
            Some("Z") => zombies += 1,
            _ if pid == 1 || pid == me => {}
            Some(_) => others += 1,
            None => {}
        }
    }
    (zombies, others)
}

fn mask(signals: &[i32]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

fn block(set: &libc::sigset_t) {
    // SAFETY: `set` is a live, initialised sigset_t.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, set, std::ptr::null_mut()) };
}

/// Waits for one of `set` (which must be blocked).
fn wait_for(set: &libc::sigset_t) -> i32 {
    loop {
        // SAFETY: `set` is a live, initialised sigset_t.
        let signo = unsafe { libc::sigwaitinfo(set, std::ptr::null_mut()) };
        if signo > 0 {
            return signo;
        }
    }
}

fn fail(what: &str) -> ! {
    eprintln!("churn: {what} failed: {}", std::io::Error::last_os_error());
    std::process::exit(1);
}
