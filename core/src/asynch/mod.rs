//! The async front end (feature `async`): `.await` a request's CQE from any task, on any
//! executor — embassy on a board, tokio or `futures` on a host — with no alloc.
//!
//! ```
//! use fwring::{Ring, Sqe, Cqe};
//! use fwring::asynch::AsyncRing;
//!
//! let mut ring: Ring<8, 16, 8> = Ring::new();
//! let ring = AsyncRing::new(&mut ring);
//! futures::executor::block_on(async {
//!     // One request...
//!     let cqe = ring.call(Sqe::nop().user_data(1)).await;
//!     assert_eq!(cqe, Cqe::new(1, 0));
//!     // ... or a link chain, one CQE per member (a failure cancels the rest).
//!     let [a, b, c] = ring.chain([Sqe::nop().user_data(2), Sqe::nop_inject(-5).user_data(3), Sqe::nop().user_data(4)]).await;
//!     assert_eq!((a, b, c), (Cqe::new(2, 0), Cqe::new(3, -5), Cqe::new(4, -125)));
//! });
//! ```
//!
//! # How it works
//!
//! [`AsyncRing`] takes the ring apart ([`Ring::split`]) and keeps the submitter, the
//! reaper and a table of `N` waiters (`N`: the ring's in-flight capacity — never more
//! requests can be awaited than the ring can hold). A future takes a waiter, puts the
//! waiter's tag ([`USER_DATA_TAG`]) in its SQE's user_data, queues it, and from then on
//! each time it is polled it **drives** the ring: it registers its task with the ring's
//! interrupt waker, submits, and reaps every CQE at the head of the CQ that belongs to
//! a waiter, storing it there and waking that waiter's task. There is no driver task:
//! whichever task is polled does the work, and the one that polled last is the one an
//! interrupt wakes; when a future finishes it wakes another waiting task to take that
//! role over, so a completion never goes unnoticed while anyone waits.
//!
//! **Wakers from interrupts.** [`Completer::complete`] (from an ISR, a DMA handler,
//! another core) pushes the completion, then wakes the registered task through an
//! [`atomic-waker`](https://docs.rs/atomic-waker) `AtomicWaker` — lock-free, so safe at
//! any interrupt priority. A driving future registers *before* it looks at the
//! completions, so a completion either is seen by that look or wakes the task after it
//! (the loom model `core/tests/loom_async.rs` checks every interleaving).
//!
//! **Waiting for room.** A future waits — never fails — when every waiter is taken, when
//! the SQ has no space for its SQE(s), or when the ring stops with
//! [`Stop::Backpressure`](crate::Stop::Backpressure): its SQE stays queued and every
//! drive submits again once reaping freed CQ room.
//!
//! **Cancellation on drop.** Dropping a future whose request is in flight detaches its
//! waiter and submits `IORING_OP_ASYNC_CANCEL` for it. A cancellable request
//! ([`IssueCx::pending_cancelable`](crate::IssueCx::pending_cancelable), a timer) ends
//! with -ECANCELED at once; one pending in hardware (`pending`, `pending_io`: the device
//! owns its buffers) runs on — the cancel answers -EALREADY — and its CQE is discarded
//! when it arrives. Either way the waiter (and the ring's in-flight slot, with the
//! request's buffers) stays taken until the request really ended: a dropped future can
//! never leave a device writing into memory someone else now uses. Both CQEs are
//! discarded; nobody sees them.
//!
//! **Sharing the ring with the plain API.** SQEs queued with [`AsyncRing::push`] (any
//! user_data without the tag) run on the same ring. Their CQEs are the plain API's:
//! whoever drives moves a CQE that names no waiter out of the CQ into a queue of up to
//! `CQ` plain CQEs, so awaited CQEs behind it are not held up, and
//! [`AsyncRing::pop`] (or [`AsyncRing::next_cqe`]`.await`) returns them in CQ order.
//! When that queue is full, plain CQEs stay in the CQ — and so do awaited ones behind
//! them, and the ring applies backpressure — until the plain reaper takes some: nothing
//! is dropped.
//!
//! **Time.** fwring has no clock; a timer task feeds it: see
//! [`AsyncRing::deadline_changed`] and, for timeouts on a request,
//! [`AsyncRing::call_with_timeout`].
//!
//! **Executors.** The ring lives in a `RefCell`: the tasks that await it run on one
//! executor (embassy's thread-mode executor, tokio's current-thread runtime with a
//! `LocalSet`, `futures`' `LocalPool`/`block_on`). Interrupts and other cores use the
//! [`Completer`] (`Send + Sync`) and never touch the `RefCell`. Wakers are called with
//! the ring borrowed, so an executor whose `wake` polls the task on the spot (none of
//! embassy, tokio, `futures` does) is not supported: it would panic on the borrow.
//!
//! # Relation to fwring-hal's async worker
//!
//! fwring-hal's `async` feature is the other direction: there the *ops* are async —
//! a request goes pending and a worker task drives an embedded-hal-async future to
//! complete it through a `Completer`. This module makes the *callers* async. The two
//! compose: a task awaits `ring.call(spi_read_sqe)`, the ring issues fwring-hal's SPI
//! op, the HAL worker completes it, the `Completer` wakes the awaiting task.

mod request;
#[cfg(feature = "timeouts")]
mod timer;
mod waiters;

use core::cell::RefCell;
use core::future::poll_fn;
use core::task::{Poll, Waker};

use crate::abi::{Cqe, Sqe};
use crate::engine::completion::Completer;
use crate::engine::ring::{Reaper, Ring, Submitted, Submitter};

pub use request::{Call, Chain, ChainEach};
#[cfg(feature = "timeouts")]
pub use timer::DeadlineChanged;
use waiters::{Delivered, Table, WakerSet};
pub use waiters::{USER_DATA_TAG, USER_DATA_TAG_MASK};

/// The interrupt-safe waker registration a [`Completer`] wakes: `atomic-waker`'s
/// lock-free `AtomicWaker` (loom's model of it under `cfg(loom)`).
pub(crate) struct IrqWaker {
    #[cfg(not(loom))]
    w: atomic_waker::AtomicWaker,
    #[cfg(loom)]
    w: loom::future::AtomicWaker,
}

impl IrqWaker {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        IrqWaker { w: atomic_waker::AtomicWaker::new() }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        IrqWaker { w: loom::future::AtomicWaker::new() }
    }

    pub(crate) fn register(&self, waker: &Waker) {
        #[cfg(not(loom))]
        self.w.register(waker);
        #[cfg(loom)]
        self.w.register_by_ref(waker);
    }

    pub(crate) fn wake(&self) {
        self.w.wake();
    }
}

/// A ring shared by async tasks: `call`/`chain` futures that await their CQEs, beside
/// the plain push/submit/pop API. See the [module docs](self).
pub struct AsyncRing<'a, const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize = 0> {
    inner: RefCell<Inner<'a, SQ, CQ, N, ARGS>>,
    completer: Completer<'a>,
}

/// Everything behind the `RefCell`.
pub(crate) struct Inner<'a, const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize> {
    pub sub: Submitter<'a, SQ, CQ, N, ARGS>,
    pub reaper: Reaper<'a, CQ>,
    pub completer: Completer<'a>,
    pub table: Table<N>,
    /// Tasks waiting for a waiter entry or SQ space.
    pub room: WakerSet<N>,
    /// CQEs of requests nobody awaits, reaped from the CQ, for [`AsyncRing::pop`].
    pub plain_q: heapless::Deque<Cqe, CQ>,
    /// A task waiting for a plain-API CQE.
    pub plain: Option<Waker>,
    /// A timer task waiting for the next deadline to change from the one it saw.
    #[cfg(feature = "timeouts")]
    pub timer: Option<(Waker, Option<u64>)>,
}

impl<'a, const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize> AsyncRing<'a, SQ, CQ, N, ARGS> {
    /// Take `ring` over for async use. Set it up (op slots, buffers) before, or later
    /// through [`AsyncRing::with_submitter`]. With a ring in a `static`, `'a` is
    /// `'static` and so are the futures' borrows of the ring's parts.
    pub fn new(ring: &'a mut Ring<SQ, CQ, N, ARGS>) -> Self {
        let (sub, reaper, completer) = ring.split();
        AsyncRing {
            inner: RefCell::new(Inner {
                sub,
                reaper,
                completer,
                table: Table::new(),
                room: WakerSet::new(),
                plain_q: heapless::Deque::new(),
                plain: None,
                #[cfg(feature = "timeouts")]
                timer: None,
            }),
            completer,
        }
    }

    /// The completer for interrupt handlers, DMA callbacks, other cores: each
    /// completion wakes the task driving the ring.
    pub fn completer(&self) -> Completer<'a> {
        self.completer
    }

    /// Submit `sqe` and await its CQE (with the caller's user_data). Waits for room
    /// when the waiter table or the SQ is full. Dropping the future cancels the request
    /// (see the [module docs](self)). `IOSQE_CQE_SKIP_SUCCESS` is cleared (the future
    /// awaits the CQE) and so are link flags (it is one request: use [`AsyncRing::chain`]).
    pub fn call(&self, sqe: Sqe) -> Call<'_, 'a, SQ, CQ, N, ARGS> {
        Call::new(self, sqe)
    }

    /// Submit `K` SQEs as one link chain and await every member's CQE, in chain order.
    /// Each member but the last gets `IOSQE_IO_LINK` unless it has `IOSQE_IO_HARDLINK`;
    /// `IOSQE_CQE_SKIP_SUCCESS` is cleared. `K` must fit the SQ and the in-flight table
    /// (checked at compile time).
    pub fn chain<const K: usize>(&self, sqes: [Sqe; K]) -> Chain<'_, 'a, SQ, CQ, N, ARGS, K> {
        Chain::new(self, sqes)
    }

    /// [`AsyncRing::chain`], yielding each member's CQE as it arrives (in chain order):
    /// `while let Some(cqe) = each.next().await { … }`.
    pub fn chain_each<const K: usize>(&self, sqes: [Sqe; K]) -> ChainEach<'_, 'a, SQ, CQ, N, ARGS, K> {
        ChainEach::new(self, sqes)
    }

    /// Run `f` on the submitter: register ops and buffers, read ring state. SQEs pushed
    /// here bypass [`AsyncRing::push`]'s check: their user_data must not carry
    /// [`USER_DATA_TAG`].
    pub fn with_submitter<R>(&self, f: impl FnOnce(&mut Submitter<'a, SQ, CQ, N, ARGS>) -> R) -> R {
        f(&mut self.inner.borrow_mut().sub)
    }

    /// Plain API: queue an SQE (not awaited; its CQE comes out of [`AsyncRing::pop`]).
    /// Refused (handed back) when the SQ is full or its user_data carries
    /// [`USER_DATA_TAG`].
    pub fn push(&self, sqe: Sqe) -> Result<(), Sqe> {
        if sqe.user_data & USER_DATA_TAG_MASK == USER_DATA_TAG {
            return Err(sqe);
        }
        self.inner.borrow_mut().sub.push(sqe)
    }

    /// Plain API: submit what is queued (awaited and plain SQEs alike) and hand the
    /// CQEs that arrived to their waiters.
    pub fn submit(&self) -> Submitted {
        let mut g = self.inner.borrow_mut();
        let s = g.sub.submit();
        g.drive(None);
        s
    }

    /// Plain API: the next CQE of a request nobody awaits, in CQ order, after driving
    /// the ring (CQEs of awaited requests go to their waiters).
    pub fn pop(&self) -> Option<Cqe> {
        let mut g = self.inner.borrow_mut();
        g.drive(None);
        let was_full = g.plain_q.is_full();
        let c = g.plain_q.pop_front();
        if was_full && c.is_some() {
            // Room for a CQE still in the CQ: awaited CQEs behind it come out, queued
            // SQEs may go in.
            g.drive(None);
            g.table.wake_one(None);
        }
        c
    }

    /// Await the next CQE of a request nobody awaits (the plain API's reaper, async).
    /// One task at a time: a second one replaces the first's registration.
    pub async fn next_cqe(&self) -> Cqe {
        poll_fn(|cx| {
            if let Some(c) = self.pop() {
                // If interrupts were waking this task, a waiting one takes over.
                self.inner.borrow_mut().table.wake_one(Some(cx.waker()));
                return Poll::Ready(c);
            }
            let mut g = self.inner.borrow_mut();
            g.completer.register(cx.waker());
            g.plain = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// [`Ring::poll`], then hand the CQEs to their waiters. For a context that wants
    /// completions taken without awaiting anything (e.g. detached requests' CQEs after
    /// every future is gone).
    pub fn poll(&self) -> u32 {
        let mut g = self.inner.borrow_mut();
        let n = g.sub.poll();
        g.drive(None);
        n
    }

    /// Requests in flight on the ring (awaited, detached and plain).
    pub fn in_flight(&self) -> u32 {
        self.inner.borrow().sub.in_flight()
    }
}

impl<const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize> Inner<'_, SQ, CQ, N, ARGS> {
    /// Make progress: register `me` for interrupt wakes (first: a completion after the
    /// look below wakes it), submit, reap the waiters' CQEs; repeat while reaping frees
    /// room for SQEs still queued. Wakes the tasks whose CQEs arrived, and those
    /// waiting for room if any was freed.
    pub(crate) fn drive(&mut self, me: Option<&Waker>) {
        if let Some(me) = me {
            self.completer.register(me);
        }
        let mut freed = false;
        loop {
            let before = self.sub.sq().len();
            let _ = self.sub.submit();
            freed |= self.sub.sq().len() < before;
            let (reaped, released) = self.reap(me);
            freed |= released || reaped > 0;
            if reaped == 0 || self.sub.sq().is_empty() {
                break;
            }
        }
        if freed && !self.room.is_empty() {
            self.room.wake_all();
        }
        #[cfg(feature = "timeouts")]
        self.check_deadline();
    }

    /// Reap the CQ: waiters' CQEs to their waiters, plain ones to the plain queue (waking
    /// the plain reaper); stop when that is full. Returns (CQEs reaped, whether a
    /// waiter entry was freed).
    fn reap(&mut self, me: Option<&Waker>) -> (u32, bool) {
        let mut n = 0;
        let mut released = false;
        while let Some(c) = self.reaper.peek() {
            match self.table.deliver(c, me) {
                Delivered::NotOurs => {
                    if self.plain_q.push_back(c).is_err() {
                        break;
                    }
                    if let Some(w) = self.plain.take() {
                        w.wake();
                    }
                }
                Delivered::Stored => {}
                Delivered::Discarded(freed) => released |= freed,
            }
            let _ = self.reaper.pop();
            n += 1;
        }
        (n, released)
    }
}
