//! The shared-memory queue pair: a host's SQ and CQ in memory both sides map, as
//! storage-device firmware consumes them.
//!
//! A host driver writes SQEs into a submission queue in shared memory (a PCIe BAR, a
//! mailbox SRAM, a region two cores map) and the firmware answers with CQEs in a
//! completion queue there — io_uring's mmap'd rings, with the device in the kernel's
//! place. [`QueuePair`] is that memory; [`HostEnd`] is the driver's side and [`DeviceEnd`] the
//! firmware's. [`DeviceEnd::feed`] and [`DeviceEnd::flush`] bridge it to a [`Ring`](crate::Ring), so a
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
//! | 16 | SQ `flags`: [`CQ_OVERFLOW`](ShmFlags::CQ_OVERFLOW), [`CORRUPT`](ShmFlags::CORRUPT) | device (host: [`CORRUPT`](ShmFlags::CORRUPT) only) |
//! | 20 | SQ `dropped`: SQ batches the device refused | device |
//! | 24..64 | padding (SQ header = one 64-byte cache line) | — |
//! | 64 | CQ `head` | host |
//! | 68 | CQ `tail` | device |
//! | 72 | CQ `ring_mask` = `CQ − 1` | [`QueuePair::init`] (never read back) |
//! | 76 | CQ `ring_entries` = `CQ` | [`QueuePair::init`] (never read back) |
//! | 80 | CQ `overflow`: always 0 (no CQE is ever dropped) | [`QueuePair::init`] |
//! | 84 | CQ `flags`: [`CORRUPT`](ShmFlags::CORRUPT) | host (device: [`CORRUPT`](ShmFlags::CORRUPT) only) |
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
//!   [`HostEnd::new`]/[`DeviceEnd::new`] adopt them once, at attach time).
//! - A consumer that finds the producer's tail more than the ring's entries ahead of its
//!   own head (`tail − head > entries`, wrapping: this also catches a tail *behind* the
//!   head), or a producer that finds the consumer's head more than the ring's entries
//!   away from its own tail, **refuses the batch**: it consumes or produces nothing,
//!   raises [`CORRUPT`](ShmFlags::CORRUPT) in that ring's flags word, the device bumps the SQ `dropped`
//!   counter (for an SQ batch it refused), and the call returns
//!   [`ShmError::SqCorrupt`] / [`ShmError::CqCorrupt`] with the `head` and `tail` it
//!   saw. Its private state is unchanged; the next call checks afresh.
//! - Every call does bounded work: at most one ring's entries, never a loop on a value
//!   the peer controls.
//! - Each SQE (CQE) is copied out of shared memory exactly once, word by word, into a
//!   local [`Sqe`](crate::Sqe) ([`Cqe`](crate::Cqe)) before anything looks at it: an entry the peer rewrites
//!   after (or while) it is read changes nothing the reader already holds.
//!
//! A flags word is written with a load and a store (no read-modify-write), changing only
//! the writer's bits. In honest operation only the device writes the SQ flags
//! ([`CQ_OVERFLOW`](ShmFlags::CQ_OVERFLOW)) and nobody writes the CQ flags, so no update is lost; [`CORRUPT`](ShmFlags::CORRUPT) is
//! written only once a peer has broken the protocol, as a diagnostic for it. The honest
//! side never decides anything from a flags word: its guarantee is the returned error.

mod bridge;
mod device;
mod host;
mod layout;
#[cfg(test)]
mod tests;

use core::fmt;
#[cfg(not(loom))]
use core::mem::offset_of;

use bitflags::bitflags;

pub use bridge::{CqSource, SqSink};
pub use device::DeviceEnd;
pub use host::HostEnd;
pub use layout::QueuePair;
#[cfg(not(loom))]
use layout::{CqHeader, SqHeader};

use crate::abi::SqRingFlags;

/// 32-bit words in an SQE (64 bytes).
pub const SQE_WORDS: usize = 16;
/// 32-bit words in a CQE (16 bytes).
pub const CQE_WORDS: usize = 4;
/// Largest SQ (Linux's `IORING_MAX_ENTRIES`).
pub const MAX_SQ_ENTRIES: usize = 1 << 15;
/// Largest CQ (Linux's `IORING_MAX_CQ_ENTRIES` is larger; this keeps every offset in a
/// `u32` and the block well under 4 GiB).
pub const MAX_CQ_ENTRIES: usize = 1 << 16;

bitflags! {
    /// A ring's flags word in the queue pair (the SQ `flags` and CQ `flags` words). The
    /// peer may write anything there: a side reads the word with every bit kept
    /// ([`HostEnd::sq_flags`]) and never decides anything from it.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
    pub struct ShmFlags: u32 {
        /// `IORING_SQ_CQ_OVERFLOW` (bit 1 of the SQ flags): the device stopped taking
        /// SQEs because completions have no room (backpressure). Reap CQEs; the device
        /// clears it when it takes SQEs again.
        const CQ_OVERFLOW = SqRingFlags::CQ_OVERFLOW.bits();
        /// Bit 31 (a fwring extension, clear of Linux's `IORING_SQ_*` / `IORING_CQ_*`
        /// bits): a side found this ring's indices impossible — `tail − head` (wrapping)
        /// greater than the ring's entries — and refused a batch. Sticky: no honest side
        /// ever clears it.
        const CORRUPT = 1 << 31;
    }
}

#[cfg(feature = "defmt")]
#[cfg_attr(docsrs, doc(cfg(feature = "defmt")))]
impl defmt::Format for ShmFlags {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "ShmFlags({=u32:#x})", self.bits())
    }
}

const _: () = assert!(ShmFlags::CQ_OVERFLOW.bits() == 1 << 1 && ShmFlags::CORRUPT.bits() == 1 << 31);

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
