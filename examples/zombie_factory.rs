//! A process that leaves orphans behind, the way careless daemons do.
//!
//!     zombie_factory --orphans N [--wait-reaped SECONDS]
//!
//! Forks N double-forked grandchildren: each intermediate parent exits at
//! once, so the grandchild is re-parented to the nearest reaper (PID 1 or a
//! subreaper). All grandchildren then exit together when a pipe closes, as
//! a burst. With `--wait-reaped`, the factory then watches /proc until no
//! process of its namespace is a zombie (or the time runs out) and exits 0
//! if none is left, 1 otherwise, printing `zombies left: N`.
//! (Under a subreaper that is not PID 1, only the reaper's zombies count.)

use std::time::{Duration, Instant};

fn main() {
    let mut orphans = 100usize;
    let mut wait_reaped: Option<u64> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().and_then(|v| v.parse().ok());
        match (arg.as_str(), value) {
            ("--orphans", Some(n)) => orphans = n as usize,
            ("--wait-reaped", Some(s)) => wait_reaped = Some(s),
            _ => {
                eprintln!("usage: zombie_factory --orphans N [--wait-reaped SECONDS]");
                std::process::exit(2);
            }
        }
    }

    let (release_read, release_write) = nix::unistd::pipe().expect("pipe");
    for _ in 0..orphans {
        // SAFETY: single-threaded; the children only call
        // async-signal-safe functions before _exit.
        match unsafe { libc::fork() } {
            -1 => panic!("fork failed: {}", std::io::Error::last_os_error()),
            // SAFETY: in the forked child: fork, close, read and _exit are
            // async-signal-safe, on descriptors it owns.
            0 => unsafe {
                if libc::fork() == 0 {
                    // The grandchild: wait for the release, then exit.
                    libc::close(std::os::fd::AsRawFd::as_raw_fd(&release_write));
                    let mut byte = 0u8;
                    libc::read(
                        std::os::fd::AsRawFd::as_raw_fd(&release_read),
                        (&mut byte as *mut u8).cast(),
                        1,
                    );
                }
                libc::_exit(0);
            },
            pid => {
                let mut status = 0;
                // SAFETY: waiting for our own child.
                unsafe { libc::waitpid(pid, &mut status, 0) };
            }
        }
    }
    drop(release_read);
    drop(release_write);
    println!("released {orphans} orphans");

    if let Some(seconds) = wait_reaped {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let mut left = zombies();
        while left > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            left = zombies();
        }
        println!("zombies left: {left}");
        std::process::exit(if left == 0 { 0 } else { 1 });
    }
}

/// Zombies left for the reaper to collect. Under a namespace's init (our
/// parent is PID 1) that is every zombie in the namespace; elsewhere, those
/// whose parent is ours (the subreaper the orphans were handed to).
fn zombies() -> usize {
    let reaper = std::os::unix::process::parent_id();
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(|e| {
                let name = e.ok()?.file_name();
                let pid: u32 = name.to_str()?.parse().ok()?;
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
                let state = fields.next()?;
                let ppid: u32 = fields.next()?.parse().ok()?;
                (state == "Z" && (reaper == 1 || ppid == reaper)).then_some(())
            })
            .count()
        })
        .unwrap_or(0)
}
