//! `cargo xtask fw-size`: section sizes of the firmware images on every target, read
//! from the ELF files ([`super::elf`]), written to `docs/size.md`.
//!
//! The ring core is measured as the difference of two images built alike: `size-core`
//! (a ring with all 16 op slots registered and a NOP loop) minus `size-base` (the same
//! runtime and board code, no ring), both without logging and with a panic handler that
//! only exits, so no formatting machinery is counted on either side.

use std::fmt::Write as _;

use crate::util::{root, step};

use super::elf::{Elf, Sizes};
use super::toolchain::{Installer, Prefer, rustc_version};
use super::{TARGETS, Target, build};

/// The goal for the ring core's code.
const GOAL_TEXT: u64 = 6 * 1024;

struct Row {
    target: &'static Target,
    rustc: String,
    base: Sizes,
    /// `size-core` with fwring's `timeouts` feature (the goal's feature set).
    core: Sizes,
    /// `size-core` with fwring's default features: `timeouts` and `multishot`.
    full: Sizes,
    /// compiler-builtins' memory functions in the full core.
    full_builtins: u64,
    /// `size-core` with neither.
    lean: Sizes,
    /// compiler-builtins' memory functions in the lean core.
    lean_builtins: u64,
    /// `size-core` with fwring's `small` feature (no fast paths): with `timeouts`, and
    /// with neither feature; each with its compiler-builtins memory functions.
    small: [(Sizes, u64); 2],
    /// Code of compiler-builtins' memory functions the ring core pulls in.
    builtins: u64,
    /// The largest functions of the ring core (not in the baseline).
    top: Vec<(String, u64)>,
    /// `size-core`'s `static RING` (with and without timeouts).
    ring: RingPlace,
    lean_ring: RingPlace,
    images: Vec<(&'static str, Sizes)>,
}

/// Where `size-core`'s `static RING` landed: its bytes, and whether in `.bss` (all-zero
/// initial value, no image in flash) or `.data` (an image in flash as large as the ring).
#[derive(Clone, Copy)]
struct RingPlace {
    bytes: u64,
    bss: bool,
}

impl RingPlace {
    /// The `.data` and `.bss` bytes the ring takes.
    fn data_bss(self) -> (u64, u64) {
        if self.bss { (0, self.bytes) } else { (self.bytes, 0) }
    }
}

/// The ring of a `size-core` image: it must be in `.bss` (issue 13: `Ring::new()` is all
/// zeros, so a ring in a `static` costs no flash).
fn ring_place(elf: &Elf, what: &str) -> Result<RingPlace, String> {
    let (sym, section) =
        elf.object("size_core::RING").ok_or_else(|| format!("{what}: no symbol size_core::RING in size-core"))?;
    let place = RingPlace { bytes: u64::from(sym.size), bss: section.kind == super::elf::SHT_NOBITS };
    if !place.bss {
        return Err(format!(
            "{what}: the ring ({} bytes) is in {}, not .bss: Ring::new() has non-zero bytes and costs flash",
            place.bytes, section.name
        ));
    }
    Ok(place)
}

/// compiler-builtins' memory functions (memcpy and friends, Arm's `__aeabi_mem*`).
fn is_builtin(name: &str) -> bool {
    name.contains("compiler_builtins")
        || name.starts_with("__aeabi_mem")
        || ["memcpy", "memmove", "memset", "memcmp", "bcmp"].contains(&name)
}

fn builtins_size(functions: &[(String, u64)]) -> u64 {
    functions.iter().filter(|(n, _)| is_builtin(n)).map(|(_, z)| z).sum()
}

fn measure(inst: &mut Installer, t: &'static Target, prefer: Prefer) -> Result<Row, String> {
    let tc = inst.toolchain(t.triple, prefer)?;
    let pair = build(&tc, t, &["size-base", "size-core"], &["size-image", "--no-default-features", "timeouts"])?;
    let (base_elf, core_elf) = (Elf::read(&pair[0])?, Elf::read(&pair[1])?);
    let (base, core) = (base_elf.sizes(), core_elf.sizes());
    let (base_fns, core_fns) = (base_elf.functions(), core_elf.functions());
    let builtins = builtins_size(&core_fns).saturating_sub(builtins_size(&base_fns));
    let full_elf = Elf::read(&build(&tc, t, &["size-core"], &["size-image"])?[0])?;
    let full = full_elf.sizes();
    ring_place(&full_elf, &format!("{} with multishot", t.triple))?;
    let full_builtins = builtins_size(&full_elf.functions()).saturating_sub(builtins_size(&base_fns));
    let lean_elf = Elf::read(&build(&tc, t, &["size-core"], &["size-image", "--no-default-features"])?[0])?;
    let lean = lean_elf.sizes();
    let ring = ring_place(&core_elf, t.triple)?;
    let lean_ring = ring_place(&lean_elf, &format!("{} without timeouts", t.triple))?;
    let lean_builtins = builtins_size(&lean_elf.functions()).saturating_sub(builtins_size(&base_fns));
    let mut small = [(Sizes::default(), 0); 2];
    let small_features: [&[&str]; 2] = [
        &["size-image", "--no-default-features", "timeouts", "small"],
        &["size-image", "--no-default-features", "small"],
    ];
    for (slot, features) in small.iter_mut().zip(small_features) {
        let elf = Elf::read(&build(&tc, t, &["size-core"], features)?[0])?;
        ring_place(&elf, &format!("{} small", t.triple))?;
        *slot = (elf.sizes(), builtins_size(&elf.functions()).saturating_sub(builtins_size(&base_fns)));
    }
    let top = core_fns.into_iter().filter(|(n, _)| !base_fns.iter().any(|(b, _)| b == n)).take(12).collect();
    let mut images = vec![("size-base", base), ("size-core", core)];
    let bins: &[&'static str] = if t.bench { &["fw-tests", "fw-bench"] } else { &["fw-tests"] };
    for (bin, path) in bins.iter().zip(build(&tc, t, bins, &[])?) {
        if bin == &"fw-tests" {
            super::check_dma(&path)?;
        }
        images.push((bin, Elf::read(&path)?.sizes()));
    }
    Ok(Row {
        target: t,
        rustc: rustc_version(&tc),
        base,
        core,
        full,
        full_builtins,
        lean,
        lean_builtins,
        small,
        builtins,
        top,
        ring,
        lean_ring,
        images,
    })
}

fn kib(n: u64) -> String {
    format!("{:.2} KiB", n as f64 / 1024.0)
}

fn render(rows: &[Row]) -> String {
    let mut s = String::new();
    let rustc: Vec<String> =
        rows.iter().map(|r| r.rustc.clone()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let _ = writeln!(s, "# fwring firmware size\n");
    let _ = writeln!(
        s,
        "Written by `cargo xtask fw-size` (do not edit by hand). Images of `firmware-example/`, release \
         profile: `opt-level = \"s\"`, fat LTO, one codegen unit, `panic = \"abort\"`; built by {}. \
         Sizes in bytes, read from the ELF section headers: **.text** = executable sections; **.rodata** = \
         other read-only sections (vector table, constants, RISC-V's unwind tables); **.data** = \
         initialised RAM (its initial image is in flash too); **.bss** = zeroed RAM (riscv-rt's stack and \
         heap reservations left out); **.dma** = the DMA buffer section.\n",
        rustc.join(", ")
    );
    let _ = writeln!(s, "## The ring core\n");
    let _ = writeln!(
        s,
        "`size-core` minus `size-base`. `size-core` is a `Ring<16, 32, 16>` in a `static`, set up with \
         `BPF_EXT`, all 16 op slots registered (16 `OpVTable`s of one trivial op), and a loop that pushes \
         NOPs and op-slot SQEs, submits and reaps; `size-base` is the same runtime, board code and exit \
         without the ring. Neither logs, and both panic by exiting, so no formatting code is counted. \
         Goal: the ring core at most 6 KiB of `.text` with the `timeouts` feature. Each target has five \
         rows: fwring with `timeouts` only (the goal's row); with fwring's default features, `timeouts` \
         and `multishot` (provided-buffer rings and multishot requests); with neither (TIMEOUT, \
         LINK_TIMEOUT, TIMEOUT_REMOVE and ASYNC_CANCEL then fail -EOPNOTSUPP, and an op-slot SQE with \
         IOSQE_BUFFER_SELECT too), as firmware that needs no timers and streams nothing would ship it; \
         and the first and third with fwring's `small` feature, which leaves out submit's fast paths \
         (the same CQEs, more instructions per request), for firmware short of flash.\n"
    );
    let _ = writeln!(
        s,
        "| target | .text | of which compiler-builtins mem* | .text without them | .rodata | .data | .bss | 6 KiB goal |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---|");
    for r in rows {
        let variants = [
            (r.core.minus(&r.base), r.builtins, ", timeouts"),
            (r.full.minus(&r.base), r.full_builtins, ", timeouts + multishot"),
            (r.lean.minus(&r.base), r.lean_builtins, ", neither"),
            (r.small[0].0.minus(&r.base), r.small[0].1, ", timeouts, `small`"),
            (r.small[1].0.minus(&r.base), r.small[1].1, ", neither, `small`"),
        ];
        for (d, builtins, what) in variants {
            let own = d.text.saturating_sub(builtins);
            let verdict = |n: u64| {
                let pct = n as f64 * 100.0 / GOAL_TEXT as f64;
                if n <= GOAL_TEXT { format!("within ({pct:.0} %)") } else { format!("**over** ({pct:.0} %)") }
            };
            let _ = writeln!(
                s,
                "| {}{what} | {} ({}) | {builtins} | {own} ({}) | {} | {} | {} | .text {}; without mem* {} |",
                r.target.triple,
                d.text,
                kib(d.text),
                kib(own),
                d.rodata,
                d.data,
                d.bss,
                verdict(d.text),
                verdict(own)
            );
        }
    }
    let _ = writeln!(
        s,
        "\nThe memory functions (`memcpy`, `memmove`, `memset` from compiler-builtins) come with the \
         first copy or clearing of a structure the compiler does not do in line (on the Cortex-M4 only \
         `memset`: clearing a pdu, an import staging area, the ring's tables at setup); any firmware that \
         copies structures has them already, so the second column is the ring's own cost."
    );
    if let Some(r) = rows.first() {
        let _ = writeln!(
            s,
            "\nLargest functions of the ring core on {} (with `timeouts`, after inlining):\n",
            r.target.triple
        );
        let _ = writeln!(s, "| function | bytes |");
        let _ = writeln!(s, "|---|---:|");
        for (name, size) in &r.top {
            let _ = writeln!(s, "| `{}` | {size} |", name.replace('|', "\\|"));
        }
    }
    let _ = writeln!(
        s,
        "\n### The ring in RAM\n\n`size-core`'s `static RING: ConstStaticCell<Ring<16, 32, 16>>`: \
         `Ring::new()` is all zero bytes (every size and list end encoded so that zero is the empty \
         state; what must be non-zero is set at the first run), so the ring is placed in `.bss` — RAM \
         only, no initial image in flash. `cargo xtask fw-size` fails if it lands in `.data`.\n"
    );
    let _ = writeln!(s, "| target | ring bytes (timeouts) | .data | .bss | ring bytes (neither) | .data | .bss |");
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let ((d, b), (ld, lb)) = (r.ring.data_bss(), r.lean_ring.data_bss());
        let _ =
            writeln!(s, "| {} | {} | {d} | {b} | {} | {ld} | {lb} |", r.target.triple, r.ring.bytes, r.lean_ring.bytes);
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "## Whole images\n");
    let _ = writeln!(s, "| target | image | .text | .rodata | .data | .bss | .dma |");
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|");
    for r in rows {
        for (name, z) in &r.images {
            let _ = writeln!(
                s,
                "| {} | {name} | {} | {} | {} | {} | {} |",
                r.target.triple, z.text, z.rodata, z.data, z.bss, z.dma
            );
        }
    }
    let _ = writeln!(
        s,
        "\n`fw-tests` is the on-target suite (every shipped op, the device op, the test harness, \
         semihosting text output); `fw-bench` the NOP benchmark (no room for it in the microbit's 16 KiB \
         of RAM)."
    );
    s
}

pub fn run(args: &[String]) -> Result<(), String> {
    let prefer = match args {
        [] => Prefer::Auto,
        [flag, v] if flag == "--toolchain" => Prefer::parse(v)?,
        _ => return Err("usage: cargo xtask fw-size [--toolchain auto|rustup|debian]".into()),
    };
    let mut inst = Installer::default();
    let mut rows = Vec::new();
    for t in &TARGETS {
        step(&format!("size: {}", t.triple));
        let r = measure(&mut inst, t, prefer)?;
        let d = r.core.minus(&r.base);
        println!(
            "{}: ring core .text {} ({}; {} without compiler-builtins mem*), .rodata {}, .data {}, .bss {}",
            t.triple,
            d.text,
            kib(d.text),
            d.text.saturating_sub(r.builtins),
            d.rodata,
            d.data,
            d.bss
        );
        let (rd, rb) = r.ring.data_bss();
        println!("{}: size-core's ring: {} bytes, .data {rd}, .bss {rb}", t.triple, r.ring.bytes);
        rows.push(r);
    }
    let path = root().join("docs/size.md");
    std::fs::write(&path, render(&rows)).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}
