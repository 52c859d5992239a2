//! The host driver's side of a queue pair.

use super::layout::*;
use super::*;
use crate::abi::{Cqe, Sqe};
use crate::sync::Ordering;

/// The host driver's side: produces SQEs, consumes CQEs.
///
/// Holds its SQ tail and CQ head privately; the device's indices are read once per call
/// and checked ([`ShmError`]).
pub struct HostEnd<'a, const SQ: usize, const CQ: usize> {
    qp: &'a QueuePair<SQ, CQ>,
    sq_tail: u32,
    cq_head: u32,
}

impl<'a, const SQ: usize, const CQ: usize> HostEnd<'a, SQ, CQ> {
    /// Attach to `qp`, adopting the SQ tail and CQ head it holds now (those
    /// [`QueuePair::new`] / [`QueuePair::init`] set); from then on the host keeps its own.
    pub fn new(qp: &'a QueuePair<SQ, CQ>) -> Self {
        // Relaxed: the pair was set up before this side was handed it (see `init`).
        HostEnd { qp, sq_tail: qp.sq.tail.load(Ordering::Relaxed), cq_head: qp.cq.head.load(Ordering::Relaxed) }
    }

    /// Write as many of `sqes` as the SQ has room for and publish them with one tail
    /// store; returns how many (0 when the SQ is full).
    ///
    /// Errors: [`ShmError::SqCorrupt`] (and [`CORRUPT`](ShmFlags::CORRUPT) raised in the SQ flags) if the
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
    /// Errors: as [`HostEnd::push`].
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
        Ok(SQ as u32 - self.qp.sq_used(head, self.sq_tail)?)
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
    /// Errors: [`ShmError::CqCorrupt`] (and [`CORRUPT`](ShmFlags::CORRUPT) raised in the CQ flags) if the
    /// device's published CQ tail is more than `CQ` entries ahead of the host's head (or
    /// behind it); nothing is consumed then.
    pub fn reap(&mut self, out: &mut [Cqe]) -> Result<usize, ShmError> {
        // Acquire: pairs with the device's release store of the CQ tail (`post_with`):
        // the CQE stores before it are visible to the loads below.
        let tail = self.qp.cq.tail.load(Ordering::Acquire);
        let avail = self.qp.cq_used(self.cq_head, tail)?;
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

    /// The SQ flags word as the device left it ([`CQ_OVERFLOW`](ShmFlags::CQ_OVERFLOW), [`CORRUPT`](ShmFlags::CORRUPT)). Advisory:
    /// the device may write anything there.
    pub fn sq_flags(&self) -> ShmFlags {
        // Relaxed: advisory, publishes nothing.
        ShmFlags::from_bits_retain(self.qp.sq.flags.load(Ordering::Relaxed))
    }

    /// The CQ flags word ([`CORRUPT`](ShmFlags::CORRUPT)). Advisory.
    pub fn cq_flags(&self) -> ShmFlags {
        // Relaxed: advisory, publishes nothing.
        ShmFlags::from_bits_retain(self.qp.cq.flags.load(Ordering::Relaxed))
    }

    /// The SQ `dropped` counter as the device left it: SQ batches it refused. Advisory.
    pub fn dropped(&self) -> u32 {
        // Relaxed: advisory, publishes nothing.
        self.qp.sq.dropped.load(Ordering::Relaxed)
    }
}
