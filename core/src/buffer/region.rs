//! Memory regions handed to a ring: the only memory its buffer ops may touch.
//!
//! A region is memory the ring owns exclusively while it holds the region — taken as
//! `&'static mut [u8]`, or as raw DMA / shared memory behind one `unsafe` constructor —
//! plus the address peers use to name it (its own address by default; a DMA or bus
//! address for memory a device or host sees elsewhere) and the directions ops may use it
//! in.
//!
//! This module and `view.rs` hold the crate's `unsafe` for buffers; this one states the
//! invariant that makes it sound. A region is kept as raw parts, and references to its bytes are made for exactly
//! the ranges a request owns — never for the whole region while requests hold pieces of
//! it — so that a piece handed to hardware or an async worker of a pending request
//! ([`PendingIo`](crate::PendingIo)) stays valid while other requests use other
//! ranges. Who owns which range is decided by the ring's buffer bookkeeping (`buf.rs`):
//! a destination range belongs to one request (one link chain) at a time, sources may be
//! shared, and the application reaches a region's bytes only while no request holds any.

use core::ptr::NonNull;

use crate::abi::errno::Errno;
#[cfg(feature = "dma-cache")]
use crate::buffer::cache::{CacheOps, DmaCache};

/// Largest region, as Linux limits a registered buffer (1 GiB).
pub const REGION_MAX_LEN: usize = 1 << 30;

const SOURCE: u8 = 1 << 0;
const DEST: u8 = 1 << 1;

/// A memory region for buffer ops.
pub struct Region {
    ptr: NonNull<u8>,
    len: usize,
    addr: u64,
    dirs: u8,
    #[cfg(feature = "dma-cache")]
    cache: Option<&'static CacheOps>,
}

// SAFETY: a region owns its bytes exclusively (it was made from a `&'static mut [u8]`, or
// from raw memory under the same contract), so moving it to another thread moves that
// ownership; it has no thread affinity.
#[allow(unsafe_code)]
unsafe impl Send for Region {}

// SAFETY: `&Region` gives out shared `&[u8]` only (`bytes`), and pieces only through the
// ring's bookkeeping (`piece`, `piece_mut`, whose callers guarantee exclusivity).
#[allow(unsafe_code)]
unsafe impl Sync for Region {}

impl Region {
    /// A region over `mem`, usable as source and destination, named by its own address.
    pub fn new(mem: &'static mut [u8]) -> Self {
        let addr = mem.as_ptr() as usize as u64;
        let len = mem.len();
        Region {
            ptr: NonNull::from(mem).cast(),
            len,
            addr,
            dirs: SOURCE | DEST,
            #[cfg(feature = "dma-cache")]
            cache: None,
        }
    }

    /// A region over raw memory, e.g. a DMA window or memory shared with a host.
    ///
    /// # Safety
    ///
    /// `ptr` must be valid for reads and writes of `len` bytes for the rest of the
    /// program (`'static`), and nothing else may access those bytes while this `Region`
    /// (or anything derived from it) exists, except as the caller's own protocol with
    /// the ring allows: a peer (device, host, other core) may touch a byte range only
    /// while no request of the ring owns it — the ownership the DMA handshake of the
    /// platform already expresses. `ptr` must not be null.
    #[allow(unsafe_code)]
    pub unsafe fn from_raw_parts(ptr: *mut u8, len: usize) -> Self {
        match NonNull::new(ptr) {
            Some(ptr) => Region {
                ptr,
                len,
                addr: ptr.as_ptr() as usize as u64,
                dirs: SOURCE | DEST,
                #[cfg(feature = "dma-cache")]
                cache: None,
            },
            // A null pointer breaks the contract; an empty region can never be registered.
            None => Region {
                ptr: NonNull::dangling(),
                len: 0,
                addr: 0,
                dirs: SOURCE | DEST,
                #[cfg(feature = "dma-cache")]
                cache: None,
            },
        }
    }

    /// Name the region by `addr` (the address SQEs and descriptors use) instead of its
    /// own address.
    #[must_use]
    pub fn at(mut self, addr: u64) -> Self {
        self.addr = addr;
        self
    }

    /// Cache maintenance for DMA: the ring cleans / invalidates this region's ranges
    /// through `C` when a request hands them to a device and when they come back (see
    /// [`cache`](crate::cache) for the exact rule). Without it, nothing is done.
    #[cfg(feature = "dma-cache")]
    #[must_use]
    pub fn with_cache<C: DmaCache>(mut self) -> Self {
        self.cache = Some(&const { CacheOps::of::<C>() });
        self
    }

    /// The region's cache-maintenance hook, if it has one.
    #[cfg(feature = "dma-cache")]
    pub fn cache(&self) -> Option<&'static CacheOps> {
        self.cache
    }

    /// Ops may only read this region (`Dir::Source`).
    #[must_use]
    pub fn source_only(mut self) -> Self {
        self.dirs = SOURCE;
        self
    }

    /// Ops may only write this region (`Dir::Dest`).
    #[must_use]
    pub fn dest_only(mut self) -> Self {
        self.dirs = DEST;
        self
    }

    /// The address the region is named by.
    pub fn addr(&self) -> u64 {
        self.addr
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region is empty (never registrable).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether ops may read it.
    pub fn allows_source(&self) -> bool {
        self.dirs & SOURCE != 0
    }

    /// Whether ops may write it.
    pub fn allows_dest(&self) -> bool {
        self.dirs & DEST != 0
    }

    /// The memory. A registered region is reachable (through
    /// [`BufTable::get`](crate::BufTable::get)) only while no request holds any of it.
    #[allow(unsafe_code)]
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the region owns `len` valid bytes at `ptr` ('static). A `&Region`
        // exists outside the ring's bookkeeping only when no request holds a piece (an
        // unregistered region, or `BufTable::get` of a region not in use), so no `&mut`
        // to these bytes is alive; the returned borrow keeps `&mut self` methods away.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The memory, writable (only while no request holds any of it, as for `bytes`).
    #[allow(unsafe_code)]
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as `bytes`, and `&mut self` makes this the only access.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// Give the memory back.
    #[allow(unsafe_code)]
    pub fn into_inner(self) -> &'static mut [u8] {
        // SAFETY: the region owned these bytes exclusively for 'static; it is consumed,
        // so the exclusive borrow passes back to the caller.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// Whether a region of this size can be registered (Linux: EFAULT for 0 or > 1 GiB).
    pub(crate) fn check(&self) -> Result<(), Errno> {
        if self.len == 0 || self.len > REGION_MAX_LEN { Err(Errno::EFAULT) } else { Ok(()) }
    }

    /// `[addr, addr + len)` as an offset into the region, if it lies inside.
    pub(crate) fn offset_of(&self, addr: u64, len: u64) -> Option<usize> {
        let off = addr.checked_sub(self.addr)?;
        let end = off.checked_add(len)?;
        if end <= self.len as u64 { Some(off as usize) } else { None }
    }

    /// Raw parts of `[start, start + len)`, or `None` if it does not lie inside.
    pub(crate) fn raw_piece(&self, start: usize, len: usize) -> Option<RawPiece> {
        let end = start.checked_add(len)?;
        if end > self.len {
            return None;
        }
        // In bounds (checked above): the pointer stays inside the allocation, so it is
        // not null.
        Some(RawPiece { ptr: NonNull::new(self.ptr.as_ptr().wrapping_add(start))?, len })
    }
}

/// A byte range of a region as raw parts: what a request owns, between the ring's
/// bookkeeping and the references it makes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawPiece {
    ptr: NonNull<u8>,
    len: usize,
}

impl RawPiece {
    /// The range's address and length (for cache maintenance; no access).
    #[cfg(feature = "dma-cache")]
    pub(crate) fn span(&self) -> (usize, usize) {
        (self.ptr.as_ptr() as usize, self.len)
    }

    /// Length in bytes.
    #[cfg(feature = "multishot")]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The sub-range `[off, off + len)`, or `None` if it does not lie inside.
    #[cfg(feature = "multishot")]
    pub(crate) fn sub(&self, off: usize, len: usize) -> Option<RawPiece> {
        let end = off.checked_add(len)?;
        if end > self.len {
            return None;
        }
        // In bounds (checked above): inside the same allocation, not null.
        Some(RawPiece { ptr: NonNull::new(self.ptr.as_ptr().wrapping_add(off))?, len })
    }

    /// The range, read-only.
    ///
    /// # Safety
    ///
    /// No `&mut` to any byte of the range may be alive during `'a` (the ring's ownership
    /// rules: the range is imported as a source, or as a destination by the one request
    /// using it now).
    #[allow(unsafe_code)]
    pub(crate) unsafe fn slice<'a>(self) -> &'a [u8] {
        // SAFETY: the range lies inside a live 'static region (checked by `raw_piece`),
        // and the caller guarantees no concurrent `&mut`.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The range, writable.
    ///
    /// # Safety
    ///
    /// No other reference to any byte of the range may be alive during `'a` (the range
    /// is a destination the calling request owns exclusively, and the caller makes one
    /// such reference at a time).
    #[allow(unsafe_code)]
    pub(crate) unsafe fn slice_mut<'a>(self) -> &'a mut [u8] {
        // SAFETY: inside a live 'static region (checked by `raw_piece`); exclusivity is
        // the caller's guarantee.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl core::fmt::Debug for Region {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Region")
            .field("addr", &format_args!("{:#x}", self.addr))
            .field("len", &self.len)
            .field("source", &self.allows_source())
            .field("dest", &self.allows_dest())
            .finish()
    }
}
