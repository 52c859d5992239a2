//! `cargo xtask ci`: the suite CI runs.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::util::{cargo, exec, output, root, step};

/// Bare-metal targets `fwring` must build for (no_std, no alloc).
/// Programs host-sim's tests run, and the Debian packages that have them.
const NBD_TOOLS: [(&str, &str); 5] = [
    ("qemu-io", "qemu-utils"),
    ("qemu-img", "qemu-utils"),
    ("nbdinfo", "libnbd-bin"),
    ("nbdcopy", "libnbd-bin"),
    ("nbdsh", "python3-libnbd"),
];

pub const TARGETS: [&str; 3] = ["thumbv7em-none-eabihf", "thumbv6m-none-eabi", "riscv32imac-unknown-none-elf"];

#[derive(Default)]
struct Totals {
    passed: u64,
    failed: u64,
}

/// Run `cargo test` streaming its output, adding up the libtest summaries.
fn cargo_test(totals: &mut Totals, args: &[&str]) -> Result<(), String> {
    let mut cmd = cargo();
    cmd.arg("test").args(args);
    run_tests(totals, &mut cmd)
}

/// Run a libtest-driven command (`cargo test`, `cargo miri test`) streaming its output,
/// adding up the `test result:` summaries.
fn run_tests(totals: &mut Totals, cmd: &mut Command) -> Result<(), String> {
    let mut child =
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().map_err(|e| format!("cargo test: {e}"))?;
    let stdout = child.stdout.take().ok_or("cargo test: no stdout")?;
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| e.to_string())?;
        println!("{line}");
        // "test result: ok. 74 passed; 0 failed; 0 ignored; ..."
        if let Some(rest) = line.trim().strip_prefix("test result: ") {
            let rest = rest.split_once(". ").map_or(rest, |(_, r)| r);
            for part in rest.split(';') {
                let mut it = part.split_whitespace();
                if let (Some(n), Some(what)) = (it.next(), it.next()) {
                    let n: u64 = n.parse().unwrap_or(0);
                    match what {
                        "passed" => totals.passed += n,
                        "failed" => totals.failed += n,
                        _ => {}
                    }
                }
            }
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() && totals.failed == 0 {
        // A build failure or a crashed test binary: count it, so the summary says so.
        totals.failed += 1;
    }
    Ok(())
}

fn rustup_has(target: &str) -> bool {
    Command::new("rustc")
        .args(["--print", "target-libdir", "--target", target])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|dir| std::fs::read_dir(dir.trim()).ok())
        .is_some_and(|mut d| d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libcore-"))))
}

/// Make sure the bare-metal targets' `core` is available through rustup (with a
/// timeout: `rustup target add` has been seen to hang).
fn ensure_targets() -> Vec<&'static str> {
    let missing: Vec<&str> = TARGETS.iter().copied().filter(|t| !rustup_has(t)).collect();
    if !missing.is_empty() && crate::util::have("rustup") {
        let _ = Command::new("timeout").arg("120").arg("rustup").arg("target").arg("add").args(&missing).status();
    }
    TARGETS.iter().copied().filter(|t| rustup_has(t)).collect()
}

/// `cargo` through rustup's proxy on PATH (which understands `+toolchain`; `$CARGO` is
/// the toolchain's own binary, which does not).
fn rustup_cargo() -> Command {
    let mut c = Command::new("cargo");
    c.current_dir(root()).env_remove("RUSTUP_TOOLCHAIN");
    c
}

/// Whether `cargo +nightly miri` works here.
fn miri_available() -> bool {
    rustup_cargo()
        .args(["+nightly", "miri", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Make `cargo +nightly miri` work: install the nightly toolchain with miri and
/// rust-src through rustup (each step under a timeout: a download that hangs must not
/// hang CI), then build miri's sysroot. An error says which step failed.
pub fn ensure_miri() -> Result<(), String> {
    if !crate::util::have("rustup") {
        return Err("miri needs rustup (no rustup on PATH)".into());
    }
    if !miri_available() {
        println!("installing nightly + miri (rustup, under a 10-minute timeout)");
        let status = Command::new("timeout")
            .args(["600", "rustup", "toolchain", "install", "nightly", "--profile", "minimal"])
            .args(["--component", "miri", "--component", "rust-src"])
            .status()
            .map_err(|e| format!("rustup: {e}"))?;
        if !status.success() {
            return Err(format!("`rustup toolchain install nightly --component miri,rust-src` failed ({status})"));
        }
        // A nightly already installed without the components gets them here.
        let status = Command::new("timeout")
            .args(["600", "rustup", "component", "add", "miri", "rust-src", "--toolchain", "nightly"])
            .status()
            .map_err(|e| format!("rustup: {e}"))?;
        if !status.success() || !miri_available() {
            return Err("miri is not usable after installing it (`cargo +nightly miri --version` fails)".into());
        }
    }
    let status = Command::new("timeout")
        .arg("900")
        .arg("cargo")
        .args(["+nightly", "miri", "setup"])
        .current_dir(root())
        .env_remove("RUSTUP_TOOLCHAIN")
        .status()
        .map_err(|e| format!("cargo miri setup: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("`cargo +nightly miri setup` failed ({status})")) }
}

/// The publishable crates package cleanly (versions on path dependencies, metadata) and
/// each package carries its README and both license texts.
fn package() -> Result<(), String> {
    const CRATES: [&str; 2] = ["fwring", "fwring-hal"];
    // Together: fwring-hal's dependency on fwring resolves to the fwring packaged here.
    let mut cmd = cargo();
    cmd.args(["package", "--no-verify", "--allow-dirty"]);
    for c in CRATES {
        cmd.args(["-p", c]);
    }
    exec(&mut cmd)?;
    for c in CRATES {
        let list = output(cargo().args(["package", "--list", "--allow-dirty", "-p", c]))?;
        for want in ["README.md", "LICENSE-MIT", "LICENSE-APACHE"] {
            if !list.lines().any(|l| l == want) {
                return Err(format!("the {c} package lacks {want}"));
            }
        }
    }
    Ok(())
}

pub fn run(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("ci takes no arguments (got '{a}')"));
    }
    std::env::set_current_dir(root()).map_err(|e| e.to_string())?;
    let mut failures = Vec::new();
    let mut check = |name: &str, r: Result<(), String>| {
        if let Err(e) = r {
            println!("FAILED: {name}: {e}");
            failures.push(name.to_string());
        }
    };

    step("rustfmt");
    check("fmt", exec(cargo().args(["fmt", "--all", "--", "--check"])));

    step("clippy (warnings denied)");
    check("clippy", exec(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])));
    check(
        "clippy fwring async",
        exec(cargo().args(["clippy", "-p", "fwring", "--features", "async", "--all-targets", "--", "-D", "warnings"])),
    );

    step("rustdoc (warnings denied)");
    check(
        "doc",
        exec(cargo().args(["doc", "--workspace", "--no-deps", "--all-features"]).env("RUSTDOCFLAGS", "-D warnings")),
    );

    step("packaging: fwring and fwring-hal as crates.io would take them");
    check("cargo package", package());

    step("fwring on bare-metal targets (no_std, no alloc)");
    let targets = ensure_targets();
    for t in TARGETS {
        if targets.contains(&t) {
            // Without CAS (thumbv6m) the shared-ring atomics go through critical sections.
            let cs: &[&str] = if t.starts_with("thumbv6m") { &["--features", "critical-section"] } else { &[] };
            check(&format!("build {t}"), exec(cargo().args(["build", "-p", "fwring", "--target", t]).args(cs)));
            check(
                &format!("build {t} defmt"),
                exec(cargo().args(["build", "-p", "fwring", "--features", "defmt", "--target", t]).args(cs)),
            );
            check(
                &format!("build {t} async"),
                exec(cargo().args(["build", "-p", "fwring", "--features", "async", "--target", t]).args(cs)),
            );
            check(
                &format!("build fwring-hal {t}"),
                exec(cargo().args(["build", "-p", "fwring-hal", "--features", "async,defmt", "--target", t]).args(cs)),
            );
            // The simulated storage device's op table is firmware code: it must build
            // for a board (thumbv7em has the atomics its Completer needs).
            if t.starts_with("thumbv7em") {
                check(
                    &format!("build fwring-storage-firmware {t}"),
                    exec(cargo().args(["build", "-p", "fwring-storage-firmware", "--target", t])),
                );
            }
        } else {
            println!("skipped {t}: target not installed and `rustup target add` unavailable");
        }
    }

    step("tests");
    // host-sim's NBD tests drive the device with real clients: qemu-io / qemu-img
    // (qemu-utils) and nbdinfo / nbdcopy (libnbd-bin), nbdsh (python3-libnbd).
    check("install NBD clients", crate::fw::Installer::default().ensure_tools(&NBD_TOOLS));
    let mut totals = Totals::default();
    check("cargo test", cargo_test(&mut totals, &["--workspace"]));
    check("cargo test fwring-hal async", cargo_test(&mut totals, &["-p", "fwring-hal", "--features", "async"]));
    check("cargo test fwring async", cargo_test(&mut totals, &["-p", "fwring", "--features", "async"]));
    check(
        "cargo test fwring without timeouts or multishot",
        cargo_test(
            &mut totals,
            &["-p", "fwring", "--no-default-features", "--lib", "--test", "no_timeouts", "--test", "no_multishot"],
        ),
    );

    check(
        "cargo test fwring-tests with fwring's small feature (no fast paths: the same CQEs)",
        cargo_test(
            &mut totals,
            &[
                "-p",
                "fwring-tests",
                "--features",
                "fwring/small",
                "--test",
                "conformance",
                "--test",
                "model",
                "--test",
                "sqe_stream",
                "--test",
                "buffers",
            ],
        ),
    );

    step("core/examples: each runs to completion (their asserts are checks)");
    for ex in ["links_and_timeouts", "dma_thread", "shm_device"] {
        let ok = exec(cargo().args(["run", "--quiet", "-p", "fwring", "--example", ex]).stdout(Stdio::null()));
        match ok {
            Ok(()) => totals.passed += 1,
            Err(e) => check(&format!("example {ex}"), Err(e)),
        }
    }

    step("loom: the shared CQ, the Completer mailbox, the shm queue pair, the async waker hand-off");
    {
        let mut cmd = cargo();
        cmd.args(["test", "-p", "fwring", "--release", "--features", "async"])
            .args(["--test", "loom_ring", "--test", "loom_shm", "--test", "loom_async"])
            .env("RUSTFLAGS", "--cfg loom")
            .env("CARGO_TARGET_DIR", root().join("target/loom"));
        check("loom", run_tests(&mut totals, &mut cmd));
    }

    step("miri: the unsafe in region/buffer code, under Stacked Borrows");
    match ensure_miri() {
        Ok(()) => {
            // The views carved from regions (views, pending_io, the soundness defects, the
            // provided buffers devices fill),
            // a ring in a static, and the unit tests of the op records and the shm queue
            // pair; the LZ4 decoder's long tests are safe code and left to the native run.
            let runs: [&[&str]; 2] = [
                &[
                    "--test",
                    "views",
                    "--test",
                    "pending_io",
                    "--test",
                    "static_ring",
                    "--test",
                    "soundness",
                    "--test",
                    "provided",
                    "--test",
                    "shm_map",
                ],
                &["--lib", "--", "shm::", "op::", "abi::"],
            ];
            for args in runs {
                let mut cmd = rustup_cargo();
                cmd.args(["+nightly", "miri", "test", "-p", "fwring"])
                    .args(args)
                    // Regions in tests are leaked on purpose, as DMA memory lives forever.
                    .env("MIRIFLAGS", "-Zmiri-ignore-leaks");
                check("miri", run_tests(&mut totals, &mut cmd));
            }
        }
        Err(e) => check("miri", Err(format!("{e}: miri must run; install it by hand to see why"))),
    }

    step("firmware: the on-target suite under QEMU");
    match crate::fw::test_all() {
        Ok((p, f)) => {
            totals.passed += p;
            totals.failed += f;
        }
        Err(e) => check("firmware tests", Err(e)),
    }

    println!();
    if !failures.is_empty() {
        println!("failed steps: {}", failures.join(", "));
        totals.failed += failures.len() as u64;
    }
    // The last line of the run: the summary CI reads.
    println!("{} passed, {} failed", totals.passed, totals.failed);
    if totals.failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}
