//! `IORING_OP_BPF`: the op-slot opcode. Prep runs the slot's `prep` on a fresh pdu and
//! a staging area for buffer imports, committed to the request only when prep succeeds
//! (the seed's `io_uring_bpf_prep` plus P06's in-flight accounting); issue runs the
//! slot's `issue` and turns its answer into an outcome — done, failed, or pending with
//! a token or a [`PendingIo`](crate::PendingIo) out.

use crate::abi::errno::Errno;
use crate::abi::{Cqe, MAX_OP_SLOTS, SetupFlags, Sqe, bpf_op_slot, opcode};
use crate::buffer::{ImportsRef, MAX_IMPORTS, Staged};
use crate::engine::complete::Outcome;
use crate::engine::ring::Exec;
use crate::engine::table::{Idx, NIL, OpState, Req, ReqFlags};
use crate::queue::sq::SubmissionQueue;
use crate::slot::chain::ChainData;
use crate::slot::{Issue, IssueCx, OpVTable, Pdu, Pended, PrepCx, ReqInfo};

impl<const CQ: usize, const N: usize, const ARGS: usize> Exec<'_, CQ, N, ARGS> {
    /// `io_uring_bpf_prep` (seed) + P06's in-flight accounting. The op preps into a
    /// fresh pdu and a staging area for its buffer imports; the imports are committed to
    /// the request only when prep succeeds. The pdu is the request's either way: a
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
        let prep = vt.and_then(|v| v.prep).ok_or(Errno::EOPNOTSUPP)?;
        let mut pdu = Pdu::ZERO;
        let mut staged = [None; MAX_IMPORTS];
        let prepped = self.stage(prep, &info, sqe, &mut pdu, &mut staged);
        self.e.t[idx].rec.pdu = pdu;
        prepped?;
        self.commit(idx, slot, &staged);
        Ok(())
    }

    /// Run the op's prep on `pdu`, staging its imports in `staged` (all `None` on entry).
    #[inline(always)]
    fn stage(&self, prep: PrepFn, info: &ReqInfo, sqe: &Sqe, pdu: &mut Pdu, staged: &mut Staged) -> Result<(), Errno> {
        let mut cx =
            PrepCx { info, bufs: &self.e.bufs, owners: self.owners(), imports: staged, args: self.e.args.as_view() };
        prep(&mut cx, sqe, pdu)
    }

    /// A successful prep: the request needs its cleanup, holds its slot, and holds the
    /// buffer ranges it imported.
    fn commit(&mut self, idx: Idx, slot: u8, staged: &Staged) {
        let r = &mut self.e.t[idx];
        r.flags.insert(ReqFlags::NEED_CLEANUP);
        // Most ops import nothing: commit the staged imports only when there are some.
        if staged[0].is_some() {
            for (imp, s) in r.imports.iter_mut().zip(staged) {
                imp.assign(s.as_ref());
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
        let Req { rec, chain_data, imports, .. } = r;
        let imports = ImportsRef::Held(imports);
        let mail = self.sh.mail.slots();
        let mut cx = IssueCx {
            info: &rec.info,
            result: 0,
            mail,
            index: idx,
            generation,
            ring: self.sh.mail.id(),
            pended: Pended::No,
            chain: chain_data,
            bufs: &self.e.bufs,
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
    fn issued(&mut self, idx: Idx, generation: u64, outcome: Issue, res: i32, pended: Pended) -> Outcome {
        if pended != Pended::No {
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
                return Outcome::Pending;
            }
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

    /// Consume a run of standalone op-slot SQEs from the head of `sq`, at most `budget`
    /// (the CQ room): the op-slot fast path, for a `BPF_EXT` ring with no chain open and
    /// no drain pending.
    ///
    /// An SQE qualifies when its opcode is BPF with no IOSQE flags, ioprio 0, no
    /// personality, and its slot holds an op with a prep: the general path's checks of
    /// flags, drain and links then have nothing to find. Its record and the imports its
    /// prep stages live on the stack, and it is prepped and issued exactly as the general
    /// path would; a request that is done (or fails) at issue posts its CQE straight
    /// into the CQ room `budget` counted and runs its hooks without ever entering the
    /// in-flight table — nothing can observe the table, the slot's count, the buffers'
    /// holds or the CQ between its prep and its CQE, and no other request preps in
    /// between. Any other request (a failed prep, pending, a retry) moves into the table
    /// entry the next allocation gives — the index its token, if any, already names —
    /// holds its imports there, and continues as the general path does.
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
        while n < budget && self.e.t.nr_free() != 0 {
            let sqe = sq.peek(0);
            if sqe.head_word() != opcode::BPF as u32 || sqe.personality != 0 {
                break;
            }
            let slot = bpf_op_slot(sqe.op_flags);
            // A bad or empty slot fails prep: the general path posts that.
            let Some(vt) = self.e.slots.active(slot) else { break };
            let Some(prep) = vt.prep else { break };
            let info = ReqInfo::new(sqe.user_data, sqe.op_flags, slot, 0);
            let buf_group = sqe.buf_index;
            let mut pdu = Pdu::ZERO;
            let mut staged = [None; MAX_IMPORTS];
            let prepped = self.stage(prep, &info, sqe, &mut pdu, &mut staged);
            sq.advance_by(1);
            n += 1;
            if let Err(e) = prepped {
                let idx = self.enter(&info, vt, buf_group, &pdu);
                self.e.cq.reserve();
                if !self.submit_fail_init(idx, e) {
                    return (n, true);
                }
                continue;
            }
            // The imports prep staged are the request's alone while it is on the stack:
            // no other request can prep before it either completes or enters the table,
            // holding them there.
            let imports = ImportsRef::Staged(&staged);
            // A standalone request's chain record: zero, and its own.
            let mut chain = ChainData::ZERO;
            // The entry the request takes if it has to enter the table: its token names it.
            let index = self.e.t.next_free();
            let (outcome, res, pended, generation) = match vt.issue {
                None => (Issue::Done, 0, Pended::No, 0),
                Some(issue) => {
                    let generation = self.e.next_generation(&self.sh.mail);
                    let mut cx = IssueCx {
                        info: &info,
                        result: 0,
                        mail: self.sh.mail.slots(),
                        index,
                        generation,
                        ring: self.sh.mail.id(),
                        pended: Pended::No,
                        chain: &mut chain,
                        bufs: &self.e.bufs,
                        imports,
                        args: self.e.args.as_mut_view(),
                        buf_group,
                    };
                    let outcome = issue(&mut cx, &mut pdu);
                    (outcome, cx.result, cx.pended, generation)
                }
            };
            let res = match (outcome, pended) {
                (Issue::Done, Pended::No) => res,
                (Issue::Err(e), Pended::No) if e != Errno::EAGAIN => {
                    if let Some(fail) = vt.fail {
                        fail(&info, &mut pdu);
                    }
                    e.res()
                }
                _ => {
                    let idx = self.enter(&info, vt, buf_group, &pdu);
                    debug_assert_eq!(idx, index, "a token names the entry the request takes");
                    self.commit(idx, slot, &staged);
                    self.e.t[idx].chain_data = chain;
                    self.e.cq.reserve();
                    let outcome = self.issued(idx, generation, outcome, res, pended);
                    self.settle(idx, outcome);
                    continue;
                }
            };
            self.e.cq.post_unreserved(&self.sh.cq, Cqe::new(info.user_data(), res));
            self.e.posted = self.e.posted.wrapping_add(1);
            // Counted as allocated until the end of the pass, as Linux counts them.
            self.e.freed_early += 1;
            if let Some(cleanup) = vt.cleanup {
                cleanup(&info, &mut pdu);
            }
        }
        (n, false)
    }

    /// Move a standalone op request built on the stack into the table entry the next
    /// allocation gives, as the general path's init and prep leave it.
    fn enter(&mut self, info: &ReqInfo, vt: &'static OpVTable, buf_group: u16, pdu: &Pdu) -> Idx {
        let idx = self.e.t.alloc();
        let r = &mut self.e.t[idx];
        r.opcode = opcode::BPF;
        r.flags = ReqFlags::empty();
        r.link = NIL;
        r.lt = NIL;
        r.res = 0;
        r.chain_data = ChainData::ZERO;
        r.rec.info = *info;
        r.rec.pdu = *pdu;
        r.vt = Some(vt);
        r.state = OpState::Bpf { buf_group };
        idx
    }
}

/// An op's prep callback.
type PrepFn = fn(&mut PrepCx<'_>, &Sqe, &mut Pdu) -> Result<(), Errno>;
