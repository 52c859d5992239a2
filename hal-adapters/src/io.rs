//! The imported buffers of a request as the HAL wants them, and the result helpers every
//! op's issue shares.

use fwring::{Errno, Io, Issue, IssueCx, Segs, SegsMut};

use crate::sqe::{Args, CHAIN_LEN};

/// The source (A, cut to the chain's `len` under [`CHAIN_LEN`]) and destination (B)
/// views of a request.
pub(crate) struct Views<'x, 'a> {
    pub src: Option<Segs<'a>>,
    pub dst: Option<&'x mut SegsMut<'a>>,
}

/// Split the request's imports into its A and B views.
pub(crate) fn views<'x, 'a>(io: &'x mut Io<'a>, args: &Args, chain_len: u32) -> Result<Views<'x, 'a>, Errno> {
    let (mut src, dst) = match (args.a(), args.b()) {
        (Some(a), Some(b)) => {
            let (s, d) = io.split(a, b)?;
            (Some(s.clone()), Some(d))
        }
        (Some(a), None) => (Some(io.source(a)?.clone()), None),
        (None, Some(b)) => (None, Some(io.dest(b)?)),
        (None, None) => (None, None),
    };
    if args.has(CHAIN_LEN)
        && let Some(s) = src.as_mut()
    {
        s.truncate(chain_len as usize);
    }
    Ok(Views { src, dst })
}

/// Run `f` on the request's views, then record `produced` (bytes written into B, if
/// any) in the chain record, and answer issue with the result `f` gave.
pub(crate) fn run(
    cx: &mut IssueCx<'_>,
    args: &Args,
    f: impl FnOnce(&mut Views<'_, '_>) -> Result<Done, Errno>,
) -> Issue {
    let r = (|| {
        let chain_len = cx.chain().len;
        let (mut io, chain) = cx.io_and_chain()?;
        let mut v = views(&mut io, args, chain_len)?;
        let done = f(&mut v)?;
        if let Some(n) = done.produced {
            chain.len = u32::try_from(n).map_err(|_| Errno::EOVERFLOW)?;
        }
        i32::try_from(done.res).map_err(|_| Errno::EOVERFLOW)
    })();
    answer(cx, r)
}

/// What an op did: its CQE result and the bytes it produced into its destination.
pub(crate) struct Done {
    pub res: usize,
    pub produced: Option<usize>,
}

impl Done {
    /// Result `res`, nothing produced.
    pub fn res(res: usize) -> Self {
        Done { res, produced: None }
    }
}

/// Answer issue with `r`.
pub(crate) fn answer(cx: &mut IssueCx<'_>, r: Result<i32, Errno>) -> Issue {
    cx.done(r)
}
