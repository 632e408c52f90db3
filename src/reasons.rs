//! Why the command ended, said once: a warning when it dies of a signal
//! that did not come through pidone (a crash, the OOM killer, a kill from
//! outside), out-of-memory kills named from the cgroup's counter, and the
//! termination message (`--termination-log`) written at exit.
//!
//! Reads /proc and the cgroup filesystem; writes nothing but the termination
//! message, and that without ever blocking. Without a readable memory cgroup
//! it says nothing about memory: no guess.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::reap::{self, Status};
use crate::signals;

/// What pidone knows of why the command may end.
#[derive(Debug, Default)]
pub(crate) struct Reasons {
    /// The signals that reached the command through pidone (forwarded,
    /// rewritten, or sent by the terminal to the group it shares with
    /// pidone), a bit each: a death by one of them is no news.
    sent: u128,
    /// The command line, escaped, for the termination message.
    command: String,
    memory: Option<Memory>,
    /// Whether the cgroup was looked for already.
    looked: bool,
    /// The command's pid and how it ended, for the termination message.
    ended: Option<(i32, String)>,
}

/// pidone's memory cgroup (its container's): the files of its OOM kill
/// counter and of its limit, and the count when last read.
#[derive(Debug)]
struct Memory {
    events: PathBuf,
    limit: PathBuf,
    kills: u64,
}

impl Reasons {
    /// Reads the cgroup's OOM kill count, to compare with later; not when
    /// `fresh` (PID 1 of a new container, whose cgroup is as new as pidone
    /// and counts from 0), which keeps the cgroup out of pidone's startup.
    pub fn new(command: &[OsString], fresh: bool) -> Reasons {
        let words: Vec<_> = command.iter().map(|w| w.to_string_lossy()).collect();
        Reasons {
            command: signals::printable(&words.join(" ")),
            memory: (!fresh).then(Memory::find).flatten(),
            looked: !fresh,
            ..Reasons::default()
        }
    }

    /// What to say of the OOM kills since the last look, if any.
    fn memory_news(&mut self) -> Option<String> {
        if !std::mem::replace(&mut self.looked, true) {
            self.memory = Memory::find().map(|m| Memory { kills: 0, ..m });
        }
        self.memory.as_mut()?.news()
    }

    /// `signo` reached the command through pidone.
    pub fn sent(&mut self, signo: i32) {
        self.sent |= bit(signo);
    }

    /// The command ended with `status`: one warning when it died of a
    /// signal that did not come through pidone, or when the OOM killer ran
    /// in the container meanwhile.
    pub fn command_ended(&mut self, pid: i32, status: Status) {
        let mut how = reap::describe(status);
        let signo = match status {
            Status::Signaled(signo, core) => {
                how += if core { " (core dumped)" } else { "" };
                Some(signo)
            }
            _ => None,
        };
        let memory = match status {
            Status::Exited(0) => None,
            _ => self.memory_news(),
        };
        let news = match (memory, signo) {
            (Some(why), Some(libc::SIGKILL)) => write!(how, ": out of memory ({why})").is_ok(),
            (Some(why), _) => write!(how, "; the container ran out of memory ({why})").is_ok(),
            (None, signo) => signo.is_some_and(|s| self.sent & bit(s) == 0),
        };
        if news {
            log::warn!("the command (pid {pid}) {how}");
        }
        self.ended = Some((pid, how));
    }

    /// Orphans `pids` died of SIGKILL while the command ran: a warning each
    /// if the OOM killer ran meanwhile.
    pub fn orphans_killed(&mut self, pids: &[i32]) {
        if pids.is_empty() {
            return;
        }
        let Some(why) = self.memory_news() else {
            return;
        };
        for pid in pids {
            log::warn!("the orphan pid {pid} was killed by SIGKILL: out of memory ({why})");
        }
    }

    /// At exit with `code` (after `-e`): when the command failed, writes the
    /// termination message to `path` unless the file holds one already (the
    /// application's own wins). `drain` is how many processes the drain
    /// reached and killed, when counted. Never blocks, never changes the
    /// exit code: a failure is a warning.
    pub fn write_message(&self, path: &Path, code: u8, drain: Option<(usize, usize)>) {
        if code == 0 {
            return;
        }
        let shown = path.display();
        match write_if_empty(path, self.message(code, drain).as_bytes()) {
            Ok(true) => log::info!("wrote the termination message to {shown}"),
            Ok(false) => log::info!("left {shown} as it was: it holds a message already"),
            Err(e) => log::warn!("failed to write the termination message to {shown}: {e}"),
        }
    }

    /// The termination message: what ended, how, and what pidone did after.
    fn message(&self, code: u8, drain: Option<(usize, usize)>) -> String {
        let mut text = String::new();
        if let Some((pid, how)) = &self.ended {
            // The self-init entry has no command line: the program is its own.
            let command = format!("'{}' ", self.command).replace("'' ", "");
            let _ = writeln!(text, "The command {command}(pid {pid}) {how}.");
        }
        let _ = write!(text, "pidone exited with {code}.");
        if let Some((drained, killed)) = drain.filter(|&(n, _)| n > 0) {
            let s = if drained == 1 { "" } else { "es" };
            let _ = write!(text, " It drained {drained} process{s} left behind; ");
            let _ = write!(text, "{killed} had to be killed.");
        }
        text + "\n"
    }
}

impl Memory {
    fn find() -> Option<Memory> {
        let (cgroups, mounts) = (read("/proc/self/cgroup")?, read("/proc/self/mountinfo")?);
        let mut found = candidates(&cgroups, &mounts).into_iter();
        found.find_map(|(dir, v2)| {
            let [events, limit] = FILES[usize::from(v2)].map(|file| dir.join(file));
            let kills = number(&read(&events)?, "oom_kill ")?;
            Some(Memory {
                events,
                limit,
                kills,
            })
        })
    }

    /// What to say of the OOM kills since the last read, if there were any.
    fn news(&mut self) -> Option<String> {
        let now = number(&read(&self.events)?, "oom_kill ")?;
        let new = now.checked_sub(self.kills).filter(|&n| n > 0)?;
        self.kills = now;
        let times = if new == 1 { "time" } else { "times" };
        let ran = format!("the kernel's OOM killer ran {new} {times}");
        // v2 writes "max" for no limit, v1 a number near 2^63.
        let limit = read(&self.limit).and_then(|text| number(&text, ""));
        Some(match limit.filter(|&l| l < 1 << 62) {
            Some(limit) => format!("the container's limit is {}; {ran}", size(limit)),
            None => ran,
        })
    }
}

/// `signo`'s bit in [`Reasons::sent`].
fn bit(signo: i32) -> u128 {
    1u128.checked_shl(signo as u32).unwrap_or(0)
}

/// The directories that may be pidone's memory cgroup, each with whether it
/// is cgroup v2: for each cgroup mount (`/proc/self/mountinfo`, proc(5)),
/// pidone's path in that hierarchy (`/proc/self/cgroup`, cgroups(7)) below
/// the mount's root. In a container the root is the container's own cgroup
/// (a cgroup namespace, or Docker's bind mount of it under cgroup v1).
fn candidates(cgroups: &str, mountinfo: &str) -> Vec<(PathBuf, bool)> {
    let path_in = |v2: bool| {
        cgroups.lines().find_map(|line| {
            // v2: `0::/path`; v1: `4:memory:/path`.
            let (controllers, path) = line.split_once(':')?.1.split_once(':')?;
            let want = if v2 { "" } else { "memory" };
            controllers.split(',').any(|c| c == want).then_some(path)
        })
    };
    let mount = |line: &str| {
        let (mount, fs) = line.split_once(" - ")?;
        let v2 = match fs.split(' ').collect::<Vec<_>>()[..] {
            ["cgroup2", ..] => true,
            ["cgroup", _, options, ..] if options.split(',').any(|o| o == "memory") => false,
            _ => return None,
        };
        let mount: Vec<&str> = mount.split(' ').collect();
        let below = Path::new(path_in(v2)?).strip_prefix(mount.get(3)?).ok()?;
        // Components: no trailing `/` when the cgroup is the root.
        let dir = Path::new(mount.get(4)?).join(below).components().collect();
        Some((dir, v2))
    };
    mountinfo.lines().filter_map(mount).collect()
}

/// The files of a memory cgroup pidone reads, v1 and v2: the OOM kill
/// counter (`oom_kill`, from Linux 4.13) and the limit.
const FILES: [[&str; 2]; 2] = [
    ["memory.oom_control", "memory.limit_in_bytes"],
    ["memory.events", "memory.max"],
];

/// A file of /proc or /sys, read in pages: they say their size is 0, and
/// std would read them 32 bytes at a time.
fn read(path: impl AsRef<Path>) -> Option<String> {
    let mut text = String::with_capacity(4096);
    fs::File::open(path).ok()?.read_to_string(&mut text).ok()?;
    Some(text)
}

/// The number after `start` on the first line of `text` that begins so.
fn number(text: &str, start: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(start)?.trim().parse().ok())
}

/// `bytes` as a container limit is usually set: 64 MiB, 2 GiB.
fn size(bytes: u64) -> String {
    match bytes.trailing_zeros() {
        30.. => format!("{} GiB", bytes >> 30),
        20.. => format!("{} MiB", bytes >> 20),
        _ => format!("{bytes} bytes"),
    }
}

/// Writes `text` to `path` if it is empty or missing; false when it was
/// not. O_NONBLOCK: a FIFO without a reader fails at once (ENXIO) and a full
/// one at the write (EAGAIN), rather than hanging pidone. O_NOFOLLOW: the
/// application cannot point pidone's write elsewhere with a symlink.
fn write_if_empty(path: &Path, text: &[u8]) -> io::Result<bool> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(path)?;
    if file.metadata()?.len() > 0 {
        return Ok(false);
    }
    file.write_all(text)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Read on this machine (Linux 6.18, cgroup v1 with the v2 hierarchy
    // mounted beside it) inside `docker run -m 64m` and on the host.
    const V1_DOCKER_CGROUP: &str = "\
9:name=systemd:/docker/f932cd220d42
4:memory:/docker/f932cd220d42
1:cpu:/docker/f932cd220d42
0::/docker/f932cd220d42
";
    const V1_DOCKER_MOUNTS: &str = "\
106 105 0:49 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,mode=755
107 106 0:29 /docker/f932cd220d42 /sys/fs/cgroup/cpu ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpu
110 106 0:32 /docker/f932cd220d42 /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory
115 106 0:37 /docker/f932cd220d42 /sys/fs/cgroup/systemd ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,name=systemd
";
    const V1_HOST_CGROUP: &str = "4:memory:/process_api/434f\n3:cpuset:/\n0::/\n";
    const V1_HOST_MOUNTS: &str = "\
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const V1_OOM_CONTROL: &str = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";

    // cgroup v2, not available here: a container in a cgroup namespace of
    // its own (Docker 20.10 and later, containerd), and a systemd host with
    // optional fields before the separator. The kernel writes memory.events
    // as memory_events_show() in mm/memcontrol.c does, one key per line.
    const V2_CONTAINER_CGROUP: &str = "0::/\n";
    const V2_CONTAINER_MOUNTS: &str = "\
709 705 0:108 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
710 709 0:25 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw,nsdelegate,memory_recursiveprot
";
    const V2_HOST_CGROUP: &str = "0::/user.slice/user-1000.slice/session-3.scope\n";
    const V2_HOST_MOUNTS: &str = "\
29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";
    const V2_EVENTS: &str = "low 0\nhigh 0\nmax 31\noom 1\noom_kill 1\noom_group_kill 0\n";

    fn dirs(cgroups: &str, mounts: &str) -> Vec<(String, bool)> {
        let found = candidates(cgroups, mounts);
        found
            .into_iter()
            .map(|(d, v2)| (d.display().to_string(), v2))
            .collect()
    }

    #[test]
    fn finds_the_memory_cgroup_of_v1_and_v2() {
        let v1 = |d: &str| vec![(d.to_owned(), false)];
        assert_eq!(
            dirs(V1_DOCKER_CGROUP, V1_DOCKER_MOUNTS),
            v1("/sys/fs/cgroup/memory")
        );
        assert_eq!(
            dirs(V1_HOST_CGROUP, V1_HOST_MOUNTS),
            [
                ("/sys/fs/cgroup/memory/process_api/434f".to_owned(), false),
                ("/sys/fs/cgroup/unified".to_owned(), true)
            ]
        );
        assert_eq!(
            dirs(V2_CONTAINER_CGROUP, V2_CONTAINER_MOUNTS),
            [("/sys/fs/cgroup".to_owned(), true)]
        );
        assert_eq!(
            dirs(V2_HOST_CGROUP, V2_HOST_MOUNTS),
            [(
                "/sys/fs/cgroup/user.slice/user-1000.slice/session-3.scope".to_owned(),
                true
            )]
        );
        // A cgroup outside the mount's root (another namespace's): no guess.
        assert!(dirs("4:memory:/elsewhere\n", V1_DOCKER_MOUNTS).is_empty());
        assert!(dirs("", V2_CONTAINER_MOUNTS).is_empty());
    }

    #[test]
    fn reads_the_oom_kill_counters_of_v1_and_v2() {
        assert_eq!(number(V1_OOM_CONTROL, "oom_kill "), Some(2));
        assert_eq!(number(V2_EVENTS, "oom_kill "), Some(1));
        assert_eq!(number(V2_EVENTS, "oom "), Some(1));
        // Before Linux 4.13, memory.oom_control has no oom_kill line.
        assert_eq!(
            number("oom_kill_disable 0\nunder_oom 0\n", "oom_kill "),
            None
        );
    }

    #[test]
    fn sizes_in_binary_units() {
        assert_eq!(size(64 << 20), "64 MiB");
        assert_eq!(size(2 << 30), "2 GiB");
        assert_eq!(size(3 << 29), "1536 MiB");
        assert_eq!(size(100), "100 bytes");
    }

    #[test]
    fn the_message_names_the_command_its_end_and_the_drain() {
        let mut reasons = Reasons::new(&["app".into(), "--flag\n".into()], false);
        reasons.command_ended(7, Status::Signaled(libc::SIGSEGV, true));
        assert_eq!(
            reasons.message(139, Some((3, 1))),
            "The command 'app --flag\\n' (pid 7) was killed by SIGSEGV (core dumped).\n\
             pidone exited with 139. It drained 3 processes left behind; 1 had to be killed.\n"
        );
        assert_eq!(
            Reasons::default().message(2, None),
            "pidone exited with 2.\n"
        );
        let mut program = Reasons::default();
        program.command_ended(1, Status::Exited(3));
        let text = "The command (pid 1) exited with 3.\npidone exited with 3.\n";
        assert_eq!(program.message(3, None), text);
    }
}
