//! The streaming benchmark on the target (issue 16): per CQE, a device fills a provided
//! buffer of one multishot request (16 bytes) and the application polls, reaps, reads
//! and re-provides it — beside one SQE per buffer, whose destination the device gets as
//! a `PendingIo`, writes (16 bytes) and completes. A "batch" here is [`BATCH`] = 4 CQEs
//! (QEMU's exec log counts every instruction on Cortex-M: 32 would make it huge);
//! `cargo xtask fw-bench` scales its per-op figure back to per CQE. Each batch folds 528
//! into the checksum (what a NOP batch of 32 gives), 132 per CQE.

use core::cell::RefCell;

use critical_section::Mutex;
use fwring::{
    BufDesc, BufGroup, BufRing, Dir, Errno, Issue, IssueCx, Op, OpVTable, PendingIo, PrepCx, Region, Ring, Setup,
    SetupFlags, Sqe, SqeFlags, Stream, vtable,
};
use static_cell::ConstStaticCell;

/// CQEs per batch (`STREAM_BATCH` in xtask/src/fw_bench.rs).
pub const BATCH: u64 = 4;
/// Checksum per CQE: a NOP batch's 1 + … + 32 = 528, spread over [`BATCH`] CQEs.
const PER_CQE: u64 = 528 / BATCH;
const SIZE: usize = 16;

type BenchRing = Ring<8, 16, 8>;

static RING: ConstStaticCell<BenchRing> = ConstStaticCell::new(Ring::new());
static MEM: ConstStaticCell<[u8; 9 * SIZE]> = ConstStaticCell::new([0; 9 * SIZE]);
static GROUP: BufRing<8> = BufRing::new();
static STREAM: Mutex<RefCell<Option<Stream>>> = Mutex::new(RefCell::new(None));
static HANDLE: Mutex<RefCell<Option<PendingIo>>> = Mutex::new(RefCell::new(None));

struct StreamOp;
impl Op for StreamOp {
    type Pdu = ();
    fn prep(_: &mut PrepCx<'_>, _: &Sqe) -> Result<(), Errno> {
        Ok(())
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        match cx.multishot() {
            Ok(s) => {
                critical_section::with(|cs| *STREAM.borrow_ref_mut(cs) = Some(s));
                Issue::Pending
            }
            Err(e) => Issue::Err(e),
        }
    }
}

struct DmaOp;
impl Op for DmaOp {
    type Pdu = ();
    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<(), Errno> {
        cx.import(&BufDesc::sqe_a(sqe), Dir::Dest).map(drop)
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        // The handle is made in the device's slot.
        match critical_section::with(|cs| cx.pending_io_into(&mut HANDLE.borrow_ref_mut(cs)).map(drop)) {
            Ok(()) => Issue::Pending,
            Err(e) => Issue::Err(e),
        }
    }
}

static OPS: [OpVTable; 2] = [vtable::<StreamOp>(0), vtable::<DmaOp>(1)];

/// The ring of both workloads, set up once: op slots, one 144-byte region (buffer 0,
/// named 0x10_0000), group 1 over its first 128 bytes (8 × 16), and the multishot
/// request running.
pub struct Streams {
    ring: &'static mut BenchRing,
    stream: Stream,
}

impl Streams {
    /// Take the statics and start the multishot request (`None` if a step fails).
    pub fn new() -> Option<Self> {
        let ring = RING.take();
        ring.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).ok()?;
        for op in &OPS {
            ring.register_op(op).ok()?;
        }
        ring.register_buffers([Region::new(MEM.take()).at(0x10_0000)]).ok()?;
        ring.register_buf_ring(&GROUP, BufGroup { bgid: 1, buf_index: 0, offset: 0, size: SIZE as u32 }).ok()?;
        (0..8).for_each(|b| GROUP.provide(b));
        ring.push(Sqe::bpf(0, 0).user_data(1).flags(SqeFlags::BUFFER_SELECT).buf_index(1)).ok()?;
        let _ = ring.submit();
        let stream = critical_section::with(|cs| STREAM.borrow_ref_mut(cs).take())?;
        Some(Streams { ring, stream })
    }

    /// `batches` × 32 CQEs of the multishot stream.
    pub fn multishot(&mut self, batches: u64) -> u64 {
        let mut sum = 0;
        for i in 0..batches * BATCH {
            let Ok(mut f) = self.stream.fill() else { return 0 };
            f.buf()[..SIZE].fill(i as u8);
            f.commit(SIZE);
            self.ring.poll();
            while let Some(c) = self.ring.pop() {
                let bid = (c.flags >> 16) as u16;
                if self.ring.provided(1, bid).is_ok_and(|b| b[c.res as usize - 1] == i as u8) {
                    sum += PER_CQE;
                }
                GROUP.provide(bid);
            }
        }
        sum
    }

    /// `batches` × 32 CQEs, one SQE each, completed by the device through `PendingIo`
    /// (the 16 bytes after the group's area).
    pub fn one_per_buffer(&mut self, batches: u64) -> u64 {
        let mut sqe = Sqe::bpf(1, 0).user_data(2);
        BufDesc::fixed(0, 0x10_0000 + 8 * SIZE as u64, SIZE as u32).put_a(&mut sqe);
        let mut sum = 0;
        for i in 0..batches * BATCH {
            let _ = self.ring.push(core::hint::black_box(sqe));
            let _ = self.ring.submit();
            let Some(mut io) = critical_section::with(|cs| HANDLE.borrow_ref_mut(cs).take()) else { return 0 };
            if let Ok(d) = io.dest_slices(0) {
                for s in d {
                    s.fill(i as u8);
                }
            }
            let _ = io.complete(&self.ring.split().2, SIZE as i32);
            self.ring.poll();
            while let Some(c) = self.ring.pop() {
                if c.res == SIZE as i32 {
                    sum += PER_CQE;
                }
            }
        }
        sum
    }
}
