//! Which processes a signal reaches: the main child, its process group, or
//! every process pidone may signal, and how to find them.
//!
//! "Every process pidone may signal" depends on where pidone is. As PID 1 of
//! its namespace it is everyone else there, and `kill(-1, ...)` reaches
//! exactly them (pid_namespaces(7)). Anywhere else it is only pidone's own
//! descendants, found by walking parent links in /proc: pidone never sends
//! `kill(-1, ...)` outside its own namespace.

use std::fs;

use nix::errno::Errno;

use crate::sys;

/// Who forwarded signals reach (`--forward`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The main child's process group: a whole shell pipeline (default).
    Group,
    /// The main child alone (`--single-child`, tini's default).
    Child,
    /// Every process pidone may signal, daemons that called setsid too.
    All,
}

/// Where pidone stands: its pid, and whether it is its namespace's init.
#[derive(Clone, Copy, Debug)]
pub struct Scope {
    pub me: i32,
    pub is_init: bool,
}

impl Scope {
    pub fn current() -> Scope {
        let me = std::process::id() as i32;
        Scope {
            me,
            is_init: me == 1,
        }
    }

    /// Sends `signo` to every process pidone may signal; returns how many
    /// there were, as far as /proc can tell.
    pub fn signal_all(&self, signo: i32) -> usize {
        if self.is_init {
            let count = self.others().len();
            match sys::kill(-1, signo) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(e) => log::warn!(
                    "failed to send {} to every process: {e}",
                    crate::signals::name(signo)
                ),
            }
            return count;
        }
        let mut count = 0;
        for pid in self.others() {
            match sys::kill(pid, signo) {
                Ok(()) => count += 1,
                Err(Errno::ESRCH) => {}
                Err(e) => log::warn!(
                    "failed to send {} to pid {pid}: {e}",
                    crate::signals::name(signo)
                ),
            }
        }
        count
    }

    /// SIGKILLs every process pidone may signal; returns how many.
    ///
    /// Outside PID 1 there is no atomic kill(-1): a process may fork between
    /// the scan and the kill, so scan again until no new one is alive.
    /// Killed processes cannot fork, so this ends after a round or two.
    pub fn kill_all(&self) -> usize {
        if self.is_init {
            return self.signal_all(libc::SIGKILL);
        }
        let mut killed: Vec<i32> = Vec::new();
        for _ in 0..64 {
            let fresh: Vec<i32> = self
                .others()
                .into_iter()
                .filter(|p| !killed.contains(p))
                .collect();
            if fresh.is_empty() {
                break;
            }
            for pid in fresh {
                if sys::kill(pid, libc::SIGKILL).is_ok() {
                    killed.push(pid);
                }
            }
        }
        killed.len()
    }

    /// The live processes pidone may signal: as init, all others in /proc;
    /// otherwise its descendants. Zombies are left out: they are done and
    /// only wait to be reaped.
    pub fn others(&self) -> Vec<i32> {
        if !self.is_init {
            if let Some(found) = self.descendants() {
                return found;
            }
        }
        let table = process_table();
        if self.is_init {
            return table
                .iter()
                .filter(|p| p.pid != self.me && !p.zombie)
                .map(|p| p.pid)
                .collect();
        }
        let mut found = vec![self.me];
        let mut i = 0;
        while i < found.len() {
            let parent = found[i];
            found.extend(table.iter().filter(|p| p.ppid == parent).map(|p| p.pid));
            i += 1;
        }
        found.retain(|&pid| pid != self.me);
        found.retain(|pid| table.iter().any(|p| p.pid == *pid && !p.zombie));
        found
    }
}

impl Scope {
    /// pidone's live descendants, walked down through the kernel's
    /// `/proc/PID/task/TID/children` lists (proc(5)): cost grows with the
    /// tree, not with the host. `None` where the kernel has no such lists,
    /// or /proc is not this namespace's; then the caller scans all of /proc.
    fn descendants(&self) -> Option<Vec<i32>> {
        if !proc_is_ours() {
            return None;
        }
        let own = format!("/proc/{0}/task/{0}/children", self.me);
        fs::metadata(&own).ok()?;
        let mut found = Vec::new();
        let mut queue = vec![self.me];
        while let Some(parent) = queue.pop() {
            let Ok(tasks) = fs::read_dir(format!("/proc/{parent}/task")) else {
                continue;
            };
            for task in tasks.flatten() {
                let path = task.path().join("children");
                let Ok(children) = fs::read_to_string(path) else {
                    continue;
                };
                for pid in children
                    .split_ascii_whitespace()
                    .filter_map(|p| p.parse().ok())
                {
                    queue.push(pid);
                    found.push(pid);
                }
            }
        }
        // A process re-parented during the walk may be listed twice.
        found.sort_unstable();
        found.dedup();
        found.retain(|&pid| {
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| parse_stat(pid, &stat))
                .is_some_and(|p| !p.zombie)
        });
        Some(found)
    }
}

/// Whether /proc belongs to pidone's PID namespace. A /proc of another
/// namespace would name other processes by the same numbers: then pidone
/// signals nobody rather than the wrong ones.
fn proc_is_ours() -> bool {
    let me = std::process::id().to_string();
    fs::read_link("/proc/self")
        .ok()
        .is_some_and(|p| p.as_os_str() == me.as_str())
}

/// Sends `signo` to `target` of the main child `child` (which, living in its
/// own process group, is also that group's id).
pub fn forward(scope: &Scope, target: Target, child: Option<i32>, signo: i32) -> Result<(), Errno> {
    match (target, child) {
        (Target::All, _) => {
            scope.signal_all(signo);
            Ok(())
        }
        (Target::Group, Some(pid)) => sys::kill(-pid, signo),
        (Target::Child, Some(pid)) => sys::kill(pid, signo),
        (_, None) => Err(Errno::ESRCH),
    }
}

struct Proc {
    pid: i32,
    ppid: i32,
    zombie: bool,
}

/// Every process in /proc with its parent. A process that exits while
/// being read is skipped.
fn process_table() -> Vec<Proc> {
    if !proc_is_ours() {
        log::warn!("/proc is missing or belongs to another PID namespace: pidone cannot find the processes to signal");
        return Vec::new();
    }
    let Ok(dir) = fs::read_dir("/proc") else {
        log::warn!("cannot read /proc: pidone cannot find the processes to signal");
        return Vec::new();
    };
    dir.filter_map(|entry| {
        let entry = entry.ok()?;
        let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        parse_stat(pid, &stat)
    })
    .collect()
}

/// `pid (comm) S ppid ...`: comm may hold spaces and ')', so read after the
/// last ')'.
fn parse_stat(pid: i32, stat: &str) -> Option<Proc> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some(Proc {
        pid,
        ppid,
        zombie: state == "Z" || state == "X",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stat_lines_with_odd_names() {
        let p = parse_stat(42, "42 (a) b) (c) S 7 42 42 0 -1");
        assert_eq!(p.map(|p| (p.pid, p.ppid, p.zombie)), Some((42, 7, false)));
        let p = parse_stat(9, "9 (x) Z 1 9 9");
        assert!(p.is_some_and(|p| p.zombie));
        assert!(parse_stat(1, "garbage").is_none());
    }
}
