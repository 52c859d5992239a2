//! The completion queue: a power-of-two array of CQEs with reservations.
//!
//! No CQE is ever dropped or overwritten (C-CQ-3, C-CQ-4). Every SQE the ring consumes
//! reserves one CQ slot first; the reservation is spent when its CQE is posted and
//! returned when the request ends without one (CQE_SKIP_SUCCESS). So at all times
//! `posted-but-unreaped + reserved ≤ entries`, and posting cannot fail. When a submit
//! finds no room it stops consuming SQEs (backpressure) instead.

use crate::abi::Cqe;
use crate::index::Indices;

/// A completion queue with storage for `N` CQEs (`N` a power of two).
pub struct CompletionQueue<const N: usize> {
    entries: [Cqe; N],
    idx: Indices,
    reserved: u32,
}

impl<const N: usize> CompletionQueue<N> {
    const CAPACITY_OK: () = assert!(N.is_power_of_two() && N <= 1 << 16, "CQ capacity must be a power of two ≤ 65536");

    /// An empty queue using all `N` entries.
    pub const fn new() -> Self {
        let () = Self::CAPACITY_OK;
        CompletionQueue { entries: [Cqe::new(0, 0); N], idx: Indices::new(N as u32), reserved: 0 }
    }

    pub(crate) fn resize(&mut self, entries: u32) {
        debug_assert!(entries.is_power_of_two() && entries as usize <= N);
        self.idx = Indices::new(entries);
        self.reserved = 0;
    }

    /// Entries in use (`ring_entries`).
    pub const fn capacity(&self) -> u32 {
        self.idx.capacity()
    }

    /// CQEs posted and not yet reaped.
    pub const fn len(&self) -> u32 {
        self.idx.len()
    }

    /// Whether no CQE is waiting.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slots promised to requests in flight.
    pub const fn reserved(&self) -> u32 {
        self.reserved
    }

    /// Slots neither filled nor promised: how many more SQEs a submit may consume.
    #[inline]
    pub const fn room(&self) -> u32 {
        self.capacity() - self.len() - self.reserved
    }

    /// Reap the oldest CQE.
    #[inline]
    pub fn pop(&mut self) -> Option<Cqe> {
        if self.idx.head == self.idx.tail {
            return None;
        }
        let cqe = self.entries[self.idx.slot::<N>(self.idx.head)];
        self.idx.head = self.idx.head.wrapping_add(1);
        Some(cqe)
    }

    /// The oldest CQE, left in place.
    pub fn peek(&self) -> Option<&Cqe> {
        if self.idx.head == self.idx.tail {
            return None;
        }
        Some(&self.entries[self.idx.slot::<N>(self.idx.head)])
    }

    #[inline]
    pub(crate) fn reserve(&mut self) {
        debug_assert!(self.room() > 0);
        self.reserved += 1;
    }

    #[inline]
    pub(crate) fn unreserve(&mut self) {
        debug_assert!(self.reserved > 0);
        self.reserved = self.reserved.saturating_sub(1);
    }

    /// The storage, the tail index and the mask, for a producer loop that posts many
    /// entries into free (unreserved) slots; [`CompletionQueue::produced`] publishes them.
    #[inline]
    pub(crate) fn producer(&mut self) -> (&mut [Cqe; N], Indices) {
        (&mut self.entries, self.idx)
    }

    /// Publish `n` entries written through [`CompletionQueue::producer`].
    #[inline]
    pub(crate) fn produced(&mut self, n: u32) {
        debug_assert!(self.len() + n <= self.capacity());
        self.idx.tail = self.idx.tail.wrapping_add(n);
    }

    /// Post into a slot reserved earlier.
    #[inline]
    pub(crate) fn post_reserved(&mut self, cqe: Cqe) {
        self.unreserve();
        self.post_unreserved(cqe);
    }

    /// Post into a free slot the caller has checked is there (`room() > 0` before the
    /// SQE was consumed, with no reservation taken for it).
    #[inline]
    pub(crate) fn post_unreserved(&mut self, cqe: Cqe) {
        debug_assert!(self.len() < self.capacity());
        self.entries[self.idx.slot::<N>(self.idx.tail)] = cqe;
        self.idx.tail = self.idx.tail.wrapping_add(1);
    }
}

impl<const N: usize> Default for CompletionQueue<N> {
    fn default() -> Self {
        Self::new()
    }
}
