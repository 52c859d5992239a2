//! NOP submit+reap workloads for instruction counting and side-by-side timing.
//!
//! `fwring-bench run <floor|heapless|fwring|kernel> <iters>` runs one workload for
//! `iters` batches of 32 (what `cargo xtask bench` runs under callgrind, at N and 2N
//! iterations so start-up cancels out).
//! `fwring-bench run <mshot|oneshot> <cqes>`: the streaming workloads (per CQE).
//! `fwring-bench time [seconds]` times every workload side by side, interleaved, and
//! prints ns/op (median of 7 rounds).

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use fwring_tests::bench::{BATCH, BenchRing, Floor, Spsc, Workload, fwring_run, nops};

const NAMES: [&str; 4] = ["floor", "heapless", "fwring", "kernel"];

/// Buffer workloads: `crc-ring-4k`, `copy-direct-64k`, ...
const BUF_NAMES: [&str; 8] = [
    "crc-direct-4k",
    "crc-ring-4k",
    "copy-direct-4k",
    "copy-ring-4k",
    "crc-direct-64k",
    "crc-ring-64k",
    "copy-direct-64k",
    "copy-ring-64k",
];

fn run_buf(name: &str, iters: u64) -> Option<u64> {
    let (what, size) = name.rsplit_once('-')?;
    let size = match size {
        "4k" => 4096,
        "64k" => 65536,
        _ => return None,
    };
    fwring_tests::bench::BufBench::new(size).run(what, iters)
}

fn run(name: &str, iters: u64) -> Result<u64, String> {
    if let Some(sum) = run_buf(name, iters) {
        return Ok(sum);
    }
    if let Some(sum) = fwring_tests::rows::run(name, iters) {
        return Ok(sum);
    }
    if let Some(sum) = fwring_tests::async_bench::run(name, iters) {
        return Ok(sum);
    }
    // Streaming (issue 16): `iters` CQEs of a multishot stream / of one SQE per buffer.
    match name {
        "mshot" => return Ok(fwring_tests::stream_bench::multishot(iters)),
        "oneshot" => return Ok(fwring_tests::stream_bench::one_per_buffer(iters)),
        _ => {}
    }
    let sqes = nops();
    Ok(match name {
        "floor" => Floor::default().run(&sqes, iters),
        "heapless" => Spsc::default().run(&sqes, iters),
        "fwring" => fwring_run(&mut BenchRing::new(), &sqes, iters),
        #[cfg(target_os = "linux")]
        "kernel" => {
            let mut k = fwring_tests::kernel::KernelRing::new(64, 0, 0)
                .map_err(|e| format!("kernel io_uring unavailable: {e}"))?;
            fwring_tests::bench::kernel_run(&mut k, &sqes, iters).map_err(|e| e.to_string())?
        }
        _ => return Err(format!("unknown workload '{name}' (one of {})", NAMES.join(", "))),
    })
}

/// ns per request of `name`, one round of about `budget`.
fn time_round(name: &str, budget: Duration) -> Result<f64, String> {
    let mut iters = 64u64;
    loop {
        let t = Instant::now();
        black_box(run(name, iters)?);
        let el = t.elapsed();
        if el >= budget / 4 || iters > 1 << 30 {
            return Ok(el.as_nanos() as f64 / (iters * BATCH as u64) as f64);
        }
        iters *= 2;
    }
}

/// ns per request of each buffer workload: one bench per size, workloads interleaved,
/// median of 7 rounds.
fn buftime(budget: Duration) {
    let mut benches =
        [(4096usize, fwring_tests::bench::BufBench::new(4096)), (65536, fwring_tests::bench::BufBench::new(65536))];
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); BUF_NAMES.len()];
    for _ in 0..7 {
        for (i, name) in BUF_NAMES.iter().enumerate() {
            let (what, size) = name.rsplit_once('-').unwrap_or((name, "4k"));
            let bench = &mut benches[if size == "4k" { 0 } else { 1 }].1;
            let mut iters = 16u64;
            loop {
                let t = Instant::now();
                black_box(bench.run(what, iters));
                let el = t.elapsed();
                if el >= budget / 4 || iters > 1 << 28 {
                    samples[i].push(el.as_nanos() as f64 / iters as f64);
                    break;
                }
                iters *= 2;
            }
        }
    }
    let _ = &benches[0].0;
    for (name, mut s) in BUF_NAMES.iter().zip(samples) {
        s.sort_by(f64::total_cmp);
        println!("{name} {:.1}", s[s.len() / 2]);
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["run", name, iters] => {
            let Ok(iters) = iters.parse::<u64>() else {
                eprintln!("fwring-bench: bad iteration count '{iters}'");
                return ExitCode::from(2);
            };
            match run(name, iters) {
                Ok(sum) => {
                    println!("{name} {iters} {sum}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("fwring-bench: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        ["rows"] => {
            // The request-kind rows for `cargo xtask bench` / `fw-bench`: name, requests per
            // batch, and whether the firmware measures it too.
            for row in fwring_tests::rows::ROWS {
                let fw = fwring_tests::rows::on_target(row);
                println!("{row} {} {}", fwring_tests::rows::batch(row), if fw { "fw" } else { "host" });
            }
            ExitCode::SUCCESS
        }
        ["buftime", rest @ ..] => {
            let secs: f64 = rest.first().and_then(|s| s.parse().ok()).unwrap_or(0.2);
            buftime(Duration::from_secs_f64(secs));
            ExitCode::SUCCESS
        }
        ["time", rest @ ..] => {
            let secs: f64 = rest.first().and_then(|s| s.parse().ok()).unwrap_or(0.2);
            let budget = Duration::from_secs_f64(secs);
            let mut samples: Vec<Vec<f64>> = vec![Vec::new(); NAMES.len()];
            for _ in 0..7 {
                for (i, name) in NAMES.iter().enumerate() {
                    if let Ok(ns) = time_round(name, budget) {
                        samples[i].push(ns);
                    }
                }
            }
            for (name, mut s) in NAMES.iter().zip(samples) {
                if s.is_empty() {
                    println!("{name} unavailable");
                    continue;
                }
                s.sort_by(f64::total_cmp);
                println!("{name} {:.2}", s[s.len() / 2]);
            }
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!(
                "usage: fwring-bench run <workload|side:row> <iters> | time [seconds] | buftime [seconds] | rows"
            );
            ExitCode::from(2)
        }
    }
}
