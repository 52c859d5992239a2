//! Memory regions handed to a ring: the only memory its buffer ops may touch.
//!
//! A region is `&'static mut [u8]` — memory the ring owns exclusively while it holds the
//! region — plus the address peers use to name it (its own address by default; a DMA or
//! bus address for memory a device or host sees elsewhere) and the directions ops may use
//! it in. The one `unsafe` constructor, for shared or device memory that Rust did not
//! allocate, lives here.

use crate::errno::Errno;

/// Largest region, as Linux limits a registered buffer (1 GiB).
pub const REGION_MAX_LEN: usize = 1 << 30;

const SOURCE: u8 = 1 << 0;
const DEST: u8 = 1 << 1;

/// A memory region for buffer ops.
pub struct Region {
    mem: &'static mut [u8],
    addr: u64,
    dirs: u8,
}

impl Region {
    /// A region over `mem`, usable as source and destination, named by its own address.
    pub fn new(mem: &'static mut [u8]) -> Self {
        let addr = mem.as_ptr() as usize as u64;
        Region { mem, addr, dirs: SOURCE | DEST }
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
        // SAFETY: the caller guarantees `ptr` is non-null, valid for `len` bytes for
        // 'static and exclusively ours (see the contract above).
        let mem = unsafe { core::slice::from_raw_parts_mut(ptr, len) };
        Region::new(mem)
    }

    /// Name the region by `addr` (the address SQEs and descriptors use) instead of its
    /// own address.
    #[must_use]
    pub fn at(mut self, addr: u64) -> Self {
        self.addr = addr;
        self
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
        self.mem.len()
    }

    /// Whether the region is empty (never registrable).
    pub fn is_empty(&self) -> bool {
        self.mem.is_empty()
    }

    /// Whether ops may read it.
    pub fn allows_source(&self) -> bool {
        self.dirs & SOURCE != 0
    }

    /// Whether ops may write it.
    pub fn allows_dest(&self) -> bool {
        self.dirs & DEST != 0
    }

    /// The memory.
    pub fn bytes(&self) -> &[u8] {
        self.mem
    }

    /// The memory, writable.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        self.mem
    }

    /// Give the memory back.
    pub fn into_inner(self) -> &'static mut [u8] {
        self.mem
    }

    /// Whether a region of this size can be registered (Linux: EFAULT for 0 or > 1 GiB).
    pub(crate) fn check(&self) -> Result<(), Errno> {
        if self.mem.is_empty() || self.mem.len() > REGION_MAX_LEN { Err(Errno::EFAULT) } else { Ok(()) }
    }

    /// `[addr, addr + len)` as an offset into the region, if it lies inside.
    pub(crate) fn offset_of(&self, addr: u64, len: u64) -> Option<usize> {
        let off = addr.checked_sub(self.addr)?;
        let end = off.checked_add(len)?;
        if end <= self.mem.len() as u64 { Some(off as usize) } else { None }
    }

    pub(crate) fn mem_mut(&mut self) -> &mut [u8] {
        self.mem
    }
}

impl core::fmt::Debug for Region {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Region")
            .field("addr", &format_args!("{:#x}", self.addr))
            .field("len", &self.mem.len())
            .field("source", &self.allows_source())
            .field("dest", &self.allows_dest())
            .finish()
    }
}
