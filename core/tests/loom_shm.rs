//! loom models of the shared-memory queue pair's publish/consume protocols
//! (`fwring::shm`): a producer and a consumer on a 2-entry ring moving 4 items, under
//! every interleaving loom explores (and every value a relaxed load may return). Each
//! item must arrive exactly once, in order, with every one of its words.
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p fwring --test loom_shm --release`
//!
//! The exploration is exhaustive (no preemption bound) and takes milliseconds. It
//! catches a missing release on a producer's tail (weakening the SQ or CQ tail store to
//! relaxed fails the matching model). The release on a consumer's head orders its entry
//! loads before the producer reuses the slot — a load-buffering hazard that loom does
//! not model (it never lets a load read a store from its future), so that half of the
//! protocol rests on the C++ memory model argument in `shm.rs`, not on these models.
#![cfg(loom)]

use fwring::shm::{DeviceEnd, HostEnd, QueuePair};
use fwring::{Cqe, Sqe};
use loom::sync::Arc;
use loom::thread;

/// Items moved through each 2-entry ring: twice as many as fit, so every slot is reused.
const ITEMS: usize = 4;

/// SQE `n`: every one of its 16 words distinct and tagged with `n`, so a torn or stale
/// read of any word shows.
fn sqe(n: u32) -> Sqe {
    let words: [u32; 16] = core::array::from_fn(|w| (n + 1) << 8 | w as u32);
    zerocopy::transmute!(words)
}

/// CQE `n`, all four words tagged with `n`.
fn cqe(n: u32) -> Cqe {
    let words: [u32; 4] = core::array::from_fn(|w| (n + 1) << 8 | w as u32);
    zerocopy::transmute!(words)
}

/// Run `f` under every interleaving loom finds, and say how many executions that took.
fn model(name: &str, f: impl Fn() + Sync + Send + 'static) {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    RUNS.store(0, std::sync::atomic::Ordering::Relaxed);
    let mut b = loom::model::Builder::new();
    // Every SQE is 16 atomic loads and stores: more branch points per execution than
    // loom's default allows.
    b.max_branches = 100_000;
    b.check(move || {
        RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    let runs = RUNS.load(std::sync::atomic::Ordering::Relaxed);
    println!("{name}: {runs} executions");
    assert!(runs > 1, "loom explored a single interleaving");
}

#[test]
fn sq_items_arrive_exactly_once_in_order_and_whole() {
    model("sq", || {
        let qp: Arc<QueuePair<2, 2>> = Arc::new(QueuePair::new());
        let host_qp = qp.clone();
        let host = thread::spawn(move || {
            let mut host = HostEnd::new(&host_qp);
            let items: [Sqe; ITEMS] = core::array::from_fn(|i| sqe(i as u32));
            let mut sent = 0;
            while sent < ITEMS {
                let n = host.push(&items[sent..]).expect("honest device");
                sent += n;
                if n == 0 {
                    thread::yield_now();
                }
            }
        });
        let mut dev = DeviceEnd::new(&qp);
        let mut got = Vec::new();
        while got.len() < ITEMS {
            // Batches of 1 and 2 alternate on the consumer side too.
            let mut out = [Sqe::default(); 2];
            let k = 1 + got.len() % 2;
            let n = dev.take(&mut out[..k]).expect("honest host");
            got.extend_from_slice(&out[..n]);
            if n == 0 {
                thread::yield_now();
            }
        }
        host.join().unwrap();
        let want: Vec<Sqe> = (0..ITEMS as u32).map(sqe).collect();
        assert_eq!(got, want);
        assert_eq!(dev.sq_head(), ITEMS as u32);
        let mut out = [Sqe::default(); 2];
        assert_eq!(dev.take(&mut out), Ok(0), "nothing more");
    });
}

#[test]
fn cq_items_arrive_exactly_once_in_order_and_whole() {
    model("cq", || {
        let qp: Arc<QueuePair<2, 2>> = Arc::new(QueuePair::new());
        let dev_qp = qp.clone();
        let device = thread::spawn(move || {
            let mut dev = DeviceEnd::new(&dev_qp);
            let items: [Cqe; ITEMS] = core::array::from_fn(|i| cqe(i as u32));
            let mut sent = 0;
            while sent < ITEMS {
                let n = dev.post(&items[sent..]).expect("honest host");
                sent += n;
                if n == 0 {
                    thread::yield_now();
                }
            }
        });
        let mut host = HostEnd::new(&qp);
        let mut got = Vec::new();
        while got.len() < ITEMS {
            let mut out = [Cqe::default(); 2];
            let k = 1 + got.len() % 2;
            let n = host.reap(&mut out[..k]).expect("honest device");
            got.extend_from_slice(&out[..n]);
            if n == 0 {
                thread::yield_now();
            }
        }
        device.join().unwrap();
        let want: Vec<Cqe> = (0..ITEMS as u32).map(cqe).collect();
        assert_eq!(got, want);
        assert_eq!(host.cq_head(), ITEMS as u32);
    });
}
