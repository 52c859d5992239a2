//! `copy`: copy a source buffer into a destination buffer, in place, segment to segment.
//!
//! SQE: descriptor A = source, B = destination (see [`crate::ops`]); op flag
//! [`super::CHAIN_LEN`] copies only the chain record's `len` bytes.
//! CQE: bytes copied. The destination must hold the source: else -ENOSPC. Source and
//! destination must not overlap: -EINVAL at prep.

use crate::abi::Sqe;
use crate::abi::errno::Errno;
use crate::slot::{Issue, IssueCx, Op, PrepCx};

/// The copy op (`memcpy` between registered buffers; named apart from the prelude's `Copy`).
///
/// ```
/// use fwring::ops::{buf_sqe, copy::Memcpy};
/// use fwring::{BufDesc, Cqe, Errno, OpVTable, Region, Ring, Setup, SetupFlags, vtable};
/// use static_cell::StaticCell;
///
/// static COPY: OpVTable = vtable::<Memcpy>(3);
/// static MEM: StaticCell<[u8; 64]> = StaticCell::new();
///
/// let mut ring: Ring<8, 16, 8> = Ring::new();
/// ring.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).unwrap();
/// ring.register_op(&COPY).unwrap();
/// let mem = MEM.init([0; 64]);
/// mem[..5].copy_from_slice(b"hello");
/// ring.register_buffers([Region::new(mem)]).unwrap();
///
/// // Registered buffer 0: bytes 0..5 to bytes 32..48 (room for 16).
/// let (src, dst) = (BufDesc::kfixed(0, 0, 5), BufDesc::kfixed(0, 32, 16));
/// ring.push(buf_sqe(3, 0, &src, Some(&dst)).user_data(1)).unwrap();
/// // A destination overlapping its own source is refused at prep.
/// let (src2, dst2) = (BufDesc::kfixed(0, 8, 5), BufDesc::kfixed(0, 10, 5));
/// ring.push(buf_sqe(3, 0, &src2, Some(&dst2)).user_data(2)).unwrap();
/// let _ = ring.submit();
/// assert_eq!(ring.pop(), Some(Cqe::new(1, 5)));
/// assert_eq!(ring.pop(), Some(Cqe::new(2, Errno::EINVAL.res())));
/// assert_eq!(&ring.buffer_mut(0).unwrap()[32..38], b"hello\0");
/// ```
pub struct Memcpy;

impl Op for Memcpy {
    type Pdu = u32;

    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<u32, Errno> {
        super::prep_src_dst(cx, sqe)
    }

    fn issue(cx: &mut IssueCx<'_>, flags: &mut u32) -> Issue {
        super::issue_src_dst(cx, *flags, |src, dst| dst.copy_from(src))
    }
}
