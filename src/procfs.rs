//! Reading /proc: whether it is this PID namespace's, and which processes
//! are whose children.
//!
//! Reads only; never signals. What is read may be stale a moment later (a
//! process exits, its pid is reused): `targets` holds each process by a
//! pidfd before trusting what is read here.

use std::fs;

/// One line of `/proc/PID/stat`, as far as pidone needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stat {
    pub pid: i32,
    pub ppid: i32,
    /// Exited, waiting to be reaped (`Z`), or being reaped (`X`).
    pub zombie: bool,
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
pub(crate) fn is_ours() -> bool {
    let me = std::process::id().to_string();
    let Ok(status) = fs::read_to_string("/proc/self/status") else {
        return false;
    };
    match status.lines().find_map(|l| l.strip_prefix("NSpid:")) {
        Some(pids) => {
            let mut pids = pids.split_ascii_whitespace();
            pids.next() == Some(me.as_str()) && pids.next().is_none()
        }
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
/// call that needs it).
pub(crate) fn children(parent: i32, scan: &mut Option<Vec<Stat>>) -> Vec<i32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{parent}/task")) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let mut lists = false;
    for task in tasks.flatten() {
        if let Ok(list) = fs::read_to_string(task.path().join("children")) {
            lists = true;
            found.extend(
                list.split_ascii_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    if !lists {
        let table = scan.get_or_insert_with(|| all().collect());
        found = table
            .iter()
            .filter(|p| p.ppid == parent)
            .map(|p| p.pid)
            .collect();
    }
    found
}

/// Every process in /proc. One that exits while being read is skipped.
pub(crate) fn all() -> impl Iterator<Item = Stat> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| stat(entry.ok()?.file_name().to_str()?.parse().ok()?))
}

/// `pid (comm) S ppid ...`: comm may hold spaces and ')', so read after the
/// last ')'.
fn parse_stat(pid: i32, stat: &str) -> Option<Stat> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some(Stat {
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
