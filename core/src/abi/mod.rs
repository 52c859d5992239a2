//! The Linux io_uring ABI, byte for byte: SQE and CQE layouts, flag words and opcodes.
//!
//! Everything here matches `include/uapi/linux/io_uring.h` plus the IORING_OP_BPF series
//! (`IORING_SETUP_BPF_EXT`, `IORING_FEAT_BPF`, `bpf_op_flags`). Names are Linux's with the
//! `IORING_`/`IOSQE_` prefixes dropped, so the uapi header maps onto this module 1:1.
//! Sizes and every field offset are pinned by `const` assertions at the bottom of the file:
//! a layout change is a compile error, not a test failure.

pub mod errno;
pub mod setup;

use crate::abi::errno::Errno;
use bitflags::bitflags;
use core::fmt;
use core::mem::{offset_of, size_of};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

impl SqeFlags {
    /// `IO_LINK | IO_HARDLINK`: the bits that chain an SQE to the next.
    pub const LINKS: SqeFlags = SqeFlags::IO_LINK.union(SqeFlags::IO_HARDLINK);
}

/// Submission queue entry: Linux `struct io_uring_sqe`, 64 bytes.
///
/// Union members of the C struct are stored under one name (the most common one) and
/// exposed under their other names through accessors, e.g. [`Sqe::nop_flags`] and
/// [`Sqe::bpf_op_flags`] both read the word at offset 28 ([`Sqe::op_flags`]).
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct Sqe {
    /// Operation code (`opcode` module).
    pub opcode: u8,
    /// `IOSQE_*` flags ([`SqeFlags`] as raw bits; undefined bits are kept so they can be
    /// rejected the way Linux rejects them).
    pub flags: u8,
    /// I/O priority, or per-opcode flags for send/recv/accept. NOP and BPF require 0.
    pub ioprio: u16,
    /// File descriptor (or fixed-file index).
    pub fd: i32,
    /// `off` / `addr2` / `cmd_op` (low half).
    pub off: u64,
    /// `addr` / `splice_off_in`.
    pub addr: u64,
    /// Length; for NOP with `INJECT_RESULT`, the injected result.
    pub len: u32,
    /// The per-opcode flag word: `rw_flags`, `nop_flags`, `timeout_flags`,
    /// `cancel_flags`, `bpf_op_flags`, ... (all alias these 4 bytes).
    pub op_flags: u32,
    /// Opaque value copied verbatim into the CQE.
    pub user_data: u64,
    /// `buf_index` / `buf_group`.
    pub buf_index: u16,
    /// Personality id (fwring has none registered: non-zero is rejected like Linux does).
    pub personality: u16,
    /// `splice_fd_in` / `file_index` / `optlen` / `addr_len`.
    pub file_index: u32,
    /// `addr3` / `optval` / first 8 bytes of `cmd[]`.
    pub addr3: u64,
    /// `__pad2[0]` / `attr_type_mask` / last 8 bytes of `cmd[]`.
    pub pad2: u64,
}

impl Sqe {
    /// An all-zero SQE with `opcode` set (user_data 0, no flags).
    pub const fn new(opcode: u8) -> Self {
        Sqe {
            opcode,
            flags: 0,
            ioprio: 0,
            fd: 0,
            off: 0,
            addr: 0,
            len: 0,
            op_flags: 0,
            user_data: 0,
            buf_index: 0,
            personality: 0,
            file_index: 0,
            addr3: 0,
            pad2: 0,
        }
    }

    /// `IORING_OP_NOP`.
    pub const fn nop() -> Self {
        Sqe::new(opcode::NOP)
    }

    /// `IORING_OP_NOP` with `IORING_NOP_INJECT_RESULT`: completes with `res`.
    pub const fn nop_inject(res: i32) -> Self {
        let mut sqe = Sqe::new(opcode::NOP);
        sqe.op_flags = NopFlags::INJECT_RESULT.bits();
        sqe.len = res as u32;
        sqe
    }

    /// `IORING_OP_BPF` aimed at op slot `slot`, with the op's own 24 flag bits.
    /// `fd` is -1 as in the series' selftests (the opcode needs no file).
    pub const fn bpf(slot: u8, op_flags: u32) -> Self {
        let mut sqe = Sqe::new(opcode::BPF);
        sqe.fd = -1;
        sqe.op_flags = bpf_op_flags(slot, op_flags);
        sqe
    }

    /// `IORING_OP_TIMEOUT` of `ns` nanoseconds, the time given in the SQE itself
    /// ([`TimeoutFlags::IMMEDIATE_ARG`] is always added; for a `__kernel_timespec` in
    /// registered memory use [`Sqe::timeout_at`]). Completes with -ETIME when it expires,
    /// or with 0 once `count` other CQEs were posted since it was armed (`count` 0: time
    /// only). `flags`: [`TimeoutFlags::ABS`] (`ns` is a deadline in the caller's time base),
    /// [`TimeoutFlags::ETIME_SUCCESS`] (an expiry does not fail the link chain), one clock
    /// flag; `MULTISHOT`, `UPDATE` or two clocks are -EINVAL. `len` is 1, as Linux
    /// requires (else -EINVAL).
    ///
    #[cfg_attr(feature = "timeouts", doc = "```")]
    #[cfg_attr(not(feature = "timeouts"), doc = "```ignore")]
    /// use fwring::{Cqe, Errno, Ring, Sqe, TimeoutFlags};
    /// let mut ring: Ring<4, 8, 4> = Ring::new();
    /// ring.push(Sqe::timeout(1_000, 0, TimeoutFlags::empty()).user_data(1)).unwrap();
    /// // An absolute deadline at t = 500 ns.
    /// ring.push(Sqe::timeout(500, 0, TimeoutFlags::ABS).user_data(2)).unwrap();
    /// let _ = ring.submit();
    /// ring.tick(1_000);
    /// assert_eq!(ring.pop(), Some(Cqe::new(2, Errno::ETIME.res())));
    /// assert_eq!(ring.pop(), Some(Cqe::new(1, Errno::ETIME.res())));
    /// ```
    pub const fn timeout(ns: u64, count: u32, flags: TimeoutFlags) -> Self {
        Sqe::timeout_at(ns, count, flags.union(TimeoutFlags::IMMEDIATE_ARG))
    }

    /// `IORING_OP_TIMEOUT` with its time in a `struct __kernel_timespec` (16 bytes:
    /// seconds, nanoseconds, both `i64`, non-negative) at `addr` in registered memory —
    /// Linux's form. An address outside every registered region is -EFAULT. Otherwise as
    /// [`Sqe::timeout`] (with [`TimeoutFlags::IMMEDIATE_ARG`] in `flags`, `addr` is the
    /// time in nanoseconds).
    pub const fn timeout_at(addr: u64, count: u32, flags: TimeoutFlags) -> Self {
        let mut sqe = Sqe::new(opcode::TIMEOUT);
        sqe.addr = addr;
        sqe.len = 1;
        sqe.off = count as u64;
        sqe.op_flags = flags.bits();
        sqe
    }

    /// `IORING_OP_LINK_TIMEOUT` of `ns` nanoseconds (immediate argument, as
    /// [`Sqe::timeout`]; `flags` as there, but a link timeout has no count): push it
    /// right after a request with `IO_LINK`; if that request has not completed when it
    /// fires, it is cancelled (-ECANCELED) and the timeout completes with -ETIME — or
    /// -EALREADY when it cannot be cancelled. Without a linked request before it,
    /// -EINVAL.
    ///
    #[cfg_attr(feature = "timeouts", doc = "```")]
    #[cfg_attr(not(feature = "timeouts"), doc = "```ignore")]
    /// use fwring::{Cqe, Errno, Ring, Sqe, SqeFlags, TimeoutFlags};
    /// let mut ring: Ring<4, 8, 4> = Ring::new();
    /// ring.push(Sqe::nop().user_data(1).flags(SqeFlags::IO_LINK)).unwrap();
    /// ring.push(Sqe::link_timeout(1_000, TimeoutFlags::empty()).user_data(2)).unwrap();
    /// let _ = ring.submit();
    /// // The NOP finished first: its timeout is cancelled.
    /// assert_eq!(ring.pop(), Some(Cqe::new(1, 0)));
    /// assert_eq!(ring.pop(), Some(Cqe::new(2, Errno::ECANCELED.res())));
    /// ```
    pub const fn link_timeout(ns: u64, flags: TimeoutFlags) -> Self {
        let mut sqe = Sqe::new(opcode::LINK_TIMEOUT);
        sqe.addr = ns;
        sqe.len = 1;
        sqe.op_flags = flags.union(TimeoutFlags::IMMEDIATE_ARG).bits();
        sqe
    }

    /// `IORING_OP_TIMEOUT_REMOVE` of the armed TIMEOUT whose user_data is `target`: 0
    /// and the timeout completes with -ECANCELED, or -ENOENT if there is none. Its
    /// `timeout_flags`, `len` and `off` stay 0: a removal takes no flags (any is -EINVAL;
    /// to change a timeout use [`Sqe::timeout_update`]).
    ///
    #[cfg_attr(feature = "timeouts", doc = "```")]
    #[cfg_attr(not(feature = "timeouts"), doc = "```ignore")]
    /// use fwring::{Cqe, Errno, Ring, Sqe, TimeoutFlags};
    /// let mut ring: Ring<4, 8, 4> = Ring::new();
    /// ring.push(Sqe::timeout(1_000, 0, TimeoutFlags::empty()).user_data(1)).unwrap();
    /// ring.push(Sqe::timeout_remove(1).user_data(2)).unwrap();
    /// ring.push(Sqe::timeout_remove(9).user_data(3)).unwrap();
    /// let _ = ring.submit();
    /// let mut cqes = [ring.pop(), ring.pop(), ring.pop()];
    /// cqes.sort_by_key(|c| c.map(|c| c.user_data));
    /// assert_eq!(
    ///     cqes,
    ///     [Some(Cqe::new(1, Errno::ECANCELED.res())), Some(Cqe::new(2, 0)), Some(Cqe::new(3, Errno::ENOENT.res()))]
    /// );
    /// ```
    pub const fn timeout_remove(target: u64) -> Self {
        let mut sqe = Sqe::new(opcode::TIMEOUT_REMOVE);
        sqe.addr = target;
        sqe
    }

    /// `IORING_OP_TIMEOUT_REMOVE` with [`TimeoutFlags::UPDATE`]: re-arm the TIMEOUT whose
    /// user_data is `target` to `ns` nanoseconds from now — or, with
    /// [`TimeoutFlags::ABS`] in `flags`, to the deadline `ns`. `UPDATE` and
    /// `IMMEDIATE_ARG` are always added; `ETIME_SUCCESS`, `MULTISHOT` and
    /// `LINK_TIMEOUT_UPDATE` are -EINVAL here. 0 when updated, -ENOENT when there is no
    /// such timeout.
    ///
    #[cfg_attr(feature = "timeouts", doc = "```")]
    #[cfg_attr(not(feature = "timeouts"), doc = "```ignore")]
    /// use fwring::{Cqe, Errno, Ring, Sqe, TimeoutFlags};
    /// let mut ring: Ring<4, 8, 4> = Ring::new();
    /// ring.push(Sqe::timeout(1_000, 0, TimeoutFlags::empty()).user_data(1)).unwrap();
    /// ring.push(Sqe::timeout_update(1, 5_000, TimeoutFlags::ABS).user_data(2)).unwrap();
    /// let _ = ring.submit();
    /// assert_eq!(ring.pop(), Some(Cqe::new(2, 0)));
    /// ring.tick(1_000);
    /// assert_eq!(ring.pop(), None); // moved to t = 5000
    /// ring.tick(5_000);
    /// assert_eq!(ring.pop(), Some(Cqe::new(1, Errno::ETIME.res())));
    /// ```
    pub const fn timeout_update(target: u64, ns: u64, flags: TimeoutFlags) -> Self {
        let mut sqe = Sqe::new(opcode::TIMEOUT_REMOVE);
        sqe.addr = target;
        sqe.off = ns;
        sqe.op_flags = flags.union(TimeoutFlags::UPDATE).union(TimeoutFlags::IMMEDIATE_ARG).bits();
        sqe
    }

    /// `IORING_OP_ASYNC_CANCEL` of the request whose user_data is `target`, matched as
    /// `flags` say: [`CancelFlags::empty()`] (by user_data), [`CancelFlags::ALL`] (every
    /// match; the result is how many were cancelled), [`CancelFlags::ANY`] (every
    /// request), [`CancelFlags::OP`] (by opcode, in `len`: use [`Sqe::len`]). 0 when
    /// cancelled, -EALREADY when found but not cancellable (pending in hardware), -ENOENT
    /// when not found; `FD` / `FD_FIXED` are -EINVAL (fwring has no files).
    ///
    #[cfg_attr(feature = "timeouts", doc = "```")]
    #[cfg_attr(not(feature = "timeouts"), doc = "```ignore")]
    /// use fwring::{CancelFlags, Cqe, Errno, Ring, Sqe, TimeoutFlags};
    /// let mut ring: Ring<4, 8, 4> = Ring::new();
    /// ring.push(Sqe::timeout(1_000_000, 0, TimeoutFlags::empty()).user_data(1)).unwrap();
    /// ring.push(Sqe::cancel(1, CancelFlags::empty()).user_data(2)).unwrap();
    /// let _ = ring.submit();
    /// assert_eq!(ring.pop(), Some(Cqe::new(2, 0)));
    /// assert_eq!(ring.pop(), Some(Cqe::new(1, Errno::ECANCELED.res())));
    /// ```
    pub const fn cancel(target: u64, flags: CancelFlags) -> Self {
        let mut sqe = Sqe::new(opcode::ASYNC_CANCEL);
        sqe.addr = target;
        sqe.op_flags = flags.bits();
        sqe
    }

    /// Builder: set the opcode's flag word (`nop_flags`, `timeout_flags`,
    /// `cancel_flags`, `bpf_op_flags` … — one u32 at offset 28) as a raw number: the
    /// typed words' `bits()` ([`NopFlags`], [`TimeoutFlags`], [`CancelFlags`]), or any
    /// value, to see how undefined bits are refused. The opcode builders set it already.
    #[must_use]
    pub const fn op_flags(mut self, flags: u32) -> Self {
        self.op_flags = flags;
        self
    }

    /// Builder: set `user_data`.
    #[must_use]
    pub const fn user_data(mut self, user_data: u64) -> Self {
        self.user_data = user_data;
        self
    }

    /// Builder: set the `IOSQE_*` flags.
    #[must_use]
    pub const fn flags(mut self, flags: SqeFlags) -> Self {
        self.flags = flags.bits();
        self
    }

    /// Builder: set `addr`.
    #[must_use]
    pub const fn addr(mut self, addr: u64) -> Self {
        self.addr = addr;
        self
    }

    /// Builder: set `len`.
    #[must_use]
    pub const fn len(mut self, len: u32) -> Self {
        self.len = len;
        self
    }

    /// Builder: set `off`.
    #[must_use]
    pub const fn off(mut self, off: u64) -> Self {
        self.off = off;
        self
    }

    /// Builder: set `buf_index`.
    #[must_use]
    pub const fn buf_index(mut self, index: u16) -> Self {
        self.buf_index = index;
        self
    }

    /// The first four bytes as one little-endian word: `opcode | flags << 8 | ioprio << 16`.
    /// Lets a hot path test all three with one load.
    #[inline(always)]
    pub fn head_word(&self) -> u32 {
        // One 4-byte load (the prefix always exists: an SQE is 64 bytes).
        u32::from_le(u32::read_from_prefix(self.as_bytes()).map_or(u32::MAX, |(w, _)| w))
    }

    /// The flag byte as [`SqeFlags`], undefined bits dropped.
    pub const fn sqe_flags(&self) -> SqeFlags {
        SqeFlags::from_bits_truncate(self.flags)
    }

    /// `nop_flags` (offset 28), undefined bits kept (a NOP with any is -EINVAL).
    pub const fn nop_flags(&self) -> NopFlags {
        NopFlags::from_bits_retain(self.op_flags)
    }

    /// `bpf_op_flags` (offset 28): slot in bits 31..24, op flags in bits 23..0.
    pub const fn bpf_op_flags(&self) -> u32 {
        self.op_flags
    }

    /// `timeout_flags` (offset 28), undefined bits kept (they are -EINVAL at prep).
    pub const fn timeout_flags(&self) -> TimeoutFlags {
        TimeoutFlags::from_bits_retain(self.op_flags)
    }

    /// `cancel_flags` (offset 28), undefined bits kept (they are -EINVAL at prep).
    pub const fn cancel_flags(&self) -> CancelFlags {
        CancelFlags::from_bits_retain(self.op_flags)
    }

    /// `rw_flags` (offset 28).
    pub const fn rw_flags(&self) -> u32 {
        self.op_flags
    }

    /// `addr2` (offset 8, alias of `off`).
    pub const fn addr2(&self) -> u64 {
        self.off
    }

    /// `buf_group` (offset 40, alias of `buf_index`).
    pub const fn buf_group(&self) -> u16 {
        self.buf_index
    }

    /// `splice_fd_in` (offset 44, alias of `file_index`).
    pub const fn splice_fd_in(&self) -> i32 {
        self.file_index as i32
    }
}

impl fmt::Debug for Sqe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sqe")
            .field("opcode", &self.opcode)
            .field("flags", &format_args!("{:#04x}", self.flags))
            .field("ioprio", &self.ioprio)
            .field("fd", &self.fd)
            .field("off", &format_args!("{:#x}", self.off))
            .field("addr", &format_args!("{:#x}", self.addr))
            .field("len", &self.len)
            .field("op_flags", &format_args!("{:#x}", self.op_flags))
            .field("user_data", &format_args!("{:#x}", self.user_data))
            .field("buf_index", &self.buf_index)
            .field("personality", &self.personality)
            .field("file_index", &self.file_index)
            .field("addr3", &format_args!("{:#x}", self.addr3))
            .field("pad2", &format_args!("{:#x}", self.pad2))
            .finish()
    }
}

#[cfg(feature = "defmt")]
#[cfg_attr(docsrs, doc(cfg(feature = "defmt")))]
impl defmt::Format for Sqe {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "Sqe {{ opcode: {=u8}, flags: {=u8:#x}, op_flags: {=u32:#x}, len: {=u32}, user_data: {=u64:#x} }}",
            self.opcode,
            self.flags,
            self.op_flags,
            self.len,
            self.user_data
        )
    }
}

/// Completion queue entry: Linux `struct io_uring_cqe`, 16 bytes.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Cqe {
    /// The SQE's `user_data`, bit for bit.
    pub user_data: u64,
    /// Result: non-negative on success, `-errno` on failure.
    pub res: i32,
    /// `IORING_CQE_F_*` ([`CqeFlags`] as raw bits). NOP, link, drain, cancel and timeout
    /// completions carry 0.
    pub flags: u32,
}

impl Cqe {
    /// A CQE with `flags` 0.
    pub const fn new(user_data: u64, res: i32) -> Self {
        Cqe { user_data, res, flags: 0 }
    }

    /// The result as a `Result`: `Ok(res)` when `res ≥ 0`, the [`Errno`] when it is
    /// negative. A negative result below −4095 is not an errno (only a NOP's
    /// `INJECT_RESULT` can produce one) and reads as [`Errno::ERANGE`]; `res` still holds
    /// it.
    ///
    /// ```
    /// use fwring::{Cqe, Errno};
    ///
    /// assert_eq!(Cqe::new(7, 42).result(), Ok(42));
    /// assert_eq!(Cqe::new(7, -125).result(), Err(Errno::ECANCELED));
    /// assert_eq!(Cqe::new(7, i32::MIN).result(), Err(Errno::ERANGE));
    /// ```
    pub const fn result(&self) -> Result<u32, Errno> {
        if self.res >= 0 {
            return Ok(self.res as u32);
        }
        match Errno::from_res(self.res) {
            Some(e) => Err(e),
            None => Err(Errno::ERANGE),
        }
    }
}

bitflags! {
    /// `IOSQE_*`: the SQE flag byte.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
    pub struct SqeFlags: u8 {
        /// `fd` is an index into the registered file table.
        const FIXED_FILE = 1 << 0;
        /// Start only after every earlier request has completed; later ones wait for it.
        const IO_DRAIN = 1 << 1;
        /// The next SQE is linked to this one; a failure cancels the rest of the chain.
        const IO_LINK = 1 << 2;
        /// Like `IO_LINK`, but the chain goes on even if this request fails.
        const IO_HARDLINK = 1 << 3;
        /// Always issue asynchronously (a hint; fwring has no worker threads).
        const ASYNC = 1 << 4;
        /// Pick a provided buffer from `buf_group`.
        const BUFFER_SELECT = 1 << 5;
        /// Post no CQE when the request succeeds.
        const CQE_SKIP_SUCCESS = 1 << 6;
    }
}

bitflags! {
    /// `IORING_CQE_F_*`: the CQE flag word.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
    pub struct CqeFlags: u32 {
        /// Upper 16 bits hold a provided-buffer id.
        const BUFFER = 1 << 0;
        /// More CQEs will follow for this SQE.
        const MORE = 1 << 1;
        /// Socket had more data.
        const SOCK_NONEMPTY = 1 << 2;
        /// Zero-copy send notification.
        const NOTIF = 1 << 3;
        /// Buffer partially consumed.
        const BUF_MORE = 1 << 4;
        /// Padding CQE on a mixed-size ring.
        const SKIP = 1 << 5;
        /// This CQE is 32 bytes (mixed rings).
        const F_32 = 1 << 15;
    }
}

/// `IORING_CQE_BUFFER_SHIFT`: position of the buffer id in CQE flags.
pub const CQE_BUFFER_SHIFT: u32 = 16;

bitflags! {
    /// `IORING_SETUP_*`: flags given when a ring is set up.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
    pub struct SetupFlags: u32 {
        /// Busy-poll for completions.
        const IOPOLL = 1 << 0;
        /// Kernel thread polls the SQ.
        const SQPOLL = 1 << 1;
        /// Pin the SQ poll thread.
        const SQ_AFF = 1 << 2;
        /// `cq_entries` is given.
        const CQSIZE = 1 << 3;
        /// Clamp sizes instead of failing with EINVAL.
        const CLAMP = 1 << 4;
        /// Share the async backend of another ring.
        const ATTACH_WQ = 1 << 5;
        /// Ring starts disabled.
        const R_DISABLED = 1 << 6;
        /// Keep submitting after an SQE fails at submit time.
        const SUBMIT_ALL = 1 << 7;
        /// Cooperative task running.
        const COOP_TASKRUN = 1 << 8;
        /// Report pending task work in the SQ flags.
        const TASKRUN_FLAG = 1 << 9;
        /// 128-byte SQEs.
        const SQE128 = 1 << 10;
        /// 32-byte CQEs.
        const CQE32 = 1 << 11;
        /// Only one task submits.
        const SINGLE_ISSUER = 1 << 12;
        /// Defer task work to the waiting task.
        const DEFER_TASKRUN = 1 << 13;
        /// Application provides the ring memory.
        const NO_MMAP = 1 << 14;
        /// Ring fd is registered only.
        const REGISTERED_FD_ONLY = 1 << 15;
        /// No SQ index array: SQEs are consumed in ring order.
        const NO_SQARRAY = 1 << 16;
        /// Hybrid IO polling.
        const HYBRID_IOPOLL = 1 << 17;
        /// Mixed 16/32-byte CQEs.
        const CQE_MIXED = 1 << 18;
        /// Mixed 64/128-byte SQEs.
        const SQE_MIXED = 1 << 19;
        /// SQ head rewinds.
        const SQ_REWIND = 1 << 20;
        /// Enable IORING_OP_BPF op slots (the series' `IORING_SETUP_BPF_EXT`).
        const BPF_EXT = 1 << 21;
    }
}

bitflags! {
    /// `IORING_FEAT_*`: features a ring reports at setup.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
    pub struct Features: u32 {
        /// SQ and CQ share one mapping.
        const SINGLE_MMAP = 1 << 0;
        /// CQEs are never dropped (Linux: overflow list).
        const NODROP = 1 << 1;
        /// SQE data is consumed at submit time.
        const SUBMIT_STABLE = 1 << 2;
        /// `off == -1` means the current file position.
        const RW_CUR_POS = 1 << 3;
        /// Requests use the submitter's personality.
        const CUR_PERSONALITY = 1 << 4;
        /// Internal poll for non-blocking retries.
        const FAST_POLL = 1 << 5;
        /// 32-bit poll masks.
        const POLL_32BITS = 1 << 6;
        /// SQPOLL works with non-fixed files.
        const SQPOLL_NONFIXED = 1 << 7;
        /// `io_uring_enter` takes an extended argument.
        const EXT_ARG = 1 << 8;
        /// Native worker threads.
        const NATIVE_WORKERS = 1 << 9;
        /// Resource tags.
        const RSRC_TAGS = 1 << 10;
        /// `IOSQE_CQE_SKIP_SUCCESS` is supported.
        const CQE_SKIP = 1 << 11;
        /// Linked requests resolve files late.
        const LINKED_FILE = 1 << 12;
        /// Registered ring fds.
        const REG_REG_RING = 1 << 13;
        /// Send/recv bundles.
        const RECVSEND_BUNDLE = 1 << 14;
        /// Minimum wait timeout.
        const MIN_TIMEOUT = 1 << 15;
        /// Read/write attributes.
        const RW_ATTR = 1 << 16;
        /// No iowait accounting.
        const NO_IOWAIT = 1 << 17;
        /// IORING_OP_BPF op slots (the series' `IORING_FEAT_BPF`).
        const BPF = 1 << 18;
    }
}

bitflags! {
    /// `IORING_NOP_*`: the `nop_flags` word of a NOP SQE.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
    pub struct NopFlags: u32 {
        /// Complete with `(i32) sqe.len`.
        const INJECT_RESULT = 1 << 0;
        /// Look up `fd`; a bad fd gives -EBADF.
        const FILE = 1 << 1;
        /// With `FILE`: `fd` is a fixed-file index.
        const FIXED_FILE = 1 << 2;
        /// Look up `buf_index` in the registered buffer table; missing gives -EFAULT.
        const FIXED_BUFFER = 1 << 3;
        /// Complete through task work (one pass later).
        const TW = 1 << 4;
        /// Post a 32-byte CQE (needs a CQE32 / CQE_MIXED ring, else -EINVAL).
        const CQE32 = 1 << 5;
    }
}

bitflags! {
    /// `IORING_TIMEOUT_*`: the `timeout_flags` word of TIMEOUT, LINK_TIMEOUT and
    /// TIMEOUT_REMOVE SQEs ([`Sqe::timeout`], [`Sqe::link_timeout`],
    /// [`Sqe::timeout_update`]). What each does, and which combinations are -EINVAL, is in
    /// [`timeout`](crate::timeout).
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
    pub struct TimeoutFlags: u32 {
        /// The time is absolute (the caller's time base, as passed to
        /// [`Ring::tick`](crate::Ring::tick)).
        const ABS = 1 << 0;
        /// TIMEOUT_REMOVE: update the timeout instead of removing it.
        const UPDATE = 1 << 1;
        /// CLOCK_BOOTTIME (fwring has one time base: accepted, same clock).
        const BOOTTIME = 1 << 2;
        /// CLOCK_REALTIME (same clock).
        const REALTIME = 1 << 3;
        /// TIMEOUT_REMOVE with UPDATE: the target is a link timeout (not supported:
        /// -EINVAL).
        const LINK_TIMEOUT_UPDATE = 1 << 4;
        /// An expiry (-ETIME) does not fail the link chain.
        const ETIME_SUCCESS = 1 << 5;
        /// Repeat (not supported: -EINVAL).
        const MULTISHOT = 1 << 6;
        /// `sqe.addr` is the timeout in nanoseconds, not a timespec address.
        const IMMEDIATE_ARG = 1 << 7;
    }
}

impl TimeoutFlags {
    /// `IORING_TIMEOUT_CLOCK_MASK`: the clock bits (at most one may be set).
    pub const CLOCK_MASK: TimeoutFlags = TimeoutFlags::BOOTTIME.union(TimeoutFlags::REALTIME);
}

bitflags! {
    /// `IORING_ASYNC_CANCEL_*`: the `cancel_flags` word of an ASYNC_CANCEL SQE
    /// ([`Sqe::cancel`]). What is found and cancelled is in [`cancel`](crate::cancel).
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
    pub struct CancelFlags: u32 {
        /// Cancel every match; the result is how many were cancelled.
        const ALL = 1 << 0;
        /// Match by file descriptor (no files in fwring: -EINVAL).
        const FD = 1 << 1;
        /// Match any request.
        const ANY = 1 << 2;
        /// Match by fixed file (no files in fwring: -EINVAL).
        const FD_FIXED = 1 << 3;
        /// Match by user_data (the default).
        const USERDATA = 1 << 4;
        /// Match by opcode (`sqe.len`).
        const OP = 1 << 5;
    }
}

bitflags! {
    /// `IORING_SQ_*`: flags in the SQ ring header.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
    pub struct SqRingFlags: u32 {
        /// The SQ poll thread sleeps.
        const NEED_WAKEUP = 1 << 0;
        /// Completions are waiting for CQ space. In fwring: the last submit stopped taking
        /// SQEs because the CQ (or the in-flight table) had no room (backpressure).
        const CQ_OVERFLOW = 1 << 1;
        /// Task work is pending.
        const TASKRUN = 1 << 2;
    }
}

/// defmt shows a flag word as its raw bits (decoders print names from these).
#[cfg(feature = "defmt")]
macro_rules! defmt_bits {
    ($($t:ty => $fmt:literal),* $(,)?) => {$(
        #[cfg_attr(docsrs, doc(cfg(feature = "defmt")))]
        impl defmt::Format for $t {
            fn format(&self, f: defmt::Formatter<'_>) {
                defmt::write!(f, $fmt, self.bits())
            }
        }
    )*};
}

#[cfg(feature = "defmt")]
defmt_bits! {
    SqeFlags => "SqeFlags({=u8:#x})",
    CqeFlags => "CqeFlags({=u32:#x})",
    SetupFlags => "SetupFlags({=u32:#x})",
    Features => "Features({=u32:#x})",
    NopFlags => "NopFlags({=u32:#x})",
    TimeoutFlags => "TimeoutFlags({=u32:#x})",
    CancelFlags => "CancelFlags({=u32:#x})",
    SqRingFlags => "SqRingFlags({=u32:#x})",
}

/// Opcodes (`enum io_uring_op`), in uapi order. `BPF` is the series' extension opcode.
pub mod opcode {
    #![allow(missing_docs)]
    pub const NOP: u8 = 0;
    pub const READV: u8 = 1;
    pub const WRITEV: u8 = 2;
    pub const FSYNC: u8 = 3;
    pub const READ_FIXED: u8 = 4;
    pub const WRITE_FIXED: u8 = 5;
    pub const POLL_ADD: u8 = 6;
    pub const POLL_REMOVE: u8 = 7;
    pub const SYNC_FILE_RANGE: u8 = 8;
    pub const SENDMSG: u8 = 9;
    pub const RECVMSG: u8 = 10;
    pub const TIMEOUT: u8 = 11;
    pub const TIMEOUT_REMOVE: u8 = 12;
    pub const ACCEPT: u8 = 13;
    pub const ASYNC_CANCEL: u8 = 14;
    pub const LINK_TIMEOUT: u8 = 15;
    pub const CONNECT: u8 = 16;
    pub const FALLOCATE: u8 = 17;
    pub const OPENAT: u8 = 18;
    pub const CLOSE: u8 = 19;
    pub const FILES_UPDATE: u8 = 20;
    pub const STATX: u8 = 21;
    pub const READ: u8 = 22;
    pub const WRITE: u8 = 23;
    pub const FADVISE: u8 = 24;
    pub const MADVISE: u8 = 25;
    pub const SEND: u8 = 26;
    pub const RECV: u8 = 27;
    pub const OPENAT2: u8 = 28;
    pub const EPOLL_CTL: u8 = 29;
    pub const SPLICE: u8 = 30;
    pub const PROVIDE_BUFFERS: u8 = 31;
    pub const REMOVE_BUFFERS: u8 = 32;
    pub const TEE: u8 = 33;
    pub const SHUTDOWN: u8 = 34;
    pub const RENAMEAT: u8 = 35;
    pub const UNLINKAT: u8 = 36;
    pub const MKDIRAT: u8 = 37;
    pub const SYMLINKAT: u8 = 38;
    pub const LINKAT: u8 = 39;
    pub const MSG_RING: u8 = 40;
    pub const FSETXATTR: u8 = 41;
    pub const SETXATTR: u8 = 42;
    pub const FGETXATTR: u8 = 43;
    pub const GETXATTR: u8 = 44;
    pub const SOCKET: u8 = 45;
    pub const URING_CMD: u8 = 46;
    pub const SEND_ZC: u8 = 47;
    pub const SENDMSG_ZC: u8 = 48;
    pub const READ_MULTISHOT: u8 = 49;
    pub const WAITID: u8 = 50;
    pub const FUTEX_WAIT: u8 = 51;
    pub const FUTEX_WAKE: u8 = 52;
    pub const FUTEX_WAITV: u8 = 53;
    pub const FIXED_FD_INSTALL: u8 = 54;
    pub const FTRUNCATE: u8 = 55;
    pub const BIND: u8 = 56;
    pub const LISTEN: u8 = 57;
    pub const RECV_ZC: u8 = 58;
    pub const EPOLL_WAIT: u8 = 59;
    pub const READV_FIXED: u8 = 60;
    pub const WRITEV_FIXED: u8 = 61;
    pub const PIPE: u8 = 62;
    pub const NOP128: u8 = 63;
    pub const URING_CMD128: u8 = 64;
    /// `IORING_OP_BPF`: run the op in slot `bpf_op_flags >> 24`.
    pub const BPF: u8 = 65;
    /// `IORING_OP_LAST` with the series applied: every opcode at or above it is -EINVAL.
    pub const LAST: u8 = 66;
}

/// `IORING_BPF_OP_SHIFT`: the slot number lives above this bit in `bpf_op_flags`.
pub const BPF_OP_SHIFT: u32 = 24;
/// `IORING_BPF_OP_BITS`: width of the slot number field.
pub const BPF_OP_BITS: u32 = 8;
/// Mask of the op-private low bits of `bpf_op_flags`.
pub const BPF_OP_FLAGS_MASK: u32 = (1 << BPF_OP_SHIFT) - 1;
/// `IO_RING_MAX_BPF_OPS`: op slots per ring.
pub const MAX_OP_SLOTS: usize = 16;

/// Encode `bpf_op_flags` from a slot number and the op's 24 private bits
/// (bits above 23 of `op_flags` are dropped).
pub const fn bpf_op_flags(slot: u8, op_flags: u32) -> u32 {
    ((slot as u32) << BPF_OP_SHIFT) | (op_flags & BPF_OP_FLAGS_MASK)
}

/// The slot number (top 8 bits) of a `bpf_op_flags` word.
pub const fn bpf_op_slot(word: u32) -> u8 {
    (word >> BPF_OP_SHIFT) as u8
}

/// The op-private flags (low 24 bits) of a `bpf_op_flags` word.
pub const fn bpf_op_private(word: u32) -> u32 {
    word & BPF_OP_FLAGS_MASK
}

/// `struct io_sqring_offsets` (40 bytes): byte offsets of the SQ ring header fields.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[allow(missing_docs)]
pub struct SqRingOffsets {
    pub head: u32,
    pub tail: u32,
    pub ring_mask: u32,
    pub ring_entries: u32,
    pub flags: u32,
    pub dropped: u32,
    pub array: u32,
    pub resv1: u32,
    pub user_addr: u64,
}

/// `struct io_cqring_offsets` (40 bytes): byte offsets of the CQ ring header fields.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[allow(missing_docs)]
pub struct CqRingOffsets {
    pub head: u32,
    pub tail: u32,
    pub ring_mask: u32,
    pub ring_entries: u32,
    pub overflow: u32,
    pub cqes: u32,
    pub flags: u32,
    pub resv1: u32,
    pub user_addr: u64,
}

/// `struct io_uring_params` (120 bytes), as passed to `io_uring_setup`.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[allow(missing_docs)]
pub struct IoUringParams {
    pub sq_entries: u32,
    pub cq_entries: u32,
    pub flags: u32,
    pub sq_thread_cpu: u32,
    pub sq_thread_idle: u32,
    pub features: u32,
    pub wq_fd: u32,
    pub resv: [u32; 3],
    pub sq_off: SqRingOffsets,
    pub cq_off: CqRingOffsets,
}

// C-ABI-1, C-ABI-2: SQE size, alignment and every field offset (ABI.md §1).
const _: () = {
    assert!(size_of::<Sqe>() == 64);
    assert!(core::mem::align_of::<Sqe>() == 8);
    assert!(offset_of!(Sqe, opcode) == 0);
    assert!(offset_of!(Sqe, flags) == 1);
    assert!(offset_of!(Sqe, ioprio) == 2);
    assert!(offset_of!(Sqe, fd) == 4);
    assert!(offset_of!(Sqe, off) == 8);
    assert!(offset_of!(Sqe, addr) == 16);
    assert!(offset_of!(Sqe, len) == 24);
    assert!(offset_of!(Sqe, op_flags) == 28);
    assert!(offset_of!(Sqe, user_data) == 32);
    assert!(offset_of!(Sqe, buf_index) == 40);
    assert!(offset_of!(Sqe, personality) == 42);
    assert!(offset_of!(Sqe, file_index) == 44);
    assert!(offset_of!(Sqe, addr3) == 48);
    assert!(offset_of!(Sqe, pad2) == 56);
};

// C-ABI-3: CQE layout (ABI.md §3).
const _: () = {
    assert!(size_of::<Cqe>() == 16);
    assert!(core::mem::align_of::<Cqe>() == 8);
    assert!(offset_of!(Cqe, user_data) == 0);
    assert!(offset_of!(Cqe, res) == 8);
    assert!(offset_of!(Cqe, flags) == 12);
};

// C-ABI-5: ring offset structs and io_uring_params (ABI.md §9).
const _: () = {
    assert!(size_of::<SqRingOffsets>() == 40);
    assert!(offset_of!(SqRingOffsets, head) == 0);
    assert!(offset_of!(SqRingOffsets, tail) == 4);
    assert!(offset_of!(SqRingOffsets, ring_mask) == 8);
    assert!(offset_of!(SqRingOffsets, ring_entries) == 12);
    assert!(offset_of!(SqRingOffsets, flags) == 16);
    assert!(offset_of!(SqRingOffsets, dropped) == 20);
    assert!(offset_of!(SqRingOffsets, array) == 24);
    assert!(offset_of!(SqRingOffsets, resv1) == 28);
    assert!(offset_of!(SqRingOffsets, user_addr) == 32);
    assert!(size_of::<CqRingOffsets>() == 40);
    assert!(offset_of!(CqRingOffsets, head) == 0);
    assert!(offset_of!(CqRingOffsets, tail) == 4);
    assert!(offset_of!(CqRingOffsets, ring_mask) == 8);
    assert!(offset_of!(CqRingOffsets, ring_entries) == 12);
    assert!(offset_of!(CqRingOffsets, overflow) == 16);
    assert!(offset_of!(CqRingOffsets, cqes) == 20);
    assert!(offset_of!(CqRingOffsets, flags) == 24);
    assert!(offset_of!(CqRingOffsets, resv1) == 28);
    assert!(offset_of!(CqRingOffsets, user_addr) == 32);
    assert!(size_of::<IoUringParams>() == 120);
    assert!(offset_of!(IoUringParams, sq_entries) == 0);
    assert!(offset_of!(IoUringParams, cq_entries) == 4);
    assert!(offset_of!(IoUringParams, flags) == 8);
    assert!(offset_of!(IoUringParams, sq_thread_cpu) == 12);
    assert!(offset_of!(IoUringParams, sq_thread_idle) == 16);
    assert!(offset_of!(IoUringParams, features) == 20);
    assert!(offset_of!(IoUringParams, wq_fd) == 24);
    assert!(offset_of!(IoUringParams, resv) == 28);
    assert!(offset_of!(IoUringParams, sq_off) == 40);
    assert!(offset_of!(IoUringParams, cq_off) == 80);
};

// Flag values that the reference tables pin (ABI.md §2, §4, §5, §7).
const _: () = {
    assert!(SqeFlags::all().bits() == 0x7f);
    assert!(SetupFlags::BPF_EXT.bits() == 1 << 21);
    assert!(Features::BPF.bits() == 1 << 18);
    assert!(NopFlags::all().bits() == 0x3f);
    assert!(TimeoutFlags::all().bits() == 0xff);
    assert!(TimeoutFlags::IMMEDIATE_ARG.bits() == 1 << 7);
    assert!(CancelFlags::all().bits() == 0x3f);
    assert!(CancelFlags::OP.bits() == 1 << 5);
    assert!(BPF_OP_SHIFT + BPF_OP_BITS == 32);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cqe_result_splits_success_from_errno() {
        assert_eq!(Cqe::new(1, 0).result(), Ok(0));
        assert_eq!(Cqe::new(1, i32::MAX).result(), Ok(i32::MAX as u32));
        assert_eq!(Cqe::new(1, -1).result(), Err(Errno::EPERM));
        assert_eq!(Cqe::new(1, -110).result(), Err(Errno::ETIMEDOUT));
        assert_eq!(Cqe::new(1, -4095).result().map_err(Errno::get), Err(4095));
        // Below -4095 is no errno (NOP INJECT_RESULT can make one): out of range.
        assert_eq!(Cqe::new(1, -4096).result(), Err(Errno::ERANGE));
        assert_eq!(Cqe::new(1, i32::MIN).result(), Err(Errno::ERANGE));
    }

    #[test]
    fn bpf_op_flags_split_c_bpf_4() {
        let w = bpf_op_flags(3, 0x00ab_cdef);
        assert_eq!(w, 0x03ab_cdef);
        assert_eq!(bpf_op_slot(w), 3);
        assert_eq!(bpf_op_private(w), 0x00ab_cdef);
        // Bits above the op-private field never leak into the slot.
        assert_eq!(bpf_op_flags(1, 0xff00_0001), 0x0100_0001);
        assert_eq!(bpf_op_slot(0xff00_0000), 255);
    }

    #[test]
    fn op_flag_aliases_share_offset_28_c_abi_2() {
        let sqe = Sqe { op_flags: 0x1234_5678, ..Sqe::nop() };
        let bytes = sqe.as_bytes();
        assert_eq!(&bytes[28..32], &0x1234_5678u32.to_ne_bytes());
        assert_eq!(sqe.nop_flags().bits(), 0x1234_5678);
        assert_eq!(sqe.bpf_op_flags(), 0x1234_5678);
        assert_eq!(sqe.timeout_flags().bits(), 0x1234_5678);
        assert_eq!(sqe.cancel_flags().bits(), 0x1234_5678);
        assert_eq!(sqe.rw_flags(), 0x1234_5678);
    }

    #[test]
    fn sqe_round_trips_through_bytes_c_abi_1() {
        let sqe = Sqe::nop_inject(-5).user_data(0xdead_beef).flags(SqeFlags::IO_LINK);
        let bytes: [u8; 64] = zerocopy::transmute!(sqe);
        assert_eq!(bytes[0], opcode::NOP);
        assert_eq!(bytes[1], 0x04);
        assert_eq!(&bytes[24..28], &(-5i32).to_ne_bytes());
        assert_eq!(&bytes[32..40], &0xdead_beefu64.to_ne_bytes());
        let back: Sqe = zerocopy::transmute!(bytes);
        assert_eq!(back, sqe);
    }
}
