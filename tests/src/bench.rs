//! The benchmarks' host side, used by the criterion bench (`benches/nop.rs`, ns/op) and
//! the `fwring-bench` binary that `cargo xtask bench` runs under callgrind
//! (instructions/op): the NOP workloads of [`crate::workloads`] (the same source the
//! firmware measures on target), the kernel's io_uring (`KernelRing`, Linux only: ns
//! only), and the buffer-op workloads.

use core::hint::black_box;

use fwring::{Ring, Sqe};

pub use crate::workloads::{BATCH, BenchRing, Floor, Spsc, Workload, fold, nops};

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
static BUF_OPS: [fwring::OpVTable; 2] =
    [fwring::vtable::<fwring::ops::copy::Memcpy>(COPY_SLOT), fwring::vtable::<fwring::ops::crc32c::Crc32c>(CRC_SLOT)];

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
