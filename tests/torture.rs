//! pidone under abuse, as PID 1 of a fresh PID namespace: floods of
//! orphans, signals and stops, a storm during the drain, and a parent that
//! leaves it every signal ignored, no stdio and a read-only directory.
//!
//! Each test is bounded in count and time; run with `--nocapture` to see
//! the figures (orphans per second, pidone's memory, signals per second).

mod support;
use std::ffi::OsString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

/// A handle on a process that cannot be confused with a later one reusing
/// its pid (pidfd_open(2)), so a flood never hits a stranger.
struct Pidfd(OwnedFd);

impl Pidfd {
    fn open(pid: i32) -> Pidfd {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        assert!(
            fd >= 0,
            "pidfd_open({pid}): {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: the kernel just gave us this descriptor, owned by no one else.
        Pidfd(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }

    /// pidfd_send_signal(2): like kill(2), real-time signals included.
    fn send(&self, signo: i32) -> std::io::Result<()> {
        // SAFETY: a live pidfd, a signal number, no siginfo, no flags.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.0.as_raw_fd(),
                signo,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    /// Sends `signo`, waiting out a full real-time queue (EAGAIN). Returns
    /// how many times the queue was full, or the error that ended it.
    fn send_patiently(&self, signo: i32) -> std::io::Result<u64> {
        let mut full = 0;
        loop {
            match self.send(signo) {
                Ok(()) => return Ok(full),
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                    full += 1;
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Children of `pid` that are zombies.
fn zombie_children(pid: i32) -> Vec<i32> {
    children(pid)
        .into_iter()
        .filter(|&c| state(c) == Some('Z'))
        .collect()
}

fn vm_rss_kb(pid: i32) -> u64 {
    let rss = status_field(&proc_status(pid), "VmRSS");
    rss.trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no VmRSS for pid {pid}: {rss:?}"))
}

/// `key=value` from a line such as `done orphans=3 zombies=0`.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
}

/// Polls (busily: the transitions take microseconds) until `pred` holds.
fn poll_until(what: &str, limit: Duration, mut pred: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !pred() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

fn args(words: &[&str]) -> Vec<OsString> {
    words.iter().map(OsString::from).collect()
}

/// `pidone -- churn WORDS...`
fn churn(words: &[&str]) -> Vec<OsString> {
    let mut cmd = vec![OsString::from("--"), example("churn").into()];
    cmd.extend(args(words));
    cmd
}

/// The tests that keep both cores busy take turns: together they would
/// only slow each other down and blur what each one measures (the drain's
/// timing, orphans per second).
fn heavy() -> std::sync::MutexGuard<'static, ()> {
    one_at_a_time()
}

/// Orphans per second this machine manages now (pidone as PID 1 reaping
/// churn's orphans), from a run of 5,000: the yardstick for the time the
/// 100,000 may take on a loaded or slow machine.
fn orphans_per_second() -> f64 {
    let mut p = Running::start(Mode::Pid1, &churn(&["orphans", "5000", "1000"]));
    p.expect_line("ready");
    p.signal(libc::SIGUSR1);
    let done = p.expect_line("done");
    let secs: f64 = field(&done, "secs").parse().unwrap();
    p.signal(libc::SIGTERM);
    p.finish().assert_code(0);
    5000.0 / secs.max(0.01)
}

#[test]
fn reaps_100000_orphans_and_pidone_memory_stays_flat() {
    if skip_under_qemu(
        "emulated, pidone reaps ~7000 orphans/s: 100,000 take ~15 s of the 20 s bound when the \
         machine is quiet, and fail it when not (reaping itself is covered by the other tests)",
    ) {
        return;
    }
    let _turn = heavy();
    // A bound for a hang, not a speed test: five times what the measured
    // rate needs (the load on a shared machine changes while it runs), and
    // never under a minute. A fixed 20 s failed on a loaded 2-CPU machine
    // that needed 17-25 s.
    let rate = orphans_per_second();
    let budget = Duration::from_secs_f64((5.0 * 100_000.0 / rate).max(60.0));
    let mut p = Running::start(Mode::Pid1, &churn(&["orphans", "100000", "1000"]));
    p.expect_line("ready");
    let pidone = p.pidone_pid();
    let before = vm_rss_kb(pidone);
    // Forwarded to the child's group: the go.
    p.signal(libc::SIGUSR1);
    let done = p.expect_line_within("done", budget);
    let after = vm_rss_kb(pidone);
    assert_eq!(field(&done, "orphans"), "100000", "{done}");
    assert_eq!(field(&done, "zombies"), "0", "{done}");
    assert_eq!(field(&done, "others"), "0", "{done}");
    assert_eq!(
        children(pidone).len(),
        1,
        "pidone should have only the child"
    );
    assert!(
        after < before + 1024,
        "pidone's RSS grew from {before} kB to {after} kB reaping 100,000 orphans"
    );
    let secs: f64 = field(&done, "secs").parse().unwrap();
    eprintln!(
        "100000 orphans in {secs:.2} s ({:.0}/s; 5000 went at {rate:.0}/s, budget {budget:.0?}); \
         pidone VmRSS {before} kB -> {after} kB",
        100_000.0 / secs
    );
    p.signal(libc::SIGTERM);
    p.finish().assert_code(0);
}

/// Round-robin mix for the floods: standard signals (which coalesce while
/// pending) and real-time ones (which queue, up to RLIMIT_SIGPENDING).
const FLOOD: [i32; 6] = [
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGHUP,
    34, // SIGRTMIN as glibc numbers it
    40,
    64, // SIGRTMAX
];

#[test]
fn survives_100000_signals_in_bursts_and_still_forwards_sigterm() {
    let _turn = heavy();
    let logger = example("signal_logger");
    let mut cmd = vec![logger.into_os_string()];
    // The child logs SIGUSR1 and SIGTERM and ignores the rest of the flood.
    for signo in &FLOOD[1..] {
        cmd.extend(args(&["--ignore", &signo.to_string()]));
    }
    let mut p = Running::start(Mode::Pid1, &cmd);
    p.expect_line("ready");
    let pidone = p.pidone_pid();
    let child = only_child(pidone);
    let fd = Pidfd::open(pidone);

    let started = Instant::now();
    let mut full = 0;
    for burst in 0..100 {
        for i in 0..1000 {
            full += fd
                .send_patiently(FLOOD[(burst + i) % FLOOD.len()])
                .unwrap_or_else(|e| p.fail(&format!("pidone is gone mid-flood: {e}")));
        }
        // Between bursts pidone catches up, which keeps the real-time queue
        // (shared by every process of this user) from filling up.
        poll_until("pidone to take every pending signal", LIMIT, || {
            status_field(&proc_status(pidone), "ShdPnd")
                .bytes()
                .all(|b| b == b'0')
        });
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "100000 signals in bursts of 1000, each taken before the next: {secs:.2} s \
         ({:.0}/s); real-time queue full {full} times",
        100_000.0 / secs
    );

    assert!(
        matches!(state(pidone), Some('S' | 'R')),
        "pidone is {:?} after the flood",
        state(pidone)
    );
    assert_eq!(children(pidone), [child], "the child should be alive");
    let zombies = zombie_children(pidone);
    assert!(zombies.is_empty(), "pidone left zombies: {zombies:?}");
    p.signal(libc::SIGTERM);
    p.expect_line("got 15 SIGTERM");
    let out = p.finish();
    out.assert_code(0);
    assert!(out.stdout.contains("got 10 SIGUSR1"), "{out}");
}

#[test]
fn child_stopped_and_continued_1000_times_is_not_taken_for_dead() {
    let script = "trap 'exit 42' TERM; echo ready; while :; do sleep 1; done";
    let mut p = Running::start(Mode::Pid1, &sh(script));
    p.expect_line("ready");
    let pidone = p.pidone_pid();
    let child = only_child(pidone);
    let child_fd = Pidfd::open(child);
    let pidone_fd = Pidfd::open(pidone);
    // Each transition takes microseconds; the bound only catches a hang.
    let limit = LIMIT;

    for i in 0..1000 {
        child_fd.send(libc::SIGSTOP).unwrap();
        poll_until("the child to stop", limit, || state(child) == Some('T'));
        // Half directly, half through pidone, which forwards to the group.
        if i % 2 == 0 {
            child_fd.send(libc::SIGCONT).unwrap();
        } else {
            pidone_fd.send(libc::SIGCONT).unwrap();
        }
        poll_until("the child to continue", limit, || state(child) != Some('T'));
    }

    assert!(
        matches!(state(pidone), Some('S' | 'R')),
        "pidone is {:?}",
        state(pidone)
    );
    assert!(
        children(pidone).contains(&child) && matches!(state(child), Some('S' | 'R')),
        "the child should still be running, is {:?}",
        state(child)
    );
    p.signal(libc::SIGTERM);
    p.finish().assert_code(42);
}

#[test]
fn reaps_a_child_forking_in_a_tight_loop_for_10s() {
    let _turn = heavy();
    let mut p = Running::start(Mode::Pid1, &churn(&["fork-loop", "10", "7"]));
    // The 10 s of forking, churn's own 10 s to see them all reaped, and
    // the usual bound on top.
    let done = p.expect_line_within("done", Duration::from_secs(20) + LIMIT);
    let out = p.finish();
    out.assert_code(7);
    assert_eq!(field(&done, "zombies"), "0", "{out}");
    assert_eq!(field(&done, "others"), "0", "{out}");
    let made: f64 = field(&done, "orphans").parse().unwrap();
    eprintln!(
        "fork loop: {made} orphans in 10 s ({:.0}/s); pidone ran {:?}",
        made / 10.0,
        out.elapsed
    );
}

#[test]
fn drain_ends_on_time_under_a_signal_storm() {
    let _turn = heavy();
    // The flood, TERM and ALRM are ignored by the leftover (a sleep that
    // will not stop), the flood and TERM by the main shell, which exits 3
    // on SIGALRM.
    let script = "trap '' HUP USR1 USR2 34 40 64 TERM; \
                  (trap '' ALRM; exec sleep 1000) & \
                  trap 'exit 3' ALRM; echo ready; while :; do sleep 1; done";
    let grace = Duration::from_secs(1);
    // The storm lasts until pidone is gone, so a drain that the storm holds
    // up never ends: any bound catches it. This one leaves room for two
    // senders and pidone sharing two busy cores with the rest of a loaded
    // machine (1.5 s did not).
    let allowed = grace + Duration::from_secs(5);
    let mut cmd = args(&["-v", "--grace", "1s"]);
    cmd.extend(sh(script));
    let mut p = Running::start(Mode::Pid1, &cmd);
    p.expect_line("ready");
    let pidone = p.pidone_pid();

    // The storm lasts until pidone is gone or `stop` is set. Two senders
    // keep pidone's queue from ever running dry. One signal in eight is
    // real-time, at most 10,000 per sender: they queue, yet the queue the
    // whole user shares (RLIMIT_SIGPENDING) stays far from full.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let storm: Vec<_> = (0..2)
        .map(|_| {
            let (stop, sent) = (stop.clone(), sent.clone());
            let fd = Pidfd::open(pidone);
            std::thread::spawn(move || {
                let standard = [libc::SIGUSR1, libc::SIGUSR2, libc::SIGHUP];
                let realtime = [34, 40, 64];
                let mut rt_sent = 0;
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let signo = if i % 8 == 7 && rt_sent < 10_000 {
                        rt_sent += 1;
                        realtime[i % 3]
                    } else {
                        standard[i % 3]
                    };
                    match fd.send(signo) {
                        Ok(()) => {
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                            std::thread::yield_now()
                        }
                        // pidone is gone: the storm is over.
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();
    poll_until("the storm to start", LIMIT, || {
        sent.load(Ordering::Relaxed) >= 1000
    });
    let main_exit = Instant::now();
    p.signal(libc::SIGALRM);
    // Watched here rather than with finish(), so the storm can be called
    // off once pidone has overrun.
    while matches!(state(pidone), Some(s) if s != 'Z') && main_exit.elapsed() < allowed {
        std::thread::sleep(Duration::from_millis(1));
    }
    let drained_in = main_exit.elapsed();
    stop.store(true, Ordering::Relaxed);
    for sender in storm {
        sender.join().unwrap();
    }
    let out = p.finish();
    eprintln!(
        "drain under a storm of {} signals took {drained_in:?} (grace {grace:?})",
        sent.load(Ordering::Relaxed)
    );

    out.assert_code(3);
    assert!(
        drained_in < allowed,
        "pidone was still draining {allowed:?} after the main child exited, with a \
         {grace:?} grace; it ended only once the storm stopped\n{out}"
    );
    out.assert_stderr_contains("the grace period is over");
    assert!(
        drained_in >= grace,
        "pidone cut the grace period short: {drained_in:?}\n{out}"
    );
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("pidone-torture-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn runs_the_command_with_every_signal_ignored_no_stdio_16_fds_and_a_read_only_cwd() {
    let ro = TempDir::new("ro");
    let rw = TempDir::new("rw");
    let proof = rw.0.join("proof");
    // Written by the command pidone runs, by absolute path: pidone's own
    // stdout and stderr are closed.
    let script = "{ echo \"cwd=$(pwd)\"; echo \"nofile=$(ulimit -n)\"; \
                  if touch probe 2>/dev/null; then echo cwd=writable; else echo cwd=read-only; fi; \
                  } > \"$1.tmp\" && mv \"$1.tmp\" \"$1\"; exit 5";
    // hostile_exec's bind mount needs CAP_SYS_ADMIN: root, or root of a
    // user namespace of our own.
    let mut cmd = unshare();
    cmd.arg(example("hostile_exec"))
        .arg(&ro.0)
        .arg(pidone())
        .args(["--", "/bin/sh", "-c", script, "sh"])
        .arg(&proof)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let what = format!("{cmd:?}");
    let mut unshare = cmd.spawn().unwrap();
    let started = Instant::now();

    // The proof comes first, then pidone should follow its child out.
    let mut proof_at = None;
    let status = loop {
        let status = unshare.try_wait().unwrap();
        if proof_at.is_none() && proof.exists() {
            proof_at = Some(Instant::now());
        }
        if status.is_some() {
            break status;
        }
        let waited = proof_at.map_or(started.elapsed(), |t| t.elapsed());
        if waited > LIMIT {
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let proof_text = std::fs::read_to_string(&proof).unwrap_or_default();
    let Some(status) = status else {
        let pidone = children(unshare.id() as i32).first().copied();
        let pidone_state = pidone.map(|p| {
            let s = proc_status(p);
            format!(
                "pid {p}, state {}, SigIgn {}, SigBlk {}, children {:?}",
                status_field(&s, "State"),
                status_field(&s, "SigIgn"),
                status_field(&s, "SigBlk"),
                children(p)
            )
        });
        kill_tree(unshare.id() as i32, &[]);
        let _ = unshare.wait();
        panic!(
            "pidone did not exit within {LIMIT:?} of {}\ncommand: {what}\npidone: {pidone_state:?}\n\
             --- proof ---\n{proof_text}",
            if proof_at.is_some() {
                "its child writing the proof and exiting 5"
            } else {
                "starting, and its child wrote no proof"
            }
        );
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut unshare.stderr.take().unwrap(), &mut stderr).unwrap();
    let report = format!(
        "command: {what}\nstatus: {status}\n--- proof ---\n{proof_text}\n--- stderr ---\n{stderr}"
    );
    assert!(proof_at.is_some(), "the command wrote no proof\n{report}");
    assert!(proof_text.contains("cwd=read-only"), "{report}");
    assert!(
        proof_text.contains(&format!("cwd={}", ro.0.display())),
        "{report}"
    );
    assert!(proof_text.contains("nofile=16"), "{report}");
    assert_eq!(status.code(), Some(5), "{report}");
}
