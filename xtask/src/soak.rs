//! `cargo xtask soak [--scale N]`: the long runs kept out of CI — the same tests with
//! N times their CI sizes (default 20), in release builds:
//!
//! - host / device / interrupt threads (`three_threads`) and the shm two-thread test:
//!   `FWRING_SOAK` requests;
//! - the differential test against the kernel: `FWRING_DIFF_BATCHES` random batches;
//! - random SQE streams with registered buffers: `FWRING_STREAMS` streams;
//! - the FTL's random power cuts: `2000 × N` cuts (`FTL_SOAK`);
//! - a multishot stream filled from a device thread: `FWRING_STREAM_FILLS` buffers;
//! - the fuzzers (`shm`, `sqe_stream`) for `60 × N` seconds each when
//!   `cargo +nightly fuzz` is installed.
//!
//! Ends with `N passed, N failed` like `ci`.

use std::process::{Command, Stdio};

use crate::util::{cargo, root, step};

/// CI sizes the scale multiplies.
const THREE_THREADS: u64 = 2_000_000;
const DIFF_BATCHES: u64 = 2_000;

pub fn run(args: &[String]) -> Result<(), String> {
    let scale = match args {
        [] => 20,
        [flag, n] if flag == "--scale" => match n.parse::<u64>() {
            Ok(n) if (1..=10_000).contains(&n) => n,
            _ => return Err(format!("--scale takes a whole number from 1 to 10000 (got '{n}')")),
        },
        _ => return Err(format!("usage: cargo xtask soak [--scale N] (got '{}')", args.join(" "))),
    };
    let mut passed = 0u64;
    let mut failed = 0u64;
    let mut tally = |name: &str, ok: bool| {
        println!("{}: {name}", if ok { "ok" } else { "FAILED" });
        if ok { passed += 1 } else { failed += 1 }
    };

    let soak = (THREE_THREADS * scale).to_string();
    step(&format!("threads: {soak} requests each"));
    let ok = cargo()
        .args(["test", "--release", "-p", "fwring-tests", "--test", "three_threads", "--test", "shm"])
        .env("FWRING_SOAK", &soak)
        .status()
        .is_ok_and(|s| s.success());
    tally("three_threads + shm", ok);

    let batches = (DIFF_BATCHES * scale).to_string();
    step(&format!("differential against the kernel: {batches} batches"));
    let ok = cargo()
        .args(["test", "--release", "-p", "fwring-tests", "--test", "differential", "--", "--nocapture"])
        .env("FWRING_DIFF_BATCHES", &batches)
        .status()
        .is_ok_and(|s| s.success());
    tally("differential", ok);

    let streams = (30_000 * scale).to_string();
    step(&format!("random SQE streams with registered buffers: {streams}"));
    let ok = cargo()
        .args(["test", "--release", "-p", "fwring-tests", "--test", "sqe_stream", "--", "--nocapture"])
        .env("FWRING_STREAMS", &streams)
        .status()
        .is_ok_and(|s| s.success());
    tally("sqe_stream", ok);

    step(&format!("FTL power cuts: {} random cuts", 2000 * scale));
    let ok = cargo()
        .args(["test", "--release", "-p", "fwring-hal", "--test", "ftl_powercut", "--", "--nocapture"])
        .env("FTL_SOAK", scale.to_string())
        .status()
        .is_ok_and(|s| s.success());
    tally("ftl power cuts", ok);

    let fills = (20_000 * scale).to_string();
    step(&format!("multishot stream with a device thread: {fills} buffers"));
    let ok = cargo()
        .args(["test", "--release", "-p", "fwring-tests", "--test", "stream_threads", "--", "--nocapture"])
        .env("FWRING_STREAM_FILLS", &fills)
        .status()
        .is_ok_and(|s| s.success());
    tally("stream_threads", ok);

    let secs = (60 * scale).to_string();
    step(&format!("fuzzers (shm, sqe_stream): {secs} s each"));
    let has_fuzz = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if has_fuzz {
        for target in ["shm", "sqe_stream"] {
            let ok = Command::new("cargo")
                .current_dir(root().join("tests/fuzz"))
                .env_remove("RUSTUP_TOOLCHAIN")
                .args(["+nightly", "fuzz", "run", target, "--", &format!("-max_total_time={secs}")])
                .status()
                .is_ok_and(|s| s.success());
            tally(&format!("fuzz {target}"), ok);
        }
    } else {
        println!("skipped: cargo-fuzz not installed (cargo install cargo-fuzz; needs a nightly toolchain)");
    }

    println!("{passed} passed, {failed} failed");
    if failed > 0 { Err(format!("{failed} soak run(s) failed")) } else { Ok(()) }
}
