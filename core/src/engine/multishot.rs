//! Multishot requests on the ring's side: posting the buffers devices filled, in fill
//! order, as CQ room allows, and ending the request after them.
//!
//! The exact rule (never drop, never block the device):
//!
//! - A multishot request holds one CQ reservation, for its final CQE. Each filled buffer
//!   posts a CQE of its own into a slot that is free and unreserved (`room`), so fills
//!   never eat the room promised to other requests and the final CQE always has a slot.
//! - When the CQ has no such room, filled buffers wait in the request's backlog, in fill
//!   order. Each buffer is in it at most once, so the backlog never holds more than the
//!   group's size — no overflow list, nothing allocated. Meanwhile the device keeps
//!   filling the other armed buffers.
//! - The backlog posts at every `submit` (first thing, before new SQEs take room) and at
//!   the end of every `submit`/`poll`/`tick`, as far as room allows.
//! - A device that finds no armed buffer sees [`NoFill::NoBuffer`](crate::NoFill); the
//!   request then ends with -ENOBUFS. An ending request (Stream::finish, ASYNC_CANCEL,
//!   -ENOBUFS, a bad ring entry: -EFAULT) starts no new fills, still posts the fills
//!   committed for it (including ones in progress when it started ending), and posts its
//!   final CQE — `res`, flags 0 — only once the backlog is empty and no buffer is being
//!   filled for it or committed and not yet taken from the ready stack.

use crate::abi::{CQE_BUFFER_SHIFT, Cqe, CqeFlags};
use crate::buffer::provided::MAX_GROUPS;
use crate::engine::ring::Exec;
use crate::engine::table::{Idx, ReqFlags, Table};

impl<const CQ: usize, const N: usize, const ARGS: usize> Exec<'_, CQ, N, ARGS> {
    /// Issue made request `idx` multishot over its group (`IssueCx::multishot`).
    pub(crate) fn multishot_attach(&mut self, idx: Idx) {
        let bgid = self.e.t[idx].buf_group();
        self.e.t[idx].flags.insert(ReqFlags::MULTISHOT);
        if let Some(g) = self.e.bufs.group_mut(bgid) {
            g.attached = idx;
            self.e.bufs.streams += 1;
        }
    }

    /// Request `idx` ends with `res` (its stream's finish, a cancel, the group running
    /// dry): no new fills; the final CQE follows the filled buffers.
    pub(crate) fn multishot_end(&mut self, idx: Idx, res: i32) {
        let r = &mut self.e.t[idx];
        if r.flags.contains(ReqFlags::MS_ENDING) {
            return;
        }
        r.flags.insert(ReqFlags::MS_ENDING);
        r.res = res;
        let generation = r.generation;
        if res < 0 {
            self.req_set_fail(idx);
        }
        // No completer ends it any more (a finish racing with this is refused as stale,
        // or its claimed completion is ignored: the request is ending already).
        let _ = self.sh.mail.withdraw(idx, generation, false);
        if let Some(g) = self.e.bufs.group(self.e.t[idx].buf_group()) {
            g.stop();
        }
    }

    /// Post what devices filled, end requests whose end has come. One load and a
    /// branch when no request streams (the body stays out of the submit path's code).
    #[inline]
    pub(crate) fn flush_multishot(&mut self) {
        if self.e.bufs.streams != 0 {
            self.flush_streams();
        }
    }

    #[inline(never)]
    fn flush_streams(&mut self) {
        for i in 0..MAX_GROUPS {
            let Some(g) = self.e.bufs.groups[i] else { continue };
            let idx = g.attached;
            if !Table::<N>::holds(idx) {
                continue;
            }
            let generation = self.e.t[idx].generation;
            if !self.e.t[idx].flags.contains(ReqFlags::MS_ENDING) {
                g.arm();
            }
            g.take_ready(Some(generation));
            if !self.e.t[idx].flags.contains(ReqFlags::MS_ENDING) {
                if g.fault() {
                    self.multishot_end(idx, crate::Errno::EFAULT.res());
                } else if g.starved() {
                    self.multishot_end(idx, crate::Errno::ENOBUFS.res());
                }
            }
            let user_data = self.e.t[idx].user_data();
            while g.backlog() > 0 && self.e.cq.room(&self.sh.cq) > 0 {
                let Some((bid, len, more)) = g.backlog_pop() else { break };
                let mut flags = (CqeFlags::BUFFER | CqeFlags::MORE).bits() | (bid as u32) << CQE_BUFFER_SHIFT;
                if more {
                    flags |= CqeFlags::BUF_MORE.bits();
                }
                self.e.cq.post_unreserved(&self.sh.cq, Cqe { user_data, res: len as i32, flags });
                self.e.posted = self.e.posted.wrapping_add(1);
            }
            // Backlog empty, and no fill of it in progress or committed but not taken yet
            // (its buffers in the backlog were handed on as they posted).
            if self.e.t[idx].flags.contains(ReqFlags::MS_ENDING) && g.backlog() == 0 && !g.holds(generation) {
                self.multishot_final(i, idx);
            }
        }
    }

    /// Post the final CQE of request `idx` (group slot `i`) and free it.
    fn multishot_final(&mut self, i: usize, idx: Idx) {
        if let Some(g) = self.e.bufs.groups[i].as_mut() {
            g.attached = u16::MAX;
        }
        self.e.bufs.streams -= 1;
        self.e.t[idx]
            .flags
            .remove(ReqFlags::MULTISHOT | ReqFlags::MS_ENDING | ReqFlags::PENDING | ReqFlags::CANCELABLE);
        self.complete(idx);
    }
}
