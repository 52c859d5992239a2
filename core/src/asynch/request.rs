//! The futures of awaited requests: [`Call`] (one SQE) and [`Chain`] (a link chain),
//! both a [`Req`] of `K` members underneath.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use super::waiters::{Kind, State, tag};
use super::{AsyncRing, Inner};
use crate::TIMEOUTS;
use crate::abi::{Cqe, Sqe, SqeFlags, opcode};

/// Where a request future is. `repr(u64)`: the tag takes a whole aligned word and every
/// variant's payload starts at offset 8, so moving a future (`pin!`, `join`, an
/// executor's task slot) copies aligned words; with the default layout the waiters'
/// ids sat at offset 2 and a move was an odd-sized copy at mismatched alignments, which
/// compiler-builtins' `memcpy` does byte by byte (~4.5 instructions per byte on the
/// Cortex-M4).
#[repr(u64)]
enum Phase<const K: usize> {
    /// Not submitted yet (waiting for room, or never polled).
    Start([Sqe; K]),
    /// Queued or in flight under these waiters.
    InFlight([u16; K]),
    /// Its CQEs were returned.
    Finished,
}

// The tag is a whole word in front of every payload (see above).
const _: () = assert!(size_of::<Phase<1>>() == 8 + size_of::<Sqe>());

/// `K` SQEs awaited together (K = 1: a call; more: a link chain).
struct Req<'r, 'a, const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize, const K: usize> {
    ring: &'r AsyncRing<'a, SQ, CQ, N, ARGS>,
    phase: Phase<K>,
    /// Members already handed out one by one ([`ChainEach`]); their waiters are free.
    next: usize,
}

/// The flags member `i` of `K` runs with: linked to the next unless last, never
/// CQE_SKIP_SUCCESS (its CQE is awaited).
fn member_flags(flags: u8, i: usize, k: usize) -> u8 {
    let mut f = SqeFlags::from_bits_retain(flags) - SqeFlags::CQE_SKIP_SUCCESS;
    if i + 1 == k {
        f -= SqeFlags::IO_LINK | SqeFlags::IO_HARDLINK;
    } else if !f.contains(SqeFlags::IO_HARDLINK) {
        f |= SqeFlags::IO_LINK;
    }
    f.bits()
}

impl<const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize> Inner<'_, SQ, CQ, N, ARGS> {
    /// Queue `sqes` under fresh waiters, if the table and the SQ have room for all.
    fn enqueue<const K: usize>(&mut self, sqes: &[Sqe; K]) -> Option<[u16; K]> {
        if self.table.nr_free() < K || (self.sub.sq().space() as usize) < K {
            return None;
        }
        let mut ids = [0u16; K];
        for (i, (sqe, id)) in sqes.iter().zip(ids.iter_mut()).enumerate() {
            // Cannot fail: K entries are free (checked above, and nothing ran since).
            *id = self.table.reserve()?;
            let w = self.table.get(*id);
            w.user_data = sqe.user_data;
            w.state = State::Waiting(None);
            let tagged =
                Sqe { user_data: tag(Kind::Request, *id, w.generation), flags: member_flags(sqe.flags, i, K), ..*sqe };
            // Cannot fail: K SQ entries are free, and the borrow keeps anyone else out.
            self.sub.push(tagged).ok()?;
        }
        Some(ids)
    }

    /// A dropped future's waiters: collected CQEs are dropped, requests in flight are
    /// detached and (with the cancel opcode built in) cancelled.
    fn abandon(&mut self, ids: &[u16]) {
        let mut cancels = false;
        for &id in ids {
            let w = self.table.get(id);
            match w.state {
                State::Done(_) | State::Reserved => self.table.release(id),
                State::Waiting(_) => {
                    w.state = State::Detached;
                    let target = tag(Kind::Request, id, w.generation);
                    let cancel =
                        Sqe::new(opcode::ASYNC_CANCEL).addr(target).user_data(tag(Kind::Cancel, id, w.generation));
                    // No SQ space: detached only; the CQE is discarded when it comes.
                    cancels |= TIMEOUTS && self.sub.push(cancel).is_ok();
                }
                State::Free | State::Detached => {}
            }
        }
        if cancels {
            self.drive(None);
        }
        self.room.wake_all();
        // This future may have been the one interrupts wake: hand that over.
        self.table.wake_one(None);
    }
}

impl<'r, 'a, const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize, const K: usize>
    Req<'r, 'a, SQ, CQ, N, ARGS, K>
{
    fn new(ring: &'r AsyncRing<'a, SQ, CQ, N, ARGS>, sqes: [Sqe; K]) -> Self {
        const { assert!(K <= SQ && K <= N, "a chain must fit the SQ and the in-flight table") };
        Req { ring, phase: Phase::Start(sqes), next: 0 }
    }

    /// Queue the SQEs if not yet done; `false` while there is no room (registered).
    fn start(&mut self, g: &mut Inner<'a, SQ, CQ, N, ARGS>, me: &Waker) -> bool {
        if let Phase::Start(sqes) = &self.phase {
            // No room: reaping may make some (and registers this task for interrupts).
            let ids = g.enqueue(sqes).or_else(|| {
                g.drive(Some(me));
                g.enqueue(sqes)
            });
            match ids {
                Some(ids) => self.phase = Phase::InFlight(ids),
                None => {
                    g.room.register(me);
                    return false;
                }
            }
        }
        true
    }

    /// The next member's CQE, in chain order, once it arrived; `None` after the last.
    fn poll_member(&mut self, cx: &mut Context<'_>) -> Poll<Option<Cqe>> {
        let me = cx.waker();
        let mut g = self.ring.inner.borrow_mut();
        if !self.start(&mut g, me) {
            return Poll::Pending;
        }
        let Phase::InFlight(ids) = self.phase else { return Poll::Ready(None) };
        let Some(&id) = ids.get(self.next) else { return Poll::Ready(None) };
        g.drive(Some(me));
        let w = g.table.get(id);
        match &mut w.state {
            State::Done(c) => {
                let c = *c;
                g.table.release(id);
                self.next += 1;
                g.room.wake_all();
                if self.next == K {
                    self.phase = Phase::Finished;
                    g.table.wake_one(Some(me));
                }
                Poll::Ready(Some(c))
            }
            State::Waiting(slot) => {
                set_waker(slot, me);
                Poll::Pending
            }
            State::Free | State::Reserved | State::Detached => Poll::Ready(None),
        }
    }

    fn poll_req(&mut self, cx: &mut Context<'_>) -> Poll<[Cqe; K]> {
        let me = cx.waker();
        let mut g = self.ring.inner.borrow_mut();
        if !self.start(&mut g, me) {
            return Poll::Pending;
        }
        let Phase::InFlight(ids) = self.phase else { return Poll::Pending };
        g.drive(Some(me));
        if !ids.iter().all(|&id| matches!(g.table.get(id).state, State::Done(_))) {
            for &id in &ids {
                if let State::Waiting(w) = &mut g.table.get(id).state {
                    set_waker(w, me);
                }
            }
            return Poll::Pending;
        }
        let cqes = ids.map(|id| {
            let c = match g.table.get(id).state {
                State::Done(c) => c,
                _ => Cqe::new(0, 0),
            };
            g.table.release(id);
            c
        });
        self.phase = Phase::Finished;
        g.room.wake_all();
        // If interrupts were waking this task, another waiting one takes over.
        g.table.wake_one(Some(me));
        Poll::Ready(cqes)
    }
}

fn set_waker(slot: &mut Option<Waker>, me: &Waker) {
    match slot {
        Some(w) if w.will_wake(me) => {}
        _ => *slot = Some(me.clone()),
    }
}

impl<const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize, const K: usize> Drop
    for Req<'_, '_, SQ, CQ, N, ARGS, K>
{
    fn drop(&mut self) {
        let Phase::InFlight(ids) = self.phase else { return };
        // The ring is only borrowed inside this module's calls, which drop no future.
        if let Ok(mut g) = self.ring.inner.try_borrow_mut() {
            // Members handed out already are not ours any more (their waiters may
            // serve other futures now).
            g.abandon(ids.get(self.next..).unwrap_or(&[]));
        }
    }
}

/// The future of [`AsyncRing::call`]: the request's CQE, with the caller's user_data.
/// Dropping it before it is ready cancels the request.
#[must_use = "futures do nothing unless awaited"]
pub struct Call<'r, 'a, const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize>(
    Req<'r, 'a, SQ, CQ, N, ARGS, 1>,
);

impl<'r, 'a, const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize> Call<'r, 'a, SQ, CQ, N, ARGS> {
    pub(crate) fn new(ring: &'r AsyncRing<'a, SQ, CQ, N, ARGS>, sqe: Sqe) -> Self {
        Call(Req::new(ring, [sqe]))
    }
}

impl<const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize> Future for Call<'_, '_, SQ, CQ, N, ARGS> {
    type Output = Cqe;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Cqe> {
        self.get_mut().0.poll_req(cx).map(|[c]| c)
    }
}

/// The future of [`AsyncRing::chain`]: every member's CQE, in chain order. Dropping it
/// before it is ready cancels the members still in flight.
#[must_use = "futures do nothing unless awaited"]
pub struct Chain<'r, 'a, const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize, const K: usize>(
    Req<'r, 'a, SQ, CQ, N, ARGS, K>,
);

impl<'r, 'a, const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize, const K: usize>
    Chain<'r, 'a, SQ, CQ, N, ARGS, K>
{
    pub(crate) fn new(ring: &'r AsyncRing<'a, SQ, CQ, N, ARGS>, sqes: [Sqe; K]) -> Self {
        Chain(Req::new(ring, sqes))
    }
}

impl<const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize, const K: usize> Future
    for Chain<'_, '_, SQ, CQ, N, ARGS, K>
{
    type Output = [Cqe; K];

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<[Cqe; K]> {
        self.get_mut().0.poll_req(cx)
    }
}

/// The stream of [`AsyncRing::chain_each`]: each member's CQE as soon as it (and every
/// member before it) arrived, in chain order. Dropping it cancels the members still in
/// flight.
#[must_use = "the chain is submitted when `next` is first awaited"]
pub struct ChainEach<'r, 'a, const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize, const K: usize>(
    Req<'r, 'a, SQ, CQ, N, ARGS, K>,
);

impl<'r, 'a, const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize, const K: usize>
    ChainEach<'r, 'a, SQ, CQ, N, ARGS, K>
{
    pub(crate) fn new(ring: &'r AsyncRing<'a, SQ, CQ, N, ARGS>, sqes: [Sqe; K]) -> Self {
        ChainEach(Req::new(ring, sqes))
    }

    /// The next member's CQE (submitting the chain on the first call); `None` after the
    /// last member.
    pub async fn next(&mut self) -> Option<Cqe> {
        core::future::poll_fn(|cx| self.0.poll_member(cx)).await
    }
}
