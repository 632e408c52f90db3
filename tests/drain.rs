//! When the main child exits, what remains gets SIGTERM and `--grace` to
//! finish, then SIGKILL; pidone reaps it all and exits with the main child's
//! code. As PID 1 "what remains" is the whole namespace; as subreaper it is
//! pidone's own descendants, never a process beside it.
//!
//! Drain times are measured on the monotonic clock from the main child's
//! last line (it exits right after printing it) to pidone's exit, and
//! printed with `eprintln!` (`cargo test --test drain -- --nocapture`).
//! Tests that assert an upper bound on one take turns (`one_at_a_time`).

mod support;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// A directory of its own for one run, removed afterwards. The scripts find
/// it in `$D`, and their loops end when it is gone: after a failed check,
/// dropping `Running` kills only pidone, and its children must not live on.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str, mode: Mode) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "pidone-drain-{}-{test}-{mode:?}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        Scratch(dir)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// pidone with `args` in `mode`, with `$D` set to this directory.
    fn command(&self, mode: Mode, args: &[&str], script: &str) -> Command {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--", "sh", "-c", script]);
        let mut cmd = command(mode, &all);
        cmd.env("D", &self.0);
        cmd
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Waits for pidone to exit; returns the outcome and the time from `since`
/// to the exit. `started` is taken just before the run was started, so
/// `started + elapsed` is (within microseconds) when the exit was seen.
fn finish_timed(p: Running, started: Instant, since: Instant) -> (Outcome, Duration) {
    let out = p.finish();
    let exited = started + out.elapsed;
    (out, exited.saturating_duration_since(since))
}

/// Whether `pid` is a live (not zombie) process whose command line is
/// `cmdline`; a unique command line guards against a recycled pid.
fn alive(pid: i32, cmdline: &str) -> bool {
    let want: Vec<u8> = cmdline
        .split(' ')
        .flat_map(|w| [w, "\0"])
        .collect::<String>()
        .into();
    let zombie = matches!(state(pid), Some('Z' | 'X'));
    !zombie && std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want)
}

/// The pid after `prefix` in a line such as `stubborn 1234`.
fn pid_in(line: &str, prefix: &str) -> i32 {
    line.strip_prefix(prefix)
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pid in {line:?}"))
}

/// A worker that needs a second in its SIGTERM handler to finish its file,
/// started by the main child with a double fork into a session of its own.
/// It creates `$D/ready` once its trap is set.
const SLOW_WORKER: &str = r#"
trap 'for i in 1 2 3 4 5 6 7 8 9 10; do echo "line $i" >> "$D/file"; sleep 0.1; done
      echo complete >> "$D/file"; exit 0' TERM
touch "$D/ready"
while [ -d "$D" ]; do sleep 0.05; done
"#;

#[test]
fn waits_for_a_setsid_worker_to_finish_its_sigterm_handler() {
    // Asserts an upper bound on a time.
    let _turn = one_at_a_time();
    for mode in MODES {
        if skip_subreaper_under_qemu(mode) {
            continue;
        }
        let scratch = Scratch::new("worker", mode);
        let script = r#"
            ( setsid sh -c "$WORKER" & )
            while [ ! -e "$D/ready" ] && [ -d "$D" ]; do sleep 0.01; done
            echo main exits
            exit 7"#;
        let mut cmd = scratch.command(mode, &["-v"], script);
        cmd.env("WORKER", SLOW_WORKER);
        let started = Instant::now();
        let mut p = Running::start_with(cmd, mode);
        p.expect_line("main exits");
        let (out, drain) = finish_timed(p, started, Instant::now());
        eprintln!("{mode:?}: worker with a 1 s SIGTERM handler, default grace: pidone exited {drain:?} after the main child");
        out.assert_code(7);
        let file = std::fs::read_to_string(scratch.file("file")).unwrap_or_default();
        let want: String = (1..=10)
            .map(|i| format!("line {i}\n"))
            .chain(["complete\n".to_owned()])
            .collect();
        assert_eq!(file, want, "the worker's file is incomplete\n{out}");
        // It waited for the worker, and only as long as the worker needed:
        // the default grace is 5 s.
        assert!(
            drain >= Duration::from_millis(900) && drain < Duration::from_millis(4500),
            "drain took {drain:?}\n{out}"
        );
        // The worker, and its `sleep` if it had one running then.
        // The worker's shell, and its `sleep` when the SIGTERM found one.
        out.assert_stderr_contains("after the main child exited; 0 had to be killed");
    }
}

/// The main child leaves a process that ignores SIGTERM (the ignored
/// disposition is inherited, so it is in place before the main child
/// exits), in a session of its own, and exits 7.
const STUBBORN_LEFTOVER: &str = r#"trap '' TERM; setsid sleep 31 & echo "stubborn $!"; exit 7"#;

#[test]
fn kills_a_leftover_that_ignores_sigterm_when_the_grace_period_ends() {
    // Asserts an upper bound on a time.
    let _turn = one_at_a_time();
    for mode in MODES {
        if skip_subreaper_under_qemu(mode) {
            continue;
        }
        let started = Instant::now();
        let mut p = Running::start(mode, &sh_with(&["--grace", "1s"], STUBBORN_LEFTOVER));
        let line = p.expect_line("stubborn ");
        let (out, drain) = finish_timed(p, started, Instant::now());
        eprintln!("{mode:?}: leftover ignoring SIGTERM, --grace 1s: pidone exited {drain:?} after the main child");
        out.assert_code(7);
        assert!(
            drain >= Duration::from_millis(900) && drain < Duration::from_secs(3),
            "drain took {drain:?}\n{out}"
        );
        if mode == Mode::Subreaper {
            let pid = pid_in(&line, "stubborn ");
            assert!(
                !alive(pid, "sleep 31"),
                "leftover pid {pid} survived\n{out}"
            );
        }
    }
}

#[test]
fn grace_0_kills_leftovers_at_once() {
    // Asserts an upper bound on a time.
    let _turn = one_at_a_time();
    for mode in MODES {
        let started = Instant::now();
        let mut p = Running::start(mode, &sh_with(&["--grace", "0"], STUBBORN_LEFTOVER));
        p.expect_line("stubborn ");
        let (out, drain) = finish_timed(p, started, Instant::now());
        eprintln!("{mode:?}: leftover ignoring SIGTERM, --grace 0: pidone exited {drain:?} after the main child");
        out.assert_code(7);
        assert!(
            drain < Duration::from_secs(1),
            "drain took {drain:?}\n{out}"
        );
    }
}

#[test]
fn exits_at_once_when_nothing_is_left() {
    // Asserts an upper bound on a time.
    let _turn = one_at_a_time();
    const RUNS: usize = 5;
    for mode in MODES {
        for args in [&["--", "true"][..], &["--grace", "0", "--", "true"]] {
            let mut times: Vec<Duration> = (0..RUNS)
                .map(|_| {
                    let out = run(mode, args);
                    out.assert_code(0);
                    out.elapsed
                })
                .collect();
            times.sort();
            let median = times[RUNS / 2];
            eprintln!(
                "{mode:?}: pidone {}: whole run median {median:?} (min {:?}, max {:?})",
                args.join(" "),
                times[0],
                times[RUNS - 1]
            );
            assert!(median < Duration::from_secs(1), "{times:?}");
        }
        // For scale: the same without pidone.
        let mut bare = match mode {
            Mode::Pid1 => unshare(),
            Mode::Subreaper => Command::new("true"),
        };
        if mode == Mode::Pid1 {
            bare.arg("true");
        }
        let out = Running::start_with(bare, mode).finish();
        eprintln!("{mode:?}: without pidone: {:?}", out.elapsed);
    }
}

#[test]
fn subreaper_kills_its_own_leftovers_and_nothing_beside_it() {
    if skip_under_qemu(QEMU_NO_SUBREAPER) {
        return;
    }
    // In the test's own process group and session, started before pidone:
    // not pidone's descendant, so not pidone's to signal.
    let mut bystander = Command::new("sleep")
        .arg("36")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sleep");
    let scratch = Scratch::new("bystander", Mode::Subreaper);
    let script = r#"
        trap '' TERM; setsid sleep 37 & echo "stubborn $!"
        trap - TERM; ( sleep 38 & echo "orphan $!" )
        while [ ! -e "$D/go" ] && [ -d "$D" ]; do sleep 0.01; done
        exit 7"#;
    let mut p = Running::start_with(
        scratch.command(Mode::Subreaper, &["--grace", "500ms"], script),
        Mode::Subreaper,
    );
    let stubborn = pid_in(&p.expect_line("stubborn "), "stubborn ");
    let orphan = pid_in(&p.expect_line("orphan "), "orphan ");
    // The pids are right, so "gone" below means something. ($! comes
    // before the exec.)
    wait_until("both leftovers run sleep", || {
        alive(stubborn, "sleep 37") && alive(orphan, "sleep 38")
    });
    std::fs::write(scratch.file("go"), "").expect("write go");
    let out = p.finish();
    let bystander_alive = matches!(bystander.try_wait(), Ok(None));
    let _ = bystander.kill();
    let _ = bystander.wait();
    out.assert_code(7);
    assert!(
        bystander_alive,
        "pidone killed a process that is not its descendant\n{out}"
    );
    assert!(
        !alive(stubborn, "sleep 37"),
        "leftover pid {stubborn} survived\n{out}"
    );
    assert!(
        !alive(orphan, "sleep 38"),
        "orphan pid {orphan} survived\n{out}"
    );
}

/// A daemon in a session of its own says which signal reached it first:
/// SIGTERM, or the SIGWINCH the main child sends it once the main child has
/// had the forwarded SIGTERM. Had both arrived, the shell would run the
/// SIGTERM trap first (lower number), so "got WINCH" first means no SIGTERM
/// came before the marker. It writes its pid to `$D/daemon` once trapped.
const DAEMON: &str = r#"
trap 'echo daemon got TERM; exit 0' TERM
trap 'echo daemon got WINCH' WINCH
echo $$ > "$D/daemon.tmp" && mv "$D/daemon.tmp" "$D/daemon"
while [ -d "$D" ]; do sleep 0.05; done
"#;

/// Starts the daemon and a main child that stays until SIGUSR1 (exit 3),
/// sends pidone SIGTERM, and returns the first "daemon got" line and the
/// outcome.
fn daemon_after_sigterm_to_pidone(mode: Mode, args: &[&str]) -> (String, Outcome) {
    let scratch = Scratch::new(&format!("daemon{}", args.len()), mode);
    let script = r#"
        ( setsid sh -c "$DAEMON" & )
        while [ ! -e "$D/daemon" ] && [ -d "$D" ]; do sleep 0.01; done
        trap 'echo main got TERM; kill -WINCH "$(cat "$D/daemon")" 2>/dev/null' TERM
        trap 'exit 3' USR1
        echo ready
        while [ -d "$D" ]; do sleep 0.05; done"#;
    let mut cmd = scratch.command(mode, args, script);
    cmd.env("DAEMON", DAEMON);
    let mut p = Running::start_with(cmd, mode);
    p.expect_line("ready");
    p.signal(libc::SIGTERM);
    // Both lines, in either order; the main child lives on until told, so
    // whatever the daemon heard, it heard while the main child ran.
    let (mut main_heard, mut first) = (false, None);
    while !main_heard || first.is_none() {
        let line = p.next_line();
        main_heard |= line == "main got TERM";
        if line.starts_with("daemon got") && first.is_none() {
            first = Some(line);
        }
    }
    p.signal(libc::SIGUSR1);
    let out = p.finish();
    out.assert_code(3);
    (first.unwrap_or_default(), out)
}

#[test]
fn forward_all_reaches_a_setsid_daemon() {
    for mode in MODES {
        if skip_subreaper_under_qemu(mode) {
            continue;
        }
        let (first, out) = daemon_after_sigterm_to_pidone(mode, &["--forward", "all"]);
        assert_eq!(first, "daemon got TERM", "{out}");
    }
}

#[test]
fn default_forwarding_does_not_reach_a_setsid_daemon() {
    for mode in MODES {
        if skip_subreaper_under_qemu(mode) {
            continue;
        }
        let (first, out) = daemon_after_sigterm_to_pidone(mode, &[]);
        assert_eq!(first, "daemon got WINCH", "{out}");
        // It gets its SIGTERM from the drain, after the main child exited.
        assert!(out.stdout.ends_with("daemon got TERM"), "{out}");
    }
}

#[test]
fn a_second_stop_signal_during_the_grace_period_kills_at_once() {
    // Asserts an upper bound on a time.
    let _turn = one_at_a_time();
    for mode in MODES {
        // The leftover must stay pidone's, for pidone to drain it.
        if skip_subreaper_under_qemu(mode) {
            continue;
        }
        for signo in [libc::SIGTERM, libc::SIGINT] {
            let scratch = Scratch::new(&format!("second{signo}"), mode);
            // The leftover says which signals reach it, and outlives them.
            let script = r#"
                setsid "$LOGGER" --exit-on 12 &
                while [ ! -e "$D/go" ] && [ -d "$D" ]; do sleep 0.01; done
                exit 7"#;
            let started = Instant::now();
            let mut cmd = scratch.command(mode, &["--grace", "30s"], script);
            cmd.env("LOGGER", example("signal_logger"));
            let mut p = Running::start_with(cmd, mode);
            p.expect_line("ready pid=");
            std::fs::write(scratch.file("go"), "").expect("write go");
            // The drain's own SIGTERM.
            p.expect_line("got 15 SIGTERM");
            // The first stop request in a drain pidone started by itself is
            // forwarded, and the grace period goes on...
            p.signal(signo);
            p.expect_line(&format!("got {signo} "));
            // ... the second ends it.
            let sent = Instant::now();
            p.signal(signo);
            let (out, after) = finish_timed(p, started, sent);
            eprintln!("{mode:?}: --grace 30s, a second signal {signo} while draining: pidone exited {after:?} later");
            out.assert_code(7);
            assert!(after < Duration::from_secs(3), "took {after:?}\n{out}");
        }
    }
}

#[test]
fn bad_grace_durations_are_usage_errors_and_start_nothing() {
    for mode in MODES {
        let scratch = Scratch::new("bad", mode);
        for bad in ["-1", "5x", "", "99999999999999999999s"] {
            let out = Running::start_with(
                scratch.command(mode, &["--grace", bad], r#"touch "$D/started""#),
                mode,
            )
            .finish();
            check_usage_error(&out, bad, &scratch.file("started"));
        }
        let mut cmd = scratch.command(mode, &[], r#"touch "$D/started""#);
        cmd.env("PIDONE_GRACE", "5x");
        let out = Running::start_with(cmd, mode).finish();
        check_usage_error(&out, "5x", &scratch.file("started"));
    }
}

fn check_usage_error(out: &Outcome, bad: &str, marker: &Path) {
    out.assert_code(2);
    assert_eq!(out.stderr.lines().count(), 1, "{out}");
    assert!(out.stderr.starts_with("pidone: "), "{out}");
    assert!(out.stderr.contains(&format!("'{bad}'")), "{out}");
    assert!(!marker.exists(), "a child was started\n{out}");
}

#[test]
fn verbose_tells_how_many_were_drained_and_killed() {
    // One leftover ignores SIGTERM, one does not.
    let script = r#"
        trap '' TERM; setsid sleep 33 & trap - TERM; sleep 34 &
        echo main exits; exit 7"#;
    for mode in MODES {
        if skip_subreaper_under_qemu(mode) {
            continue;
        }
        let out = run(mode, &sh_with(&["-v", "--grace", "500ms"], script));
        out.assert_code(7).assert_stderr_contains(
            "drained 2 processes after the main child exited; 1 had to be killed",
        );
    }
}

#[test]
fn verbose_counts_leftovers_killed_at_once_as_drained_too() {
    // With --grace 0 both leftovers are still what remained when the main
    // child exited: "drained 0 ...; 2 had to be killed" contradicts itself.
    let script = r#"
        trap '' TERM; setsid sleep 33 & trap - TERM; sleep 34 &
        echo main exits; exit 7"#;
    for mode in MODES {
        if skip_subreaper_under_qemu(mode) {
            continue;
        }
        let out = run(mode, &sh_with(&["-v", "--grace", "0"], script));
        out.assert_code(7).assert_stderr_contains(
            "drained 2 processes after the main child exited; 2 had to be killed",
        );
    }
}

/// pidone's `options`, then `-- sh -c SCRIPT`.
fn sh_with(options: &[&str], script: &str) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = options.iter().map(Into::into).collect();
    args.extend(sh(script));
    args
}
