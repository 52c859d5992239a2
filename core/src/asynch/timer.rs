//! Time for the async front end: a request with a timeout (LINK_TIMEOUT), and the
//! hooks a timer task uses to feed the ring's clock (the task's loop is in
//! [`AsyncRing::deadline_changed`]'s docs).

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::{AsyncRing, Inner};
use crate::abi::{Cqe, Sqe, TimeoutFlags};

impl<'a, const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize> AsyncRing<'a, SQ, CQ, N, ARGS> {
    /// Await `sqe` with a timeout of `ns` nanoseconds (the ring's time base, from the
    /// last [`AsyncRing::tick`]): `sqe` linked to an `IORING_OP_LINK_TIMEOUT`. If the
    /// timer fires first the request is cancelled and its CQE says -ECANCELED (a request
    /// pending in hardware cannot be cancelled and completes normally). The link
    /// timeout's own CQE is discarded.
    pub async fn call_with_timeout(&self, sqe: Sqe, ns: u64) -> Cqe {
        let lt = Sqe::link_timeout(ns, TimeoutFlags::empty());
        let [c, _] = self.chain([sqe, lt]).await;
        c
    }

    /// Pass the time in ([`Ring::tick`](crate::Ring::tick)): fire the expired timers,
    /// take completions, and hand the CQEs to their waiters.
    pub fn tick(&self, now: u64) -> u32 {
        let mut g = self.inner.borrow_mut();
        let n = g.sub.tick(now);
        g.drive(None);
        n
    }

    /// The earliest armed timer's deadline ([`Ring::next_deadline`](crate::Ring::next_deadline)).
    pub fn next_deadline(&self) -> Option<u64> {
        self.inner.borrow_mut().sub.next_deadline()
    }

    /// Resolves with the ring's next deadline once it is no longer `seen` (a timer was
    /// armed, fired or removed). One timer task at a time.
    ///
    /// fwring reads no clock (see [`timeout`](crate::timeout)): a timer task passes the time
    /// in with [`AsyncRing::tick`] when the earliest deadline ([`AsyncRing::next_deadline`])
    /// is reached, and sleeps until then or until [`AsyncRing::deadline_changed`] says a new,
    /// earlier deadline was armed — whatever the timer is (embassy-time's `Timer::at`,
    /// tokio's `sleep_until`, an embedded-hal-async `DelayNs` for the difference):
    ///
    /// ```
    /// use core::future::Future;
    /// use core::{cell::Cell, pin::pin};
    /// use fwring::asynch::AsyncRing;
    /// use fwring::{Cqe, Ring, Sqe, TimeoutFlags};
    /// use futures::future::{Either, select};
    ///
    /// /// The timer task: `now()` reads the clock (ns), `sleep(ns)` is any async delay.
    /// async fn feed<F: Future<Output = ()>>(
    ///     ring: &AsyncRing<'_, 8, 16, 8>,
    ///     now: impl Fn() -> u64,
    ///     sleep: impl Fn(u64) -> F,
    /// ) {
    ///     loop {
    ///         let deadline = ring.next_deadline();
    ///         let wait = pin!(async {
    ///             match deadline {
    ///                 Some(d) => sleep(d.saturating_sub(now())).await,
    ///                 None => core::future::pending().await,
    ///             }
    ///         });
    ///         // Sleep to the deadline, or wake early when another one is armed.
    ///         let _ = select(wait, pin!(ring.deadline_changed(deadline))).await;
    ///         ring.tick(now());
    ///     }
    /// }
    ///
    /// // A simulated clock, where sleeping advances time.
    /// let clock = Cell::new(0);
    /// let mut ring: Ring<8, 16, 8> = Ring::new();
    /// let ring = AsyncRing::new(&mut ring);
    /// let timer = feed(&ring, || clock.get(), |ns| {
    ///     clock.set(clock.get() + ns);
    ///     core::future::ready(())
    /// });
    /// // IORING_OP_TIMEOUT of 1 ms: -ETIME when it expires.
    /// let timeout = Sqe::timeout(1_000_000, 0, TimeoutFlags::empty());
    /// let Either::Left((cqe, _)) = futures::executor::block_on(select(pin!(ring.call(timeout.user_data(1))), pin!(timer)))
    /// else { unreachable!("the timer task never ends") };
    /// assert_eq!((cqe, clock.get()), (Cqe::new(1, -62), 1_000_000));
    /// ```
    ///
    /// On embassy: `sleep` is `embassy_time::Timer::after_nanos`, `now` is
    /// `Instant::now().as_micros() * 1000`.
    pub fn deadline_changed(&self, seen: Option<u64>) -> DeadlineChanged<'_, 'a, SQ, CQ, N, ARGS> {
        DeadlineChanged { ring: self, seen }
    }
}

impl<const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize> Inner<'_, SQ, CQ, N, ARGS> {
    /// Wake the timer task if the next deadline is not the one it sleeps towards.
    pub(crate) fn check_deadline(&mut self) {
        if let Some((_, seen)) = &self.timer
            && self.sub.next_deadline() != *seen
            && let Some((w, _)) = self.timer.take()
        {
            w.wake();
        }
    }
}

/// The future of [`AsyncRing::deadline_changed`].
#[must_use = "futures do nothing unless awaited"]
pub struct DeadlineChanged<'r, 'a, const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize> {
    ring: &'r AsyncRing<'a, SQ, CQ, N, ARGS>,
    seen: Option<u64>,
}

impl<const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize> Future
    for DeadlineChanged<'_, '_, SQ, CQ, N, ARGS>
{
    type Output = Option<u64>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<u64>> {
        let mut g = self.ring.inner.borrow_mut();
        let now = g.sub.next_deadline();
        if now != self.seen {
            return Poll::Ready(now);
        }
        g.timer = Some((cx.waker().clone(), self.seen));
        Poll::Pending
    }
}
