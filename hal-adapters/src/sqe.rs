//! How fwring-hal ops read their SQEs: one layout for every op of the crate.
//!
//! Every op is an `IORING_OP_BPF` SQE for the op's slot. The 24 op-private bits of
//! `bpf_op_flags` hold a **command** (bits 23..16: read, write, erase, …, per op) and
//! **flags** (bits 15..0; bit 0 is [`CHAIN_LEN`], the meaning `fwring::ops` gives it).
//! So one slot serves a whole device — like Linux's `IORING_OP_URING_CMD` with its
//! `cmd_op` — and 16 slots go a long way.
//!
//! | SQE bytes | field | use |
//! |---|---|---|
//! | 8..24 | `off`, `addr` | descriptor **A**: data going *to* the device (a source) |
//! | 48..64 | `addr3`, `__pad2` | descriptor **B**: data coming *from* the device (a destination) |
//! | 24..28 | `len` | argument 0 (a flash offset, an LBA, an I²C address, SPI header bytes 0..4, …) |
//! | 44..48 | `file_index` | argument 1 (an erase length, a block count, SPI header bytes 4..8, …) |
//!
//! A descriptor a command does not take must be all zero, and one it needs must be
//! present: -EINVAL otherwise. Descriptors are imported at prep (`PrepCx::import`:
//! -EINVAL, -EFAULT, -EBUSY as fwring documents) and worked on in place at issue.

use fwring::{BufDesc, Dir, Errno, IoVec, PrepCx, ReqInfo, Sqe};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Flag bit 0: limit the source (descriptor A) to the `len` the previous op of the link
/// chain produced (`ChainData::len`), as `fwring::ops::CHAIN_LEN` does.
pub const CHAIN_LEN: u16 = fwring::ops::CHAIN_LEN as u16;

/// Where the command sits in the op-private bits.
pub const CMD_SHIFT: u32 = 16;

/// The 24 op-private bits for `cmd` and `flags`.
pub const fn op_flags(cmd: u8, flags: u16) -> u32 {
    (cmd as u32) << CMD_SHIFT | flags as u32
}

/// An SQE for `slot` with command `cmd`, flags, descriptors and both arguments.
pub fn build(slot: u8, cmd: u8, flags: u16, a: Option<&BufDesc>, b: Option<&BufDesc>, arg0: u32, arg1: u32) -> Sqe {
    let mut sqe = Sqe::bpf(slot, op_flags(cmd, flags));
    if let Some(a) = a {
        a.put_a(&mut sqe);
    }
    if let Some(b) = b {
        b.put_b(&mut sqe);
    }
    sqe.len = arg0;
    sqe.file_index = arg1;
    sqe
}

/// Builder methods for fwring-hal SQEs.
pub trait SqeExt {
    /// Set [`CHAIN_LEN`]: use only as many source bytes as the previous op of the link
    /// chain produced.
    #[must_use]
    fn chain_len(self) -> Self;
}

impl SqeExt for Sqe {
    fn chain_len(mut self) -> Self {
        self.op_flags |= CHAIN_LEN as u32;
        self
    }
}

/// The command of a request.
pub(crate) fn cmd(info: &ReqInfo) -> u8 {
    (info.private_flags() >> CMD_SHIFT) as u8
}

/// The flags of a request.
pub(crate) fn flags(info: &ReqInfo) -> u16 {
    info.private_flags() as u16
}

/// No import.
pub(crate) const NONE: u8 = 0xff;

/// The per-request state every fwring-hal op keeps in its pdu (24 bytes): what prep
/// read from the SQE, for issue.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct Args {
    /// Argument 0 (`sqe.len`).
    pub(crate) arg0: u32,
    /// Argument 1 (`sqe.file_index`).
    pub(crate) arg1: u32,
    /// Reserved (zero).
    pub(crate) reserved: u64,
    /// Flags (low 16 op-private bits).
    pub(crate) flags: u16,
    /// Command.
    pub(crate) cmd: u8,
    /// Import index of descriptor A, or [`NONE`].
    pub(crate) a: u8,
    /// Import index of descriptor B, or [`NONE`].
    pub(crate) b: u8,
    /// Padding (zero).
    pub(crate) pad: [u8; 3],
}

impl Args {
    /// The command.
    pub fn cmd(&self) -> u8 {
        self.cmd
    }

    /// The flags.
    pub fn flags(&self) -> u16 {
        self.flags
    }

    /// Argument 0 (`sqe.len`).
    pub fn arg0(&self) -> u32 {
        self.arg0
    }

    /// Argument 1 (`sqe.file_index`).
    pub fn arg1(&self) -> u32 {
        self.arg1
    }

    /// Argument 0 and 1 as 8 bytes (SPI header bytes).
    pub(crate) fn arg_bytes(&self) -> [u8; 8] {
        let (x, y) = (self.arg0.to_le_bytes(), self.arg1.to_le_bytes());
        [x[0], x[1], x[2], x[3], y[0], y[1], y[2], y[3]]
    }

    /// Whether a flag is set.
    pub(crate) fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    /// Import index of A.
    pub(crate) fn a(&self) -> Option<usize> {
        (self.a != NONE).then_some(self.a as usize)
    }

    /// Import index of B.
    pub(crate) fn b(&self) -> Option<usize> {
        (self.b != NONE).then_some(self.b as usize)
    }
}

/// Whether a command takes a descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Use {
    /// Must be absent.
    No,
    /// May be present.
    Optional,
    /// Must be present.
    Required,
}

/// A descriptor, or `None` when all zero.
fn present(d: BufDesc) -> Option<BufDesc> {
    if d == BufDesc::default() { None } else { Some(d) }
}

/// The descriptors a prep found.
pub(crate) struct Parsed {
    pub args: Args,
    pub a: Option<BufDesc>,
    pub b: Option<BufDesc>,
}

/// Check the SQE's descriptors against what the command takes, import them (A as a
/// source, then B as a destination) and fill the common pdu fields.
pub(crate) fn parse(cx: &mut PrepCx<'_>, sqe: &Sqe, a_use: Use, b_use: Use) -> Result<Parsed, Errno> {
    let a = present(BufDesc::sqe_a(sqe));
    let b = present(BufDesc::sqe_b(sqe));
    for (d, u) in [(&a, a_use), (&b, b_use)] {
        match (d.is_some(), u) {
            (true, Use::No) | (false, Use::Required) => return Err(Errno::EINVAL),
            _ => {}
        }
    }
    let mut args = Args {
        arg0: sqe.len,
        arg1: sqe.file_index,
        flags: flags(cx.info()),
        cmd: cmd(cx.info()),
        a: NONE,
        b: NONE,
        ..Args::default()
    };
    if let Some(d) = &a {
        args.a = cx.import(d, Dir::Source)? as u8;
    }
    if let Some(d) = &b {
        args.b = cx.import(d, Dir::Dest)? as u8;
    }
    Ok(Parsed { args, a, b })
}

/// Call `f` with the length of every segment `desc` resolves to, in order (zero-length
/// iovecs skipped, as the import skips them). Call only after the descriptor was
/// imported: the import has checked it. The total comes back.
pub(crate) fn for_each_seg(
    cx: &PrepCx<'_>,
    desc: &BufDesc,
    mut f: impl FnMut(u64) -> Result<(), Errno>,
) -> Result<u64, Errno> {
    let mut total = 0u64;
    if desc.is_vectored() {
        for k in 0..u64::from(desc.len) {
            let at = desc.addr.checked_add(k * 16).ok_or(Errno::EFAULT)?;
            // An iovec is 16 bytes, like a descriptor: read it through the same door.
            let raw = cx.read_desc(at)?;
            let iov = IoVec::read_from_bytes(raw.as_bytes()).map_err(|_| Errno::EFAULT)?;
            if iov.len != 0 {
                f(iov.len)?;
                total += iov.len;
            }
        }
    } else {
        f(u64::from(desc.len))?;
        total = u64::from(desc.len);
    }
    Ok(total)
}

/// Total length of a descriptor (see [`for_each_seg`]).
pub(crate) fn total_len(cx: &PrepCx<'_>, desc: &BufDesc) -> Result<u64, Errno> {
    for_each_seg(cx, desc, |_| Ok(()))
}

/// Check that every segment of `desc` is a multiple of `align` (-EINVAL); returns the
/// total.
pub(crate) fn aligned_len(cx: &PrepCx<'_>, desc: &BufDesc, align: usize) -> Result<u64, Errno> {
    let align = align.max(1) as u64;
    for_each_seg(cx, desc, |len| if len.is_multiple_of(align) { Ok(()) } else { Err(Errno::EINVAL) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_pins_fields() {
        assert_eq!(size_of::<Args>(), 24);
        let sqe = build(5, 0x12, 0x0301, Some(&BufDesc::kfixed(1, 2, 3)), None, 0xaabb_ccdd, 7);
        assert_eq!(sqe.op_flags, 5 << 24 | 0x12 << 16 | 0x0301);
        assert_eq!((sqe.len, sqe.file_index), (0xaabb_ccdd, 7));
        assert_eq!(BufDesc::sqe_a(&sqe), BufDesc::kfixed(1, 2, 3));
        assert_eq!(BufDesc::sqe_b(&sqe), BufDesc::default());
        assert_eq!(sqe.chain_len().op_flags & 1, 1);
        let args = Args { arg0: 0x0403_0201, arg1: 0x0807_0605, ..Args::default() };
        assert_eq!(args.arg_bytes(), [1, 2, 3, 4, 5, 6, 7, 8]);
    }
}
