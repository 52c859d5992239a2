//! The FTL: data against a model, format/mount/check, bad input, and the ring ops.

mod ftlsim;

use embedded_storage::nor_flash::{NorFlash, NorFlashErrorKind};
use ftlsim::*;
use fwring_hal::ftl::{Blocking, Ftl, FtlConfig, FtlError, block_on};

fn cfg() -> FtlConfig {
    FtlConfig::new(512)
}

#[test]
fn random_workload_reads_equal_the_model_after_every_request() {
    let mut dev = format(chip(256 * 1024, 1), &cfg());
    let blocks = dev.blocks();
    let mut model = Model::new(512, blocks);
    let mut r = Rng(7);
    let mut buf = vec![0u8; 512];
    let mut moved = 0;
    for (i, step) in workload(3, blocks, 3000, 4, false).into_iter().enumerate() {
        model.apply(&mut dev, step).unwrap();
        // Read back a few blocks after every request, all of them now and then.
        for _ in 0..4 {
            let lba = r.below(u64::from(blocks)) as u32;
            block_on(dev.read_blocks(lba, &mut buf)).unwrap();
            assert_eq!(buf, model.blocks[lba as usize], "block {lba} after request {i}");
        }
        if i % 500 == 499 {
            moved += dev.stats().moved;
            dev = remount(dev);
            model.verify(&mut dev);
        }
    }
    assert!(moved > 1000, "garbage collection moved live blocks: {moved}");
    model.verify(&mut dev);
}

#[test]
fn no_word_is_ever_programmed_twice_and_fresh_blocks_read_zeros() {
    let mut dev = format(chip(128 * 1024, 1), &cfg());
    let mut buf = vec![0xaau8; 1024];
    block_on(dev.read_blocks(5, &mut buf)).unwrap();
    assert_eq!(buf, vec![0u8; 1024]);
    for (i, step) in workload(4, dev.blocks(), 2000, 3, false).into_iter().enumerate() {
        if let Step::Write { lba, n, .. } = step {
            let data: Vec<u8> = (0..n).flat_map(|j| block_data(512, lba + j, i as u64)).collect();
            block_on(dev.write_blocks(lba, &data)).unwrap();
        }
    }
    let s = dev.flash().0.flash().stats();
    assert!(s.erases > 50, "{s:?}");
    assert_eq!(s.reprogrammed_words, 0, "a NOR flash with ECC forbids programming a word twice");
}

#[test]
fn discarded_blocks_read_zeros_and_stay_discarded_after_a_remount() {
    let mut dev = format(chip(256 * 1024, 1), &cfg());
    let blocks = dev.blocks();
    let data: Vec<u8> = (0..blocks).flat_map(|lba| block_data(512, lba, 1)).collect();
    block_on(dev.write_blocks(0, &data)).unwrap();
    // A whole map page (128 entries) and parts of its neighbours.
    block_on(dev.discard(100, 200)).unwrap();
    let mut dev = remount(dev);
    let mut buf = vec![0u8; 512];
    for lba in [0, 99, 100, 200, 299, 300, blocks - 1] {
        block_on(dev.read_blocks(lba, &mut buf)).unwrap();
        let want = if (100..300).contains(&lba) { vec![0; 512] } else { block_data(512, lba, 1) };
        assert_eq!(buf, want, "block {lba}");
    }
    let report = block_on(dev.check()).unwrap();
    assert_eq!(report.mapped, blocks - 200);
}

#[test]
fn bad_requests_get_clear_errors_and_change_nothing() {
    let mut dev = format(chip(128 * 1024, 1), &cfg());
    let n = dev.blocks();
    block_on(dev.write_blocks(0, &block_data(512, 0, 1))).unwrap();
    let one = vec![1u8; 512];
    assert_eq!(block_on(dev.write_blocks(n, &one)), Err(FtlError::Range));
    assert_eq!(block_on(dev.write_blocks(n - 1, &[1u8; 1024])), Err(FtlError::Range));
    assert_eq!(block_on(dev.write_blocks(u32::MAX, &one)), Err(FtlError::Range));
    assert_eq!(block_on(dev.write_blocks(0, &[1u8; 100])), Err(FtlError::Length));
    assert_eq!(block_on(dev.write_blocks(0, &[])), Err(FtlError::Length));
    assert_eq!(block_on(dev.read_blocks(0, &mut [0u8; 513])), Err(FtlError::Length));
    assert_eq!(block_on(dev.discard(n - 1, 2)), Err(FtlError::Range));
    assert_eq!(block_on(dev.discard(0, 0)), Err(FtlError::Length));
    assert_eq!(FtlError::<NorFlashErrorKind>::Range.errno(), fwring::Errno::EFAULT);
    let mut buf = vec![0u8; 512];
    block_on(dev.read_blocks(0, &mut buf)).unwrap();
    assert_eq!(buf, block_data(512, 0, 1));
    assert_eq!(block_on(dev.check()).unwrap().mapped, 1);
}

#[test]
fn format_refuses_impossible_geometries_too_many_blocks_and_too_little_ram() {
    let refused = |c: FtlConfig, ram: usize| block_on(Ftl::format(Blocking(chip(64 * 1024, 1)), &c, leak(ram))).err();
    assert_eq!(refused(FtlConfig::new(100), 65536).map(|r| r.error), Some(FtlError::Config));
    assert_eq!(refused(FtlConfig::new(512).map_cache(1), 65536).map(|r| r.error), Some(FtlError::Config));
    assert_eq!(refused(FtlConfig::new(4096), 65536).map(|r| r.error), Some(FtlError::Config), "no slot fits");
    let err = refused(FtlConfig::new(512).blocks(10_000), 65536).map(|r| r.error);
    assert_eq!(err, Some(FtlError::NoSpace));
    assert_eq!(err.unwrap().errno(), fwring_hal::ftl::ENOSPC);
    assert_eq!(refused(FtlConfig::new(512), 100).map(|r| r.error), Some(FtlError::Ram));
    // Capacity and over-provisioning are chosen at format.
    let exact = block_on(Ftl::format(Blocking(chip(64 * 1024, 1)), &cfg().blocks(20), leak(65536))).unwrap();
    assert_eq!(exact.blocks(), 20);
    let op0 = block_on(Ftl::format(Blocking(chip(64 * 1024, 1)), &cfg().op_percent(0), leak(65536))).unwrap();
    let op30 = block_on(Ftl::format(Blocking(chip(64 * 1024, 1)), &cfg().op_percent(30), leak(65536))).unwrap();
    assert_eq!((op0.blocks(), op30.blocks()), (57, 39));
}

#[test]
fn a_full_device_keeps_serving_every_block_through_garbage_collection() {
    // Every block written, then rewritten again and again: the journal must always find
    // a segment to reclaim (over-provisioning guarantees it), never -ENOSPC.
    let mut dev = format(chip(64 * 1024, 1), &cfg().op_percent(0));
    let n = dev.blocks();
    for round in 0..20u64 {
        for lba in 0..n {
            block_on(dev.write_blocks(lba, &block_data(512, lba, round))).unwrap();
        }
    }
    let mut buf = vec![0u8; 512];
    for lba in 0..n {
        block_on(dev.read_blocks(lba, &mut buf)).unwrap();
        assert_eq!(buf, block_data(512, lba, 19));
    }
    assert_eq!(block_on(dev.check()).unwrap().mapped, n);
}

fn mount_error(chip: Chip) -> FtlError<NorFlashErrorKind> {
    match block_on(Ftl::mount(Blocking(chip), leak(65536))) {
        Ok(_) => panic!("mounted"),
        Err(r) => r.error,
    }
}

#[test]
fn mount_refuses_blank_foreign_newer_and_corrupt_images() {
    use fwring_hal::ftl::format::{SegHeader, VERSION};
    use zerocopy::{FromBytes, IntoBytes};
    assert_eq!(mount_error(chip(64 * 1024, 1)), FtlError::NotFormatted);
    // A foreign image: random bytes everywhere.
    let mut foreign = chip(64 * 1024, 1);
    let mut r = Rng(3);
    let junk: Vec<u8> = (0..65536).map(|_| r.next() as u8).collect();
    NorFlash::write(foreign.flash_mut(), 0, &junk).unwrap();
    assert_eq!(mount_error(foreign), FtlError::NotFormatted);
    // A newer version: every segment header says version 2 (CRC good).
    let mut dev = format(chip(64 * 1024, 1), &cfg());
    block_on(dev.write_blocks(0, &[3u8; 512])).unwrap();
    let (flash, _) = dev.into_parts();
    let mut newer = flash.0;
    let segs = 16;
    for s in 0..segs {
        let at = s * 4096;
        let raw = &newer.flash().as_bytes()[at..at + 32];
        let Ok(h) = SegHeader::read_from_bytes(raw) else { continue };
        if h.magic != fwring_hal::ftl::format::MAGIC {
            continue;
        }
        let h = SegHeader { version: VERSION + 1, ..h }.sealed();
        let mut seg: Vec<u8> = newer.flash().as_bytes()[at..at + 4096].to_vec();
        seg[..32].copy_from_slice(h.as_bytes());
        let f = newer.flash_mut();
        NorFlash::erase(f, at as u32, at as u32 + 4096).unwrap();
        NorFlash::write(f, at as u32, &seg).unwrap();
    }
    let refused = block_on(Ftl::mount_or_format(Blocking(newer), &cfg(), leak(65536))).err().unwrap();
    assert_eq!(refused.error, FtlError::Version(VERSION + 1), "a newer image is never formatted over");
    let err = mount_error(refused.flash.0);
    assert_eq!(err, FtlError::Version(VERSION + 1));
    // mount_or_format formats a flash with no FTL on it.
    let blank = block_on(Ftl::mount_or_format(Blocking(chip(64 * 1024, 1)), &cfg(), leak(65536))).unwrap();
    assert_eq!(blank.blocks(), 51);
    assert_eq!(err.errno(), fwring_hal::ftl::EPROTONOSUPPORT);
    // A corrupt one: the checkpoint's payload decayed (one bit).
    let dev = format(chip(64 * 1024, 1), &cfg());
    let (flash, _) = dev.into_parts();
    let mut bad = flash.0;
    // Format writes the first checkpoint into slot 0 of segment 0 (after its header).
    NorFlash::write(bad.flash_mut(), 32, &[0xfe, 0xff, 0xff, 0xff]).unwrap();
    let err = mount_error(bad);
    assert!(matches!(err, FtlError::Corrupt(_)), "{err:?}");
    assert_eq!(err.errno(), fwring_hal::ftl::EUCLEAN);
}

#[test]
fn a_decayed_data_block_reads_as_an_error_not_as_garbage() {
    let mut dev = format(chip(64 * 1024, 1), &cfg());
    block_on(dev.write_blocks(0, &[0x5au8; 512])).unwrap();
    block_on(dev.write_blocks(1, &[0x5au8; 512])).unwrap();
    // Block 1 went to slot 2 of segment 0 (slot 0 is format's checkpoint): flip a bit.
    let at = 32 + 2 * 544 + 10;
    NorFlash::write(&mut dev.flash_mut().0, at as u32 / 4 * 4, &[0x5a, 0x5a, 0x1a, 0x5a]).unwrap();
    let mut buf = vec![0u8; 512];
    assert_eq!(block_on(dev.read_blocks(1, &mut buf)), Err(FtlError::BadData));
    assert_eq!(FtlError::<NorFlashErrorKind>::BadData.errno(), fwring::Errno::EIO);
    block_on(dev.read_blocks(0, &mut buf)).unwrap();
    assert_eq!(block_on(dev.check()), Err(FtlError::BadData));
}

#[test]
fn mount_reads_are_bounded_by_the_documented_formula() {
    // Mount reads: every segment header; the slot headers of the window since the
    // newest checkpoint — at most W = (ckpt_every + reserve + 1) segments — once to find
    // the checkpoint and once to replay, with at most one map page load (header +
    // payload) per record; the checkpoint; the head segment's blank tail in 256-byte
    // chunks. Whatever the device went through.
    let c = cfg().ckpt_every(4);
    let mut dev = format(chip(512 * 1024, 1), &c);
    let g = *dev.geometry();
    let w = u64::from((g.ckpt_every + g.reserve + 1) * g.slots_per_seg);
    let bound = u64::from(g.segs) + 4 * w + 1 + u64::from(g.slots_per_seg * g.slot_size().div_ceil(256));
    let mut worst = 0;
    for (i, step) in workload(8, dev.blocks(), 4000, 4, true).into_iter().enumerate() {
        if let Step::Write { lba, n, .. } = step {
            let data: Vec<u8> = (0..n).flat_map(|j| block_data(512, lba + j, i as u64)).collect();
            block_on(dev.write_blocks(lba, &data)).unwrap();
        }
        if i % 100 == 99 {
            dev = remount(dev);
            worst = worst.max(dev.stats().reads);
        }
    }
    println!("mount: at most {worst} flash reads (bound {bound})");
    assert!(worst <= bound, "{worst} > {bound}");
}
