//! Issuing requests, posting completions, and the passes that move link chains along.
//!
//! fwring runs work the way Linux does for inline-completing requests, which fixes the
//! global CQE order (C-LINK-4):
//!
//! - **Pass 0** is the submit call itself: SQEs are consumed in order; a standalone
//!   request, or a chain whose last member has arrived, is issued at once and its CQE
//!   posted in completion order.
//! - At the end of every pass the completed requests are *freed* in completion order:
//!   a freed request with a link queues its successor — or, if it failed without
//!   HARDLINK, the cancellation of the rest of its chain — as task work for the
//!   **next pass**; then drained requests whose barrier has cleared are released, also
//!   into the next pass.
//! - Passes run until no work is left, before `submit` returns.
//!
//! So a link successor completes one pass after its predecessor, and the -ECANCELED CQEs
//! of a failed chain follow the CQEs of independent requests of the same pass.

use crate::abi::errno::Errno;
use crate::abi::{Cqe, opcode};
use crate::engine::drain::Drain;
use crate::engine::ring::Exec;
use crate::engine::table::{Idx, NIL, ReqFlags, Work};

/// How issuing a request went.
pub(crate) enum Outcome {
    /// Result in `req.res`: complete now.
    Complete,
    /// Failed with this errno (fail hook runs).
    Failed(Errno),
    /// Completion queued as task work.
    Queued,
    /// Pending: completes later through the mailbox.
    Pending,
}

impl<const CQ: usize, const N: usize, const ARGS: usize> Exec<'_, CQ, N, ARGS> {
    /// `io_queue_sqe`: issue now and complete or fail.
    #[inline]
    pub(crate) fn queue_sqe(&mut self, idx: Idx) {
        // NOPs, the bulk of chains' members in benchmarks and tests, in line.
        let outcome = if self.e.t[idx].opcode == opcode::NOP { self.issue_nop(idx) } else { self.issue(idx) };
        self.settle(idx, outcome);
    }

    #[inline(always)]
    fn issue_nop(&mut self, idx: Idx) -> Outcome {
        let bufs = &self.e.bufs;
        let nop = crate::builtin::nop::issue(&mut self.e.t[idx], |i| bufs.contains(i));
        if self.e.t[idx].res < 0 {
            self.req_set_fail(idx);
        }
        match nop {
            crate::builtin::nop::NopIssue::Now => Outcome::Complete,
            crate::builtin::nop::NopIssue::TaskWork => {
                self.tw_add(idx, Work::Complete);
                Outcome::Queued
            }
        }
    }

    /// What follows an issue: complete, wait, retry once, or fail.
    #[inline]
    pub(crate) fn settle(&mut self, idx: Idx, outcome: Outcome) {
        match outcome {
            Outcome::Complete => self.complete(idx),
            _ => self.settle_other(idx, outcome),
        }
    }

    /// [`Exec::settle`] of anything but a completion: out of line, off the hot path.
    #[inline(never)]
    fn settle_other(&mut self, idx: Idx, outcome: Outcome) {
        match outcome {
            Outcome::Complete => self.complete(idx),
            Outcome::Pending =>
            {
                #[cfg(feature = "timeouts")]
                if self.e.t[idx].flags.contains(ReqFlags::ARM_LTIMEOUT) {
                    self.arm_link_timeout(idx);
                }
            }
            Outcome::Queued => {}
            Outcome::Failed(Errno::EAGAIN) if !self.e.t[idx].flags.contains(ReqFlags::RETRIED) => {
                // Linux retries an -EAGAIN issue once from its async path; fwring retries
                // it once, one pass later.
                self.e.t[idx].flags.insert(ReqFlags::RETRIED);
                self.tw_add(idx, Work::Issue);
            }
            Outcome::Failed(e) => self.defer_failed(idx, e.res()),
        }
    }

    fn issue(&mut self, idx: Idx) -> Outcome {
        match self.e.t[idx].opcode {
            opcode::BPF => self.issue_bpf(idx),
            #[cfg(feature = "timeouts")]
            opcode::TIMEOUT => {
                self.arm_timeout(idx);
                Outcome::Pending
            }
            #[cfg(feature = "timeouts")]
            opcode::TIMEOUT_REMOVE => {
                self.e.t[idx].res = match self.issue_timeout_remove(idx) {
                    Ok(()) => 0,
                    Err(e) => e.res(),
                };
                if self.e.t[idx].res < 0 {
                    self.req_set_fail(idx);
                }
                Outcome::Complete
            }
            #[cfg(feature = "timeouts")]
            opcode::ASYNC_CANCEL => {
                let res = self.issue_cancel(idx);
                self.e.t[idx].res = res;
                if res < 0 {
                    self.req_set_fail(idx);
                }
                Outcome::Complete
            }
            // Only opcodes whose prep succeeded reach issue; a LINK_TIMEOUT never is
            // issued itself (it rides on its target).
            _ => Outcome::Failed(Errno::EINVAL),
        }
    }

    /// A pending request's completion arrived through the mailbox.
    pub(crate) fn complete_async(&mut self, idx: Idx, res: i32) {
        #[cfg(feature = "multishot")]
        if self.e.t[idx].flags.contains(ReqFlags::MULTISHOT) {
            return self.multishot_end(idx, res);
        }
        let r = &mut self.e.t[idx];
        r.flags.remove(ReqFlags::PENDING | ReqFlags::CANCELABLE);
        r.res = res;
        if res < 0 {
            self.req_set_fail(idx);
        }
        self.complete(idx);
    }

    /// `io_req_defer_failed`: fail with `res`, run the op's fail hook, complete.
    pub(crate) fn defer_failed(&mut self, idx: Idx, res: i32) {
        self.req_set_fail(idx);
        let r = &mut self.e.t[idx];
        r.res = res;
        if let Some(fail) = r.vt.and_then(|v| v.fail) {
            fail(&r.rec.info, &mut r.rec.pdu);
        }
        self.complete(idx);
    }

    /// Post the request's CQE (unless skipped) into its reserved slot. A request with a
    /// link waits for the end of the pass to be freed; any other is freed now.
    pub(crate) fn complete(&mut self, idx: Idx) {
        let r = &self.e.t[idx];
        if r.flags.contains(ReqFlags::CQE_SKIP) {
            self.e.cq.unreserve();
        } else {
            self.e.cq.post_reserved(&self.sh.cq, Cqe::new(r.user_data(), r.res));
            if !matches!(r.opcode, opcode::TIMEOUT | opcode::LINK_TIMEOUT) {
                self.e.posted = self.e.posted.wrapping_add(1);
            }
        }
        if r.flags.intersects(ReqFlags::LINKS) {
            self.e.t.push(&mut self.e.done, idx);
        } else {
            self.free_req(idx);
            self.e.freed_early += 1;
        }
    }

    /// Release a request: cleanup (if its prep succeeded), then back to the free list.
    pub(crate) fn free_req(&mut self, idx: Idx) {
        let r = &mut self.e.t[idx];
        if r.flags.contains(ReqFlags::NEED_CLEANUP) {
            if let Some(cleanup) = r.vt.and_then(|v| v.cleanup) {
                cleanup(&r.rec.info, &mut r.rec.pdu);
            }
            let slot = r.rec.info.slot();
            self.e.slots.release(slot);
        }
        if r.flags.contains(ReqFlags::HAS_IMPORTS) {
            r.flags.remove(ReqFlags::HAS_IMPORTS);
            for imp in &r.imports {
                self.e.bufs.release(imp);
            }
        }
        self.e.t.dealloc(idx);
    }

    /// Queue `work` on request `idx` for the next pass. Out of line: most callers are
    /// cold paths (cancellation, timers, drain, retries); a link successor, on the hot
    /// path of chains, uses [`Exec::tw_add_here`].
    #[inline(never)]
    pub(crate) fn tw_add(&mut self, idx: Idx, work: Work) {
        self.tw_add_here(idx, work);
    }

    /// [`Exec::tw_add`], in line in its caller.
    #[inline(always)]
    pub(crate) fn tw_add_here(&mut self, idx: Idx, work: Work) {
        self.e.t[idx].work = work;
        self.e.t.push(&mut self.e.tw, idx);
    }

    /// End of a pass (`__io_submit_flush_completions`): free the completed requests in
    /// order, queueing link successors or cancellations, then release drained work.
    fn flush(&mut self) {
        let mut cur = self.e.done.take().head;
        while cur != NIL {
            let next = self.e.t[cur].next;
            if self.e.t[cur].flags.intersects(ReqFlags::LINKS) {
                self.queue_next(cur);
            }
            self.free_req(cur);
            cur = next;
        }
        self.e.freed_early = 0;
        if self.e.drain.contains(Drain::ACTIVE) {
            self.queue_deferred();
        }
        #[cfg(feature = "timeouts")]
        self.flush_counting();
    }

    /// `io_req_find_next` + `io_queue_next`.
    fn queue_next(&mut self, idx: Idx) {
        #[cfg(feature = "timeouts")]
        self.disarm_link_timeout(idx);
        let flags = self.e.t[idx].flags;
        let next = core::mem::replace(&mut self.e.t[idx].link, NIL);
        if next == NIL {
            return;
        }
        if flags.contains(ReqFlags::FAIL) && !flags.contains(ReqFlags::HARDLINK) {
            self.fail_links(flags, next);
        } else {
            // The chain's shared record travels to the next member.
            let from = self.e.t[idx].chain_data;
            self.e.t[next].chain_data.copy_from(&from);
            self.tw_add_here(next, Work::Issue);
        }
    }

    /// `io_fail_links`: members behind a failed request are cancelled next pass. Their
    /// own CQE_SKIP no longer counts (C-SKIP-6) — unless the failed request itself had
    /// CQE_SKIP, which silences them all (C-SKIP-5).
    fn fail_links(&mut self, failed: ReqFlags, first: Idx) {
        let silent = failed.contains(ReqFlags::SKIP_LINK_CQES);
        let mut m = first;
        while m != NIL {
            self.e.t[m].flags.set(ReqFlags::CQE_SKIP, silent);
            m = self.e.t[m].link;
        }
        self.tw_add(first, Work::FailLinks);
    }

    /// `io_req_tw_fail_links`: complete each cancelled member, -ECANCELED unless it
    /// carries its own submit-time error (C-LINK-8).
    fn tw_fail_links(&mut self, first: Idx) {
        let mut m = first;
        while m != NIL {
            let r = &mut self.e.t[m];
            let next = core::mem::replace(&mut r.link, NIL);
            if !r.flags.contains(ReqFlags::FAIL) {
                r.res = Errno::ECANCELED.res();
            }
            self.complete(m);
            m = next;
        }
    }

    /// Close pass 0 and run task-work passes until nothing is left.
    pub(crate) fn run_passes(&mut self) {
        self.flush();
        while !self.e.tw.is_empty() {
            let mut cur = self.e.tw.take().head;
            while cur != NIL {
                let next = self.e.t[cur].next;
                match self.e.t[cur].work {
                    Work::Issue => self.queue_sqe(cur),
                    Work::FailLinks => self.tw_fail_links(cur),
                    Work::Complete => self.complete(cur),
                }
                cur = next;
            }
            self.flush();
        }
    }
}
