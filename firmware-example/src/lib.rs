//! # fwring-firmware
//!
//! fwring on a microcontroller, under QEMU: the on-target test suite (`fw-tests`), the
//! NOP benchmark (`fw-bench`) and the two size images (`size-base`, `size-core`).
//! One source for three boards — mps2-an386 (Cortex-M4F), microbit (Cortex-M0) and virt
//! (RISC-V) — with everything board-specific in [`board`].
//!
//! - [`fixture`]: the ring in a `static` (`static_cell`), the registered buffers in the
//!   `.dma` RAM section, the op slots (copy, crc32c, lz4, error injection, the device).
//! - [`device`]: a simulated DMA device whose requests are completed by an interrupt
//!   handler through a `Completer<'static>`.
//! - `virtio` (QEMU virt): the real thing — virtio-blk disks read and written in place,
//!   in registered buffers, completed from the PLIC interrupt.
//! - [`sampler`]: a simulated sampling device streaming into provided buffers of one
//!   multishot request, a buffer per timer interrupt.
//! - [`harness`] and [`suite`]: the test runner and the tests; ends with
//!   `N passed, N failed` and QEMU's exit status.
//! - [`bench`]: instructions per NOP op, fwring beside a hand-written ring and
//!   `heapless::spsc`.
//!
//! Logging goes through [`log`]: defmt (feature `defmt`, Cortex-M) or plain
//! semihosting text.
#![no_std]
#![deny(unsafe_code)]
#![deny(missing_docs)]

#[macro_use]
pub mod log;

pub mod board;
pub mod device;
pub mod fixture;
pub mod payload;
mod rt;
#[cfg(feature = "multishot")]
pub mod sampler;
#[cfg(board = "qemu_virt")]
pub mod virtio;

#[cfg(not(feature = "size-image"))]
pub mod bench;
#[cfg(all(board = "qemu_virt", not(feature = "size-image")))]
pub mod bench_virtio;
#[cfg(not(feature = "size-image"))]
pub mod harness;
#[cfg(not(feature = "size-image"))]
pub mod stream_bench;
#[cfg(not(feature = "size-image"))]
pub mod suite;
#[cfg(all(board = "qemu_virt", not(feature = "size-image")))]
pub mod suite_virtio;

#[cfg(not(any(feature = "multishot", feature = "size-image")))]
compile_error!("the on-target suite and the benchmarks stream: build with the `multishot` feature");
#[cfg(all(feature = "defmt", feature = "size-image"))]
compile_error!("size images are built without logging: drop the `defmt` feature");
