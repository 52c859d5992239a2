//! QEMU `mps2-an386`: ARM's MPS2 FPGA board with the AN386 image, a Cortex-M4F at
//! 25 MHz. Memory map: `memory/mps2-an386.x`.

pub use super::cortex_m::{exit, instret, print_fmt, wait_for_interrupt};

/// The board, for the log.
pub const NAME: &str = "mps2-an386 (Cortex-M4F)";

/// SysTick counts the 25 MHz core clock: 25 000 cycles per 1 ms tick.
const TICK_CYCLES: u32 = 25_000;

/// Start the 1 ms device interrupt: SysTick.
pub fn start_tick() {
    super::cortex_m::start_systick(TICK_CYCLES);
}
