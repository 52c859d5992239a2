//! Build script: picks the board for the target, hands the linker its memory map, and
//! makes the test payload (an LZ4 block of known content) that the suite decompresses.
//!
//! The board table below is the one place that ties a target to a board: its memory
//! map (`memory/<file>`) and its code (`src/board/<name>.rs`, selected by
//! `cfg(board = "...")`). Porting to a real board is a new line here, a memory file and a
//! board module.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// A board the firmware runs on.
struct Board {
    /// The Rust target it is built for.
    target: &'static str,
    /// `cfg(board = ...)` value: selects `src/board/<name>.rs`.
    name: &'static str,
    /// Its memory map, in `memory/`.
    memory: &'static str,
}

const BOARDS: &[Board] = &[
    Board { target: "thumbv7em-none-eabihf", name: "mps2_an386", memory: "mps2-an386.x" },
    Board { target: "thumbv7em-none-eabi", name: "mps2_an500", memory: "mps2-an500.x" },
    Board { target: "thumbv6m-none-eabi", name: "microbit", memory: "microbit.x" },
    Board { target: "riscv32imac-unknown-none-elf", name: "qemu_virt", memory: "qemu-virt.x" },
];

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target = env::var("TARGET").expect("cargo sets TARGET");

    let names: Vec<String> = BOARDS.iter().map(|b| format!("\"{}\"", b.name)).collect();
    println!("cargo::rustc-check-cfg=cfg(board, values({}))", names.join(", "));
    let Some(board) = BOARDS.iter().find(|b| b.target == target) else {
        let known: Vec<&str> = BOARDS.iter().map(|b| b.target).collect();
        panic!("fwring-firmware: no board for target {target}; known targets: {}", known.join(", "));
    };
    println!("cargo::rustc-cfg=board=\"{}\"", board.name);

    // The linker finds memory.x (and dma.x, which it includes) in OUT_DIR.
    copy(&Path::new("memory").join(board.memory), &out.join("memory.x"));
    copy(Path::new("memory/dma.x"), &out.join("dma.x"));
    println!("cargo::rustc-link-search={}", out.display());
    println!("cargo::rerun-if-changed=memory");
    if env::var_os("CARGO_FEATURE_DEFMT").is_some() {
        println!("cargo::rustc-link-arg=-Tdefmt.x");
    }

    payload(&out);
}

fn copy(from: &Path, to: &Path) {
    let bytes = fs::read(from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    fs::write(to, bytes).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
}

/// The payload: text with repeats (so LZ4 finds matches) and a run of pseudo-random
/// bytes (so it also emits long literal runs), compressed here with `lz4_flex` — an
/// encoder independent of fwring's decoder — with its CRC-32C computed bit by bit
/// (independent of fwring's table-driven one).
fn payload(out: &Path) {
    let mut plain = String::new();
    for i in 0..16 {
        let _ = writeln!(plain, "{i:02} fwring: 64-byte SQEs in, 16-byte CQEs out, no heap, no copies, {} ops", i * 7);
    }
    let mut bytes = plain.into_bytes();
    let mut x: u32 = 0x1234_5678;
    for _ in 0..96 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.push((x >> 24) as u8);
    }
    bytes.extend_from_slice(b"\nend of payload\n");
    let block = lz4_flex::block::compress(&bytes);

    fs::write(out.join("payload.bin"), &bytes).expect("write payload.bin");
    fs::write(out.join("payload.lz4"), &block).expect("write payload.lz4");
    let rs = format!(
        "/// Length of the plain payload.\n\
         pub const PLAIN_LEN: usize = {};\n\
         /// Length of its LZ4 block.\n\
         pub const BLOCK_LEN: usize = {};\n\
         /// CRC-32C of the plain payload.\n\
         pub const PLAIN_CRC32C: u32 = {:#010x};\n\
         /// The plain payload (what decompression must produce, byte for byte).\n\
         pub static PLAIN: [u8; PLAIN_LEN] = *include_bytes!(concat!(env!(\"OUT_DIR\"), \"/payload.bin\"));\n\
         /// The payload as one LZ4 block.\n\
         pub static BLOCK: [u8; BLOCK_LEN] = *include_bytes!(concat!(env!(\"OUT_DIR\"), \"/payload.lz4\"));\n",
        bytes.len(),
        block.len(),
        crc32c_bitwise(&bytes)
    );
    fs::write(out.join("payload.rs"), rs).expect("write payload.rs");
    println!("cargo::rerun-if-changed=build.rs");
}

fn crc32c_bitwise(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82f6_3b78 } else { crc >> 1 };
        }
    }
    !crc
}
