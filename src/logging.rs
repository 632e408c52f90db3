//! pidone's own diagnostics: env_logger on stderr, every line prefixed
//! `pidone`, never on stdout (which belongs to the child).
//!
//! Warnings and errors by default; `-v` adds info, `-vv` debug (each signal
//! forwarded, each orphan reaped); `PIDONE_LOG` takes env_logger's filter
//! syntax and beats `-v`.

use std::io::Write;

use log::{Level, LevelFilter};

pub fn init(verbosity: u8, spec: Option<&str>) {
    let level = match verbosity {
        0 => LevelFilter::Warn,
        1 => LevelFilter::Info,
        2 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    };
    let mut builder = env_logger::Builder::new();
    builder
        .filter_level(level)
        .target(env_logger::Target::Stderr)
        .format(|out, record| match record.level() {
            Level::Error => writeln!(out, "pidone: {}", record.args()),
            Level::Warn => writeln!(out, "pidone: warning: {}", record.args()),
            Level::Info => writeln!(out, "pidone: info: {}", record.args()),
            Level::Debug => writeln!(out, "pidone: debug: {}", record.args()),
            Level::Trace => writeln!(out, "pidone: trace: {}", record.args()),
        });
    if let Some(spec) = spec {
        builder.parse_filters(spec);
    }
    // Fails only if a logger is already set, which main never does.
    let _ = builder.try_init();
}
