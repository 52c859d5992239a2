//! # fwring-hal
//!
//! Ready-made [`fwring`] ops over the traits the embedded Rust world already uses:
//! embedded-hal 1.0 SPI, I²C, GPIO and delays, embedded-storage NOR flash, a block device
//! over any NOR flash, and (feature `async`) embedded-hal-async variants that complete
//! as pending requests. `no_std`, no alloc, no `unsafe` (`#![forbid(unsafe_code)]`):
//! the async worker reaches a pending request's buffers through fwring's `PendingIo`.
//!
//! A device becomes ring ops in three steps: name it with [`static_driver!`], put its driver in
//! at start-up, register the op in a slot.
//!
//! ```
//! use fwring::{BufDesc, Cqe, OpVTable, Region, Ring, Setup, SetupFlags, vtable};
//! use fwring_hal::sim::MemFlash;
//! use fwring_hal::{StaticDriver, nor};
//!
//! fwring_hal::static_driver! {
//!     /// The board's NOR flash (here an in-memory one: 4-byte words, 4 KiB erase blocks).
//!     Flash: MemFlash<4, 4096>;
//! }
//! static NOR: OpVTable = vtable::<nor::Nor<Flash>>(0);
//!
//! let mut flash = MemFlash::new(vec![0u8; 64 * 1024].leak());
//! flash.erase_all();
//! Flash::init(flash).unwrap();
//!
//! let mut ring: Ring<8, 16, 8> = Ring::new();
//! ring.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).unwrap();
//! ring.register_op(&NOR).unwrap();
//! ring.register_buffers([Region::new(vec![0u8; 4096].leak())]).unwrap();
//! ring.buffer_mut(0).unwrap()[..8].copy_from_slice(b"fwring!\n");
//!
//! // Program 8 bytes at flash offset 0x100 from buffer 0, then read them back into it.
//! ring.push(nor::write(0, 0x100, &BufDesc::kfixed(0, 0, 8)).user_data(1)).unwrap();
//! ring.push(nor::read(0, 0x100, &BufDesc::kfixed(0, 16, 8)).user_data(2)).unwrap();
//! let _ = ring.submit();
//! assert_eq!(ring.pop(), Some(Cqe::new(1, 8)));
//! assert_eq!(ring.pop(), Some(Cqe::new(2, 8)));
//! assert_eq!(&ring.buffer_mut(0).unwrap()[16..24], b"fwring!\n");
//! ```
//!
//! | module | op types | over |
//! |---|---|---|
//! | [`spi`] | [`spi::Spi`] | `embedded_hal::spi::SpiDevice` |
//! | [`i2c`] | [`i2c::I2c`] | `embedded_hal::i2c::I2c` |
//! | [`pin`] | [`pin::Pin`], [`pin::StatefulPin`] | `OutputPin`, `StatefulOutputPin` |
//! | [`delay`] | [`delay::Delay`] | `embedded_hal::delay::DelayNs` |
//! | [`nor`] | [`nor::NorRead`], [`nor::Nor`] | `ReadNorFlash`, `NorFlash` |
//! | [`blk`] | [`blk::Block`] | [`blk::BlockDev`] over any `NorFlash` |
//! | [`ftl`] | [`ftl::FtlBlock`], [`ftl::FtlPending`] | [`ftl::Ftl`]: a power-safe flash translation layer over any (async) `NorFlash` |
//! | [`spinor`] | (a driver) | [`spinor::SpiNor`]: a JEDEC SPI NOR chip on a `SpiDevice`, as a `NorFlash` |
//! | [`uart`] | [`uart::ReadMultishot`] | `embedded_io::Read` + `ReadReady`: one SQE, a CQE per provided buffer filled |
//! | `asynch` (feature `async`) | `Spi`, `I2c`, `Delay`, `Wait` | embedded-hal-async, through a worker |
//!
//! Every op reads its SQE the same way ([`sqe`]): a command in the op flags, descriptor A
//! for data to the device, B for data from it, two 32-bit arguments in `len` and
//! `file_index`. Each module has the builders that write those SQEs (`nor::write`,
//! `spi::transaction`, …) and a table of what each command takes and returns. HAL errors
//! become errnos as [`errno`] documents. Simulated devices for host tests are in `sim` (feature `sim`).
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_debug_implementations)]
#![deny(missing_docs)]

/// `Debug` for op types (`Spi<D>`, …): the op's name and the device type it serves,
/// without asking the device marker to be `Debug`.
macro_rules! op_debug {
    ($($op:ident),* $(,)?) => {$(
        impl<D> core::fmt::Debug for $op<D> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, concat!(stringify!($op), "<{}>"), core::any::type_name::<D>())
            }
        }
    )*};
}

#[cfg(test)]
extern crate std;

#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub mod asynch;
pub mod blk;
pub mod delay;
mod driver;
pub mod errno;
pub mod ftl;
pub mod i2c;
mod io;
pub mod nor;
pub mod pin;
#[cfg(feature = "sim")]
#[cfg_attr(docsrs, doc(cfg(feature = "sim")))]
pub mod sim;
pub mod spi;
pub mod spinor;
pub mod sqe;
#[cfg(feature = "multishot")]
pub mod uart;

pub use driver::{DriverCell, StaticDriver};
pub use sqe::SqeExt;
