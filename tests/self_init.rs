//! The library's self-init entry: a Rust program that calls
//! `pidone::init_self` first is its own init as PID 1, and is left alone
//! anywhere else.

mod support;

use std::process::Command;

use support::*;

/// `self_init ARGS` as PID 1 of a fresh PID namespace.
fn as_pid1(args: &[&str]) -> Outcome {
    let mut cmd = unshare();
    cmd.arg(example("self_init")).args(args);
    Running::start_with(cmd, Mode::Subreaper).finish()
}

#[test]
fn as_pid1_the_program_runs_as_pid_2_and_pid_1_reaps_its_orphans() {
    let out = as_pid1(&["--orphans", "300"]);
    out.assert_code(0);
    assert!(out.stdout.contains("running as pid 2"), "{out}");
    assert!(out.stdout.contains("zombies left: 0"), "{out}");
}

#[test]
fn the_init_exits_with_the_programs_code() {
    let out = as_pid1(&["--exit", "7"]);
    out.assert_code(7);
    assert!(out.stdout.contains("running as pid 2"), "{out}");
}

#[test]
fn a_process_with_threads_is_refused_and_runs_on() {
    let out = as_pid1(&["--thread-first"]);
    out.assert_code(0);
    assert!(
        out.stdout
            .contains("not an init: cannot become the init: the process has 2 threads"),
        "{out}"
    );
    assert!(out.stdout.contains("running as pid 1"), "{out}");
}

#[test]
fn not_pid1_it_returns_at_once() {
    let out = Running::start_with(Command::new(example("self_init")), Mode::Subreaper).finish();
    out.assert_code(0);
    assert!(!out.stdout.contains("not an init"), "{out}");
    assert!(out.stdout.contains("running as pid "), "{out}");
    assert!(!out.stdout.contains("running as pid 2\n"), "{out}");
}

#[test]
fn the_longest_grace_period_saturates_instead_of_panicking() {
    // The leftover `sleep` dies of the drain's SIGTERM; the init exits
    // with the program's code instead of panicking on Instant overflow.
    let out = as_pid1(&["--grace-max", "--exit", "3"]);
    out.assert_code(3);
    assert!(out.stdout.contains("running as pid 2"), "{out}");
}

#[test]
fn a_config_with_what_only_the_binary_uses_is_refused() {
    let out = as_pid1(&["--pause"]);
    out.assert_code(0);
    assert!(
        out.stdout.contains(
            "not an init: cannot become the init: Config::pause is for the pidone binary"
        ),
        "{out}"
    );
    assert!(out.stdout.contains("running as pid 1"), "{out}");
}
