//! Provided-buffer groups and multishot requests: registration errnos, the CQE stream of
//! a multishot request (F_BUFFER, bid << 16, F_MORE, the final CQE), backpressure on a
//! tiny CQ, cancel, the group running dry, and the ownership of provided buffers. Run
//! under miri too: a device's view of a buffer is held across every attack on it.

use fwring::buffer::provided::{BufRing, MAX_GROUPS};
use fwring::{
    BufDesc, BufGroup, CancelFlags, CompleteError, Cqe, CqeFlags, Dir, Errno, Fill, IoUringBuf, Issue, IssueCx, NoFill,
    Op, OpVTable, PrepCx, Region, Ring, Setup, SetupFlags, Sqe, SqeFlags, Stream, vtable,
};
use std::sync::Mutex;

/// Multishot: hands its stream to the "device" (this test).
struct Stream0;
/// Streams by (submitting thread, user_data): tests run in parallel threads.
static STREAMS: Mutex<Vec<((std::thread::ThreadId, u64), Stream)>> = Mutex::new(Vec::new());
impl Op for Stream0 {
    type Pdu = ();
    fn prep(_: &mut PrepCx<'_>, _: &Sqe) -> Result<(), Errno> {
        Ok(())
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        let ud = cx.info().user_data();
        match cx.multishot() {
            Ok(s) => {
                // A second way in is refused.
                assert_eq!(cx.pending_io().err(), Some(Errno::EBUSY));
                STREAMS.lock().unwrap().push(((std::thread::current().id(), ud), s));
                Issue::Pending
            }
            Err(e) => Issue::Err(e),
        }
    }
}

/// Imports descriptor A as a destination and completes with 0.
struct Import;
impl Op for Import {
    type Pdu = ();
    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<(), Errno> {
        cx.import(&BufDesc::sqe_a(sqe), Dir::Dest).map(drop)
    }
    fn issue(_: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        Issue::Done
    }
}

/// Imports descriptor A as a destination and hands it out as a `PendingIo` (kept).
struct Hold;
static HELD: Mutex<Vec<fwring::PendingIo>> = Mutex::new(Vec::new());
impl Op for Hold {
    type Pdu = ();
    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<(), Errno> {
        cx.import(&BufDesc::sqe_a(sqe), Dir::Dest).map(drop)
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        match cx.pending_io() {
            Ok(io) => {
                HELD.lock().unwrap().push(io);
                Issue::Pending
            }
            Err(e) => Issue::Err(e),
        }
    }
}

static OPS: [OpVTable; 3] = [vtable::<Stream0>(0), vtable::<Import>(1), vtable::<Hold>(2)];

fn stream(ud: u64) -> Stream {
    let mut all = STREAMS.lock().unwrap();
    let me = (std::thread::current().id(), ud);
    let i = all.iter().position(|(u, _)| *u == me).expect("the op handed out a stream");
    all.remove(i).1
}

type R = Ring<8, 16, 8>;

/// A ring with `cq` CQ entries and one region of 256 bytes (buffer 0), base address
/// `0x1000`, and `ring` registered as group `bgid` over slots of 16 bytes from offset 0.
fn ring<const E: usize>(cq: u32, g: &'static BufRing<E>, bgid: u16) -> R {
    let mut r = R::new();
    r.setup(Setup::new(cq / 2).cq_entries(cq).flags(SetupFlags::BPF_EXT)).unwrap();
    for op in &OPS {
        r.register_op(op).unwrap();
    }
    let mem: &'static mut [u8] = Box::leak(vec![0u8; 256].into_boxed_slice());
    r.register_buffers([Region::new(mem).at(0x1000)]).unwrap();
    r.register_buf_ring(g, BufGroup { bgid, buf_index: 0, offset: 0, size: 16 }).unwrap();
    r
}

fn multishot(ud: u64, bgid: u16) -> Sqe {
    Sqe::bpf(0, 0).user_data(ud).flags(SqeFlags::BUFFER_SELECT).buf_index(bgid)
}

fn data(ud: u64, n: i32, bid: u16) -> Cqe {
    Cqe { user_data: ud, res: n, flags: (CqeFlags::BUFFER | CqeFlags::MORE).bits() | (bid as u32) << 16 }
}

/// The device writes `byte` `n` times into a fresh buffer and commits it.
fn fill(s: &Stream, byte: u8, n: usize) -> u16 {
    let mut f = s.fill().expect("an armed buffer");
    f.buf()[..n].fill(byte);
    let bid = f.bid();
    f.commit(n);
    bid
}

fn drain(r: &mut R) -> Vec<Cqe> {
    std::iter::from_fn(|| r.pop()).collect()
}

#[test]
fn io_uring_buf_is_linux_layout_with_the_tail_in_entry_zeros_resv() {
    let b = IoUringBuf { addr: 0x1122_3344_5566_7788, len: 0x99aa_bbcc, bid: 0xddee, resv: 0x0f0f };
    let bytes = zerocopy::IntoBytes::as_bytes(&b);
    assert_eq!(bytes.len(), 16);
    assert_eq!(&bytes[0..8], &0x1122_3344_5566_7788u64.to_ne_bytes());
    assert_eq!(&bytes[8..12], &0x99aa_bbccu32.to_ne_bytes());
    assert_eq!(&bytes[12..14], &0xddeeu16.to_ne_bytes());
    assert_eq!(&bytes[14..16], &0x0f0fu16.to_ne_bytes());
    static G: BufRing<4> = BufRing::new();
    G.push(b, 0);
    G.push(b, 1);
    assert_eq!(G.tail(), 0);
    G.advance(2);
    assert_eq!(G.tail(), 2);
}

#[test]
fn register_buf_ring_errnos() {
    static G: BufRing<4> = BufRing::new();
    static H: BufRing<4> = BufRing::new();
    static K: BufRing<16> = BufRing::new();
    let mut r = ring(16, &G, 7);
    let grp = |bgid, offset, size| BufGroup { bgid, buf_index: 0, offset, size };
    // Same group id: EEXIST; the same BufRing again: EBUSY.
    assert_eq!(r.register_buf_ring(&H, grp(7, 128, 16)), Err(Errno::EEXIST));
    assert_eq!(r.register_buf_ring(&G, grp(8, 128, 16)), Err(Errno::EBUSY));
    // Overlapping group 7's area (bytes 0..64): EBUSY.
    assert_eq!(r.register_buf_ring(&H, grp(8, 48, 16)), Err(Errno::EBUSY));
    // Zero size, an area past the region: EINVAL. Unregistered buffer: EFAULT.
    assert_eq!(r.register_buf_ring(&H, grp(8, 64, 0)), Err(Errno::EINVAL));
    assert_eq!(r.register_buf_ring(&K, grp(8, 64, 16)), Err(Errno::EINVAL));
    assert_eq!(r.register_buf_ring(&H, BufGroup { bgid: 8, buf_index: 3, offset: 0, size: 16 }), Err(Errno::EFAULT));
    // None of the refusals took H: it registers now.
    r.register_buf_ring(&H, grp(8, 64, 16)).unwrap();
    assert_eq!(r.unregister_buf_ring(9), Err(Errno::ENOENT));
    // The region is reserved: not the application's, not unregistrable.
    assert_eq!(r.buffer_mut(0).err(), Some(Errno::EBUSY));
    assert_eq!(r.unregister_buffers().err(), Some(Errno::EBUSY));
    r.unregister_buf_ring(7).unwrap();
    r.unregister_buf_ring(8).unwrap();
    assert_eq!(r.unregister_buf_ring(8), Err(Errno::ENOENT));
    assert!(r.buffer_mut(0).is_ok());
    assert_eq!(MAX_GROUPS, 4);
}

#[test]
fn imports_touching_a_group_area_fail_ebusy() {
    static G: BufRing<4> = BufRing::new();
    let mut r = ring(16, &G, 1);
    let mut sqe = Sqe::bpf(1, 0).user_data(5);
    BufDesc::user(0x1000 + 60, 8).put_a(&mut sqe);
    r.push(sqe).unwrap();
    let mut outside = Sqe::bpf(1, 0).user_data(6);
    BufDesc::user(0x1000 + 64, 8).put_a(&mut outside);
    r.push(outside).unwrap();
    // The failing SQE ends the submit call (C-OP-2); the next one goes through.
    let _ = r.submit();
    let _ = r.submit();
    assert_eq!(drain(&mut r), [Cqe::new(5, Errno::EBUSY.res()), Cqe::new(6, 0)]);
}

#[test]
fn multishot_posts_a_cqe_per_filled_buffer_then_a_final_one() {
    static G: BufRing<4> = BufRing::new();
    let mut r = ring(16, &G, 3);
    for bid in 0..4 {
        G.provide(bid);
    }
    r.push(multishot(9, 3)).unwrap();
    let _ = r.submit();
    assert_eq!(r.pop(), None);
    let s = stream(9);
    assert_eq!(fill(&s, 0xa1, 5), 0);
    assert_eq!(fill(&s, 0xa2, 16), 1);
    r.poll();
    assert_eq!(drain(&mut r), [data(9, 5, 0), data(9, 16, 1)]);
    // The application reads what the CQEs announced, then gives buffer 0 back.
    assert_eq!(&r.provided(3, 0).unwrap()[..6], &[0xa1, 0xa1, 0xa1, 0xa1, 0xa1, 0]);
    assert_eq!(r.provided(3, 1).unwrap(), &[0xa2; 16]);
    // Buffers 2 and 3 are armed (the ring's): not readable.
    assert_eq!(r.provided(3, 2).err(), Some(Errno::EBUSY));
    assert_eq!(r.provided(3, 4).err(), Some(Errno::EINVAL));
    assert_eq!(r.provided(4, 0).err(), Some(Errno::ENOENT));
    G.provide(0);
    r.poll();
    assert_eq!(fill(&s, 0xa3, 1), 2);
    assert_eq!(fill(&s, 0xa4, 2), 3);
    assert_eq!(fill(&s, 0xa5, 3), 0, "the re-provided buffer comes round again");
    // The token names the request, but only the stream ends it.
    let c = r.split().2;
    assert_eq!(c.complete(s.token(), 0), Err(CompleteError::Multishot));
    s.finish(&c, 0).unwrap();
    r.poll();
    assert_eq!(drain(&mut r), [data(9, 1, 2), data(9, 2, 3), data(9, 3, 0), Cqe::new(9, 0)]);
    assert_eq!(r.in_flight(), 0);
    r.unregister_buf_ring(3).unwrap();
}

#[test]
fn multishot_misuse_gets_linux_errnos() {
    static G: BufRing<2> = BufRing::new();
    static EMPTY: BufRing<2> = BufRing::new();
    let mut r = ring(16, &G, 1);
    r.register_buf_ring(&EMPTY, BufGroup { bgid: 2, buf_index: 0, offset: 128, size: 16 }).unwrap();
    G.provide(0);
    // No IOSQE_BUFFER_SELECT: EINVAL. Unknown group, empty group: ENOBUFS. Linked: EINVAL.
    r.push(Sqe::bpf(0, 0).user_data(1).buf_index(1)).unwrap();
    r.push(multishot(2, 9)).unwrap();
    r.push(multishot(3, 2)).unwrap();
    r.push(multishot(4, 1).flags(SqeFlags::BUFFER_SELECT | SqeFlags::IO_LINK)).unwrap();
    r.push(Sqe::nop().user_data(5)).unwrap();
    let _ = r.submit();
    assert_eq!(
        drain(&mut r),
        [
            Cqe::new(1, Errno::EINVAL.res()),
            Cqe::new(2, Errno::ENOBUFS.res()),
            Cqe::new(3, Errno::ENOBUFS.res()),
            Cqe::new(4, Errno::EINVAL.res()),
            // Linked behind the failed multishot: cancelled.
            Cqe::new(5, Errno::ECANCELED.res()),
        ]
    );
    // One stream per group at a time: EBUSY for the second.
    r.push(multishot(6, 1)).unwrap();
    r.push(multishot(7, 1)).unwrap();
    let _ = r.submit();
    assert_eq!(drain(&mut r), [Cqe::new(7, Errno::EBUSY.res())]);
    assert_eq!(r.unregister_buf_ring(1), Err(Errno::EBUSY));
    // A ring's stream ends only on its own ring.
    let other: &'static mut R = Box::leak(Box::new(R::new()));
    other.setup(Setup::new(4).flags(SetupFlags::BPF_EXT)).unwrap();
    other.register_op(&OPS[0]).unwrap();
    let s = stream(6);
    assert_eq!(s.finish(&other.split().2, 0), Err(CompleteError::Foreign));
}

#[test]
fn a_dry_group_ends_the_request_with_enobufs_after_its_backlog() {
    static G: BufRing<2> = BufRing::new();
    let mut r = ring(16, &G, 1);
    G.provide(0);
    G.provide(1);
    r.push(multishot(1, 1)).unwrap();
    let _ = r.submit();
    let s = stream(1);
    let token = s.token();
    fill(&s, 1, 4);
    fill(&s, 2, 8);
    assert_eq!(s.fill().err(), Some(NoFill::NoBuffer));
    // Re-providing now does not revive it: the device saw "no buffer" (Linux's rule).
    r.poll();
    assert_eq!(drain(&mut r), [data(1, 4, 0), data(1, 8, 1), Cqe::new(1, Errno::ENOBUFS.res())]);
    assert_eq!(s.fill().err(), Some(NoFill::Ended));
    let c = r.split().2;
    assert_eq!(c.complete(token, 0), Err(CompleteError::Stale));
    assert_eq!(s.finish(&c, 0), Err(CompleteError::Stale));
    // The group is free for the next request.
    G.provide(0);
    G.provide(1);
    r.push(multishot(2, 1)).unwrap();
    let _ = r.submit();
    let s2 = stream(2);
    fill(&s2, 3, 1);
    s2.finish(&r.split().2, -5).unwrap();
    r.poll();
    assert_eq!(drain(&mut r), [data(2, 1, 0), Cqe::new(2, -5)]);
}

/// The issue's rule pinned on a CQ of 2 entries against a device that fills every
/// buffer it can before the application reaps once: one slot is the request's
/// reservation (its final CQE), one carries fills; the rest wait in fill order; nothing
/// is dropped; the device never waits for the CQ, only for buffers.
#[test]
fn cq_of_two_against_a_fast_producer_drops_nothing_and_keeps_order() {
    static G: BufRing<4> = BufRing::new();
    let mut r = ring(2, &G, 1);
    assert_eq!(r.params().cq_entries, 2);
    for bid in 0..4 {
        G.provide(bid);
    }
    r.push(multishot(1, 1)).unwrap();
    let _ = r.submit();
    let s = stream(1);
    let mut next_byte = 0u8;
    let mut seen = Vec::new();
    // The device fills all four at once; the ring posts one per reaped slot.
    for _ in 0..4 {
        fill(&s, next_byte, 1 + next_byte as usize % 16);
        next_byte += 1;
    }
    for round in 0..40 {
        r.poll();
        assert!(r.cq().len() <= 1, "one slot stays reserved for the final CQE");
        let Some(c) = r.pop() else { panic!("round {round}: a backlog buffer must post") };
        let bid = (c.flags >> 16) as u16;
        assert_eq!(c.flags & 0xffff, (CqeFlags::BUFFER | CqeFlags::MORE).bits());
        let byte = r.provided(1, bid).unwrap()[0];
        assert_eq!(c.res as usize, 1 + byte as usize % 16);
        seen.push(byte);
        G.provide(bid);
        r.poll();
        // The re-provided buffer is armed again: the device refills it at once.
        fill(&s, next_byte, 1 + next_byte as usize % 16);
        next_byte = next_byte.wrapping_add(1);
    }
    assert_eq!(seen, (0..40).collect::<Vec<u8>>(), "every fill posted once, in fill order");
    // Backlog of 4 (the group's size); a fifth fill finds no buffer.
    assert_eq!(s.fill().err(), Some(NoFill::NoBuffer));
    let mut tail = Vec::new();
    for _ in 0..8 {
        r.poll();
        tail.extend(std::iter::from_fn(|| r.pop()));
    }
    let bytes: Vec<u8> = tail[..4].iter().map(|c| r.provided(1, (c.flags >> 16) as u16).unwrap()[0]).collect();
    assert_eq!(bytes, [40, 41, 42, 43]);
    assert_eq!(tail[4], Cqe::new(1, Errno::ENOBUFS.res()));
    assert_eq!(tail.len(), 5);
}

#[test]
fn cancel_ends_a_multishot_request_after_its_fills_even_one_in_progress() {
    static G: BufRing<4> = BufRing::new();
    let mut r = ring(16, &G, 1);
    for bid in 0..4 {
        G.provide(bid);
    }
    r.push(multishot(1, 1)).unwrap();
    let _ = r.submit();
    let s = stream(1);
    fill(&s, 7, 3);
    let mut in_progress: Fill = s.fill().unwrap();
    in_progress.buf()[0] = 0x55;
    r.push(Sqe::cancel(1, CancelFlags::empty()).user_data(2)).unwrap();
    let _ = r.submit();
    // The cancel finds it; the committed fill posts; the final waits for the fill in
    // progress (whose view stays valid across all of this).
    // The fill committed before the cancel was submitted posts first (submit posts
    // waiting fills before it takes SQEs).
    assert_eq!(drain(&mut r), [data(1, 3, 0), Cqe::new(2, 0)]);
    assert_eq!(s.fill().err(), Some(NoFill::Ended));
    in_progress.buf()[1] = 0x66;
    let bid = in_progress.bid();
    in_progress.commit(2);
    r.poll();
    assert_eq!(drain(&mut r), [data(1, 2, bid), Cqe::new(1, Errno::ECANCELED.res())]);
    assert_eq!(&r.provided(1, bid).unwrap()[..2], &[0x55, 0x66]);
}

#[test]
fn reproviding_a_buffer_the_ring_holds_is_efault_and_never_aliases() {
    static G: BufRing<4> = BufRing::new();
    let mut r = ring(16, &G, 1);
    G.provide(0);
    G.provide(1);
    r.push(multishot(1, 1)).unwrap();
    let _ = r.submit();
    let s = stream(1);
    let mut f = s.fill().unwrap();
    let view = f.buf();
    view[0] = 1;
    // The application hands buffer 0 back while the device writes it, and asks to
    // read it: refused both ways.
    assert_eq!(r.provided(1, 0).err(), Some(Errno::EBUSY));
    G.provide(0);
    r.poll();
    // The bad entry ends the request (-EFAULT) once the device is done with buffer 0.
    assert_eq!(r.pop(), None);
    view[15] = 2;
    f.commit(16);
    r.poll();
    assert_eq!(drain(&mut r), [data(1, 16, 0), Cqe::new(1, Errno::EFAULT.res())]);
    let b = r.provided(1, 0).unwrap();
    assert_eq!((b[0], b[15]), (1, 2));
    // Entries naming a bid past the group, or a range outside their slot: EFAULT too.
    for bad in [
        IoUringBuf { addr: 0x1000, len: 16, bid: 4, resv: 0 },
        IoUringBuf { addr: 0x1000 + 8, len: 16, bid: 0, resv: 0 },
        IoUringBuf { addr: 0x1000 + 16, len: 16, bid: 0, resv: 0 },
    ] {
        G.push(bad, 0);
        G.advance(1);
        r.push(multishot(2, 1)).unwrap();
        let _ = r.submit();
        assert_eq!(drain(&mut r), [Cqe::new(2, Errno::EFAULT.res())]);
    }
    // A dropped fill gives its buffer back unused: no CQE.
    G.provide(0);
    r.push(multishot(3, 1)).unwrap();
    let _ = r.submit();
    let s3 = stream(3);
    let f = s3.fill().unwrap();
    let bid = f.bid();
    drop(f);
    r.poll();
    assert_eq!(r.pop(), None);
    // It went to the back of the armed queue: buffer 0 first, then it again.
    assert_eq!(bid, 1);
    let first = s3.fill().unwrap();
    let again = s3.fill().unwrap();
    assert_eq!((first.bid(), again.bid()), (0, 1));
}

#[test]
fn partial_entries_fill_only_their_range() {
    static G: BufRing<2> = BufRing::new();
    let mut r = ring(16, &G, 1);
    G.push(IoUringBuf { addr: 0x1000 + 16 + 4, len: 8, bid: 1, resv: 0 }, 0);
    G.advance(1);
    r.push(multishot(1, 1)).unwrap();
    let _ = r.submit();
    let s = stream(1);
    let mut f = s.fill().unwrap();
    assert_eq!((f.bid(), f.capacity()), (1, 8));
    f.buf().fill(9);
    f.commit(100);
    s.finish(&r.split().2, 0).unwrap();
    r.poll();
    assert_eq!(drain(&mut r), [data(1, 8, 1), Cqe::new(1, 0)]);
    let b = r.provided(1, 1).unwrap();
    assert_eq!(b, &[0, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9, 0, 0, 0, 0]);
}

/// `IOU_PBUF_RING_INC`: a fill that leaves room posts with `F_BUF_MORE`, the next fill
/// continues in the same buffer after the posted bytes, and the application reads the
/// posted prefix while the device writes the rest (two disjoint views: miri checks it).
#[test]
fn incremental_groups_consume_a_buffer_in_pieces() {
    use fwring::buffer::provided::{IOU_PBUF_RING_INC, IOU_PBUF_RING_MMAP};
    static G: BufRing<2> = BufRing::new();
    let mut r = R::new();
    r.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).unwrap();
    r.register_op(&OPS[0]).unwrap();
    r.register_buffers([Region::new(Box::leak(vec![0u8; 64].into_boxed_slice())).at(0x1000)]).unwrap();
    let grp = BufGroup { bgid: 1, buf_index: 0, offset: 0, size: 16 };
    assert_eq!(r.register_buf_ring_flags(&G, grp, IOU_PBUF_RING_MMAP), Err(Errno::EINVAL));
    r.register_buf_ring_flags(&G, grp, IOU_PBUF_RING_INC).unwrap();
    G.provide(0);
    G.provide(1);
    r.push(multishot(1, 1)).unwrap();
    let _ = r.submit();
    let s = stream(1);
    let mut f = s.fill().unwrap();
    assert_eq!((f.bid(), f.capacity()), (0, 16));
    f.buf()[..5].copy_from_slice(b"hello");
    f.commit(5);
    r.poll();
    let buf_more =
        |n, bid: u32| Cqe { user_data: 1, res: n, flags: data(1, n, bid as u16).flags | CqeFlags::BUF_MORE.bits() };
    assert_eq!(r.pop(), Some(buf_more(5, 0)));
    // The same buffer again, after the posted bytes; meanwhile the prefix is readable.
    let mut g = s.fill().unwrap();
    assert_eq!((g.bid(), g.capacity()), (0, 11));
    assert_eq!(r.provided(1, 0).unwrap(), b"hello");
    g.buf()[..6].copy_from_slice(b" world");
    assert_eq!(r.provided(1, 0).unwrap(), b"hello", "the prefix view does not reach the device's range");
    g.buf()[6..].copy_from_slice(b"!!!!!");
    g.commit(11);
    r.poll();
    // Filled completely: no F_BUF_MORE, the whole buffer is the application's.
    assert_eq!(r.pop(), Some(data(1, 11, 0)));
    assert_eq!(r.provided(1, 0).unwrap(), b"hello world!!!!!");
    // Next: buffer 1; a re-provide of buffer 0 works as usual.
    G.provide(0);
    let mut h = s.fill().unwrap();
    assert_eq!(h.bid(), 1);
    h.buf()[0] = b'x';
    h.commit(1);
    s.finish(&r.split().2, 0).unwrap();
    r.poll();
    assert_eq!(drain(&mut r), [buf_more(1, 1), Cqe::new(1, 0)]);
    assert_eq!(r.provided(1, 1).unwrap(), b"x");
    // The partly consumed buffer is kept for the next request (as Linux keeps it at the
    // ring's head), and unregistering hands it back.
    r.unregister_buf_ring(1).unwrap();
}

#[test]
fn a_group_cannot_take_an_area_a_request_in_flight_holds() {
    static G: BufRing<4> = BufRing::new();
    let mut r = R::new();
    r.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).unwrap();
    for op in &OPS {
        r.register_op(op).unwrap();
    }
    let mem: &'static mut [u8] = Box::leak(vec![0u8; 256].into_boxed_slice());
    r.register_buffers([Region::new(mem).at(0x1000)]).unwrap();
    let mut sqe = Sqe::bpf(2, 0).user_data(1);
    BufDesc::user(0x1000 + 40, 8).put_a(&mut sqe);
    r.push(sqe).unwrap();
    let _ = r.submit();
    assert_eq!(r.in_flight(), 1);
    let grp = BufGroup { bgid: 1, buf_index: 0, offset: 0, size: 16 };
    // Bytes 40..48 are a pending request's destination: the group may not cover them.
    assert_eq!(r.register_buf_ring(&G, grp), Err(Errno::EBUSY));
    r.register_buf_ring(&G, BufGroup { offset: 64, ..grp }).unwrap();
    let io = HELD.lock().unwrap().pop().unwrap();
    io.complete(&r.split().2, 8).unwrap();
    r.poll();
    assert_eq!(r.pop(), Some(Cqe::new(1, 8)));
    r.unregister_buf_ring(1).unwrap();
}
