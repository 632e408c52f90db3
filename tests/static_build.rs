//! The release build is a static binary: `file` says so and `ldd` finds no
//! libraries. `.ci/run` builds it first (`cargo build --release --target
//! x86_64-unknown-linux-musl`); elsewhere the test skips when it is absent.

mod support;
use std::path::PathBuf;
use std::process::Command;
use support::*;

fn static_binary() -> PathBuf {
    std::env::var_os("PIDONE_STATIC_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("target/x86_64-unknown-linux-musl/release/pidone")
        })
}

#[test]
fn release_binary_is_statically_linked() {
    let bin = static_binary();
    if skip_unless(
        bin.exists(),
        &format!("the static release build ({})", bin.display()),
    ) {
        return;
    }
    if skip_unless(
        run_bounded(Command::new("file").arg("--version"), LIMIT).success(),
        "the `file` command",
    ) {
        return;
    }
    let file = run_bounded(Command::new("file").arg(&bin), LIMIT).check();
    assert!(file.stdout.contains("statically linked"), "{file}");
    assert!(!file.stdout.contains("dynamically linked"), "{file}");

    // ldd exits 1 on a static binary; what it says is the check.
    let ldd = run_bounded(Command::new("ldd").arg(&bin), LIMIT);
    let said = format!("{}{}", ldd.stdout, ldd.stderr);
    assert!(
        said.contains("not a dynamic executable") || said.contains("statically linked"),
        "{ldd}"
    );

    let version = run_bounded(Command::new(&bin).arg("--version"), LIMIT).check();
    let size = std::fs::metadata(&bin).unwrap().len();
    eprintln!(
        "static release binary: {} bytes; {}",
        size,
        version.stdout.trim()
    );
}
