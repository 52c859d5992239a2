//! `size-core`: the ring core, for the size report — a `Ring` in a static, set up with
//! `BPF_EXT` and all 16 op slots registered (tables of one trivial op), and a loop
//! submitting NOPs and op-slot SQEs and reaping their CQEs. No buffer ops, no logging.
#![no_std]
#![no_main]

use core::hint::black_box;

use fwring::{Errno, Issue, IssueCx, MAX_OP_SLOTS, Op, OpVTable, PrepCx, Ring, Setup, SetupFlags, Sqe, vtable};
use static_cell::ConstStaticCell;

fwring_firmware::entry!(app);

/// The trivial op: completes with its op flags.
struct Echo;

impl Op for Echo {
    type Pdu = u32;

    fn prep(cx: &mut PrepCx<'_>, _sqe: &Sqe) -> Result<u32, Errno> {
        Ok(cx.info().op_flags())
    }

    fn issue(cx: &mut IssueCx<'_>, pdu: &mut u32) -> Issue {
        cx.set_result(*pdu as i32);
        Issue::Done
    }
}

static SLOTS: [OpVTable; MAX_OP_SLOTS] = {
    let mut t = [vtable::<Echo>(0); MAX_OP_SLOTS];
    let mut i = 0;
    while i < MAX_OP_SLOTS {
        t[i] = vtable::<Echo>(i as u8);
        i += 1;
    }
    t
};

static RING: ConstStaticCell<Ring<16, 32, 16>> = ConstStaticCell::new(Ring::new());

fn app() -> bool {
    let ring = RING.take();
    if ring.setup(Setup::new(16).flags(SetupFlags::BPF_EXT)).is_err() {
        return false;
    }
    for t in &SLOTS {
        if ring.register_op(t).is_err() {
            return false;
        }
    }
    let mut sum = 0u64;
    for i in 0..black_box(4u64) {
        for s in 0..MAX_OP_SLOTS as u8 {
            let sqe = if s % 2 == 0 { Sqe::nop() } else { Sqe::bpf(s, s as u32) };
            let _ = ring.push(black_box(sqe.user_data(i)));
        }
        let _ = black_box(ring.submit());
        while let Some(c) = ring.pop() {
            sum = sum.wrapping_add(c.user_data ^ c.res as u64);
        }
    }
    black_box(sum) != u64::MAX
}
