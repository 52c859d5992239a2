//! `lz4`: decompress an LZ4 block into a destination buffer, in place (no staging copy,
//! no allocation) — the series' Android use case: a device's compressed data
//! decompressed straight into the buffer that needs it.
//!
//! SQE: descriptor A = the compressed block, B = the destination; op flag
//! [`super::CHAIN_LEN`] takes the block's length from the chain record.
//! CQE: bytes decompressed (also stored in the chain record's `len`). Corrupt or
//! truncated data → -EBADMSG; output larger than the destination → -ENOSPC.

use crate::abi::Sqe;
use crate::abi::errno::Errno;
use crate::slot::{Issue, IssueCx, Op, PrepCx};

use super::lz4_block::{Lz4Error, decompress_block};

/// The LZ4 block decompression op.
pub struct Lz4;

impl Op for Lz4 {
    type Pdu = u32;

    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<u32, Errno> {
        super::prep_src_dst(cx, sqe)
    }

    fn issue(cx: &mut IssueCx<'_>, flags: &mut u32) -> Issue {
        super::issue_src_dst(cx, *flags, |src, dst| {
            decompress_block(src.slices(), dst.slices_mut()).map_err(|e| match e {
                Lz4Error::OutputFull => Errno::ENOSPC,
                Lz4Error::Truncated | Lz4Error::Corrupt => Errno::EBADMSG,
            })
        })
    }
}
