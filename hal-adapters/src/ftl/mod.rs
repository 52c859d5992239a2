//! A power-safe flash translation layer (FTL): a block device over NOR flash that is
//! log-structured, so no power cut loses acknowledged data, with wear levelling and a
//! RAM footprint that does not grow with the number of blocks.
//!
//! # How it works
//!
//! The flash is cut into **segments** (one or more erase blocks) used as a circular
//! journal, as dhara does: the **head** segment takes new records in order, garbage
//! collection reclaims the **tail** — the oldest segment — by copying its live records
//! to the head and erasing it. Every record is a **slot**: a payload (a logical block,
//! a map page, a checkpoint) programmed first, then a 32-byte header (kind, LBA,
//! sequence number, payload CRC-32C, header CRC-32C) that commits it. A write never
//! touches the only copy of live data: it goes to a fresh slot, and the old copy
//! becomes garbage. The on-flash format is in [`format`].
//!
//! The **logical-to-physical map** lives in flash too: map pages of `block_size / 4`
//! entries, written as slots; a **directory** (one word per map page) is the only
//! per-capacity array in RAM. A few map pages are cached; a **checkpoint** record
//! writes the dirty ones and then the directory. Mount finds the newest checkpoint and
//! **replays** the records after it (data, trims, map pages) in sequence order, so
//! every record that reached the flash counts, whether or not a checkpoint followed.
//! A checkpoint is forced every `ckpt_every` segments and whenever the cache is full
//! of dirty pages, so replay is short and never has to write.
//!
//! # The power-cut guarantee
//!
//! Cut power at any instant — mid-program (a torn, partly programmed word), mid-erase
//! (a partly erased segment), during mount's own recovery — and the next [`Ftl::mount`]
//! succeeds, after which:
//!
//! 1. every write that was **acknowledged** (the future returned `Ok`, the CQE was
//!    posted) reads back exactly. The FTL has no volatile write cache: a write is
//!    acknowledged only after its records are programmed, so `FUA` and `FLUSH` promise
//!    nothing more than every acknowledged write already has (both are accepted; FLUSH
//!    completes at once);
//! 2. a block whose write was in flight at the cut reads either its previous
//!    acknowledged contents or the new ones (per block: a multi-block write may land
//!    in part);
//! 3. a discard in flight at the cut either happened or did not; an acknowledged one
//!    stays (discarded blocks read zeros);
//! 4. no block ever reads garbage or another block's data: a payload counts only with
//!    a header whose CRC-32C checks, and every read checks the payload's CRC-32C
//!    (-EIO if the flash decayed underneath).
//!
//! A cut during [`Ftl::format`] of an erased flash leaves one that mount calls
//! [`FtlError::NotFormatted`], so [`Ftl::mount_or_format`] formats it again (a cut while
//! re-formatting over an old image may leave that image in part: format again).
//!
//! The tests in `hal-adapters/tests/ftl_powercut.rs` cut at every program and erase of
//! small workloads and at thousands of random points of large ones, cut again during
//! the recovery, and check 1–4 against a model after every mount.
//!
//! # Wear levelling
//!
//! Segments are reclaimed strictly in journal order, so every segment is erased once
//! per trip of the head around the flash, static data included (the tail copies it
//! forward). Erase counts of any two segments differ by at most 1 (plus 1 for each
//! erase repeated after a power cut tore it). The price is write amplification: a
//! segment is reclaimed when it is oldest, not when it is emptiest — 1.3 at 50 % fill,
//! 6.9 at 90 % under random 4 KiB writes (`docs/ftl.md`).
//!
//! # RAM
//!
//! The caller lends [`Geometry::ram_needed`] bytes:
//! `4 × ceil(blocks / (block_size / 4))` (the directory, rounded up to 16) `+
//! block_size × (map_cache + 1)`, plus the `Ftl` value itself (about 600 bytes on a
//! 64-bit host). With 4 KiB blocks and 4 cached pages: 21 104 bytes in all for a 16 MiB
//! flash, 21 520 for a 1 GiB one. Nothing grows per block or per segment.
//!
//! # Capacity
//!
//! Chosen at format ([`FtlConfig`]): all segments but the garbage-collection reserve,
//! less the map pages — and half of that when the map is larger than the cache, since
//! collecting a segment may then write a map page for every block it moves; with at
//! most half the room live, every collection gains space, so a device never locks up
//! full (-ENOSPC only when asked at format for more than fits).
//!
//! # Mount time
//!
//! Mount reads every segment header (32 bytes each); the slot headers of the window
//! since the newest checkpoint — at most `W = (ckpt_every + reserve + 1) ×
//! slots_per_seg` slots — once to find the checkpoint and once to replay, with at most
//! one map page load (header + payload) per record; the checkpoint; and the head
//! segment in 256-byte chunks to find where writing stopped: at most
//! `segs + 4·W + 1 + slots_per_seg × ceil(slot / 256)` flash reads, pinned by a test.
//! [`Ftl::stats`] counts them.
//!
//! # Asynchronous flash
//!
//! The FTL runs on any `embedded_storage_async::nor_flash::NorFlash`: every flash
//! operation is awaited, so a DMA-driven SPI NOR (or a simulator's DMA engine on
//! another thread) completes it whenever it is done. A blocking embedded-storage flash
//! joins through [`Blocking`]. A simulator or firmware starts with
//! [`Ftl::mount_or_format`] (formats only a flash with no FTL on it). Two ways to put it
//! behind a ring:
//!
//! - [`FtlBlock`]: the op runs the request to the end inside `issue` over a
//!   [`Blocking`] flash (like [`crate::blk::Block`]).
//! - A pending request: an op's issue takes the request's buffers as a
//!   [`fwring::PendingIo`] (`IssueCx::pending_io`), returns `Issue::Pending`, and hands
//!   the `PendingIo` to whatever drives the flash — a simulator's DMA-engine thread, a
//!   firmware task. That thread runs [`serve`] (buffers in place, no copy) under its
//!   executor or [`block_on`] and completes the request through the ring's
//!   [`fwring::Completer`]: `io.complete(&completer, res)`. The SQE encoding is the
//!   block device's in both cases.
//!
//! ```
//! use fwring_hal::ftl::{Blocking, Ftl, FtlConfig, block_on};
//! use fwring_hal::sim::MemFlash;
//!
//! let mut chip: MemFlash<4, 4096> = MemFlash::new(vec![0u8; 256 * 1024].leak());
//! chip.erase_all();
//! let config = FtlConfig::new(512);
//! let ram = vec![0u8; 8192].leak();
//! let mut ftl = block_on(Ftl::format(Blocking(chip), &config, ram)).unwrap();
//! block_on(ftl.write_blocks(3, &[7u8; 512])).unwrap();
//! // Power goes: take the flash back and mount it again.
//! let (flash, ram) = ftl.into_parts();
//! let mut ftl = block_on(Ftl::mount(flash, ram)).map_err(|r| r.error).unwrap();
//! let mut back = [0u8; 512];
//! block_on(ftl.read_blocks(3, &mut back)).unwrap();
//! assert_eq!(back, [7u8; 512]);
//! assert!(block_on(ftl.check()).is_ok());
//! ```

mod check;
mod flash;
pub mod format;
mod geometry;
mod log;
mod map;
mod mount;
mod op;
mod pending;

use embedded_storage::nor_flash::{NorFlashError, NorFlashErrorKind};
use embedded_storage_async::nor_flash::NorFlash;
use fwring::Errno;

pub use check::CheckReport;
pub use flash::{Blocking, block_on};
pub use geometry::{FtlConfig, Geometry, MAX_CACHE, MAX_WRITE};
pub use mount::Refused;
pub use op::{FtlBlock, serve};
pub use pending::{FTL_QUEUE, FtlJob, FtlPending, FtlPort, FtlQueue};

use crate::errno;
use map::Cache;

/// A result whose error is the FTL's over flash `F`.
type R<T, F> = Result<T, FtlError<<F as embedded_storage::nor_flash::ErrorType>::Error>>;

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FtlError<E> {
    /// The flash failed.
    Flash(E),
    /// The configuration or the flash geometry cannot work (-EINVAL).
    Config,
    /// The RAM lent is smaller than [`Geometry::ram_needed`] (-EINVAL).
    Ram,
    /// Not enough flash for the blocks asked for, or no room to write (-ENOSPC).
    NoSpace,
    /// LBA range past the end of the device (-EFAULT).
    Range,
    /// A length that is not a whole, non-zero number of blocks (-EINVAL).
    Length,
    /// Mount: the flash holds no FTL (blank, or another format) (-ENODEV).
    NotFormatted,
    /// Mount: an FTL image of a format version this code does not know (-EPROTONOSUPPORT).
    Version(u16),
    /// Mount or check: the image contradicts itself (-EUCLEAN).
    Corrupt(&'static str),
    /// A payload failed its CRC on read (-EIO).
    BadData,
}

impl<E: NorFlashError> FtlError<E> {
    /// The Linux errno a CQE carries for this error.
    pub fn errno(&self) -> Errno {
        match self {
            FtlError::Flash(e) => errno::nor(e),
            FtlError::Config | FtlError::Ram | FtlError::Length => Errno::EINVAL,
            FtlError::NoSpace => ENOSPC,
            FtlError::Range => Errno::EFAULT,
            FtlError::NotFormatted => errno::ENODEV,
            FtlError::Version(_) => EPROTONOSUPPORT,
            FtlError::Corrupt(_) => EUCLEAN,
            FtlError::BadData => Errno::EIO,
        }
    }

    /// The flash error's kind, if a flash error.
    pub fn flash_kind(&self) -> Option<NorFlashErrorKind> {
        match self {
            FtlError::Flash(e) => Some(e.kind()),
            _ => None,
        }
    }
}

const fn errno_of(n: u16) -> Errno {
    match Errno::new(n) {
        Some(e) => e,
        None => panic!("errno out of range"),
    }
}

/// `ENOSPC` (28): no space left on the device.
pub const ENOSPC: Errno = errno_of(28);
/// `EPROTONOSUPPORT` (93): the image's format version is unknown.
pub const EPROTONOSUPPORT: Errno = errno_of(93);
/// `EUCLEAN` (117): the image is corrupt.
pub const EUCLEAN: Errno = errno_of(117);

/// Counters of the flash operations the FTL issued, and of its own work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FtlStats {
    /// Flash reads.
    pub reads: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Flash programs.
    pub programs: u64,
    /// Bytes programmed.
    pub bytes_programmed: u64,
    /// Segments erased.
    pub erases: u64,
    /// Host blocks written.
    pub host_blocks: u64,
    /// Live blocks moved by garbage collection.
    pub moved: u64,
    /// Checkpoints written.
    pub checkpoints: u64,
}

/// The journal's position: where the head writes and where the tail is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Ring {
    /// The segment being written.
    head: u32,
    /// The next slot of the head segment (`slots_per_seg` when full).
    wp: u32,
    /// The oldest segment in use.
    tail: u32,
    /// Segments in use, tail to head inclusive.
    used: u32,
    /// The next sequence number.
    seq: u64,
    /// The slot of the newest checkpoint.
    ckpt: u32,
    /// Segments opened since that checkpoint.
    since_ckpt: u32,
}

/// A formatted, mounted FTL over the async NOR flash `F`.
pub struct Ftl<F> {
    flash: F,
    geo: Geometry,
    ram: &'static mut [u8],
    cache: Cache,
    ring: Ring,
    /// Free segments not erased by this mount (a cut may have torn their erase): the
    /// head checks each before it opens it.
    unverified: u32,
    stats: FtlStats,
}

impl<F: NorFlash> Ftl<F> {
    /// The layout.
    pub fn geometry(&self) -> &Geometry {
        &self.geo
    }

    /// Logical blocks.
    pub fn blocks(&self) -> u32 {
        self.geo.blocks
    }

    /// Block size.
    pub fn block_size(&self) -> u32 {
        self.geo.block_size
    }

    /// The counters.
    pub fn stats(&self) -> FtlStats {
        self.stats
    }

    /// Zero the counters.
    pub fn reset_stats(&mut self) {
        self.stats = FtlStats::default();
    }

    /// The flash.
    pub fn flash(&self) -> &F {
        &self.flash
    }

    /// The flash, writable: for tests and simulators (arming a fault, damaging an image
    /// on purpose). Writing to it behind the FTL's back voids every guarantee.
    pub fn flash_mut(&mut self) -> &mut F {
        &mut self.flash
    }

    /// Segments free (erased or to be erased) for the head to move into.
    pub fn free_segments(&self) -> u32 {
        self.geo.segs - self.ring.used
    }

    /// Give the flash and the RAM back (nothing to flush: every acknowledged write is
    /// on the flash already).
    pub fn into_parts(self) -> (F, &'static mut [u8]) {
        (self.flash, self.ram)
    }

    /// Read whole blocks from `lba` into `dst` (its segments back to back; the total a
    /// non-zero multiple of the block size, each segment a multiple of the flash's
    /// read size). Blocks never written or discarded read zeros.
    pub async fn read(&mut self, lba: u32, dst: &mut [&mut [u8]]) -> Result<(), FtlError<F::Error>> {
        let total: usize = dst.iter().map(|s| s.len()).sum();
        let n = self.span(lba, total)?;
        let bs = self.geo.block_size as usize;
        for j in 0..n {
            self.read_block(lba + j, dst, j as usize * bs).await?;
        }
        Ok(())
    }

    /// Write whole blocks from `src` (its segments back to back) at `lba`. Returns once
    /// every block is on the flash (durable, see the module docs).
    pub async fn write(&mut self, lba: u32, src: &[&[u8]]) -> Result<(), FtlError<F::Error>> {
        let total: usize = src.iter().map(|s| s.len()).sum();
        let n = self.span(lba, total)?;
        let bs = self.geo.block_size as usize;
        for j in 0..n {
            self.write_block(lba + j, src, j as usize * bs).await?;
        }
        Ok(())
    }

    /// Discard `count` blocks from `lba`: they read zeros and their slots become
    /// garbage. Durable when it returns.
    pub async fn discard(&mut self, lba: u32, count: u32) -> Result<(), FtlError<F::Error>> {
        if count == 0 {
            return Err(FtlError::Length);
        }
        if u64::from(lba) + u64::from(count) > u64::from(self.geo.blocks) {
            return Err(FtlError::Range);
        }
        self.trim_range(lba, count).await
    }

    /// Nothing to do: acknowledged writes are durable already (see the module docs).
    pub async fn flush(&mut self) -> Result<(), FtlError<F::Error>> {
        Ok(())
    }

    /// [`Ftl::read`] into one buffer.
    pub async fn read_blocks(&mut self, lba: u32, dst: &mut [u8]) -> Result<(), FtlError<F::Error>> {
        self.read(lba, &mut [dst]).await
    }

    /// [`Ftl::write`] from one buffer.
    pub async fn write_blocks(&mut self, lba: u32, src: &[u8]) -> Result<(), FtlError<F::Error>> {
        self.write(lba, &[src]).await
    }

    /// The number of blocks in `len` bytes at `lba`: [`FtlError::Length`] unless a
    /// non-zero multiple of the block size, [`FtlError::Range`] past the end.
    fn span(&self, lba: u32, len: usize) -> Result<u32, FtlError<F::Error>> {
        let bs = self.geo.block_size as usize;
        if len == 0 || !len.is_multiple_of(bs) {
            return Err(FtlError::Length);
        }
        let n = (len / bs) as u64;
        if u64::from(lba) + n > u64::from(self.geo.blocks) {
            return Err(FtlError::Range);
        }
        Ok(n as u32)
    }
}
