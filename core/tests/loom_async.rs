//! loom model of the async front end's waker hand-off (run with `RUSTFLAGS="--cfg loom"
//! cargo test -p fwring --release --features async --test loom_async`): an interrupt
//! handler completes a request through the `Completer` while the task that awaits it
//! is being polled. In every interleaving the task ends with the result — a completion
//! that lands after the task looked wakes it (loom's `block_on` would report the lost
//! wake-up as a deadlock) — and it is taken exactly once.
//!
//! The ring's atomics (mailbox, CQ indices, the waker's state) make the full state space
//! too large to enumerate; the models bound preemptions at 4 (2 s), which covers every
//! interleaving of the waker hand-off itself (register → look at the ready stack,
//! against push → wake). Registering after the look instead is caught: loom reports
//! the task blocked forever.
#![cfg(all(loom, feature = "async"))]

use std::pin::pin;
use std::task::Context;

use fwring::asynch::AsyncRing;
use fwring::{Cqe, Sqe};

mod loom_common;
use loom_common::{LAST, leaked_ring};

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(4);
    b.check(f);
}

/// Leave no loom waker registered in the leaked ring (loom checks for leaks): one
/// more call, polled with a plain no-op waker, takes the registration over.
fn unregister(ring: &AsyncRing<'static, 2, 4, 2>) {
    let w = futures::task::noop_waker();
    let call = pin!(ring.call(Sqe::nop()));
    assert!(call.poll(&mut Context::from_waker(&w)).is_ready());
}

/// The task submits (first poll, before the "interrupt" exists), then the interrupt
/// completes concurrently with the task's next polls under loom's executor.
#[test]
fn completion_from_an_interrupt_always_wakes_the_awaiting_task() {
    model(|| {
        let ring: &'static AsyncRing<'static, 2, 4, 2> = Box::leak(Box::new(AsyncRing::new(leaked_ring())));
        let mut call = pin!(ring.call(Sqe::bpf(0, 0).user_data(5)));
        let w = futures::task::noop_waker();
        assert!(call.as_mut().poll(&mut Context::from_waker(&w)).is_pending());
        let token = LAST.with(|c| c.take()).expect("token");
        let completer = ring.completer();
        let isr = loom::thread::spawn(move || completer.complete(token, 42).unwrap());
        let cqe = loom::future::block_on(call);
        isr.join().unwrap();
        assert_eq!(cqe, Cqe::new(5, 42));
        assert_eq!(ring.in_flight(), 0);
        unregister(ring);
    });
}

/// Two tasks' requests, two interrupts: whichever task the interrupt wakes, both end.
#[test]
fn two_waiters_two_interrupts_both_tasks_end() {
    model(|| {
        let ring: &'static AsyncRing<'static, 2, 4, 2> = Box::leak(Box::new(AsyncRing::new(leaked_ring())));
        let w = futures::task::noop_waker();
        let mut a = Box::pin(ring.call(Sqe::bpf(0, 0).user_data(1)));
        assert!(a.as_mut().poll(&mut Context::from_waker(&w)).is_pending());
        let ta = LAST.with(|c| c.take()).expect("token");
        let mut b = Box::pin(ring.call(Sqe::bpf(0, 0).user_data(2)));
        assert!(b.as_mut().poll(&mut Context::from_waker(&w)).is_pending());
        let tb = LAST.with(|c| c.take()).expect("token");
        let completer = ring.completer();
        let isr = loom::thread::spawn(move || {
            completer.complete(tb, 20).unwrap();
            completer.complete(ta, 10).unwrap();
        });
        // One task polls both futures, as an executor running two tasks would.
        let got = loom::future::block_on(futures::future::join(a, b));
        isr.join().unwrap();
        assert_eq!(got, (Cqe::new(1, 10), Cqe::new(2, 20)));
        unregister(ring);
    });
}
