//! IOSQE_IO_DRAIN: a drained request starts only when every earlier request has
//! completed, and requests submitted after it wait for it (C-DRAIN-1..7).
//!
//! This is Linux's algorithm since 6.16 ("drain based on allocated reqs"): while a drain
//! is active every new request goes onto a defer list; the list's front may run only
//! when *all* allocated requests are the deferred ones (nothing else in flight), and
//! once a drain-flagged entry has been seen in a scan, every later entry needs that too.
//! Released requests are issued in the next pass. Requests that fail at submit time
//! bypass the list and complete at once, in Linux as here.

use crate::engine::ring::Exec;
use crate::engine::table::{Idx, ReqFlags, Work};

bitflags::bitflags! {
    /// Whether a drain is in effect (`ctx->drain_active`, `submit_state.link`'s
    /// `drain_next`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) struct Drain: u8 {
        /// A drain barrier is up: every new request is deferred behind it.
        const ACTIVE = 1;
        /// The chain being assembled holds a drained request: the request after the
        /// chain is drained too (C-DRAIN-5).
        const NEXT = 2;
    }
}

impl<const CQ: usize, const N: usize, const ARGS: usize> Exec<'_, CQ, N, ARGS> {
    /// `io_init_drain`: an SQE with IO_DRAIN was seen. Inside a chain, the chain's head
    /// is drained and the request after the chain is drained too (C-DRAIN-5).
    pub(crate) fn init_drain(&mut self) {
        self.e.drain.insert(Drain::ACTIVE);
        if self.e.link.head != crate::engine::table::NIL {
            self.e.t[self.e.link.head].flags.insert(ReqFlags::IO_DRAIN | ReqFlags::FORCE_ASYNC);
            self.e.drain.insert(Drain::NEXT);
        }
    }

    /// `io_drain_req`: defer a request (with its chain) behind the barrier.
    pub(crate) fn drain_req(&mut self, idx: Idx) {
        let drain = self.e.t[idx].flags.contains(ReqFlags::IO_DRAIN);
        self.e.nr_drained += self.e.t.linked_nr(idx);
        self.e.t.push(&mut self.e.defer, idx);
        self.queue_deferred();
        if !drain && self.e.defer.is_empty() {
            self.e.drain.remove(Drain::ACTIVE);
        }
    }

    /// `io_queue_deferred`: release what the barrier allows, into the next pass.
    pub(crate) fn queue_deferred(&mut self) {
        let mut drain_seen = false;
        let mut first = true;
        while !self.e.defer.is_empty() {
            let idx = self.e.defer.head;
            drain_seen |= self.e.t[idx].flags.contains(ReqFlags::IO_DRAIN);
            if (drain_seen || first) && self.e.nr_allocated() != self.e.nr_drained {
                return;
            }
            self.e.defer.head = self.e.t[idx].next;
            if self.e.defer.head == crate::engine::table::NIL {
                self.e.defer.tail = crate::engine::table::NIL;
            }
            self.e.nr_drained -= self.e.t.linked_nr(idx);
            self.tw_add(idx, Work::Issue);
            first = false;
        }
    }
}
