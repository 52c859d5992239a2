//! The NOP benchmark on the target: the host benchmark's three workloads
//! (`tests/src/bench.rs`), moved to the MCU unchanged. Each moves batches of [`BATCH`]
//! NOP requests through submit and reap and folds the CQEs into a checksum:
//!
//! - floor: a minimal hand-written ring — an array of 64-byte SQEs, dispatch through a
//!   16-entry table of fn pointers, a 16-byte CQE write, no atomics, no checks;
//! - `heapless::spsc`: queues moving the same SQEs and CQEs (enqueue + dequeue of a
//!   64-byte entry), same dispatch;
//! - fwring: `Ring::push` × 32, `submit`, `pop` × 32, with every Linux check.
//!
//! Each workload runs [`BATCHES`] and then 2 × [`BATCHES`] batches, each run between two
//! calls of `fw_bench_mark`; the host takes the difference of the two runs' instruction
//! counts, so start-up and the measuring itself cancel. Counts come from outside on
//! Cortex-M (QEMU's one-instruction-per-block exec log between the marks) and from
//! `minstret` under `-icount shift=0` on RISC-V (printed here).

use core::hint::black_box;

use fwring::{Cqe, Ring, Sqe};
use static_cell::ConstStaticCell;

use crate::board;

/// Requests per submit.
pub const BATCH: usize = 32;
/// Batches of the short run; the long run has twice as many.
pub const BATCHES: u64 = 16;

type Handler = fn(&Sqe) -> i32;

fn op_nop(_: &Sqe) -> i32 {
    0
}

fn op_inval(_: &Sqe) -> i32 {
    -22
}

/// The dispatch table of the floor and spsc workloads: 16 fn pointers indexed by the
/// low 4 opcode bits.
static TABLE: [Handler; 16] = {
    let mut t: [Handler; 16] = [op_inval; 16];
    t[0] = op_nop;
    t
};

#[inline(always)]
fn fold(sum: u64, c: &Cqe) -> u64 {
    sum.wrapping_add(c.user_data ^ c.res as u64)
}

/// One submit/reap implementation under test.
trait Workload {
    fn push(&mut self, sqe: &Sqe);
    fn submit(&mut self);
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
struct Floor {
    sqes: [Sqe; 64],
    cqes: [Cqe; 128],
    sq_head: u32,
    sq_tail: u32,
    cq_head: u32,
    cq_tail: u32,
}

impl Floor {
    const fn new() -> Self {
        Floor { sqes: [Sqe::nop(); 64], cqes: [Cqe::new(0, 0); 128], sq_head: 0, sq_tail: 0, cq_head: 0, cq_tail: 0 }
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
struct Spsc {
    sq: heapless::spsc::Queue<Sqe, 64>,
    cq: heapless::spsc::Queue<Cqe, 128>,
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

/// The fwring ring the benchmark uses (the host benchmark's size).
type BenchRing = Ring<64, 128, 64>;

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

static FLOOR: ConstStaticCell<Floor> = ConstStaticCell::new(Floor::new());
static SPSC: ConstStaticCell<Spsc> =
    ConstStaticCell::new(Spsc { sq: heapless::spsc::Queue::new(), cq: heapless::spsc::Queue::new() });
static RING: ConstStaticCell<BenchRing> = ConstStaticCell::new(Ring::new());

/// The measuring points: the host finds this function by name and counts the
/// instructions executed between consecutive calls.
#[inline(never)]
fn fw_bench_mark(id: u32) {
    black_box(id);
}

/// Run every workload for [`BATCHES`] and 2 × [`BATCHES`] batches, printing one line per
/// run: `bench <workload> batches <n> ops <n × 32> instret <count or 0> sum <checksum>`.
pub fn run() -> bool {
    log_info!("fwring NOP benchmark on {}", board::NAME);
    let sqes: [Sqe; BATCH] = core::array::from_fn(|i| Sqe::nop().user_data(i as u64 + 1));
    let mut mark = 0;
    let ok = measure("floor", FLOOR.take(), &sqes, &mut mark)
        & measure("heapless::spsc", SPSC.take(), &sqes, &mut mark)
        & measure("fwring", RING.take(), &sqes, &mut mark);
    log_line!("bench done, {} marks", mark);
    ok
}

fn measure(name: &str, w: &mut impl Workload, sqes: &[Sqe; BATCH], mark: &mut u32) -> bool {
    // Every workload must produce the same checksum: each CQE is (user_data, 0).
    let per_batch: u64 = (1..=BATCH as u64).sum();
    let mut ok = true;
    for batches in [BATCHES, 2 * BATCHES] {
        let start = board::instret();
        fw_bench_mark(*mark);
        let sum = w.run(sqes, batches);
        fw_bench_mark(*mark + 1);
        let end = board::instret();
        *mark += 2;
        let ops = batches * BATCH as u64;
        log_line!("bench {} batches {} ops {} instret {} sum {}", name, batches, ops, end - start, sum);
        ok &= sum == per_batch * batches;
    }
    ok
}
