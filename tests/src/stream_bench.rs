//! Streaming benchmark (issue 16): instructions per CQE of a device filling provided
//! buffers of one multishot request — the device takes a buffer, writes 16 bytes and
//! commits it; the application polls, reaps the CQE, reads the bytes and re-provides the
//! buffer — beside one SQE per buffer (an op that hands its destination to the device as
//! a `PendingIo`; the device writes 16 bytes and completes it; the application submits,
//! polls, reaps and reads). `fwring-bench run mshot|oneshot N` runs N CQEs of either.

use core::hint::black_box;
use std::sync::Mutex;

use fwring::{
    BufDesc, BufGroup, BufRing, Dir, Errno, Issue, IssueCx, Op, OpVTable, PendingIo, PrepCx, Region, Ring, Setup,
    SetupFlags, Sqe, SqeFlags, vtable,
};

const SIZE: usize = 16;

/// One SQE per buffer: hands descriptor A (a destination) to the device.
struct DmaOp;
static HANDLE: Mutex<Option<PendingIo>> = Mutex::new(None);
impl Op for DmaOp {
    type Pdu = ();
    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<(), Errno> {
        cx.import(&BufDesc::sqe_a(sqe), Dir::Dest).map(drop)
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        // The handle is made in the device's slot.
        match cx.pending_io_into(&mut HANDLE.lock().unwrap_or_else(|e| e.into_inner())) {
            Ok(_) => Issue::Pending,
            Err(e) => Issue::Err(e),
        }
    }
}

/// The multishot op (slot 0, [`crate::handoff`]: hands its stream out) and the
/// one-SQE-per-buffer op (slot 1).
static DMA: OpVTable = vtable::<DmaOp>(1);
static OPS: [&OpVTable; 2] = [&crate::handoff::HAND_STREAM, &DMA];

fn ring() -> Box<Ring<8, 16, 8>> {
    let mut r: Box<Ring<8, 16, 8>> = Box::default();
    r.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).expect("setup");
    for op in OPS {
        r.register_op(op).expect("register");
    }
    let mem: &'static mut [u8] = Box::leak(vec![0u8; 8 * SIZE].into_boxed_slice());
    r.register_buffers([Region::new(mem).at(0x10_0000)]).map_err(|e| e.errno).expect("buffers");
    r
}

/// `n` CQEs of a multishot stream over a group of 8 buffers; returns a checksum.
pub fn multishot(n: u64) -> u64 {
    let g: &'static BufRing<8> = Box::leak(Box::new(BufRing::new()));
    let mut r = ring();
    r.register_buf_ring(g, BufGroup { bgid: 1, buf_index: 0, offset: 0, size: SIZE as u32 }).expect("group");
    for b in 0..8 {
        g.provide(b);
    }
    r.push(Sqe::bpf(0, 0).user_data(1).flags(SqeFlags::BUFFER_SELECT).buf_index(1)).expect("sq");
    let _ = r.submit();
    let s = crate::handoff::take_stream();
    let mut sum = 0u64;
    for i in 0..n {
        // Device: one buffer.
        let Ok(mut f) = s.fill() else { break };
        f.buf().fill(i as u8);
        f.commit(SIZE);
        // Application: reap, read, re-provide.
        r.poll();
        while let Some(c) = r.pop() {
            let bid = (c.flags >> 16) as u16;
            sum = sum.wrapping_add(r.provided(1, bid).map_or(0, |b| b[c.res as usize - 1] as u64));
            g.provide(bid);
        }
    }
    black_box(sum)
}

/// `n` CQEs of one SQE per buffer, each completed by the device through its
/// `PendingIo`; returns a checksum.
pub fn one_per_buffer(n: u64) -> u64 {
    let mut r = ring();
    let mut sqe = Sqe::bpf(1, 0).user_data(2);
    BufDesc::fixed(0, 0x10_0000, SIZE as u32).put_a(&mut sqe);
    let mut sum = 0u64;
    for i in 0..n {
        let _ = r.push(black_box(sqe));
        let _ = r.submit();
        // Device: write and complete.
        let Some(mut io) = HANDLE.lock().unwrap_or_else(|e| e.into_inner()).take() else { break };
        if let Ok(d) = io.dest_slices(0) {
            for s in d {
                s.fill(i as u8);
            }
        }
        let _ = io.complete(&r.split().2, SIZE as i32);
        // Application: reap, read.
        r.poll();
        while let Some(c) = r.pop() {
            sum = sum.wrapping_add(r.buffers().get(0).map_or(0, |b| b.bytes()[c.res as usize - 1] as u64));
        }
    }
    black_box(sum)
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_stream_workloads_read_every_byte_the_device_wrote() {
        let want: u64 = (0..100u64).map(|i| i as u8 as u64).sum();
        assert_eq!(super::multishot(100), want);
        assert_eq!(super::one_per_buffer(100), want);
    }
}
