//! Records the git commit pidone is built from, for `pidone --version`
//! (`pidone version X.Y.Z - git.<7 hex>`, the shape `docker info` parses).
//!
//! A non-empty `PIDONE_GIT_COMMIT` in the build's environment names the
//! commit: where `.git` is absent (a Docker build context leaves it out;
//! Dockerfile.example takes it as a build argument) or a packager knows
//! better. Otherwise `git rev-parse`, else `unknown`.

use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PIDONE_GIT_COMMIT");
    let given = env::var("PIDONE_GIT_COMMIT").unwrap_or_default();
    let commit = if given.trim().is_empty() {
        from_git().unwrap_or_else(|| "unknown".to_owned())
    } else {
        // A full hash is shortened; anything else is a mistake worth a
        // failed build rather than a version line docker cannot parse.
        let given = given.trim();
        if !(7..=40).contains(&given.len()) || !given.bytes().all(|b| b.is_ascii_hexdigit()) {
            panic!("PIDONE_GIT_COMMIT={given:?}: want a commit hash (7 to 40 hex digits)");
        }
        given[..7].to_ascii_lowercase()
    };
    println!("cargo:rustc-env=PIDONE_GIT_COMMIT={commit}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
}

fn from_git() -> Option<String> {
    Command::new("git")
        .args(["rev-parse", "--short=7", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| s.len() == 7 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}
