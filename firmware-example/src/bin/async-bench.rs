//! `fw-async-bench`: instructions per request of fwring's async front end beside the
//! plain API, on the Cortex-M4 (the host's `tests/src/async_bench.rs` workloads):
//!
//! - `plain-nop`: `push` + `submit` + `pop` of one NOP at a time;
//! - `async-nop`: `ring.call(Sqe::nop())` polled once (the NOP completes inline);
//! - `plain-irq`: a request that goes pending, completed through the `Completer`, then
//!   `poll` + `pop`;
//! - `async-irq`: the same request awaited — `call` polled (pending), the `Completer`
//!   completes it and wakes the waker, `call` polled again (ready): submit + wake +
//!   complete.
//!
//! Each runs [`BATCHES`] and 2 × [`BATCHES`] batches of 32 requests between calls of
//! `fw_bench_mark`; `cargo xtask fw-bench` counts the instructions between the marks
//! from QEMU's exec log and takes the difference, as for `fw-bench`. Futures are polled
//! by hand with `Waker::noop()` (no executor's own cost).
#![no_std]
#![no_main]

use core::future::Future;
use core::hint::black_box;
use core::pin::{Pin, pin};
use core::task::{Context, Poll, Waker};

use fwring::asynch::AsyncRing;
use fwring::{Errno, Issue, IssueCx, Op, OpVTable, PrepCx, Ring, Setup, SetupFlags, Sqe, Token, vtable};
use fwring_firmware::log_line;
use static_cell::ConstStaticCell;

/// Batches of the short run; the long run has twice as many.
const BATCHES: u32 = 4;
const BATCH: u32 = 32;
/// The token of the last request `Pend` made pending (thread mode only).
static TOKEN: critical_section::Mutex<core::cell::Cell<Option<Token>>> =
    critical_section::Mutex::new(core::cell::Cell::new(None));

struct Pend;
impl Op for Pend {
    type Pdu = ();
    fn prep(_: &mut PrepCx<'_>, _: &Sqe) -> Result<(), Errno> {
        Ok(())
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        let t = match cx.pending() {
            Ok(t) => t,
            Err(e) => return Issue::Err(e),
        };
        critical_section::with(|cs| TOKEN.borrow(cs).set(Some(t)));
        Issue::Pending
    }
}
static PEND: OpVTable = vtable::<Pend>(0);

type R = Ring<8, 16, 8>;
static RINGS: [ConstStaticCell<R>; 4] = [const { ConstStaticCell::new(Ring::new()) }; 4];

fn token() -> Token {
    critical_section::with(|cs| TOKEN.borrow(cs).take()).unwrap_or(Token::from_raw(u64::MAX))
}

fn poll<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

#[inline(never)]
fn fw_bench_mark(id: u32) {
    black_box(id);
}

fn run(name: &str, r: &mut R, n: u32) -> u64 {
    let mut sum = 0u64;
    match name {
        "plain-nop" => {
            for _ in 0..n {
                let _ = r.push(black_box(Sqe::nop().user_data(1)));
                let _ = r.submit();
                sum += r.pop().map_or(0, |c| c.user_data);
            }
        }
        "plain-irq" => {
            let (mut sub, mut reap, completer) = r.split();
            for _ in 0..n {
                let _ = sub.push(black_box(Sqe::bpf(0, 0).user_data(1)));
                let _ = sub.submit();
                let _ = completer.complete(token(), 1);
                sub.poll();
                sum += reap.pop().map_or(0, |c| c.res as u64);
            }
        }
        "async-nop" => {
            let a = AsyncRing::new(r);
            for _ in 0..n {
                if let Poll::Ready(c) = poll(pin!(a.call(black_box(Sqe::nop().user_data(1))))) {
                    sum += c.user_data;
                }
            }
        }
        _ => {
            let a = AsyncRing::new(r);
            let completer = a.completer();
            for _ in 0..n {
                let mut call = pin!(a.call(black_box(Sqe::bpf(0, 0).user_data(1))));
                let _ = poll(call.as_mut());
                let _ = completer.complete(token(), 1);
                if let Poll::Ready(c) = poll(call) {
                    sum += c.res as u64;
                }
            }
        }
    }
    sum
}

fn bench() -> bool {
    let mut ok = true;
    let mut mark = 0;
    for (name, cell) in ["plain-nop", "async-nop", "plain-irq", "async-irq"].into_iter().zip(&RINGS) {
        let r = cell.take();
        ok &= r.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).is_ok() && r.register_op(&PEND).is_ok();
        // One ring per workload, for both runs.
        for batches in [BATCHES, 2 * BATCHES] {
            let reqs = batches * BATCH;
            fw_bench_mark(mark);
            let sum = run(name, r, reqs);
            fw_bench_mark(mark + 1);
            mark += 2;
            log_line!("bench {} batches {} ops {} instret 0 sum {}", name, batches, reqs, sum);
            ok &= sum == reqs as u64;
        }
    }
    log_line!("bench done, {} marks", mark);
    ok
}

fwring_firmware::entry!(bench);
