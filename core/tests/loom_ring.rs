//! loom models of the ring's concurrent protocols (run with
//! `RUSTFLAGS="--cfg loom" cargo test -p fwring --test loom_ring --release`):
//!
//! - the completion mailbox: interrupt handlers completing pending requests while the
//!   ring polls — every completion is taken exactly once, with its result; a second
//!   completion of the same token is refused, whatever the interleaving;
//! - the shared CQ: the ring posting CQEs while a reaper in another context pops them —
//!   every CQE arrives once, in order, whole.
#![cfg(loom)]

use fwring::{CompleteError, Cqe, Ring, Setup, Sqe, Token};
use loom::sync::atomic::{AtomicU32, Ordering};

mod loom_common;
use loom_common::{LAST, R, leaked_ring};

fn submit_pending(r: &mut R, ud: u64) -> Token {
    r.push(Sqe::bpf(0, 0).user_data(ud)).unwrap();
    let _ = r.submit();
    LAST.with(|c| c.take()).expect("token")
}

#[test]
fn interrupt_completion_is_taken_exactly_once() {
    loom::model(|| {
        let ring = leaked_ring();
        let t1 = submit_pending(ring, 1);
        let t2 = submit_pending(ring, 2);
        let (mut sub, mut reaper, completer) = ring.split();
        let isr = loom::thread::spawn(move || {
            completer.complete(t1, 10).unwrap();
            completer.complete(t2, 20).unwrap();
        });
        // The ring polls while the "interrupt" runs.
        let mut got = Vec::new();
        sub.poll();
        while let Some(c) = reaper.pop() {
            got.push(c);
        }
        isr.join().unwrap();
        sub.poll();
        while let Some(c) = reaper.pop() {
            got.push(c);
        }
        got.sort_by_key(|c| c.user_data);
        assert_eq!(got, [Cqe::new(1, 10), Cqe::new(2, 20)]);
        assert_eq!(sub.in_flight(), 0);
    });
}

#[test]
fn racing_completions_of_one_token_exactly_one_wins() {
    loom::model(|| {
        let ring = leaked_ring();
        let t = submit_pending(ring, 7);
        let (mut sub, mut reaper, completer) = ring.split();
        let wins = Box::leak(Box::new(AtomicU32::new(0)));
        let a = loom::thread::spawn({
            let w: &'static AtomicU32 = wins;
            move || {
                if completer.complete(t, 1).is_ok() {
                    w.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let second = completer.complete(t, 2);
        a.join().unwrap();
        if second.is_ok() {
            wins.fetch_add(1, Ordering::Relaxed);
        } else {
            assert_eq!(second, Err(CompleteError::Stale));
        }
        assert_eq!(wins.load(Ordering::Relaxed), 1);
        sub.poll();
        let c = reaper.pop().expect("one CQE");
        assert_eq!(c.user_data, 7);
        assert!(c.res == 1 || c.res == 2);
        assert_eq!(reaper.pop(), None);
    });
}

#[test]
fn reaper_in_another_context_sees_every_cqe_once_in_order() {
    loom::model(|| {
        let ring: &'static mut Ring<2, 2, 2> = Box::leak(Box::new(Ring::new()));
        ring.setup(Setup::new(2).cq_entries(2)).unwrap();
        let (mut sub, mut reaper, _) = ring.split();
        let reader = loom::thread::spawn(move || {
            let mut got = Vec::new();
            for _ in 0..3 {
                while let Some(c) = reaper.pop() {
                    got.push(c);
                }
                loom::thread::yield_now();
            }
            got
        });
        // Three NOPs through a CQ of 2: the third waits for room the reader makes.
        let mut sent = 0u64;
        for _ in 0..4 {
            while sent < 3 && sub.push(Sqe::nop().user_data(sent + 100)).is_ok() {
                sent += 1;
            }
            let _ = sub.submit();
            loom::thread::yield_now();
        }
        let got = reader.join().unwrap();
        // Whatever the reader saw is a prefix of the posted stream, each CQE whole.
        for (i, c) in got.iter().enumerate() {
            assert_eq!(*c, Cqe::new(100 + i as u64, 0));
        }
    });
}
