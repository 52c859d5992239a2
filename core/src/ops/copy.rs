//! `copy`: copy a source buffer into a destination buffer, in place, segment to segment.
//!
//! SQE: descriptor A = source, B = destination (see [`crate::ops`]); op flag
//! [`super::CHAIN_LEN`] copies only the chain record's `len` bytes.
//! CQE: bytes copied. The destination must hold the source: else -ENOSPC. Source and
//! destination must not overlap: -EINVAL at prep.

use crate::abi::Sqe;
use crate::buf::{BufDesc, Dir};
use crate::errno::Errno;
use crate::op::{Issue, IssueCx, Op, PrepCx};

use super::CHAIN_LEN;

/// The copy op.
pub struct Copy;

impl Op for Copy {
    type Pdu = u32;

    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<u32, Errno> {
        cx.import(&BufDesc::sqe_a(sqe), Dir::Source)?;
        cx.import(&BufDesc::sqe_b(sqe), Dir::Dest)?;
        Ok(cx.info().op_flags())
    }

    fn issue(cx: &mut IssueCx<'_>, flags: &mut u32) -> Issue {
        let limit = if *flags & CHAIN_LEN != 0 { Some(cx.chain().len as usize) } else { None };
        match copy(cx, limit) {
            Ok(n) => {
                cx.set_result(n as i32);
                Issue::Done
            }
            Err(e) => Issue::Err(e),
        }
    }
}

/// Copy import 0 (its first `limit` bytes) into import 1; record the length in the
/// chain record.
fn copy(cx: &mut IssueCx<'_>, limit: Option<usize>) -> Result<usize, Errno> {
    let (mut io, chain) = cx.io_and_chain()?;
    let (src, dst) = io.split(0, 1)?;
    let mut src = src.clone();
    if let Some(n) = limit {
        src.truncate(n);
    }
    let n = dst.copy_from(&src)?;
    chain.len = n as u32;
    Ok(n)
}
