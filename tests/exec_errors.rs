//! A command that cannot run is reported in one line, with the shell's codes:
//! 127 not found, 126 found but not runnable.

mod support;
use std::os::unix::fs::PermissionsExt;
use support::*;

#[test]
fn not_found_gives_127_and_names_the_command() {
    for mode in MODES {
        if skip_subreaper_under_qemu(mode) {
            continue;
        }
        let out = run(mode, &["--", "no-such-command-pidone"]);
        out.assert_code(127).assert_stderr_contains(
            "pidone: cannot run 'no-such-command-pidone': No such file or directory",
        );
        assert_eq!(out.stderr.lines().count(), 1, "{out}");
    }
}

#[test]
fn directory_gives_126() {
    let dir = std::env::temp_dir();
    for mode in MODES {
        run(mode, &[dir.as_os_str()])
            .assert_code(126)
            .assert_stderr_contains("Is a directory");
    }
}

#[test]
fn non_executable_file_gives_126() {
    let path = std::env::temp_dir().join(format!("pidone-noexec-{}", std::process::id()));
    std::fs::write(&path, "echo hi\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    for mode in MODES {
        // Root may read anything but still cannot exec a file without x bits.
        run(mode, &[path.as_os_str()])
            .assert_code(126)
            .assert_stderr_contains("Permission denied");
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn script_without_shebang_runs_under_sh() {
    let path = std::env::temp_dir().join(format!("pidone-noshebang-{}", std::process::id()));
    std::fs::write(&path, "echo \"args: $1 $2\"\nexit 5\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    for mode in MODES {
        let out = run(mode, &[path.as_os_str(), "a".as_ref(), "b".as_ref()]);
        out.assert_code(5);
        assert_eq!(out.stdout, "args: a b", "{out}");
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn commands_are_found_on_path() {
    for mode in MODES {
        let out = run(mode, &["--", "echo", "found"]);
        out.assert_code(0);
        assert_eq!(out.stdout, "found", "{out}");
    }
}

#[test]
fn a_path_entry_pidone_may_not_search_does_not_turn_not_found_into_126() {
    // Root searches every directory, so this needs another user: run
    // pidone as `nobody` with a root-only directory first on PATH.
    if !is_root() {
        eprintln!("SKIPPED: needs root to run pidone as another user");
        return;
    }
    let dir = std::env::temp_dir().join(format!("pidone-private-{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut cmd = command(Mode::Subreaper, &["--", "no-such-command-pidone"]);
    cmd.env("PATH", format!("{}:/usr/bin:/bin", dir.display()));
    cmd.current_dir("/");
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            if libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = Running::start_with(cmd, Mode::Subreaper).finish();
    std::fs::remove_dir(&dir).unwrap();
    out.assert_code(127)
        .assert_stderr_contains("No such file or directory");
}

#[test]
fn a_fatal_error_is_printed_whatever_the_log_level() {
    for mode in MODES {
        let mut cmd = command(mode, &["--", "/no/such/command"]);
        cmd.env("PIDONE_LOG", "off");
        Running::start_with(cmd, mode)
            .finish()
            .assert_code(127)
            .assert_stderr_contains(
                "pidone: cannot run '/no/such/command': No such file or directory",
            );
    }
}

#[test]
fn a_directory_is_told_from_what_exec_found_not_from_pidones_directory() {
    // A directory named like the command in the current directory, and a
    // file of that name on PATH that may not run: the error is about the
    // file (exec's EACCES), not "Is a directory".
    let base = std::env::temp_dir().join(format!("pidone-isdir-{}", std::process::id()));
    let bin = base.join("bin");
    std::fs::create_dir_all(base.join("thing")).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("thing"), "echo hi\n").unwrap();
    std::fs::set_permissions(bin.join("thing"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut cmd = command(Mode::Subreaper, &["--", "thing"]);
    cmd.current_dir(&base).env("PATH", &bin);
    let out = Running::start_with(cmd, Mode::Subreaper).finish();
    std::fs::remove_dir_all(&base).unwrap();
    out.assert_code(126)
        .assert_stderr_contains("Permission denied");
    assert!(!out.stderr.contains("Is a directory"), "{out}");
    assert!(
        out.stderr.contains("/bin/thing)"),
        "names the file it tried\n{out}"
    );
}
