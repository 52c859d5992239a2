//! What the Cortex-M boards share: SysTick as the device interrupt, semihosting for text
//! output and exit, the hard-fault handler.

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;
use cortex_m_semihosting::debug;
// The defmt global logger: frames go out over semihosting (SYS_WRITE to stdout).
#[cfg(feature = "defmt")]
use defmt_semihosting as _;

/// Start SysTick on the core clock, interrupting every `reload` cycles. Only the first
/// call configures it (the core peripherals can be taken once).
#[cfg_attr(board = "mps2_an500", allow(dead_code))]
pub fn start_systick(reload: u32) {
    let Some(p) = cortex_m::Peripherals::take() else { return };
    start_systick_with(p.SYST, reload);
}

/// Start SysTick (taken already) on the core clock, interrupting every `reload` cycles.
pub fn start_systick_with(mut syst: cortex_m::peripheral::SYST, reload: u32) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(reload - 1);
    syst.clear_current();
    syst.enable_counter();
    syst.enable_interrupt();
}

#[cfg(not(feature = "size-image"))]
#[exception]
fn SysTick() {
    crate::device::on_tick();
    #[cfg(feature = "multishot")]
    crate::sampler::on_tick();
}

/// A hard fault (bad memory access, undefined instruction): report and fail, rather than
/// hang until the runner's timeout. cortex-m-rt requires this handler to be declared
/// `unsafe fn`; its body does nothing unsafe.
#[allow(unsafe_code)]
#[exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    #[cfg(not(feature = "size-image"))]
    crate::log_error!("hard fault, pc {:#x}", frame.pc());
    let _ = frame;
    exit(false)
}

/// Sleep until an interrupt.
pub fn wait_for_interrupt() {
    cortex_m::asm::wfi();
}

/// End the program through semihosting: QEMU exits with 0 for `ok`, 1 otherwise.
pub fn exit(ok: bool) -> ! {
    debug::exit(if ok { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    // Only reached without a semihosting host (a real board without a debugger).
    loop {
        cortex_m::asm::wfi();
    }
}

/// Formatted text to the host's stdout, with a newline.
pub fn print_fmt(args: core::fmt::Arguments<'_>) {
    cortex_m_semihosting::hprintln!("{}", args);
}

/// Retired-instruction counter: Cortex-M has none QEMU models (DWT CYCCNT reads 0), so
/// 0 here; the host counts from QEMU's exec log instead.
pub fn instret() -> u64 {
    0
}
