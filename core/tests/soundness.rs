//! The ten defects an outside review found (issue 11), each pinned by the behaviour that
//! fixes it. Four of them gave safe code two live `&mut` views of the same bytes; those
//! tests hold a `PendingIo`'s view alive across the attack and write through it after,
//! so under miri (Stacked Borrows) a regression is reported as undefined behaviour, not
//! only as a wrong value.

use fwring::{
    BufDesc, CompleteError, Cqe, Dir, Errno, IoVec, Issue, IssueCx, Op, OpVTable, PendingIo, PrepCx, Region, Ring,
    Setup, SetupFlags, Sqe, SqeFlags, Stop, Token, vtable,
};
use std::sync::Mutex;

/// Hands its destination (descriptor A) out as a `PendingIo`.
struct Dma;
/// Goes pending with a plain token (no buffers).
struct Wait;
/// Fills its destination (descriptor A) at issue with op flags' low byte.
struct Fill;
/// Imports two sources (descriptors A and B) and goes pending with a plain token.
struct Hold;
/// Imports nothing; at issue, fills a destination 0 if it is given one (it must not be).
struct Peek;

static HANDLES: Mutex<Vec<(u64, PendingIo)>> = Mutex::new(Vec::new());
static TOKENS: Mutex<Vec<(u64, Token)>> = Mutex::new(Vec::new());

impl Op for Dma {
    type Pdu = ();
    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<(), Errno> {
        cx.import(&BufDesc::sqe_a(sqe), Dir::Dest).map(drop)
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        let ud = cx.info().user_data();
        match cx.pending_io() {
            Ok(io) => {
                HANDLES.lock().unwrap().push((ud, io));
                Issue::Pending
            }
            Err(e) => Issue::Err(e),
        }
    }
}

impl Op for Wait {
    type Pdu = ();
    fn prep(_: &mut PrepCx<'_>, _: &Sqe) -> Result<(), Errno> {
        Ok(())
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        let t = match cx.pending() {
            Ok(t) => t,
            Err(e) => return Issue::Err(e),
        };
        TOKENS.lock().unwrap().push((cx.info().user_data(), t));
        Issue::Pending
    }
}

impl Op for Fill {
    type Pdu = u8;
    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<u8, Errno> {
        cx.import(&BufDesc::sqe_a(sqe), Dir::Dest)?;
        Ok(cx.info().private_flags() as u8)
    }
    fn issue(cx: &mut IssueCx<'_>, v: &mut u8) -> Issue {
        let filled = cx.io().and_then(|mut io| {
            let d = io.dest(0)?;
            for s in d.slices_mut() {
                s.fill(*v);
            }
            Ok(d.len())
        });
        match filled {
            Ok(n) => {
                cx.set_result(n as i32);
                Issue::Done
            }
            Err(e) => Issue::Err(e),
        }
    }
}

impl Op for Peek {
    type Pdu = ();
    fn prep(_: &mut PrepCx<'_>, _: &Sqe) -> Result<(), Errno> {
        Ok(())
    }
    /// Result 0 if it has no buffer; else it writes 0xee over its destination and
    /// answers 1000 + its length.
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        let filled = cx.io().and_then(|mut io| {
            let d = io.dest(0)?;
            for s in d.slices_mut() {
                s.fill(0xee);
            }
            Ok(d.len())
        });
        cx.set_result(filled.map_or(0, |n| 1000 + n as i32));
        Issue::Done
    }
}

impl Op for Hold {
    type Pdu = ();
    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<(), Errno> {
        cx.import(&BufDesc::sqe_a(sqe), Dir::Source)?;
        cx.import(&BufDesc::sqe_b(sqe), Dir::Source).map(drop)
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        let t = match cx.pending() {
            Ok(t) => t,
            Err(e) => return Issue::Err(e),
        };
        TOKENS.lock().unwrap().push((cx.info().user_data(), t));
        Issue::Pending
    }
}

const DMA: u8 = 0;
const WAIT: u8 = 1;
const FILL: u8 = 2;
const HOLD: u8 = 3;
const PEEK: u8 = 4;
static OPS: [OpVTable; 5] =
    [vtable::<Dma>(0), vtable::<Wait>(1), vtable::<Fill>(2), vtable::<Hold>(3), vtable::<Peek>(4)];

/// User data is unique per test (tests run in parallel and share the statics).
fn handle(ud: u64) -> PendingIo {
    let mut all = HANDLES.lock().unwrap();
    let i = all.iter().position(|(u, _)| *u == ud).expect("the request went pending");
    all.swap_remove(i).1
}

fn token(ud: u64) -> Token {
    let mut all = TOKENS.lock().unwrap();
    let i = all.iter().position(|(u, _)| *u == ud).expect("the request went pending");
    all.swap_remove(i).1
}

fn op(slot: u8, flags: u32, desc: BufDesc, ud: u64) -> Sqe {
    let mut s = Sqe::bpf(slot, flags).user_data(ud);
    desc.put_a(&mut s);
    s
}

fn leak(len: usize) -> &'static mut [u8] {
    Box::leak(vec![0u8; len].into_boxed_slice())
}

fn ring_with(mem: &'static mut [u8]) -> Box<Ring<8, 16, 8>> {
    let mut ring: Box<Ring<8, 16, 8>> = Box::default();
    ring.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).unwrap();
    for t in &OPS {
        ring.register_op(t).unwrap();
    }
    ring.register_buffers([Region::new(mem)]).unwrap();
    ring
}

fn submit_one<const SQ: usize, const CQ: usize, const N: usize>(ring: &mut Ring<SQ, CQ, N>, sqe: Sqe) {
    ring.push(sqe).unwrap();
    assert_eq!(ring.submit().taken, 1);
}

/// Defect 1: NOP (IO_LINK) → an op that lends its destination [0, 64). The NOP
/// completes and its table slot is freed and reused by the next request; that request
/// must still see [0, 64) as owned by the pending chain member.
#[test]
fn a_chain_members_range_stays_owned_after_its_head_is_freed() {
    let mem = leak(128);
    let a = mem.as_ptr() as u64;
    let mut ring = ring_with(mem);
    ring.push(Sqe::nop().user_data(100).flags(SqeFlags::IO_LINK)).unwrap();
    ring.push(op(DMA, 0, BufDesc::user(a, 64), 101)).unwrap();
    assert_eq!(ring.submit().taken, 2);
    assert_eq!(ring.pop(), Some(Cqe::new(100, 0)));
    let mut io = handle(101);
    let mut views = io.io();
    let dest = views.dest(0).unwrap();
    dest.slices_mut()[0].fill(0xd0);
    // The freed head's slot goes to this request: it must not write [0, 64).
    submit_one(&mut ring, op(FILL, 0x5a, BufDesc::user(a, 64), 102));
    assert_eq!(ring.pop(), Some(Cqe::new(102, Errno::EBUSY.res())));
    // Nor may a new chain whose head reuses the slot share it with its members: the
    // member fails at prep, and cancels its head as any submit-time failure does.
    ring.push(Sqe::nop().user_data(103).flags(SqeFlags::IO_LINK)).unwrap();
    ring.push(op(FILL, 0x5b, BufDesc::user(a + 32, 64), 104)).unwrap();
    assert_eq!(ring.submit().taken, 2);
    assert_eq!(ring.pop(), Some(Cqe::new(103, Errno::ECANCELED.res())));
    assert_eq!(ring.pop(), Some(Cqe::new(104, Errno::EBUSY.res())));
    // The handle's view is still the only one: write through it again.
    dest.slices_mut()[0][63] = 0xd1;
    drop(views);
    let (_, _, completer) = ring.split();
    assert!(io.complete(&completer, 64).is_ok());
    ring.poll();
    assert_eq!(ring.pop(), Some(Cqe::new(101, 64)));
    let bytes = ring.buffer_mut(0).unwrap();
    assert!(bytes[..63].iter().all(|&b| b == 0xd0));
    assert_eq!((bytes[63], bytes[64]), (0xd1, 0));
}

/// Defect 2: a token — guessed, or even the exact one the lent request has — does not
/// complete a request whose buffers are out as a `PendingIo`.
#[test]
fn no_token_completes_a_request_whose_buffers_are_lent() {
    let mem = leak(64);
    let a = mem.as_ptr() as u64;
    let mut ring = ring_with(mem);
    submit_one(&mut ring, op(DMA, 0, BufDesc::user(a, 64), 200));
    let mut io = handle(200);
    let exact = io.token();
    let mut views = io.io();
    let dest = views.dest(0).unwrap();
    dest.slices_mut()[0].fill(1);
    let (_, _, completer) = ring.split();
    for raw in [0x1_0000u64, 0, 1, exact.to_raw(), u64::MAX] {
        let r = completer.complete(Token::from_raw(raw), -1);
        assert!(matches!(r, Err(CompleteError::Stale | CompleteError::Lent | CompleteError::Invalid)), "{raw:#x}");
    }
    assert_eq!(completer.complete(exact, -1), Err(CompleteError::Lent));
    assert_eq!(ring.complete(exact, -1), Err(CompleteError::Lent));
    ring.poll();
    assert_eq!(ring.pop(), None);
    assert_eq!(ring.buffer_mut(0).unwrap_err(), Errno::EBUSY);
    dest.slices_mut()[0][0] = 2;
    drop(views);
    let (_, _, completer) = ring.split();
    assert!(io.complete(&completer, 64).is_ok());
    ring.poll();
    assert_eq!(ring.pop(), Some(Cqe::new(200, 64)));
    assert_eq!(ring.buffer_mut(0).unwrap()[..2], [2, 1]);
}

/// Defect 3: ring A's handle and tokens do not complete ring B's requests.
#[test]
fn another_rings_handle_or_token_is_refused() {
    let (ma, mb) = (leak(64), leak(64));
    let (a, b) = (ma.as_ptr() as u64, mb.as_ptr() as u64);
    let mut ra = ring_with(ma);
    let mut rb = ring_with(mb);
    submit_one(&mut ra, op(DMA, 0, BufDesc::user(a, 64), 300));
    submit_one(&mut rb, op(DMA, 0, BufDesc::user(b, 64), 301));
    submit_one(&mut ra, op(WAIT, 0, BufDesc::default(), 302));
    submit_one(&mut rb, op(WAIT, 0, BufDesc::default(), 303));
    let (ia, mut ib) = (handle(300), handle(301));
    let (ta, tb) = (token(302), token(303));
    assert_ne!(ta, tb, "two rings never start at the same generation");
    let mut views_b = ib.io();
    views_b.dest(0).unwrap().slices_mut()[0].fill(0xbb);
    {
        let (_, _, cb) = rb.split();
        let refused = ia.complete(&cb, 1).unwrap_err();
        assert_eq!(refused.error, CompleteError::Foreign);
        assert_eq!(cb.complete(ta, 1), Err(CompleteError::Stale));
        let (_, _, ca) = ra.split();
        assert!(refused.io.complete(&ca, 64).is_ok(), "the refused handle comes back whole");
        assert_eq!(ca.complete(ta, 7), Ok(()));
    }
    rb.poll();
    assert_eq!(rb.pop(), None, "nothing of ring B completed");
    assert_eq!(rb.buffer_mut(0).unwrap_err(), Errno::EBUSY);
    views_b.dest(0).unwrap().slices_mut()[0][0] = 0xbc;
    drop(views_b);
    let (_, _, cb) = rb.split();
    assert!(ib.complete(&cb, 64).is_ok());
    assert_eq!(cb.complete(tb, 9), Ok(()));
    ra.poll();
    rb.poll();
    assert_eq!([ra.pop(), ra.pop()], [Some(Cqe::new(300, 64)), Some(Cqe::new(302, 7))]);
    assert_eq!([rb.pop(), rb.pop()], [Some(Cqe::new(301, 64)), Some(Cqe::new(303, 9))]);
}

/// Defect 4: a token from before `setup` names nothing after it.
#[test]
fn setup_does_not_restart_generations() {
    let mut ring = ring_with(leak(64));
    submit_one(&mut ring, op(WAIT, 0, BufDesc::default(), 400));
    let before = token(400);
    assert_eq!(ring.complete(before, 0), Ok(()));
    ring.poll();
    assert_eq!(ring.pop(), Some(Cqe::new(400, 0)));
    let _ = ring.unregister_buffers().unwrap();
    ring.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).unwrap();
    ring.register_op(&OPS[WAIT as usize]).unwrap();
    submit_one(&mut ring, op(WAIT, 0, BufDesc::default(), 401));
    let after = token(401);
    assert_ne!(before, after);
    assert_eq!(ring.complete(before, -1), Err(CompleteError::Stale));
    assert_eq!(ring.complete(after, 5), Ok(()));
    ring.poll();
    assert_eq!(ring.pop(), Some(Cqe::new(401, 5)));
}

/// Defect 5: 65 537 requests through one slot, and the first token is still stale (the
/// 16-bit generation it once had would have come round again).
#[test]
fn a_stale_token_stays_stale_past_65536_reuses_of_its_slot() {
    let reuses: u64 = if cfg!(miri) { 300 } else { 65_537 };
    let mut ring: Box<Ring<1, 2, 1>> = Box::default();
    ring.setup(Setup::new(1).flags(SetupFlags::BPF_EXT)).unwrap();
    ring.register_op(&OPS[WAIT as usize]).unwrap();
    let mut first = None;
    for i in 0..reuses {
        submit_one(&mut ring, op(WAIT, 0, BufDesc::default(), 500_000 + i));
        let t = token(500_000 + i);
        first.get_or_insert(t);
        assert_eq!(ring.complete(t, 0), Ok(()));
        ring.poll();
        assert_eq!(ring.pop(), Some(Cqe::new(500_000 + i, 0)));
    }
    submit_one(&mut ring, op(WAIT, 0, BufDesc::default(), 499_999));
    let live = token(499_999);
    let first = first.unwrap();
    assert_eq!(live.to_raw() & 0xffff, first.to_raw() & 0xffff, "same slot");
    assert_eq!(ring.complete(first, -1), Err(CompleteError::Stale));
    assert_eq!(ring.complete(live, 1), Ok(()));
    ring.poll();
    assert_eq!(ring.pop(), Some(Cqe::new(499_999, 1)));
}

/// Defect 6: 4 097 pending requests each holding 16 segments of region 0 (65 552 in
/// all): after 4 096 complete, the region is still in use.
#[test]
#[cfg_attr(miri, ignore = "65 552 segments: native only")]
fn region_use_is_counted_exactly_past_65535_segments() {
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(|| {
            const N: usize = 4097;
            let mem = leak(4096);
            let base = mem.as_ptr() as u64;
            // Eight iovecs of 16 bytes each, at [0, 128): the descriptors' arrays.
            for k in 0..8u64 {
                let iov = IoVec { base: base + 1024 + 16 * k, len: 16 };
                let at = (16 * k) as usize;
                mem[at..at + 8].copy_from_slice(&iov.base.to_ne_bytes());
                mem[at + 8..at + 16].copy_from_slice(&iov.len.to_ne_bytes());
            }
            let mut ring: Box<Ring<8, 8192, N>> = Box::default();
            ring.setup(Setup::new(8).cq_entries(8192).flags(SetupFlags::BPF_EXT)).unwrap();
            ring.register_op(&OPS[HOLD as usize]).unwrap();
            ring.register_buffers([Region::new(mem)]).unwrap();
            let vec = BufDesc::vec(base, 8);
            for i in 0..N as u64 {
                let mut sqe = op(HOLD, 0, vec, 600_000 + i);
                vec.put_b(&mut sqe);
                submit_one(&mut ring, sqe);
            }
            assert_eq!(ring.in_flight(), N as u32);
            let tokens: Vec<Token> = (0..N as u64).map(|i| token(600_000 + i)).collect();
            for t in &tokens[..N - 1] {
                assert_eq!(ring.complete(*t, 0), Ok(()));
            }
            ring.poll();
            while ring.pop().is_some() {}
            assert_eq!(ring.in_flight(), 1);
            assert_eq!(ring.buffer_mut(0).unwrap_err(), Errno::EBUSY);
            assert_eq!(ring.unregister_buffers().unwrap_err(), Errno::EBUSY);
            assert!(ring.buffers().get(0).is_none());
            assert_eq!(ring.complete(tokens[N - 1], 0), Ok(()));
            ring.poll();
            assert!(ring.buffer_mut(0).is_ok());
        })
        .unwrap()
        .join()
        .unwrap();
}

/// Defect 7: reading an iovec array views only the array's bytes, and not while
/// another request's destination covers them.
#[test]
fn reading_an_iovec_array_never_touches_a_lent_range() {
    let mem = leak(256);
    let a = mem.as_ptr() as u64;
    // An iovec array at [64, 80) naming [128, 160).
    mem[64..72].copy_from_slice(&(a + 128).to_ne_bytes());
    mem[72..80].copy_from_slice(&32u64.to_ne_bytes());
    let mut ring = ring_with(mem);
    submit_one(&mut ring, op(DMA, 0, BufDesc::user(a, 64), 700));
    let mut io = handle(700);
    let mut views = io.io();
    let dest = views.dest(0).unwrap();
    dest.slices_mut()[0].fill(0xee);
    // The array outside the lent range: read exactly, the op runs.
    submit_one(&mut ring, op(FILL, 0x11, BufDesc::vec(a + 64, 1), 701));
    assert_eq!(ring.pop(), Some(Cqe::new(701, 32)));
    // An array inside the lent range: a device may be writing it — EBUSY.
    submit_one(&mut ring, op(FILL, 0x22, BufDesc::vec(a + 16, 1), 702));
    assert_eq!(ring.pop(), Some(Cqe::new(702, Errno::EBUSY.res())));
    // A timespec there likewise.
    let mut timeout = Sqe::new(fwring::opcode::TIMEOUT).user_data(703).addr(a + 16).len(1);
    timeout.op_flags = 0;
    submit_one(&mut ring, timeout);
    assert_eq!(ring.pop(), Some(Cqe::new(703, Errno::EBUSY.res())));
    dest.slices_mut()[0][0] = 0xef;
    drop(views);
    let (_, _, completer) = ring.split();
    assert!(io.complete(&completer, 64).is_ok());
    ring.poll();
    assert_eq!(ring.pop(), Some(Cqe::new(700, 64)));
    let bytes = ring.buffer_mut(0).unwrap();
    assert_eq!((bytes[0], bytes[1], bytes[128], bytes[159], bytes[160]), (0xef, 0xee, 0x11, 0x11, 0));
}

/// Defect 8: a chain that needs room a timer holds is told to wait for requests in
/// flight (`Stop::InFlight`), not to reap; it runs once the timer is done.
#[test]
fn a_chain_blocked_by_requests_in_flight_says_so_and_runs_after_them() {
    let mut ring: Ring<8, 16, 4> = Ring::new();
    submit_one(&mut ring, Sqe::timeout(1_000_000_000, 0, fwring::TimeoutFlags::empty()).user_data(800));
    for i in 0..4 {
        let f = if i < 3 { SqeFlags::IO_LINK } else { SqeFlags::empty() };
        ring.push(Sqe::nop().user_data(801 + i).flags(f)).unwrap();
    }
    let s = ring.submit();
    assert_eq!((s.taken, s.stop), (0, Stop::InFlight));
    assert!(!ring.sq_flags().contains(fwring::SqRingFlags::CQ_OVERFLOW));
    assert_eq!((ring.pop(), ring.in_flight()), (None, 1));
    assert_eq!(ring.submit().stop, Stop::InFlight, "reaping nothing changes nothing");
    ring.tick(1_000_000_000);
    assert_eq!(ring.pop(), Some(Cqe::new(800, Errno::ETIME.res())));
    let s = ring.submit();
    assert_eq!((s.taken, s.stop), (4, Stop::Empty));
    let got: Vec<Cqe> = std::iter::from_fn(|| ring.pop()).collect();
    assert_eq!(got, (801..805).map(|u| Cqe::new(u, 0)).collect::<Vec<_>>());
}

/// Defect 10: a descriptor's reserved byte must be 0.
#[test]
fn a_descriptor_with_a_nonzero_reserved_byte_is_einval() {
    let mem = leak(64);
    let a = mem.as_ptr() as u64;
    let mut ring = ring_with(mem);
    let desc = BufDesc { reserved: 1, ..BufDesc::user(a, 64) };
    submit_one(&mut ring, op(FILL, 1, desc, 1000));
    assert_eq!(ring.pop(), Some(Cqe::new(1000, Errno::EINVAL.res())));
    submit_one(&mut ring, op(FILL, 1, BufDesc::user(a, 64), 1001));
    assert_eq!(ring.pop(), Some(Cqe::new(1001, 64)));
}

/// Defect 7, the array read in one view: an iovec array whose first iovec is free but
/// whose second lies in a lent range is not read in one piece; read iovec by iovec it
/// stops at the second — EBUSY, the op never runs — as it always did.
#[test]
fn an_iovec_array_reaching_into_a_lent_range_is_busy() {
    let mem = leak(256);
    let a = mem.as_ptr() as u64;
    // An iovec array at [48, 80) naming [160, 176) and [176, 192); the lent range is [64, 128).
    for (k, base) in [(0usize, a + 160), (1, a + 176)] {
        let at = 48 + 16 * k;
        mem[at..at + 8].copy_from_slice(&base.to_ne_bytes());
        mem[at + 8..at + 16].copy_from_slice(&16u64.to_ne_bytes());
    }
    let mut ring = ring_with(mem);
    submit_one(&mut ring, op(DMA, 0, BufDesc::user(a + 64, 64), 710));
    let io = handle(710);
    submit_one(&mut ring, op(FILL, 0x33, BufDesc::vec(a + 48, 2), 711));
    assert_eq!(ring.pop(), Some(Cqe::new(711, Errno::EBUSY.res())));
    // One iovec, outside the lent range: read, and the op runs.
    submit_one(&mut ring, op(FILL, 0x44, BufDesc::vec(a + 48, 1), 712));
    assert_eq!(ring.pop(), Some(Cqe::new(712, 16)));
    let (_, _, completer) = ring.split();
    assert!(io.complete(&completer, 0).is_ok());
    ring.poll();
    assert_eq!(ring.pop(), Some(Cqe::new(710, 0)));
    let bytes = ring.buffer_mut(0).unwrap();
    assert_eq!((bytes[159], bytes[160], bytes[175], bytes[176]), (0, 0x44, 0x44, 0));
}

/// Found with issue 13: a request's imports live in its table entry, and an entry's
/// imports outlive the request that made them. A request whose prep imported nothing
/// must get no buffer at issue, whatever its entry held before — here a destination
/// another request has lent out since, whose view stays alive across the attack.
#[test]
fn a_request_that_imported_nothing_gets_no_buffer_from_its_entrys_past() {
    let mem = leak(128);
    let a = mem.as_ptr() as u64;
    let mut ring = ring_with(mem);
    // [0, 64) imported as a destination by a standalone request (the in-line path) and
    // by a chain member (the general path); both complete, their entries go free.
    submit_one(&mut ring, op(FILL, 0x11, BufDesc::user(a, 64), 1100));
    ring.push(op(FILL, 0x22, BufDesc::user(a, 64), 1101).flags(SqeFlags::IO_LINK)).unwrap();
    ring.push(Sqe::nop().user_data(1102)).unwrap();
    assert_eq!(ring.submit().taken, 2);
    let got: Vec<Cqe> = std::iter::from_fn(|| ring.pop()).collect();
    assert_eq!(got, [Cqe::new(1100, 64), Cqe::new(1101, 64), Cqe::new(1102, 0)]);
    // Then lent to a device, which writes through its view.
    submit_one(&mut ring, op(DMA, 0, BufDesc::user(a, 64), 1103));
    let mut io = handle(1103);
    let mut views = io.io();
    let dest = views.dest(0).unwrap();
    dest.slices_mut()[0].fill(0xd0);
    // Requests that import nothing take every free entry (a chain: the general path),
    // and then one more standalone (the in-line path): none gets a buffer.
    for ud in 1104..1110 {
        ring.push(Sqe::bpf(PEEK, 0).user_data(ud).flags(SqeFlags::IO_LINK)).unwrap();
    }
    ring.push(Sqe::bpf(PEEK, 0).user_data(1110)).unwrap();
    assert_eq!(ring.submit().taken, 7);
    let got: Vec<Cqe> = std::iter::from_fn(|| ring.pop()).collect();
    assert_eq!(got, (1104..1111).map(|u| Cqe::new(u, 0)).collect::<Vec<_>>());
    submit_one(&mut ring, Sqe::bpf(PEEK, 0).user_data(1111));
    assert_eq!(ring.pop(), Some(Cqe::new(1111, 0)));
    // The device's view is still the only one: write through it again.
    dest.slices_mut()[0][63] = 0xd1;
    drop(views);
    let (_, _, completer) = ring.split();
    assert!(io.complete(&completer, 64).is_ok());
    ring.poll();
    assert_eq!(ring.pop(), Some(Cqe::new(1103, 64)));
    let bytes = ring.buffer_mut(0).unwrap();
    assert!(bytes[..63].iter().all(|&b| b == 0xd0));
    assert_eq!((bytes[63], bytes[64]), (0xd1, 0));
}
