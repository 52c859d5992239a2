//! What building and running the firmware needs, found or installed.
//!
//! - **Rust for the target.** The installed target's `core` (a rustup user's
//!   `rustup target add`, tried here with a 60 s timeout — it has been seen to hang)
//!   and plain `cargo build`; otherwise Debian's toolchain (`rustc-web`, `cargo-web`,
//!   `rust-web-src`, `rust-web-llvm` + `lld-22` for `rust-lld`), building `core` from
//!   source: `RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 /usr/bin/cargo build -Z
//!   build-std=core`, in its own target directory. The firmware's own
//!   `.cargo/config.toml` stays stable-only; the `-Z` flag is added here.
//! - **QEMU**: `qemu-system-arm` (Cortex-M) and `qemu-system-riscv32` (Debian's
//!   `qemu-system-misc`), and `qemu-img` (`qemu-utils`) for the virtio-blk test disks.
//! - **defmt-print**, to decode the Cortex-M4 run's defmt frames: `cargo install
//!   defmt-print --locked` if it is missing.
//!
//! Debian packages are installed with `apt-get` (`apt-get update` once per run), through
//! `sudo` when not root; every step runs under `timeout` and without a terminal.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::{describe, have};

/// Debian packages with QEMU for the firmware's boards, and qemu-img for its disks.
const QEMU_PACKAGES: [(&str, &str); 3] =
    [("qemu-system-arm", "qemu-system-arm"), ("qemu-system-riscv32", "qemu-system-misc"), ("qemu-img", "qemu-utils")];
/// Debian packages of the fallback toolchain.
const DEBIAN_RUST: [&str; 5] = ["rustc-web", "cargo-web", "rust-web-src", "rust-web-llvm", "lld-22"];
const DEBIAN_CARGO: &str = "/usr/bin/cargo";
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const DEBIAN_CORE_SRC: &str = "/usr/lib/rustlib/src/rust/library/core";
const DEBIAN_LLD: &str = "/usr/bin/rust-lld";

/// Which toolchain to build with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefer {
    /// The installed target if there is one (after trying `rustup target add`), else
    /// Debian's.
    Auto,
    /// Only the rustup target.
    Rustup,
    /// Only Debian's toolchain with `-Z build-std=core`.
    Debian,
}

impl Prefer {
    pub fn parse(s: &str) -> Result<Prefer, String> {
        match s {
            "auto" => Ok(Prefer::Auto),
            "rustup" => Ok(Prefer::Rustup),
            "debian" => Ok(Prefer::Debian),
            _ => Err(format!("--toolchain takes auto, rustup or debian (got '{s}')")),
        }
    }
}

/// A toolchain that can build the firmware for a target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Toolchain {
    /// `cargo` from PATH (rustup's proxy) with the target's std installed.
    Rustup,
    /// Debian's `cargo`/`rustc` 1.9x building `core` from source.
    Debian,
}

impl Toolchain {
    /// `cargo <sub> --release --target <target>` for the firmware crate, under
    /// `timeout secs`: run in its directory (cargo reads `.cargo/config.toml` from the
    /// current directory), with the toolchain's environment and a target directory of
    /// its own.
    pub fn cargo(&self, firmware: &Path, sub: &str, target: &str, secs: u32) -> Command {
        let mut c = Command::new("timeout");
        c.args(["--kill-after=10", &secs.to_string()]);
        c.arg(match self {
            Toolchain::Rustup => "cargo",
            Toolchain::Debian => DEBIAN_CARGO,
        });
        c.current_dir(firmware);
        // Nothing of the caller's build configuration leaks into the firmware's.
        for var in [
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_BUILD_RUSTFLAGS",
            "CARGO_BUILD_TARGET",
            "RUSTC",
            "RUSTC_BOOTSTRAP",
        ] {
            c.env_remove(var);
        }
        c.env("CARGO_TARGET_DIR", self.target_dir(firmware));
        c.arg(sub).args(["--release", "--target", target]);
        if *self == Toolchain::Debian {
            c.env("RUSTC", DEBIAN_RUSTC).env("RUSTC_BOOTSTRAP", "1").args(["-Z", "build-std=core"]);
        }
        c.stdin(Stdio::null());
        c
    }

    /// Where this toolchain's builds go.
    pub fn target_dir(&self, firmware: &Path) -> PathBuf {
        match self {
            Toolchain::Rustup => firmware.join("target"),
            Toolchain::Debian => firmware.join("target/debian"),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Toolchain::Rustup => "rustup target",
            Toolchain::Debian => "Debian rustc + build-std",
        }
    }
}

/// Installs what is missing; remembers what it already did in this run.
#[derive(Default)]
pub struct Installer {
    apt_updated: bool,
    rustup_tried: Vec<String>,
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Run `cmd` under `timeout secs`, stdin closed; error on failure or timeout.
pub fn run_with_timeout(secs: u32, program: &str, args: &[&str]) -> Result<(), String> {
    let mut c = Command::new("timeout");
    c.args(["--kill-after=10", &secs.to_string(), program]).args(args).stdin(Stdio::null());
    let status = c.status().map_err(|e| format!("{}: {e}", describe(&c)))?;
    match status.code() {
        Some(0) => Ok(()),
        Some(124) => Err(format!("{} timed out after {secs} s", describe(&c))),
        _ => Err(format!("{} failed ({status})", describe(&c))),
    }
}

impl Installer {
    /// `apt-get install -y --no-install-recommends PKGS` (after one `apt-get update`),
    /// through `sudo` unless root.
    pub fn apt_install(&mut self, pkgs: &[&str]) -> Result<(), String> {
        if !have("apt-get") {
            return Err(format!("apt-get not found: install {} by hand", pkgs.join(" ")));
        }
        let sudo = !is_root();
        if sudo && !have("sudo") {
            return Err(format!("not root and no sudo: install {} by hand", pkgs.join(" ")));
        }
        let apt = |args: &[&str], secs| {
            let mut full: Vec<&str> = Vec::new();
            if sudo {
                full.extend(["sudo", "-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
            } else {
                full.extend(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
            }
            full.extend(args);
            run_with_timeout(secs, full[0], &full[1..])
        };
        if !self.apt_updated {
            println!("fw: apt-get update");
            apt(&["update", "-q"], 300)?;
            self.apt_updated = true;
        }
        println!("fw: apt-get install {}", pkgs.join(" "));
        let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
        args.extend(pkgs);
        apt(&args, 900)
    }

    /// Every `(program, Debian package)` of `tools`: installs the packages of those
    /// missing, then fails if any is still missing.
    pub fn ensure_tools(&mut self, tools: &[(&str, &str)]) -> Result<(), String> {
        let mut missing: Vec<&str> = tools.iter().filter(|(bin, _)| !have(bin)).map(|(_, pkg)| *pkg).collect();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        self.apt_install(&missing)?;
        match tools.iter().find(|(bin, _)| !have(bin)) {
            Some((bin, pkg)) => Err(format!("{bin} still missing after installing {pkg}")),
            None => Ok(()),
        }
    }

    /// QEMU for every board (`qemu-system-arm`, `qemu-system-riscv32`).
    pub fn ensure_qemu(&mut self) -> Result<(), String> {
        let missing: Vec<&str> = QEMU_PACKAGES.iter().filter(|(bin, _)| !have(bin)).map(|(_, pkg)| *pkg).collect();
        if missing.is_empty() {
            return Ok(());
        }
        self.apt_install(&missing)?;
        match QEMU_PACKAGES.iter().find(|(bin, _)| !have(bin)) {
            Some((bin, pkg)) => Err(format!("{bin} still missing after installing {pkg}")),
            None => Ok(()),
        }
    }

    /// The toolchain to build `target` with, installing what `prefer` allows.
    pub fn toolchain(&mut self, target: &str, prefer: Prefer) -> Result<Toolchain, String> {
        if prefer != Prefer::Debian {
            if !rustup_has(target) && have("rustup") && !self.rustup_tried.iter().any(|t| t == target) {
                self.rustup_tried.push(target.to_string());
                println!("fw: rustup target add {target} (60 s timeout)");
                if let Err(e) = run_with_timeout(60, "rustup", &["target", "add", target]) {
                    println!("fw: {e}");
                }
            }
            if rustup_has(target) {
                return Ok(Toolchain::Rustup);
            }
            if prefer == Prefer::Rustup {
                return Err(format!("target {target} is not installed and `rustup target add` did not work"));
            }
            println!("fw: no Rust target {target} installed: falling back to Debian's toolchain with build-std");
        }
        if !debian_ready() {
            self.apt_install(&DEBIAN_RUST)?;
            if !debian_ready() {
                return Err(format!("Debian toolchain incomplete after installing {}", DEBIAN_RUST.join(" ")));
            }
        }
        Ok(Toolchain::Debian)
    }

    /// `defmt-print`; if missing and `install`, installed with `cargo install` (about a
    /// minute and a half on 2 cores). `None` if missing or the install fails.
    pub fn defmt_print(&mut self, install: bool) -> Option<PathBuf> {
        if let Some(p) = find_defmt_print() {
            return Some(p);
        }
        if !install {
            return None;
        }
        let cargo = if have("cargo") { "cargo" } else { DEBIAN_CARGO };
        println!("fw: cargo install defmt-print --locked (decodes the Cortex-M4 run's defmt frames)");
        match run_with_timeout(900, cargo, &["install", "defmt-print", "--locked", "--quiet"]) {
            Ok(()) => find_defmt_print(),
            Err(e) => {
                println!("fw: {e}");
                None
            }
        }
    }
}

/// `defmt-print` on PATH or in cargo's bin directory.
fn find_defmt_print() -> Option<PathBuf> {
    if have("defmt-print") {
        return Some(PathBuf::from("defmt-print"));
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let p = home.join("bin/defmt-print");
    p.is_file().then_some(p)
}

/// Whether `rustc` on PATH has `core` for `target` (a rustup toolchain with the target
/// added; Debian's rustc reports a library directory that does not exist).
pub fn rustup_has(target: &str) -> bool {
    Command::new("rustc")
        .args(["--print", "target-libdir", "--target", target])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|dir| std::fs::read_dir(dir.trim()).ok())
        .is_some_and(|mut d| d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libcore-"))))
}

/// Whether Debian's toolchain can build for a bare-metal target: cargo, rustc, the std
/// sources, and a `rust-lld` that resolves (rust-web-llvm links it to lld-22 without
/// depending on it).
fn debian_ready() -> bool {
    [DEBIAN_CARGO, DEBIAN_RUSTC, DEBIAN_CORE_SRC, DEBIAN_LLD].iter().all(|p| Path::new(p).exists())
}

/// The rustc a toolchain builds with, for the reports (`rustc 1.95.0 (...)`).
pub fn rustc_version(tc: &Toolchain) -> String {
    let rustc = match tc {
        Toolchain::Rustup => "rustc",
        Toolchain::Debian => DEBIAN_RUSTC,
    };
    Command::new(rustc)
        .arg("-V")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "rustc (unknown version)".into())
}
