//! Every signal sent to pidone reaches the child, real-time ones and the
//! SIGABRT class included.

mod support;
use support::*;

/// The signals the issue names, plus one real-time signal (SIGRTMIN+1 as
/// glibc numbers it, 35).
const SIGNALS: [i32; 10] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGALRM,
    libc::SIGABRT,
    35,
    libc::SIGTERM,
];

#[test]
fn forwards_every_signal_to_a_child_that_traps_them() {
    let logger = example("signal_logger");
    for mode in MODES {
        let mut p = Running::start(mode, &[logger.as_os_str()]);
        p.expect_line("ready");
        for signo in SIGNALS {
            p.signal(signo);
            let line = p.next_line();
            assert!(
                line.starts_with(&format!("got {signo} ")),
                "sent {signo}, child said {line:?}"
            );
        }
        p.finish().assert_code(0);
    }
}

#[test]
fn forwards_to_a_shell_trap() {
    for mode in MODES {
        let script = "trap 'echo got USR1' USR1; trap 'echo got HUP; exit 7' HUP; \
                      echo ready; while :; do sleep 0.05; done";
        let mut p = Running::start(mode, &sh(script));
        p.expect_line("ready");
        p.signal(libc::SIGUSR1);
        p.expect_line("got USR1");
        p.signal(libc::SIGHUP);
        p.expect_line("got HUP");
        p.finish().assert_code(7);
    }
}

#[test]
fn sigsegv_sent_with_kill_is_forwarded_not_fatal_to_pidone() {
    if skip_under_qemu(
        "qemu-user takes SIGSEGV for itself: a SIGSEGV sent with kill never reaches pidone's code",
    ) {
        return;
    }
    let logger = example("signal_logger");
    for mode in MODES {
        let mut p = Running::start(mode, &[logger.as_os_str()]);
        p.expect_line("ready");
        for signo in [
            libc::SIGSEGV,
            libc::SIGBUS,
            libc::SIGFPE,
            libc::SIGILL,
            libc::SIGTRAP,
            libc::SIGSYS,
        ] {
            p.signal(signo);
            let line = p.next_line();
            if line.split(' ').nth(1) != Some(signo.to_string().as_str()) {
                p.fail(&format!("after signal {signo}, the child said {line:?}"));
            }
        }
        p.signal(libc::SIGTERM);
        p.finish().assert_code(0);
    }
}
