//! Cache maintenance for non-coherent DMA (`fwring::cache`): a recording [`DmaCache`]
//! logs every clean and invalidate next to what the "device", the ops and the
//! application touch, and the checks prove, from the log alone, that every range handed
//! to a device was cleaned before the device read it, every range a device wrote was
//! cleaned+invalidated before it and invalidated after it, before any op or the
//! application read it — with the exact line-rounded ranges.

use std::ops::Range;
use std::sync::{Mutex, MutexGuard};

use fwring::cache::{DmaCache, NoCache, lines};
use fwring::{
    BufDesc, Dir, Errno, IoVec, Issue, IssueCx, Op, OpVTable, PendingIo, PrepCx, Region, Ring, Setup, SetupFlags, Sqe,
    SqeFlags, vtable,
};
use zerocopy::IntoBytes;

/// One thing that happened to memory, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    Clean(Range<usize>),
    Invalidate(Range<usize>),
    /// The device read / wrote these bytes.
    DevRead(Range<usize>),
    DevWrite(Range<usize>),
    /// An op (at issue) or the application read these bytes.
    OpRead(Range<usize>),
    AppRead(Range<usize>),
}

static LOG: Mutex<Vec<Ev>> = Mutex::new(Vec::new());
/// Tests share LOG and the device's queue: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());
/// Requests handed to the "device".
static DEVICE: Mutex<Vec<PendingIo>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn log(e: Ev) {
    lock(&LOG).push(e);
}

fn serial() -> MutexGuard<'static, ()> {
    let g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    lock(&LOG).clear();
    lock(&DEVICE).clear();
    g
}

/// A 32-byte-line data cache that records what the ring asks of it.
struct Recorder;
impl DmaCache for Recorder {
    const LINE: usize = 32;
    fn clean(lines: Range<usize>) {
        log(Ev::Clean(lines));
    }
    fn invalidate(lines: Range<usize>) {
        log(Ev::Invalidate(lines));
    }
}

fn range(s: &[u8]) -> Range<usize> {
    let a = s.as_ptr() as usize;
    a..a + s.len()
}

/// A DMA request: A = what the device reads (optional), B = what it writes (optional).
/// Issue hands both to the device as a `PendingIo`.
struct DevOp;
impl Op for DevOp {
    type Pdu = ();
    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<(), Errno> {
        let (a, b) = (BufDesc::sqe_a(sqe), BufDesc::sqe_b(sqe));
        if a != BufDesc::default() {
            cx.import(&a, Dir::Source)?;
        }
        if b != BufDesc::default() {
            cx.import(&b, Dir::Dest)?;
        }
        Ok(())
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        match cx.pending_io() {
            Ok(io) => {
                lock(&DEVICE).push(io);
                Issue::Pending
            }
            Err(e) => Issue::Err(e),
        }
    }
}

/// A CPU op that reads its source (A) at issue: a link successor of a DMA request.
struct ReadOp;
impl Op for ReadOp {
    type Pdu = ();
    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<(), Errno> {
        cx.import(&BufDesc::sqe_a(sqe), Dir::Source).map(drop)
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        let Ok(io) = cx.io() else { return Issue::Err(Errno::EFAULT) };
        let Ok(src) = io.source(0) else { return Issue::Err(Errno::EFAULT) };
        for s in src.slices() {
            log(Ev::OpRead(range(s)));
        }
        Issue::Done
    }
}

const DEV: u8 = 0;
const READ: u8 = 1;
static DEV_OP: OpVTable = vtable::<DevOp>(DEV);
static READ_OP: OpVTable = vtable::<ReadOp>(READ);

type R = Ring<8, 16, 8, 1>;

/// Region memory, line-aligned (so the offsets below decide the rounding).
#[repr(C, align(64))]
struct Mem([u8; 256]);

/// A ring with three 256-byte regions: 0 and 1 with the recording cache, 2 without.
fn ring() -> (Box<R>, [usize; 3]) {
    let mut r = Box::new(R::new());
    r.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).unwrap();
    r.register_op(&DEV_OP).unwrap();
    r.register_op(&READ_OP).unwrap();
    let mem = || -> &'static mut [u8] { &mut Box::leak(Box::new(Mem([0; 256]))).0 };
    let (m0, m1, m2) = (mem(), mem(), mem());
    let addrs = [m0.as_ptr() as usize, m1.as_ptr() as usize, m2.as_ptr() as usize];
    let regions = [Region::new(m0).with_cache::<Recorder>(), Region::new(m1).with_cache::<Recorder>(), Region::new(m2)];
    r.register_buffers(regions).unwrap();
    (r, addrs)
}

fn at(index: u16, off: usize, len: usize) -> BufDesc {
    BufDesc::kfixed(index, off as u64, len as u32)
}

fn dev(user_data: u64, src: Option<BufDesc>, dst: Option<BufDesc>) -> Sqe {
    let mut sqe = Sqe::bpf(DEV, 0).user_data(user_data);
    if let Some(a) = src {
        a.put_a(&mut sqe);
    }
    if let Some(b) = dst {
        b.put_b(&mut sqe);
    }
    sqe
}

fn read(user_data: u64, src: BufDesc) -> Sqe {
    let mut sqe = Sqe::bpf(READ, 0).user_data(user_data);
    src.put_a(&mut sqe);
    sqe
}

/// The device: takes every handed-over request, reads its source, writes its
/// destination (0x5a), completes it with the bytes written (or `fail`).
fn device_runs(c: &fwring::Completer<'_>, fail: Option<Errno>) -> usize {
    let jobs: Vec<PendingIo> = std::mem::take(&mut *lock(&DEVICE));
    let n = jobs.len();
    for mut io in jobs {
        let mut bufs = io.io();
        if let Ok(src) = bufs.source(0) {
            for s in src.slices() {
                log(Ev::DevRead(range(s)));
            }
        }
        let mut written = 0;
        let dst_index = if bufs.source(0).is_ok() { 1 } else { 0 };
        if let Ok(dst) = bufs.dest(dst_index) {
            for s in dst.slices_mut() {
                s.fill(0x5a);
                written += s.len();
                log(Ev::DevWrite(range(s)));
            }
        }
        drop(bufs);
        let res = fail.map_or(written as i32, Errno::res);
        io.complete(c, res).unwrap();
    }
    n
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start < b.end && b.start < a.end
}

fn aligned(r: &Range<usize>) -> bool {
    r.start.is_multiple_of(32) && r.end.is_multiple_of(32)
}

/// The rule, checked on the whole log, for the ranges in `cached` (regions with the
/// hook): every maintenance range is line-aligned; every byte a device reads was
/// cleaned before; every byte a device writes was cleaned and invalidated before (in
/// that order), and after the write an invalidate covers it before any op or the
/// application reads any of it.
fn check_rule(log: &[Ev], cached: &[(usize, usize)]) {
    let in_cache = |r: &Range<usize>| cached.iter().any(|&(start, len)| contains(&(start..start + len), r));
    for (i, e) in log.iter().enumerate() {
        match e {
            Ev::Clean(r) | Ev::Invalidate(r) => assert!(aligned(r), "{e:?} not line-aligned"),
            Ev::DevRead(r) if in_cache(r) => {
                let cleaned = log[..i].iter().any(|x| matches!(x, Ev::Clean(c) if contains(c, r)));
                assert!(cleaned, "device read {r:?} without a clean before: {log:?}");
            }
            Ev::DevWrite(r) if in_cache(r) => {
                let clean = log[..i].iter().position(|x| matches!(x, Ev::Clean(c) if contains(c, r)));
                let inval = log[..i].iter().rposition(|x| matches!(x, Ev::Invalidate(c) if contains(c, r)));
                assert!(
                    matches!((clean, inval), (Some(c), Some(v)) if c < v),
                    "device wrote {r:?} without clean+invalidate before: {log:?}"
                );
                // Every later read of these bytes comes after an invalidate that follows the write.
                for (j, later) in log.iter().enumerate().skip(i + 1) {
                    if let Ev::OpRead(x) | Ev::AppRead(x) = later
                        && overlaps(x, r)
                    {
                        let ok = log[i + 1..j].iter().any(|y| matches!(y, Ev::Invalidate(c) if contains(c, r)));
                        assert!(
                            ok,
                            "{later:?} read what the device wrote ({r:?}) with no invalidate in between: {log:?}"
                        );
                    }
                }
            }
            _ => {}
        }
    }
}

#[test]
fn dma_chain_cleans_before_and_invalidates_after_with_exact_line_ranges() {
    let _g = serial();
    let (mut r, a) = ring();
    let (mut sub, mut reap, c) = r.split();
    // Device reads 100 bytes at offset 5 of region 0, writes 70 bytes at offset 40 of
    // region 1; a CPU op then reads what the device wrote.
    let src = at(0, 5, 100);
    let dst = at(1, 40, 70);
    sub.push(dev(1, Some(src), Some(dst)).flags(SqeFlags::IO_LINK)).unwrap();
    sub.push(read(2, dst)).unwrap();
    assert_eq!(sub.submit().taken, 2);
    let handed_over = lock(&LOG).clone();
    assert_eq!(
        handed_over,
        [
            Ev::Clean(lines(a[0] + 5, 100, 32)),
            Ev::Clean(lines(a[1] + 40, 70, 32)),
            Ev::Invalidate(lines(a[1] + 40, 70, 32)),
        ],
        "hand-over: source cleaned, destination cleaned then invalidated, nothing else"
    );
    assert_eq!(lines(a[0] + 5, 100, 32), (a[0] & !31)..((a[0] + 105 + 31) & !31));
    assert_eq!(device_runs(&c, None), 1);
    let after_device = lock(&LOG).len();
    assert_eq!(lock(&LOG)[after_device - 1], Ev::Invalidate(lines(a[1] + 40, 70, 32)), "invalidated at completion");
    sub.poll();
    let cqes: Vec<_> = std::iter::from_fn(|| reap.pop()).map(|c| (c.user_data, c.res)).collect();
    assert_eq!(cqes, [(1, 70), (2, 0)]);
    let app = sub.buffers().get(1).unwrap().bytes();
    assert!(app[40..110].iter().all(|&b| b == 0x5a) && app[110] == 0 && app[39] == 0);
    log(Ev::AppRead(range(&app[40..110])));
    let log = lock(&LOG).clone();
    check_rule(&log, &[(a[0], 256), (a[1], 256)]);
    // Exactly: 3 at hand-over, the device's read and write, 1 at completion, the op's
    // read, the application's read.
    assert_eq!(log.len(), 8, "{log:?}");
    assert!(matches!(log[6], Ev::OpRead(_)), "{log:?}");
}

#[test]
fn each_segment_of_a_vectored_buffer_gets_its_own_lines() {
    let _g = serial();
    let (mut r, a) = ring();
    // Two iovecs in region 1 (destination), the iovec array itself in region 2.
    let iov = [IoVec { base: (a[1] + 3) as u64, len: 10 }, IoVec { base: (a[1] + 128) as u64, len: 64 }];
    let arr = r.buffer_mut(2).unwrap();
    arr[..32].copy_from_slice(iov.as_bytes());
    let (mut sub, mut reap, c) = r.split();
    sub.push(dev(1, None, Some(BufDesc::vec(a[2] as u64, 2)))).unwrap();
    assert_eq!(sub.submit().taken, 1);
    let want = [
        Ev::Clean(lines(a[1] + 3, 10, 32)),
        Ev::Invalidate(lines(a[1] + 3, 10, 32)),
        Ev::Clean(a[1] + 128..a[1] + 192),
        Ev::Invalidate(a[1] + 128..a[1] + 192),
    ];
    assert_eq!(*lock(&LOG), want);
    device_runs(&c, None);
    sub.poll();
    assert_eq!(reap.pop().map(|c| (c.user_data, c.res)), Some((1, 74)));
    let log = lock(&LOG).clone();
    assert_eq!(log[log.len() - 2..], [Ev::Invalidate(lines(a[1] + 3, 10, 32)), Ev::Invalidate(a[1] + 128..a[1] + 192)]);
    check_rule(&log, &[(a[1], 256)]);
}

#[test]
fn a_failed_transfer_still_invalidates_and_its_chain_is_cancelled() {
    let _g = serial();
    let (mut r, a) = ring();
    let (mut sub, mut reap, c) = r.split();
    let dst = at(0, 64, 64); // whole lines: the ranges are the buffer's exactly
    sub.push(dev(1, None, Some(dst)).flags(SqeFlags::IO_LINK)).unwrap();
    sub.push(read(2, dst)).unwrap();
    assert_eq!(sub.submit().taken, 2);
    device_runs(&c, Some(Errno::EIO));
    sub.poll();
    let cqes: Vec<_> = std::iter::from_fn(|| reap.pop()).map(|c| (c.user_data, c.res)).collect();
    assert_eq!(cqes, [(1, Errno::EIO.res()), (2, Errno::ECANCELED.res())]);
    let log = lock(&LOG).clone();
    assert_eq!(log.last(), Some(&Ev::Invalidate(a[0] + 64..a[0] + 128)), "{log:?}");
    check_rule(&log, &[(a[0], 256)]);
}

#[test]
fn regions_without_a_hook_cost_no_maintenance() {
    let _g = serial();
    let (mut r, a) = ring();
    let (mut sub, mut reap, c) = r.split();
    // Source in region 0 (hook), destination in region 2 (none): only the source is cleaned.
    sub.push(dev(1, Some(at(0, 0, 32)), Some(at(2, 0, 32)))).unwrap();
    assert_eq!(sub.submit().taken, 1);
    device_runs(&c, None);
    sub.poll();
    assert_eq!(reap.pop().map(|c| (c.user_data, c.res)), Some((1, 32)));
    let log = lock(&LOG).clone();
    let maintenance: Vec<_> = log.iter().filter(|e| matches!(e, Ev::Clean(_) | Ev::Invalidate(_))).cloned().collect();
    assert_eq!(maintenance, [Ev::Clean(a[0]..a[0] + 32)]);
    // The explicit no-op: a region with `NoCache` carries a hook whose calls are empty.
    let m: &'static mut [u8] = Box::leak(vec![0u8; 64].into_boxed_slice());
    assert_eq!(Region::new(m).with_cache::<NoCache>().cache().map(|c| c.line()), Some(1));
}

#[test]
fn completion_from_another_thread_invalidates_before_the_ring_sees_it() {
    let _g = serial();
    let (mut r, a) = ring();
    let (mut sub, mut reap, c) = r.split();
    let dst = at(1, 0, 256);
    sub.push(dev(1, None, Some(dst)).flags(SqeFlags::IO_LINK)).unwrap();
    sub.push(read(2, dst)).unwrap();
    assert_eq!(sub.submit().taken, 2);
    std::thread::scope(|s| {
        s.spawn(|| assert_eq!(device_runs(&c, None), 1));
    });
    sub.poll();
    let cqes: Vec<_> = std::iter::from_fn(|| reap.pop()).map(|c| (c.user_data, c.res)).collect();
    assert_eq!(cqes, [(1, 256), (2, 0)]);
    let log = lock(&LOG).clone();
    check_rule(&log, &[(a[1], 256)]);
    let w = log.iter().position(|e| matches!(e, Ev::DevWrite(_))).unwrap();
    assert_eq!(log[w + 1], Ev::Invalidate(a[1]..a[1] + 256));
}

/// The checker itself catches a device read of a range nobody cleaned.
#[test]
#[should_panic(expected = "without a clean before")]
fn rule_check_catches_a_missing_clean() {
    check_rule(&[Ev::Clean(0..32), Ev::DevRead(32..64)], &[(0, 256)]);
}

/// … and a read of device-written bytes with no invalidate after the write.
#[test]
#[should_panic(expected = "no invalidate in between")]
fn rule_check_catches_a_missing_invalidate_after_the_write() {
    let log = [Ev::Clean(0..64), Ev::Invalidate(0..64), Ev::DevWrite(0..64), Ev::OpRead(16..32)];
    check_rule(&log, &[(0, 256)]);
}

/// A second cache (another line size): a buffer may not mix two hooks.
struct Other;
impl DmaCache for Other {
    const LINE: usize = 64;
    fn clean(lines: Range<usize>) {
        log(Ev::Clean(lines));
    }
    fn invalidate(lines: Range<usize>) {
        log(Ev::Invalidate(lines));
    }
}

#[test]
fn one_buffer_over_hooked_and_plain_regions_maintains_only_the_hooked_piece() {
    let _g = serial();
    let (mut r, a) = ring();
    // Destination: 64 bytes in region 1 (hook) and 64 in region 2 (none), as two iovecs
    // (the array in region 2's tail).
    let iov = [IoVec { base: a[1] as u64, len: 64 }, IoVec { base: a[2] as u64, len: 64 }];
    r.buffer_mut(2).unwrap()[192..224].copy_from_slice(iov.as_bytes());
    let (mut sub, mut reap, c) = r.split();
    sub.push(dev(1, None, Some(BufDesc::vec((a[2] + 192) as u64, 2)))).unwrap();
    assert_eq!(sub.submit().taken, 1);
    device_runs(&c, None);
    sub.poll();
    assert_eq!(reap.pop().map(|c| (c.user_data, c.res)), Some((1, 128)));
    let log = lock(&LOG).clone();
    let maintenance: Vec<_> = log.iter().filter(|e| matches!(e, Ev::Clean(_) | Ev::Invalidate(_))).cloned().collect();
    assert_eq!(
        maintenance,
        [Ev::Clean(a[1]..a[1] + 64), Ev::Invalidate(a[1]..a[1] + 64), Ev::Invalidate(a[1]..a[1] + 64)]
    );
    check_rule(&log, &[(a[1], 256)]);
}

#[test]
fn one_buffer_over_two_different_hooks_is_einval() {
    let _g = serial();
    let mut r = Box::new(R::new());
    r.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).unwrap();
    r.register_op(&DEV_OP).unwrap();
    let mem = || -> &'static mut [u8] { &mut Box::leak(Box::new(Mem([0; 256]))).0 };
    let (m0, m1, m2) = (mem(), mem(), mem());
    let a = [m0.as_ptr() as usize, m1.as_ptr() as usize, m2.as_ptr() as usize];
    r.register_buffers([
        Region::new(m0).with_cache::<Recorder>(),
        Region::new(m1).with_cache::<Other>(),
        Region::new(m2),
    ])
    .unwrap();
    let iov = [IoVec { base: a[0] as u64, len: 64 }, IoVec { base: a[1] as u64, len: 64 }];
    r.buffer_mut(2).unwrap()[..32].copy_from_slice(iov.as_bytes());
    let (mut sub, mut reap, _c) = r.split();
    sub.push(dev(1, None, Some(BufDesc::vec(a[2] as u64, 2)))).unwrap();
    assert_eq!(sub.submit().taken, 1);
    assert_eq!(reap.pop().map(|c| (c.user_data, c.res)), Some((1, Errno::EINVAL.res())));
    assert!(lock(&DEVICE).is_empty(), "nothing handed to the device");
    // The same two regions, one buffer each: fine, each with its own lines.
    sub.push(dev(2, Some(at(0, 0, 64)), Some(at(1, 0, 64)))).unwrap();
    assert_eq!(sub.submit().taken, 1);
    let log = lock(&LOG).clone();
    assert_eq!(
        log[log.len() - 3..],
        [Ev::Clean(a[0]..a[0] + 64), Ev::Clean(a[1]..a[1] + 64), Ev::Invalidate(a[1]..a[1] + 64)]
    );
}
