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
//! prep, a request that goes pending, a retry) is written straight into the table entry
//! the next allocation gives — record, chain record, imports — and handed back
//! ([`Spilled`]) for the engine to allocate that entry and go on as the general path
//! does.

use crate::abi::errno::Errno;
use crate::abi::{Sqe, bpf_op_slot};
use crate::buffer::{self, Imports, ImportsRef, Owners};
use crate::slot::args::ArgsView;
use crate::slot::chain::ChainData;
use crate::slot::{Env, Issue, IssueCx, Op, OpVTable, Pdu, Pended, PrepCx, Record, ReqInfo};

/// What a run of standalone op-slot SQEs lends their callbacks: the parts of the ring a
/// prep or an issue may see, none of which changes while requests complete in line, and
/// the free table entry a request that cannot finish in line is written into.
pub(crate) struct Run<'a> {
    /// The buffers, the mailbox, and the table entry and generation a request takes if
    /// it has to enter the table or goes pending (its token names them).
    pub env: Env<'a>,
    /// The requests in flight (the table but its next free entry, which holds nothing).
    pub owners: Owners<'a>,
    pub args: &'a mut ArgsView,
    /// That entry's record, imports and chain record: every prep makes its imports
    /// there in place; a request that cannot finish in line leaves its record and chain
    /// record there too, and says how in `spilled`.
    pub rec: &'a mut Record,
    pub imports: &'a mut Imports,
    pub chain: &'a mut ChainData,
    pub spilled: Option<Spilled>,
}

/// How far a request that could not finish in line got.
#[derive(Clone, Copy)]
pub(crate) enum Spilled {
    /// Its prep failed with this errno.
    Prep(Errno),
    /// It was issued and answered `outcome` with `res` set, having gone `pended`;
    /// `imported`: its prep imported buffers (they are in the entry).
    Issued { outcome: Issue, res: i32, pended: Pended, imported: bool },
}

/// A table's one-call path: prep, issue and hooks of one standalone SQE. `Some(res)`: the
/// request is done and its hooks have run, post `res`; `None`: it is in the free entry
/// and `run.spilled` says how far it got — or, if that is `None`, the table declined the
/// SQE before consuming it.
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

/// The one-call path of a raw table: its function pointers. A table without prep
/// declines (`None`, nothing spilled, the SQE not consumed): the general path fails it
/// -EOPNOTSUPP (C-BPF-3).
pub(crate) fn run_raw(run: &mut Run<'_>, vt: &OpVTable, sqe: &Sqe) -> Option<i32> {
    let prep = vt.prep?;
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
/// answer its result; else leave it in the free entry.
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
    // Prep makes its imports in the free entry's, in place: nothing is copied, whether
    // the request completes here or enters the table.
    let mut cx =
        PrepCx { info: &info, bufs: run.env.bufs, owners: run.owners, imports: run.imports, staged: 0, args: run.args };
    let prepped = prep(&mut cx, sqe, &mut pdu);
    let staged = cx.staged;
    if let Err(e) = prepped {
        // The pdu as prep left it: a failed prep's fail hook sees it (C-BPF-13). Its
        // imports are dropped.
        *run.rec = Record { info, pdu };
        *run.chain = ChainData::ZERO;
        run.spilled = Some(Spilled::Prep(e));
        return None;
    }
    // A standalone request's chain record: zero, and its own.
    let mut chain = ChainData::ZERO;
    let (outcome, res, pended) = match issue {
        None => (Issue::Done, 0, Pended::No),
        Some(issue) => {
            // The imports prep made are the request's alone while it runs here: no
            // other request can prep before it either completes or enters the table.
            let mut cx = IssueCx {
                info: &info,
                result: 0,
                env: &run.env,
                pended: Pended::No,
                chain: &mut chain,
                imports: ImportsRef::new(run.imports, staged),
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
            *run.rec = Record { info, pdu };
            // Field by field: a whole-record copy is a `memmove` call on the targets.
            run.chain.copy_from(&chain);
            // Most ops import nothing: their entry's imports stay as they are, unused.
            let imported = staged > 0;
            if imported {
                buffer::seal(run.imports, staged);
            }
            run.spilled = Some(Spilled::Issued { outcome, res, pended, imported });
            return None;
        }
    };
    cleanup(&info, &mut pdu);
    Some(res)
}
