//! NOR flash ops over embedded-storage [`ReadNorFlash`] / [`NorFlash`]: read into a
//! registered buffer, program from one, erase ranges — the flash driver works on the
//! imported segments in place.
//!
//! | command | op | A | B | `len` | `file_index` | CQE `res` |
//! |---|---|---|---|---|---|---|
//! | [`cmd::READ`] | [`NorRead`], [`Nor`] | — | required | flash offset | 0 | bytes read |
//! | [`cmd::WRITE`] | [`Nor`] | required | — | flash offset | 0 | bytes programmed |
//! | [`cmd::ERASE`] | [`Nor`] | — | — | flash offset | length in bytes | 0 |
//! | [`cmd::CAPACITY`] | [`NorRead`], [`Nor`] | — | — | 0 | 0 | capacity in bytes |
//!
//! `WRITE` is a NOR *program*: it can only clear bits, so the range must have been erased
//! (use [`crate::blk`] for read-modify-write). Checks, at **prep** (the request fails
//! before anything touches the flash):
//!
//! - the range `[offset, offset + length)` must lie inside the flash: **-EFAULT**;
//! - `offset` and every segment's length must be multiples of `READ_SIZE` (read),
//!   `WRITE_SIZE` (write) or `ERASE_SIZE` (erase; and the length non-zero): **-EINVAL**.
//!
//! With [`CHAIN_LEN`] (write only) the length is known at issue only; it is checked there.
//! A driver error at issue maps through the kind (`NotAligned` -EINVAL, `OutOfBounds`
//! -EFAULT, `Other` -EIO). A write or read that fails part-way has changed the bytes
//! before the failure: the CQE carries only the errno.

use core::marker::PhantomData;

use embedded_storage::nor_flash::{NorFlash, ReadNorFlash};
use fwring::{BufDesc, Errno, Issue, IssueCx, Op, PrepCx, Sqe};

use crate::driver::StaticDriver;
use crate::errno;
use crate::io::{self, Done, Views};
use crate::sqe::{self, Args, CHAIN_LEN, Use};

/// NOR flash commands (op flag bits 23..16).
pub mod cmd {
    /// Read into B from the flash offset in `len`.
    pub const READ: u8 = 0;
    /// Program A at the flash offset in `len`.
    pub const WRITE: u8 = 1;
    /// Erase `file_index` bytes at the flash offset in `len`.
    pub const ERASE: u8 = 2;
    /// Complete with the flash's capacity.
    pub const CAPACITY: u8 = 3;
}

/// Read-only NOR flash ops (`READ`, `CAPACITY`) for a [`ReadNorFlash`].
pub struct NorRead<D>(PhantomData<D>);

/// All NOR flash ops for a [`NorFlash`].
pub struct Nor<D>(PhantomData<D>);

op_debug!(NorRead, Nor);

/// `[offset, offset + len)` must lie in `[0, capacity)`.
pub(crate) fn check_range(capacity: usize, offset: u64, len: u64) -> Result<(), Errno> {
    match offset.checked_add(len) {
        Some(end) if end <= capacity as u64 => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

fn check_align(value: u64, align: usize) -> Result<(), Errno> {
    if value.is_multiple_of(align.max(1) as u64) { Ok(()) } else { Err(Errno::EINVAL) }
}

/// Prep of every NOR command; `align(cmd)` gives the command's alignment, `None` for a
/// command the op does not take.
fn prep<D: StaticDriver>(
    cx: &mut PrepCx<'_>,
    sqe: &Sqe,
    capacity: impl FnOnce(&mut D::Hal) -> usize,
    align: impl Fn(u8) -> Option<usize>,
) -> Result<Args, Errno> {
    let command = sqe::cmd(cx.info());
    let align = align(command).ok_or(Errno::EINVAL)?;
    let flags = sqe::flags(cx.info());
    let (a, b, allowed) = match command {
        cmd::READ => (Use::No, Use::Required, 0),
        cmd::WRITE => (Use::Required, Use::No, CHAIN_LEN),
        _ => (Use::No, Use::No, 0),
    };
    let arg1_used = command == cmd::ERASE;
    let arg0_used = command != cmd::CAPACITY;
    if flags & !allowed != 0 || (!arg1_used && sqe.file_index != 0) || (!arg0_used && sqe.len != 0) {
        return Err(Errno::EINVAL);
    }
    let cap = D::with(capacity)?;
    let p = sqe::parse(cx, sqe, a, b)?;
    let offset = u64::from(p.args.arg0);
    match command {
        cmd::READ | cmd::WRITE => {
            let desc = p.b.or(p.a).ok_or(Errno::EINVAL)?;
            check_range(cap, offset, sqe::total_len(cx, &desc)?)?;
            check_align(offset, align)?;
            sqe::aligned_len(cx, &desc, align)?;
        }
        cmd::ERASE => {
            let len = u64::from(p.args.arg1);
            check_range(cap, offset, len)?;
            if len == 0 {
                return Err(Errno::EINVAL);
            }
            check_align(offset, align)?;
            check_align(len, align)?;
        }
        _ => {}
    }
    Ok(p.args)
}

/// Read B's segments from consecutive flash offsets.
fn do_read<F: ReadNorFlash>(f: &mut F, args: &Args, v: &mut Views<'_, '_>) -> Result<Done, Errno> {
    let dst = v.dst.as_mut().ok_or(Errno::EINVAL)?;
    let mut off = args.arg0;
    let mut total = 0usize;
    for seg in dst.slices_mut() {
        f.read(off, seg).map_err(|e| errno::nor(&e))?;
        total += seg.len();
        off = off.checked_add(u32::try_from(seg.len()).map_err(|_| Errno::EFAULT)?).ok_or(Errno::EFAULT)?;
    }
    Ok(Done { res: total, produced: Some(total) })
}

/// Program A's segments at consecutive flash offsets.
fn do_write<F: NorFlash>(f: &mut F, args: &Args, v: &mut Views<'_, '_>) -> Result<Done, Errno> {
    let src = v.src.as_ref().ok_or(Errno::EINVAL)?;
    let mut off = args.arg0;
    // CHAIN_LEN may have cut the source: check what is left.
    check_range(f.capacity(), u64::from(off), src.len() as u64)?;
    if src.slices().iter().any(|s| !s.len().is_multiple_of(F::WRITE_SIZE.max(1))) {
        return Err(Errno::EINVAL);
    }
    for seg in src.slices() {
        f.write(off, seg).map_err(|e| errno::nor(&e))?;
        off = off.checked_add(u32::try_from(seg.len()).map_err(|_| Errno::EFAULT)?).ok_or(Errno::EFAULT)?;
    }
    Ok(Done::res(src.len()))
}

fn cap_done(cap: usize) -> Result<Done, Errno> {
    if cap > i32::MAX as usize { Err(Errno::EOVERFLOW) } else { Ok(Done::res(cap)) }
}

impl<D> Op for NorRead<D>
where
    D: StaticDriver,
    D::Hal: ReadNorFlash,
{
    type Pdu = Args;

    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<Args, Errno> {
        prep::<D>(
            cx,
            sqe,
            |f| f.capacity(),
            |c| match c {
                cmd::READ => Some(D::Hal::READ_SIZE),
                cmd::CAPACITY => Some(1),
                _ => None,
            },
        )
    }

    fn issue(cx: &mut IssueCx<'_>, args: &mut Args) -> Issue {
        let args = *args;
        io::run(cx, &args, |v| {
            D::with(|f| match args.cmd {
                cmd::READ => do_read(f, &args, v),
                _ => cap_done(f.capacity()),
            })?
        })
    }
}

impl<D> Op for Nor<D>
where
    D: StaticDriver,
    D::Hal: NorFlash,
{
    type Pdu = Args;

    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<Args, Errno> {
        prep::<D>(
            cx,
            sqe,
            |f| f.capacity(),
            |c| match c {
                cmd::READ => Some(D::Hal::READ_SIZE),
                cmd::WRITE => Some(D::Hal::WRITE_SIZE),
                cmd::ERASE => Some(D::Hal::ERASE_SIZE),
                cmd::CAPACITY => Some(1),
                _ => None,
            },
        )
    }

    fn issue(cx: &mut IssueCx<'_>, args: &mut Args) -> Issue {
        let args = *args;
        io::run(cx, &args, |v| {
            D::with(|f| match args.cmd {
                cmd::READ => do_read(f, &args, v),
                cmd::WRITE => do_write(f, &args, v),
                cmd::ERASE => {
                    let end = args.arg0.checked_add(args.arg1).ok_or(Errno::EFAULT)?;
                    f.erase(args.arg0, end).map_err(|e| errno::nor(&e))?;
                    Ok(Done::res(0))
                }
                _ => cap_done(f.capacity()),
            })?
        })
    }
}

/// `READ`: fill `dst` from flash offset `offset`.
pub fn read(slot: u8, offset: u32, dst: &BufDesc) -> Sqe {
    sqe::build(slot, cmd::READ, 0, None, Some(dst), offset, 0)
}

/// `WRITE`: program `src` at flash offset `offset` (erased beforehand).
pub fn write(slot: u8, offset: u32, src: &BufDesc) -> Sqe {
    sqe::build(slot, cmd::WRITE, 0, Some(src), None, offset, 0)
}

/// `ERASE`: erase `len` bytes from flash offset `offset`.
pub fn erase(slot: u8, offset: u32, len: u32) -> Sqe {
    sqe::build(slot, cmd::ERASE, 0, None, None, offset, len)
}

/// `CAPACITY`: complete with the flash's size in bytes.
pub fn capacity(slot: u8) -> Sqe {
    sqe::build(slot, cmd::CAPACITY, 0, None, None, 0, 0)
}
