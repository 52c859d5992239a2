//! The simulator's standard op-slot ops and memory, set up on every `BPF_EXT` ring it
//! creates (`replay --setup-flags bpf_ext`, `demo`).
//!
//! | slot | op | SQE | CQE res |
//! |---:|---|---|---|
//! | 0 | `answer` | — | 42 (the series' basic selftest op) |
//! | 1 | `echo` | op flags = v | v (the low 24 bits of `bpf_op_flags`) |
//! | 2 | `errno` | op flags = e, 1 ≤ e ≤ 4095 | `-e` from issue (fail path); e outside → prep -EINVAL |
//! | 3 | `copy` | desc A → desc B | bytes copied |
//! | 4 | `crc32c` | desc A (+ optional B for the CRC) | bytes, or 0/-EBADMSG with VERIFY |
//! | 5 | `lz4` | LZ4 block A → B | bytes decompressed |
//! | 6 | `inject` | op flags = rule record id | 0 or the injected errno |
//! | 7 | `lz4` with injection (`Faulty<Lz4, 1>`) | as slot 5 | as slot 5, or the errno of rule record 1 |
//!
//! Memory ([`REGIONS`]), registered as buffers 0..4 at fixed addresses so replayed SQEs
//! can name it: buffer 0 = 64 KiB of `i % 251` at 0x1000_0000; buffer 1 = 64 KiB of
//! zeros at 0x1001_0000; buffer 2 = [`LZ4_TEXT`] compressed (LZ4 block) at 0x1002_0000;
//! buffer 3 = 64 KiB of zeros at 0x1003_0000. Extended-argument records: 0 = fail every
//! 2nd request with -EIO; 1 = fail the 2nd request with -EIO.

use fwring::ops::copy::Memcpy;
use fwring::ops::crc32c::Crc32c;
use fwring::ops::decompress::Lz4;
use fwring::ops::inject::{Faulty, Inject, InjectRule};
use fwring::{ArgRecord, Errno, Issue, IssueCx, Op, OpVTable, PrepCx, Region, Ring, Sqe, vtable};

/// Completes with 42.
pub struct Answer;
impl Op for Answer {
    type Pdu = ();
    fn prep(_: &mut PrepCx<'_>, _: &Sqe) -> Result<(), Errno> {
        Ok(())
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        cx.set_result(42);
        Issue::Done
    }
}

/// Completes with its 24 op-private flag bits.
pub struct Echo;
impl Op for Echo {
    type Pdu = u32;
    fn prep(cx: &mut PrepCx<'_>, _: &Sqe) -> Result<u32, Errno> {
        Ok(cx.info().private_flags())
    }
    fn issue(cx: &mut IssueCx<'_>, v: &mut u32) -> Issue {
        cx.set_result(*v as i32);
        Issue::Done
    }
}

/// Fails its issue with the errno given in its op flags.
pub struct FailWith;
impl Op for FailWith {
    type Pdu = u16;
    fn prep(cx: &mut PrepCx<'_>, _: &Sqe) -> Result<u16, Errno> {
        let e = cx.info().private_flags();
        u16::try_from(e).ok().and_then(Errno::new).map(Errno::get).ok_or(Errno::EINVAL)
    }
    fn issue(_: &mut IssueCx<'_>, e: &mut u16) -> Issue {
        Issue::Err(Errno::new(*e).unwrap_or(Errno::EINVAL))
    }
}

/// Slot of [`Answer`].
pub const ANSWER: u8 = 0;
/// Slot of [`Echo`].
pub const ECHO: u8 = 1;
/// Slot of [`FailWith`].
pub const ERRNO: u8 = 2;
/// Slot of [`Memcpy`].
pub const COPY: u8 = 3;
/// Slot of [`Crc32c`].
pub const CRC32C: u8 = 4;
/// Slot of [`Lz4`].
pub const LZ4: u8 = 5;
/// Slot of [`Inject`].
pub const INJECT: u8 = 6;
/// Slot of `Faulty<Lz4, 1>`.
pub const FAULTY_LZ4: u8 = 7;

/// The standard ops' tables, slot `i` at index `i`.
pub static TABLES: [OpVTable; 8] = [
    vtable::<Answer>(ANSWER),
    vtable::<Echo>(ECHO),
    vtable::<FailWith>(ERRNO),
    vtable::<Memcpy>(COPY),
    vtable::<Crc32c>(CRC32C),
    vtable::<Lz4>(LZ4),
    vtable::<Inject>(INJECT),
    vtable::<Faulty<Lz4, 1>>(FAULTY_LZ4),
];

/// `(slot, name)` of every standard op, for listings.
pub const LIST: [(u8, &str); 8] = [
    (ANSWER, "answer"),
    (ECHO, "echo"),
    (ERRNO, "errno"),
    (COPY, "copy"),
    (CRC32C, "crc32c"),
    (LZ4, "lz4"),
    (INJECT, "inject"),
    (FAULTY_LZ4, "lz4+inject"),
];

/// `(address, length)` of the standard buffers 0..4.
pub const REGIONS: [(u64, usize); 4] =
    [(0x1000_0000, 65536), (0x1001_0000, 65536), (0x1002_0000, 0), (0x1003_0000, 65536)];

/// The text behind buffer 2 (compressed there as one LZ4 block).
pub const LZ4_TEXT: &[u8] =
    b"fwring: an io_uring-style ring for firmware. Zero-copy ops decompress, checksum and copy in place. ";

/// How many times [`LZ4_TEXT`] is repeated before compression.
pub const LZ4_REPEAT: usize = 40;

/// The uncompressed contents of buffer 2.
pub fn lz4_plain() -> Vec<u8> {
    LZ4_TEXT.repeat(LZ4_REPEAT)
}

fn leak(v: Vec<u8>) -> &'static mut [u8] {
    Box::leak(v.into_boxed_slice())
}

/// Register the standard ops, buffers and argument records on a `BPF_EXT` ring.
pub fn register<const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize>(
    ring: &mut Ring<SQ, CQ, N, ARGS>,
) -> Result<(), Errno> {
    TABLES.iter().try_for_each(|t| ring.register_op(t))?;
    let pattern: Vec<u8> = (0..REGIONS[0].1).map(|i| (i % 251) as u8).collect();
    let block = lz4_flex::block::compress(&lz4_plain());
    let regions = [
        Region::new(leak(pattern)).at(REGIONS[0].0),
        Region::new(leak(vec![0; REGIONS[1].1])).at(REGIONS[1].0),
        Region::new(leak(block)).at(REGIONS[2].0),
        Region::new(leak(vec![0; REGIONS[3].1])).at(REGIONS[3].0),
    ];
    ring.register_buffers(regions).map_err(|e| e.errno)?;
    ring.set_arg(0, ArgRecord::from_value(&InjectRule::every(2, Errno::EIO)))?;
    ring.set_arg(1, ArgRecord::from_value(&InjectRule::nth(2, Errno::EIO)))?;
    Ok(())
}
