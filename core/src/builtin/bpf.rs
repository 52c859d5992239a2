//! `IORING_OP_BPF`: the op-slot opcode. Prep runs the slot's `prep` on a fresh pdu and
//! a staging area for buffer imports, committed to the request only when prep succeeds
//! (the seed's `io_uring_bpf_prep` plus P06's in-flight accounting); issue runs the
//! slot's `issue` and turns its answer into an outcome — done, failed, or pending with
//! a token or a [`PendingIo`](crate::PendingIo) out.

use crate::abi::errno::Errno;
use crate::abi::{MAX_OP_SLOTS, SetupFlags, Sqe, bpf_op_slot};
use crate::buffer::MAX_IMPORTS;
use crate::engine::complete::Outcome;
use crate::engine::ring::Exec;
use crate::engine::table::{Idx, OpState, Req, ReqFlags};
use crate::slot::{Issue, IssueCx, Pdu, Pended, PrepCx};

impl<const CQ: usize, const N: usize, const ARGS: usize> Exec<'_, CQ, N, ARGS> {
    /// `io_uring_bpf_prep` (seed) + P06's in-flight accounting. The op preps into a
    /// fresh pdu and a staging area for its buffer imports; both are committed to the
    /// request only when prep succeeds.
    pub(crate) fn prep_bpf(&mut self, idx: Idx, sqe: &Sqe) -> Result<(), Errno> {
        if !self.e.flags.contains(SetupFlags::BPF_EXT) {
            return Err(Errno::EOPNOTSUPP);
        }
        let slot = bpf_op_slot(sqe.op_flags);
        if slot as usize >= MAX_OP_SLOTS {
            return Err(Errno::EINVAL);
        }
        let vt = self.e.slots.active(slot);
        let r = &mut self.e.t[idx];
        r.rec.info.set(sqe.user_data, sqe.op_flags, slot, sqe.flags);
        r.vt = vt;
        // IOSQE_BUFFER_SELECT: the group a multishot issue streams from.
        r.state = OpState::Bpf { buf_group: sqe.buf_index };
        let info = r.rec.info;
        let prep = vt.and_then(|v| v.prep).ok_or(Errno::EOPNOTSUPP)?;
        let mut pdu = Pdu::ZERO;
        let mut staged = [None; MAX_IMPORTS];
        let mut cx = PrepCx {
            info: &info,
            bufs: &self.e.bufs,
            owners: self.owners(),
            imports: &mut staged,
            args: self.e.args.as_view(),
        };
        prep(&mut cx, sqe, &mut pdu)?;
        let r = &mut self.e.t[idx];
        r.rec.pdu = pdu;
        r.flags.insert(ReqFlags::NEED_CLEANUP);
        // Most ops import nothing: commit the staged imports only when there are some.
        if staged[0].is_some() {
            for (imp, s) in r.imports.iter_mut().zip(&staged) {
                imp.assign(s.as_ref());
                self.e.bufs.hold(imp);
            }
            r.flags.insert(ReqFlags::HAS_IMPORTS);
        }
        self.e.slots.hold(slot);
        Ok(())
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
                || !crate::engine::completion::withdraw(mail, idx, generation, false)
            {
                let f = &mut self.e.t[idx].flags;
                f.insert(ReqFlags::PENDING);
                f.set(ReqFlags::CANCELABLE, matches!(pended, Pended::Cancelable | Pended::Multishot));
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
            Issue::SkipComplete | Issue::Pending => Outcome::Failed(Errno::EINVAL),
        }
    }
}
