//! The async front end (`fwring::asynch`, feature `async`) on two real executors —
//! `futures`' `block_on`/`LocalPool` and tokio's current-thread runtime — with
//! completions from other threads standing in for interrupt handlers.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::executor::{LocalPool, block_on};
use futures::task::{LocalSpawnExt, noop_waker};
use fwring::asynch::{AsyncRing, USER_DATA_TAG};
use fwring::{
    BufDesc, CompleteError, Cqe, Dir, Errno, Issue, IssueCx, Op, OpVTable, PendingIo, PrepCx, Region, Ring, Setup,
    SetupFlags, Sqe, SqeFlags, Token, vtable,
};

const ECANCELED: i32 = -125;

thread_local! {
    /// Tokens of pending requests by key (the op flags' low 16 bits: the ops see the
    /// front end's tagged user_data, not the caller's).
    static TOKENS: RefCell<Vec<(u32, Token)>> = const { RefCell::new(Vec::new()) };
    /// Buffers handed out by `Dma`, by key.
    static HANDLES: RefCell<Vec<(u32, PendingIo)>> = const { RefCell::new(Vec::new()) };
}

fn token(key: u32) -> Token {
    TOKENS.with(|t| t.borrow().iter().rev().find(|(k, _)| *k == key).map(|x| x.1)).expect("token")
}

/// Goes pending until completed through its token; op flag bit 23: not cancellable
/// (pending in hardware), else cancellable (waiting for an event).
struct Wait;
const HW: u32 = 1 << 23;
impl Op for Wait {
    type Pdu = u32;
    fn prep(cx: &mut PrepCx<'_>, _: &Sqe) -> Result<u32, Errno> {
        Ok(cx.info().private_flags())
    }
    fn issue(cx: &mut IssueCx<'_>, f: &mut u32) -> Issue {
        let t = match if *f & HW != 0 { cx.pending() } else { cx.pending_cancelable() } {
            Ok(t) => t,
            Err(e) => return Issue::Err(e),
        };
        TOKENS.with(|v| v.borrow_mut().push((*f & 0xffff, t)));
        Issue::Pending
    }
}

/// Goes pending handing its destination (descriptor A) out as a `PendingIo`.
struct Dma;
impl Op for Dma {
    type Pdu = u32;
    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<u32, Errno> {
        cx.import(&BufDesc::sqe_a(sqe), Dir::Dest)?;
        Ok(cx.info().private_flags())
    }
    fn issue(cx: &mut IssueCx<'_>, key: &mut u32) -> Issue {
        match cx.pending_io() {
            Ok(io) => {
                HANDLES.with(|h| h.borrow_mut().push((*key, io)));
                Issue::Pending
            }
            Err(e) => Issue::Err(e),
        }
    }
}

const WAIT: u8 = 0;
const DMA: u8 = 1;
static OPS: [OpVTable; 2] = [vtable::<Wait>(WAIT), vtable::<Dma>(DMA)];

fn wait(key: u32) -> Sqe {
    Sqe::bpf(WAIT, key)
}

type R = Ring<8, 16, 4>;

fn ring() -> &'static mut R {
    let r: &'static mut R = Box::leak(Box::new(R::new()));
    r.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).unwrap();
    for op in &OPS {
        r.register_op(op).unwrap();
    }
    r
}

/// Poll `f` once with a waker that does nothing.
fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    let w = noop_waker();
    std::pin::Pin::new(f).poll(&mut Context::from_waker(&w))
}

/// Counts how often the wrapped future is polled.
async fn counted<F: Future>(polls: &Cell<u32>, f: F) -> F::Output {
    let mut f = pin!(f);
    std::future::poll_fn(|cx| {
        polls.set(polls.get() + 1);
        f.as_mut().poll(cx)
    })
    .await
}

#[test]
fn call_returns_the_cqe_with_the_callers_user_data() {
    let a = AsyncRing::new(ring());
    let c = block_on(a.call(Sqe::nop().user_data(41)));
    assert_eq!(c, Cqe::new(41, 0));
    let c = block_on(a.call(Sqe::nop_inject(-22).user_data(u64::MAX)));
    assert_eq!(c, Cqe::new(u64::MAX, -22));
    assert_eq!(a.in_flight(), 0);
}

/// C-LINK semantics through the front end: a failing member cancels the rest.
#[test]
fn chain_yields_every_members_cqe_and_a_failure_cancels_the_rest() {
    let a = AsyncRing::new(ring());
    let got = block_on(a.chain([
        Sqe::nop().user_data(1),
        Sqe::nop_inject(-5).user_data(2),
        Sqe::nop().user_data(3),
        Sqe::nop().user_data(4),
    ]));
    assert_eq!(got, [Cqe::new(1, 0), Cqe::new(2, -5), Cqe::new(3, ECANCELED), Cqe::new(4, ECANCELED)]);
    // Hard links go on after a failure; CQE_SKIP_SUCCESS is cleared (the CQE is awaited).
    let got = block_on(a.chain([
        Sqe::nop_inject(-5).user_data(1).flags(SqeFlags::IO_HARDLINK),
        Sqe::nop().user_data(2).flags(SqeFlags::CQE_SKIP_SUCCESS),
    ]));
    assert_eq!(got, [Cqe::new(1, -5), Cqe::new(2, 0)]);
}

/// Many tasks on one executor (futures' LocalPool), each awaiting a request completed
/// from another thread in an order of the test's choosing: each gets its own result.
#[test]
fn many_tasks_on_a_local_pool_each_get_their_own_completion() {
    let a: &'static AsyncRing<'static, 8, 16, 4> = Box::leak(Box::new(AsyncRing::new(ring())));
    let results = Rc::new(RefCell::new(Vec::new()));
    let mut pool = LocalPool::new();
    for k in 0..4u32 {
        let results = results.clone();
        pool.spawner()
            .spawn_local(async move {
                let c = a.call(wait(k).user_data(100 + k as u64)).await;
                results.borrow_mut().push(c);
            })
            .unwrap();
    }
    pool.run_until_stalled();
    assert_eq!(a.in_flight(), 4);
    let tokens: Vec<Token> = (0..4).map(token).collect();
    let completer = a.completer();
    std::thread::spawn(move || {
        for k in [2usize, 0, 3, 1] {
            completer.complete(tokens[k], 10 * k as i32).unwrap();
        }
    })
    .join()
    .unwrap();
    pool.run_until_stalled();
    // Which task runs first is the executor's business; each got its own result.
    results.borrow_mut().sort_by_key(|c| c.user_data);
    assert_eq!(*results.borrow(), [Cqe::new(100, 0), Cqe::new(101, 10), Cqe::new(102, 20), Cqe::new(103, 30)]);
    assert_eq!(a.in_flight(), 0);
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
}

/// The interrupt stand-in (a thread) completes while the task sleeps: the Completer
/// wakes it. The task is polled exactly twice — once to submit, once after the wake:
/// nobody polls in a loop.
#[test]
fn completer_wakes_the_awaiting_task_on_tokio_no_polling_loop() {
    let a: &'static AsyncRing<'static, 8, 16, 4> = Box::leak(Box::new(AsyncRing::new(ring())));
    let completer = a.completer();
    let local = tokio::task::LocalSet::new();
    let polls = Rc::new(Cell::new(0));
    let p = polls.clone();
    let c = local.block_on(&tokio_rt(), async move {
        let task = tokio::task::spawn_local(async move { counted(&p, a.call(wait(7).user_data(9))).await });
        tokio::task::yield_now().await;
        let t = token(7);
        let isr = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            completer.complete(t, 77).unwrap();
        });
        let c = tokio::time::timeout(Duration::from_secs(10), task).await.expect("woken").unwrap();
        isr.join().unwrap();
        c
    });
    assert_eq!(c, Cqe::new(9, 77));
    assert_eq!(polls.get(), 2);
}

/// Three tasks on tokio, completions racing from a thread: when one task's future
/// finishes, another takes over being woken by interrupts — no completion is missed.
#[test]
fn interrupt_wakes_reach_every_task_when_the_woken_one_finishes_first() {
    let a: &'static AsyncRing<'static, 8, 16, 4> = Box::leak(Box::new(AsyncRing::new(ring())));
    let completer = a.completer();
    let local = tokio::task::LocalSet::new();
    let got = local.block_on(&tokio_rt(), async move {
        let tasks: Vec<_> = (0..3u32)
            .map(|k| tokio::task::spawn_local(async move { a.call(wait(20 + k).user_data(k as u64)).await }))
            .collect();
        tokio::task::yield_now().await;
        let tokens: Vec<Token> = (20..23).map(token).collect();
        let isr = std::thread::spawn(move || {
            for t in tokens {
                std::thread::sleep(Duration::from_millis(5));
                completer.complete(t, 1).unwrap();
            }
        });
        let mut got = Vec::new();
        for t in tasks {
            got.push(tokio::time::timeout(Duration::from_secs(10), t).await.expect("woken").unwrap());
        }
        isr.join().unwrap();
        got
    });
    assert_eq!(got, [Cqe::new(0, 1), Cqe::new(1, 1), Cqe::new(2, 1)]);
}

/// With all 4 waiters (= in-flight slots) taken, a fifth call waits — it does not fail
/// and does not submit — and goes in when a request ends.
#[test]
fn full_waiter_table_makes_the_caller_wait_for_room() {
    let a = AsyncRing::new(ring());
    let mut calls: Vec<_> = (0..4).map(|k| Box::pin(a.call(wait(30 + k).user_data(k as u64)))).collect();
    for c in &mut calls {
        assert!(poll_once(c).is_pending());
    }
    let mut fifth = Box::pin(a.call(Sqe::nop().user_data(5)));
    assert!(poll_once(&mut fifth).is_pending());
    assert_eq!(a.in_flight(), 4);
    a.completer().complete(token(31), 3).unwrap();
    // The waiter of request 1 holds its CQE until its future collects it.
    assert!(poll_once(&mut fifth).is_pending());
    assert_eq!(poll_once(&mut calls[1]), Poll::Ready(Cqe::new(1, 3)));
    assert_eq!(poll_once(&mut fifth), Poll::Ready(Cqe::new(5, 0)));
    assert_eq!(a.in_flight(), 3);
}

/// C-CQ backpressure as waiting: plain CQEs fill both the plain queue (4, the CQ's
/// size) and the CQ, so the ring stops; the awaited NOP's SQE stays queued, goes in
/// when the plain reaper frees room, and its CQE comes after the plain ones (CQ order).
#[test]
fn backpressure_makes_the_call_wait_until_plain_cqes_are_reaped() {
    let r: &'static mut Ring<4, 4, 8> = Box::leak(Box::new(Ring::new()));
    r.setup(Setup::new(4).cq_entries(4)).unwrap();
    let a = AsyncRing::new(r);
    for ud in 1..=8 {
        a.push(Sqe::nop().user_data(ud)).unwrap();
        if ud % 4 == 0 {
            assert_eq!(a.submit().taken, 4);
        }
    }
    let mut call = Box::pin(a.call(Sqe::nop().user_data(99)));
    assert!(poll_once(&mut call).is_pending());
    assert_eq!(a.with_submitter(|s| (s.sq().len(), s.sq_flags())), (1, fwring::SqRingFlags::CQ_OVERFLOW));
    for ud in 1..=4 {
        assert!(poll_once(&mut call).is_pending());
        assert_eq!(a.pop(), Some(Cqe::new(ud, 0)));
    }
    assert_eq!(poll_once(&mut call), Poll::Ready(Cqe::new(99, 0)));
    let rest: Vec<_> = std::iter::from_fn(|| a.pop()).collect();
    assert_eq!(rest, (5..=8).map(|ud| Cqe::new(ud, 0)).collect::<Vec<_>>());
}

/// A full SQ (plain SQEs not submitted yet) does not fail the call: it drives the ring,
/// which drains the SQ, and then goes in — after the plain SQEs, in SQ order.
#[test]
fn full_sq_is_drained_before_the_call_goes_in() {
    let a = AsyncRing::new(ring());
    for ud in 1..=8 {
        a.push(Sqe::nop().user_data(ud)).unwrap();
    }
    assert_eq!(a.push(Sqe::nop()), Err(Sqe::nop()));
    let mut call = Box::pin(a.call(Sqe::nop().user_data(50)));
    // Polling drives the ring: the plain SQEs go in, then the call's.
    assert_eq!(poll_once(&mut call), Poll::Ready(Cqe::new(50, 0)));
    let plain: Vec<_> = std::iter::from_fn(|| a.pop()).collect();
    assert_eq!(plain, (1..=8).map(|ud| Cqe::new(ud, 0)).collect::<Vec<_>>());
}

/// Plain-API requests share the ring: their CQEs come out of `pop`/`next_cqe`, never
/// out of a future; tagged user_data is refused on the plain path.
#[test]
fn plain_and_awaited_requests_share_one_ring() {
    let a = AsyncRing::new(ring());
    a.push(Sqe::nop().user_data(7)).unwrap();
    a.push(wait(60).user_data(8)).unwrap();
    let _ = a.submit();
    assert_eq!(block_on(a.call(Sqe::nop_inject(3).user_data(9))), Cqe::new(9, 3));
    assert_eq!(a.pop(), Some(Cqe::new(7, 0)));
    assert_eq!(a.pop(), None);
    a.completer().complete(token(60), 6).unwrap();
    assert_eq!(block_on(a.next_cqe()), Cqe::new(8, 6));
    let tagged = Sqe::nop().user_data(USER_DATA_TAG | 1);
    assert_eq!(a.push(tagged), Err(tagged));
}

/// Drop of a future whose request is pending cancellably: ASYNC_CANCEL ends it at once
/// (C-CANCEL: target -ECANCELED); both CQEs are discarded, the waiter and the in-flight
/// slot are free, and the device's late completion is refused as stale.
#[test]
fn dropping_a_call_cancels_a_cancelable_request() {
    let a = AsyncRing::new(ring());
    let mut call = Box::pin(a.call(wait(70).user_data(1)));
    assert!(poll_once(&mut call).is_pending());
    assert_eq!(a.in_flight(), 1);
    drop(call);
    assert_eq!(a.in_flight(), 0);
    assert_eq!(a.pop(), None);
    assert_eq!(a.completer().complete(token(70), 0), Err(CompleteError::Stale));
    // All 4 waiters are usable again.
    let got = block_on(a.chain([Sqe::nop(), Sqe::nop(), Sqe::nop(), Sqe::nop().user_data(4)]));
    assert_eq!(got[3], Cqe::new(4, 0));
}

/// Drop of a future whose request is pending in hardware with a DMA buffer: the cancel
/// answers -EALREADY, the request runs on and keeps its buffer (the application cannot
/// take it back: EBUSY) until the device completes it; then its CQE is discarded and
/// the buffer — with the device's bytes — is the application's again.
#[test]
fn dropping_a_call_detaches_a_dma_request_and_keeps_its_buffer_owned() {
    let mem: &'static mut [u8] = Box::leak(vec![0u8; 64].into_boxed_slice());
    let addr = mem.as_ptr() as u64;
    let a = AsyncRing::new(ring());
    a.with_submitter(|s| s.register_buffers([Region::new(mem)]).map_err(|e| e.errno)).unwrap();
    let mut sqe = Sqe::bpf(DMA, 80).user_data(1);
    BufDesc::user(addr, 16).put_a(&mut sqe);
    let mut call = Box::pin(a.call(sqe));
    assert!(poll_once(&mut call).is_pending());
    drop(call);
    assert_eq!(a.in_flight(), 1);
    assert_eq!(a.with_submitter(|s| s.buffer_mut(0).map(drop)), Err(Errno::EBUSY));
    // The waiter stays taken: 3 of 4 free.
    let mut four = Box::pin(a.chain([wait(81), wait(82), wait(83), wait(84)]));
    assert!(poll_once(&mut four).is_pending());
    assert_eq!(a.in_flight(), 1);
    // The device finishes: writes its bytes, completes.
    let (_, mut io) = HANDLES.with(|h| h.borrow_mut().pop()).unwrap();
    io.io().dest(0).unwrap().slices_mut()[0].fill(0xab);
    io.complete(&a.completer(), 16).unwrap();
    assert_eq!(a.poll(), 1);
    assert_eq!(a.pop(), None);
    assert_eq!(a.with_submitter(|s| s.buffer_mut(0).map(|b| b[..17].to_vec())).unwrap()[15..], [0xab, 0]);
    drop(four);
    assert_eq!(a.in_flight(), 0);
}

/// Dropping an unfinished chain cancels the member in flight; the rest of the chain is
/// cancelled with it (C-LINK), and nothing reaches the plain reaper.
#[test]
fn dropping_a_chain_cancels_its_members() {
    let a = AsyncRing::new(ring());
    let mut chain = Box::pin(a.chain([wait(90), Sqe::nop(), wait(91)]));
    assert!(poll_once(&mut chain).is_pending());
    assert_eq!(a.in_flight(), 3);
    drop(chain);
    assert_eq!(a.in_flight(), 0);
    assert_eq!(a.pop(), None);
}

/// C-TIME-3 through the front end: the link timeout fires first, the request ends
/// -ECANCELED; C-TIME-4: the request completes first and the timer is gone.
#[test]
fn call_with_timeout_cancels_at_the_deadline_or_disarms_on_completion() {
    let a = AsyncRing::new(ring());
    let mut call = Box::pin(a.call_with_timeout(wait(100).user_data(1), 1_000));
    assert!(poll_once(&mut call).is_pending());
    assert_eq!(a.next_deadline(), Some(1_000));
    a.tick(999);
    assert!(poll_once(&mut call).is_pending());
    a.tick(1_000);
    assert_eq!(poll_once(&mut call), Poll::Ready(Cqe::new(1, ECANCELED)));

    let mut call = Box::pin(a.call_with_timeout(wait(101).user_data(2), 1_000));
    assert!(poll_once(&mut call).is_pending());
    assert_eq!(a.next_deadline(), Some(2_000));
    a.completer().complete(token(101), 5).unwrap();
    assert_eq!(poll_once(&mut call), Poll::Ready(Cqe::new(2, 5)));
    assert_eq!(a.next_deadline(), None);
    assert_eq!(a.in_flight(), 0);
}

/// A timer task on tokio feeds the ring's clock from tokio's timer, sleeping to the
/// next deadline and woken early by `deadline_changed`: a 5 ms link timeout ends a
/// request nobody completes.
#[test]
fn tokio_timer_task_feeds_tick_and_the_timeout_fires() {
    let a: &'static AsyncRing<'static, 8, 16, 4> = Box::leak(Box::new(AsyncRing::new(ring())));
    let local = tokio::task::LocalSet::new();
    let c = local.block_on(&tokio_rt(), async move {
        let start = tokio::time::Instant::now();
        let now = move || start.elapsed().as_nanos() as u64;
        tokio::task::spawn_local(async move {
            loop {
                let deadline = a.next_deadline();
                let sleep = async {
                    match deadline {
                        Some(d) => tokio::time::sleep(Duration::from_nanos(d.saturating_sub(now()))).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = sleep => {}
                    _ = a.deadline_changed(deadline) => {}
                }
                a.tick(now());
            }
        });
        let call = a.call_with_timeout(wait(110).user_data(3), 5_000_000);
        tokio::time::timeout(Duration::from_secs(10), call).await.expect("timed out by the ring")
    });
    assert_eq!(c, Cqe::new(3, ECANCELED));
}

/// A task awaiting a plain CQE registers for interrupt wakes too; when it gets its CQE
/// and ends, the task still awaiting a request takes over, and the interrupt reaches it.
#[test]
fn plain_reaper_hands_interrupt_wakes_over_when_it_ends() {
    let a: &'static AsyncRing<'static, 8, 16, 4> = Box::leak(Box::new(AsyncRing::new(ring())));
    let completer = a.completer();
    let local = tokio::task::LocalSet::new();
    let (plain, awaited) = local.block_on(&tokio_rt(), async move {
        let b = tokio::task::spawn_local(async move { a.call(wait(120).user_data(2)).await });
        tokio::task::yield_now().await;
        let r = tokio::task::spawn_local(async move { a.next_cqe().await });
        tokio::task::yield_now().await;
        a.push(Sqe::nop().user_data(1)).unwrap();
        let _ = a.submit();
        let plain = tokio::time::timeout(Duration::from_secs(10), r).await.expect("plain CQE").unwrap();
        let t = token(120);
        let isr = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            completer.complete(t, 12).unwrap();
        });
        let awaited = tokio::time::timeout(Duration::from_secs(10), b).await.expect("woken").unwrap();
        isr.join().unwrap();
        (plain, awaited)
    });
    assert_eq!((plain, awaited), (Cqe::new(1, 0), Cqe::new(2, 12)));
}

/// `chain_each` yields each member's CQE as it arrives, in chain order, before the
/// chain has ended; dropping it then cancels only the members still in flight (the
/// waiters it handed back may already serve other futures).
#[test]
fn chain_each_yields_members_as_they_complete_and_drop_cancels_the_rest() {
    let a = AsyncRing::new(ring());
    let mut each = a.chain_each([wait(130).user_data(1), wait(131).user_data(2), Sqe::nop().user_data(3)]);
    assert!(poll_once(&mut Box::pin(each.next())).is_pending());
    assert_eq!(a.in_flight(), 3);
    a.completer().complete(token(130), 10).unwrap();
    assert_eq!(poll_once(&mut Box::pin(each.next())), Poll::Ready(Some(Cqe::new(1, 10))));
    assert!(poll_once(&mut Box::pin(each.next())).is_pending());
    // The first member's waiter is free again: another call takes it and is in flight.
    let mut other = Box::pin(a.call(wait(132).user_data(9)));
    assert!(poll_once(&mut other).is_pending());
    drop(each);
    // Members 2 and 3 cancelled (C-LINK: 3 with 2), discarded; `other` untouched.
    assert_eq!(a.in_flight(), 1);
    a.completer().complete(token(132), 5).unwrap();
    assert_eq!(poll_once(&mut other), Poll::Ready(Cqe::new(9, 5)));
    assert_eq!(a.pop(), None);

    let mut each = a.chain_each([Sqe::nop().user_data(4), Sqe::nop_inject(-5).user_data(5)]);
    let got: Vec<_> = std::iter::from_fn(|| block_on(each.next())).collect();
    assert_eq!(got, [Cqe::new(4, 0), Cqe::new(5, -5)]);
}
