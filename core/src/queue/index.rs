//! Free-running ring indices (C-ABI-6): `head` and `tail` are `u32` counters that wrap,
//! the number of entries is `tail - head` (wrapping), and an index's slot in storage of
//! `N` entries (a power of two) is `index & (N - 1)`.
//!
//! A queue set up to use fewer entries than its storage holds still spreads them over
//! the whole storage: nobody outside the ring sees the storage. Its size is kept as the
//! tail at which it is full, less `N` (`end`): zero for the empty full-size queue, so a
//! new queue is all zeros, and a producer's full check is one compare with the tail.

#[derive(Clone, Copy, Debug)]
pub(crate) struct Indices {
    pub head: u32,
    pub tail: u32,
    /// The tail at which the queue is full (`head` + entries in use), less `N`.
    pub end: u32,
}

impl Indices {
    /// Empty, with `entries` (a power of two ≤ `N`) in use.
    pub const fn new<const N: usize>(entries: u32) -> Self {
        Indices { head: 0, tail: 0, end: entries.wrapping_sub(N as u32) }
    }

    /// Entries in use (`ring_entries`).
    #[inline]
    pub const fn capacity<const N: usize>(&self) -> u32 {
        self.end.wrapping_add(N as u32).wrapping_sub(self.head)
    }

    /// Whether the producer may not add an entry: the tail is at the end.
    #[inline(always)]
    pub const fn is_full<const N: usize>(&self) -> bool {
        self.tail == self.end.wrapping_add(N as u32)
    }

    /// Consume `n` entries: the head, and the end with it, move on.
    #[inline(always)]
    pub fn advance_by(&mut self, n: u32) {
        self.head = self.head.wrapping_add(n);
        self.end = self.end.wrapping_add(n);
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
