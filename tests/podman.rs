//! End-to-end tests of pidone on podman: as podman's init (`podman run
//! --init`, `--init-path` and containers.conf `init_path`), as the pause
//! (infra) process of a podman pod, and in the Kubernetes Pod manifests of
//! `examples/kubernetes/`, run with `podman kube play`.
//!
//! They need root, a podman that can start a container, a static pidone and a
//! static busybox (see tests/containers/mod.rs for where they are found and
//! for `PIDONE_E2E`). On hosts whose hard limits are below podman's default
//! ulimits, `podman run` fails with `error setting rlimit type 7` (nofile) or
//! `type 6` (nproc): `default_ulimits` in containers.conf must fit inside
//! them, which `.ci/podman.sh` writes.
//!
//! Nothing comes from a registry. The app image is a busybox root filesystem
//! plus pidone at /usr/local/bin/pidone, `podman import`ed; the pause image is
//! `examples/podman/Containerfile.pause`, built with `podman build`. The pods
//! that `podman kube play` makes get podman's own pause image
//! (`localhost/podman-pause`, catatonit), which podman builds locally; it is
//! removed at the end when it was not there before.
//!
//! Every container, pod, image and file a test makes carries this process's
//! id in its name or label; Drop guards remove them, also when a test fails.
//! Each test prints its duration and the timings it measured (run with
//! `--nocapture` to see them).

mod containers;
mod support;

use containers::{
    busybox_rootfs, number_after, pack, skip, static_busybox, static_pidone, version_of, Timer,
    COMMAND_LIMIT, PATIENCE,
};
use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{self, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock, Weak};
use std::thread;
use std::time::{Duration, Instant};
use support::{e2e, is_root, poll, run_bounded, E2e, Outcome};

const TAG: &str = "podman";
/// podman's default stop timeout, passed explicitly: the baseline.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// "Promptly": half the stop timeout, with room for a loaded machine.
const PROMPT: Duration = Duration::from_secs(5);
/// How long an idle pause is watched for wake-ups.
const IDLE_WINDOW: Duration = Duration::from_secs(2);
/// How many orphans the app container of a pod leaves.
const ORPHANS: usize = 100;
/// The `--grace` of `examples/kubernetes/shared-pid.yaml`.
const SHARED_GRACE: Duration = Duration::from_secs(3);
/// podman 4.3 lowers its own RLIMIT_NPROC to this at start-up (strace shows
/// `setrlimit(RLIMIT_NPROC, 32768)` on a host whose hard limit is higher);
/// without CAP_SYS_RESOURCE nothing it starts can go above it again.
const PODMAN_NPROC: u64 = 32768;
/// podman's default for nofile (containers.conf(5)).
const PODMAN_NOFILE: u64 = 1048576;

/// Shell form: sh does not trap SIGTERM and passes it on to nobody.
const SHELL_FORM: &str = "echo ready; sleep 1000; echo after";

/// Leaves ORPHANS children of subshells that exit at once: each is
/// re-parented to the PID 1 of the namespace, the pod's pause.
fn leave_orphans() -> String {
    format!(
        "i=0\nwhile [ \"$i\" -lt {ORPHANS} ]; do (sleep 1000 &); i=$((i + 1)); done\n\
         echo spawned\nexec sleep 1000\n"
    )
}

// ---------------------------------------------------------------------------
// The podman CLI

fn podman(args: &[&str]) -> Command {
    let mut cmd = Command::new("podman");
    cmd.args(args);
    cmd
}

fn out(args: &[&str]) -> Outcome {
    run_bounded(&mut podman(args), COMMAND_LIMIT)
}

/// A command that must succeed: its stdout, trimmed.
fn ok(args: &[&str]) -> String {
    out(args).check().stdout.trim().to_owned()
}

/// stdout and stderr of a container, together.
fn logs(name: &str) -> String {
    let o = out(&["logs", name]);
    o.stdout + &o.stderr
}

/// Waits until `needle` shows in the container's output; that output.
fn wait_for_log(name: &str, needle: &str) -> String {
    poll(PATIENCE, || {
        let text = logs(name);
        text.contains(needle).then_some(text)
    })
    .unwrap_or_else(|| {
        panic!(
            "no {needle:?} from container {name} in {PATIENCE:?}; its output:\n{}",
            logs(name)
        )
    })
}

fn inspect(name: &str, format: &str) -> String {
    ok(&["inspect", "--format", format, name])
}

fn exit_code(name: &str) -> i32 {
    let code = inspect(name, "{{.State.ExitCode}}");
    code.parse()
        .unwrap_or_else(|_| panic!("exit code of {name}: {code:?}"))
}

/// The host pid of the container's first process.
fn host_pid(name: &str) -> i32 {
    let pid = inspect(name, "{{.State.Pid}}");
    pid.parse()
        .unwrap_or_else(|_| panic!("pid of {name}: {pid:?}"))
}

/// Runs `podman ARGS` when dropped: removes what a test made, also when it
/// fails.
struct Remove(Vec<String>);

impl Remove {
    fn container(name: &str) -> Remove {
        Remove(vec![
            "rm".into(),
            "--force".into(),
            "--time=0".into(),
            name.into(),
        ])
    }

    fn pod(name: &str) -> Remove {
        let args = ["pod", "rm", "--force", "--time=0", name];
        Remove(args.iter().map(|a| a.to_string()).collect())
    }
}

impl Drop for Remove {
    fn drop(&mut self) {
        let args: Vec<&str> = self.0.iter().map(String::as_str).collect();
        let _ = out(&args);
    }
}

/// `podman stop --time T NAME`, timed; the container's exit code.
fn stop(name: &str) -> (Duration, i32) {
    let timeout = STOP_TIMEOUT.as_secs().to_string();
    let took = out(&["stop", "--time", &timeout, name]).check().elapsed;
    (took, exit_code(name))
}

// ---------------------------------------------------------------------------
// Prerequisites, and the images every test shares

struct Prereqs {
    pidone: PathBuf,
    busybox: PathBuf,
    version: String,
    /// Whether podman's own pause image was there before any test ran.
    had_podman_pause: bool,
}

fn prereqs() -> &'static Result<Prereqs, String> {
    static PREREQS: OnceLock<Result<Prereqs, String>> = OnceLock::new();
    PREREQS.get_or_init(|| {
        if !is_root() {
            return Err("the podman tests need root (rootful podman)".into());
        }
        let version = out(&["version", "--format", "{{.Client.Version}}"]);
        if !version.success() {
            let why = version.stderr.lines().find(|l| !l.trim().is_empty());
            return Err(format!(
                "podman does not answer `podman version` (Debian: apt-get install podman catatonit uidmap): {}",
                why.unwrap_or("no output").trim()
            ));
        }
        let pidone = static_pidone()?;
        let busybox = static_busybox()?;
        can_run_containers(&busybox)?;
        let info = ok(&[
            "info",
            "--format",
            "{{.Host.OCIRuntime.Name}}, {{.Host.CgroupManager}}, cgroups {{.Host.CgroupsVersion}}",
        ]);
        eprintln!(
            "[{TAG}] testing {} on podman {} ({info})",
            pidone.display(),
            version.stdout.trim()
        );
        Ok(Prereqs {
            version: version_of(&pidone)?,
            pidone,
            busybox,
            had_podman_pause: !podman_pause_images().is_empty(),
        })
    })
}

/// Starts a container from a bare directory (no image needed), to tell a
/// podman that cannot run containers at all from a failing test.
fn can_run_containers(busybox: &Path) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("pidone-e2e-{}-probe", process::id()));
    let _ = fs::create_dir_all(dir.join("bin"));
    let copied = fs::copy(busybox, dir.join("bin/busybox"));
    let rootfs = dir.to_string_lossy().into_owned();
    let probe = out(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--rootfs",
        &rootfs,
        "/bin/busybox",
        "true",
    ]);
    let _ = fs::remove_dir_all(&dir);
    copied.map_err(|err| format!("copying busybox for the probe: {err}"))?;
    if probe.success() {
        return Ok(());
    }
    let mut why = format!("podman cannot start a container:\n{probe}");
    if probe.stderr.contains("error setting rlimit") {
        why.push_str(&format!(
            "\npodman's default ulimits are above this host's hard limits: set \
             default_ulimits within them in containers.conf, e.g. in \
             /etc/containers/containers.conf.d/50-pidone-ci.conf:\n\
             [containers]\n{}\n(.ci/podman.sh writes that file)",
            default_ulimits()
        ));
    }
    Err(why)
}

/// A `default_ulimits` line within this process's hard limits, as
/// .ci/podman.sh writes it.
fn default_ulimits() -> String {
    let hard = |resource| {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes only into the struct it is given.
        let rc = unsafe { libc::getrlimit(resource, &mut limit) };
        assert_eq!(rc, 0, "getrlimit: {}", std::io::Error::last_os_error());
        limit.rlim_max
    };
    let nofile = hard(libc::RLIMIT_NOFILE).min(PODMAN_NOFILE);
    let nproc = hard(libc::RLIMIT_NPROC).min(PODMAN_NPROC);
    format!("default_ulimits = [\"nofile={nofile}:{nofile}\", \"nproc={nproc}:{nproc}\"]")
}

/// The images the tests run, made once and shared while any test holds them.
struct Fixture {
    /// `PID-N`: in every name and in the `pidone-e2e` label of every image.
    id: String,
    dir: PathBuf,
    /// busybox, and pidone at /usr/local/bin/pidone.
    app: String,
    /// examples/podman/Containerfile.pause: `/pidone -P`.
    pause: String,
}

fn fixture(prereqs: &Prereqs) -> Result<Arc<Fixture>, String> {
    static SHARED: Mutex<Option<Weak<Fixture>>> = Mutex::new(None);
    containers::shared(&SHARED, || Fixture::create(prereqs))
}

fn podman_pause_images() -> Vec<String> {
    let listed = out(&[
        "images",
        "--quiet",
        "--filter",
        "reference=localhost/podman-pause",
    ]);
    listed.stdout.split_whitespace().map(String::from).collect()
}

impl Fixture {
    fn create(prereqs: &Prereqs) -> Result<Fixture, String> {
        // A new id each time: a fixture being dropped by one test may still be
        // removing its images while another test makes the next.
        static GENERATION: AtomicU32 = AtomicU32::new(0);
        let id = format!(
            "{}-{}",
            process::id(),
            GENERATION.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(format!("pidone-e2e-podman-{id}"));
        // From here on, Drop removes whatever was made.
        let fixture = Fixture {
            app: format!("localhost/pidone-e2e-{id}-app:latest"),
            pause: format!("localhost/pidone-e2e-{id}-pause:latest"),
            dir,
            id,
        };
        let started = Instant::now();
        fixture.make_images(prereqs)?;
        eprintln!(
            "[{TAG}] images {} and {} ready in {:.1} s; {}",
            fixture.app,
            fixture.pause,
            started.elapsed().as_secs_f64(),
            prereqs.version
        );
        Ok(fixture)
    }

    fn make_images(&self, prereqs: &Prereqs) -> Result<(), String> {
        let label = format!("pidone-e2e={}", self.id);
        let rootfs = self.dir.join("rootfs");
        busybox_rootfs(&rootfs, &prereqs.busybox, Some(&prereqs.pidone))?;
        let tar = self.dir.join("app.tar");
        pack(&rootfs, &tar)?;
        let imported = out(&[
            "import",
            "--change",
            "ENV PATH=/bin",
            "--change",
            &format!("LABEL {label}"),
            &tar.to_string_lossy(),
            &self.app,
        ]);
        if !imported.success() {
            return Err(format!("podman import failed:\n{imported}"));
        }

        // The pause image, from the Containerfile users copy.
        let context = self.dir.join("pause");
        let io = |err: std::io::Error| format!("pause build context: {err}");
        fs::create_dir_all(&context).map_err(io)?;
        fs::copy(&prereqs.pidone, context.join("pidone")).map_err(io)?;
        let containerfile = containers::repo().join("examples/podman/Containerfile.pause");
        let built = run_bounded(
            podman(&[
                "build",
                "--layers=false",
                "--force-rm",
                "--label",
                &label,
                "--tag",
                &self.pause,
                "--file",
            ])
            .arg(&containerfile)
            .arg(&context),
            Duration::from_secs(300),
        );
        if !built.success() {
            return Err(format!("podman build of the pause image failed:\n{built}"));
        }
        Ok(())
    }

    /// A name unique to this process and `role` (each test has roles of
    /// its own). Short: a pod's name is its hostname, at most 64 bytes.
    fn name(&self, role: &str) -> String {
        format!("pidone-e2e-{}-{role}", self.id)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let label = format!("label=pidone-e2e={}", self.id);
        let listed = out(&["images", "--all", "--quiet", "--filter", &label]);
        let mut ids: Vec<&str> = listed.stdout.split_whitespace().collect();
        ids.sort_unstable();
        ids.dedup();
        if !ids.is_empty() {
            let mut rmi = vec!["rmi", "--force"];
            rmi.extend(ids);
            let _ = out(&rmi);
        }
        // podman built its pause image for the tests' kube pods: remove it,
        // unless another pod still uses it (no --force).
        if prereqs().as_ref().is_ok_and(|p| !p.had_podman_pause) {
            for image in podman_pause_images() {
                let _ = out(&["rmi", &image]);
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------
// One test's context

struct Test {
    name: &'static str,
    fx: Arc<Fixture>,
    prereqs: &'static Prereqs,
    // Last: prints the duration after the guards above it have cleaned up.
    _timer: Timer,
}

/// The test's context, or None (after saying why) when it cannot run.
fn begin(name: &'static str) -> Option<Test> {
    let timer = Timer::new(TAG, name);
    if e2e() == E2e::Off {
        eprintln!("[{TAG}] {name}: SKIPPED: PIDONE_E2E=off");
        return None;
    }
    let prereqs = match prereqs() {
        Ok(prereqs) => prereqs,
        Err(why) => {
            skip(TAG, name, why);
            return None;
        }
    };
    let fx = fixture(prereqs).unwrap_or_else(|err| panic!("{name}: {err}"));
    Some(Test {
        name,
        fx,
        prereqs,
        _timer: timer,
    })
}

impl Test {
    fn name(&self, role: &str) -> String {
        self.fx.name(role)
    }

    fn pidone(&self) -> String {
        self.prereqs.pidone.to_string_lossy().into_owned()
    }

    /// `podman run -d --name NAME ARGS...`, removed when the guard drops.
    fn start(&self, role: &str, args: &[&str]) -> (String, Remove) {
        let name = self.name(role);
        let guard = Remove::container(&name);
        let label = format!("pidone-e2e={}", self.fx.id);
        let mut full = vec!["run", "-d", "--name", &name, "--label", &label];
        // A container of a pod takes the pod's network.
        if !args.contains(&"--pod") {
            full.extend(["--network", "none"]);
        }
        full.extend_from_slice(args);
        out(&full).check();
        (name, guard)
    }

    /// `podman run --rm ARGS...` in the foreground.
    fn run(&self, role: &str, args: &[&str]) -> Outcome {
        let name = self.name(role);
        let _guard = Remove::container(&name);
        let mut full = vec!["run", "--rm", "--name", &name, "--network", "none"];
        full.extend_from_slice(args);
        out(&full)
    }
}

// ---------------------------------------------------------------------------
// 1. pidone as podman's init: `podman run --init --init-path PIDONE`

#[test]
fn podman_run_init_path_runs_pidone_and_passes_exit_codes() {
    let Some(t) = begin("podman_run_init_path_runs_pidone_and_passes_exit_codes") else {
        return;
    };
    let pidone = t.pidone();
    let init = ["--init", "--init-path", pidone.as_str()];
    let app = t.fx.app.as_str();

    // podman mounts the init at /run/podman-init and runs
    // `/run/podman-init -- COMMAND ARGS...` as PID 1.
    let mut args = init.to_vec();
    args.extend([app, "sh", "-c", "echo ready; exec sleep 1000"]);
    let (c, _guard) = t.start("init", &args);
    wait_for_log(&c, "ready");
    let cmdline = ok(&["exec", &c, "cat", "/proc/1/cmdline"]);
    let argv: Vec<&str> = cmdline.split('\0').filter(|a| !a.is_empty()).collect();
    assert_eq!(
        argv.get(..2),
        Some(&["/run/podman-init", "--"][..]),
        "PID 1: {argv:?}"
    );
    let version = ok(&["exec", &c, "/run/podman-init", "--version"]);
    assert_eq!(version, t.prereqs.version, "/run/podman-init --version");

    // SIGKILL reaches PID 1 itself (the kernel allows it from outside the
    // namespace): pidone dies, the container exits 128 + 9.
    ok(&["kill", "--signal", "KILL", &c]);
    let waited = ok(&["wait", &c]);
    assert_eq!(waited, "137", "podman wait after podman kill -s KILL");
    eprintln!("[{TAG}] podman kill -s KILL, pidone as init: exit {waited}");

    for (script, want) in [("true", 0), ("exit 3", 3), ("kill -TERM $$", 143)] {
        let mut args = init.to_vec();
        args.extend([app, "sh", "-c", script]);
        let o = t.run(&format!("init-exit-{want}"), &args);
        assert_eq!(
            o.code(),
            Some(want),
            "podman run --init sh -c {script:?}:\n{o}"
        );
    }
}

#[test]
fn podman_stop_is_prompt_with_pidone_as_init_and_waits_the_timeout_without() {
    let Some(t) = begin("podman_stop_is_prompt_with_pidone_as_init_and_waits_the_timeout_without")
    else {
        return;
    };
    let pidone = t.pidone();
    let app = t.fx.app.as_str();
    let init = ["--init", "--init-path", pidone.as_str(), app];
    let exec_form = [&init[..], &["sh", "-c", "echo ready; exec sleep 1000"]].concat();
    let shell_form = [&init[..], &["sh", "-c", SHELL_FORM]].concat();
    // sh as PID 1 has no handler for SIGTERM, so the kernel drops it
    // (pid_namespaces(7)): podman waits out its timeout, then SIGKILLs.
    let no_init = [app, "sh", "-c", SHELL_FORM];
    let (exec_c, _g1) = t.start("stop-exec", &exec_form);
    let (shell_c, _g2) = t.start("stop-shell", &shell_form);
    let (bare_c, _g3) = t.start("stop-no-init", &no_init);
    for c in [&exec_c, &shell_c, &bare_c] {
        wait_for_log(c, "ready");
    }
    // Timed against an upper bound: one test at a time.
    let _turn = support::one_at_a_time();
    let (exec, shell, bare) = thread::scope(|s| {
        let exec = s.spawn(|| stop(&exec_c));
        let shell = s.spawn(|| stop(&shell_c));
        let bare = s.spawn(|| stop(&bare_c));
        (
            exec.join().unwrap(),
            shell.join().unwrap(),
            bare.join().unwrap(),
        )
    });
    let command = format!("podman stop --time {}", STOP_TIMEOUT.as_secs());
    for (what, (took, code)) in [
        ("exec form, pidone as init (--init-path)", exec),
        ("shell form, pidone as init (--init-path)", shell),
        ("shell form, no init (sh is PID 1)", bare),
    ] {
        eprintln!(
            "[{TAG}] {command}, {what}: {:.2} s, exit {code}",
            took.as_secs_f64()
        );
    }
    assert_eq!(exec.1, 143, "sleep died of the forwarded SIGTERM");
    assert_eq!(shell.1, 143, "sh died of SIGTERM (the whole group got it)");
    for (took, _) in [exec, shell] {
        assert!(took < PROMPT, "stopped in {took:?}, not under {PROMPT:?}");
    }
    assert_eq!(bare.1, 137, "without an init: SIGKILL at the timeout");
    assert!(
        bare.0 >= STOP_TIMEOUT,
        "without an init podman should wait the full {STOP_TIMEOUT:?}; took {:?}",
        bare.0
    );
}

// ---------------------------------------------------------------------------
// 2. containers.conf `init_path`

#[test]
fn containers_conf_init_path_makes_plain_init_run_pidone() {
    let Some(t) = begin("containers_conf_init_path_makes_plain_init_run_pidone") else {
        return;
    };
    // CONTAINERS_CONF replaces every other containers.conf (the system's and
    // its drop-ins), so this one carries the ulimits too.
    let conf = t.fx.dir.join(format!("{}.conf", t.name));
    let text = format!(
        "[containers]\ninit_path = \"{}\"\n{}\n",
        t.pidone(),
        default_ulimits()
    );
    fs::write(&conf, &text).unwrap();
    let script = "cat /proc/1/cmdline; echo; /run/podman-init --version";
    let name = t.name("conf");
    let _guard = Remove::container(&name);
    let run_init = |conf: Option<&Path>| {
        let mut cmd = podman(&["run", "--rm", "--name", &name, "--network", "none"]);
        cmd.args(["--init", &t.fx.app, "sh", "-c", script]);
        if let Some(conf) = conf {
            cmd.env("CONTAINERS_CONF", conf);
        }
        run_bounded(&mut cmd, COMMAND_LIMIT)
    };
    let with = run_init(Some(&conf)).check();
    let lines: Vec<&str> = with.stdout.lines().collect();
    assert_eq!(
        lines
            .first()
            .map(|l| l.split('\0').take(2).collect::<Vec<_>>()),
        Some(vec!["/run/podman-init", "--"]),
        "PID 1 with CONTAINERS_CONF={}:\n{text}\n{with}",
        conf.display()
    );
    assert_eq!(
        lines.get(1).copied(),
        Some(t.prereqs.version.as_str()),
        "/run/podman-init --version with init_path set:\n{with}"
    );
    // podman's own default, for the record.
    let default = run_init(None);
    eprintln!(
        "[{TAG}] podman run --init: with init_path = pidone: {:?}; podman's default: {:?}",
        lines.get(1).copied().unwrap_or(""),
        default.stdout.lines().nth(1).unwrap_or("").trim()
    );
}

// ---------------------------------------------------------------------------
// 3. pidone as a podman pod's pause (infra) process

/// Voluntary and involuntary context switches of `pid`: a process that
/// never wakes up keeps both still.
fn context_switches(pid: i32) -> (u64, u64) {
    let status = support::proc_status(pid);
    let field = |name| {
        support::status_field(&status, name)
            .parse()
            .unwrap_or_else(|_| panic!("{name} of pid {pid} in:\n{status}"))
    };
    (
        field("voluntary_ctxt_switches"),
        field("nonvoluntary_ctxt_switches"),
    )
}

#[test]
fn pidone_as_pod_pause_reaps_orphans_sleeps_and_stops_quickly() {
    let Some(t) = begin("pidone_as_pod_pause_reaps_orphans_sleeps_and_stops_quickly") else {
        return;
    };
    let pod = t.name("pod");
    let _pod_guard = Remove::pod(&pod);
    let label = format!("pidone-e2e={}", t.fx.id);
    ok(&[
        "pod",
        "create",
        "--name",
        &pod,
        "--label",
        &label,
        "--share",
        "+pid",
        "--network",
        "none",
        "--infra-image",
        &t.fx.pause,
    ]);
    ok(&["pod", "start", &pod]);
    let infra = ok(&["pod", "inspect", "--format", "{{.InfraContainerID}}", &pod]);
    let pause = host_pid(&infra);

    // The pause is the pidone under test, run as `/pidone -P`.
    let cmdline = fs::read_to_string(format!("/proc/{pause}/cmdline")).unwrap_or_default();
    assert_eq!(cmdline, "/pidone\0-P\0", "the pause's command line");
    let exe = run_bounded(
        Command::new(format!("/proc/{pause}/exe")).arg("--version"),
        COMMAND_LIMIT,
    )
    .check();
    assert_eq!(exe.stdout.trim(), t.prereqs.version, "the pause's binary");

    // Idle: asleep in its signal wait, it does not wake up at all.
    let waiting = poll(PATIENCE, || {
        // wchan names the kernel function it sleeps in; where the kernel
        // hides it ("0"), the state must do.
        let wchan = fs::read_to_string(format!("/proc/{pause}/wchan")).unwrap_or_default();
        let hidden = !wchan.chars().any(char::is_alphabetic);
        (wchan.contains("sigtimedwait") || (hidden && support::state(pause) == Some('S')))
            .then_some(wchan)
    });
    assert!(waiting.is_some(), "the pause never waited for signals");
    let before = context_switches(pause);
    thread::sleep(IDLE_WINDOW);
    let after = context_switches(pause);
    eprintln!(
        "[{TAG}] pidone -P, idle pause: {} voluntary, {} involuntary context switches in {IDLE_WINDOW:?}",
        after.0 - before.0,
        after.1 - before.1
    );
    assert_eq!(before, after, "the idle pause woke up");

    // An app container of the pod leaves orphans; the pause inherits them.
    let script = leave_orphans();
    let (app, _app_guard) = t.start("pod-app", &["--pod", &pod, &t.fx.app, "sh", "-c", &script]);
    wait_for_log(&app, "spawned");
    let orphans = poll(PATIENCE, || {
        let kids = support::children(pause);
        (kids.len() == ORPHANS).then_some(kids)
    })
    .unwrap_or_else(|| {
        panic!(
            "the pause should have {ORPHANS} orphans as children; it has {}",
            support::children(pause).len()
        )
    });
    let started = Instant::now();
    for pid in &orphans {
        support::send_signal(*pid, libc::SIGTERM);
    }
    let reaped = poll(PATIENCE, || {
        support::children(pause).is_empty().then_some(())
    });
    let left: Vec<(i32, Option<char>)> = support::children(pause)
        .into_iter()
        .map(|pid| (pid, support::state(pid)))
        .collect();
    assert!(
        reaped.is_some(),
        "children (pid, state) of the pause {PATIENCE:?} after SIGTERM: {left:?}"
    );
    eprintln!(
        "[{TAG}] pidone -P reaped {ORPHANS} orphans of the pod's app container {:.3} s after they were sent SIGTERM",
        started.elapsed().as_secs_f64()
    );

    // Timed against an upper bound: one test at a time.
    let _turn = support::one_at_a_time();
    let stopped = out(&["pod", "stop", &pod]).check();
    let (pause_code, app_code) = (exit_code(&infra), exit_code(&app));
    eprintln!(
        "[{TAG}] podman pod stop, pidone -P as pause: {:.2} s; pause exit {pause_code}, app exit {app_code}",
        stopped.elapsed.as_secs_f64()
    );
    assert_eq!(pause_code, 0, "pidone -P exits 0 on SIGTERM");
    assert!(
        stopped.elapsed < PROMPT,
        "podman pod stop took {:?}",
        stopped.elapsed
    );
}

// ---------------------------------------------------------------------------
// 4. Kubernetes Pod manifests, with `podman kube play`

/// Why `podman kube play` cannot make a pod here, if it cannot: podman
/// builds the pods' pause image from catatonit when it has none.
fn kube_missing() -> Option<String> {
    let catatonit = [
        "/usr/libexec/podman/catatonit",
        "/usr/lib/podman/catatonit",
        "/usr/local/libexec/podman/catatonit",
        "/usr/bin/catatonit",
    ];
    if !podman_pause_images().is_empty() || catatonit.iter().any(|p| Path::new(p).exists()) {
        return None;
    }
    Some(
        "podman has no pause image and no catatonit to build one for kube play pods \
         (Debian: apt-get install catatonit)"
            .into(),
    )
}

/// A manifest of examples/kubernetes/, with the test's own pod name and image.
struct Manifest {
    pod: String,
    file: PathBuf,
}

impl Manifest {
    /// Writes `examples/kubernetes/FILE` with `metadata.name` and every
    /// `image:` replaced. Fails if either is not where the test expects it,
    /// so the manifest and the test cannot drift apart.
    fn render(t: &Test, file: &str, pod_name: &str, role: &str) -> Manifest {
        let path = containers::repo().join("examples/kubernetes").join(file);
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
        let pod = t.name(role);
        let name_line = format!("  name: {pod_name}\n");
        let image_line = "image: localhost/myapp:latest\n";
        assert_eq!(
            text.matches(&name_line).count(),
            1,
            "{}: one {name_line:?}",
            path.display()
        );
        assert!(
            text.contains(image_line),
            "{}: no {image_line:?}",
            path.display()
        );
        let rendered = text
            .replace(&name_line, &format!("  name: {pod}\n"))
            .replace(image_line, &format!("image: {}\n", t.fx.app));
        let file = t.fx.dir.join(format!("{pod}.yaml"));
        fs::write(&file, rendered).unwrap();
        Manifest { pod, file }
    }

    fn file(&self) -> String {
        self.file.to_string_lossy().into_owned()
    }

    /// `podman kube play` (no network: nothing here needs one); the pod is
    /// removed when the guard drops.
    fn play(&self) -> KubeGuard {
        let guard = KubeGuard {
            pod: self.pod.clone(),
            file: self.file(),
        };
        ok(&["kube", "play", "--network", "none", &self.file()]);
        guard
    }

    fn container(&self, name: &str) -> String {
        format!("{}-{name}", self.pod)
    }

    /// `podman kube down`, timed; the pod must be gone after it.
    fn down(&self) -> Duration {
        let took = out(&["kube", "down", &self.file()]).check().elapsed;
        let exists = out(&["pod", "exists", &self.pod]);
        assert_eq!(
            exists.code(),
            Some(1),
            "the pod is still there after kube down:\n{exists}"
        );
        took
    }
}

struct KubeGuard {
    pod: String,
    file: String,
}

impl Drop for KubeGuard {
    fn drop(&mut self) {
        let _ = out(&["kube", "down", &self.file]);
        let _ = out(&["pod", "rm", "--force", "--time=0", &self.pod]);
    }
}

#[test]
fn kube_pod_with_pidone_as_command_stops_gracefully() {
    let Some(t) = begin("kube_pod_with_pidone_as_command_stops_gracefully") else {
        return;
    };
    if let Some(why) = kube_missing() {
        return skip(TAG, t.name, &why);
    }
    let m = Manifest::render(&t, "pod.yaml", "pidone-demo", "demo");
    let _pod = m.play();
    let app = m.container("app");
    wait_for_log(&app, "ready");
    let cmdline = ok(&["exec", &app, "cat", "/proc/1/cmdline"]);
    assert!(
        cmdline.starts_with("/usr/local/bin/pidone\0"),
        "PID 1 of the container: {cmdline:?}"
    );

    // What the kubelet does: SIGTERM, and SIGKILL only at the deadline. podman
    // 4.3's `kube down` skips that and SIGKILLs at once (see below), so the
    // graceful stop is `podman pod stop`, then `kube down` removes the pod.
    // Timed against an upper bound: one test at a time.
    let _turn = support::one_at_a_time();
    let stopped = out(&["pod", "stop", &m.pod]).check();
    let output = logs(&app);
    let code = exit_code(&app);
    let down = m.down();
    eprintln!(
        "[{TAG}] kube pod.yaml: podman pod stop {:.2} s (exit {code}), then podman kube down {:.2} s",
        stopped.elapsed.as_secs_f64(),
        down.as_secs_f64()
    );
    assert!(
        output.contains("got SIGTERM: finishing") && output.contains("finished"),
        "the program's SIGTERM handler did not run to its end; output:\n{output}"
    );
    assert_eq!(code, 0, "the handler's exit code; output:\n{output}");
    assert!(
        stopped.elapsed < PROMPT,
        "podman pod stop took {:?}",
        stopped.elapsed
    );

    // `podman kube down` alone, watched through `podman logs --follow`: shown,
    // not asserted (it is podman's behaviour, not pidone's).
    let m = Manifest::render(&t, "pod.yaml", "pidone-demo", "demo-down");
    let _pod = m.play();
    let app = m.container("app");
    wait_for_log(&app, "ready");
    let follow = Follower::start(&app, "ready");
    let down = m.down();
    let followed = follow.finish();
    let handler = if followed.contains("finished") {
        "ran"
    } else {
        "did not run (SIGKILL at once: podman 4.3 kube down ignores the stop timeout, containers/podman#22397)"
    };
    eprintln!(
        "[{TAG}] kube pod.yaml: podman kube down alone {:.2} s; the SIGTERM handler {handler}",
        down.as_secs_f64()
    );
}

/// `podman logs --follow NAME`, read line by line.
struct Follower {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Follower {
    /// Starts following; returns once `first` has been printed, so the
    /// follower is attached.
    fn start(name: &str, first: &str) -> Follower {
        let mut child = podman(&["logs", "--follow", name])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start podman logs --follow: {err}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut follower = Follower {
            child,
            lines,
            seen: Vec::new(),
        };
        loop {
            match follower.lines.recv_timeout(PATIENCE) {
                Ok(line) => {
                    let found = line.contains(first);
                    follower.seen.push(line);
                    if found {
                        return follower;
                    }
                }
                Err(_) => panic!(
                    "podman logs --follow {name}: no {first:?} in {PATIENCE:?}; got {:?}",
                    follower.seen
                ),
            }
        }
    }

    /// Everything it printed, once it has ended (bounded: killed after
    /// PATIENCE).
    fn finish(mut self) -> String {
        let status = support::wait_bounded(&mut self.child, PATIENCE);
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(1)) {
            self.seen.push(line);
        }
        if status.is_none() {
            self.seen.push(format!(
                "(podman logs --follow still ran after {PATIENCE:?})"
            ));
        }
        self.seen.join("\n")
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Host pids of the processes in the PID namespace of `pid`.
fn namespace_members(pid: i32) -> BTreeSet<i32> {
    let ns = fs::read_link(format!("/proc/{pid}/ns/pid"))
        .unwrap_or_else(|err| panic!("PID namespace of {pid}: {err}"));
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| fs::read_link(format!("/proc/{p}/ns/pid")).ok().as_ref() == Some(&ns))
        .collect()
}

/// `pid` and its descendants, by host pid.
fn tree(pid: i32) -> BTreeSet<i32> {
    let mut all: BTreeSet<i32> = support::descendants(pid).into_iter().collect();
    all.insert(pid);
    all
}

/// The nanoseconds of a `podman inspect` time field.
fn unix_nanos(name: &str, field: &str) -> u128 {
    let text = inspect(name, &format!("{{{{.State.{field}.UnixNano}}}}"));
    text.parse()
        .unwrap_or_else(|_| panic!("{field} of {name}: {text:?}"))
}

#[test]
fn kube_shared_pid_namespace_pidone_reaps_and_drains_only_its_own_tree() {
    let Some(t) = begin("kube_shared_pid_namespace_pidone_reaps_and_drains_only_its_own_tree")
    else {
        return;
    };
    if let Some(why) = kube_missing() {
        return skip(TAG, t.name, &why);
    }
    let m = Manifest::render(&t, "shared-pid.yaml", "pidone-shared", "shared");
    let _pod = m.play();
    let (app, sidecar) = (m.container("app"), m.container("sidecar"));
    wait_for_log(&sidecar, "sidecar: ready");
    let sidecar_pid = host_pid(&sidecar);
    let sidecar_tree = poll(PATIENCE, || {
        // sh and its sleep.
        let procs = tree(sidecar_pid);
        (procs.len() == 2).then_some(procs)
    })
    .unwrap_or_else(|| panic!("the sidecar's processes: {:?}", tree(sidecar_pid)));

    let waited = run_bounded(&mut podman(&["wait", &app]), PATIENCE + SHARED_GRACE).check();
    let output = logs(&app);
    let ran = Duration::from_nanos(
        (unix_nanos(&app, "FinishedAt") - unix_nanos(&app, "StartedAt")) as u64,
    );
    eprintln!(
        "[{TAG}] kube shared-pid.yaml: app container exit {} after {:.2} s (an orphan living 1 s, then --grace {SHARED_GRACE:?}); its output:\n{}",
        waited.stdout.trim(),
        ran.as_secs_f64(),
        output.trim_end()
    );
    assert_eq!(waited.stdout.trim(), "7", "the program's exit code");

    // The program read its orphan's parent from /proc: pidone, its own parent.
    let pidone = number_after(&output, "app: pidone is pid");
    let orphan = number_after(&output, "app: orphan");
    let parent = output.lines().find_map(|l| {
        l.split_once(" has parent ")
            .map(|(_, p)| p.trim().parse::<u64>())
    });
    assert!(pidone.is_some() && orphan.is_some(), "output:\n{output}");
    assert_eq!(
        parent.and_then(Result::ok),
        pidone,
        "the orphan's parent is pidone (subreaper); output:\n{output}"
    );
    assert!(
        output.contains(&format!("app: orphan {} reaped", orphan.unwrap())),
        "the orphan was reaped while pidone ran; output:\n{output}"
    );
    // pidone waited out --grace for the leftover that ignores SIGTERM.
    assert!(
        ran >= SHARED_GRACE,
        "pidone exited {ran:?} after it started: it did not wait {SHARED_GRACE:?} for the leftover"
    );
    assert!(ran < SHARED_GRACE + PATIENCE, "pidone took {ran:?} to end");

    // The sidecar: untouched and still running, the same processes.
    let sidecar_state = inspect(&sidecar, "{{.State.Running}} {{.RestartCount}}");
    assert_eq!(
        sidecar_state,
        "true 0",
        "the sidecar (running, restarts); its output:\n{}",
        logs(&sidecar)
    );
    assert_eq!(tree(sidecar_pid), sidecar_tree, "the sidecar's processes");
    let sidecar_output = logs(&sidecar);
    assert!(
        !sidecar_output.contains("got SIGTERM"),
        "pidone signalled another container:\n{sidecar_output}"
    );
    // Nothing of the app is left: the namespace holds the pause and the
    // sidecar, nothing else.
    let infra = ok(&[
        "pod",
        "inspect",
        "--format",
        "{{.InfraContainerID}}",
        &m.pod,
    ]);
    let mut expected = sidecar_tree.clone();
    expected.insert(host_pid(&infra));
    let members = namespace_members(sidecar_pid);
    assert_eq!(
        members,
        expected,
        "processes of the pod's PID namespace (pause + sidecar expected); comms: {:?}",
        members
            .iter()
            .map(|p| fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default())
            .collect::<Vec<_>>()
    );

    let down = m.down();
    eprintln!(
        "[{TAG}] kube shared-pid.yaml: podman kube down {:.2} s",
        down.as_secs_f64()
    );
}

// ---------------------------------------------------------------------------
// The README shows the manifests' own lines

#[test]
fn readme_kubernetes_snippets_are_the_manifests_lines() {
    let _timer = Timer::new(TAG, "readme_kubernetes_snippets_are_the_manifests_lines");
    let readme = fs::read_to_string(containers::repo().join("README.md")).unwrap();
    let section = readme
        .split("\n## Kubernetes and podman\n")
        .nth(1)
        .expect("README has a section \"Kubernetes and podman\"");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut checked = 0;
    for block in section.split("```yaml\n").skip(1) {
        let block = block.split("```").next().unwrap_or_default();
        let manifests: Vec<String> = ["pod.yaml", "shared-pid.yaml"]
            .iter()
            .map(|f| {
                fs::read_to_string(containers::repo().join("examples/kubernetes").join(f)).unwrap()
            })
            .collect();
        assert!(
            manifests.iter().any(|m| m.contains(block)),
            "this README snippet is not a verbatim part of a manifest in examples/kubernetes/:\n{block}"
        );
        checked += 1;
    }
    assert!(checked > 0, "no ```yaml snippet in the README section");
    let containerfile =
        fs::read_to_string(containers::repo().join("examples/podman/Containerfile.pause")).unwrap();
    for block in section.split("```dockerfile\n").skip(1) {
        let block = block.split("```").next().unwrap_or_default();
        assert!(
            containerfile.contains(block),
            "this README snippet is not part of examples/podman/Containerfile.pause:\n{block}"
        );
    }
}
