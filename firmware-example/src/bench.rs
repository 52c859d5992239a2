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

pub use workloads::BATCH;
use workloads::{BenchRing, Floor, Spsc, Workload};

/// Batches of the short run; the long run has twice as many.
pub const BATCHES: u64 = 16;

static FLOOR: ConstStaticCell<Floor> = ConstStaticCell::new(Floor::new());
static SPSC: ConstStaticCell<Spsc> = ConstStaticCell::new(Spsc::new());
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
