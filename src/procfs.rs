//! Reading /proc: whether it is this PID namespace's, and which processes
//! are whose children.
//!
//! Reads only; never signals. What is read may be stale a moment later (a
//! process exits, its pid is reused): `targets` holds each process by a
//! pidfd before trusting what is read here.

use std::fs;

use crate::signals::printable;

/// One line of `/proc/PID/stat`, as far as pidone needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stat {
    pub pid: i32,
    pub ppid: i32,
    /// When it started, in clock ticks after boot: with the pid, an
    /// identity no later process can share.
    pub start: u64,
    /// Every thread has exited and it only waits to be reaped. A leader
    /// that called pthread_exit shows `Z` too, but its process lives on
    /// while another thread does (`num_threads` counts the dead leader).
    pub zombie: bool,
    /// Stopped by a signal (`T`).
    pub stopped: bool,
}

/// Whether /proc belongs to pidone's PID namespace. A /proc of another
/// namespace names other processes by the same numbers.
///
/// `/proc/self/status` lists in `NSpid:` the caller's pid in every
/// namespace from the one /proc was mounted for down to the caller's own
/// (proc(5), Linux 4.1): exactly one entry means it is ours. (That
/// `/proc/self` resolves to `getpid()` proves nothing: the same number can
/// exist in both namespaces.) Kernels without `NSpid` fall back to that
/// weaker check.
///
/// Decided once, on the first call (pidone makes it at startup, while
/// descriptors are plentiful) and kept: a passing failure to read later
/// (EMFILE, ENOMEM) must not make pidone blind to its descendants.
pub(crate) fn is_ours() -> bool {
    static OURS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OURS.get_or_init(check_ours)
}

fn check_ours() -> bool {
    let me = std::process::id().to_string();
    let Ok(status) = fs::read_to_string("/proc/self/status") else {
        return false;
    };
    match status.lines().find_map(|l| l.strip_prefix("NSpid:")) {
        Some(pids) => pids.split_ascii_whitespace().eq([me.as_str()]),
        None => fs::read_link("/proc/self").is_ok_and(|p| p.as_os_str() == me.as_str()),
    }
}

/// The stat line of `pid`, if it still exists.
pub(crate) fn stat(pid: i32) -> Option<Stat> {
    parse_stat(pid, &fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The children of `parent`: from the kernel's per-task children lists
/// (`/proc/PID/task/TID/children`, proc(5)), whose cost grows with the tree
/// rather than with the host, or where the kernel has no such lists from
/// `scan`, a table of all of /proc read once for a whole walk (on the first
/// call that needs it). The table serves too when `parent`'s tasks cannot
/// be read (a passing EMFILE or ENOMEM): a subtree is never skipped.
pub(crate) fn children(parent: i32, scan: &mut Option<Vec<Stat>>) -> Vec<i32> {
    let tasks = fs::read_dir(format!("/proc/{parent}/task"));
    let lists: Vec<String> = (tasks.into_iter().flatten())
        .filter_map(|task| fs::read_to_string(task.ok()?.path().join("children")).ok())
        .collect();
    if lists.is_empty() {
        let table = scan.get_or_insert_with(|| all().collect());
        let theirs = table.iter().filter(|p| p.ppid == parent);
        return theirs.map(|p| p.pid).collect();
    }
    let pids = lists.iter().flat_map(|list| list.split_ascii_whitespace());
    pids.filter_map(|p| p.parse().ok()).collect()
}

/// Every process in /proc. One that exits while being read is skipped.
pub(crate) fn all() -> impl Iterator<Item = Stat> {
    let entries = fs::read_dir("/proc").into_iter().flatten();
    entries.filter_map(|entry| stat(entry.ok()?.file_name().to_str()?.parse().ok()?))
}

/// `pid (comm) S ppid ...` (proc(5)): comm may hold spaces and ')', so
/// read after the last ')', where field 3 (the state) comes first.
fn parse_stat(pid: i32, stat: &str) -> Option<Stat> {
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).copied();
    let state = field(3)?;
    let threads: u64 = field(20)?.parse().ok()?;
    Some(Stat {
        pid,
        ppid: field(4)?.parse().ok()?,
        start: field(22)?.parse().ok()?,
        zombie: (state == "Z" || state == "X") && threads <= 1,
        stopped: state == "T",
    })
}

/// The command name of `pid` (`comm`, at most 15 bytes), for a message.
pub(crate) fn name(pid: i32) -> String {
    let comm = fs::read_to_string(format!("/proc/{pid}/comm"));
    comm.map_or_else(|_| "?".to_owned(), |c| printable(c.trim_end()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stat_lines_with_odd_names() {
        let tail = "0 -1 4194560 0 0 0 0 0 0 0 0 20 0 THREADS 0 START 0";
        let line = |head: &str, threads: &str| {
            format!(
                "{head} {}",
                tail.replace("THREADS", threads).replace("START", "777")
            )
        };
        let p = parse_stat(42, &line("42 (a) b) (c) S 7 42 42", "1"));
        let p = p.map(|p| (p.pid, p.ppid, p.start, p.zombie, p.stopped));
        assert_eq!(p, Some((42, 7, 777, false, false)));
        assert!(parse_stat(9, &line("9 (x) Z 1 9 9", "1")).is_some_and(|p| p.zombie));
        assert!(parse_stat(9, &line("9 (x) T 1 9 9", "1")).is_some_and(|p| p.stopped));
        // A leader that called pthread_exit while another thread runs on.
        assert!(parse_stat(9, &line("9 (x) Z 1 9 9", "2")).is_some_and(|p| !p.zombie));
        assert!(parse_stat(1, "garbage").is_none());
        assert!(parse_stat(1, "1 (x) S 0").is_none());
    }
}
