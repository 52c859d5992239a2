//! The demo's device half: requests a (simulated) DMA engine finishes from another
//! thread, as an interrupt handler would; timeouts on the caller's clock; and a host's
//! queue in shared memory, consumed as storage firmware consumes it.

use std::io;
use std::sync::Mutex;
use std::sync::mpsc;

use fwring::ops::CHAIN_LEN;
use fwring::ops::crc32c::crc32c;
use fwring::shm::{DeviceEnd, HostEnd, QueuePair, ShmError};
use fwring::{
    BufDesc, CancelFlags, Cqe, Dir, Errno, Issue, IssueCx, Op, OpVTable, PendingIo, PrepCx, Ring, Setup, SetupFlags,
    Sqe, TimeoutFlags, vtable,
};

use crate::narrate::{Demo, L};
use crate::ops;

/// Slot of [`Dma`].
pub const DMA: u8 = 10;
/// Slot of [`Wait`].
pub const WAIT: u8 = 11;

/// Jobs the simulated DMA engine has been given: the request's buffer handle and the
/// byte its transfer writes.
static DMA_JOBS: Mutex<Vec<(PendingIo, u8)>> = Mutex::new(Vec::new());

/// A device transfer: hands its destination (descriptor A) to the DMA engine and goes
/// pending; the engine fills it with the op-flag byte and completes the request. The
/// produced length goes into the chain record at issue, so `CHAIN_LEN` consumers work.
pub struct Dma;
impl Op for Dma {
    type Pdu = u32;
    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<u32, Errno> {
        cx.import(&BufDesc::sqe_a(sqe), Dir::Dest)?;
        Ok(BufDesc::sqe_a(sqe).len)
    }
    fn issue(cx: &mut IssueCx<'_>, len: &mut u32) -> Issue {
        let fill = cx.info().private_flags() as u8;
        cx.chain().len = *len;
        match cx.pending_io() {
            Ok(io) => {
                DMA_JOBS.lock().unwrap_or_else(|e| e.into_inner()).push((io, fill));
                Issue::Pending
            }
            Err(e) => Issue::Err(e),
        }
    }
}

/// Waits for an event nobody sends: cancellable, so link timeouts and ASYNC_CANCEL end it.
pub struct Wait;
impl Op for Wait {
    type Pdu = ();
    fn prep(_: &mut PrepCx<'_>, _: &Sqe) -> Result<(), Errno> {
        Ok(())
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        let _token = match cx.pending_cancelable() {
            Ok(t) => t,
            Err(e) => return Issue::Err(e),
        };
        Issue::Pending
    }
}

static DEVICE_OPS: [OpVTable; 2] = [vtable::<Dma>(DMA), vtable::<Wait>(WAIT)];

type DemoRing = Ring<32, 64, 32, 8>;

/// A DMA transfer into the start of buffer 1, then a checksum of what it wrote, with the
/// ring split: the DMA engine is a thread that completes through the `Completer`.
pub fn dma(d: &mut Demo<'_>, ring: &mut DemoRing) -> io::Result<()> {
    DEVICE_OPS.iter().try_for_each(|t| ring.register_op(t)).map_err(io::Error::other)?;
    let (work_at, _) = ops::REGIONS[1];
    let crc_at = ops::REGIONS[3].0;
    d.step(
        "A DMA device completes from an interrupt",
        "Slot 10 is a device op: its issue hands its buffer (4 KiB of buffer 1) to a DMA engine as a\n\
         PendingIo and goes pending. The ring is split: the submitter keeps running, a second thread\n\
         plays the engine's interrupt handler, writes the buffer in place and completes through the\n\
         Completer (lock-free, as from an ISR). Meanwhile the buffer is the device's: the application\n\
         gets EBUSY for it. The linked crc32c (CHAIN_LEN) then checksums exactly what the DMA wrote.",
    )?;
    let (mut sub, mut reap, completer) = ring.split();
    let dma = Sqe { user_data: 41, ..fwring::ops::buf_sqe(DMA, 0xa5, &BufDesc::user(work_at, 4096), None) };
    let crc =
        fwring::ops::buf_sqe(ops::CRC32C, CHAIN_LEN, &BufDesc::user(work_at, 4096), Some(&BufDesc::user(crc_at, 4)))
            .user_data(42);
    d.sqe(&dma, "DMA     4 KiB into buffer 1, fill 0xa5  LINK")?;
    d.sqe(&crc, "crc32c  buffer 1 (chain len) -> 4 bytes at buffer 3")?;
    let (tx, rx) = mpsc::channel::<()>();
    let pushed = sub.push(dma.flags(L)).is_ok() && sub.push(crc).is_ok();
    let s = sub.submit();
    writeln!(d.out, "   submit -> took {} SQE(s), stop: {:?}; in flight: {}", s.taken, s.stop, sub.in_flight())?;
    let busy = sub.buffer_mut(1).err();
    writeln!(d.out, "   application asks for buffer 1 -> {:?}", busy.map(|e| format!("-{e:?}")))?;
    std::thread::scope(|sc| {
        sc.spawn(move || {
            // The "interrupt": take every job the engine has, do the transfer, complete.
            let jobs = std::mem::take(&mut *DMA_JOBS.lock().unwrap_or_else(|e| e.into_inner()));
            for (mut io, fill) in jobs {
                let mut n = 0;
                let mut views = io.io();
                if let Ok(dst) = views.dest(0) {
                    for seg in dst.slices_mut() {
                        seg.fill(fill);
                        n += seg.len();
                    }
                }
                drop(views);
                let _ = io.complete(&completer, n as i32);
            }
            let _ = tx.send(());
        });
    });
    let _ = rx.recv();
    let n = sub.poll();
    writeln!(d.out, "   interrupt completed the transfer; poll -> {n} completion(s) taken")?;
    while let Some(c) = reap.pop() {
        d.cqe(&c)?;
    }
    let crc_ok = sub.buffers().get(3).is_some_and(|b| b.bytes()[..4] == crc32c(&[0xa5; 4096]).to_le_bytes());
    writeln!(d.out, "   pushed both: {pushed}; the CRC in buffer 3 is that of 4096 bytes of 0xa5: {crc_ok}")?;
    Ok(())
}

/// TIMEOUT, LINK_TIMEOUT and ASYNC_CANCEL on the caller's clock (`tick`).
pub fn timeouts(d: &mut Demo<'_>, ring: &mut DemoRing) -> io::Result<()> {
    d.step(
        "Timeouts on the caller's clock",
        "fwring reads no clock: firmware passes time in with tick(now) and asks next_deadline() when to\n\
         call again (a hardware timer's compare value). A 1 ms TIMEOUT; a waiting op (slot 11) linked to a\n\
         2 ms LINK_TIMEOUT; another waiting op and an ASYNC_CANCEL for it.",
    )?;
    let sqes = [
        (Sqe::timeout(1_000_000, 0, TimeoutFlags::empty()).user_data(51), "TIMEOUT 1 ms"),
        (Sqe::bpf(WAIT, 0).user_data(52).flags(L), "wait              LINK"),
        (Sqe::link_timeout(2_000_000, TimeoutFlags::empty()).user_data(53), "LINK_TIMEOUT 2 ms"),
        (Sqe::bpf(WAIT, 0).user_data(54), "wait"),
        (Sqe::cancel(54, CancelFlags::empty()).user_data(55), "ASYNC_CANCEL user_data 54"),
    ];
    ring.tick(0);
    d.submit(ring, &sqes)?;
    // Wake at each deadline as a timer interrupt would, and once in between.
    for step in 0..3 {
        let deadline = ring.next_deadline();
        let now = if step == 1 { 1_500_000 } else { deadline.unwrap_or(0) };
        ring.tick(now);
        writeln!(d.out, "   next_deadline {deadline:?}; tick({now})")?;
        d.reap(ring)?;
    }
    writeln!(d.out, "   in flight now: {}", ring.in_flight())?;
    Ok(())
}

/// Storage-device firmware's loop over a host's queue pair in shared memory, with the
/// host in another thread; then a hostile host.
pub fn shared_memory(d: &mut Demo<'_>) -> io::Result<()> {
    const TOTAL: u64 = 10_000;
    d.step(
        "A host's queue in shared memory",
        &format!(
            "QueuePair<16, 32> is io_uring's SQ and CQ as one block of 32-bit words both sides map (a PCIe BAR,\n\
             a mailbox SRAM). A host thread pushes {TOTAL} SQEs (NOPs and echo ops in 4-long link chains) and\n\
             reaps CQEs; the device loop is feed -> submit -> flush. Every shared word is read once and\n\
             checked: a hostile host cannot make the device read or write out of bounds, panic or hang."
        ),
    )?;
    let qp: Box<QueuePair<16, 32>> = Box::default();
    let mut ring: Box<Ring<16, 32, 16>> = Box::default();
    ring.setup(Setup::new(16).flags(SetupFlags::BPF_EXT)).map_err(io::Error::other)?;
    ring.register_op(&ops::TABLES[1]).map_err(io::Error::other)?; // echo, slot 1
    let mut dev = DeviceEnd::new(&qp);
    let (sum, reaped) = std::thread::scope(|sc| {
        let host = sc.spawn(|| {
            let mut host = HostEnd::new(&qp);
            let (mut next, mut reaped, mut sum) = (0u64, 0u64, 0i64);
            let mut out = [Cqe::default(); 32];
            while reaped < TOTAL {
                if next < TOTAL {
                    let chain: Vec<Sqe> = (next..next + 4)
                        .map(|i| {
                            let s = if i % 2 == 0 { Sqe::nop() } else { Sqe::bpf(ops::ECHO, (i % 1000) as u32) };
                            s.user_data(i).flags(if i % 4 == 3 { fwring::SqeFlags::empty() } else { L })
                        })
                        .collect();
                    if host.push_whole(&chain) == Ok(true) {
                        next += 4;
                    }
                }
                let n = host.reap(&mut out).unwrap_or(0);
                sum += out[..n].iter().map(|c| c.res as i64).sum::<i64>();
                reaped += n as u64;
                if n == 0 {
                    std::thread::yield_now();
                }
            }
            (sum, reaped)
        });
        while !host.is_finished() {
            let fed = dev.feed(&mut *ring).unwrap_or(0);
            let _ = ring.submit();
            let flushed = dev.flush(&mut *ring).unwrap_or(0);
            if fed == 0 && flushed == 0 {
                std::thread::yield_now();
            }
        }
        host.join().unwrap_or((-1, 0))
    });
    let want: i64 = (0..TOTAL).filter(|i| i % 2 == 1).map(|i| (i % 1000) as i64).sum();
    writeln!(d.out, "   host reaped {reaped} CQEs; sum of results {sum} (expected {want}): {}", sum == want)?;
    // A hostile host: publish an SQ tail 1000 entries past the head.
    let head = dev.sq_head();
    qp.write_word(fwring::shm::word::SQ_TAIL, head.wrapping_add(1000));
    let err = dev.feed(&mut *ring);
    writeln!(d.out, "   the host writes SQ tail = head + 1000; feed -> {err:?}")?;
    if let Err(e @ ShmError::SqCorrupt { .. }) = err {
        writeln!(d.out, "   refused, nothing read: \"{e}\"; the ring still has {} SQE(s) queued", ring.sq().len())?;
    }
    Ok(())
}
