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
///
/// ```
/// use fwring::ops::{buf_sqe, decompress::Lz4};
/// use fwring::{BufDesc, Cqe, Errno, OpVTable, Region, Ring, Setup, SetupFlags, vtable};
/// use static_cell::StaticCell;
///
/// static LZ4: OpVTable = vtable::<Lz4>(5);
/// static MEM: StaticCell<[u8; 64]> = StaticCell::new();
///
/// // An LZ4 block: 3 literals "abc", a match 3 back of 4 + 6 bytes, then the final
/// // literals "12345" — 18 bytes of output from 12.
/// const BLOCK: [u8; 12] = [0x36, b'a', b'b', b'c', 3, 0, 0x50, b'1', b'2', b'3', b'4', b'5'];
///
/// let mut ring: Ring<8, 16, 8> = Ring::new();
/// ring.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).unwrap();
/// ring.register_op(&LZ4).unwrap();
/// let mem = MEM.init([0; 64]);
/// mem[..12].copy_from_slice(&BLOCK);
/// ring.register_buffers([Region::new(mem)]).unwrap();
///
/// let block = BufDesc::kfixed(0, 0, 12);
/// ring.push(buf_sqe(5, 0, &block, Some(&BufDesc::kfixed(0, 32, 32))).user_data(1)).unwrap();
/// let _ = ring.submit();
/// assert_eq!(ring.pop(), Some(Cqe::new(1, 18)));
/// assert_eq!(&ring.buffer_mut(0).unwrap()[32..50], b"abcabcabcabca12345");
///
/// // A destination too small is -ENOSPC; a block cut short is -EBADMSG.
/// ring.push(buf_sqe(5, 0, &block, Some(&BufDesc::kfixed(0, 32, 8))).user_data(2)).unwrap();
/// ring.push(buf_sqe(5, 0, &BufDesc::kfixed(0, 0, 5), Some(&BufDesc::kfixed(0, 16, 16))).user_data(3)).unwrap();
/// let _ = ring.submit();
/// assert_eq!(ring.pop(), Some(Cqe::new(2, Errno::ENOSPC.res())));
/// assert_eq!(ring.pop(), Some(Cqe::new(3, Errno::EBADMSG.res())));
/// ```
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
