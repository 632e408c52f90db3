//! The Debian packages, laid out here and built with `dpkg-deb`.
//!
//! Why not cargo-deb: a package of one static binary is a control file, a
//! copyright file, a changelog and a man page; dpkg-deb, part of dpkg on
//! every Debian-family machine, builds it in well under a second, where
//! installing cargo-deb compiles ~100 crates (minutes on CI's 2 CPUs). Here
//! the layout is explicit, the arm64 package needs nothing more than its
//! `Architecture` field, and both packages come from the very binaries that
//! `cargo xtask dist` has just checked.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::{run, Error};

/// One package to build.
pub struct Package<'a> {
    /// Debian's name for the architecture: amd64, arm64.
    pub arch: &'a str,
    /// The upstream version (0.1.0); the package is VERSION-1.
    pub version: &'a str,
    pub binary: &'a Path,
    /// The roff man page, gzipped into the package.
    pub man: &'a Path,
    pub readme: &'a Path,
    pub license: &'a Path,
    /// RFC 5322 date of the release's commit, for the changelog.
    pub date: &'a str,
    pub maintainer: &'a str,
}

const SUMMARY: &str = "small static init for containers";
const DESCRIPTION: &str = "\
pidone runs one command as PID 1 of a container: it forwards every signal
to the command (optionally rewritten), reaps every zombie re-parented to it,
lets the remaining processes finish before it exits, and exits with the
command's status. It is a drop-in for tini, dumb-init and catatonit, and can
be Docker's or Podman's init binary.";

/// Lintian's checks that do not fit an init made for containers, each with why.
const LINTIAN_OVERRIDES: &str = "\
# pidone is copied into images that may have no libc at all, and is Docker's
# init binary for any image: it must be static.
pidone: statically-linked-binary [usr/bin/pidone]
# Built non-PIE on purpose: a static binary at a fixed address needs no
# relocation, which makes it smaller and faster to start.
pidone: hardening-no-pie [usr/bin/pidone]
# Built by the project for its users, not uploaded to Debian: no ITP to close.
pidone: initial-upload-closes-no-bugs
";

/// Lays out `stage` and builds `out` from it.
pub fn build(p: &Package, stage: &Path, out: &Path) -> Result<(), Error> {
    let _ = fs::remove_dir_all(stage);
    let doc = stage.join("usr/share/doc/pidone");
    let man1 = stage.join("usr/share/man/man1");
    let overrides = stage.join("usr/share/lintian/overrides");
    for dir in [
        &stage.join("DEBIAN"),
        &stage.join("usr/bin"),
        &doc,
        &man1,
        &overrides,
    ] {
        fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    }
    install(&stage.join("usr/bin/pidone"), &read(p.binary)?, 0o755)?;
    install(&man1.join("pidone.1"), &read(p.man)?, 0o644)?;
    gzip(&man1.join("pidone.1"))?;
    install(&doc.join("README.md"), &read(p.readme)?, 0o644)?;
    install(
        &doc.join("copyright"),
        copyright(&String::from_utf8_lossy(&read(p.license)?)).as_bytes(),
        0o644,
    )?;
    install(
        &doc.join("changelog.Debian"),
        changelog(p).as_bytes(),
        0o644,
    )?;
    gzip(&doc.join("changelog.Debian"))?;
    install(
        &overrides.join("pidone"),
        LINTIAN_OVERRIDES.as_bytes(),
        0o644,
    )?;

    let installed_kib = du_kib(&stage.join("usr"))?;
    let control = format!(
        "Package: pidone\nVersion: {}-1\nArchitecture: {}\nMaintainer: {}\n\
         Installed-Size: {installed_kib}\nSection: admin\nPriority: optional\n\
         Description: {SUMMARY}\n{}\n",
        p.version,
        p.arch,
        p.maintainer,
        DESCRIPTION
            .lines()
            .map(|l| format!(" {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    install(&stage.join("DEBIAN/control"), control.as_bytes(), 0o644)?;
    let sums = run(std::process::Command::new("sh")
        .current_dir(stage)
        .args(["-c", "find usr -type f | LC_ALL=C sort | xargs md5sum"]))?;
    install(&stage.join("DEBIAN/md5sums"), sums.as_bytes(), 0o644)?;

    run(std::process::Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zxz", "--build"])
        .arg(stage)
        .arg(out))?;
    Ok(())
}

/// Debian's machine-readable copyright format, with the license text.
fn copyright(license: &str) -> String {
    let body: Vec<String> = license
        .lines()
        .skip_while(|l| !l.starts_with("Permission"))
        .map(|l| {
            if l.is_empty() {
                " .".to_owned()
            } else {
                format!(" {l}")
            }
        })
        .collect();
    format!(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: pidone\n\n\
         Files: *\nCopyright: 2026 the pidone authors\nLicense: MIT\n{}\n",
        body.join("\n")
    )
}

fn changelog(p: &Package) -> String {
    format!(
        "pidone ({}-1) unstable; urgency=medium\n\n  * Release {} (cargo xtask dist).\n\n -- {}  {}\n",
        p.version, p.version, p.maintainer, p.date
    )
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    fs::read(path).map_err(|e| Error::io("read", path, e))
}

fn install(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    fs::write(path, bytes).map_err(|e| Error::io("write", path, e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io("chmod", path, e))
}

/// `gzip -9n`: best compression, no name or time stamp (reproducible), as
/// Debian policy asks of man pages and changelogs.
fn gzip(path: &Path) -> Result<(), Error> {
    run(std::process::Command::new("gzip").args(["-9nf"]).arg(path)).map(drop)
}

fn du_kib(dir: &Path) -> Result<u64, Error> {
    let mut bytes = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(|e| Error::io("list", &dir, e))? {
            let entry = entry.map_err(|e| Error::io("list", &dir, e))?;
            let meta = entry
                .metadata()
                .map_err(|e| Error::io("stat", &entry.path(), e))?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                bytes += meta.len();
            }
        }
    }
    Ok(bytes.div_ceil(1024))
}
