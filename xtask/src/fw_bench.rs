//! `cargo xtask fw-bench`: instructions per NOP op on the target, fwring beside a
//! minimal hand-written ring and `heapless::spsc` (the host benchmark's workloads, see
//! `firmware-example/src/bench.rs`), written to `docs/perf.md` between the `fw-perf`
//! markers.
//!
//! Every workload runs N and 2N batches of 32; (count(2N) − count(N)) / (N × 32) is the
//! cost per op with start-up and measuring cancelled. Counts are exact:
//!
//! - Cortex-M: QEMU's exec log with one instruction per translation block
//!   (`-singlestep -d exec,nochain`): one line per executed instruction; the
//!   instructions between consecutive calls of `fw_bench_mark` (found in the ELF's
//!   symbol table) are counted.
//! - RISC-V: `minstret`, read by the firmware around each run, under `-icount shift=0`
//!   (where QEMU's minstret counts instructions exactly). `--cross-check` also counts
//!   the RISC-V run from the exec log.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Command;

use crate::bench::{BenchRow, row_list};
use crate::util::{root, step};

use super::elf::Elf;
use super::qemu;
use super::toolchain::{Installer, Prefer, rustc_version};
use super::{TARGETS, Target, build};

const WORKLOADS: [&str; 5] = ["floor", "heapless::spsc", "fwring", "mshot", "oneshot"];
/// CQEs per batch of the streaming workloads (`BATCH` in firmware-example/src/stream_bench.rs):
/// their per-op figure × `BATCH / STREAM_BATCH` is per CQE.
const STREAM_BATCH: u64 = 4;
/// The short run's batches (`BATCHES` in the firmware); the long run has twice as many.
const N: u64 = 16;
const BATCH: u64 = 32;
/// A row's short run in batches (`ROW_BATCHES` in the firmware); the long run has twice as many.
const ROW_N: u64 = 2;
/// The goal: fwring at most this many times the floor.
const GOAL: f64 = 1.4;
const BEGIN: &str = "<!-- fw-perf:begin -->";
const END: &str = "<!-- fw-perf:end -->";

/// Instructions of each run, by (workload, batches).
type Counts = BTreeMap<(String, u64), u64>;

/// The option that makes QEMU translate one instruction per block (renamed in QEMU 8.1).
fn one_insn_flag(program: &str) -> &'static str {
    let help = Command::new(program).arg("-help").output().map(|o| o.stdout).unwrap_or_default();
    if String::from_utf8_lossy(&help).contains("-one-insn-per-tb") { "-one-insn-per-tb" } else { "-singlestep" }
}

/// The `bench <workload> batches <n> ...` lines the firmware prints, in order.
fn runs(lines: &[String]) -> Vec<(String, u64, u64)> {
    lines
        .iter()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            match w.as_slice() {
                ["bench", name, "batches", n, "ops", _, "instret", i, ..] => {
                    Some((name.to_string(), n.parse().ok()?, i.parse().ok()?))
                }
                _ => None,
            }
        })
        .collect()
}

/// Instructions between consecutive executions of `mark` in a QEMU exec log.
fn intervals(log: &Path, mark: u32) -> Result<Vec<u64>, String> {
    let f = std::fs::File::open(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut out = Vec::new();
    let mut count = 0u64;
    let mut seen_mark = false;
    for line in BufReader::new(f).split(b'\n') {
        let line = line.map_err(|e| e.to_string())?;
        if !line.starts_with(b"Trace") {
            continue;
        }
        // "Trace 0: 0x7f.. [cs_base/pc/flags/cflags] symbol"
        let pc = line
            .iter()
            .position(|&c| c == b'[')
            .and_then(|i| std::str::from_utf8(&line[i + 1..]).ok())
            .and_then(|s| s.split('/').nth(1))
            .and_then(|s| u64::from_str_radix(s, 16).ok());
        let Some(pc) = pc else { continue };
        if pc as u32 == mark {
            if seen_mark {
                out.push(count);
            }
            seen_mark = true;
            count = 0;
        }
        count += 1;
    }
    Ok(out)
}

/// Counts from the exec log: the runs are the intervals from mark 2k to mark 2k + 1.
fn counts_from_log(t: &Target, elf: &Path, names: &[(String, u64, u64)]) -> Result<Counts, String> {
    let mark = Elf::read(elf)?.function("fw_bench_mark").ok_or("no fw_bench_mark symbol in fw-bench")?;
    let log = std::env::temp_dir().join(format!("fwring-fw-bench-{}-{}.log", t.triple, std::process::id()));
    let extra = [
        one_insn_flag(t.qemu[0]).to_string(),
        "-d".into(),
        "exec,nochain".into(),
        "-D".into(),
        log.display().to_string(),
    ];
    let opts = qemu::Options { defmt_print: None, extra: &extra, timeout: 300, echo: false };
    let run = qemu::run(t, elf, &opts)?;
    if run.status != Some(0) {
        return Err(format!("fw-bench (exec log) exited with {:?}", run.status));
    }
    let iv = intervals(&log, mark);
    let _ = std::fs::remove_file(&log);
    let iv = iv?;
    if iv.len() < 2 * names.len() - 1 {
        return Err(format!("exec log: {} marks, expected {}", iv.len() + 1, 2 * names.len()));
    }
    Ok(names.iter().enumerate().map(|(k, (name, n, _))| ((name.clone(), *n), iv[2 * k])).collect())
}

/// Per-op instructions of each workload.
fn per_op(c: &Counts) -> Result<Vec<(&'static str, f64)>, String> {
    WORKLOADS
        .iter()
        .map(|w| {
            let a = c.get(&(w.to_string(), N)).ok_or(format!("no run of {w} with {N} batches"))?;
            let b = c.get(&(w.to_string(), 2 * N)).ok_or(format!("no run of {w} with {} batches", 2 * N))?;
            Ok((*w, b.saturating_sub(*a) as f64 / (N * BATCH) as f64))
        })
        .collect()
}

/// Per-request instructions of each request-kind row: `(row, floor, fwring)`.
fn per_row(c: &Counts, rows: &[BenchRow]) -> Result<Vec<(String, f64, f64)>, String> {
    rows.iter()
        .map(|BenchRow { name: row, batch, .. }| {
            let per = |side: &str| -> Result<f64, String> {
                let name = format!("{side}:{row}");
                let a = c.get(&(name.clone(), ROW_N)).ok_or(format!("no run of {name} with {ROW_N} batches"))?;
                let b =
                    c.get(&(name.clone(), 2 * ROW_N)).ok_or(format!("no run of {name} with {} batches", 2 * ROW_N))?;
                Ok(b.saturating_sub(*a) as f64 / (ROW_N * batch) as f64)
            };
            Ok((row.clone(), per("floor")?, per("fwring")?))
        })
        .collect()
}

struct Row {
    target: &'static Target,
    method: &'static str,
    rustc: String,
    per_op: Vec<(&'static str, f64)>,
    /// `(row, floor, fwring)` instructions per request of the request-kind rows.
    rows: Vec<(String, f64, f64)>,
    /// RISC-V: instructions per 4 KiB virtio-blk read through the ring and straight
    /// through the driver, and bytes the CPU copied per ring read.
    virtio: Option<Virtio>,
}

/// The virtio-blk read benchmark's result (`firmware-example/src/bench_virtio.rs`).
struct Virtio {
    ring: f64,
    direct: f64,
    copied: u64,
}

/// `virtio <path> reads <n> instret <count> copied <bytes>` lines: per-read costs from
/// the N and 2N runs.
fn virtio_result(lines: &[String]) -> Result<Virtio, String> {
    let mut c: BTreeMap<(String, u64), (u64, u64)> = BTreeMap::new();
    for l in lines {
        let w: Vec<&str> = l.split_whitespace().collect();
        if let ["virtio", path, "reads", n, "instret", i, "copied", b] = w.as_slice() {
            let parse = |x: &str| x.parse::<u64>().map_err(|e| format!("virtio line '{l}': {e}"));
            c.insert((path.to_string(), parse(n)?), (parse(i)?, parse(b)?));
        }
    }
    let per_read = |path: &str| -> Result<(f64, u64), String> {
        // Ordered by (path, reads): the first of `path` is its short run.
        let ((_, n), &(a, copied_a)) =
            c.iter().find(|((p, _), _)| p == path).ok_or(format!("fw-bench printed no virtio {path} run"))?;
        let &(b, copied_b) =
            c.get(&(path.to_string(), 2 * n)).ok_or(format!("no virtio {path} run of {} reads", 2 * n))?;
        Ok((b.saturating_sub(a) as f64 / *n as f64, copied_a.max(copied_b)))
    };
    let (ring, copied) = per_read("ring")?;
    let (direct, _) = per_read("direct")?;
    Ok(Virtio { ring, direct, copied })
}

fn measure(
    inst: &mut Installer,
    t: &'static Target,
    prefer: Prefer,
    cross: bool,
    fw_rows: &[BenchRow],
) -> Result<Row, String> {
    let tc = inst.toolchain(t.triple, prefer)?;
    let elf = build(&tc, t, &["fw-bench"], &[])?.into_iter().next().unwrap_or_default();
    let riscv = t.triple.starts_with("riscv");
    let mut extra: Vec<String> = if riscv { vec!["-icount".into(), "shift=0".into()] } else { vec![] };
    // The virtio-blk read benchmark reads the test disk 0.
    if super::disk::has_virtio(t.triple) {
        let d = super::disk::TestDisks::create(&super::firmware_dir().join("target/fw/disks/bench"))?;
        extra.extend(d.qemu_args());
    }
    let opts = qemu::Options { defmt_print: None, extra: &extra, timeout: 120, echo: true };
    let run = qemu::run(t, &elf, &opts)?;
    if run.status != Some(0) {
        return Err(format!("fw-bench exited with {:?} (a checksum differs, or it crashed)", run.status));
    }
    let names = runs(&run.lines);
    let expected = 2 * WORKLOADS.len() + 4 * fw_rows.len();
    if names.len() != expected {
        return Err(format!("fw-bench printed {} runs, expected {expected}", names.len()));
    }
    let (counts, method) = if riscv {
        let c: Counts = names.iter().map(|(w, n, i)| ((w.clone(), *n), *i)).collect();
        if cross {
            let log = counts_from_log(t, &elf, &names)?;
            for ((w, a), (_, b)) in per_op(&c)?.into_iter().zip(per_op(&log)?) {
                println!("cross-check {w}: minstret {a:.2}, exec log {b:.2} instructions/op");
            }
        }
        (c, "`minstret` under `-icount shift=0`")
    } else {
        (counts_from_log(t, &elf, &names)?, "QEMU exec log, one instruction per block")
    };
    let virtio = if super::disk::has_virtio(t.triple) { Some(virtio_result(&run.lines)?) } else { None };
    Ok(Row {
        target: t,
        method,
        rustc: rustc_version(&tc),
        per_op: per_op(&counts)?,
        rows: per_row(&counts, fw_rows)?,
        virtio,
    })
}

/// The async front end beside the plain API on the Cortex-M4 (`fw-async-bench`, feature
/// `async`): instructions per request, from the exec log like the NOP workloads.
fn measure_async(inst: &mut Installer, prefer: Prefer) -> Result<String, String> {
    const ASYNC_N: u64 = 4;
    let t = &TARGETS[0];
    let tc = inst.toolchain(t.triple, prefer)?;
    let elf = build(&tc, t, &["fw-async-bench"], &["async"])?.into_iter().next().unwrap_or_default();
    let opts = qemu::Options { defmt_print: None, extra: &[], timeout: 120, echo: true };
    let run = qemu::run(t, &elf, &opts)?;
    if run.status != Some(0) {
        return Err(format!("fw-async-bench exited with {:?} (a checksum differs, or it crashed)", run.status));
    }
    let names = runs(&run.lines);
    let counts = counts_from_log(t, &elf, &names)?;
    let per = |w: &str| -> Result<f64, String> {
        let a = counts.get(&(w.to_string(), ASYNC_N)).ok_or(format!("no short run of {w}"))?;
        let b = counts.get(&(w.to_string(), 2 * ASYNC_N)).ok_or(format!("no long run of {w}"))?;
        Ok(b.saturating_sub(*a) as f64 / (ASYNC_N * BATCH) as f64)
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n### Async front end on the Cortex-M4\n\nInstructions per request, one request at a time, \
         `firmware-example/src/bin/async-bench.rs` (the host's `tests/src/async_bench.rs` workloads; \
         futures polled by hand with `Waker::noop()`), exec-log counts as above.\n"
    );
    let _ = writeln!(s, "| request | plain push/submit/pop | awaited `call` | × plain |");
    let _ = writeln!(s, "|---|---:|---:|---:|");
    for (what, plain, awaited) in [
        ("NOP (completes inline)", "plain-nop", "async-nop"),
        ("pending, completed by the `Completer` (submit + wake + complete)", "plain-irq", "async-irq"),
    ] {
        let (p, a) = (per(plain)?, per(awaited)?);
        println!("{plain:>15}: {p:.1}  {awaited}: {a:.1} instructions/request");
        let _ = writeln!(s, "| {what} | {p:.1} | {a:.1} | {:.2} |", a / p);
    }
    Ok(s)
}

fn render(rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## On the microcontroller (QEMU)\n");
    let _ = writeln!(
        s,
        "The same three workloads on the target, in one run per target (`cargo xtask fw-bench` rewrites \
         this section): NOP through submit + reap at batch 32, `firmware-example/src/bench.rs`, release \
         profile (`opt-level = \"s\"`, LTO). Instructions/op are exact QEMU counts — the difference between \
         runs of {N} and {} batches, divided by {N} × 32, so start-up cancels. **floor**: the hand-written \
         ring (64-byte SQE array, fn-pointer dispatch through a 16-entry table, 16-byte CQE write, no \
         atomics); **heapless::spsc**: enqueue + dequeue of the 64-byte SQE and the 16-byte CQE, same \
         dispatch; **fwring**: `Ring<64, 128, 64>`, `push` × 32, `submit`, `pop` × 32. Goal: fwring ≤ \
         {GOAL}× floor.\n",
        2 * N
    );
    let _ = writeln!(s, "| target | counted by | floor | heapless::spsc | fwring | fwring × floor | goal ≤ {GOAL}× |");
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---|");
    for r in rows {
        let get = |w: &str| r.per_op.iter().find(|(n, _)| *n == w).map_or(0.0, |x| x.1);
        let (floor, spsc, fw) = (get("floor"), get("heapless::spsc"), get("fwring"));
        let ratio = if floor > 0.0 { fw / floor } else { f64::NAN };
        let verdict = if ratio <= GOAL { "met" } else { "**not met**" };
        let _ = writeln!(
            s,
            "| {} ({}) | {} | {floor:.1} | {spsc:.1} | {fw:.1} | {ratio:.2} | {verdict} |",
            r.target.triple, r.target.board, r.method
        );
    }
    let _ = writeln!(
        s,
        "\n### Every request kind beside the floor\n\n\
         The host's rows (`tests/src/rows.rs`, included by `firmware-example/src/bench.rs`) on the \
         target, same run: fwring (`Ring<128, 256, 128>`) beside the hand-written floor doing the same \
         work (the same op through a 16-entry fn-pointer table; for the buffer rows, the same \
         descriptors decoded by hand and the same bytes copied). Instructions per request: difference \
         of runs of {ROW_N} and {} batches, divided by {ROW_N} × the batch. `nop-bN`: N NOPs per \
         submit; `op-b32`: an op-slot op whose result comes from its SQE; `chain4-b32`: link chains \
         of 4 NOPs; `opchain4-b32`: link chains of 4 such ops; `buf1-b32` / `buf8-b32`: the copy op moving 64 bytes between registered buffers \
         in one / eight segments each way, with 1 registered buffer or, `-r16`, 16.\n",
        2 * ROW_N
    );
    let _ = writeln!(s, "| request kind | target | floor | fwring | × floor | fwring − floor |");
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|");
    // Row by row (every target measured the same rows, in the same order).
    let names: Vec<&str> = rows.first().map(|r| r.rows.iter().map(|x| x.0.as_str()).collect()).unwrap_or_default();
    for row in names {
        for r in rows {
            if let Some((_, f, w)) = r.rows.iter().find(|x| x.0 == row) {
                let _ = writeln!(s, "| {row} | {} | {f:.1} | {w:.1} | {:.2} | {:.1} |", r.target.triple, w / f, w - f);
            }
        }
    }
    let _ = writeln!(
        s,
        "\n### A real DMA device: 4 KiB virtio-blk reads (QEMU virt)\n\n\
         `firmware-example/src/bench_virtio.rs`, same run as above (`minstret` under `-icount shift=0`): \
         instructions per 4 KiB read of QEMU's virtio-blk disk, interrupt-driven both ways — **through the \
         ring** (push a `VirtioBlkOp` READ SQE, `submit`: prep, import, `PendingIo`, `read_blocks_nb`; the PLIC \
         interrupt: claim, ack, `complete_read_blocks`, `PendingIo::complete`; `poll`, `pop`) beside \
         **straight through the driver** (`read_blocks_nb` into a static buffer, the same interrupt with \
         `complete_read_blocks` and a counter). Each request starts with interrupts held off and the CPU \
         spins until the device has finished; that spin is measured and left out (the device's time is not \
         the CPU's work), so the counts are exact and repeatable. Difference of runs of 16 and 32 reads, / \
         16. Bytes copied by the CPU per ring read: 0 when the data descriptor the device got holds the registered buffer's \
         own address (checked in the run).\n"
    );
    let _ = writeln!(
        s,
        "| target | through the ring | straight through the driver | ring − driver | ring × driver | bytes copied by the CPU per read |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
    for r in rows {
        if let Some(v) = &r.virtio {
            let _ = writeln!(
                s,
                "| {} ({}) | {:.0} | {:.0} | {:.0} | {:.2} | {} |",
                r.target.triple,
                r.target.board,
                v.ring,
                v.direct,
                v.ring - v.direct,
                v.ring / v.direct,
                v.copied
            );
        }
    }
    let rustc: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.rustc.as_str()).collect();
    let _ = writeln!(s, "\nBuilt by {}.", rustc.into_iter().collect::<Vec<_>>().join(", "));
    let _ = writeln!(
        s,
        "\n### Streaming (instructions per CQE)\n\n**multishot**: a device fills a 16-byte provided \
         buffer of one multishot request, the application polls, reaps, reads and re-provides it; \
         **one SQE per buffer**: push, submit, the device writes the destination it got as a \
         `PendingIo` and completes it, poll, reap (`firmware-example/src/stream_bench.rs`).\n"
    );
    let _ = writeln!(s, "| target | multishot | one SQE per buffer | one SQE × multishot |");
    let _ = writeln!(s, "|---|---:|---:|---:|");
    for r in rows {
        let get = |w: &str| r.per_op.iter().find(|(n, _)| *n == w).map_or(0.0, |x| x.1);
        let per_cqe = BATCH as f64 / STREAM_BATCH as f64;
        let (m, o) = (get("mshot") * per_cqe, get("oneshot") * per_cqe);
        let _ = writeln!(s, "| {} | {m:.1} | {o:.1} | {:.2} |", r.target.triple, o / m);
    }
    s
}

/// Replace the text between the markers (appending them if absent), nothing else.
fn write_section(body: &str) -> Result<(), String> {
    let path = root().join("docs/perf.md");
    let old = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let section = format!("{BEGIN}\n{body}{END}");
    let new = match (old.find(BEGIN), old.find(END)) {
        (Some(b), Some(e)) if b < e => format!("{}{section}{}", &old[..b], &old[e + END.len()..]),
        (None, None) => format!("{}\n{section}\n", if old.ends_with('\n') { old.clone() } else { format!("{old}\n") }),
        _ => return Err(format!("{}: fw-perf markers out of order", path.display())),
    };
    std::fs::write(&path, new).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("wrote the fw-perf section of {}", path.display());
    Ok(())
}

pub fn run(args: &[String]) -> Result<(), String> {
    let mut prefer = Prefer::Auto;
    let mut cross = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--toolchain" => prefer = Prefer::parse(it.next().ok_or("--toolchain needs a value")?)?,
            "--cross-check" => cross = true,
            _ => return Err(format!("unknown argument '{a}' (fw-bench [--toolchain T] [--cross-check])")),
        }
    }
    let mut inst = Installer::default();
    inst.ensure_qemu()?;
    // The firmware's rows (`rows::on_target`, which `firmware-example/src/bench.rs` runs),
    // as the host's bench binary lists them.
    let fw_rows: Vec<BenchRow> = row_list()?.into_iter().filter(|r| r.fw).collect();
    let mut rows = Vec::new();
    for t in TARGETS.iter().filter(|t| t.bench) {
        step(&format!("fw-bench: {} on QEMU {}", t.triple, t.board));
        let r = measure(&mut inst, t, prefer, cross, &fw_rows)?;
        for (w, v) in &r.per_op {
            println!("{:>15}: {v:.2} instructions/op", w);
        }
        for (row, f, w) in &r.rows {
            println!("{row:>15}: floor {f:.1}, fwring {w:.1} instructions/request ({:.2}×)", w / f);
        }
        if let Some(v) = &r.virtio {
            println!(
                "virtio-blk 4 KiB read: {:.0} instructions through the ring, {:.0} straight through the driver, {} bytes copied",
                v.ring, v.direct, v.copied
            );
        }
        rows.push(r);
    }
    step("fw-bench: the async front end on the Cortex-M4");
    let async_md = measure_async(&mut inst, prefer)?;
    write_section(&format!("{}{async_md}", render(&rows)))
}
