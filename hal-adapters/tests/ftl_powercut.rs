//! The power-cut guarantee (module docs of `fwring_hal::ftl`): cut power at every
//! program and erase of small workloads, and at thousands of random points of a large
//! one; tear the operation cut (a partly programmed word, a partly erased block);
//! mount, check every block against the model, cut again during the recovery writes,
//! mount and check again. `FTL_SOAK=N` multiplies the random cuts.

mod ftlsim;

use ftlsim::*;
use fwring_hal::ftl::FtlConfig;

/// 64 KiB: 16 segments of 7 slots (512-byte blocks), 2 cached map pages, a checkpoint
/// every 2 segments — small enough to cut at every operation, big enough that the
/// workload wraps the journal (garbage collection, checkpoints, map page eviction).
fn small_cfg() -> FtlConfig {
    FtlConfig::new(512).map_cache(2).ckpt_every(2)
}

const SMALL: usize = 64 * 1024;

fn soak() -> u32 {
    std::env::var("FTL_SOAK").ok().and_then(|v| v.parse().ok()).unwrap_or(1)
}

/// What the cuts of a run did.
#[derive(Default, Debug)]
struct Tally {
    runs: u32,
    cuts: u32,
    torn_programs: u32,
    torn_erases: u32,
}

/// Format, run `steps` with power cut at mutation `k`; mount, verify; cut again `k2`
/// mutations into the `more` requests after it; mount, verify. Returns the device
/// and whether the first cut fired.
fn cut_run(dev: Dev, steps: &[Step], k: u32, k2: u32, more: &[Step], t: &mut Tally) -> (Dev, bool) {
    let (flash, ram) = dev.into_parts();
    let mut dev = format_with(flash.0, ram, &small_cfg());
    let mut model = Model::new(512, dev.blocks());
    dev.flash_mut().0.arm(k);
    let fired = steps.iter().any(|s| model.apply(&mut dev, *s).is_err());
    if !fired {
        dev.flash_mut().0.disarm();
        return (dev, false);
    }
    t.cuts += 1;
    let mut dev = remount(dev);
    model.verify(&mut dev);
    // The second cut: during the writes right after recovery (mount itself writes
    // nothing), which erase torn segments, collect garbage and checkpoint.
    dev.flash_mut().0.arm(k2);
    if more.iter().any(|s| model.apply(&mut dev, *s).is_err()) {
        t.cuts += 1;
    }
    dev.flash_mut().0.disarm();
    let mut dev = remount(dev);
    model.verify(&mut dev);
    (dev, true)
}

fn torn(dev: &Dev, t: &mut Tally) {
    let (p, e) = dev.flash().0.torn();
    t.torn_programs = p;
    t.torn_erases = e;
}

#[test]
fn every_cut_point_of_small_workloads_keeps_acknowledged_data() {
    let mut dev = format(chip(SMALL, 5), &small_cfg());
    let mut t = Tally::default();
    for seed in 1..=3u64 {
        let blocks = dev.blocks();
        let steps = workload(seed, blocks, 60, 3, seed == 2);
        let more = workload(seed + 100, blocks, 8, 2, false);
        let mut k = 0;
        loop {
            let k2 = (k * 7 + seed as u32) % 40;
            let (d, fired) = cut_run(dev, &steps, k, k2, &more, &mut t);
            dev = d;
            t.runs += 1;
            if !fired {
                break;
            }
            k += 1;
        }
        assert!(k > 200, "the workload has {k} cut points");
    }
    torn(&dev, &mut t);
    println!("every cut point: {t:?}");
    assert!(t.torn_erases > 10, "cuts landed on erases: {t:?}");
}

#[test]
fn thousands_of_random_cuts_in_a_long_workload_keep_acknowledged_data() {
    // 512 KiB, 4 cached pages: a cut at a random point within the next 400 mutations,
    // recover, go on from there, thousands of times.
    let cfg = FtlConfig::new(512).map_cache(4).ckpt_every(3);
    let mut dev = format(chip(512 * 1024, 9), &cfg);
    let blocks = dev.blocks();
    let mut model = Model::new(512, blocks);
    let mut r = Rng(11);
    let mut t = Tally::default();
    let target = 2000 * soak();
    let mut it = (77u64..).flat_map(|seed| workload(seed, blocks, 10_000, 4, true));
    while t.cuts < target {
        dev.flash_mut().0.arm(r.below(400) as u32);
        for s in it.by_ref() {
            if let Err(e) = model.apply(&mut dev, s) {
                if !dev.flash().0.is_dead() {
                    let r = fwring_hal::ftl::block_on(dev.check());
                    panic!(
                        "failed without a cut: {e:?} ({s:?}) after {} cuts; free {} {r:?} {:?} {:?}",
                        t.cuts,
                        dev.free_segments(),
                        dev.stats(),
                        dev.geometry()
                    );
                }
                break;
            }
        }
        t.cuts += 1;
        dev = remount(dev);
        // A full read-back every 50 cuts (and always the blocks in flight).
        if t.cuts % 50 == 0 {
            model.verify(&mut dev);
        } else {
            verify_inflight(&mut dev, &mut model);
        }
    }
    model.verify(&mut dev);
    torn(&dev, &mut t);
    println!("random cut points: {t:?}");
    assert_eq!(t.torn_programs + t.torn_erases, t.cuts);
    assert!(t.torn_erases > 20, "{t:?}");
}

/// Check just the blocks of the request cut short (and settle them in the model).
fn verify_inflight(dev: &mut Dev, model: &mut Model) {
    let mut buf = vec![0u8; model.bs];
    for (lba, new) in std::mem::take(&mut model.inflight) {
        fwring_hal::ftl::block_on(dev.read_blocks(lba, &mut buf)).unwrap();
        let old = &model.blocks[lba as usize];
        assert!(buf == *old || buf == new, "block {lba} reads garbage after a cut");
        model.blocks[lba as usize] = buf.clone();
    }
}

#[test]
fn a_format_cut_at_any_point_is_formatted_again_by_mount_or_format() {
    use fwring_hal::ftl::{Blocking, Ftl, block_on};
    let mut tried = 0;
    for k in 0.. {
        let mut c = chip(SMALL, 3);
        c.arm(k);
        let flash = match block_on(Ftl::format(Blocking(c), &small_cfg(), leak(8192))) {
            Ok(_) => break,
            Err(r) => r.flash,
        };
        tried += 1;
        let mut c = flash.0;
        c.revive();
        let mut dev = block_on(Ftl::mount_or_format(Blocking(c), &small_cfg(), leak(8192)))
            .unwrap_or_else(|r| panic!("cut at {k}: {:?}", r.error));
        block_on(dev.write_blocks(0, &[9u8; 512])).unwrap();
        assert_eq!(block_on(dev.check()).unwrap().mapped, 1);
    }
    println!("format cut at {tried} points");
    assert!(tried > 16);
}

#[test]
fn random_cuts_with_4k_blocks_in_segments_of_several_erase_blocks() {
    // 4 KiB blocks, segments of five 4 KiB erase blocks (a torn erase may leave some of
    // a segment's erase blocks erased and one half-erased), a map larger than its cache.
    let cfg = FtlConfig::new(4096).erase_per_seg(5).map_cache(2).ckpt_every(3);
    let mut dev = format(chip(1024 * 1024, 21), &cfg);
    let blocks = dev.blocks();
    let mut model = Model::new(4096, blocks);
    let mut r = Rng(23);
    let mut t = Tally::default();
    let mut it = (500u64..).flat_map(|seed| workload(seed, blocks, 10_000, 3, false));
    while t.cuts < 300 * soak() {
        dev.flash_mut().0.arm(r.below(120) as u32);
        for s in it.by_ref() {
            if let Err(e) = model.apply(&mut dev, s) {
                assert!(dev.flash().0.is_dead(), "failed without a cut: {e:?}");
                break;
            }
        }
        t.cuts += 1;
        dev = remount(dev);
        if t.cuts % 20 == 0 {
            model.verify(&mut dev);
        } else {
            verify_inflight(&mut dev, &mut model);
        }
    }
    model.verify(&mut dev);
    torn(&dev, &mut t);
    println!("4 KiB blocks, 5-erase-block segments: {t:?}");
    assert!(t.torn_erases > 5, "{t:?}");
}
