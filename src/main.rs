//! pidone's entry point: a C `main`, so Rust's runtime does not run first.
//!
//! Before a Rust `main`, std ignores SIGPIPE, installs SIGSEGV/SIGBUS
//! handlers on an alternate stack, and reopens closed descriptors 0-2 on
//! /dev/null, aborting when /dev/null is missing. An init must do none of
//! that: its child would inherit the ignored SIGPIPE and the extra
//! descriptors, and a container without /dev would not start. So pidone
//! enters here, blocks every signal before anything else (none can arrive
//! unseen), and hands over to the library. (`std::env::args` is empty
//! without Rust's runtime on musl: the arguments come from `argv`.)
#![no_main]
#![deny(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ffi::{c_char, c_int, CStr, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

#[allow(unsafe_code)]
#[no_mangle]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    let blocked = pidone::block_all();
    let count = usize::try_from(argc).unwrap_or(0);
    let args = (0..count)
        // SAFETY: the C runtime passes `argc` valid pointers in `argv`.
        .map(|i| unsafe { *argv.add(i) })
        .take_while(|arg| !arg.is_null())
        .map(|arg| {
            // SAFETY: each non-null argv entry is a NUL-terminated string
            // that lives as long as the process.
            let bytes = unsafe { CStr::from_ptr(arg) }.to_bytes();
            OsString::from(OsStr::from_bytes(bytes))
        })
        .collect();
    c_int::from(pidone::main(args, blocked))
}
