//! Every parser a user can feed, under property tests: signal names,
//! `--rewrite` specs, durations, exit codes, log filters, and the whole
//! command line with its environment. The committed corpus in
//! `tests/corpus/` (see its README) is replayed first, every run.
//!
//! The properties: no input panics; what is accepted is in range; every
//! rejection is one non-empty line that shows the input it rejects (or,
//! for a command line, the option, value or variable at fault).
//!
//! Why proptest and not cargo-fuzz: cargo-fuzz needs a nightly toolchain
//! and libFuzzer, which `cargo test` on stable cannot run; these properties
//! run in every `cargo test`, in about a second. Random cases differ from
//! run to run (`PROPTEST_CASES` sets how many); a failure prints the
//! shrunk input, which then goes into the corpus.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pidone::{Parsed, Rewrite};
use proptest::prelude::*;
use proptest::test_runner::Config;

/// pidone's short options and the long names clap uses for them in errors.
const SHORT_OPTIONS: [(&str, &str); 11] = [
    ("-c", "--single-child"),
    ("-r", "--rewrite"),
    ("-s", "--subreaper"),
    ("-p", "--parent-death-signal"),
    ("-e", "--success-exit"),
    ("-w", "--warn-orphans"),
    ("-P", "--pause"),
    ("-v", "--verbose"),
    ("-V", "--version"),
    ("-l", "--license"),
    ("-L", "--license"),
];

// ---- the properties, shared by the corpus replay and the random cases ----

/// How much a check insists on. Kept apart so that an unclear message
/// (common, easy to find) cannot hide a panic (rare) from the random search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    /// No panic; what is accepted is in range; an error is not empty.
    NoPanic,
    /// That, and every rejection is one line that shows the input.
    Clear,
}

fn rejected(level: Level, message: &str, inputs: &[&str]) {
    assert!(!message.trim().is_empty(), "empty error for {inputs:?}");
    if level == Level::Clear {
        assert_clear(message, inputs);
    }
}

/// `message` is one line that shows one of `inputs`: as given, escaped
/// (`\n` for a newline; pidone escapes control characters only), cut at a line break (clap keeps the first line),
/// split at the `=` of `--option=value`, the one bad flag `-x` of a
/// cluster such as `-cxw`, or, for bytes that are not UTF-8 (shown as
/// U+FFFD here), by saying so.
fn assert_clear(message: &str, inputs: &[&str]) {
    assert!(
        !message.contains(['\n', '\r']),
        "error is not one line: {message:?} (for {inputs:?})"
    );
    // Nothing to show: the input is what is missing.
    if message.starts_with("no command given") {
        return;
    }
    // Every clap error ends so; it must not count as showing `-` or `--h`.
    let message = message.trim_end_matches(" (see 'pidone --help')");
    // `'value'`, as given or escaped; the only way to show an empty one.
    let quotes = |value: &str| {
        message.contains(&format!("'{value}'"))
            || message.contains(&format!("'{}'", value.escape_debug()))
            || message.contains(&format!("'{}'", pidone::printable(value)))
    };
    let shows = |input: &&str| {
        // `-e256`: the value glued to a short option.
        let glued = input
            .strip_prefix('-')
            .filter(|r| !r.starts_with('-'))
            .and_then(|r| {
                let value: String = r.chars().skip(1).collect();
                (!value.is_empty()).then_some(value)
            });
        // clap names an option by its long name (`-L` is `--license`).
        let long_name = SHORT_OPTIONS
            .iter()
            .any(|(short, long)| input.starts_with(short) && message.contains(long));
        // `-cxw`: clap names the one bad flag, `-x`.
        let bad_flag = input.starts_with('-')
            && input.chars().skip(1).any(|c| {
                message.contains(&format!("'-{c}'"))
                    || message.contains(&format!("'-{}'", c.escape_debug()))
            });
        let cluster_rest = (input.strip_prefix('-'))
            .filter(|rest| !rest.starts_with('-'))
            .is_some_and(|rest| {
                let named = |i: usize| format!("'-{}'", pidone::printable(&rest[i..]));
                rest.char_indices()
                    .any(|(i, _)| message.contains(&named(i)))
            });
        let first_line = input.split(['\n', '\r']).next().unwrap_or_default();
        let joined = input
            .strip_prefix('-')
            .and_then(|_| input.split_once('='))
            .is_some_and(|(opt, value)| message.contains(opt) || quotes(value));
        quotes(input)
            || (!input.is_empty()
                && (message.contains(*input)
                    || message.contains(&input.escape_debug().to_string())
                    || message.contains(&pidone::printable(input))
                    || message.contains(&input.escape_default().to_string())))
            || (!first_line.trim().is_empty() && message.contains(&format!("'{first_line}")))
            || joined
            || (input.contains('\u{fffd}') && message.contains("UTF-8"))
            || bad_flag
            || glued.is_some_and(|v| message.contains(&v))
            // A cluster of short flags: clap takes the known ones in front
            // (`-c`) and names the rest (`'-xyz'`).
            || cluster_rest
            || long_name
    };
    assert!(
        inputs.iter().any(shows),
        "error {message:?} does not show the input {inputs:?}"
    );
}

fn check_signal(level: Level, text: &str) {
    match pidone::parse_signal(text) {
        Ok(n) => assert!((1..=64).contains(&n), "{text:?} parsed as {n}"),
        Err(e) => rejected(level, &e.to_string(), &[text]),
    }
}

fn check_rewrite(level: Level, spec: &str) {
    let mut map = Rewrite::default();
    match map.add(spec) {
        Ok(()) => {
            for n in 1..=64 {
                if let Some(to) = map.apply(n) {
                    assert!((1..=64).contains(&to), "{spec:?} maps {n} to {to}");
                }
            }
        }
        Err(e) => rejected(level, &e.to_string(), &[spec]),
    }
}

/// A value given as `--option=TEXT`, so clap passes it on untouched.
fn option_value(option: &str, text: &str) -> Result<Box<pidone::Config>, pidone::UsageError> {
    let argv = vec![
        OsString::from("pidone"),
        OsString::from(format!("{option}={text}")),
        OsString::from("true"),
    ];
    match pidone::parse(argv, |_| None)? {
        Parsed::Run(config) => Ok(config),
        Parsed::Print(text) => panic!("{option}={text:?} printed {text:?}"),
    }
}

fn check_duration(level: Level, text: &str) {
    match option_value("--grace", text) {
        Ok(c) => assert!(
            c.grace <= Duration::from_secs(366 * 24 * 3600),
            "{text:?}: {:?}",
            c.grace
        ),
        Err(e) => rejected(level, &e.to_string(), &[text]),
    }
}

fn check_exit_code(level: Level, text: &str) {
    if let Err(e) = option_value("--success-exit", text) {
        rejected(level, &e.to_string(), &[text]);
    }
}

/// PIDONE_LOG is an env_logger filter; a bad one is a usage error that
/// shows it, never a panic nor a warning printed by env_logger.
fn check_log_spec(level: Level, spec: &str) {
    let env = [("PIDONE_LOG".to_owned(), OsString::from(spec))];
    check_cli(level, &[OsString::from("true")], &env);
}

/// `args` without argv[0]; `env` as (name, value).
fn check_cli(level: Level, args: &[OsString], env: &[(String, OsString)]) {
    let vars: HashMap<&str, &OsString> = env.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut argv = vec![OsString::from("pidone")];
    argv.extend(args.iter().cloned());
    match pidone::parse(argv, |name| vars.get(name).map(|v| (*v).clone())) {
        Ok(Parsed::Run(config)) => {
            assert!(
                config.pause == config.command.is_empty(),
                "{args:?} {env:?}: pause {} with command {:?}",
                config.pause,
                config.command
            );
            if let Some(signo) = config.parent_death_signal {
                assert!((1..=64).contains(&signo), "{args:?} {env:?}");
            }
        }
        Ok(Parsed::Print(text)) => {
            assert!(!text.is_empty(), "{args:?} {env:?}");
        }
        Err(e) => {
            let mut shown: Vec<String> = args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            for (name, value) in env {
                shown.push(name.clone());
                shown.push(value.to_string_lossy().into_owned());
            }
            let shown: Vec<&str> = shown.iter().map(String::as_str).collect();
            rejected(level, &e.to_string(), &shown);
            assert_eq!(e.exit_code(), 2);
        }
    }
}

// ---- the corpus ----

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(target);
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    files
}

/// A `cli` corpus file: NUL-separated entries, each an argument after
/// argv[0], or `env:NAME=VALUE` for a variable.
fn cli_case(bytes: &[u8]) -> (Vec<OsString>, Vec<(String, OsString)>) {
    let mut args = Vec::new();
    let mut env = Vec::new();
    let body = bytes.strip_suffix(b"\0").unwrap_or(bytes);
    for entry in body.split(|&b| b == 0) {
        match entry.strip_prefix(b"env:") {
            Some(var) => {
                let eq = var.iter().position(|&b| b == b'=').unwrap_or(var.len());
                let name = String::from_utf8_lossy(&var[..eq]).into_owned();
                let value = var.get(eq + 1..).unwrap_or_default().to_vec();
                env.push((name, OsString::from_vec(value)));
            }
            None => args.push(OsString::from_vec(entry.to_vec())),
        }
    }
    (args, env)
}

/// A check of a parser that takes one string.
type TextCheck = fn(Level, &str);

/// Runs `check` on every file of every target, and reports all failures
/// together, each with its file.
#[test]
fn corpus_replays_without_panics_or_unclear_errors() {
    let text_targets: [(&str, TextCheck); 5] = [
        ("signal", check_signal),
        ("rewrite", check_rewrite),
        ("duration", check_duration),
        ("exit_code", check_exit_code),
        ("log_spec", check_log_spec),
    ];
    let mut failures = Vec::new();
    let mut cases = 0;
    let mut run = |path: &Path, check: &mut dyn FnMut()| {
        cases += 1;
        if let Err(panic) = catch_unwind(AssertUnwindSafe(check)) {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{}: {why}", path.display()));
        }
    };
    for (target, check) in text_targets {
        for (path, bytes) in corpus(target) {
            // Parsers take &str: non-UTF-8 bytes are the cli target's job.
            let text = String::from_utf8_lossy(&bytes);
            run(&path, &mut || check(Level::Clear, &text));
        }
    }
    for (path, bytes) in corpus("cli") {
        let (args, env) = cli_case(&bytes);
        run(&path, &mut || check_cli(Level::Clear, &args, &env));
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} corpus cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---- random cases ----

/// Pieces users (and attackers) put in these values: names, numbers at
/// the edges of every integer type, separators, units, blanks, control
/// and multi-byte characters.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "SIG", "sig", "Sig", "TERM", "term", "KILL", "STOP", "CHLD", "CLD", "HUP", "USR1",
            "RTMIN", "rtmin", "RTMAX", "SIGRTMIN", "RTMIN+", "SIGRTMAX-", "IGNORE", "ignore", "IOT", "PWR", "0", "1",
            "15", "31", "32", "33", "34", "64", "65", "255", "256", "-1", "2147483613",
            "2147483614", "2147483647", "2147483648", "4294967295", "4294967296",
            "18446744073709551615", "99999999999999999999", "+", "-", ":", "::", ",", " ",
            "\t", "\n", "\r", "\u{b}", "\u{1b}[31m", "\u{0}", "ms", "s", "m", "h", "d", ".",
            "'", "\"", "\u{e9}", "\u{1f600}", "\u{300}", "\u{ff11}", "\u{200b}",
        ])
        .prop_map(str::to_owned),
        2 => number(),
        1 => any::<char>().prop_map(String::from),
    ]
}

/// A number as text, with the edges of i32, u32 and u64 (where offsets
/// and products overflow) far likelier than chance would make them.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => (0u32..300).prop_map(|n| n.to_string()),
        2 => (i64::from(i32::MAX) - 40..=i64::from(i32::MAX) + 1).prop_map(|n| n.to_string()),
        1 => (u64::from(u32::MAX) - 2..=u64::from(u32::MAX) + 1).prop_map(|n| n.to_string()),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => Just("18446744073709551616".to_owned()),
        1 => "0{1,30}[0-9]{0,3}",
    ]
}

/// The shape of a valid value (prefix, name, sign, number, suffix), with
/// each part sometimes wrong.
fn value_like() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["", "", "SIG", "sig", " ", "+", "-"]),
        prop::sample::select(vec!["RTMIN", "RTMAX", "rtmin", "TERM", "CHLD", "", "", ""]),
        prop::sample::select(vec!["", "+", "-", "++", " + "]),
        number(),
        prop::sample::select(vec!["", "", "ms", "s", "m", "h", "d", ":TERM", ":0", " "]),
    )
        .prop_map(|(a, b, c, d, e)| format!("{a}{b}{c}{d}{e}"))
}

/// A string built from tokens, a near-valid value, or any string at all.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::collection::vec(token(), 0..7).prop_map(|t| t.concat()),
        2 => value_like(),
        1 => any::<String>(),
    ]
}

/// Bytes for arguments and variables: text, or anything but NUL (which
/// exec cannot pass).
fn os_text() -> impl Strategy<Value = OsString> {
    prop_oneof![
        4 => text().prop_map(|s| OsString::from(s.replace('\0', ""))),
        1 => prop::collection::vec(1u8..=255, 0..12).prop_map(OsString::from_vec),
    ]
}

fn arg() -> impl Strategy<Value = OsString> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "--", "-", "-r", "--rewrite", "--rewrite=", "--grace", "--grace=", "-e",
            "--success-exit", "-p", "--parent-death-signal", "--forward", "--forward=",
            "-c", "--single-child", "-g", "-s", "--subreaper", "-w", "-P", "--pause", "-v",
                        "--verbose", "-V", "--version", "-l", "-L", "-h", "--help", "-rTERM:QUIT",
            "-e256", "-cgsw", "true", "sh",
        ])
        .prop_map(OsString::from),
        // More -v than a u8 counts.
        1 => Just(OsString::from(format!("-{}", "v".repeat(300)))),
        2 => os_text(),
    ]
}

fn variable() -> impl Strategy<Value = (String, OsString)> {
    (
        prop::sample::select(pidone::variables().collect::<Vec<_>>()),
        os_text(),
    )
        .prop_map(|(k, v)| (k.to_owned(), v))
}

fn command_line() -> impl Strategy<Value = Vec<OsString>> {
    prop::collection::vec(arg(), 0..7)
}

fn environment() -> impl Strategy<Value = Vec<(String, OsString)>> {
    prop::collection::vec(variable(), 0..4)
}

/// FROM:TO with text on both sides (and sometimes no colon, or two).
fn rewrite_spec() -> impl Strategy<Value = String> {
    (
        text(),
        prop::sample::select(vec![":", ":", ":", "", "::"]),
        text(),
    )
        .prop_map(|(from, sep, to)| format!("{from}{sep}{to}"))
}

/// Cases per property: enough to cover the tokens' combinations in about
/// a second in a debug build; `PROPTEST_CASES` overrides.
fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        // Failures go into tests/corpus by hand, not into a file proptest
        // writes beside the sources.
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn signal_names_never_panic(s in text()) {
        check_signal(Level::NoPanic, &s);
    }

    #[test]
    fn signal_name_rejections_are_clear(s in text()) {
        check_signal(Level::Clear, &s);
    }

    #[test]
    fn rewrite_specs_never_panic(spec in rewrite_spec()) {
        check_rewrite(Level::NoPanic, &spec);
    }

    #[test]
    fn rewrite_rejections_are_clear(spec in rewrite_spec()) {
        check_rewrite(Level::Clear, &spec);
    }

    #[test]
    fn durations_never_panic(s in text()) {
        check_duration(Level::NoPanic, &s);
    }

    #[test]
    fn duration_rejections_are_clear(s in text()) {
        check_duration(Level::Clear, &s);
    }

    #[test]
    fn exit_codes_never_panic(s in text()) {
        check_exit_code(Level::NoPanic, &s);
    }

    #[test]
    fn exit_code_rejections_are_clear(s in text()) {
        check_exit_code(Level::Clear, &s);
    }

    #[test]
    fn log_specs_never_panic(s in text()) {
        check_log_spec(Level::NoPanic, &s);
    }
}

proptest! {
    #![proptest_config(config(500))]

    #[test]
    fn command_lines_and_variables_never_panic(args in command_line(), env in environment()) {
        check_cli(Level::NoPanic, &args, &env);
    }

    #[test]
    fn command_line_and_variable_rejections_are_clear(
        args in command_line(),
        env in environment(),
    ) {
        check_cli(Level::Clear, &args, &env);
    }
}

#[test]
fn cli_corpus_files_split_into_args_and_variables() {
    let (args, env) = cli_case(b"-r\0TERM:QUIT\0env:PIDONE_GRACE=5x\0true\xff\0");
    assert_eq!(
        args,
        [b"-r".as_slice(), b"TERM:QUIT", b"true\xff"].map(OsStr::from_bytes)
    );
    assert_eq!(env, [("PIDONE_GRACE".to_owned(), OsString::from("5x"))]);
}
