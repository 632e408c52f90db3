//! Orphans re-parented to pidone are reaped, as PID 1 and as subreaper.

mod support;
use support::*;

#[test]
fn reaps_1000_double_forked_orphans() {
    let factory = example("zombie_factory");
    for mode in MODES {
        if skip_subreaper_under_qemu(mode) {
            continue;
        }
        let out = run(
            mode,
            &[
                "-vv".as_ref(),
                factory.as_os_str(),
                "--orphans".as_ref(),
                "1000".as_ref(),
                "--wait-reaped".as_ref(),
                "10".as_ref(),
            ],
        );
        out.assert_code(0);
        assert!(out.stdout.contains("zombies left: 0"), "{out}");
        // pidone reaped them, not an init above it: as subreaper no zombie
        // is left either when the orphans never reach pidone.
        let reaped = out
            .stderr
            .lines()
            .filter(|l| l.contains("reaped orphan pid"))
            .count();
        assert_eq!(
            reaped, 1000,
            "pidone reaped {reaped} orphans ({mode:?})\n{out}"
        );
    }
}

#[test]
fn logs_each_reaped_orphan_at_debug() {
    let factory = example("zombie_factory");
    let out = run(
        Mode::Pid1,
        &[
            "-vv".as_ref(),
            factory.as_os_str(),
            "--orphans".as_ref(),
            "3".as_ref(),
            "--wait-reaped".as_ref(),
            "10".as_ref(),
        ],
    );
    out.assert_code(0);
    let reaped = out
        .stderr
        .lines()
        .filter(|l| l.contains("reaped orphan pid"))
        .count();
    // The factory collects the intermediate parents itself; pidone gets the 3 orphans.
    assert_eq!(reaped, 3, "{out}");
}
