//! The command line: version, help, usage errors. Bad input never starts a
//! child.

mod support;
use support::*;

#[test]
fn version_is_one_line_in_the_shape_docker_parses() {
    let out = run(Mode::Subreaper, &["--version"]);
    out.assert_code(0);
    let line = out.stdout.trim_end();
    assert_eq!(out.stdout.lines().count(), 1, "{out}");
    let (name, git) = line
        .split_once(" - git.")
        .unwrap_or_else(|| panic!("no ' - git.' part\n{out}"));
    assert_eq!(
        name,
        format!("pidone version {}", env!("CARGO_PKG_VERSION")),
        "{out}"
    );
    assert!(
        git == "unknown" || (git.len() == 7 && git.bytes().all(|b| b.is_ascii_hexdigit())),
        "{line}"
    );
    let short = run(Mode::Subreaper, &["-V"]);
    assert_eq!(short.stdout, out.stdout, "-V and --version differ\n{short}");
}

#[test]
fn help_goes_to_stdout_with_code_0() {
    let out = run(Mode::Subreaper, &["--help"]);
    out.assert_code(0);
    assert!(out.stdout.contains("Usage: pidone"), "{out}");
    assert!(out.stderr.is_empty(), "{out}");
}

#[test]
fn no_command_is_one_line_on_stderr_with_the_usage_and_exit_2() {
    let out = run(Mode::Subreaper, &[] as &[&str]);
    out.assert_code(2).assert_stderr_contains(
        "pidone: no command given (usage: pidone [OPTIONS] [--] COMMAND [ARG]...; see 'pidone --help')",
    );
    assert_eq!(out.stderr.lines().count(), 1, "{out}");
    assert!(out.stdout.is_empty(), "{out}");
}

#[test]
fn unknown_option_is_one_line_exit_2_and_starts_nothing() {
    let marker = std::env::temp_dir().join(format!("pidone-started-{}", std::process::id()));
    let touch = format!("touch {}", marker.display());
    for mode in MODES {
        let out = run(mode, &["--no-such-option", "--", "sh", "-c", &touch]);
        out.assert_code(2)
            .assert_stderr_contains("'--no-such-option'");
        assert_eq!(out.stderr.lines().count(), 1, "{out}");
        assert!(!marker.exists(), "a child was started\n{out}");
    }
}
