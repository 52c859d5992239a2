//! Zero-copy buffers: the registered-buffer table, buffer descriptors, and the segment
//! views ops work on in place.
//!
//! - **Registered buffers** ([`BufTable`]): up to [`MAX_BUFFERS`](crate::buffer::MAX_BUFFERS) [`Region`]s, registered
//!   and unregistered with Linux's rules (C-BUF-1..4, C-BUF-12).
//! - **Descriptors** ([`BufDesc`], 16 bytes, the series' `io_bpf_buf_desc`): a user
//!   range, a fixed buffer, or a vectored list of segments. fwring has one address space,
//!   so a "user" address must lie inside some registered region: an address outside all
//!   of them is -EFAULT, as a bad user pointer is in Linux.
//! - **Imports**: an op's prep turns a descriptor into at most [`MAX_SEGS`](crate::buffer::MAX_SEGS) checked
//!   segments (index, range, direction — once, at prep: C-BUF-13). A destination range
//!   is owned by one in-flight request at a time: a request whose ranges overlap a
//!   destination of another in-flight request (or whose destination overlaps any range of
//!   one), outside its own link chain, fails with **-EBUSY** at prep. Sources may be
//!   shared. Members of one chain run one after the other, so they may share ranges —
//!   that is how data flows along a chain (decompress into X, checksum X).
//! - **Views** ([`Io`], [`Segs`], [`SegsMut`]): at issue the core carves the imported
//!   ranges out of the regions as `&[u8]` (sources) and `&mut [u8]` (destinations),
//!   each covering exactly its range, with no copy (`view.rs`, the one small `unsafe`
//!   module of the buffer code: the ownership rules above are what make it sound; a
//!   pending request's ranges go out as a [`PendingIo`](crate::PendingIo)). A source
//!   cannot be written: asking
//!   for a writable view of one is -EPERM (C-BUF-10), and the types of the views keep
//!   it that way.

#[cfg(feature = "dma-cache")]
pub mod cache;
#[cfg(feature = "multishot")]
pub mod provided;
pub(crate) mod region;
mod shared;
pub(crate) mod view;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::abi::Sqe;
use crate::abi::errno::Errno;
#[cfg(feature = "multishot")]
use crate::buffer::provided::{BufGroup, BufRing, Group, IOU_PBUF_RING_INC, MAX_GROUPS};
use crate::buffer::region::Region;

/// Registered-buffer table size.
pub const MAX_BUFFERS: usize = 16;
/// Segments one descriptor may resolve to (a vectored descriptor with more is -EINVAL).
pub const MAX_SEGS: usize = 8;
/// Buffers one request may import.
pub const MAX_IMPORTS: usize = 2;

crate::bytes::wire_enum! {
    /// `IO_BPF_BUF_*`: what a descriptor describes (its [`BufDesc::ty`] byte).
    ///
    /// The byte comes from an SQE or user memory and can hold anything:
    /// [`BufDesc::buf_type`] (or `TryFrom<u8>`) checks it, and a byte that names no type
    /// is -EINVAL at import (C-BUF-7).
    pub enum BufType: u8 {
        /// `IO_BPF_BUF_USER`: a user range: `addr` absolute, `len` bytes, inside any
        /// registered region.
        User = 0,
        /// `IO_BPF_BUF_FIXED`: a range of registered buffer `buf_index`: `addr`
        /// absolute, `len` bytes.
        Fixed = 1,
        /// `IO_BPF_BUF_VEC`: `addr` → an array of `len` iovecs in user memory, each a
        /// user range.
        Vec = 2,
        /// `IO_BPF_BUF_KFIXED`: a range of registered buffer `buf_index`: `addr` is an
        /// offset into it.
        KFixed = 3,
        /// `IO_BPF_BUF_REG_VEC`: `addr` → an array of `len` iovecs, each inside
        /// registered buffer `buf_index`.
        RegVec = 4,
    }
}

/// `struct io_bpf_buf_desc` (C-ABI-10): 16 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct BufDesc {
    /// A [`BufType`] as its wire byte (read it with [`BufDesc::buf_type`]).
    pub ty: u8,
    /// Must be 0.
    pub reserved: u8,
    /// Registered buffer index (FIXED, KFIXED, REG_VEC).
    pub buf_index: u16,
    /// Bytes, or iovec count (VEC, REG_VEC).
    pub len: u32,
    /// Address, iovec-array address, or offset (KFIXED).
    pub addr: u64,
}

const _: () = {
    assert!(size_of::<BufDesc>() == 16);
    assert!(core::mem::offset_of!(BufDesc, ty) == 0);
    assert!(core::mem::offset_of!(BufDesc, reserved) == 1);
    assert!(core::mem::offset_of!(BufDesc, buf_index) == 2);
    assert!(core::mem::offset_of!(BufDesc, len) == 4);
    assert!(core::mem::offset_of!(BufDesc, addr) == 8);
    assert!(size_of::<IoVec>() == 16);
    // Inline descriptors A (bytes 8..24) and B (48..64) are viewed in place.
    assert!(align_of::<Sqe>() >= align_of::<BufDesc>() && 8 % align_of::<BufDesc>() == 0);
};

impl BufDesc {
    /// A user range.
    pub const fn user(addr: u64, len: u32) -> Self {
        BufDesc { ty: BufType::User as u8, reserved: 0, buf_index: 0, len, addr }
    }

    /// A range of registered buffer `index`, by absolute address.
    pub const fn fixed(index: u16, addr: u64, len: u32) -> Self {
        BufDesc { ty: BufType::Fixed as u8, reserved: 0, buf_index: index, len, addr }
    }

    /// A range of registered buffer `index`, by offset.
    pub const fn kfixed(index: u16, offset: u64, len: u32) -> Self {
        BufDesc { ty: BufType::KFixed as u8, reserved: 0, buf_index: index, len, addr: offset }
    }

    /// `count` iovecs at `addr`, each a user range.
    pub const fn vec(addr: u64, count: u32) -> Self {
        BufDesc { ty: BufType::Vec as u8, reserved: 0, buf_index: 0, len: count, addr }
    }

    /// `count` iovecs at `addr`, each inside registered buffer `index`.
    pub const fn reg_vec(index: u16, addr: u64, count: u32) -> Self {
        BufDesc { ty: BufType::RegVec as u8, reserved: 0, buf_index: index, len: count, addr }
    }

    /// The descriptor's type; -EINVAL if its `ty` byte names none.
    ///
    /// ```
    /// use fwring::{BufDesc, BufType, Errno};
    /// assert_eq!(BufDesc::kfixed(0, 16, 8).buf_type(), Ok(BufType::KFixed));
    /// assert_eq!(BufDesc { ty: 5, ..BufDesc::user(0x1000, 8) }.buf_type(), Err(Errno::EINVAL));
    /// ```
    pub const fn buf_type(&self) -> Result<BufType, Errno> {
        match BufType::from_repr(self.ty) {
            Some(t) => Ok(t),
            None => Err(Errno::EINVAL),
        }
    }

    /// Whether the descriptor is a list of iovecs ([`BufType::Vec`],
    /// [`BufType::RegVec`]) rather than one range.
    pub const fn is_vectored(&self) -> bool {
        matches!(BufType::from_repr(self.ty), Some(BufType::Vec | BufType::RegVec))
    }

    /// Inline descriptor A of an SQE: bytes 8..24 (`off`, `addr`).
    pub fn sqe_a(sqe: &Sqe) -> Self {
        BufDesc::read_from_bytes(&sqe.as_bytes()[8..24]).unwrap_or_default()
    }

    /// Inline descriptor B of an SQE: bytes 48..64 (`addr3`, `__pad2`).
    pub fn sqe_b(sqe: &Sqe) -> Self {
        BufDesc::read_from_bytes(&sqe.as_bytes()[48..64]).unwrap_or_default()
    }

    /// Inline descriptor A of an SQE in place, without the copy [`BufDesc::sqe_a`] makes
    /// (what an import reads: on the 32-bit targets the copy was 8 loads and stores).
    pub(crate) fn in_sqe_a(sqe: &Sqe) -> &Self {
        Self::in_sqe(sqe, 8)
    }

    /// Inline descriptor B of an SQE in place (see [`BufDesc::in_sqe_a`]).
    pub(crate) fn in_sqe_b(sqe: &Sqe) -> &Self {
        Self::in_sqe(sqe, 48)
    }

    /// The 16 bytes at `at` of `sqe` as a descriptor: an SQE is 8-aligned and `at` is a
    /// multiple of 8 (const-asserted with the layout), so the view is always made; an all-zero
    /// descriptor stands in otherwise, as `sqe_a` reads a short slice.
    fn in_sqe(sqe: &Sqe, at: usize) -> &Self {
        const ZERO: BufDesc = BufDesc::user(0, 0);
        sqe.as_bytes().get(at..at + 16).and_then(|b| BufDesc::ref_from_bytes(b).ok()).unwrap_or(&ZERO)
    }

    /// Store as inline descriptor A of `sqe` (see [`BufDesc::sqe_a`]).
    pub fn put_a(&self, sqe: &mut Sqe) {
        let (lo, hi) = self.words();
        sqe.off = lo;
        sqe.addr = hi;
    }

    /// Store as inline descriptor B of `sqe` (see [`BufDesc::sqe_b`]).
    pub fn put_b(&self, sqe: &mut Sqe) {
        let (lo, hi) = self.words();
        sqe.addr3 = lo;
        sqe.pad2 = hi;
    }

    fn words(&self) -> (u64, u64) {
        let b = self.as_bytes();
        let lo = u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        (lo, self.addr)
    }
}

/// `struct iovec` as the descriptor arrays carry it: base address and length.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct IoVec {
    /// Start address.
    pub base: u64,
    /// Length in bytes.
    pub len: u64,
}

/// Which way an op uses a buffer (the series' DEST = 0 and SOURCE = 1). The
/// discriminants are 1 and 2, so that "no direction" (`Option::<Dir>::None`, an unused
/// import) is 0 and an empty request table is all zero bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Dir {
    /// The op writes into the buffer (I/O "read" into memory).
    Dest = 1,
    /// The op reads from the buffer.
    Source = 2,
}

/// One checked segment: `len` bytes at `start` of region `region`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Seg {
    pub start: u32,
    pub len: u32,
}

/// An imported buffer: its direction and checked segments. Entries past `nsegs` mean
/// nothing (an import is resolved in place, over an earlier one).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Import {
    /// `None` (byte 0): unused.
    pub(crate) dir: Option<Dir>,
    nsegs: u8,
    regions: [u8; MAX_SEGS],
    segs: [Seg; MAX_SEGS],
}

impl Import {
    pub const EMPTY: Import =
        Import { dir: None, nsegs: 0, regions: [0; MAX_SEGS], segs: [Seg { start: 0, len: 0 }; MAX_SEGS] };

    /// Make `self` unused: no direction, no segment (what the table's conflict checks and
    /// holds read for an import its request did not make).
    #[inline]
    pub(crate) fn clear(&mut self) {
        (self.dir, self.nsegs) = (None, 0);
    }

    pub(crate) fn segs(&self) -> impl Iterator<Item = (usize, Seg)> + '_ {
        let n = (self.nsegs as usize).min(MAX_SEGS);
        self.regions[..n].iter().zip(&self.segs[..n]).map(|(&r, &s)| (r as usize, s))
    }

    fn push(&mut self, region: usize, start: usize, len: usize) -> Result<(), Errno> {
        let i = self.nsegs as usize;
        if i >= MAX_SEGS {
            return Err(Errno::EINVAL);
        }
        self.regions[i] = region as u8;
        self.segs[i] = Seg { start: start as u32, len: len as u32 };
        self.nsegs += 1;
        Ok(())
    }

    /// The one-segment import for `dir` of `len` bytes at `start` of region `region`.
    pub(crate) fn one(dir: Dir, region: u8, start: u32, len: u32) -> Import {
        // Entries past `nsegs` mean nothing: repeating the one segment there is a few
        // stores, where zeros would be a `memclr` call.
        let seg = Seg { start, len };
        Import { dir: Some(dir), nsegs: 1, regions: [region; MAX_SEGS], segs: [seg; MAX_SEGS] }
    }

    /// The one-segment source import of `len` bytes at `start` of region `region` (a
    /// range [`BufTable::find`] gave: `region` < [`MAX_BUFFERS`]).
    pub(crate) fn source(region: usize, start: usize, len: usize) -> Import {
        Import::one(Dir::Source, region as u8, start as u32, len as u32)
    }

    /// The region and the byte span `[lo, hi)` covering every segment, if all lie in one
    /// region (`None` for no segment, or for segments in several regions).
    fn span(&self) -> Option<(usize, u32, u32)> {
        let mut segs = self.segs();
        let (r, first) = segs.next()?;
        let (mut lo, mut hi) = (first.start, first.start + first.len);
        for (q, s) in segs {
            if q != r {
                return None;
            }
            (lo, hi) = (lo.min(s.start), hi.max(s.start + s.len));
        }
        Some((r, lo, hi))
    }

    /// Whether the segments lie in one region in ascending order, each ending at or
    /// before the next begins: then no two of them overlap.
    fn ascending(&self) -> bool {
        let n = (self.nsegs as usize).min(MAX_SEGS);
        let (regions, segs) = (&self.regions[..n], &self.segs[..n]);
        regions.windows(2).all(|w| w[0] == w[1]) && segs.windows(2).all(|w| w[0].start + w[0].len <= w[1].start)
    }

    fn total(&self) -> u64 {
        self.segs().map(|(_, s)| s.len as u64).sum()
    }
}

impl PartialEq for Import {
    fn eq(&self, other: &Import) -> bool {
        self.dir == other.dir && self.segs().eq(other.segs())
    }
}

impl Eq for Import {}

/// The imports of one request.
pub(crate) type Imports = [Import; MAX_IMPORTS];

/// A request's imports as its issue sees them: the first `n` of its table entry's —
/// those its prep made, in place (the entry's others are left from earlier requests and
/// mean nothing; a standalone request completing in line never enters the table, but
/// its prep used the entry it would take).
#[derive(Clone, Copy)]
pub(crate) struct ImportsRef<'i> {
    held: &'i Imports,
    n: usize,
}

impl<'i> ImportsRef<'i> {
    /// The first `n` imports of `held` (`n` ≤ [`MAX_IMPORTS`]; unused ones among them,
    /// `dir` `None`, are skipped).
    #[inline]
    pub(crate) fn new(held: &'i Imports, n: usize) -> Self {
        ImportsRef { held, n }
    }

    /// Import `k`, if the request made it.
    #[inline]
    pub(crate) fn get(self, k: usize) -> Option<&'i Import> {
        if k < self.n { self.held.get(k).filter(|i| i.dir.is_some()) } else { None }
    }
}

/// The `n` imports a prep made at the front of `imports`, sealed as a table entry holds
/// them: the others unused (the table's conflict checks and holds read every import of
/// an entry that has some).
#[inline]
pub(crate) fn seal(imports: &mut Imports, n: usize) {
    for (k, imp) in imports.iter_mut().enumerate() {
        if k >= n {
            imp.clear();
        }
    }
}

fn overlaps(a: (usize, Seg), b: (usize, Seg)) -> bool {
    a.0 == b.0 && a.1.len > 0 && b.1.len > 0 && a.1.start < b.1.start + b.1.len && b.1.start < a.1.start + a.1.len
}

/// Whether a segment of `a` overlaps one of `b` (one segment each: one comparison, no
/// special case needed).
#[inline]
fn any_overlap(a: &Import, b: &Import) -> bool {
    a.segs().any(|x| b.segs().any(|y| overlaps(x, y)))
}

/// Whether two segments of `imp` overlap, every pair compared.
#[inline(never)]
fn self_overlap(imp: &Import) -> bool {
    let segs = || imp.segs();
    segs().enumerate().any(|(a, x)| segs().skip(a + 1).any(|y| overlaps(x, y)))
}

/// Whether `a` and `b` each lie in one region and their spans do not meet (different
/// regions, or byte spans apart): then no segment of one overlaps one of the other, and
/// they need not be compared range by range.
fn apart(a: &Import, b: &Import) -> bool {
    match (a.span(), b.span()) {
        (Some((ra, alo, ahi)), Some((rb, blo, bhi))) => ra != rb || ahi <= blo || bhi <= alo,
        _ => false,
    }
}

/// Whether two imports may be live in different chains at once: only if neither writes
/// a range the other touches.
pub(crate) fn conflict(a: &Import, b: &Import) -> bool {
    if a.dir != Some(Dir::Source) || b.dir != Some(Dir::Source) {
        // At least one writes (or is unused: no segments, no overlap).
        any_overlap(a, b)
    } else {
        false
    }
}

/// The requests in flight, as the ownership rule sees them (the engine's table).
pub(crate) trait Holders {
    /// Whether a request in flight holds a range that conflicts with `new` — leaving out
    /// the members of the link chain being assembled when `in_chain` (the new request
    /// joins that chain: its members run one after the other, and none has run yet).
    fn conflict(&self, new: &Import, in_chain: bool) -> bool;
}

/// Who holds which buffer ranges, as a request being prepared sees it.
#[derive(Clone, Copy)]
pub(crate) struct Owners<'a> {
    pub holders: &'a dyn Holders,
    pub in_chain: bool,
}

impl Owners<'_> {
    /// Whether `new` touches a range another request in flight writes, or writes a range
    /// one touches (-EBUSY): the ownership rule that makes the views of `view.rs` sound.
    #[inline]
    pub fn busy(&self, bufs: &BufTable, new: &Import) -> bool {
        bufs.shares_region(new) && self.conflict(bufs, new)
    }

    /// [`Owners::busy`] without its first, quick answer (no request or group holds a
    /// range of `new`'s regions).
    pub(crate) fn conflict(&self, bufs: &BufTable, new: &Import) -> bool {
        self.holders.conflict(new, self.in_chain) || bufs.group_conflict(new)
    }
}

/// The registered-buffer table.
pub struct BufTable {
    pub(crate) regions: [Option<Region>; MAX_BUFFERS],
    /// Segments of in-flight requests per region. At most 65 534 requests of 2 imports
    /// of 8 segments each: never more than 2²⁰, so the count is exact.
    users: [u32; MAX_BUFFERS],
    /// Table size; 0 = no table registered.
    len: u16,
    /// The registered regions' indices in order of address, and how many, while no two
    /// regions overlap: [`BufTable::find`] then looks a user address up by halves, in a
    /// time flat in the number of regions. `None` while two overlap (regions are named by
    /// any address, [`Region::at`]): then it scans them in table order.
    by_addr: Option<([u8; MAX_BUFFERS], u8)>,
    /// Provided-buffer groups (`provided.rs`): each reserves its area of a region.
    #[cfg(feature = "multishot")]
    pub(crate) groups: [Option<Group>; MAX_GROUPS],
    /// Groups with a multishot request attached.
    #[cfg(feature = "multishot")]
    pub(crate) streams: u8,
}

/// A registration call that failed, with what it was given handed back.
#[derive(Debug)]
pub struct Rejected<T> {
    /// Why (Linux's errno for the same call).
    pub errno: Errno,
    /// The regions, untouched.
    pub back: T,
}

impl BufTable {
    pub(crate) const fn new() -> Self {
        BufTable {
            regions: [const { None }; MAX_BUFFERS],
            users: [0; MAX_BUFFERS],
            len: 0,
            by_addr: None,
            #[cfg(feature = "multishot")]
            groups: [None; MAX_GROUPS],
            #[cfg(feature = "multishot")]
            streams: 0,
        }
    }

    /// As [`BufTable::new`] again, in place (a ring's setup: built whole, the table would
    /// be assembled on the stack and copied in).
    pub(crate) fn reset(&mut self) {
        self.regions.iter_mut().for_each(|r| *r = None);
        self.users = [0; MAX_BUFFERS];
        self.len = 0;
        self.by_addr = None;
        #[cfg(feature = "multishot")]
        {
            self.groups.iter_mut().for_each(|g| *g = None);
            self.streams = 0;
        }
    }

    /// Table size (0 if none).
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether no table is registered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `index` names a registered buffer.
    pub fn contains(&self, index: u16) -> bool {
        self.region(index).is_some()
    }

    /// The region at `index` — `None` while an in-flight request holds any range of it
    /// (a destination being written by hardware or a worker must not be read meanwhile).
    pub fn get(&self, index: u16) -> Option<&Region> {
        if self.held(index as usize) { None } else { self.region(index) }
    }

    /// The region at `index`, in use or not (the ring's own resolution of descriptors).
    #[inline]
    fn region(&self, index: u16) -> Option<&Region> {
        // `get`: `len` ≤ MAX_BUFFERS, but no bounds-check panic to link in.
        if index < self.len { self.regions.get(index as usize).and_then(Option::as_ref) } else { None }
    }

    /// The region at `index`, writable — unless an in-flight request uses it (EBUSY).
    pub fn get_mut(&mut self, index: u16) -> Result<&mut Region, Errno> {
        if index >= self.len {
            return Err(Errno::EINVAL);
        }
        if self.users[index as usize] != 0 {
            return Err(Errno::EBUSY);
        }
        self.regions[index as usize].as_mut().ok_or(Errno::EINVAL)
    }

    /// Whether an in-flight request (or a provided-buffer group) holds a range of a region
    /// `imp` touches: if none does, nothing can conflict with `imp` (every range a request
    /// or group holds is counted in its region's `users`), and the ownership check is
    /// done without looking at the requests in flight.
    #[inline]
    fn shares_region(&self, imp: &Import) -> bool {
        imp.regions.iter().take(imp.nsegs as usize).any(|&r| self.held(r as usize))
    }

    /// Whether any in-flight request holds a buffer range.
    pub(crate) fn in_use(&self) -> bool {
        self.users.iter().any(|&u| u != 0)
    }

    /// `IORING_REGISTER_BUFFERS`: register a table of `K` regions. EINVAL for 0 or more
    /// than [`MAX_BUFFERS`] (C-BUF-1, C-BUF-4), EBUSY if a table exists (C-BUF-2), EFAULT
    /// for an empty or >1 GiB region (C-BUF-4).
    pub fn register<const K: usize>(&mut self, regions: [Region; K]) -> Result<(), Rejected<[Region; K]>> {
        let errno = if K == 0 || K > MAX_BUFFERS {
            Some(Errno::EINVAL)
        } else if self.len != 0 {
            Some(Errno::EBUSY)
        } else {
            regions.iter().find_map(|r| r.check().err())
        };
        if let Some(errno) = errno {
            return Err(Rejected { errno, back: regions });
        }
        for (slot, r) in self.regions.iter_mut().zip(regions) {
            *slot = Some(r);
        }
        self.len = K as u16;
        self.index();
        Ok(())
    }

    /// `IORING_REGISTER_BUFFERS2` with `IORING_RSRC_REGISTER_SPARSE`: an empty table of
    /// `nr` slots, filled with [`BufTable::update`]. Errors as [`BufTable::register`].
    pub fn register_sparse(&mut self, nr: u16) -> Result<(), Errno> {
        if nr == 0 || nr as usize > MAX_BUFFERS {
            return Err(Errno::EINVAL);
        }
        if self.len != 0 {
            return Err(Errno::EBUSY);
        }
        self.len = nr;
        self.index();
        Ok(())
    }

    /// `IORING_REGISTER_BUFFERS_UPDATE` of one slot: put `region` at `index`, returning
    /// what was there. ENXIO without a table, EINVAL for an index past the table, EBUSY
    /// if the old region is in use, EFAULT for an unregistrable region.
    pub fn update(&mut self, index: u16, region: Region) -> Result<Option<Region>, Rejected<Region>> {
        let errno = if self.len == 0 {
            Some(Errno::ENXIO)
        } else if index >= self.len {
            Some(Errno::EINVAL)
        } else if self.users[index as usize] != 0 {
            Some(Errno::EBUSY)
        } else {
            region.check().err()
        };
        match errno {
            Some(errno) => Err(Rejected { errno, back: region }),
            None => {
                let old = self.regions[index as usize].replace(region);
                self.index();
                Ok(old)
            }
        }
    }

    /// `IORING_UNREGISTER_BUFFERS`: ENXIO without a table (C-BUF-3), EBUSY while any
    /// region is in use by an in-flight request (C-BUF-12). Returns the regions.
    pub fn unregister(&mut self) -> Result<heapless::Vec<Region, MAX_BUFFERS>, Errno> {
        if self.len == 0 {
            return Err(Errno::ENXIO);
        }
        if self.in_use() {
            return Err(Errno::EBUSY);
        }
        let mut out = heapless::Vec::new();
        for r in self.regions.iter_mut().filter_map(Option::take) {
            // At most MAX_BUFFERS regions: always fits.
            let _ = out.push(r);
        }
        self.len = 0;
        self.index();
        Ok(out)
    }

    /// Whether no two registered regions overlap (a user range lies in one region at
    /// most).
    pub(crate) fn disjoint(&self) -> bool {
        self.by_addr.is_some()
    }

    /// Rebuild `by_addr` after the regions changed.
    fn index(&mut self) {
        let mut order = [0u8; MAX_BUFFERS];
        let mut n = 0;
        let start = |r: &Option<Region>| r.as_ref().map_or(0, Region::addr);
        for (i, r) in self.regions.iter().enumerate().take(self.len as usize) {
            if r.is_none() {
                continue;
            }
            // Insertion sort by address: at most MAX_BUFFERS entries.
            let mut k = n;
            while k > 0 && start(&self.regions[order[k - 1] as usize]) > start(r) {
                order[k] = order[k - 1];
                k -= 1;
            }
            order[k] = i as u8;
            n += 1;
        }
        let end = |i: u8| self.regions[i as usize].as_ref().map_or(0, |r| r.addr().saturating_add(r.len() as u64));
        let disjoint = order[..n].windows(2).all(|w| end(w[0]) <= start(&self.regions[w[1] as usize]));
        self.by_addr = disjoint.then_some((order, n as u8));
    }

    /// The region containing `[addr, addr + len)` (a "user" range): `(index, offset)` —
    /// the first in table order that does.
    fn find(&self, addr: u64, len: u64) -> Result<(usize, usize), Errno> {
        // Indices come from `index` (all < MAX_BUFFERS), looked up with `get` all the
        // same: no bounds-check panic to link in.
        let at = |i: u8| self.regions.get(i as usize).and_then(Option::as_ref);
        // The feature `small` leaves the lookup by halves out: the scan in table order
        // finds the same region (with no two overlapping, only one can hold the range).
        let by_addr = if cfg!(feature = "small") { &None } else { &self.by_addr };
        // The table indices of the regions that may hold the range; one loop tries them.
        let candidates = match by_addr {
            // No two regions overlap: only the last one starting at or below `addr` can
            // hold the range (regions are never empty). By halves: `order[..lo]` start at
            // or below `addr`, `order[hi..]` above.
            Some((order, n)) => {
                let (mut lo, mut hi) = (0, *n as usize);
                while lo < hi {
                    let mid = (lo + hi) / 2;
                    let below = order.get(mid).and_then(|&i| at(i)).is_some_and(|r| r.addr() <= addr);
                    (lo, hi) = if below { (mid + 1, hi) } else { (lo, mid) };
                }
                order.get(lo.wrapping_sub(1)).map_or(0..0, |&i| i..i + 1)
            }
            None => 0..self.len as u8,
        };
        candidates
            .into_iter()
            .find_map(|i| at(i).and_then(|r| r.offset_of(addr, len)).map(|off| (i as usize, off)))
            .ok_or(Errno::EFAULT)
    }

    /// Registered buffer `index`, checked for direction (C-BUF-9: EFAULT).
    #[inline]
    fn registered(&self, index: u16, dir: Dir) -> Result<&Region, Errno> {
        let r = self.region(index).ok_or(Errno::EFAULT)?;
        if permits(r, dir) { Ok(r) } else { Err(Errno::EFAULT) }
    }

    /// The `len` bytes of user memory at `addr` as a one-segment source import: where
    /// a read of a structure in user memory (an iovec, a timespec) would look.
    pub(crate) fn user_range(&self, addr: u64, len: usize) -> Result<Import, Errno> {
        let (i, off) = self.find(addr, len as u64)?;
        let mut imp = Import { dir: Some(Dir::Source), ..Import::EMPTY };
        imp.push(i, off, len)?;
        Ok(imp)
    }

    /// Whether an in-flight request (or a provided-buffer group) holds a range of region
    /// `i` (see [`BufTable::shares_region`]).
    pub(crate) fn held(&self, i: usize) -> bool {
        self.users.get(i).is_some_and(|&u| u != 0)
    }

    /// Resolve `desc` for `dir` into checked segments (C-BUF-7..9, C-BUF-13), written
    /// into `imp` in place (its earlier contents are dropped; on an error it holds no
    /// segment that matters: the caller discards it); `read_iovec` reads the iovec arrays
    /// of vectored descriptors. A descriptor whose reserved byte is not 0 is EINVAL.
    #[inline]
    pub(crate) fn resolve_into(
        &self,
        desc: &BufDesc,
        dir: Dir,
        read_iovec: impl Fn(u64) -> Result<IoVec, Errno>,
        read_iovecs: impl Fn(u64, usize, &mut [IoVec; MAX_SEGS]) -> Option<()>,
        imp: &mut Import,
    ) -> Result<(), Errno> {
        imp.dir = Some(dir);
        imp.nsegs = 0;
        if desc.reserved != 0 {
            return Err(Errno::EINVAL);
        }
        let ty = desc.buf_type()?;
        let (region, off) = match ty {
            BufType::User => {
                let (i, off) = self.find(desc.addr, desc.len as u64)?;
                match &self.regions[i] {
                    Some(r) if permits(r, dir) => (i, off),
                    _ => return Err(Errno::EFAULT),
                }
            }
            BufType::Fixed | BufType::KFixed => {
                let r = self.registered(desc.buf_index, dir)?;
                let addr = if ty == BufType::KFixed {
                    r.addr().checked_add(desc.addr).ok_or(Errno::EFAULT)?
                } else {
                    desc.addr
                };
                (desc.buf_index as usize, r.offset_of(addr, desc.len as u64).ok_or(Errno::EFAULT)?)
            }
            BufType::Vec | BufType::RegVec => return self.resolve_vec(desc, ty, dir, (read_iovec, read_iovecs), imp),
        };
        // Zero bytes, or more than a CQE result can count (as for vectored descriptors).
        if desc.len == 0 || desc.len as u64 > i32::MAX as u64 {
            return Err(Errno::EINVAL);
        }
        imp.regions[0] = region as u8;
        imp.segs[0] = Seg { start: off as u32, len: desc.len };
        imp.nsegs = 1;
        Ok(())
    }

    /// [`BufTable::resolve_into`] of a vectored descriptor (VEC, REG_VEC).
    #[inline(never)]
    fn resolve_vec(
        &self,
        desc: &BufDesc,
        ty: BufType,
        dir: Dir,
        (read_iovec, read_iovecs): (
            impl Fn(u64) -> Result<IoVec, Errno>,
            impl Fn(u64, usize, &mut [IoVec; MAX_SEGS]) -> Option<()>,
        ),
        imp: &mut Import,
    ) -> Result<(), Errno> {
        if desc.len == 0 || desc.len as usize > MAX_SEGS {
            return Err(Errno::EINVAL);
        }
        // REG_VEC: the one region every iovec must lie in (looked up once).
        let reg = if ty == BufType::RegVec { Some(self.registered(desc.buf_index, dir)?) } else { None };
        // The whole array in one read where that reads exactly what reading the iovecs
        // one by one would (see `view::read_iovecs`); else one by one, in order.
        let n = desc.len as usize;
        let mut all = [IoVec::default(); MAX_SEGS];
        let iovs = read_iovecs(desc.addr, n, &mut all).map(|()| &all[..n.min(MAX_SEGS)]);
        // Counted in 32 bits (n <= MAX_SEGS): the 64-bit address only where it is used.
        for k in 0..n {
            let at = desc.addr.checked_add((k * 16) as u64).ok_or(Errno::EFAULT)?;
            let iov = match iovs {
                Some(iovs) => iovs.get(k).copied().ok_or(Errno::EFAULT)?,
                None => read_iovec(at)?,
            };
            if iov.len == 0 {
                continue;
            }
            let len = u32::try_from(iov.len).map_err(|_| Errno::EFAULT)? as usize;
            match reg {
                None => {
                    let (i, off) = self.find(iov.base, iov.len)?;
                    self.push_checked(imp, i, off, len, dir)?;
                }
                Some(r) => {
                    let off = r.offset_of(iov.base, iov.len).ok_or(Errno::EFAULT)?;
                    imp.push(desc.buf_index as usize, off, len)?;
                }
            }
        }
        // Zero bytes, or more than a CQE result can count (Linux caps a transfer at
        // MAX_RW_COUNT, about i32::MAX, too).
        let total = imp.total();
        if total == 0 || total > i32::MAX as u64 {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    fn push_checked(&self, imp: &mut Import, region: usize, off: usize, len: usize, dir: Dir) -> Result<(), Errno> {
        match &self.regions[region] {
            Some(r) if permits(r, dir) => imp.push(region, off, len),
            _ => Err(Errno::EFAULT),
        }
    }

    /// Account a committed import (in-flight requests pin their regions).
    pub(crate) fn hold(&mut self, imp: &Import) {
        // An import's regions are all < MAX_BUFFERS (`get_mut`: no panic path).
        for (r, _) in imp.segs() {
            if let Some(u) = self.users.get_mut(r) {
                *u += 1;
            }
        }
    }

    /// Release a committed import.
    pub(crate) fn release(&mut self, imp: &Import) {
        for (r, _) in imp.segs() {
            if let Some(u) = self.users.get_mut(r) {
                debug_assert!(*u > 0, "release without hold");
                *u = u.saturating_sub(1);
            }
        }
    }
}

/// Without the `multishot` feature there are no groups: no area is reserved.
#[cfg(not(feature = "multishot"))]
impl BufTable {
    pub(crate) fn group_conflict(&self, _new: &Import) -> bool {
        false
    }
}

#[cfg(feature = "multishot")]
impl BufTable {
    /// The area of group `g` as a destination import (what it reserves).
    fn group_area(g: &Group) -> Import {
        Import::one(Dir::Dest, g.region, g.start, g.area_len() as u32)
    }

    /// Whether `new` touches the area of a provided-buffer group (reserved for the
    /// group's buffers: -EBUSY for any other request).
    pub(crate) fn group_conflict(&self, new: &Import) -> bool {
        self.groups.iter().flatten().any(|g| conflict(&Self::group_area(g), new))
    }

    /// Group `bgid`.
    pub(crate) fn group(&self, bgid: u16) -> Option<&Group> {
        self.groups.iter().flatten().find(|g| g.bgid == bgid)
    }

    /// Group `bgid`, writable.
    pub(crate) fn group_mut(&mut self, bgid: u16) -> Option<&mut Group> {
        self.groups.iter_mut().flatten().find(|g| g.bgid == bgid)
    }

    /// `IORING_REGISTER_PBUF_RING` (see [`Ring::register_buf_ring`](crate::Ring::register_buf_ring)).
    pub(crate) fn register_group<const E: usize>(
        &mut self,
        ring: &'static BufRing<E>,
        grp: BufGroup,
        flags: u16,
        holders: &dyn Holders,
    ) -> Result<(), Errno> {
        // IOU_PBUF_RING_MMAP asks the kernel to allocate the ring: fwring's is a static.
        if flags & !IOU_PBUF_RING_INC != 0 {
            return Err(Errno::EINVAL);
        }
        if self.group(grp.bgid).is_some() {
            return Err(Errno::EEXIST);
        }
        let region = self.registered(grp.buf_index, Dir::Dest)?;
        let area_len = (grp.size as u64).checked_mul(E as u64).ok_or(Errno::EINVAL)?;
        if grp.size == 0 || grp.offset as u64 + area_len > region.len() as u64 {
            return Err(Errno::EINVAL);
        }
        let area = region.raw_piece(grp.offset as usize, area_len as usize).ok_or(Errno::EINVAL)?;
        let base_addr = region.addr() + grp.offset as u64;
        let free = self.groups.iter().position(Option::is_none).ok_or(Errno::ENOMEM)?;
        let g = ring.group();
        let group = Group {
            bgid: grp.bgid,
            region: grp.buf_index as u8,
            start: grp.offset,
            size: grp.size,
            base_addr,
            g,
            area,
            attached: u16::MAX,
            flags,
        };
        let reserve = Self::group_area(&group);
        if self.group_conflict(&reserve) || holders.conflict(&reserve, false) {
            return Err(Errno::EBUSY);
        }
        if !Group::claim(&g) {
            return Err(Errno::EBUSY);
        }
        group.reset();
        self.hold(&reserve);
        self.groups[free] = Some(group);
        Ok(())
    }

    /// `IORING_UNREGISTER_PBUF_RING`: ENOENT for an unknown group, EBUSY while a request
    /// uses it or a device holds one of its buffers.
    pub(crate) fn unregister_group(&mut self, bgid: u16) -> Result<(), Errno> {
        let i = self.groups.iter().position(|g| g.as_ref().is_some_and(|g| g.bgid == bgid)).ok_or(Errno::ENOENT)?;
        let Some(g) = self.groups[i] else { return Err(Errno::ENOENT) };
        if g.attached != u16::MAX {
            return Err(Errno::EBUSY);
        }
        g.quiesce()?;
        g.release();
        self.release(&Self::group_area(&g));
        self.groups[i] = None;
        Ok(())
    }

    /// Buffer `bid` of group `bgid`, for the application to read its data: only while
    /// the application holds it (its CQE was posted and it was not re-armed): EBUSY
    /// otherwise, ENOENT for an unknown group, EINVAL for a bid past the group.
    pub fn provided(&self, bgid: u16, bid: u16) -> Result<&[u8], Errno> {
        self.group(bgid).ok_or(Errno::ENOENT)?.app_view(bid)
    }
}

fn permits(r: &Region, dir: Dir) -> bool {
    match dir {
        Dir::Source => r.allows_source(),
        Dir::Dest => r.allows_dest(),
    }
}

/// Check a new import against the request's earlier ones (`earlier`): a destination may
/// not overlap anything else of the same request (overlapping source and destination:
/// EINVAL).
#[inline]
pub(crate) fn check_within(earlier: &[Import], new: &Import) -> Result<(), Errno> {
    // One segment, after no import or after one of one segment (a source → destination
    // op's usual pair): at most one comparison, in line; anything else out of line.
    match earlier {
        [] if new.nsegs == 1 => Ok(()),
        [old] if new.nsegs == 1 && old.nsegs == 1 => {
            let writes = new.dir == Some(Dir::Dest) || old.dir == Some(Dir::Dest);
            // Their first segments, compared directly: the general loop is an iterator
            // the 32-bit targets call out of line.
            match (old.segs().next(), new.segs().next()) {
                (Some(a), Some(b)) if writes && overlaps(a, b) => Err(Errno::EINVAL),
                _ => Ok(()),
            }
        }
        _ => check_within_all(earlier, new),
    }
}

/// [`check_within`] of any imports.
#[inline(never)]
fn check_within_all(earlier: &[Import], new: &Import) -> Result<(), Errno> {
    let new_dest = new.dir == Some(Dir::Dest);
    // Within one descriptor, a destination's own segments must not overlap either
    // (compared pair by pair unless they are in ascending order, as lists usually are).
    if new_dest && new.nsegs > 1 && !new.ascending() && self_overlap(new) {
        return Err(Errno::EINVAL);
    }
    for old in earlier {
        if (new_dest || old.dir == Some(Dir::Dest)) && !apart(old, new) && any_overlap(old, new) {
            return Err(Errno::EINVAL);
        }
    }
    Ok(())
}

/// The read-only segments of a source buffer, in order.
#[derive(Clone, Debug, Default)]
pub struct Segs<'a> {
    pub(crate) segs: heapless::Vec<&'a [u8], MAX_SEGS>,
}

impl<'a> Segs<'a> {
    /// One segment over `bytes` (e.g. a small value an op writes out with
    /// [`SegsMut::copy_from`]).
    pub fn from_slice(bytes: &'a [u8]) -> Self {
        let mut segs = heapless::Vec::new();
        let _ = segs.push(bytes);
        Segs { segs }
    }

    /// Total bytes.
    pub fn len(&self) -> usize {
        self.segs.iter().map(|s| s.len()).sum()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The segments.
    pub fn slices(&self) -> &[&'a [u8]] {
        &self.segs
    }

    /// The segments in pieces of at most `max` bytes (the series iterates by pages of
    /// 4096; fwring gives exact lengths and lets the op choose).
    pub fn chunks(&self, max: usize) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.segs.iter().flat_map(move |s| s.chunks(max.max(1)))
    }

    /// The segments, owned (for views that must outlive the `Segs`).
    pub fn into_slices(self) -> heapless::Vec<&'a [u8], MAX_SEGS> {
        self.segs
    }

    /// Keep only the first `n` bytes.
    pub fn truncate(&mut self, mut n: usize) {
        let mut keep = 0;
        for s in self.segs.iter_mut() {
            if n == 0 {
                break;
            }
            if s.len() > n {
                *s = &s[..n];
            }
            n -= s.len();
            keep += 1;
        }
        self.segs.truncate(keep);
    }
}

/// The writable segments of a destination buffer, in order.
#[derive(Debug, Default)]
pub struct SegsMut<'a> {
    pub(crate) segs: heapless::Vec<&'a mut [u8], MAX_SEGS>,
}

impl<'a> SegsMut<'a> {
    /// Total bytes.
    pub fn len(&self) -> usize {
        self.segs.iter().map(|s| s.len()).sum()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The segments, writable.
    pub fn slices_mut(&mut self) -> &mut [&'a mut [u8]] {
        &mut self.segs
    }

    /// The segments, owned.
    pub fn into_slices(self) -> heapless::Vec<&'a mut [u8], MAX_SEGS> {
        self.segs
    }

    /// Copy all of `src` to the start of `self`; returns the bytes copied. ENOSPC if
    /// `self` is shorter than `src`.
    pub fn copy_from(&mut self, src: &Segs<'_>) -> Result<usize, Errno> {
        // One segment each way (the usual case): one copy.
        if let ([s], [d]) = (src.slices(), &mut self.segs[..]) {
            let d = d.get_mut(..s.len()).ok_or(Errno::ENOSPC)?;
            d.copy_from_slice(s);
            return Ok(s.len());
        }
        let total = src.len();
        if total > self.len() {
            return Err(Errno::ENOSPC);
        }
        let mut dsts = self.segs.iter_mut();
        let mut cur: &mut [u8] = &mut [];
        for mut s in src.slices().iter().copied() {
            while !s.is_empty() {
                if cur.is_empty() {
                    match dsts.next() {
                        Some(d) => cur = &mut **d,
                        None => return Err(Errno::ENOSPC),
                    }
                    continue;
                }
                let n = s.len().min(cur.len());
                let (head, tail) = core::mem::take(&mut cur).split_at_mut(n);
                head.copy_from_slice(&s[..n]);
                cur = tail;
                s = &s[n..];
            }
        }
        Ok(total)
    }
}

/// The buffers of one request, carved out of their regions for one issue call.
pub enum IoBuf<'a> {
    /// Not imported.
    None,
    /// Imported as a source.
    Source(Segs<'a>),
    /// Imported as a destination.
    Dest(SegsMut<'a>),
}

/// All imported buffers of a request during issue: `Io::buf(i)` is the i-th import of
/// its prep.
pub struct Io<'a> {
    pub(crate) bufs: [IoBuf<'a>; MAX_IMPORTS],
}

impl<'a> Io<'a> {
    /// No import.
    pub(crate) const NONE: Io<'a> = Io { bufs: [IoBuf::None, IoBuf::None] };

    /// Import `i`, a source. EINVAL if it was not imported, or was imported as a
    /// destination (whose contents are the op's to produce: use [`Io::dest`]).
    pub fn source(&self, i: usize) -> Result<&Segs<'a>, Errno> {
        match self.bufs.get(i) {
            Some(IoBuf::Source(s)) => Ok(s),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Import `i` for writing: a destination. EPERM for a source (C-BUF-10), EINVAL if
    /// not imported.
    pub fn dest(&mut self, i: usize) -> Result<&mut SegsMut<'a>, Errno> {
        match self.bufs.get_mut(i) {
            Some(IoBuf::Dest(d)) => Ok(d),
            Some(IoBuf::Source(_)) => Err(Errno::EPERM),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Every import, owned: to keep views for as long as what they borrow (e.g. a
    /// [`PendingIo`](crate::PendingIo)) rather than this `Io`.
    pub fn into_bufs(self) -> [IoBuf<'a>; MAX_IMPORTS] {
        self.bufs
    }

    /// Source `src` and destination `dst` at once (`src != dst`).
    pub fn split(&mut self, src: usize, dst: usize) -> Result<(&Segs<'a>, &mut SegsMut<'a>), Errno> {
        let [a, b] = &mut self.bufs;
        let (s, d) = match (src, dst) {
            (0, 1) => (a, b),
            (1, 0) => (b, a),
            _ => return Err(Errno::EINVAL),
        };
        match (s, d) {
            (IoBuf::Source(s), IoBuf::Dest(d)) => Ok((s, d)),
            (_, IoBuf::Source(_)) => Err(Errno::EPERM),
            _ => Err(Errno::EINVAL),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use static_cell::StaticCell;

    /// `n` pieces of `len` bytes of `cell`'s memory (each test has its own cell).
    fn pieces<const M: usize>(
        cell: &'static StaticCell<[u8; M]>,
        len: usize,
    ) -> impl Iterator<Item = &'static mut [u8]> {
        cell.init([0; M]).chunks_exact_mut(len)
    }

    /// The in-place views of an SQE's inline descriptors read what the copies read.
    #[test]
    fn inline_descriptors_in_place_equal_their_copies() {
        let mut sqe = Sqe::default();
        for (i, b) in sqe.as_mut_bytes().iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(29).wrapping_add(3);
        }
        assert_eq!(*BufDesc::in_sqe_a(&sqe), BufDesc::sqe_a(&sqe));
        assert_eq!(*BufDesc::in_sqe_b(&sqe), BufDesc::sqe_b(&sqe));
        let (a, b) = (BufDesc::kfixed(3, 16, 8), BufDesc::reg_vec(1, 0x1000, 4));
        a.put_a(&mut sqe);
        b.put_b(&mut sqe);
        assert_eq!((*BufDesc::in_sqe_a(&sqe), *BufDesc::in_sqe_b(&sqe)), (a, b));
    }

    /// `check_within`'s shortcuts — a one-segment pair compared in line, a destination in
    /// ascending order, lists whose spans are apart — answer exactly as comparing every
    /// pair of segments would, over lists of 1 to 4 segments in 2 regions.
    #[test]
    fn check_within_answers_as_every_pair_compared() {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n) as usize
        };
        let meet = |(r, s): (usize, Seg), (q, t): (usize, Seg)| {
            r == q && s.start < t.start + t.len && t.start < s.start + s.len
        };
        let (mut shortcut, mut refused) = (0, 0);
        for _ in 0..40_000 {
            let imp = |next: &mut dyn FnMut(u64) -> usize| {
                let dir = if next(2) == 0 { Dir::Source } else { Dir::Dest };
                let mut imp = Import { dir: Some(dir), ..Import::EMPTY };
                // Ascending runs now and then, as real lists are.
                let mut at = next(8);
                for _ in 0..1 + next(4) {
                    let (start, len) = if next(2) == 0 { (at, 1 + next(4)) } else { (next(16), 1 + next(6)) };
                    imp.push(next(2), start, len).unwrap();
                    at = start + len + next(2);
                }
                imp
            };
            let earlier: heapless::Vec<Import, 1> = (0..next(2)).map(|_| imp(&mut next)).collect();
            let new = imp(&mut next);
            let dest = |i: &Import| i.dir == Some(Dir::Dest);
            let segs: heapless::Vec<(usize, Seg), MAX_SEGS> = new.segs().collect();
            let own = dest(&new) && (0..segs.len()).any(|a| (a + 1..segs.len()).any(|b| meet(segs[a], segs[b])));
            let cross = earlier
                .iter()
                .any(|old| (dest(old) || dest(&new)) && old.segs().any(|p| new.segs().any(|q| meet(p, q))));
            let want = if own || cross { Err(Errno::EINVAL) } else { Ok(()) };
            assert_eq!(check_within(&earlier, &new), want, "earlier {earlier:?}, new {new:?}");
            shortcut += usize::from(new.ascending() || earlier.first().is_some_and(|o| apart(o, &new)));
            refused += usize::from(want.is_err());
        }
        // Both ways taken often.
        assert!(shortcut > 10_000 && refused > 10_000, "{shortcut} {refused}");
    }

    /// Disjoint regions are looked up by address (by halves): every byte of each is found
    /// in it, and addresses between or around them are EFAULT, as the scan answers.
    #[test]
    fn user_addresses_resolve_to_their_region_by_address() {
        static MEM: StaticCell<[u8; 320]> = StaticCell::new();
        let mut mem = pieces(&MEM, 64);
        let mut t = BufTable::new();
        let rs: [Region; 5] =
            core::array::from_fn(|i| Region::new(mem.next().unwrap_or_default()).at(0x1_0000 * (5 - i as u64)));
        t.register(rs).unwrap();
        assert!(t.disjoint());
        for i in 0..5u64 {
            let base = 0x1_0000 * (5 - i);
            assert_eq!(t.find(base, 64), Ok((i as usize, 0)));
            assert_eq!(t.find(base + 63, 1), Ok((i as usize, 63)));
            assert_eq!(t.find(base + 1, 64), Err(Errno::EFAULT));
            assert_eq!(t.find(base - 1, 1), Err(Errno::EFAULT));
        }
        assert_eq!(t.find(0, 1), Err(Errno::EFAULT));
        assert_eq!(t.find(u64::MAX, 1), Err(Errno::EFAULT));
    }

    /// Regions named by overlapping addresses: the first in table order that holds the
    /// range, as before (no lookup by address), and again by address once the overlap
    /// is updated away.
    #[test]
    fn overlapping_regions_resolve_to_the_first_in_table_order() {
        static MEM: StaticCell<[u8; 768]> = StaticCell::new();
        let mut mem = pieces(&MEM, 256);
        let mut t = BufTable::new();
        let mut next = || mem.next().unwrap_or_default();
        t.register([Region::new(&mut next()[..64]).at(0x1000), Region::new(next()).at(0x1000)]).unwrap();
        assert!(!t.disjoint());
        assert_eq!(t.find(0x1000, 64), Ok((0, 0)));
        assert_eq!(t.find(0x1000, 65), Ok((1, 0)));
        assert!(t.update(1, Region::new(next()).at(0x2000)).is_ok());
        assert!(t.disjoint());
        assert_eq!(t.find(0x2000, 65), Ok((1, 0)));
        assert_eq!(t.find(0x1000, 65), Err(Errno::EFAULT));
    }
}
