//! One call per standalone op-slot SQE: prep, issue and the hooks of a request that
//! completes at issue, run from a record on the stack without the request entering the
//! in-flight table (the op-slot fast path of `builtin/bpf.rs`).
//!
//! A typed [`Op`]'s table carries [`run_typed::<T>`](run_typed): the op's callbacks are
//! called directly, so the compiler sees through them — an op whose prep and issue are
//! small has them in line, its contexts never built in memory and its empty hooks gone.
//! A raw table (or a typed one with a callback replaced) carries [`run_raw`], which calls
//! the table's function pointers. Both do exactly what the general path does: the same
//! callbacks in the same order on the same record; whatever cannot finish here (a failed
//! prep, a request that goes pending, a retry) is handed back in a [`Spill`] for the
//! engine to move into the table.

use crate::abi::errno::Errno;
use crate::abi::{Sqe, bpf_op_slot};
use crate::buffer::{BufTable, ImportsRef, MAX_IMPORTS, Owners, Staged};
use crate::engine::completion::MailSlot;
use crate::slot::args::ArgsView;
use crate::slot::chain::ChainData;
use crate::slot::{Issue, IssueCx, Op, OpVTable, Pdu, Pended, PrepCx, ReqInfo};

/// What a run of standalone op-slot SQEs lends their callbacks: the parts of the ring a
/// prep or an issue may see, none of which changes while requests complete in line.
pub(crate) struct Run<'a> {
    pub bufs: &'a BufTable,
    pub owners: Owners<'a>,
    pub args: &'a mut ArgsView,
    pub mail: &'a [MailSlot],
    /// The ring's number (for `PendingIo`).
    pub ring: u32,
    /// The table entry a request takes if it has to enter the table: its token names it.
    pub index: u16,
    /// The generation a request goes pending under if it does.
    pub generation: u64,
    /// Where a request that cannot finish in line is left.
    pub spill: &'a mut Option<Spill>,
}

/// A request that could not finish in line, as its prep (and issue) left it.
pub(crate) struct Spill {
    pub info: ReqInfo,
    pub pdu: Pdu,
    pub buf_group: u16,
    /// The imports its prep staged (its issue's, if it was issued).
    pub staged: Staged,
    pub chain: ChainData,
    pub how: Spilled,
}

/// How far a spilled request got.
#[derive(Clone, Copy)]
pub(crate) enum Spilled {
    /// Its prep failed with this errno.
    Prep(Errno),
    /// It was issued and answered `outcome` with `res` set, having gone `pended`.
    Issued { outcome: Issue, res: i32, pended: Pended },
}

impl Spill {
    /// A request whose prep failed with `e`: nothing staged (its imports are dropped).
    fn prep_failed(info: ReqInfo, pdu: Pdu, buf_group: u16, e: Errno) -> Spill {
        let how = Spilled::Prep(e);
        Spill { info, pdu, buf_group, staged: [None; MAX_IMPORTS], chain: ChainData::ZERO, how }
    }
}

/// A table's one-call path: prep, issue and hooks of one standalone SQE. `Some(res)`: the
/// request is done and its hooks have run, post `res`; `None`: it is in `run.spill`.
pub(crate) type RunFn = fn(&mut Run<'_>, &OpVTable, &Sqe) -> Option<i32>;

/// The one-call path of a typed op's table: its callbacks, called directly.
pub(crate) fn run_typed<T: Op>(run: &mut Run<'_>, _vt: &OpVTable, sqe: &Sqe) -> Option<i32> {
    run_with(
        run,
        sqe,
        super::prep_shim::<T>,
        Some(super::issue_shim::<T>),
        super::fail_shim::<T>,
        super::cleanup_shim::<T>,
    )
}

/// The one-call path of a raw table: its function pointers. The caller has checked that
/// it has a prep.
pub(crate) fn run_raw(run: &mut Run<'_>, vt: &OpVTable, sqe: &Sqe) -> Option<i32> {
    let Some(prep) = vt.prep else {
        // Not reached: a table without prep takes the general path, which fails it
        // -EOPNOTSUPP (C-BPF-3) — as this does.
        let info = ReqInfo::new(sqe.user_data, sqe.op_flags, bpf_op_slot(sqe.op_flags), 0);
        *run.spill = Some(Spill::prep_failed(info, Pdu::ZERO, sqe.buf_index, Errno::EOPNOTSUPP));
        return None;
    };
    let hook = |h: Option<super::HookFn>| {
        move |info: &ReqInfo, pdu: &mut Pdu| {
            if let Some(h) = h {
                h(info, pdu)
            }
        }
    };
    run_with(run, sqe, prep, vt.issue, hook(vt.fail), hook(vt.cleanup))
}

/// Prep and issue one request on a record on the stack, as the general path would; done
/// (or failed) at issue, run its hooks — fail on the failure path, then cleanup — and
/// answer its result; else leave it in the spill.
#[inline(always)]
fn run_with(
    run: &mut Run<'_>,
    sqe: &Sqe,
    prep: impl FnOnce(&mut PrepCx<'_>, &Sqe, &mut Pdu) -> Result<(), Errno>,
    issue: Option<impl FnOnce(&mut IssueCx<'_>, &mut Pdu) -> Issue>,
    fail: impl FnOnce(&ReqInfo, &mut Pdu),
    cleanup: impl FnOnce(&ReqInfo, &mut Pdu),
) -> Option<i32> {
    let info = ReqInfo::new(sqe.user_data, sqe.op_flags, bpf_op_slot(sqe.op_flags), 0);
    let buf_group = sqe.buf_index;
    let mut pdu = Pdu::ZERO;
    let mut staged = [None; MAX_IMPORTS];
    let mut cx = PrepCx { info: &info, bufs: run.bufs, owners: run.owners, imports: &mut staged, args: run.args };
    if let Err(e) = prep(&mut cx, sqe, &mut pdu) {
        // The pdu as prep left it: a failed prep's fail hook sees it (C-BPF-13).
        *run.spill = Some(Spill::prep_failed(info, pdu, buf_group, e));
        return None;
    }
    // A standalone request's chain record: zero, and its own.
    let mut chain = ChainData::ZERO;
    let (outcome, res, pended) = match issue {
        None => (Issue::Done, 0, Pended::No),
        Some(issue) => {
            // The imports prep staged are the request's alone while it is on the stack:
            // no other request can prep before it either completes or enters the table.
            let mut cx = IssueCx {
                info: &info,
                result: 0,
                mail: run.mail,
                index: run.index,
                generation: run.generation,
                ring: run.ring,
                pended: Pended::No,
                chain: &mut chain,
                bufs: run.bufs,
                imports: ImportsRef::Staged(&staged),
                args: run.args,
                buf_group,
            };
            let outcome = issue(&mut cx, &mut pdu);
            (outcome, cx.result, cx.pended)
        }
    };
    let res = match (outcome, pended) {
        (Issue::Done, Pended::No) => res,
        (Issue::Err(e), Pended::No) if e != Errno::EAGAIN => {
            fail(&info, &mut pdu);
            e.res()
        }
        _ => {
            let how = Spilled::Issued { outcome, res, pended };
            *run.spill = Some(Spill { info, pdu, buf_group, staged, chain, how });
            return None;
        }
    };
    cleanup(&info, &mut pdu);
    Some(res)
}
