//! Carving a request's imported ranges into views: the unsafe half of the buffer code,
//! kept small. [`carve`] makes the views an op gets at issue; [`PendingIo`] keeps them
//! for whoever finishes a pending request (hardware's driver, an async worker).
//!
//! Every view is built from a [`RawPiece`] — exactly one imported range of a region,
//! never a whole region — and is sound because of the ownership rules `buf` enforces at
//! import (see `region.rs` for the argument in full).

use crate::buf::{BufTable, Imports, Io, IoBuf, MAX_IMPORTS, MAX_SEGS, Segs, SegsMut};
use crate::errno::Errno;
use crate::mailbox::{CompleteError, Completer, Token};
use crate::region::RawPiece;

/// The pieces of a request's imports as raw parts, checked against their regions.
fn raw_pieces(table: &BufTable, imports: &Imports) -> Result<[RawBuf; MAX_IMPORTS], Errno> {
    let mut out = [RawBuf::EMPTY; MAX_IMPORTS];
    for (imp, raw) in imports.iter().zip(out.iter_mut()) {
        raw.dir = imp.dir;
        for (r, s) in imp.segs() {
            let region = table.regions.get(r).and_then(Option::as_ref).ok_or(Errno::EFAULT)?;
            let piece = region.raw_piece(s.start as usize, s.len as usize).ok_or(Errno::EFAULT)?;
            if let Some(slot) = raw.pieces.get_mut(raw.n as usize) {
                *slot = Some(piece);
                raw.n += 1;
            }
        }
    }
    Ok(out)
}

/// A request's buffer as raw pieces.
#[derive(Clone, Copy)]
struct RawBuf {
    dir: u8,
    n: u8,
    pieces: [Option<RawPiece>; MAX_SEGS],
}

impl RawBuf {
    const EMPTY: RawBuf = RawBuf { dir: 0, n: 0, pieces: [None; MAX_SEGS] };
}

/// Views over raw pieces.
///
/// # Safety
///
/// The pieces are ranges the calling request owns for `'a` under the ring's rules (see
/// `region.rs`): its destinations exclusively, its sources shared with readers only.
#[allow(unsafe_code)]
unsafe fn views<'a>(bufs: &[RawBuf; MAX_IMPORTS]) -> Io<'a> {
    let mut io = Io { bufs: [IoBuf::None, IoBuf::None] };
    for (raw, view) in bufs.iter().zip(io.bufs.iter_mut()) {
        let pieces = raw.pieces.iter().take(raw.n as usize).flatten();
        *view = match raw.dir {
            2 => {
                let mut v = Segs::default();
                for p in pieces {
                    // SAFETY: a source range of this request: no `&mut` to it is alive
                    // (destinations never overlap it, in this request — EINVAL at
                    // import — or in another in flight — EBUSY at import).
                    let _ = v.segs.push(unsafe { p.slice() });
                }
                IoBuf::Source(v)
            }
            1 => {
                let mut v = SegsMut::default();
                for p in pieces {
                    // SAFETY: a destination range this request owns exclusively: no
                    // other request in flight outside its chain touches it (EBUSY at
                    // import), its chain's other members are not running, the
                    // application cannot reach a region in use, and this request's own
                    // ranges do not overlap it (EINVAL at import). One view at a time:
                    // callers borrow the request (or its PendingIo) mutably for 'a.
                    let _ = v.segs.push(unsafe { p.slice_mut() });
                }
                IoBuf::Dest(v)
            }
            _ => IoBuf::None,
        };
    }
    io
}

/// Carve the imports' ranges out of their regions for one issue call: destinations as
/// `&mut [u8]`, sources as `&[u8]`, each reference covering exactly its range — never a
/// whole region, so ranges other requests hold (a pending request's, handed to hardware
/// or a worker) are not touched. Ranges were checked at prep; one that no longer fits
/// (impossible while the request pins its regions) is EFAULT.
#[allow(unsafe_code)]
pub(crate) fn carve<'a>(table: &'a BufTable, imports: &Imports) -> Result<Io<'a>, Errno> {
    let raw = raw_pieces(table, imports)?;
    // SAFETY: the request is being issued: it owns its imported ranges for the duration
    // of the issue call, which `'a` (a borrow of its issue context) does not outlive.
    Ok(unsafe { views(&raw) })
}

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

// SAFETY: the handle owns its request's ranges (see `views`): moving it to another
// context moves that ownership; the ring keeps no reference to them while it lives.
#[allow(unsafe_code)]
unsafe impl Send for PendingIo {}

impl PendingIo {
    pub(crate) fn new(token: Token, table: &BufTable, imports: &Imports) -> Result<Self, Errno> {
        Ok(PendingIo { token, bufs: raw_pieces(table, imports)? })
    }

    /// The request's buffers, in place.
    #[allow(unsafe_code)]
    pub fn io(&mut self) -> Io<'_> {
        // SAFETY: the pending request owns its ranges until this handle completes it
        // (it cannot be cancelled, its token is only in here); `&mut self` makes this
        // the only view.
        unsafe { views(&self.bufs) }
    }

    /// Complete the request with `res`: the handle is consumed, so no view outlives it.
    pub fn complete(self, completer: &Completer<'_>, res: i32) -> Result<(), CompleteError> {
        completer.complete(self.token, res)
    }
}

impl core::fmt::Debug for PendingIo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PendingIo").field("token", &self.token).finish()
    }
}
