//! Free-running ring indices, shared by the SQ and the CQ (C-ABI-6): `head` and `tail`
//! are `u32` counters that wrap, the number of entries is `tail - head` (wrapping), and
//! an index's slot is `index & mask` with `mask + 1` a power of two.

#[derive(Clone, Copy, Debug)]
pub(crate) struct Indices {
    pub head: u32,
    pub tail: u32,
    pub mask: u32,
}

impl Indices {
    /// Empty, with `entries` (a power of two) in use.
    pub const fn new(entries: u32) -> Self {
        Indices { head: 0, tail: 0, mask: entries - 1 }
    }

    /// Entries in use (`ring_entries`).
    #[inline]
    pub const fn capacity(&self) -> u32 {
        self.mask + 1
    }

    /// Entries between head and tail.
    #[inline]
    pub const fn len(&self) -> u32 {
        self.tail.wrapping_sub(self.head)
    }

    /// The storage slot of `index` in an array of `N` entries: `index & mask`, also
    /// masked by `N - 1` so the bound is visible to the compiler (no bounds check).
    #[inline(always)]
    pub const fn slot<const N: usize>(&self, index: u32) -> usize {
        (index & self.mask) as usize & (N - 1)
    }
}
