//! `crc32c`: the CRC-32C (Castagnoli) of a buffer, computed in place.
//!
//! SQE: descriptor A = source; optional descriptor B = a destination of at least 4 bytes
//! that receives the CRC (little-endian). Op flags: [`super::CHAIN_LEN`],
//! [`VERIFY`]. The CRC always goes to the chain record's `crc`.
//!
//! CQE: the number of bytes checksummed; with [`VERIFY`], 0 when the CRC equals
//! `sqe.len` and -EBADMSG when it does not. (A 32-bit CRC does not fit a non-negative
//! `i32` result, so it travels through the chain record or buffer B.)

use crate::abi::Sqe;
use crate::abi::errno::Errno;
use crate::buffer::{BufDesc, Dir};
use crate::slot::{Issue, IssueCx, Op, PrepCx};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::{CHAIN_LEN, optional_b};

/// Op flag: compare the CRC with `sqe.len`; CQE res 0 on a match, -EBADMSG otherwise.
pub const VERIFY: u32 = 1 << 1;

const POLY: u32 = 0x82f6_3b78; // reflected 0x1EDC6F41

const fn tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut s = 1;
        while s < 8 {
            t[s][i] = (t[s - 1][i] >> 8) ^ t[0][(t[s - 1][i] & 0xff) as usize];
            s += 1;
        }
        i += 1;
    }
    t
}

static TABLES: [[u32; 256]; 8] = tables();

/// Continue a CRC-32C over `data`. Start from `!0`, finish with `!`: see [`crc32c`].
pub fn update(mut crc: u32, data: &[u8]) -> u32 {
    let t = &TABLES;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let lo = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) ^ crc;
        let hi = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
        crc = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][(hi & 0xff) as usize]
            ^ t[2][((hi >> 8) & 0xff) as usize]
            ^ t[1][((hi >> 16) & 0xff) as usize]
            ^ t[0][(hi >> 24) as usize];
    }
    for &b in chunks.remainder() {
        crc = (crc >> 8) ^ t[0][((crc ^ b as u32) & 0xff) as usize];
    }
    crc
}

/// CRC-32C of `data` (iSCSI, ext4, NVMe): `crc32c(b"123456789") == 0xe3069283`.
pub fn crc32c(data: &[u8]) -> u32 {
    !update(!0, data)
}

/// What prep keeps for issue.
#[derive(Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct CrcPdu {
    flags: u32,
    expect: u32,
    has_out: u32,
}

/// The CRC-32C op.
///
/// ```
/// use fwring::ops::crc32c::{Crc32c, VERIFY};
/// use fwring::ops::buf_sqe;
/// use fwring::{BufDesc, Cqe, Errno, OpVTable, Region, Ring, Setup, SetupFlags, vtable};
/// use static_cell::StaticCell;
///
/// static CRC: OpVTable = vtable::<Crc32c>(4);
/// static MEM: StaticCell<[u8; 64]> = StaticCell::new();
///
/// let mut ring: Ring<8, 16, 8> = Ring::new();
/// ring.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).unwrap();
/// ring.register_op(&CRC).unwrap();
/// let mem = MEM.init([0; 64]);
/// mem[..9].copy_from_slice(b"123456789");
/// ring.register_buffers([Region::new(mem)]).unwrap();
///
/// let data = BufDesc::kfixed(0, 0, 9);
/// // The CRC of bytes 0..9, written little-endian to bytes 16..20.
/// ring.push(buf_sqe(4, 0, &data, Some(&BufDesc::kfixed(0, 16, 4))).user_data(1)).unwrap();
/// // VERIFY: compare with `len` instead — a match is 0, a mismatch -EBADMSG.
/// ring.push(buf_sqe(4, VERIFY, &data, None).len(0xe306_9283).user_data(2)).unwrap();
/// ring.push(buf_sqe(4, VERIFY, &data, None).len(0xdead_beef).user_data(3)).unwrap();
/// let _ = ring.submit();
/// assert_eq!(ring.pop(), Some(Cqe::new(1, 9)));
/// assert_eq!(ring.pop(), Some(Cqe::new(2, 0)));
/// assert_eq!(ring.pop(), Some(Cqe::new(3, Errno::EBADMSG.res())));
/// assert_eq!(ring.buffer_mut(0).unwrap()[16..20], 0xe306_9283u32.to_le_bytes());
/// ```
pub struct Crc32c;

impl Op for Crc32c {
    type Pdu = CrcPdu;

    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<CrcPdu, Errno> {
        cx.import(BufDesc::in_sqe_a(sqe), Dir::Source)?;
        let has_out = match optional_b(sqe) {
            Some(b) => {
                if b.len < 4 && !b.is_vectored() {
                    return Err(Errno::EINVAL);
                }
                cx.import(&b, Dir::Dest)?;
                1
            }
            None => 0,
        };
        Ok(CrcPdu { flags: cx.info().private_flags(), expect: sqe.len, has_out })
    }

    fn issue(cx: &mut IssueCx<'_>, pdu: &mut CrcPdu) -> Issue {
        let limit = if pdu.flags & CHAIN_LEN != 0 { Some(cx.chain().len as usize) } else { None };
        let (crc, n) = match checksum(cx, limit, pdu.has_out != 0) {
            Ok(x) => x,
            Err(e) => return Issue::Err(e),
        };
        let res =
            if pdu.flags & VERIFY != 0 { if crc == pdu.expect { 0 } else { Errno::EBADMSG.res() } } else { n as i32 };
        cx.set_result(res);
        Issue::Done
    }
}

/// CRC of import 0 (first `limit` bytes), stored in the chain record and, if asked,
/// written to import 1. Returns `(crc, bytes)`.
fn checksum(cx: &mut IssueCx<'_>, limit: Option<usize>, write_out: bool) -> Result<(u32, usize), Errno> {
    let mut io = crate::buffer::Io::NONE;
    let chain = cx.io_into(&mut io)?;
    let src = io.source(0)?;
    // Cut a copy of the source's views only when the chain record limits it.
    let (crc, len) = match limit {
        Some(n) => {
            let mut src = src.clone();
            src.truncate(n);
            (crc_of(&src), src.len())
        }
        None => (crc_of(src), src.len()),
    };
    chain.crc = crc;
    if write_out {
        let bytes = crc.to_le_bytes();
        io.dest(1)?.copy_from(&crate::buffer::Segs::from_slice(&bytes))?;
    }
    Ok((crc, len))
}

fn crc_of(src: &crate::buffer::Segs<'_>) -> u32 {
    !src.slices().iter().fold(!0, |c, s| update(c, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(crc32c(b""), 0);
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62a8_ab43);
        let inc: [u8; 32] = core::array::from_fn(|i| i as u8);
        assert_eq!(crc32c(&inc), 0x46dd_794e);
    }

    #[test]
    fn split_updates_match_whole() {
        let data: [u8; 100] = core::array::from_fn(|i| (i * 7 + 3) as u8);
        for cut in 0..100 {
            let c = !update(update(!0, &data[..cut]), &data[cut..]);
            assert_eq!(c, crc32c(&data));
        }
    }
}
