//! `cargo xtask`: everything that is not a plain `cargo build` / `cargo test`.
//!
//! - `cargo xtask ci` — the whole check suite, as CI runs it (`.ci/run`): formatting,
//!   clippy with warnings denied, `fwring` built for the bare-metal targets, every test.
//!   Ends with one line: `N passed, N failed`.
//! - `cargo xtask bench [--write]` — the NOP benchmark side by side: instructions/op
//!   under callgrind and ns/op for the floor ring, heapless::spsc, fwring and the
//!   kernel's io_uring; the buffer ops' ring cost; the shared-memory round trip beside
//!   heapless::spsc and crossbeam; `--write` records the tables in `docs/perf.md`.
//! - `cargo xtask soak [--scale N]` — the long runs kept out of CI (threads, the kernel
//!   differential, the shm fuzzer) at N times their CI sizes.
//! - `cargo xtask fw-test | fw-run | fw-size | fw-bench` — the firmware under QEMU (see
//!   `fw.rs`).

mod bench;
mod ci;
mod fw;
mod soak;
mod util;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("soak") => soak::run(&args[1..]),
        Some(cmd @ ("fw-test" | "fw-run" | "fw-size" | "fw-bench")) => fw::run(cmd, &args[1..]),
        Some("help" | "--help" | "-h") | None => {
            println!(
                "usage: cargo xtask <ci | bench [--write] | soak [--scale N] | fw-test | fw-run | fw-size | fw-bench>"
            );
            println!("  ci     formatting, clippy, no_std builds, all tests; ends with `N passed, N failed`");
            println!("  bench  NOP submit+reap at batch 32: instructions/op (callgrind) and ns/op, side by side");
            println!("  soak   long thread, differential and fuzz runs at N times their CI sizes (default 20)");
            println!("  fw-*   the firmware on QEMU: fw-test (suite), fw-run, fw-size, fw-bench");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(format!("unknown command '{other}' (try: cargo xtask help)")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
