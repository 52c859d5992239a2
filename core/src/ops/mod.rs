//! Ops shipped with fwring, each an op-slot op in its own module. Register them in any
//! slot: `ring.register_op(&COPY)` with `static COPY: OpVTable = vtable::<Memcpy>(3);`.
//!
//! Buffer ops take their buffers as inline [`crate::BufDesc`]s in the SQE —
//! descriptor A in bytes 8..24 (`off`, `addr`), descriptor B in bytes 48..64 (`addr3`,
//! `__pad2`) — set with [`BufDesc::put_a`](crate::BufDesc::put_a) /
//! [`put_b`](crate::BufDesc::put_b) or [`buf_sqe`]. Descriptors are resolved and checked
//! once, at prep; the data is worked on in place at issue.
//!
//! | op | A | B | CQE res | chain record |
//! |---|---|---|---|---|
//! | [`copy::Memcpy`] | source | destination | bytes copied | `len` = bytes copied |
//! | [`crc32c::Crc32c`] | source | optional: 4-byte destination for the CRC | bytes checksummed, or with `VERIFY` 0 / -EBADMSG | `crc` = CRC32C |
//! | [`decompress::Lz4`] | LZ4 block | destination | bytes decompressed | `len` = bytes decompressed |
//! | [`inject::Inject`] | — | — | 0, or the injected -errno | — |
//!
//! Common op flag: [`CHAIN_LEN`] — use only the first `chain.len` bytes of the source,
//! the length an earlier op of the same link chain produced (decompress → checksum the
//! bytes it produced).
//!
//! Errors, all as the request's CQE, never a panic: bad descriptors as
//! [`PrepCx::import`](crate::PrepCx::import) lists (EINVAL, EFAULT, EBUSY); overlapping
//! source and destination → EINVAL; destination too small → ENOSPC; corrupt or truncated
//! LZ4 data → EBADMSG; checksum mismatch under `VERIFY` → EBADMSG.

pub mod copy;
pub mod crc32c;
pub mod decompress;
pub mod inject;
pub mod lz4_block;

use crate::abi::Sqe;
use crate::abi::errno::Errno;
use crate::buffer::{BufDesc, Dir, Segs, SegsMut};
use crate::slot::{Issue, IssueCx, PrepCx};

/// Op flag (all buffer ops): limit the source to the chain record's `len`.
pub const CHAIN_LEN: u32 = 1 << 0;

/// An `IORING_OP_BPF` SQE for `slot` with inline descriptors `a` and (optionally) `b`.
pub fn buf_sqe(slot: u8, op_flags: u32, a: &BufDesc, b: Option<&BufDesc>) -> Sqe {
    let mut sqe = Sqe::bpf(slot, op_flags);
    a.put_a(&mut sqe);
    if let Some(b) = b {
        b.put_b(&mut sqe);
    }
    sqe
}

/// Descriptor B of `sqe`, or `None` when it is all zero (absent).
pub(crate) fn optional_b(sqe: &Sqe) -> Option<BufDesc> {
    let b = BufDesc::sqe_b(sqe);
    if b == BufDesc::default() { None } else { Some(b) }
}

/// Prep of a source → destination op (copy, decompress): import descriptor A as the
/// source and B as the destination; the pdu keeps the op flags.
pub(crate) fn prep_src_dst(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<u32, Errno> {
    cx.import(BufDesc::in_sqe_a(sqe), Dir::Source)?;
    cx.import(BufDesc::in_sqe_b(sqe), Dir::Dest)?;
    Ok(cx.info().private_flags())
}

/// Issue of a source → destination op: run `f` on the source (cut to the chain record's
/// `len` under [`CHAIN_LEN`]) and the destination, in place; its byte count becomes the
/// CQE's result and the chain record's `len`.
#[inline]
pub(crate) fn issue_src_dst(
    cx: &mut IssueCx<'_>,
    flags: u32,
    f: impl FnOnce(&Segs<'_>, &mut SegsMut<'_>) -> Result<usize, Errno>,
) -> Issue {
    let run = |cx: &mut IssueCx<'_>| {
        let (mut src, mut dst) = (Segs::default(), SegsMut::default());
        let chain = cx.src_dst_into(&mut src, &mut dst)?;
        let limit = if flags & CHAIN_LEN != 0 { Some(chain.len as usize) } else { None };
        // Cut a copy of the source's views only when the chain record limits it.
        let n = match limit {
            Some(n) => {
                let mut src = src.clone();
                src.truncate(n);
                f(&src, &mut dst)?
            }
            None => f(&src, &mut dst)?,
        };
        chain.len = n as u32;
        Ok(n)
    };
    let r = run(cx).map(|n| n as i32);
    cx.done(r)
}
