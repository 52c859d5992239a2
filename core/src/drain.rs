//! IOSQE_IO_DRAIN: a drained request starts only when every earlier request has
//! completed, and requests submitted after it wait for it (C-DRAIN-1..7).
//!
//! This is Linux's algorithm since 6.16 ("drain based on allocated reqs"): while a drain
//! is active every new request goes onto a defer list; the list's front may run only
//! when *all* allocated requests are the deferred ones (nothing else in flight), and
//! once a drain-flagged entry has been seen in a scan, every later entry needs that too.
//! Released requests are issued in the next pass. Requests that fail at submit time
//! bypass the list and complete at once, in Linux as here.

use crate::req::{Idx, ReqFlags, Work};
use crate::ring::Engine;

impl<const CQ: usize, const N: usize, const ARGS: usize> Engine<CQ, N, ARGS> {
    /// `io_init_drain`: an SQE with IO_DRAIN was seen. Inside a chain, the chain's head
    /// is drained and the request after the chain is drained too (C-DRAIN-5).
    pub(crate) fn init_drain(&mut self) {
        self.drain_active = true;
        if self.link.head != crate::req::NIL {
            self.t[self.link.head].flags.insert(ReqFlags::IO_DRAIN | ReqFlags::FORCE_ASYNC);
            self.drain_next = true;
        }
    }

    /// `io_drain_req`: defer a request (with its chain) behind the barrier.
    pub(crate) fn drain_req(&mut self, idx: Idx) {
        let drain = self.t[idx].flags.contains(ReqFlags::IO_DRAIN);
        self.nr_drained += self.t.linked_nr(idx);
        self.t.push(&mut self.defer, idx);
        self.queue_deferred();
        if !drain && self.defer.is_empty() {
            self.drain_active = false;
        }
    }

    /// `io_queue_deferred`: release what the barrier allows, into the next pass.
    pub(crate) fn queue_deferred(&mut self) {
        let mut drain_seen = false;
        let mut first = true;
        while !self.defer.is_empty() {
            let idx = self.defer.head;
            drain_seen |= self.t[idx].flags.contains(ReqFlags::IO_DRAIN);
            if (drain_seen || first) && self.nr_allocated() != self.nr_drained {
                return;
            }
            self.defer.head = self.t[idx].next;
            if self.defer.head == crate::req::NIL {
                self.defer.tail = crate::req::NIL;
            }
            self.nr_drained -= self.t.linked_nr(idx);
            self.tw_add(idx, Work::Issue);
            first = false;
        }
    }
}
