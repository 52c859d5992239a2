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

struct Row {
    target: &'static Target,
    method: &'static str,
    rustc: String,
    per_op: Vec<(&'static str, f64)>,
}

fn measure(inst: &mut Installer, t: &'static Target, prefer: Prefer, cross: bool) -> Result<Row, String> {
    let tc = inst.toolchain(t.triple, prefer)?;
    let elf = build(&tc, t, &["fw-bench"], &[])?.into_iter().next().unwrap_or_default();
    let riscv = t.triple.starts_with("riscv");
    let extra: Vec<String> = if riscv { vec!["-icount".into(), "shift=0".into()] } else { vec![] };
    let opts = qemu::Options { defmt_print: None, extra: &extra, timeout: 120, echo: true };
    let run = qemu::run(t, &elf, &opts)?;
    if run.status != Some(0) {
        return Err(format!("fw-bench exited with {:?} (a checksum differs, or it crashed)", run.status));
    }
    let names = runs(&run.lines);
    if names.len() != 2 * WORKLOADS.len() {
        return Err(format!("fw-bench printed {} runs, expected {}", names.len(), 2 * WORKLOADS.len()));
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
    Ok(Row { target: t, method, rustc: rustc_version(&tc), per_op: per_op(&counts)? })
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
    let mut rows = Vec::new();
    for t in TARGETS.iter().filter(|t| t.bench) {
        step(&format!("fw-bench: {} on QEMU {}", t.triple, t.board));
        let r = measure(&mut inst, t, prefer, cross)?;
        for (w, v) in &r.per_op {
            println!("{:>15}: {v:.2} instructions/op", w);
        }
        rows.push(r);
    }
    write_section(&render(&rows))
}
