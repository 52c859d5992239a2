//! Cache maintenance for DMA on cores whose data cache the device does not see
//! (Cortex-M7, most application cores): an optional hook a [`Region`](crate::Region)
//! carries, which the ring calls at the two hand-over points of a request's buffers.
//! Cargo feature `dma-cache` (off by default: then there is no hook, no field and no
//! code — the default costs nothing).
//!
//! # When and what
//!
//! A request's buffers go to a device when its op's issue takes them as a
//! [`PendingIo`](crate::PendingIo) ([`IssueCx::pending_io`](crate::IssueCx::pending_io)),
//! and come back when that handle completes the request
//! ([`PendingIo::complete`](crate::PendingIo::complete)). For every range of a region
//! with a hook ([`Region::with_cache`](crate::Region::with_cache)):
//!
//! | range | at hand-over (before the device sees it) | at completion (before anything else reads it) |
//! |---|---|---|
//! | source (the device reads it) | [`clean`](DmaCache::clean): the CPU's writes reach memory | — |
//! | destination (the device writes it) | [`clean_invalidate`](DmaCache::clean_invalidate): no dirty line is left to be evicted over the device's data later | [`invalidate`](DmaCache::invalidate): lines fetched meanwhile (speculation, prefetch) are dropped, the CPU reads what the device wrote |
//!
//! The completion's invalidate runs before the completion is posted, so before the
//! ring runs the request's link successors and before its CQE reaches the application:
//! no op and no application code can read a destination's bytes through a stale line.
//! With the feature on, ranges of regions without a hook cost one branch per range at
//! hand-over and one per buffer at completion ([`NoCache`] is the explicit no-op). One buffer's ranges may lie
//! in regions with and without a hook, but not with two different hooks (EINVAL from
//! `pending_io`): one core, one data cache.
//!
//! # Ranges
//!
//! Each hook call covers one imported range (one segment of a buffer), rounded **out**
//! to whole lines: `start & !(LINE - 1) .. (end + LINE - 1) & !(LINE - 1)`, as
//! addresses ([`lines`]). Rounding out means the first and last line may hold bytes
//! outside the range: give DMA buffers line-aligned starts and lengths (fwring's
//! buffers in the example firmware are 32-byte aligned), or keep the CPU from writing
//! the bytes that share an edge line with a destination while its request is pending —
//! the completion's invalidate would drop such writes. Bytes a driver writes into a
//! source through [`PendingIo::io`](crate::PendingIo::io) after the hand-over are the
//! driver's to clean.

use core::ops::Range;

/// A data cache's maintenance operations, by address range. Implemented by the
/// firmware for its core (on a Cortex-M7: `SCB::clean_dcache_by_address` and friends).
///
/// The ring calls these with ranges already rounded to [`LINE`](DmaCache::LINE), from
/// the context that hands buffers over (the submitting one) and the one that completes
/// (an interrupt handler, another thread): implementations must be callable from both.
///
/// ```
/// use core::ops::Range;
/// use fwring::cache::DmaCache;
///
/// /// A core without a data cache.
/// struct Coherent;
/// impl DmaCache for Coherent {
///     const LINE: usize = 32;
///     fn clean(_: Range<usize>) {}
///     fn invalidate(_: Range<usize>) {}
/// }
///
/// static MEM: static_cell::StaticCell<[u8; 64]> = static_cell::StaticCell::new();
/// let mem: &'static mut [u8] = MEM.init([0; 64]);
/// let region = fwring::Region::new(mem).with_cache::<Coherent>();
/// assert_eq!(region.cache().map(|c| c.line()), Some(32));
/// ```
pub trait DmaCache {
    /// Line size in bytes: a power of two.
    const LINE: usize;
    /// Write the dirty lines of `lines` back to memory (they stay valid).
    fn clean(lines: Range<usize>);
    /// Discard the lines of `lines` without writing them back.
    fn invalidate(lines: Range<usize>);
    /// Write back, then discard (one pass where the core has it).
    fn clean_invalidate(lines: Range<usize>) {
        Self::clean(lines.clone());
        Self::invalidate(lines);
    }
}

/// No data cache (or a coherent one): every operation is empty.
pub struct NoCache;

impl DmaCache for NoCache {
    const LINE: usize = 1;
    #[inline(always)]
    fn clean(_: Range<usize>) {}
    #[inline(always)]
    fn invalidate(_: Range<usize>) {}
}

/// A [`DmaCache`] implementation as plain data: what a region keeps
/// ([`Region::with_cache`](crate::Region::with_cache) makes it).
#[derive(Clone, Copy)]
pub struct CacheOps {
    line: usize,
    clean: fn(Range<usize>),
    invalidate: fn(Range<usize>),
    clean_invalidate: fn(Range<usize>),
}

impl CacheOps {
    /// The operations of `C`.
    pub const fn of<C: DmaCache>() -> Self {
        assert!(C::LINE.is_power_of_two(), "DmaCache::LINE must be a power of two");
        CacheOps { line: C::LINE, clean: C::clean, invalidate: C::invalidate, clean_invalidate: C::clean_invalidate }
    }

    /// The line size.
    pub const fn line(&self) -> usize {
        self.line
    }

    /// The same operations (the same `DmaCache` implementation).
    pub fn same(&self, other: &CacheOps) -> bool {
        core::ptr::eq(self, other)
            || (self.line == other.line
                && core::ptr::fn_addr_eq(self.clean, other.clean)
                && core::ptr::fn_addr_eq(self.invalidate, other.invalidate)
                && core::ptr::fn_addr_eq(self.clean_invalidate, other.clean_invalidate))
    }
}

impl core::fmt::Debug for CacheOps {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CacheOps").field("line", &self.line).finish()
    }
}

/// `[addr, addr + len)` rounded out to whole lines of `line` bytes (a power of two);
/// ends at `usize::MAX` where rounding up would pass the top of the address space.
pub const fn lines(addr: usize, len: usize, line: usize) -> Range<usize> {
    let mask = line - 1;
    let end = match addr.saturating_add(len).checked_add(mask) {
        Some(e) => e & !mask,
        None => usize::MAX,
    };
    (addr & !mask)..end
}

/// Hand-over to a device: clean a source range, clean and invalidate a destination.
#[inline]
pub(crate) fn to_device(c: &CacheOps, dest: bool, addr: usize, len: usize) {
    let r = lines(addr, len, c.line);
    if dest { (c.clean_invalidate)(r) } else { (c.clean)(r) }
}

/// Back from a device: invalidate a destination range.
#[inline]
pub(crate) fn from_device(c: &CacheOps, addr: usize, len: usize) {
    (c.invalidate)(lines(addr, len, c.line));
}

#[cfg(test)]
mod tests {
    use super::lines;

    #[test]
    fn ranges_round_out_to_whole_lines() {
        assert_eq!(lines(70, 100, 32), 64..192);
        assert_eq!(lines(64, 64, 32), 64..128);
        assert_eq!(lines(64, 1, 32), 64..96);
        assert_eq!(lines(0, 0, 32), 0..0);
        assert_eq!(lines(5, 3, 1), 5..8);
        assert_eq!(lines(usize::MAX - 10, 5, 32), (usize::MAX & !31)..usize::MAX);
    }
}
