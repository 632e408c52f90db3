//! The environment: every variable pidone reads, and the one way each kind
//! is decoded.
//!
//! pidone's own `PIDONE_*` variables must be UTF-8 text (anything else is a
//! usage error naming the variable). The variables of tini and dumb-init
//! mean what they mean to those programs, so an environment copied from an
//! image that used them keeps its meaning: tini's switches are on when set
//! to anything, dumb-init's compare with one exact value, and
//! `TINI_VERBOSITY` is read as C's atoi(3).

use std::ffi::OsString;

use super::error::UsageError;

/// A variable pidone reads, and the option it stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variable {
    /// As it is set in the environment.
    pub name: &'static str,
    /// The option it sets, as `--help` shows it.
    pub option: &'static str,
    /// The program whose variable it is, when not pidone's.
    pub peer: Option<&'static str>,
    /// What its value means, in a sentence (the man page's ENVIRONMENT).
    pub meaning: &'static str,
}

const fn own(name: &'static str, option: &'static str, meaning: &'static str) -> Variable {
    Variable {
        name,
        option,
        peer: None,
        meaning,
    }
}

const fn peer(
    name: &'static str,
    option: &'static str,
    program: &'static str,
    meaning: &'static str,
) -> Variable {
    Variable {
        name,
        option,
        peer: Some(program),
        meaning,
    }
}

/// Every variable pidone reads; a flag beats its variable, and pidone's own
/// beat the peers'.
pub const VARIABLES: &[Variable] = &[
    own("PIDONE_FORWARD", "--forward", "As --forward: group, child or all."),
    own("PIDONE_SINGLE_CHILD", "--single-child", "A boolean; on is --forward child."),
    own(
        "PIDONE_REWRITE",
        "--rewrite",
        "As --rewrite; several FROM:TO specs separated by commas or spaces.",
    ),
    own("PIDONE_GRACE", "--grace", "As --grace."),
    own("PIDONE_SUBREAPER", "--subreaper", "A boolean; as --subreaper."),
    own(
        "PIDONE_PARENT_DEATH_SIGNAL",
        "--parent-death-signal",
        "As --parent-death-signal.",
    ),
    own(
        "PIDONE_SUCCESS_EXIT",
        "--success-exit",
        "As --success-exit; several codes separated by commas or spaces.",
    ),
    own("PIDONE_WARN_ORPHANS", "--warn-orphans", "A boolean; as --warn-orphans."),
    own("PIDONE_NO_DRAIN", "--no-drain", "A boolean; as --no-drain."),
    own("PIDONE_USER", "--user", "As --user: USER[:GROUP]."),
    own("PIDONE_NO_NEW_PRIVS", "--no-new-privs", "A boolean; as --no-new-privs."),
    own("PIDONE_PAUSE", "--pause", "A boolean; as --pause."),
    own("PIDONE_VERBOSE", "--verbose", "A number: how many times -v."),
    own(
        "PIDONE_LOG",
        "--verbose",
        "An env_logger filter (debug, pidone=info); beats -v and PIDONE_VERBOSE. One env_logger cannot read is a usage error.",
    ),
    peer(
        "TINI_SUBREAPER",
        "--subreaper",
        "tini",
        "Set to any value, even 0 or empty: --subreaper, as for tini.",
    ),
    peer(
        "TINI_KILL_PROCESS_GROUP",
        "--forward group",
        "tini",
        "Set to any value: forward to the group, pidone's default anyway.",
    ),
    peer(
        "TINI_VERBOSITY",
        "--verbose",
        "tini",
        "Read as atoi(3) reads it; N is N-1 times -v, as tini counts.",
    ),
    peer(
        "DUMB_INIT_SETSID",
        "--single-child",
        "dumb-init",
        "Exactly 0: --single-child, as for dumb-init; any other value keeps the group.",
    ),
    peer(
        "DUMB_INIT_DEBUG",
        "--verbose",
        "dumb-init",
        "Exactly 1: -vv, as for dumb-init.",
    ),
];

/// Looks variables up through a function, so parsing stays pure.
pub(crate) struct Env<'a>(pub &'a dyn Fn(&str) -> Option<OsString>);

impl Env<'_> {
    /// Whether `name` is set, to anything (tini's rule).
    pub fn is_set(&self, name: &str) -> bool {
        (self.0)(name).is_some()
    }

    /// Whether `name` is set to exactly `value` (dumb-init's rule).
    pub fn equals(&self, name: &str, value: &str) -> bool {
        (self.0)(name).is_some_and(|v| v == value)
    }

    /// pidone's own variable as text: UTF-8 or a usage error.
    pub fn text(&self, name: &'static str) -> Result<Option<String>, UsageError> {
        match (self.0)(name) {
            None => Ok(None),
            Some(v) => v
                .into_string()
                .map(Some)
                .map_err(|_| UsageError::NotUtf8 { name }),
        }
    }

    /// pidone's own variable holding a value; empty counts as unset.
    pub fn value(&self, name: &'static str) -> Result<Option<String>, UsageError> {
        Ok(self.text(name)?.filter(|v| !v.is_empty()))
    }

    /// pidone's own boolean: `Some(true)` for 1/true/yes/on, `Some(false)`
    /// for 0/false/no/off or empty, `None` when unset.
    pub fn boolean(&self, name: &'static str) -> Result<Option<bool>, UsageError> {
        let Some(v) = self.text(name)? else {
            return Ok(None);
        };
        match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(Some(true)),
            "" | "0" | "false" | "no" | "off" => Ok(Some(false)),
            _ => Err(UsageError::NotBoolean { name, value: v }),
        }
    }

    /// The number in tini's variable `name`, as atoi(3) reads it: leading
    /// blanks, a sign, digits; 0 when there are none.
    pub fn atoi(&self, name: &str) -> Option<i64> {
        let v = (self.0)(name)?;
        let v = v.to_string_lossy();
        let t = v.trim_start();
        let (sign, digits) = match t.strip_prefix('-') {
            Some(rest) => (-1, rest),
            None => (1, t.strip_prefix('+').unwrap_or(t)),
        };
        let end = digits
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(digits.len());
        let n = digits[..end].parse::<i64>().unwrap_or(0);
        Some(sign * n.min(i64::from(i32::MAX)))
    }
}
