//! The FTL: data against a model, format/mount/check, bad input, and the ring ops.

mod ftlsim;

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
