//! The submission queue: a power-of-two array of SQEs with free-running indices.
//!
//! The producer (application) writes at `tail`, the ring consumes at `head` during
//! [`Ring::submit`](crate::Ring::submit). Indices are free-running `u32` counters and a
//! slot is `index & mask` (C-ABI-6), exactly as in Linux's mmap'd SQ (in `NO_SQARRAY`
//! mode: no index indirection). The queue's memory is the ring's own, so a queue set up
//! smaller than its storage may use any of its slots (see `queue::index`).

use crate::abi::{Sqe, SqeFlags};
use crate::queue::index::Indices;

/// A submission queue with storage for `N` SQEs (`N` a power of two).
pub struct SubmissionQueue<const N: usize> {
    entries: [Sqe; N],
    idx: Indices,
}

const LINK_BITS: u8 = SqeFlags::LINKS.bits();

impl<const N: usize> SubmissionQueue<N> {
    const CAPACITY_OK: () = assert!(N.is_power_of_two() && N <= 1 << 15, "SQ capacity must be a power of two ≤ 32768");

    /// An empty queue using all `N` entries.
    pub const fn new() -> Self {
        let () = Self::CAPACITY_OK;
        SubmissionQueue { entries: [Sqe::new(0); N], idx: Indices::new::<N>(N as u32) }
    }

    /// Use only the first `entries` slots (a power of two ≤ `N`); empties the queue.
    pub(crate) fn resize(&mut self, entries: u32) {
        debug_assert!(entries.is_power_of_two() && entries as usize <= N);
        self.idx = Indices::new::<N>(entries);
    }

    /// Entries in use (`ring_entries`).
    pub const fn capacity(&self) -> u32 {
        self.idx.capacity::<N>()
    }

    /// SQEs waiting to be consumed.
    pub const fn len(&self) -> u32 {
        self.idx.len()
    }

    /// Whether no SQE is waiting.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Free slots.
    pub const fn space(&self) -> u32 {
        self.capacity() - self.len()
    }

    /// Append an SQE. When the queue is full the SQE is handed back (C-FLAG-3).
    #[inline]
    pub fn push(&mut self, sqe: Sqe) -> Result<(), Sqe> {
        if self.idx.is_full::<N>() {
            return Err(sqe);
        }
        self.entries[self.idx.slot::<N>(self.idx.tail)] = sqe;
        self.idx.tail = self.idx.tail.wrapping_add(1);
        Ok(())
    }

    /// Append as many SQEs of `sqes` as fit; returns how many were taken.
    pub fn push_slice(&mut self, sqes: &[Sqe]) -> usize {
        let n = sqes.len().min(self.space() as usize);
        for sqe in &sqes[..n] {
            self.entries[self.idx.slot::<N>(self.idx.tail)] = *sqe;
            self.idx.tail = self.idx.tail.wrapping_add(1);
        }
        n
    }

    /// The SQE `i` places after the head (caller guarantees `i < len()`).
    #[inline]
    pub(crate) fn peek(&self, i: u32) -> &Sqe {
        &self.entries[self.idx.slot::<N>(self.idx.head.wrapping_add(i))]
    }

    /// The storage, the head index and the mask, for a consumer loop that reads many
    /// entries without touching the queue's own fields.
    #[inline]
    pub(crate) fn consumer(&self) -> (&[Sqe; N], Indices) {
        (&self.entries, self.idx)
    }

    #[inline]
    pub(crate) fn advance_by(&mut self, n: u32) {
        self.idx.advance_by(n);
    }

    /// Length of the link chain starting at the head, counted from the SQE flag bytes
    /// alone (how Linux groups SQEs into chains, valid or not), capped at `limit`.
    #[inline]
    pub(crate) fn chain_len(&self, limit: u32) -> u32 {
        let mut n = 0;
        loop {
            let flags = self.peek(n).flags;
            n += 1;
            if flags & LINK_BITS == 0 || n >= limit {
                return n;
            }
        }
    }
}

impl<const N: usize> Default for SubmissionQueue<N> {
    fn default() -> Self {
        Self::new()
    }
}
