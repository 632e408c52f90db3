//! Helpers for running the built pidone for real: as PID 1 of a fresh PID
//! namespace (`unshare --pid --fork --mount-proc`, plus `--user
//! --map-root-user` when not root), or as a plain process (subreaper mode).
//!
//! Every wait is bounded, and a failing check prints the command, status,
//! stdout and stderr. Synchronisation is on what the programs say (lines on
//! stdout), never on sleeps.
//!
//! Every file in tests/ is a crate of its own that includes this module and
//! uses a part of it; what one crate leaves unused would be dead code to it.
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

/// The arguments of `unshare` that make the command after them PID 1 of a
/// fresh PID namespace with its own /proc; when not root, in a user
/// namespace of its own where it is root.
pub fn unshare_args() -> &'static [&'static str] {
    // As `unshare_as_root`, plus the PID namespace.
    if is_root() {
        &["--pid", "--fork", "--mount-proc"]
    } else {
        &[
            "--user",
            "--map-root-user",
            "--pid",
            "--fork",
            "--mount-proc",
        ]
    }
}

/// `unshare` with [`unshare_args`]: add the command to run as PID 1.
pub fn unshare() -> Command {
    let mut c = Command::new("unshare");
    c.args(unshare_args());
    c
}

/// `unshare` with only what lets it make namespaces when not root (`--user
/// --map-root-user`): add the namespaces and the command.
pub fn unshare_as_root() -> Command {
    let mut c = Command::new("unshare");
    if !is_root() {
        c.args(["--user", "--map-root-user"]);
    }
    c
}

/// The command that runs pidone with `args` in `mode`.
pub fn command<S: AsRef<OsStr>>(mode: Mode, args: &[S]) -> Command {
    let mut cmd = match mode {
        Mode::Pid1 => {
            let mut c = unshare();
            c.arg(pidone());
            c
        }
        Mode::Subreaper => Command::new(pidone()),
    };
    cmd.args(args);
    cmd
}

/// The result of a run, printable in full for a failure message.
pub struct Outcome {
    pub what: String,
    /// None: it did not exit within its bound and was killed.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|status| status.code())
    }

    pub fn success(&self) -> bool {
        self.status.is_some_and(|status| status.success())
    }

    /// Panics, showing everything, unless the command succeeded.
    pub fn check(self) -> Self {
        assert!(self.success(), "command failed\n{self}");
        self
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
        writeln!(f, "command: {}", self.what)?;
        match self.status {
            Some(status) => writeln!(f, "status: {status}")?,
            None => writeln!(f, "status: killed, no exit in time")?,
        }
        write!(
            f,
            "elapsed: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.elapsed,
            self.stdout.trim_end(),
            self.stderr.trim_end()
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
    pub fn start_with(cmd: Command, mode: Mode) -> Running {
        Self::start_with_stderr(cmd, mode, Stdio::piped())
    }

    /// As [`Running::start_with`], with stderr going to `stderr` (captured
    /// only when that is `Stdio::piped()`).
    pub fn start_with_stderr(mut cmd: Command, mode: Mode, stderr: Stdio) -> Running {
        let what = format!("{cmd:?}");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take();
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
            if let Some(mut stderr) = stderr {
                let _ = stderr.read_to_string(&mut text);
            }
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
        self.next_line_within(LIMIT)
    }

    /// Waits at most `limit` for the next stdout line.
    pub fn next_line_within(&mut self, limit: Duration) -> String {
        match self.lines.recv_timeout(limit) {
            Ok(line) => {
                self.seen.push(line.clone());
                line
            }
            Err(RecvTimeoutError::Timeout) => {
                self.fail(&format!("no line on stdout within {limit:?}"))
            }
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

    /// As [`Running::expect_line`], for at most `limit` in all.
    pub fn expect_line_within(&mut self, prefix: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.fail(&format!("no line starting {prefix:?} within {limit:?}"));
            }
            let line = self.next_line_within(left);
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
            status: Some(status),
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
            kill_tree(child.id() as i32, &[]);
            let _ = child.wait();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// SIGKILLs `root`, its descendants and `also` (processes that may have
/// left the tree, such as those taken before a parent died). Descendants
/// first, so that none is re-parented out of reach on the way.
pub fn kill_tree(root: i32, also: &[i32]) {
    let mut pids = descendants(root);
    pids.extend(also);
    pids.push(root);
    for pid in pids {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(pid, libc::SIGKILL) };
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

/// The only child of `pid`, waiting (bounded) for it to appear; panics
/// naming what `pid` has instead.
pub fn only_child(pid: i32) -> i32 {
    let deadline = Instant::now() + LIMIT;
    loop {
        match children(pid)[..] {
            [child] => return child,
            [] if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            ref other => panic!(
                "pid {pid} should have one child, has {other:?}; pid {pid} is {:?}",
                stat(pid)
            ),
        }
    }
}

/// The head of a /proc/PID/stat line (proc(5)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    pub pid: i32,
    pub comm: String,
    /// `R`, `S`, `T` (stopped), `Z` (zombie), ...
    pub state: char,
    pub ppid: i32,
}

/// Parses one /proc/PID/stat line; comm may hold spaces and parentheses,
/// so the last `)` ends it.
pub fn parse_stat(line: &str) -> Option<Stat> {
    let (head, tail) = line.rsplit_once(')')?;
    let (pid, comm) = head.split_once(" (")?;
    let mut fields = tail.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some(Stat {
        pid: pid.trim().parse().ok()?,
        comm: comm.to_owned(),
        state,
        ppid,
    })
}

/// /proc/PID/stat of `pid`, or None once it is gone.
pub fn stat(pid: i32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The one-letter state of `pid` from /proc/PID/stat (`R`, `S`, `T` is
/// stopped, `Z` a zombie, ...), or None once it is gone.
pub fn state(pid: i32) -> Option<char> {
    stat(pid).map(|s| s.state)
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
    let found = poll_every(LIMIT, Duration::from_millis(2), || ok().then_some(()));
    assert!(found.is_some(), "timed out waiting until {what}");
}

/// Calls `probe` every 50 ms (a container engine's pace) until it gives a
/// value, for at most `limit`.
pub fn poll<T>(limit: Duration, probe: impl FnMut() -> Option<T>) -> Option<T> {
    poll_every(limit, Duration::from_millis(50), probe)
}

fn poll_every<T>(
    limit: Duration,
    interval: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(interval);
    }
}

/// Runs `cmd` with no input to its end, killing it after `limit` (then
/// `status` is None); stdout and stderr are read as it runs, so a chatty
/// command cannot block on a full pipe. Never panics: the caller judges,
/// printing the outcome.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Outcome {
    let mut out = Outcome {
        what: format!("{cmd:?}"),
        status: None,
        stdout: String::new(),
        stderr: String::new(),
        elapsed: Duration::ZERO,
    };
    let started = Instant::now();
    let spawned = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(err) => {
            out.stderr = format!("cannot start it: {err}");
            return out;
        }
    };
    let stdout = read_all(child.stdout.take());
    let stderr = read_all(child.stderr.take());
    out.status = wait_bounded(&mut child, limit);
    out.elapsed = started.elapsed();
    out.stdout = stdout.join().unwrap_or_default();
    out.stderr = stderr.join().unwrap_or_default();
    out
}

fn read_all(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Waits for `child` at most `limit`, then SIGKILLs it: None.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
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

/// Takes this test's turn among the tests of its file that must not run
/// beside each other: those asserting an upper bound on a time (a
/// parallel test would stretch it) and those keeping both cores busy.
/// Lower bounds ("waited at least the grace") need no turn.
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // A failed test poisons the lock; the next one may still run.
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// Both modes, for tests that must hold in each.
pub const MODES: [Mode; 2] = [Mode::Pid1, Mode::Subreaper];

/// What a missing end-to-end dependency means, from `PIDONE_E2E`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum E2e {
    /// Unset: the test says `SKIPPED: ...` and passes.
    Auto,
    /// `require` (set by .ci/run): the test fails.
    Require,
    /// `off`, `0` or `skip`: the container tests skip even when they could run.
    Off,
}

pub fn e2e() -> E2e {
    match std::env::var("PIDONE_E2E").as_deref() {
        Ok("require") => E2e::Require,
        Ok("off" | "0" | "skip") => E2e::Off,
        _ => E2e::Auto,
    }
}

/// Whether end-to-end dependencies are required (`PIDONE_E2E=require`,
/// set by .ci/run): then a missing one fails the test instead of skipping.
pub fn e2e_required() -> bool {
    e2e() == E2e::Require
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

// ---------------------------------------------------------------------
// Faults (tests/faults.rs): seccomp filters, strace, tagged processes.

/// A system call a seccomp filter refuses (see [`refuse_syscalls`]).
#[derive(Clone, Copy, Debug)]
pub enum Refuse {
    /// Every call of syscall `nr` fails with `errno`.
    Call { nr: libc::c_long, errno: i32 },
    /// Calls of `nr` whose argument `arg` (0-based; its low 32 bits) is
    /// `value` fail with `errno`: `kill(pid, SIGKILL)`, say.
    Arg {
        nr: libc::c_long,
        arg: u32,
        value: u32,
        errno: i32,
    },
    /// Calls of `nr` whose argument `arg` has a bit of `mask` set fail with
    /// `errno`: clone(2) with CLONE_PIDFD, say.
    Flag {
        nr: libc::c_long,
        arg: u32,
        mask: u32,
        errno: i32,
    },
}

/// The audit architecture of the seccomp filters [`refuse_syscalls`]
/// writes: the test's own (the syscall numbers are `libc::SYS_*` of this
/// build), or None where this file does not know it.
pub fn seccomp_arch() -> Option<u32> {
    if cfg!(all(target_arch = "x86_64", target_endian = "little")) {
        Some(0xC000_003E) // AUDIT_ARCH_X86_64
    } else if cfg!(all(target_arch = "aarch64", target_endian = "little")) {
        Some(0xC000_00B7) // AUDIT_ARCH_AARCH64
    } else {
        None
    }
}

/// The classic BPF program of a seccomp filter that answers `rules` with
/// their errno and lets every other call through (and every call of
/// another architecture, which these numbers do not describe).
pub fn seccomp_program(rules: &[Refuse]) -> Vec<libc::sock_filter> {
    const LD_ABS_W: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    const ALLOW: u32 = 0x7fff_0000; // SECCOMP_RET_ALLOW
    const ERRNO: u32 = 0x0005_0000; // SECCOMP_RET_ERRNO
                                    // struct seccomp_data: nr at 0, arch at 4, args (u64 each) from 16;
                                    // the low half of an argument comes first on a little-endian machine.
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    let arg_at = |arg: u32| 16 + 8 * arg;
    let op = |code: u16, jt: u8, jf: u8, k: u32| libc::sock_filter { code, jt, jf, k };
    let arch = seccomp_arch().expect("seccomp filters for this architecture");
    let mut prog = vec![
        op(LD_ABS_W, 0, 0, ARCH),
        op(JEQ_K, 1, 0, arch),
        op(RET_K, 0, 0, ALLOW),
    ];
    for rule in rules {
        match *rule {
            Refuse::Call { nr, errno } => prog.extend([
                op(LD_ABS_W, 0, 0, NR),
                op(JEQ_K, 0, 1, nr as u32),
                op(RET_K, 0, 0, ERRNO | errno as u32),
            ]),
            Refuse::Arg {
                nr,
                arg,
                value,
                errno,
            } => prog.extend([
                op(LD_ABS_W, 0, 0, NR),
                op(JEQ_K, 0, 3, nr as u32),
                op(LD_ABS_W, 0, 0, arg_at(arg)),
                op(JEQ_K, 0, 1, value),
                op(RET_K, 0, 0, ERRNO | errno as u32),
            ]),
            Refuse::Flag {
                nr,
                arg,
                mask,
                errno,
            } => prog.extend([
                op(LD_ABS_W, 0, 0, NR),
                op(JEQ_K, 0, 3, nr as u32),
                op(LD_ABS_W, 0, 0, arg_at(arg)),
                op(JSET_K, 0, 1, mask),
                op(RET_K, 0, 0, ERRNO | errno as u32),
            ]),
        }
    }
    prog.push(op(RET_K, 0, 0, ALLOW));
    prog
}

/// Makes `cmd` and everything it starts run under a seccomp filter that
/// refuses `rules` (as an old Docker profile refuses the syscalls it does
/// not know). The filter is installed between fork and exec with two
/// prctl(2) calls, nothing else.
pub fn refuse_syscalls(cmd: &mut Command, rules: &[Refuse]) {
    use std::os::unix::process::CommandExt;
    let prog = seccomp_program(rules);
    let len = u16::try_from(prog.len()).expect("a short filter");
    // SAFETY: the closure runs between fork and exec and makes only two
    // prctl calls (async-signal-safe syscalls); `prog` was built before
    // the fork and lives in the closure, so the fprog points to live,
    // unchanging memory during the call.
    unsafe {
        cmd.pre_exec(move || {
            let fprog = libc::sock_fprog {
                len,
                filter: prog.as_ptr() as *mut libc::sock_filter,
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER,
                    &fprog as *const libc::sock_fprog,
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Starts `cmd` with RLIMIT_NOFILE `soft`:`hard` (as `prlimit --nofile`).
pub fn limit_descriptors(cmd: &mut Command, soft: u64, hard: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is an async-signal-safe syscall; the rlimit is a
    // local of the closure.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: soft as libc::rlim_t,
                rlim_max: hard as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Whether this process may attach a tracer to a process that is not
/// its tracer's descendant (`strace -p`): as root, or where Yama's
/// ptrace_scope is 0 or absent.
pub fn may_attach() -> bool {
    is_root()
        || std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
            .map_or(true, |scope| scope.trim() == "0")
}

/// Whether strace can be run.
pub fn have_strace() -> bool {
    Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// strace attached to one running process (`strace -p`), its trace going
/// to a file. It follows no child: what it sees and injects into is that
/// process alone.
pub struct Strace {
    child: Child,
    log: PathBuf,
    messages: Receiver<String>,
}

impl Strace {
    /// Attaches strace with `args` (`-e inject=...`, say) to `pid`, and
    /// returns once strace says it is attached: from then on every system
    /// call of `pid` passes through it. An error, with strace's messages,
    /// if it could not attach (`pid` is gone, ptrace is not allowed...).
    pub fn attach(pid: i32, args: &[&str], log: &std::path::Path) -> Result<Strace, String> {
        let mut child = Command::new("strace")
            .arg("-o")
            .arg(log)
            .args(args)
            .arg("-p")
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start strace: {e}"))?;
        let stderr = child.stderr.take().expect("strace's stderr");
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + LIMIT;
        let mut said = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match messages.recv_timeout(left) {
                Ok(line) if line.contains("attached") => break,
                Ok(line) => said.push(line),
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("strace did not attach to {pid}: {said:?}"));
                }
            }
        }
        Ok(Strace {
            child,
            log: log.to_owned(),
            messages,
        })
    }

    /// Waits (at most `limit`) for strace to end, which it does when its
    /// process does, and returns the trace; after `limit` strace is
    /// stopped (it detaches) and the trace so far is returned.
    pub fn finish(mut self, limit: Duration) -> String {
        if wait_bounded_by(&mut self.child, limit, libc::SIGTERM).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        while self.messages.try_recv().is_ok() {}
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Strace {
    fn drop(&mut self) {
        // SIGTERM: strace detaches from its tracee before it exits.
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
            let _ = wait_bounded(&mut self.child, Duration::from_secs(5));
        }
    }
}

/// As [`wait_bounded`], but after `limit` sends `signo` (and waits up to
/// 5 s more) instead of killing at once; None if it had to be signalled.
pub fn wait_bounded_by(child: &mut Child, limit: Duration, signo: i32) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(child.id() as i32, signo) };
                let _ = wait_bounded(child, Duration::from_secs(5));
                return None;
            }
        }
    }
}

/// The live processes whose environment holds `NAME=value`: everything
/// a run started, wherever it was re-parented, when the run set that
/// variable for pidone. A process is live while any of its threads is (a
/// leader that called pthread_exit is a zombie whose threads run on; its
/// environment is read through a live thread).
pub fn processes_with_env(name: &str, value: &str) -> Vec<i32> {
    let want = format!("{name}={value}");
    let has = |path: String| {
        std::fs::read(path).is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == want.as_bytes()))
    };
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            let live: Vec<i32> = threads(pid)
                .into_iter()
                .filter(|&tid| {
                    let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat"));
                    stat.ok()
                        .and_then(|s| parse_stat(&s))
                        .is_some_and(|s| !matches!(s.state, 'Z' | 'X'))
                })
                .collect();
            live.iter()
                .any(|tid| has(format!("/proc/{pid}/task/{tid}/environ")))
        })
        .collect()
}

/// The thread ids of `pid` (/proc/PID/task); empty once it is gone.
pub fn threads(pid: i32) -> Vec<i32> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Makes a FIFO at `path` (mkfifo(3)).
pub fn make_fifo(path: &std::path::Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("a path without NUL");
    // SAFETY: `c` is a live NUL-terminated string.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(
        rc,
        0,
        "mkfifo {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// Writes `line` into the FIFO at `path` without waiting for a reader:
/// the FIFO is opened read-write (which never blocks on Linux), so the
/// line waits in it until the reader comes. Keep the returned file until
/// the reader has read it.
pub fn post_to_fifo(path: &std::path::Path, line: &str) -> std::fs::File {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    f.write_all(line.as_bytes()).expect("write to the FIFO");
    f
}
