//! The board: everything that differs between the machines the firmware runs on.
//!
//! One module per board, chosen by `cfg(board = "...")` (build.rs maps the target to
//! the board, and picks its memory map from `memory/`). The rest of the firmware uses
//! only this interface, which every board module provides:
//!
//! - `NAME`: the board, for the log;
//! - `start_tick()`: start the periodic interrupt (1 ms) whose handler calls
//!   [`crate::device::on_tick`] — the interrupt that completes device requests;
//! - `wait_for_interrupt()`: sleep until the next interrupt;
//! - `exit(ok) -> !`: end the program, QEMU's exit status 0 for `ok`, 1 otherwise;
//! - `print_fmt`: a line of plain text (semihosting), used when the `defmt` feature is
//!   off;
//! - `instret()`: retired instructions, where the core has a counter QEMU models
//!   (RISC-V `minstret`), else 0;
//! - `dma_region(mem)`: a registered buffer — with the core's cache-maintenance hook
//!   where the data cache does not see DMA (the Cortex-M7), plain elsewhere;
//! - `device_wrote(bytes)`: the simulated device wrote these bytes through the CPU:
//!   clean them to memory where a cache would hold them.
//!
//! The two Cortex-M boards share their architecture code (`cortex_m.rs`); a board module
//! holds what is its own: clocks, tick rate, the interrupt source.

#[cfg(target_arch = "arm")]
mod cortex_m;

#[cfg(board = "mps2_an386")]
#[path = "mps2_an386.rs"]
mod imp;

#[cfg(board = "mps2_an500")]
#[path = "mps2_an500.rs"]
mod imp;

#[cfg(board = "microbit")]
#[path = "microbit.rs"]
mod imp;

#[cfg(board = "qemu_virt")]
#[path = "qemu_virt.rs"]
mod imp;

pub use imp::*;

/// A DMA buffer of a board whose DMA is coherent with the CPU (no cache hook).
#[cfg(not(board = "mps2_an500"))]
pub fn dma_region(mem: &'static mut [u8]) -> fwring::Region {
    fwring::Region::new(mem)
}

/// A simulated device wrote `bytes` with the CPU (nothing to do without a data cache).
#[cfg(not(board = "mps2_an500"))]
pub fn device_wrote(_bytes: &[u8]) {}

#[cfg(all(feature = "defmt", not(target_arch = "arm")))]
compile_error!("the `defmt` feature logs through defmt-semihosting, which is Cortex-M only");
