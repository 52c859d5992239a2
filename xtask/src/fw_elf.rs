//! A tiny reader for the firmware's ELF files (32-bit, little-endian: Cortex-M and
//! RV32): section headers and the symbol table — enough for size reports and for finding
//! the benchmark's marker function, with no tool beyond the xtask itself.

use std::path::Path;

/// `SHT_SYMTAB`.
const SHT_SYMTAB: u32 = 2;
/// `SHT_NOBITS`: occupies memory, no file bytes (`.bss`).
pub const SHT_NOBITS: u32 = 8;
/// `SHF_WRITE`.
pub const SHF_WRITE: u32 = 0x1;
/// `SHF_ALLOC`: occupies memory at run time.
pub const SHF_ALLOC: u32 = 0x2;
/// `SHF_EXECINSTR`.
pub const SHF_EXECINSTR: u32 = 0x4;
/// `STT_FUNC`.
const STT_FUNC: u8 = 2;

/// One section header.
#[derive(Debug, Clone)]
pub struct Section {
    pub name: String,
    pub kind: u32,
    pub flags: u32,
    pub size: u32,
}

/// One symbol.
#[derive(Debug, Clone)]
pub struct Symbol {
    pub name: String,
    pub value: u32,
    pub size: u32,
    pub is_func: bool,
    /// Index of its section (`st_shndx`).
    pub section: u16,
}

/// What the size report and the benchmark need from an ELF file.
#[derive(Debug)]
pub struct Elf {
    pub sections: Vec<Section>,
    pub symbols: Vec<Symbol>,
}

fn u16_at(b: &[u8], off: usize) -> Result<u16, String> {
    b.get(off..off + 2).map(|s| u16::from_le_bytes([s[0], s[1]])).ok_or_else(|| "ELF truncated".into())
}

fn u32_at(b: &[u8], off: usize) -> Result<u32, String> {
    b.get(off..off + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]])).ok_or_else(|| "ELF truncated".into())
}

fn str_at(b: &[u8], off: usize) -> String {
    let s = b.get(off..).unwrap_or_default();
    let end = s.iter().position(|&c| c == 0).unwrap_or(s.len());
    String::from_utf8_lossy(&s[..end]).into_owned()
}

impl Elf {
    /// Read `path`; errors for anything but a 32-bit little-endian ELF.
    pub fn read(path: &Path) -> Result<Elf, String> {
        let b = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Elf::parse(&b).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn parse(b: &[u8]) -> Result<Elf, String> {
        if b.get(..4) != Some(b"\x7fELF".as_slice()) {
            return Err("not an ELF file".into());
        }
        if b.get(4) != Some(&1) || b.get(5) != Some(&1) {
            return Err("not a 32-bit little-endian ELF".into());
        }
        let shoff = u32_at(b, 0x20)? as usize;
        let shentsize = u16_at(b, 0x2e)? as usize;
        let shnum = u16_at(b, 0x30)? as usize;
        let shstrndx = u16_at(b, 0x32)? as usize;
        if shentsize < 40 {
            return Err("bad section header size".into());
        }
        // name, type, flags, addr, offset, size, link
        let mut raw = Vec::with_capacity(shnum);
        for i in 0..shnum {
            let h = shoff + i * shentsize;
            let f = |k: usize| u32_at(b, h + 4 * k);
            raw.push([f(0)?, f(1)?, f(2)?, f(3)?, f(4)?, f(5)?, f(6)?]);
        }
        let strtab_of = |i: usize| -> &[u8] {
            raw.get(i).and_then(|s| b.get(s[4] as usize..s[4] as usize + s[5] as usize)).unwrap_or_default()
        };
        let names = strtab_of(shstrndx);
        let sections = raw
            .iter()
            .map(|s| Section { name: str_at(names, s[0] as usize), kind: s[1], flags: s[2], size: s[5] })
            .collect();
        let mut symbols = Vec::new();
        for s in raw.iter().filter(|s| s[1] == SHT_SYMTAB) {
            let strtab = strtab_of(s[6] as usize);
            let table = b.get(s[4] as usize..s[4] as usize + s[5] as usize).unwrap_or_default();
            for e in table.chunks_exact(16) {
                let name = str_at(strtab, u32_at(e, 0)? as usize);
                symbols.push(Symbol {
                    name,
                    value: u32_at(e, 4)?,
                    size: u32_at(e, 8)?,
                    is_func: e[12] & 0xf == STT_FUNC,
                    section: u16_at(e, 14)?,
                });
            }
        }
        Ok(Elf { sections, symbols })
    }

    /// The function whose (mangled) name contains `part`, with the Thumb bit cleared.
    pub fn function(&self, part: &str) -> Option<u32> {
        self.symbols.iter().find(|s| s.is_func && s.name.contains(part)).map(|s| s.value & !1)
    }

    /// Functions with their sizes, largest first, names demangled.
    pub fn functions(&self) -> Vec<(String, u64)> {
        let mut f: Vec<(String, u64)> = self
            .symbols
            .iter()
            .filter(|s| s.is_func && s.size > 0)
            .map(|s| (demangle(&s.name), u64::from(s.size)))
            .collect();
        f.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        f.dedup();
        f
    }

    /// The value of the symbol called exactly `name`.
    pub fn symbol(&self, name: &str) -> Option<u32> {
        self.symbols.iter().find(|s| s.name == name).map(|s| s.value)
    }

    /// The data object whose demangled name is `name`, with its section.
    pub fn object(&self, name: &str) -> Option<(&Symbol, &Section)> {
        let sym = self.symbols.iter().find(|s| !s.is_func && demangle(&s.name) == name)?;
        Some((sym, self.sections.get(usize::from(sym.section))?))
    }

    /// The section called `name`.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// Sizes by kind, as `size` would sort them (but with read-only data apart).
    pub fn sizes(&self) -> Sizes {
        let mut z = Sizes::default();
        for s in self.sections.iter().filter(|s| s.flags & SHF_ALLOC != 0) {
            let size = u64::from(s.size);
            if s.flags & SHF_EXECINSTR != 0 {
                z.text += size;
            } else if s.name == ".dma" {
                z.dma += size;
            } else if s.name == ".stack" || s.name == ".heap" {
                // riscv-rt's reservations of the rest of RAM: not the program's.
            } else if s.flags & SHF_WRITE == 0 {
                z.rodata += size;
            } else if s.kind == SHT_NOBITS {
                z.bss += size;
            } else {
                z.data += size;
            }
        }
        z
    }
}

/// Section sizes of an image, in bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// Code (`.text` and other executable sections).
    pub text: u64,
    /// Read-only data (`.rodata`, the vector table, unwind tables).
    pub rodata: u64,
    /// Initialised RAM (its initial image is in flash as well).
    pub data: u64,
    /// Zeroed RAM.
    pub bss: u64,
    /// The `.dma` section (zeroed RAM too).
    pub dma: u64,
}

impl Sizes {
    /// `self - base`, field by field (saturating).
    pub fn minus(&self, base: &Sizes) -> Sizes {
        Sizes {
            text: self.text.saturating_sub(base.text),
            rodata: self.rodata.saturating_sub(base.rodata),
            data: self.data.saturating_sub(base.data),
            bss: self.bss.saturating_sub(base.bss),
            dma: self.dma.saturating_sub(base.dma),
        }
    }
}

/// Rust's legacy symbol mangling (`_ZN` + length-prefixed parts + `E`) back to a path,
/// without the hash; other names unchanged.
pub fn demangle(name: &str) -> String {
    if let Some(v0) = name.strip_prefix("_R") {
        return demangle_v0_paths(v0);
    }
    let Some(mut rest) = name.strip_prefix("_ZN") else { return name.to_string() };
    let mut parts = Vec::new();
    while let Some(c) = rest.chars().next() {
        if !c.is_ascii_digit() {
            break;
        }
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        let Ok(len) = rest[..digits].parse::<usize>() else { break };
        let Some(part) = rest.get(digits..digits + len) else { break };
        parts.push(part);
        rest = &rest[digits + len..];
    }
    if parts.last().is_some_and(|p| p.len() == 17 && p.starts_with('h')) {
        parts.pop();
    }
    const CODES: [(&str, &str); 12] = [
        ("$LT$", "<"),
        ("$GT$", ">"),
        ("$u20$", " "),
        ("$C$", ","),
        ("$RF$", "&"),
        ("$BP$", "*"),
        ("$u7b$", "{"),
        ("$u7d$", "}"),
        ("$u5b$", "["),
        ("$u5d$", "]"),
        ("$u27$", "'"),
        ("..", "::"),
    ];
    let mut out = parts.join("::");
    for (code, text) in CODES {
        out = out.replace(code, text);
    }
    out.replace("::_<", "::<")
}

/// The identifiers of a v0-mangled name (`_RNvNtCs..._17compiler_builtins3mem6memcpy` →
/// `compiler_builtins::mem::memcpy`): enough to read a size report.
fn demangle_v0_paths(v0: &str) -> String {
    // Drop crate disambiguators (`Cs<base-62>_`), whose digits would read as lengths.
    let mut s = String::new();
    let mut rest = v0;
    while let Some(i) = rest.find("Cs") {
        s.push_str(&rest[..i + 1]);
        let tail = &rest[i + 2..];
        rest = tail.find('_').map_or(tail, |j| &tail[j + 1..]);
    }
    s.push_str(rest);
    let b = s.as_bytes();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            i += 1;
            continue;
        }
        let len: usize = s[i..i + digits].parse().unwrap_or(0);
        let start = i + digits;
        match s.get(start..start + len) {
            Some(id) if len > 0 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                parts.push(id.to_string());
                i = start + len;
            }
            _ => i += digits,
        }
    }
    if parts.is_empty() { format!("_R{v0}") } else { parts.join("::") }
}
