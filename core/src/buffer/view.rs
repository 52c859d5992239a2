//! Carving a request's imported ranges into views: the unsafe half of the buffer code,
//! kept small. [`carve`] makes the views an op gets at issue; [`PendingIo`] keeps them
//! for whoever finishes a pending request (hardware's driver, an async worker).
//!
//! Every view is built from a [`RawPiece`] — exactly one imported range of a region,
//! never a whole region — and is sound because of the ownership rules `buf` enforces at
//! import (see `region.rs` for the argument in full).

use core::num::NonZeroU32;

use zerocopy::FromBytes;

use crate::abi::errno::Errno;
use crate::buffer::Owners;
#[cfg(feature = "dma-cache")]
use crate::buffer::cache::{self, CacheOps};
use crate::buffer::region::RawPiece;
use crate::buffer::{BufTable, Dir, Import, ImportsRef, Io, IoBuf, IoVec, MAX_IMPORTS, MAX_SEGS, Segs, SegsMut};
use crate::engine::completion::{CompleteError, Completer, Phase, Token};

/// Read a `T` from user memory at `addr` (an iovec of a vectored descriptor, a
/// descriptor, a timespec): EFAULT outside the registered memory, EBUSY if another
/// request in flight (outside the chain being assembled) writes any of those bytes —
/// a device may be writing them right now. Exactly those `size_of::<T>()` bytes are
/// viewed, never the rest of the region, whose other ranges may be out as a
/// [`PendingIo`]'s views.
#[allow(unsafe_code)]
pub(crate) fn read_user<T: FromBytes>(table: &BufTable, owners: &Owners<'_>, addr: u64) -> Result<T, Errno> {
    let len = size_of::<T>();
    // One region lookup and one piece: the general import machinery (`pieces` over an
    // `Import`) is built only when some request holds a range of that region.
    let (region, off) = table.find(addr, len as u64)?;
    if table.held(region) && owners.conflict(table, &Import::source(region, off, len)) {
        return Err(Errno::EBUSY);
    }
    let piece = table.regions.get(region).and_then(Option::as_ref).and_then(|r| r.raw_piece(off, len));
    let piece = piece.ok_or(Errno::EFAULT)?;
    // SAFETY: no `&mut` to these bytes is alive: no request in flight outside the chain
    // being assembled has them as a destination (checked just above: a region no request
    // or group holds a range of has none), the members of that chain have not run, and
    // the application reaches a region only while no request holds any of it (it cannot
    // run during the ring's prep anyway: that takes the ring mutably). The view lives
    // only for this read.
    let bytes = unsafe { piece.slice() };
    T::read_from_bytes(bytes).map_err(|_| Errno::EFAULT)
}

/// Read the `n` (≤ [`MAX_SEGS`]) iovecs at `addr` in one view into the front of `out`, in
/// place (no array is moved) — `None` unless that reads exactly what [`read_user`] of
/// each in turn would: no two regions overlap (so each iovec's region is the array's),
/// the array lies in one region, and nothing in flight outside the chain being
/// assembled writes any of it (so no iovec's bytes are busy: a range inside one nobody
/// writes is not written either). Then the caller reads them one by one, with the
/// errors that gives.
#[allow(unsafe_code)]
pub(crate) fn read_iovecs(
    table: &BufTable,
    owners: &Owners<'_>,
    addr: u64,
    n: usize,
    out: &mut [IoVec; MAX_SEGS],
) -> Option<()> {
    if !table.disjoint() || n > MAX_SEGS {
        return None;
    }
    let imp = table.user_range(addr, n * size_of::<IoVec>()).ok()?;
    if owners.busy(table, &imp) {
        return None;
    }
    let piece = pieces(table, &imp).next()?.ok()?;
    // SAFETY: as in `read_user`: no `&mut` to these bytes is alive (no request in flight
    // outside the chain being assembled writes them, checked just above; that chain's
    // members have not run; the application cannot run during prep). The view lives
    // only for this read.
    let bytes = unsafe { piece.slice() };
    for (iov, b) in out.iter_mut().zip(bytes.chunks_exact(size_of::<IoVec>())) {
        *iov = IoVec::read_from_bytes(b).ok()?;
    }
    Some(())
}

/// Import `imp`'s pieces as raw parts, each checked against its region (EFAULT if a
/// range no longer fits: impossible while the request pins its regions).
fn pieces<'t>(table: &'t BufTable, imp: &'t Import) -> impl Iterator<Item = Result<RawPiece, Errno>> + 't {
    imp.segs().map(|(r, s)| {
        let region = table.regions.get(r).and_then(Option::as_ref).ok_or(Errno::EFAULT)?;
        region.raw_piece(s.start as usize, s.len as usize).ok_or(Errno::EFAULT)
    })
}

/// Fill `v` with the views of a source import's pieces.
///
/// # Safety
///
/// The pieces are source ranges the calling request owns for `'a` under the ring's rules
/// (see `region.rs`): shared with readers only.
#[allow(unsafe_code)]
#[inline]
unsafe fn fill_source<'a>(
    v: &mut Segs<'a>,
    pieces: impl Iterator<Item = Result<RawPiece, Errno>>,
) -> Result<(), Errno> {
    for p in pieces {
        // SAFETY: a source range of this request: no `&mut` to it is alive (destinations
        // never overlap it, in this request — EINVAL at import — or in another in flight
        // — EBUSY at import).
        let _ = v.segs.push(unsafe { p?.slice() });
    }
    Ok(())
}

/// Fill `v` with the views of a destination import's pieces.
///
/// # Safety
///
/// The pieces are destination ranges the calling request owns exclusively for `'a`, and
/// the caller makes one such view at a time.
#[allow(unsafe_code)]
#[inline]
unsafe fn fill_dest<'a>(
    v: &mut SegsMut<'a>,
    pieces: impl Iterator<Item = Result<RawPiece, Errno>>,
) -> Result<(), Errno> {
    for p in pieces {
        // SAFETY: a destination range this request owns exclusively: no other request
        // in flight outside its chain touches it (EBUSY at import), its chain's other
        // members are not running, the application cannot reach a region in use, and
        // this request's own ranges do not overlap it (EINVAL at import). One view at a
        // time: callers borrow the request (or its PendingIo) mutably for 'a.
        let _ = v.segs.push(unsafe { p?.slice_mut() });
    }
    Ok(())
}

/// Make `view` the view of one import (`None`: not imported), in place.
///
/// # Safety
///
/// The pieces are ranges the calling request owns for `'a` under the ring's rules (see
/// `region.rs`): its destinations exclusively, its sources shared with readers only.
#[allow(unsafe_code)]
#[inline]
unsafe fn view_into<'a>(
    view: &mut IoBuf<'a>,
    dir: Option<Dir>,
    pieces: impl Iterator<Item = Result<RawPiece, Errno>>,
) -> Result<(), Errno> {
    match dir {
        Some(Dir::Source) => {
            *view = IoBuf::Source(Segs::default());
            if let IoBuf::Source(v) = view {
                // SAFETY: the caller's guarantee, for a source.
                unsafe { fill_source(v, pieces)? };
            }
        }
        Some(Dir::Dest) => {
            *view = IoBuf::Dest(SegsMut::default());
            if let IoBuf::Dest(v) = view {
                // SAFETY: the caller's guarantee, for a destination.
                unsafe { fill_dest(v, pieces)? };
            }
        }
        None => *view = IoBuf::None,
    }
    Ok(())
}

/// Import 0 as a source into `src` and import 1 as a destination into `dst` (both empty
/// before), in place — what [`Io::split`]`(0, 1)` of a carved [`Io`] gives, without
/// carving the `Io`: EPERM if import 1 is a source, EINVAL if import 0 is not a source
/// or import 1 not imported.
#[allow(unsafe_code)]
#[inline(always)]
pub(crate) fn carve_src_dst<'a>(
    table: &'a BufTable,
    imports: ImportsRef<'_>,
    src: &mut Segs<'a>,
    dst: &mut SegsMut<'a>,
) -> Result<(), Errno> {
    let (s, d) = match (imports.get(0), imports.get(1)) {
        (Some(s), Some(d)) if (s.dir, d.dir) == (Some(Dir::Source), Some(Dir::Dest)) => (s, d),
        (_, Some(d)) if d.dir == Some(Dir::Source) => return Err(Errno::EPERM),
        _ => return Err(Errno::EINVAL),
    };
    // SAFETY: the request is being issued: it owns its imported ranges (import 0 a
    // source, import 1 a destination, checked above) for the issue call, which `'a` (a
    // borrow of its issue context) does not outlive.
    unsafe {
        fill_source(src, pieces(table, s))?;
    }
    // SAFETY: as above, for the destination; `dst` is its only view.
    unsafe { fill_dest(dst, pieces(table, d)) }
}

/// Carve the imports' ranges out of their regions for one issue call: destinations as
/// `&mut [u8]`, sources as `&[u8]`, each reference covering exactly its range — never a
/// whole region, so ranges other requests hold (a pending request's, handed to hardware
/// or a worker) are not touched.
#[allow(unsafe_code)]
#[inline]
pub(crate) fn carve<'a>(table: &'a BufTable, imports: ImportsRef<'_>) -> Result<Io<'a>, Errno> {
    let mut io = Io::NONE;
    carve_into(table, imports, &mut io)?;
    Ok(io)
}

/// [`carve`] into `io`, in place (no view is moved).
#[allow(unsafe_code)]
#[inline]
pub(crate) fn carve_into<'a>(table: &'a BufTable, imports: ImportsRef<'_>, io: &mut Io<'a>) -> Result<(), Errno> {
    for (k, view) in io.bufs.iter_mut().enumerate() {
        match imports.get(k) {
            // SAFETY: the request is being issued: it owns its imported ranges for the
            // duration of the issue call, which `'a` (a borrow of its issue context)
            // does not outlive.
            Some(imp) => unsafe { view_into(view, imp.dir, pieces(table, imp))? },
            None => *view = IoBuf::None,
        }
    }
    Ok(())
}

/// A request's buffer as raw pieces, kept by a [`PendingIo`].
#[derive(Clone, Copy)]
struct RawBuf {
    /// `Option<Dir>` as a plain byte (0: not imported): an enum here would give
    /// `Option<PendingIo>` and `Result<PendingIo, _>` their tag in this byte, in the
    /// middle of the handle, and every move of the handle would copy around it in
    /// odd-sized, unaligned pieces.
    dir: u8,
    n: u8,
    /// Bit k: piece k lies in a region with the cache hook `cache` (`cache.rs`).
    #[cfg(feature = "dma-cache")]
    hooked: u8,
    #[cfg(feature = "dma-cache")]
    cache: Option<&'static CacheOps>,
    pieces: [Option<RawPiece>; MAX_SEGS],
}

impl RawBuf {
    const EMPTY: RawBuf = RawBuf {
        dir: 0,
        n: 0,
        #[cfg(feature = "dma-cache")]
        hooked: 0,
        #[cfg(feature = "dma-cache")]
        cache: None,
        pieces: [None; MAX_SEGS],
    };

    fn dir(&self) -> Option<Dir> {
        match self.dir {
            1 => Some(Dir::Dest),
            2 => Some(Dir::Source),
            _ => None,
        }
    }
}

#[cfg(feature = "dma-cache")]
const _: () = assert!(MAX_SEGS <= u8::BITS as usize);

/// The buffers of a pending request, taken out of the ring for whoever finishes the work
/// — a DMA engine's driver, an async worker, another core — like a DMA descriptor.
///
/// Made by [`IssueCx::pending_io`](crate::IssueCx::pending_io): the request is pending
/// (not cancellable: the holder owns its buffers) and its ranges stay reserved for this
/// handle; [`PendingIo::io`] gives the same views an op gets at issue, for as long as the
/// handle is borrowed; [`PendingIo::complete`] consumes the handle and completes the
/// request, after which the ranges may go to other requests. Not `Clone`; `Send`.
///
/// **Why the views are sound, for any safe caller.** The handle is the only way its
/// request ends: the request is pending in the mailbox's *lent* phase, which
/// [`Completer::complete`] refuses ([`CompleteError::Lent`]) whatever token it is given,
/// ASYNC_CANCEL and link timeouts cannot withdraw (-EALREADY), and `Ring::setup` refuses
/// a ring with requests in flight. The handle names its ring exactly (the ring's process-
/// unique number, never reused) and its request exactly (slot and 48-bit generation),
/// so it completes nothing else and nothing else completes its request. Until then the
/// request's ranges stay held — its regions' use counts stay non-zero, so
/// `buffer_mut`, `update_buffer` and `unregister_buffers` answer EBUSY, and every other
/// request that would touch a destination range of it (or write a range of it) fails
/// -EBUSY at prep, chain or no chain (a closed chain's members are never mistaken for a
/// new chain's). Dropping the handle without completing leaves the request in flight
/// for good — its ranges stay reserved, never reused.
pub struct PendingIo {
    token: Token,
    /// Never 0: the handle's one niche, word-aligned, where `Option<PendingIo>` keeps
    /// its tag.
    ring: NonZeroU32,
    bufs: [RawBuf; MAX_IMPORTS],
}

/// A [`PendingIo::complete`] that was refused: the handle comes back untouched.
#[derive(Debug)]
pub struct Refused {
    /// The handle, still owning its request's buffers.
    pub io: PendingIo,
    /// Why.
    pub error: CompleteError,
}

// SAFETY: the handle owns its request's ranges (see `view_of`): moving it to another
// context moves that ownership; the ring keeps no reference to them while it lives.
#[allow(unsafe_code)]
unsafe impl Send for PendingIo {}

/// A pending request's imports as raw pieces, into `bufs` (empty on entry): each piece
/// checked against its region (EFAULT if one no longer fits: impossible while the
/// request holds its regions), and with feature `dma-cache` handed to the device.
fn fill(bufs: &mut [RawBuf; MAX_IMPORTS], table: &BufTable, imports: ImportsRef<'_>) -> Result<(), Errno> {
    for (k, raw) in bufs.iter_mut().enumerate() {
        let Some(imp) = imports.get(k) else { continue };
        raw.dir = imp.dir.map_or(0, |d| d as u8);
        #[cfg(feature = "dma-cache")]
        let dest = imp.dir == Some(Dir::Dest);
        for ((r, s), slot) in imp.segs().zip(raw.pieces.iter_mut()) {
            let region = table.regions.get(r).and_then(Option::as_ref).ok_or(Errno::EFAULT)?;
            let piece = region.raw_piece(s.start as usize, s.len as usize).ok_or(Errno::EFAULT)?;
            // The hand-over: sources cleaned, destinations cleaned and invalidated,
            // before the device can see them (`cache.rs`). One hook per buffer.
            #[cfg(feature = "dma-cache")]
            if let Some(ops) = region.cache() {
                match raw.cache {
                    Some(c) if !c.same(ops) => return Err(Errno::EINVAL),
                    _ => raw.cache = Some(ops),
                }
                let (addr, len) = piece.span();
                cache::to_device(ops, dest, addr, len);
                raw.hooked |= 1 << raw.n;
            }
            *slot = Some(piece);
            raw.n += 1;
        }
    }
    Ok(())
}

impl PendingIo {
    /// No buffers, token and ring still to be set.
    const BLANK: PendingIo =
        PendingIo { token: Token::BLANK, ring: NonZeroU32::MAX, bufs: [RawBuf::EMPTY; MAX_IMPORTS] };

    pub(crate) fn new(
        token: Token,
        ring: NonZeroU32,
        table: &BufTable,
        imports: ImportsRef<'_>,
    ) -> Result<Self, Errno> {
        let mut bufs = [RawBuf::EMPTY; MAX_IMPORTS];
        fill(&mut bufs, table, imports)?;
        Ok(PendingIo { token, ring, bufs })
    }

    /// [`PendingIo::new`] in `slot` (empty on entry; left empty on an error).
    pub(crate) fn new_in<'s>(
        slot: &'s mut Option<PendingIo>,
        token: Token,
        ring: NonZeroU32,
        table: &BufTable,
        imports: ImportsRef<'_>,
    ) -> Result<&'s mut PendingIo, Errno> {
        // A constant written into the slot, then the two words that vary: no handle is
        // assembled elsewhere and copied in.
        let io = slot.insert(PendingIo::BLANK);
        io.token = token;
        io.ring = ring;
        if let Err(e) = fill(&mut io.bufs, table, imports) {
            *slot = None;
            return Err(e);
        }
        slot.as_mut().ok_or(Errno::EINVAL)
    }

    /// The request's buffers, in place.
    #[allow(unsafe_code)]
    pub fn io(&mut self) -> Io<'_> {
        let mut io = Io::NONE;
        for (raw, view) in self.bufs.iter().zip(io.bufs.iter_mut()) {
            let pieces = raw.pieces.iter().take(raw.n as usize).flatten().map(|p| Ok(*p));
            // SAFETY: the pending request owns its ranges until this handle completes it
            // (see the type's docs: nothing else can end the request); `&mut self` makes
            // this the only view. The pieces were checked when the handle was made.
            if unsafe { view_into(view, raw.dir(), pieces) }.is_err() {
                *view = IoBuf::None;
            }
        }
        io
    }

    /// The pieces of import `i`, a destination, writable, in order — what
    /// [`Io::dest`] gives, without building an [`Io`]: a driver that programs a DMA
    /// engine (or fills a single buffer) needs only the slices, and an `Io` is 144 bytes
    /// on 32-bit targets that [`PendingIo::io`] writes out and copies. EPERM for a source
    /// (C-BUF-10), EINVAL if `i` was not imported.
    ///
    /// ```
    /// # use core::cell::RefCell;
    /// # use critical_section::Mutex;
    /// # use fwring::{BufDesc, Dir, Errno, Issue, IssueCx, Op, PendingIo, PrepCx, Region, Ring, Setup, SetupFlags, Sqe, vtable};
    /// # use static_cell::StaticCell;
    /// /// The device's request slot.
    /// static HANDLE: Mutex<RefCell<Option<PendingIo>>> = Mutex::new(RefCell::new(None));
    /// struct Dma;
    /// impl Op for Dma {
    ///     type Pdu = ();
    ///     fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<(), Errno> {
    ///         cx.import(&BufDesc::sqe_a(sqe), Dir::Dest).map(drop)
    ///     }
    ///     fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
    ///         match critical_section::with(|cs| cx.pending_io_into(&mut HANDLE.borrow_ref_mut(cs)).map(drop)) {
    ///             Ok(()) => Issue::Pending,
    ///             Err(e) => Issue::Err(e),
    ///         }
    ///     }
    /// }
    /// static DMA: fwring::OpVTable = vtable::<Dma>(0);
    /// static MEM: StaticCell<[u8; 64]> = StaticCell::new();
    /// let mem: &'static mut [u8] = MEM.init([0; 64]);
    /// let mut ring: Ring<4, 8, 4> = Ring::new();
    /// ring.setup(Setup::new(4).flags(SetupFlags::BPF_EXT)).unwrap();
    /// ring.register_op(&DMA).unwrap();
    /// ring.register_buffers([Region::new(mem).at(0x1000)]).map_err(|e| e.errno).unwrap();
    /// let mut sqe = Sqe::bpf(0, 0).user_data(7);
    /// BufDesc::fixed(0, 0x1000, 16).put_a(&mut sqe);
    /// ring.push(sqe).unwrap();
    /// ring.submit();
    /// // The device's side: write the destination in place, then complete.
    /// let mut io = critical_section::with(|cs| HANDLE.borrow_ref_mut(cs).take()).unwrap();
    /// for s in io.dest_slices(0).unwrap() {
    ///     s.fill(0xab);
    /// }
    /// assert_eq!(io.source_slices(0).err(), Some(Errno::EINVAL));
    /// io.complete(&ring.split().2, 16).unwrap();
    /// ring.poll();
    /// assert_eq!(ring.pop().map(|c| c.res), Some(16));
    /// assert!(ring.buffers().get(0).unwrap().bytes()[..16].iter().all(|&b| b == 0xab));
    /// ```
    #[allow(unsafe_code)]
    pub fn dest_slices(&mut self, i: usize) -> Result<impl Iterator<Item = &mut [u8]>, Errno> {
        let raw = self.bufs.get(i).ok_or(Errno::EINVAL)?;
        match raw.dir() {
            Some(Dir::Dest) => {}
            Some(Dir::Source) => return Err(Errno::EPERM),
            None => return Err(Errno::EINVAL),
        }
        // SAFETY: destination ranges the pending request owns exclusively until this
        // handle completes it (see the type's docs); `&mut self` keeps every other view
        // of the handle away while these live, and the ranges of one request never
        // overlap (EINVAL at import), so the slices the iterator yields, alive at once,
        // do not alias each other either. The pieces were checked when the handle was
        // made.
        Ok(raw.pieces.iter().take(raw.n as usize).flatten().map(|p| unsafe { p.slice_mut() }))
    }

    /// The pieces of import `i`, a source, in order — what [`Io::source`] gives, without
    /// building an [`Io`]. EINVAL if `i` was not imported or is a destination (whose
    /// contents are the op's to produce).
    #[allow(unsafe_code)]
    pub fn source_slices(&self, i: usize) -> Result<impl Iterator<Item = &[u8]>, Errno> {
        let raw = self.bufs.get(i).ok_or(Errno::EINVAL)?;
        if raw.dir() != Some(Dir::Source) {
            return Err(Errno::EINVAL);
        }
        // SAFETY: source ranges of the pending request: no `&mut` to them exists (no
        // request writes a range another holds, EBUSY at import; this handle's writable
        // views need `&mut self`, which the shared borrow excludes).
        Ok(raw.pieces.iter().take(raw.n as usize).flatten().map(|p| unsafe { p.slice() }))
    }

    /// Complete the request with `res`: the handle is consumed, so no view outlives it.
    /// A completer of another ring refuses it ([`CompleteError::Foreign`]) and the handle
    /// comes back in [`Refused`]. With feature `dma-cache`, destinations in regions with
    /// a cache hook are invalidated first, before the completion is posted (`cache.rs`);
    /// `pending_io` then fails with EINVAL if one buffer spans regions with different
    /// hooks.
    // The handle comes back by value: no heap to box it in, and a refused completion
    // must not lose the request's buffers.
    #[allow(clippy::result_large_err)]
    pub fn complete(self, completer: &Completer<'_>, res: i32) -> Result<(), Refused> {
        if completer.ring_id() != self.ring.get() {
            return Err(Refused { io: self, error: CompleteError::Foreign });
        }
        #[cfg(feature = "dma-cache")]
        for raw in &self.bufs {
            if let (Some(ops), true) = (raw.cache, raw.dir() == Some(Dir::Dest)) {
                for (k, piece) in raw.pieces.iter().enumerate().take(raw.n as usize) {
                    if let (Some(p), true) = (piece, raw.hooked & (1 << k) != 0) {
                        let (addr, len) = p.span();
                        cache::from_device(ops, addr, len);
                    }
                }
            }
        }
        match completer.complete_in(self.token, res, &[Phase::Lent]) {
            Ok(()) => Ok(()),
            Err(error) => Err(Refused { io: self, error }),
        }
    }

    /// The request's token (for logging; completing by it is refused).
    pub fn token(&self) -> Token {
        self.token
    }
}

impl core::fmt::Debug for PendingIo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PendingIo").field("token", &self.token).field("ring", &self.ring).finish()
    }
}
