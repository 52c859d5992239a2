//! `PendingIo`: a pending request's buffers handed to another context (a DMA driver, a
//! worker thread) while the ring keeps running other requests on other ranges of the
//! same region. Run under miri too: the views must stay valid (no reborrow of the whole
//! region invalidates them) and never alias.

use fwring::{
    BufDesc, CompleteError, Cqe, Dir, Errno, Issue, IssueCx, Op, OpVTable, PendingIo, PrepCx, Region, Ring, Setup,
    SetupFlags, Sqe, vtable,
};
use std::sync::Mutex;

/// Hands its destination (descriptor A) out as a `PendingIo`.
struct Dma;
static HANDLES: Mutex<Vec<(u64, PendingIo)>> = Mutex::new(Vec::new());
impl Op for Dma {
    type Pdu = ();
    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<(), Errno> {
        cx.import(&BufDesc::sqe_a(sqe), Dir::Dest).map(drop)
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        hand_out(cx)
    }
}

/// Hand the request's buffers out into [`HANDLES`]: pending.
fn hand_out(cx: &mut IssueCx<'_>) -> Issue {
    let ud = cx.info().user_data();
    match cx.pending_io() {
        Ok(io) => {
            // Once the buffers are handed out, issue's own views are refused.
            assert_eq!(cx.io().err(), Some(Errno::EBUSY));
            HANDLES.lock().unwrap().push((ud, io));
            Issue::Pending
        }
        Err(e) => Issue::Err(e),
    }
}

/// Fills its destination with its op flags' low byte, at issue.
struct Fill;
impl Op for Fill {
    type Pdu = u8;
    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<u8, Errno> {
        cx.import(&BufDesc::sqe_a(sqe), Dir::Dest)?;
        Ok(cx.info().private_flags() as u8)
    }
    fn issue(cx: &mut IssueCx<'_>, v: &mut u8) -> Issue {
        let n = match cx.io() {
            Ok(mut io) => match io.dest(0) {
                Ok(d) => d
                    .slices_mut()
                    .iter_mut()
                    .map(|s| {
                        s.fill(*v);
                        s.len()
                    })
                    .sum::<usize>(),
                Err(e) => return Issue::Err(e),
            },
            Err(e) => return Issue::Err(e),
        };
        cx.set_result(n as i32);
        Issue::Done
    }
}

/// The handles of this test's requests (tests run in parallel threads).
fn take_handles(mine: impl Fn(u64) -> bool) -> Vec<(u64, PendingIo)> {
    let mut all = HANDLES.lock().unwrap();
    let (take, keep): (Vec<_>, Vec<_>) = all.drain(..).partition(|(ud, _)| mine(*ud));
    *all = keep;
    take
}

static OPS: [OpVTable; 2] = [vtable::<Dma>(0), vtable::<Fill>(1)];

fn sqe(slot: u8, flags: u32, desc: BufDesc, ud: u64) -> Sqe {
    let mut s = Sqe::bpf(slot, flags).user_data(ud);
    desc.put_a(&mut s);
    s
}

#[test]
fn worker_writes_a_pending_range_while_the_ring_fills_others() {
    let mem: &'static mut [u8] = Box::leak(vec![0u8; 256].into_boxed_slice());
    let a = mem.as_ptr() as u64;
    let mut ring: Box<Ring<8, 16, 8>> = Box::default();
    ring.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).unwrap();
    for t in &OPS {
        ring.register_op(t).unwrap();
    }
    ring.register_buffers([Region::new(mem)]).unwrap();
    // Two DMA requests on [0, 64) and [64, 128), pending.
    ring.push(sqe(0, 0, BufDesc::user(a, 64), 1)).unwrap();
    ring.push(sqe(0, 0, BufDesc::user(a + 64, 64), 2)).unwrap();
    let _ = ring.submit();
    assert_eq!(ring.in_flight(), 2);
    assert!(ring.buffers().get(0).is_none(), "a region in use is not handed out");
    let handles = take_handles(|ud| ud == 1 || ud == 2);
    let (mut sub, mut reaper, completer) = ring.split();
    std::thread::scope(|s| {
        // The "DMA engines": write their ranges from other threads...
        for (ud, mut io) in handles {
            s.spawn(move || {
                {
                    let mut views = io.io();
                    let d = views.dest(0).unwrap();
                    for seg in d.slices_mut() {
                        seg.fill(0xd0 + ud as u8);
                    }
                }
                io.complete(&completer, 64).unwrap();
            });
        }
        // ...while the ring fills [128, 256) in place, in the same region.
        sub.push(sqe(1, 0x5a, BufDesc::user(a + 128, 128), 3)).unwrap();
        let _ = sub.submit();
    });
    sub.poll();
    let mut got = Vec::new();
    while let Some(c) = reaper.pop() {
        got.push(c);
    }
    got.sort_by_key(|c| c.user_data);
    assert_eq!(got, [Cqe::new(1, 64), Cqe::new(2, 64), Cqe::new(3, 128)]);
    assert_eq!(sub.in_flight(), 0);
    let region = ring.buffers().get(0).expect("free again");
    let bytes = region.bytes();
    assert!(bytes[..64].iter().all(|&b| b == 0xd1));
    assert!(bytes[64..128].iter().all(|&b| b == 0xd2));
    assert!(bytes[128..].iter().all(|&b| b == 0x5a));
}

#[test]
fn pending_io_requests_cannot_be_cancelled_or_completed_otherwise() {
    let mem: &'static mut [u8] = Box::leak(vec![0u8; 64].into_boxed_slice());
    let a = mem.as_ptr() as u64;
    let mut ring: Box<Ring<8, 16, 8>> = Box::default();
    ring.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).unwrap();
    ring.register_op(&OPS[0]).unwrap();
    ring.register_buffers([Region::new(mem)]).unwrap();
    ring.push(sqe(0, 0, BufDesc::user(a, 64), 7)).unwrap();
    let _ = ring.submit();
    let (_, io) = take_handles(|ud| ud == 7).pop().unwrap();
    let cancel = Sqe { addr: 7, ..Sqe::new(fwring::opcode::ASYNC_CANCEL).user_data(8) };
    ring.push(cancel).unwrap();
    let _ = ring.submit();
    assert_eq!(ring.pop(), Some(Cqe::new(8, Errno::EALREADY.res())));
    assert_eq!(ring.unregister_buffers().unwrap_err(), Errno::EBUSY);
    let (_, _, completer) = ring.split();
    assert!(io.complete(&completer, 5).is_ok());
    let (_, _, completer) = ring.split();
    // The handle is gone; a forged token cannot reach the request a second time.
    assert_eq!(completer.complete(fwring::Token::from_raw(0), 1), Err(CompleteError::Stale));
    ring.poll();
    assert_eq!(ring.pop(), Some(Cqe::new(7, 5)));
    assert!(ring.unregister_buffers().is_ok());
}

/// Hands out a source (descriptor A) and a destination (descriptor B).
struct SrcDst;
impl Op for SrcDst {
    type Pdu = ();
    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<(), Errno> {
        cx.import(&BufDesc::sqe_a(sqe), Dir::Source)?;
        cx.import(&BufDesc::sqe_b(sqe), Dir::Dest).map(drop)
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        hand_out(cx)
    }
}
static SRC_DST: OpVTable = vtable::<SrcDst>(2);

/// `dest_slices` / `source_slices`: the handle's pieces without an `Io` — every piece of
/// a two-segment destination writable at once (under miri: they never alias), the
/// source's bytes readable, and the wrong direction or a missing import refused with
/// the errnos `Io::dest` / `Io::source` give.
#[test]
fn dest_and_source_slices_give_every_piece_in_place() {
    let mem: &'static mut [u8] = Box::leak(vec![0u8; 256].into_boxed_slice());
    let a = mem.as_ptr() as u64;
    // The source [0, 16) holds 1..=16; two iovecs at 192 name [64, 72) and [100, 124).
    for (i, b) in mem[..16].iter_mut().enumerate() {
        *b = i as u8 + 1;
    }
    for (k, (base, len)) in [(a + 64, 8u64), (a + 100, 24)].into_iter().enumerate() {
        mem[192 + 16 * k..200 + 16 * k].copy_from_slice(&base.to_le_bytes());
        mem[200 + 16 * k..208 + 16 * k].copy_from_slice(&len.to_le_bytes());
    }
    let mut ring: Box<Ring<8, 16, 8>> = Box::default();
    ring.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).unwrap();
    ring.register_op(&SRC_DST).unwrap();
    ring.register_buffers([Region::new(mem)]).unwrap();
    let mut s = sqe(2, 0, BufDesc::user(a, 16), 21);
    BufDesc::vec(a + 192, 2).put_b(&mut s);
    ring.push(s).unwrap();
    let _ = ring.submit();
    assert_eq!(ring.in_flight(), 1);
    let (_, mut io) = take_handles(|ud| ud == 21).pop().unwrap();

    let src: Vec<&[u8]> = io.source_slices(0).unwrap().collect();
    assert_eq!(src, [&(1..=16).collect::<Vec<u8>>()[..]]);
    let sum: u32 = src[0].iter().map(|&b| b as u32).sum();
    assert_eq!(io.source_slices(1).err(), Some(Errno::EINVAL), "a destination is not a source");
    assert_eq!(io.source_slices(2).err(), Some(Errno::EINVAL), "not imported");
    assert_eq!(io.dest_slices(0).err(), Some(Errno::EPERM), "a source is not writable");
    assert_eq!(io.dest_slices(2).err(), Some(Errno::EINVAL), "not imported");

    // Both pieces alive at once, written through.
    let mut dst: Vec<&mut [u8]> = io.dest_slices(1).unwrap().collect();
    assert_eq!(dst.iter().map(|d| d.len()).collect::<Vec<_>>(), [8, 24]);
    dst[1].fill(0xbb);
    dst[0].fill(0xaa);
    let (mut sub, mut reaper, completer) = ring.split();
    io.complete(&completer, sum as i32).unwrap();
    let _ = sub.poll();
    assert_eq!(reaper.pop(), Some(Cqe::new(21, 136)));
    let bytes = ring.buffers().get(0).expect("free again").bytes();
    assert!(bytes[64..72].iter().all(|&b| b == 0xaa));
    assert!(bytes[100..124].iter().all(|&b| b == 0xbb));
    assert!(bytes[72..100].iter().all(|&b| b == 0), "between the pieces: untouched");
    assert_eq!(bytes[..16], (1..=16).collect::<Vec<u8>>()[..]);
}

/// The driver's request slot of `IntoSlot`, and what its issue saw.
static SLOT: Mutex<Option<PendingIo>> = Mutex::new(None);
/// Per request: its user data, what the first call gave (the piece's length), and the
/// errno of a second call.
type Seen = (u64, Result<usize, Errno>, Option<Errno>);
static SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());

/// Makes its handle in `SLOT` (descriptor A, a destination) and writes the first byte
/// through it; then asks again in the same issue call.
struct IntoSlot;
impl Op for IntoSlot {
    type Pdu = ();
    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<(), Errno> {
        cx.import(&BufDesc::sqe_a(sqe), Dir::Dest).map(drop)
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        let ud = cx.info().user_data();
        let mut slot = SLOT.lock().unwrap();
        let first = cx.pending_io_into(&mut slot).map(|io| {
            let mut d = io.dest_slices(0).unwrap();
            let s = d.next().unwrap();
            s[0] = 0x77;
            s.len()
        });
        // Once the buffers are out, no second handle (and the slot is left alone).
        let mut spare = None;
        let again = first.is_ok().then(|| cx.pending_io_into(&mut spare).err()).flatten();
        assert!(spare.is_none(), "a refused call leaves the slot as it was");
        SEEN.lock().unwrap().push((ud, first, again));
        match first {
            Ok(_) => Issue::Pending,
            Err(e) => Issue::Err(e),
        }
    }
}
static INTO_SLOT: OpVTable = vtable::<IntoSlot>(3);

/// `pending_io_into`: the handle is made in the caller's slot (the request pending,
/// completed through it there); a second handle in the same issue is EBUSY; and a slot
/// that still holds a handle is refused with EBUSY — the request fails, the handle in
/// the slot (and its request) untouched.
#[test]
fn pending_io_into_makes_the_handle_in_the_slot_and_refuses_a_full_one() {
    let mem: &'static mut [u8] = Box::leak(vec![0u8; 64].into_boxed_slice());
    let a = mem.as_ptr() as u64;
    let mut ring: Box<Ring<8, 16, 8>> = Box::default();
    ring.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).unwrap();
    ring.register_op(&INTO_SLOT).unwrap();
    ring.register_buffers([Region::new(mem)]).unwrap();
    ring.push(sqe(3, 0, BufDesc::user(a, 32), 31)).unwrap();
    // The slot is full now: the second request is refused.
    ring.push(sqe(3, 0, BufDesc::user(a + 32, 32), 32)).unwrap();
    let _ = ring.submit();
    assert_eq!(ring.pop(), Some(Cqe::new(32, Errno::EBUSY.res())));
    assert_eq!(ring.pop(), None);
    assert_eq!(ring.in_flight(), 1);
    assert_eq!(*SEEN.lock().unwrap(), [(31, Ok(32), Some(Errno::EBUSY)), (32, Err(Errno::EBUSY), None)]);
    let io = SLOT.lock().unwrap().take().expect("the first request's handle, made in the slot");
    let (mut sub, mut reaper, completer) = ring.split();
    io.complete(&completer, 5).unwrap();
    let _ = sub.poll();
    assert_eq!(reaper.pop(), Some(Cqe::new(31, 5)));
    let bytes = ring.buffers().get(0).expect("free again").bytes();
    assert_eq!(bytes[0], 0x77, "written through the handle in its slot");
    assert!(bytes[1..].iter().all(|&b| b == 0));
}
