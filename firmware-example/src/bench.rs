//! The NOP benchmark on the target: the host benchmark's three workloads, from the same
//! source file (`tests/src/workloads.rs`). Each moves batches of [`BATCH`]
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

use fwring::{Ring, Sqe};
use static_cell::ConstStaticCell;

use crate::board;

#[path = "../../tests/src/workloads.rs"]
mod workloads;

/// The host's request-kind rows (`tests/src/rows.rs`): fwring beside a floor doing the
/// same work, on the ring of [`rows::RowRing`].
#[path = "../../tests/src/rows.rs"]
#[allow(dead_code)]
mod rows;

pub use workloads::BATCH;
use workloads::{BenchRing, Floor, Spsc, Workload};

/// Batches of the short run; the long run has twice as many.
pub const BATCHES: u64 = 16;

static FLOOR: ConstStaticCell<Floor> = ConstStaticCell::new(Floor::new());
static SPSC: ConstStaticCell<Spsc> = ConstStaticCell::new(Spsc::new());
static RING: ConstStaticCell<BenchRing> = ConstStaticCell::new(Ring::new());
static ROW_RING: ConstStaticCell<rows::RowRing> = ConstStaticCell::new(Ring::new());
static ROW_FLOOR: ConstStaticCell<rows::Floor> = ConstStaticCell::new(rows::Floor::new());
/// The buffer rows' registered buffers.
static ROW_MEM: ConstStaticCell<[[u8; rows::REGION_LEN]; rows::MANY]> =
    ConstStaticCell::new([[0; rows::REGION_LEN]; rows::MANY]);

/// Batches of a row's short run (the long run has twice as many): few, as the Cortex-M
/// count logs every instruction, and exact counts need no more.
pub const ROW_BATCHES: u64 = 2;

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
    let sqes = workloads::nops();
    let mut mark = 0;
    let ok = measure("floor", FLOOR.take(), &sqes, &mut mark)
        & measure("heapless::spsc", SPSC.take(), &sqes, &mut mark)
        & measure("fwring", RING.take(), &sqes, &mut mark);
    // Streaming (issue 16): a batch is 32 CQEs.
    let ok = ok
        && match crate::stream_bench::Streams::new() {
            Some(mut s) => {
                let per = crate::stream_bench::BATCH;
                measure_with("mshot", per, |n| s.multishot(n), &mut mark)
                    & measure_with("oneshot", per, |n| s.one_per_buffer(n), &mut mark)
            }
            None => false,
        };
    // Every request kind beside the floor (issue 13): the host's rows.
    let ok = ok & measure_rows(&mut mark);
    log_line!("bench done, {} marks", mark);
    // RISC-V: a real DMA device, through the ring beside straight through the driver.
    #[cfg(board = "qemu_virt")]
    let ok = ok & crate::bench_virtio::run();
    ok
}

fn measure(name: &str, w: &mut impl Workload, sqes: &[Sqe; BATCH], mark: &mut u32) -> bool {
    measure_with(name, BATCH as u64, |batches| w.run(sqes, batches), mark)
}

/// Run `run` for [`BATCHES`] and 2 × [`BATCHES`] batches of `per_batch` ops between marks.
fn measure_with(name: &str, per_batch_ops: u64, mut run: impl FnMut(u64) -> u64, mark: &mut u32) -> bool {
    // Every workload must produce the same checksum: each CQE is (user_data, 0).
    let per_batch: u64 = (1..=BATCH as u64).sum();
    let mut ok = true;
    for batches in [BATCHES, 2 * BATCHES] {
        let start = board::instret();
        fw_bench_mark(*mark);
        let sum = run(batches);
        fw_bench_mark(*mark + 1);
        let end = board::instret();
        *mark += 2;
        let ops = batches * per_batch_ops;
        log_line!("bench {} batches {} ops {} instret {} sum {}", name, batches, ops, end - start, sum);
        ok &= sum == per_batch * batches;
    }
    ok
}

/// Each row [`rows::on_target`] names through fwring and through the floor, for
/// [`ROW_BATCHES`] and 2 × [`ROW_BATCHES`] batches between marks, printed as
/// `bench <side>:<row> batches <n> ops <requests> instret <count or 0> sum <checksum>`.
/// Both sides of a row must give the same checksum.
fn measure_rows(mark: &mut u32) -> bool {
    let (ring, floor) = (ROW_RING.take(), ROW_FLOOR.take());
    let mut mem = rows::Mem::new(ROW_MEM.take().each_mut().map(|b| &mut b[..]));
    let mut ok = true;
    for row in rows::ROWS.into_iter().filter(|r| rows::on_target(r)) {
        let per = rows::batch(row) as u64;
        for batches in [ROW_BATCHES, 2 * ROW_BATCHES] {
            let mut sums = [None; 2];
            for (side, sum) in ["fwring", "floor"].into_iter().zip(sums.iter_mut()) {
                let start = board::instret();
                fw_bench_mark(*mark);
                *sum = if side == "fwring" {
                    rows::fwring_run(ring, row, &mut mem, batches)
                } else {
                    rows::floor_run(floor, row, &mut mem, batches)
                };
                fw_bench_mark(*mark + 1);
                let end = board::instret();
                *mark += 2;
                let s = sum.unwrap_or(0);
                log_line!(
                    "bench {}:{} batches {} ops {} instret {} sum {}",
                    side,
                    row,
                    batches,
                    batches * per,
                    end - start,
                    s
                );
            }
            ok &= sums[0].is_some() && sums[0] == sums[1];
        }
    }
    ok
}
