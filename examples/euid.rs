//! Prints its real and effective user ids and its effective capabilities,
//! `uid=R euid=E CapEff=X`. Installed setuid-root, it shows whether exec
//! made it root: tests/user.rs runs it with and without `--no-new-privs`.

fn main() {
    // SAFETY: getuid and geteuid have no preconditions.
    let (uid, euid) = unsafe { (libc::getuid(), libc::geteuid()) };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let caps = status.lines().find_map(|l| l.strip_prefix("CapEff:"));
    println!(
        "uid={uid} euid={euid} CapEff={}",
        caps.unwrap_or("?").trim()
    );
}
