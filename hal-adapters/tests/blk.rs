//! The block device over an in-memory NOR flash: data, wear (erase counts, no word
//! programmed twice), the write-back cache, write-through with a registered scratch,
//! faults.

mod common;

use common::*;
use fwring::{BufDesc, Errno, OpVTable, vtable};
use fwring_hal::blk::{self, Block, BlockDev};
use fwring_hal::nor::{self, Nor};
use fwring_hal::sim::{FaultyFlash, FlashFault, FlashStats, MemFlash};
use fwring_hal::{SqeExt, StaticDriver};

/// 4-byte words, 1 KiB erase blocks, 8 KiB: 16 blocks of 512 bytes, 2 per erase block.
type Chip = FaultyFlash<MemFlash<4, 1024>>;
type Disk = BlockDev<Chip>;

const BS: usize = 512;

fn chip() -> Chip {
    let mut f = MemFlash::new(leak(8192));
    f.erase_all();
    FaultyFlash::new(f)
}

fn cached() -> Disk {
    BlockDev::with_cache(chip(), BS as u32, leak(1024)).unwrap()
}

fn stats<D: StaticDriver<Hal = Disk>>() -> FlashStats {
    D::with(|d| d.flash().inner().stats()).unwrap()
}

fn on_flash<D: StaticDriver<Hal = Disk>>(off: usize, len: usize) -> Vec<u8> {
    D::with(|d| d.flash().inner().as_bytes()[off..off + len].to_vec()).unwrap()
}

/// Buffer 1 filled with `byte` at `[off, off + len)`.
fn fill(ring: &mut TestRing, off: usize, len: usize, byte: u8) {
    ring.buffer_mut(1).unwrap()[off..off + len].fill(byte);
}

#[test]
fn geometry_is_checked_when_the_device_is_made() {
    assert_eq!(BlockDev::new(chip(), 0).err(), Some(Errno::EINVAL));
    assert_eq!(BlockDev::new(chip(), 16384).err(), Some(Errno::EINVAL));
    assert_eq!(BlockDev::with_cache(chip(), 512, leak(512)).err(), Some(Errno::EINVAL));
    let d = BlockDev::new(chip(), 512).unwrap();
    assert_eq!((d.block_size(), d.blocks(), d.has_cache()), (512, 16, false));
    let d = BlockDev::new(chip(), 4096).unwrap();
    assert_eq!(d.blocks(), 2);
}

#[test]
fn writes_stay_in_the_cache_until_flush() {
    fwring_hal::static_driver! { Dev: Disk; }
    static OP: OpVTable = vtable::<Block<Dev>>(6);
    Dev::init(cached()).unwrap();
    let mut ring = ring(&[&OP]);
    assert_eq!(run(&mut ring, &[blk::write(6, 3, &src(0, 512)), blk::read(6, 3, &dst(0, 512))]), cqes(&[512, 512]));
    assert_eq!(dest_bytes(&mut ring, 0, 512), pattern(0, 512));
    assert_eq!(on_flash::<Dev>(3 * BS, 4), [0xff; 4], "not on the flash yet");
    assert!(Dev::with(|d| d.is_dirty()).unwrap());
    assert_eq!(run(&mut ring, &[blk::flush(6)]), cqes(&[0]));
    assert_eq!(on_flash::<Dev>(3 * BS, 512), pattern(0, 512));
    assert!(!Dev::with(|d| d.is_dirty()).unwrap());
}

#[test]
fn filling_a_fresh_flash_sequentially_never_erases() {
    fwring_hal::static_driver! { Dev: Disk; }
    static OP: OpVTable = vtable::<Block<Dev>>(0);
    Dev::init(cached()).unwrap();
    let mut ring = ring(&[&OP]);
    let sqes: Vec<_> = (0..16u32).map(|lba| blk::write(0, lba, &src(u64::from(lba) * 8, 512))).collect();
    for part in sqes.chunks(8) {
        assert_eq!(run(&mut ring, part), cqes(&[512; 8]));
    }
    assert_eq!(run(&mut ring, &[blk::flush(0)]), cqes(&[0]));
    for lba in 0..16 {
        assert_eq!(on_flash::<Dev>(lba * BS, BS), pattern(lba * 8, BS), "lba {lba}");
    }
    let s = stats::<Dev>();
    assert_eq!((s.erases, s.reprogrammed_words), (0, 0));
}

#[test]
fn a_partial_rewrite_erases_once_and_keeps_the_neighbouring_block() {
    fwring_hal::static_driver! { Dev: Disk; }
    static OP: OpVTable = vtable::<Block<Dev>>(0);
    Dev::init(cached()).unwrap();
    let mut ring = ring(&[&OP]);
    let fill0 = [blk::write(0, 0, &src(0, 1024)), blk::flush(0)];
    assert_eq!(run(&mut ring, &fill0), cqes(&[1024, 0]));
    // Rewrite block 1 only (the second half of erase block 0): read-modify-write.
    fill(&mut ring, 0, 512, 0x5a);
    assert_eq!(run(&mut ring, &[blk::write(0, 1, &dst(0, 512)), blk::flush(0)]), cqes(&[512, 0]));
    assert_eq!(on_flash::<Dev>(0, 512), pattern(0, 512), "block 0 kept");
    assert_eq!(on_flash::<Dev>(512, 512), [0x5a; 512]);
    let s = stats::<Dev>();
    assert_eq!((s.erases, s.reprogrammed_words), (1, 0));
    // A block of 0xFF after the erase is simply not programmed.
    assert_eq!(s.bytes_programmed, 1024 + 1024);
}

#[test]
fn eight_writes_into_one_erase_block_cost_one_erase() {
    fwring_hal::static_driver! { Dev: Disk; }
    static OP: OpVTable = vtable::<Block<Dev>>(0);
    Dev::init(cached()).unwrap();
    let mut ring = ring(&[&OP]);
    fill(&mut ring, 0, 1024, 0x00);
    assert_eq!(run(&mut ring, &[blk::write(0, 4, &dst(0, 1024)), blk::flush(0)]), cqes(&[1024, 0]));
    // Overwrite both blocks several times with different data: one erase at the flush.
    for byte in [0x11u8, 0x22, 0x33, 0x44] {
        fill(&mut ring, 0, 512, byte);
        assert_eq!(
            run(&mut ring, &[blk::write(0, 4, &dst(0, 512)), blk::write(0, 5, &dst(0, 512))]),
            cqes(&[512, 512])
        );
    }
    assert_eq!(stats::<Dev>().erases, 0, "nothing written back yet");
    assert_eq!(run(&mut ring, &[blk::flush(0)]), cqes(&[0]));
    assert_eq!(on_flash::<Dev>(4 * BS, 1024), [0x44; 1024]);
    let s = stats::<Dev>();
    assert_eq!((s.erases, s.reprogrammed_words), (1, 0));
}

#[test]
fn fua_writes_back_before_the_cqe() {
    fwring_hal::static_driver! { Dev: Disk; }
    static OP: OpVTable = vtable::<Block<Dev>>(0);
    Dev::init(cached()).unwrap();
    let mut ring = ring(&[&OP]);
    assert_eq!(run(&mut ring, &[blk::write_fua(0, 9, &src(3, 512))]), cqes(&[512]));
    assert_eq!(on_flash::<Dev>(9 * BS, 512), pattern(3, 512));
    assert!(!Dev::with(|d| d.is_dirty()).unwrap());
}

#[test]
fn a_read_across_erase_blocks_merges_cache_and_flash() {
    fwring_hal::static_driver! { Dev: Disk; }
    static OP: OpVTable = vtable::<Block<Dev>>(0);
    Dev::init(cached()).unwrap();
    let mut ring = ring(&[&OP]);
    // Blocks 2..6 on the flash, then block 4 rewritten in the cache only.
    assert_eq!(run(&mut ring, &[blk::write_fua(0, 2, &src(0, 2048))]), cqes(&[2048]));
    fill(&mut ring, 0, 512, 0xee);
    assert_eq!(run(&mut ring, &[blk::write(0, 4, &dst(0, 512))]), cqes(&[512]));
    assert_eq!(run(&mut ring, &[blk::read(0, 3, &dst(1024, 1536))]), cqes(&[1536]));
    let got = dest_bytes(&mut ring, 1024, 1536);
    assert_eq!(got[..512], pattern(512, 512));
    assert_eq!(got[512..1024], [0xee; 512]);
    assert_eq!(got[1024..], pattern(1536, 512));
}

#[test]
fn discard_erases_whole_erase_blocks_only() {
    fwring_hal::static_driver! { Dev: Disk; }
    static OP: OpVTable = vtable::<Block<Dev>>(0);
    Dev::init(cached()).unwrap();
    let mut ring = ring(&[&OP]);
    fill(&mut ring, 0, 4096, 0);
    assert_eq!(run(&mut ring, &[blk::write_fua(0, 0, &dst(0, 4096))]), cqes(&[4096]));
    // Blocks 1..6: erase blocks 1 and 2 (blocks 2..6) are covered, 0 and 3 are not.
    assert_eq!(run(&mut ring, &[blk::discard(0, 1, 5)]), cqes(&[0]));
    assert_eq!(on_flash::<Dev>(0, 1024), [0; 1024]);
    assert_eq!(on_flash::<Dev>(1024, 2048), [0xff; 2048]);
    assert_eq!(on_flash::<Dev>(3072, 1024), [0; 1024]);
    assert_eq!(stats::<Dev>().erases, 2);
}

#[test]
fn write_through_takes_its_scratch_from_registered_memory() {
    fwring_hal::static_driver! { Dev: Disk; }
    static OP: OpVTable = vtable::<Block<Dev>>(0);
    Dev::init(BlockDev::new(chip(), BS as u32).unwrap()).unwrap();
    let mut ring = ring(&[&OP]);
    let scratch = dst(2048, 1024);
    assert_eq!(run(&mut ring, &[blk::write_through(0, 7, &src(0, 512), &scratch)]), cqes(&[512]));
    assert_eq!(on_flash::<Dev>(7 * BS, 512), pattern(0, 512), "on the flash at once");
    // Without a scratch, a scratch smaller than an erase block, or a vectored one: EINVAL.
    let small = dst(2048, 512);
    let errs = [blk::write(0, 7, &src(0, 512)), blk::write_through(0, 7, &src(0, 512), &small)];
    for sqe in errs {
        assert_eq!(run(&mut ring, &[sqe]), cqes(&[-22]));
    }
    assert_eq!(run(&mut ring, &[blk::flush(0)]), cqes(&[0]));
}

#[test]
fn lengths_are_whole_blocks_and_lbas_inside_the_device() {
    fwring_hal::static_driver! { Dev: Disk; }
    static OP: OpVTable = vtable::<Block<Dev>>(0);
    Dev::init(cached()).unwrap();
    let mut ring = ring(&[&OP]);
    let mut stray = blk::flush(0);
    stray.len = 3;
    let cases = [
        (blk::write(0, 0, &src(0, 100)), -22),
        (blk::read(0, 0, &dst(0, 513)), -22),
        (blk::read(0, 15, &dst(0, 1024)), -14),
        (blk::write(0, 16, &src(0, 512)), -14),
        (blk::discard(0, 10, 7), -14),
        (blk::discard(0, 0, 0), -22),
        (blk::write_through(0, 0, &src(0, 512), &dst(0, 1024)), -22), // has a cache
        (stray, -22),
        (blk::blocks(0), 16),
    ];
    for (sqe, res) in cases {
        assert_eq!(run(&mut ring, &[sqe]), cqes(&[res]), "{sqe:?}");
    }
    assert_eq!(stats::<Dev>(), FlashStats::default());
}

#[test]
fn a_failed_write_back_keeps_the_block_dirty_and_flush_retries_it() {
    fwring_hal::static_driver! { Dev: Disk; }
    static OP: OpVTable = vtable::<Block<Dev>>(0);
    Dev::init(cached()).unwrap();
    let mut ring = ring(&[&OP]);
    assert_eq!(run(&mut ring, &[blk::write_fua(0, 0, &src(0, 1024))]), cqes(&[1024]));
    fill(&mut ring, 0, 512, 0x77);
    Dev::with(|d| d.flash_mut().arm(FlashFault::PartialProgram { keep: 100 })).unwrap();
    let sqes = chain(&[blk::write(0, 0, &dst(0, 512)), blk::flush(0), blk::read(0, 0, &dst(512, 512))]);
    assert_eq!(run(&mut ring, &sqes), cqes(&[512, -5, e(Errno::ECANCELED)]));
    assert!(Dev::with(|d| d.is_dirty()).unwrap());
    // The retry finds a half-programmed erase block: it erases and programs it whole.
    assert_eq!(run(&mut ring, &[blk::flush(0)]), cqes(&[0]));
    assert_eq!(on_flash::<Dev>(0, 512), [0x77; 512]);
    assert_eq!(on_flash::<Dev>(512, 512), pattern(512, 512));
    assert_eq!(stats::<Dev>().reprogrammed_words, 0);
}

#[test]
fn an_erase_failure_during_write_back_is_eio() {
    fwring_hal::static_driver! { Dev: Disk; }
    static OP: OpVTable = vtable::<Block<Dev>>(0);
    Dev::init(cached()).unwrap();
    let mut ring = ring(&[&OP]);
    assert_eq!(run(&mut ring, &[blk::write_fua(0, 0, &src(0, 512))]), cqes(&[512]));
    Dev::with(|d| d.flash_mut().arm(FlashFault::Erase { keep: 0 })).unwrap();
    assert_eq!(run(&mut ring, &[blk::write_fua(0, 0, &src(1, 512))]), cqes(&[-5]));
    assert_eq!(on_flash::<Dev>(0, 512), pattern(0, 512), "old data intact");
}

#[test]
fn nor_ops_on_the_same_chip_see_the_cached_data() {
    fwring_hal::static_driver! { Dev: Disk; }
    static BLK: OpVTable = vtable::<Block<Dev>>(0);
    static NOR: OpVTable = vtable::<Nor<Dev>>(1);
    Dev::init(cached()).unwrap();
    let mut ring = ring(&[&BLK, &NOR]);
    let sqes = [blk::write(0, 2, &src(5, 512)), nor::read(1, 1024, &dst(0, 16))];
    assert_eq!(run(&mut ring, &sqes), cqes(&[512, 16]));
    assert_eq!(dest_bytes(&mut ring, 0, 16), pattern(5, 16));
    // A raw NOR erase under the block device drops what it cached.
    let sqes = [nor::erase(1, 1024, 1024), blk::read(0, 2, &dst(0, 512))];
    assert_eq!(run(&mut ring, &sqes), cqes(&[0, 512]));
    assert_eq!(dest_bytes(&mut ring, 0, 512), [0xff; 512]);
}

#[test]
fn chain_len_writes_the_blocks_a_read_produced() {
    fwring_hal::static_driver! { Dev: Disk; }
    static OP: OpVTable = vtable::<Block<Dev>>(0);
    Dev::init(cached()).unwrap();
    let mut ring = ring(&[&OP]);
    assert_eq!(run(&mut ring, &[blk::write_fua(0, 0, &src(0, 1024))]), cqes(&[1024]));
    let window = BufDesc::kfixed(1, 0, 2048);
    let copy = chain(&[blk::read(0, 0, &dst(0, 1024)), blk::write_fua(0, 8, &window).chain_len()]);
    assert_eq!(run(&mut ring, &copy), cqes(&[1024, 1024]));
    assert_eq!(on_flash::<Dev>(8 * BS, 1024), pattern(0, 1024));
}
