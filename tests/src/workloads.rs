//! The NOP benchmark's three workloads, one source for the host (`bench.rs`: criterion
//! and callgrind) and the target (`firmware-example/src/bench.rs` includes this file):
//! each moves a batch of [`BATCH`] NOP requests through submit and reap and folds the
//! completions into a checksum, so nothing is optimised away.
//!
//! - [`Floor`]: a minimal hand-written ring — an array of 64-byte SQEs, dispatch through
//!   a 16-entry table of fn pointers, a 16-byte CQE write, no atomics, no checks.
//! - [`Spsc`]: `heapless::spsc` queues moving the same SQEs and CQEs (enqueue + dequeue
//!   of a 64-byte entry), same dispatch.
//! - [`BenchRing`]: fwring, `push` × 32, `submit`, `pop` × 32.
//!
//! `no_std`: only `core`, `heapless` and `fwring`.

use core::hint::black_box;

use fwring::{Cqe, Ring, Sqe};

/// Requests per submit.
pub const BATCH: usize = 32;

/// The SQEs every workload submits: NOPs with distinct user_data.
pub fn nops() -> [Sqe; BATCH] {
    core::array::from_fn(|i| Sqe::nop().user_data(i as u64 + 1))
}

#[inline(always)]
pub fn fold(sum: u64, c: &Cqe) -> u64 {
    sum.wrapping_add(c.user_data ^ c.res as u64)
}

type Handler = fn(&Sqe) -> i32;

fn op_nop(_: &Sqe) -> i32 {
    0
}

fn op_inval(_: &Sqe) -> i32 {
    -22
}

/// The floor's dispatch table: 16 fn pointers indexed by the low 4 opcode bits.
static TABLE: [Handler; 16] = {
    let mut t: [Handler; 16] = [op_inval; 16];
    t[0] = op_nop;
    t
};

/// One submit/reap implementation under test.
pub trait Workload {
    /// Queue one SQE.
    fn push(&mut self, sqe: &Sqe);
    /// Run everything queued.
    fn submit(&mut self);
    /// Reap one CQE.
    fn pop(&mut self) -> Option<Cqe>;

    /// `iters` batches of [`BATCH`]; returns the checksum of every CQE.
    fn run(&mut self, sqes: &[Sqe; BATCH], iters: u64) -> u64 {
        let mut sum = 0;
        for _ in 0..iters {
            for s in black_box(sqes) {
                self.push(s);
            }
            self.submit();
            while let Some(c) = self.pop() {
                sum = fold(sum, &c);
            }
        }
        sum
    }
}

/// The floor: a minimal hand-written ring.
pub struct Floor {
    sqes: [Sqe; 64],
    cqes: [Cqe; 128],
    sq_head: u32,
    sq_tail: u32,
    cq_head: u32,
    cq_tail: u32,
}

impl Floor {
    /// An empty ring.
    pub const fn new() -> Self {
        Floor { sqes: [Sqe::nop(); 64], cqes: [Cqe::new(0, 0); 128], sq_head: 0, sq_tail: 0, cq_head: 0, cq_tail: 0 }
    }
}

impl Default for Floor {
    fn default() -> Self {
        Floor::new()
    }
}

impl Workload for Floor {
    #[inline(never)]
    fn push(&mut self, sqe: &Sqe) {
        self.sqes[(self.sq_tail & 63) as usize] = *sqe;
        self.sq_tail = self.sq_tail.wrapping_add(1);
    }

    #[inline(never)]
    fn submit(&mut self) {
        while self.sq_head != self.sq_tail {
            let sqe = &self.sqes[(self.sq_head & 63) as usize];
            let res = TABLE[(sqe.opcode & 15) as usize](sqe);
            self.cqes[(self.cq_tail & 127) as usize] = Cqe::new(sqe.user_data, res);
            self.cq_tail = self.cq_tail.wrapping_add(1);
            self.sq_head = self.sq_head.wrapping_add(1);
        }
    }

    #[inline(never)]
    fn pop(&mut self) -> Option<Cqe> {
        if self.cq_head == self.cq_tail {
            return None;
        }
        let c = self.cqes[(self.cq_head & 127) as usize];
        self.cq_head = self.cq_head.wrapping_add(1);
        Some(c)
    }
}

/// `heapless::spsc` queues for SQEs and CQEs, with the floor's dispatch.
pub struct Spsc {
    sq: heapless::spsc::Queue<Sqe, 64>,
    cq: heapless::spsc::Queue<Cqe, 128>,
}

impl Spsc {
    /// Empty queues.
    pub const fn new() -> Self {
        Spsc { sq: heapless::spsc::Queue::new(), cq: heapless::spsc::Queue::new() }
    }
}

impl Default for Spsc {
    fn default() -> Self {
        Spsc::new()
    }
}

impl Workload for Spsc {
    #[inline(never)]
    fn push(&mut self, sqe: &Sqe) {
        let _ = self.sq.enqueue(*sqe);
    }

    #[inline(never)]
    fn submit(&mut self) {
        while let Some(sqe) = self.sq.dequeue() {
            let res = TABLE[(sqe.opcode & 15) as usize](&sqe);
            let _ = self.cq.enqueue(Cqe::new(sqe.user_data, res));
        }
    }

    #[inline(never)]
    fn pop(&mut self) -> Option<Cqe> {
        self.cq.dequeue()
    }
}

/// The fwring ring the benchmark uses.
pub type BenchRing = Ring<64, 128, 64>;

impl Workload for BenchRing {
    #[inline(never)]
    fn push(&mut self, sqe: &Sqe) {
        let _ = Ring::push(self, *sqe);
    }

    #[inline(never)]
    fn submit(&mut self) {
        let _ = black_box(Ring::submit(self));
    }

    #[inline(never)]
    fn pop(&mut self) -> Option<Cqe> {
        Ring::pop(self)
    }
}
