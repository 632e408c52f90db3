//! pidone's own output: its diagnostics on stderr (every line starting
//! `pidone:`) and the help text on stdout. One writer for all of it, which
//! never blocks, never panics and never allocates.
//!
//! A stalled reader must not stall PID 1: a pidone blocked in write(2)
//! reaps and forwards nothing. pidone may not set O_NONBLOCK on the stderr
//! it inherited, because the child shares that open file description and
//! would see it. So pidone opens a description of its own on the same pipe,
//! FIFO or terminal (`/proc/self/fd/2` with O_NONBLOCK), sends on a socket
//! with MSG_DONTWAIT, and writes a regular file as it is (files do not
//! block). A line that does not fit right now is dropped and counted; the
//! next line that gets through is preceded by how many were lost.
//!
//! A write to a pipe whose reader is gone raises SIGPIPE, one past a file
//! size limit SIGXFSZ; both are blocked, and `supervise` consumes them (they
//! name pidone as their sender) instead of forwarding them. Log nothing
//! between fork and exec.

use std::fmt::{self, Write as _};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicU8, AtomicUsize, Ordering::Relaxed};

use log::{Level, LevelFilter, Log, Metadata, Record};

use nix::errno::Errno;

use crate::sys;

/// The longest line written whole: a pipe takes up to PIPE_BUF bytes in one
/// piece, so lines from pidone and its child never interleave mid-line.
const LINE_MAX: usize = 4096;

/// How stderr is written.
#[repr(u8)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sink {
    /// Closed: nothing is written.
    Closed = 0,
    /// A description of pidone's own with O_NONBLOCK, or a regular file.
    Write = 1,
    /// A socket: send(2) with MSG_DONTWAIT.
    Send = 2,
    /// The shared stderr itself, written only when poll(2) says a line
    /// fits. Used where no description of pidone's own can be opened
    /// (no /proc, a pipe of another user, a FIFO with no reader yet).
    Polled = 3,
}

/// Where stderr goes; set once by [`open_stderr`], before the child exists.
static ERR_FD: AtomicI32 = AtomicI32::new(2);
static ERR_SINK: AtomicU8 = AtomicU8::new(Sink::Polled as u8);
/// Lines lost since the last one that got through.
static DROPPED: AtomicUsize = AtomicUsize::new(0);

/// Prepares stderr for pidone's own lines (see the module doc). Call once,
/// early: it may open a descriptor (close-on-exec).
pub(crate) fn open_stderr() {
    let (fd, sink) = match sys::file_type(2) {
        None => (2, Sink::Closed),
        Some(libc::S_IFREG) | Some(libc::S_IFBLK) => (2, Sink::Write),
        Some(libc::S_IFSOCK) => (2, Sink::Send),
        // Pipes, FIFOs, terminals, other character devices.
        Some(_) => match reopen_nonblocking(2) {
            Some(fd) => (fd, Sink::Write),
            None => (2, Sink::Polled),
        },
    };
    ERR_FD.store(fd, Relaxed);
    ERR_SINK.store(sink as u8, Relaxed);
}

/// A new open file description of what `fd` refers to, non-blocking and
/// close-on-exec. O_NOCTTY: a terminal must not become pidone's
/// controlling terminal by being opened.
fn reopen_nonblocking(fd: RawFd) -> Option<RawFd> {
    let path = format!("/proc/self/fd/{fd}");
    let flags = nix::fcntl::OFlag::O_WRONLY
        | nix::fcntl::OFlag::O_NONBLOCK
        | nix::fcntl::OFlag::O_CLOEXEC
        | nix::fcntl::OFlag::O_NOCTTY;
    let own = nix::fcntl::open(path.as_str(), flags, nix::sys::stat::Mode::empty()).ok()?;
    if own > 2 {
        return Some(own);
    }
    // stdin or stdout was closed and the new descriptor took its number:
    // move it above 2, so that what pidone writes to stdout (`--help`) never
    // lands on its stderr, and the child sees the closed one closed.
    let moved = nix::fcntl::fcntl(own, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3));
    let _ = nix::unistd::close(own);
    moved.ok()
}

/// The descriptor pidone's own lines go through when it is not the shared
/// stderr; `spawn` keeps it open when it lets go of inherited ones.
pub(crate) fn own_fd() -> Option<RawFd> {
    let fd = ERR_FD.load(Relaxed);
    (fd != 2).then_some(fd)
}

/// Writes one line to stderr as described in the module doc: whole, or not
/// at all (and counted).
fn emit(line: &[u8]) {
    let dropped = DROPPED.load(Relaxed);
    if dropped > 0 {
        let mut notice = Line::new();
        let _ = write!(
            notice,
            "pidone: warning: {dropped} line{} of pidone's output dropped: stderr was not writable",
            if dropped == 1 { "" } else { "s" }
        );
        notice.finish();
        if !write_err(notice.as_bytes()) {
            DROPPED.fetch_add(1, Relaxed);
            return;
        }
        DROPPED.store(0, Relaxed);
    }
    if !write_err(line) {
        DROPPED.fetch_add(1, Relaxed);
    }
}

/// One attempt at writing `bytes` to stderr; true if all of it went out.
fn write_err(bytes: &[u8]) -> bool {
    let fd = ERR_FD.load(Relaxed);
    let sink = ERR_SINK.load(Relaxed);
    if sink == Sink::Closed as u8 {
        return false;
    }
    if sink == Sink::Polled as u8 && !sys::writable_now(fd) {
        return false;
    }
    let op = if sink == Sink::Send as u8 {
        sys::send_nonblocking
    } else {
        sys::write
    };
    write_all(fd, bytes, op)
}

/// Writes all of `bytes` with `op`, again after EINTR; false as soon as a
/// write fails (EAGAIN: full, EPIPE: no reader, EBADF, EFBIG, EIO) or
/// writes nothing. What is lost is lost: pidone goes on.
fn write_all(fd: RawFd, bytes: &[u8], op: fn(RawFd, &[u8]) -> Result<usize, Errno>) -> bool {
    let mut rest = bytes;
    while !rest.is_empty() {
        match op(fd, rest) {
            Ok(0) => return false,
            Ok(n) => rest = &rest[n.min(rest.len())..],
            Err(Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
    true
}

/// Prints a fatal error as `pidone: <error>`, whatever the log level.
pub(crate) fn print_error(error: &dyn fmt::Display) {
    let mut line = Line::new();
    let _ = write!(line, "pidone: {error}");
    line.finish();
    emit(line.as_bytes());
}

/// Writes `text` (help, version, license) to stdout. A closed or broken
/// stdout (`pidone --help | head -1`) is no reason to fail: pidone has
/// nothing else to do, so this one may block.
pub(crate) fn print_stdout(text: &str) {
    let _ = write_all(1, text.as_bytes(), sys::write);
}

/// A line built on the stack: no allocation while logging. Text past
/// [`LINE_MAX`] is cut, and the cut is shown.
struct Line {
    buf: [u8; LINE_MAX],
    len: usize,
    cut: bool,
}

impl Line {
    fn new() -> Line {
        Line {
            buf: [0; LINE_MAX],
            len: 0,
            cut: false,
        }
    }

    /// Ends the line with a newline, marking a cut with `...`.
    fn finish(&mut self) {
        const CUT: &[u8] = b"...\n";
        if self.cut || self.len == LINE_MAX {
            let start = LINE_MAX - CUT.len();
            self.buf[start..].copy_from_slice(CUT);
            self.len = LINE_MAX;
        } else {
            self.buf[self.len] = b'\n';
            self.len += 1;
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // One byte stays free for the newline.
        let room = LINE_MAX - 1 - self.len;
        let take = s.len().min(room);
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        if take < s.len() {
            self.cut = true;
        }
        Ok(())
    }
}

/// The `log` backend: a level (`-v`), or env_logger's filter when
/// `PIDONE_LOG` gives one, decides what is logged; the writer above writes
/// it. Without a filter nothing of env_logger is built: the level check is
/// `log`'s own, done before a record exists.
enum Logger {
    Level,
    Filter(env_logger::Logger),
}

static LEVEL_LOGGER: Logger = Logger::Level;

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        match self {
            Logger::Level => metadata.level() <= log::max_level(),
            Logger::Filter(filter) => filter.enabled(metadata),
        }
    }

    fn log(&self, record: &Record) {
        let wanted = match self {
            Logger::Level => record.level() <= log::max_level(),
            // matches() checks enabled() itself.
            Logger::Filter(filter) => filter.matches(record),
        };
        if !wanted {
            return;
        }
        let prefix = match record.level() {
            Level::Error => "pidone: ",
            Level::Warn => "pidone: warning: ",
            Level::Info => "pidone: info: ",
            Level::Debug | Level::Trace => "pidone: debug: ",
        };
        let mut line = Line::new();
        let _ = write!(line, "{prefix}{}", record.args());
        line.finish();
        emit(line.as_bytes());
    }

    fn flush(&self) {}
}

/// Sets up logging: warnings and errors by default, `-v` adds info, `-vv`
/// debug (each signal forwarded, each orphan reaped); `spec` (PIDONE_LOG,
/// env_logger's filter syntax, already validated by `cli`) beats `verbosity`.
pub(crate) fn init(verbosity: u8, spec: Option<&str>) {
    let level = match verbosity {
        0 => LevelFilter::Warn,
        1 => LevelFilter::Info,
        _ => LevelFilter::Debug,
    };
    // Fails only if a logger is already set (a program that uses pidone as
    // a library set its own): then that one stays.
    let Some(spec) = spec else {
        if log::set_logger(&LEVEL_LOGGER).is_ok() {
            log::set_max_level(level);
        }
        return;
    };
    let filter = env_logger::Builder::new()
        .filter_level(level)
        .parse_filters(spec)
        .build();
    let max = filter.filter();
    if log::set_boxed_logger(Box::new(Logger::Filter(filter))).is_ok() {
        log::set_max_level(max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_visibly_and_always_end_in_a_newline() {
        let mut line = Line::new();
        let _ = write!(line, "{}", "x".repeat(LINE_MAX * 2));
        line.finish();
        assert_eq!(line.as_bytes().len(), LINE_MAX);
        assert!(line.as_bytes().ends_with(b"...\n"));
        let mut short = Line::new();
        let _ = write!(short, "pidone: {}", 42);
        short.finish();
        assert_eq!(short.as_bytes(), b"pidone: 42\n");
    }
}
