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
