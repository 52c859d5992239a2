//! What format chooses and mount reads back: block size, segment size, capacity,
//! over-provisioning, map cache — and the RAM all of it needs.

use super::FtlError;
use super::format::HDR;

/// Largest program word the FTL supports (bytes).
pub const MAX_WRITE: usize = 16;
/// Most map pages a device may cache in RAM.
pub const MAX_CACHE: usize = 32;

/// Format-time choices. Start from [`FtlConfig::new`] and adjust.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FtlConfig {
    /// Logical block size (a multiple of 32, at least 256).
    pub block_size: u32,
    /// Erase blocks per segment (the unit of garbage collection).
    pub erase_per_seg: u16,
    /// Logical blocks; 0 picks [`FtlConfig::op_percent`] of the most that fit.
    pub blocks: u32,
    /// With `blocks` 0: the share of the most that fit to leave for garbage collection
    /// (over-provisioning), in percent.
    pub op_percent: u8,
    /// Map pages cached in RAM (2 ..= [`MAX_CACHE`]).
    pub map_cache: u16,
    /// Force a checkpoint after this many segments: bounds mount's log replay.
    pub ckpt_every: u16,
}

impl FtlConfig {
    /// `block_size`-byte blocks, one erase block per segment, 10 % over-provisioning,
    /// 4 cached map pages, a checkpoint at least every 32 segments.
    pub const fn new(block_size: u32) -> Self {
        FtlConfig { block_size, erase_per_seg: 1, blocks: 0, op_percent: 10, map_cache: 4, ckpt_every: 32 }
    }

    /// Segments of `n` erase blocks.
    #[must_use]
    pub const fn erase_per_seg(mut self, n: u16) -> Self {
        self.erase_per_seg = n;
        self
    }

    /// Exactly `n` logical blocks (-ENOSPC at format if they do not fit).
    #[must_use]
    pub const fn blocks(mut self, n: u32) -> Self {
        self.blocks = n;
        self
    }

    /// Over-provisioning in percent (with `blocks` 0).
    #[must_use]
    pub const fn op_percent(mut self, p: u8) -> Self {
        self.op_percent = p;
        self
    }

    /// `n` cached map pages.
    #[must_use]
    pub const fn map_cache(mut self, n: u16) -> Self {
        self.map_cache = n;
        self
    }

    /// A checkpoint at least every `n` segments.
    #[must_use]
    pub const fn ckpt_every(mut self, n: u16) -> Self {
        self.ckpt_every = n;
        self
    }
}

/// The layout a formatted device uses, derived from the flash and the [`FtlConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Logical block size.
    pub block_size: u32,
    /// Erase blocks per segment.
    pub erase_per_seg: u32,
    /// Bytes per segment.
    pub seg_size: u32,
    /// Segments on the flash.
    pub segs: u32,
    /// Slots per segment.
    pub slots_per_seg: u32,
    /// Logical blocks.
    pub blocks: u32,
    /// Map entries per map page (`block_size / 4`).
    pub per_page: u32,
    /// Map pages (`ceil(blocks / per_page)`).
    pub map_pages: u32,
    /// Map pages cached.
    pub map_cache: u32,
    /// Segments between forced checkpoints.
    pub ckpt_every: u32,
    /// Free segments kept for garbage collection.
    pub reserve: u32,
}

impl Geometry {
    /// The layout for a flash of `capacity` bytes with `erase`-byte erase blocks and
    /// `write`-byte program words. -EINVAL (as [`FtlError::Config`]) for a geometry that
    /// cannot work, [`FtlError::NoSpace`] for more blocks than fit.
    pub fn new<E>(
        capacity: usize,
        erase: usize,
        write: usize,
        read: usize,
        c: &FtlConfig,
    ) -> Result<Self, FtlError<E>> {
        let bs = c.block_size as usize;
        let seg = erase.checked_mul(usize::from(c.erase_per_seg)).ok_or(FtlError::Config)?;
        let ok = bs >= 256
            && bs.is_multiple_of(HDR)
            && write > 0
            && write <= MAX_WRITE
            && MAX_WRITE.is_multiple_of(write)
            && HDR.is_multiple_of(read.max(1))
            && bs.is_multiple_of(read.max(1))
            && c.erase_per_seg > 0
            && (2..=MAX_CACHE).contains(&usize::from(c.map_cache))
            && c.ckpt_every > 0
            && u32::try_from(capacity).is_ok()
            && seg > HDR;
        if !ok {
            return Err(FtlError::Config);
        }
        let slot = bs + HDR;
        let p = ((seg - HDR) / slot) as u32;
        let n = (capacity / seg) as u32;
        let cache = u32::from(c.map_cache);
        if p < cache + 2 {
            return Err(FtlError::Config);
        }
        // Worst case of collecting one segment: every slot live and moved, a map page
        // written for each, and a checkpoint.
        let gc_worst = 2 * p + cache + 2;
        let reserve = gc_worst.div_ceil(p) + 1;
        let per_page = c.block_size / 4;
        let room = n.saturating_sub(reserve + 3).saturating_mul(p);
        let room = room.saturating_sub(room.div_ceil(per_page) + cache + 1);
        // A map larger than the cache may cost a map page write per block moved: then
        // at most half the room holds live blocks, so collection always gains.
        let fits = room.div_ceil(per_page) <= cache;
        let max = if fits { room } else { room / 2 }.min(per_page * per_page);
        let blocks = match c.blocks {
            0 => (u64::from(max) * u64::from(100 - c.op_percent.min(90)) / 100) as u32,
            b if b <= max => b,
            _ => return Err(FtlError::NoSpace),
        };
        if blocks == 0 {
            return Err(FtlError::NoSpace);
        }
        Ok(Geometry {
            block_size: c.block_size,
            erase_per_seg: u32::from(c.erase_per_seg),
            seg_size: seg as u32,
            segs: n,
            slots_per_seg: p,
            blocks,
            per_page,
            map_pages: blocks.div_ceil(per_page),
            map_cache: cache,
            ckpt_every: u32::from(c.ckpt_every),
            reserve,
        })
    }

    /// Bytes of a slot.
    pub fn slot_size(&self) -> u32 {
        self.block_size + HDR as u32
    }

    /// Bytes of the map directory in RAM (and of a checkpoint's payload).
    pub fn dir_len(&self) -> usize {
        (self.map_pages as usize * 4).next_multiple_of(MAX_WRITE)
    }

    /// Bytes of RAM the caller lends the device: the directory, one scratch block and
    /// the cached map pages — `dir_len + block_size * (map_cache + 1)`.
    pub fn ram_needed(&self) -> usize {
        self.dir_len() + self.block_size as usize * (self.map_cache as usize + 1)
    }

    /// Flash address of slot `g`'s payload (its header follows it).
    pub fn slot_addr(&self, g: u32) -> u32 {
        let (s, i) = (g / self.slots_per_seg, g % self.slots_per_seg);
        s * self.seg_size + HDR as u32 + i * self.slot_size()
    }

    /// Total slots.
    pub fn slots(&self) -> u32 {
        self.segs * self.slots_per_seg
    }
}
