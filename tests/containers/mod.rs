//! Helpers for the tests that drive a container engine (tests/docker.rs,
//! tests/podman.rs, tests/docker_pod.rs), on top of tests/support (bounded
//! commands that print everything when they fail, /proc parsing): the
//! static binaries an image needs, a busybox root filesystem, and what a
//! missing prerequisite means.
//!
//! - pidone: `$PIDONE_STATIC_BIN`, else
//!   `target/x86_64-unknown-linux-musl/release/pidone`, made by
//!   `cargo build --release --target x86_64-unknown-linux-musl` (`.ci/run`
//!   builds it before `cargo test`). A binary older than a `.rs` file under
//!   `src/` counts as missing, so a stale one is never tested by mistake.
//! - busybox: `$PIDONE_E2E_BUSYBOX`, else `/bin/busybox` (Debian's
//!   `busybox-static`).
//!
//! `PIDONE_E2E` says what a missing prerequisite means: unset, a test prints
//! `SKIPPED: ...` and passes; `require`, it fails; `off`, every test skips.

use crate::support::{e2e, parse_stat, run_bounded, E2e, Stat};
use std::env;
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

const TARGET: &str = "x86_64-unknown-linux-musl";

/// A bound for one engine command.
pub const COMMAND_LIMIT: Duration = Duration::from_secs(60);
/// A bound for waiting on a container's output or processes.
#[allow(dead_code)] // not every engine test uses it
pub const PATIENCE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// Prerequisites

/// Ends a test that cannot run: a skip, or under PIDONE_E2E=require a failure.
pub fn skip(tag: &str, test: &str, why: &str) {
    assert!(
        e2e() != E2e::Require,
        "{test}: PIDONE_E2E=require, but {why}"
    );
    eprintln!("[{tag}] {test}: SKIPPED: {why}");
}

#[allow(dead_code)] // not every engine test uses it
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The static pidone to put in images; see the top of the file.
pub fn static_pidone() -> Result<PathBuf, String> {
    if let Some(bin) = env::var_os("PIDONE_STATIC_BIN") {
        let bin = PathBuf::from(bin);
        check_static(&bin, "PIDONE_STATIC_BIN")?;
        return Ok(bin);
    }
    let target_dir = match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => repo().join(dir),
        None => repo().join("target"),
    };
    let bin = target_dir.join(TARGET).join("release/pidone");
    let build = format!(
        "build it with `cargo build --release --target {TARGET}`, or set PIDONE_STATIC_BIN"
    );
    let built =
        modified(&bin).ok_or_else(|| format!("no static pidone at {}: {build}", bin.display()))?;
    if newest_rust_source(&repo().join("src")).is_some_and(|source| source > built) {
        return Err(format!(
            "{} is older than the sources: {build}",
            bin.display()
        ));
    }
    check_static(&bin, "the release build")?;
    Ok(bin)
}

/// The static busybox to build root filesystems from; see the top of the file.
pub fn static_busybox() -> Result<PathBuf, String> {
    let busybox = env::var_os("PIDONE_E2E_BUSYBOX")
        .map_or_else(|| PathBuf::from("/bin/busybox"), PathBuf::from);
    check_static(&busybox, "busybox (Debian: apt-get install busybox-static)")?;
    Ok(busybox)
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|meta| meta.modified()).ok()
}

/// The latest modification time of a `.rs` file under `dir`.
fn newest_rust_source(dir: &Path) -> Option<SystemTime> {
    fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                newest_rust_source(&path)
            } else if path.extension() == Some(OsStr::new("rs")) {
                modified(&path)
            } else {
                None
            }
        })
        .max()
}

/// Fails unless `path` is an executable ELF with no program interpreter:
/// the only kind that runs in any image, or bind-mounted as an init.
pub fn check_static(path: &Path, what: &str) -> Result<(), String> {
    let bytes =
        fs::read(path).map_err(|err| format!("{what}: cannot read {}: {err}", path.display()))?;
    let field = |at: usize, len: usize| -> Option<u64> {
        let raw = bytes.get(at..at + len)?;
        Some(raw.iter().rev().fold(0, |acc, &b| acc << 8 | u64::from(b)))
    };
    // ELF64, little-endian: e_phoff at 0x20, e_phentsize at 0x36, e_phnum at 0x38 (elf(5)).
    if !bytes.starts_with(b"\x7fELF\x02\x01") {
        return Err(format!(
            "{what}: {} is not a 64-bit little-endian ELF executable",
            path.display()
        ));
    }
    let table = (field(0x20, 8), field(0x36, 2), field(0x38, 2));
    let (Some(phoff), Some(entsize), Some(count)) = table else {
        return Err(format!(
            "{what}: {} has a truncated ELF header",
            path.display()
        ));
    };
    const PT_INTERP: u64 = 3;
    let dynamic = (0..count).any(|i| field((phoff + i * entsize) as usize, 4) == Some(PT_INTERP));
    if dynamic {
        return Err(format!(
            "{what}: {} is dynamically linked; containers need a static one",
            path.display()
        ));
    }
    Ok(())
}

/// What `pidone --version` prints.
pub fn version_of(pidone: &Path) -> Result<String, String> {
    let out = run_bounded(Command::new(pidone).arg("--version"), COMMAND_LIMIT);
    if !out.success() {
        return Err(format!("pidone --version failed:\n{out}"));
    }
    Ok(out.stdout.trim().to_owned())
}

// ---------------------------------------------------------------------------
// Root filesystems

/// Makes a root filesystem in `dir`: busybox and its applets in /bin, the
/// static pidone (if given) at /usr/local/bin/pidone, and the usual empty
/// directories.
pub fn busybox_rootfs(dir: &Path, busybox: &Path, pidone: Option<&Path>) -> Result<(), String> {
    let io = |what: &str| {
        let what = what.to_owned();
        move |err: io::Error| format!("{what}: {err}")
    };
    for sub in ["bin", "usr/local/bin", "etc", "tmp", "proc", "sys", "dev"] {
        fs::create_dir_all(dir.join(sub)).map_err(io("rootfs"))?;
    }
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777))
        .map_err(io("rootfs/tmp"))?;
    fs::copy(busybox, dir.join("bin/busybox")).map_err(io("busybox"))?;
    if let Some(pidone) = pidone {
        fs::copy(pidone, dir.join("usr/local/bin/pidone")).map_err(io("pidone"))?;
    }
    let applets = run_bounded(Command::new(busybox).arg("--list"), COMMAND_LIMIT);
    if !applets.success() {
        return Err(format!("busybox --list:\n{applets}"));
    }
    for applet in applets
        .stdout
        .lines()
        .filter(|a| !a.is_empty() && *a != "busybox")
    {
        symlink("busybox", dir.join("bin").join(applet)).map_err(io(applet))?;
    }
    Ok(())
}

/// Packs `rootfs` into `tar`, owned by root, for `podman import` or
/// `docker import`.
pub fn pack(rootfs: &Path, tar: &Path) -> Result<(), String> {
    let mut pack = Command::new("tar");
    pack.args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
        .arg(rootfs)
        .arg("-cf")
        .arg(tar)
        .arg(".");
    let packed = run_bounded(&mut pack, COMMAND_LIMIT);
    if !packed.success() {
        return Err(format!("packing the root filesystem failed:\n{packed}"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Reading what a container shows

/// The number after `prefix` on the first line that starts with it.
#[allow(dead_code)] // not every engine test uses it
pub fn number_after(text: &str, prefix: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(prefix)?;
        let digits: String = rest
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    })
}

/// Parses `cat /proc/[0-9]*/stat` output.
#[allow(dead_code)] // not every engine test uses it
pub fn parse_stats(text: &str) -> Vec<Stat> {
    text.lines().filter_map(parse_stat).collect()
}

/// Prints each test's verdict and duration when dropped.
#[allow(dead_code)] // not every engine test uses it
pub struct Timer {
    pub tag: &'static str,
    pub name: &'static str,
    pub started: Instant,
}

#[allow(dead_code)] // not every engine test uses it
impl Timer {
    pub fn new(tag: &'static str, name: &'static str) -> Timer {
        Timer {
            tag,
            name,
            started: Instant::now(),
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        let verdict = if thread::panicking() {
            "FAILED"
        } else {
            "passed"
        };
        eprintln!(
            "[{}] {}: {verdict} in {:.1} s",
            self.tag,
            self.name,
            self.started.elapsed().as_secs_f64()
        );
    }
}

/// The fixture in `slot` while any test still holds it, else a new one from
/// `make`: images are built once per run and removed when the last test
/// using them lets go.
#[allow(dead_code)] // not every engine test uses it
pub fn shared<T>(
    slot: &Mutex<Option<Weak<T>>>,
    make: impl FnOnce() -> Result<T, String>,
) -> Result<Arc<T>, String> {
    let mut shared = slot.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(fixture) = shared.as_ref().and_then(Weak::upgrade) {
        return Ok(fixture);
    }
    let fixture = Arc::new(make()?);
    *shared = Some(Arc::downgrade(&fixture));
    Ok(fixture)
}
