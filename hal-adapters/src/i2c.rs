//! I²C ops over an embedded-hal 1.0 [`I2c`](embedded_hal::i2c::I2c) bus (7-bit
//! addresses): write, read and write-then-read, between registered buffers and the bus.
//!
//! One slot serves one bus; the target address is in the SQE, so one slot reaches every
//! device on the bus.
//!
//! | command | A (to device) | B (from device) | `len` | CQE `res` |
//! |---|---|---|---|---|
//! | [`cmd::WRITE`] | required | — | 7-bit address | bytes written |
//! | [`cmd::READ`] | — | required | 7-bit address | bytes read |
//! | [`cmd::WRITE_READ`] | required | required | 7-bit address | bytes written + read |
//!
//! `file_index` must be 0; an address above 0x7f is -EINVAL. A single-segment buffer
//! goes to `I2c::write` / `read` / `write_read` as is; multi-segment descriptors become one
//! `I2c::transaction` whose adjacent operations of a kind are one I²C message (no
//! repeated start between segments), so the device sees the same bytes either way.
//! [`CHAIN_LEN`] limits A to the chain record's `len` (nothing left
//! to send: completes with 0, no bus traffic); B's bytes
//! are recorded in the chain record's `len`. Errors map as [`crate::errno`] documents —
//! note that arbitration loss is -EAGAIN, which fwring retries once, one pass later.

use core::marker::PhantomData;

use embedded_hal::i2c::{I2c as HalI2c, Operation};
use fwring::{BufDesc, Errno, Issue, IssueCx, Op, PrepCx, Sqe};

use crate::driver::StaticDriver;
use crate::errno;
use crate::io::{self, Done, Views};
use crate::sqe::{self, Args, CHAIN_LEN, Use};

/// I²C commands (op flag bits 23..16).
pub mod cmd {
    /// Write A's bytes.
    pub const WRITE: u8 = 0;
    /// Read B's bytes.
    pub const READ: u8 = 1;
    /// Write A, repeated start, read B.
    pub const WRITE_READ: u8 = 2;
}

/// Most operations one request can need: one per segment of A and of B.
pub(crate) const MAX_OPS: usize = 2 * fwring::buffer::MAX_SEGS;

/// The I²C op for the bus `D` names.
pub struct I2c<D>(PhantomData<D>);

op_debug!(I2c);

impl<D> Op for I2c<D>
where
    D: StaticDriver,
    D::Hal: HalI2c,
{
    type Pdu = Args;

    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<Args, Errno> {
        prep(cx, sqe)
    }

    fn issue(cx: &mut IssueCx<'_>, args: &mut Args) -> Issue {
        let args = *args;
        io::run(cx, &args, |v| D::with(|bus| transfer(bus, &args, v))?)
    }
}

/// Validate an I²C SQE and import its buffers (shared with the async op).
pub(crate) fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<Args, Errno> {
    let (a, b) = match sqe::cmd(cx.info()) {
        cmd::WRITE => (Use::Required, Use::No),
        cmd::READ => (Use::No, Use::Required),
        cmd::WRITE_READ => (Use::Required, Use::Required),
        _ => return Err(Errno::EINVAL),
    };
    let flags = sqe::flags(cx.info());
    if flags & !CHAIN_LEN != 0 || sqe.len > 0x7f || sqe.file_index != 0 {
        return Err(Errno::EINVAL);
    }
    let p = sqe::parse(cx, sqe, a, b)?;
    if p.args.has(CHAIN_LEN) && p.a.is_none() {
        return Err(Errno::EINVAL);
    }
    Ok(p.args)
}

fn transfer<B: HalI2c>(bus: &mut B, args: &Args, v: &mut Views<'_, '_>) -> Result<Done, Errno> {
    let addr = args.arg0 as u8;
    let src: &[&[u8]] = v.src.as_ref().map_or(&[], |s| s.slices());
    let mut empty: [&mut [u8]; 0] = [];
    let dst: &mut [&mut [u8]] = match v.dst.as_mut() {
        Some(d) => d.slices_mut(),
        None => &mut empty,
    };
    let done = outcome(args.cmd, src, dst);
    let r = match (src, &mut *dst) {
        ([s], []) => bus.write(addr, s),
        ([], [d]) => bus.read(addr, d),
        ([s], [d]) => bus.write_read(addr, s, d),
        // CHAIN_LEN left nothing to send: no bus traffic (not an address probe).
        ([], []) => Ok(()),
        (src, dst) => bus.transaction(addr, &mut plan(src, dst)?),
    };
    r.map_err(|e| errno::i2c(&e))?;
    Ok(done)
}

/// What an I²C request did once it succeeded.
pub(crate) fn outcome(command: u8, src: &[&[u8]], dst: &[&mut [u8]]) -> Done {
    let tx: usize = src.iter().map(|s| s.len()).sum();
    let rx: usize = dst.iter().map(|s| s.len()).sum();
    Done { res: tx + rx, produced: (command != cmd::WRITE).then_some(rx) }
}

/// The operations of a multi-segment I²C request: writes, then reads.
pub(crate) fn plan<'b>(
    src: &[&'b [u8]],
    dst: &'b mut [&mut [u8]],
) -> Result<heapless::Vec<Operation<'b>, MAX_OPS>, Errno> {
    let mut ops = heapless::Vec::new();
    for s in src {
        ops.push(Operation::Write(s)).map_err(|_| Errno::EINVAL)?;
    }
    for d in dst.iter_mut() {
        ops.push(Operation::Read(d)).map_err(|_| Errno::EINVAL)?;
    }
    Ok(ops)
}

/// `WRITE` to the 7-bit address `addr`.
pub fn write(slot: u8, addr: u8, src: &BufDesc) -> Sqe {
    sqe::build(slot, cmd::WRITE, 0, Some(src), None, u32::from(addr), 0)
}

/// `READ` from the 7-bit address `addr`.
pub fn read(slot: u8, addr: u8, dst: &BufDesc) -> Sqe {
    sqe::build(slot, cmd::READ, 0, None, Some(dst), u32::from(addr), 0)
}

/// `WRITE_READ`: write `src` to `addr`, then (repeated start) read into `dst`.
pub fn write_read(slot: u8, addr: u8, src: &BufDesc, dst: &BufDesc) -> Sqe {
    sqe::build(slot, cmd::WRITE_READ, 0, Some(src), Some(dst), u32::from(addr), 0)
}
