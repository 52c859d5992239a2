//! The device's side of a queue pair, and its bridge calls into a ring.

use super::layout::*;
use super::*;
use crate::abi::{Cqe, Sqe, SqeFlags};
use crate::sync::Ordering;

/// The firmware's side: consumes SQEs, produces CQEs; [`DeviceEnd::feed`] and
/// [`DeviceEnd::flush`] connect it to a [`Ring`](crate::Ring).
///
/// Holds its SQ head and CQ tail privately; the host's indices are read once per call
/// and checked ([`ShmError`]).
///
/// ```
/// use fwring::shm::{DeviceEnd, HostEnd, QueuePair};
/// use fwring::{Cqe, Errno, Ring, Setup, SetupFlags, Sqe, SqeFlags};
///
/// // The shared memory (here a static; on hardware `QueuePair::from_ptr`).
/// static QP: QueuePair<8, 16> = QueuePair::new();
/// let mut host = HostEnd::new(&QP);
/// let mut device = DeviceEnd::new(&QP);
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
pub struct DeviceEnd<'a, const SQ: usize, const CQ: usize> {
    qp: &'a QueuePair<SQ, CQ>,
    sq_head: u32,
    cq_tail: u32,
    dropped: u32,
    backpressure: bool,
}

impl<'a, const SQ: usize, const CQ: usize> DeviceEnd<'a, SQ, CQ> {
    /// Attach to `qp`, adopting the SQ head and CQ tail it holds now (those
    /// [`QueuePair::new`] / [`QueuePair::init`] set); from then on the device keeps its
    /// own.
    pub fn new(qp: &'a QueuePair<SQ, CQ>) -> Self {
        // Relaxed: the pair was set up before this side was handed it (see `init`).
        DeviceEnd {
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

    /// [`DeviceEnd::take_with`], taking only whole link chains when `whole_chains` is
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
        // Acquire: pairs with the host's release store of the SQ tail (`HostEnd::push`): its
        // SQE stores are visible to the loads below.
        let tail = self.qp.sq.tail.load(Ordering::Acquire);
        let qp = self.qp;
        let avail = qp.sq_used(self.sq_head, tail).inspect_err(|_| {
            self.dropped = self.dropped.wrapping_add(1);
            // Relaxed: a counter for the host to read, publishes nothing.
            qp.sq.dropped.store(self.dropped, Ordering::Relaxed);
        })?;
        let mut n = avail.min(max);
        if let Some(room_is_everything) = whole_chains {
            const LINK_BITS: u32 = (SqeFlags::LINKS.bits() as u32) << 8;
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
            // Release: pairs with the host's acquire load of the SQ head (`HostEnd::push`):
            // the loads above happen before it overwrites these slots.
            self.qp.sq.head.store(self.sq_head, Ordering::Release);
        }
        Ok((taken, avail))
    }

    /// Produce CQEs from `next` while the CQ has room (`next` is called only when a slot
    /// is free, so nothing it hands over is ever lost), then publish the new tail once.
    fn post_with(&mut self, mut next: impl FnMut() -> Option<Cqe>) -> Result<u32, ShmError> {
        // Acquire: pairs with the host's release store of the CQ head (`HostEnd::reap`): its
        // loads of the slots it gave back happen before the stores below reuse them.
        let head = self.qp.cq.head.load(Ordering::Acquire);
        let space = CQ as u32 - self.qp.cq_used(head, self.cq_tail)?;
        let mut n = 0;
        while n < space {
            let Some(cqe) = next() else { break };
            store_cqe(self.qp.cqe_slot(self.cq_tail.wrapping_add(n)), &cqe);
            n += 1;
        }
        if n > 0 {
            self.cq_tail = self.cq_tail.wrapping_add(n);
            // Release: pairs with the host's acquire load of the CQ tail (`HostEnd::reap`):
            // the CQE stores above are visible to it once it sees this tail.
            self.qp.cq.tail.store(self.cq_tail, Ordering::Release);
        }
        Ok(n)
    }

    /// Copy up to `out.len()` SQEs out of the SQ, oldest first, each read exactly once,
    /// and give their slots back with one head store; returns how many.
    ///
    /// Errors: [`ShmError::SqCorrupt`] if the host's SQ tail is more than `SQ` entries
    /// ahead of the device's head (or behind it): nothing is consumed, [`CORRUPT`](ShmFlags::CORRUPT) is
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
    /// Errors: [`ShmError::CqCorrupt`] (and [`CORRUPT`](ShmFlags::CORRUPT) raised in the CQ flags) if the
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
    /// [`Ring::submit`](crate::Ring::submit) stopped for lack of CQ room ([`SqRingFlags::CQ_OVERFLOW`] on the
    /// ring), [`CQ_OVERFLOW`](ShmFlags::CQ_OVERFLOW) is raised in the shared SQ flags; it is cleared by the
    /// first `feed` that finds no such wait.
    ///
    /// Link chains move whole: a chain that does not fit the room left in the ring's SQ
    /// waits in shared memory for the next `feed` (after a `submit` emptied the SQ). Only
    /// a chain longer than the ring's whole SQ is cut — at that length, running as
    /// submitted, as a kernel cuts a chain longer than its SQ — and a chain still open at
    /// the end of what the host published goes in only when nothing else waits ahead of
    /// it. Works on a [`Ring`](crate::Ring) or on the [`crate::Submitter`] of a split one.
    ///
    /// Errors: as [`DeviceEnd::take`]; the ring is untouched then.
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
    /// Errors: as [`DeviceEnd::post`]; the ring is untouched then.
    pub fn flush<R: CqSource>(&mut self, ring: &mut R) -> Result<u32, ShmError> {
        self.post_with(|| ring.pop_cqe())
    }

    /// Raise (`true`) or clear [`CQ_OVERFLOW`](ShmFlags::CQ_OVERFLOW) in the shared SQ flags: the device stops
    /// (or resumes) taking SQEs because completions have no room. [`DeviceEnd::feed`] does
    /// this itself; a device loop that does not use it calls this. Writes shared memory
    /// only when the state changes.
    pub fn set_backpressure(&mut self, on: bool) {
        if on != self.backpressure {
            self.backpressure = on;
            set_flag(&self.qp.sq.flags, ShmFlags::CQ_OVERFLOW, on);
        }
    }

    /// Whether the device has [`CQ_OVERFLOW`](ShmFlags::CQ_OVERFLOW) raised (its private state).
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
