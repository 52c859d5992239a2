//! The simulated NOR flash: an image file mapped into the device process, so what is
//! programmed survives the process (a `kill -9` is a power cut: the page cache keeps
//! every programmed byte, the device's volatile write cache is lost), with a latency
//! model and injected faults.
//!
//! # Image format
//!
//! The first erase block holds a superblock (all integers little-endian):
//!
//! | offset | field |
//! |---:|---|
//! | 0 | magic `FWRFLASH` |
//! | 8 | format version (1) |
//! | 12 | erase block size |
//! | 16 | block size (the exported LBA size) |
//! | 20 | write (program) word size (u16), block layer (u16: 0 = FTL, 1 = BlockDev) |
//! | 24 | image size in bytes (the file's length) |
//! | 32 | CRC-32 of bytes 0..32 |
//!
//! The rest of the image is the flash the block device uses: erased bytes are 0xFF.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash};
use fwring_hal::sim::MemFlash;

/// Superblock magic.
pub const MAGIC: &[u8; 8] = b"FWRFLASH";
/// Superblock format version.
pub const VERSION: u32 = 1;
/// Erase block sizes the simulator supports.
pub const ERASE_SIZES: [u32; 3] = [4096, 32768, 65536];

/// The block layer an image is formatted for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Layer {
    /// fwring-hal's power-safe flash translation layer (log-structured).
    Ftl,
    /// fwring-hal's `BlockDev`: blocks mapped 1:1 to flash with a one-erase-block write
    /// cache; not power-safe (a cut during a write-back tears an erase block).
    Blockdev,
}

/// The geometry of a flash image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// The block layer.
    pub layer: Layer,
    /// Erase block size.
    pub erase_size: u32,
    /// Block (LBA) size.
    pub block_size: u32,
    /// Image size (the superblock's erase block included).
    pub image_size: u64,
}

impl Geometry {
    /// Bytes of flash behind the superblock.
    pub fn flash_bytes(&self) -> u64 {
        self.image_size - u64::from(self.erase_size)
    }

    fn superblock(&self) -> [u8; 36] {
        let mut b = [0u8; 36];
        b[..8].copy_from_slice(MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&self.erase_size.to_le_bytes());
        b[16..20].copy_from_slice(&self.block_size.to_le_bytes());
        b[20..22].copy_from_slice(&1u16.to_le_bytes());
        let layer: u16 = match self.layer {
            Layer::Ftl => 0,
            Layer::Blockdev => 1,
        };
        b[22..24].copy_from_slice(&layer.to_le_bytes());
        b[24..32].copy_from_slice(&self.image_size.to_le_bytes());
        let crc = crc32fast::hash(&b[..32]);
        b[32..36].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Check a geometry: every size a supported, consistent value.
    pub fn check(&self) -> Result<(), String> {
        let (e, b, s) = (self.erase_size, self.block_size, self.image_size);
        if !ERASE_SIZES.contains(&e) {
            return Err(format!("erase block size {e} is not supported (one of 4096, 32768, 65536)"));
        }
        if !(512..=e).contains(&b) || !b.is_power_of_two() {
            return Err(format!("block size {b} must be a power of two from 512 to the erase block size ({e})"));
        }
        if s % u64::from(e) != 0 || s < 2 * u64::from(e) {
            return Err(format!("size {s} must be a multiple of the erase block size ({e}) and at least two of them"));
        }
        if s - u64::from(e) > u64::from(u32::MAX) + 1 - u64::from(e) {
            return Err(format!("size {s} is too large (at most 4 GiB of flash)"));
        }
        Ok(())
    }
}

/// Create a fresh, erased image at `path` (which must not exist).
pub fn create(path: &Path, g: Geometry) -> Result<(), String> {
    g.check()?;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| format!("{}: cannot create the flash image: {e}", path.display()))?;
    let mut head = vec![0xffu8; g.erase_size as usize];
    head[..36].copy_from_slice(&g.superblock());
    let err = |e: std::io::Error| format!("{}: cannot write the flash image: {e}", path.display());
    f.write_all(&head).map_err(err)?;
    let chunk = vec![0xffu8; 1 << 20];
    let mut left = g.flash_bytes();
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n]).map_err(err)?;
        left -= n as u64;
    }
    f.sync_all().map_err(err)
}

/// Read and check the superblock of the image at `path`.
pub fn inspect(path: &Path) -> Result<Geometry, String> {
    let bad = |why: &str| format!("{}: not a usable flash image: {why}", path.display());
    let mut f = File::open(path).map_err(|e| format!("{}: cannot open the flash image: {e}", path.display()))?;
    let len = f.metadata().map_err(|e| format!("{}: {e}", path.display()))?.len();
    let mut b = [0u8; 36];
    std::io::Read::read_exact(&mut f, &mut b).map_err(|_| bad("shorter than its superblock"))?;
    if &b[..8] != MAGIC {
        return Err(bad("no FWRFLASH superblock (wrong magic)"));
    }
    let word = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap_or_default());
    if crc32fast::hash(&b[..32]) != word(32) {
        return Err(bad("superblock checksum mismatch"));
    }
    if word(8) != VERSION {
        return Err(bad(&format!("format version {} (this simulator reads version {VERSION})", word(8))));
    }
    if word(20) & 0xffff != 1 {
        return Err(bad(&format!("write word size {} is not supported", word(20) & 0xffff)));
    }
    let layer = match word(20) >> 16 {
        0 => Layer::Ftl,
        1 => Layer::Blockdev,
        l => return Err(bad(&format!("unknown block layer {l}"))),
    };
    let g = Geometry {
        layer,
        erase_size: word(12),
        block_size: word(16),
        image_size: u64::from_le_bytes(b[24..32].try_into().unwrap_or_default()),
    };
    g.check().map_err(|e| bad(&e))?;
    if g.image_size != len {
        return Err(bad(&format!("the superblock says {} bytes but the file has {len} (truncated?)", g.image_size)));
    }
    Ok(g)
}

/// Whether the flash part of the image is all erased (never written).
pub fn is_blank(path: &Path, g: Geometry) -> bool {
    let Ok(mut f) = File::open(path) else { return false };
    if std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(u64::from(g.erase_size))).is_err() {
        return false;
    }
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match std::io::Read::read(&mut f, &mut buf) {
            Ok(0) => return true,
            Ok(n) if buf[..n].iter().all(|&b| b == 0xff) => {}
            _ => return false,
        }
    }
}

/// Map the flash part of the image (behind the superblock) for the rest of the process.
pub fn map(path: &Path, g: Geometry) -> Result<&'static mut [u8], String> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| format!("{}: cannot open the flash image: {e}", path.display()))?;
    let map = {
        let opts = memmap2::MmapOptions::new().offset(u64::from(g.erase_size)).len(g.flash_bytes() as usize).clone();
        // SAFETY: a shared file mapping: its bytes may change under us only if another
        // process writes the file, which the simulator forbids (one device per image,
        // taken with an exclusive lock below); a torn byte would be data, never UB in the
        // bounds-checked code that reads it.
        unsafe { opts.map_mut(&f) }.map_err(|e| format!("{}: cannot map the flash image: {e}", path.display()))?
    };
    // One device per image. A device just killed may take a moment to go: wait 5 s.
    let t0 = std::time::Instant::now();
    // SAFETY: flock on an open descriptor; the result is checked.
    while unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&f), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        if t0.elapsed() > std::time::Duration::from_secs(5) {
            return Err(format!("{}: the flash image is in use by another device", path.display()));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::mem::forget(f); // keep the lock for the life of the process
    Ok(Box::leak(Box::new(map)).as_mut())
}

/// Flash timings, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Latency {
    /// Per 256-byte page read.
    pub read_ns: u64,
    /// Per 256-byte page programmed.
    pub program_ns: u64,
    /// Per erase block erased.
    pub erase_ns: u64,
    /// Jitter, percent of each time (deterministic from the seed).
    pub jitter_pct: u64,
}

impl Latency {
    /// No latency.
    pub const ZERO: Latency = Latency { read_ns: 0, program_ns: 0, erase_ns: 0, jitter_pct: 0 };
}

/// Fault rates, each "one in N" operations (0 = never).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// A read fails (bus error).
    pub read_error: u64,
    /// A program fails part-way (verify error).
    pub program_fail: u64,
    /// A read finds a flipped bit the flash's ECC detects but cannot correct.
    pub bit_flip: u64,
    /// The chip stays busy: the operation times out.
    pub stuck_busy: u64,
}

/// A deterministic random-number generator (SplitMix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// Next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Whether a one-in-`n` event happens (never for 0).
    pub fn one_in(&mut self, n: u64) -> bool {
        n != 0 && self.next_u64().is_multiple_of(n)
    }
}

/// An injected flash error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimError {
    /// The flash's own error (bounds, alignment).
    Flash(NorFlashErrorKind),
    /// Read or program failed.
    Io,
    /// ECC found an uncorrectable error.
    Ecc,
    /// The chip never became ready.
    Busy,
}

impl NorFlashError for SimError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            SimError::Flash(k) => *k,
            _ => NorFlashErrorKind::Other,
        }
    }
}

impl SimError {
    /// The errno a Linux block driver would report.
    pub fn errno(&self) -> fwring::Errno {
        match self {
            SimError::Busy => fwring::Errno::ETIMEDOUT,
            SimError::Flash(NorFlashErrorKind::OutOfBounds) => fwring::Errno::EFAULT,
            SimError::Flash(NorFlashErrorKind::NotAligned) => fwring::Errno::EINVAL,
            _ => fwring::Errno::EIO,
        }
    }
}

/// The simulated flash: a [`MemFlash`] over the mapped image, timed and faulty.
pub struct SimFlash<const E: usize> {
    mem: MemFlash<1, E>,
    latency: Latency,
    faults: Faults,
    rng: Rng,
    /// Simulated nanoseconds spent, for the flash controller to wait out.
    clock: Arc<AtomicU64>,
    /// Faults fire only once armed (after mount: a fault in start-up is not the point).
    armed: Arc<std::sync::atomic::AtomicBool>,
    /// The last error injected (the errno to report).
    pub last_fault: Option<SimError>,
}

impl<const E: usize> SimFlash<E> {
    /// Over `mem`.
    /// `clock` accumulates the simulated time of every operation.
    pub fn new(mem: &'static mut [u8], latency: Latency, faults: Faults, seed: u64, clock: Arc<AtomicU64>) -> Self {
        let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        SimFlash { mem: MemFlash::new(mem), latency, faults, rng: Rng::new(seed), clock, armed, last_fault: None }
    }

    /// The switch that arms the faults.
    pub fn arming(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.armed.clone()
    }

    /// Whether a one-in-`n` fault fires now.
    fn fires(&mut self, n: u64) -> bool {
        self.armed.load(Ordering::Relaxed) && self.rng.one_in(n)
    }

    fn spend(&mut self, base: u64) {
        let j = self.latency.jitter_pct;
        let jitter = if j == 0 || base == 0 { 0 } else { self.rng.next_u64() % (base * j / 100 + 1) };
        self.clock.fetch_add(base + jitter, Ordering::Relaxed);
    }

    fn fault(&mut self, e: SimError) -> SimError {
        self.last_fault = Some(e);
        e
    }
}

fn pages(len: usize) -> u64 {
    len.div_ceil(256) as u64
}

impl<const E: usize> ErrorType for SimFlash<E> {
    type Error = SimError;
}

impl<const E: usize> ReadNorFlash for SimFlash<E> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), SimError> {
        self.spend(self.latency.read_ns * pages(bytes.len()));
        if self.fires(self.faults.stuck_busy) {
            return Err(self.fault(SimError::Busy));
        }
        if self.fires(self.faults.read_error) {
            return Err(self.fault(SimError::Io));
        }
        self.mem.read(offset, bytes).map_err(SimError::Flash)?;
        if self.fires(self.faults.bit_flip) && !bytes.is_empty() {
            // The flipped bit is caught by ECC: report it, hand out nothing trusted.
            let i = (self.rng.next_u64() % bytes.len() as u64) as usize;
            bytes[i] ^= 1 << (self.rng.next_u64() % 8);
            return Err(self.fault(SimError::Ecc));
        }
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.mem.capacity()
    }
}

impl<const E: usize> NorFlash for SimFlash<E> {
    const WRITE_SIZE: usize = 1;
    const ERASE_SIZE: usize = E;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), SimError> {
        self.spend(self.latency.erase_ns * u64::from(to.saturating_sub(from) / E as u32));
        if self.fires(self.faults.stuck_busy) {
            return Err(self.fault(SimError::Busy));
        }
        self.mem.erase(from, to).map_err(SimError::Flash)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SimError> {
        self.spend(self.latency.program_ns * pages(bytes.len()));
        if self.fires(self.faults.stuck_busy) {
            return Err(self.fault(SimError::Busy));
        }
        if self.fires(self.faults.program_fail) {
            let keep = (self.rng.next_u64() % (bytes.len() as u64 + 1)) as usize;
            self.mem.write(offset, &bytes[..keep]).map_err(SimError::Flash)?;
            return Err(self.fault(SimError::Io));
        }
        self.mem.write(offset, bytes).map_err(SimError::Flash)
    }
}
