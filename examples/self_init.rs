//! A program that is its own init, through pidone's library entry.
//!
//!     self_init [--orphans N] [--exit CODE] [--thread-first] [--grace-max] [--pause]
//!
//! Calls `pidone::init_self` first thing. As PID 1 of a namespace the
//! process forks there: PID 1 stays behind as the init, and the program goes
//! on as PID 2. It prints `running as pid N`, then leaves N double-forked
//! orphans, which exit at once and are re-parented to PID 1; it waits (up
//! to 20 s) until no process of its namespace is a zombie, prints
//! `zombies left: Z` and exits with CODE (default 0) if Z is 0, else 1.
//! With `--thread-first` it starts
//! a thread before the call, which pidone must refuse. `--grace-max` asks
//! for the longest grace period there is and leaves a `sleep` behind, which
//! the init drains; `--pause` asks for pause mode, which `init_self` refuses.

use std::time::{Duration, Instant};

fn main() {
    let mut orphans = 0usize;
    let mut thread_first = false;
    let mut code = 0;
    let mut config = pidone::Config::default();
    let mut leave_one = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--orphans" => orphans = args.next().and_then(|n| n.parse().ok()).unwrap_or(0),
            "--exit" => code = args.next().and_then(|n| n.parse().ok()).unwrap_or(0),
            "--thread-first" => thread_first = true,
            "--grace-max" => {
                config.grace = Duration::MAX;
                leave_one = true;
            }
            "--pause" => config.pause = true,
            _ => {
                eprintln!("usage: self_init [--orphans N] [--exit CODE] [--thread-first]");
                std::process::exit(2);
            }
        }
    }
    let (stop, parked) = std::sync::mpsc::channel::<()>();
    if thread_first {
        std::thread::spawn(move || parked.recv());
    }
    if let Err(e) = pidone::init_self(&config) {
        println!("not an init: {e}");
    }
    drop(stop);
    println!("running as pid {}", std::process::id());

    for _ in 0..orphans {
        // SAFETY: the process is single-threaded here (the entry refused
        // otherwise); the children call only fork and _exit.
        unsafe {
            match libc::fork() {
                -1 => eprintln!("fork: {}", std::io::Error::last_os_error()),
                0 => {
                    libc::fork();
                    libc::_exit(0);
                }
                pid => {
                    libc::waitpid(pid, std::ptr::null_mut(), 0);
                }
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    // Only the orphans it made are waited for: outside a namespace of its
    // own, /proc shows the whole host's zombies.
    let mut left = if orphans > 0 { zombies() } else { 0 };
    while left > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
        left = zombies();
    }
    println!("zombies left: {left}");
    if leave_one {
        let _ = std::process::Command::new("sleep").arg("30").spawn();
    }
    std::process::exit(if left == 0 { code } else { 1 });
}

/// Zombies in /proc (this namespace's, when run under `unshare --mount-proc`).
fn zombies() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter(|stat| {
            stat.rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next())
                == Some("Z")
        })
        .count()
}
