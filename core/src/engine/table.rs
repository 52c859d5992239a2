//! The in-flight request table: fixed storage for requests that outlive one SQE.
//!
//! A request lives in the table from the moment its SQE is consumed until it is freed
//! after its completion. Requests are named by `u16` indices counted from 1, so that 0
//! is [`NIL`] and an empty table — free list, every list head and link — is all zero
//! bytes (a ring in a `static` goes to `.bss`, costing no flash). Every list the engine keeps
//! (free list, task-work queue, completed-this-pass list, drain defer list) is an
//! intrusive singly linked list through [`Req::next`], and link chains run through
//! [`Req::link`]. A request is on at most one list at a time, so no list can overflow.

use bitflags::bitflags;

use crate::abi::NopFlags;
#[cfg(feature = "timeouts")]
use crate::abi::{CancelFlags, TimeoutFlags};

use crate::buffer::{Import, Imports, MAX_IMPORTS};
use crate::slot::chain::ChainData;
use crate::slot::{OpVTable, Record};

/// Index of a request in the table: 1..=N (its entry: [`Table::entry`]).
pub(crate) type Idx = u16;
/// "No request".
pub(crate) const NIL: Idx = 0;

bitflags! {
    /// Request flags. The low byte is the SQE flag byte, copied as Linux copies it into
    /// `req->flags` (same bit numbers); the high byte is the core's own state.
    #[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
    pub(crate) struct ReqFlags: u32 {
        const FIXED_FILE = 1 << 0;
        const IO_DRAIN = 1 << 1;
        const LINK = 1 << 2;
        const HARDLINK = 1 << 3;
        /// User's IOSQE_ASYNC, or forced while a drain is active: take the slow path.
        const FORCE_ASYNC = 1 << 4;
        const BUFFER_SELECT = 1 << 5;
        /// Post no CQE on success.
        const CQE_SKIP = 1 << 6;
        const UNDEFINED_SQE_BIT = 1 << 7;
        /// The request failed: its link chain is cancelled (unless HARDLINK).
        const FAIL = 1 << 8;
        /// A CQE_SKIP request failed: the members it cancels post no CQE (C-SKIP-5).
        const SKIP_LINK_CQES = 1 << 9;
        /// Prep succeeded: cleanup runs when the request is freed.
        const NEED_CLEANUP = 1 << 10;
        /// Issue returned EAGAIN once already.
        const RETRIED = 1 << 11;
        /// Holds imported buffer ranges (released when freed).
        const HAS_IMPORTS = 1 << 12;
        /// Issued and pending: completes through the mailbox.
        const PENDING = 1 << 13;
        /// Pending, and its op allows cancelling it.
        const CANCELABLE = 1 << 14;
        /// An armed timer (TIMEOUT, or an armed LINK_TIMEOUT).
        const TIMER = 1 << 15;
        /// The request after this one is its LINK_TIMEOUT (`REQ_F_ARM_LTIMEOUT`).
        const ARM_LTIMEOUT = 1 << 16;
        /// A TIMEOUT that also completes after `count` CQEs.
        const COUNTING = 1 << 17;
        /// A member of the link chain being assembled (none of it has run): its members
        /// may share buffer ranges, as they will run one after the other. Cleared on
        /// every member when the chain closes, so a closed chain's ranges are never
        /// mistaken for a later chain's (whatever table slots are reused meanwhile).
        const OPEN_CHAIN = 1 << 18;
        /// A multishot request streaming from provided group `buf_index`.
        const MULTISHOT = 1 << 19;
        /// A multishot request that is ending with `res`: its final CQE posts once its
        /// filled buffers are posted.
        const MS_ENDING = 1 << 20;
    }
}

impl ReqFlags {
    pub const LINKS: ReqFlags = ReqFlags::LINK.union(ReqFlags::HARDLINK);
}

/// What a queued task-work item does when its pass comes (`Issue`, the zero
/// discriminant, is what an unused entry holds).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Work {
    /// Issue the request (a link successor, a request released from the drain list, a
    /// retry after EAGAIN).
    Issue,
    /// Complete the cancelled rest of a chain, starting with this request.
    FailLinks,
    /// Post the completion prepared at issue (NOP_TW).
    Complete,
}

/// One request.
#[derive(Clone, Copy)]
pub(crate) struct Req {
    pub rec: Record,
    pub vt: Option<&'static OpVTable>,
    pub res: i32,
    /// What its opcode keeps between prep and completion.
    pub state: OpState,
    pub flags: ReqFlags,
    pub link: Idx,
    pub next: Idx,
    pub opcode: u8,
    pub work: Work,
    /// Buffers imported in prep.
    pub imports: Imports,
    /// The chain's shared record, as it stands when this request runs.
    pub chain_data: ChainData,
    /// The generation it went pending under (its token carries it): the ring's counter,
    /// bumped at every request that goes pending.
    pub generation: u64,
    /// A request with an armed LINK_TIMEOUT: the timeout; an armed LINK_TIMEOUT: its
    /// target.
    pub lt: Idx,
}

impl Req {
    pub const EMPTY: Req = Req {
        rec: Record { info: crate::slot::ReqInfo::EMPTY, pdu: crate::slot::Pdu::ZERO },
        vt: None,
        res: 0,
        state: OpState::None,
        flags: ReqFlags::empty(),
        link: NIL,
        next: NIL,
        opcode: 0,
        work: Work::Issue,
        imports: [Import::EMPTY; MAX_IMPORTS],
        chain_data: ChainData::ZERO,
        generation: 0,
        lt: NIL,
    };

    pub fn user_data(&self) -> u64 {
        self.rec.info.user_data()
    }
}

/// What a request keeps between prep and completion, by opcode — typed, and only as
/// large as the opcodes built in need (op-slot requests keep theirs in the pdu; without
/// the `timeouts` feature a NOP's flags are the largest state).
#[derive(Clone, Copy, Debug)]
pub(crate) enum OpState {
    /// Nothing.
    None,
    /// NOP: its `nop_flags`, and the buffer index `FIXED_BUFFER` looks up at issue.
    Nop { flags: NopFlags, buf_index: u16 },
    /// An op-slot request: the provided-buffer group `IOSQE_BUFFER_SELECT` names (its
    /// SQE's `buf_group`, the field `buf_index` aliases), which a multishot issue streams
    /// from.
    Bpf { buf_group: u16 },
    /// TIMEOUT and LINK_TIMEOUT.
    #[cfg(feature = "timeouts")]
    Timer(Timer),
    /// TIMEOUT_REMOVE: the target's user_data; with `UPDATE`, its new time.
    #[cfg(feature = "timeouts")]
    Remove { flags: TimeoutFlags, target: u64, time: u64 },
    /// ASYNC_CANCEL: what to match.
    #[cfg(feature = "timeouts")]
    Cancel { flags: CancelFlags, target: u64, opcode: u32 },
}

/// A TIMEOUT's or LINK_TIMEOUT's state (16 bytes: with the tag, `OpState` is 24).
#[cfg(feature = "timeouts")]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Timer {
    /// `timeout_flags`.
    pub flags: TimeoutFlags,
    /// A counting timeout: CQEs to wait for at prep; once armed, the `posted` count
    /// that completes it.
    pub count: u32,
    /// Until armed: the interval (ns), or the absolute time with `ABS`. Once armed (a
    /// timer is armed once): its deadline, when it fires (the caller's time base, ns).
    pub at: u64,
}

impl Req {
    /// The provided-buffer group of an op-slot request (0 for any other).
    pub fn buf_group(&self) -> u16 {
        if let OpState::Bpf { buf_group } = self.state { buf_group } else { 0 }
    }
}

#[cfg(feature = "timeouts")]
impl Req {
    /// The timer state of a TIMEOUT / LINK_TIMEOUT.
    pub fn timer(&self) -> Option<&Timer> {
        if let OpState::Timer(t) = &self.state { Some(t) } else { None }
    }

    /// The timer state, writable.
    pub fn timer_mut(&mut self) -> Option<&mut Timer> {
        if let OpState::Timer(t) = &mut self.state { Some(t) } else { None }
    }
}

/// A FIFO of requests through [`Req::next`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct List {
    pub head: Idx,
    pub tail: Idx,
}

impl List {
    pub const EMPTY: List = List { head: NIL, tail: NIL };

    pub fn is_empty(&self) -> bool {
        self.head == NIL
    }

    /// Detach the whole list, leaving it empty.
    pub fn take(&mut self) -> List {
        core::mem::replace(self, List::EMPTY)
    }
}

/// The request table with its free list. All zeros when empty: the free list holds only
/// freed entries, and entries never used are taken in order from `fresh` on (no init
/// loop, no pre-built list).
pub(crate) struct Table<const N: usize> {
    pub reqs: [Req; N],
    /// Head of the list of freed entries (through `next`), or NIL.
    free: Idx,
    /// Entries handed out from the never-used part: the next one is `fresh + 1`.
    fresh: u16,
    /// Entries allocated.
    used: u16,
}

impl<const N: usize> Table<N> {
    const CAPACITY_OK: () = assert!(N >= 1 && N < u16::MAX as usize, "in-flight capacity must be 1..65535");

    pub const fn new() -> Self {
        let () = Self::CAPACITY_OK;
        Table { reqs: [Req::EMPTY; N], free: NIL, fresh: 0, used: 0 }
    }

    /// Every index of the table, in order.
    #[cfg(feature = "timeouts")]
    pub const fn ids() -> core::ops::Range<Idx> {
        1..N as Idx + 1
    }

    /// Whether `idx` names an entry (not NIL, not past the table).
    pub fn holds(idx: Idx) -> bool {
        idx != NIL && idx as usize <= N
    }

    pub fn nr_free(&self) -> u32 {
        N as u32 - self.used as u32
    }

    /// Requests allocated (Linux's `nr_req_allocated`).
    pub fn nr_allocated(&self) -> u32 {
        self.used as u32
    }

    /// Take a free entry. The caller has checked `nr_free() > 0`.
    #[inline]
    pub fn alloc(&mut self) -> Idx {
        debug_assert!(self.nr_free() > 0);
        self.used += 1;
        if self.free != NIL {
            let idx = self.free;
            self.free = self[idx].next;
            idx
        } else {
            self.fresh += 1;
            self.fresh
        }
    }

    /// Whether request `idx` is pending and the claimed mailbox state word `low` is its.
    pub fn is_pending(&self, idx: Idx, low: u32) -> bool {
        Self::holds(idx) && {
            let r = &self[idx];
            r.flags.contains(ReqFlags::PENDING) && crate::engine::completion::same_request(low, r.generation)
        }
    }

    /// The entry of `reqs` request `idx` lives in. For a power-of-two `N` that is `idx`
    /// modulo `N` (request `N` in entry 0): a mask the compiler sees is in bounds, so
    /// indexing the table costs no check at all; otherwise `idx - 1`, checked. The
    /// engine never indexes NIL (it tests for it first; debug builds assert it).
    #[inline(always)]
    fn entry(idx: Idx) -> usize {
        debug_assert!(idx != NIL, "the engine indexed NIL");
        if N.is_power_of_two() { idx as usize & (N - 1) } else { (idx as usize).wrapping_sub(1) }
    }

    /// The entry the next [`Table::alloc`] gives. The caller has checked `nr_free() > 0`.
    #[inline]
    pub fn next_free(&self) -> Idx {
        if self.free != NIL { self.free } else { self.fresh + 1 }
    }

    #[inline]
    pub fn dealloc(&mut self, idx: Idx) {
        let free = self.free;
        let r = &mut self[idx];
        r.next = free;
        r.flags = ReqFlags::empty();
        self.free = idx;
        self.used -= 1;
    }

    #[inline]
    pub fn push(&mut self, list: &mut List, idx: Idx) {
        self[idx].next = NIL;
        if list.tail == NIL {
            list.head = idx;
        } else {
            self[list.tail].next = idx;
        }
        list.tail = idx;
    }

    /// Number of requests in the link chain starting at `idx` (Linux's `io_linked_nr`).
    pub fn linked_nr(&self, mut idx: Idx) -> u32 {
        let mut n = 0;
        while idx != NIL {
            n += 1;
            idx = self[idx].link;
        }
        n
    }
}

impl<const N: usize> core::ops::Index<Idx> for Table<N> {
    type Output = Req;
    #[inline]
    fn index(&self, idx: Idx) -> &Req {
        &self.reqs[Self::entry(idx)]
    }
}

impl<const N: usize> core::ops::IndexMut<Idx> for Table<N> {
    #[inline]
    fn index_mut(&mut self, idx: Idx) -> &mut Req {
        &mut self.reqs[Self::entry(idx)]
    }
}

impl<const N: usize> crate::buffer::Holders for Table<N> {
    fn conflict(&self, new: &Import, in_chain: bool) -> bool {
        conflict_in(&self.reqs, new, in_chain)
    }
}

/// [`Holders::conflict`](crate::buffer::Holders::conflict) over `reqs` (a slice, not
/// generic: one copy serves a whole table and the two halves of [`Others`]).
fn conflict_in(reqs: &[Req], new: &Import, in_chain: bool) -> bool {
    reqs.iter().any(|r| {
        r.flags.contains(ReqFlags::HAS_IMPORTS)
            && !(in_chain && r.flags.contains(ReqFlags::OPEN_CHAIN))
            && r.imports.iter().any(|i| crate::buffer::conflict(i, new))
    })
}

/// The entries of a table but one free entry, as buffer holders: a free entry holds
/// nothing, so they answer as the whole table would.
pub(crate) struct Others<'t> {
    before: &'t [Req],
    after: &'t [Req],
}

impl crate::buffer::Holders for Others<'_> {
    fn conflict(&self, new: &Import, in_chain: bool) -> bool {
        conflict_in(self.before, new, in_chain) || conflict_in(self.after, new, in_chain)
    }
}

impl<const N: usize> Table<N> {
    /// The entry the next [`Table::alloc`] gives — its index and the entry, writable,
    /// before it is allocated — and the other entries as buffer holders. `None` when the
    /// table is full.
    #[inline]
    pub fn split_next_free(&mut self) -> Option<(Idx, &mut Req, Others<'_>)> {
        if self.nr_free() == 0 {
            return None;
        }
        let idx = self.next_free();
        let (entry, others) = self.split_entry(idx);
        Some((idx, entry, others))
    }

    /// Request `idx`'s entry, writable, and the other entries as buffer holders.
    #[inline]
    pub fn split_entry(&mut self, idx: Idx) -> (&mut Req, Others<'_>) {
        let (before, rest) = self.reqs.split_at_mut(Self::entry(idx));
        let (entry, after) = rest.split_at_mut(1);
        (&mut entry[0], Others { before, after })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inline op path hands out a token naming `next_free()` before the request
    /// enters the table: `alloc` must give exactly that entry, fresh or reused.
    #[test]
    fn next_free_names_the_entry_alloc_gives() {
        let mut t = Table::<4>::new();
        let mut held = [NIL; 4];
        for round in 0..3 {
            for h in held.iter_mut() {
                let want = t.next_free();
                *h = t.alloc();
                assert_eq!(*h, want, "round {round}");
            }
            // Free in an order that reshuffles the free list.
            for &i in [held[2], held[0], held[3], held[1]].iter() {
                t.dealloc(i);
            }
        }
        let want = t.next_free();
        assert_eq!(t.alloc(), want);
    }

    /// Requests are named 1..=N whatever N, NIL is 0, and every name has its own entry:
    /// by mask for a power-of-two N (request N in entry 0), by `idx - 1` otherwise.
    fn names_and_entries<const N: usize>() {
        let mut t = Table::<N>::new();
        let ids: heapless::Vec<Idx, N> = (0..N).map(|_| t.alloc()).collect();
        assert!(ids.iter().copied().eq(1..=N as Idx));
        assert_eq!(t.nr_free(), 0);
        for &i in &ids {
            t[i].res = i as i32;
        }
        let mut seen: heapless::Vec<i32, N> = t.reqs.iter().map(|r| r.res).collect();
        seen.sort_unstable();
        assert!(seen.iter().copied().eq(1..=N as i32), "one entry per request");
        assert!(!Table::<N>::holds(NIL) && !Table::<N>::holds(N as Idx + 1));
        // Freed entries come back last-freed first, then the table is full again.
        if N >= 2 {
            t.dealloc(N as Idx);
            t.dealloc(1);
            assert_eq!((t.nr_free(), t.alloc(), t.alloc(), t.nr_free()), (2, 1, N as Idx, 0));
        }
    }

    #[test]
    fn requests_are_named_from_one_for_any_capacity() {
        names_and_entries::<1>();
        names_and_entries::<4>();
        names_and_entries::<5>();
        names_and_entries::<16>();
    }

    /// RAM per request in flight (64-bit host): the record, two imports of 8 segments,
    /// the chain record, and the typed per-opcode state — which without `timeouts` is a
    /// NOP's 8 bytes instead of a timer's 24 (a timer keeps its interval and, once armed,
    /// its deadline in one field).
    #[test]
    fn a_request_takes_what_the_enabled_opcodes_need() {
        let (state, req) = (size_of::<OpState>(), size_of::<Req>());
        if cfg!(feature = "timeouts") {
            assert_eq!((state, req), (24, 304));
        } else {
            assert_eq!((state, req), (8, 288));
        }
    }
}
