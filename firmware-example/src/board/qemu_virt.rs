//! QEMU `virt` (RISC-V, RV32IMAC, one hart, machine mode): the device interrupt is the
//! machine timer — the CLINT's `mtimecmp` re-armed 1 ms ahead on every interrupt.
//! Memory map: `memory/qemu-virt.x`. Output and exit through RISC-V semihosting.

use riscv_peripheral::aclint::{CLINT, Clint, mtimer::MTIMER};
use riscv_peripheral::plic::{PLIC, Plic};
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
    #[cfg(feature = "multishot")]
    crate::sampler::on_tick();
}

/// QEMU virt's PLIC (hw/riscv/virt.c `VIRT_PLIC`); context 0 is hart 0 in M-mode.
#[derive(Clone, Copy)]
struct VirtPlic;

// SAFETY: QEMU's virt machine maps its PLIC at 0x0c00_0000.
#[allow(unsafe_code)]
unsafe impl Plic for VirtPlic {
    const BASE: usize = 0x0c00_0000;
}

/// A PLIC source of QEMU virt's virtio-mmio transports (1..=8) — the interrupt lines
/// of the disks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum VirtioIrq {
    /// Transport 0 (0x1000_1000).
    V0 = 1,
    /// Transport 1.
    V1 = 2,
    /// Transport 2.
    V2 = 3,
    /// Transport 3.
    V3 = 4,
    /// Transport 4.
    V4 = 5,
    /// Transport 5.
    V5 = 6,
    /// Transport 6.
    V6 = 7,
    /// Transport 7 (0x1000_8000).
    V7 = 8,
}

const VIRTIO_IRQS: [VirtioIrq; 8] = [
    VirtioIrq::V0,
    VirtioIrq::V1,
    VirtioIrq::V2,
    VirtioIrq::V3,
    VirtioIrq::V4,
    VirtioIrq::V5,
    VirtioIrq::V6,
    VirtioIrq::V7,
];

// SAFETY: the variants are distinct PLIC source numbers 1..=8, the highest is 8.
#[allow(unsafe_code)]
unsafe impl riscv::InterruptNumber for VirtioIrq {
    const MAX_INTERRUPT_NUMBER: usize = 8;
    fn number(self) -> usize {
        self as usize
    }
    fn from_number(value: usize) -> riscv::result::Result<Self> {
        VIRTIO_IRQS.get(value.wrapping_sub(1)).copied().ok_or(riscv::result::Error::InvalidVariant(value))
    }
}

// SAFETY: PLIC sources (not mcause values).
#[allow(unsafe_code)]
unsafe impl riscv::ExternalInterruptNumber for VirtioIrq {}

/// The one priority level used (1; 0 would mean "never").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
enum Priority {
    P0 = 0,
    P1 = 1,
}

// SAFETY: distinct levels 0 and 1; QEMU virt's PLIC has 7 levels, we use two.
#[allow(unsafe_code)]
unsafe impl riscv::PriorityNumber for Priority {
    const MAX_PRIORITY_NUMBER: usize = 1;
    fn number(self) -> usize {
        self as usize
    }
    fn from_number(value: usize) -> riscv::result::Result<Self> {
        match value {
            0 => Ok(Priority::P0),
            1 => Ok(Priority::P1),
            _ => Err(riscv::result::Error::InvalidVariant(value)),
        }
    }
}

fn plic() -> PLIC<VirtPlic> {
    PLIC::<VirtPlic>::new()
}

/// Route the virtio-mmio sources `irqs` (1..=8) through the PLIC to hart 0's machine
/// external interrupt, and turn that on: from then on the disks' completions arrive in
/// [`crate::virtio::on_interrupt`].
pub fn start_disk_irqs(irqs: &[u8]) {
    let p = plic();
    let ctx = p.ctx0();
    for &irq in irqs {
        let Ok(src) = <VirtioIrq as riscv::InterruptNumber>::from_number(irq as usize) else { continue };
        // SAFETY: priorities, enables and the threshold only route these sources to
        // this hart; riscv's single-hart critical sections save and restore mstatus.MIE
        // themselves, so they stay correct with the interrupt enabled.
        #[allow(unsafe_code)]
        unsafe {
            p.priorities().set_priority(src, Priority::P1);
        }
        // SAFETY: as above.
        #[allow(unsafe_code)]
        unsafe {
            ctx.enables().enable(src);
        }
    }
    // SAFETY: as above.
    #[allow(unsafe_code)]
    unsafe {
        ctx.threshold().set_threshold(Priority::P0);
    }
    // SAFETY: as above; the trap handler (riscv-rt) and `machine_external` are in place.
    #[allow(unsafe_code)]
    unsafe {
        p.enable();
    }
    // SAFETY: as above.
    #[allow(unsafe_code)]
    unsafe {
        riscv::interrupt::enable();
    }
}

#[cfg(not(feature = "size-image"))]
#[riscv_rt::core_interrupt(riscv::interrupt::Interrupt::MachineExternal)]
fn machine_external() {
    let ctx = plic().ctx0();
    // Claim every pending source, let its device's driver work, then complete it.
    while let Some(src) = ctx.claim().claim::<VirtioIrq>() {
        crate::virtio::on_interrupt(src as usize as u8);
        ctx.claim().complete(src);
    }
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
