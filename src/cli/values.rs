//! Reading option values: durations, exit codes, forward targets, signals,
//! log filters, and pidone's own booleans and numbers. Each parser takes the
//! text as given and says exactly what is wrong with it, showing the text
//! (escaped: a newline never breaks the one line of a usage error).

use std::num::IntErrorKind;
use std::time::Duration;

use crate::signals::{self, printable};
use crate::targets::Target;

/// Why a value does not read as what its option takes, in words that show
/// the value.
pub type ValueError = String;

/// `500ms`, `3s`, `1m`, `1h`, or a bare number of seconds; at most a year.
pub fn duration(text: &str) -> Result<Duration, ValueError> {
    let bad = |why: &str| format!("invalid duration '{}': {why}", printable(text));
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    if digits.is_empty() {
        return Err(bad("expected a number and a unit (500ms, 3s, 1m)"));
    }
    let n: u64 = digits.parse().map_err(|_| bad("number too large"))?;
    let shown = printable(unit);
    let millis = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(bad(&format!("unknown unit '{shown}' (use ms, s, m or h)"))),
    };
    match n.checked_mul(millis) {
        Some(ms) if ms <= 365 * 24 * 3_600_000 => Ok(Duration::from_millis(ms)),
        _ => Err(bad("longer than a year")),
    }
}

/// A number 0 to 255 (blanks around it and a `+` allowed), or what it is
/// not: a number, or one in that range.
pub fn byte(text: &str) -> Result<u8, &'static str> {
    match text.trim().parse::<u8>() {
        Err(e) if *e.kind() == IntErrorKind::PosOverflow => Err("out of range 0-255"),
        number => number.map_err(|_| "not a number 0-255"),
    }
}

/// pidone's own boolean variables: `1`, `true`, `yes`, `on`, or `0`,
/// `false`, `no`, `off`, empty; in any case.
pub fn boolean(text: &str) -> Result<bool, &'static str> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "" | "0" | "false" | "no" | "off" => Ok(false),
        _ => Err("not a boolean (use 1 or 0, true or false, yes or no, on or off)"),
    }
}

/// `USER[:GROUP]`, checked here; names are resolved when the command starts.
pub fn user(text: &str) -> Result<String, ValueError> {
    crate::user::parse(text).map_err(|e| format!("'{}': {e}", printable(text)))?;
    Ok(text.to_owned())
}

/// An exit code, 0 to 255.
pub fn exit_code(text: &str) -> Result<u8, ValueError> {
    byte(text).map_err(|why| format!("invalid exit code '{}': {why}", printable(text)))
}

/// An absolute path: pidone works in `/`, so a relative one would not mean
/// what it meant where pidone was started.
pub fn absolute_path(text: &str) -> Result<std::path::PathBuf, ValueError> {
    match text.starts_with('/') {
        true => Ok(text.into()),
        false => Err(format!("'{}' is not an absolute path", printable(text))),
    }
}

/// `group`, `child` or `all`, in any case.
pub fn target(text: &str) -> Result<Target, ValueError> {
    let shown = printable(text);
    match text.to_ascii_lowercase().as_str() {
        "group" => Ok(Target::Group),
        "child" => Ok(Target::Child),
        "all" => Ok(Target::All),
        _ => Err(format!(
            "unknown target '{shown}' (expected group, child or all)"
        )),
    }
}

/// `-p`: a signal pidone can be sent and can act on. SIGKILL would kill
/// pidone and orphan the child; SIGSTOP would freeze it.
pub fn death_signal(text: &str) -> Result<i32, ValueError> {
    let signo = signals::parse(text).map_err(|e| e.to_string())?;
    let why = "cannot be the parent death signal: pidone could not act on it and forward it";
    match signo {
        libc::SIGKILL | libc::SIGSTOP => Err(format!("{} {why}", signals::name(signo))),
        _ => Ok(signo),
    }
}

/// An env_logger filter (`PIDONE_LOG`), checked here so that a bad one is a
/// usage error like any other bad value, never a warning env_logger prints.
pub fn log_spec(spec: &str) -> Result<String, ValueError> {
    match env_filter::Builder::new().try_parse(spec) {
        Ok(_) => Ok(spec.to_owned()),
        Err(e) => Err(format!("'{}': {e}", printable(spec))),
    }
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
            ("4294967296", "out of range"),
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
