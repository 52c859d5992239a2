//! The shared block: headers, entry slots, and the word-by-word access both sides use.

use core::mem::offset_of;

use super::*;
use crate::abi::{CqRingOffsets, Cqe, IoUringParams, SetupFlags, SqRingOffsets, Sqe};
use crate::sync::{AtomicU32, Ordering, array_of, const_fn_unless_loom};

/// The SQ header: io_uring's SQ ring fields, alone on a 64-byte cache line.
#[repr(C, align(64))]
pub(super) struct SqHeader {
    pub(super) head: AtomicU32,
    pub(super) tail: AtomicU32,
    pub(super) ring_mask: AtomicU32,
    pub(super) ring_entries: AtomicU32,
    pub(super) flags: AtomicU32,
    pub(super) dropped: AtomicU32,
    pub(super) pad: [AtomicU32; 10],
}

/// The CQ header: io_uring's CQ ring fields, alone on a 64-byte cache line.
#[repr(C, align(64))]
pub(super) struct CqHeader {
    pub(super) head: AtomicU32,
    pub(super) tail: AtomicU32,
    pub(super) ring_mask: AtomicU32,
    pub(super) ring_entries: AtomicU32,
    pub(super) overflow: AtomicU32,
    pub(super) flags: AtomicU32,
    pub(super) pad: [AtomicU32; 10],
}

/// Words of a header, padding included.
pub(super) const HEADER_WORDS: usize = 16;

/// Word `i` of a header: its six named words in layout order, then the padding.
pub(super) fn header_word<'a>(named: [&'a AtomicU32; 6], pad: &'a [AtomicU32], i: usize) -> Option<&'a AtomicU32> {
    named.get(i).copied().or_else(|| pad.get(i.wrapping_sub(named.len())))
}

impl SqHeader {
    pub(super) fn word(&self, i: usize) -> Option<&AtomicU32> {
        let named = [&self.head, &self.tail, &self.ring_mask, &self.ring_entries, &self.flags, &self.dropped];
        header_word(named, &self.pad, i)
    }
}

impl CqHeader {
    pub(super) fn word(&self, i: usize) -> Option<&AtomicU32> {
        let named = [&self.head, &self.tail, &self.ring_mask, &self.ring_entries, &self.overflow, &self.flags];
        header_word(named, &self.pad, i)
    }
}

/// A zeroed atomic word, or array of them (`const` where the atomics allow it).
macro_rules! zeroed {
    () => {
        AtomicU32::new(0)
    };
    ($n:expr) => {
        array_of!(AtomicU32::new(0); $n)
    };
    ($n:expr, $m:expr) => {
        array_of!(array_of!(AtomicU32::new(0); $m); $n)
    };
}

/// A queue pair with `SQ` submission and `CQ` completion entries (powers of two, at
/// most [`MAX_SQ_ENTRIES`] / [`MAX_CQ_ENTRIES`], checked at compile time), laid out as
/// the [module documentation](crate::shm) shows: `128 + 64·SQ + 16·CQ` bytes (rounded up to
/// 64), 64-byte aligned.
///
/// Place it in a `static` ([`QueuePair::new`] is `const`), in a linker section, or at a
/// fixed address ([`QueuePair::from_ptr`]); then attach a [`HostEnd`] and/or a [`DeviceEnd`].
#[repr(C)]
pub struct QueuePair<const SQ: usize, const CQ: usize> {
    pub(super) sq: SqHeader,
    pub(super) cq: CqHeader,
    pub(super) sqes: [[AtomicU32; SQE_WORDS]; SQ],
    pub(super) cqes: [[AtomicU32; CQE_WORDS]; CQ],
}

impl<const SQ: usize, const CQ: usize> QueuePair<SQ, CQ> {
    /// Compile-time checks of the sizes (and, with real atomics, of the layout).
    pub(crate) const LAYOUT_OK: () = {
        assert!(SQ.is_power_of_two() && SQ <= MAX_SQ_ENTRIES, "SQ must be a power of two ≤ 32768");
        assert!(CQ.is_power_of_two() && CQ <= MAX_CQ_ENTRIES, "CQ must be a power of two ≤ 65536");
        #[cfg(not(loom))]
        {
            assert!(offset_of!(Self, sq) == 0);
            assert!(offset_of!(Self, cq) == 64);
            assert!(offset_of!(Self, sqes) == 128);
            assert!(offset_of!(Self, cqes) == 128 + 64 * SQ);
            assert!(size_of::<Self>() == (128 + 64 * SQ + 16 * CQ).next_multiple_of(64));
            assert!(core::mem::align_of::<Self>() == 64);
        }
    };

    /// Byte offset of the SQE array (SQE slot `i` at `SQES_OFFSET + 64·i`).
    pub const SQES_OFFSET: usize = offset_of!(Self, sqes);
    /// Byte offset of the CQE array (CQE slot `i` at `CQES_OFFSET + 16·i`).
    pub const CQES_OFFSET: usize = offset_of!(Self, cqes);
    /// The block as 32-bit words, for [`QueuePair::read_word`] / [`QueuePair::write_word`]:
    /// word `i` is at byte offset `4·i`.
    pub const WORDS: usize = 2 * HEADER_WORDS + SQ * SQE_WORDS + CQ * CQE_WORDS;

    const_fn_unless_loom! {
        /// An empty queue pair: indices 0, `ring_mask` and `ring_entries` set, zeroed
        /// entries. `const` (but under loom), so it can be a `static`'s initialiser.
        pub fn new() -> Self {
            let () = Self::LAYOUT_OK;
            QueuePair {
                sq: SqHeader {
                    head: zeroed!(),
                    tail: zeroed!(),
                    ring_mask: AtomicU32::new(SQ as u32 - 1),
                    ring_entries: AtomicU32::new(SQ as u32),
                    flags: zeroed!(),
                    dropped: zeroed!(),
                    pad: zeroed!(10),
                },
                cq: CqHeader {
                    head: zeroed!(),
                    tail: zeroed!(),
                    ring_mask: AtomicU32::new(CQ as u32 - 1),
                    ring_entries: AtomicU32::new(CQ as u32),
                    overflow: zeroed!(),
                    flags: zeroed!(),
                    pad: zeroed!(10),
                },
                sqes: zeroed!(SQ, SQE_WORDS),
                cqes: zeroed!(CQ, CQE_WORDS),
            }
        }
    }

    /// Set the pair up, as `io_uring_setup` does: both rings' `head` and `tail` = `start`,
    /// `ring_mask`, `ring_entries`, `flags`, `dropped` and `overflow` = 0. Entries are
    /// left as they are. Call it before either side attaches (those that are attached
    /// keep their private indices and will report the pair as corrupt); the hand-off that
    /// follows — a thread spawn, the host's doorbell — orders these stores before the
    /// sides' first accesses.
    pub fn init(&self, start: u32) {
        // Relaxed throughout: no side is attached yet (see above).
        let (sq, cq) = (&self.sq, &self.cq);
        for (w, v) in [
            (&sq.head, start),
            (&sq.tail, start),
            (&sq.ring_mask, SQ as u32 - 1),
            (&sq.ring_entries, SQ as u32),
            (&sq.flags, 0),
            (&sq.dropped, 0),
            (&cq.head, start),
            (&cq.tail, start),
            (&cq.ring_mask, CQ as u32 - 1),
            (&cq.ring_entries, CQ as u32),
            (&cq.overflow, 0),
            (&cq.flags, 0),
        ] {
            w.store(v, Ordering::Relaxed);
        }
    }

    /// `io_sqring_offsets` for this layout (byte offsets from the start of the pair).
    /// `array` is 0: there is no SQ index array (`IORING_SETUP_NO_SQARRAY`); the SQEs are
    /// at [`QueuePair::SQES_OFFSET`].
    pub const fn sq_ring_offsets() -> SqRingOffsets {
        let base = offset_of!(Self, sq);
        SqRingOffsets {
            head: (base + offset_of!(SqHeader, head)) as u32,
            tail: (base + offset_of!(SqHeader, tail)) as u32,
            ring_mask: (base + offset_of!(SqHeader, ring_mask)) as u32,
            ring_entries: (base + offset_of!(SqHeader, ring_entries)) as u32,
            flags: (base + offset_of!(SqHeader, flags)) as u32,
            dropped: (base + offset_of!(SqHeader, dropped)) as u32,
            array: 0,
            resv1: 0,
            user_addr: 0,
        }
    }

    /// `io_cqring_offsets` for this layout (byte offsets from the start of the pair);
    /// `cqes` is the CQE array.
    pub const fn cq_ring_offsets() -> CqRingOffsets {
        let base = offset_of!(Self, cq);
        CqRingOffsets {
            head: (base + offset_of!(CqHeader, head)) as u32,
            tail: (base + offset_of!(CqHeader, tail)) as u32,
            ring_mask: (base + offset_of!(CqHeader, ring_mask)) as u32,
            ring_entries: (base + offset_of!(CqHeader, ring_entries)) as u32,
            overflow: (base + offset_of!(CqHeader, overflow)) as u32,
            cqes: offset_of!(Self, cqes) as u32,
            flags: (base + offset_of!(CqHeader, flags)) as u32,
            resv1: 0,
            user_addr: 0,
        }
    }

    /// `io_uring_params` as a host driver would receive them from `io_uring_setup`:
    /// `SQ`/`CQ` entries, `IORING_SETUP_NO_SQARRAY`, and both offset tables.
    pub const fn params() -> IoUringParams {
        IoUringParams {
            sq_entries: SQ as u32,
            cq_entries: CQ as u32,
            flags: SetupFlags::NO_SQARRAY.bits(),
            sq_thread_cpu: 0,
            sq_thread_idle: 0,
            features: 0,
            wq_fd: 0,
            resv: [0; 3],
            sq_off: Self::sq_ring_offsets(),
            cq_off: Self::cq_ring_offsets(),
        }
    }

    /// Word `index` of the block (byte offset `4·index`), or `None` past
    /// [`QueuePair::WORDS`].
    pub(super) fn word(&self, index: usize) -> Option<&AtomicU32> {
        let (sqes, cqes) = (2 * HEADER_WORDS, 2 * HEADER_WORDS + SQ * SQE_WORDS);
        if index < HEADER_WORDS {
            self.sq.word(index)
        } else if index < sqes {
            self.cq.word(index - HEADER_WORDS)
        } else if index < cqes {
            let i = index - sqes;
            self.sqes.get(i / SQE_WORDS).and_then(|e| e.get(i % SQE_WORDS))
        } else {
            let i = index - cqes;
            self.cqes.get(i / CQE_WORDS).and_then(|e| e.get(i % CQE_WORDS))
        }
    }

    /// Load word `index` (byte offset `4·index`) as the peer sees it (relaxed): a
    /// debugger's view, or a simulated peer's. `None` past [`QueuePair::WORDS`].
    pub fn read_word(&self, index: usize) -> Option<u32> {
        // Relaxed: an observation, ordered with nothing.
        self.word(index).map(|w| w.load(Ordering::Relaxed))
    }

    /// Store `value` into word `index` (byte offset `4·index`), relaxed — any word,
    /// headers and entries alike, as a (possibly hostile) peer could. For simulated
    /// peers in tests and fuzzing. Returns `false` (and writes nothing) past
    /// [`QueuePair::WORDS`].
    pub fn write_word(&self, index: usize, value: u32) -> bool {
        // Relaxed: a hostile write orders nothing.
        self.word(index).map(|w| w.store(value, Ordering::Relaxed)).is_some()
    }

    /// SQ entries between the SQ `head` and `tail` (`tail − head`, wrapping) — or, when
    /// that is more than `SQ` (also when the tail is behind the head), the pair is
    /// corrupt: [`CORRUPT`](ShmFlags::CORRUPT) is raised in the SQ flags and the error
    /// names both indices. The one check of the SQ indices, for either side.
    pub(super) fn sq_used(&self, head: u32, tail: u32) -> Result<u32, ShmError> {
        used_entries(head, tail, SQ, &self.sq.flags).ok_or(ShmError::SqCorrupt { head, tail })
    }

    /// [`QueuePair::sq_used`] for the CQ: `ShmError::CqCorrupt`, CORRUPT in the CQ flags.
    pub(super) fn cq_used(&self, head: u32, tail: u32) -> Result<u32, ShmError> {
        used_entries(head, tail, CQ, &self.cq.flags).ok_or(ShmError::CqCorrupt { head, tail })
    }

    /// SQ slot of free-running index `i`.
    #[inline(always)]
    pub(super) fn sqe_slot(&self, i: u32) -> &[AtomicU32; SQE_WORDS] {
        &self.sqes[i as usize & (SQ - 1)]
    }

    /// CQ slot of free-running index `i`.
    #[inline(always)]
    pub(super) fn cqe_slot(&self, i: u32) -> &[AtomicU32; CQE_WORDS] {
        &self.cqes[i as usize & (CQ - 1)]
    }
}

impl<const SQ: usize, const CQ: usize> Default for QueuePair<SQ, CQ> {
    fn default() -> Self {
        Self::new()
    }
}

// The headers: one cache line each, fields at io_uring's relative positions.
#[cfg(not(loom))]
const _: () = {
    assert!(size_of::<SqHeader>() == 64);
    assert!(offset_of!(SqHeader, head) == 0);
    assert!(offset_of!(SqHeader, tail) == 4);
    assert!(offset_of!(SqHeader, ring_mask) == 8);
    assert!(offset_of!(SqHeader, ring_entries) == 12);
    assert!(offset_of!(SqHeader, flags) == 16);
    assert!(offset_of!(SqHeader, dropped) == 20);
    assert!(offset_of!(SqHeader, pad) == 24);
    assert!(size_of::<CqHeader>() == 64);
    assert!(offset_of!(CqHeader, head) == 0);
    assert!(offset_of!(CqHeader, tail) == 4);
    assert!(offset_of!(CqHeader, ring_mask) == 8);
    assert!(offset_of!(CqHeader, ring_entries) == 12);
    assert!(offset_of!(CqHeader, overflow) == 16);
    assert!(offset_of!(CqHeader, flags) == 20);
    assert!(offset_of!(CqHeader, pad) == 24);
    assert!(size_of::<AtomicU32>() == 4);
    assert!(size_of::<[AtomicU32; SQE_WORDS]>() == size_of::<Sqe>());
    assert!(size_of::<[AtomicU32; CQE_WORDS]>() == size_of::<Cqe>());
    // Two sizes pinned end to end.
    assert!(size_of::<QueuePair<8, 16>>() == 128 + 8 * 64 + 16 * 16);
    assert!(size_of::<QueuePair<1, 1>>() == 256);
};

/// Set (`on`) or clear `flag` in a flags word with a load and a store, leaving every other
/// bit as it is. Relaxed: a flags word is advisory and publishes no data.
#[inline]
pub(super) fn set_flag(word: &AtomicU32, flag: ShmFlags, on: bool) {
    let old = word.load(Ordering::Relaxed);
    let new = if on { old | flag.bits() } else { old & !flag.bits() };
    if new != old {
        word.store(new, Ordering::Relaxed);
    }
}

/// `tail − head` (wrapping) of a ring of `entries` slots, or `None` — with
/// [`CORRUPT`](ShmFlags::CORRUPT) raised in its `flags` word — when that exceeds `entries`.
#[inline]
fn used_entries(head: u32, tail: u32, entries: usize, flags: &AtomicU32) -> Option<u32> {
    let used = tail.wrapping_sub(head);
    if used as usize > entries {
        set_flag(flags, ShmFlags::CORRUPT, true);
        return None;
    }
    Some(used)
}

/// Load an entry's words (relaxed: the acquire of the index that covers this slot came
/// first).
#[inline(always)]
pub(super) fn load_words<const W: usize>(slot: &[AtomicU32; W]) -> [u32; W] {
    core::array::from_fn(|i| slot[i].load(Ordering::Relaxed))
}

/// Store an entry's words (relaxed: published by the index's release store).
#[inline(always)]
pub(super) fn store_words<const W: usize>(slot: &[AtomicU32; W], words: [u32; W]) {
    for (w, v) in slot.iter().zip(words) {
        w.store(v, Ordering::Relaxed);
    }
}

/// Copy an SQE out of its slot, word by word.
#[inline(always)]
pub(super) fn load_sqe(slot: &[AtomicU32; SQE_WORDS]) -> Sqe {
    zerocopy::transmute!(load_words(slot))
}

/// Copy an SQE into its slot, word by word.
#[inline(always)]
pub(super) fn store_sqe(slot: &[AtomicU32; SQE_WORDS], sqe: &Sqe) {
    store_words::<SQE_WORDS>(slot, zerocopy::transmute!(*sqe));
}

/// Copy a CQE out of its slot.
#[inline(always)]
pub(super) fn load_cqe(slot: &[AtomicU32; CQE_WORDS]) -> Cqe {
    zerocopy::transmute!(load_words(slot))
}

/// Copy a CQE into its slot.
#[inline(always)]
pub(super) fn store_cqe(slot: &[AtomicU32; CQE_WORDS], cqe: &Cqe) {
    store_words::<CQE_WORDS>(slot, zerocopy::transmute!(*cqe));
}
