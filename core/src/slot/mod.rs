//! Op slots: the IORING_OP_BPF extension with native Rust functions in place of BPF.
//!
//! A ring set up with [`SetupFlags::BPF_EXT`](crate::SetupFlags::BPF_EXT) has
//! [`MAX_OP_SLOTS`] slots. Each holds an [`OpVTable`] — `{id, prep, issue, fail,
//! cleanup}` function pointers, the series' `struct uring_bpf_ops` — and an SQE with
//! opcode [`BPF`](crate::opcode::BPF) picks its slot with the top 8 bits of
//! `bpf_op_flags`.
//!
//! Every request carries a 64-byte [`Record`] (the series' `uring_bpf_data`). Its first
//! 16 bytes ([`ReqInfo`]) belong to the core; the last 48 ([`Pdu`]) belong to the op.
//! Callbacks receive `&ReqInfo` and `&mut Pdu` — separate borrows — so an op *cannot*
//! write outside its pdu (C-BPF-14): the Linux verifier's rule, enforced by types.
//!
//! Two ways to write an op:
//! - fill an [`OpVTable`] with plain `fn`s (the raw table), or
//! - implement the typed [`Op`] trait, whose pdu is any zerocopy type of at most 48
//!   bytes, and let [`vtable`] build the table. No `unsafe` either way.

pub mod args;
pub mod chain;
pub(crate) mod run;

use core::fmt;
use core::mem::{align_of, offset_of, size_of};

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::buffer::Owners;
#[cfg(feature = "multishot")]
use crate::buffer::provided::Stream;
use crate::buffer::view::{self, PendingIo};
use crate::buffer::{self, BufDesc, BufTable, Dir, Imports, ImportsRef, Io, MAX_IMPORTS, Segs, SegsMut};
use crate::bytes::aligned_bytes;
use crate::engine::completion::{self, MailSlot, Phase, Token};
use crate::slot::args::{ArgRecord, ArgsView};
use crate::slot::chain::ChainData;

use crate::abi::errno::Errno;
use crate::abi::{MAX_OP_SLOTS, Sqe, bpf_op_private};

/// Size of the op-owned part of a request record.
pub const PDU_SIZE: usize = 48;
/// Offset of the pdu inside the 64-byte [`Record`] (8-byte aligned).
pub const PDU_OFFSET: usize = 16;

/// The core-owned header of a request record: read-only to ops.
#[repr(C)]
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct ReqInfo {
    user_data: u64,
    opf: u32,
    slot: u8,
    sqe_flags: u8,
    _reserved: u16,
}

impl ReqInfo {
    pub(crate) const EMPTY: ReqInfo = ReqInfo { user_data: 0, opf: 0, slot: 0, sqe_flags: 0, _reserved: 0 };

    /// The request's `user_data`.
    pub const fn user_data(&self) -> u64 {
        self.user_data
    }

    /// `bpf_op_flags` as submitted, the whole word: slot in bits 31..24, the op's private
    /// flags in 23..0 (C-BPF-4).
    pub const fn bpf_op_flags(&self) -> u32 {
        self.opf
    }

    /// The op's private flags: the low 24 bits of `bpf_op_flags`, unchanged (what an op
    /// reads its modes from; [`ReqInfo::bpf_op_flags`] is the whole word).
    pub const fn private_flags(&self) -> u32 {
        bpf_op_private(self.opf)
    }

    /// The slot the request runs in.
    pub const fn slot(&self) -> u8 {
        self.slot
    }

    /// The SQE's `IOSQE_*` flag byte.
    pub const fn sqe_flags(&self) -> u8 {
        self.sqe_flags
    }

    pub(crate) const fn new(user_data: u64, opf: u32, slot: u8, sqe_flags: u8) -> Self {
        ReqInfo { user_data, opf, slot, sqe_flags, _reserved: 0 }
    }

    pub(crate) fn set_user_data(&mut self, user_data: u64) {
        self.user_data = user_data;
    }
}

impl fmt::Debug for ReqInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqInfo")
            .field("user_data", &format_args!("{:#x}", self.user_data))
            .field("opf", &format_args!("{:#010x}", self.opf))
            .field("slot", &self.slot)
            .field("sqe_flags", &format_args!("{:#04x}", self.sqe_flags))
            .finish()
    }
}

aligned_bytes!(
    /// The op-owned 48 bytes of a request record, 8-byte aligned.
    ///
    /// The core zeroes it before `prep`; it then persists through issue, fail and
    /// cleanup of the same request (C-BPF-13). View it as any zerocopy type of at most 48
    /// bytes with [`Pdu::view`] / [`Pdu::view_mut`].
    Pdu,
    PDU_SIZE
);

/// The 64-byte per-request record (C-ABI-11): 16 bytes of core header, 48 of pdu.
#[repr(C, align(8))]
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Record {
    /// Core-owned header (read-only to ops).
    pub(crate) info: ReqInfo,
    /// Op-owned bytes.
    pub(crate) pdu: Pdu,
}

impl Record {
    /// The core-owned header.
    pub fn info(&self) -> &ReqInfo {
        &self.info
    }

    /// The op-owned pdu.
    pub fn pdu(&self) -> &Pdu {
        &self.pdu
    }
}

// C-ABI-11: fwring's record layout — 64 bytes, pdu of 48 bytes at offset 16.
const _: () = {
    assert!(size_of::<Record>() == 64);
    assert!(align_of::<Record>() == 8);
    assert!(offset_of!(Record, info) == 0);
    assert!(offset_of!(Record, pdu) == PDU_OFFSET);
    assert!(size_of::<Pdu>() == PDU_SIZE);
    assert!(size_of::<ReqInfo>() == PDU_OFFSET);
    assert!(offset_of!(ReqInfo, user_data) == 0);
    assert!(offset_of!(ReqInfo, opf) == 8);
    assert!(offset_of!(ReqInfo, slot) == 12);
    assert!(offset_of!(ReqInfo, sqe_flags) == 13);
};

/// What an op's issue callback answers.
///
/// The series' third answer, `IOU_ISSUE_SKIP_COMPLETE` ("the completion comes later"
/// without the request having gone anywhere), is always -EINVAL for ops (C-BPF-9), so it
/// has no variant: an op cannot say it. The one way to complete later is
/// [`Issue::Pending`] with a token taken — and `Pending` *without* one is the same
/// mistake, caught at run time: -EINVAL.
///
/// ```compile_fail
/// // C-BPF-9: there is no way to answer IOU_ISSUE_SKIP_COMPLETE.
/// let _ = fwring::Issue::SkipComplete;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Issue {
    /// Complete now with the result set through [`IssueCx::set_result`] (0 if none).
    /// A negative result fails the request: its link chain is cancelled (C-BPF-8).
    Done,
    /// The issue itself failed: the CQE carries `-errno` and the op's `fail` runs
    /// (C-BPF-10). `EAGAIN` is retried once, one pass later.
    Err(Errno),
    /// The work goes on elsewhere (hardware, an interrupt, another core): the request
    /// stays in flight until someone calls [`Completer::complete`](crate::Completer::complete) with the token taken
    /// from [`IssueCx::pending`] (or [`IssueCx::pending_cancelable`]). Returning this
    /// without having taken a token fails the request with -EINVAL (C-BPF-9: "complete
    /// later" with nothing to complete it). An fwring extension: the series cannot defer
    /// completion.
    Pending,
}

/// Context handed to an op's prep: the request header, buffer import, extended
/// arguments.
pub struct PrepCx<'a> {
    pub(crate) info: &'a ReqInfo,
    pub(crate) bufs: &'a BufTable,
    /// Who holds which buffer ranges now: the requests in flight.
    pub(crate) owners: Owners<'a>,
    /// The imports of the table entry the request has (or takes, if it leaves the
    /// fast path): this prep makes its imports there in place, the first `staged` of
    /// them — the request holds them only if prep succeeds; the entry's others are left
    /// from earlier requests and mean nothing.
    pub(crate) imports: &'a mut Imports,
    /// How many imports this prep has made.
    pub(crate) staged: usize,
    pub(crate) args: &'a ArgsView,
}

impl PrepCx<'_> {
    /// The request header.
    pub fn info(&self) -> &ReqInfo {
        self.info
    }

    /// Read a 16-byte buffer descriptor from user memory at `addr` (inside a registered
    /// region, else EFAULT) — the series' convention of `sqe.addr` pointing at one.
    pub fn read_desc(&self, addr: u64) -> Result<BufDesc, Errno> {
        view::read_user(self.bufs, &self.owners, addr)
    }

    /// Import a buffer for this request: resolve `desc` for `dir` into checked segments.
    /// Returns its index for [`Io`] at issue (0, then 1).
    ///
    /// Errors: descriptor type > 4, zero length, more than [`MAX_SEGS`](crate::buffer::MAX_SEGS)
    /// segments, a destination overlapping another buffer of this request, or a third
    /// import → EINVAL; an address outside the registered memory, an unregistered or
    /// stale index, a range past its buffer, or a direction the region does not allow
    /// → EFAULT; a range another in-flight request (outside this chain) writes, or a
    /// destination another one uses → EBUSY.
    pub fn import(&mut self, desc: &BufDesc, dir: Dir) -> Result<usize, Errno> {
        let slot = self.staged;
        // Resolved in place, over whatever the entry's import `slot` held: counted only
        // if every check passes.
        let (earlier, rest) = self.imports.split_at_mut(slot.min(MAX_IMPORTS));
        let Some(new) = rest.first_mut() else { return Err(Errno::EINVAL) };
        let (bufs, owners) = (self.bufs, &self.owners);
        let one = |at| view::read_user(bufs, owners, at);
        let all = |at, n, out: &mut _| view::read_iovecs(bufs, owners, at, n, out);
        bufs.resolve_into(desc, dir, one, all, new)?;
        buffer::check_within(earlier, new)?;
        if owners.busy(bufs, new) {
            return Err(Errno::EBUSY);
        }
        self.staged = slot + 1;
        Ok(slot)
    }

    /// Extended-argument record `id`: ENOENT if there is none.
    pub fn arg(&self, id: u16) -> Result<&ArgRecord, Errno> {
        self.args.get(&id).ok_or(Errno::ENOENT)
    }
}

/// How a request went pending during its issue call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pended {
    /// No token taken.
    No,
    /// [`IssueCx::pending`].
    Pending,
    /// [`IssueCx::pending_cancelable`].
    Cancelable,
    /// [`IssueCx::pending_io`]: its buffers are out.
    Lent,
    /// [`IssueCx::multishot`]: a stream of provided buffers is out.
    Multishot,
}

/// What an op's issue reaches of the ring besides its own request: the buffers, the
/// mailbox its completion goes through, and the table index and generation it goes
/// pending under. [`IssueCx`] refers to it rather than copying it, so that a run of
/// inline requests lends it once.
pub(crate) struct Env<'a> {
    pub bufs: &'a BufTable,
    pub mail: &'a [MailSlot],
    /// The ring's number (for [`PendingIo`]).
    pub ring: u32,
    /// The table entry the request has (or takes, if it goes pending in line).
    pub index: u16,
    /// The generation the request goes pending under if it does.
    pub generation: u64,
}

/// Context handed to an op's issue: the request header, the result to post, the
/// request's buffers, the chain's shared record, extended arguments, and the way to go
/// pending.
pub struct IssueCx<'a> {
    pub(crate) info: &'a ReqInfo,
    pub(crate) result: i32,
    /// The buffers, the mailbox, the request's index and generation.
    pub(crate) env: &'a Env<'a>,
    /// Whether (and how) the request went pending in this issue call.
    pub(crate) pended: Pended,
    pub(crate) chain: &'a mut ChainData,
    pub(crate) imports: ImportsRef<'a>,
    pub(crate) args: &'a mut ArgsView,
    /// The SQE's `buf_group` (kept from prep).
    #[cfg_attr(not(feature = "multishot"), allow(dead_code))]
    pub(crate) buf_group: u16,
}

impl IssueCx<'_> {
    /// The request header.
    pub fn info(&self) -> &ReqInfo {
        self.info
    }

    /// Set the CQE result (the series' `uring_bpf_set_result`). Negative values mark
    /// the request failed.
    pub fn set_result(&mut self, res: i32) {
        self.result = res;
    }

    /// The result set so far.
    pub fn result(&self) -> i32 {
        self.result
    }

    /// Finish issue with `r`: `Ok(n)` completes with result `n`, `Err(e)` fails the
    /// request with `-e` through the failure path — the one conversion every op uses.
    ///
    /// ```
    /// use fwring::{Errno, Issue, IssueCx};
    /// fn issue(cx: &mut IssueCx<'_>, fails: bool) -> Issue {
    ///     cx.done(if fails { Err(Errno::EIO) } else { Ok(7) })
    /// }
    /// ```
    pub fn done(&mut self, r: Result<i32, Errno>) -> Issue {
        match r {
            Ok(n) => {
                self.result = n;
                Issue::Done
            }
            Err(e) => Issue::Err(e),
        }
    }

    /// Take this request's completion token and make it pending: return
    /// [`Issue::Pending`], hand the token to whatever finishes the work, and have that
    /// call [`Completer::complete`](crate::Completer::complete). The request cannot be
    /// cancelled while pending (ASYNC_CANCEL answers -EALREADY: the hardware owns its
    /// buffers).
    ///
    /// EBUSY once the buffers went out with [`IssueCx::pending_io`]: the handle owns the
    /// completion, there is no second way in.
    pub fn pending(&mut self) -> Result<Token, Errno> {
        self.pend(Pended::Pending, Phase::Pending)
    }

    fn pend(&mut self, pended: Pended, phase: Phase) -> Result<Token, Errno> {
        if matches!(self.pended, Pended::Lent | Pended::Multishot) {
            // The buffers' handle (or the stream) owns the completion: no second way in.
            return Err(Errno::EBUSY);
        }
        self.pended = pended;
        Ok(completion::pend(self.env.mail, self.env.index, self.env.generation, phase))
    }

    /// Go pending and hand the request's buffers out with its completion: the
    /// [`PendingIo`] gives whoever finishes the work (a DMA driver, an async worker,
    /// another core) the same in-place views issue has, until it completes the request
    /// through it. Return [`Issue::Pending`]; the request stays pending whatever issue
    /// returns, cannot be cancelled (ASYNC_CANCEL: -EALREADY), and `io()` is refused
    /// (EBUSY) for the rest of this issue call.
    ///
    /// EBUSY if the request already went pending in this call (a token is out); ENOMEM
    /// if the process has numbered 2³² − 1 rings already (a handle must name its ring
    /// exactly).
    pub fn pending_io(&mut self) -> Result<PendingIo, Errno> {
        let (token, ring) = self.lendable()?;
        // Passed through as it is made: no copy of the handle in between.
        let io = PendingIo::new(token, ring, self.env.bufs, self.imports);
        if io.is_ok() {
            self.lent();
        }
        io
    }

    /// [`IssueCx::pending_io`], with the handle made in `slot` — where a driver keeps it
    /// until the device is done (a request slot of its own, in a `static`) — instead of
    /// returned: the handle is 152 bytes on 32-bit targets, and each move of it is a
    /// `memcpy` call. The same errors, and EBUSY if `slot` holds a handle already (it
    /// would be lost, and its request with it); on an error `slot` is left as it was.
    ///
    /// ```
    /// # use core::cell::RefCell;
    /// # use critical_section::Mutex;
    /// # use fwring::{BufDesc, Dir, Errno, Issue, IssueCx, Op, PendingIo, PrepCx, Sqe};
    /// /// The driver's request slot.
    /// static SLOT: Mutex<RefCell<Option<PendingIo>>> = Mutex::new(RefCell::new(None));
    /// struct Dma;
    /// impl Op for Dma {
    ///     type Pdu = ();
    ///     fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<(), Errno> {
    ///         cx.import(&BufDesc::sqe_a(sqe), Dir::Dest).map(drop)
    ///     }
    ///     fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
    ///         critical_section::with(|cs| {
    ///             let mut slot = SLOT.borrow_ref_mut(cs);
    ///             match cx.pending_io_into(&mut slot) {
    ///                 // Program the device from the handle in its slot; pending whatever
    ///                 // happens next: the handle completes the request.
    ///                 Ok(io) => {
    ///                     if let Ok(Some(buf)) = io.dest_slices(0).map(|mut s| s.next()) {
    ///                         buf[0] = 1;
    ///                     }
    ///                     Issue::Pending
    ///                 }
    ///                 Err(e) => Issue::Err(e),
    ///             }
    ///         })
    ///     }
    /// }
    /// ```
    pub fn pending_io_into<'s>(&mut self, slot: &'s mut Option<PendingIo>) -> Result<&'s mut PendingIo, Errno> {
        if slot.is_some() {
            return Err(Errno::EBUSY);
        }
        let (token, ring) = self.lendable()?;
        let io = PendingIo::new_in(slot, token, ring, self.env.bufs, self.imports)?;
        self.lent();
        Ok(io)
    }

    /// Whether the request may go pending with its buffers out now (as a `PendingIo` or
    /// a stream), and the token and ring id a handle carries.
    fn lendable(&self) -> Result<(Token, core::num::NonZeroU32), Errno> {
        if self.pended != Pended::No {
            return Err(Errno::EBUSY);
        }
        let Some(ring) = core::num::NonZeroU32::new(self.env.ring) else {
            return Err(Errno::ENOMEM);
        };
        Ok((Token::new(self.env.index, self.env.generation), ring))
    }

    /// The buffers went out: the request is pending in the lent phase.
    fn lent(&mut self) {
        completion::pend(self.env.mail, self.env.index, self.env.generation, Phase::Lent);
        self.pended = Pended::Lent;
    }

    /// (Feature `multishot`.) Go pending as a **multishot** request over the provided-buffer group the SQE
    /// names (`IOSQE_BUFFER_SELECT` + `buf_group`): the returned [`Stream`] lets a device
    /// take free buffers of the group, fill them and commit them — one CQE each, with
    /// `IORING_CQE_F_BUFFER | IORING_CQE_F_MORE` and the buffer id in the upper 16 flag
    /// bits — until the request ends with a final CQE without `F_MORE`:
    /// [`Stream::finish`], ASYNC_CANCEL (-ECANCELED), or the group running dry
    /// (-ENOBUFS, when the device asks for a buffer and none is free). Filled buffers
    /// never get lost: while the CQ is full they wait (at most the group's size) and post
    /// in fill order as room appears; the final CQE posts after all of them. Return
    /// [`Issue::Pending`]; the request stays pending whatever issue returns.
    ///
    /// Errors (the request fails with them): no `IOSQE_BUFFER_SELECT`, or a linked or
    /// `CQE_SKIP_SUCCESS` request → EINVAL; no group `buf_group`, or no buffer in it →
    /// ENOBUFS (Linux's answers); a bad entry in the group's ring → EFAULT; another
    /// request streaming from the group, or this request already pending → EBUSY.
    #[cfg(feature = "multishot")]
    pub fn multishot(&mut self) -> Result<Stream, Errno> {
        use crate::abi::SqeFlags;
        let (_, ring) = self.lendable()?;
        let f = SqeFlags::from_bits_retain(self.info.sqe_flags());
        if !f.contains(SqeFlags::BUFFER_SELECT) || f.intersects(SqeFlags::LINKS | SqeFlags::CQE_SKIP_SUCCESS) {
            return Err(Errno::EINVAL);
        }
        let group = self.env.bufs.group(self.buf_group).ok_or(Errno::ENOBUFS)?;
        if group.attached != u16::MAX {
            return Err(Errno::EBUSY);
        }
        // A fault or starvation of an earlier request of the group is not this one's.
        group.clear_flags();
        let armed = group.arm();
        if group.fault() {
            return Err(Errno::EFAULT);
        }
        if armed == 0 {
            return Err(Errno::ENOBUFS);
        }
        group.go_live(self.env.generation);
        let token = completion::pend(self.env.mail, self.env.index, self.env.generation, Phase::Multishot);
        self.pended = Pended::Multishot;
        Ok(group.stream(token, ring.get()))
    }

    /// As [`IssueCx::pending`], for work that may be abandoned: ASYNC_CANCEL and link
    /// timeouts cancel the request (-ECANCELED) and a later `complete` with the token is
    /// refused as stale. Only for work that does not touch the request's buffers after
    /// a cancel (waiting for an event, not a DMA transfer).
    ///
    /// EBUSY once the buffers went out with [`IssueCx::pending_io`].
    pub fn pending_cancelable(&mut self) -> Result<Token, Errno> {
        self.pend(Pended::Cancelable, Phase::Cancelable)
    }

    /// The buffers imported in prep, in place: sources as `&[u8]` segments,
    /// destinations as `&mut [u8]` segments.
    #[inline]
    pub fn io(&mut self) -> Result<Io<'_>, Errno> {
        if self.pended == Pended::Lent {
            return Err(Errno::EBUSY);
        }
        view::carve(self.env.bufs, self.imports)
    }

    /// The buffers and the chain record at once.
    #[inline]
    pub fn io_and_chain(&mut self) -> Result<(Io<'_>, &mut ChainData), Errno> {
        if self.pended == Pended::Lent {
            return Err(Errno::EBUSY);
        }
        Ok((view::carve(self.env.bufs, self.imports)?, self.chain))
    }

    /// [`IssueCx::io_and_chain`] into `io` (`Io::NONE` before), in place: the shipped
    /// ops' way, which moves no view.
    #[inline]
    pub(crate) fn io_into<'s>(&'s mut self, io: &mut Io<'s>) -> Result<&'s mut ChainData, Errno> {
        if self.pended == Pended::Lent {
            return Err(Errno::EBUSY);
        }
        view::carve_into(self.env.bufs, self.imports, io)?;
        Ok(self.chain)
    }

    /// Import 0 as a source and import 1 as a destination, in place (empty before; as
    /// [`Io::split`]`(0, 1)` of [`IssueCx::io_and_chain`]'s views), and the chain record.
    #[inline]
    pub(crate) fn src_dst_into<'s>(
        &'s mut self,
        src: &mut Segs<'s>,
        dst: &mut SegsMut<'s>,
    ) -> Result<&'s mut ChainData, Errno> {
        if self.pended == Pended::Lent {
            return Err(Errno::EBUSY);
        }
        view::carve_src_dst(self.env.bufs, self.imports, src, dst)?;
        Ok(self.chain)
    }

    /// The record this request's link chain shares.
    pub fn chain(&mut self) -> &mut ChainData {
        self.chain
    }

    /// Extended-argument record `id`: ENOENT if there is none.
    pub fn arg(&self, id: u16) -> Result<&ArgRecord, Errno> {
        self.args.get(&id).ok_or(Errno::ENOENT)
    }

    /// Extended-argument record `id`, writable (state an op keeps across requests).
    pub fn arg_mut(&mut self, id: u16) -> Result<&mut ArgRecord, Errno> {
        self.args.get_mut(&id).ok_or(Errno::ENOENT)
    }
}

const _: () = assert!(MAX_IMPORTS == 2);

/// prep: validate the SQE and fill the pdu. `Err` fails the request with that errno.
pub type PrepFn = fn(&mut PrepCx<'_>, &Sqe, &mut Pdu) -> Result<(), Errno>;
/// issue: do the work.
pub type IssueFn = fn(&mut IssueCx<'_>, &mut Pdu) -> Issue;
/// fail / cleanup hooks.
pub type HookFn = fn(&ReqInfo, &mut Pdu);

/// An op slot's function table: the series' `struct uring_bpf_ops`.
///
/// - `prep` runs once per SQE at submit. Missing → the SQE fails -EOPNOTSUPP (C-BPF-3).
/// - `issue` runs at most once after a successful prep, when the request's turn comes
///   (after its link predecessor, after a drain barrier). Missing → completes with 0
///   (C-BPF-11).
/// - `fail` runs when the request fails on the core's failure path: its prep or issue
///   returned an error, or it headed a chain that failed at submit. Not for requests
///   cancelled because an earlier link failed, nor for a negative `set_result`.
/// - `cleanup` runs exactly once for every request whose prep succeeded, when its result
///   is final: in the submit or poll that posts (or skips) its CQE, before that returns
///   and the CQE becomes visible (C-BPF-12).
///
/// Built by [`vtable`] from a typed [`Op`] — the table then also holds a path that calls
/// the op's callbacks directly, so a request that completes at issue costs one indirect
/// call — or, raw, from plain `fn`s with [`OpVTable::new`] and the `with_*` methods:
///
/// ```
/// use fwring::{Errno, OpVTable};
/// /// Completes every request with `sqe.len`, refusing 0.
/// static LEN: OpVTable = OpVTable::new(2)
///     .with_prep(|_cx, sqe, pdu| {
///         if sqe.len == 0 {
///             return Err(Errno::EINVAL);
///         }
///         *pdu.view_mut::<u32>() = sqe.len;
///         Ok(())
///     })
///     .with_issue(|cx, pdu| cx.done(Ok(*pdu.view::<u32>() as i32)));
/// assert_eq!(LEN.id(), 2);
/// assert!(LEN.prep().is_some() && LEN.fail().is_none());
/// ```
///
/// The fields are private so that a table's callbacks and its direct path cannot
/// disagree: replacing a callback of a typed op's table with a `with_*` method drops the
/// direct path, and the table calls its pointers everywhere.
#[derive(Clone, Copy)]
pub struct OpVTable {
    pub(crate) id: u8,
    pub(crate) prep: Option<PrepFn>,
    pub(crate) issue: Option<IssueFn>,
    pub(crate) fail: Option<HookFn>,
    pub(crate) cleanup: Option<HookFn>,
    /// Prep, issue and hooks of a standalone request in one call (`slot/run.rs`).
    pub(crate) run: run::RunFn,
}

impl OpVTable {
    /// An empty raw table for slot `id`: no callbacks (SQEs for it fail -EOPNOTSUPP until
    /// a prep is set). An `id` of 16 or more is refused by
    /// [`Ring::register_op`](crate::Ring::register_op) (EINVAL).
    pub const fn new(id: u8) -> OpVTable {
        OpVTable { id, prep: None, issue: None, fail: None, cleanup: None, run: run::run_raw }
    }

    /// This table with `prep` as its prep.
    #[must_use]
    pub const fn with_prep(self, prep: PrepFn) -> OpVTable {
        OpVTable { prep: Some(prep), run: run::run_raw, ..self }
    }

    /// This table with `issue` as its issue.
    #[must_use]
    pub const fn with_issue(self, issue: IssueFn) -> OpVTable {
        OpVTable { issue: Some(issue), run: run::run_raw, ..self }
    }

    /// This table with `fail` as its failure hook.
    #[must_use]
    pub const fn with_fail(self, fail: HookFn) -> OpVTable {
        OpVTable { fail: Some(fail), run: run::run_raw, ..self }
    }

    /// This table with `cleanup` as its release hook.
    #[must_use]
    pub const fn with_cleanup(self, cleanup: HookFn) -> OpVTable {
        OpVTable { cleanup: Some(cleanup), run: run::run_raw, ..self }
    }

    /// The slot this table registers into.
    pub const fn id(&self) -> u8 {
        self.id
    }

    /// The prep callback.
    pub const fn prep(&self) -> Option<PrepFn> {
        self.prep
    }

    /// The issue callback.
    pub const fn issue(&self) -> Option<IssueFn> {
        self.issue
    }

    /// The failure hook.
    pub const fn fail(&self) -> Option<HookFn> {
        self.fail
    }

    /// The release hook.
    pub const fn cleanup(&self) -> Option<HookFn> {
        self.cleanup
    }
}

impl fmt::Debug for OpVTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpVTable")
            .field("id", &self.id)
            .field("prep", &self.prep.is_some())
            .field("issue", &self.issue.is_some())
            .field("fail", &self.fail.is_some())
            .field("cleanup", &self.cleanup.is_some())
            .finish()
    }
}

/// A typed op: write this, get an [`OpVTable`] from [`vtable`], no `unsafe` involved.
///
/// ```
/// use fwring::{Errno, Issue, IssueCx, Op, OpVTable, PrepCx, Sqe, vtable};
///
/// /// Adds `sqe.len` to `sqe.off` and completes with the sum.
/// struct Add;
/// impl Op for Add {
///     type Pdu = [u32; 2];
///     fn prep(_cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<[u32; 2], Errno> {
///         let a = u32::try_from(sqe.off).map_err(|_| Errno::EINVAL)?;
///         Ok([a, sqe.len])
///     }
///     fn issue(cx: &mut IssueCx<'_>, pdu: &mut [u32; 2]) -> Issue {
///         match pdu[0].checked_add(pdu[1]).and_then(|s| i32::try_from(s).ok()) {
///             Some(sum) => { cx.set_result(sum); Issue::Done }
///             None => Issue::Err(Errno::EOVERFLOW),
///         }
///     }
/// }
/// static ADD: OpVTable = vtable::<Add>(0);
/// ```
pub trait Op {
    /// The op's per-request state, kept in the record's pdu (≤ 48 bytes, align ≤ 8).
    type Pdu: FromBytes + IntoBytes + KnownLayout + Immutable;

    /// Validate the SQE and build the per-request state. The SQE is only available here:
    /// copy what issue needs into the pdu.
    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<Self::Pdu, Errno>;

    /// Do the work.
    fn issue(cx: &mut IssueCx<'_>, pdu: &mut Self::Pdu) -> Issue;

    /// Called on the failure path (see [`OpVTable`]). Default: nothing.
    fn fail(_info: &ReqInfo, _pdu: &mut Self::Pdu) {}

    /// Called once per request whose prep succeeded, after its CQE. Default: nothing.
    fn cleanup(_info: &ReqInfo, _pdu: &mut Self::Pdu) {}
}

fn prep_shim<T: Op>(cx: &mut PrepCx<'_>, sqe: &Sqe, pdu: &mut Pdu) -> Result<(), Errno> {
    let value = T::prep(cx, sqe)?;
    *pdu.view_mut::<T::Pdu>() = value;
    Ok(())
}

fn issue_shim<T: Op>(cx: &mut IssueCx<'_>, pdu: &mut Pdu) -> Issue {
    T::issue(cx, pdu.view_mut::<T::Pdu>())
}

fn fail_shim<T: Op>(info: &ReqInfo, pdu: &mut Pdu) {
    T::fail(info, pdu.view_mut::<T::Pdu>())
}

fn cleanup_shim<T: Op>(info: &ReqInfo, pdu: &mut Pdu) {
    T::cleanup(info, pdu.view_mut::<T::Pdu>())
}

/// Build the function table of a typed [`Op`] for slot `id`.
///
/// `id` must be below 16 (there are 16 op slots): in a `static`, a larger id is a
/// compile error; called at run time, a panic.
///
/// ```compile_fail
/// # use fwring::{Errno, Issue, IssueCx, Op, OpVTable, PrepCx, Sqe, vtable};
/// # struct Tiny;
/// # impl Op for Tiny {
/// #     type Pdu = u32;
/// #     fn prep(_: &mut PrepCx<'_>, _: &Sqe) -> Result<u32, Errno> { Ok(0) }
/// #     fn issue(_: &mut IssueCx<'_>, _: &mut u32) -> Issue { Issue::Done }
/// # }
/// static SEVENTEENTH: OpVTable = vtable::<Tiny>(16); // error: op slot ids are 0..16
/// ```
///
/// A pdu larger than 48 bytes (or aligned to more than 8) fails the build too, at the
/// `vtable::<YourOp>` that instantiates it:
///
/// ```compile_fail
/// # use fwring::{Errno, Issue, IssueCx, Op, OpVTable, PrepCx, Sqe, vtable};
/// struct Big;
/// impl Op for Big {
///     type Pdu = [u64; 7]; // 56 bytes
///     fn prep(_: &mut PrepCx<'_>, _: &Sqe) -> Result<[u64; 7], Errno> { Ok([0; 7]) }
///     fn issue(_: &mut IssueCx<'_>, _: &mut [u64; 7]) -> Issue { Issue::Done }
/// }
/// static BIG: OpVTable = vtable::<Big>(0); // error: does not fit its fwring record
/// ```
pub const fn vtable<T: Op>(id: u8) -> OpVTable {
    let () = crate::bytes::Fits::<T::Pdu, PDU_SIZE>::OK;
    assert!((id as usize) < MAX_OP_SLOTS, "op slot ids are 0..16: vtable() needs an id below 16");
    OpVTable {
        id,
        prep: Some(prep_shim::<T>),
        issue: Some(issue_shim::<T>),
        fail: Some(fail_shim::<T>),
        cleanup: Some(cleanup_shim::<T>),
        run: run::run_typed::<T>,
    }
}

/// The state of one op slot.
#[derive(Clone, Copy, Debug, Default)]
pub enum SlotState {
    /// Nothing registered: SQEs naming the slot fail -EOPNOTSUPP.
    #[default]
    Empty,
    /// A table is registered.
    Active(&'static OpVTable),
    /// Unregistered while requests were in flight: new SQEs fail -EOPNOTSUPP at once
    /// (C-BPF-18); the slot empties when the last in-flight request's cleanup has run.
    Draining(&'static OpVTable),
}

/// What [`Ring::unregister_op`](crate::Ring::unregister_op) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Unregistered {
    /// No request was in flight: the slot is empty now.
    Done,
    /// `n` requests were in flight: the slot is draining and empties after their cleanup.
    Deferred(u16),
}

/// One op slot: `Empty` has neither table, `Active` its `active` one, `Draining` its
/// `draining` one — two fields rather than a [`SlotState`], so that the fast path finds
/// an active table with one load.
#[derive(Clone, Copy)]
pub(crate) struct Slot {
    active: Option<&'static OpVTable>,
    draining: Option<&'static OpVTable>,
    /// Requests whose prep succeeded and whose cleanup has not run.
    inflight: u16,
}

/// The 16 op slots of a ring.
pub(crate) struct Slots {
    slots: [Slot; MAX_OP_SLOTS],
}

impl Slots {
    pub const fn new() -> Self {
        Slots { slots: [Slot { active: None, draining: None, inflight: 0 }; MAX_OP_SLOTS] }
    }

    /// Every slot empty again, in place (a ring's setup: see `Engine::reset`).
    pub fn reset(&mut self) {
        for s in &mut self.slots {
            *s = Slot { active: None, draining: None, inflight: 0 };
        }
    }

    /// The table an SQE for `slot` may use: only an active slot has one.
    #[inline]
    pub fn active(&self, slot: u8) -> Option<&'static OpVTable> {
        self.slots.get(slot as usize)?.active
    }

    pub fn state(&self, slot: usize) -> Option<SlotState> {
        self.slots.get(slot).map(|s| match (s.active, s.draining) {
            (Some(vt), _) => SlotState::Active(vt),
            (None, Some(vt)) => SlotState::Draining(vt),
            (None, None) => SlotState::Empty,
        })
    }

    pub fn register(&mut self, vt: &'static OpVTable) -> Result<(), Errno> {
        let slot = self.slots.get_mut(vt.id as usize).ok_or(Errno::EINVAL)?;
        if slot.active.is_some() || slot.draining.is_some() {
            return Err(Errno::EBUSY);
        }
        slot.active = Some(vt);
        Ok(())
    }

    pub fn unregister(&mut self, id: usize) -> Result<Unregistered, Errno> {
        let slot = self.slots.get_mut(id).ok_or(Errno::EINVAL)?;
        match (slot.active.take(), slot.draining) {
            (None, None) => Err(Errno::EINVAL),
            (None, Some(_)) => Err(Errno::EBUSY),
            (Some(_), _) if slot.inflight == 0 => Ok(Unregistered::Done),
            (Some(vt), _) => {
                slot.draining = Some(vt);
                Ok(Unregistered::Deferred(slot.inflight))
            }
        }
    }

    /// A request of `slot` passed prep.
    pub fn hold(&mut self, slot: u8) {
        if let Some(s) = self.slots.get_mut(slot as usize) {
            s.inflight = s.inflight.saturating_add(1);
        }
    }

    /// A request of `slot` finished its cleanup.
    pub fn release(&mut self, slot: u8) {
        if let Some(s) = self.slots.get_mut(slot as usize) {
            s.inflight = s.inflight.saturating_sub(1);
            if s.inflight == 0 {
                s.draining = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static T: OpVTable = OpVTable::new(3);

    #[test]
    fn unregister_in_flight_defers_until_last_cleanup_c_bpf_17_18() {
        let mut s = Slots::new();
        s.register(&T).unwrap();
        s.hold(3);
        s.hold(3);
        assert_eq!(s.unregister(3), Ok(Unregistered::Deferred(2)));
        // Draining: new SQEs see no table (-EOPNOTSUPP), re-register is refused.
        assert!(s.active(3).is_none());
        assert_eq!(s.register(&T), Err(Errno::EBUSY));
        assert_eq!(s.unregister(3), Err(Errno::EBUSY));
        s.release(3);
        assert!(matches!(s.state(3), Some(SlotState::Draining(_))));
        s.release(3);
        assert!(matches!(s.state(3), Some(SlotState::Empty)));
        s.register(&T).unwrap();
        assert!(s.active(3).is_some());
    }

    #[test]
    fn pdu_views_share_the_bytes_c_bpf_13() {
        let mut p = Pdu::ZERO;
        *p.view_mut::<[u32; 2]>() = [0xdead_beef, 7];
        assert_eq!(&p.bytes()[..4], &0xdead_beefu32.to_ne_bytes());
        assert_eq!(p.view::<u64>().to_ne_bytes()[4..], 7u32.to_ne_bytes());
        p = Pdu::ZERO;
        assert_eq!(p, Pdu::ZERO);
    }
}
