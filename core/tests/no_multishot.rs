//! fwring built without the `multishot` feature (`cargo test -p fwring
//! --no-default-features --test no_multishot`): no provided-buffer rings, so no opcode
//! takes `IOSQE_BUFFER_SELECT` — an op-slot SQE with it fails -EOPNOTSUPP at submit, as
//! Linux answers for an opcode without buffer select (`io_init_req`), and its op's prep
//! never runs; the same SQE without the flag runs as with the feature.
#![cfg(not(feature = "multishot"))]

use std::sync::atomic::{AtomicU32, Ordering};

use fwring::{Cqe, Errno, Issue, IssueCx, Op, OpVTable, PrepCx, Ring, Setup, SetupFlags, Sqe, SqeFlags, vtable};

static PREPS: AtomicU32 = AtomicU32::new(0);

/// Completes with its op flags; counts its preps.
struct Echo;

impl Op for Echo {
    type Pdu = u32;

    fn prep(cx: &mut PrepCx<'_>, _sqe: &Sqe) -> Result<u32, Errno> {
        PREPS.fetch_add(1, Ordering::Relaxed);
        Ok(cx.info().private_flags())
    }

    fn issue(cx: &mut IssueCx<'_>, pdu: &mut u32) -> Issue {
        cx.set_result(*pdu as i32);
        Issue::Done
    }
}

static ECHO: OpVTable = vtable::<Echo>(3);

#[test]
fn buffer_select_is_eopnotsupp_for_op_slots_and_nop() {
    let mut r: Ring<8, 16, 8> = Ring::new();
    r.setup(Setup::new(8).flags(SetupFlags::BPF_EXT | SetupFlags::SUBMIT_ALL)).unwrap();
    r.register_op(&ECHO).unwrap();
    r.push(Sqe::bpf(3, 7).user_data(1).flags(SqeFlags::BUFFER_SELECT).buf_index(1)).unwrap();
    r.push(Sqe::nop().user_data(2).flags(SqeFlags::BUFFER_SELECT)).unwrap();
    // A chain whose head fails at submit: the rest is cancelled, never prepared.
    r.push(Sqe::bpf(3, 8).user_data(3).flags(SqeFlags::BUFFER_SELECT | SqeFlags::IO_LINK)).unwrap();
    r.push(Sqe::bpf(3, 9).user_data(4)).unwrap();
    r.push(Sqe::bpf(3, 5).user_data(5)).unwrap();
    assert_eq!(r.submit().taken, 5);
    let eop = Errno::EOPNOTSUPP.res();
    let cqes: Vec<Cqe> = core::iter::from_fn(|| r.pop()).collect();
    // The cancelled member's CQE comes from the task-work pass, after 5 ran inline: the
    // ring's usual (Linux's) order for a chain failed at submit.
    assert_eq!(
        cqes,
        [Cqe::new(1, eop), Cqe::new(2, eop), Cqe::new(3, eop), Cqe::new(5, 5), Cqe::new(4, Errno::ECANCELED.res())]
    );
    // None of the SQEs with the flag reached prep; 4 and 5 did (a chain member is
    // prepared as in Linux's io_init_req, then cancelled).
    assert_eq!(PREPS.load(Ordering::Relaxed), 2, "only the SQEs without the flag were prepared");
}
