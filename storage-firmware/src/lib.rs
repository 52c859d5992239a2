//! The firmware side of `fwring-sim serve`'s storage device: exactly the code a board
//! would link, `no_std`, no alloc, no `unsafe` (CI builds it for thumbv7em-none-eabihf).
//!
//! Two op slots make the device:
//!
//! - slot [`slot::BLOCK`]: [`AsyncBlock`], the block commands ([`cmd`]: READ,
//!   WRITE with [`FUA`], FLUSH, DISCARD, BLOCKS — the SQE encoding of
//!   [`fwring_hal::blk`]) served **asynchronously**: issue checks nothing new, takes the
//!   request's buffers as a [`PendingIo`] and hands them to the flash controller's queue
//!   ([`FlashPort::start`]); the controller (a DMA engine, its interrupt handler) runs
//!   the command with [`execute`] on a [`BlockDev`] and completes the request through the
//!   ring's [`Completer`](fwring::Completer). The block layer ([`BlockLayer`]) is
//!   fwring-hal's power-safe flash translation layer ([`Ftl`]) or its simpler
//!   [`BlockDev`] (a volatile one-erase-block write cache, not power-safe).
//! - slot [`slot::DMA`]: [`HostDma`], the host-memory DMA engine: copies between the
//!   device's own buffers and the host's memory window ([`HostMemory`]), which the device
//!   reaches only through that trait — on the simulator a shared mapping read and
//!   written with atomic words, on a board a PCIe window.
//!
//! A host write is a link chain `DMA FROM_HOST (window → staging) → BLOCK WRITE
//! (staging)`; a read is `BLOCK READ (→ staging) → DMA TO_HOST (staging → window)`. The
//! staging buffers are a registered region of the device; the ring's buffer rules
//! (-EBUSY for a destination another chain holds, -EFAULT outside the region) keep
//! hostile SQEs from touching anything else.
//!
//! | op | command | A | B | `len` | `file_index` | flags | CQE `res` |
//! |---|---|---|---|---|---|---|---|
//! | BLOCK | [`cmd::READ`] | — | required | LBA | 0 | — | bytes read |
//! | BLOCK | [`cmd::WRITE`] | required | — | LBA | 0 | [`FUA`] | bytes written |
//! | BLOCK | [`cmd::FLUSH`] | — | — | 0 | 0 | — | 0 |
//! | BLOCK | [`cmd::DISCARD`] | — | — | LBA | count | — | 0 |
//! | BLOCK | [`cmd::BLOCKS`] | — | — | 0 | 0 | — | blocks |
//! | DMA | [`dma::FROM_HOST`] | — | required | window offset | 0 | — | bytes |
//! | DMA | [`dma::TO_HOST`] | required | — | window offset | 0 | — | bytes |
//!
//! A host write of 4 KiB at LBA 8 through staging slot 0, as `fwring-sim`'s host driver
//! builds it:
//!
//! ```
//! use fwring::{BufDesc, SqeFlags};
//! use fwring_storage_firmware::{FUA, cmd, dma, from_host, slot, write};
//!
//! let staging = BufDesc::kfixed(0, 0, 4096); // registered buffer 0, offset 0
//! let chain = [
//!     from_host(0, &staging).user_data(1).flags(SqeFlags::IO_LINK), // window offset 0
//!     write(8, &staging, true).user_data(2),
//! ];
//! assert_eq!(chain[0].op_flags, (slot::DMA as u32) << 24 | (dma::FROM_HOST as u32) << 16);
//! assert_eq!(chain[1].op_flags, (slot::BLOCK as u32) << 24 | (cmd::WRITE as u32) << 16 | FUA as u32);
//! assert_eq!((chain[1].len, BufDesc::sqe_a(&chain[1])), (8, staging));
//! ```

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use core::marker::PhantomData;

use embedded_storage::nor_flash::NorFlash;
use fwring::{BufDesc, Dir, Errno, Issue, IssueCx, Op, OpVTable, PendingIo, PrepCx, Sqe, vtable};
pub use fwring_hal::blk::{BlockDev, FUA, cmd};
use fwring_hal::ftl::{Blocking, Ftl, block_on};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The device's op slots.
pub mod slot {
    /// [`AsyncBlock`](super::AsyncBlock).
    pub const BLOCK: u8 = 0;
    /// [`HostDma`](super::HostDma).
    pub const DMA: u8 = 1;
}

/// [`HostDma`] commands.
pub mod dma {
    /// Copy `len(B)` bytes from the host window at `arg0` into B.
    pub const FROM_HOST: u8 = 0;
    /// Copy A to the host window at `arg0`.
    pub const TO_HOST: u8 = 1;
}

/// "No descriptor" in a [`BlockReq`].
const NONE: u8 = 0xff;

/// A request's arguments, as prep checked them (the pdu of both ops).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct BlockReq {
    /// LBA (block commands) or host-window offset (DMA).
    pub arg0: u32,
    /// Block count (DISCARD).
    pub arg1: u32,
    /// Bytes to move (READ, WRITE, DMA).
    pub len: u32,
    /// Flags ([`FUA`]).
    pub flags: u16,
    /// The command.
    pub cmd: u8,
    /// Import index of descriptor A (a source), or 0xff.
    pub a: u8,
    /// Import index of descriptor B (a destination), or 0xff.
    pub b: u8,
    /// Zero.
    pub pad: [u8; 3],
}

impl BlockReq {
    /// Whether the write must reach the flash before it completes.
    pub fn fua(&self) -> bool {
        self.flags & FUA != 0
    }
}

/// The block device's shape, as prep needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Bytes per block.
    pub block_size: u32,
    /// Blocks.
    pub blocks: u32,
}

/// A block job on its way to the flash controller.
#[derive(Debug)]
pub struct Job {
    /// The request's buffers and completion.
    pub io: PendingIo,
    /// What to do.
    pub req: BlockReq,
}

/// The flash controller's queue, named by a marker type (op slots are plain `fn`s).
pub trait FlashPort: 'static {
    /// The device's geometry (-ENODEV before the flash is up).
    fn geometry() -> Result<Geometry, Errno>;
    /// Queue a job. The queue holds every request the ring can have in flight, so this
    /// cannot fail: the job (its `PendingIo`) must complete exactly once.
    fn start(job: Job);
}

/// The host's memory window, named by a marker type. Every access is bounds-checked by
/// the implementation (-EFAULT); the host may change the bytes at any time.
pub trait HostMemory: 'static {
    /// Copy `dst.len()` bytes from window offset `off`.
    fn read(off: u64, dst: &mut [u8]) -> Result<(), Errno>;
    /// Copy `src` to window offset `off`.
    fn write(off: u64, src: &[u8]) -> Result<(), Errno>;
}

/// A descriptor, or `None` when all zero.
fn present(d: BufDesc) -> Option<BufDesc> {
    if d == BufDesc::default() { None } else { Some(d) }
}

/// Command and flags from the SQE's op-private bits (fwring-hal's layout).
fn cmd_flags(sqe: &Sqe) -> (u8, u16) {
    ((sqe.op_flags >> 16) as u8, sqe.op_flags as u16)
}

/// Import the descriptors: A as a source, B as a destination, each present iff `want`.
fn import(cx: &mut PrepCx<'_>, sqe: &Sqe, want_a: bool, want_b: bool) -> Result<(u8, u8, u32), Errno> {
    let (a, b) = (present(BufDesc::sqe_a(sqe)), present(BufDesc::sqe_b(sqe)));
    if a.is_some() != want_a || b.is_some() != want_b {
        return Err(Errno::EINVAL);
    }
    let (mut ia, mut ib, mut len) = (NONE, NONE, 0u32);
    for (d, dir, idx) in [(a, Dir::Source, &mut ia), (b, Dir::Dest, &mut ib)] {
        if let Some(d) = d {
            // One segment per descriptor: vectored lists are not part of this device.
            if d.is_vectored() {
                return Err(Errno::EINVAL);
            }
            *idx = cx.import(&d, dir)? as u8;
            len = d.len;
        }
    }
    Ok((ia, ib, len))
}

/// The block op, served by the flash controller behind `P`.
pub struct AsyncBlock<P>(PhantomData<P>);

impl<P: FlashPort> Op for AsyncBlock<P> {
    type Pdu = BlockReq;

    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<BlockReq, Errno> {
        let (command, flags) = cmd_flags(sqe);
        let (allowed, want_a, want_b) = match command {
            cmd::READ => (0, false, true),
            cmd::WRITE => (FUA, true, false),
            cmd::FLUSH | cmd::BLOCKS | cmd::DISCARD => (0, false, false),
            _ => return Err(Errno::EINVAL),
        };
        let uses_len = matches!(command, cmd::READ | cmd::WRITE | cmd::DISCARD);
        if flags & !allowed != 0 || (!uses_len && sqe.len != 0) || (command != cmd::DISCARD && sqe.file_index != 0) {
            return Err(Errno::EINVAL);
        }
        let g = P::geometry()?;
        let (a, b, len) = import(cx, sqe, want_a, want_b)?;
        let lba = u64::from(sqe.len);
        let count = match command {
            cmd::READ | cmd::WRITE => {
                if len == 0 || !len.is_multiple_of(g.block_size) {
                    return Err(Errno::EINVAL);
                }
                u64::from(len / g.block_size)
            }
            cmd::DISCARD if sqe.file_index == 0 => return Err(Errno::EINVAL),
            cmd::DISCARD => u64::from(sqe.file_index),
            _ => 0,
        };
        if lba + count > u64::from(g.blocks) {
            return Err(Errno::EFAULT);
        }
        Ok(BlockReq { arg0: sqe.len, arg1: sqe.file_index, len, flags, cmd: command, a, b, pad: [0; 3] })
    }

    fn issue(cx: &mut IssueCx<'_>, req: &mut BlockReq) -> Issue {
        let io = match cx.pending_io() {
            Ok(io) => io,
            Err(e) => return Issue::Err(e),
        };
        P::start(Job { io, req: *req });
        Issue::Pending
    }
}

/// The block layer behind the flash controller: fwring-hal's flash translation layer
/// ([`Ftl`], power-safe), or its [`BlockDev`] (a volatile write cache that FLUSH / FUA
/// write back; a power cut during a write-back can tear an erase block). [`execute`]
/// works on either.
pub trait BlockLayer {
    /// Bytes per block.
    fn block_size(&self) -> u32;
    /// Blocks.
    fn blocks(&self) -> u32;
    /// Read whole blocks at `lba` into `buf`.
    fn read(&mut self, lba: u32, buf: &mut [u8]) -> Result<(), Errno>;
    /// Write whole blocks at `lba`.
    fn write(&mut self, lba: u32, data: &[u8]) -> Result<(), Errno>;
    /// Make every completed write durable.
    fn flush(&mut self) -> Result<(), Errno>;
    /// Discard `count` blocks at `lba`.
    fn discard(&mut self, lba: u32, count: u32) -> Result<(), Errno>;
}

impl<F: NorFlash> BlockLayer for BlockDev<F> {
    fn block_size(&self) -> u32 {
        BlockDev::block_size(self)
    }
    fn blocks(&self) -> u32 {
        BlockDev::blocks(self)
    }
    fn read(&mut self, lba: u32, buf: &mut [u8]) -> Result<(), Errno> {
        self.read_blocks(lba, buf)
    }
    fn write(&mut self, lba: u32, data: &[u8]) -> Result<(), Errno> {
        self.write_blocks(lba, data)
    }
    fn flush(&mut self) -> Result<(), Errno> {
        BlockDev::flush(self)
    }
    fn discard(&mut self, lba: u32, count: u32) -> Result<(), Errno> {
        BlockDev::discard(self, lba, count)
    }
}

/// The power-safe flash translation layer over a blocking flash: every acknowledged
/// write is on the flash, so FLUSH has nothing left to do.
impl<F: NorFlash> BlockLayer for Ftl<Blocking<F>> {
    fn block_size(&self) -> u32 {
        Ftl::block_size(self)
    }
    fn blocks(&self) -> u32 {
        Ftl::blocks(self)
    }
    fn read(&mut self, lba: u32, buf: &mut [u8]) -> Result<(), Errno> {
        block_on(self.read_blocks(lba, buf)).map_err(|e| e.errno())
    }
    fn write(&mut self, lba: u32, data: &[u8]) -> Result<(), Errno> {
        block_on(self.write_blocks(lba, data)).map_err(|e| e.errno())
    }
    fn flush(&mut self) -> Result<(), Errno> {
        block_on(Ftl::flush(self)).map_err(|e| e.errno())
    }
    fn discard(&mut self, lba: u32, count: u32) -> Result<(), Errno> {
        block_on(Ftl::discard(self, lba, count)).map_err(|e| e.errno())
    }
}

/// Run a block job on `dev` (the flash controller's work, in thread or interrupt
/// context) and return the CQE result: bytes moved, 0, the block count, or `-errno`.
pub fn execute<B: BlockLayer>(dev: &mut B, job: &mut Job) -> i32 {
    let req = job.req;
    let mut io = job.io.io();
    let bs = dev.block_size() as usize;
    let r: Result<i32, Errno> = (|| match req.cmd {
        cmd::READ => {
            let dst = io.dest(req.b as usize)?;
            let mut lba = req.arg0;
            let mut n = 0usize;
            for seg in dst.slices_mut() {
                dev.read(lba, seg)?;
                lba += (seg.len() / bs) as u32;
                n += seg.len();
            }
            Ok(n as i32)
        }
        cmd::WRITE => {
            let src = io.source(req.a as usize)?;
            let mut lba = req.arg0;
            let mut n = 0usize;
            for seg in src.slices() {
                dev.write(lba, seg)?;
                lba += (seg.len() / bs) as u32;
                n += seg.len();
            }
            if req.fua() {
                dev.flush()?;
            }
            Ok(n as i32)
        }
        cmd::FLUSH => dev.flush().map(|()| 0),
        cmd::DISCARD => dev.discard(req.arg0, req.arg1).map(|()| 0),
        cmd::BLOCKS => Ok(dev.blocks() as i32),
        _ => Err(Errno::EINVAL),
    })();
    r.unwrap_or_else(|e| e.res())
}

/// The host-memory DMA op (window `H`).
pub struct HostDma<H>(PhantomData<H>);

impl<H: HostMemory> Op for HostDma<H> {
    type Pdu = BlockReq;

    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<BlockReq, Errno> {
        let (command, flags) = cmd_flags(sqe);
        let (want_a, want_b) = match command {
            dma::FROM_HOST => (false, true),
            dma::TO_HOST => (true, false),
            _ => return Err(Errno::EINVAL),
        };
        if flags != 0 || sqe.file_index != 0 {
            return Err(Errno::EINVAL);
        }
        let (a, b, len) = import(cx, sqe, want_a, want_b)?;
        Ok(BlockReq { arg0: sqe.len, arg1: 0, len, flags: 0, cmd: command, a, b, pad: [0; 3] })
    }

    fn issue(cx: &mut IssueCx<'_>, req: &mut BlockReq) -> Issue {
        let req = *req;
        let r: Result<i32, Errno> = (|| {
            let mut io = cx.io()?;
            let mut off = u64::from(req.arg0);
            let mut n = 0usize;
            if req.cmd == dma::FROM_HOST {
                for seg in io.dest(req.b as usize)?.slices_mut() {
                    H::read(off, seg)?;
                    off += seg.len() as u64;
                    n += seg.len();
                }
            } else {
                for seg in io.source(req.a as usize)?.slices() {
                    H::write(off, seg)?;
                    off += seg.len() as u64;
                    n += seg.len();
                }
            }
            i32::try_from(n).map_err(|_| Errno::EOVERFLOW)
        })();
        match r {
            Ok(n) => {
                cx.set_result(n);
                Issue::Done
            }
            Err(e) => Issue::Err(e),
        }
    }
}

/// The device's op table: the block op in slot 0, host DMA in slot 1.
pub struct OpTable<P, H>(PhantomData<(P, H)>);

impl<P: FlashPort, H: HostMemory> OpTable<P, H> {
    /// The block op's table.
    pub const BLOCK: OpVTable = vtable::<AsyncBlock<P>>(slot::BLOCK);
    /// The DMA op's table.
    pub const DMA: OpVTable = vtable::<HostDma<H>>(slot::DMA);
}

/// `READ` `len` bytes at `lba` into B (staging).
pub fn read(lba: u32, dst: &BufDesc) -> Sqe {
    fwring_hal::sqe::build(slot::BLOCK, cmd::READ, 0, None, Some(dst), lba, 0)
}

/// `WRITE` A (staging) at `lba`, with [`FUA`] if `fua`.
pub fn write(lba: u32, src: &BufDesc, fua: bool) -> Sqe {
    fwring_hal::sqe::build(slot::BLOCK, cmd::WRITE, if fua { FUA } else { 0 }, Some(src), None, lba, 0)
}

/// `FLUSH`.
pub fn flush() -> Sqe {
    fwring_hal::sqe::build(slot::BLOCK, cmd::FLUSH, 0, None, None, 0, 0)
}

/// `DISCARD` `count` blocks at `lba`.
pub fn discard(lba: u32, count: u32) -> Sqe {
    fwring_hal::sqe::build(slot::BLOCK, cmd::DISCARD, 0, None, None, lba, count)
}

/// `BLOCKS`.
pub fn blocks() -> Sqe {
    fwring_hal::sqe::build(slot::BLOCK, cmd::BLOCKS, 0, None, None, 0, 0)
}

/// DMA `FROM_HOST`: window offset `off` into B.
pub fn from_host(off: u32, dst: &BufDesc) -> Sqe {
    fwring_hal::sqe::build(slot::DMA, dma::FROM_HOST, 0, None, Some(dst), off, 0)
}

/// DMA `TO_HOST`: A to window offset `off`.
pub fn to_host(off: u32, src: &BufDesc) -> Sqe {
    fwring_hal::sqe::build(slot::DMA, dma::TO_HOST, 0, Some(src), None, off, 0)
}
