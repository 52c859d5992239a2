//! Wear levelling and write amplification of the FTL (module docs, "Wear levelling"):
//! segments are reclaimed in journal order, so erase counts stay within 1 of each other
//! under a skewed workload, and static data moves with every lap of the journal.

mod ftlsim;

use ftlsim::*;
use fwring_hal::ftl::{FtlConfig, block_on};

fn counts(dev: &Dev) -> Vec<u32> {
    dev.flash().0.erase_counts().to_vec()
}

#[test]
fn erase_counts_stay_within_one_under_a_skewed_workload_and_static_data_moves() {
    // 256 KiB: 64 segments of one 4 KiB erase block, 512-byte blocks.
    let mut dev = format(chip(256 * 1024, 3), &FtlConfig::new(512).ckpt_every(8));
    let n = dev.blocks();
    let after_format = counts(&dev);
    // Every block written once; the upper half is static (never written again).
    for lba in 0..n {
        block_on(dev.write_blocks(lba, &block_data(512, lba, 0))).unwrap();
    }
    let stat = n / 2;
    let hot = stat / 10;
    let mut r = Rng(5);
    let mut writes = 0u64;
    // 90 % of the writes to the first 10 % of the dynamic blocks.
    while counts(&dev).iter().zip(&after_format).map(|(a, b)| a - b).min().unwrap() < 100 {
        let lba = if r.below(10) < 9 { r.below(u64::from(hot)) } else { r.below(u64::from(stat)) } as u32;
        writes += 1;
        block_on(dev.write_blocks(lba, &block_data(512, lba, writes))).unwrap();
    }
    let wear: Vec<u32> = counts(&dev).iter().zip(&after_format).map(|(a, b)| a - b).collect();
    let (lo, hi) = (*wear.iter().min().unwrap(), *wear.iter().max().unwrap());
    println!("{writes} skewed writes: erases per segment {lo}..{hi}");
    assert!(hi - lo <= 1, "spread {lo}..{hi}");
    // Every segment was erased 100 times, yet the static blocks read back: they moved.
    let mut buf = vec![0u8; 512];
    for lba in stat..n {
        block_on(dev.read_blocks(lba, &mut buf)).unwrap();
        assert_eq!(buf, block_data(512, lba, 0), "static block {lba}");
    }
    assert!(dev.stats().moved >= u64::from(n - stat) * 99, "static data moved every lap");
}

/// Write amplification of random single-block writes over the first `fill` of the
/// flash's slots, after a warm-up: (bytes programmed / bytes written, erases / write).
fn amplification(fill: f64) -> (f64, f64) {
    let mut dev = format(chip(256 * 1024, 3), &FtlConfig::new(512).op_percent(0));
    let g = *dev.geometry();
    let live = ((f64::from(g.segs * g.slots_per_seg) * fill) as u32).min(dev.blocks());
    let mut r = Rng(9);
    for i in 0..3 * live {
        let lba = if i < live { i } else { r.below(u64::from(live)) as u32 };
        block_on(dev.write_blocks(lba, &block_data(512, lba, u64::from(i)))).unwrap();
    }
    dev.reset_stats();
    let n = 4 * live;
    for i in 0..n {
        let lba = r.below(u64::from(live)) as u32;
        block_on(dev.write_blocks(lba, &block_data(512, lba, u64::from(i)))).unwrap();
    }
    let s = dev.stats();
    (s.bytes_programmed as f64 / (f64::from(n) * 512.0), s.erases as f64 / f64::from(n))
}

#[test]
fn write_amplification_at_half_and_ninety_percent_fill() {
    let (wa50, e50) = amplification(0.5);
    let (wa90, e90) = amplification(0.9);
    println!("fill 50 %: WA {wa50:.2}, {e50:.3} erases/write; fill 90 %: WA {wa90:.2}, {e90:.3} erases/write");
    // A slot is 544 bytes for 512 of data (1.06); FIFO reclaim moves what is still live.
    assert!((1.06..1.6).contains(&wa50), "{wa50}");
    assert!((1.5..12.0).contains(&wa90), "{wa90}");
    assert!(wa90 > wa50);
}
