//! Reads just enough of an ELF file to check a release binary: its machine,
//! that it is static (no interpreter, no dynamic section), non-PIE (type
//! EXEC) and stripped (no symbol table). Little-endian files only: every
//! target pidone ships is.

use std::fmt;

/// What a release binary is, as far as the release cares.
#[derive(Debug, PartialEq, Eq)]
pub struct Facts {
    pub machine: u16,
    /// ET_EXEC: linked at a fixed address (non-PIE).
    pub fixed_address: bool,
    /// A PT_INTERP program header: the kernel would load a dynamic linker.
    pub interpreter: bool,
    /// A PT_DYNAMIC program header: dynamic linking or a static PIE.
    pub dynamic: bool,
    /// A `.symtab` section: not stripped.
    pub symbols: bool,
}

pub const EM_386: u16 = 3;
pub const EM_X86_64: u16 = 62;
pub const EM_AARCH64: u16 = 183;

const ET_EXEC: u16 = 2;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const SHT_SYMTAB: u32 = 2;

#[derive(Debug)]
pub struct NotElf(pub &'static str);

impl fmt::Display for NotElf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a little-endian ELF file pidone ships: {}", self.0)
    }
}

/// Reads the facts from the bytes of an ELF file (elf(5)).
pub fn read(bytes: &[u8]) -> Result<Facts, NotElf> {
    if bytes.len() < 52 || &bytes[..4] != b"\x7fELF" {
        return Err(NotElf("no ELF magic"));
    }
    let wide = match bytes[4] {
        1 => false,
        2 => true,
        _ => return Err(NotElf("unknown ELF class")),
    };
    if bytes[5] != 1 {
        return Err(NotElf("big-endian"));
    }
    let at = |offset: usize, len: usize| -> Result<u64, NotElf> {
        let field = bytes.get(offset..offset + len).ok_or(NotElf("truncated"))?;
        Ok(field
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    };
    let word = if wide { 8 } else { 4 };
    let kind = at(16, 2)? as u16;
    let machine = at(18, 2)? as u16;
    // e_phoff and e_shoff follow e_entry, each a word wide.
    let phoff = at(24 + word, word)? as usize;
    let shoff = at(24 + 2 * word, word)? as usize;
    let tail = 24 + 3 * word + 4 + 2; // past e_flags and e_ehsize
    let phentsize = at(tail, 2)? as usize;
    let phnum = at(tail + 2, 2)? as usize;
    let shentsize = at(tail + 4, 2)? as usize;
    let shnum = at(tail + 6, 2)? as usize;

    let mut facts = Facts {
        machine,
        fixed_address: kind == ET_EXEC,
        interpreter: false,
        dynamic: false,
        symbols: false,
    };
    for i in 0..phnum {
        match at(phoff + i * phentsize, 4)? as u32 {
            PT_INTERP => facts.interpreter = true,
            PT_DYNAMIC => facts.dynamic = true,
            _ => {}
        }
    }
    for i in 0..shnum {
        // sh_type is the second 4-byte field of a section header.
        if at(shoff + i * shentsize + 4, 4)? as u32 == SHT_SYMTAB {
            facts.symbols = true;
        }
    }
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_test_binary_itself() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let facts = read(&me).unwrap();
        if cfg!(target_arch = "x86_64") {
            assert_eq!(facts.machine, EM_X86_64);
        }
        // A debug test binary keeps its symbols.
        assert!(facts.symbols, "{facts:?}");
    }

    #[test]
    fn refuses_what_is_not_elf() {
        assert!(read(b"#!/bin/sh\necho not a binary at all, no, not at all\n").is_err());
        assert!(read(b"\x7fELF").is_err());
    }
}
