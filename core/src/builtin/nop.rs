//! The built-in `IORING_OP_NOP`, with Linux's `nop_flags`.
//!
//! | nop_flags | fwring |
//! |---|---|
//! | `INJECT_RESULT` | result = `(i32) sqe.len`; negative fails the request (C-NOP-2..4) |
//! | `FILE` | fwring has no file table: every fd is bad → -EBADF (C-NOP-8) |
//! | `FIXED_FILE` | with `FILE`: fixed-file lookup, also -EBADF; alone: no effect |
//! | `FIXED_BUFFER` | `buf_index` must name a registered buffer, else -EFAULT (C-NOP-9) |
//! | `TW` | completes one pass later, through task work |
//! | `CQE32` | fwring has 16-byte CQEs only → -EINVAL at prep (C-NOP-10) |
//! | any bit ≥ 6 | -EINVAL at prep (C-NOP-6) |

use crate::abi::errno::Errno;
use crate::abi::{NopFlags, SetupFlags, Sqe};
use crate::engine::table::{OpState, Req};

/// `io_nop_prep`.
pub(crate) fn prep(req: &mut Req, sqe: &Sqe, ring: SetupFlags) -> Result<(), Errno> {
    let nf = sqe.op_flags;
    if nf & !NopFlags::all().bits() != 0 {
        return Err(Errno::EINVAL);
    }
    let flags = NopFlags::from_bits_truncate(nf);
    let buf_index = if flags.contains(NopFlags::FIXED_BUFFER) { sqe.buf_index } else { 0 };
    req.state = OpState::Nop { flags, buf_index };
    req.res = if flags.contains(NopFlags::INJECT_RESULT) { sqe.len as i32 } else { 0 };
    if nf & NopFlags::CQE32.bits() != 0 && !ring.intersects(SetupFlags::CQE32.union(SetupFlags::CQE_MIXED)) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// What `io_nop` decided.
pub(crate) enum NopIssue {
    /// Result stored in the request; complete now.
    Now,
    /// Result stored; complete through task work (NOP_TW).
    TaskWork,
}

/// `io_nop`: the result (stored in `req.res`; the caller marks a negative one failed).
/// `has_buffer` answers whether a registered buffer index exists.
pub(crate) fn issue(req: &mut Req, has_buffer: impl Fn(u16) -> bool) -> NopIssue {
    let OpState::Nop { flags: nf, buf_index } = req.state else { return NopIssue::Now };
    let mut ret = req.res;
    if nf.contains(NopFlags::FILE) {
        ret = Errno::EBADF.res();
    } else if nf.contains(NopFlags::FIXED_BUFFER) && !has_buffer(buf_index) {
        ret = Errno::EFAULT.res();
    }
    req.res = ret;
    if nf.contains(NopFlags::TW) { NopIssue::TaskWork } else { NopIssue::Now }
}
