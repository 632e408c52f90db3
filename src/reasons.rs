//! Why the command ended, said once: a warning when it dies of a signal
//! pidone did not send (a crash, the OOM killer, a kill from outside), the
//! container's out-of-memory kills named from its cgroup's counter, and the
//! termination message (`--termination-log`, Kubernetes' `/dev/termination-log`)
//! written at exit.
//!
//! Reads /proc and the cgroup filesystem; writes nothing but the termination
//! message, and that without ever blocking. Without a readable memory cgroup
//! it says nothing about memory: no guess.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::reap::{self, Status};
use crate::signals;

/// What pidone knows of why the command may end.
#[derive(Debug, Default)]
pub(crate) struct Reasons {
    /// The signals that reached the command through pidone, or from the
    /// terminal with pidone's group: a bit per number. A death by one of
    /// them is no news.
    sent: u64,
    memory: Option<Memory>,
    /// The command's pid and how it ended, for the termination message.
    ended: Option<(i32, String)>,
}

/// pidone's memory cgroup (its container's): where its files are, and the
/// OOM kills counted when last read.
#[derive(Debug)]
struct Memory {
    dir: PathBuf,
    v2: bool,
    kills: u64,
}

impl Reasons {
    /// Reads the cgroup's OOM kill count to compare with later.
    pub fn new() -> Reasons {
        Reasons {
            memory: Memory::find(),
            ..Reasons::default()
        }
    }

    /// pidone sent `signo` to the command (or the terminal sent it to the
    /// command with pidone).
    pub fn sent(&mut self, signo: i32) {
        if (1..64).contains(&signo) {
            self.sent |= 1 << signo;
        }
    }

    /// The command ended with `status`: one warning when it died of a
    /// signal that did not come through pidone, or when the OOM killer ran
    /// in the container meanwhile.
    pub fn command_ended(&mut self, pid: i32, status: Status) {
        let mut how = reap::describe(status);
        let signo = match status {
            Status::Signaled(signo, core) => {
                if core {
                    how.push_str(" (core dumped)");
                }
                Some(signo)
            }
            _ => None,
        };
        let oom = self.memory.as_mut().and_then(Memory::news);
        let news = match (oom, signo) {
            (Some(why), Some(libc::SIGKILL)) => write!(how, ": out of memory ({why})").is_ok(),
            (Some(why), _) => write!(how, "; the container ran out of memory ({why})").is_ok(),
            (None, Some(signo)) => !(1..64).contains(&signo) || self.sent & (1 << signo) == 0,
            (None, None) => false,
        };
        if news {
            log::warn!("the command (pid {pid}) {how}");
        }
        self.ended = Some((pid, how));
    }

    /// Orphans `pids` died of SIGKILL while the command ran: a warning if
    /// the OOM killer was what killed them.
    pub fn orphans_killed(&mut self, pids: &[i32]) {
        if pids.is_empty() {
            return;
        }
        if let Some(why) = self.memory.as_mut().and_then(Memory::news) {
            let list: Vec<String> = pids.iter().map(|p| format!("pid {p}")).collect();
            let (who, was) = if pids.len() == 1 {
                ("orphan", "was")
            } else {
                ("orphans", "were")
            };
            let list = list.join(", ");
            log::warn!("the {who} {list} {was} killed by SIGKILL: out of memory ({why})");
        }
    }

    /// At exit with `code` (after `-e`): when the command failed, writes the
    /// termination message to `path` unless the file holds one already (the
    /// application's own wins). `drain` is how many processes the drain
    /// ended and how many of them it had to kill, when counted. Never
    /// blocks, never changes the exit code: a failure is a warning.
    pub fn write_message(
        &self,
        path: &Path,
        command: &[OsString],
        code: u8,
        drain: Option<(usize, usize)>,
    ) {
        if code == 0 {
            return;
        }
        let shown = path.display();
        match write_if_empty(path, self.message(command, code, drain).as_bytes()) {
            Ok(true) => log::info!("wrote the termination message to {shown}"),
            Ok(false) => log::info!("left {shown} as it was: it holds a message already"),
            Err(e) => {
                let why = e.raw_os_error().map(|n| Errno::from_raw(n).desc());
                let why = why.map_or_else(|| e.to_string(), str::to_owned);
                log::warn!("failed to write the termination message to {shown}: {why}");
            }
        }
    }

    /// The termination message: what ended, how, and what pidone did after.
    fn message(&self, command: &[OsString], code: u8, drain: Option<(usize, usize)>) -> String {
        let words: Vec<_> = command.iter().map(|w| w.to_string_lossy()).collect();
        let command: String = signals::printable(&words.join(" "))
            .chars()
            .take(200)
            .collect();
        let mut text = String::new();
        if let Some((pid, how)) = &self.ended {
            let _ = writeln!(text, "The command '{command}' (pid {pid}) {how}.");
        }
        let _ = write!(text, "pidone exited with {code}.");
        if let Some((drained, killed)) = drain.filter(|&(n, _)| n > 0) {
            let _ = write!(
                text,
                " It drained {drained} process{} left behind; {killed} had to be killed.",
                if drained == 1 { "" } else { "es" }
            );
        }
        text.push('\n');
        text
    }
}

impl Memory {
    fn find() -> Option<Memory> {
        let cgroups = fs::read_to_string("/proc/self/cgroup").ok()?;
        let mounts = fs::read_to_string("/proc/self/mountinfo").ok()?;
        candidates(&cgroups, &mounts)
            .into_iter()
            .find_map(|(dir, v2)| {
                let mut memory = Memory { dir, v2, kills: 0 };
                memory.kills = memory.read_kills()?;
                Some(memory)
            })
    }

    /// `oom_kill` of memory.events (v2) or memory.oom_control (v1, from
    /// Linux 4.13).
    fn read_kills(&self) -> Option<u64> {
        let file = if self.v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        field(&fs::read_to_string(self.dir.join(file)).ok()?, "oom_kill")
    }

    /// The limit in bytes, if one is set: memory.max (v2, "max" for none)
    /// or memory.limit_in_bytes (v1, near 2^63 for none).
    fn limit(&self) -> Option<u64> {
        let file = if self.v2 {
            "memory.max"
        } else {
            "memory.limit_in_bytes"
        };
        let limit: u64 = fs::read_to_string(self.dir.join(file))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        (limit < 1 << 62).then_some(limit)
    }

    /// What to say of the OOM kills since the last read, if there were any.
    fn news(&mut self) -> Option<String> {
        let now = self.read_kills()?;
        let new = now.checked_sub(self.kills).filter(|&n| n > 0)?;
        self.kills = now;
        let times = if new == 1 { "time" } else { "times" };
        let ran = format!("the kernel's OOM killer ran {new} {times}");
        Some(match self.limit() {
            Some(limit) => format!("the container's limit is {}; {ran}", size(limit)),
            None => ran,
        })
    }
}

/// The directories that may be pidone's memory cgroup, each with whether it
/// is cgroup v2: for each cgroup mount (`/proc/self/mountinfo`, proc(5)),
/// pidone's path in that hierarchy (`/proc/self/cgroup`, cgroups(7)) below
/// the mount's root. In a container the root is the container's own cgroup
/// (a cgroup namespace, or Docker's bind mount of it under cgroup v1).
fn candidates(cgroups: &str, mountinfo: &str) -> Vec<(PathBuf, bool)> {
    let mut found = Vec::new();
    for line in mountinfo.lines() {
        let Some((mount, fs)) = line.split_once(" - ") else {
            continue;
        };
        let (mount, fs): (Vec<&str>, Vec<&str>) =
            (mount.split(' ').collect(), fs.split(' ').collect());
        let v2 = match fs.as_slice() {
            ["cgroup2", ..] => true,
            ["cgroup", _, options, ..] if options.split(',').any(|o| o == "memory") => false,
            _ => continue,
        };
        let path = cgroups.lines().find_map(|l| {
            let [_, controllers, path] = l.splitn(3, ':').collect::<Vec<_>>()[..] else {
                return None;
            };
            let ours = if v2 {
                controllers.is_empty()
            } else {
                controllers.split(',').any(|c| c == "memory")
            };
            ours.then_some(path)
        });
        if let (Some(path), [_, _, _, root, point, ..]) = (path, mount.as_slice()) {
            if let Ok(below) = Path::new(path).strip_prefix(root) {
                // Components: no trailing `/` when the cgroup is the root.
                let dir = Path::new(point).join(below).components().collect();
                found.push((dir, v2));
            }
        }
    }
    found
}

/// The number after `name` in a `name value` per line file.
fn field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// `bytes` in the largest binary unit it reaches: 64 MiB, 1.5 GiB.
fn size(bytes: u64) -> String {
    let units = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    match units.iter().find(|(unit, _)| bytes >= *unit) {
        Some((unit, name)) if bytes % unit == 0 => format!("{} {name}", bytes / unit),
        Some((unit, name)) => format!("{:.1} {name}", bytes as f64 / *unit as f64),
        None => format!("{bytes} bytes"),
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
        assert_eq!(field(V1_OOM_CONTROL, "oom_kill"), Some(2));
        assert_eq!(field(V2_EVENTS, "oom_kill"), Some(1));
        assert_eq!(field(V2_EVENTS, "oom"), Some(1));
        // Before Linux 4.13, memory.oom_control has no oom_kill line.
        assert_eq!(field("oom_kill_disable 0\nunder_oom 0\n", "oom_kill"), None);
    }

    #[test]
    fn sizes_in_binary_units() {
        assert_eq!(size(64 << 20), "64 MiB");
        assert_eq!(size(3 << 29), "1.5 GiB");
        assert_eq!(size(4096), "4 KiB");
        assert_eq!(size(100), "100 bytes");
    }

    #[test]
    fn the_message_names_the_command_its_end_and_the_drain() {
        let mut reasons = Reasons::default();
        reasons.command_ended(7, Status::Signaled(libc::SIGSEGV, true));
        let command = ["app".into(), "--flag\n".into()];
        assert_eq!(
            reasons.message(&command, 139, Some((3, 1))),
            "The command 'app --flag\\n' (pid 7) was killed by SIGSEGV (core dumped).\n\
             pidone exited with 139. It drained 3 processes left behind; 1 had to be killed.\n"
        );
        assert_eq!(
            Reasons::default().message(&[], 2, None),
            "pidone exited with 2.\n"
        );
    }
}
