//! Firmware tasks: `firmware-example` built for its four boards and run under QEMU.
//!
//! - `cargo xtask fw-test [--target T]... [--toolchain auto|rustup|debian]` — build the
//!   on-target suite for every target, run it, print one `N passed, N failed` line per
//!   target and the total. `cargo xtask ci` runs the same through [`test_all`].
//! - `cargo xtask fw-run [--target T] [--bin fw-tests|fw-bench] [--defmt] [--disk FILE]`
//!   — build one image and run it, showing its output; on RISC-V (QEMU virt) with
//!   virtio-blk disks: `FILE` as disk 0, or without `--disk` the suite's test disks.
//!
//! On RISC-V the suite runs with three virtio-blk test disks ([`disk`]): written with
//! qemu-img and dd before QEMU starts, checked byte for byte after it exits (a
//! mismatch counts as a failed test).
//! - `cargo xtask fw-size` — the size report, written to `docs/size.md`.
//! - `cargo xtask fw-bench` — instructions per NOP op on the target, written to
//!   `docs/perf.md` between the `fw-perf` markers.
//!
//! Everything needed is installed when missing (QEMU, the Rust target or Debian's
//! fallback toolchain, defmt-print): see [`toolchain`].

#[path = "fw_bench.rs"]
mod bench;
#[path = "fw_disk.rs"]
mod disk;
#[path = "fw_elf.rs"]
mod elf;
#[path = "fw_qemu.rs"]
mod qemu;
#[path = "fw_size.rs"]
mod size;
#[path = "fw_toolchain.rs"]
mod toolchain;

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::util::{describe, root, step};

pub use toolchain::Installer;
use toolchain::{Prefer, Toolchain};

/// A board the firmware runs on, and how QEMU emulates it.
pub struct Target {
    /// Rust target.
    pub triple: &'static str,
    /// QEMU machine (the board).
    pub board: &'static str,
    /// QEMU program and machine options.
    pub qemu: &'static [&'static str],
    /// Whether the M4's defmt build runs here (defmt-semihosting is Cortex-M only; one
    /// Cortex-M target logs through defmt, the other through plain semihosting text, so
    /// both paths run).
    pub defmt: bool,
    /// Whether the benchmark image fits (the microbit's 16 KiB of RAM do not hold it).
    pub bench: bool,
}

/// The targets, in the order they run.
pub const TARGETS: [Target; 4] = [
    Target {
        triple: "thumbv7em-none-eabihf",
        board: "mps2-an386",
        qemu: &["qemu-system-arm", "-cpu", "cortex-m4", "-machine", "mps2-an386"],
        defmt: true,
        bench: true,
    },
    // Cortex-M7: DMA buffers with the cache-maintenance hook (SCB by address).
    Target {
        triple: "thumbv7em-none-eabi",
        board: "mps2-an500",
        qemu: &["qemu-system-arm", "-cpu", "cortex-m7", "-machine", "mps2-an500"],
        defmt: false,
        bench: false,
    },
    Target {
        triple: "thumbv6m-none-eabi",
        board: "microbit",
        qemu: &["qemu-system-arm", "-cpu", "cortex-m0", "-machine", "microbit"],
        defmt: false,
        bench: false,
    },
    Target {
        triple: "riscv32imac-unknown-none-elf",
        board: "virt",
        qemu: &["qemu-system-riscv32", "-machine", "virt", "-bios", "none"],
        defmt: false,
        bench: true,
    },
];

/// Seconds a firmware build may take.
const BUILD_TIMEOUT: u32 = 900;
/// Seconds a test run may take (it takes well under one).
const RUN_TIMEOUT: u32 = 60;

/// The firmware crate's directory.
pub fn firmware_dir() -> PathBuf {
    root().join("firmware-example")
}

fn target(triple: &str) -> Result<&'static Target, String> {
    TARGETS.iter().find(|t| t.triple == triple).ok_or_else(|| {
        let known: Vec<&str> = TARGETS.iter().map(|t| t.triple).collect();
        format!("unknown target '{triple}' (known: {})", known.join(", "))
    })
}

/// Build `bins` of the firmware for `t` with `features`, and copy each ELF to
/// `target/fw/<triple>/<bin>[+features]` (so builds with other features do not overwrite
/// it). Returns the copies' paths, in the order of `bins`.
pub fn build(tc: &Toolchain, t: &Target, bins: &[&str], features: &[&str]) -> Result<Vec<PathBuf>, String> {
    let fw = firmware_dir();
    let mut cargo = tc.cargo(&fw, "build", t.triple, BUILD_TIMEOUT);
    for b in bins {
        cargo.args(["--bin", b]);
    }
    // `--flags` pass through (e.g. `--no-default-features`); the rest are features.
    let (flags, features): (Vec<&str>, Vec<&str>) = features.iter().partition(|f| f.starts_with("--"));
    cargo.args(&flags);
    if !features.is_empty() {
        cargo.args(["--features", &features.join(",")]);
    }
    let status = cargo.status().map_err(|e| format!("{}: {e}", describe(&cargo)))?;
    if !status.success() {
        return Err(format!("{} failed ({status})", describe(&cargo)));
    }
    let built = tc.target_dir(&fw).join(t.triple).join("release");
    let out = fw.join("target/fw").join(t.triple);
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut suffix: String = features.iter().map(|f| format!("+{f}")).collect();
    if flags.contains(&"--no-default-features") {
        suffix.push_str("-default");
    }
    bins.iter()
        .map(|b| {
            let from = built.join(b);
            let to = out.join(format!("{b}{suffix}"));
            std::fs::copy(&from, &to).map_err(|e| format!("{} (built?): {e}", from.display()))?;
            Ok(to)
        })
        .collect()
}

/// The buffers' `.dma` section must exist, hold something, take no file space (NOLOAD)
/// and lie inside the range the runtime zeroes at reset (`__sbss..__ebss`): the
/// firmware's `ConstStaticCell` there relies on it.
pub fn check_dma(elf: &Path) -> Result<(), String> {
    let e = elf::Elf::read(elf)?;
    let dma = e.section(".dma").ok_or_else(|| format!("{}: no .dma section", elf.display()))?;
    if dma.size == 0 || dma.kind != elf::SHT_NOBITS {
        return Err(format!("{}: .dma section is {dma:?}", elf.display()));
    }
    let sym = |n: &str| e.symbol(n).ok_or_else(|| format!("{}: no symbol {n}", elf.display()));
    let (sdma, edma, sbss, ebss) = (sym("__sdma")?, sym("__edma")?, sym("__sbss")?, sym("__ebss")?);
    if !(sbss <= sdma && edma <= ebss) {
        return Err(format!(
            "{}: .dma {sdma:#x}..{edma:#x} is outside the zeroed range {sbss:#x}..{ebss:#x}",
            elf.display()
        ));
    }
    Ok(())
}

/// One target's test result.
struct TargetResult {
    passed: u64,
    failed: u64,
    note: String,
}

/// Build and run the suite (`bin`, with `extra` features) on `t`.
fn test_target(inst: &mut Installer, t: &Target, prefer: Prefer, bin: &str, extra: &[&str]) -> TargetResult {
    let fail = |note: String| TargetResult { passed: 0, failed: 1, note };
    let start = Instant::now();
    let tc = match inst.toolchain(t.triple, prefer) {
        Ok(tc) => tc,
        Err(e) => return fail(e),
    };
    // The defmt run needs defmt-print on the host: installed if missing, except on the
    // Debian fallback path, which keeps to what is there (its build is slow already).
    let defmt_print = if t.defmt { inst.defmt_print(tc == Toolchain::Rustup) } else { None };
    if t.defmt && defmt_print.is_none() {
        println!("fw: no defmt-print: this run logs as plain semihosting text (`cargo install defmt-print`)");
    }
    let defmt = defmt_print.as_deref();
    let mut features: Vec<&str> = extra.to_vec();
    if defmt.is_some() {
        features.push("defmt");
    }
    let elf = match build(&tc, t, &[bin], &features) {
        Ok(v) => v.into_iter().next().unwrap_or_default(),
        Err(e) => return fail(format!("build failed: {e}")),
    };
    if let Err(e) = check_dma(&elf) {
        return fail(e);
    }
    let built = start.elapsed().as_secs_f64();
    let ran = Instant::now();
    let disks = if disk::has_virtio(t.triple) {
        match disk::TestDisks::create(&firmware_dir().join("target/fw/disks").join(t.triple)) {
            Ok(d) => Some(d),
            Err(e) => return fail(format!("test disks: {e}")),
        }
    } else {
        None
    };
    let mut extra = disks.as_ref().map(disk::TestDisks::qemu_args).unwrap_or_default();
    // Virtual time follows the instruction count (16 ns each), and an idle CPU jumps to
    // the next timer at once: timer interrupts land at the same instructions whatever
    // the host's load, so tests that race the application against a timer-driven device
    // (the sampler, virtio completions) run the same way on a busy CI machine.
    extra.extend(["-icount".to_string(), "shift=4,sleep=off".to_string()]);
    let opts = qemu::Options { defmt_print: defmt, extra: &extra, timeout: RUN_TIMEOUT, echo: true };
    let run = match qemu::run(t, &elf, &opts) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    // The disk images after QEMU exited: one more check, counted like a test.
    let disk_check = match &disks {
        Some(d) => match d.check() {
            Ok(()) => {
                println!("    host: test disk images byte-exact after the run (disk0 writes, disk1/disk2 unchanged)");
                (1, 0)
            }
            Err(e) => {
                println!("    host: FAIL test disk images: {e}");
                (0, 1)
            }
        },
        None => (0, 0),
    };
    let how = format!(
        "{}, {}; build {built:.1} s, run {:.1} s",
        tc.name(),
        if defmt.is_some() { "defmt" } else { "semihosting text" },
        ran.elapsed().as_secs_f64()
    );
    let r = target_result(&run, how);
    TargetResult { passed: r.passed + disk_check.0, failed: r.failed + disk_check.1, note: r.note }
}

/// The result a run's summary line and exit status say.
fn target_result(run: &qemu::Run, how: String) -> TargetResult {
    let fail = |note: String| TargetResult { passed: 0, failed: 1, note };
    match (qemu::summary(&run.lines), run.status) {
        (Some((p, 0)), Some(0)) => TargetResult { passed: p, failed: 0, note: how },
        (Some((p, f)), Some(1)) if f > 0 => TargetResult { passed: p, failed: f, note: how },
        (Some((p, f)), status) => TargetResult {
            passed: p,
            failed: f.max(1),
            note: format!("{how}; QEMU exit status {status:?} does not match the summary"),
        },
        (None, Some(qemu::TIMED_OUT)) => fail(format!("{how}; timed out after {RUN_TIMEOUT} s, no summary line")),
        (None, status) => fail(format!("{how}; no `N passed, N failed` line (QEMU exit status {status:?})")),
    }
}

/// The runner must catch a failure: the M4 suite built with a deliberately failing test
/// must exit 1 and report exactly one failure.
fn selfcheck(inst: &mut Installer, prefer: Prefer) -> Result<(), String> {
    let t = &TARGETS[0];
    let tc = inst.toolchain(t.triple, prefer)?;
    let elf = build(&tc, t, &["fw-tests"], &["selfcheck-fail"])?.into_iter().next().unwrap_or_default();
    let opts = qemu::Options { defmt_print: None, extra: &[], timeout: RUN_TIMEOUT, echo: false };
    let run = qemu::run(t, &elf, &opts)?;
    match (qemu::summary(&run.lines), run.status) {
        (Some((_, 1)), Some(1)) => Ok(()),
        (s, status) => Err(format!("deliberately failing build: summary {s:?}, exit status {status:?}")),
    }
}

/// rustfmt and clippy on the firmware crate (outside the workspace, so `cargo fmt
/// --all` and the workspace clippy do not see it), where the tools are installed:
/// clippy needs the rustup target.
fn lint(prefer: Prefer) -> Vec<String> {
    let fw = firmware_dir();
    let mut problems = Vec::new();
    if crate::util::have("cargo-fmt") {
        let mut fmt = std::process::Command::new("cargo");
        fmt.args(["fmt", "--", "--check"]).current_dir(&fw).stdin(std::process::Stdio::null());
        if !fmt.status().is_ok_and(|s| s.success()) {
            problems.push("rustfmt --check on firmware-example".to_string());
        }
    } else {
        println!("lint: no rustfmt here, firmware formatting not checked");
    }
    // Every board: each has code of its own (the M7's cache hook, RISC-V's virtio-blk);
    // the M4 also with the embassy app (feature `async`).
    for (i, t) in TARGETS.iter().enumerate() {
        if prefer != Prefer::Debian && crate::util::have("cargo-clippy") && toolchain::rustup_has(t.triple) {
            let mut clippy = Toolchain::Rustup.cargo(&fw, "clippy", t.triple, BUILD_TIMEOUT);
            clippy.arg("--bins");
            if i == 0 {
                clippy.args(["--features", "async"]);
            }
            clippy.args(["--", "-D", "warnings"]);
            if !clippy.status().is_ok_and(|s| s.success()) {
                problems.push(format!("clippy -D warnings on firmware-example ({})", t.triple));
            }
        } else {
            println!("lint: no clippy with the {} target here, firmware not linted for it", t.triple);
        }
    }
    problems
}

struct TestOptions {
    targets: Vec<&'static Target>,
    prefer: Prefer,
}

fn parse_test_options(args: &[String]) -> Result<TestOptions, String> {
    let mut o = TestOptions { targets: Vec::new(), prefer: Prefer::Auto };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--target" => o.targets.push(target(it.next().ok_or("--target needs a value")?)?),
            "--toolchain" => o.prefer = Prefer::parse(it.next().ok_or("--toolchain needs a value")?)?,
            _ => return Err(format!("unknown argument '{a}'")),
        }
    }
    if o.targets.is_empty() {
        o.targets = TARGETS.iter().collect();
    }
    Ok(o)
}

fn test(o: &TestOptions) -> Result<(u64, u64), String> {
    let start = Instant::now();
    let mut inst = Installer::default();
    inst.ensure_qemu()?;
    let mut results = Vec::new();
    for t in &o.targets {
        step(&format!("firmware: {} on QEMU {}", t.triple, t.board));
        let r = test_target(&mut inst, t, o.prefer, "fw-tests", &[]);
        println!("{}: {} passed, {} failed ({})", t.triple, r.passed, r.failed, r.note);
        results.push((t.triple, r));
        if t.triple == TARGETS[0].triple {
            // The async front end under embassy: its own image, the same summary line.
            step(&format!("firmware: fw-async (embassy) on QEMU {}", t.board));
            let r = test_target(&mut inst, t, o.prefer, "fw-async", &["async"]);
            println!("{} fw-async: {} passed, {} failed ({})", t.triple, r.passed, r.failed, r.note);
            results.push(("thumbv7em-none-eabihf fw-async", r));
        }
    }
    step("firmware: checks of the harness and the crate");
    let mut extra_failures = 0;
    if o.targets.iter().any(|t| t.triple == TARGETS[0].triple) {
        match selfcheck(&mut inst, o.prefer) {
            Ok(()) => println!("selfcheck: a deliberately failing test is caught (QEMU exit 1, `1 failed`)"),
            Err(e) => {
                println!("selfcheck FAILED: {e}");
                extra_failures += 1;
            }
        }
    }
    for p in lint(o.prefer) {
        println!("lint FAILED: {p}");
        extra_failures += 1;
    }

    println!();
    for (triple, r) in &results {
        println!("{triple}: {} passed, {} failed", r.passed, r.failed);
    }
    let passed = results.iter().map(|(_, r)| r.passed).sum();
    let failed = results.iter().map(|(_, r)| r.failed).sum::<u64>() + extra_failures;
    println!("firmware time: {:.1} s", start.elapsed().as_secs_f64());
    println!("total: {passed} passed, {failed} failed");
    Ok((passed, failed))
}

/// `cargo xtask fw-test` on every target, as `cargo xtask ci` runs it: installs what is
/// missing, builds, runs each target under `timeout`, prints one summary line per target
/// and the total; returns the (passed, failed) totals.
pub fn test_all() -> Result<(u64, u64), String> {
    test(&parse_test_options(&[])?)
}

fn fw_run(args: &[String]) -> Result<(), String> {
    let mut t = &TARGETS[0];
    let mut bin = "fw-tests".to_string();
    let mut defmt = false;
    let mut prefer = Prefer::Auto;
    let mut user_disk: Option<PathBuf> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--target" => t = target(it.next().ok_or("--target needs a value")?)?,
            "--bin" => bin = it.next().ok_or("--bin needs a value")?.clone(),
            "--defmt" => defmt = true,
            "--toolchain" => prefer = Prefer::parse(it.next().ok_or("--toolchain needs a value")?)?,
            "--disk" => user_disk = Some(PathBuf::from(it.next().ok_or("--disk needs a file")?)),
            _ => {
                return Err(format!("unknown argument '{a}' (fw-run [--target T] [--bin B] [--defmt] [--disk FILE])"));
            }
        }
    }
    if defmt && !t.triple.starts_with("thumb") {
        return Err("--defmt: defmt-semihosting is Cortex-M only".into());
    }
    if bin == "fw-bench" && !t.bench {
        return Err(format!("fw-bench does not fit {}'s RAM", t.board));
    }
    if user_disk.is_some() && !disk::has_virtio(t.triple) {
        return Err(format!(
            "--disk: {} has no virtio-blk transports (use --target riscv32imac-unknown-none-elf)",
            t.board
        ));
    }
    // minstret counts instructions only under icount (else it follows host time).
    let mut extra: Vec<String> = if bin == "fw-bench" && t.triple.starts_with("riscv") {
        vec!["-icount".into(), "shift=0".into()]
    } else {
        Vec::new()
    };
    let mut test_disks = None;
    if let Some(file) = &user_disk {
        extra.extend(disk::user_disk_args(file)?);
        print_user_disk(file)?;
    } else if disk::has_virtio(t.triple) {
        let d = disk::TestDisks::create(&firmware_dir().join("target/fw/disks").join(t.triple))?;
        extra.extend(d.qemu_args());
        test_disks = Some(d);
    }
    let mut inst = Installer::default();
    inst.ensure_qemu()?;
    let tc = inst.toolchain(t.triple, prefer)?;
    let defmt_print =
        if defmt { Some(inst.defmt_print(true).ok_or("defmt-print could not be installed")?) } else { None };
    step(&format!("building {bin} for {} ({})", t.triple, tc.name()));
    let features: &[&str] = if defmt { &["defmt"] } else { &[] };
    let elf = build(&tc, t, &[&bin], features)?.into_iter().next().unwrap_or_default();
    step(&format!("running {} on QEMU {}", elf.display(), t.board));
    let opts = qemu::Options { defmt_print: defmt_print.as_deref(), extra: &extra, timeout: RUN_TIMEOUT, echo: true };
    let run = qemu::run(t, &elf, &opts)?;
    if let Some(d) = test_disks
        && bin == "fw-tests"
    {
        d.check().map_err(|e| format!("test disks after the run: {e}"))?;
        println!("host: test disk images byte-exact after the run");
    }
    match run.status {
        Some(0) => Ok(()),
        Some(qemu::TIMED_OUT) => Err(format!("timed out after {RUN_TIMEOUT} s")),
        s => Err(format!("firmware exited with status {s:?}")),
    }
}

/// What the host sees in a user's raw image: the CRC-32C of the part the firmware reads
/// and checksums through the ring (the first 4 KiB, or the whole disk if smaller).
fn print_user_disk(file: &Path) -> Result<(), String> {
    let mut bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let len = bytes.len();
    // QEMU rounds a raw image up to whole sectors, reading zeros past its end.
    let sectors = len.div_ceil(512);
    bytes.resize(sectors * 512, 0);
    let n = (sectors * 512).min(4096);
    println!(
        "host: {}: {} bytes, {sectors} sectors; if raw, the crc32c of its first {n} bytes is {:#010x}",
        file.display(),
        len,
        disk::crc32c(&bytes[..n])
    );
    Ok(())
}

/// Dispatch `fw-*` subcommands.
pub fn run(cmd: &str, args: &[String]) -> Result<(), String> {
    match cmd {
        "fw-test" => {
            let (_, failed) = test(&parse_test_options(args)?)?;
            if failed > 0 { Err(format!("{failed} firmware check(s) failed")) } else { Ok(()) }
        }
        "fw-run" => fw_run(args),
        "fw-size" => size::run(args),
        "fw-bench" => bench::run(args),
        _ => Err(format!("unknown firmware command '{cmd}'")),
    }
}
