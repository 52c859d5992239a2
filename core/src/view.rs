//! Carving a request's imported ranges into views: the unsafe half of the buffer code,
//! kept small. [`carve`] makes the views an op gets at issue; [`PendingIo`] keeps them
//! for whoever finishes a pending request (hardware's driver, an async worker).
//!
//! Every view is built from a [`RawPiece`] — exactly one imported range of a region,
//! never a whole region — and is sound because of the ownership rules `buf` enforces at
//! import (see `region.rs` for the argument in full).

use crate::buf::{BufTable, Import, Imports, Io, IoBuf, MAX_IMPORTS, MAX_SEGS, Segs, SegsMut};
#[cfg(feature = "dma-cache")]
use crate::cache::{self, CacheOps};
use crate::errno::Errno;
use crate::mailbox::{CompleteError, Completer, Token};
use crate::region::RawPiece;

/// Import `imp`'s pieces as raw parts, each checked against its region (EFAULT if a
/// range no longer fits: impossible while the request pins its regions).
fn pieces<'t>(table: &'t BufTable, imp: &'t Import) -> impl Iterator<Item = Result<RawPiece, Errno>> + 't {
    imp.segs().map(|(r, s)| {
        let region = table.regions.get(r).and_then(Option::as_ref).ok_or(Errno::EFAULT)?;
        region.raw_piece(s.start as usize, s.len as usize).ok_or(Errno::EFAULT)
    })
}

/// The view of one import (`dir` as `Import` stores it: 1 = destination, 2 = source).
///
/// # Safety
///
/// The pieces are ranges the calling request owns for `'a` under the ring's rules (see
/// `region.rs`): its destinations exclusively, its sources shared with readers only.
#[allow(unsafe_code)]
unsafe fn view_of<'a>(dir: u8, pieces: impl Iterator<Item = Result<RawPiece, Errno>>) -> Result<IoBuf<'a>, Errno> {
    Ok(match dir {
        2 => {
            let mut v = Segs::default();
            for p in pieces {
                // SAFETY: a source range of this request: no `&mut` to it is alive
                // (destinations never overlap it, in this request — EINVAL at import —
                // or in another in flight — EBUSY at import).
                let _ = v.segs.push(unsafe { p?.slice() });
            }
            IoBuf::Source(v)
        }
        1 => {
            let mut v = SegsMut::default();
            for p in pieces {
                // SAFETY: a destination range this request owns exclusively: no other
                // request in flight outside its chain touches it (EBUSY at import), its
                // chain's other members are not running, the application cannot reach
                // a region in use, and this request's own ranges do not overlap it
                // (EINVAL at import). One view at a time: callers borrow the request
                // (or its PendingIo) mutably for 'a.
                let _ = v.segs.push(unsafe { p?.slice_mut() });
            }
            IoBuf::Dest(v)
        }
        _ => IoBuf::None,
    })
}

/// Carve the imports' ranges out of their regions for one issue call: destinations as
/// `&mut [u8]`, sources as `&[u8]`, each reference covering exactly its range — never a
/// whole region, so ranges other requests hold (a pending request's, handed to hardware
/// or a worker) are not touched.
#[allow(unsafe_code)]
pub(crate) fn carve<'a>(table: &'a BufTable, imports: &Imports) -> Result<Io<'a>, Errno> {
    let mut io = Io { bufs: [IoBuf::None, IoBuf::None] };
    for (imp, view) in imports.iter().zip(io.bufs.iter_mut()) {
        // SAFETY: the request is being issued: it owns its imported ranges for the
        // duration of the issue call, which `'a` (a borrow of its issue context) does
        // not outlive.
        *view = unsafe { view_of(imp.dir, pieces(table, imp))? };
    }
    Ok(io)
}

/// A request's buffer as raw pieces, kept by a [`PendingIo`].
#[derive(Clone, Copy)]
struct RawBuf {
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
pub struct PendingIo {
    token: Token,
    bufs: [RawBuf; MAX_IMPORTS],
}

// SAFETY: the handle owns its request's ranges (see `view_of`): moving it to another
// context moves that ownership; the ring keeps no reference to them while it lives.
#[allow(unsafe_code)]
unsafe impl Send for PendingIo {}

impl PendingIo {
    pub(crate) fn new(token: Token, table: &BufTable, imports: &Imports) -> Result<Self, Errno> {
        let mut bufs = [RawBuf::EMPTY; MAX_IMPORTS];
        for (imp, raw) in imports.iter().zip(bufs.iter_mut()) {
            raw.dir = imp.dir;
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
                    cache::to_device(ops, raw.dir == 1, addr, len);
                    raw.hooked |= 1 << raw.n;
                }
                *slot = Some(piece);
                raw.n += 1;
            }
        }
        Ok(PendingIo { token, bufs })
    }

    /// The request's buffers, in place.
    #[allow(unsafe_code)]
    pub fn io(&mut self) -> Io<'_> {
        let mut io = Io { bufs: [IoBuf::None, IoBuf::None] };
        for (raw, view) in self.bufs.iter().zip(io.bufs.iter_mut()) {
            let pieces = raw.pieces.iter().take(raw.n as usize).flatten().map(|p| Ok(*p));
            // SAFETY: the pending request owns its ranges until this handle completes it
            // (it cannot be cancelled, its token is only in here); `&mut self` makes
            // this the only view. The pieces were checked when the handle was made.
            *view = unsafe { view_of(raw.dir, pieces) }.unwrap_or(IoBuf::None);
        }
        io
    }

    /// Complete the request with `res`: the handle is consumed, so no view outlives it.
    /// With feature `dma-cache`, destinations in regions with a cache hook are
    /// invalidated first, before the completion is posted (`cache.rs`); `pending_io`
    /// then fails with EINVAL if one buffer spans regions with different hooks.
    pub fn complete(self, completer: &Completer<'_>, res: i32) -> Result<(), CompleteError> {
        #[cfg(feature = "dma-cache")]
        for raw in &self.bufs {
            if let (Some(ops), true) = (raw.cache, raw.dir == 1) {
                for (k, piece) in raw.pieces.iter().enumerate().take(raw.n as usize) {
                    if let (Some(p), true) = (piece, raw.hooked & (1 << k) != 0) {
                        let (addr, len) = p.span();
                        cache::from_device(ops, addr, len);
                    }
                }
            }
        }
        completer.complete(self.token, res)
    }
}

impl core::fmt::Debug for PendingIo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PendingIo").field("token", &self.token).finish()
    }
}
