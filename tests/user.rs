//! `--user` and `--no-new-privs` for real. pidone runs as PID 1 of fresh PID
//! and mount namespaces whose `/etc/passwd` and `/etc/group` are the test's
//! own, bound over the host's (or, for "no passwd at all", an empty `/etc`),
//! with a fresh tmpfs on `/mnt` (not /tmp: the checkout may live there) holding a setuid-root copy of the `euid`
//! example. The command says who it is from `/proc/self/status`: uid, gid,
//! groups, capabilities, no_new_privs, and its HOME.
//!
//! Needs root: setgroups(2) and setuid(2) to another user need the
//! capabilities of the initial user namespace (in a user namespace of one's
//! own, only root is mapped and setgroups is denied).

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::*;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
this line does not parse
app:x:4242:4343:An app:/home/app:/bin/sh
";
const GROUP: &str = "root:x:0:
nogroup:x:65534:
app:x:4343:
audio:x:29:pulse,app
video:x:44:app
staff:x:50:
";

/// Who the command is, as the kernel says.
const WHO: &str = "grep -E '^(Uid|Gid|Groups|CapPrm|CapEff|NoNewPrivs):' /proc/self/status; \
                   echo \"HOME=$HOME\"";

/// What `/etc` holds in the namespace.
#[derive(Clone, Copy)]
enum Etc {
    /// The host's, with PASSWD and GROUP bound over its passwd and group.
    Ours,
    /// Nothing: an empty tmpfs, as in an image with no /etc/passwd.
    Empty,
}

/// A place for the files the namespace gets, removed when dropped.
struct Files(PathBuf);

impl Files {
    fn new() -> Files {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("user-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("passwd"), PASSWD).expect("passwd");
        std::fs::write(dir.join("group"), GROUP).expect("group");
        std::fs::copy(example("euid"), dir.join("euid")).expect("euid");
        Files(dir)
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Copies pidone (`$3`) beside the test's files (by a
/// process of its own: a copy written by the test, which forks on other
/// threads, could be held open for writing by a child, and exec would fail
/// with ETXTBSY), mounts what `etc` says, then execs the rest of its
/// arguments (that copy of pidone, or a wrapper of it) as PID 1.
const SETUP: &str = r#"set -e
src=$1 etc=$2
cp "$3" "$src/pidone"
shift 3
mount -t tmpfs -o mode=1777 tmpfs /mnt
cp "$src/euid" /mnt/euid
chmod 4755 /mnt/euid
if [ "$etc" = ours ]; then
    mount --bind "$src/passwd" /etc/passwd
    mount --bind "$src/group" /etc/group
else
    mount -t tmpfs tmpfs /etc
fi
exec "$@""#;

/// The command that runs `before` (a wrapper, or nothing), then pidone with
/// `args`, as PID 1 of new PID and mount namespaces set up as `etc` says.
/// HOME is `/test-home` and MARK is set, to see what the command gets.
fn command(files: &Files, etc: Etc, before: &[&str], args: &[&str]) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--mount",
        "--pid",
        "--fork",
        "--mount-proc",
        "sh",
        "-c",
        SETUP,
        "setup",
    ]);
    cmd.arg(&files.0).arg(match etc {
        Etc::Ours => "ours",
        Etc::Empty => "empty",
    });
    cmd.arg(pidone())
        .args(before)
        .arg(files.0.join("pidone"))
        .args(args);
    cmd.env("HOME", "/test-home").env("MARK", "kept");
    cmd.env_remove("PIDONE_USER")
        .env_remove("PIDONE_NO_NEW_PRIVS");
    cmd
}

fn run_in(etc: Etc, args: &[&str]) -> Outcome {
    let files = Files::new();
    run_bounded(&mut command(&files, etc, &[], args), LIMIT)
}

/// Whether the test can run: it needs root (see the top of the file).
fn skip() -> bool {
    skip_unless(
        is_root(),
        "root (setgroups and setuid to another user need it)",
    )
}

/// The `/proc/self/status` lines and HOME the command printed, with tabs
/// as single spaces: `Uid: 4242 4242 4242 4242`.
fn who(out: &Outcome) -> Vec<String> {
    out.stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[track_caller]
fn assert_who(args: &[&str], want: &[String]) {
    let mut full = args.to_vec();
    full.extend(["--", "sh", "-c", WHO]);
    let out = run_in(Etc::Ours, &full);
    out.assert_code(0);
    assert_eq!(who(&out), want, "{out}");
    eprintln!("{args:?}:\n{}", out.stdout);
}

const NO_CAPS: [&str; 2] = ["CapPrm: 0000000000000000", "CapEff: 0000000000000000"];

fn status(uid: &str, gid: &str, groups: &str, nnp: u8, home: &str) -> Vec<String> {
    let mut lines = vec![
        format!("Uid: {uid} {uid} {uid} {uid}"),
        format!("Gid: {gid} {gid} {gid} {gid}"),
        format!("Groups: {groups}"),
    ];
    lines.extend(NO_CAPS.map(String::from));
    lines.push(format!("NoNewPrivs: {nnp}"));
    lines.push(format!("HOME={home}"));
    lines
}

#[test]
fn a_named_user_gets_its_ids_its_groups_its_home_and_no_capabilities() {
    if skip() {
        return;
    }
    // The kernel lists groups sorted: primary 4343, audio 29, video 44.
    let app = status("4242", "4343", "29 44 4343", 0, "/home/app");
    assert_who(&["--user", "app"], &app);
    assert_who(
        &["--user", "nobody"],
        &status("65534", "65534", "65534", 0, "/nonexistent"),
    );
}

#[test]
fn the_same_user_as_numbers_only() {
    if skip() {
        return;
    }
    let app = status("4242", "4343", "29 44 4343", 0, "/home/app");
    assert_who(&["--user", "4242"], &app);
    // A group given is the primary and only group, as with gosu and su-exec.
    assert_who(
        &["--user", "4242:4343"],
        &status("4242", "4343", "4343", 0, "/home/app"),
    );
    assert_who(
        &["--user", "app:staff"],
        &status("4242", "50", "50", 0, "/home/app"),
    );
    // A number with no entry: its own number as gid, no other group, HOME
    // left alone.
    assert_who(
        &["--user", "5000"],
        &status("5000", "5000", "5000", 0, "/test-home"),
    );
    assert_who(
        &["--user", "5000:audio"],
        &status("5000", "29", "29", 0, "/test-home"),
    );
    // Numbers need no /etc/passwd at all.
    let mut args = vec!["--user", "5000:6000", "--", "sh", "-c", WHO];
    let out = run_in(Etc::Empty, &args);
    assert_eq!(
        who(&out),
        status("5000", "6000", "6000", 0, "/test-home"),
        "{out}"
    );
    // The variable means the same.
    args.splice(0..2, []);
    let files = Files::new();
    let mut cmd = command(&files, Etc::Ours, &[], &args);
    let out = run_bounded(cmd.env("PIDONE_USER", "4242"), LIMIT);
    assert_eq!(who(&out), app, "{out}");
}

#[test]
fn only_home_changes_in_the_environment() {
    if skip() {
        return;
    }
    let env = |user: &[&str]| {
        let mut args = user.to_vec();
        args.extend(["--", "env"]);
        let out = run_in(Etc::Ours, &args);
        out.assert_code(0);
        let mut lines: Vec<String> = out.stdout.lines().map(String::from).collect();
        lines.sort();
        lines
    };
    let root = env(&[]);
    let app = env(&["--user", "app"]);
    assert!(root.contains(&"MARK=kept".to_owned()), "{root:?}");
    let differ = |a: &[String], b: &[String]| -> Vec<String> {
        a.iter().filter(|l| !b.contains(l)).cloned().collect()
    };
    assert_eq!(differ(&root, &app), ["HOME=/test-home"]);
    assert_eq!(differ(&app, &root), ["HOME=/home/app"]);
}

#[test]
fn no_new_privs_keeps_a_setuid_root_helper_unprivileged() {
    if skip() {
        return;
    }
    let helper = |args: &[&str], var: Option<&str>| {
        let files = Files::new();
        let mut full = args.to_vec();
        full.extend(["--", "/mnt/euid"]);
        let mut cmd = command(&files, Etc::Ours, &[], &full);
        if let Some(value) = var {
            cmd.env("PIDONE_NO_NEW_PRIVS", value);
        }
        let out = run_bounded(&mut cmd, LIMIT);
        out.assert_code(0);
        eprintln!("{args:?} {var:?}: {}", out.stdout);
        out.stdout.trim().to_owned()
    };
    let full_caps = helper(&["--user", "app"], None);
    assert!(
        full_caps.starts_with("uid=4242 euid=0 CapEff="),
        "{full_caps}"
    );
    assert!(
        !full_caps.ends_with("CapEff=0000000000000000"),
        "{full_caps}"
    );
    let kept = "uid=4242 euid=4242 CapEff=0000000000000000";
    assert_eq!(helper(&["--user", "app", "--no-new-privs"], None), kept);
    assert_eq!(helper(&["--user", "app"], Some("1")), kept);
    assert_eq!(
        helper(&["--user", "app", "--no-new-privs"], Some("0")),
        kept
    );
    // Without --user it holds too: root stays root, and says so.
    let out = run_in(Etc::Ours, &["--no-new-privs", "--", "sh", "-c", WHO]);
    assert!(who(&out).contains(&"NoNewPrivs: 1".to_owned()), "{out}");
    assert!(who(&out).contains(&"Uid: 0 0 0 0".to_owned()), "{out}");
}

#[test]
fn bad_input_is_one_line_before_anything_starts() {
    if skip() {
        return;
    }
    let malformed = "not USER[:GROUP] with names or numbers";
    let cases: &[(Etc, &[&str], Option<&str>, String)] = &[
        (
            Etc::Ours,
            &["--user", "bob"],
            None,
            "cannot run 'sh' as user 'bob': no user 'bob' in /etc/passwd".into(),
        ),
        (
            Etc::Ours,
            &["--user", "app:wheel"],
            None,
            "cannot run 'sh' as user 'app:wheel': no group 'wheel' in /etc/group".into(),
        ),
        (
            Etc::Ours,
            &["--user", "a:b:c"],
            None,
            format!("--user: 'a:b:c': {malformed}"),
        ),
        (
            Etc::Ours,
            &["--user", ""],
            None,
            format!("--user: '': {malformed}"),
        ),
        (
            Etc::Ours,
            &["--user", ":"],
            None,
            format!("--user: ':': {malformed}"),
        ),
        (
            Etc::Ours,
            &["--user", "4294967296"],
            None,
            format!("--user: '4294967296': {malformed}"),
        ),
        (
            Etc::Ours,
            &[],
            Some("app::"),
            format!("PIDONE_USER: 'app::': {malformed}"),
        ),
        (
            Etc::Empty,
            &["--user", "app"],
            None,
            "cannot run 'sh' as user 'app': cannot read /etc/passwd: No such file or directory"
                .into(),
        ),
        (
            Etc::Empty,
            &["--user", "0:staff"],
            None,
            "cannot run 'sh' as user '0:staff': cannot read /etc/group: No such file or directory"
                .into(),
        ),
    ];
    for (etc, args, var, want) in cases {
        let files = Files::new();
        let mut full = args.to_vec();
        full.extend(["--", "sh", "-c", "echo started"]);
        let mut cmd = command(&files, *etc, &[], &full);
        if let Some(value) = var {
            cmd.env("PIDONE_USER", value);
        }
        let out = run_bounded(&mut cmd, LIMIT);
        out.assert_code(2);
        assert_eq!(out.stderr, format!("pidone: {want}\n"), "{out}");
        assert_eq!(out.stdout, "", "the command ran\n{out}");
    }
}

#[test]
fn a_refused_switch_is_reported_and_the_command_never_runs() {
    if skip() {
        return;
    }
    let cases: &[(&[&str], &str)] = &[
        // pidone not root: setgroups is the first call refused.
        (
            &[
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
            ],
            "setgroups",
        ),
        // Root without CAP_SETUID: setgroups and setgid pass, setuid fails.
        (&["setpriv", "--bounding-set=-setuid"], "setuid"),
    ];
    for (wrapper, call) in cases {
        let files = Files::new();
        let args = ["--user", "app", "--", "sh", "-c", "echo started"];
        let out = run_bounded(&mut command(&files, Etc::Ours, wrapper, &args), LIMIT);
        out.assert_code(125);
        let want =
            format!("pidone: cannot run 'sh' as user 'app': {call}: Operation not permitted\n");
        assert_eq!(out.stderr, want, "{out}");
        assert_eq!(out.stdout, "", "the command ran\n{out}");
    }
}

#[test]
fn the_command_cannot_signal_pidone_but_pidone_signals_it() {
    if skip() {
        return;
    }
    let files = Files::new();
    let script = "trap 'echo got-TERM; exit 7' TERM; \
                  kill -TERM 1 2>&1; echo \"kill=$?\"; echo ready; \
                  while :; do sleep 1000 & wait $!; done";
    let args = ["--user", "app", "--", "sh", "-c", script];
    let mut pidone = Running::start_with(command(&files, Etc::Ours, &[], &args), Mode::Pid1);
    let refused = pidone.next_line();
    assert!(refused.contains("Operation not permitted"), "{refused}");
    let code = pidone.expect_line("kill=");
    assert_ne!(code, "kill=0", "the user's kill of PID 1 succeeded");
    pidone.expect_line("ready");
    pidone.signal(libc::SIGTERM);
    let out = pidone.finish();
    out.assert_code(7);
    assert!(out.stdout.contains("got-TERM"), "{out}");
}
