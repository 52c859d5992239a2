//! Host driver, device firmware and interrupt, as three threads: the host produces SQEs
//! through the shared-memory queue pair, the device thread runs a split ring (`feed` →
//! `submit` → `flush`), and a third thread plays the interrupt that completes the device
//! op's pending requests — in shuffled order, through the `Completer`.
//!
//! Every request must complete exactly once with the result the interrupt chose, a link
//! successor must complete after its predecessor (and be cancelled when it failed), and
//! no CQE may be lost. `FWRING_SOAK=N` sets the number of requests (default 2,000,000; `cargo xtask soak` runs 20 times that).

use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_queue::ArrayQueue;
use fwring::shm::{DeviceEnd, HostEnd, QueuePair};
use fwring::{Cqe, Errno, Issue, IssueCx, Op, OpVTable, PrepCx, Ring, Setup, SetupFlags, Sqe, SqeFlags, Token, vtable};
use fwring_tests::random::Rng;

/// Tokens of pending device requests, from the device op to the "interrupt".
static WORK: OnceLock<ArrayQueue<(Token, u64)>> = OnceLock::new();

fn work() -> &'static ArrayQueue<(Token, u64)> {
    WORK.get_or_init(|| ArrayQueue::new(1024))
}

/// The device op: hands its token to the interrupt and goes pending.
struct Device0;
impl Op for Device0 {
    type Pdu = ();
    fn prep(_: &mut PrepCx<'_>, _: &Sqe) -> Result<(), Errno> {
        Ok(())
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        let t = match cx.pending() {
            Ok(t) => t,
            Err(e) => return Issue::Err(e),
        };
        let mut item = (t, cx.info().user_data());
        // The queue holds more than the ring can have in flight.
        while let Err(back) = work().push(item) {
            item = back;
            std::hint::spin_loop();
        }
        Issue::Pending
    }
}
static DEVICE_OP: OpVTable = vtable::<Device0>(0);

/// What the interrupt completes a request with: some fail.
fn result_of(ud: u64) -> i32 {
    if ud % 7 == 3 { -5 } else { (ud % 1000) as i32 }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// A device request.
    Dev,
    /// A NOP linked behind the device request `ud - 1`.
    After,
    /// A plain NOP.
    Nop,
}

fn kind_of(ud: u64) -> Kind {
    match ud % 5 {
        1 => Kind::Dev,
        2 if ud % 10 == 2 => Kind::After,
        3 | 4 => Kind::Nop,
        _ => Kind::Dev,
    }
}

#[test]
fn host_device_and_interrupt_threads() {
    let total: u64 = std::env::var("FWRING_SOAK").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000_000);
    let qp: Box<QueuePair<64, 128>> = Box::default();
    let mut ring: Box<Ring<64, 128, 64>> = Box::default();
    ring.setup(Setup::new(64).flags(SetupFlags::BPF_EXT | SetupFlags::SUBMIT_ALL)).unwrap();
    ring.register_op(&DEVICE_OP).unwrap();
    let (mut sub, mut reaper, completer) = ring.split();
    let done = AtomicBool::new(false);
    let (qp, done) = (&*qp, &done);

    let results: Vec<Cqe> = std::thread::scope(|s| {
        // The device: move SQEs in, run the ring, move CQEs out.
        s.spawn(move || {
            let mut dev = DeviceEnd::new(qp);
            while !done.load(Ordering::Acquire) {
                dev.feed(&mut sub).unwrap();
                let _ = sub.submit();
                dev.flush(&mut reaper).unwrap();
                std::thread::yield_now();
            }
        });
        // The interrupt: completes pending requests in shuffled batches.
        s.spawn(move || {
            let mut rng = Rng::new(0x15a);
            let mut batch = Vec::new();
            while !done.load(Ordering::Acquire) {
                while let Some(item) = work().pop() {
                    batch.push(item);
                    if batch.len() == 16 {
                        break;
                    }
                }
                for i in (1..batch.len()).rev() {
                    batch.swap(i, rng.below(i as u64 + 1) as usize);
                }
                for (t, ud) in batch.drain(..) {
                    completer.complete(t, result_of(ud)).unwrap();
                    assert!(completer.complete(t, 0).is_err(), "a token completes once");
                }
                std::thread::yield_now();
            }
        });
        // The host driver: push, reap, until every request has its CQE.
        let mut host = HostEnd::new(qp);
        let mut got = Vec::with_capacity(total as usize);
        let mut next = 0u64;
        let mut buf = [Cqe::default(); 64];
        while (got.len() as u64) < total {
            // One unit: a request, or a device request with its linked successor, which
            // must reach the device in one publish.
            if next < total {
                let ud = next;
                let unit: Vec<Sqe> = match kind_of(ud) {
                    Kind::Dev if ud + 1 < total && kind_of(ud + 1) == Kind::After => {
                        vec![Sqe::bpf(0, 0).user_data(ud).flags(SqeFlags::IO_LINK), Sqe::nop().user_data(ud + 1)]
                    }
                    Kind::Dev => vec![Sqe::bpf(0, 0).user_data(ud)],
                    Kind::After | Kind::Nop => vec![Sqe::nop().user_data(ud)],
                };
                if host.push_whole(&unit).unwrap() {
                    next += unit.len() as u64;
                }
            }
            let n = host.reap(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
            if next == total || n == 0 {
                std::thread::yield_now();
            }
        }
        done.store(true, Ordering::Release);
        got
    });

    // Every request exactly once, with its result, successors after predecessors.
    assert_eq!(results.len() as u64, total);
    let mut seen: HashMap<u64, (usize, i32)> = HashMap::with_capacity(results.len());
    for (i, c) in results.iter().enumerate() {
        assert_eq!(c.flags, 0);
        assert!(seen.insert(c.user_data, (i, c.res)).is_none(), "user_data {} completed twice", c.user_data);
    }
    let mut pending_ops = 0;
    for ud in 0..total {
        let (pos, res) = seen[&ud];
        match kind_of(ud) {
            Kind::Dev => {
                pending_ops += 1;
                assert_eq!(res, result_of(ud), "device request {ud}");
            }
            Kind::Nop => assert_eq!(res, 0, "nop {ud}"),
            Kind::After => {
                let (dpos, dres) = seen[&(ud - 1)];
                assert!(pos > dpos, "successor {ud} before its predecessor");
                let want = if dres < 0 { Errno::ECANCELED.res() } else { 0 };
                assert_eq!(res, want, "successor {ud}");
            }
        }
    }
    assert!(pending_ops > total / 3);
}
