//! The async front end's cost per request beside the plain API's, same ring, same
//! run (`fwring-bench run <workload> <iters>`, `iters` batches of 32 requests, under
//! callgrind from `cargo xtask bench`):
//!
//! - `plain-nop`: `push` + `submit` + `pop` of one NOP at a time;
//! - `async-nop`: `ring.call(Sqe::nop())` polled once (the NOP completes inline);
//! - `plain-irq`: a request that goes pending, completed through the `Completer`
//!   (the "interrupt"), then `poll` + `pop`;
//! - `async-irq`: the same request awaited: `call` polled (pending), the `Completer`
//!   completes it and wakes the task's waker, `call` polled again (ready) — submit +
//!   wake + complete.
//!
//! The futures are polled by hand with `Waker::noop()` (no executor's own cost).

use core::future::Future;
use core::hint::black_box;
use core::pin::pin;
use core::task::{Context, Poll, Waker};
use std::cell::Cell;

use fwring::asynch::AsyncRing;
use fwring::{Errno, Issue, IssueCx, Op, OpVTable, PrepCx, Ring, Setup, SetupFlags, Sqe, Token, vtable};

/// The workloads, in table order.
pub const NAMES: [&str; 4] = ["plain-nop", "async-nop", "plain-irq", "async-irq"];

thread_local! {
    static TOKEN: Cell<Option<Token>> = const { Cell::new(None) };
}

/// Goes pending; its token is left in `TOKEN` for the "interrupt".
struct Pend;
impl Op for Pend {
    type Pdu = ();
    fn prep(_: &mut PrepCx<'_>, _: &Sqe) -> Result<(), Errno> {
        Ok(())
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        let token = match cx.pending() {
            Ok(t) => t,
            Err(e) => return Issue::Err(e),
        };
        TOKEN.with(|t| t.set(Some(token)));
        Issue::Pending
    }
}
static PEND: OpVTable = vtable::<Pend>(0);

type R = Ring<8, 16, 8>;

fn ring() -> &'static mut R {
    let r: &'static mut R = Box::leak(Box::default());
    r.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).expect("setup");
    r.register_op(&PEND).expect("register");
    r
}

fn poll<F: Future>(f: core::pin::Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

/// Run `name` for `iters` batches of 32; returns a checksum (`None`: not an async
/// workload).
pub fn run(name: &str, iters: u64) -> Option<u64> {
    let mut sum = 0u64;
    let r = ring();
    match name {
        "plain-nop" => {
            for _ in 0..iters * 32 {
                let _ = r.push(black_box(Sqe::nop().user_data(1)));
                let _ = r.submit();
                sum += r.pop().map_or(0, |c| c.user_data);
            }
        }
        "plain-irq" => {
            let (mut sub, mut reap, completer) = r.split();
            for _ in 0..iters * 32 {
                let _ = sub.push(black_box(Sqe::bpf(0, 0).user_data(1)));
                let _ = sub.submit();
                let t = TOKEN.with(Cell::take)?;
                let _ = completer.complete(t, 1);
                sub.poll();
                sum += reap.pop().map_or(0, |c| c.res as u64);
            }
        }
        "async-nop" => {
            let a = AsyncRing::new(r);
            for _ in 0..iters * 32 {
                if let Poll::Ready(c) = poll(pin!(a.call(black_box(Sqe::nop().user_data(1))))) {
                    sum += c.user_data;
                }
            }
        }
        "async-irq" => {
            let a = AsyncRing::new(r);
            let completer = a.completer();
            for _ in 0..iters * 32 {
                let mut call = pin!(a.call(black_box(Sqe::bpf(0, 0).user_data(1))));
                let _ = poll(call.as_mut());
                let t = TOKEN.with(Cell::take)?;
                let _ = completer.complete(t, 1);
                if let Poll::Ready(c) = poll(call) {
                    sum += c.res as u64;
                }
            }
        }
        _ => return None,
    }
    Some(sum)
}

#[cfg(test)]
mod tests {
    /// Every workload completes each of its requests (the checksum counts them).
    #[test]
    fn every_workload_completes_all_its_requests() {
        for name in super::NAMES {
            assert_eq!(super::run(name, 2), Some(64), "{name}");
        }
    }
}
