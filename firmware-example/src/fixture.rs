//! The firmware's ring: a `static` (`static_cell`), its op slots, and the registered
//! buffers in the `.dma` RAM section.

use fwring::ops::copy::Memcpy;
use fwring::ops::crc32c::Crc32c;
use fwring::ops::decompress::Lz4;
use fwring::ops::inject::{Faulty, Inject};
use fwring::{Errno, OpVTable, Region, Ring, Setup, SetupFlags, vtable};
use static_cell::ConstStaticCell;

use crate::device::DeviceOp;
use crate::payload::{BLOCK, BLOCK_LEN, PLAIN_LEN};

/// SQ entries.
pub const SQ: usize = 8;
/// CQ entries: as small as the SQ, so backpressure is easy to reach.
pub const CQ: usize = 8;
/// Requests in flight.
pub const N: usize = 8;
/// Extended-argument records (error-injection rules).
pub const ARGS: usize = 4;

/// The firmware's ring type.
pub type FwRing = Ring<SQ, CQ, N, ARGS>;

/// Op slots.
pub mod slot {
    /// `fwring::ops::copy::Memcpy`.
    pub const COPY: u8 = 0;
    /// `fwring::ops::crc32c::Crc32c`.
    pub const CRC32C: u8 = 1;
    /// `fwring::ops::decompress::Lz4`.
    pub const LZ4: u8 = 2;
    /// `fwring::ops::inject::Inject`: rule in the record named by its op flags.
    pub const INJECT: u8 = 3;
    /// `Faulty<Lz4, RULE_FAULTY>`: LZ4 with errors injected by rule [`RULE_FAULTY`](super::RULE_FAULTY).
    pub const FAULTY_LZ4: u8 = 4;
    /// [`DeviceOp`](crate::device::DeviceOp): completes from the interrupt.
    pub const DEVICE: u8 = 5;
    /// [`VirtioBlkOp`](crate::virtio::VirtioBlkOp): QEMU virt's virtio-blk disks.
    #[cfg(board = "qemu_virt")]
    pub const VIRTIO: u8 = 6;
    /// The sampling device (multishot over provided buffers).
    pub const SAMPLER: u8 = 7;
}

/// Extended-argument record of the rule [`slot::INJECT`] requests name in the tests.
pub const RULE_INJECT: u16 = 0;
/// Extended-argument record of the rule behind [`slot::FAULTY_LZ4`].
pub const RULE_FAULTY: u16 = 1;

static OPS: &[OpVTable] = &[
    vtable::<Memcpy>(slot::COPY),
    vtable::<Crc32c>(slot::CRC32C),
    vtable::<Lz4>(slot::LZ4),
    vtable::<Inject>(slot::INJECT),
    vtable::<Faulty<Lz4, RULE_FAULTY>>(slot::FAULTY_LZ4),
    vtable::<DeviceOp>(slot::DEVICE),
    #[cfg(board = "qemu_virt")]
    vtable::<crate::virtio::VirtioBlkOp>(slot::VIRTIO),
    #[cfg(feature = "multishot")]
    vtable::<crate::sampler::SamplerOp>(slot::SAMPLER),
];

/// Registered buffer indices.
pub mod buf {
    /// The compressed payload (copied in at start, as if a device had written it).
    pub const BLOCK: u16 = 0;
    /// Decompression output.
    pub const PLAIN: u16 = 1;
    /// Copy destination.
    pub const OUT: u16 = 2;
    /// Small scratch buffer: CRC outputs, device-owned ranges, corrupt input.
    pub const SCRATCH: u16 = 3;
    /// Disk blocks: what virtio-blk reads into and writes from (QEMU virt); small
    /// elsewhere.
    pub const DISK: u16 = 4;
}

/// Capacity of the compressed-block buffer.
pub const BLOCK_CAP: usize = 1024;
/// Capacity of the decompression and copy buffers.
pub const PLAIN_CAP: usize = 2048;
/// Capacity of the scratch buffer.
pub const SCRATCH_CAP: usize = 256;
/// Capacity of the disk-block buffer: 16 KiB on QEMU virt (four 4 KiB requests in
/// flight), one sector elsewhere.
#[cfg(board = "qemu_virt")]
pub const DISK_CAP: usize = 16 * 1024;
/// Capacity of the disk-block buffer: 16 KiB on QEMU virt (four 4 KiB requests in
/// flight), one sector elsewhere.
#[cfg(not(board = "qemu_virt"))]
pub const DISK_CAP: usize = 512;

const _: () = assert!(BLOCK_LEN <= BLOCK_CAP && PLAIN_LEN <= PLAIN_CAP);

/// The memory the ring's buffer ops work on: one block in the `.dma` section.
#[repr(C, align(32))]
pub struct DmaArea {
    block: [u8; BLOCK_CAP],
    plain: [u8; PLAIN_CAP],
    out: [u8; PLAIN_CAP],
    scratch: [u8; SCRATCH_CAP],
    disk: [u8; DISK_CAP],
}

// SAFETY: `.dma` is a NOLOAD section in RAM that memory/dma.x inserts after `.bss`, so
// the runtime zeroes it at reset together with `.bss`; this static's initial value is
// all zeros (empty buffers and an untaken cell), so zeroing is exactly its
// initialisation. Nothing else is placed at these addresses.
#[allow(unsafe_code)]
#[unsafe(link_section = ".dma")]
static DMA: ConstStaticCell<DmaArea> = ConstStaticCell::new(DmaArea {
    block: [0; BLOCK_CAP],
    plain: [0; PLAIN_CAP],
    out: [0; PLAIN_CAP],
    scratch: [0; SCRATCH_CAP],
    disk: [0; DISK_CAP],
});

static RING: ConstStaticCell<FwRing> = ConstStaticCell::new(Ring::new());

/// Why [`init`] failed.
#[derive(Clone, Copy, Debug)]
pub struct InitError {
    /// The step.
    pub step: &'static str,
    /// Its errno.
    pub errno: Errno,
}

/// Take the static ring and set it up (see [`configure`]), with the five DMA buffers
/// (the compressed payload copied into the first). Returns the ring as `&'static mut`;
/// call once.
pub fn init() -> Result<&'static mut FwRing, InitError> {
    let ring = RING.take();
    let DmaArea { block, plain, out, scratch, disk } = DMA.take();
    block[..BLOCK_LEN].copy_from_slice(&BLOCK);
    let r = crate::board::dma_region;
    let regions = [r(block), r(plain), r(out), r(scratch), r(disk)];
    configure(ring, regions)?;
    Ok(ring)
}

/// Set the ring up anew, as a fresh `io_uring_setup` would — every test of the suite's
/// first part starts from this: buffers taken back, `setup` (empty slots, no argument
/// records, no drain state), op slots and the same buffers registered again. Fails
/// with EBUSY if a request is still in flight.
pub fn reset(ring: &mut FwRing) -> Result<(), InitError> {
    let regions = ring.unregister_buffers().map_err(|errno| InitError { step: "unregister_buffers", errno })?;
    let regions: [Region; 5] =
        regions.into_array().map_err(|_| InitError { step: "unregister_buffers", errno: Errno::EINVAL })?;
    configure(ring, regions)
}

/// `BPF_EXT`, SQ = CQ = 8, the op slots, then `regions` as buffers 0..5.
fn configure(ring: &mut FwRing, regions: [Region; 5]) -> Result<(), InitError> {
    let setup = Setup::new(SQ as u32).cq_entries(CQ as u32).flags(SetupFlags::BPF_EXT);
    ring.setup(setup).map_err(|errno| InitError { step: "setup", errno })?;
    for op in OPS {
        ring.register_op(op).map_err(|errno| InitError { step: "register_op", errno })?;
    }
    ring.register_buffers(regions).map_err(|r| InitError { step: "register_buffers", errno: r.errno })
}
