//! The pod model on Docker: a pause container running `pidone -P` and an app
//! container that joins its PID namespace (`--pid container:PAUSE`), as a
//! Kubernetes pod with `shareProcessNamespace: true` or a podman pod with
//! `--share +pid` has it.
//!
//! Needs an engine that answers `docker version`, a static pidone and a static
//! busybox (see tests/containers/mod.rs, and `PIDONE_E2E`). The image is a
//! busybox root filesystem plus pidone at /usr/local/bin/pidone, `docker
//! import`ed; no registry is used. Every container and image carries this
//! process's id in its name or label, and Drop guards remove them, also when
//! the test fails.

mod containers;
mod support;

use containers::{
    busybox_rootfs, pack, parse_stats, skip, static_busybox, static_pidone, version_of, Timer,
    COMMAND_LIMIT, PATIENCE,
};
use std::fs;
use std::process::{self, Command};
use std::time::{Duration, Instant};
use support::{e2e, poll, run_bounded, E2e, Outcome, Stat};

const TAG: &str = "docker-pod";
/// Docker's default stop timeout, passed explicitly.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// "Promptly": half the stop timeout.
const PROMPT: Duration = Duration::from_secs(5);
const ORPHANS: usize = 100;

fn docker(args: &[&str]) -> Outcome {
    let mut cmd = Command::new("docker");
    cmd.args(args);
    run_bounded(&mut cmd, COMMAND_LIMIT)
}

fn ok(args: &[&str]) -> String {
    docker(args).check().stdout.trim().to_owned()
}

fn logs(name: &str) -> String {
    let o = docker(&["logs", name]);
    o.stdout + &o.stderr
}

/// Removes containers and images when dropped, also when the test fails.
struct Cleanup {
    id: String,
    dir: std::path::PathBuf,
    containers: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for name in self.containers.iter().rev() {
            let _ = docker(&["rm", "--force", "--volumes", name]);
        }
        let label = format!("label=pidone-e2e={}", self.id);
        let listed = docker(&["images", "--quiet", "--filter", &label]);
        for image in listed.stdout.split_whitespace() {
            let _ = docker(&["rmi", "--force", image]);
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The processes of the shared PID namespace, as the pause container's
/// /proc shows them.
fn processes(pause: &str) -> Vec<Stat> {
    let listed = docker(&[
        "exec",
        pause,
        "sh",
        "-c",
        "cat /proc/[0-9]*/stat 2>/dev/null",
    ]);
    parse_stats(&listed.stdout)
}

/// The orphans: `sleep`s whose parent is PID 1 of the namespace, the pause.
fn orphans(procs: &[Stat]) -> Vec<i32> {
    procs
        .iter()
        .filter(|p| p.ppid == 1 && p.comm == "sleep")
        .map(|p| p.pid)
        .collect()
}

#[test]
fn pidone_pause_container_reaps_orphans_of_a_joined_app_container() {
    let name = "pidone_pause_container_reaps_orphans_of_a_joined_app_container";
    let _timer = Timer::new(TAG, name);
    if e2e() == E2e::Off {
        eprintln!("[{TAG}] {name}: SKIPPED: PIDONE_E2E=off");
        return;
    }
    let engine = docker(&["version", "--format", "{{.Server.Version}}"]);
    if !engine.success() {
        let why = engine.stderr.lines().find(|l| !l.trim().is_empty());
        let why = format!(
            "no Docker engine answers `docker version`: {}",
            why.unwrap_or("no output").trim()
        );
        skip(TAG, name, &why);
        return;
    }
    let (pidone, busybox) = match (static_pidone(), static_busybox()) {
        (Ok(pidone), Ok(busybox)) => (pidone, busybox),
        (Err(why), _) | (_, Err(why)) => {
            skip(TAG, name, &why);
            return;
        }
    };
    let version = version_of(&pidone).unwrap_or_else(|err| panic!("{err}"));

    let id = process::id().to_string();
    let dir = std::env::temp_dir().join(format!("pidone-e2e-docker-pod-{id}"));
    let mut cleanup = Cleanup {
        id: id.clone(),
        dir: dir.clone(),
        containers: Vec::new(),
    };
    let image = format!("pidone-e2e-{id}-pod");
    let rootfs = dir.join("rootfs");
    busybox_rootfs(&rootfs, &busybox, Some(&pidone)).unwrap_or_else(|err| panic!("{err}"));
    let tar = dir.join("rootfs.tar");
    pack(&rootfs, &tar).unwrap_or_else(|err| panic!("{err}"));
    let label = format!("pidone-e2e={id}");
    ok(&[
        "import",
        "--change",
        &format!("LABEL {label}"),
        "--change",
        "ENV PATH=/bin",
        &tar.to_string_lossy(),
        &image,
    ]);
    eprintln!(
        "[{TAG}] testing {} ({version}) on Docker {}",
        pidone.display(),
        engine.stdout.trim()
    );

    let pause = format!("pidone-e2e-{id}-pause");
    let app = format!("pidone-e2e-{id}-app");
    cleanup.containers.push(pause.clone());
    ok(&[
        "run",
        "-d",
        "--name",
        &pause,
        "--label",
        &label,
        "--network",
        "none",
        "--entrypoint",
        "/usr/local/bin/pidone",
        &image,
        "-P",
    ]);
    let pid1 = ok(&["exec", &pause, "/proc/1/exe", "--version"]);
    assert_eq!(pid1, version, "PID 1 of the pause container");

    // The app leaves ORPHANS children of subshells that exit at once: each
    // is re-parented to PID 1 of the shared namespace, the pause.
    let script = format!(
        "i=0; while [ \"$i\" -lt {ORPHANS} ]; do (sleep 1000 &); i=$((i + 1)); done; \
         echo spawned; exec sleep 1000"
    );
    cleanup.containers.push(app.clone());
    let pid_mode = format!("container:{pause}");
    ok(&[
        "run",
        "-d",
        "--name",
        &app,
        "--label",
        &label,
        "--network",
        "none",
        "--pid",
        &pid_mode,
        &image,
        "sh",
        "-c",
        &script,
    ]);
    let seen = poll(PATIENCE, || logs(&app).contains("spawned").then_some(()));
    assert!(
        seen.is_some(),
        "the app never said spawned:\n{}",
        logs(&app)
    );
    let adopted = poll(PATIENCE, || {
        let found = orphans(&processes(&pause));
        (found.len() == ORPHANS).then_some(found)
    })
    .unwrap_or_else(|| {
        panic!(
            "the pause should have {ORPHANS} orphans; it has {}",
            orphans(&processes(&pause)).len()
        )
    });

    // They die; only the pause can reap them.
    let started = Instant::now();
    let pids: Vec<String> = adopted.iter().map(i32::to_string).collect();
    ok(&[
        "exec",
        &pause,
        "sh",
        "-c",
        &format!("kill {}", pids.join(" ")),
    ]);
    let reaped = poll(PATIENCE, || {
        let procs = processes(&pause);
        let left = procs
            .iter()
            .any(|p| p.state == 'Z' || (p.ppid == 1 && p.comm == "sleep"));
        (!left && !procs.is_empty()).then_some(())
    });
    let left: Vec<(i32, char, i32)> = processes(&pause)
        .iter()
        .filter(|p| p.state == 'Z' || p.ppid == 1)
        .map(|p| (p.pid, p.state, p.ppid))
        .collect();
    assert!(
        reaped.is_some(),
        "orphans or zombies (pid, state, ppid) left {PATIENCE:?} after SIGTERM: {left:?}"
    );
    eprintln!(
        "[{TAG}] pidone -P in a pause container reaped {ORPHANS} orphans of the joined app container {:.2} s after they were sent SIGTERM",
        started.elapsed().as_secs_f64()
    );

    // Stopping the app leaves the pause, and the namespace, in place.
    let timeout = STOP_TIMEOUT.as_secs().to_string();
    let app_stop = docker(&["stop", "--time", &timeout, &app]).check();
    let app_code = ok(&["inspect", "--format", "{{.State.ExitCode}}", &app]);
    let running = ok(&["inspect", "--format", "{{.State.Running}}", &pause]);
    let still_pid1 = ok(&["exec", &pause, "/proc/1/exe", "--version"]);
    let pause_stop = docker(&["stop", "--time", &timeout, &pause]).check();
    let pause_code = ok(&["inspect", "--format", "{{.State.ExitCode}}", &pause]);
    eprintln!(
        "[{TAG}] docker stop --time {timeout}: app (joined) {:.2} s, exit {app_code}; then the pause {:.2} s, exit {pause_code}",
        app_stop.elapsed.as_secs_f64(),
        pause_stop.elapsed.as_secs_f64()
    );
    assert_eq!(running, "true", "the pause after docker stop of the app");
    assert_eq!(still_pid1, version, "PID 1 after docker stop of the app");
    assert!(
        app_stop.elapsed < PROMPT,
        "docker stop of the app: {app_stop}"
    );
    assert_eq!(pause_code, "0", "pidone -P exits 0 on SIGTERM");
    assert!(
        pause_stop.elapsed < PROMPT,
        "docker stop of the pause: {pause_stop}"
    );
}
