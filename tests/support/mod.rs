//! Helpers for running the built pidone for real: as PID 1 of a fresh PID
//! namespace (`unshare --pid --fork --mount-proc`, plus `--user
//! --map-root-user` when not root), or as a plain process (subreaper mode).
//!
//! Every wait is bounded, and a failing check prints the command, status,
//! stdout and stderr. Synchronisation is on what the programs say (lines on
//! stdout), never on sleeps.
#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How long any single wait in a test may take before the test fails.
pub const LIMIT: Duration = Duration::from_secs(20);

/// The pidone under test: `PIDONE_TEST_BIN` when set (a release binary,
/// perhaps of another architecture run through binfmt_misc: see
/// [`under_qemu`]), else the one `cargo test` built.
pub fn pidone() -> PathBuf {
    match std::env::var_os("PIDONE_TEST_BIN") {
        Some(bin) if !bin.is_empty() => PathBuf::from(bin),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_pidone")),
    }
}

/// Whether pidone runs under qemu-user (`PIDONE_TEST_QEMU=1`, set by
/// .ci/release.sh with a `PIDONE_TEST_BIN` of another architecture).
pub fn under_qemu() -> bool {
    std::env::var("PIDONE_TEST_QEMU").is_ok_and(|v| v == "1")
}

/// Skips (returns true after a message) under qemu-user, which cannot do
/// what the test needs: `why` says what.
pub fn skip_under_qemu(why: &str) -> bool {
    if under_qemu() {
        eprintln!("SKIPPED under qemu-user: {why}");
    }
    under_qemu()
}

/// What qemu-user 7.2 does not emulate: prctl(PR_SET_CHILD_SUBREAPER) fails
/// with EINVAL, so pidone warns and orphans of its command are not its own.
pub const QEMU_NO_SUBREAPER: &str =
    "prctl(PR_SET_CHILD_SUBREAPER) fails with EINVAL, so pidone cannot be a subreaper";

/// Skips a run in Subreaper mode under qemu-user (see [`QEMU_NO_SUBREAPER`]).
pub fn skip_subreaper_under_qemu(mode: Mode) -> bool {
    let skip = mode == Mode::Subreaper && under_qemu();
    if skip {
        eprintln!("SKIPPED under qemu-user, this run in Subreaper mode: {QEMU_NO_SUBREAPER}");
    }
    skip
}

/// An example program, built by `cargo test` beside the test binaries.
pub fn example(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().expect("current_exe");
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test`, which builds the examples",
        path.display()
    );
    path
}

/// Where pidone runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// PID 1 of a fresh PID namespace.
    Pid1,
    /// A plain child of the test: pidone registers as subreaper.
    Subreaper,
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The command that runs pidone with `args` in `mode`.
pub fn command<S: AsRef<OsStr>>(mode: Mode, args: &[S]) -> Command {
    let mut cmd = match mode {
        Mode::Pid1 => {
            let mut c = Command::new("unshare");
            if !is_root() {
                c.args(["--user", "--map-root-user"]);
            }
            c.args(["--pid", "--fork", "--mount-proc"]).arg(pidone());
            c
        }
        Mode::Subreaper => Command::new(pidone()),
    };
    cmd.args(args);
    cmd
}

/// The result of a finished run.
pub struct Outcome {
    pub what: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics, showing everything, unless the exit code is `want`.
    pub fn assert_code(&self, want: i32) -> &Self {
        assert_eq!(self.code(), Some(want), "wrong exit code\n{self}");
        self
    }

    pub fn assert_stderr_contains(&self, want: &str) -> &Self {
        assert!(self.stderr.contains(want), "stderr lacks {want:?}\n{self}");
        self
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "command: {}\nstatus: {}\nelapsed: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what, self.status, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// Runs pidone with `args` in `mode` to its end (bounded by LIMIT).
pub fn run<S: AsRef<OsStr>>(mode: Mode, args: &[S]) -> Outcome {
    Running::start(mode, args).finish()
}

/// A pidone that is still running, with its stdout read line by line.
pub struct Running {
    pub what: String,
    child: Option<Child>,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Receiver<String>,
    started: Instant,
    mode: Mode,
}

impl Running {
    pub fn start<S: AsRef<OsStr>>(mode: Mode, args: &[S]) -> Running {
        Self::start_with(command(mode, args), mode)
    }

    /// Starts a prepared command (see [`command`]) with stdout and stderr
    /// captured; stdin is /dev/null.
    pub fn start_with(mut cmd: Command, mode: Mode) -> Running {
        let what = format!("{cmd:?}");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (etx, erx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            let _ = etx.send(text);
        });
        Running {
            what,
            child: Some(child),
            lines,
            seen: Vec::new(),
            stderr: erx,
            started,
            mode,
        }
    }

    /// The pid of pidone as seen from the test: unshare's child in Pid1
    /// mode, the process itself otherwise.
    pub fn pidone_pid(&self) -> i32 {
        let top = self.child.as_ref().expect("running").id() as i32;
        if self.mode == Mode::Subreaper {
            return top;
        }
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(&pid) = children(top).first() {
                return pid;
            }
            assert!(
                Instant::now() < deadline,
                "pidone never started under {}",
                self.what
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Sends `signo` to pidone.
    pub fn signal(&self, signo: i32) {
        send_signal(self.pidone_pid(), signo);
    }

    /// Waits for the next stdout line.
    pub fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(LIMIT) {
            Ok(line) => {
                self.seen.push(line.clone());
                line
            }
            Err(RecvTimeoutError::Timeout) => self.fail("no line on stdout in time"),
            Err(RecvTimeoutError::Disconnected) => {
                self.fail("stdout closed before the expected line")
            }
        }
    }

    /// Waits for a stdout line that starts with `prefix` and returns it.
    pub fn expect_line(&mut self, prefix: &str) -> String {
        loop {
            let line = self.next_line();
            if line.starts_with(prefix) {
                return line;
            }
        }
    }

    /// Kills pidone and everything under it, and reports, for a failure.
    pub fn fail(&mut self, why: &str) -> ! {
        self.kill_all();
        let stderr = self
            .stderr
            .recv_timeout(Duration::from_secs(2))
            .unwrap_or_default();
        panic!(
            "{why}\ncommand: {}\n--- stdout so far ---\n{}\n--- stderr ---\n{stderr}",
            self.what,
            self.seen.join("\n")
        );
    }

    /// Waits (bounded) for pidone to exit; collects the rest of stdout.
    pub fn finish(mut self) -> Outcome {
        let deadline = Instant::now() + LIMIT;
        let status = loop {
            let child = self.child.as_mut().expect("running");
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                Ok(None) => self.fail("pidone did not exit in time"),
                Err(e) => self.fail(&format!("wait failed: {e}")),
            }
        };
        let elapsed = self.started.elapsed();
        self.child = None;
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        let stderr = self
            .stderr
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_default();
        Outcome {
            what: self.what.clone(),
            status,
            stdout: self.seen.join("\n"),
            stderr,
            elapsed,
        }
    }
}

impl Running {
    /// SIGKILLs the process the test started and all its descendants (in
    /// subreaper mode pidone's children would otherwise outlive it).
    fn kill_all(&mut self) {
        if let Some(mut child) = self.child.take() {
            for pid in descendants(child.id() as i32) {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// The descendants of `root`, from the kernel's children lists.
pub fn descendants(root: i32) -> Vec<i32> {
    let mut found = Vec::new();
    let mut queue = vec![root];
    while let Some(pid) = queue.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|p| p.parse().ok()) {
                queue.push(child);
                found.push(child);
            }
        }
    }
    found
}

/// The children of `pid` (of its main thread), from
/// /proc/PID/task/PID/children; zombies are listed until reaped. Empty once
/// `pid` is gone.
pub fn children(pid: i32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// The one-letter state of `pid` from /proc/PID/stat (`R`, `S`, `T` is
/// stopped, `Z` a zombie, ...), or None once it is gone.
pub fn state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// Sends `signo` to `pid` with kill(2); panics, naming the OS error, if
/// that fails.
pub fn send_signal(pid: i32, signo: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    let rc = unsafe { libc::kill(pid, signo) };
    assert_eq!(
        rc,
        0,
        "kill({pid}, {signo}): {}",
        std::io::Error::last_os_error()
    );
}

/// Polls /proc (bounded by LIMIT) until `ok` holds; `what` explains a
/// timeout.
pub fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Fields of /proc/PID/status as (name, value) text.
pub fn proc_status(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default()
}

/// One field of /proc/PID/status, e.g. `SigBlk`.
pub fn status_field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

/// `sh -c SCRIPT` as arguments for pidone.
pub fn sh(script: &str) -> Vec<OsString> {
    vec!["--".into(), "sh".into(), "-c".into(), script.into()]
}

/// Both modes, for tests that must hold in each.
pub const MODES: [Mode; 2] = [Mode::Pid1, Mode::Subreaper];

/// Whether end-to-end dependencies are required (`PIDONE_E2E=require`,
/// set by .ci/run): then a missing one fails the test instead of skipping.
pub fn e2e_required() -> bool {
    std::env::var("PIDONE_E2E").is_ok_and(|v| v == "require")
}

/// Skips (returns true after a message) when `what` is missing, unless
/// PIDONE_E2E=require, where it fails.
pub fn skip_unless(available: bool, what: &str) -> bool {
    if available {
        return false;
    }
    assert!(
        !e2e_required(),
        "{what} is required (PIDONE_E2E=require) but missing"
    );
    eprintln!("SKIPPED: {what} is missing (set PIDONE_E2E=require to make this a failure)");
    true
}
