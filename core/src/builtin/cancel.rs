//! `IORING_OP_ASYNC_CANCEL`: cancel in-flight requests by user_data (C-CANCEL-1..6).
//!
//! What can be found and cancelled is what Linux finds: requests that were issued and
//! wait — armed TIMEOUTs, and pending op requests. Requests waiting in a link chain or
//! behind a drain were not issued yet and are not found (-ENOENT), as in Linux.
//!
//! - Found and cancellable (a TIMEOUT, or a request pending through
//!   [`IssueCx::pending_cancelable`](crate::IssueCx::pending_cancelable)): the cancel
//!   completes with 0, then the target with -ECANCELED (its link chain is cancelled).
//! - Found but pending in hardware ([`IssueCx::pending`](crate::IssueCx::pending)):
//!   -EALREADY; the target runs on.
//! - Nothing found: -ENOENT.
//! - [`CancelFlags::ALL`]: every match; the result is how many were cancelled (0 if
//!   none). `ANY`: match every request; `OP`: match `sqe.len` as the opcode;
//!   `USERDATA`: the default. `FD` / `FD_FIXED`: fwring has no files: -EINVAL, as is any
//!   bit Linux does not define (kept by [`Sqe::cancel_flags`] so that it fails).
//!
//! The builder is [`Sqe::cancel`].

#[cfg(feature = "timeouts")]
use crate::abi::errno::Errno;
#[cfg(feature = "timeouts")]
use crate::abi::opcode;
#[cfg(any(feature = "timeouts", doc))]
use crate::abi::{CancelFlags, Sqe};
#[cfg(feature = "timeouts")]
use crate::engine::ring::Exec;
#[cfg(feature = "timeouts")]
use crate::engine::table::{Idx, OpState, ReqFlags, Table, Work};

#[cfg(feature = "timeouts")]
impl<const CQ: usize, const N: usize, const ARGS: usize> Exec<'_, CQ, N, ARGS> {
    /// `io_async_cancel_prep`.
    pub(crate) fn prep_cancel(&mut self, idx: Idx, sqe: &Sqe) -> Result<(), Errno> {
        let f = sqe.cancel_flags();
        if sqe.off != 0 || sqe.file_index != 0 || sqe.buf_index != 0 {
            return Err(Errno::EINVAL);
        }
        // Unknown bits are kept (`cancel_flags` retains them) so they fail here.
        if !CancelFlags::all().contains(f) {
            return Err(Errno::EINVAL);
        }
        if f.intersects(CancelFlags::FD.union(CancelFlags::FD_FIXED)) {
            return Err(Errno::EINVAL);
        }
        if !f.contains(CancelFlags::OP) && sqe.len != 0 {
            return Err(Errno::EINVAL);
        }
        self.e.t[idx].state = OpState::Cancel { flags: f, target: sqe.addr, opcode: sqe.len };
        Ok(())
    }

    /// Take a pending request back from the mailbox (cancellable ones only); `false` if
    /// it cannot be cancelled or its completion already arrived.
    pub(crate) fn withdraw(&mut self, target: Idx) -> bool {
        let r = &self.e.t[target];
        if !r.flags.contains(ReqFlags::PENDING | ReqFlags::CANCELABLE) {
            return false;
        }
        if !self.sh.mail.withdraw(target, r.generation, true) {
            return false;
        }
        self.e.t[target].flags.remove(ReqFlags::PENDING | ReqFlags::CANCELABLE);
        true
    }

    /// A withdrawn request completes with -ECANCELED in the next pass.
    pub(crate) fn queue_cancelled(&mut self, target: Idx) {
        #[cfg(feature = "multishot")]
        if self.e.t[target].flags.contains(ReqFlags::MULTISHOT) {
            // Its filled buffers post first, then -ECANCELED (engine/multishot.rs).
            return self.multishot_end(target, Errno::ECANCELED.res());
        }
        self.fail_link_node(target, Errno::ECANCELED.res());
        self.tw_add(target, Work::Complete);
    }

    /// ASYNC_CANCEL's issue: the CQE result.
    pub(crate) fn issue_cancel(&mut self, idx: Idx) -> i32 {
        let OpState::Cancel { flags: f, target: ud, opcode: op } = self.e.t[idx].state else {
            return Errno::EINVAL.res();
        };
        let mut cancelled = 0;
        let mut busy = false;
        for i in Table::<N>::ids() {
            if i == idx {
                continue;
            }
            let r = &self.e.t[i];
            let findable = r.flags.contains(ReqFlags::PENDING)
                || (r.flags.contains(ReqFlags::TIMER) && r.opcode == opcode::TIMEOUT);
            let matches = if f.contains(CancelFlags::ANY) {
                true
            } else if f.contains(CancelFlags::OP) {
                r.opcode as u32 == op && (!f.contains(CancelFlags::USERDATA) || r.user_data() == ud)
            } else {
                r.user_data() == ud
            };
            if !findable || !matches {
                continue;
            }
            if r.flags.contains(ReqFlags::TIMER) {
                self.cancel_timer(i);
                cancelled += 1;
            } else if self.withdraw(i) {
                self.queue_cancelled(i);
                cancelled += 1;
            } else {
                busy = true;
            }
            if !f.intersects(CancelFlags::ALL.union(CancelFlags::ANY)) {
                break;
            }
        }
        if f.intersects(CancelFlags::ALL.union(CancelFlags::ANY)) {
            cancelled
        } else if cancelled > 0 {
            0
        } else if busy {
            Errno::EALREADY.res()
        } else {
            Errno::ENOENT.res()
        }
    }
}
