//! Crashes as a real program does: writes through a null pointer, so the
//! kernel kills it with SIGSEGV (dumping core where the core limit and
//! core_pattern allow). tests/reasons.rs runs it under pidone.
//!
//! Rust's runtime handles SIGSEGV only to report a stack overflow; for any
//! other fault it restores the default action and the fault repeats.

fn main() {
    println!("crashing");
    let null = std::ptr::null_mut::<u8>();
    // SAFETY: none: the write is meant to fault. `write_volatile` keeps the
    // compiler from reasoning the access away.
    unsafe { null.write_volatile(1) };
    println!("still alive");
}
