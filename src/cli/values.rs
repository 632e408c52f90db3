//! Reading option values: durations, exit codes, forward targets, signals,
//! log filters. Each parser takes the text as given and says exactly what
//! is wrong with it.

use std::fmt;
use std::time::Duration;

use crate::signals::{self, printable, BadRewrite, UnknownSignal};
use crate::targets::Target;

/// A value that does not read as what its option takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueError {
    /// `--grace`: not a duration.
    Duration {
        /// The value as given.
        text: String,
        /// What is wrong with it.
        why: DurationProblem,
    },
    /// `--success-exit`: not an exit code.
    ExitCode {
        /// The value as given.
        text: String,
        /// A number, but not 0 to 255.
        out_of_range: bool,
    },
    /// `--forward`: not group, child or all.
    Target {
        /// The value as given.
        text: String,
    },
    /// Not a signal.
    Signal(UnknownSignal),
    /// SIGKILL or SIGSTOP as the parent death signal.
    DeathSignal(i32),
    /// `--rewrite`: not a `FROM:TO` pidone can use.
    Rewrite(BadRewrite),
    /// `--user`: not `USER[:GROUP]`; what is wrong, said.
    User(String),
    /// `PIDONE_LOG`: not an env_logger filter.
    LogSpec {
        /// The filter as given.
        spec: String,
        /// env_filter's complaint.
        why: String,
    },
}

/// What is wrong with a duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationProblem {
    /// No digits first.
    NoNumber,
    /// More digits than a number holds.
    TooLarge,
    /// Not ms, s, m, h or nothing.
    UnknownUnit,
    /// pidone waits a year at most.
    LongerThanAYear,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueError::Duration { text, why } => {
                write!(f, "invalid duration '{}': ", printable(text))?;
                match why {
                    DurationProblem::NoNumber => {
                        f.write_str("expected a number and a unit (500ms, 3s, 1m)")
                    }
                    DurationProblem::TooLarge => f.write_str("number too large"),
                    DurationProblem::UnknownUnit => {
                        let unit = text.trim().trim_start_matches(|c: char| c.is_ascii_digit());
                        write!(f, "unknown unit '{}' (use ms, s, m or h)", printable(unit))
                    }
                    DurationProblem::LongerThanAYear => f.write_str("longer than a year"),
                }
            }
            ValueError::ExitCode { text, out_of_range } => write!(
                f,
                "invalid exit code '{}': {}",
                printable(text),
                if *out_of_range {
                    "out of range 0-255"
                } else {
                    "not a number 0-255"
                }
            ),
            ValueError::Target { text } => write!(
                f,
                "unknown target '{}' (expected group, child or all)",
                printable(text)
            ),
            ValueError::Signal(e) => e.fmt(f),
            ValueError::DeathSignal(signo) => write!(
                f,
                "{} cannot be the parent death signal: pidone could not act on it and forward it",
                signals::name(*signo)
            ),
            ValueError::Rewrite(e) => e.fmt(f),
            ValueError::User(why) => f.write_str(why),
            ValueError::LogSpec { spec, why } => {
                write!(f, "'{}': {why}", printable(spec))
            }
        }
    }
}

impl std::error::Error for ValueError {}

/// `500ms`, `3s`, `1m`, `1h`, or a bare number of seconds; at most a year.
pub fn duration(text: &str) -> Result<Duration, ValueError> {
    let bad = |why| ValueError::Duration {
        text: text.to_owned(),
        why,
    };
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    if digits.is_empty() {
        return Err(bad(DurationProblem::NoNumber));
    }
    let n: u64 = digits.parse().map_err(|_| bad(DurationProblem::TooLarge))?;
    let millis_per = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(bad(DurationProblem::UnknownUnit)),
    };
    n.checked_mul(millis_per)
        .filter(|&ms| ms <= 365 * 24 * 3_600_000)
        .map(Duration::from_millis)
        .ok_or_else(|| bad(DurationProblem::LongerThanAYear))
}

/// `USER[:GROUP]`, checked; names are resolved when the command starts.
pub fn user(text: &str) -> Result<String, ValueError> {
    let bad = |e| ValueError::User(format!("'{}': {e}", printable(text)));
    crate::user::parse(text).map_err(bad)?;
    Ok(text.to_owned())
}

/// An exit code, 0 to 255.
pub fn exit_code(text: &str) -> Result<u8, ValueError> {
    let bad = |out_of_range| ValueError::ExitCode {
        text: text.to_owned(),
        out_of_range,
    };
    match text.trim().parse::<u32>() {
        Ok(n) => u8::try_from(n).map_err(|_| bad(true)),
        Err(_) => Err(bad(false)),
    }
}

/// `group`, `child` or `all`, in any case.
pub fn target(text: &str) -> Result<Target, ValueError> {
    match text.to_ascii_lowercase().as_str() {
        "group" => Ok(Target::Group),
        "child" => Ok(Target::Child),
        "all" => Ok(Target::All),
        _ => Err(ValueError::Target {
            text: text.to_owned(),
        }),
    }
}

/// A signal, as `signals::parse` reads one.
pub fn signal(text: &str) -> Result<i32, ValueError> {
    signals::parse(text).map_err(ValueError::Signal)
}

/// `-p`: a signal pidone can be sent and can act on. SIGKILL would kill
/// pidone and orphan the child; SIGSTOP would freeze it.
pub fn death_signal(text: &str) -> Result<i32, ValueError> {
    match signal(text)? {
        signo @ (libc::SIGKILL | libc::SIGSTOP) => Err(ValueError::DeathSignal(signo)),
        signo => Ok(signo),
    }
}

/// An env_logger filter (`PIDONE_LOG`), checked here so that a bad one is a
/// usage error like any other bad value, never a warning env_logger prints.
pub fn log_spec(spec: &str) -> Result<String, ValueError> {
    env_filter::Builder::new()
        .try_parse(spec)
        .map_err(|e| ValueError::LogSpec {
            spec: spec.to_owned(),
            why: e.to_string(),
        })?;
    Ok(spec.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(duration("0"), Ok(Duration::ZERO));
        for bad in [
            "-1",
            "5x",
            "",
            "ms",
            "1.5s",
            "99999999999999999999s",
            "999999999h",
            "s5",
        ] {
            let e = duration(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("'{bad}'")), "{bad}: {e}");
        }
        assert_eq!(
            duration("5x").unwrap_err().to_string(),
            "invalid duration '5x': unknown unit 'x' (use ms, s, m or h)"
        );
    }

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code("143"), Ok(143));
        assert_eq!(exit_code(" 0 "), Ok(0));
        for (bad, why) in [
            ("256", "out of range"),
            ("x", "not a number"),
            ("-1", "not a number"),
        ] {
            let e = exit_code(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("'{bad}'")) && e.contains(why), "{e}");
        }
    }

    #[test]
    fn death_signals_pidone_can_act_on() {
        assert_eq!(death_signal("hup"), Ok(libc::SIGHUP));
        for bad in ["KILL", "SIGSTOP", "9", "19"] {
            let e = death_signal(bad).unwrap_err().to_string();
            assert!(
                e.contains("cannot be the parent death signal"),
                "{bad}: {e}"
            );
        }
    }
}
