//! Who the command runs as (`--user USER[:GROUP]`): the spec, and the ids,
//! groups and home it resolves to in the image's own `/etc/passwd` and
//! `/etc/group`. Those files are read directly, as gosu and su-exec read
//! them: a static binary has no NSS. A line that does not parse is skipped,
//! as libc skips it. Nothing here changes the process: the child makes the
//! calls (spawn/exec.rs), between fork and exec.

use std::ffi::CString;
use std::fmt;

use nix::errno::Errno;

use crate::signals::printable;

/// A user or group as given: a name, or a number that needs no entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Id<'a> {
    Name(&'a str),
    Number(u32),
}

/// What the child becomes: setgroups(groups), setgid(gid), setuid(uid).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// The primary group first, then each group that lists the user.
    pub groups: Vec<u32>,
    /// `HOME=` the passwd entry's home, when the user has an entry: the
    /// child's HOME instead of pidone's.
    pub home: Option<CString>,
}

/// Why the command cannot run as the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserError {
    /// Not `USER[:GROUP]`.
    Malformed,
    /// A file that had to be read to resolve a name could not be.
    Unreadable(&'static str, Errno),
    /// No such user name in /etc/passwd.
    NoUser(String),
    /// No such group name in /etc/group.
    NoGroup(String),
    /// A call of the child's failed: setgroups, setgid, setuid, prctl.
    Refused(&'static str, Errno),
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserError::Malformed => f.write_str("not USER[:GROUP] with names or numbers"),
            UserError::Unreadable(file, e) => write!(f, "cannot read {file}: {}", e.desc()),
            UserError::NoUser(name) => write!(f, "no user '{}' in /etc/passwd", printable(name)),
            UserError::NoGroup(name) => write!(f, "no group '{}' in /etc/group", printable(name)),
            UserError::Refused(call, errno) => write!(f, "{call}: {}", errno.desc()),
        }
    }
}

impl std::error::Error for UserError {}

/// Reads `USER[:GROUP]`; pure, so the command line can check it.
pub(crate) fn parse(spec: &str) -> Result<(Id<'_>, Option<Id<'_>>), UserError> {
    let mut parts = spec.split(':').map(id);
    match (parts.next(), parts.next(), parts.next()) {
        (Some(Some(user)), None, None) => Ok((user, None)),
        (Some(Some(user)), Some(Some(group)), None) => Ok((user, Some(group))),
        _ => Err(UserError::Malformed),
    }
}

/// A name, a number (digits below `(uid_t)-1`, which means "no change"),
/// or nothing (empty, or too big).
fn id(s: &str) -> Option<Id<'_>> {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Id::Name(s));
    }
    let n = number(s.as_bytes()).filter(|&n| n != u32::MAX);
    n.map(Id::Number)
}

/// Resolves `spec` in the image's /etc/passwd and /etc/group.
pub(crate) fn resolve(spec: &str) -> Result<Identity, UserError> {
    let read = |path| {
        let errno = |e: std::io::Error| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
        std::fs::read(path).map_err(|e| UserError::Unreadable(path, errno(e)))
    };
    resolve_in(spec, read("/etc/passwd"), read("/etc/group"))
}

type File = Result<Vec<u8>, UserError>;

fn resolve_in(spec: &str, passwd: File, group: File) -> Result<Identity, UserError> {
    let (user, group_id) = parse(spec)?;
    let (uid, entry) = match user {
        Id::Name(name) => {
            let found = users(&passwd?).find(|u| u.0 == name.as_bytes());
            let u = found.ok_or_else(|| UserError::NoUser(name.into()))?;
            (u.1, Some(u))
        }
        // A number needs no entry, nor a readable passwd.
        Id::Number(n) => (n, passwd.ok().and_then(|p| users(&p).find(|u| u.1 == n))),
    };
    let mut groups = Vec::new();
    let gid = match group_id {
        Some(Id::Number(n)) => n,
        Some(Id::Name(name)) => groups_of(&group?)
            .find(|g| g.0 == name.as_bytes())
            .map(|g| g.1)
            .ok_or_else(|| UserError::NoGroup(name.into()))?,
        None => {
            // gosu's rule: every group that lists the user, after the primary.
            if let (Some(u), Ok(text)) = (&entry, &group) {
                let member = |g: &Group| g.2.split(|&b| b == b',').any(|m| m == &u.0[..]);
                groups.extend(groups_of(text).filter(member).map(|g| g.1));
            }
            entry.as_ref().map_or(uid, |u| u.2)
        }
    };
    groups.retain(|&g| g != gid);
    groups.insert(0, gid);
    let home = entry.and_then(|u| CString::new([&b"HOME="[..], &u.3].concat()).ok());
    Ok(Identity {
        uid,
        gid,
        groups,
        home,
    })
}

/// A passwd entry: name, uid, gid, home.
type User = (Vec<u8>, u32, u32, Vec<u8>);
/// A group entry: name, gid, members.
type Group<'a> = (&'a [u8], u32, &'a [u8]);

fn users(text: &[u8]) -> impl Iterator<Item = User> + '_ {
    records(text).filter_map(|f| {
        let (uid, gid) = (number(f.get(2)?)?, number(f.get(3)?)?);
        Some((f.first()?.to_vec(), uid, gid, f.get(5)?.to_vec()))
    })
}

fn groups_of(text: &[u8]) -> impl Iterator<Item = Group<'_>> {
    records(text).filter_map(|f| Some((*f.first()?, number(f.get(2)?)?, f.get(3).copied()?)))
}

/// The `:`-separated fields of each line that names something; comments and
/// NIS `+`/`-` lines are skipped.
fn records(text: &[u8]) -> impl Iterator<Item = Vec<&[u8]>> {
    text.split(|&b| b == b'\n')
        .filter(|l| !matches!(l.first(), None | Some(b'#' | b'+' | b'-' | b':')))
        .map(|l| l.split(|&b| b == b':').collect())
}

/// Decimal digits that fit a u32; no sign, no blanks.
fn number(field: &[u8]) -> Option<u32> {
    let digits = field.iter().all(u8::is_ascii_digit);
    digits.then(|| std::str::from_utf8(field).ok()?.parse().ok())?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debian 12's base-passwd, with an application user added as
    /// `useradd -m app` and `usermod -aG audio,video app` add one.
    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
app:x:1000:1000::/home/app:/bin/sh
";
    const GROUP: &str = "root:x:0:
daemon:x:1:
audio:x:29:pulse,app
video:x:44:app
www-data:x:33:
nogroup:x:65534:
app:x:1000:
";

    fn resolve_here(spec: &str) -> Result<Identity, UserError> {
        resolve_in(spec, Ok(PASSWD.into()), Ok(GROUP.into()))
    }

    fn ids(uid: u32, gid: u32, groups: &[u32], home: Option<&str>) -> Identity {
        let home = home.map(|h| CString::new(format!("HOME={h}")).unwrap());
        Identity {
            uid,
            gid,
            groups: groups.to_vec(),
            home,
        }
    }

    #[test]
    fn a_name_gets_its_entry_its_groups_and_its_home() {
        let app = ids(1000, 1000, &[1000, 29, 44], Some("/home/app"));
        assert_eq!(resolve_here("app").unwrap(), app);
        // The same user by number: the entry is found by uid.
        assert_eq!(resolve_here("1000").unwrap(), app);
        let nobody = ids(65534, 65534, &[65534], Some("/nonexistent"));
        assert_eq!(resolve_here("nobody").unwrap(), nobody);
        assert_eq!(
            resolve_here("root").unwrap(),
            ids(0, 0, &[0], Some("/root"))
        );
    }

    #[test]
    fn a_group_given_is_the_only_group_as_for_gosu_and_su_exec() {
        let want = ids(1000, 44, &[44], Some("/home/app"));
        assert_eq!(resolve_here("app:video").unwrap(), want);
        assert_eq!(resolve_here("app:44").unwrap(), want);
        assert_eq!(resolve_here("1000:44").unwrap(), want);
        // A group number needs no entry.
        assert_eq!(resolve_here("app:4242").unwrap().groups, [4242]);
    }

    #[test]
    fn a_number_without_an_entry_is_its_own_group_with_no_home() {
        assert_eq!(
            resolve_here("4242").unwrap(),
            ids(4242, 4242, &[4242], None)
        );
        assert_eq!(resolve_here("4242:33").unwrap(), ids(4242, 33, &[33], None));
        let no_files = resolve_in("4242:7", missing("/etc/passwd"), missing("/etc/group"));
        assert_eq!(no_files.unwrap(), ids(4242, 7, &[7], None));
    }

    fn missing(file: &'static str) -> File {
        Err(UserError::Unreadable(file, Errno::ENOENT))
    }

    fn error(spec: &str, passwd: File, group: File) -> String {
        match resolve_in(spec, passwd, group) {
            Err(e) => e.to_string(),
            Ok(ok) => panic!("{spec:?} resolved to {ok:?}"),
        }
    }

    #[test]
    fn bad_specs_and_unknown_names_are_one_line_errors() {
        let here = |spec| error(spec, Ok(PASSWD.into()), Ok(GROUP.into()));
        for spec in [
            "",
            ":",
            "a:b:c",
            "app:",
            ":app",
            "4294967295",
            "99999999999",
            "1:2:",
        ] {
            assert!(here(spec).starts_with("not USER[:GROUP]"), "{spec:?}");
            assert!(parse(spec).is_err(), "{spec:?}");
        }
        assert_eq!(here("bob"), "no user 'bob' in /etc/passwd");
        assert_eq!(here("app:wheel"), "no group 'wheel' in /etc/group");
        assert_eq!(here("x\ny"), "no user 'x\\ny' in /etc/passwd");
        let e = error("app", missing("/etc/passwd"), Ok(GROUP.into()));
        assert!(e.starts_with("cannot read /etc/passwd: "), "{e}");
        let e = error("1:wheel", Ok(PASSWD.into()), missing("/etc/group"));
        assert!(e.starts_with("cannot read /etc/group: "), "{e}");
    }

    #[test]
    fn no_group_file_leaves_the_primary_group_alone() {
        let got = resolve_in("app", Ok(PASSWD.into()), missing("/etc/group"));
        assert_eq!(got.unwrap().groups, [1000]);
    }

    #[test]
    fn lines_that_do_not_parse_are_skipped() {
        let passwd = "# comment\n\n+@nis::::::\n-bad\nshort:x:5\nneg:x:-1:0::/:/\n\
                      big:x:4294967296:0::/:/\nplus:x:+7:7::/:/\n:x:9:9::/:/\n\
                      \u{0}\u{ff}:x:3:3\napp:x:1000:1000::/home/app:/bin/sh\n\
                      bin:x:2:2:bin:/bin";
        let group = "junk\nvideo:x:44\nbad:x:y:app\naudio:x:29:app";
        let got = |spec| resolve_in(spec, Ok(passwd.into()), Ok(group.into()));
        assert_eq!(
            got("app").unwrap(),
            ids(1000, 1000, &[1000, 29], Some("/home/app"))
        );
        assert_eq!(got("bin").unwrap(), ids(2, 2, &[2], Some("/bin")));
        for name in ["short", "neg", "big", "plus", "+@nis", "bad"] {
            assert!(got(name).is_err(), "{name}");
        }
        // Bytes that are not text never crash the reader.
        let noise: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        assert!(resolve_in("app", Ok(noise.clone()), Ok(noise)).is_err());
    }
}
