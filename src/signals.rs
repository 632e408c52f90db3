//! Signal names and numbers, and the rewrite map applied to every forwarded
//! signal.
//!
//! Pure logic apart from [`block_all`]: nothing here sends or waits.
//! Real-time signals are named as glibc systems' `kill -l` names them:
//! `RTMIN` is 34 and `RTMAX` is 64, whatever libc pidone itself is built on.

use std::fmt;

use crate::sys::{self, Mask, SIGMAX};

/// The first real-time signal as glibc-based programs (and `kill -l`) see it.
pub const RTMIN: i32 = 34;
/// The last real-time signal.
pub const RTMAX: i32 = SIGMAX;

/// Proof that every signal is blocked, with the signal state the process
/// had before, which the child gets back before exec. Only [`block_all`]
/// makes one.
#[derive(Clone, Copy, Debug)]
pub struct Blocked {
    pub(crate) mask: Mask,
    /// SIGCHLD was ignored: pidone takes it back to the default for itself
    /// (see [`sys::reset_sigchld`]) and ignores it again in the child.
    pub(crate) sigchld_ignored: bool,
}

/// Blocks every signal of the calling thread, takes SIGCHLD back to its
/// default disposition, and returns the state it replaced.
///
/// Called first thing in `main`. Blocked signals queue up for
/// `supervise`'s wait, so pidone needs no handlers. Faults of pidone's own
/// (SIGSEGV, SIGBUS, ...) still kill it: the kernel unblocks a signal it
/// forces for a fault. If even this fails, pidone goes on with the mask it
/// has, which can only be more permissive.
pub fn block_all() -> Blocked {
    Blocked {
        mask: sys::set_mask(Mask::ALL).unwrap_or(Mask(0)),
        sigchld_ignored: sys::reset_sigchld(),
    }
}

/// `SIGTERM`, `SIGRTMIN+3`, or the number for a signal with no name.
pub fn name(signo: i32) -> String {
    match signo {
        RTMIN => "SIGRTMIN".to_owned(),
        RTMAX => "SIGRTMAX".to_owned(),
        n if n > RTMIN && n < RTMAX => format!("SIGRTMIN+{}", n - RTMIN),
        n => match standard(n) {
            Some(signal) => signal.as_str().to_owned(),
            None => format!("signal {n}"),
        },
    }
}

/// The standard signal numbered `n` (1 to 31), as nix names them all.
fn standard(n: i32) -> Option<nix::sys::signal::Signal> {
    nix::sys::signal::Signal::try_from(n).ok()
}

/// User input as it may appear in a one-line error: control characters
/// (a newline, an escape sequence) are shown escaped, never sent to the
/// terminal.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// Why a signal could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSignal(pub String);

impl fmt::Display for UnknownSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown signal '{}'", printable(&self.0))
    }
}

/// Reads a signal as users write one: `TERM`, `SIGTERM`, `sigterm`, `15`,
/// `RTMIN+2`, `SIGRTMAX-1`.
///
/// ```
/// assert_eq!(pidone::signals::parse("term"), Ok(15));
/// assert_eq!(pidone::signals::parse("SIGRTMIN+2"), Ok(36));
/// assert!(pidone::signals::parse("SIGNOPE").is_err());
/// ```
pub fn parse(text: &str) -> Result<i32, UnknownSignal> {
    let unknown = || UnknownSignal(text.to_owned());
    let trimmed = text.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return match trimmed.parse::<i32>() {
            Ok(n) if (1..=SIGMAX).contains(&n) => Ok(n),
            _ => Err(unknown()),
        };
    }
    let upper = trimmed.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(rest) = bare.strip_prefix("RTMIN") {
        return rt_offset(rest, RTMIN, 1).ok_or_else(unknown);
    }
    if let Some(rest) = bare.strip_prefix("RTMAX") {
        return rt_offset(rest, RTMAX, -1).ok_or_else(unknown);
    }
    if bare.is_empty() {
        return Err(unknown());
    }
    let wanted = format!("SIG{bare}");
    (1..RTMIN)
        .find(|&n| standard(n).is_some_and(|s| s.as_str() == wanted))
        .or(match bare {
            // Other names of the same signals.
            "IOT" => Some(libc::SIGABRT),
            "POLL" => Some(libc::SIGIO),
            "CLD" => Some(libc::SIGCHLD),
            _ => None,
        })
        .ok_or_else(unknown)
}

/// `""` → base; `"+n"` (for RTMIN) or `"-n"` (for RTMAX) → base ± n, kept
/// inside the real-time range.
fn rt_offset(rest: &str, base: i32, sign: i32) -> Option<i32> {
    if rest.is_empty() {
        return Some(base);
    }
    let want = if sign > 0 { '+' } else { '-' };
    let digits = rest.strip_prefix(want)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i32 = digits.parse().ok()?;
    if n > RTMAX - RTMIN {
        return None;
    }
    Some(base + sign * n)
}

/// What to do with a signal before it is forwarded: send another one, or
/// drop it. Built from `--rewrite FROM:TO` specs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewrite {
    /// `to[n]` is what signal `n` becomes; 0 drops it.
    to: [i32; SIGMAX as usize + 1],
}

impl Default for Rewrite {
    fn default() -> Self {
        let mut to = [0; SIGMAX as usize + 1];
        for (n, slot) in to.iter_mut().enumerate() {
            *slot = n as i32;
        }
        Rewrite { to }
    }
}

/// A `--rewrite` spec that could not be used, with the part that was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRewrite {
    /// The spec as given.
    pub spec: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for BadRewrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid rewrite '{}': {}",
            printable(&self.spec),
            self.reason
        )
    }
}

impl Rewrite {
    /// Adds one `FROM:TO` spec. TO may be `0` or `IGNORE` to drop FROM.
    pub fn add(&mut self, spec: &str) -> Result<(), BadRewrite> {
        let bad = |reason: String| BadRewrite {
            spec: spec.to_owned(),
            reason,
        };
        let mut parts = spec.split(':');
        let (from, to) = match (parts.next(), parts.next(), parts.next()) {
            (Some(from), Some(to), None) => (from.trim(), to.trim()),
            (_, None, _) => return Err(bad("expected FROM:TO".to_owned())),
            _ => return Err(bad("expected one ':' between FROM and TO".to_owned())),
        };
        if from.is_empty() {
            return Err(bad("FROM is missing".to_owned()));
        }
        if to.is_empty() {
            return Err(bad("TO is missing".to_owned()));
        }
        let from_no = parse(from).map_err(|e| bad(format!("FROM: {e}")))?;
        match from_no {
            libc::SIGKILL | libc::SIGSTOP => {
                return Err(bad(format!(
                    "FROM: {} never reaches pidone, so it cannot be rewritten",
                    name(from_no)
                )))
            }
            libc::SIGCHLD => {
                return Err(bad(
                    "FROM: SIGCHLD tells pidone a child exited; it is never forwarded".to_owned(),
                ))
            }
            _ => {}
        }
        let to_no = if to == "0" || to.eq_ignore_ascii_case("IGNORE") {
            0
        } else {
            parse(to).map_err(|e| bad(format!("TO: {e}")))?
        };
        self.to[from_no as usize] = to_no;
        Ok(())
    }

    /// What `signo` becomes: `Some(signal to send)` or `None` to drop it.
    pub fn apply(&self, signo: i32) -> Option<i32> {
        match self.to.get(signo as usize) {
            Some(0) => None,
            Some(&to) => Some(to),
            None => Some(signo),
        }
    }

    /// Whether any spec changed anything.
    #[cfg(test)]
    pub fn is_identity(&self) -> bool {
        *self == Rewrite::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_in_any_case_with_or_without_sig() {
        for text in ["TERM", "SIGTERM", "term", "sigterm", "15", " SigTerm "] {
            assert_eq!(parse(text), Ok(libc::SIGTERM), "{text}");
        }
        assert_eq!(parse("IOT"), Ok(libc::SIGABRT));
        assert_eq!(parse("winch"), Ok(libc::SIGWINCH));
    }

    #[test]
    fn parses_realtime_offsets() {
        assert_eq!(parse("RTMIN"), Ok(34));
        assert_eq!(parse("SIGRTMIN+3"), Ok(37));
        assert_eq!(parse("rtmax-1"), Ok(63));
        assert_eq!(parse("RTMAX"), Ok(64));
        for bad in [
            "RTMIN+31", "RTMIN-1", "RTMAX+1", "RTMAX-31", "RTMIN+", "RTMIN+x",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rejects_unknown_signals() {
        for bad in ["", "0", "65", "99", "FOO", "SIG", "-1", "+5", "TERM2"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_round_trip() {
        for n in 1..=SIGMAX {
            if n == 32 || n == 33 {
                continue;
            }
            assert_eq!(parse(&name(n)), Ok(n), "{}", name(n));
        }
        assert_eq!(name(libc::SIGTERM), "SIGTERM");
        assert_eq!(name(36), "SIGRTMIN+2");
    }

    #[test]
    fn rewrite_maps_and_drops() -> Result<(), BadRewrite> {
        let mut r = Rewrite::default();
        assert!(r.is_identity());
        r.add("TERM:QUIT")?;
        r.add("10:0")?;
        r.add("hup:ignore")?;
        r.add("RTMIN+1:RTMAX")?;
        assert_eq!(r.apply(libc::SIGTERM), Some(libc::SIGQUIT));
        assert_eq!(r.apply(10), None);
        assert_eq!(r.apply(libc::SIGHUP), None);
        assert_eq!(r.apply(35), Some(64));
        assert_eq!(r.apply(libc::SIGINT), Some(libc::SIGINT));
        Ok(())
    }

    #[test]
    fn rewrite_rejects_malformed_specs_naming_the_bad_part() {
        let cases = [
            (":", "FROM is missing"),
            ("TERM:", "TO is missing"),
            ("FOO:TERM", "FROM: unknown signal 'FOO'"),
            ("99:1", "FROM: unknown signal '99'"),
            ("TERM:QUIT:HUP", "one ':'"),
            ("KILL:TERM", "never reaches pidone"),
            ("STOP:TERM", "never reaches pidone"),
            ("CHLD:TERM", "never forwarded"),
            ("TERM", "expected FROM:TO"),
            ("TERM:BOGUS", "TO: unknown signal 'BOGUS'"),
        ];
        for (spec, want) in cases {
            let err = Rewrite::default().add(spec).unwrap_err();
            assert!(err.to_string().contains(want), "{spec}: {err}");
            assert!(err.to_string().contains(spec), "{spec}: {err}");
        }
    }
}
