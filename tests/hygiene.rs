//! The child gets exactly the process state pidone was given: signal mask,
//! ignored signals, file descriptors, argument bytes; pidone itself keeps
//! nothing of the child's and never wakes up when idle.

mod support;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::CommandExt;
use support::*;

fn bit(signo: i32) -> u64 {
    1 << (signo - 1)
}

/// Sets every signal to SIG_DFL with the raw system call, so that glibc's
/// reserved signals (32, 33), which Rust's Command may leave ignored, are
/// reset too and the test controls the whole state pidone is given.
///
/// # Safety
/// Call between fork and exec only.
unsafe fn reset_all_dispositions() {
    // struct kernel_sigaction { handler, flags, restorer, mask }: all zero is
    // SIG_DFL with no flags.
    let action = [0u64; 4];
    for signo in 1..=64 {
        if signo != libc::SIGKILL && signo != libc::SIGSTOP {
            // SAFETY: rt_sigaction with a live, all-zero kernel_sigaction
            // and no old action; the caller is between fork and exec.
            unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    signo,
                    action.as_ptr(),
                    std::ptr::null_mut::<u64>(),
                    8usize,
                )
            };
        }
    }
}

#[test]
fn child_gets_the_signal_mask_and_ignored_signals_pidone_was_given() {
    if skip_under_qemu("qemu-user keeps a host handler for a signal the emulated program ignores, and exec resets handled signals to default: the ignore is lost") {
        return;
    }
    for mode in MODES {
        let mut cmd = command(
            mode,
            &["--", "grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"],
        );
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                reset_all_dispositions();
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGUSR1);
                libc::sigaddset(&mut set, libc::SIGWINCH);
                libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
                libc::signal(libc::SIGUSR2, libc::SIG_IGN);
                Ok(())
            });
        }
        let out = Running::start_with(cmd, mode).finish();
        out.assert_code(0);
        let blk = u64::from_str_radix(&status_field(&out.stdout, "SigBlk"), 16).unwrap();
        let ign = u64::from_str_radix(&status_field(&out.stdout, "SigIgn"), 16).unwrap();
        assert_eq!(
            blk,
            bit(libc::SIGUSR1) | bit(libc::SIGWINCH),
            "SigBlk {blk:x}\n{out}"
        );
        assert_eq!(
            ign,
            bit(libc::SIGUSR2),
            "SigIgn {ign:x}: SIGPIPE must be back at default\n{out}"
        );
    }
}

#[test]
fn sigpipe_is_default_so_yes_into_head_ends_quietly() {
    for mode in MODES {
        let out = run(mode, &sh("yes | head -1"));
        out.assert_code(0);
        assert_eq!(out.stdout, "y", "{out}");
        assert!(
            !out.stderr.contains("Broken pipe"),
            "yes saw EPIPE: SIGPIPE was ignored\n{out}"
        );
    }
}

#[test]
fn child_gets_exactly_the_inherited_fds_and_pidone_keeps_none() {
    let logger = example("signal_logger");
    for mode in MODES {
        let mut cmd = command(mode, &[logger.as_os_str()]);
        cmd.current_dir(std::env::temp_dir());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                // Exactly three extra descriptors, without close-on-exec,
                // one past 1023 (where pidone once stopped closing).
                libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
                libc::dup2(2, 5);
                libc::dup2(2, 7);
                let mut limit: libc::rlimit = std::mem::zeroed();
                libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
                limit.rlim_cur = limit.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
                if libc::dup2(2, 1500) != 1500 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut p = Running::start_with(cmd, mode);
        let ready = p.expect_line("ready");
        let child: i32 = ready["ready pid=".len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let pidone = p.pidone_pid();
        let child_host = if mode == Mode::Pid1 {
            let kids =
                std::fs::read_to_string(format!("/proc/{pidone}/task/{pidone}/children")).unwrap();
            kids.split_whitespace().next().unwrap().parse().unwrap()
        } else {
            child
        };
        let fds = |pid: i32| -> Vec<i32> {
            let mut v: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap())
                .collect();
            v.sort();
            v
        };
        // pidone lets go of its inherited fds before its signal loop: a
        // signal that comes back through it says it got there.
        p.signal(libc::SIGUSR1);
        p.expect_line("got 10 ");
        assert_eq!(fds(child_host), [0, 1, 2, 5, 7, 1500], "child's fds");
        // pidone keeps stdio, a pidfd of its child, and its own
        // non-blocking description of stderr (a pipe here); none of the
        // inherited 5, 7 and 1500.
        let own: Vec<i32> = fds(pidone).into_iter().filter(|&fd| fd > 2).collect();
        assert!(own.len() <= 2, "pidone's fds after spawning: {own:?}");
        for fd in own {
            let target = std::fs::read_link(format!("/proc/{pidone}/fd/{fd}")).unwrap();
            let stderr = std::fs::read_link(format!("/proc/{pidone}/fd/2")).unwrap();
            let flags = std::fs::read_to_string(format!("/proc/{pidone}/fdinfo/{fd}")).unwrap();
            let nonblocking = flags
                .lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|f| i32::from_str_radix(f.trim(), 8).ok())
                .is_some_and(|f| f & libc::O_NONBLOCK != 0);
            assert!(
                target.to_str() == Some("anon_inode:[pidfd]") || (target == stderr && nonblocking),
                "pidone holds fd {fd} -> {target:?}, which is not its own"
            );
        }
        let cwd = std::fs::read_link(format!("/proc/{pidone}/cwd")).unwrap();
        assert_eq!(cwd, std::path::Path::new("/"), "pidone's cwd");
        let child_cwd = std::fs::read_link(format!("/proc/{child_host}/cwd")).unwrap();
        assert_eq!(
            child_cwd,
            std::env::temp_dir().canonicalize().unwrap(),
            "child's cwd"
        );
        p.signal(libc::SIGTERM);
        p.finish().assert_code(0);
    }
}

#[test]
fn listen_pid_names_the_child_when_it_named_pidone() {
    let script = format!(
        "LISTEN_PID=$$ exec {} -- sh -c 'echo \"$LISTEN_PID $$\"'",
        pidone().display()
    );
    let mut cmd = unshare();
    cmd.args(["sh", "-c", &script]);
    let out = Running::start_with(cmd, Mode::Pid1).finish();
    out.assert_code(0);
    let (listen, pid) = out.stdout.split_once(' ').unwrap();
    assert_eq!(
        listen, pid,
        "LISTEN_PID should be the child's own pid\n{out}"
    );
    assert_ne!(listen, "1", "{out}");
    // A LISTEN_PID that is not pidone's is passed on untouched. pid 1 is
    // never pidone's in subreaper mode, and it is the value a rewrite to
    // the child's pid could not produce by accident.
    let mut cmd = command(Mode::Subreaper, &sh("echo $LISTEN_PID"));
    cmd.env("LISTEN_PID", "1");
    let out = Running::start_with(cmd, Mode::Subreaper).finish();
    out.assert_code(0);
    assert_eq!(
        out.stdout, "1",
        "LISTEN_PID should be passed on as it was\n{out}"
    );
}

#[test]
fn non_utf8_argument_bytes_reach_the_child_unchanged() {
    let weird = OsString::from_vec(vec![0xff, 0xfe, b'a', 0x80, b' ', b'\n']);
    for mode in MODES {
        let args = [
            OsString::from("--"),
            "sh".into(),
            "-c".into(),
            "printf %s \"$1\" | od -An -tx1".into(),
            "sh".into(),
            weird.clone(),
        ];
        let out = run(mode, &args);
        out.assert_code(0);
        assert_eq!(
            out.stdout.split_whitespace().collect::<Vec<_>>(),
            ["ff", "fe", "61", "80", "20", "0a"],
            "{out}"
        );
    }
}

#[test]
fn idle_pidone_never_wakes_up() {
    let logger = example("signal_logger");
    for mode in MODES {
        let mut p = Running::start(mode, &[logger.as_os_str()]);
        p.expect_line("ready");
        let pid = p.pidone_pid();
        // Into the signal loop (a forwarded signal says so), then asleep in it.
        p.signal(libc::SIGUSR1);
        p.expect_line("got 10 ");
        wait_until_sleeping(pid);
        let switches = || {
            let s = proc_status(pid);
            let v: u64 = status_field(&s, "voluntary_ctxt_switches").parse().unwrap();
            let n: u64 = status_field(&s, "nonvoluntary_ctxt_switches")
                .parse()
                .unwrap();
            (v, n)
        };
        let before = switches();
        // The measurement itself: two seconds of doing nothing.
        std::thread::sleep(std::time::Duration::from_secs(2));
        let after = switches();
        assert_eq!(before, after, "an idle pidone woke up ({mode:?})");
        p.signal(libc::SIGTERM);
        p.finish().assert_code(0);
    }
}

/// Waits (bounded) until `pid` is asleep (state S in /proc/PID/stat).
fn wait_until_sleeping(pid: i32) {
    wait_until(&format!("pid {pid} sleeps ({:?})", stat(pid)), || {
        state(pid) == Some('S')
    });
}
