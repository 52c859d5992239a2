//! SPI ops over an embedded-hal 1.0 [`SpiDevice`]: read, write, full-duplex transfer and
//! command transactions, straight between registered buffers and the bus.
//!
//! One slot serves one SPI device: `static SPI: OpVTable = vtable::<Spi<Flash>>(2);` with
//! `Flash` a [`static_driver!`](crate::static_driver!) marker. The command is in the op flags (see
//! [`crate::sqe`]); every command is **one** `SpiDevice::transaction` — chip select held
//! from the first byte to the last — whose operations are the imported segments
//! themselves: no byte is copied.
//!
//! | command | A (to device) | B (from device) | `len` / `file_index` | CQE `res` |
//! |---|---|---|---|---|
//! | [`cmd::READ`] | — | required | 0 / 0 | bytes read |
//! | [`cmd::WRITE`] | required | — | 0 / 0 | bytes written |
//! | [`cmd::TRANSFER`] | required (tx) | required (rx) | 0 / 0 | bytes clocked: max(A, B) |
//! | [`cmd::TRANSACTION`] | optional | optional | header bytes 0..4 / 4..8 | header + A + B |
//!
//! `TRANSACTION` writes an inline header of 0..=8 bytes (flag bits 11..8 give its length)
//! taken from the SQE itself, then A, then reads B: the shape of nearly every SPI
//! peripheral command (`0x03 addr24` + read for a NOR flash, `0x02 addr24` + data for a
//! page program, `0x05` + 1 byte for a status register), with no command buffer in
//! registered memory. Multi-segment descriptors become one operation per segment.
//! `TRANSFER` pairs tx and rx segments piecewise (`Operation::Transfer`), and clocks the
//! longer side's excess as a plain write or read.
//!
//! Flag [`CHAIN_LEN`] limits A to the chain record's `len` (a request left with nothing to
//! clock completes with 0 without touching the bus); an op with B records the bytes
//! read in the chain record's `len`, so `spi READ → lz4` or `spi READ → crc32c
//! (CHAIN_LEN)` chains work on exactly the bytes that came off the bus. Bus errors map as
//! [`crate::errno`] documents.

use core::marker::PhantomData;

use embedded_hal::spi::{Operation, SpiDevice};
use fwring::buffer::MAX_SEGS;
use fwring::{BufDesc, Errno, Issue, IssueCx, Op, PrepCx, Sqe};

use crate::driver::StaticDriver;
use crate::errno;
use crate::io::{self, Done, Views};
use crate::sqe::{self, Args, CHAIN_LEN, Use};

/// SPI commands (op flag bits 23..16).
pub mod cmd {
    /// Read B's bytes.
    pub const READ: u8 = 0;
    /// Write A's bytes.
    pub const WRITE: u8 = 1;
    /// Write A while reading B (full duplex).
    pub const TRANSFER: u8 = 2;
    /// Write the inline header, then A, then read B, as one transaction.
    pub const TRANSACTION: u8 = 3;
}

/// Where the inline header's length sits in the flags (bits 11..8).
pub const HEADER_SHIFT: u16 = 8;
/// Longest inline header.
pub const MAX_HEADER: usize = 8;
const HEADER_MASK: u16 = 0xf << HEADER_SHIFT;

/// Most operations one request can need: header + one per segment of A and of B.
pub(crate) const MAX_OPS: usize = 2 * MAX_SEGS + 1;

/// The SPI op for the device `D` names.
pub struct Spi<D>(PhantomData<D>);

op_debug!(Spi);

impl<D> Op for Spi<D>
where
    D: StaticDriver,
    D::Hal: SpiDevice<u8>,
{
    type Pdu = Args;

    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<Args, Errno> {
        prep(cx, sqe)
    }

    fn issue(cx: &mut IssueCx<'_>, args: &mut Args) -> Issue {
        let args = *args;
        io::run(cx, &args, |v| D::with(|spi| transact(spi, &args, v))?)
    }
}

/// Validate an SPI SQE and import its buffers (shared with the async op).
pub(crate) fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<Args, Errno> {
    let info_flags = sqe::flags(cx.info());
    let (a, b) = match sqe::cmd(cx.info()) {
        cmd::READ => (Use::No, Use::Required),
        cmd::WRITE => (Use::Required, Use::No),
        cmd::TRANSFER => (Use::Required, Use::Required),
        cmd::TRANSACTION => (Use::Optional, Use::Optional),
        _ => return Err(Errno::EINVAL),
    };
    let known = if sqe::cmd(cx.info()) == cmd::TRANSACTION { CHAIN_LEN | HEADER_MASK } else { CHAIN_LEN };
    if info_flags & !known != 0 {
        return Err(Errno::EINVAL);
    }
    let p = sqe::parse(cx, sqe, a, b)?;
    let hlen = header_len(&p.args);
    if hlen > MAX_HEADER
        || (p.args.cmd != cmd::TRANSACTION && (p.args.arg0 | p.args.arg1) != 0)
        || (p.args.has(CHAIN_LEN) && p.a.is_none())
        || (hlen == 0 && p.a.is_none() && p.b.is_none())
    {
        return Err(Errno::EINVAL);
    }
    Ok(p.args)
}

fn header_len(args: &Args) -> usize {
    ((args.flags & HEADER_MASK) >> HEADER_SHIFT) as usize
}

/// The inline header of a request.
pub(crate) fn header(args: &Args) -> ([u8; MAX_HEADER], usize) {
    (args.arg_bytes(), header_len(args).min(MAX_HEADER))
}

fn transact<S: SpiDevice<u8>>(spi: &mut S, args: &Args, v: &mut Views<'_, '_>) -> Result<Done, Errno> {
    let (hdr, hlen) = header(args);
    let src: &[&[u8]] = v.src.as_ref().map_or(&[], |s| s.slices());
    let mut empty: [&mut [u8]; 0] = [];
    let dst: &mut [&mut [u8]] = match v.dst.as_mut() {
        Some(d) => d.slices_mut(),
        None => &mut empty,
    };
    let (mut ops, done) = plan(args.cmd, &hdr[..hlen], src, dst)?;
    if !ops.is_empty() {
        spi.transaction(&mut ops).map_err(|e| errno::spi(&e))?;
    }
    Ok(done)
}

/// The operations of one SPI request, and what it will have done when they succeed.
pub(crate) fn plan<'b>(
    command: u8,
    header: &'b [u8],
    src: &[&'b [u8]],
    dst: &'b mut [&mut [u8]],
) -> Result<(heapless::Vec<Operation<'b, u8>, MAX_OPS>, Done), Errno> {
    let mut ops = heapless::Vec::new();
    let mut push = |op| ops.push(op).map_err(|_| Errno::EINVAL);
    let tx: usize = src.iter().map(|s| s.len()).sum();
    let rx: usize = dst.iter().map(|s| s.len()).sum();
    let produced = (command != cmd::WRITE).then_some(rx);
    if !header.is_empty() {
        push(Operation::Write(header))?;
    }
    if command == cmd::TRANSFER {
        // Pair tx and rx piecewise: every operation ends at least one segment.
        let mut txs = src.iter().copied();
        let mut rxs = dst.iter_mut();
        let (mut t, mut r): (&'b [u8], &'b mut [u8]) = (&[], &mut []);
        loop {
            if t.is_empty()
                && let Some(next) = txs.next()
            {
                t = next;
                continue;
            }
            if r.is_empty()
                && let Some(next) = rxs.next()
            {
                r = &mut **next;
                continue;
            }
            match (t.is_empty(), r.is_empty()) {
                (true, true) => break,
                (false, true) => push(Operation::Write(core::mem::take(&mut t)))?,
                (true, false) => push(Operation::Read(core::mem::take(&mut r)))?,
                (false, false) => {
                    let n = t.len().min(r.len());
                    let (th, tt) = t.split_at(n);
                    let (rh, rt) = core::mem::take(&mut r).split_at_mut(n);
                    push(Operation::Transfer(rh, th))?;
                    t = tt;
                    r = rt;
                }
            }
        }
        return Ok((ops, Done { res: tx.max(rx), produced }));
    }
    for s in src {
        push(Operation::Write(s))?;
    }
    for d in dst.iter_mut() {
        push(Operation::Read(d))?;
    }
    Ok((ops, Done { res: header.len() + tx + rx, produced }))
}

/// `READ`: read `dst`'s bytes.
pub fn read(slot: u8, dst: &BufDesc) -> Sqe {
    sqe::build(slot, cmd::READ, 0, None, Some(dst), 0, 0)
}

/// `WRITE`: write `src`'s bytes.
pub fn write(slot: u8, src: &BufDesc) -> Sqe {
    sqe::build(slot, cmd::WRITE, 0, Some(src), None, 0, 0)
}

/// `TRANSFER`: write `tx` while reading into `rx`.
pub fn transfer(slot: u8, tx: &BufDesc, rx: &BufDesc) -> Sqe {
    sqe::build(slot, cmd::TRANSFER, 0, Some(tx), Some(rx), 0, 0)
}

/// `TRANSACTION`: write `header` (at most [`MAX_HEADER`] bytes, checked at compile
/// time), then `write`, then read into `read`, chip select held throughout.
pub fn transaction<const H: usize>(slot: u8, header: [u8; H], write: Option<&BufDesc>, read: Option<&BufDesc>) -> Sqe {
    const { assert!(H <= MAX_HEADER, "an SPI header is at most 8 bytes") };
    let mut bytes = [0u8; MAX_HEADER];
    bytes[..H].copy_from_slice(&header);
    let arg0 = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let arg1 = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    sqe::build(slot, cmd::TRANSACTION, (H as u16) << HEADER_SHIFT, write, read, arg0, arg1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn transfer_pairs_segments_piecewise() {
        let (a, b) = ([1u8, 2, 3], [4u8, 5]);
        let src: [&[u8]; 2] = [&a, &b];
        let (mut x, mut y) = ([0u8; 2], [0u8; 4]);
        let mut dst: [&mut [u8]; 2] = [&mut x, &mut y];
        let (ops, done) = plan(cmd::TRANSFER, &[], &src, &mut dst).unwrap();
        let shape: Vec<(char, usize)> = ops
            .iter()
            .map(|o| match o {
                Operation::Transfer(r, w) => {
                    assert_eq!(r.len(), w.len());
                    ('t', r.len())
                }
                Operation::Read(r) => ('r', r.len()),
                Operation::Write(w) => ('w', w.len()),
                _ => ('?', 0),
            })
            .collect();
        // tx 3+2, rx 2+4: [t2] [t1 (a's last byte, y's first)] [t2] [r1]
        assert_eq!(shape, [('t', 2), ('t', 1), ('t', 2), ('r', 1)]);
        assert_eq!((done.res, done.produced), (6, Some(6)));
    }

    #[test]
    fn transaction_header_round_trips() {
        let s = transaction(1, [0x03, 0x01, 0x02, 0x03, 0x00], None, Some(&BufDesc::kfixed(0, 0, 4)));
        assert_eq!(s.op_flags & 0xffff, 5 << HEADER_SHIFT);
        let args = Args { arg0: s.len, arg1: s.file_index, flags: 5 << HEADER_SHIFT, ..Args::default() };
        let (h, n) = header(&args);
        assert_eq!(&h[..n], &[0x03, 1, 2, 3, 0]);
    }
}
