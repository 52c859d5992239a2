//! fwring built without the `timeouts` feature (`cargo test -p fwring
//! --no-default-features --test no_timeouts`): the timeout and cancel opcodes fail
//! -EOPNOTSUPP after the generic checks, like any opcode the ring does not build in
//! (READV here), and everything else — links included — runs as with the feature.
#![cfg(not(feature = "timeouts"))]

use fwring::{Cqe, Errno, Ring, Setup, SetupFlags, Sqe, SqeFlags, opcode};

fn run(op: u8) -> Vec<Cqe> {
    let mut r: Ring<8, 16, 8> = Ring::new();
    r.setup(Setup::new(8).flags(SetupFlags::SUBMIT_ALL)).unwrap();
    r.push(Sqe::new(op).user_data(1)).unwrap();
    // A chain whose second member fails at prep: the head is cancelled, never issued.
    r.push(Sqe::nop().user_data(10).flags(SqeFlags::IO_LINK)).unwrap();
    r.push(Sqe::new(op).user_data(11)).unwrap();
    r.push(Sqe::nop().user_data(12)).unwrap();
    assert_eq!(r.submit().taken, 4);
    assert_eq!(r.next_deadline(), None);
    assert_eq!(r.tick(u64::MAX), 0);
    core::iter::from_fn(|| r.pop()).collect()
}

#[test]
fn timeout_and_cancel_opcodes_are_eopnotsupp_like_any_missing_opcode() {
    let missing = run(opcode::READV);
    let eop = Errno::EOPNOTSUPP.res();
    assert_eq!(missing[0], Cqe::new(1, eop));
    assert_eq!(missing.len(), 4);
    for op in [opcode::TIMEOUT, opcode::LINK_TIMEOUT, opcode::TIMEOUT_REMOVE, opcode::ASYNC_CANCEL] {
        assert_eq!(run(op), missing, "opcode {op}");
    }
}
