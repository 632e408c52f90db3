//! End-to-end tests of pidone in a real Docker engine: as the ENTRYPOINT of an
//! image built from `Dockerfile.example`, and as the daemon's init binary
//! (`docker run --init`).
//!
//! They need an engine that answers `docker version`, a static pidone and a
//! static busybox:
//!
//! - pidone: `$PIDONE_STATIC_BIN`, else
//!   `target/x86_64-unknown-linux-musl/release/pidone`, made by
//!   `cargo build --release --target x86_64-unknown-linux-musl` (`.ci/run`
//!   builds it before `cargo test`). The tests do not build it themselves:
//!   cargo would wait on the lock of the target directory that `cargo test`
//!   holds. A binary older than a `.rs` file under `src/` counts as missing,
//!   so a stale one is never tested by mistake.
//! - busybox: `$PIDONE_E2E_BUSYBOX`, else `/bin/busybox` (Debian's
//!   `busybox-static`).
//!
//! `PIDONE_E2E` says what a missing prerequisite means: unset, each test
//! prints SKIPPED and passes; `require`, it fails; `off`, every test skips.
//!
//! No registry is used. The runtime image is a busybox root filesystem made
//! here and `docker import`ed. `Dockerfile.example` is built as a user builds
//! it, with its base-image arguments pointing at local images: the runtime
//! image above and, for the build stage, the same root filesystem plus
//! stand-ins for `rustup` and `cargo` that fail unless called exactly as the
//! Dockerfile calls them in a directory holding the crate, then put the
//! static pidone built on the host where `cargo build` would.
//!
//! Every container, image, daemon and directory a test makes carries this
//! process's id in its name or label; a Drop guard removes it, also when the
//! test fails. With `--nocapture`, each test prints its duration and the
//! `docker stop` timings with and without pidone.

mod containers;
mod support;

use containers::{
    busybox_rootfs, pack, parse_stats, repo, skip, static_busybox, static_pidone, version_of,
    Timer, COMMAND_LIMIT,
};
use std::env;
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{self, Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread;
use std::time::{Duration, Instant};
use support::{e2e, is_root, poll, run_bounded, wait_bounded, E2e, Outcome, Stat};

// ---------------------------------------------------------------------------
// Settings and the programs the containers run

/// Docker's default `docker stop` timeout, passed explicitly: the baseline.
const STOP_TIMEOUT: &str = "10";
/// What `Dockerfile.example` must set, as `docker inspect` prints it.
const ENTRYPOINT: &str = r#"["/usr/local/bin/pidone","--"]"#;
/// "Promptly": well inside Docker's 10 s, with room for a loaded machine.
const PROMPT: Duration = Duration::from_secs(5);
/// A bound for waiting on a container's output or processes.
const PATIENCE: Duration = Duration::from_secs(20);
/// Shell form: sh stays the parent of the trapping command, and does not
/// pass SIGTERM on.
const SHELL_FORM: &str = "/e2e/signals; echo after";

/// Prints which signals reach it; exits 7 on SIGTERM.
const SIGNALS: &str = r#"#!/bin/sh
for sig in HUP INT USR1 USR2; do trap "echo got-$sig" "$sig"; done
trap 'echo got-TERM; exit 7' TERM
echo ready
# A trapped signal interrupts `wait` (not a foreground command): traps run at once.
while :; do sleep 1000 & wait $!; done
"#;

/// Leaves 20 orphans that exit together a second later, then sleeps.
const ORPHANS: &str = r#"#!/bin/sh
echo "main-pid $$"
i=0
while [ "$i" -lt 20 ]; do (sleep 1 &); i=$((i + 1)); done
echo spawned
exec sleep 1000
"#;

/// Starts /e2e/worker double-forked in a session of its own, so a signal to
/// this process group misses it; exits 0 at once on SIGTERM.
const DRAIN: &str = r#"#!/bin/sh
(setsid /e2e/worker /tmp/cleanup.txt &)
trap 'echo main-stopping; exit 0' TERM
echo ready
while :; do sleep 1000 & wait $!; done
"#;

/// On SIGTERM, takes a second to write its file in full.
const WORKER: &str = r#"#!/bin/sh
trap 'echo cleanup-begin >"$1"; sleep 1; echo cleanup-end >>"$1"; exit 0' TERM
echo worker-ready
while :; do sleep 1000 & wait $!; done
"#;
const CLEANUP_DONE: &str = "cleanup-begin\ncleanup-end\n";

/// Holds ever more memory, past any small limit: a 300 MB stream read into
/// a shell variable.
const HOG: &str = r#"#!/bin/sh
x=$(head -c 300000000 /dev/zero | tr '\0' a)
echo "still here, holding ${#x} bytes"
"#;

/// Leaves /e2e/hog behind as an orphan, and runs on.
const ORPHAN_HOG: &str = r#"#!/bin/sh
(/e2e/hog &)
echo ready
while :; do sleep 1000 & wait $!; done
"#;

/// The memory limit of the out-of-memory tests, as `docker run` takes it
/// and as pidone names it.
const LIMIT_ARGS: [&str; 4] = ["--memory", "64m", "--memory-swap", "64m"];
const OOM: &str = "was killed by SIGKILL: out of memory (the container's limit is 64 MiB; the kernel's OOM killer ran 1 time)";

/// The image's own users, for `--user`: none of them is on the host.
const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:4242:4343:app:/home/app:/bin/sh\n";
const GROUP: &str = "root:x:0:\napp:x:4343:\nshared:x:4444:app\n";

/// Who the command is, from /proc/self/status, and whether it may signal
/// PID 1.
const WHO: &str = "grep -E '^(Uid|Gid|Groups|CapPrm|CapEff|NoNewPrivs):' /proc/self/status; \
                   echo \"HOME=$HOME\"; kill -TERM 1 || echo kill-refused";

/// Stand-in for cargo in the build stage of `Dockerfile.example`.
const STUB_CARGO: &str = r#"#!/bin/sh
want="build --release --locked --target x86_64-unknown-linux-musl"
if [ "$*" != "$want" ]; then
    echo "stub cargo: expected 'cargo $want', got 'cargo $*'" >&2
    exit 101
fi
for f in Cargo.toml Cargo.lock src/main.rs; do
    [ -f "$f" ] || { echo "stub cargo: no $f in $(pwd); cargo --locked would fail" >&2; exit 101; }
done
mkdir -p target/x86_64-unknown-linux-musl/release
cp /opt/prebuilt/pidone target/x86_64-unknown-linux-musl/release/pidone
"#;

/// Stand-in for rustup in the build stage of `Dockerfile.example`.
const STUB_RUSTUP: &str = r#"#!/bin/sh
want="target add x86_64-unknown-linux-musl"
[ "$*" = "$want" ] || { echo "stub rustup: expected 'rustup $want', got 'rustup $*'" >&2; exit 1; }
"#;

/// The docker CLI, talking to the engine of the environment or to `host`.
#[derive(Clone)]
struct Docker {
    host: Option<String>,
}

impl Docker {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("docker");
        if let Some(host) = &self.host {
            cmd.arg("--host").arg(host);
        }
        cmd.args(args);
        cmd
    }

    fn out(&self, args: &[&str]) -> Outcome {
        run_bounded(&mut self.cmd(args), COMMAND_LIMIT)
    }

    /// A command that must succeed: its stdout, trimmed.
    fn ok(&self, args: &[&str]) -> String {
        self.out(args).check().stdout.trim().to_owned()
    }

    fn logs(&self, container: &str) -> String {
        let out = self.out(&["logs", container]);
        out.stdout + &out.stderr
    }

    /// Waits until `needle` shows in the container's output; that output.
    fn wait_for_log(&self, container: &str, needle: &str) -> String {
        poll(PATIENCE, || {
            let logs = self.logs(container);
            logs.contains(needle).then_some(logs)
        })
        .unwrap_or_else(|| {
            panic!(
                "no {needle:?} from container {container} in {PATIENCE:?}; its output:\n{}",
                self.logs(container)
            )
        })
    }
}

/// A container, removed (with its volumes) when dropped.
struct Container {
    docker: Docker,
    name: String,
}

/// How a `docker stop` went.
struct Stopped {
    elapsed: Duration,
    code: i32,
}

impl Container {
    /// `docker run -d --name NAME ARGS...`.
    fn start(docker: &Docker, name: String, args: &[&str]) -> Container {
        let container = Container {
            docker: docker.clone(),
            name,
        };
        let mut full = vec!["run", "-d", "--name", container.name.as_str()];
        full.extend_from_slice(args);
        docker.out(&full).check();
        container
    }

    /// `docker run --name NAME ARGS...` in the foreground.
    fn run(docker: &Docker, name: String, args: &[&str]) -> (Container, Outcome) {
        let container = Container {
            docker: docker.clone(),
            name,
        };
        let mut full = vec!["run", "--name", container.name.as_str()];
        full.extend_from_slice(args);
        let out = docker.out(&full);
        (container, out)
    }

    /// `docker stop` with Docker's default timeout, timed.
    fn stop(&self) -> Stopped {
        let out = self
            .docker
            .out(&["stop", "--time", STOP_TIMEOUT, &self.name])
            .check();
        Stopped {
            elapsed: out.elapsed,
            code: self.exit_code(),
        }
    }

    fn exit_code(&self) -> i32 {
        let code = self.inspect("{{.State.ExitCode}}");
        code.parse()
            .unwrap_or_else(|_| panic!("exit code of {}: {code:?}", self.name))
    }

    fn inspect(&self, format: &str) -> String {
        self.docker.ok(&["inspect", "--format", format, &self.name])
    }

    fn logs(&self) -> String {
        self.docker.logs(&self.name)
    }

    fn wait_for_log(&self, needle: &str) -> String {
        self.docker.wait_for_log(&self.name, needle)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.docker.out(&["rm", "--force", "--volumes", &self.name]);
    }
}

// ---------------------------------------------------------------------------
// Prerequisites, and the images every test shares

struct Prereqs {
    pidone: PathBuf,
    busybox: PathBuf,
}

fn prereqs() -> &'static Result<Prereqs, String> {
    static PREREQS: OnceLock<Result<Prereqs, String>> = OnceLock::new();
    PREREQS.get_or_init(|| {
        let engine = Docker { host: None }.out(&["version", "--format", "{{.Server.Version}}"]);
        if !engine.success() {
            let why = engine.stderr.lines().find(|l| !l.trim().is_empty());
            return Err(format!(
                "no Docker engine answers `docker version`: {}",
                why.unwrap_or("no output").trim()
            ));
        }
        let pidone = static_pidone()?;
        let busybox = static_busybox()?;
        eprintln!(
            "[docker] testing {} on Docker {}",
            pidone.display(),
            engine.stdout.trim()
        );
        Ok(Prereqs { pidone, busybox })
    })
}

/// The images the tests run, made once and shared while any test holds them.
struct Fixture {
    /// `PID-N`: in every name and in the `pidone-e2e` label of every image.
    id: String,
    dir: PathBuf,
    /// What the pidone under test prints for `--version`.
    version: String,
    /// busybox and the /e2e scripts.
    base: String,
    /// The root filesystem of `base`, to import into another daemon.
    base_tar: PathBuf,
    /// `base` plus stub rustup and cargo: the build stage's image.
    rust: String,
    /// Built from Dockerfile.example: pidone as ENTRYPOINT.
    app: String,
}

fn fixture(prereqs: &Prereqs) -> Result<Arc<Fixture>, String> {
    static SHARED: Mutex<Option<Weak<Fixture>>> = Mutex::new(None);
    containers::shared(&SHARED, || Fixture::create(prereqs))
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
        let dir = env::temp_dir().join(format!("pidone-e2e-{id}"));
        // From here on, Drop removes whatever was made.
        let mut fixture = Fixture {
            base: format!("pidone-e2e-{id}-base"),
            rust: format!("pidone-e2e-{id}-rust"),
            app: format!("pidone-e2e-{id}-app"),
            base_tar: dir.join("base.tar"),
            version: String::new(),
            dir,
            id,
        };
        let started = Instant::now();
        fixture.version = version_of(&prereqs.pidone)?;
        fixture.make_images(prereqs)?;
        eprintln!(
            "[docker] images {} and {} (from Dockerfile.example) ready in {:.1} s; {}",
            fixture.base,
            fixture.app,
            started.elapsed().as_secs_f64(),
            fixture.version
        );
        Ok(fixture)
    }

    fn make_images(&self, prereqs: &Prereqs) -> Result<(), String> {
        let io = |what: &str| {
            let what = what.to_owned();
            move |err: io::Error| format!("{what}: {err}")
        };
        let rootfs = self.dir.join("rootfs");
        // No pidone in it: the image built from Dockerfile.example must
        // bring its own.
        busybox_rootfs(&rootfs, &prereqs.busybox, None)?;
        fs::create_dir_all(rootfs.join("e2e")).map_err(io("rootfs/e2e"))?;
        let scripts = [
            ("e2e/signals", SIGNALS),
            ("e2e/orphans", ORPHANS),
            ("e2e/drain", DRAIN),
            ("e2e/worker", WORKER),
            ("e2e/hog", HOG),
            ("e2e/orphan-hog", ORPHAN_HOG),
        ];
        for (path, text) in scripts {
            write_executable(&rootfs.join(path), text.as_bytes()).map_err(io(path))?;
        }
        fs::write(rootfs.join("etc/passwd"), PASSWD).map_err(io("etc/passwd"))?;
        fs::write(rootfs.join("etc/group"), GROUP).map_err(io("etc/group"))?;
        pack(&rootfs, &self.base_tar)?;
        self.import(&Docker { host: None }, &self.base_tar, &self.base)?;

        // The build stage's image: the same, plus stand-ins for rustup and cargo.
        fs::create_dir_all(rootfs.join("usr/local/bin")).map_err(io("rootfs"))?;
        fs::create_dir_all(rootfs.join("opt/prebuilt")).map_err(io("rootfs"))?;
        write_executable(&rootfs.join("usr/local/bin/cargo"), STUB_CARGO.as_bytes())
            .map_err(io("stub cargo"))?;
        write_executable(&rootfs.join("usr/local/bin/rustup"), STUB_RUSTUP.as_bytes())
            .map_err(io("stub rustup"))?;
        fs::copy(&prereqs.pidone, rootfs.join("opt/prebuilt/pidone")).map_err(io("pidone"))?;
        let rust_tar = self.dir.join("rust.tar");
        pack(&rootfs, &rust_tar)?;
        self.import(&Docker { host: None }, &rust_tar, &self.rust)?;

        // Dockerfile.example, built as a user builds it, in a copy of the checkout.
        let context = self.dir.join("context");
        copy_tree(&repo(), &context, &["target", ".git"]).map_err(io("build context"))?;
        let dockerfile = context.join("Dockerfile.example");
        let rust_arg = format!("RUST_IMAGE={}", self.rust);
        let runtime_arg = format!("RUNTIME_IMAGE={}", self.base);
        let mut build = Docker { host: None }.cmd(&[
            "build",
            "--force-rm",
            "--build-arg",
            &rust_arg,
            "--build-arg",
            &runtime_arg,
            "--tag",
            &self.app,
            "--file",
        ]);
        // The classic builder uses the local images as they are; BuildKit
        // might ask a registry about them.
        build
            .arg(&dockerfile)
            .arg(&context)
            .env("DOCKER_BUILDKIT", "0");
        let built = run_bounded(&mut build, Duration::from_secs(300));
        if !built.success() {
            return Err(format!("building Dockerfile.example failed:\n{built}"));
        }
        Ok(())
    }

    /// `docker import` of a root filesystem tarball, labelled with this
    /// fixture's id.
    fn import(&self, docker: &Docker, tar: &Path, name: &str) -> Result<(), String> {
        let label = format!("LABEL pidone-e2e={}", self.id);
        let tar = tar.to_string_lossy();
        let imported = docker.out(&[
            "import",
            "--change",
            &label,
            "--change",
            "ENV PATH=/usr/local/bin:/usr/bin:/bin",
            &tar,
            name,
        ]);
        if !imported.success() {
            return Err(format!("docker import failed:\n{imported}"));
        }
        Ok(())
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Every image made here carries the label, the intermediate ones of
        // the Dockerfile build included (labels are inherited). Children go
        // before parents, so repeat until none is left.
        let docker = Docker { host: None };
        let label = format!("label=pidone-e2e={}", self.id);
        for _ in 0..5 {
            let listed = docker.out(&["images", "--all", "--quiet", "--filter", &label]);
            let mut ids: Vec<&str> = listed.stdout.split_whitespace().collect();
            ids.sort_unstable();
            ids.dedup();
            if ids.is_empty() {
                break;
            }
            let mut rmi = vec!["rmi", "--force"];
            rmi.extend(ids);
            let _ = docker.out(&rmi);
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn write_executable(path: &Path, text: &[u8]) -> io::Result<()> {
    fs::write(path, text)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
}

fn copy_tree(from: &Path, to: &Path, leave_out: &[&str]) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if leave_out.iter().any(|out| name == OsStr::new(out)) {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(&name), &[])?;
        } else if path.is_file() {
            fs::copy(&path, to.join(&name))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// One test's context

struct Test {
    name: &'static str,
    /// Prints the verdict and duration when the test ends.
    _timer: Timer,
    fx: Arc<Fixture>,
    prereqs: &'static Prereqs,
    docker: Docker,
}

/// The test's context, or None (after saying why) when it cannot run.
fn begin(name: &'static str) -> Option<Test> {
    // Timed from here, fixture included; only a test that runs says so.
    let started = Instant::now();
    if e2e() == E2e::Off {
        eprintln!("[docker] {name}: SKIPPED: PIDONE_E2E=off");
        return None;
    }
    let prereqs = match prereqs() {
        Ok(prereqs) => prereqs,
        Err(why) => {
            skip("docker", name, why);
            return None;
        }
    };
    let fx = fixture(prereqs).unwrap_or_else(|err| panic!("{name}: {err}"));
    Some(Test {
        name,
        _timer: Timer {
            tag: "docker",
            name,
            started,
        },
        fx,
        prereqs,
        docker: Docker { host: None },
    })
}

impl Test {
    /// A container name unique to this process, test and `role`.
    fn container_name(&self, role: &str) -> String {
        format!("pidone-e2e-{}-{}-{role}", process::id(), self.name)
    }
}

/// The container's processes, as its /proc shows them.
fn processes(container: &Container) -> Vec<Stat> {
    let script = "cat /proc/[0-9]*/stat 2>/dev/null";
    let out = container
        .docker
        .out(&["exec", &container.name, "sh", "-c", script]);
    parse_stats(&out.stdout)
}

// ---------------------------------------------------------------------------
// pidone as the ENTRYPOINT of the image built from Dockerfile.example

#[test]
fn entrypoint_passes_exit_codes_through() {
    let Some(t) = begin("entrypoint_passes_exit_codes_through") else {
        return;
    };
    let d = &t.docker;
    let entrypoint = d.ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Entrypoint}}",
        &t.fx.app,
    ]);
    assert_eq!(entrypoint, ENTRYPOINT, "ENTRYPOINT of Dockerfile.example");

    // The pidone in the image is the one under test.
    let args = [t.fx.app.as_str(), "/usr/local/bin/pidone", "--version"];
    let (_c, out) = Container::run(d, t.container_name("version"), &args);
    let out = out.check();
    assert_eq!(out.stdout.trim(), t.fx.version, "pidone in the image");

    for (script, want) in [
        ("true", 0),
        ("exit 3", 3),
        ("kill -KILL $$", 137),
        ("kill -TERM $$", 143),
    ] {
        let args = ["--rm", t.fx.app.as_str(), "sh", "-c", script];
        let (_c, out) = Container::run(d, t.container_name(&format!("exit-{want}")), &args);
        assert_eq!(
            out.code(),
            Some(want),
            "docker run IMAGE sh -c {script:?}:\n{out}"
        );
    }
}

#[test]
fn user_runs_the_command_as_a_user_of_the_image() {
    let Some(t) = begin("user_runs_the_command_as_a_user_of_the_image") else {
        return;
    };
    let d = &t.docker;
    let pidone = ["--entrypoint", "/usr/local/bin/pidone", t.fx.app.as_str()];
    let who = |role: &str, docker_args: &[&str], pidone_args: &[&str]| {
        let mut args = vec!["--rm"];
        args.extend(docker_args);
        args.extend(pidone);
        args.extend(pidone_args);
        args.extend(["--", "sh", "-c", WHO]);
        let (_c, out) = Container::run(d, t.container_name(role), &args);
        let out = out.check();
        eprintln!("[docker] {role}:\n{}", out.stdout.trim_end());
        let lines = out.stdout.lines();
        lines
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
    };
    let status = |uid: &str, gid: &str, groups: &str, nnp: u8, home: &str| {
        vec![
            format!("Uid: {uid} {uid} {uid} {uid}"),
            format!("Gid: {gid} {gid} {gid} {gid}"),
            format!("Groups: {groups}"),
            "CapPrm: 0000000000000000".into(),
            "CapEff: 0000000000000000".into(),
            format!("NoNewPrivs: {nnp}"),
            format!("HOME={home}"),
            "kill-refused".into(),
        ]
    };
    let app = status("4242", "4343", "4343 4444", 0, "/home/app");
    assert_eq!(who("named", &[], &["--user", "app"]), app);
    assert_eq!(who("variable", &["--env", "PIDONE_USER=app"], &[]), app);
    let numbers = status("4242", "4343", "4343", 1, "/home/app");
    assert_eq!(
        who("numbers", &[], &["--user", "4242:4343", "--no-new-privs"]),
        numbers
    );
    let stranger = status("5000", "5000", "5000", 0, "/root");
    assert_eq!(who("stranger", &[], &["--user", "5000"]), stranger);

    let args = [
        "--rm",
        "--env",
        "PIDONE_USER=bob",
        t.fx.app.as_str(),
        "sh",
        "-c",
        "echo started",
    ];
    let (_c, out) = Container::run(d, t.container_name("bob"), &args);
    assert_eq!(out.code(), Some(2), "{out}");
    let want = "pidone: cannot run 'sh' as user 'bob': no user 'bob' in /etc/passwd\n";
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("", want),
        "{out}"
    );
}

#[test]
fn docker_stop_ends_trapping_commands_promptly() {
    let Some(t) = begin("docker_stop_ends_trapping_commands_promptly") else {
        return;
    };
    let d = &t.docker;
    let (app, base) = (t.fx.app.as_str(), t.fx.base.as_str());
    let exec_form = Container::start(d, t.container_name("exec"), &[app, "/e2e/signals"]);
    let shell_form = Container::start(d, t.container_name("shell"), &[app, "sh", "-c", SHELL_FORM]);
    // The same shell form with sh as PID 1: it ignores SIGTERM (PID 1 has no
    // default actions, pid_namespaces(7)) and passes nothing on.
    let no_init = Container::start(
        d,
        t.container_name("shell-no-init"),
        &["--entrypoint", "", base, "sh", "-c", SHELL_FORM],
    );
    for c in [&exec_form, &shell_form, &no_init] {
        c.wait_for_log("ready");
    }
    // Timed against an upper bound: one test at a time.
    let _turn = support::one_at_a_time();
    let (exec, shell, baseline) = thread::scope(|s| {
        let exec = s.spawn(|| exec_form.stop());
        let shell = s.spawn(|| shell_form.stop());
        let baseline = s.spawn(|| no_init.stop());
        (
            exec.join().unwrap(),
            shell.join().unwrap(),
            baseline.join().unwrap(),
        )
    });
    eprintln!(
        "[docker] docker stop, exec form,  pidone ENTRYPOINT: {:.2} s, exit {}",
        exec.elapsed.as_secs_f64(),
        exec.code
    );
    eprintln!(
        "[docker] docker stop, shell form, pidone ENTRYPOINT: {:.2} s, exit {}",
        shell.elapsed.as_secs_f64(),
        shell.code
    );
    eprintln!(
        "[docker] docker stop, shell form, no init (sh is PID 1): {:.2} s, exit {}",
        baseline.elapsed.as_secs_f64(),
        baseline.code
    );

    assert_eq!(exec.code, 7, "the command's own code from its trap");
    assert!(
        exec.elapsed < PROMPT,
        "exec form stopped in {:?}",
        exec.elapsed
    );
    let logs = exec_form.logs();
    assert!(logs.contains("got-TERM"), "exec form's output:\n{logs}");
    // sh got SIGTERM too (the whole group did) and died of it: 128 + 15.
    assert_eq!(
        shell.code,
        143,
        "sh killed by SIGTERM:\n{}",
        shell_form.logs()
    );
    assert!(
        shell.elapsed < PROMPT,
        "shell form stopped in {:?}",
        shell.elapsed
    );
    assert!(
        shell_form.logs().contains("got-TERM"),
        "the command under sh got SIGTERM:\n{}",
        shell_form.logs()
    );
    // The baseline is Docker's behaviour, not pidone's: shown, not asserted.
    if baseline.code != 137 || baseline.elapsed < Duration::from_secs(9) {
        eprintln!("[docker] note: without an init the stop was expected to take the full 10 s and end in SIGKILL (137)");
    }
}

#[test]
fn docker_kill_delivers_usr1_and_hup() {
    let Some(t) = begin("docker_kill_delivers_usr1_and_hup") else {
        return;
    };
    let d = &t.docker;
    let c = Container::start(d, t.container_name("signals"), &[&t.fx.app, "/e2e/signals"]);
    c.wait_for_log("ready");
    for signal in ["USR1", "HUP"] {
        d.ok(&["kill", "--signal", signal, &c.name]);
        c.wait_for_log(&format!("got-{signal}"));
    }
    assert_eq!(c.inspect("{{.State.Running}}"), "true", "{}", c.logs());
    assert_eq!(c.stop().code, 7, "{}", c.logs());
}

#[test]
fn orphans_are_reaped() {
    let Some(t) = begin("orphans_are_reaped") else {
        return;
    };
    let d = &t.docker;
    let with = Container::start(d, t.container_name("with"), &[&t.fx.app, "/e2e/orphans"]);
    // Baseline: `sleep` as PID 1 never reaps, so the same orphans stay zombies.
    // It shows the probe below sees zombies when there are some.
    let without = Container::start(
        d,
        t.container_name("without"),
        &["--entrypoint", "", &t.fx.base, "/e2e/orphans"],
    );

    let logs = with.wait_for_log("spawned");
    let main: i32 = logs
        .lines()
        .find_map(|line| line.strip_prefix("main-pid "))
        .and_then(|pid| pid.trim().parse().ok())
        .unwrap_or_else(|| panic!("no main-pid in:\n{logs}"));
    let started = Instant::now();
    let mut most = 0;
    let settled = poll(PATIENCE, || {
        let procs = processes(&with);
        let zombies = procs.iter().filter(|p| p.state == 'Z').count();
        let orphans = procs
            .iter()
            .filter(|p| p.ppid == 1 && p.pid != main)
            .count();
        most = most.max(orphans);
        (zombies == 0 && orphans == 0 && !procs.is_empty()).then_some(procs.len())
    });
    let left = processes(&with);
    assert!(
        settled.is_some(),
        "orphans or zombies left after {PATIENCE:?} (pid state ppid): {:?}",
        left.iter()
            .map(|p| (p.pid, p.state, p.ppid))
            .collect::<Vec<_>>()
    );
    eprintln!(
        "[docker] orphans: up to {most} seen under pidone, none left as zombies {:.2} s after they were made",
        started.elapsed().as_secs_f64()
    );

    without.wait_for_log("spawned");
    let zombies = poll(Duration::from_secs(5), || {
        let count = processes(&without)
            .iter()
            .filter(|p| p.state == 'Z')
            .count();
        (count == 20).then_some(count)
    });
    eprintln!(
        "[docker] orphans without an init: {} zombies",
        zombies.map_or_else(|| "fewer than 20".to_owned(), |n| n.to_string())
    );
    assert!(
        zombies.is_some(),
        "the probe should see the baseline's zombies"
    );
}

#[test]
fn docker_stop_lets_a_detached_worker_finish_its_cleanup() {
    let Some(t) = begin("docker_stop_lets_a_detached_worker_finish_its_cleanup") else {
        return;
    };
    let d = &t.docker;
    let with = Container::start(d, t.container_name("with"), &[&t.fx.app, "/e2e/drain"]);
    // Baseline: the main script as PID 1. When it exits, the kernel kills
    // the rest of the namespace at once; the worker never even gets SIGTERM.
    let without = Container::start(
        d,
        t.container_name("without"),
        &["--entrypoint", "", &t.fx.base, "/e2e/drain"],
    );
    for c in [&with, &without] {
        c.wait_for_log("ready");
        c.wait_for_log("worker-ready");
    }
    // Timed against an upper bound: one test at a time.
    let _turn = support::one_at_a_time();
    let (stopped, baseline) = thread::scope(|s| {
        let stopped = s.spawn(|| with.stop());
        let baseline = s.spawn(|| without.stop());
        (stopped.join().unwrap(), baseline.join().unwrap())
    });
    let cleanup = |c: &Container| {
        let copy = t.fx.dir.join(format!("{}.txt", c.name));
        let from = format!("{}:/tmp/cleanup.txt", c.name);
        let copied = d.out(&["cp", &from, &copy.to_string_lossy()]);
        copied
            .success()
            .then(|| fs::read_to_string(&copy).unwrap_or_default())
    };
    let (file, baseline_file) = (cleanup(&with), cleanup(&without));
    eprintln!(
        "[docker] docker stop, worker cleaning up 1 s, pidone ENTRYPOINT: {:.2} s, exit {}, file {:?}",
        stopped.elapsed.as_secs_f64(),
        stopped.code,
        file
    );
    eprintln!(
        "[docker] docker stop, worker cleaning up 1 s, no init: {:.2} s, exit {}, file {:?}",
        baseline.elapsed.as_secs_f64(),
        baseline.code,
        baseline_file
    );
    assert_eq!(
        file.as_deref(),
        Some(CLEANUP_DONE),
        "the worker's cleanup file; output:\n{}",
        with.logs()
    );
    assert_eq!(stopped.code, 0, "the main command's code");
    assert!(stopped.elapsed < PROMPT, "stopped in {:?}", stopped.elapsed);
}

// ---------------------------------------------------------------------------
// Why the command ended: out of memory under `docker run --memory`

/// `docker run` with the memory limit and `args`, in the foreground.
fn run_limited(t: &Test, role: &str, args: &[&str]) -> (Container, Outcome) {
    let full = [&LIMIT_ARGS[..], args].concat();
    Container::run(&t.docker, t.container_name(role), &full)
}

#[test]
fn out_of_memory_is_named_and_the_exit_code_kept() {
    let Some(t) = begin("out_of_memory_is_named_and_the_exit_code_kept") else {
        return;
    };
    // As PID 1, with a termination-log file mounted where the kubelet
    // mounts it, and pidone told so by its variable.
    let message = t.fx.dir.join("termination-log");
    fs::write(&message, "").expect("termination-log file");
    let mount = format!("{}:/dev/termination-log", message.display());
    let args = [
        "-v",
        &mount,
        "-e",
        "PIDONE_TERMINATION_LOG=/dev/termination-log",
        &t.fx.app,
        "/e2e/hog",
    ];
    let (pid1, out) = run_limited(&t, "pid1", &args);
    assert_eq!(out.code(), Some(137), "{out}");
    let logs = pid1.logs();
    let said = logs
        .lines()
        .filter(|l| l.starts_with("pidone: "))
        .collect::<Vec<_>>();
    assert_eq!(said.len(), 1, "{logs}");
    assert!(
        said[0].starts_with("pidone: warning: the command (pid "),
        "{logs}"
    );
    assert!(said[0].ends_with(&format!(") {OOM}")), "{logs}");
    assert!(!logs.contains("still here"), "{logs}");
    let text = fs::read_to_string(&message).unwrap_or_default();
    assert!(text.starts_with("The command '/e2e/hog' (pid "), "{text:?}");
    assert!(
        text.contains(&format!(") {OOM}.\npidone exited with 137.")),
        "{text:?}"
    );

    // As a subreaper under a shell, with --termination-log's default path.
    let script = "/usr/local/bin/pidone --termination-log /e2e/hog; echo \"pidone exited with $?\"; cat /dev/termination-log";
    let args = ["--entrypoint", "sh", &t.fx.app, "-c", script];
    let (sub, out) = run_limited(&t, "subreaper", &args);
    assert_eq!(out.code(), Some(0), "{out}");
    let logs = sub.logs();
    assert!(logs.contains("pidone exited with 137\n"), "{logs}");
    assert!(logs.contains(&format!(") {OOM}\n")), "{logs}");
    assert!(
        logs.contains(&format!(") {OOM}.\npidone exited with 137.")),
        "{logs}"
    );
}

#[test]
fn an_orphan_killed_for_memory_is_named_while_the_command_runs_on() {
    let Some(t) = begin("an_orphan_killed_for_memory_is_named_while_the_command_runs_on") else {
        return;
    };
    let d = &t.docker;
    let subreaper = "/usr/local/bin/pidone /e2e/orphan-hog";
    let modes: [(&str, &[&str]); 2] = [
        ("pid1", &[&t.fx.app, "/e2e/orphan-hog"]),
        (
            "subreaper",
            &["--entrypoint", "sh", &t.fx.app, "-c", subreaper],
        ),
    ];
    for (role, args) in modes {
        let full = [&["-d"][..], &LIMIT_ARGS[..], args].concat();
        let c = Container::run(d, t.container_name(role), &full).0;
        let logs = c.wait_for_log("pidone: warning: the orphan pid ");
        assert!(logs.contains(&format!(" {OOM}\n")), "{role}:\n{logs}");
        assert_eq!(c.inspect("{{.State.Running}}"), "true", "{role}:\n{logs}");
        // docker stop: SIGTERM through pidone, which says nothing new.
        let stopped = c.stop();
        assert_eq!(stopped.code, 143, "{role}:\n{}", c.logs());
        let logs = c.logs();
        assert_eq!(logs.matches("pidone: ").count(), 1, "{role}:\n{logs}");
    }
}

// ---------------------------------------------------------------------------
// pidone as Docker's init: `docker run --init` on a daemon of its own

/// A dockerd of the test's own, with pidone as `init-path`, stopped and wiped
/// when dropped. Nothing it uses is shared with the engine of the
/// environment: socket, data, state, pidfile, containerd namespace and
/// network namespace are its own, and it makes no bridge and no iptables
/// rules.
struct Daemon {
    child: Child,
    dir: PathBuf,
    log: PathBuf,
    docker: Docker,
    busybox: PathBuf,
}

impl Daemon {
    fn start(t: &Test, dockerd: &Path) -> Daemon {
        let id = format!("pidone-e2e-{}", process::id());
        let dir = env::temp_dir().join(format!("{id}-dockerd"));
        fs::create_dir_all(&dir).unwrap();
        let config = dir.join("daemon.json");
        let init = json_string(&t.prereqs.pidone.to_string_lossy());
        fs::write(&config, format!("{{\"init-path\": {init}}}\n")).unwrap();
        let log = dir.join("dockerd.log");
        let log_file = fs::File::create(&log).unwrap();
        let host = format!("unix://{}", dir.join("docker.sock").display());
        // In a network namespace of its own: with `--bridge none`, dockerd
        // deletes any interface named docker0 at start-up, which would cut
        // off every container of the environment's engine.
        let mut cmd = Command::new(&t.prereqs.busybox);
        cmd.args(["unshare", "-n"])
            .arg(dockerd)
            .arg("--config-file")
            .arg(&config)
            .args(["--host", &host])
            .arg("--data-root")
            .arg(dir.join("root"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .args(["--containerd-namespace", &id])
            .args(["--containerd-plugins-namespace", &format!("{id}-plugins")])
            .args([
                "--bridge",
                "none",
                "--iptables=false",
                "--ip-masq=false",
                "--ip-forward=false",
            ])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file);
        let started = Instant::now();
        let child = cmd
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", dockerd.display()));
        let mut daemon = Daemon {
            child,
            dir,
            log,
            docker: Docker { host: Some(host) },
            busybox: t.prereqs.busybox.clone(),
        };
        let up = poll(Duration::from_secs(60), || {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!("dockerd exited ({status}):\n{}", daemon.log_text());
            }
            daemon.docker.out(&["version"]).success().then_some(())
        });
        assert!(
            up.is_some(),
            "dockerd did not answer in 60 s:\n{}",
            daemon.log_text()
        );
        eprintln!(
            "[docker] dedicated dockerd (init-path {}) up in {:.1} s",
            t.prereqs.pidone.display(),
            started.elapsed().as_secs_f64()
        );
        daemon
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let busybox = || Command::new(&self.busybox);
        let _ = run_bounded(busybox().args(["kill", "-TERM", &pid]), COMMAND_LIMIT);
        if wait_bounded(&mut self.child, Duration::from_secs(30)).is_none() {
            eprintln!("[docker] dedicated dockerd ignored SIGTERM for 30 s; killed");
        }
        // Whatever it left mounted under its directories goes before they do,
        // deepest first; without that, removing them could reach into a mount.
        let prefix = format!("{}/", self.dir.display());
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut mounts: Vec<&str> = mountinfo
            .lines()
            .filter_map(|line| line.split(' ').nth(4))
            .filter(|point| point.starts_with(&prefix))
            .collect();
        mounts.sort_by_key(|point| std::cmp::Reverse(point.len()));
        for point in &mounts {
            let _ = run_bounded(busybox().args(["umount", "-l", point]), COMMAND_LIMIT);
        }
        if let Err(err) = fs::remove_dir_all(&self.dir) {
            eprintln!("[docker] cannot remove {}: {err}", self.dir.display());
        }
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn find_dockerd() -> Option<PathBuf> {
    let path = env::var_os("PATH").unwrap_or_default();
    env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/usr/local/bin"].map(PathBuf::from))
        .map(|dir| dir.join("dockerd"))
        .find(|candidate| candidate.is_file())
}

#[test]
fn docker_run_init_uses_pidone_from_daemon_init_path() {
    let Some(t) = begin("docker_run_init_uses_pidone_from_daemon_init_path") else {
        return;
    };
    if !is_root() {
        skip("docker", t.name, "a dockerd of the test's own needs root");
        return;
    }
    let Some(dockerd) = find_dockerd() else {
        skip("docker", t.name, "no dockerd found in PATH");
        return;
    };
    let daemon = Daemon::start(&t, &dockerd);
    let d = &daemon.docker;
    t.fx.import(d, &t.fx.base_tar, &t.fx.base).unwrap();
    let base = t.fx.base.as_str();

    // PID 1 is the daemon's init, and that is pidone. Docker mounts it at
    // /sbin/docker-init and runs `docker-init -- COMMAND ARGS...`.
    let c = Container::start(
        d,
        t.container_name("init"),
        &["--init", "--network", "none", base, "/e2e/signals"],
    );
    c.wait_for_log("ready");
    let cmdline = d.ok(&["exec", &c.name, "cat", "/proc/1/cmdline"]);
    let argv: Vec<&str> = cmdline.split('\0').filter(|a| !a.is_empty()).collect();
    assert_eq!(argv, ["/sbin/docker-init", "--", "/e2e/signals"], "PID 1");
    let pid1 = d.ok(&["exec", &c.name, "/proc/1/exe", "--version"]);
    assert_eq!(
        pid1, t.fx.version,
        "`/proc/1/exe --version` in the container"
    );
    for signal in ["USR1", "HUP"] {
        d.ok(&["kill", "--signal", signal, &c.name]);
        c.wait_for_log(&format!("got-{signal}"));
    }
    // Timed against an upper bound: one test at a time.
    let _turn = support::one_at_a_time();
    let stopped = c.stop();
    eprintln!(
        "[docker] docker stop, exec form, docker run --init with pidone: {:.2} s, exit {}",
        stopped.elapsed.as_secs_f64(),
        stopped.code
    );
    assert_eq!(stopped.code, 7, "{}", c.logs());
    assert!(stopped.elapsed < PROMPT, "stopped in {:?}", stopped.elapsed);
    for (script, want) in [("exit 3", 3), ("kill -TERM $$", 143)] {
        let args = [
            "--rm",
            "--init",
            "--network",
            "none",
            base,
            "sh",
            "-c",
            script,
        ];
        let (_c, out) = Container::run(d, t.container_name(&format!("exit-{want}")), &args);
        assert_eq!(
            out.code(),
            Some(want),
            "docker run --init sh -c {script:?}:\n{out}"
        );
    }

    // `docker info` runs `INIT --version` and keeps the part after " - git.".
    let info = d.ok(&["info"]);
    for line in info
        .lines()
        .filter(|l| l.contains("Init Binary") || l.contains("init version"))
    {
        eprintln!("[docker] docker info (pidone as init): {}", line.trim());
    }
    let init_binary = d.ok(&["info", "--format", "{{.InitBinary}}"]);
    assert_eq!(
        Path::new(&init_binary),
        t.prereqs.pidone,
        "docker info Init Binary"
    );
    let commit = t.fx.version.split(" - git.").nth(1).unwrap_or("");
    let init_commit = d.ok(&["info", "--format", "{{json .InitCommit}}"]);
    assert!(
        init_commit.contains(&format!("\"ID\":\"{commit}\"")),
        "docker info InitCommit {init_commit}, pidone says {:?}",
        t.fx.version
    );
    let log = daemon.log_text();
    let init_path = t.prereqs.pidone.to_string_lossy();
    let complaints: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains("unknown output format")
                || (l.contains(&*init_path)
                    && (l.contains("level=warn") || l.contains("level=error")))
        })
        .collect();
    assert!(
        complaints.is_empty(),
        "dockerd complained about its init:\n{}",
        complaints.join("\n")
    );
}
