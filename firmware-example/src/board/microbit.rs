//! QEMU `microbit`: the BBC micro:bit v1, an nRF51822 — Cortex-M0 (ARMv6-M: no
//! compare-and-swap, so fwring's atomics go through `critical-section`) at 16 MHz,
//! 256 KiB flash, 16 KiB RAM. Memory map: `memory/microbit.x`.

pub use super::cortex_m::{exit, instret, print_fmt, wait_for_interrupt};

/// The board, for the log.
pub const NAME: &str = "microbit (nRF51, Cortex-M0)";

/// SysTick counts the 16 MHz core clock: 16 000 cycles per 1 ms tick.
const TICK_CYCLES: u32 = 16_000;

/// Start the 1 ms device interrupt: SysTick.
pub fn start_tick() {
    super::cortex_m::start_systick(TICK_CYCLES);
}
