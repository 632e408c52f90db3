//! The precedence and meaning rules of `parse`, flag by flag and variable
//! by variable.

use super::*;
use std::collections::HashMap;

fn run_with(args: &[&str], vars: &[(&str, &str)]) -> Result<Parsed, UsageError> {
    let vars: HashMap<String, OsString> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), OsString::from(v)))
        .collect();
    let mut argv = vec![OsString::from("pidone")];
    argv.extend(args.iter().map(OsString::from));
    parse(argv, |name| vars.get(name).cloned())
}

fn config(args: &[&str], vars: &[(&str, &str)]) -> Config {
    match run_with(args, vars) {
        Ok(Parsed::Run(c)) => *c,
        other => panic!("{args:?}: {other:?}"),
    }
}

fn error(args: &[&str], vars: &[(&str, &str)]) -> String {
    match run_with(args, vars) {
        Err(e) => e.to_string(),
        other => panic!("{args:?} should fail: {other:?}"),
    }
}

#[test]
fn option_parsing_stops_at_the_command() {
    let c = config(&["sh", "-c", "exit 3"], &[]);
    assert_eq!(c.command, ["sh", "-c", "exit 3"]);
    assert_eq!(c.forward, Target::Group);
    let c = config(&["-v", "--", "ls", "-v", "--", "x"], &[]);
    assert_eq!(c.command, ["ls", "-v", "--", "x"]);
    assert_eq!(c.verbosity, 1);
    let c = config(&["--", "-weird-name"], &[]);
    assert_eq!(c.command, ["-weird-name"]);
}

#[test]
fn defaults() {
    let c = config(&["true"], &[]);
    assert!(c.drain);
    assert!(!config(&["--no-drain", "true"], &[]).drain);
    assert!(!config(&["true"], &[("PIDONE_NO_DRAIN", "1")]).drain);
    assert_eq!(c.grace, DEFAULT_GRACE);
    assert!(c.rewrite.is_identity());
    assert!(!c.subreaper && !c.warn_orphans && !c.pause);
    assert_eq!(c.parent_death_signal, None);
    assert!(c.success_codes.is_empty());
}

#[test]
fn no_command_is_a_one_line_usage_error() {
    let e = error(&[], &[]);
    assert!(e.starts_with("no command given"), "{e}");
    assert!(!e.contains('\n'), "{e}");
}

#[test]
fn unknown_option_is_one_line() {
    let e = error(&["--bogus", "true"], &[]);
    assert!(e.contains("--bogus"), "{e}");
    assert!(!e.contains('\n'), "{e}");
}

#[test]
fn version_has_the_shape_docker_parses() {
    match run_with(&["-V"], &[]) {
        Ok(Parsed::Print(text)) => {
            assert!(text.starts_with("pidone version 0."), "{text}");
            let git = text.trim_end().rsplit(" - git.").next().unwrap();
            assert!(git == "unknown" || git.len() == 7, "{text}");
            assert_eq!(text.lines().count(), 1);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn help_and_license_go_to_stdout() {
    for args in [&["-h"][..], &["--help"], &["-l"], &["-L"], &["--license"]] {
        match run_with(args, &[]) {
            Ok(Parsed::Print(text)) => assert!(!text.is_empty()),
            other => panic!("{args:?}: {other:?}"),
        }
    }
}

#[test]
fn forward_targets_from_flags_and_variables() {
    assert_eq!(config(&["-c", "x"], &[]).forward, Target::Child);
    assert_eq!(config(&["--single-child", "x"], &[]).forward, Target::Child);
    assert_eq!(config(&["-g", "x"], &[]).forward, Target::Group);
    assert_eq!(config(&["--forward", "all", "x"], &[]).forward, Target::All);
    assert_eq!(
        config(&["x"], &[("PIDONE_FORWARD", "all")]).forward,
        Target::All
    );
    assert_eq!(
        config(&["--forward=child", "x"], &[("PIDONE_FORWARD", "all")]).forward,
        Target::Child
    );
    assert_eq!(
        config(&["x"], &[("PIDONE_SINGLE_CHILD", "1")]).forward,
        Target::Child
    );
    assert_eq!(
        config(&["x"], &[("PIDONE_SINGLE_CHILD", "0")]).forward,
        Target::Group
    );
    assert_eq!(
        config(&["x"], &[("DUMB_INIT_SETSID", "0")]).forward,
        Target::Child
    );
    for on in ["1", "", "yes", "false"] {
        assert_eq!(
            config(&["x"], &[("DUMB_INIT_SETSID", on)]).forward,
            Target::Group,
            "DUMB_INIT_SETSID={on:?}"
        );
    }
    assert_eq!(
        config(&["x"], &[("TINI_KILL_PROCESS_GROUP", "1")]).forward,
        Target::Group
    );
    assert!(error(&["--forward", "some", "x"], &[]).contains("'some'"));
}

#[test]
fn forward_flags_beat_variables_and_pidones_variables_beat_the_peers() {
    assert_eq!(
        config(&["x"], &[("TINI_KILL_PROCESS_GROUP", "0")]).forward,
        Target::Group
    );
    assert_eq!(
        config(&["-g", "x"], &[("PIDONE_FORWARD", "child")]).forward,
        Target::Group
    );
    assert_eq!(
        config(&["-c", "x"], &[("PIDONE_FORWARD", "all")]).forward,
        Target::Child
    );
    assert_eq!(
        config(
            &["x"],
            &[("PIDONE_SINGLE_CHILD", "0"), ("DUMB_INIT_SETSID", "0")]
        )
        .forward,
        Target::Group
    );
}

#[test]
fn booleans_off_when_zero_false_or_empty() {
    for off in ["0", "false", "", "no", "OFF"] {
        assert!(
            !config(&["x"], &[("PIDONE_SUBREAPER", off)]).subreaper,
            "{off:?}"
        );
    }
    // tini's variable: set means on, whatever the value.
    for on in ["1", "true", "yes", "On", "0", ""] {
        assert!(
            config(&["x"], &[("TINI_SUBREAPER", on)]).subreaper,
            "{on:?}"
        );
    }
    assert!(!config(&["x"], &[]).subreaper);
    assert!(config(&["x"], &[("PIDONE_SUBREAPER", "1")]).subreaper);
    assert!(
        !config(
            &["x"],
            &[("PIDONE_SUBREAPER", "0"), ("TINI_SUBREAPER", "1")]
        )
        .subreaper
    );
    assert!(config(&["-s", "x"], &[("PIDONE_SUBREAPER", "0")]).subreaper);
    assert!(config(&["x"], &[("PIDONE_WARN_ORPHANS", "yes")]).warn_orphans);
    let e = error(&["x"], &[("PIDONE_SUBREAPER", "maybe")]);
    assert!(e.contains("PIDONE_SUBREAPER") && e.contains("maybe"), "{e}");
}

#[test]
fn rewrite_from_flags_or_variable() {
    let c = config(
        &["-r", "TERM:QUIT", "--rewrite", "15:3", "-r", "USR1:0", "x"],
        &[],
    );
    assert_eq!(c.rewrite.apply(libc::SIGTERM), Some(libc::SIGQUIT));
    assert_eq!(c.rewrite.apply(libc::SIGUSR1), None);
    let c = config(&["x"], &[("PIDONE_REWRITE", "TERM:QUIT, INT:QUIT")]);
    assert_eq!(c.rewrite.apply(libc::SIGINT), Some(libc::SIGQUIT));
    let c = config(&["-r", "HUP:USR1", "x"], &[("PIDONE_REWRITE", "TERM:QUIT")]);
    assert_eq!(c.rewrite.apply(libc::SIGTERM), Some(libc::SIGTERM));
    for bad in [
        ":",
        "TERM:",
        "FOO:TERM",
        "99:1",
        "TERM:QUIT:HUP",
        "KILL:TERM",
    ] {
        let e = error(&["-r", bad, "x"], &[]);
        assert!(e.contains(bad), "{bad}: {e}");
    }
}

#[test]
fn success_codes_and_bad_values() {
    assert_eq!(
        config(&["-e", "143", "-e", "0", "x"], &[]).success_codes,
        [143, 0]
    );
    assert_eq!(
        config(&["x"], &[("PIDONE_SUCCESS_EXIT", "1,2")]).success_codes,
        [1, 2]
    );
    assert!(error(&["-e", "256", "x"], &[]).contains("'256'"));
    assert!(error(&["-e", "x", "x"], &[]).contains("'x'"));
    assert!(error(&["-e", "-1", "x"], &[]).contains("'-1'"));
    assert!(error(&["x"], &[("PIDONE_SUCCESS_EXIT", "300")]).starts_with("PIDONE_SUCCESS_EXIT: "));
    assert!(error(&["x"], &[("PIDONE_REWRITE", "FOO:TERM")]).starts_with("PIDONE_REWRITE: "));
}

#[test]
fn parent_death_signal() {
    assert_eq!(
        config(&["-p", "SIGHUP", "x"], &[]).parent_death_signal,
        Some(1)
    );
    for bad in ["KILL", "SIGSTOP", "9", "19"] {
        let e = error(&["-p", bad, "x"], &[]);
        assert!(
            e.contains("cannot be the parent death signal"),
            "{bad}: {e}"
        );
    }
    assert_eq!(
        config(&["x"], &[("PIDONE_PARENT_DEATH_SIGNAL", "term")]).parent_death_signal,
        Some(15)
    );
    assert!(error(&["-p", "FOO", "x"], &[]).contains("'FOO'"));
}

#[test]
fn verbosity_from_flags_and_peers() {
    assert_eq!(config(&["-vv", "x"], &[]).verbosity, 2);
    assert_eq!(config(&["-v", "-v", "-v", "x"], &[]).verbosity, 3);
    assert_eq!(config(&["x"], &[("TINI_VERBOSITY", "3")]).verbosity, 2);
    assert_eq!(config(&["x"], &[("TINI_VERBOSITY", "1")]).verbosity, 0);
    assert_eq!(config(&["x"], &[("DUMB_INIT_DEBUG", "1")]).verbosity, 2);
    assert_eq!(config(&["x"], &[("PIDONE_VERBOSE", "1")]).verbosity, 1);
    assert_eq!(
        config(&["x"], &[("PIDONE_LOG", "debug")])
            .log_spec
            .as_deref(),
        Some("debug")
    );
    // As tini reads it (atoi): no number is 0.
    assert_eq!(config(&["x"], &[("TINI_VERBOSITY", "lots")]).verbosity, 0);
    assert_eq!(config(&["x"], &[("TINI_VERBOSITY", " 3x")]).verbosity, 2);
    assert_eq!(config(&["x"], &[("DUMB_INIT_DEBUG", "true")]).verbosity, 0);
    let e = error(&["x"], &[("PIDONE_LOG", "pidone=loud")]);
    assert!(e.starts_with("PIDONE_LOG: 'pidone=loud': "), "{e}");
}

#[test]
fn pause_mode() {
    let c = config(&["-P"], &[]);
    assert!(c.pause && c.command.is_empty());
    assert!(config(&[], &[("PIDONE_PAUSE", "1")]).pause);
    assert!(error(&["-P", "sleep", "1"], &[]).contains("pause"));
}

#[test]
fn grace_from_flag_or_variable() {
    assert_eq!(
        config(&["--grace", "250ms", "x"], &[]).grace,
        Duration::from_millis(250)
    );
    assert_eq!(
        config(&["x"], &[("PIDONE_GRACE", "1s")]).grace,
        Duration::from_secs(1)
    );
    assert!(error(&["--grace", "5x", "x"], &[]).starts_with("--grace: invalid duration '5x'"));
}

/// The README documents every option of the table by each of its flags and
/// variables, in backticks (`-s`, `--rewrite FROM:TO`, `TINI_SUBREAPER`).
#[test]
fn every_flag_and_variable_is_in_the_readme() {
    let readme = include_str!("../../README.md");
    for option in OPTIONS {
        let variables = option
            .variable
            .into_iter()
            .chain(option.peers.iter().map(|p| p.0));
        for name in option.names().chain(variables) {
            assert!(
                readme.contains(&format!("`{name}`")) || readme.contains(&format!("`{name} ")),
                "README does not document {name}"
            );
        }
    }
}

#[test]
fn a_line_without_options_reads_as_clap_reads_it() {
    for line in [
        &["pidone", "--", "sh", "-c", "exit 3"][..],
        &["pidone", "sh", "-c", "exit 3"],
        &["pidone", "--"],
        &["pidone", "--", "--"],
        &["pidone", "--", "-v"],
        &["pidone", "ls", "--", "-v"],
        &["pidone", "x"],
    ] {
        let args: Vec<OsString> = line.iter().map(OsString::from).collect();
        let fast = plain_command(&args).expect("no option, so the fast path");
        let matches = command().try_get_matches_from(args).unwrap();
        let slow: Vec<OsString> = matches
            .get_many::<OsString>(COMMAND)
            .map(|v| v.cloned().collect())
            .unwrap_or_default();
        assert_eq!(fast, slow, "{line:?}");
    }
    for line in [&["pidone"][..], &["pidone", "-v", "x"], &["pidone", "-"]] {
        let args: Vec<OsString> = line.iter().map(OsString::from).collect();
        assert_eq!(plain_command(&args), None, "{line:?}");
    }
}

#[test]
fn out_of_range_numbers_say_so() {
    let e = error(&["x"], &[("PIDONE_VERBOSE", "256")]);
    assert_eq!(e, "PIDONE_VERBOSE='256' is out of range 0-255");
    let e = error(&["-e", "4294967296", "x"], &[]);
    assert_eq!(
        e,
        "--success-exit: invalid exit code '4294967296': out of range 0-255"
    );
    let e = error(&["x"], &[("PIDONE_VERBOSE", "lots")]);
    assert_eq!(e, "PIDONE_VERBOSE='lots' is not a number 0-255");
}

/// Each option's rows are read by the table: a peer's variable, read by its
/// rule, does what the option's flag does.
#[test]
fn peers_variables_read_by_their_rules() {
    assert!(config(&["x"], &[("TINI_SUBREAPER", "")]).subreaper);
    assert_eq!(config(&["x"], &[("DUMB_INIT_DEBUG", "1")]).verbosity, 2);
    assert_eq!(config(&["x"], &[("TINI_VERBOSITY", "-5")]).verbosity, 0);
    assert_eq!(config(&["x"], &[("TINI_VERBOSITY", "+4")]).verbosity, 3);
    assert_eq!(
        config(&["x"], &[("TINI_VERBOSITY", "99999")]).verbosity,
        255
    );
    // pidone's own variable beats the peers', even when it says off.
    assert_eq!(
        config(&["x"], &[("PIDONE_VERBOSE", ""), ("DUMB_INIT_DEBUG", "1")]).verbosity,
        0
    );
}

#[test]
fn user_is_checked_here_and_resolved_at_start() {
    assert_eq!(
        config(&["--user", "app:44", "id"], &[]).user.as_deref(),
        Some("app:44")
    );
    let c = config(
        &["id"],
        &[("PIDONE_USER", "1000"), ("PIDONE_NO_NEW_PRIVS", "1")],
    );
    assert_eq!((c.user.as_deref(), c.no_new_privs), (Some("1000"), true));
    let c = config(
        &["--user", "0", "--no-new-privs", "id"],
        &[("PIDONE_USER", "a:b:c")],
    );
    assert_eq!((c.user.as_deref(), c.no_new_privs), (Some("0"), true));
    assert_eq!(config(&["id"], &[("PIDONE_USER", "")]).user, None);
    let e = error(&["--user", "a:b:c", "id"], &[]);
    assert!(e.starts_with("--user: 'a:b:c': not USER[:GROUP]"), "{e}");
    let e = error(&["id"], &[("PIDONE_USER", ":")]);
    assert!(e.starts_with("PIDONE_USER: ':': not USER[:GROUP]"), "{e}");
}

#[test]
fn termination_log_takes_its_path_after_an_equals_sign_only() {
    let path = |args: &[&str], vars| config(args, vars).termination_log;
    let default = Some("/dev/termination-log".into());
    assert_eq!(path(&["--termination-log", "x"], &[]), default);
    assert_eq!(config(&["--termination-log", "x"], &[]).command, ["x"]);
    let mine = Some("/run/why".into());
    assert_eq!(path(&["--termination-log=/run/why", "x"], &[]), mine);
    assert_eq!(
        path(&["x"], &[("PIDONE_TERMINATION_LOG", "/run/why")]),
        mine
    );
    assert_eq!(path(&["x"], &[]), None);
    let e = error(&["--termination-log=log", "x"], &[]);
    assert_eq!(e, "--termination-log: 'log' is not an absolute path");
}
