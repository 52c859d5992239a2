//! The request kinds of the performance table (`cargo xtask bench` → docs/perf.md), each
//! through fwring and through a hand-written floor doing the same work in the same run:
//!
//! - `nop-bN`: NOPs, `N` per submit (1, 8, 32, 128): the fixed cost of a `submit` call;
//! - `nop-sqN`: NOPs at batch `min(32, N)` on a ring of `N` SQ entries (8 … 4096): the
//!   cost per request must not grow with the ring;
//! - `op-b32`: an op-slot op whose result comes from its SQE (prep + issue), batch 32;
//!   the floor dispatches the same function through its 16-entry table;
//! - `chain4-b32`: 8 link chains of 4 NOPs per submit.
//!
//! `fwring:<row>` and `floor:<row>` name the two sides.

use core::hint::black_box;

use fwring::{
    Cqe, Errno, Issue, IssueCx, Op, OpVTable, PrepCx, Ring, Setup, SetupFlags, Sqe, SqeFlags, opcode, vtable,
};

/// Every row, in table order.
pub const ROWS: [&str; 10] = [
    "nop-b1",
    "nop-b8",
    "nop-b32",
    "nop-b128",
    "op-b32",
    "chain4-b32",
    "nop-sq8",
    "nop-sq64",
    "nop-sq512",
    "nop-sq4096",
];

/// Requests per batch of a row.
pub fn batch(row: &str) -> usize {
    match row {
        "nop-b1" => 1,
        "nop-b8" | "nop-sq8" => 8,
        "nop-b128" => 128,
        _ => 32,
    }
}

/// The trivial op: completes with the low byte of its private op flags.
struct Echo8;
impl Op for Echo8 {
    type Pdu = u32;
    fn prep(cx: &mut PrepCx<'_>, _sqe: &Sqe) -> Result<u32, Errno> {
        Ok(cx.info().private_flags() & 0xff)
    }
    fn issue(cx: &mut IssueCx<'_>, pdu: &mut u32) -> Issue {
        cx.set_result(*pdu as i32);
        Issue::Done
    }
}
const ECHO_SLOT: u8 = 3;
static ECHO: OpVTable = vtable::<Echo8>(ECHO_SLOT);

/// The same op as the floor runs it.
fn floor_echo(sqe: &Sqe) -> i32 {
    (fwring::bpf_op_private(sqe.op_flags) & 0xff) as i32
}
fn floor_nop(_: &Sqe) -> i32 {
    0
}
fn floor_inval(_: &Sqe) -> i32 {
    -22
}
type Handler = fn(&Sqe) -> i32;
static TABLE: [Handler; 16] = {
    let mut t: [Handler; 16] = [floor_inval; 16];
    t[(opcode::NOP & 15) as usize] = floor_nop;
    t[(opcode::BPF & 15) as usize] = floor_echo;
    t
};

/// The floor: a minimal hand-written ring (no checks, no atomics), 256 entries.
struct Floor {
    sqes: [Sqe; 256],
    cqes: [Cqe; 256],
    sq: (u32, u32),
    cq: (u32, u32),
}

impl Floor {
    #[inline(never)]
    fn push(&mut self, sqe: &Sqe) {
        self.sqes[(self.sq.1 & 255) as usize] = *sqe;
        self.sq.1 = self.sq.1.wrapping_add(1);
    }
    #[inline(never)]
    fn submit(&mut self) {
        while self.sq.0 != self.sq.1 {
            let sqe = &self.sqes[(self.sq.0 & 255) as usize];
            let res = TABLE[(sqe.opcode & 15) as usize](sqe);
            self.cqes[(self.cq.1 & 255) as usize] = Cqe::new(sqe.user_data, res);
            self.cq.1 = self.cq.1.wrapping_add(1);
            self.sq.0 = self.sq.0.wrapping_add(1);
        }
    }
    #[inline(never)]
    fn pop(&mut self) -> Option<Cqe> {
        if self.cq.0 == self.cq.1 {
            return None;
        }
        let c = self.cqes[(self.cq.0 & 255) as usize];
        self.cq.0 = self.cq.0.wrapping_add(1);
        Some(c)
    }
}

/// The SQEs of one batch of `row`.
pub fn sqes(row: &str) -> Vec<Sqe> {
    let n = batch(row);
    (0..n)
        .map(|i| {
            let ud = i as u64 + 1;
            match row {
                "op-b32" => Sqe::bpf(ECHO_SLOT, i as u32).user_data(ud),
                "chain4-b32" if i % 4 != 3 => Sqe::nop().user_data(ud).flags(SqeFlags::IO_LINK),
                _ => Sqe::nop().user_data(ud),
            }
        })
        .collect()
}

fn fold(sum: u64, c: &Cqe) -> u64 {
    sum.wrapping_add(c.user_data ^ c.res as u64)
}

#[inline(never)]
fn push<const SQ: usize, const CQ: usize, const N: usize>(r: &mut Ring<SQ, CQ, N>, sqe: &Sqe) {
    let _ = r.push(*sqe);
}
#[inline(never)]
fn submit<const SQ: usize, const CQ: usize, const N: usize>(r: &mut Ring<SQ, CQ, N>) {
    let _ = black_box(r.submit());
}
#[inline(never)]
fn pop<const SQ: usize, const CQ: usize, const N: usize>(r: &mut Ring<SQ, CQ, N>) -> Option<Cqe> {
    r.pop()
}

fn fwring_on<const SQ: usize, const CQ: usize, const N: usize>(sqes: &[Sqe], iters: u64) -> u64 {
    let mut ring: Box<Ring<SQ, CQ, N>> = Box::default();
    ring.setup(Setup::new(SQ as u32).flags(SetupFlags::BPF_EXT)).expect("setup");
    ring.register_op(&ECHO).expect("register");
    let mut sum = 0;
    for _ in 0..iters {
        for s in black_box(sqes) {
            push(&mut ring, s);
        }
        submit(&mut ring);
        while let Some(c) = pop(&mut ring) {
            sum = fold(sum, &c);
        }
    }
    sum
}

fn floor_run(sqes: &[Sqe], iters: u64) -> u64 {
    let mut f = Box::new(Floor { sqes: [Sqe::nop(); 256], cqes: [Cqe::new(0, 0); 256], sq: (0, 0), cq: (0, 0) });
    let mut sum = 0;
    for _ in 0..iters {
        for s in black_box(sqes) {
            f.push(s);
        }
        f.submit();
        while let Some(c) = f.pop() {
            sum = fold(sum, &c);
        }
    }
    sum
}

/// Run `side:row` (`fwring:op-b32`, `floor:nop-b1`, …) for `iters` batches; the
/// checksum of every CQE, or `None` for an unknown name.
pub fn run(name: &str, iters: u64) -> Option<u64> {
    let (side, row) = name.split_once(':')?;
    if !ROWS.contains(&row) {
        return None;
    }
    let sqes = sqes(row);
    match side {
        "floor" => Some(floor_run(&sqes, iters)),
        "fwring" => Some(match row {
            "nop-sq8" => fwring_on::<8, 16, 8>(&sqes, iters),
            "nop-sq64" => fwring_on::<64, 128, 64>(&sqes, iters),
            "nop-sq512" => fwring_on::<512, 1024, 512>(&sqes, iters),
            "nop-sq4096" => fwring_on::<4096, 8192, 4096>(&sqes, iters),
            _ => fwring_on::<128, 256, 128>(&sqes, iters),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_of_every_row_give_the_same_completions() {
        // The 4096-entry ring is built on the stack before it is boxed: room for it.
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(|| {
                for row in ROWS {
                    let (a, b) = (run(&format!("fwring:{row}"), 3), run(&format!("floor:{row}"), 3));
                    assert_eq!(a, b, "{row}");
                    assert!(a.is_some_and(|s| s != 0), "{row}");
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
