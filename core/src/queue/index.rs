//! Free-running ring indices (C-ABI-6): `head` and `tail` are `u32` counters that wrap,
//! the number of entries is `tail - head` (wrapping), and an index's slot in storage of
//! `N` entries (a power of two) is `index & (N - 1)`.
//!
//! A queue set up to use fewer entries than its storage holds (`entries = N - unused`)
//! still spreads them over the whole storage: nobody outside the ring sees the storage,
//! and encoding the size as the entries left unused makes the empty full-size queue all
//! zeros.

#[derive(Clone, Copy, Debug)]
pub(crate) struct Indices {
    pub head: u32,
    pub tail: u32,
    /// Storage entries the queue leaves unused: it holds `N - unused`.
    pub unused: u32,
}

impl Indices {
    /// Empty, with `entries` (a power of two ≤ `N`) in use.
    pub const fn new<const N: usize>(entries: u32) -> Self {
        Indices { head: 0, tail: 0, unused: N as u32 - entries }
    }

    /// Entries in use (`ring_entries`).
    #[inline]
    pub const fn capacity<const N: usize>(&self) -> u32 {
        N as u32 - self.unused
    }

    /// Entries between head and tail.
    #[inline]
    pub const fn len(&self) -> u32 {
        self.tail.wrapping_sub(self.head)
    }

    /// The storage slot of `index` in an array of `N` entries.
    #[inline(always)]
    pub const fn slot<const N: usize>(&self, index: u32) -> usize {
        index as usize & (N - 1)
    }
}
