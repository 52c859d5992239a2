//! # fwring
//!
//! An io_uring-style submission/completion ring for firmware: `no_std`, no `alloc`,
//! every byte of memory fixed at compile time.
//!
//! - Requests are 64-byte [`Sqe`]s and results 16-byte [`Cqe`]s in the Linux io_uring
//!   layout, with Linux semantics: links, hardlinks, drain, CQE_SKIP_SUCCESS, errno
//!   results, submit-time failures — the same SQE batch gives the same CQEs as the
//!   kernel.
//! - A ring set up with [`SetupFlags::BPF_EXT`] has 16 **op slots**: tables of native
//!   Rust functions (prep / issue / fail / cleanup), chosen per SQE by the top 8 bits of
//!   `bpf_op_flags` — Linux's IORING_OP_BPF series with Rust in place of BPF. See
//!   [`op`](crate::Op).
//! - Cargo feature `timeouts` (default): TIMEOUT, LINK_TIMEOUT, TIMEOUT_REMOVE and
//!   ASYNC_CANCEL. Without it those opcodes fail -EOPNOTSUPP at prep, as on a kernel
//!   built without them, and their code is left out of the image (about 3 KiB on a
//!   Cortex-M4).
//! - Cargo feature `multishot` (default): provided-buffer rings and multishot requests
//!   (`Ring::register_buf_ring`, `IssueCx::multishot`). Without it an op-slot SQE
//!   with `IOSQE_BUFFER_SELECT` fails -EOPNOTSUPP, as for a Linux opcode without buffer
//!   select, and about 1.9 KiB of Cortex-M4 code is left out.
//! - Cargo feature `small` (off by default), for firmware short of flash: submit's fast
//!   paths (the quick way for NOPs, the inline NOP and op-slot paths) and the lookup of
//!   user addresses by halves among the registered regions are left out, about 2 KiB of
//!   Cortex-M4 code. Every SQE takes the general path, which posts the same CQEs in the
//!   same order, at more instructions per request.
//! - No completion is ever dropped or overwritten: when the CQ has no room the ring
//!   stops taking SQEs ([`Stop::Backpressure`]) until CQEs are reaped — the one place
//!   fwring differs from Linux on purpose (Linux keeps an overflow list).
//!
//! ```
//! use fwring::{Ring, Setup, SetupFlags, Sqe, Cqe, Op, OpVTable, PrepCx, IssueCx, Issue, Errno, vtable};
//!
//! /// Completes with the op-private flags of its SQE.
//! struct Echo;
//! impl Op for Echo {
//!     type Pdu = u32;
//!     fn prep(cx: &mut PrepCx<'_>, _sqe: &Sqe) -> Result<u32, Errno> {
//!         Ok(cx.info().private_flags())
//!     }
//!     fn issue(cx: &mut IssueCx<'_>, pdu: &mut u32) -> Issue {
//!         cx.set_result(*pdu as i32);
//!         Issue::Done
//!     }
//! }
//! static ECHO: OpVTable = vtable::<Echo>(3);
//!
//! let mut ring: Ring<32, 64, 32> = Ring::new();
//! ring.setup(Setup::new(32).flags(SetupFlags::BPF_EXT)).unwrap();
//! ring.register_op(&ECHO).unwrap();
//! ring.push(Sqe::bpf(3, 1234).user_data(7)).unwrap();
//! let _ = ring.submit();
//! assert_eq!(ring.pop(), Some(Cqe::new(7, 1234)));
//! ```
//!
//! Ids in parentheses such as (C-LINK-4) or (C-BUF-13) name items of fwring's
//! conformance checklist, `docs/CONFORMANCE.md` in the source repository: what the item
//! means and which test pins it.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

// The file list is the architecture (docs/ARCHITECTURE.md walks it):
/// The Linux ABI: SQE / CQE layouts, flags, errnos, setup parameters.
pub mod abi;
#[cfg(feature = "async")]
pub mod asynch;
/// Zero-copy buffers: registered regions, descriptors, the ownership rule, views and
/// [`PendingIo`] — every `unsafe` of the crate lives in this folder.
pub mod buffer;
/// The built-in opcodes: NOP, the op-slot opcode (`IORING_OP_BPF`), timeouts, cancel.
mod builtin;
mod bytes;
/// The engine: the in-flight table, submit, completion passes, drain, and completion
/// from other contexts ([`Completer`]).
mod engine;
pub mod ops;
/// The submission and completion queues and their index arithmetic.
mod queue;
pub mod shm;
/// Op slots: the [`Op`] trait and its vtable, the request record and pdu, the contexts
/// ops get, the slot table, chain data and argument records.
pub mod slot;
mod sync;

/// Whether the timeout and cancel opcodes are built in (feature `timeouts`). Every call
/// into `timeout`/`cancel` from the rest of the engine sits behind this constant, so
/// without the feature their code is not linked.
pub(crate) const TIMEOUTS: bool = cfg!(feature = "timeouts");

pub use abi::errno::Errno;
pub use abi::setup::{self, Params, Probe, Setup};
pub use abi::{
    CancelFlags, Cqe, CqeFlags, Features, MAX_OP_SLOTS, NopFlags, SetupFlags, SqRingFlags, Sqe, SqeFlags, TimeoutFlags,
    bpf_op_flags, bpf_op_private, bpf_op_slot, opcode,
};
#[cfg(feature = "dma-cache")]
pub use buffer::cache;
#[cfg(feature = "multishot")]
pub use buffer::provided::{BufGroup, BufRing, Fill, IoUringBuf, NoFill, Stream};
pub use buffer::region::{REGION_MAX_LEN, Region};
pub use buffer::view::{PendingIo, Refused};
pub use buffer::{BufDesc, BufTable, BufType, Dir, Io, IoBuf, IoVec, Rejected, Segs, SegsMut};
pub use builtin::{cancel, timeout};
pub use engine::completion::{CompleteError, Completer, Token};
pub use engine::ring::{Reaper, Ring, Stop, Submitted, Submitter};
pub use queue::cq::CqShared;
pub use queue::sq;
pub use slot::args::ArgRecord;
pub use slot::chain::ChainData;
pub use slot::{
    Issue, IssueCx, Op, OpVTable, PDU_OFFSET, PDU_SIZE, Pdu, PrepCx, Record, ReqInfo, SlotState, Unregistered, vtable,
};

/// The README's code examples, compiled and run as doctests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
