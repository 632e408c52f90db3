//! pidone in Docker under an old-style seccomp profile (issue 16, points 1,
//! 2, 5 and 10): Docker's profiles before 20.10.10 answered EPERM, not
//! ENOSYS, for the system calls they did not know, pidfd_open,
//! pidfd_send_signal, close_range and clone3 among them. Given to
//! `docker run --security-opt seccomp=FILE`, that profile must cost pidone
//! nothing: `docker stop` is prompt and ends with the command's code, and
//! leftovers are drained.
//!
//! Needs an engine that answers `docker version`, a static pidone and a
//! static busybox, found as tests/docker.rs finds them (see
//! tests/containers). The image is a busybox root filesystem with pidone
//! and the scripts below, `docker import`ed: no registry, no build.
//! `PIDONE_E2E` says what a missing prerequisite means (see tests/support).

mod containers;
mod support;

use containers::{
    busybox_rootfs, pack, skip, static_busybox, static_pidone, version_of, COMMAND_LIMIT,
};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{self, Command};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;
use support::{e2e, poll, run_bounded, E2e, Outcome};

/// Docker's own 10 s stop timeout, passed explicitly.
const STOP_TIMEOUT: &str = "10";
/// "Promptly": well inside those 10 s, with room for a loaded machine.
const PROMPT: Duration = Duration::from_secs(5);
/// A bound for waiting on a container's output.
const PATIENCE: Duration = Duration::from_secs(20);

/// The old-style profile of the issue: everything allowed, the four calls
/// refused with EPERM.
const OLD_PROFILE: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["pidfd_open","pidfd_send_signal","close_range","clone3"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#;

/// Prints which signals reach it; exits 7 on SIGTERM.
const SIGNALS: &str = r#"#!/bin/sh
for sig in HUP USR1; do trap "echo got-$sig" "$sig"; done
trap 'echo got-TERM; exit 7' TERM
echo ready
while :; do sleep 1000 & wait $!; done
"#;

/// Leaves a worker in a session of its own (a signal to the command's group
/// misses it) that takes a second to clean up on SIGTERM, and one that
/// ignores SIGTERM; exits 3 once both are ready.
const LEAVE: &str = r#"#!/bin/sh
mkfifo /tmp/ready
setsid /e2e/worker /tmp/ready &
read x < /tmp/ready
setsid sh -c 'trap "" TERM; echo ready > /tmp/ready; exec sleep 1000' &
read x < /tmp/ready
echo leaving
exit 3
"#;

/// On SIGTERM, takes a second to finish its cleanup, printing both ends;
/// says `ready` into the FIFO $1 once its trap is set.
const WORKER: &str = r#"#!/bin/sh
trap 'echo cleanup-begin; sleep 1; echo cleanup-end; exit 0' TERM
echo worker-ready
echo ready > "$1"
while :; do sleep 1000 & wait $!; done
"#;

/// Starts /e2e/worker in a session of its own and waits; exits 0 on
/// SIGTERM.
const DRAIN: &str = r#"#!/bin/sh
mkfifo /tmp/ready
setsid /e2e/worker /tmp/ready &
read x < /tmp/ready
trap 'echo main-stopping; exit 0' TERM
echo ready
while :; do sleep 1000 & wait $!; done
"#;

fn docker(args: &[&str]) -> Outcome {
    run_bounded(Command::new("docker").args(args), COMMAND_LIMIT)
}

/// The image and the profile, made once and shared while a test holds them.
struct Fixture {
    image: String,
    dir: PathBuf,
    profile: PathBuf,
}

fn fixture(name: &str) -> Option<Arc<Fixture>> {
    if e2e() == E2e::Off {
        eprintln!("[docker-seccomp] {name}: SKIPPED: PIDONE_E2E=off");
        return None;
    }
    static PREREQS: OnceLock<Result<(PathBuf, PathBuf), String>> = OnceLock::new();
    let prereqs = PREREQS.get_or_init(|| {
        let engine = docker(&["version", "--format", "{{.Server.Version}}"]);
        if !engine.success() {
            return Err(format!(
                "no Docker engine answers `docker version`: {}",
                engine.stderr.lines().next().unwrap_or("no output")
            ));
        }
        Ok((static_pidone()?, static_busybox()?))
    });
    let (pidone, busybox) = match prereqs {
        Ok(found) => found,
        Err(why) => {
            skip("docker-seccomp", name, why);
            return None;
        }
    };
    static SHARED: Mutex<Option<Weak<Fixture>>> = Mutex::new(None);
    let made = containers::shared(&SHARED, || Fixture::create(pidone, busybox));
    Some(made.unwrap_or_else(|e| panic!("{name}: {e}")))
}

impl Fixture {
    fn create(pidone: &Path, busybox: &Path) -> Result<Fixture, String> {
        eprintln!(
            "[docker-seccomp] testing {}: {}",
            pidone.display(),
            version_of(pidone)?
        );
        let id = process::id();
        let dir = std::env::temp_dir().join(format!("pidone-e2e-seccomp-{id}"));
        let fixture = Fixture {
            image: format!("pidone-e2e-seccomp-{id}"),
            profile: dir.join("old-profile.json"),
            dir,
        };
        let rootfs = fixture.dir.join("rootfs");
        busybox_rootfs(&rootfs, busybox, Some(pidone))?;
        fs::create_dir_all(rootfs.join("e2e")).map_err(|e| format!("rootfs/e2e: {e}"))?;
        for (name, text) in [
            ("signals", SIGNALS),
            ("leave", LEAVE),
            ("worker", WORKER),
            ("drain", DRAIN),
        ] {
            let path = rootfs.join("e2e").join(name);
            fs::write(&path, text).map_err(|e| format!("{name}: {e}"))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
                .map_err(|e| format!("{name}: {e}"))?;
        }
        fs::write(&fixture.profile, OLD_PROFILE).map_err(|e| format!("profile: {e}"))?;
        let tar = fixture.dir.join("rootfs.tar");
        pack(&rootfs, &tar)?;
        let label = format!("LABEL pidone-e2e-seccomp={id}");
        let imported = docker(&[
            "import",
            "--change",
            &label,
            "--change",
            "ENV PATH=/usr/local/bin:/usr/bin:/bin",
            &tar.to_string_lossy(),
            &fixture.image,
        ]);
        if !imported.success() {
            return Err(format!("docker import failed:\n{imported}"));
        }
        Ok(fixture)
    }

    /// `docker run -d` of the image under the old profile, with `args`
    /// after the image.
    fn start(&self, test: &str, args: &[&str]) -> Container {
        let name = format!("pidone-e2e-seccomp-{}-{test}", process::id());
        let security = format!("seccomp={}", self.profile.display());
        let mut full = vec![
            "run",
            "-d",
            "--name",
            &name,
            "--security-opt",
            &security,
            &self.image,
        ];
        full.extend_from_slice(args);
        let container = Container { name: name.clone() };
        docker(&full).check();
        container
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = docker(&["rmi", "--force", &self.image]);
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A container, removed when dropped.
struct Container {
    name: String,
}

impl Container {
    fn logs(&self) -> String {
        let out = docker(&["logs", &self.name]);
        out.stdout + &out.stderr
    }

    fn wait_for_log(&self, needle: &str) -> String {
        poll(PATIENCE, || {
            let logs = self.logs();
            logs.contains(needle).then_some(logs)
        })
        .unwrap_or_else(|| {
            panic!(
                "no {needle:?} from {} in {PATIENCE:?}:\n{}",
                self.name,
                self.logs()
            )
        })
    }

    /// `docker stop -t 10`, timed; the exit code.
    fn stop(&self) -> (Duration, i32) {
        let out = docker(&["stop", "--time", STOP_TIMEOUT, &self.name]).check();
        (out.elapsed, self.exit_code())
    }

    /// Waits (bounded) for the container to exit by itself; its code.
    fn wait(&self) -> (Duration, i32) {
        let out = run_bounded(
            Command::new("docker").args(["wait", &self.name]),
            Duration::from_secs(30),
        );
        assert!(out.success(), "docker wait {}:\n{out}", self.name);
        (out.elapsed, self.exit_code())
    }

    fn exit_code(&self) -> i32 {
        let out = docker(&["inspect", "--format", "{{.State.ExitCode}}", &self.name]);
        out.stdout
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("exit code of {}:\n{out}", self.name))
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "--force", &self.name]);
    }
}

/// Issue 16, point 2: `pidone -c -- APP` under the old profile. Every
/// forwarded signal used to be lost (pidfd_send_signal refused): `docker
/// stop -t 3` took the full 3 s and ended in 137. Now the signals go by
/// kill(2): USR1 and HUP arrive, and `docker stop` is prompt and ends with
/// APP's own code.
#[test]
fn old_profile_single_child_docker_stop_is_prompt() {
    let Some(fx) = fixture("old_profile_single_child_docker_stop_is_prompt") else {
        return;
    };
    let c = fx.start("single-child", &["pidone", "-c", "--", "/e2e/signals"]);
    c.wait_for_log("ready");
    for signal in ["USR1", "HUP"] {
        docker(&["kill", "--signal", signal, &c.name]).check();
        c.wait_for_log(&format!("got-{signal}"));
    }
    let _turn = support::one_at_a_time();
    let (took, code) = c.stop();
    eprintln!(
        "[docker-seccomp] docker stop, pidone -c, old profile: {:.2} s, exit {code}",
        took.as_secs_f64()
    );
    let logs = c.logs();
    assert!(logs.contains("got-TERM"), "no SIGTERM reached APP:\n{logs}");
    assert_eq!(code, 7, "APP's own code from its trap:\n{logs}");
    assert!(took < PROMPT, "docker stop took {took:?}:\n{logs}");
}

/// Issue 16, points 1, 5 and 10: the command exits 3 and leaves a worker
/// that cleans up on SIGTERM and a process that ignores it. Under the old
/// profile the drain still reaches both, with pidone as PID 1 and as a
/// subreaper under `sh` (where it walks its descendants and used to find
/// none, then hang): the worker finishes its cleanup, the other is killed
/// after the grace, and pidone exits 3 within the grace and the bounded
/// wait after SIGKILL.
#[test]
fn old_profile_drain_reaches_the_leftovers() {
    let Some(fx) = fixture("old_profile_drain_reaches_the_leftovers") else {
        return;
    };
    let _turn = support::one_at_a_time();
    let pidone = "pidone -v --grace 3s -- /e2e/leave";
    let subreaper = format!("{pidone}; exit $?");
    let runs: [(&str, Vec<&str>); 2] = [
        ("pid1", pidone.split(' ').collect()),
        ("subreaper", vec!["sh", "-c", &subreaper]),
    ];
    for (mode, args) in runs {
        let c = fx.start(&format!("drain-{mode}"), &args);
        let (took, code) = c.wait();
        let logs = c.logs();
        eprintln!(
            "[docker-seccomp] drain under the old profile, {mode}: exit {code} {:.2} s after docker wait began; output:\n{logs}",
            took.as_secs_f64()
        );
        assert_eq!(code, 3, "{mode}: the command's code:\n{logs}");
        assert!(
            logs.contains("cleanup-end"),
            "{mode}: the worker's cleanup did not finish:\n{logs}"
        );
        // 3 s of grace and 2 s after SIGKILL at most, with room.
        assert!(
            took < Duration::from_secs(12),
            "{mode}: the drain took {took:?}:\n{logs}"
        );
    }
}

/// Issue 16, points 1, 2 and 10: `docker stop` of the default (group)
/// forwarding under the old profile: the command stops on its SIGTERM,
/// the worker it left in a session of its own gets the drain's and
/// finishes its cleanup, the container exits with the command's 0.
#[test]
fn old_profile_docker_stop_drains_a_detached_worker() {
    let Some(fx) = fixture("old_profile_docker_stop_drains_a_detached_worker") else {
        return;
    };
    let c = fx.start("stop-drain", &["pidone", "-v", "--", "/e2e/drain"]);
    c.wait_for_log("ready");
    let _turn = support::one_at_a_time();
    let (took, code) = c.stop();
    let logs = c.logs();
    eprintln!(
        "[docker-seccomp] docker stop with a detached worker, old profile: {:.2} s, exit {code}",
        took.as_secs_f64()
    );
    assert!(
        logs.contains("main-stopping"),
        "the command got no SIGTERM:\n{logs}"
    );
    assert!(
        logs.contains("cleanup-end"),
        "the worker's cleanup did not finish:\n{logs}"
    );
    assert_eq!(code, 0, "the command's code:\n{logs}");
    assert!(took < PROMPT, "docker stop took {took:?}:\n{logs}");
}
