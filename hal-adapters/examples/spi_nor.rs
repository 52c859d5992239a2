//! A SPI NOR flash as ring ops — `cargo run -p fwring-hal --example spi_nor`.
//!
//! The chip is `fwring_hal::sim::SpiNorChip` (a JEDEC SPI NOR simulated behind an
//! embedded-hal `SpiDevice`) driven by `fwring_hal::spinor::SpiNor`; on a board, put the
//! HAL's `SpiDevice` (e.g. an `embedded_hal_bus::spi::ExclusiveDevice`) and a `DelayNs`
//! there instead — nothing else changes. The flash gets two slots: raw NOR ops (slot 0)
//! and a 512-byte block device with a write-back cache (slot 1).

use fwring::{BufDesc, Cqe, OpVTable, Region, Ring, Setup, SetupFlags, SqeFlags, vtable};
use fwring_hal::blk::{self, Block, BlockDev};
use fwring_hal::nor::{self, Nor};
use fwring_hal::sim::{NoDelay, SpiNorChip};
use fwring_hal::spinor::SpiNor;
use fwring_hal::{SqeExt, StaticDriver};

type Flash = SpiNor<SpiNorChip, NoDelay>;

// --- Registering the flash: these lines are all it takes. ---------------------------
fwring_hal::static_driver! {
    /// The board's SPI NOR flash, as a block device (which is also a `NorFlash`).
    Disk: BlockDev<Flash>;
}
static NOR: OpVTable = vtable::<Nor<Disk>>(0);
static BLK: OpVTable = vtable::<Block<Disk>>(1);

fn bring_up(ring: &mut Ring<16, 32, 16>) {
    let mut chip = SpiNorChip::new(vec![0u8; 1 << 20].leak()).busy_polls(2);
    chip.flash_mut().erase_all();
    let flash = SpiNor::new(chip, NoDelay, 1 << 20);
    let scratch = vec![0u8; 4096].leak(); // on a target: a StaticCell<[u8; 4096]>
    Disk::init(BlockDev::with_cache(flash, 512, scratch).expect("geometry")).expect("initialised once");
    ring.setup(Setup::new(16).flags(SetupFlags::BPF_EXT)).expect("setup");
    ring.register_op(&NOR).expect("slot 0");
    ring.register_op(&BLK).expect("slot 1");
    ring.register_buffers([Region::new(vec![0u8; 8192].leak())]).expect("buffers");
}
// -------------------------------------------------------------------------------------

fn main() {
    let mut ring: Ring<16, 32, 16> = Ring::new();
    bring_up(&mut ring);

    let text = b"fwring: a SPI NOR flash as ring ops, zero-copy, no alloc.";
    ring.buffer_mut(0).expect("idle")[..text.len()].copy_from_slice(text);
    let block = |off| BufDesc::kfixed(0, off, 512);

    // One link chain: write block 3 through the cache and flush it (FUA), read it back
    // through the block device, read the same bytes raw from the flash, then program a
    // copy of exactly the bytes read (CHAIN_LEN) 64 KiB further, after erasing there.
    let sqes = [
        blk::write_fua(1, 3, &block(0)),
        blk::read(1, 3, &block(512)),
        nor::read(0, 3 * 512, &BufDesc::kfixed(0, 1024, 64)),
        nor::erase(0, 0x1_0000, 0x1000),
        nor::write(0, 0x1_0000, &BufDesc::kfixed(0, 1024, 512)).chain_len(),
    ];
    let n = sqes.len();
    for (i, sqe) in sqes.into_iter().enumerate() {
        let flags = if i + 1 < n { SqeFlags::IO_LINK } else { SqeFlags::empty() };
        ring.push(sqe.user_data(i as u64 + 1).flags(flags)).expect("room in the SQ");
    }
    let submitted = ring.submit();
    println!("submitted {} SQEs ({:?})", submitted.taken, submitted.stop);
    let mut cqes = Vec::new();
    while let Some(cqe) = ring.pop() {
        println!("  CQE user_data={} res={}", cqe.user_data, cqe.res);
        cqes.push(cqe);
    }

    let mem = ring.buffer_mut(0).expect("idle");
    let back = &mem[512..512 + text.len()];
    let raw = &mem[1024..1024 + text.len()];
    println!("block 3 read back: {:?}", String::from_utf8_lossy(back));
    println!("raw flash at 0x600: {:?}", String::from_utf8_lossy(raw));
    let (copy, erases) = Disk::with(|d| {
        let chip = d.flash().spi().flash();
        (chip.as_bytes()[0x1_0000..0x1_0000 + text.len()].to_vec(), chip.stats().erases)
    })
    .expect("device ready");
    println!("copy at 0x10000:    {:?}", String::from_utf8_lossy(&copy));
    println!("sector erases: {erases}");

    let want = [Cqe::new(1, 512), Cqe::new(2, 512), Cqe::new(3, 64), Cqe::new(4, 0), Cqe::new(5, 64)];
    assert_eq!(cqes, want);
    assert!(back == text && raw == text && copy == text);
    assert_eq!(erases, 1);
    println!("ok");
}
