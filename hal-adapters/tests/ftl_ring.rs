//! The FTL's ring ops end to end through a real `fwring::Ring`: the `blk` SQE encoding
//! (the same builders), bad SQEs as CQEs with Linux errnos, and the pending op driven
//! by a DMA-engine thread through `PendingIo` and the `Completer`.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use fwring::{Errno, OpVTable, vtable};
use fwring_hal::blk;
use fwring_hal::ftl::{Blocking, Ftl, FtlBlock, FtlConfig, FtlPending, FtlPort, block_on};
use fwring_hal::sim::MemFlash;
use fwring_hal::{SqeExt, StaticDriver};

type Flash = MemFlash<4, 4096>;
type Disk = Ftl<Blocking<Flash>>;

fn disk() -> Disk {
    let mut f = Flash::new(leak(256 * 1024));
    f.erase_all();
    block_on(Ftl::format(Blocking(f), &FtlConfig::new(512), leak(16 * 1024))).unwrap()
}

#[test]
fn block_commands_through_the_ring_with_the_blk_encoding() {
    fwring_hal::static_driver! { Dev: Disk; }
    static OP: OpVTable = vtable::<FtlBlock<Dev>>(4);
    Dev::init(disk()).ok().unwrap();
    let blocks = Dev::with(|d| d.blocks()).unwrap();
    let mut ring = ring(&[&OP]);
    // Write two blocks (one FUA), read them back in one request into two segments' worth.
    let sqes = [
        blk::write(4, 10, &src(0, 512)),
        blk::write_fua(4, 11, &src(512, 512)),
        blk::flush(4),
        blk::read(4, 10, &dst(0, 1024)),
        blk::blocks(4),
    ];
    assert_eq!(run(&mut ring, &sqes), cqes(&[512, 512, 0, 1024, blocks as i32]));
    assert_eq!(dest_bytes(&mut ring, 0, 1024), pattern(0, 1024));
    // Discard one: it reads zeros; the other is intact.
    ring.buffer_mut(1).unwrap()[..1024].fill(0xee);
    assert_eq!(run(&mut ring, &[blk::discard(4, 10, 1), blk::read(4, 10, &dst(0, 1024))]), cqes(&[0, 1024]));
    assert_eq!(dest_bytes(&mut ring, 0, 512), vec![0; 512]);
    assert_eq!(dest_bytes(&mut ring, 512, 512), pattern(512, 512));
    // A link chain: read block 11, write what it produced to block 12 (CHAIN_LEN).
    let c = chain(&[blk::read(4, 11, &dst(2048, 512)), blk::write(4, 12, &dst(2048, 512)).chain_len()]);
    assert_eq!(run(&mut ring, &c), cqes(&[512, 512]));
    let back = Dev::with(|d| {
        let mut b = vec![0u8; 512];
        block_on(d.read_blocks(12, &mut b)).unwrap();
        b
    })
    .unwrap();
    assert_eq!(back, pattern(512, 512));
    assert_eq!(Dev::with(|d| block_on(d.check()).unwrap().mapped).unwrap(), 2);
}

#[test]
fn bad_sqes_complete_with_linux_errnos_and_touch_nothing() {
    fwring_hal::static_driver! { Dev: Disk; }
    static OP: OpVTable = vtable::<FtlBlock<Dev>>(4);
    Dev::init(disk()).ok().unwrap();
    let blocks = Dev::with(|d| d.blocks()).unwrap();
    let mut ring = ring(&[&OP]);
    let unknown = fwring_hal::sqe::build(4, 9, 0, None, None, 0, 0);
    let bad_flag = fwring_hal::sqe::build(4, blk::cmd::READ, blk::FUA, None, Some(&dst(0, 512)), 0, 0);
    let sqes = [
        blk::read(4, 0, &dst(0, 100)),                         // not whole blocks
        blk::write(4, 0, &src(0, 513)),                        // not whole blocks
        blk::read(4, blocks, &dst(0, 512)),                    // past the end
        blk::write(4, blocks - 1, &src(0, 1024)),              // runs past the end
        blk::discard(4, blocks - 2, 3),                        // runs past the end
        blk::discard(4, 0, 0),                                 // nothing
        blk::write_through(4, 0, &src(0, 512), &dst(0, 4096)), // the FTL takes no scratch
        unknown,
        bad_flag,
    ];
    let einval = e(Errno::EINVAL);
    let efault = e(Errno::EFAULT);
    // A failed prep stops the submission (Linux without IORING_SETUP_SUBMIT_ALL): one each.
    let got: Vec<i32> = sqes.iter().map(|s| run(&mut ring, &[*s])[0].res).collect();
    assert_eq!(got, [einval, einval, efault, efault, efault, einval, einval, einval, einval]);
    assert_eq!(Dev::with(|d| block_on(d.check()).unwrap().mapped).unwrap(), 0);
    assert_eq!(Dev::with(|d| d.stats().host_blocks).unwrap(), 0);
}

#[test]
fn pending_requests_are_completed_by_a_dma_engine_thread() {
    fwring_hal::ftl_port! { Port; }
    static OP: OpVTable = vtable::<FtlPending<Port>>(2);
    let mut ring = ring(&[&OP]);
    // Before an FTL is attached: -ENODEV.
    assert_eq!(run(&mut ring, &[blk::blocks(2)]), cqes(&[e(fwring::Errno::ENODEV)]));
    let mut ftl = disk();
    Port::queue().attach(&ftl);
    let blocks = ftl.blocks() as i32;
    let stop = AtomicBool::new(false);
    // Stops the engine however the test body ends (a failed assertion included).
    struct Stop<'a>(&'a AtomicBool);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
        }
    }
    let served = {
        let (mut sub, mut reap, completer) = ring.split();
        std::thread::scope(|s| {
            // The DMA engine: owns the FTL, takes each request's buffers as a PendingIo,
            // works on them in place and completes through the Completer.
            let engine = s.spawn(|| {
                let mut served = 0;
                while !stop.load(Ordering::Acquire) {
                    match Port::queue().pop() {
                        Some(job) => {
                            block_on(job.run(&mut ftl, &completer)).unwrap();
                            served += 1;
                        }
                        None => std::thread::yield_now(),
                    }
                }
                served
            });
            let _stop = Stop(&stop);
            let sqes = [
                blk::write_fua(2, 1, &src(0, 1024)),
                blk::read(2, 1, &dst(0, 1024)),
                blk::read(2, blocks as u32, &dst(2048, 512)),
                blk::blocks(2),
            ];
            for (i, sqe) in chain(&sqes[..2]).iter().chain(&sqes[2..]).enumerate() {
                sub.push(sqe.user_data(i as u64 + 1)).unwrap();
            }
            let mut got = Vec::new();
            let start = std::time::Instant::now();
            while got.len() < 4 {
                assert!(start.elapsed().as_secs() < 10, "stuck: {got:?}, engine finished: {}", engine.is_finished());
                // Submit again after the bad SQE stopped the first pass.
                let _ = sub.submit();
                sub.poll();
                while let Some(c) = reap.pop() {
                    got.push(c);
                }
                std::thread::yield_now();
            }
            got.sort_by_key(|c| c.user_data);
            assert_eq!(got, cqes(&[1024, 1024, e(Errno::EFAULT), blocks]));
            drop(_stop);
            engine.join().unwrap()
        })
    };
    assert_eq!(served, 3, "the bad LBA failed at prep, before the engine");
    assert_eq!(dest_bytes(&mut ring, 0, 1024), pattern(0, 1024));
    Port::queue().detach();
}
