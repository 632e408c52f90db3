//! Faults: pidone under refused and failing system calls (issue 16).
//!
//! Two tools, both on real programs in real PID namespaces:
//!
//! - **strace `-e inject`**, attached to pidone alone (`strace -p`, no
//!   `-f`: the command and its children are never traced) once pidone
//!   has started its command. Every system call pidone makes after
//!   startup, as a traced run of the scenario lists them, fails once with
//!   each errno it can plausibly return ([`PLAUSIBLE`]); a system call the
//!   table does not know fails the test, so the matrix cannot go stale.
//!   The startup calls (fork, close_range, prctl...) fail once under
//!   `strace -f -b execve`, which follows pidone's child only until it
//!   execs the command.
//! - **seccomp filters** (written here as classic BPF, see
//!   `support::refuse_syscalls`) on pidone and everything under it: the
//!   refusals of an old Docker profile (EPERM for pidfd_open,
//!   pidfd_send_signal, close_range and clone3), clone with CLONE_PIDFD
//!   refused, SIGKILL refused.
//!
//! Every run must keep the command's exit code, end within a bound, leave
//! no process behind (every process of a run carries a tag in its
//! environment, found in /proc wherever it was re-parented) and never
//! panic. Each test names the points of issue 16 it proves.
//!
//! The matrices print a line per fault (`cargo test --test faults --
//! --nocapture`); `PIDONE_FAULT_CELL=openat:EMFILE` runs that one cell of
//! the strace matrices, with pidone at `-vv` and every report printed.
//! `PIDONE_TEST_BIN` points them at another build: the calls are listed
//! from a traced run, so musl's `open` and `fstat` are covered as glibc's
//! `openat` and `statx` are.

mod support;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use support::*;

/// The environment variable that tags every process of a run.
const TAG: &str = "PIDONE_FAULT_TAG";

/// The bound on one run where nothing should wait long: far above what a
/// run takes (under a second), far below what a hang would (the leftovers
/// sleep for a minute).
const BOUND: Duration = Duration::from_secs(20);

/// The bound on one run of a matrix, whose runs take under a second.
const MATRIX_BOUND: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------
// A run.

/// What a run needs.
struct Setup<'a> {
    mode: Mode,
    /// pidone's options, before `--`.
    options: &'a [&'a str],
    /// The command, given to `sh -c`; it finds its directory in `$D`, where
    /// the FIFOs `go`, `h` and `i` exist, and starts once `go` says so.
    script: &'a str,
    refuse: &'a [Refuse],
    /// RLIMIT_NOFILE (soft, hard) for pidone and what it runs.
    nofile: Option<(u64, u64)>,
    /// Run pidone with this uid and gid (root only).
    user: Option<u32>,
    /// Run pidone under `strace -f -b execve ARGS` from its start
    /// (subreaper mode only).
    strace_from_start: Option<Vec<String>>,
}

impl<'a> Setup<'a> {
    fn new(mode: Mode, options: &'a [&'a str], script: &'a str) -> Setup<'a> {
        Setup {
            mode,
            options,
            script,
            refuse: &[],
            nofile: None,
            user: None,
            strace_from_start: None,
        }
    }
}

/// A run in progress.
struct Live {
    what: String,
    scratch: PathBuf,
    tag: String,
    child: Option<Child>,
    mode: Mode,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    stdout_seen: Vec<String>,
    stderr_seen: Vec<String>,
    started: Instant,
    /// The FIFO `go`, held open once posted.
    go: Option<std::fs::File>,
}

/// How a run ended.
struct Report {
    what: String,
    status: Option<ExitStatus>,
    elapsed: Duration,
    stdout: String,
    stderr: String,
    /// `$D/log`: what the command's processes wrote.
    log: String,
    /// Processes of the run alive after pidone's exit (then killed).
    left: Vec<String>,
    /// The strace trace, where there was one.
    trace: String,
    /// The run's directory, removed with the report.
    dir: PathBuf,
}

impl Drop for Report {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static RUNS: AtomicUsize = AtomicUsize::new(0);

impl Live {
    fn start(setup: &Setup) -> Live {
        let n = RUNS.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}-{n}", std::process::id());
        let scratch = std::env::temp_dir().join(format!("pidone-faults-{tag}"));
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch).expect("create the scratch directory");
        // Readable by a pidone that is not root (Setup::user).
        let _ = std::fs::set_permissions(
            &scratch,
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        );
        for fifo in ["go", "h", "i"] {
            make_fifo(&scratch.join(fifo));
            let _ = std::fs::set_permissions(
                scratch.join(fifo),
                std::os::unix::fs::PermissionsExt::from_mode(0o666),
            );
        }
        let mut args: Vec<&str> = setup.options.to_vec();
        args.extend(["--", "sh", "-c", setup.script]);
        let mut cmd = match &setup.strace_from_start {
            Some(trace) => {
                assert_eq!(setup.mode, Mode::Subreaper, "strace from the start");
                let mut c = Command::new("strace");
                c.args(["-f", "-b", "execve", "-o"])
                    .arg(scratch.join("trace"))
                    .args(trace)
                    .arg(pidone())
                    .args(&args);
                c
            }
            None => command(setup.mode, &args),
        };
        cmd.env("D", &scratch).env(TAG, &tag);
        if !setup.refuse.is_empty() {
            refuse_syscalls(&mut cmd, setup.refuse);
        }
        if let Some((soft, hard)) = setup.nofile {
            limit_descriptors(&mut cmd, soft, hard);
        }
        if let Some(id) = setup.user {
            cmd.uid(id).gid(id);
        }
        let what = format!("{cmd:?}");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stdout = lines(child.stdout.take().expect("stdout"));
        let stderr = lines(child.stderr.take().expect("stderr"));
        Live {
            what,
            scratch,
            tag,
            child: Some(child),
            mode: setup.mode,
            stdout,
            stderr,
            stdout_seen: Vec::new(),
            stderr_seen: Vec::new(),
            started,
            go: None,
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.scratch.join(name)
    }

    /// pidone's pid, as the test sees it.
    fn pidone_pid(&self) -> i32 {
        let top = self.child.as_ref().expect("running").id() as i32;
        match self.mode {
            Mode::Subreaper => top,
            Mode::Pid1 => only_child(top),
        }
    }

    /// Lets the command start (it waits on the FIFO `go`).
    fn go(&mut self) {
        self.go = Some(post_to_fifo(&self.file("go"), "go\n"));
    }

    /// The next stdout line starting with `prefix`, within LIMIT; None if
    /// none came (stdout closed or the time ran out).
    fn stdout_line(&mut self, prefix: &str) -> Option<String> {
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.stdout.recv_timeout(left).ok()?;
            self.stdout_seen.push(line.clone());
            if line.starts_with(prefix) {
                return Some(line);
            }
        }
    }

    /// Waits (within LIMIT) for a line of pidone's stderr that holds
    /// `part`; None if none came.
    fn stderr_line(&mut self, part: &str) -> Option<String> {
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.stderr.recv_timeout(left).ok()?;
            self.stderr_seen.push(line.clone());
            if line.contains(part) {
                return Some(line);
            }
        }
    }

    /// Waits at most `bound` for pidone to exit (else kills it), then
    /// collects everything and kills what is left of the run.
    fn finish(mut self, bound: Duration) -> Report {
        let mut child = self.child.take().expect("running");
        let status = wait_bounded(&mut child, bound);
        let elapsed = self.started.elapsed();
        // The rest of the output: the writers are gone, or are killed now.
        let left = self.reap_leftovers();
        self.collect_output();
        Report {
            what: self.what.clone(),
            status,
            elapsed,
            stdout: self.stdout_seen.join("\n"),
            stderr: self.stderr_seen.join("\n"),
            log: std::fs::read_to_string(self.file("log")).unwrap_or_default(),
            left,
            trace: std::fs::read_to_string(self.file("trace")).unwrap_or_default(),
            dir: self.scratch.clone(),
        }
    }

    /// The run's processes still alive once pidone is gone (after a short
    /// settling: a process SIGKILLed by a dying PID 1 takes a moment),
    /// described, then SIGKILLed.
    fn reap_leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        let _ = poll(Duration::from_secs(2), || {
            left = processes_with_env(TAG, &self.tag);
            left.is_empty().then_some(())
        });
        let described = left
            .iter()
            .map(|&pid| format!("{pid} {:?}", stat(pid)))
            .collect();
        for &pid in &left {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        described
    }

    fn collect_output(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        for (rx, seen) in [
            (&self.stdout, &mut self.stdout_seen),
            (&self.stderr, &mut self.stderr_seen),
        ] {
            while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                seen.push(line);
            }
        }
    }
}

impl Drop for Live {
    /// A run given up (a failed check): pidone and the rest are killed,
    /// and the directory goes. A finished run's goes with its report.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            self.reap_leftovers();
            let _ = std::fs::remove_dir_all(&self.scratch);
        }
    }
}

fn lines(pipe: impl std::io::Read + Send + 'static) -> Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Report {
    /// A file of the run's directory.
    fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    /// What is wrong with this run by the rules every run keeps: exit code
    /// `code`, ended within its bound, nothing left, no panic.
    fn problems(&self, code: i32) -> Vec<String> {
        let mut wrong = Vec::new();
        match self.status {
            None => wrong.push(format!("no exit within the bound ({:?})", self.elapsed)),
            Some(status) if status.code() != Some(code) => {
                wrong.push(format!("{status}, wanted exit code {code}"))
            }
            Some(_) => {}
        }
        if !self.left.is_empty() {
            let shown: Vec<&String> = self.left.iter().take(4).collect();
            wrong.push(format!("left behind: {} {shown:?}", self.left.len()));
        }
        if self.stderr.contains("panicked") {
            wrong.push("panicked".to_owned());
        }
        wrong
    }

    /// Panics, showing everything, if [`Report::problems`] finds any.
    fn check(&self, code: i32) -> &Self {
        let wrong = self.problems(code);
        assert!(wrong.is_empty(), "{}\n{self}", wrong.join("; "));
        self
    }

    fn assert(&self, ok: bool, why: &str) -> &Self {
        assert!(ok, "{why}\n{self}");
        self
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "command: {}", self.what)?;
        match self.status {
            Some(status) => writeln!(f, "status: {status}")?,
            None => writeln!(f, "status: killed, no exit in time")?,
        }
        write!(
            f,
            "elapsed: {:?}\nleft: {} {:?}\n--- log ---\n{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.elapsed,
            self.left.len(),
            self.left.iter().take(4).collect::<Vec<_>>(),
            self.log.trim_end(),
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

fn skip() -> bool {
    if skip_under_qemu("strace and seccomp filters see qemu's system calls, not pidone's") {
        return true;
    }
    if seccomp_arch().is_none() {
        eprintln!("SKIPPED: no seccomp filter for this architecture in tests/support");
        return true;
    }
    false
}

// ---------------------------------------------------------------------
// The scenario of the matrices: forward, reap, drain.

/// A command that makes pidone do everything it does after startup. It
/// waits for `go`; leaves two leftovers in sessions of their own (out of
/// a group signal's reach): one (`term_crowd 1`, a process with no child)
/// that logs `0 15` and exits on SIGTERM (and logs `0 10` on SIGUSR1),
/// one that ignores SIGTERM and SIGUSR1 and only SIGKILL ends (unless
/// `!kill`); leaves an orphan to reap; has SIGUSR1 forwarded to it (it
/// logs `forwarded` and ends its 8 s timer; a lost signal costs those 8 s,
/// not the run); exits 3.
fn scenario(kill: bool) -> String {
    let crowd = example("term_crowd");
    let deaf = if kill {
        r#"
setsid sh -c 'trap "" TERM USR1; echo ready > "$D/i"; exec sleep 60' &
read x < "$D/i""#
    } else {
        ""
    };
    format!(
        r#"
read go < "$D/go"
setsid {crowd} 1 "$D/log" > "$D/h" &
read x < "$D/h"{deaf}
(true &)
sleep 8 & t=$!
trap 'echo forwarded >> "$D/log"; kill $t 2>/dev/null' USR1
kill -USR1 $PPID
wait $t
kill $t 2>/dev/null
exit 3
"#,
        crowd = crowd.display()
    )
}

/// Whether the scenario's TERM-handling leftover took a SIGTERM.
fn drained(log: &str) -> bool {
    log.lines().any(|l| l == "0 15")
}

/// The grace of the matrix runs with the leftover that needs SIGKILL:
/// short, since such a run waits all of it.
const KILL_GRACE: &str = "300ms";

/// The grace of the other matrix runs, which end as soon as the TERM is
/// taken: long enough for any machine to take it.
const POLITE_GRACE: &str = "5s";

/// The forwarding configurations the matrices run: the default (the
/// child's group), the child alone, and everyone.
const FORWARDS: [&[&str]; 3] = [&[], &["--single-child"], &["--forward", "all"]];

// ---------------------------------------------------------------------
// The strace matrix.

/// The errnos each system call pidone makes after startup can return, or
/// that a sandbox makes it return. A call not listed here, nor in
/// [`CANNOT_FAIL`], fails `strace_matrix_*`: list it.
const PLAUSIBLE: &[(&str, &[&str])] = &[
    // Waiting for signals: interrupted (a ptrace stop, a SIGCONT), or
    // a spurious timeout.
    ("rt_sigtimedwait", &["EINTR", "EAGAIN", "ENOMEM"]),
    ("wait4", &["EINTR", "ECHILD"]),
    // Signalling: refused (a setuid process, a sandbox), or gone.
    ("kill", &["EPERM", "ESRCH"]),
    ("getpgid", &["ESRCH", "EPERM"]),
    (
        "pidfd_open",
        &[
            "EPERM", "ENOSYS", "EMFILE", "ENFILE", "ENOMEM", "EINVAL", "ESRCH",
        ],
    ),
    (
        "pidfd_send_signal",
        &["EPERM", "ENOSYS", "EINVAL", "EBADF", "ESRCH"],
    ),
    // Reading /proc.
    (
        "openat",
        &["EMFILE", "ENFILE", "ENOMEM", "EACCES", "ENOENT", "EINTR"],
    ),
    (
        "open",
        &["EMFILE", "ENFILE", "ENOMEM", "EACCES", "ENOENT", "EINTR"],
    ),
    ("read", &["EINTR", "EAGAIN", "ENOMEM", "EIO"]),
    ("readv", &["EINTR", "EAGAIN", "ENOMEM", "EIO"]),
    ("getdents64", &["ENOMEM", "ENOENT", "EINTR"]),
    ("statx", &["ENOMEM", "ENOENT", "EACCES", "EINTR"]),
    ("newfstatat", &["ENOMEM", "ENOENT", "EACCES"]),
    ("fstat", &["ENOMEM", "EBADF"]),
    ("stat", &["ENOMEM", "ENOENT", "EACCES"]),
    ("lseek", &["EINVAL", "ESPIPE"]),
    // fcntl(F_GETFD) is std's check, in debug builds only, that an
    // OwnedFd is still open before it is closed: an EBADF there aborts on
    // purpose (a double close is a bug), and release builds never call it.
    ("fcntl", &[]),
    ("close", &["EINTR", "EIO"]),
    ("readlink", &["ENOMEM", "ENOENT", "EACCES"]),
    ("readlinkat", &["ENOMEM", "ENOENT", "EACCES"]),
    // std's random hash seed (HashSet): blocking before the pool is
    // ready, interrupted, or an old kernel.
    ("getrandom", &["EAGAIN", "EINTR", "ENOSYS"]),
    // Memory: the allocator's calls.
    ("brk", &["ENOMEM"]),
    ("mmap", &["ENOMEM", "EAGAIN"]),
    ("munmap", &["ENOMEM", "EINVAL"]),
    ("mremap", &["ENOMEM", "EAGAIN"]),
    ("madvise", &["ENOMEM", "EAGAIN"]),
    // pidone's own messages.
    ("write", &["EAGAIN", "EINTR", "EPIPE", "ENOSPC", "EIO"]),
    ("writev", &["EAGAIN", "EINTR", "EPIPE", "ENOSPC", "EIO"]),
    ("sendto", &["EAGAIN", "EINTR", "EPIPE", "ENOBUFS"]),
    ("poll", &["EINTR", "ENOMEM"]),
    ("ppoll", &["EINTR", "ENOMEM"]),
    ("ioctl", &["ENOTTY", "EIO", "EINTR"]),
    // Signal state (SIGCONT rules, job control).
    ("rt_sigprocmask", &["EINVAL"]),
    ("rt_sigaction", &["EINVAL"]),
    ("tcsetpgrp", &["EPERM", "ENOTTY"]),
    ("close_range", &["EPERM", "ENOSYS", "EINVAL"]),
    ("clock_gettime", &["EINVAL"]),
    ("clock_nanosleep", &["EINTR"]),
    ("nanosleep", &["EINTR"]),
];

/// Calls that cannot fail, or whose failure is not pidone's to survive.
const CANNOT_FAIL: &[&str] = &[
    "getpid",
    "getppid",
    "gettid",
    "getuid",
    "geteuid",
    "getpgrp",
    "exit_group",
    "exit",
    "rt_sigreturn",
    // ptrace's own: the restart of a call interrupted by the attach.
    "restart_syscall",
    "sched_yield",
];

/// The system calls pidone makes in a traced run of the scenario after it
/// started its command, by name.
fn calls_of(trace: &str) -> Vec<String> {
    let mut names: Vec<String> = trace
        .lines()
        .filter_map(|line| {
            let line = line.trim_start_matches(|c: char| c.is_ascii_digit() || c == ' ');
            let line = line.strip_prefix("<... ").unwrap_or(line);
            let end = line.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
            let name = &line[..end];
            let rest = &line[end..];
            (!name.is_empty() && (rest.starts_with('(') || rest.starts_with(" resumed")))
                .then(|| name.to_owned())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// One run of the scenario (with the leftover that needs SIGKILL when
/// `kill`) in `mode` with `forward`, strace attached to pidone with
/// `trace` once its command waits for `go`.
fn traced_run(mode: Mode, forward: &[&str], kill: bool, trace: &[&str]) -> Report {
    let grace = if kill { KILL_GRACE } else { POLITE_GRACE };
    let mut options = vec!["--grace", grace];
    if std::env::var_os("PIDONE_FAULT_CELL").is_some() {
        options.push("-vv");
    }
    options.extend(forward);
    let script = scenario(kill);
    let setup = Setup::new(mode, &options, &script);
    let mut live = Live::start(&setup);
    let pid = live.pidone_pid();
    // Past its startup (the loader, the fork, the exec report): asleep in
    // its loop, where every later call comes from.
    wait_until("pidone waits for signals", || waiting_for_signals(pid));
    // Beside the run's directory, which goes with the run.
    let log = std::env::temp_dir().join(format!("pidone-faults-trace-{}", live.tag));
    let strace = Strace::attach(pid, trace, &log);
    live.go();
    let mut report = live.finish(MATRIX_BOUND);
    report.trace = match strace {
        Ok(strace) => strace.finish(Duration::from_secs(10)),
        Err(e) => e,
    };
    let _ = std::fs::remove_file(&log);
    report
}

/// Whether `pid` is asleep in rt_sigtimedwait(2) (/proc/PID/syscall
/// names the call a blocked task is in).
fn waiting_for_signals(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/syscall"))
        .is_ok_and(|s| s.split_whitespace().next() == Some(&libc::SYS_rt_sigtimedwait.to_string()))
}

/// One line of a matrix.
struct Cell {
    what: String,
    outcome: String,
    wrong: Vec<String>,
}

/// Whether the cell `call`:`errno` is to run: all of them, or the one
/// `PIDONE_FAULT_CELL=CALL:ERRNO` names (then pidone runs with `-vv`, and
/// every run's report is printed).
fn chosen(call: &str, errno: &str) -> bool {
    match std::env::var("PIDONE_FAULT_CELL") {
        Ok(cell) => cell == format!("{call}:{errno}"),
        Err(_) => true,
    }
}

/// Whether a signal may rightly be lost when `call` fails with `errno`:
/// the fault says the process is gone (ESRCH, ENOENT), or kill(2), the
/// last resort, says it may not be signalled (EPERM; from `kill(-1)`: by
/// nobody).
fn excused(call: &str, errno: &str) -> bool {
    matches!(errno, "ESRCH" | "ENOENT") || (call == "kill" && errno == "EPERM")
}

/// Every system call pidone makes in `mode` after startup (over the
/// forwarding configurations), failing once with each plausible errno:
/// the first call, in a run of the scenario without the leftover that
/// needs SIGKILL (a call made only once SIGKILL is due: in a run with it).
/// Beside the rules of every run, the forwarded SIGUSR1 and the drain's
/// SIGTERM must arrive, unless the fault said the process was gone.
fn strace_matrix(mode: Mode) {
    if skip() || skip_unless(have_strace(), "strace") {
        return;
    }
    if !may_attach() {
        eprintln!("SKIPPED: strace -p needs root or kernel.yama.ptrace_scope=0");
        return;
    }
    let mut cells = Vec::new();
    let mut unlisted = Vec::new();
    for forward in FORWARDS {
        // What pidone calls, from traced runs without faults.
        let polite = traced_run(mode, forward, false, &[]);
        let full = traced_run(mode, forward, true, &[]);
        let mut calls = Vec::new();
        for baseline in [&polite, &full] {
            baseline.check(3);
            assert!(
                baseline.trace.contains("rt_sigtimedwait"),
                "no trace of pidone's loop in the baseline\n{baseline}\n--- trace ---\n{}",
                baseline.trace
            );
            calls.extend(calls_of(&baseline.trace));
        }
        calls.sort();
        calls.dedup();
        let polite_calls = calls_of(&polite.trace);
        eprintln!("{mode:?} {forward:?}: pidone calls {calls:?}");
        for call in calls {
            if CANNOT_FAIL.contains(&call.as_str()) {
                continue;
            }
            let Some((_, errnos)) = PLAUSIBLE.iter().find(|(name, _)| *name == call) else {
                unlisted.push(call);
                continue;
            };
            let kill = !polite_calls.contains(&call);
            for errno in *errnos {
                if !chosen(&call, errno) {
                    continue;
                }
                let inject = format!("inject={call}:error={errno}:when=1");
                let trace = ["-e", &format!("trace={call}"), "-e", &inject];
                let report = traced_run(mode, forward, kill, &trace);
                let mut wrong = report.problems(3);
                if !report.trace.contains("(INJECTED)") {
                    wrong.push("the fault was never injected".to_owned());
                }
                let forwarded = report.log.contains("forwarded");
                let drained = drained(&report.log);
                if !excused(&call, errno) {
                    if !forwarded {
                        wrong.push("SIGUSR1 not forwarded".to_owned());
                    }
                    if !drained {
                        wrong.push("the drain's SIGTERM did not arrive".to_owned());
                    }
                }
                let outcome = format!(
                    "{} in {:.2}s, {}, {}",
                    report
                        .status
                        .map_or("no exit".to_owned(), |s| s.to_string()),
                    report.elapsed.as_secs_f64(),
                    if forwarded {
                        "forwarded"
                    } else {
                        "forward lost"
                    },
                    if drained { "TERM taken" } else { "no TERM" },
                );
                if !wrong.is_empty() || std::env::var_os("PIDONE_FAULT_CELL").is_some() {
                    let injected: Vec<&str> = report
                        .trace
                        .lines()
                        .filter(|l| l.contains("INJECTED"))
                        .collect();
                    eprintln!(
                        "FAILED {mode:?} {forward:?} {call} {errno}\n{report}\n--- injected ---\n{}",
                        injected.join("\n")
                    );
                }
                cells.push(Cell {
                    what: format!(
                        "{forward:?} {call} {errno}{}",
                        if kill { " (kill run)" } else { "" }
                    ),
                    outcome,
                    wrong,
                });
            }
        }
    }
    print_matrix(&format!("{mode:?}: once, strace -e inject"), &cells);
    unlisted.sort();
    unlisted.dedup();
    assert!(
        unlisted.is_empty(),
        "pidone makes system calls the fault table does not list: {unlisted:?}; add them to PLAUSIBLE with their errnos"
    );
    let failed: Vec<&Cell> = cells.iter().filter(|c| !c.wrong.is_empty()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} faults broke a rule:\n{}",
        failed.len(),
        cells.len(),
        failed
            .iter()
            .map(|c| format!("  {}: {}", c.what, c.wrong.join("; ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn print_matrix(title: &str, cells: &[Cell]) {
    eprintln!("--- fault matrix, {title} ---");
    for c in cells {
        let verdict = if c.wrong.is_empty() {
            "ok".to_owned()
        } else {
            format!("FAIL: {}", c.wrong.join("; "))
        };
        eprintln!("{:<60} {:<50} {verdict}", c.what, c.outcome);
    }
}

/// Issue 16, point 10: every call after startup fails once, as PID 1.
#[test]
fn strace_matrix_as_pid1() {
    strace_matrix(Mode::Pid1);
}

/// Issue 16, point 10: every call after startup fails once, as subreaper.
#[test]
fn strace_matrix_as_subreaper() {
    strace_matrix(Mode::Subreaper);
}

// ---------------------------------------------------------------------
// Startup calls, failing once (subreaper mode: strace starts pidone).

/// The calls pidone makes to start its command (in pidone, and in its
/// child before exec), the errnos they fail with, and whether the command
/// must start all the same. Where it need not (the fork itself, the pipe
/// that reports exec errors, the way back to the working directory),
/// pidone may end with its documented startup codes (125, or 126/127 for
/// the command) and a `pidone: ` message. Never a hang, a panic, an abort
/// or a leftover. (rt_sigprocmask is left out: with valid arguments it
/// cannot fail.)
const STARTUP: &[(&str, &[&str], bool)] = &[
    (
        "clone",
        &["EAGAIN", "ENOMEM", "EPERM", "ENOSYS", "EINVAL"],
        false,
    ),
    ("clone3", &["EAGAIN", "ENOMEM", "EPERM", "ENOSYS"], false),
    ("fork", &["EAGAIN", "ENOMEM"], false),
    ("vfork", &["EAGAIN", "ENOMEM"], false),
    ("pipe2", &["EMFILE", "ENFILE"], false),
    ("fchdir", &["EACCES", "EBADF"], false),
    (
        "pidfd_open",
        &["EPERM", "ENOSYS", "EMFILE", "ENFILE", "ENOMEM"],
        true,
    ),
    ("close_range", &["EPERM", "ENOSYS", "EINVAL"], true),
    ("prctl", &["EINVAL", "EPERM"], true),
    ("setpgid", &["EPERM", "EACCES"], true),
    ("chdir", &["EACCES", "ENOENT"], true),
    ("ioctl", &["ENOTTY", "EIO"], true),
];

/// Issue 16, points 7 and 10: each call of pidone's startup fails once
/// (the first call, in pidone and in its child before exec; see
/// [`STARTUP`]).
#[test]
fn startup_calls_failing_once() {
    if skip() || skip_unless(have_strace(), "strace") {
        return;
    }
    let script = "read go < \"$D/go\"; exit 3";
    let mut cells = Vec::new();
    for (call, errnos, must_run) in STARTUP {
        for errno in *errnos {
            let inject = format!("inject={call}:error={errno}:when=1");
            let trace = vec![
                "-e".to_owned(),
                format!("trace={call}"),
                "-e".to_owned(),
                inject,
            ];
            let mut setup = Setup::new(Mode::Subreaper, &[], script);
            setup.strace_from_start = Some(trace);
            let mut live = Live::start(&setup);
            live.go();
            let report = live.finish(BOUND);
            let injected = report.trace.contains("(INJECTED)");
            let code = report.code();
            let startup_error =
                !must_run && matches!(code, Some(125..=127)) && report.stderr.contains("pidone: ");
            let mut wrong = report.problems(if startup_error { code.unwrap_or(3) } else { 3 });
            let fork_failed = report.stderr.contains("failed to fork");
            // Issue 16, point 9: a fork refused with EAGAIN names the
            // likely cause.
            if fork_failed && *errno == "EAGAIN" && !report.stderr.contains("limit") {
                wrong.push("the EAGAIN of the fork does not name the process limit".to_owned());
            }
            let outcome = match (injected, report.status) {
                (false, _) => "not called".to_owned(),
                (true, Some(s)) if startup_error => format!(
                    "{s}: {}",
                    report
                        .stderr
                        .lines()
                        .find(|l| l.contains("pidone: "))
                        .unwrap_or("")
                ),
                (true, Some(s)) => {
                    format!("{s}{}", if fork_failed { ", failed to fork" } else { "" })
                }
                (true, None) => "no exit".to_owned(),
            };
            if !wrong.is_empty() {
                eprintln!(
                    "FAILED {call} {errno}\n{report}\n--- trace ---\n{}",
                    report.trace
                );
            }
            cells.push(Cell {
                what: format!("{call} {errno}"),
                outcome,
                wrong,
            });
        }
    }
    print_matrix("startup, once, strace -f -b execve", &cells);
    let failed: Vec<String> = cells
        .iter()
        .filter(|c| !c.wrong.is_empty())
        .map(|c| format!("  {}: {}", c.what, c.wrong.join("; ")))
        .collect();
    assert!(
        failed.is_empty(),
        "startup faults broke a rule:\n{}",
        failed.join("\n")
    );
    assert!(
        cells.iter().any(|c| c.outcome != "not called"),
        "no startup fault was ever injected"
    );
}

// ---------------------------------------------------------------------
// Seccomp: calls refused every time, as sandboxes do.

fn old_docker_profile() -> Vec<Refuse> {
    [
        libc::SYS_pidfd_open,
        libc::SYS_pidfd_send_signal,
        libc::SYS_close_range,
        libc::SYS_clone3,
    ]
    .into_iter()
    .map(|nr| Refuse::Call {
        nr,
        errno: libc::EPERM,
    })
    .collect()
}

/// The scenario under `refuse`, in both modes: in every forwarding
/// configuration without the TERM-ignoring leftover (a grace of 5 s,
/// which the TERM is always in time for), and with it (`--grace 1s`, then
/// SIGKILL). The code is kept, the forwarded signal arrives, the
/// TERM-handling leftover gets its TERM, nothing is left.
fn scenario_under(refuse: &[Refuse]) {
    if skip() {
        return;
    }
    let (polite, full) = (scenario(false), scenario(true));
    for mode in MODES {
        let mut runs: Vec<(Vec<&str>, &str)> = FORWARDS
            .iter()
            .map(|f| ([&["--grace", "5s"][..], f].concat(), polite.as_str()))
            .collect();
        runs.push((vec!["--grace", "1s"], full.as_str()));
        for (options, script) in &runs {
            let mut setup = Setup::new(mode, options, script);
            setup.refuse = refuse;
            let mut live = Live::start(&setup);
            live.go();
            let report = live.finish(BOUND);
            report
                .check(3)
                .assert(
                    report.log.contains("forwarded"),
                    &format!("SIGUSR1 was not forwarded ({mode:?}, {options:?})"),
                )
                .assert(
                    drained(&report.log),
                    &format!("the drain's SIGTERM did not arrive ({mode:?}, {options:?})"),
                );
        }
    }
}

/// Issue 16, points 1, 2, 7, 10: an old Docker seccomp profile (EPERM for
/// pidfd_open, pidfd_send_signal, close_range, clone3).
#[test]
fn old_docker_profile_forward_and_drain() {
    scenario_under(&old_docker_profile());
}

/// Issue 16, points 1 and 10: pidfd_open refused with each errno a
/// sandbox or a limit gives.
#[test]
fn pidfd_open_refused_forward_and_drain() {
    for errno in [libc::EPERM, libc::ENOSYS, libc::EMFILE, libc::ENOMEM] {
        scenario_under(&[Refuse::Call {
            nr: libc::SYS_pidfd_open,
            errno,
        }]);
    }
}

/// Issue 16, points 2 and 10: pidfd_send_signal refused: signals still go,
/// by kill(2).
#[test]
fn pidfd_send_signal_refused_forward_and_drain() {
    for errno in [libc::EPERM, libc::ENOSYS] {
        scenario_under(&[Refuse::Call {
            nr: libc::SYS_pidfd_send_signal,
            errno,
        }]);
    }
}

/// Issue 16, point 7: clone(2) with CLONE_PIDFD refused (EPERM, ENOSYS),
/// clone3 refused: the command still starts, in both modes.
#[test]
fn refused_clone_pidfd_still_starts_the_command() {
    if skip() {
        return;
    }
    const CLONE_PIDFD: u32 = 0x1000;
    for errno in [libc::EPERM, libc::ENOSYS] {
        let refuse = [
            Refuse::Flag {
                nr: libc::SYS_clone,
                arg: 0,
                mask: CLONE_PIDFD,
                errno,
            },
            Refuse::Call {
                nr: libc::SYS_clone3,
                errno,
            },
        ];
        for mode in MODES {
            let mut setup = Setup::new(mode, &[], "read go < \"$D/go\"; echo started; exit 3");
            setup.refuse = &refuse;
            let mut live = Live::start(&setup);
            live.go();
            let report = live.finish(BOUND);
            report
                .check(3)
                .assert(report.stdout.contains("started"), "the command did not run");
        }
    }
}

// ---------------------------------------------------------------------
// The reproductions of issue 16.

/// The leftovers of reproduction 1: a TERM-handling process (logs `0 15`,
/// see [`scenario`]) and a TERM-ignoring `sleep 20`; the command exits 3.
fn two_leftovers() -> String {
    format!(
        r#"
read go < "$D/go"
setsid {} 1 "$D/log" > "$D/h" &
read x < "$D/h"
setsid sh -c 'trap "" TERM; echo ready > "$D/i"; exec sleep 20' &
read x < "$D/i"
exit 3
"#,
        example("term_crowd").display()
    )
}

/// Issue 16, point 1 (its reproduction): pidfd_open refused with EPERM,
/// `--grace 1s`; the command leaves a TERM handler and a TERM-ignoring
/// `sleep 20` and exits 3. pidone exits 3 after about the grace (not the
/// 20 s of the sleep), and the handler got its TERM. Both modes.
#[test]
fn pidfd_open_eperm_drain_is_prompt() {
    if skip() {
        return;
    }
    let refuse = [Refuse::Call {
        nr: libc::SYS_pidfd_open,
        errno: libc::EPERM,
    }];
    for mode in MODES {
        let script = two_leftovers();
        let mut setup = Setup::new(mode, &["--grace", "1s"], &script);
        setup.refuse = &refuse;
        let mut live = Live::start(&setup);
        live.go();
        let report = live.finish(Duration::from_secs(30));
        report
            .check(3)
            .assert(drained(&report.log), "the TERM handler got no TERM")
            .assert(
                report.elapsed < Duration::from_secs(15),
                "pidone waited for the sleep 20 to end by itself",
            );
    }
}

/// Issue 16, point 1: `--forward all` with pidfd_open refused reaches the
/// main child, in both modes.
#[test]
fn pidfd_open_eperm_forward_all_reaches_the_child() {
    if skip() {
        return;
    }
    let refuse = [Refuse::Call {
        nr: libc::SYS_pidfd_open,
        errno: libc::EPERM,
    }];
    let script = r#"trap 'echo got >> "$D/log"; exit 3' USR1; echo ready; while :; do sleep 60 & wait $!; done"#;
    for mode in MODES {
        let mut setup = Setup::new(mode, &["--forward", "all"], script);
        setup.refuse = &refuse;
        let mut live = Live::start(&setup);
        assert!(
            live.stdout_line("ready").is_some(),
            "the command never started"
        );
        send_signal(live.pidone_pid(), libc::SIGUSR1);
        let report = live.finish(BOUND);
        report.check(3).assert(
            report.log.contains("got"),
            "SIGUSR1 never reached the child",
        );
    }
}

/// The lines of `term_crowd`'s FILE: (index, signo) per process reached.
fn crowd_reached(text: &str) -> Vec<(usize, i32)> {
    text.lines()
        .filter_map(|l| {
            let (i, s) = l.split_once(' ')?;
            Some((i.parse().ok()?, s.parse().ok()?))
        })
        .collect()
}

/// Issue 16, point 3: with a soft nofile limit of 64, 500 leftovers in
/// subreaper mode all get the drain's SIGTERM (none is skipped for want of
/// a descriptor), and the summary adds up.
#[test]
fn low_nofile_drain_reaches_500() {
    if skip() {
        return;
    }
    let crowd = example("term_crowd");
    let script = format!(
        "read go < \"$D/go\"; exec {} 500 \"$D/got\"",
        crowd.display()
    );
    let mut setup = Setup::new(Mode::Subreaper, &["--grace", "10s"], &script);
    setup.nofile = Some((64, 4096));
    let mut live = Live::start(&setup);
    live.go();
    let report = live.finish(Duration::from_secs(60));
    let reached = crowd_reached(&report.read("got"));
    report.check(3);
    let term: std::collections::HashSet<usize> = reached
        .iter()
        .filter(|(_, s)| *s == libc::SIGTERM)
        .map(|(i, _)| *i)
        .collect();
    report.assert(
        term.len() == 500,
        &format!("{} of 500 got SIGTERM", term.len()),
    );
}

/// Issue 16, point 3: with a soft nofile limit of 64, `--forward all`
/// reaches every one of 200 processes in subreaper mode (SIGUSR1, then
/// SIGTERM, which ends them).
#[test]
fn low_nofile_forward_all_reaches_200() {
    if skip() {
        return;
    }
    let crowd = example("term_crowd");
    let script = format!("exec {} 200 \"$D/got\" --stay", crowd.display());
    let mut setup = Setup::new(Mode::Subreaper, &["--forward", "all"], &script);
    setup.nofile = Some((64, 4096));
    let mut live = Live::start(&setup);
    assert!(
        live.stdout_line("ready 200").is_some(),
        "the crowd never got ready"
    );
    // USR1 is logged by each; the TERM after it ends them (and the crowd,
    // which waits for them).
    send_signal(live.pidone_pid(), libc::SIGUSR1);
    send_signal(live.pidone_pid(), libc::SIGTERM);
    let report = live.finish(Duration::from_secs(30));
    let usr1 = crowd_reached(&report.read("got"))
        .iter()
        .filter(|(_, s)| *s == libc::SIGUSR1)
        .count();
    report
        .check(3)
        .assert(usr1 == 200, &format!("{usr1} of 200 got SIGUSR1"));
}

/// A C program whose main thread calls pthread_exit while a worker runs
/// on (state `Zl`); it logs `term` to FILE on SIGTERM and exits, and ends
/// by itself after 60 s.
const LEADER_EXIT_C: &str = r#"
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
static int fd;
static void on_term(int s) { (void)s; write(fd, "term\n", 5); _exit(0); }
static void *worker(void *a) { (void)a; sleep(60); _exit(0); }
int main(int argc, char **argv) {
    if (argc != 2) return 2;
    fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT, 0644);
    signal(SIGTERM, on_term);
    pthread_t t;
    if (pthread_create(&t, 0, worker, 0)) return 1;
    printf("pid %d\n", getpid());
    fflush(stdout);
    pthread_exit(0);
}
"#;

/// Compiles `source` (C) with gcc into `dir/name`; None (after a skip
/// message, or a failure under PIDONE_E2E=require) without gcc.
fn compile_c(dir: &Path, name: &str, source: &str, flags: &[&str]) -> Option<PathBuf> {
    let have_gcc = Command::new("gcc")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if skip_unless(have_gcc, "gcc") {
        return None;
    }
    let src = dir.join(format!("{name}.c"));
    let bin = dir.join(name);
    std::fs::write(&src, source).expect("write the C source");
    let out = Command::new("gcc")
        .args(["-O2", "-o"])
        .arg(&bin)
        .arg(&src)
        .args(flags)
        .output()
        .expect("run gcc");
    assert!(
        out.status.success(),
        "gcc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(bin)
}

/// A directory for compiled helpers, removed afterwards.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("pidone-faults-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a directory");
        let _ = std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755));
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Issue 16, point 4: a leftover whose leader thread has exited while a
/// worker runs on (`Zl`) is alive: it gets the drain's SIGTERM, in both
/// modes, and pidone does not wait for it to end by itself.
#[test]
fn leftover_with_exited_leader_gets_term() {
    if skip() {
        return;
    }
    let dir = Dir::new("zl");
    let Some(bin) = compile_c(&dir.0, "leader_exit", LEADER_EXIT_C, &["-pthread"]) else {
        return;
    };
    let script = format!("{} \"$D/log\" & read go < \"$D/go\"; exit 3", bin.display());
    for mode in MODES {
        let setup = Setup::new(mode, &["--grace", "10s"], &script);
        let mut live = Live::start(&setup);
        live.stdout_line("pid ").expect("the program's pid");
        wait_until(
            "the leader thread has exited (state Z, a thread alive)",
            || leader_exited(&live, "leader_exit"),
        );
        live.go();
        let report = live.finish(BOUND);
        report
            .check(3)
            .assert(
                report.log.contains("term"),
                "the Zl leftover got no SIGTERM",
            )
            .assert(
                report.elapsed < Duration::from_secs(10),
                "pidone waited out the grace for a process that took its TERM",
            );
    }
}

/// Whether a process named `comm` in the run's tree is a zombie leader
/// with a live thread (state `Zl`: its main thread exited, it runs on).
fn leader_exited(live: &Live, comm: &str) -> bool {
    let top = live.child.as_ref().expect("running").id() as i32;
    descendants(top).into_iter().any(|pid| {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
            && state(pid) == Some('Z')
            && threads(pid).len() >= 2
    })
}

/// SIGKILL refused, by kill(2) and through a pidfd: the stand-in, in both
/// modes, for a leftover pidone may not kill.
fn sigkill_refused() -> [Refuse; 2] {
    [libc::SYS_kill, libc::SYS_pidfd_send_signal].map(|nr| Refuse::Arg {
        nr,
        arg: 1,
        value: libc::SIGKILL as u32,
        errno: libc::EPERM,
    })
}

/// A leftover that ignores SIGTERM (and whose pid, in pidone's
/// namespace, the command prints as `unkillable PID`), then exit 3.
const UNKILLABLE: &str = r#"
read go < "$D/go"
setsid sh -c 'trap "" TERM; echo $$ > "$D/i"; exec sleep 60' &
read pid < "$D/i"
echo "unkillable $pid"
exit 3
"#;

/// Issue 16, point 5: a leftover pidone may not kill (SIGKILL refused)
/// holds it only the bounded wait after SIGKILL (2 s), not until it ends
/// by itself (60 s); pidone exits with the command's code and a warning
/// that names it. Both modes.
#[test]
fn unkillable_leftover_holds_pidone_a_bounded_time() {
    if skip() {
        return;
    }
    let _turn = one_at_a_time();
    let refuse = sigkill_refused();
    for mode in MODES {
        let mut setup = Setup::new(mode, &["--grace", "500ms"], UNKILLABLE);
        setup.refuse = &refuse;
        let mut live = Live::start(&setup);
        live.go();
        let line = live.stdout_line("unkillable ").expect("the leftover's pid");
        let pid = line["unkillable ".len()..].to_owned();
        let mut report = live.finish(Duration::from_secs(40));
        // In subreaper mode the leftover goes to the next reaper (here the
        // host's init): that it remains is the point, not a fault.
        if mode == Mode::Subreaper {
            report.left.clear();
        }
        report
            .check(3)
            .assert(
                report.elapsed < Duration::from_secs(20),
                "pidone waited for the leftover to end by itself",
            )
            .assert(
                report.stderr.contains(&format!("pid {pid}")),
                &format!("the warning does not name pid {pid}"),
            );
    }
}

/// Issue 16, point 5: a SIGTERM to pidone while it waits after SIGKILL
/// ends the wait at once. Both modes.
#[test]
fn stop_request_ends_the_wait_after_sigkill() {
    if skip() {
        return;
    }
    let _turn = one_at_a_time();
    let refuse = sigkill_refused();
    for mode in MODES {
        let mut setup = Setup::new(mode, &["-v", "--grace", "200ms"], UNKILLABLE);
        setup.refuse = &refuse;
        let mut live = Live::start(&setup);
        live.go();
        live.stderr_line("killing what remains")
            .expect("pidone never escalated to SIGKILL");
        let termed = Instant::now();
        send_signal(live.pidone_pid(), libc::SIGTERM);
        let started = live.started;
        let mut report = live.finish(Duration::from_secs(40));
        let after_term = (started + report.elapsed).saturating_duration_since(termed);
        if mode == Mode::Subreaper {
            report.left.clear();
        }
        // The wait after SIGKILL is 2 s: ending 1 s after the TERM at the
        // latest is not the deadline.
        report.check(3).assert(
            after_term < Duration::from_secs(1),
            &format!("exit {after_term:?} after the SIGTERM: the wait was not ended by it"),
        );
    }
}

/// A setuid-root program that takes all of root's ids, so a non-root
/// pidone may signal it in no way, ignores SIGTERM, prints `ready`, and
/// ends by itself after 60 s.
const SETUID_ROOT_C: &str = r#"
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
    if (setresuid(0, 0, 0) != 0) { perror("setresuid"); return 1; }
    signal(SIGTERM, SIG_IGN);
    printf("ready\n");
    fflush(stdout);
    sleep(60);
    return 0;
}
"#;

/// Issue 16, point 5 (its reproduction): a setuid-root descendant of a
/// pidone that is not root (subreaper mode, as root only can set this up):
/// SIGTERM and SIGKILL fail with EPERM; pidone exits 3 within the grace
/// and the bounded wait after SIGKILL, naming what remains.
#[test]
fn setuid_root_leftover_under_a_non_root_pidone() {
    if skip() {
        return;
    }
    if !is_root() {
        eprintln!("SKIPPED: needs root, to make a setuid-root program");
        return;
    }
    let _turn = one_at_a_time();
    let dir = Dir::new("setuid");
    let Some(bin) = compile_c(&dir.0, "setuid_root", SETUID_ROOT_C, &[]) else {
        return;
    };
    std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o4755))
        .expect("chmod u+s");
    let script = format!(
        "read go < \"$D/go\"; {} & read x < \"$D/h\"; exit 3",
        bin.display()
    );
    // The program says `ready` on the FIFO h: its stdout is the FIFO.
    let script = script.replace(" & read x", " > \"$D/h\" & read x");
    let mut setup = Setup::new(Mode::Subreaper, &["--grace", "500ms"], &script);
    setup.user = Some(65534);
    let mut live = Live::start(&setup);
    live.go();
    let mut report = live.finish(Duration::from_secs(40));
    let setuid_left = report.left.len();
    report.left.clear();
    report
        .check(3)
        .assert(
            setuid_left == 1,
            "the setuid-root program should remain, alone",
        )
        .assert(
            report.elapsed < Duration::from_secs(20),
            "pidone waited for the setuid program to end by itself",
        )
        .assert(
            report.stderr.contains("setuid_root"),
            "the warning does not name what remains",
        );
}

/// Issue 16, point 6: a leftover stopped by SIGSTOP, with a TERM handler,
/// gets SIGCONT after the drain's SIGTERM and exits in the grace period:
/// without it only SIGKILL would end it, and its handler would never
/// run. Both modes.
#[test]
fn stopped_leftover_is_continued_after_the_drain_term() {
    if skip() {
        return;
    }
    let script = r#"
setsid sh -c 'trap "echo term >> \"\$D/log\"; exit 0" TERM; echo $$ > "$D/h"; kill -STOP $$; while :; do sleep 60 & wait $!; done' &
read pid < "$D/h"
echo "stopping $pid"
read go < "$D/go"
exit 3
"#;
    for mode in MODES {
        let setup = Setup::new(mode, &["--grace", "20s"], script);
        let mut live = Live::start(&setup);
        live.stdout_line("stopping").expect("the leftover's pid");
        let top = live.child.as_ref().expect("running").id() as i32;
        wait_until("the leftover is stopped", || {
            descendants(top).into_iter().any(|p| state(p) == Some('T'))
        });
        live.go();
        let report = live.finish(BOUND);
        report
            .check(3)
            .assert(
                report.log.contains("term"),
                "the stopped leftover never ran its TERM handler",
            )
            .assert(
                report.elapsed < Duration::from_secs(20),
                "the stopped leftover had to be killed",
            );
    }
}

/// Issue 16, point 6, as the README chose it: a forwarded SIGTERM is
/// followed by SIGCONT when the command itself is stopped (default
/// forwarding), and for every process with `--forward all` (here a
/// stopped process of the command's tree that the command waits for).
/// Without the SIGCONT the TERM handler never runs and the run never
/// ends. Both modes.
#[test]
fn forwarded_term_continues_a_stopped_recipient() {
    if skip() {
        return;
    }
    let command_stopped = r#"
trap 'echo term >> "$D/log"; exit 3' TERM
echo "stopping $$"
kill -STOP $$
while :; do sleep 60 & wait $!; done
"#;
    let other_stopped = r#"
sh -c 'trap "echo term >> \"\$D/log\"; exit 0" TERM; echo $$ > "$D/h"; kill -STOP $$; while :; do sleep 60 & wait $!; done' &
c=$!
read x < "$D/h"
trap 'wait $c; exit 3' TERM
echo "stopping $c"
while :; do sleep 60 & wait $!; done
"#;
    // -vv: pidone says when it has taken the command's stop, after which
    // it knows to wake it (a SIGTERM taken before that SIGCHLD, a lower
    // number, would be forwarded without the SIGCONT).
    let runs: [(&[&str], &str, bool); 2] = [
        (&["-vv"], command_stopped, true),
        (&["--forward", "all"], other_stopped, false),
    ];
    for mode in MODES {
        for (options, script, command) in runs {
            let setup = Setup::new(mode, options, script);
            let mut live = Live::start(&setup);
            live.stdout_line("stopping").expect("the process's pid");
            let top = live.child.as_ref().expect("running").id() as i32;
            let pidone = live.pidone_pid();
            if command {
                live.stderr_line("child stopped by")
                    .expect("pidone never saw the command stop");
            } else {
                wait_until("the process is stopped", || {
                    descendants(top).into_iter().any(|p| state(p) == Some('T'))
                });
            }
            send_signal(pidone, libc::SIGTERM);
            let report = live.finish(BOUND);
            report.check(3).assert(
                report.log.contains("term"),
                &format!("the stopped process never ran its TERM handler ({mode:?}, {options:?})"),
            );
        }
    }
}
