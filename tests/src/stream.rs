//! Random SQE streams with registered buffers: the body of the `sqe_stream` fuzz target
//! and of the suite's bounded run of it (`tests/sqe_stream.rs`).
//!
//! Bytes drive a ring with two registered regions and four ops — one that lends its
//! destination to a "device" as a `PendingIo`, one that fills its destination at issue,
//! one that waits on a cancellable token, one that holds two sources while pending —
//! through every descriptor type (user, fixed, kfixed, vectored with iovec arrays in
//! registered memory), link / hardlink / drain flags, completions by handle and by
//! (possibly forged) token, cancels and timeouts.
//!
//! The oracle: every lent range is stamped with its handle's own byte when lent and
//! must still hold it when the handle completes — a request that was let write into a
//! range a device holds (the ownership rule broken) shows up as a wrong byte, and under
//! miri as undefined behaviour. At the end every request completes, the ring is empty,
//! every consumed SQE that asked for a CQE got exactly one, and the regions come back.

use std::cell::RefCell;
use std::collections::HashMap;

use fwring::{
    BufDesc, Cqe, Dir, Errno, Issue, IssueCx, Op, OpVTable, PendingIo, PrepCx, Region, Ring, Setup, SetupFlags, Sqe,
    SqeFlags, Stop, Token, opcode, vtable,
};

thread_local! {
    static LENT: RefCell<Vec<(u64, PendingIo)>> = const { RefCell::new(Vec::new()) };
    static WAITING: RefCell<Vec<(u64, Token)>> = const { RefCell::new(Vec::new()) };
}

struct Lend;
struct Fill;
struct Wait;
struct Hold;

impl Op for Lend {
    type Pdu = ();
    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<(), Errno> {
        cx.import(&BufDesc::sqe_a(sqe), Dir::Dest).map(drop)
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        let ud = cx.info().user_data();
        match cx.pending_io() {
            Ok(mut io) => {
                stamp(&mut io, ud);
                LENT.with(|l| l.borrow_mut().push((ud, io)));
                Issue::Pending
            }
            Err(e) => Issue::Err(e),
        }
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

impl Op for Wait {
    type Pdu = ();
    fn prep(_: &mut PrepCx<'_>, _: &Sqe) -> Result<(), Errno> {
        Ok(())
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        let t = match cx.pending_cancelable() {
            Ok(t) => t,
            Err(e) => return Issue::Err(e),
        };
        WAITING.with(|w| w.borrow_mut().push((cx.info().user_data(), t)));
        Issue::Pending
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
        WAITING.with(|w| w.borrow_mut().push((cx.info().user_data(), t)));
        Issue::Pending
    }
}

static OPS: [OpVTable; 4] = [vtable::<Lend>(0), vtable::<Fill>(1), vtable::<Wait>(2), vtable::<Hold>(3)];

/// The byte a handle stamps its range with.
fn mark(ud: u64) -> u8 {
    0x80 | (ud as u8 & 0x7f)
}

fn stamp(io: &mut PendingIo, ud: u64) {
    if let Ok(d) = io.io().dest(0) {
        for s in d.slices_mut() {
            s.fill(mark(ud));
        }
    }
}

fn intact(io: &mut PendingIo, ud: u64) -> bool {
    let mut io = io.io();
    io.dest(0).map_or(true, |d| d.slices_mut().iter().all(|s| s.iter().all(|&b| b == mark(ud))))
}

/// What a stream did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// SQEs consumed.
    pub consumed: u64,
    /// CQEs reaped.
    pub cqes: u64,
    /// Buffers lent to the "device" and checked intact at completion.
    pub lent: u64,
    /// Requests refused -EBUSY (the ownership rule at work).
    pub busy: u64,
}

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u8(&mut self) -> u8 {
        self.byte().unwrap_or(0)
    }
}

const REGION: usize = 256;

/// Run one stream. `Err` names the broken promise.
pub fn run(data: &[u8]) -> Result<Stats, String> {
    LENT.with(|l| l.borrow_mut().clear());
    WAITING.with(|w| w.borrow_mut().clear());
    let mut bytes = Bytes(data);
    let regions: [&'static mut [u8]; 2] = [leak(), leak()];
    let base = [regions[0].as_ptr() as u64, regions[1].as_ptr() as u64];
    // Iovec arrays at the start of region 1: [64+16k, +16) of region 0 and 1.
    for (k, chunk) in regions[1][..64].chunks_mut(16).enumerate() {
        let target = base[k % 2] + 64 + 16 * k as u64;
        chunk[..8].copy_from_slice(&target.to_ne_bytes());
        chunk[8..].copy_from_slice(&16u64.to_ne_bytes());
    }
    let mut ring: Box<Ring<8, 16, 8>> = Box::default();
    let flags = if bytes.u8() & 1 != 0 { SetupFlags::BPF_EXT | SetupFlags::SUBMIT_ALL } else { SetupFlags::BPF_EXT };
    ring.setup(Setup::new(8).flags(flags)).map_err(|e| format!("setup: {e:?}"))?;
    for t in &OPS {
        ring.register_op(t).map_err(|e| format!("register_op: {e:?}"))?;
    }
    ring.register_buffers(regions.map(Region::new)).map_err(|e| format!("register: {:?}", e.errno))?;
    let mut stats = Stats::default();
    let mut expected: HashMap<u64, u32> = HashMap::new();
    let mut got: HashMap<u64, u32> = HashMap::new();
    let mut ud = 0u64;
    let mut now = 0u64;
    while let Some(action) = bytes.byte() {
        match action % 16 {
            0..=7 => {
                ud += 1;
                let sqe = make_sqe(&mut bytes, ud, &base);
                if ring.push(sqe).is_ok() {
                    expected.insert(ud, 1);
                }
            }
            8 | 9 => {
                let s = ring.submit();
                stats.consumed += s.taken as u64;
                check_stop(s.stop, &ring)?;
            }
            10 => {
                complete_lent(&mut ring, &mut bytes, &mut stats)?;
            }
            11 => {
                let pick = bytes.u8() as usize;
                let t = WAITING.with(|w| {
                    let mut w = w.borrow_mut();
                    let n = w.len();
                    if n == 0 { None } else { Some(w.swap_remove(pick % n).1) }
                });
                if let Some(t) = t {
                    let _ = ring.complete(t, i32::from(bytes.u8()));
                }
            }
            12 => {
                // A forged token: never completes a lent request.
                let raw = u64::from_ne_bytes(core::array::from_fn(|_| bytes.u8()));
                if ring.complete(Token::from_raw(raw), 0) == Ok(()) {
                    // It named a plain pending request: forget that token.
                    WAITING.with(|w| w.borrow_mut().retain(|(_, t)| *t != Token::from_raw(raw)));
                }
            }
            13 => {
                now += u64::from(bytes.u8()) * 1_000;
                ring.tick(now);
            }
            _ => reap(&mut ring, &mut got, &mut stats),
        }
        ring.poll();
        reap(&mut ring, &mut got, &mut stats);
    }
    // Finish everything: complete every handle and token, fire every timer, submit
    // what is left until the SQ is empty.
    for _ in 0..64 {
        while complete_lent(&mut ring, &mut Bytes(&[0]), &mut stats)? {}
        let tokens: Vec<Token> = WAITING.with(|w| w.borrow_mut().drain(..).map(|(_, t)| t).collect());
        for t in tokens {
            let _ = ring.complete(t, 0);
        }
        now = now.saturating_add(1 << 40);
        ring.tick(now);
        let s = ring.submit();
        stats.consumed += s.taken as u64;
        reap(&mut ring, &mut got, &mut stats);
        if ring.sq().is_empty() && ring.in_flight() == 0 && LENT.with(|l| l.borrow().is_empty()) {
            break;
        }
    }
    if ring.in_flight() != 0 || !ring.sq().is_empty() {
        return Err(format!("did not drain: {} in flight, {} SQEs left", ring.in_flight(), ring.sq().len()));
    }
    // No SQE of a stream asks to skip its CQE: every one pushed got exactly one.
    for (u, n) in &got {
        if *n != 1 || !expected.contains_key(u) {
            return Err(format!("user_data {u}: {n} CQE(s), {} expected", expected.get(u).copied().unwrap_or(0)));
        }
    }
    if let Some(u) = expected.keys().find(|u| !got.contains_key(u)) {
        return Err(format!("user_data {u}: no CQE"));
    }
    ring.unregister_buffers().map_err(|e| format!("regions not released: {e:?}"))?;
    Ok(stats)
}

fn leak() -> &'static mut [u8] {
    Box::leak(vec![0u8; REGION].into_boxed_slice())
}

fn check_stop(stop: Stop, ring: &Ring<8, 16, 8>) -> Result<(), String> {
    if stop == Stop::InFlight && ring.in_flight() == 0 {
        return Err("Stop::InFlight with nothing in flight".into());
    }
    Ok(())
}

fn reap(ring: &mut Ring<8, 16, 8>, got: &mut HashMap<u64, u32>, stats: &mut Stats) {
    while let Some(Cqe { user_data, res, .. }) = ring.pop() {
        *got.entry(user_data).or_default() += 1;
        stats.cqes += 1;
        if res == Errno::EBUSY.res() {
            stats.busy += 1;
        }
    }
}

/// Complete one lent handle (the `pick`-th), checking its range was left alone.
fn complete_lent(ring: &mut Ring<8, 16, 8>, bytes: &mut Bytes<'_>, stats: &mut Stats) -> Result<bool, String> {
    let pick = bytes.u8() as usize;
    let Some((ud, mut io)) = LENT.with(|l| {
        let mut l = l.borrow_mut();
        let n = l.len();
        if n == 0 { None } else { Some(l.swap_remove(pick % n)) }
    }) else {
        return Ok(false);
    };
    if !intact(&mut io, ud) {
        return Err(format!("user_data {ud}: a lent range was written by someone else"));
    }
    stats.lent += 1;
    let (_, _, completer) = ring.split();
    io.complete(&completer, 1).map_err(|r| format!("own handle refused: {:?}", r.error))?;
    Ok(true)
}

fn make_sqe(bytes: &mut Bytes<'_>, ud: u64, base: &[u64; 2]) -> Sqe {
    let kind = bytes.u8();
    let link = match bytes.u8() % 8 {
        0 | 1 => SqeFlags::IO_LINK,
        2 => SqeFlags::IO_HARDLINK,
        3 => SqeFlags::IO_DRAIN,
        _ => SqeFlags::empty(),
    };
    let mut sqe = match kind % 10 {
        0 => Sqe::nop(),
        1 => Sqe::timeout(u64::from(bytes.u8()) * 1_000, 0, fwring::TimeoutFlags::empty()),
        2 => {
            let mut s = Sqe::new(opcode::ASYNC_CANCEL);
            s.addr = ud.saturating_sub(u64::from(bytes.u8() % 8));
            s
        }
        k => {
            let slot = [0u8, 0, 1, 1, 2, 3, 1][(k - 3) as usize];
            let mut s = Sqe::bpf(slot, u32::from(bytes.u8()));
            desc(bytes, base).put_a(&mut s);
            desc(bytes, base).put_b(&mut s);
            s
        }
    };
    sqe = sqe.user_data(ud).flags(link);
    sqe
}

fn desc(bytes: &mut Bytes<'_>, base: &[u64; 2]) -> BufDesc {
    let r = (bytes.u8() % 2) as usize;
    let off = u64::from(bytes.u8()) % REGION as u64;
    let len = u32::from(bytes.u8() % 80) + 1;
    let mut d = match bytes.u8() % 6 {
        0 | 1 => BufDesc::user(base[r] + off, len),
        2 => BufDesc::fixed(r as u16, base[r] + off, len),
        3 => BufDesc::kfixed(r as u16, off, len),
        4 => BufDesc::vec(base[1] + 16 * u64::from(bytes.u8() % 4), 1 + u32::from(bytes.u8() % 3)),
        _ => BufDesc::reg_vec(r as u16, base[1], 1),
    };
    if bytes.u8() == 0xff {
        d.reserved = 1;
    }
    d
}
