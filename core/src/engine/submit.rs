//! Consuming SQEs: validation in Linux's order, link-chain assembly, submit-time failures.
//!
//! This mirrors `io_submit_sqe` / `io_init_req` / `io_submit_fail_init` of Linux
//! io_uring step for step, because the CQEs a batch produces — which ones, their errnos,
//! their order — fall out of exactly that order of checks:
//!
//! - An SQE that fails validation still joins the chain it is in through its own LINK
//!   bits (C-LINK-11); the chain's head is failed with -ECANCELED and never issued
//!   (C-LINK-8); hardlinks do not protect against submit-time failures (C-LINK-12).
//! - A failing SQE without LINK bits ends the submit call unless `SUBMIT_ALL` (C-OP-2,
//!   C-OP-3); the count returned includes it (C-FLAG-2).
//! - CQE_SKIP_SUCCESS on any SQE disables drain for the ring's lifetime (C-SKIP-10).

use crate::abi::errno::Errno;
use crate::abi::{NopFlags, Sqe, SqeFlags, opcode};
use crate::buffer::Owners;
use crate::engine::drain::Drain;
use crate::engine::ring::Exec;
use crate::engine::table::{Idx, NIL, ReqFlags};
use crate::queue::sq::SubmissionQueue;

/// IOSQE flags that take no special handling at submit (Linux's `SQE_COMMON_FLAGS`).
const COMMON_FLAGS: u8 =
    SqeFlags::FIXED_FILE.bits() | SqeFlags::IO_LINK.bits() | SqeFlags::IO_HARDLINK.bits() | SqeFlags::ASYNC.bits();

/// Per-opcode properties the submit path checks (Linux's `io_issue_def`).
struct OpDef {
    /// Non-zero `ioprio` allowed.
    ioprio: bool,
    /// IOSQE_BUFFER_SELECT allowed.
    buffer_select: bool,
    /// Needs 128-byte SQEs (fwring has only 64-byte SQEs: -EINVAL).
    is_128: bool,
}

const fn opdef(op: u8) -> OpDef {
    match op {
        // Op slots may stream from a provided-buffer group (IssueCx::multishot); without
        // the `multishot` feature IOSQE_BUFFER_SELECT is -EOPNOTSUPP, as Linux answers
        // for an opcode without buffer select.
        opcode::BPF => OpDef { ioprio: false, buffer_select: cfg!(feature = "multishot"), is_128: false },
        opcode::NOP | opcode::TIMEOUT | opcode::TIMEOUT_REMOVE | opcode::LINK_TIMEOUT | opcode::ASYNC_CANCEL => {
            OpDef { ioprio: false, buffer_select: false, is_128: false }
        }
        opcode::NOP128 | opcode::URING_CMD128 => OpDef { ioprio: false, buffer_select: false, is_128: true },
        // Opcodes fwring does not build in pass the generic checks and then fail prep
        // with -EOPNOTSUPP, like a kernel built without them.
        _ => OpDef { ioprio: true, buffer_select: true, is_128: false },
    }
}

impl<const CQ: usize, const N: usize, const ARGS: usize> Exec<'_, CQ, N, ARGS> {
    /// Consume a run of standalone NOPs from the head of `sq`, at most `budget`, posting
    /// their CQEs directly: the fast path, for a ring with no chain open and no drain
    /// pending. Stops at the first SQE that needs more than that. Produces exactly the
    /// CQEs the general path would. Returns how many SQEs it consumed.
    #[inline(never)]
    pub(crate) fn submit_inline_nops<const SQ: usize>(&mut self, sq: &mut SubmissionQueue<SQ>, budget: u32) -> u32 {
        let n = self.submit_inline_nops_here(sq, budget);
        // Counted as allocated until the end of the pass, as Linux counts them.
        self.e.freed_early += n;
        n
    }

    /// [`Exec::submit_inline_nops`], in line in its caller, which counts the requests as
    /// freed early if the pass goes on.
    #[inline(always)]
    pub(crate) fn submit_inline_nops_here<const SQ: usize>(
        &mut self,
        sq: &mut SubmissionQueue<SQ>,
        budget: u32,
    ) -> u32 {
        let (sqes, sqi) = sq.consumer();
        let mut k = sqi.head;
        let n = self.e.cq.post_run(&self.sh.cq, budget, || {
            let sqe = &sqes[sqi.slot::<SQ>(k)];
            k = k.wrapping_add(1);
            standalone_nop(sqe)
        });
        sq.advance_by(n);
        self.e.posted = self.e.posted.wrapping_add(n);
        n
    }

    /// Consume a run of NOP link chains (and standalone NOPs among them) from the head of
    /// `sq`, `avail` SQEs long, without the in-flight table: a NOP's prep and result are
    /// fixed by its SQE, so the whole run's CQEs — and the pass each member completes in
    /// — are known before any is posted. They are written straight into the CQ in
    /// Linux's pass order (C-LINK-4): pass 0 holds every chain's head and every
    /// standalone NOP in submission order, pass `k` every chain's member `k`.
    ///
    /// Only on a ring with no chain open, no drain, nothing queued for a later pass, no
    /// counting timeout and no stream to post, so the run's passes are the only ones of
    /// the call. The run is everything up to the end of the SQ; or up to the first chain
    /// the general path would not admit (CQ room, in-flight table entries) — then the
    /// call stops there, as the general path would. Nothing is consumed
    /// (`ChainRun::Declined`, the general path takes the SQEs) if any member is not a plain
    /// NOP, a chain is longer than [`RUN_PASSES`] or than the ring can hold, or a member
    /// with LINK fails (its chain's cancellations are the general path's business).
    #[inline(never)]
    pub(crate) fn submit_nop_chains<const SQ: usize>(&mut self, sq: &mut SubmissionQueue<SQ>, avail: u32) -> ChainRun {
        let (sqes, sqi) = sq.consumer();
        let at = |i: u32| &sqes[sqi.slot::<SQ>(sqi.head.wrapping_add(i))];
        let cq_room = self.e.cq.room(&self.sh.cq);
        let free = self.e.t.nr_free();
        let max_len = (self.e.max_chain() as usize).min(RUN_PASSES);
        // First walk: the run's extent, every member checked, the CQEs of each pass.
        let mut per_pass = PerPass([0u32; RUN_PASSES]);
        let per_pass = &mut per_pass.0;
        // `m` SQEs in whole chains so far, `held` of them in chains; the current one has
        // `k` members before `i`.
        let (mut m, mut held, mut k, mut i) = (0, 0, 0, 0);
        let mut full = false;
        while i < avail {
            let sqe = at(i);
            let links = sqe.flags & SqeFlags::LINKS.bits();
            let Some(res) = plain_nop_result(sqe) else { return ChainRun::Declined };
            if res < 0 && links == SqeFlags::IO_LINK.bits() {
                return ChainRun::Declined;
            }
            per_pass[k % RUN_PASSES] += 1;
            i += 1;
            k += 1;
            // A chain left open at the end of the SQ runs as submitted (C-LINK-7).
            if links != 0 && i != avail {
                if k == max_len {
                    return ChainRun::Declined;
                }
                continue;
            }
            // Admitted as the general path admits it: while the CQ has room, and the
            // table has entries for it beside those the pass's chains hold to its end (a
            // standalone NOP gives its own back at once). The run takes none, but what
            // a submit consumes does not depend on the path it takes.
            if i > cq_room || k as u32 > free - held {
                for n in per_pass.iter_mut().take(k) {
                    *n -= 1;
                }
                full = true;
                break;
            }
            if k > 1 {
                held += k as u32;
            }
            m = i;
            k = 0;
        }
        if m == 0 {
            return ChainRun::Declined;
        }
        // Second walk: each CQE into its place, pass by pass. Each pass's count becomes
        // the CQ index its next CQE goes to.
        let mut next = self.e.cq.tail();
        for n in per_pass.iter_mut() {
            (*n, next) = (next, next.wrapping_add(*n));
        }
        let place = per_pass;
        let mut k = 0;
        for i in 0..m {
            let sqe = at(i);
            let p = &mut place[k % RUN_PASSES];
            self.e.cq.post_at(&self.sh.cq, *p, &crate::abi::Cqe::new(sqe.user_data, inject_result(sqe)));
            *p = p.wrapping_add(1);
            k = if sqe.flags & SqeFlags::LINKS.bits() != 0 { k + 1 } else { 0 };
        }
        self.e.cq.advance(m);
        sq.advance_by(m);
        self.e.posted = self.e.posted.wrapping_add(m);
        // Counted as allocated until the end of the pass, as Linux counts them.
        self.e.freed_early += m;
        ChainRun::Consumed { n: m, full }
    }

    /// [`Exec::submit_inline_nops_here`] for an SQ holding one SQE: a firmware loop
    /// submitting one request per interrupt pays no loop set-up.
    #[inline(always)]
    pub(crate) fn submit_one_nop<const SQ: usize>(&mut self, sq: &mut SubmissionQueue<SQ>) -> u32 {
        let Some(cqe) = standalone_nop(sq.peek(0)) else { return 0 };
        if !self.e.cq.has_room(&self.sh.cq) {
            return 0;
        }
        self.e.cq.post_unreserved(&self.sh.cq, cqe);
        sq.advance_by(1);
        self.e.posted = self.e.posted.wrapping_add(1);
        1
    }

    /// Consume one SQE through the general path. Returns `false` when it failed at
    /// submit time outside a chain (the submit call ends there unless SUBMIT_ALL).
    pub(crate) fn submit_sqe(&mut self, sqe: &Sqe) -> bool {
        self.e.cq.reserve();
        let idx = self.e.t.alloc();
        match self.init_req(idx, sqe) {
            Ok(()) => {
                self.submit_ready(idx);
                true
            }
            Err(e) => self.submit_fail_init(idx, e),
        }
    }

    /// A request that passed init: join the open chain, start one, or issue it.
    fn submit_ready(&mut self, idx: Idx) {
        if self.e.link.head != NIL {
            self.e.t[self.e.link.tail].link = idx;
            self.e.link.tail = idx;
            if self.e.t[idx].flags.intersects(ReqFlags::LINKS) {
                return;
            }
            // Last member: the chain is complete, queue its head.
            let head = self.close_chain();
            if self.e.t[head].flags.intersects(ReqFlags::FORCE_ASYNC | ReqFlags::FAIL) {
                self.queue_fallback(head);
            } else {
                self.queue_sqe(head);
            }
            return;
        }
        let flags = self.e.t[idx].flags;
        if flags.intersects(ReqFlags::LINKS) {
            self.e.link.head = idx;
            self.e.link.tail = idx;
        } else if flags.intersects(ReqFlags::FORCE_ASYNC | ReqFlags::FAIL) {
            self.queue_fallback(idx);
        } else {
            self.queue_sqe(idx);
        }
    }

    /// `io_submit_fail_init`: fail the request and the chain it is in.
    pub(crate) fn submit_fail_init(&mut self, idx: Idx, err: Errno) -> bool {
        self.fail_link_node(idx, err.res());
        let head = self.e.link.head;
        if head != NIL && !self.e.t[head].flags.contains(ReqFlags::FAIL) {
            self.fail_link_node(head, Errno::ECANCELED.res());
        }
        if !self.e.t[idx].flags.intersects(ReqFlags::LINKS) {
            let mut first = idx;
            if head != NIL {
                self.e.t[self.e.link.tail].link = idx;
                self.e.link.tail = idx;
                first = self.close_chain();
            } else {
                self.e.t[idx].flags.remove(ReqFlags::OPEN_CHAIN);
            }
            self.queue_fallback(first);
            return false;
        }
        if head != NIL {
            self.e.t[self.e.link.tail].link = idx;
        } else {
            self.e.link.head = idx;
        }
        self.e.link.tail = idx;
        true
    }

    /// `req_fail_link_node`: mark failed with `res`.
    pub(crate) fn fail_link_node(&mut self, idx: Idx, res: i32) {
        self.req_set_fail(idx);
        self.e.t[idx].res = res;
    }

    /// `req_set_fail`: a failing CQE_SKIP request posts its own CQE and silences the
    /// CQEs of the members it cancels (C-SKIP-2, C-SKIP-5). Out of line: called from
    /// eight failure paths, none hot.
    #[inline(never)]
    pub(crate) fn req_set_fail(&mut self, idx: Idx) {
        let f = &mut self.e.t[idx].flags;
        f.insert(ReqFlags::FAIL);
        if f.contains(ReqFlags::CQE_SKIP) {
            f.remove(ReqFlags::CQE_SKIP);
            f.insert(ReqFlags::SKIP_LINK_CQES);
        }
    }

    /// `io_init_req`: the checks every SQE goes through, in Linux's order.
    fn init_req(&mut self, idx: Idx, sqe: &Sqe) -> Result<(), Errno> {
        let sqe_flags = sqe.flags;
        {
            let r = &mut self.e.t[idx];
            r.opcode = sqe.opcode;
            r.flags = ReqFlags::from_bits_retain(sqe_flags as u32);
            r.rec.info.set_user_data(sqe.user_data);
            r.link = NIL;
            r.vt = None;
            r.res = 0;
            if self.e.link.head != NIL || sqe_flags & SqeFlags::LINKS.bits() != 0 {
                r.flags.insert(ReqFlags::OPEN_CHAIN);
            }
            r.lt = NIL;
            r.chain_data = crate::slot::chain::ChainData::ZERO;
        }
        // The common SQE — a NOP or an op-slot op, no flags but the link bits, ioprio 0,
        // no personality, no drain in effect — passes every check below unchanged.
        let common = (sqe.opcode == opcode::NOP || sqe.opcode == opcode::BPF)
            && sqe_flags & !SqeFlags::LINKS.bits() == 0
            && (sqe.ioprio as u32 | sqe.personality as u32) == 0
            && self.e.drain.is_empty();
        if !common {
            self.init_checks(idx, sqe)?;
        }
        match sqe.opcode {
            opcode::NOP => crate::builtin::nop::prep(&mut self.e.t[idx], sqe, self.e.flags),
            opcode::BPF => self.prep_bpf(idx, sqe),
            #[cfg(feature = "timeouts")]
            opcode::TIMEOUT => self.prep_timeout(idx, sqe, false),
            #[cfg(feature = "timeouts")]
            opcode::LINK_TIMEOUT => self.prep_timeout(idx, sqe, true),
            #[cfg(feature = "timeouts")]
            opcode::TIMEOUT_REMOVE => self.prep_timeout_remove(idx, sqe),
            #[cfg(feature = "timeouts")]
            opcode::ASYNC_CANCEL => self.prep_cancel(idx, sqe),
            _ => Err(Errno::EOPNOTSUPP),
        }
    }

    /// `io_init_req`'s checks of the opcode, the flags (drain among them), ioprio and
    /// personality, in Linux's order.
    #[inline(never)]
    fn init_checks(&mut self, idx: Idx, sqe: &Sqe) -> Result<(), Errno> {
        let sqe_flags = sqe.flags;
        if sqe.opcode >= opcode::LAST {
            self.e.t[idx].opcode = opcode::NOP;
            return Err(Errno::EINVAL);
        }
        let def = opdef(sqe.opcode);
        if def.is_128 {
            return Err(Errno::EINVAL);
        }
        if sqe_flags & !COMMON_FLAGS != 0 {
            if sqe_flags & !SqeFlags::all().bits() != 0 {
                return Err(Errno::EINVAL);
            }
            if sqe_flags & SqeFlags::BUFFER_SELECT.bits() != 0 && !def.buffer_select {
                return Err(Errno::EOPNOTSUPP);
            }
            if sqe_flags & SqeFlags::CQE_SKIP_SUCCESS.bits() != 0 {
                self.e.drain_disabled = true;
            }
            if sqe_flags & SqeFlags::IO_DRAIN.bits() != 0 {
                if self.e.drain_disabled {
                    return Err(Errno::EOPNOTSUPP);
                }
                self.init_drain();
            }
        }
        if !self.e.drain.is_empty() {
            if self.e.drain.contains(Drain::ACTIVE) {
                self.e.t[idx].flags.insert(ReqFlags::FORCE_ASYNC);
            }
            // The request after a chain that contained a drain is itself drained.
            if self.e.drain.contains(Drain::NEXT) && self.e.link.head == NIL {
                self.e.drain.remove(Drain::NEXT);
                self.e.drain.insert(Drain::ACTIVE);
                self.e.t[idx].flags.insert(ReqFlags::IO_DRAIN | ReqFlags::FORCE_ASYNC);
            }
        }
        if !def.ioprio && sqe.ioprio != 0 {
            return Err(Errno::EINVAL);
        }
        // No personalities are ever registered: any id fails its lookup.
        if sqe.personality != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    /// `io_queue_sqe_fallback`: the slow way in for failed, forced-async and drained
    /// requests.
    pub(crate) fn queue_fallback(&mut self, idx: Idx) {
        if self.e.t[idx].flags.contains(ReqFlags::FAIL) {
            // Failing at submit: cancel the whole chain, hardlinks included (C-LINK-12).
            let f = &mut self.e.t[idx].flags;
            f.remove(ReqFlags::HARDLINK);
            f.insert(ReqFlags::LINK);
            let res = self.e.t[idx].res;
            self.defer_failed(idx, res);
        } else if self.e.drain.contains(Drain::ACTIVE) {
            self.drain_req(idx);
        } else {
            // Linux hands these to an io-wq worker; fwring has none and issues inline.
            self.queue_sqe(idx);
        }
    }

    /// The chain being assembled cannot grow (end of the SQ, or the ring's capacity is
    /// reached): run it as submitted (C-LINK-7).
    pub(crate) fn end_open_chain(&mut self) {
        if self.e.link.head != NIL {
            let head = self.close_chain();
            self.queue_fallback(head);
        }
    }

    /// Close the chain being assembled: its members stop counting as open (see
    /// [`ReqFlags::OPEN_CHAIN`]). Returns its head.
    fn close_chain(&mut self) -> Idx {
        let head = self.e.link.take().head;
        let mut i = head;
        while i != NIL {
            let r = &mut self.e.t[i];
            r.flags.remove(ReqFlags::OPEN_CHAIN);
            i = r.link;
        }
        head
    }

    /// Buffer ownership as a request being prepared now sees it.
    pub(crate) fn owners(&self) -> Owners<'_> {
        Owners { holders: &self.e.t, in_chain: self.e.link.head != NIL }
    }
}

/// Longest chain [`Exec::submit_nop_chains`] runs: the passes it counts CQEs for.
pub(crate) const RUN_PASSES: usize = 8;

/// [`Exec::submit_nop_chains`]'s CQE count per pass, 8-aligned: its zeroing is then the
/// same `__aeabi_memclr8` the rest of the ring links on 32-bit Arm, not a second copy of
/// that routine (`__aeabi_memclr4`, 174 bytes on a Cortex-M4).
#[repr(align(8))]
struct PerPass([u32; RUN_PASSES]);

/// What [`Exec::submit_nop_chains`] did.
pub(crate) enum ChainRun {
    /// Nothing consumed: the general path takes the SQEs.
    Declined,
    /// `n` SQEs consumed; `full`: the next chain did not fit, the call stops there.
    Consumed { n: u32, full: bool },
}

/// The result of a NOP whose prep cannot fail — opcode NOP, no SQE flags but
/// `flags_allowed`, ioprio 0, no `nop_flags` but INJECT_RESULT, no personality — or
/// `None` for any other SQE, which takes the general path.
#[inline(always)]
fn plain_nop(sqe: &Sqe, flags_allowed: u8) -> Option<i32> {
    let extra = (sqe.head_word() & !((flags_allowed as u32) << 8))
        | (sqe.op_flags & !NopFlags::INJECT_RESULT.bits())
        | sqe.personality as u32;
    (extra == 0).then(|| inject_result(sqe))
}

/// The CQE of a standalone NOP (no flags at all: the SQE's first word is 0).
#[inline(always)]
fn standalone_nop(sqe: &Sqe) -> Option<crate::abi::Cqe> {
    plain_nop(sqe, 0).map(|res| crate::abi::Cqe::new(sqe.user_data, res))
}

/// The result of a NOP that may be a chain member (link bits allowed).
#[inline(always)]
fn plain_nop_result(sqe: &Sqe) -> Option<i32> {
    plain_nop(sqe, SqeFlags::LINKS.bits())
}

/// A NOP's result: `len` with INJECT_RESULT, else 0.
#[inline(always)]
fn inject_result(sqe: &Sqe) -> i32 {
    (sqe.len & (sqe.op_flags & NopFlags::INJECT_RESULT.bits()).wrapping_neg()) as i32
}
