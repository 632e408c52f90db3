//! Saying why the command ended: one warning when it dies of a signal that
//! did not come through pidone (a real crash, a `kill -9` from the host),
//! nothing new otherwise; and the termination message `--termination-log`
//! writes when the command failed. As PID 1 and as subreaper.
//!
//! The out-of-memory cases need a memory limit: tests/docker.rs runs them
//! in `docker run -m`. Here the cgroup's OOM counter does not move, so no
//! line may mention memory.

mod support;
use std::fs;
use std::path::{Path, PathBuf};
use support::*;

/// A directory of this test's own, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("pidone-reasons-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// pidone's lines on stderr that are not `-v`'s.
fn warnings(out: &Outcome) -> Vec<&str> {
    out.stderr
        .lines()
        .filter(|l| !l.starts_with("pidone: info:"))
        .collect()
}

/// The pid of the command as pidone names it: 2 as PID 1 of a fresh
/// namespace (its first child), the host pid as subreaper.
fn named_pid(mode: Mode, host_pid: i32) -> i32 {
    match mode {
        Mode::Pid1 => 2,
        Mode::Subreaper => host_pid,
    }
}

#[test]
fn a_real_crash_is_named_once_with_its_signal() {
    let crash = example("crash");
    for mode in MODES {
        // No core file: the line must not claim one.
        let script = format!("ulimit -c 0; exec {}", crash.display());
        let out = run(mode, &sh(&script));
        out.assert_code(139);
        let said = warnings(&out);
        assert_eq!(said.len(), 1, "{out}");
        assert!(
            said[0].starts_with("pidone: warning: the command (pid ")
                && said[0].ends_with(") was killed by SIGSEGV"),
            "{out}"
        );
        // -v keeps its own line, as it was.
        let verbose = run(mode, &[&["-v".into()], &sh(&script)[..]].concat());
        verbose.assert_code(139);
        assert!(
            verbose
                .stderr
                .lines()
                .any(|l| l.starts_with("pidone: info: child pid ")
                    && l.ends_with(" was killed by SIGSEGV")),
            "{verbose}"
        );
    }
}

#[test]
fn a_core_dump_is_said() {
    let pattern = fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    if pattern.trim() != "core" {
        // A pipe (systemd-coredump, apport) or a path elsewhere decides on
        // its own whether a core is written; a plain file in the working
        // directory is what this test can count on.
        eprintln!(
            "SKIPPED: core_pattern is {:?}, not \"core\"",
            pattern.trim()
        );
        return;
    }
    let crash = example("crash");
    for mode in MODES {
        let dir = TempDir::new(&format!("core-{mode:?}"));
        let script = format!(
            "cd {} && ulimit -c unlimited && exec {}",
            dir.0.display(),
            crash.display()
        );
        let out = run(mode, &sh(&script));
        out.assert_code(139);
        assert!(
            out.stderr
                .contains(") was killed by SIGSEGV (core dumped)\n"),
            "{out}"
        );
    }
}

#[test]
fn a_kill_from_outside_is_named() {
    for mode in MODES {
        let mut p = Running::start(mode, &sh("echo ready; exec sleep 1000"));
        p.expect_line("ready");
        let command = only_child(p.pidone_pid());
        send_signal(command, libc::SIGKILL);
        let out = p.finish();
        out.assert_code(137);
        let want = format!(
            "pidone: warning: the command (pid {}) was killed by SIGKILL",
            named_pid(mode, command)
        );
        assert_eq!(warnings(&out), [want.as_str()], "{out}");
    }
}

#[test]
fn a_signal_pidone_forwarded_an_exit_and_an_exec_failure_say_nothing_new() {
    for mode in MODES {
        // docker stop: SIGTERM, forwarded.
        let mut p = Running::start(mode, &sh("echo ready; exec sleep 1000"));
        p.expect_line("ready");
        p.signal(libc::SIGTERM);
        let out = p.finish();
        out.assert_code(143);
        assert!(warnings(&out).is_empty(), "{out}");
        // Rewritten: the command dies of what pidone sent.
        let args = [
            &["-r".into(), "TERM:QUIT".into()],
            &sh("echo ready; exec sleep 1000")[..],
        ]
        .concat();
        let mut p = Running::start(mode, &args);
        p.expect_line("ready");
        p.signal(libc::SIGTERM);
        let out = p.finish();
        out.assert_code(131);
        assert!(warnings(&out).is_empty(), "{out}");

        let out = run(mode, &sh("exit 3"));
        out.assert_code(3);
        assert!(warnings(&out).is_empty(), "{out}");

        let out = run(mode, &["/nonexistent/command"]);
        out.assert_code(127);
        assert_eq!(warnings(&out).len(), 1, "{out}");
        assert!(out.stderr.starts_with("pidone: cannot run"), "{out}");
    }
}

fn with_log(path: &Path, script: &str) -> Vec<std::ffi::OsString> {
    let flag = format!("--termination-log={}", path.display());
    [&[flag.into()], &sh(script)[..]].concat()
}

#[test]
fn the_termination_message_says_why_the_command_failed() {
    for mode in MODES {
        let dir = TempDir::new(&format!("failed-{mode:?}"));
        let log = dir.join("termination-log");
        let out = run(mode, &with_log(&log, "exit 3"));
        out.assert_code(3);
        let text = fs::read_to_string(&log).unwrap_or_else(|e| panic!("{e}: {out}"));
        let first = text.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("The command 'sh -c exit 3' (pid "),
            "{text}"
        );
        assert!(first.ends_with(") exited with 3."), "{text}");
        assert!(text.ends_with("\npidone exited with 3.\n"), "{text}");

        // A leftover, drained: counted, also as PID 1 without -v.
        let log = dir.join("drained");
        let out = run(mode, &with_log(&log, "sleep 1000 & exit 4"));
        out.assert_code(4);
        let text = fs::read_to_string(&log).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert!(
            text.ends_with(
                "pidone exited with 4. It drained 1 process left behind; 0 had to be killed.\n"
            ),
            "{text}"
        );

        // The variable, and a death by signal.
        let log = dir.join("from-variable");
        let mut cmd = command(mode, &sh("kill -KILL $$"));
        cmd.env("PIDONE_TERMINATION_LOG", &log);
        let out = Running::start_with(cmd, mode).finish();
        out.assert_code(137);
        let text = fs::read_to_string(&log).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert!(
            text.contains(") was killed by SIGKILL.\npidone exited with 137.\n"),
            "{text}"
        );
    }
}

#[test]
fn the_applications_message_wins_and_success_writes_nothing() {
    for mode in MODES {
        let dir = TempDir::new(&format!("app-{mode:?}"));
        let log = dir.join("termination-log");
        let script = format!("echo 'my own reason' > {}; exit 3", log.display());
        let out = run(mode, &with_log(&log, &script));
        out.assert_code(3);
        assert_eq!(
            fs::read_to_string(&log).ok().as_deref(),
            Some("my own reason\n"),
            "{out}"
        );

        for (script, code, extra) in [("exit 0", 0, None), ("exit 3", 0, Some("-e3"))] {
            let log = dir.join(&format!("success-{code}-{}", extra.is_some()));
            let mut args = with_log(&log, script);
            args.splice(0..0, extra.map(Into::into));
            let out = run(mode, &args);
            out.assert_code(code);
            assert!(!log.exists(), "written after success:\n{out}");
        }
    }
}

#[test]
fn a_fifo_without_reader_or_a_symlink_never_holds_pidone_or_its_code() {
    for mode in MODES {
        let dir = TempDir::new(&format!("fifo-{mode:?}"));
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo {}", fifo.display());
        let out = run(mode, &with_log(&fifo, "exit 5"));
        out.assert_code(5);
        assert!(
            out.stderr
                .contains("pidone: warning: failed to write the termination message to "),
            "{out}"
        );

        let target = dir.join("elsewhere");
        let link = dir.join("link");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let out = run(mode, &with_log(&link, "exit 5"));
        out.assert_code(5);
        assert!(!target.exists(), "followed the symlink:\n{out}");
        assert!(
            out.stderr
                .contains("failed to write the termination message"),
            "{out}"
        );
    }
}

#[test]
fn a_relative_termination_log_is_a_usage_error() {
    let out = run(
        Mode::Subreaper,
        &with_log(Path::new("relative/log"), "exit 0"),
    );
    out.assert_code(2);
    assert!(out.stderr.contains("is not an absolute path"), "{out}");
}
