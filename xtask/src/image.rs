//! The release's container image, built with podman and published with
//! skopeo: `FROM scratch`, holding `/pidone` and `/LICENSE`, for linux/amd64
//! and linux/arm64, from the very binaries `cargo xtask dist` has just
//! checked. It is written to `target/dist/` as an OCI archive (an image
//! index and its two images), which `cargo xtask publish REGISTRY` copies,
//! digests unchanged, to any registry.
//!
//! Only real tools write the image format: `podman build --platform ...
//! --manifest` makes the images and their list, `podman manifest push
//! --format oci` writes the archive, `skopeo copy --all --preserve-digests`
//! pushes it. Nothing here writes JSON or tar.
//!
//! Reproducible: `--timestamp` (the release commit's time) fixes the
//! images' creation time and the files' mtimes, and `--identity-label=false`
//! keeps the builder's version out of the labels, so the same binaries give
//! the same digests on another day or another machine with the same podman.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{run, Error};

/// What the image says about itself, as OCI labels
/// (<https://github.com/opencontainers/image-spec/blob/main/annotations.md>).
pub struct Labels<'a> {
    pub version: &'a str,
    /// The full hash of the release's commit, when known.
    pub revision: Option<&'a str>,
    /// Where the source is: Cargo.toml's `repository`, else crates.io.
    pub source: &'a str,
    /// An SPDX expression: Cargo.toml's `license`.
    pub licenses: &'a str,
    pub description: &'a str,
}

impl Labels<'_> {
    /// `name=value` pairs, one `podman build --label` each.
    pub fn pairs(&self) -> Vec<String> {
        let mut pairs = vec![
            ("title", "pidone"),
            ("description", self.description),
            ("version", self.version),
            ("source", self.source),
            ("licenses", self.licenses),
        ];
        if let Some(revision) = self.revision {
            pairs.push(("revision", revision));
        }
        pairs
            .into_iter()
            .map(|(k, v)| format!("org.opencontainers.image.{k}={v}"))
            .collect()
    }
}

/// One image of the list: its platform (`linux/amd64`) and the binary that
/// becomes its `/pidone`.
pub struct Platform<'a> {
    pub platform: &'a str,
    pub binary: &'a Path,
}

/// The image file's name in `target/dist/`.
pub fn archive_name(version: &str) -> String {
    format!("pidone-{version}-image.oci.tar")
}

/// The one layer of every image: the binary at `/pidone`, the license
/// next to it. The entrypoint makes the image usable as it is, as the base
/// of a `FROM` for a static program; most users `COPY --from` it instead.
const CONTAINERFILE: &str = "\
FROM scratch
COPY pidone LICENSE /
ENTRYPOINT [\"/pidone\", \"--\"]
";

/// Builds the images in podman's storage, under names of their own (removed
/// before and after), and writes the list and its images to `out`. Returns
/// the digest of the list (`sha256:...`), the one a registry will report.
pub fn build(
    version: &str,
    labels: &Labels,
    timestamp: Option<&str>,
    platforms: &[Platform],
    license: &Path,
    work: &Path,
    out: &Path,
) -> Result<String, Error> {
    need("podman", "podman")?;
    let list = format!("localhost/pidone-dist:{version}");
    let tag = |platform: &str| format!("{list}-{}", platform.replace('/', "-"));
    let forget = || {
        // Leftovers of an earlier run: absent is fine, so errors are not.
        let _ = run(podman().args(["manifest", "rm", &list]));
        for p in platforms {
            let _ = run(podman().args(["rmi", "--force", &tag(p.platform)]));
        }
    };
    forget();
    let _ = fs::remove_dir_all(work);

    for p in platforms {
        let context = work.join(p.platform.replace('/', "-"));
        fs::create_dir_all(&context).map_err(|e| Error::io("create", &context, e))?;
        let copy = |from: &Path, name: &str| {
            let to = context.join(name);
            fs::copy(from, &to)
                .map(|_| ())
                .map_err(|e| Error::io("copy to", &to, e))
        };
        copy(p.binary, "pidone")?;
        copy(license, "LICENSE")?;
        let containerfile = context.join("Containerfile");
        fs::write(&containerfile, CONTAINERFILE)
            .map_err(|e| Error::io("write", &containerfile, e))?;

        let mut build = podman();
        build.args([
            "build",
            "--quiet",
            // No cache: an image left by another build must not lend its
            // history (its parents' ids) to this one.
            "--layers=false",
            "--format",
            "oci",
            "--identity-label=false",
        ]);
        build.args([
            "--platform",
            p.platform,
            "--manifest",
            &list,
            "--tag",
            &tag(p.platform),
        ]);
        if let Some(ts) = timestamp {
            build.args(["--timestamp", ts]);
        }
        for label in labels.pairs() {
            build.arg("--label").arg(label);
        }
        build.arg("--file").arg(&containerfile).arg(&context);
        eprintln!(
            "xtask: podman build --platform {} ({})",
            p.platform,
            context.display()
        );
        run(&mut build)?;
    }

    // The list holds exactly the platforms built, each once.
    let inspected = run(podman().args(["manifest", "inspect", &list]))?;
    let count = |key: &str, value: &str| {
        inspected
            .matches(&format!("\"{key}\": \"{value}\""))
            .count()
    };
    let mut wrong = inspected.matches("\"architecture\"").count() != platforms.len();
    for p in platforms {
        let (os, arch) = p.platform.split_once('/').unwrap_or(("linux", p.platform));
        wrong |= count("architecture", arch) != 1 || count("os", os) == 0;
    }
    if wrong {
        return Err(Error::Check(format!(
            "podman's list {list} should hold one image for each platform built:\n{inspected}"
        )));
    }

    let digest_file = work.join("digest");
    let _ = fs::remove_file(out);
    let mut push = podman();
    push.args(["manifest", "push", "--quiet", "--all", "--format", "oci"]);
    push.arg("--digestfile").arg(&digest_file).arg(&list);
    push.arg(format!("oci-archive:{}:{version}", out.display()));
    run(&mut push)?;
    forget();
    let digest = fs::read_to_string(&digest_file)
        .map_err(|e| Error::io("read", &digest_file, e))?
        .trim()
        .to_owned();
    check_digest(&digest)?;
    Ok(digest)
}

/// `cargo xtask publish [--tls-verify=false] REGISTRY`: copies the
/// release's archive to `REGISTRY/pidone:VERSION`, after checking it
/// against SHA256SUMS. The registry keeps the archive's digests.
pub fn publish(dist: &Path, version: &str, registry: &str, tls_verify: bool) -> Result<(), Error> {
    let repository = repository(registry)?;
    need("skopeo", "skopeo")?;
    let name = archive_name(version);
    let archive = dist.join(&name);
    if !archive.exists() {
        return Err(Error::Check(format!(
            "{}: no such file; `cargo xtask dist` builds it",
            archive.display()
        )));
    }
    check_sum(dist, &name)?;

    let source = format!("oci-archive:{}:{version}", archive.display());
    let dest = format!("{repository}:{version}");
    let listed = PathBuf::from(format!("{}.digest", archive.display()));
    let mut copy = skopeo();
    copy.args(["copy", "--all", "--preserve-digests", "--digestfile"])
        .arg(&listed);
    if !tls_verify {
        copy.arg("--dest-tls-verify=false");
    }
    copy.arg(&source).arg(format!("docker://{dest}"));
    eprintln!("xtask: skopeo copy {source} -> {dest}");
    let copied = run(&mut copy);
    let digest = fs::read_to_string(&listed);
    let _ = fs::remove_file(&listed);
    copied?;
    let digest = digest.map_err(|e| Error::io("read", &listed, e))?;
    let digest = digest.trim();
    check_digest(digest)?;
    println!("{dest}");
    println!("{repository}@{digest}");
    Ok(())
}

/// `REGISTRY/pidone`, where REGISTRY is `HOST[:PORT][/NAMESPACE...]`.
pub fn repository(registry: &str) -> Result<String, Error> {
    let trimmed = registry.trim_end_matches('/');
    let bad = |why: &str| {
        Err(Error::Check(format!(
            "{registry:?}: {why}; want HOST[:PORT][/NAMESPACE], e.g. ghcr.io/OWNER or localhost:5000"
        )))
    };
    if trimmed.is_empty() {
        return bad("empty");
    }
    if trimmed.contains("://") {
        return bad("no scheme");
    }
    if trimmed.contains(|c: char| c.is_whitespace() || c == '@') {
        return bad("no spaces and no digest");
    }
    if trimmed.split('/').skip(1).any(|part| part.contains(':')) {
        return bad("no tag: the tag is the release's version");
    }
    Ok(format!("{trimmed}/pidone"))
}

/// Checks `name` against its line in `dist/SHA256SUMS`.
fn check_sum(dist: &Path, name: &str) -> Result<(), Error> {
    let sums_path = dist.join("SHA256SUMS");
    let sums = fs::read_to_string(&sums_path).map_err(|e| Error::io("read", &sums_path, e))?;
    let want = sums
        .lines()
        .find_map(|l| l.strip_suffix(name)?.strip_suffix("  "))
        .ok_or_else(|| Error::Check(format!("{}: no line for {name}", sums_path.display())))?;
    let got = run(Command::new("sha256sum").arg(dist.join(name)))?;
    if got.split_whitespace().next() != Some(want) {
        return Err(Error::Check(format!(
            "{name}: sha256 {got} does not match SHA256SUMS ({want})"
        )));
    }
    Ok(())
}

fn check_digest(digest: &str) -> Result<(), Error> {
    match digest.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(()),
        _ => Err(Error::Check(format!("not a digest: {digest:?}"))),
    }
}

/// Fails, naming the package to install, unless `tool` can be started.
fn need(tool: &str, debian_package: &str) -> Result<(), Error> {
    match Command::new(tool).arg("--version").output() {
        Ok(_) => Ok(()),
        Err(err) => Err(Error::Check(format!(
            "cannot run {tool} ({err}): install it (Debian: apt-get install {debian_package})"
        ))),
    }
}

fn podman() -> Command {
    Command::new("podman")
}

fn skopeo() -> Command {
    Command::new("skopeo")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_is_the_registry_and_pidone() {
        assert_eq!(
            repository("localhost:5000").unwrap(),
            "localhost:5000/pidone"
        );
        assert_eq!(
            repository("ghcr.io/owner/").unwrap(),
            "ghcr.io/owner/pidone"
        );
        assert_eq!(repository("docker.io/me").unwrap(), "docker.io/me/pidone");
    }

    #[test]
    fn a_registry_with_a_scheme_tag_or_digest_is_refused() {
        for bad in [
            "",
            "/",
            "https://ghcr.io/owner",
            "ghcr.io/owner:1",
            "ghcr.io/o@sha256:0",
            "a b",
        ] {
            let err = repository(bad).unwrap_err().to_string();
            assert!(
                err.contains("want HOST[:PORT][/NAMESPACE]"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn labels_are_the_oci_ones() {
        let labels = Labels {
            version: "1.2.3",
            revision: Some("abc"),
            source: "https://example.invalid/pidone",
            licenses: "MIT",
            description: "an init",
        };
        assert_eq!(
            labels.pairs(),
            [
                "org.opencontainers.image.title=pidone",
                "org.opencontainers.image.description=an init",
                "org.opencontainers.image.version=1.2.3",
                "org.opencontainers.image.source=https://example.invalid/pidone",
                "org.opencontainers.image.licenses=MIT",
                "org.opencontainers.image.revision=abc",
            ]
        );
    }

    #[test]
    fn only_sha256_digests_pass() {
        assert!(check_digest(&format!("sha256:{}", "a".repeat(64))).is_ok());
        assert!(check_digest("sha256:abc").is_err());
        assert!(check_digest("").is_err());
    }
}
