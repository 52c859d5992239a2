//! QEMU `mps2-an500`: ARM's MPS2 FPGA board with the AN500 image, a Cortex-M7 — a core
//! with a data cache the DMA does not see. Memory map: `memory/mps2-an500.x` (as AN386).
//!
//! Its DMA buffers carry [`M7Cache`], fwring's cache-maintenance hook implemented with
//! the M7's clean / invalidate by address (cortex-m's `SCB`), and [`start_tick`] turns
//! the caches on. QEMU models no cache — the maintenance instructions are accepted and
//! do nothing — so on QEMU these paths run without changing results; on silicon they are
//! what makes the zero-copy buffers correct.

use core::ops::Range;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use fwring::Region;
use fwring::cache::DmaCache;

pub use super::cortex_m::{exit, instret, print_fmt, wait_for_interrupt};

/// The board, for the log.
pub const NAME: &str = "mps2-an500 (Cortex-M7)";

/// SysTick counts the 25 MHz core clock (QEMU's MPS2 SYSCLK): 25 000 cycles per 1 ms.
const TICK_CYCLES: u32 = 25_000;

/// Start the 1 ms device interrupt (SysTick), after turning on the I- and D-caches.
pub fn start_tick() {
    let Some(mut p) = cortex_m::Peripherals::take() else { return };
    p.SCB.enable_icache();
    p.SCB.enable_dcache(&mut p.CPUID);
    super::cortex_m::start_systick_with(p.SYST, TICK_CYCLES);
}

/// Whether the D-cache is on (CCR.DC).
pub fn dcache_enabled() -> bool {
    cortex_m::peripheral::SCB::dcache_enabled()
}

/// What [`M7Cache`] was asked to do, for the tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Clean calls (sources at hand-over).
    pub cleans: u32,
    /// Clean-and-invalidate calls (destinations at hand-over).
    pub clean_invalidates: u32,
    /// Invalidate calls (destinations at completion).
    pub invalidates: u32,
    /// The last range handed to any of them.
    pub last: (usize, usize),
}

static CLEANS: AtomicU32 = AtomicU32::new(0);
static CLEAN_INVALIDATES: AtomicU32 = AtomicU32::new(0);
static INVALIDATES: AtomicU32 = AtomicU32::new(0);
static LAST_START: AtomicUsize = AtomicUsize::new(0);
static LAST_END: AtomicUsize = AtomicUsize::new(0);

/// The counters.
pub fn cache_stats() -> CacheStats {
    CacheStats {
        cleans: CLEANS.load(Ordering::Relaxed),
        clean_invalidates: CLEAN_INVALIDATES.load(Ordering::Relaxed),
        invalidates: INVALIDATES.load(Ordering::Relaxed),
        last: (LAST_START.load(Ordering::Relaxed), LAST_END.load(Ordering::Relaxed)),
    }
}

fn note(counter: &AtomicU32, lines: &Range<usize>) {
    counter.fetch_add(1, Ordering::Relaxed);
    LAST_START.store(lines.start, Ordering::Relaxed);
    LAST_END.store(lines.end, Ordering::Relaxed);
}

/// The SCB, for by-address cache maintenance.
fn scb() -> cortex_m::peripheral::SCB {
    // SAFETY: only used for the by-address maintenance operations, which write the
    // write-only DCCMVAC / DCIMVAC / DCCIMVAC registers one address at a time: no state
    // another owner of the SCB relies on, safe to issue from thread mode and handlers.
    #[allow(unsafe_code)]
    unsafe {
        cortex_m::Peripherals::steal().SCB
    }
}

/// The Cortex-M7 data cache (32-byte lines) for fwring's DMA hook.
pub struct M7Cache;

impl DmaCache for M7Cache {
    const LINE: usize = 32;

    fn clean(lines: Range<usize>) {
        note(&CLEANS, &lines);
        scb().clean_dcache_by_address(lines.start, lines.end - lines.start);
    }

    fn invalidate(lines: Range<usize>) {
        note(&INVALIDATES, &lines);
        // SAFETY: the ring passes whole lines of a destination range it has just taken
        // back from the device (see fwring::cache): dropping them loses no CPU write the
        // rule allows; the range is inside a live region.
        #[allow(unsafe_code)]
        unsafe {
            scb().invalidate_dcache_by_address(lines.start, lines.end - lines.start);
        }
    }

    fn clean_invalidate(lines: Range<usize>) {
        note(&CLEAN_INVALIDATES, &lines);
        scb().clean_invalidate_dcache_by_address(lines.start, lines.end - lines.start);
    }
}

/// A DMA buffer of this board: with the M7's cache hook.
pub fn dma_region(mem: &'static mut [u8]) -> Region {
    Region::new(mem).with_cache::<M7Cache>()
}

/// A simulated device wrote `bytes` with the CPU: push them to memory, where a DMA
/// engine would have left them (the completion then invalidates the lines).
pub fn device_wrote(bytes: &[u8]) {
    let a = bytes.as_ptr() as usize;
    scb().clean_dcache_by_address(a, bytes.len());
}
