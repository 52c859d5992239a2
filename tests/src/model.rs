//! A reference model of Linux io_uring submission semantics, written for clarity rather
//! than speed: requests live in a `Vec`, queues are `VecDeque`s, every request counts as
//! allocated until the end of its pass (exactly as in the kernel), and there is no fast
//! path, no reservation and no backpressure (an unbounded CQ).
//!
//! Besides the CQE stream it records, for every CQE, which link chain it belongs to and
//! its *drain epoch*, so that a stream produced by the kernel — whose order varies where
//! io-wq workers run requests — can be checked against the rules that must hold
//! regardless ([`check_relaxed`]).
//!
//! It models NOP (all `nop_flags`), invalid SQEs, opcodes fwring does not build in, and
//! IORING_OP_BPF with [`ScriptOp`], an op whose behaviour is chosen by its op flags.

use std::collections::{HashMap, VecDeque};

use fwring::{
    Cqe, Errno, Issue, IssueCx, NopFlags, Op, OpVTable, PrepCx, ReqInfo, Sqe, SqeFlags, bpf_op_private, bpf_op_slot,
    opcode, vtable,
};

/// An op whose every behaviour is picked by the low bits of its op flags, so random SQEs
/// reach every path of the op-slot machinery:
///
/// - bits 0..1 — prep: 1 → `Err(E2BIG)`, else Ok.
/// - bits 2..3 — issue: 0 → `Done` with result `sqe.len as i32` (negative fails the
///   request); 1 → `Err(EIO)`; 2 → `Pending` without a token (-EINVAL, C-BPF-9); 3 →
///   `Done` with 0.
pub struct ScriptOp;

/// Slots [`ScriptOp`] is registered in by [`script_tables`]; the others stay empty.
pub const SCRIPT_SLOTS: [u8; 3] = [0, 1, 7];

impl Op for ScriptOp {
    type Pdu = [u32; 2];
    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<[u32; 2], Errno> {
        let f = cx.info().private_flags();
        if f & 3 == 1 {
            return Err(Errno::E2BIG);
        }
        Ok([f, sqe.len])
    }
    fn issue(cx: &mut IssueCx<'_>, pdu: &mut [u32; 2]) -> Issue {
        match (pdu[0] >> 2) & 3 {
            0 => {
                cx.set_result(pdu[1] as i32);
                Issue::Done
            }
            1 => Issue::Err(Errno::EIO),
            2 => Issue::Pending,
            _ => Issue::Done,
        }
    }
    fn fail(_: &ReqInfo, _: &mut [u32; 2]) {
        hooks::FAIL.with(|c| c.set(c.get() + 1));
    }
    fn cleanup(_: &ReqInfo, _: &mut [u32; 2]) {
        hooks::CLEANUP.with(|c| c.set(c.get() + 1));
    }
}

/// Per-thread counters of [`ScriptOp`]'s fail and cleanup hooks (tests run in threads).
pub mod hooks {
    use std::cell::Cell;
    thread_local! {
        /// fail hook calls.
        pub static FAIL: Cell<u64> = const { Cell::new(0) };
        /// cleanup hook calls.
        pub static CLEANUP: Cell<u64> = const { Cell::new(0) };
    }
    /// (fail, cleanup) so far on this thread.
    pub fn counts() -> (u64, u64) {
        (FAIL.with(|c| c.get()), CLEANUP.with(|c| c.get()))
    }
}

static SCRIPT_TABLES: [OpVTable; 3] = [vtable::<ScriptOp>(0), vtable::<ScriptOp>(1), vtable::<ScriptOp>(7)];

/// The [`ScriptOp`] tables for [`SCRIPT_SLOTS`].
pub fn script_tables() -> &'static [OpVTable] {
    &SCRIPT_TABLES
}

/// One expected CQE with what the relaxed comparison needs to know about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expect {
    /// The CQE.
    pub cqe: Cqe,
    /// Index (in submission order, across submit calls) of the SQE it completes.
    pub sqe: usize,
    /// Index of the SQE heading its link chain (its own index when standalone).
    pub chain: usize,
    /// Drain epoch: all CQEs of epoch k come before any of epoch k+1. `None` for
    /// requests failed at submit time, which bypass drain in Linux.
    pub epoch: Option<u32>,
}

/// What one model submit call did.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// SQEs consumed.
    pub taken: usize,
    /// CQEs in the model's (deterministic, pass-ordered) order.
    pub cqes: Vec<Expect>,
    /// ScriptOp fail-hook calls.
    pub fails: u64,
    /// ScriptOp cleanup-hook calls.
    pub cleanups: u64,
}

#[derive(Clone, Debug)]
struct MReq {
    sqe: usize,
    chain: usize,
    ud: u64,
    opcode: u8,
    res: i32,
    link: Option<usize>,
    is_link: bool,
    hard: bool,
    drain: bool,
    force_async: bool,
    cqe_skip: bool,
    fail: bool,
    skip_link_cqes: bool,
    nop_flags: u32,
    /// BPF: prep ran with the slot registered (the fail hook exists).
    has_ops: bool,
    need_cleanup: bool,
    script: u32,
    epoch: Option<u32>,
    freed: bool,
}

#[derive(Clone, Copy, Debug)]
enum Work {
    Issue(usize),
    FailLinks(usize),
    Complete(usize),
}

/// A model ring: persistent state across submit calls.
#[derive(Clone, Debug, Default)]
pub struct Model {
    submit_all: bool,
    bpf_ext: bool,
    slots: Vec<u8>,
    drain_active: bool,
    drain_next: bool,
    drain_disabled: bool,
    reqs: Vec<MReq>,
    link: Option<(usize, usize)>,
    defer: VecDeque<usize>,
    nr_drained: usize,
    epoch: u32,
    next_sqe: usize,
    // per call
    out: Vec<Expect>,
    pass_done: Vec<usize>,
    tw: VecDeque<Work>,
    fails: u64,
    cleanups: u64,
}

impl Model {
    /// A model ring; `slots` lists the op slots holding a [`ScriptOp`].
    pub fn new(submit_all: bool, bpf_ext: bool, slots: &[u8]) -> Self {
        Model { submit_all, bpf_ext, slots: slots.to_vec(), ..Default::default() }
    }

    fn allocated(&self) -> usize {
        self.reqs.iter().filter(|r| !r.freed).count()
    }

    /// Submit `sqes` as one `io_uring_enter` would and run all resulting work.
    pub fn submit(&mut self, sqes: &[Sqe]) -> Outcome {
        self.out.clear();
        self.fails = 0;
        self.cleanups = 0;
        let mut taken = 0;
        for sqe in sqes {
            taken += 1;
            let ok = self.submit_one(sqe);
            if !ok && !self.submit_all {
                break;
            }
        }
        if let Some((head, _)) = self.link.take() {
            self.fallback(head);
        }
        self.flush();
        while !self.tw.is_empty() {
            let batch: Vec<Work> = self.tw.drain(..).collect();
            for w in batch {
                match w {
                    Work::Issue(i) => self.queue(i),
                    Work::FailLinks(i) => self.tw_fail_links(i),
                    Work::Complete(i) => self.complete(i),
                }
            }
            self.flush();
        }
        Outcome { taken, cqes: self.out.clone(), fails: self.fails, cleanups: self.cleanups }
    }

    fn submit_one(&mut self, sqe: &Sqe) -> bool {
        let idx = self.reqs.len();
        let sqe_no = self.next_sqe;
        self.next_sqe += 1;
        let f = sqe.flags;
        let chain = self.link.map_or(sqe_no, |(h, _)| self.reqs[h].chain);
        self.reqs.push(MReq {
            sqe: sqe_no,
            chain,
            ud: sqe.user_data,
            opcode: sqe.opcode,
            res: 0,
            link: None,
            is_link: f & (SqeFlags::IO_LINK.bits() | SqeFlags::IO_HARDLINK.bits()) != 0,
            hard: f & SqeFlags::IO_HARDLINK.bits() != 0,
            drain: f & SqeFlags::IO_DRAIN.bits() != 0,
            force_async: f & SqeFlags::ASYNC.bits() != 0,
            cqe_skip: f & SqeFlags::CQE_SKIP_SUCCESS.bits() != 0,
            fail: false,
            skip_link_cqes: false,
            nop_flags: 0,
            has_ops: false,
            need_cleanup: false,
            script: 0,
            epoch: None,
            freed: false,
        });
        if let Err(e) = self.init(idx, sqe) {
            return self.fail_init(idx, e);
        }
        if let Some((head, last)) = self.link {
            self.reqs[last].link = Some(idx);
            self.link = Some((head, idx));
            if self.reqs[idx].is_link {
                return true;
            }
            self.link = None;
            self.start(head);
            return true;
        }
        if self.reqs[idx].is_link {
            self.link = Some((idx, idx));
        } else {
            self.start(idx);
        }
        true
    }

    /// A complete chain (or standalone request) is ready: stamp its epoch and queue it.
    fn start(&mut self, head: usize) {
        let r = &self.reqs[head];
        if r.fail {
            self.fallback(head);
            return;
        }
        if self.drain_active || r.force_async {
            self.fallback(head);
        } else {
            self.stamp(head, self.epoch);
            self.queue(head);
        }
    }

    fn stamp(&mut self, head: usize, epoch: u32) {
        let mut m = Some(head);
        while let Some(i) = m {
            self.reqs[i].epoch = Some(epoch);
            m = self.reqs[i].link;
        }
    }

    fn init(&mut self, idx: usize, sqe: &Sqe) -> Result<(), Errno> {
        let op = sqe.opcode;
        if op >= opcode::LAST {
            return Err(Errno::EINVAL);
        }
        if op == opcode::NOP128 || op == opcode::URING_CMD128 {
            return Err(Errno::EINVAL);
        }
        let known = op == opcode::NOP || op == opcode::BPF;
        let f = sqe.flags;
        let common = SqeFlags::FIXED_FILE | SqeFlags::IO_LINK | SqeFlags::IO_HARDLINK | SqeFlags::ASYNC;
        if f & !common.bits() != 0 {
            if f & 0x80 != 0 {
                return Err(Errno::EINVAL);
            }
            // NOP refuses a provided buffer; an op slot may stream from one (issue 16).
            if f & SqeFlags::BUFFER_SELECT.bits() != 0 && op == opcode::NOP {
                return Err(Errno::EOPNOTSUPP);
            }
            if f & SqeFlags::CQE_SKIP_SUCCESS.bits() != 0 {
                self.drain_disabled = true;
            }
            if f & SqeFlags::IO_DRAIN.bits() != 0 {
                if self.drain_disabled {
                    return Err(Errno::EOPNOTSUPP);
                }
                self.drain_active = true;
                if let Some((head, _)) = self.link {
                    self.reqs[head].drain = true;
                    self.reqs[head].force_async = true;
                    self.drain_next = true;
                }
            }
        }
        if self.drain_active {
            self.reqs[idx].force_async = true;
        }
        if self.drain_next && self.link.is_none() {
            self.drain_next = false;
            self.drain_active = true;
            self.reqs[idx].drain = true;
            self.reqs[idx].force_async = true;
        }
        if known && sqe.ioprio != 0 {
            return Err(Errno::EINVAL);
        }
        if sqe.personality != 0 {
            return Err(Errno::EINVAL);
        }
        match op {
            opcode::NOP => {
                let nf = sqe.op_flags;
                if nf & !NopFlags::all().bits() != 0 {
                    return Err(Errno::EINVAL);
                }
                let r = &mut self.reqs[idx];
                r.nop_flags = nf;
                r.res = if nf & 1 != 0 { sqe.len as i32 } else { 0 };
                if nf & NopFlags::CQE32.bits() != 0 {
                    return Err(Errno::EINVAL);
                }
                Ok(())
            }
            opcode::BPF => {
                if !self.bpf_ext {
                    return Err(Errno::EOPNOTSUPP);
                }
                let slot = bpf_op_slot(sqe.op_flags);
                if slot >= 16 {
                    return Err(Errno::EINVAL);
                }
                if !self.slots.contains(&slot) {
                    return Err(Errno::EOPNOTSUPP);
                }
                let r = &mut self.reqs[idx];
                r.has_ops = true;
                let script = bpf_op_private(sqe.op_flags);
                if script & 3 == 1 {
                    return Err(Errno::E2BIG);
                }
                r.script = script;
                r.res = sqe.len as i32;
                r.need_cleanup = true;
                Ok(())
            }
            _ => Err(Errno::EOPNOTSUPP),
        }
    }

    fn set_fail(&mut self, i: usize) {
        let r = &mut self.reqs[i];
        r.fail = true;
        if r.cqe_skip {
            r.cqe_skip = false;
            r.skip_link_cqes = true;
        }
    }

    fn fail_init(&mut self, idx: usize, e: Errno) -> bool {
        self.set_fail(idx);
        self.reqs[idx].res = e.res();
        let head = self.link.map(|(h, _)| h);
        if let Some(h) = head.filter(|&h| !self.reqs[h].fail) {
            self.set_fail(h);
            self.reqs[h].res = Errno::ECANCELED.res();
        }
        if !self.reqs[idx].is_link {
            let first = match self.link.take() {
                Some((h, last)) => {
                    self.reqs[last].link = Some(idx);
                    h
                }
                None => idx,
            };
            self.fallback(first);
            return false;
        }
        match self.link {
            Some((h, last)) => {
                self.reqs[last].link = Some(idx);
                self.link = Some((h, idx));
            }
            None => self.link = Some((idx, idx)),
        }
        true
    }

    fn fallback(&mut self, i: usize) {
        if self.reqs[i].fail {
            self.reqs[i].hard = false;
            self.reqs[i].is_link = true;
            let res = self.reqs[i].res;
            self.defer_failed(i, res);
        } else if self.drain_active {
            let drain = self.reqs[i].drain;
            if drain {
                self.epoch += 1;
                self.stamp(i, self.epoch);
                self.epoch += 1;
            } else {
                self.stamp(i, self.epoch);
            }
            self.nr_drained += self.linked_nr(i);
            self.defer.push_back(i);
            self.queue_deferred();
            if !drain && self.defer.is_empty() {
                self.drain_active = false;
            }
        } else {
            self.stamp(i, self.epoch);
            self.queue(i);
        }
    }

    fn linked_nr(&self, mut i: usize) -> usize {
        let mut n = 1;
        while let Some(next) = self.reqs[i].link {
            n += 1;
            i = next;
        }
        n
    }

    fn queue_deferred(&mut self) {
        let mut drain_seen = false;
        let mut first = true;
        while let Some(&i) = self.defer.front() {
            drain_seen |= self.reqs[i].drain;
            if (drain_seen || first) && self.allocated() != self.nr_drained {
                return;
            }
            self.defer.pop_front();
            self.nr_drained -= self.linked_nr(i);
            self.tw.push_back(Work::Issue(i));
            first = false;
        }
    }

    fn queue(&mut self, i: usize) {
        let r = &mut self.reqs[i];
        match r.opcode {
            opcode::NOP => {
                let nf = r.nop_flags;
                if nf & NopFlags::FILE.bits() != 0 {
                    r.res = Errno::EBADF.res();
                } else if nf & NopFlags::FIXED_BUFFER.bits() != 0 {
                    r.res = Errno::EFAULT.res();
                }
                if r.res < 0 {
                    self.set_fail(i);
                }
                if nf & NopFlags::TW.bits() != 0 {
                    self.tw.push_back(Work::Complete(i));
                } else {
                    self.complete(i);
                }
            }
            opcode::BPF => match (r.script >> 2) & 3 {
                0 => {
                    if r.res < 0 {
                        self.set_fail(i);
                    }
                    self.complete(i);
                }
                1 => self.defer_failed(i, Errno::EIO.res()),
                2 => self.defer_failed(i, Errno::EINVAL.res()),
                _ => {
                    r.res = 0;
                    self.complete(i);
                }
            },
            _ => unreachable!("only prepped opcodes are issued"),
        }
    }

    fn defer_failed(&mut self, i: usize, res: i32) {
        self.set_fail(i);
        self.reqs[i].res = res;
        if self.reqs[i].has_ops {
            self.fails += 1;
        }
        self.complete(i);
    }

    fn complete(&mut self, i: usize) {
        let r = &self.reqs[i];
        if !r.cqe_skip {
            let epoch = if r.epoch.is_some() && !self.failed_at_submit(i) { r.epoch } else { None };
            self.out.push(Expect { cqe: Cqe::new(r.ud, r.res), sqe: r.sqe, chain: r.chain, epoch });
        }
        self.pass_done.push(i);
    }

    /// Requests of a chain that failed at submit time were never stamped.
    fn failed_at_submit(&self, i: usize) -> bool {
        self.reqs[i].epoch.is_none()
    }

    fn flush(&mut self) {
        let done: Vec<usize> = std::mem::take(&mut self.pass_done);
        for i in done {
            let next = if self.reqs[i].is_link { self.reqs[i].link.take() } else { None };
            if let Some(next) = next {
                let r = &self.reqs[i];
                if r.fail && !r.hard {
                    let silent = r.skip_link_cqes;
                    let mut m = Some(next);
                    while let Some(j) = m {
                        self.reqs[j].cqe_skip = silent;
                        m = self.reqs[j].link;
                    }
                    self.tw.push_back(Work::FailLinks(next));
                } else {
                    self.tw.push_back(Work::Issue(next));
                }
            }
            if self.reqs[i].need_cleanup {
                self.cleanups += 1;
            }
            self.reqs[i].freed = true;
        }
        if self.drain_active {
            self.queue_deferred();
        }
    }

    fn tw_fail_links(&mut self, first: usize) {
        let mut m = Some(first);
        while let Some(j) = m {
            m = self.reqs[j].link.take();
            if !self.reqs[j].fail {
                self.reqs[j].res = Errno::ECANCELED.res();
            }
            self.complete(j);
        }
    }
}

/// The SQE and chain groups a stream must respect, checked on a stream produced by any
/// implementation (the kernel included) against the model's [`Expect`]s:
///
/// 1. the same CQEs (user_data, res, flags) as a multiset;
/// 2. inside every link chain, the same order;
/// 3. every drain barrier kept: along the stream, the epochs of CQEs that have one never
///    decrease.
///
/// Returns a description of the first rule broken.
pub fn check_relaxed(expected: &[Expect], got: &[Cqe]) -> Result<(), String> {
    let key = |c: &Cqe| (c.user_data, c.res, c.flags);
    let mut want: Vec<_> = expected.iter().map(|e| key(&e.cqe)).collect();
    let mut have: Vec<_> = got.iter().map(key).collect();
    want.sort_unstable();
    have.sort_unstable();
    if want != have {
        return Err(format!("CQE multisets differ:\n  model  {want:?}\n  actual {have:?}"));
    }
    // Map each actual CQE to an expected one (user_data is unique per SQE in tests that
    // use this; duplicates are matched in order of appearance).
    let mut pool: HashMap<(u64, i32, u32), VecDeque<&Expect>> = HashMap::new();
    for e in expected {
        pool.entry(key(&e.cqe)).or_default().push_back(e);
    }
    let mapped: Vec<&Expect> =
        got.iter().map(|c| pool.get_mut(&key(c)).and_then(|q| q.pop_front()).expect("multisets are equal")).collect();
    let mut chains: HashMap<usize, Vec<usize>> = HashMap::new();
    for e in &mapped {
        chains.entry(e.chain).or_default().push(e.sqe);
    }
    for (chain, order) in &chains {
        let want_order: Vec<usize> = expected.iter().filter(|e| e.chain == *chain).map(|e| e.sqe).collect();
        if *order != want_order {
            return Err(format!("chain {chain}: order {order:?}, model {want_order:?}"));
        }
    }
    let mut last = 0;
    for e in &mapped {
        if let Some(ep) = e.epoch {
            if ep < last {
                return Err(format!("drain barrier broken at SQE {} (epoch {ep} after {last})", e.sqe));
            }
            last = ep;
        }
    }
    Ok(())
}
