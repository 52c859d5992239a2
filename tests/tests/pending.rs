//! Asynchronous completion, timeouts and cancel: CONFORMANCE.md §8 (C-CANCEL), §9
//! (C-TIME), and the items that need a request in flight across submit calls (C-DRAIN-1,
//! -3..-6 with TIMEOUT, C-LINK-18, C-BPF-17/18, C-BUF-12 end to end).
//!
//! "Pending read" in the kernel-checked items is modelled by [`Wait`], an op that goes
//! pending cancellably (as a poll-armed read is) until the test completes its token.

use std::cell::RefCell;

use fwring::{
    ArgRecord, BufDesc, CompleteError, Dir, Errno, Issue, IssueCx, Op, OpVTable, PrepCx, Region, Ring, Setup,
    SetupFlags, SlotState, Sqe, Token, Unregistered, opcode, vtable,
};
use fwring::{CancelFlags, TimeoutFlags};
use fwring_tests::res::*;
use fwring_tests::*;

type R = Ring<32, 64, 32, 2>;

thread_local! {
    /// Tokens of pending requests by user_data, for the test to complete.
    static TOKENS: RefCell<Vec<(u64, Token)>> = const { RefCell::new(Vec::new()) };
}

fn token(ud: u64) -> Token {
    TOKENS.with(|t| t.borrow().iter().rev().find(|(u, _)| *u == ud).map(|x| x.1)).expect("token")
}

/// Goes pending; op flags bit 0: not cancellable (hardware owns it); bit 1: answer
/// -EAGAIN on the first issue.
struct Wait;
impl Op for Wait {
    type Pdu = u32;
    fn prep(cx: &mut PrepCx<'_>, _: &Sqe) -> Result<u32, Errno> {
        Ok(cx.info().private_flags())
    }
    fn issue(cx: &mut IssueCx<'_>, f: &mut u32) -> Issue {
        if *f & 2 != 0 {
            *f &= !2;
            return Issue::Err(Errno::EAGAIN);
        }
        let t = match if *f & 1 != 0 { cx.pending() } else { cx.pending_cancelable() } {
            Ok(t) => t,
            Err(e) => return Issue::Err(e),
        };
        let ud = cx.info().user_data();
        TOKENS.with(|v| v.borrow_mut().push((ud, t)));
        Issue::Pending
    }
}
const WAIT: u8 = 0;
static WAIT_OP: OpVTable = vtable::<Wait>(WAIT);

/// Goes pending holding a destination buffer (import A).
struct Dma;
impl Op for Dma {
    type Pdu = ();
    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<(), Errno> {
        cx.import(&BufDesc::sqe_a(sqe), Dir::Dest).map(drop)
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        let t = match cx.pending() {
            Ok(t) => t,
            Err(e) => return Issue::Err(e),
        };
        let ud = cx.info().user_data();
        TOKENS.with(|v| v.borrow_mut().push((ud, t)));
        Issue::Pending
    }
}
const DMA: u8 = 1;
static DMA_OP: OpVTable = vtable::<Dma>(DMA);

fn ring() -> R {
    let mut r = R::new();
    r.setup(Setup::new(32).flags(SetupFlags::BPF_EXT | SetupFlags::SUBMIT_ALL)).unwrap();
    r.register_op(&WAIT_OP).unwrap();
    r.register_op(&DMA_OP).unwrap();
    r
}

fn wait(ud: u64, f: fwring::SqeFlags) -> Sqe {
    Sqe::bpf(WAIT, 0).user_data(ud).flags(f)
}

fn wait_hw(ud: u64, f: fwring::SqeFlags) -> Sqe {
    Sqe::bpf(WAIT, 1).user_data(ud).flags(f)
}

/// TIMEOUT of `ns` (relative, immediate argument), counting `count` completions.
fn timeout(ud: u64, ns: u64, count: u32, f: fwring::SqeFlags) -> Sqe {
    Sqe::timeout(ns, count, TimeoutFlags::empty()).user_data(ud).flags(f)
}

fn link_timeout(ud: u64, ns: u64, f: fwring::SqeFlags) -> Sqe {
    Sqe::link_timeout(ns, TimeoutFlags::empty()).user_data(ud).flags(f)
}

fn cancel(ud: u64, target: u64, flags: CancelFlags) -> Sqe {
    Sqe::cancel(target, flags).user_data(ud)
}

fn tick(r: &mut R, now: u64) -> Vec<(u64, i32)> {
    r.tick(now);
    reap(r)
}

const ETIME: i32 = Errno::ETIME.res();
const ENOENT: i32 = Errno::ENOENT.res();
const EALREADY: i32 = Errno::EALREADY.res();

// ------------------------------------------------------------ pending requests

#[test]
fn pending_request_completes_through_its_token() {
    let mut r = ring();
    assert_eq!(run(&mut r, &[wait(1, NONE), nop(2, NONE)]).1, [(2, 0)]);
    assert_eq!(r.in_flight(), 1);
    r.complete(token(1), 77).unwrap();
    assert_eq!(r.poll(), 1);
    assert_eq!(reap(&mut r), [(1, 77)]);
    assert_eq!(r.in_flight(), 0);
}

#[test]
fn tokens_are_single_use_and_generation_checked() {
    let mut r = ring();
    let _ = run(&mut r, &[wait(1, NONE)]);
    let t = token(1);
    r.complete(t, 0).unwrap();
    assert_eq!(r.complete(t, 0), Err(CompleteError::Stale), "completed twice");
    r.poll();
    // The slot is reused by the next request: the old token must not touch it.
    assert_eq!(run(&mut r, &[wait(2, NONE)]).1, [(1, 0)]);
    assert_eq!(r.complete(t, 5), Err(CompleteError::Stale), "stale generation");
    assert_eq!(r.complete(Token::from_raw(0xffff_ffff), 5), Err(CompleteError::Invalid));
    assert_eq!(r.complete(Token::from_raw(token(2).to_raw() ^ 0x1_0000), 5), Err(CompleteError::Stale));
    r.complete(token(2), 5).unwrap();
    r.poll();
    assert_eq!(reap(&mut r), [(2, 5)]);
}

#[test]
fn link_successor_waits_for_the_pending_predecessor_c_link_18() {
    let mut r = ring();
    assert_eq!(run(&mut r, &[wait(30, L), nop(31, NONE)]).1, []);
    r.complete(token(30), 0).unwrap();
    r.poll();
    assert_eq!(reap(&mut r), [(30, 0), (31, 0)]);
    // A failure cancels the rest, as for any request.
    assert_eq!(run(&mut r, &[wait(40, L), nop(41, NONE)]).1, []);
    r.complete(token(40), -5).unwrap();
    r.poll();
    assert_eq!(reap(&mut r), [(40, -5), (41, ECANCELED)]);
}

#[test]
fn eagain_from_issue_is_retried_once() {
    let mut r = ring();
    let _ = run(&mut r, &[Sqe::bpf(WAIT, 2).user_data(1)]);
    r.complete(token(1), 3).unwrap();
    r.poll();
    assert_eq!(reap(&mut r), [(1, 3)]);
}

#[test]
fn completions_from_other_threads_out_of_order() {
    let mut r: Box<Ring<64, 128, 64>> = Box::default();
    r.setup(Setup::new(64).flags(SetupFlags::BPF_EXT)).unwrap();
    r.register_op(&WAIT_OP).unwrap();
    for ud in 0..48 {
        r.push(Sqe::bpf(WAIT, 1).user_data(ud)).unwrap();
    }
    let _ = r.submit();
    let mut tokens: Vec<(u64, Token)> = TOKENS.with(|t| t.borrow().iter().filter(|(u, _)| *u < 48).copied().collect());
    tokens.reverse();
    let (mut sub, mut reaper, completer) = r.split();
    std::thread::scope(|s| {
        for chunk in tokens.chunks(12) {
            s.spawn(move || {
                for &(ud, t) in chunk {
                    completer.complete(t, ud as i32 + 1000).unwrap();
                    assert_eq!(completer.complete(t, 0), Err(CompleteError::Stale));
                }
            });
        }
    });
    sub.poll();
    let mut got = Vec::new();
    while let Some(c) = reaper.pop() {
        got.push((c.user_data, c.res));
    }
    got.sort();
    assert_eq!(got, (0..48).map(|u| (u, u as i32 + 1000)).collect::<Vec<_>>());
    assert_eq!(sub.in_flight(), 0);
}

#[test]
fn unregister_while_pending_defers_until_cleanup_c_bpf_17_18() {
    let mut r = ring();
    let _ = run(&mut r, &[wait(1, NONE), wait(2, NONE)]);
    assert_eq!(r.unregister_op(WAIT), Ok(Unregistered::Deferred(2)));
    assert!(matches!(r.op_slot(WAIT), Some(SlotState::Draining(_))));
    // New SQEs for a draining slot fail at once; the pending ones run on.
    assert_eq!(run(&mut r, &[wait(3, NONE)]).1, [(3, EOPNOTSUPP)]);
    r.complete(token(1), 0).unwrap();
    r.poll();
    assert!(matches!(r.op_slot(WAIT), Some(SlotState::Draining(_))));
    r.complete(token(2), 0).unwrap();
    r.poll();
    assert!(matches!(r.op_slot(WAIT), Some(SlotState::Empty)));
    assert_eq!(reap(&mut r), [(1, 0), (2, 0)]);
}

#[test]
fn buffers_of_a_pending_request_stay_pinned_c_buf_12() {
    let mut r = ring();
    let m: &'static mut [u8] = Box::leak(vec![0u8; 256].into_boxed_slice());
    let a = m.as_ptr() as u64;
    r.register_buffers([Region::new(m)]).unwrap();
    let mut sqe = Sqe::bpf(DMA, 0).user_data(1);
    BufDesc::user(a, 128).put_a(&mut sqe);
    let _ = run(&mut r, &[sqe]);
    assert_eq!(r.unregister_buffers().unwrap_err(), Errno::EBUSY);
    assert_eq!(r.buffer_mut(0).unwrap_err(), Errno::EBUSY);
    // A second request on the same range, in another chain: EBUSY at prep.
    let mut again = Sqe::bpf(DMA, 0).user_data(2);
    BufDesc::user(a + 64, 8).put_a(&mut again);
    assert_eq!(run(&mut r, &[again]).1, [(2, EBUSY)]);
    r.complete(token(1), 128).unwrap();
    r.poll();
    assert_eq!(reap(&mut r), [(1, 128)]);
    assert!(r.buffer_mut(0).is_ok());
    assert!(r.unregister_buffers().is_ok());
}

/// After a split, the submitting context owns the buffer, argument and op-slot tables:
/// it refills buffers between requests, and a buffer a pending request holds stays
/// refused until the completer (another thread, as an interrupt would be) finishes it.
#[test]
fn split_submitter_manages_buffers_args_and_slots() {
    let mut r = ring();
    let m: &'static mut [u8] = Box::leak(vec![0u8; 64].into_boxed_slice());
    let a = m.as_ptr() as u64;
    let (mut s, mut q, c) = r.split();
    assert_eq!(s.register_buffers([Region::new(m)]).map_err(|e| e.errno), Ok(()));
    s.buffer_mut(0).unwrap().fill(0x5a);
    assert_eq!(s.buffers().get(0).map(|g| g.bytes()[63]), Some(0x5a));
    assert_eq!(s.set_arg(9, ArgRecord::ZERO), Ok(None));
    assert!(s.arg_mut(9).is_some());
    assert!(matches!(s.op_slot(DMA), Some(SlotState::Active(_))));
    let mut sqe = Sqe::bpf(DMA, 0).user_data(1);
    BufDesc::user(a, 64).put_a(&mut sqe);
    s.push(sqe).unwrap();
    assert_eq!(s.submit().taken, 1);
    assert_eq!(s.buffer_mut(0).unwrap_err(), Errno::EBUSY, "held by the pending request");
    assert!(s.buffers().get(0).is_none(), "no read view of a region in use either");
    let t = token(1);
    std::thread::scope(|sc| {
        sc.spawn(move || c.complete(t, 64).unwrap());
    });
    assert_eq!(s.poll(), 1);
    assert_eq!(q.pop().map(|c| (c.user_data, c.res)), Some((1, 64)));
    assert!(s.buffer_mut(0).is_ok());
    assert_eq!(s.remove_arg(9).map(|_| ()), Some(()));
    assert_eq!(s.unregister_op(DMA), Ok(Unregistered::Done));
}

// ------------------------------------------------------------ drain with requests in flight

#[test]
fn drained_request_waits_for_timeout_c_drain_1() {
    let mut r = ring();
    assert_eq!(run(&mut r, &[timeout(1, 50, 0, NONE), nop(2, D), nop(3, NONE)]).1, []);
    assert_eq!(tick(&mut r, 50), [(1, ETIME), (2, 0), (3, 0)]);
}

#[test]
fn drain_waits_for_earlier_only_c_drain_3() {
    let mut r = ring();
    let c = run(&mut r, &[timeout(1, 50, 0, NONE), nop(2, NONE), nop(3, D), nop(4, NONE)]).1;
    assert_eq!(c, [(2, 0)]);
    assert_eq!(tick(&mut r, 50), [(1, ETIME), (3, 0), (4, 0)]);
}

#[test]
fn drain_on_chain_head_and_member_c_drain_4_5() {
    let mut r = ring();
    assert_eq!(run(&mut r, &[timeout(1, 50, 0, NONE), nop(2, D | L), nop(3, NONE), nop(4, NONE)]).1, []);
    assert_eq!(tick(&mut r, 50), [(1, ETIME), (2, 0), (3, 0), (4, 0)]);
    let mut r = ring();
    assert_eq!(run(&mut r, &[timeout(1, 50, 0, NONE), nop(2, L), nop(3, D), nop(4, NONE)]).1, []);
    assert_eq!(tick(&mut r, 50), [(1, ETIME), (2, 0), (3, 0), (4, 0)]);
}

#[test]
fn drain_waits_for_earlier_submit_calls_c_drain_6() {
    let mut r = ring();
    assert_eq!(run(&mut r, &[timeout(1, 50, 0, NONE)]).1, []);
    assert_eq!(run(&mut r, &[nop(2, D), nop(3, NONE)]).1, []);
    assert_eq!(tick(&mut r, 50), [(1, ETIME), (2, 0), (3, 0)]);
}

// ------------------------------------------------------------ timeouts (C-TIME)

#[test]
fn timeout_expires_with_etime_c_time_1() {
    let mut r = ring();
    r.tick(1_000);
    assert_eq!(run(&mut r, &[timeout(1, 50, 0, NONE)]).1, []);
    assert_eq!(r.next_deadline(), Some(1_050));
    assert_eq!(tick(&mut r, 1_049), []);
    assert_eq!(tick(&mut r, 1_050), [(1, ETIME)]);
    assert_eq!(r.next_deadline(), None);
}

/// Timers that expire by the same tick fire in deadline order, equal deadlines in the
/// order they were armed.
#[test]
fn expired_timers_fire_in_deadline_order() {
    let mut r = ring();
    let sqes = [timeout(1, 30, 0, NONE), timeout(2, 10, 0, NONE), timeout(3, 20, 0, NONE), timeout(4, 10, 0, NONE)];
    assert_eq!(run(&mut r, &sqes).1, []);
    assert_eq!(r.next_deadline(), Some(10));
    assert_eq!(tick(&mut r, 30), [(2, ETIME), (4, ETIME), (3, ETIME), (1, ETIME)]);
    assert_eq!(r.next_deadline(), None);
}

#[test]
fn counting_timeout_completes_with_zero_c_time_2() {
    let mut r = ring();
    assert_eq!(run(&mut r, &[timeout(1, 1_000, 1, NONE), nop(2, NONE)]).1, [(2, 0), (1, 0)]);
    // Counting two: one CQE is not enough.
    assert_eq!(run(&mut r, &[timeout(3, 1_000, 2, NONE), nop(4, NONE)]).1, [(4, 0)]);
    assert_eq!(run(&mut r, &[nop(5, NONE)]).1, [(5, 0), (3, 0)]);
}

#[test]
fn link_timeout_fires_and_cancels_its_target_c_time_3_7() {
    let mut r = ring();
    assert_eq!(run(&mut r, &[wait(1, L), link_timeout(2, 10, NONE)]).1, []);
    assert_eq!(tick(&mut r, 10), [(2, ETIME), (1, ECANCELED)]);
    assert_eq!(r.complete(token(1), 0), Err(CompleteError::Stale), "cancelled: its token is dead");
    let mut r = ring();
    assert_eq!(run(&mut r, &[wait(1, L), link_timeout(2, 10, L), nop(3, NONE)]).1, []);
    assert_eq!(tick(&mut r, 10), [(2, ETIME), (1, ECANCELED), (3, ECANCELED)]);
}

#[test]
fn link_timeout_cancelled_when_target_completes_first_c_time_4_5() {
    let mut r = ring();
    assert_eq!(run(&mut r, &[nop(1, L), link_timeout(2, 10, NONE)]).1, [(1, 0), (2, ECANCELED)]);
    assert_eq!(run(&mut r, &[inj(1, -5, L), link_timeout(2, 10, NONE)]).1, [(1, -5), (2, ECANCELED)]);
    // A pending target that completes before the timer: the timeout is cancelled and the
    // chain goes on after it.
    assert_eq!(run(&mut r, &[wait(3, L), link_timeout(4, 10, L), nop(5, NONE)]).1, []);
    r.complete(token(3), 0).unwrap();
    r.poll();
    assert_eq!(reap(&mut r), [(3, 0), (4, ECANCELED), (5, 0)]);
    assert_eq!(tick(&mut r, 100), []);
}

#[test]
fn link_timeout_on_hardware_pending_target_is_ealready() {
    let mut r = ring();
    assert_eq!(run(&mut r, &[wait_hw(1, L), link_timeout(2, 10, L), nop(3, NONE)]).1, []);
    assert_eq!(tick(&mut r, 10), [(2, EALREADY)]);
    r.complete(token(1), 0).unwrap();
    r.poll();
    assert_eq!(reap(&mut r), [(1, 0), (3, 0)]);
}

#[test]
fn link_timeout_without_a_linked_request_is_einval_c_time_6() {
    let mut r = ring();
    assert_eq!(run(&mut r, &[nop(1, NONE), link_timeout(2, 10, NONE)]).1, [(1, 0), (2, EINVAL)]);
    assert_eq!(
        run(&mut r, &[nop(1, L), link_timeout(2, 10, L), link_timeout(3, 10, NONE)]).1,
        [(1, ECANCELED), (2, ECANCELED), (3, EINVAL)]
    );
}

#[test]
fn timeout_variants_abs_etime_success_timespec_and_bad_input() {
    let mut r = ring();
    r.tick(500);
    let abs = Sqe::timeout(700, 0, TimeoutFlags::ABS).user_data(1);
    let soft = Sqe::timeout(100, 0, TimeoutFlags::ETIME_SUCCESS).user_data(2).flags(L);
    assert_eq!(run(&mut r, &[abs, soft, nop(3, NONE)]).1, []);
    assert_eq!(tick(&mut r, 650), [(2, ETIME), (3, 0)], "ETIME_SUCCESS: the chain goes on");
    assert_eq!(tick(&mut r, 700), [(1, ETIME)]);
    // A __kernel_timespec in registered memory (Linux's form): 1 s + 5 ns.
    let m: &'static mut [u8] = Box::leak(vec![0u8; 16].into_boxed_slice());
    m[..8].copy_from_slice(&1i64.to_ne_bytes());
    m[8..].copy_from_slice(&5i64.to_ne_bytes());
    let a = m.as_ptr() as u64;
    r.register_buffers([Region::new(m)]).unwrap();
    let ts = Sqe::timeout_at(a, 0, TimeoutFlags::empty()).user_data(4);
    assert_eq!(run(&mut r, &[ts]).1, []);
    assert_eq!(tick(&mut r, 700 + 1_000_000_004), []);
    assert_eq!(tick(&mut r, 700 + 1_000_000_005), [(4, ETIME)]);
    let bad = [
        Sqe { len: 2, ..timeout(5, 1, 0, NONE) },
        Sqe::timeout(1, 0, TimeoutFlags::MULTISHOT).user_data(6),
        Sqe::timeout_at(0xdead_0000, 0, TimeoutFlags::empty()).user_data(7),
    ];
    assert_eq!(run(&mut r, &bad).1, [(5, EINVAL), (6, EINVAL), (7, EFAULT)]);
}

#[test]
fn timeout_remove_and_update() {
    let mut r = ring();
    assert_eq!(run(&mut r, &[timeout(1, 100, 0, NONE), timeout(2, 100, 0, NONE)]).1, []);
    let remove = Sqe::timeout_remove(1).user_data(10);
    let update = Sqe::timeout_update(2, 500, TimeoutFlags::empty()).user_data(11);
    let missing = Sqe::timeout_remove(99).user_data(12);
    assert_eq!(run(&mut r, &[remove, update, missing]).1, [(10, 0), (11, 0), (12, ENOENT), (1, ECANCELED)]);
    assert_eq!(tick(&mut r, 100), []);
    assert_eq!(tick(&mut r, 500), [(2, ETIME)]);
}

// ------------------------------------------------------------ cancel (C-CANCEL)

#[test]
fn cancel_pending_request_c_cancel_1() {
    let mut r = ring();
    assert_eq!(run(&mut r, &[wait(1, NONE)]).1, []);
    assert_eq!(run(&mut r, &[cancel(9, 1, CancelFlags::empty())]).1, [(9, 0), (1, ECANCELED)]);
    assert_eq!(r.complete(token(1), 0), Err(CompleteError::Stale));
}

#[test]
fn cancel_nothing_is_enoent_c_cancel_2() {
    let mut r = ring();
    assert_eq!(run(&mut r, &[cancel(9, 1234, CancelFlags::empty())]).1, [(9, ENOENT)]);
}

#[test]
fn cancel_running_hardware_request_is_ealready_c_cancel_3() {
    let mut r = ring();
    assert_eq!(run(&mut r, &[wait_hw(1, NONE)]).1, []);
    assert_eq!(run(&mut r, &[cancel(9, 1, CancelFlags::empty())]).1, [(9, EALREADY)]);
    r.complete(token(1), 4).unwrap();
    r.poll();
    assert_eq!(reap(&mut r), [(1, 4)]);
}

#[test]
fn cancel_all_counts_c_cancel_4() {
    let mut r = ring();
    assert_eq!(run(&mut r, &[wait(20, NONE), wait(20, NONE)]).1, []);
    let all = CancelFlags::ALL;
    assert_eq!(run(&mut r, &[cancel(21, 20, all)]).1, [(21, 2), (20, ECANCELED), (20, ECANCELED)]);
    assert_eq!(run(&mut r, &[cancel(22, 20, all)]).1, [(22, 0)]);
}

#[test]
fn cancel_head_cancels_its_chain_c_cancel_5() {
    let mut r = ring();
    assert_eq!(run(&mut r, &[wait(30, L), nop(31, NONE)]).1, []);
    assert_eq!(run(&mut r, &[cancel(32, 30, CancelFlags::empty())]).1, [(32, 0), (30, ECANCELED), (31, ECANCELED)]);
}

#[test]
fn cancel_timeout_c_cancel_6() {
    let mut r = ring();
    assert_eq!(run(&mut r, &[timeout(11, 1_000, 0, NONE)]).1, []);
    assert_eq!(run(&mut r, &[cancel(12, 11, CancelFlags::empty())]).1, [(12, 0), (11, ECANCELED)]);
    assert_eq!(r.next_deadline(), None);
}

#[test]
fn cancel_bad_flags_are_einval() {
    let mut r = ring();
    let fd = CancelFlags::FD;
    // Bit 9 is no cancel flag: kept as it is (`from_bits_retain`), refused as Linux does.
    let undefined = CancelFlags::from_bits_retain(1 << 9);
    let none = CancelFlags::empty();
    assert_eq!(
        run(&mut r, &[cancel(1, 0, fd), cancel(2, 0, undefined), Sqe { off: 1, ..cancel(3, 0, none) }]).1,
        [(1, EINVAL), (2, EINVAL), (3, EINVAL)]
    );
}

#[test]
fn probe_lists_the_async_opcodes() {
    let r = ring();
    let p = r.probe();
    for op in
        [opcode::NOP, opcode::TIMEOUT, opcode::TIMEOUT_REMOVE, opcode::ASYNC_CANCEL, opcode::LINK_TIMEOUT, opcode::BPF]
    {
        assert!(p.is_supported(op), "{op}");
    }
    assert!(!p.is_supported(opcode::READ));
}
