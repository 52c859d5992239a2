//! The simulator's standard op-slot ops, registered on every `BPF_EXT` ring it creates.
//!
//! | slot | op | SQE | CQE res |
//! |---:|---|---|---|
//! | 0 | `answer` | — | 42 (the series' basic selftest op) |
//! | 1 | `echo` | op flags = v | v (the low 24 bits of `bpf_op_flags`) |
//! | 2 | `errno` | op flags = e, 1 ≤ e ≤ 4095 | `-e` from issue (fail path); e outside → prep -EINVAL |

use fwring::{Errno, Issue, IssueCx, Op, OpVTable, PrepCx, Ring, Sqe, vtable};

/// Completes with 42.
pub struct Answer;
impl Op for Answer {
    type Pdu = ();
    fn prep(_: &mut PrepCx<'_>, _: &Sqe) -> Result<(), Errno> {
        Ok(())
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        cx.set_result(42);
        Issue::Done
    }
}

/// Completes with its 24 op-private flag bits.
pub struct Echo;
impl Op for Echo {
    type Pdu = u32;
    fn prep(cx: &mut PrepCx<'_>, _: &Sqe) -> Result<u32, Errno> {
        Ok(cx.info().op_flags())
    }
    fn issue(cx: &mut IssueCx<'_>, v: &mut u32) -> Issue {
        cx.set_result(*v as i32);
        Issue::Done
    }
}

/// Fails its issue with the errno given in its op flags.
pub struct FailWith;
impl Op for FailWith {
    type Pdu = u16;
    fn prep(cx: &mut PrepCx<'_>, _: &Sqe) -> Result<u16, Errno> {
        let e = cx.info().op_flags();
        u16::try_from(e).ok().and_then(Errno::new).map(Errno::get).ok_or(Errno::EINVAL)
    }
    fn issue(_: &mut IssueCx<'_>, e: &mut u16) -> Issue {
        Issue::Err(Errno::new(*e).unwrap_or(Errno::EINVAL))
    }
}

/// Slot of [`Answer`].
pub const ANSWER: u8 = 0;
/// Slot of [`Echo`].
pub const ECHO: u8 = 1;
/// Slot of [`FailWith`].
pub const ERRNO: u8 = 2;

static TABLES: [OpVTable; 3] =
    [vtable::<Answer>(ANSWER as u16), vtable::<Echo>(ECHO as u16), vtable::<FailWith>(ERRNO as u16)];

/// Register the standard ops on a `BPF_EXT` ring.
pub fn register<const SQ: usize, const CQ: usize, const N: usize>(ring: &mut Ring<SQ, CQ, N>) -> Result<(), Errno> {
    TABLES.iter().try_for_each(|t| ring.register_op(t))
}

/// `(slot, name)` of every standard op, for listings.
pub const LIST: [(u8, &str); 3] = [(ANSWER, "answer"), (ECHO, "echo"), (ERRNO, "errno")];
