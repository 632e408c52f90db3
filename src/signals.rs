//! Signal names and numbers, and the rewrite map applied to every forwarded
//! signal.
//!
//! Pure logic apart from [`block_all`]: nothing here sends or waits.
//! Real-time signals are named as glibc systems' `kill -l` names them:
//! `RTMIN` is 34 and `RTMAX` is 64, whatever libc pidone itself is built on.

use std::fmt;

use nix::sys::signal::Signal;

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
        n => Signal::try_from(n).map_or_else(|_| format!("signal {n}"), |s| s.as_str().to_owned()),
    }
}

/// User input as it may appear in a one-line error: control characters
/// (a newline, an escape sequence) are shown escaped, never sent to the
/// terminal.
pub fn printable(text: &str) -> String {
    let escape = |c: char| c.is_control().then(|| c.escape_debug().collect::<String>());
    text.chars()
        .map(|c| escape(c).unwrap_or_else(|| c.into()))
        .collect()
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
/// assert_eq!(pidone::parse_signal("term"), Ok(15));
/// assert_eq!(pidone::parse_signal("SIGRTMIN+2"), Ok(36));
/// assert!(pidone::parse_signal("SIGNOPE").is_err());
/// ```
pub fn parse(text: &str) -> Result<i32, UnknownSignal> {
    let upper = text.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    // `RTMIN`, `RTMIN+n`, `RTMAX`, `RTMAX-n`, inside the real-time range.
    let realtime = |name: &str, base: i32, sign: char| {
        let n = match bare.strip_prefix(name)? {
            "" => 0,
            rest => number(rest.strip_prefix(sign)?).filter(|&n| n <= RTMAX - RTMIN)?,
        };
        Some(if sign == '+' { base + n } else { base - n })
    };
    let standard = |s: &Signal| s.as_str().strip_prefix("SIG") == Some(bare);
    number(&upper)
        .filter(|n| (1..=SIGMAX).contains(n))
        .or_else(|| realtime("RTMIN", RTMIN, '+'))
        .or_else(|| realtime("RTMAX", RTMAX, '-'))
        .or_else(|| Signal::iterator().find(standard).map(|s| s as i32))
        .or(match bare {
            // Other names of the same signals.
            "IOT" => Some(libc::SIGABRT),
            "POLL" => Some(libc::SIGIO),
            "CLD" => Some(libc::SIGCHLD),
            _ => None,
        })
        .ok_or_else(|| UnknownSignal(text.to_owned()))
}

/// A number as written in a signal: decimal digits only, no sign.
fn number(text: &str) -> Option<i32> {
    let digits = text.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| text.parse().ok())?
}

/// What to do with a signal before it is forwarded: send another one, or
/// drop it. Built from `--rewrite FROM:TO` specs: entry `n` is what signal
/// `n` becomes; 0 drops it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewrite([i32; SIGMAX as usize + 1]);

impl Default for Rewrite {
    fn default() -> Self {
        Rewrite(std::array::from_fn(|n| n as i32))
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
        let spec = printable(&self.spec);
        write!(f, "invalid rewrite '{spec}': {}", self.reason)
    }
}

impl Rewrite {
    /// Adds one `FROM:TO` spec. TO may be `0` or `IGNORE` to drop FROM.
    pub fn add(&mut self, spec: &str) -> Result<(), BadRewrite> {
        let bad = |reason: &str| BadRewrite {
            spec: spec.to_owned(),
            reason: reason.to_owned(),
        };
        let (from, to) = match spec.split_once(':').map(|(f, t)| (f.trim(), t.trim())) {
            None => return Err(bad("expected FROM:TO")),
            Some((_, to)) if to.contains(':') => {
                return Err(bad("expected one ':' between FROM and TO"))
            }
            Some(("", _)) => return Err(bad("FROM is missing")),
            Some((_, "")) => return Err(bad("TO is missing")),
            Some(parts) => parts,
        };
        let from_no = parse(from).map_err(|e| bad(&format!("FROM: {e}")))?;
        let refused = match from_no {
            libc::SIGKILL | libc::SIGSTOP => "never reaches pidone, so it cannot be rewritten",
            libc::SIGCHLD => "tells pidone a child exited; it is never forwarded",
            _ => "",
        };
        if !refused.is_empty() {
            return Err(bad(&format!("FROM: {} {refused}", name(from_no))));
        }
        self.0[from_no as usize] = match to {
            "0" => 0,
            _ if to.eq_ignore_ascii_case("IGNORE") => 0,
            _ => parse(to).map_err(|e| bad(&format!("TO: {e}")))?,
        };
        Ok(())
    }

    /// What `signo` becomes: `Some(signal to send)` or `None` to drop it.
    pub fn apply(&self, signo: i32) -> Option<i32> {
        let to = self.0.get(signo as usize).copied().unwrap_or(signo);
        (to != 0).then_some(to)
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
