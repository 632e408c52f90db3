//! Signal control and drop-in compatibility, through the real binary:
//! `--rewrite`, who forwarded signals reach, the parent-death signal,
//! success codes, orphan warnings, verbosity, `--grace`, pause mode, and
//! the flags and variables of tini, dumb-init and catatonit. Flags beat
//! variables; a variable set to 0, false or empty is off; a bad value is one
//! line on stderr, exit 2, and no child.
//!
//! Negative cases ("this signal did not arrive") are proven with a marker
//! signal sent after it and numbered above it: the kernel hands out pending
//! signals lowest first, so a signal that wrongly got through would always
//! be logged before the marker.

mod support;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use support::*;

type Flags<'a> = &'a [&'a str];
type Vars<'a> = &'a [(&'a str, &'a str)];

const SIGRTMAX: i32 = 64;

fn logger() -> String {
    example("signal_logger")
        .to_str()
        .expect("a UTF-8 target directory")
        .to_owned()
}

/// Each run starts without any variable pidone reads, so the test's own
/// environment cannot leak in; then `vars` are set.
fn set_env(cmd: &mut Command, vars: Vars) {
    for var in pidone::variables() {
        cmd.env_remove(var);
    }
    cmd.envs(vars.iter().copied());
}

/// pidone with `args` in `mode`, with exactly the variables `vars`.
fn pidone_with(mode: Mode, vars: Vars, args: &[&str]) -> Command {
    let mut cmd = command(mode, args);
    set_env(&mut cmd, vars);
    cmd
}

/// pidone with `flags`, then `--` and the signal logger with `logger_args`.
fn start_logger(mode: Mode, vars: Vars, flags: Flags, logger_args: Flags) -> Running {
    let logger = logger();
    let mut args = flags.to_vec();
    args.extend(["--", &logger]);
    args.extend(logger_args);
    Running::start_with(pidone_with(mode, vars, &args), mode)
}

/// `sh -c SCRIPT sh ARGS...`: as PID 1 of a fresh namespace in Pid1 mode,
/// a plain child of the test otherwise.
fn shell(mode: Mode, vars: Vars, script: &str, args: &[&str]) -> Command {
    let mut cmd = match mode {
        Mode::Pid1 => {
            let mut c = unshare();
            c.arg("sh");
            c
        }
        Mode::Subreaper => Command::new("sh"),
    };
    cmd.args(["-c", script, "sh"]).args(args);
    set_env(&mut cmd, vars);
    cmd
}

/// A file the child would create if it were started.
fn marker() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("pidone-signal-control-{}-{n}", std::process::id()))
}

/// pidone refuses `flags` (under `vars`): one line on stderr naming each of
/// `wants`, exit 2, and the command, which would create a marker file, never
/// runs.
fn assert_refused(mode: Mode, vars: Vars, flags: Flags, wants: &[&str]) {
    let marker = marker();
    let touch = format!("touch '{}'", marker.display());
    let mut args = flags.to_vec();
    args.extend(["--", "sh", "-c", &touch]);
    let out = Running::start_with(pidone_with(mode, vars, &args), mode).finish();
    let started = marker.exists();
    let _ = std::fs::remove_file(&marker);
    out.assert_code(2);
    for want in wants {
        out.assert_stderr_contains(want);
    }
    assert_eq!(out.stderr.lines().count(), 1, "not one line\n{out}");
    assert!(out.stderr.starts_with("pidone: "), "{out}");
    assert!(!started, "a child was started\n{out}");
}

/// Kills a process tree if the test panics, so that a failing check leaves
/// no shell or logger behind (dropping `Running` kills only the process the
/// test started, and a failed wait may kill pidone before this runs). The
/// tree is taken when the guard is made, and again at the panic.
struct KillTreeOnPanic(Vec<i32>);

impl KillTreeOnPanic {
    fn new(root: i32) -> KillTreeOnPanic {
        let mut pids = vec![root];
        pids.extend(descendants(root));
        KillTreeOnPanic(pids)
    }
}

impl Drop for KillTreeOnPanic {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        kill_tree(self.0[0], &self.0);
    }
}

/// The next stdout line must start with `want`.
fn assert_next(p: &mut Running, want: &str, after: &str) {
    let line = p.next_line();
    if !line.starts_with(want) {
        p.fail(&format!("after {after}, expected {want:?}, got {line:?}"));
    }
}

// --- --rewrite --------------------------------------------------------------

#[test]
fn rewritten_sigterm_arrives_as_sigquit() {
    let specs: [Flags; 3] = [
        &["-r", "TERM:QUIT"],
        &["--rewrite", "15:3"],
        &["-r", "sigterm:SigQuit"],
    ];
    for mode in MODES {
        for spec in specs {
            let mut p = start_logger(mode, &[], spec, &["--exit-on", "3"]);
            p.expect_line("ready");
            let _guard = KillTreeOnPanic::new(p.pidone_pid());
            p.signal(libc::SIGTERM);
            assert_next(&mut p, "got 3 SIGQUIT", "SIGTERM");
            p.finish().assert_code(0);
        }
    }
}

#[test]
fn rewrite_reads_names_in_any_case_numbers_and_realtime_offsets() {
    if skip_under_qemu("qemu-user keeps real-time signals for itself and maps the rest: RTMAX and RTMIN+n arrive as other numbers") {
        return;
    }
    let flags = [
        "-r",
        "sigusr1:USR2",
        "--rewrite",
        "1:SigUsr1",
        "-r",
        "RTMIN+1:RTMAX-2",
        "-r",
        "sigRTMAX:rtmin",
        "-r",
        "Winch:SIGRTMIN+3",
    ];
    // (sent, arrives): SIGHUP becomes SIGUSR1 and stays so: one step only.
    let cases = [
        (libc::SIGUSR1, libc::SIGUSR2),
        (libc::SIGHUP, libc::SIGUSR1),
        (35, 62),
        (SIGRTMAX, 34),
        (libc::SIGWINCH, 37),
    ];
    for mode in MODES {
        let mut p = start_logger(mode, &[], &flags, &[]);
        p.expect_line("ready");
        let _guard = KillTreeOnPanic::new(p.pidone_pid());
        for (sent, arrives) in cases {
            p.signal(sent);
            assert_next(
                &mut p,
                &format!("got {arrives} "),
                &format!("signal {sent}"),
            );
        }
        p.signal(libc::SIGTERM);
        p.finish().assert_code(0);
    }
}

#[test]
fn rewrite_to_0_or_ignore_drops_the_signal() {
    if skip_under_qemu("qemu-user keeps real-time signals for itself and maps the rest: RTMAX and RTMIN+n arrive as other numbers") {
        return;
    }
    let flags = ["-r", "USR1:0", "-r", "hup:IGNORE", "-r", "RTMIN+2:ignore"];
    for mode in MODES {
        let mut p = start_logger(mode, &[], &flags, &[]);
        p.expect_line("ready");
        let _guard = KillTreeOnPanic::new(p.pidone_pid());
        for dropped in [libc::SIGUSR1, libc::SIGHUP, 36] {
            p.signal(dropped);
        }
        p.signal(SIGRTMAX);
        assert_next(
            &mut p,
            &format!("got {SIGRTMAX} "),
            "dropped SIGUSR1, SIGHUP, SIGRTMIN+2 and the marker SIGRTMAX",
        );
        p.signal(libc::SIGTERM);
        let out = p.finish();
        out.assert_code(0);
        assert_eq!(out.stdout.lines().count(), 3, "{out}");
    }
}

#[test]
fn pidone_rewrite_variable_applies_and_rewrite_flags_replace_it() {
    for vars in [
        [("PIDONE_REWRITE", "TERM:QUIT, hup:0")],
        [("PIDONE_REWRITE", "TERM:QUIT HUP:IGNORE")],
    ] {
        let mut p = start_logger(Mode::Subreaper, &vars, &[], &["--exit-on", "3"]);
        p.expect_line("ready");
        let _guard = KillTreeOnPanic::new(p.pidone_pid());
        p.signal(libc::SIGHUP);
        p.signal(libc::SIGTERM);
        assert_next(&mut p, "got 3 SIGQUIT", "a dropped SIGHUP, then SIGTERM");
        p.finish().assert_code(0);
    }
    let vars = [("PIDONE_REWRITE", "TERM:QUIT,HUP:0")];
    let mut p = start_logger(
        Mode::Subreaper,
        &vars,
        &["-r", "TERM:USR2"],
        &["--exit-on", "12"],
    );
    p.expect_line("ready");
    let _guard = KillTreeOnPanic::new(p.pidone_pid());
    p.signal(libc::SIGHUP);
    assert_next(&mut p, "got 1 SIGHUP", "SIGHUP, with -r given");
    p.signal(libc::SIGTERM);
    assert_next(&mut p, "got 12 SIGUSR2", "SIGTERM, with -r TERM:USR2");
    p.finish().assert_code(0);
}

#[test]
fn malformed_rewrite_is_one_line_exit_2_and_starts_nothing() {
    let cases = [
        (":", "FROM is missing"),
        ("TERM:", "TO is missing"),
        ("FOO:TERM", "'FOO'"),
        ("99:1", "'99'"),
        ("TERM:QUIT:HUP", "'TERM:QUIT:HUP'"),
        ("KILL:TERM", "SIGKILL"),
        ("TERM:BOGUS", "'BOGUS'"),
    ];
    for mode in MODES {
        for (spec, want) in cases {
            assert_refused(mode, &[], &["-r", spec], &[want]);
            assert_refused(mode, &[], &["-r", "HUP:USR1", "--rewrite", spec], &[want]);
        }
    }
    let vars = [("PIDONE_REWRITE", "TERM:QUIT,FOO:TERM")];
    assert_refused(Mode::Subreaper, &vars, &[], &["'FOO'"]);
}

// --- who forwarded signals reach ---------------------------------------------

/// A shell that starts the logger in the background (after `prefix`, say
/// `setsid`), ignores SIGUSR1 itself, passes SIGUSR2 and SIGTERM on to the
/// logger by hand and says `sh-ready` once its traps are set.
fn shell_over_logger(prefix: &str) -> Vec<String> {
    let script = format!(
        "{prefix} '{}' & pid=$!
         trap '' USR1
         trap 'kill -USR2 $pid' USR2
         trap 'kill -TERM $pid 2>/dev/null' TERM
         echo sh-ready
         while kill -0 $pid 2>/dev/null; do wait $pid; done
         exit 0",
        logger()
    );
    ["--", "sh", "-c", script.as_str()]
        .map(String::from)
        .to_vec()
}

/// Starts the shell of [`shell_over_logger`] under pidone with `flags`, and
/// waits until both the shell and the logger are ready.
fn start_shell_over_logger(mode: Mode, vars: Vars, flags: Flags, prefix: &str) -> Running {
    let tail = shell_over_logger(prefix);
    let mut args = flags.to_vec();
    args.extend(tail.iter().map(String::as_str));
    let mut p = Running::start_with(pidone_with(mode, vars, &args), mode);
    let (mut logger, mut shell) = (false, false);
    while !(logger && shell) {
        let line = p.next_line();
        logger |= line.starts_with("ready pid=");
        shell |= line == "sh-ready";
    }
    p
}

/// Sends SIGUSR1, then the marker SIGUSR2, to pidone, then SIGTERM once the
/// logger has heard one of them; returns the run. The logger hears SIGUSR1
/// first if it got past the shell, else the marker, which the shell passes
/// on by hand (and group forwarding sends directly too).
fn first_heard(mode: Mode, vars: Vars, flags: Flags, prefix: &str) -> Outcome {
    let mut p = start_shell_over_logger(mode, vars, flags, prefix);
    let _guard = KillTreeOnPanic::new(p.pidone_pid());
    p.signal(libc::SIGUSR1);
    p.signal(libc::SIGUSR2);
    p.expect_line("got ");
    p.signal(libc::SIGTERM);
    let out = p.finish();
    out.assert_code(0);
    out
}

/// The logger's first line after the two ready lines.
fn first_signal_line(out: &Outcome) -> &str {
    out.stdout
        .lines()
        .find(|l| l.starts_with("got "))
        .unwrap_or_default()
}

/// SIGUSR1 sent to pidone reaches the logger past its shell.
fn assert_usr1_reaches_the_logger(mode: Mode, vars: Vars, flags: Flags, prefix: &str) {
    let out = first_heard(mode, vars, flags, prefix);
    assert_eq!(
        first_signal_line(&out),
        "got 10 SIGUSR1",
        "SIGUSR1 should reach the logger with {flags:?} {vars:?} ({mode:?})\n{out}"
    );
}

/// SIGUSR1 sent to pidone reaches the shell only.
fn assert_usr1_stops_at_the_shell(mode: Mode, vars: Vars, flags: Flags, prefix: &str) {
    let out = first_heard(mode, vars, flags, prefix);
    assert_eq!(
        first_signal_line(&out),
        "got 12 SIGUSR2",
        "SIGUSR1 should stop at the shell with {flags:?} {vars:?} ({mode:?})\n{out}"
    );
    assert!(!out.stdout.contains("got 10"), "{out}");
}

#[test]
fn group_forwarding_reaches_a_grandchild_whose_shell_ignores_the_signal() {
    for mode in MODES {
        for flags in [&[][..], &["-g"], &["--forward", "group"]] {
            assert_usr1_reaches_the_logger(mode, &[], flags, "");
        }
    }
    for vars in [
        ("TINI_KILL_PROCESS_GROUP", "1"),
        ("PIDONE_FORWARD", "group"),
        ("PIDONE_SINGLE_CHILD", "0"),
        ("PIDONE_SINGLE_CHILD", ""),
        ("DUMB_INIT_SETSID", "1"),
        // dumb-init turns its session off only for exactly "0".
        ("DUMB_INIT_SETSID", ""),
        ("DUMB_INIT_SETSID", "false"),
        ("TINI_KILL_PROCESS_GROUP", "0"),
    ] {
        assert_usr1_reaches_the_logger(Mode::Subreaper, &[vars], &[], "");
    }
}

#[test]
fn single_child_forwarding_does_not_reach_the_grandchild() {
    for mode in MODES {
        for flags in [&["-c"][..], &["--single-child"], &["--forward", "child"]] {
            assert_usr1_stops_at_the_shell(mode, &[], flags, "");
        }
    }
    for vars in [
        ("PIDONE_FORWARD", "CHILD"),
        ("PIDONE_SINGLE_CHILD", "1"),
        ("PIDONE_SINGLE_CHILD", "true"),
        ("DUMB_INIT_SETSID", "0"),
    ] {
        assert_usr1_stops_at_the_shell(Mode::Subreaper, &[vars], &[], "");
    }
    let vars = [("TINI_KILL_PROCESS_GROUP", "1")];
    assert_usr1_stops_at_the_shell(Mode::Subreaper, &vars, &["-c"], "");
}

#[test]
fn forward_all_reaches_a_grandchild_in_its_own_session_and_group_does_not() {
    for mode in MODES {
        assert_usr1_stops_at_the_shell(mode, &[], &[], "setsid");
        assert_usr1_reaches_the_logger(mode, &[], &["--forward", "all"], "setsid");
    }
    let vars = [("PIDONE_FORWARD", "all")];
    assert_usr1_reaches_the_logger(Mode::Subreaper, &vars, &[], "setsid");
}

#[test]
fn forward_flags_beat_the_pidone_forward_variable() {
    assert_usr1_reaches_the_logger(Mode::Subreaper, &[("PIDONE_FORWARD", "child")], &["-g"], "");
    assert_usr1_stops_at_the_shell(Mode::Subreaper, &[("PIDONE_FORWARD", "group")], &["-c"], "");
    assert_usr1_stops_at_the_shell(
        Mode::Subreaper,
        &[("PIDONE_FORWARD", "all")],
        &["--single-child"],
        "",
    );
}

// --- tini: -p, -e, -s, -w, -v, -l --------------------------------------------

#[test]
fn parent_death_signal_reaches_the_child_when_pidones_parent_dies() {
    let logger = logger();
    let pidone = pidone().to_str().expect("UTF-8 path").to_owned();
    // (mode, flags, variables, what the child logs when pidone's parent dies)
    let cases: [(Mode, Flags, Vars, &str); 4] = [
        (Mode::Pid1, &["-p", "USR1"], &[], "got 10 SIGUSR1"),
        (Mode::Subreaper, &["-p", "SIGUSR1"], &[], "got 10 SIGUSR1"),
        (
            Mode::Subreaper,
            &[],
            &[("PIDONE_PARENT_DEATH_SIGNAL", "usr1")],
            "got 10 SIGUSR1",
        ),
        (
            Mode::Pid1,
            &["--parent-death-signal", "12"],
            &[("PIDONE_PARENT_DEATH_SIGNAL", "USR1")],
            "got 12 SIGUSR2",
        ),
    ];
    // pidone outlives its parent. The `reaper` example, a child subreaper
    // (PR_SET_CHILD_SUBREAPER, prctl(2)) above pidone's parent, adopts it
    // and reports its exit code; the test process stays no one's reaper.
    for (mode, flags, vars, want) in cases {
        let mut args = vec![pidone.as_str()];
        args.extend(flags);
        args.extend(["--", &logger]);
        // pidone's parent is the reaper's child: unshare as PID 1's
        // parent, a shell otherwise. `Mode::Subreaper` makes pidone_pid()
        // name the reaper.
        let inner = match mode {
            Mode::Pid1 => pidone_with(Mode::Pid1, vars, &args[1..]),
            Mode::Subreaper => shell(Mode::Subreaper, vars, "\"$@\" & wait", &args),
        };
        let mut p = Running::start_with(under_reaper(inner), Mode::Subreaper);
        p.expect_line("ready");
        let parent = only_child(p.pidone_pid());
        let pid = only_child(parent);
        let _guard = KillTreeOnPanic::new(pid);
        send_signal(parent, libc::SIGKILL);
        assert_next(&mut p, want, &format!("pidone's parent died ({mode:?})"));
        send_signal(pid, libc::SIGTERM);
        assert_next(&mut p, "got 15 SIGTERM", "SIGTERM");
        let reaped = p.expect_line(&format!("reaped {pid} "));
        let out = p.finish();
        assert_eq!(
            reaped,
            format!("reaped {pid} 0"),
            "pidone's code ({mode:?})\n{out}"
        );
    }
}

/// `inner` run by the `reaper` example, which adopts what `inner` leaves
/// behind and prints `reaped PID CODE` for each.
fn under_reaper(inner: Command) -> Command {
    let mut cmd = Command::new(example("reaper"));
    cmd.arg(inner.get_program()).args(inner.get_args());
    for (key, value) in inner.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    cmd
}

#[test]
fn success_exit_codes_are_reported_as_0() {
    // (flags, variables, script, exit code)
    let cases: [(Flags, Vars, &str, i32); 9] = [
        (&["-e", "3"], &[], "exit 3", 0),
        (&["-e", "3", "-e", "4"], &[], "exit 4", 0),
        (&["--success-exit", "3"], &[], "exit 5", 5),
        (&["-e", "137"], &[], "kill -KILL $$", 0),
        (&[], &[("PIDONE_SUCCESS_EXIT", "3,4")], "exit 4", 0),
        (&[], &[("PIDONE_SUCCESS_EXIT", "3 4")], "exit 3", 0),
        (&[], &[("PIDONE_SUCCESS_EXIT", "3")], "exit 4", 4),
        (&[], &[("PIDONE_SUCCESS_EXIT", "")], "exit 3", 3),
        (&["-e", "5"], &[("PIDONE_SUCCESS_EXIT", "3")], "exit 3", 3),
    ];
    for mode in MODES {
        for (flags, vars, script, code) in cases {
            let mut args = flags.to_vec();
            args.extend(["--", "sh", "-c", script]);
            Running::start_with(pidone_with(mode, vars, &args), mode)
                .finish()
                .assert_code(code);
        }
    }
}

#[test]
fn success_exit_143_turns_a_forwarded_sigterm_death_into_0() {
    for mode in MODES {
        let args = ["-e", "143", "--", "sh", "-c", "echo ready; exec sleep 1000"];
        let mut p = Running::start_with(pidone_with(mode, &[], &args), mode);
        p.expect_line("ready");
        let _guard = KillTreeOnPanic::new(p.pidone_pid());
        p.signal(libc::SIGTERM);
        p.finish().assert_code(0);
    }
}

#[test]
fn subreaper_flag_and_variables_make_pid_1_a_child_subreaper() {
    // Also, strace would see qemu's system calls, not pidone's.
    if skip_under_qemu(QEMU_NO_SUBREAPER) {
        return;
    }
    let usable = run_bounded(
        Command::new("strace").args(["-o", "/dev/null", "true"]),
        LIMIT,
    )
    .success();
    // As PID 1 the kernel hands orphans to pidone either way, so only the
    // system call tells whether -s took effect.
    if skip_unless(usable, "strace (with ptrace allowed)") {
        return;
    }
    let cases: [(Flags, Vars, bool); 9] = [
        (&["-s"], &[], true),
        (&["--subreaper"], &[], true),
        (&[], &[("PIDONE_SUBREAPER", "1")], true),
        (&[], &[("TINI_SUBREAPER", "1")], true),
        (&[], &[], false),
        // tini: set means on, whatever the value.
        (&[], &[("TINI_SUBREAPER", "")], true),
        (&[], &[("TINI_SUBREAPER", "0")], true),
        (
            &[],
            &[("PIDONE_SUBREAPER", "0"), ("TINI_SUBREAPER", "1")],
            false,
        ),
        (&["-s"], &[("PIDONE_SUBREAPER", "false")], true),
    ];
    for (flags, vars, want) in cases {
        let trace = marker();
        let mut args = flags.to_vec();
        args.extend(["--", "true"]);
        let inner = pidone_with(Mode::Pid1, vars, &args);
        let mut cmd = Command::new("strace");
        cmd.args(["-f", "-qq", "-e", "trace=prctl", "-o"])
            .arg(&trace)
            .arg(inner.get_program())
            .args(inner.get_args());
        for (k, v) in inner.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let out = Running::start_with(cmd, Mode::Subreaper).finish();
        let calls = std::fs::read_to_string(&trace).unwrap_or_default();
        let _ = std::fs::remove_file(&trace);
        out.assert_code(0);
        assert_eq!(
            calls.contains("PR_SET_CHILD_SUBREAPER, 1"),
            want,
            "{flags:?} {vars:?}\n--- prctl calls ---\n{calls}\n{out}"
        );
    }
}

#[test]
fn warn_orphans_logs_one_warning_per_reaped_orphan() {
    let factory = example("zombie_factory");
    let factory = factory.to_str().expect("UTF-8 path");
    let cases: [(Mode, Flags, Vars, usize); 7] = [
        (Mode::Pid1, &["-w"], &[], 3),
        (Mode::Subreaper, &["-w"], &[], 3),
        (Mode::Subreaper, &["--warn-orphans"], &[], 3),
        (Mode::Subreaper, &[], &[("PIDONE_WARN_ORPHANS", "1")], 3),
        (Mode::Subreaper, &[], &[("PIDONE_WARN_ORPHANS", "false")], 0),
        (Mode::Subreaper, &[], &[], 0),
        (Mode::Subreaper, &["-w"], &[("PIDONE_WARN_ORPHANS", "0")], 3),
    ];
    for (mode, flags, vars, want) in cases {
        if skip_subreaper_under_qemu(mode) {
            continue;
        }
        let mut args = flags.to_vec();
        args.extend(["--", factory, "--orphans", "3", "--wait-reaped", "10"]);
        let out = Running::start_with(pidone_with(mode, vars, &args), mode).finish();
        out.assert_code(0);
        let warnings = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("pidone: warning: reaped orphan pid"))
            .count();
        assert_eq!(warnings, want, "{flags:?} {vars:?}\n{out}");
        assert_eq!(out.stderr.lines().count(), want, "other lines too\n{out}");
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Logs {
    Quiet,
    Info,
    Debug,
}

#[test]
fn verbosity_flags_and_variables_choose_info_and_debug_lines() {
    let cases: [(Mode, Flags, Vars, Logs); 15] = [
        (Mode::Pid1, &[], &[], Logs::Quiet),
        (Mode::Pid1, &["-v"], &[], Logs::Info),
        (Mode::Pid1, &["-vv"], &[], Logs::Debug),
        (Mode::Subreaper, &["-vv"], &[], Logs::Debug),
        (
            Mode::Subreaper,
            &["--verbose", "--verbose"],
            &[],
            Logs::Debug,
        ),
        (Mode::Subreaper, &[], &[("PIDONE_VERBOSE", "1")], Logs::Info),
        (
            Mode::Subreaper,
            &[],
            &[("PIDONE_VERBOSE", "2")],
            Logs::Debug,
        ),
        (Mode::Subreaper, &[], &[("PIDONE_VERBOSE", "")], Logs::Quiet),
        (
            Mode::Subreaper,
            &[],
            &[("PIDONE_LOG", "debug")],
            Logs::Debug,
        ),
        (Mode::Subreaper, &[], &[("TINI_VERBOSITY", "2")], Logs::Info),
        (
            Mode::Subreaper,
            &[],
            &[("TINI_VERBOSITY", "3")],
            Logs::Debug,
        ),
        (
            Mode::Subreaper,
            &[],
            &[("DUMB_INIT_DEBUG", "1")],
            Logs::Debug,
        ),
        (
            Mode::Subreaper,
            &[],
            &[("DUMB_INIT_DEBUG", "0")],
            Logs::Quiet,
        ),
        (
            Mode::Subreaper,
            &["-v"],
            &[("PIDONE_VERBOSE", "2")],
            Logs::Info,
        ),
        (
            Mode::Subreaper,
            &["--verbose"],
            &[("DUMB_INIT_DEBUG", "1")],
            Logs::Info,
        ),
    ];
    for (mode, flags, vars, want) in cases {
        if skip_subreaper_under_qemu(mode) {
            continue;
        }
        let mut p = start_logger(mode, vars, flags, &[]);
        p.expect_line("ready");
        let _guard = KillTreeOnPanic::new(p.pidone_pid());
        p.signal(libc::SIGUSR1);
        assert_next(&mut p, "got 10 SIGUSR1", "SIGUSR1");
        p.signal(libc::SIGTERM);
        let out = p.finish();
        out.assert_code(0);
        let has = |prefix: &str| out.stderr.lines().any(|l| l.starts_with(prefix));
        let got = if has("pidone: debug: forwarded SIGUSR1") {
            Logs::Debug
        } else if has("pidone: info: ") && !has("pidone: debug: ") {
            Logs::Info
        } else if out.stderr.is_empty() {
            Logs::Quiet
        } else {
            panic!("unexpected log lines for {flags:?} {vars:?}\n{out}");
        };
        assert_eq!(got, want, "{flags:?} {vars:?} ({mode:?})\n{out}");
    }
}

#[test]
fn pidone_grace_variable_sets_the_grace_period_and_the_flag_beats_it() {
    // The shell leaves a logger behind that SIGTERM does not stop, and exits
    // on SIGHUP.
    let script = format!(
        "'{}' --exit-on 12 & trap 'exit 0' HUP; echo sh-ready; wait",
        logger()
    );
    let start = |mode: Mode, vars: Vars, flags: Flags| {
        let mut args = flags.to_vec();
        args.extend(["--", "sh", "-c", &script]);
        let mut p = Running::start_with(pidone_with(mode, vars, &args), mode);
        let (mut logger, mut shell) = (false, false);
        while !(logger && shell) {
            let line = p.next_line();
            logger |= line.starts_with("ready pid=");
            shell |= line == "sh-ready";
        }
        let guard = KillTreeOnPanic::new(p.pidone_pid());
        p.signal(libc::SIGHUP);
        (p, guard)
    };
    for mode in MODES {
        if skip_subreaper_under_qemu(mode) {
            continue;
        }
        // No grace: the leftover is killed at once, without a SIGTERM first.
        let (p, _guard) = start(mode, &[("PIDONE_GRACE", "0")], &[]);
        let out = p.finish();
        out.assert_code(0);
        assert!(!out.stdout.contains("got 15"), "{out}");

        // The flag's hour wins: the leftover gets SIGTERM and pidone waits;
        // a first SIGINT during the grace period is forwarded, a second
        // ends it.
        let (mut p, _guard) = start(mode, &[("PIDONE_GRACE", "0")], &["--grace", "1h"]);
        p.expect_line("got 15 SIGTERM");
        p.signal(libc::SIGINT);
        p.expect_line("got 2 SIGINT");
        p.signal(libc::SIGINT);
        p.finish().assert_code(0);
    }
}

#[test]
fn license_and_version_go_to_stdout_and_start_nothing() {
    let marker = marker();
    let touch = format!("touch '{}'", marker.display());
    for (flag, want) in [
        ("-l", "MIT License"),
        ("-L", "MIT License"),
        ("--license", "Permission is hereby granted"),
        ("-V", "pidone version "),
        ("--version", "pidone version "),
    ] {
        let out = run(Mode::Subreaper, &[flag, "--", "sh", "-c", &touch]);
        out.assert_code(0);
        assert!(out.stdout.contains(want), "{flag}\n{out}");
        assert!(out.stderr.is_empty(), "{flag}\n{out}");
        assert!(!marker.exists(), "{flag} started the child\n{out}");
    }
}

// --- catatonit: -P -------------------------------------------------------------

#[test]
fn pause_mode_reaps_and_ends_with_0_only_on_sigterm_or_sigint() {
    let pidone = pidone().to_str().expect("UTF-8 path").to_owned();
    let logger = logger();
    let cases: [(Mode, Flags, Vars, i32); 4] = [
        (Mode::Pid1, &["-P"], &[], libc::SIGTERM),
        (Mode::Pid1, &["--pause"], &[], libc::SIGINT),
        (Mode::Subreaper, &["-P"], &[], libc::SIGINT),
        (
            Mode::Subreaper,
            &[],
            &[("PIDONE_PAUSE", "1")],
            libc::SIGTERM,
        ),
    ];
    for (mode, flags, vars, stop) in cases {
        // The shell starts a logger, then becomes pidone: the logger is a
        // child pidone did not start, as in a pod's shared namespace.
        let mut args = vec![logger.as_str(), pidone.as_str()];
        args.extend(flags);
        let script = "\"$1\" --exit-on 10 & shift; exec \"$@\"";
        let mut cmd = shell(mode, vars, script, &args);
        // Blocked from the start, signals sent before pidone runs wait for
        // it: pending signals survive exec (execve(2)).
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                let mut all: libc::sigset_t = std::mem::zeroed();
                libc::sigfillset(&mut all);
                libc::sigprocmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
                Ok(())
            });
        }
        let mut p = Running::start_with(cmd, mode);
        p.expect_line("ready");
        let pid = p.pidone_pid();
        let _guard = KillTreeOnPanic::new(pid);

        // Signals other than SIGTERM and SIGINT, all numbered below SIGCHLD:
        // pidone takes them before the SIGCHLD of the logger's exit, so
        // reaping the logger proves it outlived them.
        for signo in [libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR2, libc::SIGALRM] {
            p.signal(signo);
        }
        let logger_pid = only_child(pid);
        send_signal(logger_pid, libc::SIGUSR1);
        assert_next(&mut p, "got 10 SIGUSR1", "SIGUSR1 sent to the logger");
        wait_until("pidone reaps the logger", || {
            let alive = state(pid).is_some_and(|s| s != 'Z');
            assert!(alive, "pidone ended before SIGTERM or SIGINT");
            children(pid).is_empty()
        });

        p.signal(stop);
        p.finish().assert_code(0);
    }
}

#[test]
fn pause_variable_set_to_0_or_empty_is_off() {
    for value in ["0", ""] {
        let cmd = pidone_with(Mode::Subreaper, &[("PIDONE_PAUSE", value)], &[]);
        let out = Running::start_with(cmd, Mode::Subreaper).finish();
        out.assert_code(2)
            .assert_stderr_contains("no command given");
    }
}

// --- bad values ------------------------------------------------------------------

#[test]
fn bad_values_are_one_line_errors_exit_2_and_start_nothing() {
    let flags: [(Flags, &str); 6] = [
        (&["-e", "256"], "'256'"),
        (&["-e", "x"], "'x'"),
        (&["--success-exit", "0", "-e", "1000"], "'1000'"),
        (&["-p", "FOO"], "'FOO'"),
        (&["--forward", "some"], "'some'"),
        (&["--grace", "5x"], "'5x'"),
    ];
    for mode in MODES {
        for (flags, want) in flags {
            assert_refused(mode, &[], flags, &[want]);
        }
    }
    let vars: [(&str, &str, Flags); 11] = [
        ("PIDONE_SUCCESS_EXIT", "3,x", &["'x'"]),
        (
            "PIDONE_PARENT_DEATH_SIGNAL",
            "FOO",
            &["PIDONE_PARENT_DEATH_SIGNAL", "'FOO'"],
        ),
        ("PIDONE_FORWARD", "some", &["PIDONE_FORWARD", "'some'"]),
        (
            "PIDONE_SINGLE_CHILD",
            "maybe",
            &["PIDONE_SINGLE_CHILD", "'maybe'"],
        ),
        (
            "PIDONE_SUBREAPER",
            "maybe",
            &["PIDONE_SUBREAPER", "'maybe'"],
        ),
        ("PIDONE_WARN_ORPHANS", "2", &["PIDONE_WARN_ORPHANS", "'2'"]),
        ("PIDONE_VERBOSE", "lots", &["PIDONE_VERBOSE", "'lots'"]),
        ("PIDONE_GRACE", "5x", &["PIDONE_GRACE", "'5x'"]),
        ("PIDONE_PAUSE", "maybe", &["PIDONE_PAUSE", "'maybe'"]),
        ("PIDONE_NO_DRAIN", "maybe", &["PIDONE_NO_DRAIN", "'maybe'"]),
        (
            "PIDONE_LOG",
            "pidone=loud",
            &["PIDONE_LOG", "'pidone=loud'"],
        ),
    ];
    for (var, value, wants) in vars {
        assert_refused(Mode::Subreaper, &[(var, value)], &[], wants);
    }
}

#[test]
fn errors_in_list_variables_name_the_variable() {
    assert_refused(
        Mode::Subreaper,
        &[("PIDONE_SUCCESS_EXIT", "300")],
        &[],
        &["PIDONE_SUCCESS_EXIT", "'300'"],
    );
    assert_refused(
        Mode::Subreaper,
        &[("PIDONE_REWRITE", "FOO:TERM")],
        &[],
        &["PIDONE_REWRITE", "'FOO'"],
    );
}
