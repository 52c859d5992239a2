//! The shared-memory queue pair: a host's SQ and CQ in memory both sides map, as
//! storage-device firmware consumes them.
//!
//! A host driver writes SQEs into a submission queue in shared memory (a PCIe BAR, a
//! mailbox SRAM, a region two cores map) and the firmware answers with CQEs in a
//! completion queue there — io_uring's mmap'd rings, with the device in the kernel's
//! place. [`QueuePair`] is that memory; [`Host`] is the driver's side and [`Device`] the
//! firmware's. [`Device::feed`] and [`Device::flush`] bridge it to a [`Ring`], so a
//! device loop is `feed; ring.submit(); flush`.
//!
//! # Layout
//!
//! One `#[repr(C)]` block, every field a 32-bit word, native-endian (byte offsets from
//! the start of the block; `SQ`, `CQ` are the entry counts):
//!
//! | offset | word | written by |
//! |---:|---|---|
//! | 0 | SQ `head` | device |
//! | 4 | SQ `tail` | host |
//! | 8 | SQ `ring_mask` = `SQ − 1` | [`QueuePair::init`] (never read back) |
//! | 12 | SQ `ring_entries` = `SQ` | [`QueuePair::init`] (never read back) |
//! | 16 | SQ `flags`: [`CQ_OVERFLOW`], [`CORRUPT`] | device (host: [`CORRUPT`] only) |
//! | 20 | SQ `dropped`: SQ batches the device refused | device |
//! | 24..64 | padding (SQ header = one 64-byte cache line) | — |
//! | 64 | CQ `head` | host |
//! | 68 | CQ `tail` | device |
//! | 72 | CQ `ring_mask` = `CQ − 1` | [`QueuePair::init`] (never read back) |
//! | 76 | CQ `ring_entries` = `CQ` | [`QueuePair::init`] (never read back) |
//! | 80 | CQ `overflow`: always 0 (no CQE is ever dropped) | [`QueuePair::init`] |
//! | 84 | CQ `flags`: [`CORRUPT`] | host (device: [`CORRUPT`] only) |
//! | 88..128 | padding (CQ header = one 64-byte cache line) | — |
//! | 128 | `SQ` SQEs of 64 bytes (16 words) each | host |
//! | 128 + 64·`SQ` | `CQ` CQEs of 16 bytes (4 words) each | device |
//!
//! There is no SQ index array: SQE `i` is in slot `i & (SQ − 1)`, as with
//! `IORING_SETUP_NO_SQARRAY`. A host discovers the offsets the io_uring way from
//! [`QueuePair::params`] (`sq_off`, `cq_off`; `cq_off.cqes` is the CQE array) and
//! [`QueuePair::SQES_OFFSET`] (Linux maps the SQE array separately, at
//! `IORING_OFF_SQES`, so `io_sqring_offsets` has no field for it).
//!
//! # Protocol
//!
//! Indices are free-running `u32` counters; entries in a ring = `tail − head`
//! (wrapping). Each side keeps **private** copies of the indices it owns and only ever
//! publishes them: the SQ tail and CQ head for the host, the SQ head and CQ tail for the
//! device. One acquire/release pair per batch: the producer stores entries (relaxed),
//! then publishes its index with one release store; the consumer loads the producer's
//! index once with acquire, reads entries (relaxed), then publishes its own index with
//! one release store, which the producer acquires before it reuses those slots. Every
//! access to shared memory, by either side, is a 32-bit atomic load or store — no data
//! race is possible even while a peer writes anything anywhere, no `UnsafeCell`, and no
//! read-modify-write (thumbv6m has none), so each word has one writer in honest
//! operation.
//!
//! # A hostile peer
//!
//! Each side treats the other as hostile: the host's driver may be buggy or malicious,
//! and the host checks the device the same way.
//!
//! - Sizes come from the const generics, never from `ring_mask`/`ring_entries` in shared
//!   memory; every slot index is masked, so no value in shared memory can cause an
//!   out-of-bounds access.
//! - A side never reads back its own indices from shared memory (only
//!   [`Host::new`]/[`Device::new`] adopt them once, at attach time).
//! - A consumer that finds the producer's tail more than the ring's entries ahead of its
//!   own head (`tail − head > entries`, wrapping: this also catches a tail *behind* the
//!   head), or a producer that finds the consumer's head more than the ring's entries
//!   away from its own tail, **refuses the batch**: it consumes or produces nothing,
//!   raises [`CORRUPT`] in that ring's flags word, the device bumps the SQ `dropped`
//!   counter (for an SQ batch it refused), and the call returns
//!   [`ShmError::SqCorrupt`] / [`ShmError::CqCorrupt`] with the `head` and `tail` it
//!   saw. Its private state is unchanged; the next call checks afresh.
//! - Every call does bounded work: at most one ring's entries, never a loop on a value
//!   the peer controls.
//! - Each SQE (CQE) is copied out of shared memory exactly once, word by word, into a
//!   local [`Sqe`] ([`Cqe`]) before anything looks at it: an entry the peer rewrites
//!   after (or while) it is read changes nothing the reader already holds.
//!
//! A flags word is written with a load and a store (no read-modify-write), changing only
//! the writer's bits. In honest operation only the device writes the SQ flags
//! ([`CQ_OVERFLOW`]) and nobody writes the CQ flags, so no update is lost; [`CORRUPT`] is
//! written only once a peer has broken the protocol, as a diagnostic for it. The honest
//! side never decides anything from a flags word: its guarantee is the returned error.

use core::fmt;
use core::mem::offset_of;

use crate::abi::{CqRingOffsets, Cqe, IoUringParams, SetupFlags, SqRingFlags, SqRingOffsets, Sqe, SqeFlags};
use crate::ring::{Reaper, Ring, Submitter};
use crate::sync::{AtomicU32, Ordering};

/// 32-bit words in an SQE (64 bytes).
pub const SQE_WORDS: usize = 16;
/// 32-bit words in a CQE (16 bytes).
pub const CQE_WORDS: usize = 4;
/// Largest SQ (Linux's `IORING_MAX_ENTRIES`).
pub const MAX_SQ_ENTRIES: usize = 1 << 15;
/// Largest CQ (Linux's `IORING_MAX_CQ_ENTRIES` is larger; this keeps every offset in a
/// `u32` and the block well under 4 GiB).
pub const MAX_CQ_ENTRIES: usize = 1 << 16;

/// `IORING_SQ_CQ_OVERFLOW` (bit 1 of the SQ flags): the device stopped taking SQEs
/// because completions have no room (backpressure). Reap CQEs; the device clears it when
/// it takes SQEs again.
pub const CQ_OVERFLOW: u32 = SqRingFlags::CQ_OVERFLOW.bits();

/// Bit 31 of a ring's flags word (a fwring extension, clear of Linux's `IORING_SQ_*` /
/// `IORING_CQ_*` bits): a side found this ring's indices impossible — `tail − head`
/// (wrapping) greater than the ring's entries — and refused a batch. Sticky: no honest
/// side ever clears it.
pub const CORRUPT: u32 = 1 << 31;

/// Where [`Device::feed`] puts SQEs: a [`Ring`], or the [`Submitter`] of a split one.
pub trait SqSink {
    /// Free SQ slots.
    fn sq_space(&mut self) -> u32;
    /// Whether the SQ holds nothing.
    fn sq_is_empty(&mut self) -> bool;
    /// Queue one SQE (handed back when full).
    fn push_sqe(&mut self, sqe: Sqe) -> Result<(), Sqe>;
    /// Whether the last submit stopped for lack of CQ room.
    fn backpressured(&self) -> bool;
}

/// Where [`Device::flush`] takes CQEs from: a [`Ring`], or the [`Reaper`] of a split one.
pub trait CqSource {
    /// Reap one CQE.
    fn pop_cqe(&mut self) -> Option<Cqe>;
}

macro_rules! sq_sink {
    ($($t:ty),*) => {$(
        impl<const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize> SqSink for $t {
            fn sq_space(&mut self) -> u32 {
                self.sq().space()
            }
            fn sq_is_empty(&mut self) -> bool {
                self.sq().is_empty()
            }
            fn push_sqe(&mut self, sqe: Sqe) -> Result<(), Sqe> {
                self.push(sqe)
            }
            fn backpressured(&self) -> bool {
                self.sq_flags().contains(SqRingFlags::CQ_OVERFLOW)
            }
        }
    )*};
}

sq_sink!(Ring<SQ, CQ, N, ARGS>, Submitter<'_, SQ, CQ, N, ARGS>);

impl<const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize> CqSource for Ring<SQ, CQ, N, ARGS> {
    fn pop_cqe(&mut self) -> Option<Cqe> {
        self.pop()
    }
}

impl<const CQ: usize> CqSource for Reaper<'_, CQ> {
    fn pop_cqe(&mut self) -> Option<Cqe> {
        self.pop()
    }
}

/// One side found a ring's indices impossible and refused the batch (nothing was
/// consumed or produced, the side's own state is unchanged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ShmError {
    /// The SQ's `tail − head` (wrapping) exceeds its entries. `head` is the device's SQ
    /// head and `tail` the host's SQ tail, as the detecting side saw them (its own
    /// private index and the peer's published one).
    SqCorrupt {
        /// The SQ head (device's index).
        head: u32,
        /// The SQ tail (host's index).
        tail: u32,
    },
    /// The CQ's `tail − head` (wrapping) exceeds its entries. `head` is the host's CQ
    /// head and `tail` the device's CQ tail, as the detecting side saw them.
    CqCorrupt {
        /// The CQ head (host's index).
        head: u32,
        /// The CQ tail (device's index).
        tail: u32,
    },
}

impl fmt::Display for ShmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShmError::SqCorrupt { head, tail } => write!(f, "SQ indices corrupt: head {head}, tail {tail}"),
            ShmError::CqCorrupt { head, tail } => write!(f, "CQ indices corrupt: head {head}, tail {tail}"),
        }
    }
}

impl core::error::Error for ShmError {}

/// The SQ header: io_uring's SQ ring fields, alone on a 64-byte cache line.
#[repr(C, align(64))]
struct SqHeader {
    head: AtomicU32,
    tail: AtomicU32,
    ring_mask: AtomicU32,
    ring_entries: AtomicU32,
    flags: AtomicU32,
    dropped: AtomicU32,
    pad: [AtomicU32; 10],
}

/// The CQ header: io_uring's CQ ring fields, alone on a 64-byte cache line.
#[repr(C, align(64))]
struct CqHeader {
    head: AtomicU32,
    tail: AtomicU32,
    ring_mask: AtomicU32,
    ring_entries: AtomicU32,
    overflow: AtomicU32,
    flags: AtomicU32,
    pad: [AtomicU32; 10],
}

/// Words of a header, padding included.
const HEADER_WORDS: usize = 16;

/// Word `i` of a header: its six named words in layout order, then the padding.
fn header_word<'a>(named: [&'a AtomicU32; 6], pad: &'a [AtomicU32], i: usize) -> Option<&'a AtomicU32> {
    named.get(i).copied().or_else(|| pad.get(i.wrapping_sub(named.len())))
}

impl SqHeader {
    fn word(&self, i: usize) -> Option<&AtomicU32> {
        let named = [&self.head, &self.tail, &self.ring_mask, &self.ring_entries, &self.flags, &self.dropped];
        header_word(named, &self.pad, i)
    }
}

impl CqHeader {
    fn word(&self, i: usize) -> Option<&AtomicU32> {
        let named = [&self.head, &self.tail, &self.ring_mask, &self.ring_entries, &self.overflow, &self.flags];
        header_word(named, &self.pad, i)
    }
}

/// A zeroed atomic word, or array of them (`const` where the atomics allow it).
#[cfg(not(loom))]
macro_rules! zeroed {
    () => {
        AtomicU32::new(0)
    };
    ($n:expr) => {
        [const { AtomicU32::new(0) }; $n]
    };
    ($n:expr, $m:expr) => {
        [const { [const { AtomicU32::new(0) }; $m] }; $n]
    };
}

/// loom's atomics have no `const fn new`.
#[cfg(loom)]
macro_rules! zeroed {
    () => {
        AtomicU32::new(0)
    };
    ($n:expr) => {
        core::array::from_fn(|_| AtomicU32::new(0))
    };
    ($n:expr, $m:expr) => {
        core::array::from_fn(|_| core::array::from_fn(|_| AtomicU32::new(0)))
    };
}

/// A queue pair with `SQ` submission and `CQ` completion entries (powers of two, at
/// most [`MAX_SQ_ENTRIES`] / [`MAX_CQ_ENTRIES`], checked at compile time), laid out as
/// the [module documentation](self) shows: `128 + 64·SQ + 16·CQ` bytes (rounded up to
/// 64), 64-byte aligned.
///
/// Place it in a `static` ([`QueuePair::new`] is `const`), in a linker section, or at a
/// fixed address ([`QueuePair::from_ptr`]); then attach a [`Host`] and/or a [`Device`].
#[repr(C)]
pub struct QueuePair<const SQ: usize, const CQ: usize> {
    sq: SqHeader,
    cq: CqHeader,
    sqes: [[AtomicU32; SQE_WORDS]; SQ],
    cqes: [[AtomicU32; CQE_WORDS]; CQ],
}

/// Builds a [`QueuePair`] with zeroed indices (shared by both `new`s).
macro_rules! empty_pair {
    () => {
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
    };
}

impl<const SQ: usize, const CQ: usize> QueuePair<SQ, CQ> {
    /// Compile-time checks of the sizes (and, with real atomics, of the layout).
    const LAYOUT_OK: () = {
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

    /// An empty queue pair: indices 0, `ring_mask` and `ring_entries` set, zeroed
    /// entries. `const`, so it can be a `static`'s initialiser.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        let () = Self::LAYOUT_OK;
        empty_pair!()
    }

    /// An empty queue pair (loom build: loom's atomics have no `const fn new`).
    #[cfg(loom)]
    pub fn new() -> Self {
        let () = Self::LAYOUT_OK;
        empty_pair!()
    }

    /// The queue pair at `ptr`: memory a host maps (a PCIe BAR, shared SRAM) or a linker
    /// symbol placed it at. Call [`QueuePair::init`] before either side attaches unless
    /// the memory already holds a set-up pair.
    ///
    /// # Safety
    ///
    /// - `ptr` is non-null, 64-byte aligned and valid for reads and writes of
    ///   `size_of::<QueuePair<SQ, CQ>>()` bytes for all of `'a`;
    /// - those bytes are initialised (any value will do: every bit pattern is a valid
    ///   `AtomicU32`);
    /// - for all of `'a`, everything else that touches them — the peer, DMA, other cores —
    ///   does so only with aligned 32-bit accesses that are atomic on this platform
    ///   (single-copy atomic stores and loads, as a PCIe or AXI master issues them), and
    ///   nothing in this program accesses them except through the returned reference.
    #[cfg(not(loom))]
    #[allow(unsafe_code)]
    pub unsafe fn from_ptr<'a>(ptr: *mut Self) -> &'a Self {
        let () = Self::LAYOUT_OK;
        // SAFETY: the caller guarantees `ptr` is non-null, aligned, valid and
        // initialised for 'a, and that all other accesses are atomic 32-bit ones, so a
        // shared reference to a struct made only of `AtomicU32`s is sound.
        unsafe { &*ptr }
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
    fn word(&self, index: usize) -> Option<&AtomicU32> {
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

    /// SQ slot of free-running index `i`.
    #[inline(always)]
    fn sqe_slot(&self, i: u32) -> &[AtomicU32; SQE_WORDS] {
        &self.sqes[i as usize & (SQ - 1)]
    }

    /// CQ slot of free-running index `i`.
    #[inline(always)]
    fn cqe_slot(&self, i: u32) -> &[AtomicU32; CQE_WORDS] {
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

/// Set (`on`) or clear `bit` in a flags word with a load and a store, leaving every other
/// bit as it is. Relaxed: a flags word is advisory and publishes no data.
#[inline]
fn set_flag(word: &AtomicU32, bit: u32, on: bool) {
    let old = word.load(Ordering::Relaxed);
    let new = if on { old | bit } else { old & !bit };
    if new != old {
        word.store(new, Ordering::Relaxed);
    }
}

/// Load an entry's words (relaxed: the acquire of the index that covers this slot came
/// first).
#[inline(always)]
fn load_words<const W: usize>(slot: &[AtomicU32; W]) -> [u32; W] {
    core::array::from_fn(|i| slot[i].load(Ordering::Relaxed))
}

/// Store an entry's words (relaxed: published by the index's release store).
#[inline(always)]
fn store_words<const W: usize>(slot: &[AtomicU32; W], words: [u32; W]) {
    for (w, v) in slot.iter().zip(words) {
        w.store(v, Ordering::Relaxed);
    }
}

/// Copy an SQE out of its slot, word by word.
#[inline(always)]
fn load_sqe(slot: &[AtomicU32; SQE_WORDS]) -> Sqe {
    zerocopy::transmute!(load_words(slot))
}

/// Copy an SQE into its slot, word by word.
#[inline(always)]
fn store_sqe(slot: &[AtomicU32; SQE_WORDS], sqe: &Sqe) {
    store_words::<SQE_WORDS>(slot, zerocopy::transmute!(*sqe));
}

/// Copy a CQE out of its slot.
#[inline(always)]
fn load_cqe(slot: &[AtomicU32; CQE_WORDS]) -> Cqe {
    zerocopy::transmute!(load_words(slot))
}

/// Copy a CQE into its slot.
#[inline(always)]
fn store_cqe(slot: &[AtomicU32; CQE_WORDS], cqe: &Cqe) {
    store_words::<CQE_WORDS>(slot, zerocopy::transmute!(*cqe));
}

/// Word indices (byte offset / 4) of the header fields, the same for every size: for
/// [`QueuePair::read_word`] / [`QueuePair::write_word`] (a debugger's view, a simulated
/// peer). The layout table in the module docs has them all.
pub mod word {
    /// SQ `head` (device).
    pub const SQ_HEAD: usize = 0;
    /// SQ `tail` (host).
    pub const SQ_TAIL: usize = 1;
    /// SQ `flags`.
    pub const SQ_FLAGS: usize = 4;
    /// SQ `dropped`.
    pub const SQ_DROPPED: usize = 5;
    /// CQ `head` (host).
    pub const CQ_HEAD: usize = 16;
    /// CQ `tail` (device).
    pub const CQ_TAIL: usize = 17;
    /// CQ `flags`.
    pub const CQ_FLAGS: usize = 21;
}

// The word indices are the header structs' offsets (the CQ header is the second line).
// Not under loom, whose atomics are larger than the words they model.
#[cfg(not(loom))]
const _: () = {
    use word::*;
    assert!(SQ_HEAD * 4 == offset_of!(SqHeader, head) && SQ_TAIL * 4 == offset_of!(SqHeader, tail));
    assert!(SQ_FLAGS * 4 == offset_of!(SqHeader, flags) && SQ_DROPPED * 4 == offset_of!(SqHeader, dropped));
    assert!(CQ_HEAD * 4 == 64 + offset_of!(CqHeader, head) && CQ_TAIL * 4 == 64 + offset_of!(CqHeader, tail));
    assert!(CQ_FLAGS * 4 == 64 + offset_of!(CqHeader, flags));
};

/// The host driver's side: produces SQEs, consumes CQEs.
///
/// Holds its SQ tail and CQ head privately; the device's indices are read once per call
/// and checked ([`ShmError`]).
pub struct Host<'a, const SQ: usize, const CQ: usize> {
    qp: &'a QueuePair<SQ, CQ>,
    sq_tail: u32,
    cq_head: u32,
}

impl<'a, const SQ: usize, const CQ: usize> Host<'a, SQ, CQ> {
    /// Attach to `qp`, adopting the SQ tail and CQ head it holds now (those
    /// [`QueuePair::new`] / [`QueuePair::init`] set); from then on the host keeps its own.
    pub fn new(qp: &'a QueuePair<SQ, CQ>) -> Self {
        // Relaxed: the pair was set up before this side was handed it (see `init`).
        Host { qp, sq_tail: qp.sq.tail.load(Ordering::Relaxed), cq_head: qp.cq.head.load(Ordering::Relaxed) }
    }

    /// Write as many of `sqes` as the SQ has room for and publish them with one tail
    /// store; returns how many (0 when the SQ is full).
    ///
    /// Errors: [`ShmError::SqCorrupt`] (and [`CORRUPT`] raised in the SQ flags) if the
    /// device's published SQ head is more than `SQ` entries away from the host's tail;
    /// nothing is written then.
    pub fn push(&mut self, sqes: &[Sqe]) -> Result<usize, ShmError> {
        let n = sqes.len().min(self.sq_space()? as usize);
        self.publish(&sqes[..n]);
        Ok(n)
    }

    /// Write all of `sqes` and publish them with one tail store — or nothing, when they
    /// do not all fit (`Ok(false)`). A link chain must reach the device whole: a chain
    /// published in two parts may be run as two (an open chain at the end of what the
    /// device sees runs as submitted, as in Linux).
    ///
    /// Errors: as [`Host::push`].
    pub fn push_whole(&mut self, sqes: &[Sqe]) -> Result<bool, ShmError> {
        if sqes.len() > self.sq_space()? as usize {
            return Ok(false);
        }
        self.publish(sqes);
        Ok(true)
    }

    /// Free SQ slots, from the device's published head (checked).
    fn sq_space(&self) -> Result<u32, ShmError> {
        // Acquire: pairs with the device's release store of the SQ head (`take_with`):
        // its loads of the slots it gave back happen before the stores in `publish`.
        let head = self.qp.sq.head.load(Ordering::Acquire);
        let used = self.sq_tail.wrapping_sub(head);
        if used > SQ as u32 {
            set_flag(&self.qp.sq.flags, CORRUPT, true);
            return Err(ShmError::SqCorrupt { head, tail: self.sq_tail });
        }
        Ok(SQ as u32 - used)
    }

    /// Write `sqes` (which fit) and publish them.
    fn publish(&mut self, sqes: &[Sqe]) {
        let n = sqes.len();
        if n == 0 {
            return;
        }
        let mut tail = self.sq_tail;
        for sqe in sqes {
            store_sqe(self.qp.sqe_slot(tail), sqe);
            tail = tail.wrapping_add(1);
        }
        self.sq_tail = tail;
        // Release: pairs with the device's acquire load of the SQ tail (`take_with`):
        // the entry stores above are visible to it once it sees this tail.
        self.qp.sq.tail.store(tail, Ordering::Release);
    }

    /// Copy up to `out.len()` CQEs out of the CQ, oldest first, and give their slots back
    /// with one head store; returns how many.
    ///
    /// Errors: [`ShmError::CqCorrupt`] (and [`CORRUPT`] raised in the CQ flags) if the
    /// device's published CQ tail is more than `CQ` entries ahead of the host's head (or
    /// behind it); nothing is consumed then.
    pub fn reap(&mut self, out: &mut [Cqe]) -> Result<usize, ShmError> {
        // Acquire: pairs with the device's release store of the CQ tail (`post_with`):
        // the CQE stores before it are visible to the loads below.
        let tail = self.qp.cq.tail.load(Ordering::Acquire);
        let avail = tail.wrapping_sub(self.cq_head);
        if avail > CQ as u32 {
            set_flag(&self.qp.cq.flags, CORRUPT, true);
            return Err(ShmError::CqCorrupt { head: self.cq_head, tail });
        }
        let n = out.len().min(avail as usize);
        if n == 0 {
            return Ok(0);
        }
        let mut head = self.cq_head;
        for slot in &mut out[..n] {
            *slot = load_cqe(self.qp.cqe_slot(head));
            head = head.wrapping_add(1);
        }
        self.cq_head = head;
        // Release: pairs with the device's acquire load of the CQ head (`post_with`): the
        // loads above happen before it overwrites these slots.
        self.qp.cq.head.store(head, Ordering::Release);
        Ok(n)
    }

    /// The host's SQ tail (its private copy: SQEs it has published, free-running).
    pub fn sq_tail(&self) -> u32 {
        self.sq_tail
    }

    /// The host's CQ head (its private copy: CQEs it has reaped, free-running).
    pub fn cq_head(&self) -> u32 {
        self.cq_head
    }

    /// The SQ flags word as the device left it ([`CQ_OVERFLOW`], [`CORRUPT`]). Advisory:
    /// the device may write anything there.
    pub fn sq_flags(&self) -> u32 {
        // Relaxed: advisory, publishes nothing.
        self.qp.sq.flags.load(Ordering::Relaxed)
    }

    /// The CQ flags word ([`CORRUPT`]). Advisory.
    pub fn cq_flags(&self) -> u32 {
        // Relaxed: advisory, publishes nothing.
        self.qp.cq.flags.load(Ordering::Relaxed)
    }

    /// The SQ `dropped` counter as the device left it: SQ batches it refused. Advisory.
    pub fn dropped(&self) -> u32 {
        // Relaxed: advisory, publishes nothing.
        self.qp.sq.dropped.load(Ordering::Relaxed)
    }
}

/// The firmware's side: consumes SQEs, produces CQEs; [`Device::feed`] and
/// [`Device::flush`] connect it to a [`Ring`].
///
/// Holds its SQ head and CQ tail privately; the host's indices are read once per call
/// and checked ([`ShmError`]).
///
/// ```
/// use fwring::shm::{Device, Host, QueuePair};
/// use fwring::{Cqe, Errno, Ring, Setup, SetupFlags, Sqe, SqeFlags};
///
/// // The shared memory (here a static; on hardware `QueuePair::from_ptr`).
/// static QP: QueuePair<8, 16> = QueuePair::new();
/// let mut host = Host::new(&QP);
/// let mut device = Device::new(&QP);
/// let mut ring: Ring<8, 16, 8> = Ring::new();
/// ring.setup(Setup::new(8).flags(SetupFlags::SUBMIT_ALL)).unwrap();
///
/// // Host: three SQEs, published with one tail store.
/// let sqes = [
///     Sqe::nop().user_data(1).flags(SqeFlags::IO_LINK),
///     Sqe::nop_inject(-5).user_data(2),
///     Sqe::new(200).user_data(3), // no such opcode
/// ];
/// assert_eq!(host.push(&sqes), Ok(3));
///
/// // Device loop: SQEs into the ring, run them, CQEs out to shared memory.
/// assert_eq!(device.feed(&mut ring), Ok(3));
/// let _ = ring.submit();
/// assert_eq!(device.flush(&mut ring), Ok(3));
///
/// // Host: reap. As in Linux, the link successor (2) completes one pass after its
/// // predecessor, so after the independent request 3.
/// let mut cqes = [Cqe::default(); 8];
/// assert_eq!(host.reap(&mut cqes), Ok(3));
/// assert_eq!(cqes[..3], [Cqe::new(1, 0), Cqe::new(3, Errno::EINVAL.res()), Cqe::new(2, -5)]);
/// ```
pub struct Device<'a, const SQ: usize, const CQ: usize> {
    qp: &'a QueuePair<SQ, CQ>,
    sq_head: u32,
    cq_tail: u32,
    dropped: u32,
    backpressure: bool,
}

impl<'a, const SQ: usize, const CQ: usize> Device<'a, SQ, CQ> {
    /// Attach to `qp`, adopting the SQ head and CQ tail it holds now (those
    /// [`QueuePair::new`] / [`QueuePair::init`] set); from then on the device keeps its
    /// own.
    pub fn new(qp: &'a QueuePair<SQ, CQ>) -> Self {
        // Relaxed: the pair was set up before this side was handed it (see `init`).
        Device {
            qp,
            sq_head: qp.sq.head.load(Ordering::Relaxed),
            cq_tail: qp.cq.tail.load(Ordering::Relaxed),
            dropped: qp.sq.dropped.load(Ordering::Relaxed),
            backpressure: false,
        }
    }

    /// Consume up to `max` SQEs, oldest first, handing each (copied out once) to
    /// `accept`; stops early at the first SQE `accept` refuses (it stays in the SQ).
    /// Publishes the new head once. Returns (taken, available when the call started).
    fn take_with(&mut self, max: u32, accept: impl FnMut(Sqe) -> bool) -> Result<(u32, u32), ShmError> {
        self.take_chains(max, None, accept)
    }

    /// [`Device::take_with`], taking only whole link chains when `whole_chains` is
    /// `Some(room_is_everything)`: SQEs up to the last chain boundary within `max`. A
    /// chain longer than the whole room (`room_is_everything`) is cut at `max`, as a
    /// kernel cuts a chain longer than its SQ. The look-ahead reads only flag bytes; a
    /// peer changing them before the copy can only move where a chain is cut.
    fn take_chains(
        &mut self,
        max: u32,
        whole_chains: Option<bool>,
        mut accept: impl FnMut(Sqe) -> bool,
    ) -> Result<(u32, u32), ShmError> {
        // Acquire: pairs with the host's release store of the SQ tail (`Host::push`): its
        // SQE stores are visible to the loads below.
        let tail = self.qp.sq.tail.load(Ordering::Acquire);
        let avail = tail.wrapping_sub(self.sq_head);
        if avail > SQ as u32 {
            self.dropped = self.dropped.wrapping_add(1);
            // Relaxed: a counter for the host to read, publishes nothing.
            self.qp.sq.dropped.store(self.dropped, Ordering::Relaxed);
            set_flag(&self.qp.sq.flags, CORRUPT, true);
            return Err(ShmError::SqCorrupt { head: self.sq_head, tail });
        }
        let mut n = avail.min(max);
        if let Some(room_is_everything) = whole_chains {
            const LINK_BITS: u32 = ((SqeFlags::IO_LINK.bits() | SqeFlags::IO_HARDLINK.bits()) as u32) << 8;
            let boundary = (0..n)
                .rev()
                .find(|&i| {
                    // Relaxed: ordered after the acquire of the tail above; only a hint.
                    self.qp.sqe_slot(self.sq_head.wrapping_add(i))[0].load(Ordering::Relaxed) & LINK_BITS == 0
                })
                .map_or(0, |i| i + 1);
            // An open chain at the end of what the host published runs as submitted only
            // when nothing else is waiting for it in shared memory... or in the ring.
            let open_end = boundary < n && n == avail;
            if boundary > 0 {
                n = boundary;
            } else if !(room_is_everything && (n == max || open_end)) {
                n = 0;
            }
        }
        let mut taken = 0;
        while taken < n {
            let sqe = load_sqe(self.qp.sqe_slot(self.sq_head.wrapping_add(taken)));
            if !accept(sqe) {
                break;
            }
            taken += 1;
        }
        if taken > 0 {
            self.sq_head = self.sq_head.wrapping_add(taken);
            // Release: pairs with the host's acquire load of the SQ head (`Host::push`):
            // the loads above happen before it overwrites these slots.
            self.qp.sq.head.store(self.sq_head, Ordering::Release);
        }
        Ok((taken, avail))
    }

    /// Produce CQEs from `next` while the CQ has room (`next` is called only when a slot
    /// is free, so nothing it hands over is ever lost), then publish the new tail once.
    fn post_with(&mut self, mut next: impl FnMut() -> Option<Cqe>) -> Result<u32, ShmError> {
        // Acquire: pairs with the host's release store of the CQ head (`Host::reap`): its
        // loads of the slots it gave back happen before the stores below reuse them.
        let head = self.qp.cq.head.load(Ordering::Acquire);
        let used = self.cq_tail.wrapping_sub(head);
        if used > CQ as u32 {
            set_flag(&self.qp.cq.flags, CORRUPT, true);
            return Err(ShmError::CqCorrupt { head, tail: self.cq_tail });
        }
        let space = CQ as u32 - used;
        let mut n = 0;
        while n < space {
            let Some(cqe) = next() else { break };
            store_cqe(self.qp.cqe_slot(self.cq_tail.wrapping_add(n)), &cqe);
            n += 1;
        }
        if n > 0 {
            self.cq_tail = self.cq_tail.wrapping_add(n);
            // Release: pairs with the host's acquire load of the CQ tail (`Host::reap`):
            // the CQE stores above are visible to it once it sees this tail.
            self.qp.cq.tail.store(self.cq_tail, Ordering::Release);
        }
        Ok(n)
    }

    /// Copy up to `out.len()` SQEs out of the SQ, oldest first, each read exactly once,
    /// and give their slots back with one head store; returns how many.
    ///
    /// Errors: [`ShmError::SqCorrupt`] if the host's SQ tail is more than `SQ` entries
    /// ahead of the device's head (or behind it): nothing is consumed, [`CORRUPT`] is
    /// raised in the SQ flags and `dropped` is incremented.
    pub fn take(&mut self, out: &mut [Sqe]) -> Result<usize, ShmError> {
        let max = u32::try_from(out.len()).unwrap_or(u32::MAX);
        let mut slots = out.iter_mut();
        let (n, _) = self.take_with(max, |sqe| match slots.next() {
            Some(slot) => {
                *slot = sqe;
                true
            }
            None => false,
        })?;
        Ok(n as usize)
    }

    /// Write as many of `cqes` as the CQ has room for and publish them with one tail
    /// store; returns how many (0 when the CQ is full).
    ///
    /// Errors: [`ShmError::CqCorrupt`] (and [`CORRUPT`] raised in the CQ flags) if the
    /// host's CQ head is more than `CQ` entries away from the device's tail; nothing is
    /// written then.
    pub fn post(&mut self, cqes: &[Cqe]) -> Result<usize, ShmError> {
        let mut it = cqes.iter();
        self.post_with(|| it.next().copied()).map(|n| n as usize)
    }

    /// Move SQEs from shared memory into `ring`'s SQ, as many as are published and the
    /// ring has room for, with one head store; returns how many.
    ///
    /// Backpressure: when SQEs are waiting that the ring cannot take because its last
    /// [`Ring::submit`] stopped for lack of CQ room ([`SqRingFlags::CQ_OVERFLOW`] on the
    /// ring), [`CQ_OVERFLOW`] is raised in the shared SQ flags; it is cleared by the
    /// first `feed` that finds no such wait.
    ///
    /// Link chains move whole: a chain that does not fit the room left in the ring's SQ
    /// waits in shared memory for the next `feed` (after a `submit` emptied the SQ). Only
    /// a chain longer than the ring's whole SQ is cut — at that length, running as
    /// submitted, as a kernel cuts a chain longer than its SQ — and a chain still open at
    /// the end of what the host published goes in only when nothing else waits ahead of
    /// it. Works on a [`Ring`] or on the [`crate::Submitter`] of a split one.
    ///
    /// Errors: as [`Device::take`]; the ring is untouched then.
    pub fn feed<R: SqSink>(&mut self, ring: &mut R) -> Result<u32, ShmError> {
        let (space, room_is_everything) = (ring.sq_space(), ring.sq_is_empty());
        // `push` cannot refuse (`space` bounds the count), but if it did the SQE would
        // stay in shared memory, not be lost.
        let (taken, avail) = self.take_chains(space, Some(room_is_everything), |sqe| ring.push_sqe(sqe).is_ok())?;
        let stalled = taken < avail && ring.backpressured();
        self.set_backpressure(stalled);
        Ok(taken)
    }

    /// Move CQEs from `ring` into shared memory, as many as the shared CQ has room for,
    /// with one tail store; returns how many. A CQE is popped from the ring only once its
    /// slot is known to be free: none is ever lost.
    ///
    /// Errors: as [`Device::post`]; the ring is untouched then.
    pub fn flush<R: CqSource>(&mut self, ring: &mut R) -> Result<u32, ShmError> {
        self.post_with(|| ring.pop_cqe())
    }

    /// Raise (`true`) or clear [`CQ_OVERFLOW`] in the shared SQ flags: the device stops
    /// (or resumes) taking SQEs because completions have no room. [`Device::feed`] does
    /// this itself; a device loop that does not use it calls this. Writes shared memory
    /// only when the state changes.
    pub fn set_backpressure(&mut self, on: bool) {
        if on != self.backpressure {
            self.backpressure = on;
            set_flag(&self.qp.sq.flags, CQ_OVERFLOW, on);
        }
    }

    /// Whether the device has [`CQ_OVERFLOW`] raised (its private state).
    pub fn backpressure(&self) -> bool {
        self.backpressure
    }

    /// The device's SQ head (its private copy: SQEs consumed, free-running).
    pub fn sq_head(&self) -> u32 {
        self.sq_head
    }

    /// The device's CQ tail (its private copy: CQEs posted, free-running).
    pub fn cq_tail(&self) -> u32 {
        self.cq_tail
    }

    /// SQ batches refused as corrupt since the pair was set up (the device's count,
    /// published in the SQ `dropped` word; wrapping).
    pub fn dropped(&self) -> u32 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::setup::Setup;

    type Qp = QueuePair<4, 8>;

    use super::word::*;

    fn sqe(n: u64) -> Sqe {
        Sqe::nop().user_data(n).len(n as u32).off(!n)
    }

    fn sqe_word(slot: usize, w: usize) -> usize {
        Qp::SQES_OFFSET / 4 + slot * SQE_WORDS + w
    }

    fn cqe_word(slot: usize, w: usize) -> usize {
        Qp::CQES_OFFSET / 4 + slot * CQE_WORDS + w
    }

    /// Every word of the block.
    fn snapshot(qp: &Qp) -> [u32; Qp::WORDS] {
        core::array::from_fn(|i| qp.read_word(i).unwrap_or(0xdead))
    }

    #[test]
    fn layout_pins_every_offset_and_reports_them_as_io_uring_offsets() {
        let sq = Qp::sq_ring_offsets();
        assert_eq!(
            [sq.head, sq.tail, sq.ring_mask, sq.ring_entries, sq.flags, sq.dropped, sq.array, sq.resv1],
            [0, 4, 8, 12, 16, 20, 0, 0]
        );
        let cq = Qp::cq_ring_offsets();
        assert_eq!(
            [cq.head, cq.tail, cq.ring_mask, cq.ring_entries, cq.overflow, cq.flags, cq.cqes, cq.resv1],
            [64, 68, 72, 76, 80, 84, 128 + 4 * 64, 0]
        );
        assert_eq!(Qp::SQES_OFFSET, 128);
        assert_eq!(Qp::CQES_OFFSET, 128 + 4 * 64);
        assert_eq!(size_of::<Qp>(), 128 + 4 * 64 + 8 * 16);
        assert_eq!(Qp::WORDS * 4, size_of::<Qp>());
        assert_eq!(size_of::<QueuePair<32, 64>>(), 128 + 32 * 64 + 64 * 16);
        assert_eq!(QueuePair::<32, 64>::CQES_OFFSET, 128 + 32 * 64);
        let p = Qp::params();
        assert_eq!((p.sq_entries, p.cq_entries, p.flags), (4, 8, SetupFlags::NO_SQARRAY.bits()));
        assert_eq!((p.sq_off, p.cq_off), (sq, cq));

        // The words a host finds at those offsets.
        let qp = Qp::new();
        let at = |off: u32| qp.read_word(off as usize / 4);
        assert_eq!([at(sq.ring_mask), at(sq.ring_entries)], [Some(3), Some(4)]);
        assert_eq!([at(cq.ring_mask), at(cq.ring_entries), at(cq.overflow)], [Some(7), Some(8), Some(0)]);
        assert_eq!(qp.read_word(Qp::WORDS), None);
        assert!(!qp.write_word(Qp::WORDS, 1));
        assert!(qp.write_word(Qp::WORDS - 1, 1));
        assert_eq!(qp.read_word(cqe_word(7, 3)), Some(1));
    }

    #[test]
    fn sqe_and_cqe_words_are_their_abi_bytes() {
        let qp = Qp::new();
        let mut host = Host::new(&qp);
        let s = Sqe::nop_inject(-5).user_data(0x1122_3344_5566_7788).flags(SqeFlags::IO_LINK);
        assert_eq!(host.push(&[s]), Ok(1));
        let bytes: [u8; 64] = zerocopy::transmute!(s);
        for w in 0..SQE_WORDS {
            let b = u32::from_ne_bytes([bytes[4 * w], bytes[4 * w + 1], bytes[4 * w + 2], bytes[4 * w + 3]]);
            assert_eq!(qp.read_word(sqe_word(0, w)), Some(b));
        }
        let mut dev = Device::new(&qp);
        assert_eq!(dev.post(&[Cqe { user_data: 0xaabb_ccdd_0011_2233, res: -22, flags: 7 }]), Ok(1));
        assert_eq!(qp.read_word(cqe_word(0, 0)), Some(0x0011_2233));
        assert_eq!(qp.read_word(cqe_word(0, 1)), Some(0xaabb_ccdd));
        assert_eq!(qp.read_word(cqe_word(0, 2)), Some(-22i32 as u32));
        assert_eq!(qp.read_word(cqe_word(0, 3)), Some(7));
    }

    #[test]
    fn push_take_post_reap_round_trip() {
        let qp = Qp::new();
        let (mut host, mut dev) = (Host::new(&qp), Device::new(&qp));
        assert_eq!(host.push(&[sqe(1), sqe(2), sqe(3)]), Ok(3));
        assert_eq!(qp.read_word(SQ_TAIL), Some(3));
        let mut got = [Sqe::default(); 8];
        assert_eq!(dev.take(&mut got[..2]), Ok(2));
        assert_eq!(got[..2], [sqe(1), sqe(2)]);
        assert_eq!(qp.read_word(SQ_HEAD), Some(2));
        assert_eq!(dev.take(&mut got), Ok(1));
        assert_eq!(got[0], sqe(3));
        assert_eq!(dev.post(&[Cqe::new(1, 0), Cqe::new(2, -5)]), Ok(2));
        assert_eq!(qp.read_word(CQ_TAIL), Some(2));
        let mut cqes = [Cqe::default(); 8];
        assert_eq!(host.reap(&mut cqes), Ok(2));
        assert_eq!(cqes[..2], [Cqe::new(1, 0), Cqe::new(2, -5)]);
        assert_eq!(qp.read_word(CQ_HEAD), Some(2));
        assert_eq!((host.sq_tail(), host.cq_head(), dev.sq_head(), dev.cq_tail()), (3, 2, 3, 2));
        assert_eq!((host.sq_flags(), host.cq_flags(), host.dropped()), (0, 0, 0));
    }

    #[test]
    fn full_and_empty_rings_take_nothing_and_give_nothing() {
        let qp = Qp::new();
        let (mut host, mut dev) = (Host::new(&qp), Device::new(&qp));
        let mut out = [Sqe::default(); 8];
        assert_eq!(dev.take(&mut out), Ok(0));
        assert_eq!(host.reap(&mut [Cqe::default(); 8]), Ok(0));
        let batch: [Sqe; 6] = core::array::from_fn(|i| sqe(i as u64));
        assert_eq!(host.push(&batch), Ok(4), "only SQ = 4 fit");
        assert_eq!(host.push(&batch), Ok(0), "full");
        assert_eq!(dev.take(&mut out[..1]), Ok(1));
        assert_eq!(host.push(&batch[4..]), Ok(1));
        assert_eq!(dev.take(&mut out), Ok(4));
        assert_eq!(out[..4], [sqe(1), sqe(2), sqe(3), sqe(4)]);
        let cqes: [Cqe; 10] = core::array::from_fn(|i| Cqe::new(i as u64, 0));
        assert_eq!(dev.post(&cqes), Ok(8));
        assert_eq!(dev.post(&cqes), Ok(0));
        assert_eq!(dev.take(&mut out), Ok(0));
        let mut back = [Cqe::default(); 10];
        assert_eq!(host.reap(&mut back), Ok(8));
        assert_eq!(back[..8], cqes[..8]);
        assert_eq!(host.reap(&mut back), Ok(0));
        assert_eq!(host.push(&[]), Ok(0));
        assert_eq!(dev.take(&mut []), Ok(0));
    }

    #[test]
    fn indices_wrap_across_u32_overflow() {
        let qp = Qp::new();
        qp.init(u32::MAX - 5);
        let (mut host, mut dev) = (Host::new(&qp), Device::new(&qp));
        let mut next = 0u64;
        let mut want_sqe = 0u64;
        let mut want_cqe = 0u64;
        for round in 0..20 {
            let batch: [Sqe; 3] = core::array::from_fn(|i| sqe(next + i as u64));
            let n = host.push(&batch[..1 + round % 3]).unwrap();
            next += n as u64;
            let mut out = [Sqe::default(); 4];
            let t = dev.take(&mut out).unwrap();
            let mut cqes = [Cqe::default(); 4];
            for (i, s) in out[..t].iter().enumerate() {
                assert_eq!(*s, sqe(want_sqe));
                want_sqe += 1;
                cqes[i] = Cqe::new(s.user_data, s.len as i32);
            }
            assert_eq!(dev.post(&cqes[..t]), Ok(t));
            let mut back = [Cqe::default(); 8];
            let r = host.reap(&mut back).unwrap();
            for c in &back[..r] {
                assert_eq!(*c, Cqe::new(want_cqe, want_cqe as i32));
                want_cqe += 1;
            }
        }
        assert_eq!(want_cqe, next);
        assert!(next > 6, "crossed u32::MAX");
        assert_eq!(host.sq_tail(), (u32::MAX - 5).wrapping_add(next as u32));
        assert_eq!(dev.sq_head(), host.sq_tail());
        assert_eq!(dev.cq_tail(), host.cq_head());
        assert_eq!(qp.read_word(SQ_TAIL), Some(host.sq_tail()));
    }

    #[test]
    fn sq_tail_ahead_by_entries_plus_one_is_refused_and_reported() {
        let qp = Qp::new();
        qp.init(u32::MAX - 1);
        let (mut host, mut dev) = (Host::new(&qp), Device::new(&qp));
        assert_eq!(host.push(&[sqe(1)]), Ok(1));
        let head = dev.sq_head();
        let bad = head.wrapping_add(4 + 1);
        assert!(qp.write_word(SQ_TAIL, bad));
        let before = snapshot(&qp);
        let mut out = [Sqe::default(); 8];
        assert_eq!(dev.take(&mut out), Err(ShmError::SqCorrupt { head, tail: bad }));
        assert_eq!(out, [Sqe::default(); 8], "nothing consumed");
        assert_eq!(dev.sq_head(), head);
        assert_eq!(dev.dropped(), 1);
        assert_eq!(qp.read_word(SQ_DROPPED), Some(1));
        assert_eq!(qp.read_word(SQ_FLAGS), Some(CORRUPT));
        // Only the flags and dropped words changed.
        let after = snapshot(&qp);
        for (i, (a, b)) in before.iter().zip(&after).enumerate() {
            if i != SQ_FLAGS && i != SQ_DROPPED {
                assert_eq!(a, b, "word {i}");
            }
        }
        // Refused again while it stays corrupt; `dropped` counts each refused batch.
        assert!(dev.take(&mut out).is_err());
        assert_eq!((dev.dropped(), host.dropped()), (2, 2));
        // Exactly `entries` ahead is fine: a full ring (of stale entries).
        assert!(qp.write_word(SQ_TAIL, head.wrapping_add(4)));
        assert_eq!(dev.take(&mut out), Ok(4));
        assert_eq!(out[0], sqe(1));
        assert_eq!(qp.read_word(SQ_FLAGS), Some(CORRUPT), "sticky");
    }

    #[test]
    fn sq_tail_behind_the_device_head_is_refused() {
        let qp = Qp::new();
        let (mut host, mut dev) = (Host::new(&qp), Device::new(&qp));
        assert_eq!(host.push(&[sqe(1), sqe(2)]), Ok(2));
        assert_eq!(dev.take(&mut [Sqe::default(); 2]), Ok(2));
        assert!(qp.write_word(SQ_TAIL, 1));
        assert_eq!(dev.take(&mut [Sqe::default(); 2]), Err(ShmError::SqCorrupt { head: 2, tail: 1 }));
        assert_eq!(dev.sq_head(), 2);
        // The honest host's own tail is private: its next push republishes 3.
        assert_eq!(host.push(&[sqe(3)]), Ok(1));
        let mut out = [Sqe::default(); 2];
        assert_eq!(dev.take(&mut out), Ok(1));
        assert_eq!(out[0], sqe(3));
    }

    #[test]
    fn sq_head_ahead_of_tail_or_way_behind_is_refused_by_the_host() {
        let qp = Qp::new();
        qp.init(u32::MAX);
        let mut host = Host::new(&qp);
        assert_eq!(host.push(&[sqe(1)]), Ok(1));
        let tail = host.sq_tail();
        for bad_head in [tail.wrapping_add(1), tail.wrapping_sub(5), tail.wrapping_add(1 << 31)] {
            assert!(qp.write_word(SQ_HEAD, bad_head));
            let before = snapshot(&qp);
            assert_eq!(host.push(&[sqe(9); 3]), Err(ShmError::SqCorrupt { head: bad_head, tail }));
            assert_eq!(host.sq_tail(), tail, "nothing produced");
            let after = snapshot(&qp);
            for (i, (a, b)) in before.iter().zip(&after).enumerate() {
                if i != SQ_FLAGS {
                    assert_eq!(a, b, "word {i}");
                }
            }
            assert_eq!(host.sq_flags() & CORRUPT, CORRUPT);
        }
        // Exactly `entries` behind: full, not corrupt.
        assert!(qp.write_word(SQ_HEAD, tail.wrapping_sub(4)));
        assert_eq!(host.push(&[sqe(2)]), Ok(0));
        assert!(qp.write_word(SQ_HEAD, tail));
        assert_eq!(host.push(&[sqe(2)]), Ok(1));
    }

    #[test]
    fn cq_indices_out_of_range_are_refused_by_both_sides() {
        let qp = Qp::new();
        qp.init(0x7fff_fffe);
        let (mut host, mut dev) = (Host::new(&qp), Device::new(&qp));
        assert_eq!(dev.post(&[Cqe::new(1, 0), Cqe::new(2, 0)]), Ok(2));
        let (head, tail) = (host.cq_head(), dev.cq_tail());
        // Device (producer) sees the host's head ahead of its tail, or far behind.
        for bad_head in [tail.wrapping_add(1), tail.wrapping_sub(9), head ^ 0x8000_0000] {
            assert!(qp.write_word(CQ_HEAD, bad_head));
            assert_eq!(dev.post(&[Cqe::new(3, 0)]), Err(ShmError::CqCorrupt { head: bad_head, tail }));
            assert_eq!(dev.cq_tail(), tail);
        }
        assert_eq!(qp.read_word(CQ_FLAGS), Some(CORRUPT));
        assert!(qp.write_word(CQ_FLAGS, 0));
        // Host (consumer) sees the device's tail entries + 1 ahead, or behind its head.
        for bad_tail in [head.wrapping_add(9), head.wrapping_sub(1)] {
            assert!(qp.write_word(CQ_TAIL, bad_tail));
            let mut out = [Cqe::default(); 8];
            assert_eq!(host.reap(&mut out), Err(ShmError::CqCorrupt { head, tail: bad_tail }));
            assert_eq!(out, [Cqe::default(); 8]);
            assert_eq!(host.cq_head(), head);
            assert_eq!(host.cq_flags(), CORRUPT);
        }
        // Both recover once the words are sane again.
        assert!(qp.write_word(CQ_TAIL, tail));
        assert!(qp.write_word(CQ_HEAD, head));
        let mut out = [Cqe::default(); 8];
        assert_eq!(host.reap(&mut out), Ok(2));
        assert_eq!(out[..2], [Cqe::new(1, 0), Cqe::new(2, 0)]);
        assert_eq!(dev.post(&[Cqe::new(3, 0)]), Ok(1));
    }

    #[test]
    fn garbage_in_flags_mask_entries_and_padding_changes_nothing() {
        let qp = Qp::new();
        let (mut host, mut dev) = (Host::new(&qp), Device::new(&qp));
        for i in [2, 3, 4, 5, 6, 15, 18, 19, 20, 21, 22, 31] {
            assert!(qp.write_word(i, 0xffff_ffff));
        }
        assert_eq!(host.push(&[sqe(1), sqe(2), sqe(3), sqe(4), sqe(5)]), Ok(4));
        let mut out = [Sqe::default(); 8];
        assert_eq!(dev.take(&mut out), Ok(4));
        assert_eq!(out[3], sqe(4));
        let cqes = [Cqe::new(1, 1); 9];
        assert_eq!(dev.post(&cqes), Ok(8));
        assert_eq!(host.reap(&mut [Cqe::default(); 9]), Ok(8));
        // The device's flag writes touch only its own bit.
        assert!(qp.write_word(SQ_FLAGS, 0x0000_f0f0));
        dev.set_backpressure(true);
        assert_eq!(host.sq_flags(), 0x0000_f0f0 | CQ_OVERFLOW);
        dev.set_backpressure(false);
        assert_eq!(host.sq_flags(), 0x0000_f0f0);
    }

    #[test]
    fn a_peer_rewriting_our_published_index_is_ignored() {
        let qp = Qp::new();
        let (mut host, mut dev) = (Host::new(&qp), Device::new(&qp));
        assert_eq!(host.push(&[sqe(1), sqe(2)]), Ok(2));
        // The host scribbles over the device's SQ head: the device never reads it back.
        assert!(qp.write_word(SQ_HEAD, 1));
        let mut out = [Sqe::default(); 4];
        assert_eq!(dev.take(&mut out), Ok(2));
        assert_eq!(out[..2], [sqe(1), sqe(2)]);
        assert_eq!(qp.read_word(SQ_HEAD), Some(2), "republished from the private copy");
        // The device scribbles over the host's CQ head and SQ tail.
        assert_eq!(dev.post(&[Cqe::new(1, 0)]), Ok(1));
        assert!(qp.write_word(CQ_HEAD, 1));
        assert!(qp.write_word(SQ_TAIL, 0));
        let mut cqes = [Cqe::default(); 2];
        assert_eq!(host.reap(&mut cqes), Ok(1));
        assert_eq!(cqes[0], Cqe::new(1, 0));
        assert_eq!(host.push(&[sqe(3)]), Ok(1));
        assert_eq!(qp.read_word(SQ_TAIL), Some(3));
    }

    #[test]
    fn entries_mutated_after_publication_are_read_once() {
        let qp = Qp::new();
        let (mut host, mut dev) = (Host::new(&qp), Device::new(&qp));
        assert_eq!(host.push(&[sqe(1), sqe(2)]), Ok(2));
        // Rewritten after publication, before the device reads: it sees the new value,
        // whole, in one copy.
        assert!(qp.write_word(sqe_word(0, 0), 200));
        let mut out = [Sqe::default(); 1];
        assert_eq!(dev.take(&mut out), Ok(1));
        assert_eq!(out[0], Sqe { opcode: 200, ..sqe(1) });
        // Rewritten after the device copied it: the copy does not change.
        let mut ring: Ring<4, 8, 4> = Ring::new();
        assert_eq!(dev.feed(&mut ring), Ok(1));
        for w in 0..SQE_WORDS {
            assert!(qp.write_word(sqe_word(1, w), 0xffff_ffff));
        }
        let _ = ring.submit();
        assert_eq!(ring.pop(), Some(Cqe::new(2, 0)));
        // Same for CQEs the host copied.
        assert_eq!(dev.post(&[Cqe::new(5, 5)]), Ok(1));
        let mut cqes = [Cqe::default(); 1];
        assert_eq!(host.reap(&mut cqes), Ok(1));
        assert!(qp.write_word(cqe_word(0, 2), 0));
        assert_eq!(cqes[0], Cqe::new(5, 5));
    }

    #[test]
    fn feed_and_flush_bridge_the_ring_without_losing_a_cqe() {
        let qp = Qp::new();
        let (mut host, mut dev) = (Host::new(&qp), Device::new(&qp));
        // Ring CQ of 4, shared CQ of 8: 12 completions can wait before backpressure.
        let mut ring: Ring<4, 4, 4> = Ring::new();
        ring.setup(Setup::new(4).cq_entries(4).flags(SetupFlags::SUBMIT_ALL)).unwrap();
        let mut next = 0u64;
        let mut rounds = 0;
        loop {
            let batch: [Sqe; 4] = core::array::from_fn(|i| Sqe::nop().user_data(next + i as u64));
            next += host.push(&batch).unwrap() as u64;
            dev.feed(&mut ring).unwrap();
            let _ = ring.submit();
            dev.flush(&mut ring).unwrap();
            rounds += 1;
            if host.sq_flags() & CQ_OVERFLOW != 0 {
                break;
            }
            assert!(rounds < 10, "backpressure never raised");
        }
        assert!(dev.backpressure());
        // Shared CQ full (8), ring CQ full (4), ring SQ full (4), shared SQ full (4).
        assert_eq!(dev.cq_tail(), 8);
        assert_eq!(ring.cq().len(), 4);
        assert_eq!(host.push(&[Sqe::nop()]), Ok(0));
        // Reap everything while the device keeps looping: every user_data exactly once,
        // in order, and the flag clears.
        let mut want = 0u64;
        let mut cqes = [Cqe::default(); 3];
        while want < next {
            let n = host.reap(&mut cqes).unwrap();
            for c in &cqes[..n] {
                assert_eq!(*c, Cqe::new(want, 0));
                want += 1;
            }
            dev.feed(&mut ring).unwrap();
            let _ = ring.submit();
            dev.flush(&mut ring).unwrap();
        }
        assert!(!dev.backpressure());
        assert_eq!(host.sq_flags() & CQ_OVERFLOW, 0);
        assert_eq!(ring.pop(), None);
    }

    #[test]
    fn feed_and_flush_refuse_corrupt_indices_and_leave_the_ring_alone() {
        let qp = Qp::new();
        let (mut host, mut dev) = (Host::new(&qp), Device::new(&qp));
        let mut ring: Ring<4, 8, 4> = Ring::new();
        assert_eq!(host.push(&[Sqe::nop().user_data(1)]), Ok(1));
        assert!(qp.write_word(SQ_TAIL, 100));
        assert_eq!(dev.feed(&mut ring), Err(ShmError::SqCorrupt { head: 0, tail: 100 }));
        assert_eq!(ring.sq().len(), 0);
        assert!(qp.write_word(SQ_TAIL, 1));
        assert_eq!(dev.feed(&mut ring), Ok(1));
        let _ = ring.submit();
        assert!(qp.write_word(CQ_HEAD, 50));
        assert_eq!(dev.flush(&mut ring), Err(ShmError::CqCorrupt { head: 50, tail: 0 }));
        assert_eq!(ring.cq().len(), 1, "the CQE stays in the ring");
        assert!(qp.write_word(CQ_HEAD, 0));
        assert_eq!(dev.flush(&mut ring), Ok(1));
        let mut c = [Cqe::default(); 1];
        assert_eq!(host.reap(&mut c), Ok(1));
        assert_eq!(c[0], Cqe::new(1, 0));
    }

    #[test]
    fn errors_display_head_and_tail() {
        use core::fmt::Write;
        let text = |e: ShmError| {
            let mut s = heapless::String::<64>::new();
            write!(s, "{e}").expect("fits");
            s
        };
        assert_eq!(text(ShmError::SqCorrupt { head: 1, tail: 9 }), "SQ indices corrupt: head 1, tail 9");
        assert_eq!(text(ShmError::CqCorrupt { head: 2, tail: 0 }), "CQ indices corrupt: head 2, tail 0");
    }

    /// A queue pair is placeable in a `static` (const `new`, `Sync`).
    static STATIC_QP: QueuePair<2, 2> = QueuePair::new();

    #[test]
    fn a_queue_pair_lives_in_a_static() {
        let mut host = Host::new(&STATIC_QP);
        let mut dev = Device::new(&STATIC_QP);
        assert_eq!(host.push(&[sqe(7)]), Ok(1));
        let mut out = [Sqe::default(); 1];
        assert_eq!(dev.take(&mut out), Ok(1));
        assert_eq!(out[0], sqe(7));
    }

    #[test]
    fn from_ptr_reads_the_same_memory() {
        let qp = Qp::new();
        let ptr = &qp as *const Qp as *mut Qp;
        #[allow(unsafe_code)]
        // SAFETY: `qp` outlives `same`, is aligned and initialised, and is only ever
        // accessed atomically.
        let same: &Qp = unsafe { Qp::from_ptr(ptr) };
        let mut host = Host::new(same);
        assert_eq!(host.push(&[sqe(1)]), Ok(1));
        assert_eq!(qp.read_word(SQ_TAIL), Some(1));
    }
}
