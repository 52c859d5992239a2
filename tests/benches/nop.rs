//! Criterion: NOP submit + reap at batch 32, ns per request, side by side:
//! the hand-written floor ring, heapless::spsc, fwring, and the kernel's io_uring.
//! `cargo bench -p fwring-tests --bench nop`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fwring_tests::bench::{BATCH, BenchRing, Floor, Spsc, Workload, fwring_run, nops};

fn nop_batch32(c: &mut Criterion) {
    let sqes = nops();
    let mut g = c.benchmark_group("nop_batch32");
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut floor = Floor::default();
    g.bench_function("floor", |b| b.iter(|| floor.run(&sqes, 1)));
    let mut spsc = Spsc::default();
    g.bench_function("heapless_spsc", |b| b.iter(|| spsc.run(&sqes, 1)));
    let mut ring = BenchRing::new();
    g.bench_function("fwring", |b| b.iter(|| fwring_run(&mut ring, &sqes, 1)));
    #[cfg(target_os = "linux")]
    if let Ok(mut k) = fwring_tests::kernel::KernelRing::new(64, 0, 0) {
        g.bench_function("kernel_io_uring", |b| b.iter(|| fwring_tests::bench::kernel_run(&mut k, &sqes, 1).unwrap()));
    }
    g.finish();
}

criterion_group!(benches, nop_batch32);
criterion_main!(benches);
