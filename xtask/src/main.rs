//! `cargo xtask`: everything that is not a plain `cargo build` / `cargo test`.
//!
//! - `cargo xtask ci` — the whole check suite, as CI runs it (`.ci/run`): formatting,
//!   clippy with warnings denied, `fwring` built for the bare-metal targets, every test.
//!   Ends with one line: `N passed, N failed`.
//! - `cargo xtask bench [--write]` — the NOP benchmark side by side: instructions/op
//!   under callgrind and ns/op for the floor ring, heapless::spsc, fwring and the
//!   kernel's io_uring; `--write` records the table in `docs/perf.md`.

mod bench;
mod ci;
mod fw;
mod util;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some(cmd @ ("fw-test" | "fw-run" | "fw-size" | "fw-bench")) => fw::run(cmd, &args[1..]),
        Some("help" | "--help" | "-h") | None => {
            println!("usage: cargo xtask <ci | bench [--write] | fw-test | fw-run | fw-size | fw-bench>");
            println!("  ci     formatting, clippy, no_std builds, all tests; ends with `N passed, N failed`");
            println!("  bench  NOP submit+reap at batch 32: instructions/op (callgrind) and ns/op, side by side");
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
