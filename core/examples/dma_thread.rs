//! A split ring: the main loop submits, a "DMA engine" thread fills the request's
//! registered buffer in place through its `PendingIo` and completes it.
//!
//! `cargo run -p fwring --example dma_thread`

use std::sync::Mutex;
use std::sync::mpsc;

use fwring::{
    BufDesc, Cqe, Dir, Errno, Issue, IssueCx, Op, OpVTable, PendingIo, PrepCx, Region, Ring, Setup, SetupFlags, Sqe,
    vtable,
};

static TO_DEVICE: Mutex<Option<mpsc::Sender<PendingIo>>> = Mutex::new(None);

/// Hands descriptor A's buffer to the device thread.
struct Dma;
impl Op for Dma {
    type Pdu = ();
    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<(), Errno> {
        cx.import(&BufDesc::sqe_a(sqe), Dir::Dest).map(drop)
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        match cx.pending_io() {
            Ok(io) => {
                let guard = TO_DEVICE.lock().unwrap();
                let tx = guard.as_ref().expect("the device thread is running");
                tx.send(io).expect("the device thread takes every request");
                Issue::Pending
            }
            Err(e) => Issue::Err(e),
        }
    }
}

static DMA: OpVTable = vtable::<Dma>(0);

fn main() {
    let mem: &'static mut [u8] = Box::leak(vec![0u8; 4096].into_boxed_slice());
    let base = mem.as_ptr() as u64;
    let mut ring: Box<Ring<8, 16, 8>> = Box::default();
    ring.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).unwrap();
    ring.register_op(&DMA).unwrap();
    ring.register_buffers([Region::new(mem)]).unwrap();
    let (tx, rx) = mpsc::channel::<PendingIo>();
    *TO_DEVICE.lock().unwrap() = Some(tx);

    let (mut sub, mut reaper, completer) = ring.split();
    std::thread::scope(|s| {
        // The device: fill each buffer with its first byte's offset, then complete.
        s.spawn(move || {
            for mut io in rx.iter().take(4) {
                let mut n = 0;
                if let Ok(d) = io.dest_slices(0) {
                    for seg in d {
                        seg.fill(0x5a);
                        n += seg.len();
                    }
                }
                io.complete(&completer, n as i32).expect("this ring's handle");
            }
        });
        for i in 0..4u64 {
            let mut sqe = Sqe::bpf(0, 0).user_data(i);
            BufDesc::user(base + i * 1024, 1024).put_a(&mut sqe);
            sub.push(sqe).unwrap();
        }
        let _ = sub.submit();
        let mut done = 0;
        while done < 4 {
            sub.poll();
            while let Some(Cqe { user_data, res, .. }) = reaper.pop() {
                println!("request {user_data}: the device wrote {res} bytes in place");
                done += 1;
            }
            std::thread::yield_now();
        }
    });
    let bytes = ring.buffer_mut(0).unwrap();
    assert!(bytes.iter().all(|&b| b == 0x5a));
    println!("all 4 KiB written by the device, no copy; the region is the application's again");
}
