//! `lz4`: decompress an LZ4 block into a destination buffer, in place (no staging copy,
//! no allocation) — the series' Android use case: a device's compressed data
//! decompressed straight into the buffer that needs it.
//!
//! SQE: descriptor A = the compressed block, B = the destination; op flag
//! [`super::CHAIN_LEN`] takes the block's length from the chain record.
//! CQE: bytes decompressed (also stored in the chain record's `len`). Corrupt or
//! truncated data → -EBADMSG; output larger than the destination → -ENOSPC.

use crate::abi::Sqe;
use crate::buf::{BufDesc, Dir};
use crate::errno::Errno;
use crate::op::{Issue, IssueCx, Op, PrepCx};

use super::CHAIN_LEN;
use super::lz4::{Lz4Error, decompress_block};

/// The LZ4 block decompression op.
pub struct Lz4;

impl Op for Lz4 {
    type Pdu = u32;

    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<u32, Errno> {
        cx.import(&BufDesc::sqe_a(sqe), Dir::Source)?;
        cx.import(&BufDesc::sqe_b(sqe), Dir::Dest)?;
        Ok(cx.info().op_flags())
    }

    fn issue(cx: &mut IssueCx<'_>, flags: &mut u32) -> Issue {
        let limit = if *flags & CHAIN_LEN != 0 { Some(cx.chain().len as usize) } else { None };
        match decompress(cx, limit) {
            Ok(n) => {
                cx.set_result(n as i32);
                Issue::Done
            }
            Err(e) => Issue::Err(e),
        }
    }
}

/// Decompress import 0 (its first `limit` bytes) into import 1; record the length in
/// the chain record.
fn decompress(cx: &mut IssueCx<'_>, limit: Option<usize>) -> Result<usize, Errno> {
    let (mut io, chain) = cx.io_and_chain()?;
    let (src, dst) = io.split(0, 1)?;
    let mut src = src.clone();
    if let Some(n) = limit {
        src.truncate(n);
    }
    let n = decompress_block(src.slices(), dst.slices_mut()).map_err(|e| match e {
        Lz4Error::OutputFull => Errno::ENOSPC,
        Lz4Error::Truncated | Lz4Error::Corrupt => Errno::EBADMSG,
    })?;
    chain.len = n as u32;
    Ok(n)
}
