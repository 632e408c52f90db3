//! pidone exits with the child's code, or 128+N when signal N killed it.

mod support;
use support::*;

#[test]
fn exits_with_the_childs_code() {
    for mode in MODES {
        for code in [0, 1, 3, 255] {
            run(mode, &sh(&format!("exit {code}"))).assert_code(code);
        }
    }
}

#[test]
fn option_parsing_stops_at_the_command_so_sh_gets_dash_c() {
    for mode in MODES {
        run(mode, &["sh", "-c", "exit 3"]).assert_code(3);
    }
}

#[test]
fn exits_137_when_child_dies_of_sigkill_and_139_of_sigsegv() {
    for mode in MODES {
        run(mode, &sh("kill -KILL $$")).assert_code(137);
        run(mode, &sh("kill -SEGV $$")).assert_code(139);
    }
}

#[test]
fn exits_143_when_sigterm_sent_to_pidone_kills_the_sleeping_child() {
    for mode in MODES {
        let mut p = Running::start(mode, &sh("echo ready; exec sleep 1000"));
        p.expect_line("ready");
        p.signal(libc::SIGTERM);
        p.finish().assert_code(143);
    }
}
