//! QEMU `virt` (RISC-V, RV32IMAC, one hart, machine mode): the device interrupt is the
//! machine timer — the CLINT's `mtimecmp` re-armed 1 ms ahead on every interrupt.
//! Memory map: `memory/qemu-virt.x`. Output and exit through RISC-V semihosting.

use riscv_peripheral::aclint::{CLINT, Clint, mtimer::MTIMER};
use riscv_semihosting::debug;

/// The board, for the log.
pub const NAME: &str = "virt (RV32IMAC)";

/// QEMU virt's CLINT.
#[derive(Clone, Copy)]
struct VirtClint;

// SAFETY: QEMU's virt machine maps its CLINT at 0x0200_0000 and runs `mtime` at
// 10 MHz (hw/riscv/virt.c: `VIRT_CLINT`, `RISCV_ACLINT_DEFAULT_TIMEBASE_FREQ`).
#[allow(unsafe_code)]
unsafe impl Clint for VirtClint {
    const BASE: usize = 0x0200_0000;
    const MTIME_FREQ: usize = 10_000_000;
}

/// `mtime` counts per 1 ms tick.
const TICK: u64 = VirtClint::MTIME_FREQ as u64 / 1000;

fn mtimer() -> MTIMER<VirtClint> {
    CLINT::<VirtClint>::new().mtimer()
}

/// Start the 1 ms device interrupt: the machine timer.
pub fn start_tick() {
    let t = mtimer();
    t.mtimecmp0().write(t.mtime().read() + TICK);
    // SAFETY: the only mask-based critical sections are riscv's single-hart
    // `critical-section` implementation, which saves and restores mstatus.MIE itself
    // and so stays correct with the timer interrupt enabled.
    #[allow(unsafe_code)]
    unsafe {
        t.enable();
    }
    // SAFETY: as above; the trap handler (riscv-rt) and `machine_timer` are in place.
    #[allow(unsafe_code)]
    unsafe {
        riscv::interrupt::enable();
    }
}

#[cfg(not(feature = "size-image"))]
#[riscv_rt::core_interrupt(riscv::interrupt::Interrupt::MachineTimer)]
fn machine_timer() {
    // Re-arm first: the next tick is 1 ms after this one was due, not after now.
    mtimer().mtimecmp0().modify(|cmp| *cmp += TICK);
    crate::device::on_tick();
    crate::sampler::on_tick();
}

/// Sleep until an interrupt.
pub fn wait_for_interrupt() {
    riscv::asm::wfi();
}

/// End the program through semihosting: QEMU exits with 0 for `ok`, 1 otherwise.
pub fn exit(ok: bool) -> ! {
    debug::exit(if ok { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    // Only reached without a semihosting host.
    loop {
        riscv::asm::wfi();
    }
}

/// Formatted text to the host's stdout, with a newline.
pub fn print_fmt(args: core::fmt::Arguments<'_>) {
    riscv_semihosting::hprintln!("{}", args);
}

/// Retired instructions (`minstret`): exact under QEMU's `-icount shift=0`.
pub fn instret() -> u64 {
    riscv::register::minstret::read64()
}
