//! The ring: an SQ, a CQ, an in-flight table and 16 op slots, all sized at compile time.

use crate::abi::errno::Errno;
use crate::abi::setup::{self, Params, Probe, Setup};
use crate::abi::{Cqe, MAX_OP_SLOTS, SetupFlags, SqRingFlags, Sqe, opcode};
#[cfg(feature = "multishot")]
use crate::buffer::provided::{BufGroup, BufRing};
use crate::buffer::region::Region;
use crate::buffer::{BufTable, MAX_BUFFERS, Rejected};
use crate::engine::completion::{CompleteError, Completer, Mailbox, Token};
use crate::engine::drain::Drain;
use crate::engine::submit::ChainRun;
use crate::engine::table::{List, NIL, Table};
use crate::queue::cq::{CqProducer, CqShared};
use crate::queue::sq::SubmissionQueue;
use crate::slot::args::ArgRecord;
use crate::slot::{OpVTable, SlotState, Slots, Unregistered};
use crate::sync::const_fn_unless_loom;

/// Whether submit takes its fast paths (quick way for a lone NOP or op-slot SQE, inline
/// NOPs, NOP chain runs and inline op-slot ops): not with the feature `small`, which
/// leaves their code out. The general path produces the same CQEs.
const FAST_PATHS: bool = !cfg!(feature = "small");

/// Why a [`Ring::submit`] call stopped consuming SQEs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Stop {
    /// The SQ is empty: every SQE was consumed.
    Empty,
    /// An SQE failed at submit time outside a link chain; the ones after it are still in
    /// the SQ (C-OP-2). Never returned on a `SUBMIT_ALL` ring.
    Failed,
    /// Backpressure: the CQ has no room for the next SQE's CQE — or the whole link
    /// chain's starting at it — that reaping cannot give: reap CQEs and submit again.
    /// [`SqRingFlags::CQ_OVERFLOW`] is set.
    Backpressure,
    /// The next SQE (or the whole link chain starting at it) needs room that only
    /// requests in flight can free — slots of the in-flight table, or CQ slots promised
    /// to them: reaping alone does not help. Submit again after some of them complete
    /// (their completer, a timer's deadline through `tick`, a cancel):
    /// [`Ring::in_flight`] says how many there are. A chain never needs more than the
    /// ring holds (`min(in-flight capacity, CQ entries)`; a longer one is cut, C-LINK-7),
    /// so once the requests in flight are done it always fits.
    InFlight,
}

/// What a [`Ring::submit`] call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use]
pub struct Submitted {
    /// SQEs consumed, a failing one included (C-FLAG-2).
    pub taken: u32,
    /// Why consumption stopped.
    pub stop: Stop,
}

/// The submitter-private part of a ring: everything that consumes SQEs and produces
/// CQEs, except what it shares with reapers and completers ([`Shared`]).
pub(crate) struct Engine<const CQ: usize, const N: usize, const ARGS: usize> {
    pub cq: CqProducer,
    pub t: Table<N>,
    pub slots: Slots,
    /// Registered buffers.
    pub bufs: BufTable,
    /// Extended-argument records.
    pub args: heapless::LinearMap<u16, ArgRecord, ARGS>,
    pub flags: SetupFlags,
    /// The link chain being assembled (`submit_state.link`).
    pub link: List,
    /// A drain in effect ([`Drain`]): one byte, so a quiet ring is one compare.
    pub drain: Drain,
    pub drain_disabled: bool,
    /// Requests waiting behind a drain barrier, and how many requests (chain members
    /// included) they hold.
    pub defer: List,
    pub nr_drained: u32,
    /// Task work for the next pass.
    pub tw: List,
    /// Requests completed in this pass that still have a link to resolve.
    pub done: List,
    /// Requests completed and freed during this pass without waiting for its end (no
    /// link to resolve). Linux frees every request at the end of the pass, and a drain
    /// barrier counts them as allocated until then, so fwring does too.
    pub freed_early: u32,
    /// The time the caller last gave (`tick`), ns in its own time base.
    pub now: u64,
    /// CQEs posted by requests other than timeouts (what counting timeouts count).
    pub posted: u32,
    /// Armed timers (TIMEOUT and LINK_TIMEOUT requests).
    pub nr_timers: u32,
    /// Armed counting timeouts.
    #[cfg(feature = "timeouts")]
    pub nr_counting: u32,
    /// The generation the next request to go pending gets (48 bits; 0 until the ring
    /// is numbered, at its first issue of an op).
    pub gen_next: u64,
}

impl<const CQ: usize, const N: usize, const ARGS: usize> Engine<CQ, N, ARGS> {
    /// An idle engine, all zeros; its CQ has no entries until [`Local::set_up`] gives
    /// it some.
    const fn new() -> Self {
        Engine {
            cq: CqProducer::new(),
            t: Table::new(),
            slots: Slots::new(),
            bufs: BufTable::new(),
            args: heapless::LinearMap::new(),
            flags: SetupFlags::empty(),
            link: List::EMPTY,
            drain: Drain::empty(),
            drain_disabled: false,
            defer: List::EMPTY,
            nr_drained: 0,
            tw: List::EMPTY,
            done: List::EMPTY,
            freed_early: 0,
            now: 0,
            posted: 0,
            nr_timers: 0,
            #[cfg(feature = "timeouts")]
            nr_counting: 0,
            gen_next: 0,
        }
    }

    /// Idle again with `params`' CQ size and flags, as [`Engine::new`] but for the
    /// generation counter, which runs on (a token from before never names a request
    /// after). Field by field, in place: built whole as one value, the engine (several
    /// KiB) would be assembled on the stack and copied in, costing the stack and pulling
    /// `memcpy` into the image.
    fn reset(&mut self, params: Params) {
        let Engine {
            cq,
            t,
            slots,
            bufs,
            args,
            flags,
            link,
            drain,
            drain_disabled,
            defer,
            nr_drained,
            tw,
            done,
            freed_early,
            now,
            posted,
            nr_timers,
            #[cfg(feature = "timeouts")]
            nr_counting,
            gen_next: _,
        } = self;
        *cq = CqProducer::with_entries(params.cq_entries);
        *t = Table::new();
        slots.reset();
        bufs.reset();
        *args = heapless::LinearMap::new();
        *flags = params.flags;
        (*link, *defer, *tw, *done) = (List::EMPTY, List::EMPTY, List::EMPTY, List::EMPTY);
        (*drain, *drain_disabled) = (Drain::empty(), false);
        (*nr_drained, *freed_early, *posted, *nr_timers) = (0, 0, 0, 0);
        #[cfg(feature = "timeouts")]
        {
            *nr_counting = 0;
        }
        *now = 0;
    }

    /// The generation the next request to go pending would get: the ring is numbered
    /// the first time this is asked (so a ring in a `static` stays all zeros until it
    /// runs an op).
    #[inline]
    pub(crate) fn next_generation<const M: usize>(&mut self, mail: &Mailbox<M>) -> u64 {
        if self.gen_next == 0 {
            self.number(mail);
        }
        self.gen_next
    }

    #[cold]
    #[inline(never)]
    fn number<const M: usize>(&mut self, mail: &Mailbox<M>) {
        let id = crate::engine::completion::next_ring_id();
        mail.set_id(id);
        self.gen_next = crate::engine::completion::first_generation(id);
    }

    /// Requests allocated as Linux counts them (`nr_req_allocated`): in the table, or
    /// completed during the current pass.
    pub(crate) fn nr_allocated(&self) -> u32 {
        self.t.nr_allocated() + self.freed_early
    }

    /// Whether the end of a submit or poll has anything to do beyond publishing: a
    /// request waits for the end of the pass, task work is queued, a drain is active,
    /// or a timer is armed (it may have expired).
    #[inline]
    pub(crate) fn passes_due(&self) -> bool {
        !self.done.is_empty() || !self.tw.is_empty() || self.drain.contains(Drain::ACTIVE) || self.nr_timers != 0
    }

    /// Longest link chain the ring can hold at once: min(in-flight, CQ entries).
    #[inline]
    pub(crate) fn max_chain(&self) -> u32 {
        (N as u32).min(self.cq.capacity())
    }

    /// No multishot stream has filled buffers to post.
    #[inline]
    pub(crate) fn no_streams(&self) -> bool {
        #[cfg(feature = "multishot")]
        return self.bufs.streams == 0;
        #[cfg(not(feature = "multishot"))]
        true
    }

    /// Nothing but what a submit consumes now can complete in this call's later passes:
    /// a quiet ring with nothing queued for a pass, no counting timeout and no stream.
    /// Then a run of NOP chains may post every pass's CQEs at once.
    #[inline]
    pub(crate) fn chains_may_run_inline(&self) -> bool {
        #[cfg(feature = "timeouts")]
        if self.nr_counting != 0 {
            return false;
        }
        self.quiet() && self.done.is_empty() && self.tw.is_empty() && self.no_streams()
    }

    /// No chain is open and no drain is pending: a standalone request may run inline.
    #[inline]
    pub(crate) fn quiet(&self) -> bool {
        self.link.head == NIL && self.drain.is_empty()
    }
}

/// What a ring shares with its reaper and its completers: the CQ entries and indices,
/// and the pending-request mailboxes. Atomics only, so `Sync`.
pub(crate) struct Shared<const CQ: usize, const N: usize> {
    pub cq: CqShared<CQ>,
    pub mail: Mailbox<N>,
}

impl<const CQ: usize, const N: usize> Shared<CQ, N> {
    const_fn_unless_loom! {
        fn new() -> Self {
            Shared { cq: CqShared::new(), mail: Mailbox::new() }
        }
    }
}

/// The engine with the shared half at hand: what every engine method runs on.
pub(crate) struct Exec<'a, const CQ: usize, const N: usize, const ARGS: usize> {
    pub e: &'a mut Engine<CQ, N, ARGS>,
    pub sh: &'a Shared<CQ, N>,
}

impl<const CQ: usize, const N: usize, const ARGS: usize> Exec<'_, CQ, N, ARGS> {
    /// Can the SQE at the head of `sq` (and, at a chain's start, its whole chain) be
    /// consumed now? When a chain being assembled outgrows the ring, it is cut here and
    /// run as submitted.
    #[inline]
    fn admit<const SQ: usize>(&mut self, sq: &SubmissionQueue<SQ>, avail: u32) -> bool {
        let room = self.e.cq.room(&self.sh.cq).min(self.e.t.nr_free());
        if self.e.link.head == NIL {
            let need = if room == 0 { 1 } else { sq.chain_len(avail.min(self.e.max_chain())) };
            need <= room
        } else if room == 0 {
            self.end_open_chain();
            false
        } else {
            true
        }
    }

    /// Consume the SQE at the head of `sq` through the general path, if it (and, at a
    /// chain's start, its whole chain) can be admitted: `Err(Stop::Backpressure)` if
    /// not (the SQE stays), `Err(Stop::Failed)` if it was consumed and failed at submit
    /// time outside a chain on a ring without `SUBMIT_ALL`.
    #[inline]
    fn submit_general<const SQ: usize>(
        &mut self,
        sq: &mut SubmissionQueue<SQ>,
        avail: u32,
        submit_all: bool,
    ) -> Result<(), Stop> {
        if !self.admit(sq, avail) {
            return Err(Stop::Backpressure);
        }
        let ok = self.submit_sqe(sq.peek(0));
        sq.advance_by(1);
        if ok || submit_all { Ok(()) } else { Err(Stop::Failed) }
    }

    /// Whether a submit may skip the general loop's set-up: a quiet ring, nothing arrived
    /// from completers, no stream to post (what the loop would handle first).
    #[inline(always)]
    fn quick_way_open(&self) -> bool {
        self.e.quiet() && !self.sh.mail.has_ready() && self.e.no_streams()
    }

    /// Why the SQE at the head of `sq` (and its chain) was not admitted, as things stand
    /// at the end of the submit call: [`Stop::Backpressure`] if reaping every CQE makes
    /// room for it, else [`Stop::InFlight`] (only requests in flight can: the in-flight
    /// table, and CQ slots promised to them).
    fn why_not<const SQ: usize>(&self, sq: &SubmissionQueue<SQ>) -> Stop {
        let need = sq.chain_len(sq.len().min(self.e.max_chain())).max(1);
        let after_reaping = self.e.cq.capacity().saturating_sub(self.e.cq.reserved()).min(self.e.t.nr_free());
        if need <= after_reaping { Stop::Backpressure } else { Stop::InFlight }
    }

    /// Complete every request whose completion arrived through a [`Completer`] since
    /// the last look; returns how many. The completions form one pass.
    pub(crate) fn take_completions(&mut self) -> u32 {
        if !self.sh.mail.has_ready() {
            return 0;
        }
        let mut n = 0;
        let sh = self.sh;
        sh.mail.take_ready(|idx, low, res| {
            if self.e.t.is_pending(idx, low) {
                self.complete_async(idx, res);
                n += 1;
            }
        });
        n
    }

    /// End of a submit or poll: run the task-work passes (and any timer that expired
    /// meanwhile), publish the CQEs. The common end — every request completed and freed
    /// at once, nothing left for a pass — costs a few loads and the publishing store.
    #[inline]
    pub(crate) fn finish(&mut self) {
        #[cfg(feature = "multishot")]
        self.flush_multishot();
        if self.e.passes_due() {
            self.finish_passes();
        }
        self.e.freed_early = 0;
        self.e.cq.publish(&self.sh.cq);
    }

    #[inline(never)]
    fn finish_passes(&mut self) {
        self.run_passes();
        #[cfg(feature = "timeouts")]
        while self.fire_expired() {
            #[cfg(feature = "multishot")]
            self.flush_multishot();
            self.run_passes();
        }
    }
}

/// The head word ([`Sqe::head_word`]) of a NOP whose only flags are link bits.
const NOP_LINK_BITS: u32 = (crate::abi::SqeFlags::LINKS.bits() as u32) << 8;

/// The submitter's side of a ring: SQ, engine, parameters.
struct Local<const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize> {
    sq: SubmissionQueue<SQ>,
    ex: Engine<CQ, N, ARGS>,
    /// What [`Ring::setup`] resolved; all zeros (`sq_entries` 0) until the ring is set
    /// up, by `setup` or at its first run with [`Local::DEFAULT`].
    params: Params,
    sq_flags: SqRingFlags,
}

impl<const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize> Local<SQ, CQ, N, ARGS> {
    /// What `Ring::new` promises: `SQ` SQ entries, `min(2 × SQ, CQ)` CQ entries, no
    /// setup flags.
    const DEFAULT: Params = Params {
        sq_entries: SQ as u32,
        cq_entries: if 2 * SQ < CQ { 2 * SQ as u32 } else { CQ as u32 },
        flags: SetupFlags::empty(),
        features: setup::FEATURES,
    };

    const_fn_unless_loom! {
        /// A ring not set up: all zeros, so a `static` ring costs no flash.
        fn new() -> Self {
            Local {
                sq: SubmissionQueue::new(),
                ex: Engine::new(),
                params: Params { sq_entries: 0, cq_entries: 0, flags: SetupFlags::empty(), features: crate::abi::Features::empty() },
                sq_flags: SqRingFlags::empty(),
            }
        }
    }

    /// The parameters in effect: [`Local::DEFAULT`] until the ring is set up.
    const fn params(&self) -> &Params {
        if self.params.sq_entries == 0 { &Self::DEFAULT } else { &self.params }
    }

    /// Set up the ring with `params`: an idle engine of those sizes (the generation
    /// counter runs on), an empty SQ and CQ.
    fn set_up(&mut self, sh: &mut Shared<CQ, N>, params: Params) {
        // The generation counter runs on across a setup: a token from before it never
        // names a request after it.
        self.ex.reset(params);
        self.sq.resize(params.sq_entries);
        self.params = params;
        self.sq_flags = SqRingFlags::empty();
        sh.cq.reset();
    }

    /// A ring never set up takes `Ring::new`'s parameters at its first run. Nothing can
    /// be queued in its CQ or in flight before (only a run consumes SQEs).
    #[inline]
    fn ensure_set_up(&mut self) {
        if self.params.sq_entries == 0 {
            self.params = Self::DEFAULT;
            self.ex.cq = CqProducer::with_entries(Self::DEFAULT.cq_entries);
        }
    }

    /// The quick way first: on a quiet ring with nothing arrived from completers and no
    /// stream to post, an SQ holding only standalone NOPs that fit the CQ is consumed
    /// and published here, without the general loop's set-up — the fixed cost a
    /// firmware loop submitting one request per interrupt pays. Anything else goes on
    /// through [`Local::submit_full`] with what was consumed so far.
    #[inline(always)]
    fn submit(&mut self, sh: &Shared<CQ, N>) -> Submitted {
        self.ensure_set_up();
        let avail = self.sq.len();
        let mut x = Exec { e: &mut self.ex, sh };
        if FAST_PATHS && avail != 0 && self.sq.peek(0).head_word() == 0 && x.quick_way_open() {
            let n = if avail == 1 {
                x.submit_one_nop(&mut self.sq)
            } else {
                x.submit_inline_nops_here(&mut self.sq, avail.min(x.e.cq.room(&sh.cq)))
            };
            // Between calls no request waits for a pass and no task work is queued; an
            // armed timer may have expired, which the general end handles.
            debug_assert!(x.e.done.is_empty() && x.e.tw.is_empty());
            if n == avail && x.e.nr_timers == 0 {
                self.sq_flags.remove(SqRingFlags::CQ_OVERFLOW);
                x.e.cq.publish(&sh.cq);
                return Submitted { taken: n, stop: Stop::Empty };
            }
            // The pass goes on: they count as allocated until its end.
            x.e.freed_early += n;
            return self.submit_full(sh, n);
        }
        if FAST_PATHS && avail == 1 && self.sq.peek(0).head_word() == opcode::BPF as u32 {
            return self.submit_one_op(sh);
        }
        self.submit_full(sh, 0)
    }

    /// One standalone op-slot SQE, the other request a firmware loop submits per
    /// interrupt: on a quiet ring with nothing arrived from completers and no stream, the
    /// inline op path without the general loop's set-up, then the general end (a retry
    /// or a stream may have work for it). Anything else: the general loop.
    #[inline(never)]
    fn submit_one_op(&mut self, sh: &Shared<CQ, N>) -> Submitted {
        let mut x = Exec { e: &mut self.ex, sh };
        if x.quick_way_open() && x.e.flags.contains(SetupFlags::BPF_EXT) {
            let (n, failed) = x.submit_inline_ops(&mut self.sq, x.e.cq.has_room(&sh.cq) as u32);
            if n == 1 {
                self.sq_flags.remove(SqRingFlags::CQ_OVERFLOW);
                x.finish();
                let failed = failed && !self.params.flags.contains(SetupFlags::SUBMIT_ALL);
                return Submitted { taken: 1, stop: if failed { Stop::Failed } else { Stop::Empty } };
            }
        }
        self.submit_full(sh, 0)
    }

    /// A submit call's general loop, `taken` SQEs having been consumed already.
    #[inline(never)]
    fn submit_full(&mut self, sh: &Shared<CQ, N>, mut taken: u32) -> Submitted {
        let submit_all = self.params.flags.contains(SetupFlags::SUBMIT_ALL);
        let mut x = Exec { e: &mut self.ex, sh };
        // Completions that arrived since the last look come first: they happened first.
        x.take_completions();
        // Filled provided buffers next, before new SQEs take CQ room (multishot.rs).
        #[cfg(feature = "multishot")]
        x.flush_multishot();
        self.sq_flags.remove(SqRingFlags::CQ_OVERFLOW);
        // Whether NOP chains may still try the inline way this call.
        let mut chains = true;
        let stop = loop {
            let avail = self.sq.len();
            if avail == 0 {
                break Stop::Empty;
            }
            // The fast paths, tried only when the head SQE can take them: a standalone
            // NOP (opcode NOP, no flags, ioprio 0: its first word is 0) or a standalone
            // op-slot op — not before every other SQE.
            // Without the fast paths (feature `small`) no head word matches either.
            let head = if FAST_PATHS { self.sq.peek(0).head_word() } else { u32::MAX };
            // Tested by the head word first: an SQE none of them can take (a chain
            // member, a timer, anything with flags) pays a compare or three.
            if head == 0 {
                if x.e.quiet() {
                    let n = x.submit_inline_nops(&mut self.sq, avail.min(x.e.cq.room(&sh.cq)));
                    taken += n;
                    if n != 0 {
                        continue;
                    }
                }
            } else if head & !NOP_LINK_BITS == 0 {
                // A NOP chain's head (opcode NOP, link bits, ioprio 0).
                if chains && x.e.chains_may_run_inline() {
                    match x.submit_nop_chains(&mut self.sq, avail) {
                        ChainRun::Consumed { n, full } => {
                            taken += n;
                            if full {
                                break Stop::Backpressure;
                            }
                            continue;
                        }
                        // Not again this call: the general path takes this chain.
                        ChainRun::Declined => chains = false,
                    }
                }
            } else if head == opcode::BPF as u32 && x.e.quiet() && x.e.flags.contains(SetupFlags::BPF_EXT) {
                let (n, failed) = x.submit_inline_ops(&mut self.sq, avail.min(x.e.cq.room(&sh.cq)));
                taken += n;
                if failed && !submit_all {
                    break Stop::Failed;
                }
                if n != 0 {
                    continue;
                }
            }
            match x.submit_general(&mut self.sq, avail, submit_all) {
                Ok(()) => taken += 1,
                Err(Stop::Failed) => {
                    taken += 1;
                    break Stop::Failed;
                }
                Err(stop) => break stop,
            }
        };
        x.end_open_chain();
        x.finish();
        let stop = if stop == Stop::Backpressure { x.why_not(&self.sq) } else { stop };
        if stop == Stop::Backpressure {
            self.sq_flags.insert(SqRingFlags::CQ_OVERFLOW);
        }
        Submitted { taken, stop }
    }

    fn poll(&mut self, sh: &Shared<CQ, N>) -> u32 {
        self.ensure_set_up();
        let mut x = Exec { e: &mut self.ex, sh };
        let n = x.take_completions();
        x.finish();
        n
    }

    fn tick(&mut self, sh: &Shared<CQ, N>, now: u64) -> u32 {
        self.ex.now = self.ex.now.max(now);
        let timers = self.ex.nr_timers;
        let n = self.poll(sh);
        n + timers.saturating_sub(self.ex.nr_timers)
    }

    fn next_deadline(&mut self, sh: &Shared<CQ, N>) -> Option<u64> {
        self.ensure_set_up();
        #[cfg(feature = "timeouts")]
        return Exec { e: &mut self.ex, sh }.next_deadline();
        #[cfg(not(feature = "timeouts"))]
        {
            let _ = sh;
            None
        }
    }
}

/// An io_uring-style ring with storage for `SQ` SQEs, `CQ` CQEs, `N` requests in flight
/// and `ARGS` extended-argument records (default 0), fixed at compile time. No heap;
/// `const fn new` so it can live in a `static`.
///
/// ```
/// use fwring::{Ring, Sqe, SqeFlags, Cqe, Errno, Stop};
///
/// let mut ring: Ring<8, 16, 8> = Ring::new();
/// ring.push(Sqe::nop().user_data(1).flags(SqeFlags::IO_LINK)).unwrap();
/// ring.push(Sqe::nop_inject(-5).user_data(2).flags(SqeFlags::IO_LINK)).unwrap();
/// ring.push(Sqe::nop().user_data(3)).unwrap();
/// let s = ring.submit();
/// assert_eq!((s.taken, s.stop), (3, Stop::Empty));
/// assert_eq!(ring.pop(), Some(Cqe::new(1, 0)));
/// assert_eq!(ring.pop(), Some(Cqe::new(2, -5)));
/// assert_eq!(ring.pop(), Some(Cqe::new(3, Errno::ECANCELED.res())));
/// assert_eq!(ring.pop(), None);
/// ```
pub struct Ring<const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize = 0> {
    local: Local<SQ, CQ, N, ARGS>,
    sh: Shared<CQ, N>,
}

/// Op-slot, buffer and extended-argument management: the same methods on [`Ring`] and
/// on its [`Submitter`] (the submitting context owns these tables after a split, so
/// firmware can refill buffers and change injection rules while interrupts complete).
macro_rules! resource_api {
    () => {
        /// Register an op table into slot `vt.id()` (C-BPF-15): EINVAL on a ring without
        /// `BPF_EXT` or for an id ≥ 16, EBUSY if the slot is taken (or still draining).
        pub fn register_op(&mut self, vt: &'static OpVTable) -> Result<(), Errno> {
            if !self.local.params.flags.contains(SetupFlags::BPF_EXT) {
                return Err(Errno::EINVAL);
            }
            self.local.ex.slots.register(vt)
        }

        /// Unregister slot `id` (C-BPF-16, C-BPF-17). EINVAL without `BPF_EXT`, for an id
        /// ≥ 16 or an empty slot; EBUSY if already draining.
        ///
        /// fwring **defers**: with requests of the slot in flight the slot turns
        /// [`SlotState::Draining`] — new SQEs for it fail -EOPNOTSUPP at once (C-BPF-18),
        /// the requests in flight run to completion with the same table, and the slot is
        /// empty after the last one's cleanup. No callback can run after that point.
        pub fn unregister_op(&mut self, id: u8) -> Result<Unregistered, Errno> {
            if !self.local.params.flags.contains(SetupFlags::BPF_EXT) {
                return Err(Errno::EINVAL);
            }
            self.local.ex.slots.unregister(id as usize)
        }

        /// `IORING_REGISTER_BUFFERS`: register `K` regions as buffers 0..K (C-BUF-1..4):
        /// EINVAL for 0 or more than 16, EBUSY if a table exists, EFAULT for an empty or
        /// >1 GiB region. On error the regions come back in [`Rejected`].
        pub fn register_buffers<const K: usize>(&mut self, regions: [Region; K]) -> Result<(), Rejected<[Region; K]>> {
            self.local.ex.bufs.register(regions)
        }

        /// An empty (sparse) buffer table of `nr` slots, to fill with
        /// [`Ring::update_buffer`].
        pub fn register_buffers_sparse(&mut self, nr: u16) -> Result<(), Errno> {
            self.local.ex.bufs.register_sparse(nr)
        }

        /// `IORING_REGISTER_BUFFERS_UPDATE` of one slot; returns the region it replaces.
        /// ENXIO without a table, EINVAL past it, EBUSY if the old region is in use.
        pub fn update_buffer(&mut self, index: u16, region: Region) -> Result<Option<Region>, Rejected<Region>> {
            self.local.ex.bufs.update(index, region)
        }

        /// `IORING_UNREGISTER_BUFFERS` (C-BUF-3, C-BUF-12): ENXIO without a table, EBUSY
        /// while an in-flight request uses a buffer. Returns the regions.
        pub fn unregister_buffers(&mut self) -> Result<heapless::Vec<Region, MAX_BUFFERS>, Errno> {
            self.local.ex.bufs.unregister()
        }

        /// `IORING_REGISTER_PBUF_RING` (feature `multishot`): register `ring` as provided-buffer group
        /// `group.bgid`, its `E` buffers the slots of `group.size` bytes from
        /// `group.offset` of registered buffer `group.buf_index` (reserved for the group:
        /// other requests touching it fail EBUSY). The ring starts empty (tail 0): add
        /// buffers with [`BufRing::provide`]. EEXIST for a group id in use, EBUSY for a
        /// `BufRing` registered already or an area overlapping another group or a request
        /// in flight, EFAULT for an unregistered or source-only buffer, EINVAL for a zero
        /// size or an area past its buffer, ENOMEM when all
        /// [`MAX_GROUPS`](crate::buffer::provided::MAX_GROUPS) groups are taken.
        #[cfg(feature = "multishot")]
        pub fn register_buf_ring<const E: usize>(
            &mut self,
            ring: &'static BufRing<E>,
            group: BufGroup,
        ) -> Result<(), Errno> {
            self.register_buf_ring_flags(ring, group, 0)
        }

        /// [`Ring::register_buf_ring`] with `IOU_PBUF_RING_*` flags:
        /// [`IOU_PBUF_RING_INC`](crate::buffer::provided::IOU_PBUF_RING_INC) makes the
        /// group incremental — a fill that leaves room in its buffer posts with
        /// `IORING_CQE_F_BUF_MORE` and the next fill continues in the same buffer after
        /// it. Any other flag is EINVAL (`IOU_PBUF_RING_MMAP` included: the ring is a
        /// `static`).
        #[cfg(feature = "multishot")]
        pub fn register_buf_ring_flags<const E: usize>(
            &mut self,
            ring: &'static BufRing<E>,
            group: BufGroup,
            flags: u16,
        ) -> Result<(), Errno> {
            let ex = &mut self.local.ex;
            ex.bufs.register_group(ring, group, flags, &ex.t)
        }

        /// `IORING_UNREGISTER_PBUF_RING`: ENOENT for an unknown group, EBUSY while a
        /// multishot request streams from it or a device holds one of its buffers.
        #[cfg(feature = "multishot")]
        pub fn unregister_buf_ring(&mut self, bgid: u16) -> Result<(), Errno> {
            self.local.ex.bufs.unregister_group(bgid)
        }

        /// Provided buffer `bid` of group `bgid`, to read the data its CQE announced:
        /// only while the application holds it (after its CQE, until the ring takes it
        /// back from the group's ring) — else EBUSY; ENOENT for an unknown group, EINVAL
        /// for a bid past it.
        #[cfg(feature = "multishot")]
        pub fn provided(&self, bgid: u16, bid: u16) -> Result<&[u8], Errno> {
            self.local.ex.bufs.provided(bgid, bid)
        }

        /// The registered buffers (read access for the application).
        pub fn buffers(&self) -> &BufTable {
            &self.local.ex.bufs
        }

        /// Buffer `index`'s memory, writable by the application — unless an in-flight
        /// request uses it (EBUSY). EINVAL for an index past the table or an empty slot.
        pub fn buffer_mut(&mut self, index: u16) -> Result<&mut [u8], Errno> {
            self.local.ex.bufs.get_mut(index).map(Region::bytes_mut)
        }

        /// Store extended-argument record `id`, returning the one it replaces. ENOSPC when
        /// all `ARGS` records are taken.
        pub fn set_arg(&mut self, id: u16, record: ArgRecord) -> Result<Option<ArgRecord>, Errno> {
            self.local.ex.args.insert(id, record).map_err(|_| Errno::ENOSPC)
        }

        /// Extended-argument record `id`.
        pub fn arg(&self, id: u16) -> Option<&ArgRecord> {
            self.local.ex.args.get(&id)
        }

        /// Extended-argument record `id`, writable.
        pub fn arg_mut(&mut self, id: u16) -> Option<&mut ArgRecord> {
            self.local.ex.args.get_mut(&id)
        }

        /// Remove extended-argument record `id`.
        pub fn remove_arg(&mut self, id: u16) -> Option<ArgRecord> {
            self.local.ex.args.remove(&id)
        }

        /// The state of slot `id`, or `None` for an id ≥ 16.
        pub fn op_slot(&self, id: u8) -> Option<SlotState> {
            if (id as usize) < MAX_OP_SLOTS { self.local.ex.slots.state(id as usize) } else { None }
        }
    };
}

impl<const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize> Ring<SQ, CQ, N, ARGS> {
    const_fn_unless_loom! {
        /// A ring using all its storage: `SQ` SQ entries, `min(2 × SQ, CQ)` CQ entries,
        /// no setup flags. Call [`Ring::setup`] to choose otherwise.
        ///
        /// Its bytes are all zeros (every size is encoded so that zero is the empty
        /// state, and what must be non-zero is set at the first `submit`/`poll`), so a
        /// ring in a `static` is placed in `.bss`: RAM only, no initial image in flash.
        pub fn new() -> Self {
            Ring { local: Local::new(), sh: Shared::new() }
        }
    }

    /// Set the ring up anew, as `io_uring_setup(2)` would create it: sizes, setup flags,
    /// empty op slots, no extended arguments. Only an idle ring (no request in flight, no
    /// buffers registered — they would be lost) can be set up: else EBUSY. Sizing errors
    /// are Linux's (see [`Setup`]).
    pub fn setup(&mut self, setup: Setup) -> Result<Params, Errno> {
        let params = setup::resolve(&setup, SQ as u32, CQ as u32)?;
        let l = &mut self.local;
        if l.ex.t.nr_allocated() != 0 || !l.ex.bufs.is_empty() {
            return Err(Errno::EBUSY);
        }
        l.set_up(&mut self.sh, params);
        Ok(params)
    }

    /// The parameters the ring runs with.
    pub const fn params(&self) -> &Params {
        self.local.params()
    }

    /// Which opcodes this ring runs (`IORING_REGISTER_PROBE`).
    pub const fn probe(&self) -> Probe {
        Probe::new(self.local.params.flags.contains(SetupFlags::BPF_EXT))
    }

    /// SQ ring flags: [`SqRingFlags::CQ_OVERFLOW`] while the last submit was stopped by
    /// backpressure (cleared by the next submit that finds room).
    pub const fn sq_flags(&self) -> SqRingFlags {
        self.local.sq_flags
    }

    /// CQ overflow counter: always 0, fwring never drops a CQE (C-CQ-4).
    pub const fn cq_overflow(&self) -> u32 {
        0
    }

    /// Queue an SQE; a full SQ hands it back (C-FLAG-3).
    #[inline]
    pub fn push(&mut self, sqe: Sqe) -> Result<(), Sqe> {
        self.local.sq.push(sqe)
    }

    /// The submission queue (push side).
    pub fn sq(&mut self) -> &mut SubmissionQueue<SQ> {
        &mut self.local.sq
    }

    /// Reap the oldest CQE.
    #[inline]
    pub fn pop(&mut self) -> Option<Cqe> {
        self.sh.cq.pop()
    }

    /// The oldest CQE, left in place (as [`Reaper::peek`]).
    pub fn peek(&self) -> Option<Cqe> {
        self.sh.cq.peek()
    }

    /// The completion queue's shared state: length, peek. (Its entries in use:
    /// [`Params::cq_entries`].)
    pub fn cq(&self) -> &CqShared<CQ> {
        &self.sh.cq
    }

    /// CQ slots promised to requests in flight (each may still post a CQE).
    pub fn cq_reserved(&self) -> u32 {
        self.local.ex.cq.reserved()
    }

    /// Requests in flight: consumed, not yet freed (0 whenever `submit` has returned,
    /// unless requests are pending on something outside the ring).
    pub fn in_flight(&self) -> u32 {
        self.local.ex.t.nr_allocated()
    }

    /// Complete pending requests whose completion arrived (through a [`Completer`])
    /// since the ring last looked, and run what follows from them (link successors,
    /// cancellations, drained requests). Returns how many completions it took.
    pub fn poll(&mut self) -> u32 {
        self.local.poll(&self.sh)
    }

    /// Pass the time in (nanoseconds, the caller's time base; it never goes back:
    /// earlier values are ignored), fire every timer that has expired, and poll. Returns
    /// how many completions and expirations it handled.
    pub fn tick(&mut self, now: u64) -> u32 {
        self.local.tick(&self.sh, now)
    }

    /// The earliest armed timer's deadline, to program a hardware timer for.
    pub fn next_deadline(&mut self) -> Option<u64> {
        self.local.next_deadline(&self.sh)
    }

    /// Complete a pending request from the ring's own context (tests, single-context
    /// firmware); an interrupt handler uses a [`Completer`] from [`Ring::split`].
    pub fn complete(&self, token: Token, res: i32) -> Result<(), CompleteError> {
        self.sh.mail.completer().complete(token, res)
    }

    /// Split the ring for use from several contexts: the [`Submitter`] (push SQEs, run
    /// the ring), the [`Reaper`] (pop CQEs) and a [`Completer`] (complete pending
    /// requests, `Copy`, for any number of interrupt handlers or cores). With a ring in
    /// a `static` (`&'static mut Ring`), all three are `'static`.
    pub fn split(&mut self) -> (Submitter<'_, SQ, CQ, N, ARGS>, Reaper<'_, CQ>, Completer<'_>) {
        let sh = &self.sh;
        (Submitter { local: &mut self.local, sh }, Reaper { cq: &sh.cq }, sh.mail.completer())
    }

    /// Consume SQEs as one `io_uring_enter(to_submit = all)` would, then run the
    /// resulting work (link successors, cancellations, drained requests) until none is
    /// left. Stops early on a submit-time failure (unless `SUBMIT_ALL`) or when the CQ
    /// or the in-flight table has no room ([`Stop::Backpressure`]): no CQE is ever
    /// dropped or overwritten.
    pub fn submit(&mut self) -> Submitted {
        self.local.submit(&self.sh)
    }

    resource_api!();
}

/// The submitting side of a split ring: push SQEs, run the ring. `Send`; one per ring.
pub struct Submitter<'a, const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize = 0> {
    local: &'a mut Local<SQ, CQ, N, ARGS>,
    sh: &'a Shared<CQ, N>,
}

impl<const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize> Submitter<'_, SQ, CQ, N, ARGS> {
    /// Queue an SQE; a full SQ hands it back.
    pub fn push(&mut self, sqe: Sqe) -> Result<(), Sqe> {
        self.local.sq.push(sqe)
    }

    /// The submission queue.
    pub fn sq(&mut self) -> &mut SubmissionQueue<SQ> {
        &mut self.local.sq
    }

    /// [`Ring::submit`].
    pub fn submit(&mut self) -> Submitted {
        self.local.submit(self.sh)
    }

    /// [`Ring::poll`].
    pub fn poll(&mut self) -> u32 {
        self.local.poll(self.sh)
    }

    /// [`Ring::tick`].
    pub fn tick(&mut self, now: u64) -> u32 {
        self.local.tick(self.sh, now)
    }

    /// [`Ring::next_deadline`].
    pub fn next_deadline(&mut self) -> Option<u64> {
        self.local.next_deadline(self.sh)
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> u32 {
        self.local.ex.t.nr_allocated()
    }

    /// SQ ring flags (see [`Ring::sq_flags`]).
    pub fn sq_flags(&self) -> SqRingFlags {
        self.local.sq_flags
    }

    /// [`Ring::params`].
    pub fn params(&self) -> &Params {
        self.local.params()
    }

    /// [`Ring::probe`].
    pub fn probe(&self) -> Probe {
        Probe::new(self.local.params.flags.contains(SetupFlags::BPF_EXT))
    }

    /// [`Ring::cq_reserved`].
    pub fn cq_reserved(&self) -> u32 {
        self.local.ex.cq.reserved()
    }

    resource_api!();
}

/// The reaping side of a split ring: pop CQEs, from another context than the
/// submitter's (an interrupt handler, another core). `Send`; one per ring.
pub struct Reaper<'a, const CQ: usize> {
    cq: &'a CqShared<CQ>,
}

impl<const CQ: usize> Reaper<'_, CQ> {
    /// Reap the oldest published CQE.
    pub fn pop(&mut self) -> Option<Cqe> {
        self.cq.pop()
    }

    /// The oldest published CQE, left in place.
    pub fn peek(&self) -> Option<Cqe> {
        self.cq.peek()
    }

    /// CQEs waiting.
    pub fn len(&self) -> u32 {
        self.cq.len()
    }

    /// Whether no CQE is waiting.
    pub fn is_empty(&self) -> bool {
        self.cq.is_empty()
    }
}

impl<const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize> Default for Ring<SQ, CQ, N, ARGS> {
    fn default() -> Self {
        Self::new()
    }
}
