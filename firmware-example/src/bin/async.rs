//! `fw-async`: fwring's async front end under embassy on the Cortex-M4 (mps2-an386).
//!
//! embassy's thread-mode executor runs the tasks; they `.await` ring requests of the
//! simulated device ([`device`]), which its interrupt handler (SysTick) completes
//! through the ring's `Completer` — and that completion wakes the executor (the
//! `Completer`'s `AtomicWaker` → embassy's waker → `SEV`, out of `WFE`). Nothing polls
//! in a loop. A timer task feeds the ring's clock from the device's interrupt count
//! (`next_deadline` / `deadline_changed` / `tick`), so TIMEOUTs fire on the board too.
//! The tests print `ok`/`FAIL` lines and the `N passed, N failed` line the xtask counts.
//!
//! embassy rather than RTIC 2: the front end is executor-agnostic, and embassy's
//! thread-mode executor is the common choice; RTIC 2's software tasks would work the
//! same way (they are plain futures too).
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};

use embassy_executor::Spawner;
use embassy_futures::select::{Either, select};
use embassy_futures::yield_now;
use fwring::asynch::AsyncRing;
use fwring::{BufDesc, Cqe, Sqe, TimeoutFlags};
use fwring_firmware::fixture::{self, ARGS, CQ, N, SQ, buf, slot};
use fwring_firmware::{board, device, log_error, log_info, log_line};
use static_cell::StaticCell;

type Async = AsyncRing<'static, SQ, CQ, N, ARGS>;

static ASYNC: StaticCell<Async> = StaticCell::new();
static PASSED: AtomicU32 = AtomicU32::new(0);
static FAILED: AtomicU32 = AtomicU32::new(0);

/// A device request completing with `res` at tick `due` after the doorbell.
fn dev(user_data: u64, due: u32, res: i32) -> Sqe {
    Sqe::bpf(slot::DEVICE, 0).user_data(user_data).off(res as i64 as u64).len(due)
}

fn check(name: &str, ok: bool) {
    if ok {
        PASSED.fetch_add(1, Ordering::Relaxed);
        log_info!("ok   {}", name);
    } else {
        FAILED.fetch_add(1, Ordering::Relaxed);
        log_error!("FAIL {}", name);
    }
}

/// A worker: three device requests in turn, each awaited; reports whether every CQE
/// was its own through a plain-API NOP (user_data = worker, result 1 = all right).
#[embassy_executor::task(pool_size = 3)]
async fn worker(ring: &'static Async, k: u32) {
    let mut ok = true;
    for i in 0..3u32 {
        let ud = 100 * k as u64 + i as u64;
        let res = (10 * k + i) as i32;
        // Later workers' first requests are due sooner: completions interleave.
        let c = ring.call(dev(ud, 3 - k.min(2) + i, res)).await;
        ok &= c == Cqe::new(ud, res);
    }
    let _ = ring.push(Sqe::nop_inject(ok as i32).user_data(k as u64));
    let _ = ring.submit();
}

/// Three tasks await device requests completed from the interrupt, interleaved; each
/// gets its own CQEs, and the main task gets their reports as plain CQEs.
async fn tasks_await_device_completions(spawner: Spawner, ring: &'static Async) -> bool {
    for k in 0..3 {
        if spawner.spawn(worker(ring, k)).is_err() {
            return false;
        }
    }
    let mut seen = [false; 3];
    for _ in 0..3 {
        let c = ring.next_cqe().await;
        match seen.get_mut(c.user_data as usize) {
            Some(s) if c.res == 1 => *s = true,
            _ => return false,
        }
    }
    seen == [true; 3] && ring.in_flight() == 0
}

/// A link chain of device requests: the second issues only after the interrupt
/// completed the first; one CQE each, in chain order.
async fn chain_of_device_requests_in_order(ring: &'static Async) -> bool {
    let got = ring.chain([dev(1, 2, 11), dev(2, 1, 22)]).await;
    got == [Cqe::new(1, 11), Cqe::new(2, 22)]
}

/// An awaited DMA request: the interrupt writes the buffer in place and completes.
async fn awaited_dma_request_gets_the_device_bytes(ring: &'static Async) -> bool {
    let Some(addr) = ring.with_submitter(|s| s.buffers().get(buf::SCRATCH).map(|r| r.addr())) else { return false };
    let mut sqe = dev(3, 1, 0);
    BufDesc::user(addr, 32).put_b(&mut sqe);
    let c = ring.call(sqe).await;
    let bytes_ok = ring.with_submitter(|s| {
        s.buffer_mut(buf::SCRATCH).is_ok_and(|b| b.iter().take(32).enumerate().all(|(i, &x)| x == device::dma_byte(i)))
    });
    c == Cqe::new(3, 32) && bytes_ok
}

/// A dropped call whose request the device owns: ASYNC_CANCEL says -EALREADY, the
/// request stays in flight (its buffer the device's) until the interrupt completes it,
/// and its CQE is discarded — nobody reaps it.
async fn dropped_call_is_detached_until_the_device_ends_it(ring: &'static Async) -> bool {
    // Due 20 ticks from now (the doorbell rang at start: the device counts from there):
    // it cannot complete before the drop.
    let now = device::stats().ticks;
    let dropped = select(ring.call(dev(4, now + 20, 44)), async {
        yield_now().await;
    })
    .await;
    let detached = matches!(dropped, Either::Second(())) && ring.in_flight() == 1;
    // A later request: by its completion the dropped one (a tick earlier) has ended.
    let later = ring.call(dev(5, now + 21, 55)).await;
    detached && later == Cqe::new(5, 55) && ring.in_flight() == 0 && ring.pop().is_none()
}

/// The timer task: feeds the ring's clock (the device's 1 ms interrupt count, in ns).
/// While a timer is armed it sleeps one tick — a device request due at the next
/// interrupt is its alarm — or until a new deadline is armed; then `tick`s.
#[embassy_executor::task]
async fn timer(ring: &'static Async) {
    loop {
        let deadline = ring.next_deadline();
        if deadline.is_some() {
            let _ = select(ring.call(dev(0xfeed, 1, 0)), ring.deadline_changed(deadline)).await;
        } else {
            let _ = ring.deadline_changed(None).await;
        }
        ring.tick(device::stats().ticks as u64 * 1_000_000);
    }
}

/// C-TIME-1 on the board: an awaited 3 ms TIMEOUT ends -ETIME once the timer task has
/// fed the ring 3 ms of the device clock, not before.
async fn awaited_timeout_fires_from_the_timer_task(spawner: Spawner, ring: &'static Async) -> bool {
    let start = device::stats().ticks;
    ring.tick(start as u64 * 1_000_000);
    if spawner.spawn(timer(ring)).is_err() {
        return false;
    }
    let t = Sqe::timeout(3_000_000, 0, TimeoutFlags::empty());
    let c = ring.call(t.user_data(6)).await;
    let elapsed = device::stats().ticks.wrapping_sub(start);
    c == Cqe::new(6, -62) && elapsed >= 3
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    log_info!("fwring async front end under embassy on {}", board::NAME);
    let ring = match fixture::init() {
        Ok(r) => r,
        Err(e) => {
            log_error!("fixture: {}", e.step);
            board::exit(false)
        }
    };
    let ring: &'static Async = ASYNC.init(AsyncRing::new(ring));
    device::attach(ring.completer());
    board::start_tick();
    device::ring_doorbell(device::Mode::Timed);

    check("tasks_await_device_completions", tasks_await_device_completions(spawner, ring).await);
    check("chain_of_device_requests_in_order", chain_of_device_requests_in_order(ring).await);
    check("awaited_dma_request_gets_the_device_bytes", awaited_dma_request_gets_the_device_bytes(ring).await);
    check(
        "dropped_call_is_detached_until_the_device_ends_it",
        dropped_call_is_detached_until_the_device_ends_it(ring).await,
    );
    // Last: the timer task keeps a device request in flight from here on.
    check("awaited_timeout_fires_from_the_timer_task", awaited_timeout_fires_from_the_timer_task(spawner, ring).await);

    let d = device::stats();
    log_info!("device: {} interrupts, {} completions from them", d.ticks, d.completed);
    let (p, f) = (PASSED.load(Ordering::Relaxed), FAILED.load(Ordering::Relaxed));
    log_line!("{} passed, {} failed", p, f);
    board::exit(f == 0)
}
