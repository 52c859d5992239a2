//! Shared memory at a raw address: the queue pair a host maps
//! ([`QueuePair::from_ptr`](crate::shm::QueuePair::from_ptr)), kept here with the
//! crate's other `unsafe` (the queue pair itself is `shm/`).

use crate::shm::QueuePair;

impl<const SQ: usize, const CQ: usize> QueuePair<SQ, CQ> {
    /// The queue pair at `ptr`: memory a host maps (a PCIe BAR, shared SRAM) or a linker
    /// symbol placed it at. Call [`QueuePair::init`] before either side attaches unless
    /// the memory already holds a set-up pair.
    ///
    /// # Safety
    ///
    /// - `ptr` is non-null, 64-byte aligned and valid for reads and writes of
    ///   `size_of::<QueuePair<SQ, CQ>>()` bytes for all of `'a`;
    /// - those bytes are initialised (any value will do: every bit pattern is a valid
    ///   `AtomicU32`);
    /// - for all of `'a`, everything else that touches them — the peer, DMA, other cores —
    ///   does so only with aligned 32-bit accesses that are atomic on this platform
    ///   (single-copy atomic stores and loads, as a PCIe or AXI master issues them), and
    ///   nothing in this program accesses them except through the returned reference.
    #[cfg(not(loom))]
    #[allow(unsafe_code)]
    pub unsafe fn from_ptr<'a>(ptr: *mut Self) -> &'a Self {
        let () = Self::LAYOUT_OK;
        // SAFETY: the caller guarantees `ptr` is non-null, aligned, valid and
        // initialised for 'a, and that all other accesses are atomic 32-bit ones, so a
        // shared reference to a struct made only of `AtomicU32`s is sound.
        unsafe { &*ptr }
    }
}
