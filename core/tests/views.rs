//! The shipped buffer ops working in place on vectored ranges that interleave within one
//! region — sources and destinations side by side, a link chain passing data along —
//! small enough to run under miri, which checks that the views carved at issue never
//! alias and stay valid while the ring reborrows its tables.

use fwring::ops::copy::Memcpy;
use fwring::ops::crc32c::{Crc32c, crc32c};
use fwring::ops::decompress::Lz4;
use fwring::ops::{CHAIN_LEN, buf_sqe};
use fwring::{BufDesc, Cqe, Errno, IoVec, OpVTable, Region, Ring, Setup, SetupFlags, SqeFlags, vtable};
use zerocopy::IntoBytes;

const COPY: u8 = 1;
const CRC: u8 = 2;
const LZ4: u8 = 3;
static OPS: [OpVTable; 3] = [vtable::<Memcpy>(COPY), vtable::<Crc32c>(CRC), vtable::<Lz4>(LZ4)];

type R = Ring<8, 16, 8>;

fn ring() -> R {
    let mut r = R::new();
    r.setup(Setup::new(8).flags(SetupFlags::BPF_EXT | SetupFlags::SUBMIT_ALL)).unwrap();
    for t in &OPS {
        r.register_op(t).unwrap();
    }
    r
}

fn run(r: &mut R, sqes: &[fwring::Sqe]) -> Vec<(u64, i32)> {
    for s in sqes {
        r.push(*s).unwrap();
    }
    let _ = r.submit();
    core::iter::from_fn(|| r.pop()).map(|c: Cqe| (c.user_data, c.res)).collect()
}

/// Layout of the one data region (256 bytes): sources and destinations interleave.
const SRC: [(u64, u64); 3] = [(0, 10), (32, 7), (64, 15)];
const DST: [(u64, u64); 2] = [(16, 12), (96, 20)];

#[test]
fn copy_between_interleaved_ranges_of_one_region() {
    let mut r = ring();
    let data: &'static mut [u8] = Box::leak(vec![0u8; 256].into_boxed_slice());
    let ctl: &'static mut [u8] = Box::leak(vec![0u8; 128].into_boxed_slice());
    for (i, b) in data.iter_mut().enumerate() {
        *b = i as u8;
    }
    let (d, c) = (data.as_ptr() as u64, ctl.as_ptr() as u64);
    r.register_buffers([Region::new(data), Region::new(ctl)]).unwrap();
    let src: Vec<IoVec> = SRC.iter().map(|&(o, len)| IoVec { base: d + o, len }).collect();
    let dst: Vec<IoVec> = DST.iter().map(|&(o, len)| IoVec { base: d + o, len }).collect();
    let table = r.buffer_mut(1).unwrap();
    table[..48].copy_from_slice(src.as_bytes());
    table[64..96].copy_from_slice(dst.as_bytes());
    let sqe = buf_sqe(COPY, 0, &BufDesc::vec(c, 3), Some(&BufDesc::vec(c + 64, 2))).user_data(1);
    assert_eq!(run(&mut r, &[sqe]), [(1, 32)]);
    let mem = r.buffers().get(0).unwrap().bytes();
    let want: Vec<u8> = SRC.iter().flat_map(|&(o, l)| (o..o + l).map(|b| b as u8)).collect();
    let got: Vec<u8> = DST.iter().flat_map(|&(o, l)| mem[o as usize..(o + l) as usize].to_vec()).collect();
    assert_eq!(got, want);
    // Bytes outside the destinations are untouched.
    assert_eq!(mem[28..32], [28, 29, 30, 31]);
    assert_eq!(mem[116..120], [116, 117, 118, 119]);
}

#[test]
fn decompress_then_checksum_chain_in_place() {
    let mut r = ring();
    let text = b"abc".repeat(16);
    let block = lz4_flex::block::compress(&text);
    assert!(block.len() <= 16);
    let data: &'static mut [u8] = Box::leak(vec![0u8; 128].into_boxed_slice());
    data[..block.len()].copy_from_slice(&block);
    let d = data.as_ptr() as u64;
    r.register_buffers([Region::new(data)]).unwrap();
    let u = BufDesc::user;
    let sqes = [
        buf_sqe(LZ4, 0, &u(d, block.len() as u32), Some(&u(d + 16, 64))).user_data(1).flags(SqeFlags::IO_LINK),
        buf_sqe(CRC, CHAIN_LEN, &u(d + 16, 64), Some(&u(d + 96, 4))).user_data(2),
    ];
    assert_eq!(run(&mut r, &sqes), [(1, 48), (2, 48)]);
    let mem = r.buffers().get(0).unwrap().bytes();
    assert_eq!(&mem[16..64], &text[..]);
    assert_eq!(mem[96..100], crc32c(&text).to_le_bytes());
    // The same range as both source and destination of one request: EINVAL at import.
    let bad = buf_sqe(COPY, 0, &u(d, 32), Some(&u(d + 16, 32))).user_data(3);
    assert_eq!(run(&mut r, &[bad]), [(3, Errno::EINVAL.res())]);
}
