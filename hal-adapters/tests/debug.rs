//! Every public op and driver type is `Debug` — so `DriverCell::init(..).unwrap()` and
//! `.unwrap()` on a driver's `Result` compile — without asking the devices, buses or
//! flashes inside them to be `Debug`, and without dumping a flash's bytes.

use core::fmt::Debug;

use fwring_hal::blk::{Block, BlockDev};
use fwring_hal::sim::{FaultyFlash, MemFlash, NoDelay, SpiNorChip};
use fwring_hal::spinor::SpiNor;
use fwring_hal::{delay, i2c, nor, pin, spi};

fn is_debug<T: Debug>() {}

/// A device marker that is not `Debug`.
struct Plain;

#[test]
fn op_types_are_debug_for_any_device() {
    is_debug::<spi::Spi<Plain>>();
    is_debug::<i2c::I2c<Plain>>();
    is_debug::<pin::Pin<Plain>>();
    is_debug::<pin::StatefulPin<Plain>>();
    is_debug::<delay::Delay<Plain>>();
    is_debug::<nor::NorRead<Plain>>();
    is_debug::<nor::Nor<Plain>>();
    is_debug::<Block<Plain>>();
    #[cfg(feature = "async")]
    {
        use fwring_hal::asynch;
        is_debug::<asynch::Spi<Plain>>();
        is_debug::<asynch::I2c<Plain>>();
        is_debug::<asynch::Delay<Plain>>();
        is_debug::<asynch::Wait<Plain>>();
    }
}

fn flash() -> MemFlash<4, 4096> {
    let mut f = MemFlash::new(vec![0u8; 4 * 4096].leak());
    f.erase_all();
    f
}

#[test]
fn drivers_show_geometry_not_contents() {
    let mem = format!("{:?}", flash());
    assert!(
        mem.starts_with("MemFlash { write_size: 4, erase_size: 4096, capacity: 16384, stats: FlashStats {"),
        "{mem}"
    );
    assert!(mem.ends_with(", .. }"), "{mem}");

    let blk = BlockDev::new(flash(), 512).unwrap();
    assert_eq!(format!("{blk:?}"), "BlockDev { block_size: 512, blocks: 32, cache: None, .. }");
    let cached = BlockDev::with_cache(flash(), 512, vec![0u8; 4096].leak()).unwrap();
    assert_eq!(format!("{cached:?}"), "BlockDev { block_size: 512, blocks: 32, cache: Some(4096), .. }");

    let nor = SpiNor::new(SpiNorChip::new(vec![0xffu8; 1 << 16].leak()), NoDelay, 1 << 16);
    assert_eq!(
        format!("{nor:?}"),
        "SpiNor { capacity: 65536, timeouts: Timeouts { poll_us: 10, program_us: 5000, erase_us: 500000 }, .. }"
    );

    let faulty = FaultyFlash::new(flash());
    assert_eq!(format!("{faulty:?}"), "FaultyFlash { armed: None, injected: 0, .. }");
}
