//! `fwring-sim run`: fio-like workloads through the host driver against a device
//! process, with a progress bar, a latency summary (hdrhistogram), `--json`, an SVG plot
//! (plotters) and a Chrome trace of the requests.

use std::path::PathBuf;

use clap::Args;

use crate::driver::DeviceConfig;
use crate::flash::{self, Faults, Geometry, Latency};

/// Device options shared by `serve` and `run`.
#[derive(Args, Clone, Debug)]
pub struct DevArgs {
    /// The flash image: opened if it exists, else created (erased) with --size.
    #[arg(long, value_name = "FILE")]
    pub flash: PathBuf,
    /// Size of a new image (bytes; K, M, G suffixes), the superblock's erase block
    /// included. Must match an existing image if given.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub size: Option<u64>,
    /// Erase block size of a new image: 4096, 32768 or 65536.
    #[arg(long, value_name = "BYTES", default_value_t = 4096)]
    pub erase_size: u32,
    /// Block layer of a new image: the power-safe flash translation layer, or BlockDev
    /// (1:1 mapping with a volatile write cache; not power-safe).
    #[arg(long, value_enum, default_value = "ftl")]
    pub layer: flash::Layer,
    /// Block (LBA) size of a new image: a power of two from 512 to the erase block size.
    #[arg(long, value_name = "BYTES", default_value_t = 512)]
    pub block_size: u32,
    /// Flash read time per 256-byte page (µs).
    #[arg(long, value_name = "US", default_value_t = 2.0)]
    pub read_us: f64,
    /// Flash program time per 256-byte page (µs).
    #[arg(long, value_name = "US", default_value_t = 300.0)]
    pub program_us: f64,
    /// Flash erase time per erase block (µs).
    #[arg(long, value_name = "US", default_value_t = 2000.0)]
    pub erase_us: f64,
    /// Jitter added to each flash time, in percent (deterministic from --seed).
    #[arg(long, value_name = "PCT", default_value_t = 10)]
    pub jitter: u64,
    /// Latency scale: 0 turns the flash latency model off (so does --no-latency).
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0)]
    pub latency: f64,
    /// Turn the flash latency model off.
    #[arg(long)]
    pub no_latency: bool,
    /// Seed of the latency jitter and the faults.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Fault: one read in N fails (EIO). 0 = never.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub read_error_every: u64,
    /// Fault: one program in N fails part-way (EIO). 0 = never.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub program_fail_every: u64,
    /// Fault: one read in N finds a bit flip ECC detects but cannot correct (EIO).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub bit_flip_every: u64,
    /// Fault: one flash operation in N leaves the chip stuck busy (times out: EIO).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub stuck_busy_every: u64,
}

/// Parse "64M", "4096", "1G".
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mul) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1u64 << 10),
        Some((i, 'm' | 'M')) => (&s[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    let n: u64 = num.parse().map_err(|_| format!("{s:?} is not a size (e.g. 4096, 64M, 1G)"))?;
    n.checked_mul(mul).ok_or_else(|| format!("{s} is too large"))
}

impl DevArgs {
    /// Open or create the image and say how to start the device.
    pub fn open(&self) -> Result<DeviceConfig, String> {
        if self.flash.exists() {
            let g = flash::inspect(&self.flash)?;
            if let Some(size) = self.size
                && size != g.image_size
            {
                return Err(format!(
                    "{}: --size {size} does not match the image's size {}",
                    self.flash.display(),
                    g.image_size
                ));
            }
        } else {
            let size = self
                .size
                .ok_or_else(|| format!("{} does not exist: give --size to create it", self.flash.display()))?;
            let g = Geometry {
                layer: self.layer,
                erase_size: self.erase_size,
                block_size: self.block_size,
                image_size: size,
            };
            flash::create(&self.flash, g)?;
        }
        let scale = if self.no_latency { 0.0 } else { self.latency };
        if !(scale >= 0.0 && scale.is_finite()) {
            return Err(format!("--latency {scale} must be a non-negative number"));
        }
        let ns = |us: f64| (us * 1000.0 * scale) as u64;
        let latency = if scale == 0.0 {
            Latency::ZERO
        } else {
            Latency {
                read_ns: ns(self.read_us),
                program_ns: ns(self.program_us),
                erase_ns: ns(self.erase_us),
                jitter_pct: self.jitter,
            }
        };
        let faults = Faults {
            read_error: self.read_error_every,
            program_fail: self.program_fail_every,
            bit_flip: self.bit_flip_every,
            stuck_busy: self.stuck_busy_every,
        };
        Ok(DeviceConfig { flash: self.flash.clone(), latency, faults, seed: self.seed })
    }
}

/// `run`'s arguments.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    dev: DevArgs,
}

/// Run a workload.
pub fn run(args: RunArgs) -> Result<(), String> {
    let _ = args;
    Err("not yet".into())
}
