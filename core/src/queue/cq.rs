//! The completion queue: a power-of-two array of CQEs with reservations, shareable
//! between the ring (producer) and a reaper in another context (consumer).
//!
//! No CQE is ever dropped or overwritten (C-CQ-3, C-CQ-4). Every SQE the ring consumes
//! reserves one CQ slot first; the reservation is spent when its CQE is posted and
//! returned when the request ends without one (CQE_SKIP_SUCCESS). So at all times
//! `posted-but-unreaped + reserved ≤ entries`, and posting cannot fail. When a submit
//! finds no room it stops consuming SQEs (backpressure) instead.
//!
//! The queue is split the io_uring way: [`CqShared`] holds the entries and the two
//! free-running indices, as atomics (each CQE is four `u32` words, so a reaper in an
//! interrupt handler or on another core reads them race-free, with no `unsafe`);
//! [`CqProducer`] is the ring's private side (next tail, reservations). The producer
//! writes entries with relaxed stores and publishes its tail with one release store per
//! batch; the consumer acquires the tail, reads, and releases its head.

use crate::abi::Cqe;
use crate::queue::index::Indices;
use crate::sync::{AtomicU32, Ordering, array_of, const_fn_unless_loom};

/// One CQE slot: two 64-bit words where the target has 64-bit atomics, four 32-bit
/// words elsewhere (`user_data`, then `res` and `flags`).
#[cfg(target_has_atomic = "64")]
pub(crate) struct CqeCell([crate::sync::AtomicU64; 2]);

#[cfg(target_has_atomic = "64")]
impl CqeCell {
    const_fn_unless_loom! {
        fn new() -> CqeCell {
            CqeCell(array_of!(crate::sync::AtomicU64::new(0); 2))
        }
    }

    #[inline]
    fn store(&self, cqe: &Cqe) {
        let [a, b] = &self.0;
        a.store(cqe.user_data, Ordering::Relaxed);
        b.store(cqe.res as u32 as u64 | (cqe.flags as u64) << 32, Ordering::Relaxed);
    }

    #[inline]
    fn load(&self) -> Cqe {
        let [a, b] = &self.0;
        let w = b.load(Ordering::Relaxed);
        Cqe { user_data: a.load(Ordering::Relaxed), res: w as u32 as i32, flags: (w >> 32) as u32 }
    }
}

/// One CQE slot: four 32-bit words (`user_data` lo/hi, `res`, `flags`).
#[cfg(not(target_has_atomic = "64"))]
pub(crate) struct CqeCell([AtomicU32; 4]);

#[cfg(not(target_has_atomic = "64"))]
impl CqeCell {
    const_fn_unless_loom! {
        fn new() -> CqeCell {
            CqeCell(array_of!(AtomicU32::new(0); 4))
        }
    }

    #[inline]
    fn store(&self, cqe: &Cqe) {
        let [a, b, c, d] = &self.0;
        a.store(cqe.user_data as u32, Ordering::Relaxed);
        b.store((cqe.user_data >> 32) as u32, Ordering::Relaxed);
        c.store(cqe.res as u32, Ordering::Relaxed);
        d.store(cqe.flags, Ordering::Relaxed);
    }

    #[inline]
    fn load(&self) -> Cqe {
        let [a, b, c, d] = &self.0;
        let lo = a.load(Ordering::Relaxed) as u64;
        let hi = b.load(Ordering::Relaxed) as u64;
        Cqe { user_data: lo | hi << 32, res: c.load(Ordering::Relaxed) as i32, flags: d.load(Ordering::Relaxed) }
    }
}

/// The shared half of a completion queue with storage for `N` CQEs (`N` a power of two).
///
/// It holds no size: the entries in use (`Params::cq_entries`, at most `N`) are the
/// producer's business — it never has more CQEs out than that — and a CQE's slot is its
/// index modulo `N` whatever the size, so the reaper needs nothing but the indices, and
/// an empty queue is all zeros.
pub struct CqShared<const N: usize> {
    entries: [CqeCell; N],
    /// Consumer index (written by the reaper).
    head: AtomicU32,
    /// Producer index (written by the ring).
    tail: AtomicU32,
}

impl<const N: usize> CqShared<N> {
    const CAPACITY_OK: () = assert!(N.is_power_of_two() && N <= 1 << 16, "CQ capacity must be a power of two ≤ 65536");

    const_fn_unless_loom! {
        /// An empty queue.
        pub(crate) fn new() -> Self {
            let () = Self::CAPACITY_OK;
            CqShared { entries: array_of!(CqeCell::new(); N), head: AtomicU32::new(0), tail: AtomicU32::new(0) }
        }
    }

    /// Empty the queue (a new setup). Only while nobody else holds the queue (`&mut`).
    pub(crate) fn reset(&mut self) {
        self.head = AtomicU32::new(0);
        self.tail = AtomicU32::new(0);
    }

    /// CQEs published and not yet reaped.
    pub fn len(&self) -> u32 {
        // Pairs with the producer's release of the tail.
        self.tail.load(Ordering::Acquire).wrapping_sub(self.head.load(Ordering::Acquire))
    }

    /// Whether no published CQE is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn slot(&self, index: u32) -> &CqeCell {
        &self.entries[Indices { head: 0, tail: 0, end: 0 }.slot::<N>(index)]
    }

    /// Reap the oldest published CQE. Only one consumer may call this at a time (the
    /// [`Reaper`](crate::Reaper) is unique; `Ring::pop` takes `&mut Ring`).
    #[inline]
    pub(crate) fn pop(&self) -> Option<Cqe> {
        // Only the consumer writes head.
        let head = self.head.load(Ordering::Relaxed);
        // Pairs with the producer's release store of the tail: entries before it are
        // written.
        if head == self.tail.load(Ordering::Acquire) {
            return None;
        }
        let cqe = self.slot(head).load();
        // Hand the slot back: pairs with the producer's acquire of the head.
        self.head.store(head.wrapping_add(1), Ordering::Release);
        Some(cqe)
    }

    /// The oldest published CQE, left in place.
    pub(crate) fn peek(&self) -> Option<Cqe> {
        let head = self.head.load(Ordering::Relaxed);
        if head == self.tail.load(Ordering::Acquire) {
            return None;
        }
        Some(self.slot(head).load())
    }
}

/// The ring's private side of the completion queue.
pub(crate) struct CqProducer {
    /// Next index to write (published as the shared tail at the end of a batch).
    tail: u32,
    /// Slots promised to requests in flight.
    reserved: u32,
    /// Entries in use: 0 (no room at all) until the ring is set up, at its first use.
    entries: u32,
}

impl CqProducer {
    /// Not set up yet: no room.
    pub(crate) const fn new() -> Self {
        CqProducer { tail: 0, reserved: 0, entries: 0 }
    }

    /// An empty queue of `entries` entries.
    pub(crate) const fn with_entries(entries: u32) -> Self {
        CqProducer { tail: 0, reserved: 0, entries }
    }

    /// Entries in use.
    pub(crate) fn capacity(&self) -> u32 {
        self.entries
    }

    /// Slots promised to requests in flight.
    pub(crate) fn reserved(&self) -> u32 {
        self.reserved
    }

    /// CQEs written and not yet reaped (published or not).
    pub(crate) fn len<const N: usize>(&self, sh: &CqShared<N>) -> u32 {
        // Pairs with the consumer's release of the head: slots before it are free.
        self.tail.wrapping_sub(sh.head.load(Ordering::Acquire))
    }

    /// Slots neither filled nor promised: how many more SQEs a submit may consume.
    #[inline]
    pub(crate) fn room<const N: usize>(&self, sh: &CqShared<N>) -> u32 {
        // Filled and promised slots never exceed the entries (and a reaper only moves
        // the head up to the tail), so their sum cannot wrap; one saturating step keeps
        // the answer in range whatever happens.
        self.capacity().saturating_sub(self.len(sh).wrapping_add(self.reserved))
    }

    /// `room() != 0`, as one compare: filled and promised slots below the entries.
    #[inline]
    pub(crate) fn has_room<const N: usize>(&self, sh: &CqShared<N>) -> bool {
        self.len(sh).wrapping_add(self.reserved) < self.capacity()
    }

    #[inline]
    pub(crate) fn reserve(&mut self) {
        self.reserved += 1;
    }

    #[inline]
    pub(crate) fn unreserve(&mut self) {
        debug_assert!(self.reserved > 0);
        self.reserved = self.reserved.saturating_sub(1);
    }

    /// Post into a slot reserved earlier.
    #[inline]
    pub(crate) fn post_reserved<const N: usize>(&mut self, sh: &CqShared<N>, cqe: Cqe) {
        self.unreserve();
        self.post_unreserved(sh, cqe);
    }

    /// Post into a free slot the caller has checked is there (`room() > 0` before the
    /// SQE was consumed, with no reservation taken for it).
    #[inline]
    pub(crate) fn post_unreserved<const N: usize>(&mut self, sh: &CqShared<N>, cqe: Cqe) {
        sh.slot(self.tail).store(&cqe);
        self.tail = self.tail.wrapping_add(1);
    }

    /// The index the next CQE is posted at.
    #[inline(always)]
    pub(crate) fn tail(&self) -> u32 {
        self.tail
    }

    /// Write `cqe` at `index`, a free slot at or past the tail the caller has checked is
    /// there, leaving the tail where it is: a run's CQEs written out of order, which
    /// [`CqProducer::advance`] then takes in.
    #[inline(always)]
    pub(crate) fn post_at<const N: usize>(&self, sh: &CqShared<N>, index: u32, cqe: &Cqe) {
        sh.slot(index).store(cqe);
    }

    /// Take in `n` CQEs written with [`CqProducer::post_at`].
    #[inline(always)]
    pub(crate) fn advance(&mut self, n: u32) {
        self.tail = self.tail.wrapping_add(n);
    }

    /// Post a run of CQEs into free slots the caller has checked are there (`room()` at
    /// least `budget`, no reservation taken for them): `next()` gives the next one, or
    /// `None` to end the run. Returns how many were posted. The tail stays in a
    /// register for the run (the entries are atomics, which the compiler does not move
    /// plain loads and stores across), and the loop counts down the budget, so a caller
    /// walking its own index keeps three values live, not four.
    #[inline(always)]
    pub(crate) fn post_run<const N: usize>(
        &mut self,
        sh: &CqShared<N>,
        budget: u32,
        mut next: impl FnMut() -> Option<Cqe>,
    ) -> u32 {
        let start = self.tail;
        let mut tail = start;
        let mut left = budget;
        while left != 0 {
            let Some(cqe) = next() else { break };
            sh.slot(tail).store(&cqe);
            tail = tail.wrapping_add(1);
            left -= 1;
        }
        self.tail = tail;
        tail.wrapping_sub(start)
    }

    /// Make every CQE written so far visible to the consumer: one release per batch.
    #[inline]
    pub(crate) fn publish<const N: usize>(&self, sh: &CqShared<N>) {
        // Pairs with the consumer's acquire load of the tail.
        sh.tail.store(self.tail, Ordering::Release);
    }
}
