//! `IORING_OP_BPF`: the op-slot opcode. Prep runs the slot's `prep` on a fresh pdu,
//! making buffer imports in the request's entry, held only when prep succeeds (the
//! seed's `io_uring_bpf_prep` plus P06's in-flight accounting); issue runs the
//! slot's `issue` and turns its answer into an outcome — done, failed, or pending with
//! a token or a [`PendingIo`](crate::PendingIo) out.

use crate::abi::errno::Errno;
use crate::abi::{Cqe, MAX_OP_SLOTS, SetupFlags, Sqe, bpf_op_slot, opcode};
use crate::buffer::{ImportsRef, MAX_IMPORTS, Owners};
use crate::engine::complete::Outcome;
use crate::engine::ring::Exec;
use crate::engine::table::{Idx, NIL, OpState, Req, ReqFlags};
use crate::queue::sq::SubmissionQueue;
use crate::slot::run::{Run, Spilled};
use crate::slot::{Env, Issue, IssueCx, OpVTable, Pdu, Pended, PrepCx, Record, ReqInfo};

impl<const CQ: usize, const N: usize, const ARGS: usize> Exec<'_, CQ, N, ARGS> {
    /// `io_uring_bpf_prep` (seed) + P06's in-flight accounting. The op preps into a
    /// fresh pdu and makes its buffer imports in the request's entry; the request holds
    /// them only when prep succeeds. The pdu is the request's either way: a
    /// failed prep's fail hook sees what prep wrote before failing (zeros for a typed
    /// [`Op`](crate::Op), whose prep writes only on success).
    pub(crate) fn prep_bpf(&mut self, idx: Idx, sqe: &Sqe) -> Result<(), Errno> {
        if !self.e.flags.contains(SetupFlags::BPF_EXT) {
            return Err(Errno::EOPNOTSUPP);
        }
        let slot = bpf_op_slot(sqe.op_flags);
        if slot as usize >= MAX_OP_SLOTS {
            return Err(Errno::EINVAL);
        }
        let vt = self.e.slots.active(slot);
        let info = ReqInfo::new(sqe.user_data, sqe.op_flags, slot, sqe.flags);
        let r = &mut self.e.t[idx];
        r.rec.info = info;
        r.vt = vt;
        // IOSQE_BUFFER_SELECT: the group a multishot issue streams from.
        r.state = OpState::Bpf { buf_group: sqe.buf_index };
        // A fresh pdu: a failed prep's fail hook sees it as prep left it (not the bytes
        // the entry's previous request left), and a table without prep a zero one.
        r.rec.pdu = Pdu::ZERO;
        let Some(prep) = vt.and_then(|v| v.prep) else {
            return Err(Errno::EOPNOTSUPP);
        };
        let (prepped, staged) = self.stage(prep, idx, sqe);
        prepped?;
        self.commit(idx, slot, staged);
        Ok(())
    }

    /// Run the op's prep on request `idx`'s record, its pdu fresh, making its imports in
    /// the entry in place; also answers how many it made.
    #[inline(always)]
    fn stage(&mut self, prep: PrepFn, idx: Idx, sqe: &Sqe) -> (Result<(), Errno>, usize) {
        // The request's own entry holds nothing yet: the others answer for the table.
        let in_chain = self.e.link.head != NIL;
        let (entry, others) = self.e.t.split_entry(idx);
        let owners = Owners { holders: &others, in_chain };
        let (bufs, args) = (&self.e.bufs, self.e.args.as_view());
        // The entry's own info: a context built from a local copy would keep a second
        // copy on the stack.
        let Req { rec: Record { info, pdu }, imports, .. } = entry;
        let mut cx = PrepCx { info, bufs, owners, imports, staged: 0, args };
        (prep(&mut cx, sqe, pdu), cx.staged)
    }

    /// A successful prep that made `staged` imports: the request needs its cleanup,
    /// holds its slot, and holds the buffer ranges it imported.
    fn commit(&mut self, idx: Idx, slot: u8, staged: usize) {
        // Most ops import nothing: their entry's imports stay as they are, unused.
        let imported = staged > 0;
        if imported {
            crate::buffer::seal(&mut self.e.t[idx].imports, staged);
        }
        self.hold(idx, slot, imported);
    }

    /// Request `idx`, prepped, needs its cleanup and holds its slot and, if it
    /// `imported`, the buffer ranges of its imports.
    fn hold(&mut self, idx: Idx, slot: u8, imported: bool) {
        let r = &mut self.e.t[idx];
        r.flags.insert(ReqFlags::NEED_CLEANUP);
        if imported {
            for imp in &r.imports {
                self.e.bufs.hold(imp);
            }
            r.flags.insert(ReqFlags::HAS_IMPORTS);
        }
        self.e.slots.hold(slot);
    }

    /// `io_uring_bpf_issue`, plus fwring's pending completion.
    pub(crate) fn issue_bpf(&mut self, idx: Idx) -> Outcome {
        // The generation this request goes pending under, if it does.
        let generation = self.e.next_generation(&self.sh.mail);
        let r = &mut self.e.t[idx];
        let Some(issue) = r.vt.and_then(|v| v.issue) else {
            r.res = 0;
            return Outcome::Complete;
        };
        let buf_group = r.buf_group();
        // Its imports, if its prep made some (else the entry's mean nothing).
        let made = if r.flags.contains(ReqFlags::HAS_IMPORTS) { MAX_IMPORTS } else { 0 };
        let Req { rec, chain_data, imports, .. } = r;
        let imports = ImportsRef::new(imports, made);
        let env =
            Env { bufs: &self.e.bufs, mail: self.sh.mail.slots(), ring: self.sh.mail.id(), index: idx, generation };
        let mut cx = IssueCx {
            info: &rec.info,
            result: 0,
            env: &env,
            pended: Pended::No,
            chain: chain_data,
            imports,
            args: self.e.args.as_mut_view(),
            buf_group,
        };
        let outcome = issue(&mut cx, &mut rec.pdu);
        let (res, pended) = (cx.result, cx.pended);
        self.issued(idx, generation, outcome, res, pended)
    }

    /// What the op's issue answered, applied to request `idx`: pending if a token is out
    /// and the op asked for it (or its buffers are out); else done or failed.
    #[inline]
    fn issued(&mut self, idx: Idx, generation: u64, outcome: Issue, res: i32, pended: Pended) -> Outcome {
        if pended != Pended::No
            && let Some(o) = self.issued_pended(idx, generation, outcome, pended)
        {
            return o;
        }
        let r = &mut self.e.t[idx];
        match outcome {
            Issue::Done => {
                r.res = res;
                if res < 0 {
                    self.req_set_fail(idx);
                }
                Outcome::Complete
            }
            Issue::Err(e) => Outcome::Failed(e),
            // "Complete later" with no token out (C-BPF-9).
            Issue::Pending => Outcome::Failed(Errno::EINVAL),
        }
    }

    /// [`Exec::issued`] for an op that has a token out: `Some(Pending)` if it stays
    /// pending, `None` if the token was taken back and the answer decides.
    #[inline(never)]
    fn issued_pended(&mut self, idx: Idx, generation: u64, outcome: Issue, pended: Pended) -> Option<Outcome> {
        // A token is out: the generation is used.
        self.e.gen_next = generation.wrapping_add(1) & crate::engine::completion::GEN_MASK;
        self.e.t[idx].generation = generation;
        // Pending as asked; or, if the op answered otherwise, take the token back —
        // unless a completer already used it, which decides. With its buffers
        // handed out it stays pending whatever issue said.
        if outcome == Issue::Pending
            || pended == Pended::Lent
            || pended == Pended::Multishot
            || !crate::engine::completion::withdraw(self.sh.mail.slots(), idx, generation, false)
        {
            let f = &mut self.e.t[idx].flags;
            f.insert(ReqFlags::PENDING);
            f.set(ReqFlags::CANCELABLE, matches!(pended, Pended::Cancelable | Pended::Multishot));
            #[cfg(feature = "multishot")]
            if pended == Pended::Multishot {
                self.multishot_attach(idx);
            }
            return Some(Outcome::Pending);
        }
        None
    }

    /// Consume a run of standalone op-slot SQEs from the head of `sq`, at most `budget`
    /// (the CQ room): the op-slot fast path, for a `BPF_EXT` ring with no chain open and
    /// no drain pending.
    ///
    /// An SQE qualifies when its opcode is BPF with no IOSQE flags, ioprio 0, no
    /// personality, and its slot holds an op with a prep: the general path's checks of
    /// flags, drain and links then have nothing to find. Its table's one-call path
    /// ([`Run`], `slot/run.rs`) preps and issues it exactly as the general path would,
    /// from a record on the stack, its prep making its imports in the free entry it
    /// would take; a request that is done (or fails) at issue has run its hooks when the call returns, and its CQE goes
    /// straight into the CQ room `budget` counted, without the request ever entering the
    /// in-flight table — nothing can observe the table, the slot's count, the buffers'
    /// holds or the published CQ between its prep and its CQE, and no other request
    /// preps in between. Any other request (a failed prep, pending, a retry) is left in
    /// the table entry the next allocation gives — the index its token, if any, already
    /// names —, takes that entry, holds its imports there, and continues as the general
    /// path does.
    ///
    /// The ring's parts the callbacks see are lent once per run of requests that
    /// complete in line, not per SQE: none of them changes until a request enters the
    /// table.
    ///
    /// Stops at the first SQE that does not qualify, when the table is full, or after a
    /// submit-time failure; returns how many SQEs it consumed and whether the last one
    /// failed at submit time.
    #[inline(never)]
    pub(crate) fn submit_inline_ops<const SQ: usize>(
        &mut self,
        sq: &mut SubmissionQueue<SQ>,
        budget: u32,
    ) -> (u32, bool) {
        let mut n = 0;
        while n < budget {
            let generation = self.e.next_generation(&self.sh.mail);
            let in_chain = self.e.link.head != NIL;
            let Some((index, entry, others)) = self.e.t.split_next_free() else { break };
            let Req { rec, imports, chain_data, .. } = entry;
            let mut run = Run {
                env: Env { bufs: &self.e.bufs, mail: self.sh.mail.slots(), ring: self.sh.mail.id(), index, generation },
                owners: Owners { holders: &others, in_chain },
                args: self.e.args.as_mut_view(),
                rec,
                imports,
                chain: chain_data,
                spilled: None,
            };
            let mut spilled = None;
            let (sqes, sqi) = sq.consumer();
            let slots = &self.e.slots;
            let mut k = sqi.head;
            let done = self.e.cq.post_run(&self.sh.cq, budget - n, || {
                let sqe = &sqes[sqi.slot::<SQ>(k)];
                k = k.wrapping_add(1);
                if sqe.head_word() != opcode::BPF as u32 || sqe.personality != 0 {
                    return None;
                }
                // A bad or empty slot fails prep, and so does a table without prep (its
                // one-call path declines): the general path posts that.
                let vt = slots.active(bpf_op_slot(sqe.op_flags))?;
                let res = (vt.run)(&mut run, vt, sqe);
                if res.is_none() && run.spilled.is_some() {
                    spilled = Some((vt, sqe.buf_index));
                }
                Some(Cqe::new(sqe.user_data, res?))
            });
            let how = run.spilled;
            // The spilled request's SQE is consumed too.
            let taken = done + u32::from(spilled.is_some());
            sq.advance_by(taken);
            n += taken;
            self.e.posted = self.e.posted.wrapping_add(done);
            // Counted as allocated until the end of the pass, as Linux counts them.
            self.e.freed_early += done;
            let Some((vt, buf_group)) = spilled else { break };
            // By reference: moving the spill out of its `Option` is an odd-sized copy
            // that the Cortex-M4 build makes a `memcpy` call (and links `memcpy` in).
            let Some(how) = &how else { break };
            let idx = self.enter(vt, buf_group);
            debug_assert_eq!(idx, index, "a token names the entry the request takes");
            if !self.spilled(idx, how) {
                return (n, true);
            }
        }
        (n, false)
    }

    /// A request the one-call path left in the entry `idx` has just taken: on as the
    /// general path goes. `false` if it failed at submit time (its prep failed).
    #[inline(never)]
    fn spilled(&mut self, idx: Idx, how: &Spilled) -> bool {
        self.e.cq.reserve();
        match *how {
            Spilled::Prep(e) => self.submit_fail_init(idx, e),
            Spilled::Issued { outcome, res, pended, imported } => {
                let slot = self.e.t[idx].rec.info.slot();
                self.hold(idx, slot, imported);
                // The generation the run lent its issue: none was taken since.
                let generation = self.e.gen_next;
                let outcome = self.issued(idx, generation, outcome, res, pended);
                self.settle(idx, outcome);
                true
            }
        }
    }

    /// Allocate the entry a standalone op request was left in (its record, chain record
    /// and imports written there) and set the rest as the general path's init and prep
    /// leave it.
    fn enter(&mut self, vt: &'static OpVTable, buf_group: u16) -> Idx {
        let idx = self.e.t.alloc();
        let r = &mut self.e.t[idx];
        r.opcode = opcode::BPF;
        r.flags = ReqFlags::empty();
        r.link = NIL;
        r.lt = NIL;
        r.res = 0;
        r.vt = Some(vt);
        r.state = OpState::Bpf { buf_group };
        idx
    }
}

/// An op's prep callback.
type PrepFn = fn(&mut PrepCx<'_>, &Sqe, &mut Pdu) -> Result<(), Errno>;
