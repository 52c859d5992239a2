//! Link chains, a failing member, and timeouts on the caller's clock.
//!
//! `cargo run -p fwring --example links_and_timeouts`

use fwring::{Cqe, Errno, Ring, Sqe, SqeFlags, Stop, TimeoutFlags};

fn main() {
    let mut ring: Ring<8, 16, 8> = Ring::new();

    // A chain of three: the middle one fails, the last is cancelled.
    ring.push(Sqe::nop().user_data(1).flags(SqeFlags::IO_LINK)).unwrap();
    ring.push(Sqe::nop_inject(-5).user_data(2).flags(SqeFlags::IO_LINK)).unwrap();
    ring.push(Sqe::nop().user_data(3)).unwrap();
    let s = ring.submit();
    assert_eq!((s.taken, s.stop), (3, Stop::Empty));
    for want in [Cqe::new(1, 0), Cqe::new(2, -5), Cqe::new(3, Errno::ECANCELED.res())] {
        let got = ring.pop().unwrap();
        println!("user_data {} -> res {}", got.user_data, got.res);
        assert_eq!(got, want);
    }

    // A 1 ms timeout, and a counting timeout that completes after 2 other CQEs.
    ring.push(Sqe::timeout(1_000_000, 0, TimeoutFlags::empty()).user_data(10)).unwrap();
    ring.push(Sqe::timeout(u64::MAX / 2, 2, TimeoutFlags::empty()).user_data(11)).unwrap();
    let _ = ring.submit();
    println!("next deadline: {:?} ns", ring.next_deadline());
    ring.push(Sqe::nop().user_data(12)).unwrap();
    ring.push(Sqe::nop().user_data(13)).unwrap();
    let _ = ring.submit();
    let got: Vec<Cqe> = std::iter::from_fn(|| ring.pop()).collect();
    assert_eq!(got, [Cqe::new(12, 0), Cqe::new(13, 0), Cqe::new(11, 0)]);
    ring.tick(1_000_000);
    assert_eq!(ring.pop(), Some(Cqe::new(10, Errno::ETIME.res())));
    println!("timeout 10 fired at 1 ms: -ETIME; counting timeout 11 completed after 2 CQEs");
}
