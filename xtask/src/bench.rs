//! `cargo xtask bench`: NOP submit + reap at batch 32, side by side in one run.
//!
//! Instructions/op come from callgrind (exact and repeatable): each workload runs at N
//! and 2N batches and the difference is divided by N × 32, so start-up cancels out.
//! ns/op come from `fwring-bench time`, which interleaves the workloads and reports the
//! median of 7 rounds.

use std::fmt::Write as _;

use crate::util::{cargo, exec, have, output, root, step};

const WORKLOADS: [&str; 3] = ["floor", "heapless", "fwring"];
const N: u64 = 2000;

fn callgrind_ir(bin: &str, workload: &str, iters: u64) -> Result<u64, String> {
    let out = std::env::temp_dir().join(format!("fwring-cg-{workload}-{iters}-{}", std::process::id()));
    let mut cmd = std::process::Command::new("valgrind");
    cmd.args(["--tool=callgrind", "--quiet"]).arg(format!("--callgrind-out-file={}", out.display())).args([
        bin,
        "run",
        workload,
        &iters.to_string(),
    ]);
    output(&mut cmd)?;
    let text = std::fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let _ = std::fs::remove_file(&out);
    text.lines()
        .find_map(|l| l.strip_prefix("summary: ").or_else(|| l.strip_prefix("totals: ")))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "no summary in callgrind output".into())
}

pub fn run(args: &[String]) -> Result<(), String> {
    let write = match args {
        [] => false,
        [a] if a == "--write" => true,
        _ => return Err("usage: cargo xtask bench [--write]".into()),
    };
    step("building fwring-bench and shm-bench (release)");
    exec(cargo().args(["build", "--release", "-p", "fwring-tests", "--bin", "fwring-bench", "--bin", "shm-bench"]))?;
    let bin = root().join("target/release/fwring-bench");
    let bin = bin.to_str().ok_or("non-UTF-8 path")?;

    let mut insns = Vec::new();
    if have("valgrind") {
        step(&format!("callgrind: instructions per NOP ({N} and {} batches of 32)", 2 * N));
        for w in WORKLOADS {
            let a = callgrind_ir(bin, w, N)?;
            let b = callgrind_ir(bin, w, 2 * N)?;
            let per_op = (b - a) as f64 / (N * 32) as f64;
            println!("{w:>9}: {per_op:.1} instructions/op");
            insns.push((w, per_op));
        }
    } else {
        println!("valgrind not found: instruction counts skipped (apt-get install valgrind)");
    }

    step("time: ns per NOP, workloads interleaved, median of 7 rounds");
    let timing = output(std::process::Command::new(bin).args(["time", "0.3"]))?;
    let ns: Vec<(String, Option<f64>)> =
        timing.lines().filter_map(|l| l.split_once(' ')).map(|(w, v)| (w.to_string(), v.parse().ok())).collect();
    let get_ns = |w: &str| ns.iter().find(|(n, _)| n == w).and_then(|(_, v)| *v);
    let floor_i = insns.iter().find(|(w, _)| *w == "floor").map(|x| x.1);
    let floor_ns = get_ns("floor");

    let mut table = String::new();
    let _ = writeln!(table, "| workload | instructions/op | × floor | ns/op | × floor |");
    let _ = writeln!(table, "|---|---:|---:|---:|---:|");
    for w in ["floor", "heapless", "fwring", "kernel"] {
        let i = insns.iter().find(|(n, _)| *n == w).map(|x| x.1);
        let t = get_ns(w);
        let cell = |v: Option<f64>, d: usize| v.map_or("—".to_string(), |v| format!("{v:.d$}"));
        let ratio = |v: Option<f64>, f: Option<f64>| match (v, f) {
            (Some(v), Some(f)) if f > 0.0 => format!("{:.2}", v / f),
            _ => "—".into(),
        };
        let name = match w {
            "floor" => "floor (hand-written ring)",
            "heapless" => "heapless::spsc",
            "fwring" => "fwring",
            _ => "Linux io_uring (kernel)",
        };
        let _ = writeln!(
            table,
            "| {name} | {} | {} | {} | {} |",
            cell(i, 1),
            ratio(i, floor_i),
            cell(t, 2),
            ratio(t, floor_ns)
        );
    }
    if let (Some(f), Some(k)) = (get_ns("fwring"), get_ns("kernel")) {
        let _ = writeln!(table, "\nfwring is {:.1}× faster than the kernel's io_uring per NOP.", k / f);
    }
    println!("\n{table}");
    // Buffer ops: the ring's cost per request against calling the function directly.
    let mut buf_table = String::new();
    step("buffer ops: CRC-32C and copy through the ring vs a direct call, 4 KiB and 64 KiB");
    let buf_ns: Vec<(String, Option<f64>)> = output(std::process::Command::new(bin).args(["buftime", "0.2"]))?
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(w, v)| (w.to_string(), v.parse().ok()))
        .collect();
    let ns_of = |w: &str| buf_ns.iter().find(|(n, _)| n == w).and_then(|(_, v)| *v);
    let _ = writeln!(
        buf_table,
        "| op | size | direct ns/req | ring ns/req | ring cost ns/req | direct instr/req | ring instr/req | ring cost instr/req |"
    );
    let _ = writeln!(buf_table, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for op in ["crc", "copy"] {
        for size in ["4k", "64k"] {
            let (d, r) = (format!("{op}-direct-{size}"), format!("{op}-ring-{size}"));
            let per = |w: &str| -> Option<f64> {
                if !have("valgrind") {
                    return None;
                }
                let (a, b) = (callgrind_ir(bin, w, 100).ok()?, callgrind_ir(bin, w, 200).ok()?);
                Some((b - a) as f64 / 100.0)
            };
            let (di, ri) = (per(&d), per(&r));
            let (dn, rn) = (ns_of(&d), ns_of(&r));
            let f = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.0}"));
            let diff = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) => format!("{:.0}", b - a),
                _ => "—".into(),
            };
            let name = if op == "crc" { "crc32c" } else { "copy" };
            let size_b = if size == "4k" { "4 KiB" } else { "64 KiB" };
            let _ = writeln!(
                buf_table,
                "| {name} | {size_b} | {} | {} | {} | {} | {} | {} |",
                f(dn),
                f(rn),
                diff(dn, rn),
                f(di),
                f(ri),
                diff(di, ri)
            );
        }
    }
    println!("\n{buf_table}");
    let rows_table = rows(bin)?;
    println!("\n{rows_table}");
    let shm_table = shm(&bin_dir())?;
    println!("\n{shm_table}");
    let async_table = async_table(bin)?;
    println!("\n{async_table}");
    let stream_table = streaming(bin)?;
    println!("\n{stream_table}");
    let table = format!(
        "{table}\n### Every request kind beside the floor\n\n{rows_table}\n### Buffer ops\n\n{buf_table}\n### Shared-memory round trip\n\n{shm_table}\n### Async front end\n\n{async_table}\n### Streaming\n\n{stream_table}"
    );

    if write {
        let path = root().join("docs/perf.md");
        let doc = std::fs::read_to_string(&path).unwrap_or_default();
        let begin = "<!-- bench:begin -->";
        let end = "<!-- bench:end -->";
        let new = match (doc.find(begin), doc.find(end)) {
            (Some(a), Some(b)) if a < b => format!("{}{begin}\n{table}{}", &doc[..a], &doc[b..]),
            _ => format!("{doc}\n{begin}\n{table}{end}\n"),
        };
        std::fs::write(&path, new).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// A request-kind row of `fwring_tests::rows`: its name, requests per batch, and whether
/// the firmware measures it too (`rows::on_target`).
pub struct BenchRow {
    pub name: String,
    pub batch: u64,
    pub fw: bool,
}

/// The rows, as the bench binary lists them (`fwring-bench rows`): one list, in
/// `tests/src/rows.rs`, for the host's and the firmware's tables.
pub fn row_list() -> Result<Vec<BenchRow>, String> {
    exec(cargo().args(["build", "--release", "-p", "fwring-tests", "--bin", "fwring-bench"]))?;
    let bin = root().join("target/release/fwring-bench");
    let out = output(std::process::Command::new(bin).arg("rows"))?;
    out.lines()
        .map(|l| match l.split_whitespace().collect::<Vec<_>>().as_slice() {
            [name, batch, kind] => Ok(BenchRow {
                name: name.to_string(),
                batch: batch.parse().map_err(|_| format!("fwring-bench rows: bad batch in '{l}'"))?,
                fw: *kind == "fw",
            }),
            _ => Err(format!("fwring-bench rows: bad line '{l}'")),
        })
        .collect()
}

/// Instructions per request of every row of `fwring_tests::rows`, fwring beside the
/// floor doing the same work, from callgrind at N and 2N batches.
fn rows(bin: &str) -> Result<String, String> {
    let mut table = String::new();
    let _ = writeln!(table, "| request kind | floor instr/req | fwring instr/req | × floor | fwring − floor |");
    let _ = writeln!(table, "|---|---:|---:|---:|---:|");
    if !have("valgrind") {
        return Ok("valgrind not found: no instruction counts (apt-get install valgrind)\n".into());
    }
    step("callgrind: every request kind beside the floor");
    for BenchRow { name: row, batch, .. } in row_list()? {
        let iters = 4096 / batch;
        let per = |side: &str| -> Result<f64, String> {
            let name = format!("{side}:{row}");
            let (a, b) = (callgrind_ir(bin, &name, iters)?, callgrind_ir(bin, &name, 2 * iters)?);
            Ok((b - a) as f64 / (iters * batch) as f64)
        };
        let (f, r) = (per("floor")?, per("fwring")?);
        println!("{row:>12}: floor {f:.1}, fwring {r:.1} ({:.2}×)", r / f);
        let _ = writeln!(table, "| {row} | {f:.1} | {r:.1} | {:.2} | {:.1} |", r / f, r - f);
    }
    let _ = writeln!(
        table,
        "\n`nop-bN`: N NOPs per submit; `op-b32`: an op-slot op whose result comes from its SQE \
         (the floor calls the same function through its 16-entry table); `chain4-b32`: 8 link \
         chains of 4 NOPs per submit; `opchain4-b32`: 8 link chains of 4 such ops (the floor runs \
         them unlinked); `buf1-b32` / `buf8-b32`: the copy op moving 64 bytes \
         between registered buffers in one / eight segments each way (the floor decodes the same \
         descriptors by hand and copies the same bytes), with 1 registered buffer or, `-r16`, 16 \
         with the data in the last: fwring − floor is the ring's cost of a buffer op (import, \
         ownership check, views, release, on top of an op-slot op's); `nop-sqN`: NOPs on a ring \
         of N SQ entries."
    );
    Ok(table)
}

/// Instructions per request of the async front end beside the plain API, same ring, same
/// run (workloads in `tests/src/async_bench.rs`): an inline NOP, and a request completed
/// through the `Completer` (submit + wake + complete).
fn async_table(bin: &str) -> Result<String, String> {
    let mut t = String::new();
    if !have("valgrind") {
        return Ok("valgrind not found: async instruction counts skipped\n".into());
    }
    step("async front end: instructions per request, plain vs awaited (callgrind)");
    let per = |w: &str| -> Result<f64, String> {
        let (a, b) = (callgrind_ir(bin, w, N)?, callgrind_ir(bin, w, 2 * N)?);
        Ok((b - a) as f64 / (N * 32) as f64)
    };
    let _ = writeln!(t, "| request | plain push/submit/pop | awaited `call` | × plain |");
    let _ = writeln!(t, "|---|---:|---:|---:|");
    for (what, plain, awaited) in [
        ("NOP (completes inline)", "plain-nop", "async-nop"),
        ("pending, completed by the `Completer` (submit + wake + complete)", "plain-irq", "async-irq"),
    ] {
        let (p, a) = (per(plain)?, per(awaited)?);
        let _ = writeln!(t, "| {what} | {p:.1} | {a:.1} | {:.2} |", a / p);
    }
    Ok(t)
}

fn bin_dir() -> std::path::PathBuf {
    root().join("target/release")
}

/// The shared-memory round trip (`shm-bench`): requests/s with host and device on two
/// threads, and instructions per request in one thread under callgrind, for the queue
/// pair beside `heapless::spsc` and crossbeam's `ArrayQueue`.
fn shm(dir: &std::path::Path) -> Result<String, String> {
    const BATCHES: u64 = 500;
    let bin = dir.join("shm-bench");
    let bin = bin.to_str().ok_or("non-UTF-8 path")?;
    step("shared-memory round trip: requests/s across two threads, instructions/request in one");
    let timing = output(std::process::Command::new(bin).args(["time", "1"]))?;
    let mut table = String::new();
    let _ = writeln!(table, "| transport | M requests/s (2 threads, median) | instructions/request (1 thread) |");
    let _ = writeln!(table, "|---|---:|---:|");
    for (w, name) in
        [("shm", "fwring::shm::QueuePair"), ("heapless", "heapless::spsc"), ("crossbeam", "crossbeam ArrayQueue")]
    {
        // "       shm   6.10 M req/s  (min …)"
        let mreq = timing
            .lines()
            .find_map(|l| l.trim_start().strip_prefix(w).and_then(|r| r.split_whitespace().next()))
            .unwrap_or("—");
        let instr = if have("valgrind") {
            let (a, b) = (callgrind_ir(bin, w, BATCHES)?, callgrind_ir(bin, w, 2 * BATCHES)?);
            format!("{:.1}", (b - a) as f64 / (BATCHES * 32) as f64)
        } else {
            "—".into()
        };
        let _ = writeln!(table, "| {name} | {mreq} | {instr} |");
    }
    let _ = writeln!(
        table,
        "\nEach request: the host pushes a NOP SQE, the device moves it into a `Ring<64, 128, 64>`, \
         submits, and moves the CQE back; batches of 32. Requests/s are noisy on a shared machine."
    );
    Ok(table)
}

/// Streaming (issue 16): instructions per CQE of one multishot request over a group of
/// provided buffers (the device fills one, the application reaps, reads and re-provides
/// it) beside one SQE per device-filled buffer (`PendingIo`), same run.
fn streaming(bin: &str) -> Result<String, String> {
    const CQES: u64 = 20_000;
    step("streaming: instructions per CQE, multishot vs one SQE per buffer");
    let mut table = String::new();
    let _ = writeln!(table, "| workload | instructions/CQE | × multishot |");
    let _ = writeln!(table, "|---|---:|---:|");
    if !have("valgrind") {
        let _ = writeln!(table, "| (valgrind not found) | — | — |");
        return Ok(table);
    }
    let mut per = Vec::new();
    for w in ["mshot", "oneshot"] {
        let (a, b) = (callgrind_ir(bin, w, CQES)?, callgrind_ir(bin, w, 2 * CQES)?);
        per.push((w, (b - a) as f64 / CQES as f64));
    }
    let base = per[0].1;
    for (w, v) in &per {
        let name =
            if *w == "mshot" { "multishot stream (fill, reap, re-provide)" } else { "one SQE per buffer (PendingIo)" };
        let _ = writeln!(table, "| {name} | {v:.0} | {:.2} |", v / base);
    }
    Ok(table)
}
