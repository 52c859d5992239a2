//! Shared test scaffolding: a ring with op slots and two registered buffers.
#![allow(dead_code)]

use fwring::{BufDesc, Cqe, Errno, OpVTable, Region, Ring, Setup, SetupFlags, Sqe, SqeFlags};

/// The test ring: 16 SQEs, 32 CQEs, 16 in flight.
pub type TestRing = Ring<16, 32, 16>;

/// Size of each registered buffer.
pub const BUF: usize = 4096;

/// A ring set up with op slots, `ops` registered, and two registered buffers: buffer 0
/// (sources) holds `i % 251`, buffer 1 (destinations) zeros.
pub fn ring(ops: &[&'static OpVTable]) -> TestRing {
    let mut ring = TestRing::new();
    ring.setup(Setup::new(16).flags(SetupFlags::BPF_EXT)).unwrap();
    for op in ops {
        ring.register_op(op).unwrap();
    }
    let src: Vec<u8> = (0..BUF).map(|i| (i % 251) as u8).collect();
    ring.register_buffers([Region::new(src.leak()), Region::new(vec![0u8; BUF].leak())]).unwrap();
    ring
}

/// `len` bytes at `off` of buffer 0 (sources).
pub fn src(off: u64, len: u32) -> BufDesc {
    BufDesc::kfixed(0, off, len)
}

/// `len` bytes at `off` of buffer 1 (destinations).
pub fn dst(off: u64, len: u32) -> BufDesc {
    BufDesc::kfixed(1, off, len)
}

/// The bytes buffer 0 starts with at `off`.
pub fn pattern(off: usize, len: usize) -> Vec<u8> {
    (off..off + len).map(|i| (i % 251) as u8).collect()
}

/// Push `sqes` (user_data 1, 2, … in order), submit, and reap every CQE.
pub fn run(ring: &mut TestRing, sqes: &[Sqe]) -> Vec<Cqe> {
    for (i, sqe) in sqes.iter().enumerate() {
        ring.push(sqe.user_data(i as u64 + 1)).unwrap();
    }
    let _ = ring.submit();
    reap(ring)
}

/// Reap every CQE.
pub fn reap(ring: &mut TestRing) -> Vec<Cqe> {
    std::iter::from_fn(|| ring.pop()).collect()
}

/// `sqes` as one link chain.
pub fn chain(sqes: &[Sqe]) -> Vec<Sqe> {
    let n = sqes.len();
    sqes.iter().enumerate().map(|(i, s)| if i + 1 < n { s.flags(SqeFlags::IO_LINK) } else { *s }).collect()
}

/// CQEs with results `res` for user_data 1, 2, ….
pub fn cqes(res: &[i32]) -> Vec<Cqe> {
    res.iter().enumerate().map(|(i, &r)| Cqe::new(i as u64 + 1, r)).collect()
}

/// `-errno`.
pub fn e(errno: Errno) -> i32 {
    errno.res()
}

/// Buffer 1's bytes `[off, off + len)`.
pub fn dest_bytes(ring: &mut TestRing, off: usize, len: usize) -> Vec<u8> {
    ring.buffer_mut(1).unwrap()[off..off + len].to_vec()
}

/// A leaked, zeroed byte slice.
pub fn leak(len: usize) -> &'static mut [u8] {
    vec![0u8; len].leak()
}
