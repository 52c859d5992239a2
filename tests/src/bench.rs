//! The NOP benchmark workloads, shared by the criterion bench (`benches/nop.rs`, ns/op)
//! and the `fwring-bench` binary that `cargo xtask bench` runs under callgrind
//! (instructions/op). Every workload moves a batch of [`BATCH`] NOP requests through
//! submit and reap, and folds the completions into a checksum so nothing is optimised
//! away:
//!
//! - [`Floor`]: a minimal hand-written ring — an array of 64-byte SQEs, dispatch through
//!   a 16-entry table of fn pointers, a 16-byte CQE write, no atomics, no checks.
//! - [`Spsc`]: `heapless::spsc` queues moving the same SQEs and CQEs, same dispatch.
//! - fwring: `Ring::push` × 32, `submit`, `pop` × 32, with every Linux check.
//! - the kernel's io_uring (`KernelRing`, Linux only): ns only.

use core::hint::black_box;

use fwring::{Cqe, Ring, Sqe};

/// Requests per submit.
pub const BATCH: usize = 32;

/// The SQEs every workload submits: NOPs with distinct user_data.
pub fn nops() -> [Sqe; BATCH] {
    core::array::from_fn(|i| Sqe::nop().user_data(i as u64 + 1))
}

#[inline(always)]
fn fold(sum: u64, c: &Cqe) -> u64 {
    sum.wrapping_add(c.user_data ^ c.res as u64)
}

type Handler = fn(&Sqe) -> i32;

fn op_nop(_: &Sqe) -> i32 {
    0
}

fn op_inval(_: &Sqe) -> i32 {
    -22
}

/// The floor's dispatch table: 16 fn pointers indexed by the low 4 opcode bits.
static TABLE: [Handler; 16] = {
    let mut t: [Handler; 16] = [op_inval; 16];
    t[0] = op_nop;
    t
};

/// One submit/reap implementation under test.
pub trait Workload {
    /// Queue one SQE.
    fn push(&mut self, sqe: &Sqe);
    /// Run everything queued.
    fn submit(&mut self);
    /// Reap one CQE.
    fn pop(&mut self) -> Option<Cqe>;

    /// `iters` batches of [`BATCH`]; returns the checksum of every CQE.
    fn run(&mut self, sqes: &[Sqe; BATCH], iters: u64) -> u64 {
        let mut sum = 0;
        for _ in 0..iters {
            for s in black_box(sqes) {
                self.push(s);
            }
            self.submit();
            while let Some(c) = self.pop() {
                sum = fold(sum, &c);
            }
        }
        sum
    }
}

/// The floor: a minimal hand-written ring.
pub struct Floor {
    sqes: [Sqe; 64],
    cqes: [Cqe; 128],
    sq_head: u32,
    sq_tail: u32,
    cq_head: u32,
    cq_tail: u32,
}

impl Default for Floor {
    fn default() -> Self {
        Floor { sqes: [Sqe::nop(); 64], cqes: [Cqe::new(0, 0); 128], sq_head: 0, sq_tail: 0, cq_head: 0, cq_tail: 0 }
    }
}

impl Workload for Floor {
    #[inline(never)]
    fn push(&mut self, sqe: &Sqe) {
        self.sqes[(self.sq_tail & 63) as usize] = *sqe;
        self.sq_tail = self.sq_tail.wrapping_add(1);
    }

    #[inline(never)]
    fn submit(&mut self) {
        while self.sq_head != self.sq_tail {
            let sqe = &self.sqes[(self.sq_head & 63) as usize];
            let res = TABLE[(sqe.opcode & 15) as usize](sqe);
            self.cqes[(self.cq_tail & 127) as usize] = Cqe::new(sqe.user_data, res);
            self.cq_tail = self.cq_tail.wrapping_add(1);
            self.sq_head = self.sq_head.wrapping_add(1);
        }
    }

    #[inline(never)]
    fn pop(&mut self) -> Option<Cqe> {
        if self.cq_head == self.cq_tail {
            return None;
        }
        let c = self.cqes[(self.cq_head & 127) as usize];
        self.cq_head = self.cq_head.wrapping_add(1);
        Some(c)
    }
}

/// `heapless::spsc` queues for SQEs and CQEs, with the floor's dispatch.
pub struct Spsc {
    sq: heapless::spsc::Queue<Sqe, 64>,
    cq: heapless::spsc::Queue<Cqe, 128>,
}

impl Default for Spsc {
    fn default() -> Self {
        Spsc { sq: heapless::spsc::Queue::new(), cq: heapless::spsc::Queue::new() }
    }
}

impl Workload for Spsc {
    #[inline(never)]
    fn push(&mut self, sqe: &Sqe) {
        let _ = self.sq.enqueue(*sqe);
    }

    #[inline(never)]
    fn submit(&mut self) {
        while let Some(sqe) = self.sq.dequeue() {
            let res = TABLE[(sqe.opcode & 15) as usize](&sqe);
            let _ = self.cq.enqueue(Cqe::new(sqe.user_data, res));
        }
    }

    #[inline(never)]
    fn pop(&mut self) -> Option<Cqe> {
        self.cq.dequeue()
    }
}

/// The fwring ring the benchmark uses.
pub type BenchRing = Ring<64, 128, 64>;

impl Workload for BenchRing {
    #[inline(never)]
    fn push(&mut self, sqe: &Sqe) {
        let _ = Ring::push(self, *sqe);
    }

    #[inline(never)]
    fn submit(&mut self) {
        let _ = black_box(Ring::submit(self));
    }

    #[inline(never)]
    fn pop(&mut self) -> Option<Cqe> {
        Ring::pop(self)
    }
}

/// fwring: `iters` batches; returns the checksum.
pub fn fwring_run(ring: &mut BenchRing, sqes: &[Sqe; BATCH], iters: u64) -> u64 {
    ring.run(sqes, iters)
}

/// The kernel's io_uring: `iters` batches of NOPs through one `io_uring_enter` each.
#[cfg(target_os = "linux")]
pub fn kernel_run(ring: &mut crate::kernel::KernelRing, sqes: &[Sqe; BATCH], iters: u64) -> std::io::Result<u64> {
    let mut sum = 0;
    for _ in 0..iters {
        ring.submit_and_wait(black_box(sqes), BATCH as u32)?;
        for c in ring.reap() {
            sum = fold(sum, &c);
        }
    }
    Ok(sum)
}

/// Buffer-op workloads: CRC-32C and copy of `size` bytes, through the ring (an op-slot
/// SQE per request, submit, reap) and by calling the same function on the slice.
pub struct BufBench {
    ring: Box<Ring<8, 16, 8>>,
    size: usize,
    src: u64,
    dst: u64,
    direct_src: &'static mut [u8],
    direct_dst: &'static mut [u8],
}

const COPY_SLOT: u8 = 0;
const CRC_SLOT: u8 = 1;
static BUF_OPS: [fwring::OpVTable; 2] = [
    fwring::vtable::<fwring::ops::copy::Copy>(COPY_SLOT as u16),
    fwring::vtable::<fwring::ops::crc32c::Crc32c>(CRC_SLOT as u16),
];

fn leaked(size: usize, seed: u8) -> &'static mut [u8] {
    Box::leak((0..size).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect::<Vec<u8>>().into_boxed_slice())
}

impl BufBench {
    /// Buffers of `size` bytes.
    pub fn new(size: usize) -> Self {
        let mut ring: Box<Ring<8, 16, 8>> = Box::default();
        ring.setup(fwring::Setup::new(8).flags(fwring::SetupFlags::BPF_EXT)).expect("setup");
        for t in &BUF_OPS {
            ring.register_op(t).expect("register");
        }
        let (src, dst) = (leaked(size, 1), leaked(size, 2));
        let (sa, da) = (src.as_ptr() as u64, dst.as_ptr() as u64);
        ring.register_buffers([fwring::Region::new(src), fwring::Region::new(dst)])
            .map_err(|e| e.errno)
            .expect("buffers");
        BufBench { ring, size, src: sa, dst: da, direct_src: leaked(size, 1), direct_dst: leaked(size, 2) }
    }

    /// Run `iters` requests of `what` (`crc-ring`, `crc-direct`, `copy-ring`,
    /// `copy-direct`); returns a checksum.
    pub fn run(&mut self, what: &str, iters: u64) -> Option<u64> {
        use fwring::BufDesc;
        use fwring::ops::buf_sqe;
        let n = self.size as u32;
        let mut sum = 0u64;
        match what {
            "crc-direct" => {
                for _ in 0..iters {
                    sum = sum.wrapping_add(fwring::ops::crc32c::crc32c(black_box(&*self.direct_src)) as u64);
                }
            }
            "copy-direct" => {
                for _ in 0..iters {
                    black_box(&mut *self.direct_dst).copy_from_slice(black_box(&*self.direct_src));
                    sum = sum.wrapping_add(self.direct_dst[0] as u64);
                }
            }
            "crc-ring" | "copy-ring" => {
                let sqe = if what == "crc-ring" {
                    buf_sqe(CRC_SLOT, 0, &BufDesc::user(self.src, n), None)
                } else {
                    buf_sqe(COPY_SLOT, 0, &BufDesc::user(self.src, n), Some(&BufDesc::user(self.dst, n)))
                };
                for _ in 0..iters {
                    let _ = self.ring.push(black_box(sqe));
                    let _ = self.ring.submit();
                    while let Some(c) = self.ring.pop() {
                        sum = sum.wrapping_add(c.res as u64);
                    }
                }
            }
            _ => return None,
        }
        Some(sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_workloads_compute_the_same_checksum() {
        let sqes = nops();
        let want = Floor::default().run(&sqes, 3);
        assert_eq!(Spsc::default().run(&sqes, 3), want);
        assert_eq!(fwring_run(&mut BenchRing::new(), &sqes, 3), want);
        #[cfg(target_os = "linux")]
        if let Ok(mut k) = crate::kernel::KernelRing::new(64, 0, 0) {
            assert_eq!(kernel_run(&mut k, &sqes, 3).unwrap(), want);
        }
    }
}
