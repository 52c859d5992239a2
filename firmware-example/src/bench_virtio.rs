//! The virtio-blk benchmark (QEMU virt, `-icount shift=0`): instructions per 4 KiB read
//! through the ring beside the same read driven directly through the driver, in the
//! same run, and the bytes the CPU copies per request.
//!
//! Both paths are interrupt-driven and wait the same way: the request is started with
//! interrupts held off, the CPU spins until the device has finished (that spinning is
//! measured and left out: the device's time is not the CPU's work), then interrupts go
//! on and the PLIC interrupt is taken at once (the 1 ms timer is not running):
//!
//! - **ring**: push a `VirtioBlkOp` READ SQE (4 KiB into registered buffer 4), `submit`
//!   (prep, import, `PendingIo`, `read_blocks_nb`, notify), sleep until the PLIC
//!   interrupt (claim, ack, `complete_read_blocks`, `PendingIo::complete`), `poll`,
//!   `pop` the CQE;
//! - **direct**: `read_blocks_nb` into a static 4 KiB buffer, sleep until the same
//!   interrupt (claim, ack, `complete_read_blocks`, a counter).
//!
//! Each runs [`READS`] and 2 × [`READS`] reads between two `minstret` reads; the host
//! takes the difference, so start-up cancels. Lines:
//! `virtio <path> reads <n> instret <count> copied <bytes>`.

use fwring::{BufDesc, Sqe};

use crate::fixture::{self, buf, slot};
use crate::virtio::{self, READ};
use crate::{board, harness::Split};

/// Reads of the short run; the long run has twice as many.
pub const READS: u64 = 16;
const LEN: usize = 4096;

/// With interrupts held off: spin until the device has finished the request (its
/// used-ring entry is there); the instructions spent, to leave out of the count — the
/// time a device takes is not the CPU's work.
fn wait_for_device() -> u64 {
    let t = board::instret();
    for _ in 0..10_000_000 {
        if virtio::used_ready(0) {
            break;
        }
    }
    board::instret() - t
}

/// Sleep until `done()` says so; interrupts held off between the check and `wfi`.
fn sleep_until(mut done: impl FnMut() -> bool) {
    while !done() {
        critical_section::with(|_| {
            if !done() {
                riscv::asm::wfi(); // wakes on a pending interrupt even with MIE off
            }
        });
    }
}

/// Run the benchmark; `false` if a read failed or its bytes are wrong.
pub fn run() -> bool {
    let Ok(ring) = fixture::init() else { return false };
    let (sub, reap, completer) = ring.split();
    let mut s = Split { sub, reap, completer };
    let disks = virtio::probe();
    virtio::attach(completer);
    board::start_disk_irqs(&virtio::irqs());
    if disks == 0 {
        log_error!("virtio bench: no disk attached");
        return false;
    }
    let base = s.sub.buffers().get(buf::DISK).map_or(0, |r| r.addr());
    let mut ok = true;
    for n in [READS, 2 * READS] {
        // Through the ring.
        let start = board::instret();
        let mut waited = 0;
        let mut good = 0;
        for i in 0..n {
            let mut sqe = Sqe::bpf(slot::VIRTIO, READ).user_data(i).off((i % 16) * LEN as u64);
            sqe.fd = 0;
            BufDesc::kfixed(buf::DISK, 0, LEN as u32).put_b(&mut sqe);
            if s.sub.push(sqe).is_err() {
                break;
            }
            critical_section::with(|_| {
                let _ = s.sub.submit();
                waited += wait_for_device();
            });
            // Interrupts on again: the PLIC interrupt is taken here.
            let mut cqe = None;
            sleep_until(|| {
                s.sub.poll();
                if cqe.is_none() {
                    cqe = s.reap.pop();
                }
                cqe.is_some() || virtio::in_flight(0) == 0 && s.sub.in_flight() == 0
            });
            if cqe.is_some_and(|c| c.user_data == i && c.res == LEN as i32) {
                good += 1;
            }
        }
        let end = board::instret();
        // Zero copy: the device got the registered buffer's own address, and it holds
        // the last read's bytes.
        let shared = virtio::last_shared();
        let direct_to_buffer = shared.len() >= 2 && shared[shared.len() - 2].addr == base;
        let last_off = ((n - 1) % 16) * LEN as u64;
        let bytes_ok = s.sub.buffers().get(buf::DISK).is_some_and(|r| {
            r.bytes()[..LEN].iter().enumerate().all(|(i, &b)| b == virtio::disk_byte(last_off + i as u64))
        });
        let copied = if direct_to_buffer { 0 } else { LEN };
        log_line!("virtio ring reads {} instret {} copied {}", n, end - start - waited, copied);
        if !(good == n && direct_to_buffer && bytes_ok) {
            log_error!(
                "virtio bench (ring): {} of {} reads good, zero copy {}, bytes {}",
                good,
                n,
                direct_to_buffer,
                bytes_ok
            );
            ok = false;
        }

        // Straight through the driver.
        let start = board::instret();
        let mut waited = 0;
        let (before, _) = virtio::direct_done();
        for i in 0..n {
            let started = critical_section::with(|_| {
                let r = virtio::direct_read(0, ((i % 16) * LEN as u64 / 512) as usize);
                waited += wait_for_device();
                r
            });
            if started.is_err() {
                break;
            }
            sleep_until(|| {
                let (d, f) = virtio::direct_done();
                d + f > before + i as u32
            });
        }
        let end = board::instret();
        let (done, failed) = virtio::direct_done();
        log_line!("virtio direct reads {} instret {} copied 0", n, end - start - waited);
        let image = virtio::direct_holds_image(last_off);
        if !(done - before == n as u32 && failed == 0 && image) {
            log_error!("virtio bench (direct): {} of {} reads, {} failed, bytes {}", done - before, n, failed, image);
            ok = false;
        }
    }
    ok
}
