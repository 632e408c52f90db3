//! pidone's release tasks, as `cargo xtask TASK` (the alias is in
//! `.cargo/config.toml`):
//!
//! - `dist`: every release artefact, checked, in `target/dist/`: the static
//!   binaries, the man page, the Debian packages, the container image (an
//!   OCI archive for linux/amd64 and linux/arm64) and SHA256SUMS.
//! - `man`: the man page, on stdout.
//! - `publish [--tls-verify=false] REGISTRY`: pushes the image that `dist`
//!   built to `REGISTRY/pidone:VERSION`.
//!
//! It only builds and checks; `.ci/release.sh` proves that what it built
//! runs, and `.ci/image.sh` takes the image through a registry.

mod deb;
mod elf;
mod image;
mod man;

use std::env;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// A release target: its Rust triple, ELF machine, Debian architecture
/// (None: no package for it) and container platform (None: not in the
/// image).
struct Target {
    triple: &'static str,
    machine: u16,
    deb_arch: Option<&'static str>,
    image_platform: Option<&'static str>,
}

const TARGETS: [Target; 3] = [
    Target {
        triple: "x86_64-unknown-linux-musl",
        machine: elf::EM_X86_64,
        deb_arch: Some("amd64"),
        image_platform: Some("linux/amd64"),
    },
    Target {
        triple: "aarch64-unknown-linux-musl",
        machine: elf::EM_AARCH64,
        deb_arch: Some("arm64"),
        image_platform: Some("linux/arm64"),
    },
    Target {
        triple: "i686-unknown-linux-musl",
        machine: elf::EM_386,
        deb_arch: None,
        image_platform: None,
    },
];

/// The size each binary must stay under (issue 12): 700 KB.
const MAX_BYTES: u64 = 700_000;

/// A task that failed, with what it was doing.
#[derive(Debug)]
pub enum Error {
    Io {
        what: &'static str,
        path: PathBuf,
        err: io::Error,
    },
    Command {
        shown: String,
        status: String,
        stdout: String,
        stderr: String,
    },
    Check(String),
}

impl Error {
    pub fn io(what: &'static str, path: &Path, err: io::Error) -> Error {
        Error::Io {
            what,
            path: path.to_owned(),
            err,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { what, path, err } => write!(f, "cannot {what} {}: {err}", path.display()),
            Error::Command {
                shown,
                status,
                stdout,
                stderr,
            } => write!(
                f,
                "command failed: {shown}\nstatus: {status}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
            ),
            Error::Check(why) => f.write_str(why),
        }
    }
}

/// Runs `cmd` to its end; its stdout, or everything it said if it failed.
pub fn run(cmd: &mut Command) -> Result<String, Error> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|err| Error::Command {
        shown: shown.clone(),
        status: format!("not started: {err}"),
        stdout: String::new(),
        stderr: String::new(),
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(Error::Command {
            shown,
            status: out.status.to_string(),
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(stdout)
}

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["dist"] => dist(),
        ["publish", registry] => publish(registry, true),
        ["publish", "--tls-verify=false", registry] => publish(registry, false),
        ["man"] => version().and_then(|v| {
            io::stdout()
                .write_all(&man::page(&v))
                .map_err(|e| Error::io("write", Path::new("stdout"), e))
        }),
        _ => {
            eprintln!(
                "usage: cargo xtask dist | cargo xtask man | cargo xtask publish [--tls-verify=false] REGISTRY"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ is inside the workspace")
        .to_owned()
}

fn target_dir() -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root().join(dir),
        None => root().join("target"),
    }
}

/// pidone's version, from the `[package]` table of its Cargo.toml.
fn version() -> Result<String, Error> {
    package_field("version")?
        .ok_or_else(|| Error::Check("no version line in Cargo.toml".to_owned()))
}

/// A string field of the `[package]` table of pidone's Cargo.toml (the
/// first `KEY = "..."` line: the table comes first), if it is there.
fn package_field(key: &str) -> Result<Option<String>, Error> {
    let manifest = root().join("Cargo.toml");
    let text = fs::read_to_string(&manifest).map_err(|e| Error::io("read", &manifest, e))?;
    let prefix = format!("{key} = \"");
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.strip_suffix('"'))
        .map(str::to_owned))
}

fn dist() -> Result<(), Error> {
    let version = version()?;
    let target_dir = target_dir();
    let dist = target_dir.join("dist");
    if dist.exists() {
        fs::remove_dir_all(&dist).map_err(|e| Error::io("remove", &dist, e))?;
    }
    fs::create_dir_all(&dist).map_err(|e| Error::io("create", &dist, e))?;

    // One cargo for the three targets: it builds them in parallel.
    let mut cargo = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.current_dir(root()).args([
        "build",
        "--release",
        "--locked",
        "--package",
        "pidone",
        "--bin",
        "pidone",
    ]);
    for t in &TARGETS {
        cargo.args(["--target", t.triple]);
    }
    let linker = "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER";
    if env::consts::ARCH != "aarch64" && env::var_os(linker).is_none() {
        cargo.env(linker, "aarch64-linux-gnu-gcc");
    }
    eprintln!("xtask: {cargo:?}");
    let status = cargo
        .status()
        .map_err(|e| Error::Check(format!("cannot run cargo: {e}")))?;
    if !status.success() {
        return Err(Error::Check(format!("cargo build: {status}")));
    }

    let mut binaries = Vec::new();
    for t in &TARGETS {
        let built = target_dir.join(t.triple).join("release/pidone");
        let bytes = fs::read(&built).map_err(|e| Error::io("read", &built, e))?;
        check_binary(t, &built, &bytes)?;
        let name = dist.join(format!("pidone-{version}-{}", t.triple));
        fs::copy(&built, &name).map_err(|e| Error::io("copy to", &name, e))?;
        binaries.push((t, name));
    }

    let man_path = dist.join("pidone.1");
    fs::write(&man_path, man::page(&version)).map_err(|e| Error::io("write", &man_path, e))?;

    let maintainer = maintainer();
    let date = git(&["log", "-1", "--format=%aD"])
        .or_else(|| run(Command::new("date").arg("-R")).ok())
        .unwrap_or_default();
    for (t, binary) in &binaries {
        let Some(arch) = t.deb_arch else { continue };
        let package = deb::Package {
            arch,
            version: &version,
            binary,
            man: &man_path,
            readme: &root().join("README.md"),
            license: &root().join("LICENSE"),
            date: date.trim(),
            maintainer: &maintainer,
        };
        let out = dist.join(format!("pidone_{version}-1_{arch}.deb"));
        deb::build(
            &package,
            &target_dir.join("xtask").join(format!("deb-{arch}")),
            &out,
        )?;
    }

    let image_path = dist.join(image::archive_name(&version));
    let digest = build_image(&version, &target_dir, &binaries, &image_path)?;

    let sums = run(Command::new("sh")
        .current_dir(&dist)
        .args(["-c", "LC_ALL=C ls | grep -vx SHA256SUMS | xargs sha256sum"]))?;
    let sums_path = dist.join("SHA256SUMS");
    fs::write(&sums_path, &sums).map_err(|e| Error::io("write", &sums_path, e))?;

    println!("{}:", dist.display());
    let mut names: Vec<_> = fs::read_dir(&dist)
        .map_err(|e| Error::io("list", &dist, e))?
        .flatten()
        .collect();
    names.sort_by_key(|e| e.file_name());
    for entry in names {
        let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
        println!("  {:>9}  {}", len, entry.file_name().to_string_lossy());
    }
    println!("image index: {digest}");
    Ok(())
}

/// The image of the binaries that have a container platform; the digest of
/// its list.
fn build_image(
    version: &str,
    target_dir: &Path,
    binaries: &[(&Target, PathBuf)],
    out: &Path,
) -> Result<String, Error> {
    let licenses = package_field("license")?.unwrap_or_default();
    let description = package_field("description")?.unwrap_or_default();
    let source = package_field("repository")?
        .unwrap_or_else(|| "https://crates.io/crates/pidone".to_owned());
    let revision = git(&["rev-parse", "HEAD"]).map(|s| s.trim().to_owned());
    // The files' mtimes and the images' creation time: SOURCE_DATE_EPOCH
    // when set, else the commit's time.
    let timestamp = env::var("SOURCE_DATE_EPOCH")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| git(&["log", "-1", "--format=%ct"]))
        .map(|s| s.trim().to_owned());
    let labels = image::Labels {
        version,
        revision: revision.as_deref(),
        source: &source,
        licenses: &licenses,
        description: &description,
    };
    let platforms: Vec<_> = binaries
        .iter()
        .filter_map(|(t, binary)| {
            Some(image::Platform {
                platform: t.image_platform?,
                binary,
            })
        })
        .collect();
    image::build(
        version,
        &labels,
        timestamp.as_deref(),
        &platforms,
        &root().join("LICENSE"),
        &target_dir.join("xtask/image"),
        out,
    )
}

/// `cargo xtask publish`: the image of this version, from `target/dist/`.
fn publish(registry: &str, tls_verify: bool) -> Result<(), Error> {
    let version = version()?;
    image::publish(&target_dir().join("dist"), &version, registry, tls_verify)
}

/// The checks every shipped binary passes: right machine, static, non-PIE,
/// stripped, small.
fn check_binary(t: &Target, path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let facts = elf::read(bytes).map_err(|e| Error::Check(format!("{}: {e}", path.display())))?;
    let mut wrong = Vec::new();
    if facts.machine != t.machine {
        wrong.push(format!(
            "ELF machine {} instead of {}",
            facts.machine, t.machine
        ));
    }
    if facts.interpreter || facts.dynamic {
        wrong.push("not static (it has an interpreter or a dynamic section)".to_owned());
    }
    if !facts.fixed_address {
        wrong.push("position-independent (want relocation-model=static)".to_owned());
    }
    if facts.symbols {
        wrong.push("not stripped".to_owned());
    }
    if bytes.len() as u64 >= MAX_BYTES {
        wrong.push(format!("{} bytes, not under {MAX_BYTES}", bytes.len()));
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(Error::Check(format!(
            "{}: {}",
            path.display(),
            wrong.join("; ")
        )))
    }
}

/// Who the packages name as maintainer: `PIDONE_DEB_MAINTAINER`, else the
/// author of the commit being released.
fn maintainer() -> String {
    env::var("PIDONE_DEB_MAINTAINER")
        .ok()
        .filter(|m| !m.trim().is_empty())
        .or_else(|| git(&["log", "-1", "--format=%an <%ae>"]))
        .map(|m| m.trim().to_owned())
        .unwrap_or_else(|| "pidone authors <pidone@invalid>".to_owned())
}

fn git(args: &[&str]) -> Option<String> {
    run(Command::new("git").current_dir(root()).args(args))
        .ok()
        .filter(|s| !s.trim().is_empty())
}
