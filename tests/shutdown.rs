//! Shutdown control: `--stop-delay` holds a stop request back, `--wait-all`
//! waits for the processes a daemonizing command leaves, and a drain pidone
//! started itself takes a second stop request to be cut short (the first
//! is tested in tests/drain.rs).
//!
//! Times are measured against the configured durations, with room for a
//! loaded machine, and printed (`cargo test --test shutdown -- --nocapture`).

mod support;
use std::time::{Duration, Instant};
use support::*;

fn logger() -> String {
    example("signal_logger")
        .to_str()
        .expect("a UTF-8 target directory")
        .to_owned()
}

/// Waits until the command (a shell) is gone and pidone's children are
/// the `n` loggers it left, re-parented to pidone.
fn only_loggers_left(p: &Running, n: usize) {
    let pidone = p.pidone_pid();
    wait_until("the command exited and pidone adopted its daemons", || {
        let kids = children(pidone);
        kids.len() == n
            && kids.iter().all(|k| {
                std::fs::read_to_string(format!("/proc/{k}/comm"))
                    .is_ok_and(|c| c.trim() == "signal_logger")
            })
    });
}

/// pidone with `options`, then `-- sh -c SCRIPT` with `$LOGGER` set.
fn start(mode: Mode, options: &[&str], script: &str) -> Running {
    let mut args = options.to_vec();
    args.extend(["--", "sh", "-c", script]);
    let mut cmd = command(mode, &args);
    cmd.env("LOGGER", logger());
    Running::start_with(cmd, mode)
}

#[test]
fn stop_delay_holds_back_a_stop_request_but_not_other_signals() {
    for mode in MODES {
        for (signo, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
            let exit_on = signo.to_string();
            let mut p = start(
                mode,
                &["--stop-delay", "1s"],
                &format!("exec \"$LOGGER\" --exit-on {exit_on}"),
            );
            p.expect_line("ready pid=");
            let sent = Instant::now();
            p.signal(signo);
            // Forwarded at once, and so before the held-back stop request.
            p.signal(libc::SIGUSR1);
            p.expect_line("got 10 SIGUSR1");
            let usr1 = sent.elapsed();
            p.expect_line(&format!("got {signo} {name}"));
            let stop = sent.elapsed();
            let out = p.finish();
            eprintln!("{mode:?}: {name} sent at 0, SIGUSR1 forwarded at {usr1:?}, {name} forwarded at {stop:?}, exit at {:?}", sent.elapsed());
            out.assert_code(0);
            assert!(
                stop >= Duration::from_secs(1),
                "{name} after {stop:?}\n{out}"
            );
            assert!(
                stop < Duration::from_secs(15),
                "{name} after {stop:?}\n{out}"
            );
        }
    }
}

#[test]
fn a_second_stop_request_forwards_the_first_at_once() {
    for mode in MODES {
        let mut p = start(
            mode,
            &["--stop-delay", "1h"],
            "exec \"$LOGGER\" --exit-on 12",
        );
        p.expect_line("ready pid=");
        let sent = Instant::now();
        p.signal(libc::SIGTERM);
        p.signal(libc::SIGINT);
        // Both arrive within the hour, in whichever order pidone took them.
        let mut got = [p.expect_line("got "), p.expect_line("got ")];
        got.sort();
        let took = sent.elapsed();
        p.signal(libc::SIGUSR2);
        let out = p.finish();
        eprintln!("{mode:?}: --stop-delay 1h, SIGTERM and SIGINT at 0: both forwarded at {took:?}");
        out.assert_code(0);
        assert_eq!(got, ["got 15 SIGTERM", "got 2 SIGINT"], "{out}");
    }
}

#[test]
fn a_command_that_exits_during_the_stop_delay_ends_as_usual() {
    for mode in MODES {
        let mut p = start(
            mode,
            &["--stop-delay", "1h"],
            "exec \"$LOGGER\" --exit-on 12",
        );
        p.expect_line("ready pid=");
        p.signal(libc::SIGTERM);
        // Not a stop request: forwarded at once, and the command exits.
        p.signal(libc::SIGUSR2);
        p.expect_line("got 12 SIGUSR2");
        let out = p.finish();
        out.assert_code(0);
        assert!(!out.stdout.contains("got 15"), "{out}");
    }
}

#[test]
fn wait_all_waits_for_a_daemon_and_leaves_it_untouched() {
    for mode in MODES {
        if skip_subreaper_under_qemu(mode) {
            continue;
        }
        // `service x start`: the daemon is started, the command returns.
        let script = r#"
            setsid "$LOGGER" --exit-on 12 &
            exit 3"#;
        let mut p = start(mode, &["--wait-all"], script);
        p.expect_line("ready pid=");
        only_loggers_left(&p, 1);
        // The command has exited; pidone forwards to the daemon...
        p.signal(libc::SIGUSR1);
        p.expect_line("got 10 SIGUSR1");
        // ... which ends by itself, and pidone with the command's code.
        p.signal(libc::SIGUSR2);
        let out = p.finish();
        out.assert_code(3);
        assert!(!out.stdout.contains("got 15"), "{out}");
    }
}

#[test]
fn a_stop_request_while_waiting_for_all_drains() {
    for mode in MODES {
        if skip_subreaper_under_qemu(mode) {
            continue;
        }
        // One daemon leaves on SIGTERM, one ignores it and must be killed.
        let script = r#"
            setsid "$LOGGER" --exit-on 15 &
            setsid "$LOGGER" --exit-on 12 --ignore 15 &
            exit 3"#;
        let mut p = start(mode, &["--wait-all", "--grace", "1s"], script);
        p.expect_line("ready pid=");
        p.expect_line("ready pid=");
        only_loggers_left(&p, 2);
        let sent = Instant::now();
        p.signal(libc::SIGTERM);
        p.expect_line("got 15 SIGTERM");
        let out = p.finish();
        let took = sent.elapsed();
        eprintln!("{mode:?}: --wait-all --grace 1s, SIGTERM at 0: exit at {took:?}");
        out.assert_code(3);
        assert!(took >= Duration::from_secs(1), "took {took:?}\n{out}");
        assert!(took < Duration::from_secs(15), "took {took:?}\n{out}");
    }
}

#[test]
fn bad_stop_delays_are_usage_errors() {
    for bad in ["-1", "5x", ""] {
        let out = run(Mode::Subreaper, &["--stop-delay", bad, "--", "true"]);
        out.assert_code(2);
        assert!(out.stderr.contains("--stop-delay"), "{out}");
        assert_eq!(out.stderr.lines().count(), 1, "{out}");
    }
}
