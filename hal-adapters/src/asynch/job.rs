//! A unit of work handed from an async op's issue to its worker: the request's token,
//! its arguments, and its buffer segments as raw parts.
//!
//! This is the crate's only `unsafe`, and it is the DMA pattern fwring's pending
//! requests are made for: at issue the op records where the request's imported
//! segments are and goes pending with [`IssueCx::pending`](fwring::IssueCx::pending)
//! (not cancelable); the worker — like a DMA engine — reads and writes those bytes until
//! it completes the token. What makes that sound is fwring's contract for a pending
//! request's buffers, which the worker relies on exactly as hardware does:
//!
//! - the ring never touches an in-flight request's imported ranges outside its issue;
//! - no other link chain can import a range overlapping one of its destinations, nor a
//!   destination overlapping any of its ranges (-EBUSY at prep); sources may be shared,
//!   and are only ever read;
//! - a region holding imported ranges cannot be unregistered, replaced, taken back or
//!   handed out writable (`buffer_mut`: -EBUSY) while the request is in flight, and
//!   region memory is `'static`, so the addresses stay valid;
//! - a request pending through `pending()` cannot be cancelled (-EALREADY): it stays in
//!   flight until its token is completed, and a token completes at most once.
//!
//! A [`Job`] is built only by [`Job::new`] from the views of a request that goes pending
//! right after, is neither `Clone` nor `Copy`, and the worker drops its slices before it
//! completes the token. The one thing the application must not do — as with a buffer a
//! DMA transfer is writing — is read a destination range of a pending request through
//! `Ring::buffers()` (fwring's `BufTable::get` does not refuse regions in use).

#![allow(unsafe_code)]

use core::ptr::NonNull;

use fwring::buf::MAX_SEGS;
use fwring::{Segs, SegsMut, Token};

use crate::sqe::Args;

/// What a job asks for: which worker method serves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// An SPI request (`crate::spi` commands).
    Spi,
    /// An I²C request (`crate::i2c` commands).
    I2c,
    /// A delay (`crate::delay` commands).
    Delay,
    /// A wait for a pin level or edge (`crate::asynch::wait` commands).
    Wait,
}

#[derive(Clone, Copy)]
struct RawSeg {
    ptr: NonNull<u8>,
    len: usize,
}

const NO_SEG: RawSeg = RawSeg { ptr: NonNull::dangling(), len: 0 };

/// The segments of one buffer as raw parts.
struct RawSegs {
    segs: [RawSeg; MAX_SEGS],
    n: usize,
}

impl RawSegs {
    const EMPTY: RawSegs = RawSegs { segs: [NO_SEG; MAX_SEGS], n: 0 };

    fn push(&mut self, ptr: NonNull<u8>, len: usize) {
        if let Some(s) = self.segs.get_mut(self.n) {
            *s = RawSeg { ptr, len };
            self.n += 1;
        }
    }
}

/// One request for a worker. Opaque: made by the crate's async ops, consumed by
/// [`Worker`](super::Worker).
pub struct Job {
    pub(crate) token: Token,
    pub(crate) class: Class,
    pub(crate) args: Args,
    src: RawSegs,
    dst: RawSegs,
}

// SAFETY: a job's pointers name bytes its pending request owns (see the module docs).
// Moving the job to the worker's context moves that ownership with it; the ring's
// context keeps no reference to those bytes while the request is pending.
unsafe impl Send for Job {}

impl Job {
    /// A job for the request whose views `src`/`dst` are; the caller goes pending with
    /// `token` (non-cancelable) and hands the job to exactly one worker.
    pub(crate) fn new(
        token: Token,
        class: Class,
        args: Args,
        src: Option<&Segs<'_>>,
        dst: Option<&mut SegsMut<'_>>,
    ) -> Self {
        let mut job = Job { token, class, args, src: RawSegs::EMPTY, dst: RawSegs::EMPTY };
        for s in src.map_or(&[][..], |s| s.slices()) {
            job.src.push(NonNull::from(*s).cast(), s.len());
        }
        if let Some(d) = dst {
            for s in d.slices_mut() {
                job.dst.push(NonNull::from(&mut **s).cast(), s.len());
            }
        }
        job
    }

    /// The request's buffers: sources (descriptor A) and destinations (descriptor B), in
    /// place, for as long as the job is borrowed.
    pub(crate) fn bufs(&mut self) -> (heapless::Vec<&[u8], MAX_SEGS>, heapless::Vec<&mut [u8], MAX_SEGS>) {
        let mut src = heapless::Vec::new();
        for s in &self.src.segs[..self.src.n] {
            // SAFETY: `ptr` came from a `&[u8]` of `len` bytes carved out of a `'static`
            // region at issue; the request is pending, so per the module docs the bytes
            // stay valid and nobody writes them until this job's token is completed,
            // which happens after this borrow of the job ends.
            let slice = unsafe { core::slice::from_raw_parts(s.ptr.as_ptr().cast_const(), s.len) };
            let _ = src.push(slice);
        }
        let mut dst = heapless::Vec::new();
        for s in &self.dst.segs[..self.dst.n] {
            // SAFETY: as above, from a `&mut [u8]`: the pending request owns these bytes
            // exclusively (no other chain may import them, the ring does not touch
            // them), the job is not `Clone`, and `&mut self` makes this the only live
            // view; the segments of one request never overlap (checked at import).
            let slice = unsafe { core::slice::from_raw_parts_mut(s.ptr.as_ptr(), s.len) };
            let _ = dst.push(slice);
        }
        (src, dst)
    }
}

impl core::fmt::Debug for Job {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Job")
            .field("token", &self.token)
            .field("class", &self.class)
            .field("cmd", &self.args.cmd)
            .field("src_segs", &self.src.n)
            .field("dst_segs", &self.dst.n)
            .finish()
    }
}
