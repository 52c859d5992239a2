//! The request kinds of the performance table (`cargo xtask bench` → docs/perf.md), each
//! through fwring and through a hand-written floor doing the same work in the same run:
//!
//! - `nop-bN`: NOPs, `N` per submit (1, 8, 32, 128): the fixed cost of a `submit` call;
//! - `nop-sqN`: NOPs at batch `min(32, N)` on a ring of `N` SQ entries (8 … 4096): the
//!   cost per request must not grow with the ring;
//! - `op-b32`, `op-b1`: an op-slot op whose result comes from its SQE (prep + issue),
//!   batch 32 and 1;
//!   the floor dispatches the same function through its 16-entry table;
//! - `chain4-b32`: 8 link chains of 4 NOPs per submit;
//! - `opchain4-b32`: 8 link chains of 4 `op-b32` ops per submit (the floor runs the same
//!   ops, unlinked);
//! - `buf1-b32`, `buf8-b32` (`-r16`): the shipped copy op ([`fwring::ops::copy::Memcpy`])
//!   moving 64 bytes between registered buffers, batch 32 — one segment each way
//!   (`FIXED` descriptors), or eight of 8 bytes each way (`REG_VEC` descriptors whose
//!   iovec arrays lie in the same buffer) — with 1 registered buffer, or 16 (the most a
//!   table holds) with the data in the last one. Each request of a batch has its own
//!   destination. The floor decodes the same descriptors by hand (no checks: the buffer
//!   index picks a slice, the iovecs are read from it) and runs the same segment-to-
//!   segment copy on the same bytes. fwring − floor is the ring's cost of a buffer op.
//!
//! `fwring:<row>` and `floor:<row>` name the two sides. `no_std` apart from the host's
//! [`run`]: the firmware's `fw-bench` includes this file and measures the same rows on
//! the targets.

use core::hint::black_box;

use fwring::ops::buf_sqe;
use fwring::ops::copy::Memcpy;
use fwring::{
    BufDesc, BufType, Cqe, Errno, Issue, IssueCx, Op, OpVTable, PrepCx, Region, Ring, Setup, SetupFlags, Sqe, SqeFlags,
    opcode, vtable,
};

/// Every row, in table order.
pub const ROWS: [&str; 16] = [
    "nop-b1",
    "nop-b8",
    "nop-b32",
    "nop-b128",
    "op-b1",
    "op-b32",
    "chain4-b32",
    "opchain4-b32",
    "buf1-b32",
    "buf1-b32-r16",
    "buf8-b32",
    "buf8-b32-r16",
    "nop-sq8",
    "nop-sq64",
    "nop-sq512",
    "nop-sq4096",
];

/// Whether the firmware measures `row` too: every row on the one ring size it builds
/// ([`RowRing`]) but the in-between NOP batches (8, 128), which the host's table has for
/// the curve.
pub fn on_target(row: &str) -> bool {
    !row.starts_with("nop-sq") && !matches!(row, "nop-b8" | "nop-b128")
}

/// Requests per batch of a row.
pub fn batch(row: &str) -> usize {
    match row {
        "nop-b1" | "op-b1" => 1,
        "nop-b8" | "nop-sq8" => 8,
        "nop-b128" => 128,
        _ => 32,
    }
}

/// Largest batch of any row.
pub const MAX_BATCH: usize = 128;

/// The ring of every row but `nop-sqN`.
pub type RowRing = Ring<128, 256, 128>;

/// The trivial op: completes with the low byte of its private op flags.
struct Echo8;
impl Op for Echo8 {
    type Pdu = u32;
    fn prep(cx: &mut PrepCx<'_>, _sqe: &Sqe) -> Result<u32, Errno> {
        Ok(cx.info().private_flags() & 0xff)
    }
    fn issue(cx: &mut IssueCx<'_>, pdu: &mut u32) -> Issue {
        cx.set_result(*pdu as i32);
        Issue::Done
    }
}
const ECHO_SLOT: u8 = 3;
static ECHO: OpVTable = vtable::<Echo8>(ECHO_SLOT);
const COPY_SLOT: u8 = 4;
static COPY: OpVTable = vtable::<Memcpy>(COPY_SLOT);

// ---------------------------------------------------------------------------------------
// Buffer rows: memory and requests.

/// Registered buffers a `-r16` row registers (the table's maximum).
pub const MANY: usize = fwring::buffer::MAX_BUFFERS;
/// Bytes of each buffer.
pub const REGION_LEN: usize = 8192;
/// Bytes each request copies.
const COPY_LEN: usize = 64;
/// Layout of the buffer holding the data: the source (shared by every request), its iovec
/// array, the destinations (one per request of a batch), their iovec arrays.
const SRC: usize = 0;
const SRC_IOV: usize = 256;
const DST: usize = 1024;
const DST_IOV: usize = 4096;
/// Segments each way of a `buf8` request, of `COPY_LEN / SEGS` bytes.
const SEGS: usize = 8;
const IOV_LEN: usize = 16;

/// The memory the buffer rows work on: [`MANY`] buffers of [`REGION_LEN`] bytes, taken
/// by fwring's side while it runs (registered) and handed back after.
pub struct Mem {
    bufs: [Option<&'static mut [u8]>; MANY],
}

impl Mem {
    /// Over `bufs`, each at least [`REGION_LEN`] bytes.
    pub fn new(bufs: [&'static mut [u8]; MANY]) -> Self {
        Mem { bufs: bufs.map(Some) }
    }

    /// Buffers on the heap, leaked (host).
    #[cfg(not(target_os = "none"))]
    pub fn leak() -> Self {
        Mem::new(core::array::from_fn(|_| Box::leak(vec![0u8; REGION_LEN].into_boxed_slice())))
    }
}

/// Buffers a row registers (0 for rows without buffers).
pub fn buffers(row: &str) -> usize {
    match row {
        "buf1-b32" | "buf8-b32" => 1,
        "buf1-b32-r16" | "buf8-b32-r16" => MANY,
        _ => 0,
    }
}

fn addr(b: &[u8], off: usize) -> u64 {
    b.as_ptr() as usize as u64 + off as u64
}

/// Write the source bytes and the iovec arrays of a buffer row into its data buffer (the
/// last of those it registers) and return the batch's SQEs.
fn lay_out(row: &str, data: &mut [u8], index: u16) -> heapless::Vec<Sqe, MAX_BATCH> {
    let mut sqes = heapless::Vec::new();
    let seg = COPY_LEN / SEGS;
    for (i, b) in data[SRC..SRC + 2 * COPY_LEN].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37).wrapping_add(11);
    }
    let put_iov = |data: &mut [u8], at: usize, k: usize, base: u64| {
        let iov = &mut data[at + k * IOV_LEN..at + (k + 1) * IOV_LEN];
        iov[..8].copy_from_slice(&base.to_ne_bytes());
        iov[8..].copy_from_slice(&(seg as u64).to_ne_bytes());
    };
    for k in 0..SEGS {
        // Source segments with gaps between them, destination segments back to back.
        let src = addr(data, SRC + 2 * seg * k);
        put_iov(data, SRC_IOV, k, src);
    }
    for i in 0..batch(row) {
        let dst = DST + COPY_LEN * i;
        let dst_iov = DST_IOV + SEGS * IOV_LEN * i;
        for k in 0..SEGS {
            let d = addr(data, dst + seg * k);
            put_iov(data, dst_iov, k, d);
        }
        let (a, b) = if row.starts_with("buf1") {
            (
                BufDesc::fixed(index, addr(data, SRC), COPY_LEN as u32),
                BufDesc::fixed(index, addr(data, dst), COPY_LEN as u32),
            )
        } else {
            (
                BufDesc::reg_vec(index, addr(data, SRC_IOV), SEGS as u32),
                BufDesc::reg_vec(index, addr(data, dst_iov), SEGS as u32),
            )
        };
        let _ = sqes.push(buf_sqe(COPY_SLOT, 0, &a, Some(&b)).user_data(i as u64 + 1));
    }
    sqes
}

// ---------------------------------------------------------------------------------------
// The floor.

/// What the floor's handlers see besides the SQE: the buffers, by index, with the
/// address each is named by.
pub struct FloorMem {
    bufs: heapless::Vec<(u64, &'static mut [u8]), MANY>,
}

type Handler = fn(&Sqe) -> i32;
/// The buffer rows' handlers also get the buffers.
type BufHandler = fn(&mut FloorMem, &Sqe) -> i32;

fn floor_echo(sqe: &Sqe) -> i32 {
    (fwring::bpf_op_private(sqe.op_flags) & 0xff) as i32
}
fn floor_nop(_: &Sqe) -> i32 {
    0
}
fn floor_inval(_: &Sqe) -> i32 {
    -22
}

/// A descriptor's fields as the SQE holds them (descriptor A: `off`, `addr`; B: `addr3`,
/// `__pad2`), decoded by hand: `(type, buffer index, len, addr)`.
fn floor_desc(lo: u64, addr: u64) -> (u8, usize, usize, u64) {
    (lo as u8, (lo >> 16) as u16 as usize, (lo >> 32) as usize, addr)
}

/// The segments of a descriptor as `(offset, len)` in buffer `index`.
fn floor_segs(m: &FloorMem, (ty, index, len, addr): (u8, usize, usize, u64)) -> heapless::Vec<(usize, usize), SEGS> {
    let (base, b) = (m.bufs[index].0, &m.bufs[index].1);
    let mut out = heapless::Vec::new();
    if ty == BufType::Fixed as u8 {
        let _ = out.push(((addr - base) as usize, len));
    } else {
        for k in 0..len {
            let at = (addr - base) as usize + k * IOV_LEN;
            let word = |o: usize| u64::from_ne_bytes(b[at + o..at + o + 8].try_into().unwrap_or_default());
            let _ = out.push(((word(0) - base) as usize, word(8) as usize));
        }
    }
    out
}

/// The copy op by hand: descriptor A into descriptor B, segment to segment, as
/// [`fwring::SegsMut::copy_from`] walks them (both in one buffer here).
fn floor_copy(m: &mut FloorMem, sqe: &Sqe) -> i32 {
    let a = floor_desc(sqe.off, sqe.addr);
    let b = floor_desc(sqe.addr3, sqe.pad2);
    let (src, dst) = (floor_segs(m, a), floor_segs(m, b));
    let mem = &mut m.bufs[b.1].1;
    let (mut d, mut done, mut total) = (0, 0, 0);
    for &(mut s, mut n) in &src {
        while n > 0 {
            let (at, len) = dst[d];
            let k = n.min(len - done);
            mem.copy_within(s..s + k, at + done);
            (s, n, done, total) = (s + k, n - k, done + k, total + k);
            if done == len {
                (d, done) = (d + 1, 0);
            }
        }
    }
    total as i32
}

static TABLE: [Handler; 16] = {
    let mut t: [Handler; 16] = [floor_inval; 16];
    t[(opcode::NOP & 15) as usize] = floor_nop;
    t[(opcode::BPF & 15) as usize] = floor_echo;
    t
};
/// The buffer rows' table: the copy op where the others have the echo op.
static BUF_TABLE: [BufHandler; 16] = {
    let mut t: [BufHandler; 16] = [|_, _| -22; 16];
    t[(opcode::NOP & 15) as usize] = |_, _| 0;
    t[(opcode::BPF & 15) as usize] = floor_copy;
    t
};

/// The floor: a minimal hand-written ring (no checks, no atomics), 256 entries.
pub struct Floor {
    sqes: [Sqe; 256],
    cqes: [Cqe; 256],
    sq: (u32, u32),
    cq: (u32, u32),
    mem: FloorMem,
}

impl Floor {
    /// An empty floor ring.
    pub const fn new() -> Self {
        Floor {
            sqes: [Sqe::nop(); 256],
            cqes: [Cqe::new(0, 0); 256],
            sq: (0, 0),
            cq: (0, 0),
            mem: FloorMem { bufs: heapless::Vec::new() },
        }
    }

    #[inline(never)]
    fn push(&mut self, sqe: &Sqe) {
        self.sqes[(self.sq.1 & 255) as usize] = *sqe;
        self.sq.1 = self.sq.1.wrapping_add(1);
    }
    #[inline(never)]
    fn submit(&mut self) {
        while self.sq.0 != self.sq.1 {
            let sqe = &self.sqes[(self.sq.0 & 255) as usize];
            let res = TABLE[(sqe.opcode & 15) as usize](sqe);
            self.post(res);
        }
    }
    /// `submit` of the buffer rows: the handlers get the buffers too.
    #[inline(never)]
    fn submit_buf(&mut self) {
        while self.sq.0 != self.sq.1 {
            let sqe = &self.sqes[(self.sq.0 & 255) as usize];
            let res = BUF_TABLE[(sqe.opcode & 15) as usize](&mut self.mem, sqe);
            self.post(res);
        }
    }
    #[inline(always)]
    fn post(&mut self, res: i32) {
        let ud = self.sqes[(self.sq.0 & 255) as usize].user_data;
        self.cqes[(self.cq.1 & 255) as usize] = Cqe::new(ud, res);
        self.cq.1 = self.cq.1.wrapping_add(1);
        self.sq.0 = self.sq.0.wrapping_add(1);
    }
    #[inline(never)]
    fn pop(&mut self) -> Option<Cqe> {
        if self.cq.0 == self.cq.1 {
            return None;
        }
        let c = self.cqes[(self.cq.0 & 255) as usize];
        self.cq.0 = self.cq.0.wrapping_add(1);
        Some(c)
    }
}

impl Default for Floor {
    fn default() -> Self {
        Floor::new()
    }
}

// ---------------------------------------------------------------------------------------
// Running a row.

/// The SQEs of one batch of a row without buffers.
fn plain_sqes(row: &str) -> heapless::Vec<Sqe, MAX_BATCH> {
    (0..batch(row))
        .map(|i| {
            let ud = i as u64 + 1;
            match row {
                "op-b1" | "op-b32" => Sqe::bpf(ECHO_SLOT, i as u32).user_data(ud),
                "chain4-b32" if i % 4 != 3 => Sqe::nop().user_data(ud).flags(SqeFlags::IO_LINK),
                "opchain4-b32" if i % 4 != 3 => Sqe::bpf(ECHO_SLOT, i as u32).user_data(ud).flags(SqeFlags::IO_LINK),
                "opchain4-b32" => Sqe::bpf(ECHO_SLOT, i as u32).user_data(ud),
                _ => Sqe::nop().user_data(ud),
            }
        })
        .collect()
}

fn fold(sum: u64, c: &Cqe) -> u64 {
    sum.wrapping_add(c.user_data ^ c.res as u64)
}

#[inline(never)]
fn push<const SQ: usize, const CQ: usize, const N: usize>(r: &mut Ring<SQ, CQ, N>, sqe: &Sqe) {
    let _ = r.push(*sqe);
}
#[inline(never)]
fn submit<const SQ: usize, const CQ: usize, const N: usize>(r: &mut Ring<SQ, CQ, N>) {
    let _ = black_box(r.submit());
}
#[inline(never)]
fn pop<const SQ: usize, const CQ: usize, const N: usize>(r: &mut Ring<SQ, CQ, N>) -> Option<Cqe> {
    r.pop()
}

/// `iters` batches of `sqes` through `ring`: the checksum of every CQE.
#[inline(never)]
fn batches<const SQ: usize, const CQ: usize, const N: usize>(
    ring: &mut Ring<SQ, CQ, N>,
    sqes: &[Sqe],
    iters: u64,
) -> u64 {
    let mut sum = 0;
    for _ in 0..iters {
        for s in black_box(sqes) {
            push(ring, s);
        }
        submit(ring);
        while let Some(c) = pop(ring) {
            sum = fold(sum, &c);
        }
    }
    sum
}

/// Register the row's buffers (the first `buffers(row)` of `mem`): the SQEs of a batch.
fn register<const SQ: usize, const CQ: usize, const N: usize>(
    ring: &mut Ring<SQ, CQ, N>,
    row: &str,
    mem: &mut Mem,
) -> Option<heapless::Vec<Sqe, MAX_BATCH>> {
    let k = buffers(row);
    if k == 0 {
        return Some(plain_sqes(row));
    }
    let data = mem.bufs[k - 1].as_deref_mut()?;
    let sqes = lay_out(row, data, (k - 1) as u16);
    let ok = if k == 1 {
        ring.register_buffers([Region::new(mem.bufs[0].take()?)]).is_ok()
    } else {
        let mut bufs = mem.bufs.each_mut().map(|b| b.take());
        if bufs.iter().any(Option::is_none) {
            return None;
        }
        ring.register_buffers(core::array::from_fn::<_, MANY, _>(|i| Region::new(bufs[i].take().unwrap_or_default())))
            .is_ok()
    };
    ok.then_some(sqes)
}

/// Run `row` through fwring on `ring` for `iters` batches (set up for the row, its
/// buffers registered from `mem` and given back after): the checksum of every CQE, or
/// `None` if the row could not be set up.
pub fn fwring_run<const SQ: usize, const CQ: usize, const N: usize>(
    ring: &mut Ring<SQ, CQ, N>,
    row: &str,
    mem: &mut Mem,
    iters: u64,
) -> Option<u64> {
    ring.setup(Setup::new(SQ as u32).flags(SetupFlags::BPF_EXT)).ok()?;
    ring.register_op(if buffers(row) == 0 { &ECHO } else { &COPY }).ok()?;
    let batch = register(ring, row, mem)?;
    let sum = batches(ring, &batch, iters);
    if buffers(row) > 0 {
        let back = ring.unregister_buffers().ok()?;
        for (slot, r) in mem.bufs.iter_mut().zip(back) {
            *slot = Some(r.into_inner());
        }
    }
    Some(sum)
}

/// Run `row` through the floor for `iters` batches, on the same buffers as fwring's side.
pub fn floor_run(f: &mut Floor, row: &str, mem: &mut Mem, iters: u64) -> Option<u64> {
    let k = buffers(row);
    let sqes = if k == 0 {
        plain_sqes(row)
    } else {
        let data = mem.bufs[k - 1].as_deref_mut()?;
        lay_out(row, data, (k - 1) as u16)
    };
    for b in mem.bufs.iter_mut().take(k) {
        let b = b.take()?;
        let _ = f.mem.bufs.push((addr(b, 0), b));
    }
    let sqes: &[Sqe] = &sqes;
    let mut sum = 0;
    for _ in 0..iters {
        for s in black_box(sqes) {
            f.push(s);
        }
        if k == 0 {
            f.submit()
        } else {
            f.submit_buf()
        }
        while let Some(c) = f.pop() {
            sum = fold(sum, &c);
        }
    }
    for (slot, (_, b)) in mem.bufs.iter_mut().zip(core::mem::take(&mut f.mem.bufs)) {
        *slot = Some(b);
    }
    Some(sum)
}

/// Run `side:row` (`fwring:op-b32`, `floor:nop-b1`, …) for `iters` batches; the
/// checksum of every CQE, or `None` for an unknown name.
#[cfg(not(target_os = "none"))]
pub fn run(name: &str, iters: u64) -> Option<u64> {
    let (side, row) = name.split_once(':')?;
    if !ROWS.contains(&row) {
        return None;
    }
    let mut mem = Mem::leak();
    match side {
        "floor" => floor_run(&mut Box::default(), row, &mut mem, iters),
        "fwring" => match row {
            "nop-sq8" => fwring_run(&mut Box::<Ring<8, 16, 8>>::default(), row, &mut mem, iters),
            "nop-sq64" => fwring_run(&mut Box::<Ring<64, 128, 64>>::default(), row, &mut mem, iters),
            "nop-sq512" => fwring_run(&mut Box::<Ring<512, 1024, 512>>::default(), row, &mut mem, iters),
            "nop-sq4096" => fwring_run(&mut Box::<Ring<4096, 8192, 4096>>::default(), row, &mut mem, iters),
            _ => fwring_run(&mut Box::<RowRing>::default(), row, &mut mem, iters),
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_of_every_row_give_the_same_completions() {
        // The 4096-entry ring is built on the stack before it is boxed: room for it.
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(|| {
                for row in ROWS {
                    let (a, b) = (run(&format!("fwring:{row}"), 3), run(&format!("floor:{row}"), 3));
                    assert_eq!(a, b, "{row}");
                    assert!(a.is_some_and(|s| s != 0), "{row}");
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }

    /// Every buffer row completes each request with the 64 bytes copied, and both sides
    /// leave the same bytes in every destination.
    #[test]
    fn buffer_rows_copy_64_bytes_into_each_destination() {
        for row in ROWS.into_iter().filter(|r| buffers(r) > 0) {
            let (mut m1, mut m2) = (Mem::leak(), Mem::leak());
            let mut ring = Box::<RowRing>::default();
            let sum = fwring_run(&mut ring, row, &mut m1, 1).unwrap();
            let want: u64 = (1..=32u64).map(|ud| ud ^ COPY_LEN as u64).sum();
            assert_eq!(sum, want, "{row}");
            assert_eq!(floor_run(&mut Box::default(), row, &mut m2, 1), Some(want), "{row}");
            let k = buffers(row) - 1;
            let (a, b) = (m1.bufs[k].as_deref().unwrap(), m2.bufs[k].as_deref().unwrap());
            assert_eq!(a[DST..DST + 32 * COPY_LEN], b[DST..DST + 32 * COPY_LEN], "{row}");
            let src = &a[SRC..SRC + 2 * COPY_LEN];
            let first = &a[DST..DST + COPY_LEN];
            if row.starts_with("buf1") {
                assert_eq!(first, &src[..COPY_LEN], "{row}");
            } else {
                // Eight 8-byte source segments with 8-byte gaps, packed.
                let packed: Vec<u8> = src.chunks(16).flat_map(|c| c[..8].iter().copied()).collect();
                assert_eq!(first, &packed[..], "{row}");
            }
        }
    }
}
