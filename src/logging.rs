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
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::OnceLock;

use log::{Level, LevelFilter, Log, Metadata, Record};

use nix::errno::Errno;
use nix::fcntl::{self, FcntlArg, OFlag};

use crate::sys;

/// The longest line written whole: a pipe takes up to PIPE_BUF bytes in one
/// piece, so lines from pidone and its child never interleave mid-line.
const LINE_MAX: usize = 4096;

/// How stderr is written.
#[derive(Clone, Copy, Debug)]
enum Sink {
    /// Closed: nothing is written.
    Closed,
    /// A description of pidone's own with O_NONBLOCK, or a regular file
    /// (fd 2 itself).
    Write(RawFd),
    /// A socket on fd 2: send(2) with MSG_DONTWAIT.
    Send,
    /// The shared stderr itself, written only when poll(2) says a line
    /// fits. Used where no description of pidone's own can be opened
    /// (no /proc, a pipe of another user, a FIFO with no reader yet), and
    /// until [`open_stderr`] has run.
    Polled,
}

/// Where stderr goes; set once by [`open_stderr`], before the child exists.
static SINK: OnceLock<Sink> = OnceLock::new();
/// Lines lost since the last one that got through.
static DROPPED: AtomicUsize = AtomicUsize::new(0);

/// Prepares stderr for pidone's own lines (see the module doc). Call once,
/// early: it may open a descriptor (close-on-exec).
pub(crate) fn open_stderr() {
    let sink = match nix::sys::stat::fstat(2).map(|st| st.st_mode & libc::S_IFMT) {
        Err(_) => Sink::Closed,
        Ok(libc::S_IFREG | libc::S_IFBLK) => Sink::Write(2),
        Ok(libc::S_IFSOCK) => Sink::Send,
        // Pipes, FIFOs, terminals, other character devices.
        Ok(_) => reopen_nonblocking().map_or(Sink::Polled, Sink::Write),
    };
    let _ = SINK.set(sink);
}

/// A new open file description of what stderr refers to, non-blocking and
/// close-on-exec. O_NOCTTY: a terminal must not become pidone's
/// controlling terminal by being opened.
fn reopen_nonblocking() -> Option<RawFd> {
    let flags = OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOCTTY;
    let own = fcntl::open("/proc/self/fd/2", flags, nix::sys::stat::Mode::empty()).ok()?;
    if own > 2 {
        return Some(own);
    }
    // stdin or stdout was closed and the new descriptor took its number:
    // move it above 2, so that what pidone writes to stdout (`--help`) never
    // lands on its stderr, and the child sees the closed one closed.
    let moved = fcntl::fcntl(own, FcntlArg::F_DUPFD_CLOEXEC(3));
    let _ = nix::unistd::close(own);
    moved.ok()
}

/// The descriptor pidone's own lines go through when it is not the shared
/// stderr; `spawn` keeps it open when it lets go of inherited ones.
pub(crate) fn own_fd() -> Option<RawFd> {
    match SINK.get() {
        Some(&Sink::Write(fd)) if fd != 2 => Some(fd),
        _ => None,
    }
}

/// Writes one line to stderr as described in the module doc: whole, or not
/// at all (and counted), after the notice of lines dropped before it.
fn emit(args: fmt::Arguments) {
    let dropped = DROPPED.load(Relaxed);
    let s = if dropped == 1 { "" } else { "s" };
    let why = "of pidone's output dropped: stderr was not writable";
    if dropped > 0 && !write_line(format_args!("pidone: warning: {dropped} line{s} {why}")) {
        DROPPED.fetch_add(1, Relaxed);
    } else {
        // Whatever was dropped before has been told: this line alone counts.
        DROPPED.store(usize::from(!write_line(args)), Relaxed);
    }
}

/// One attempt at writing `args` as a line; true if all of it went out.
fn write_line(args: fmt::Arguments) -> bool {
    let mut buf = [0; LINE_MAX];
    let len = format_line(&mut buf, args);
    let bytes = &buf[..len];
    match SINK.get().copied().unwrap_or(Sink::Polled) {
        Sink::Closed => false,
        Sink::Write(fd) => write_all(fd, bytes, sys::write),
        Sink::Send => write_all(2, bytes, sys::send_nonblocking),
        Sink::Polled => sys::writable_now(2) && write_all(2, bytes, sys::write),
    }
}

/// Builds `args` into `buf` as one line ending in a newline, and returns
/// its length: built on the stack, no allocation while logging. Text past
/// [`LINE_MAX`] is cut, and the cut is shown with `...`.
fn format_line(buf: &mut [u8; LINE_MAX], args: fmt::Arguments) -> usize {
    let mut line = Line(&mut buf[..LINE_MAX - 1], 0);
    if line.write_fmt(args).is_err() {
        buf[LINE_MAX - 4..].copy_from_slice(b"...\n");
        return LINE_MAX;
    }
    let len = line.1;
    buf[len] = b'\n';
    len + 1
}

/// Writes all of `bytes` with `op`, again after EINTR; false as soon as a
/// write fails (EAGAIN: full, EPIPE: no reader, EBADF, EFBIG, EIO) or
/// writes nothing. What is lost is lost: pidone goes on.
fn write_all(fd: RawFd, mut bytes: &[u8], op: fn(RawFd, &[u8]) -> Result<usize, Errno>) -> bool {
    while !bytes.is_empty() {
        match op(fd, bytes) {
            Ok(n) if n > 0 => bytes = &bytes[n.min(bytes.len())..],
            Err(Errno::EINTR) => {}
            _ => return false,
        }
    }
    true
}

/// Prints a fatal error as `pidone: <error>`, whatever the log level.
pub(crate) fn print_error(error: &dyn fmt::Display) {
    emit(format_args!("pidone: {error}"));
}

/// Writes `text` (help, version, license) to stdout. A closed or broken
/// stdout (`pidone --help | head -1`) is no reason to fail: pidone has
/// nothing else to do, so this one may block.
pub(crate) fn print_stdout(text: &str) {
    let _ = write_all(1, text.as_bytes(), sys::write);
}

/// A line being built: room for its text, and how much is used. Text that
/// does not fit is cut, and the write fails.
struct Line<'a>(&'a mut [u8], usize);

impl fmt::Write for Line<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let take = s.len().min(self.0.len() - self.1);
        self.0[self.1..self.1 + take].copy_from_slice(&s.as_bytes()[..take]);
        self.1 += take;
        // A cut ends the formatting: nothing after it could be shown.
        (take == s.len()).then_some(()).ok_or(fmt::Error)
    }
}

/// The `log` backend: a level (`-v`), or env_logger's filter when
/// `PIDONE_LOG` gives one, decides what is logged; the writer above writes
/// it. Without a filter nothing of env_logger is built: the level check is
/// `log`'s own, done before a record exists.
struct Logger(Option<env_logger::Logger>);

static LEVEL_LOGGER: Logger = Logger(None);

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        let by_level = metadata.level() <= log::max_level();
        self.0
            .as_ref()
            .map_or(by_level, |filter| filter.enabled(metadata))
    }

    fn log(&self, record: &Record) {
        // matches() checks enabled() itself.
        let filter = self.0.as_ref();
        if !filter.map_or_else(|| self.enabled(record.metadata()), |f| f.matches(record)) {
            return;
        }
        let prefix = match record.level() {
            Level::Error => "pidone: ",
            Level::Warn => "pidone: warning: ",
            Level::Info => "pidone: info: ",
            Level::Debug | Level::Trace => "pidone: debug: ",
        };
        emit(format_args!("{prefix}{}", record.args()));
    }

    fn flush(&self) {}
}

/// Sets up logging: warnings and errors by default, `-v` adds info, `-vv`
/// debug (each signal forwarded, each orphan reaped); `spec` (PIDONE_LOG,
/// env_logger's filter syntax, already validated by `cli`) beats `verbosity`.
pub(crate) fn init(verbosity: u8, spec: Option<&str>) {
    let level =
        [LevelFilter::Warn, LevelFilter::Info, LevelFilter::Debug][verbosity.min(2) as usize];
    let (logger, max): (&'static Logger, _) = match spec {
        None => (&LEVEL_LOGGER, level),
        Some(spec) => {
            let filter = env_logger::Builder::new()
                .filter_level(level)
                .parse_filters(spec)
                .build();
            let max = filter.filter();
            (Box::leak(Box::new(Logger(Some(filter)))), max)
        }
    };
    // Fails only if a logger is already set (a program that uses pidone as
    // a library set its own): then that one stays.
    if log::set_logger(logger).is_ok() {
        log::set_max_level(max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_visibly_and_always_end_in_a_newline() {
        let mut buf = [0; LINE_MAX];
        let long = "x".repeat(LINE_MAX * 2);
        let len = format_line(&mut buf, format_args!("{long}"));
        assert_eq!(len, LINE_MAX);
        assert!(buf.ends_with(b"...\n"));
        let len = format_line(&mut buf, format_args!("pidone: {}", 42));
        assert_eq!(&buf[..len], b"pidone: 42\n");
        let fits = "y".repeat(LINE_MAX - 1);
        let len = format_line(&mut buf, format_args!("{fits}"));
        assert_eq!(
            (len, buf[LINE_MAX - 2], buf[LINE_MAX - 1]),
            (LINE_MAX, b'y', b'\n')
        );
    }
}
