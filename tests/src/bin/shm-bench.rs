//! Round trips through the shared-memory queue pair (`fwring::shm`), beside the same
//! round trip over `heapless::spsc` and crossbeam's `ArrayQueue`.
//!
//! In every workload a host pushes batches of 32 NOP SQEs and reaps their CQEs, and a
//! device runs a `fwring::Ring<64, 128, 64>` (the NOP benchmark's ring): take SQEs from
//! the transport into the ring, `submit`, move CQEs from the ring back. Only the
//! transport differs:
//!
//! - `shm`: a `QueuePair<64, 128>` — `HostEnd::push`/`reap`, `DeviceEnd::feed`/`flush`;
//! - `heapless`: two `heapless::spsc` queues, 64-byte SQEs one way (63 slots), 16-byte
//!   CQEs back (127 slots);
//! - `crossbeam`: two `crossbeam_queue::ArrayQueue`s of 64 and 128 slots.
//!
//! Modes:
//!
//! - `shm-bench time [seconds]`: host and device on two threads, each workload for about
//!   `seconds` (default 1), interleaved over 5 rounds; prints requests/s (median).
//! - `shm-bench run <shm|heapless|crossbeam> <batches> [threads]`: one workload for
//!   `batches` × 32 requests, by default in one thread (push a batch, one device step,
//!   reap), which is deterministic: run it under `valgrind --tool=callgrind` at N and 2N
//!   and divide the difference by 32·N for instructions per request. `threads` = 2 runs
//!   it across two threads instead (spin-waits then count too).

use std::hint::{black_box, spin_loop};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use fwring::shm::{DeviceEnd, HostEnd, QueuePair};
use fwring::{Cqe, Sqe};
use fwring_tests::bench::{BATCH, BenchRing, nops};

const NAMES: [&str; 3] = ["shm", "heapless", "crossbeam"];

/// The host's end of a transport.
trait HostSide {
    /// Send as many of `sqes` as fit; returns how many.
    fn push(&mut self, sqes: &[Sqe]) -> usize;
    /// Receive up to `out.len()` CQEs; returns how many.
    fn reap(&mut self, out: &mut [Cqe]) -> usize;
}

/// The device's end of a transport.
trait DeviceSide {
    /// One device-loop turn: SQEs from the transport into `ring`, submit, CQEs back.
    /// Returns how many entries moved (0 = idle).
    fn step(&mut self, ring: &mut BenchRing) -> u32;
}

type Qp = QueuePair<64, 128>;

impl HostSide for HostEnd<'_, 64, 128> {
    #[inline(never)]
    fn push(&mut self, sqes: &[Sqe]) -> usize {
        HostEnd::push(self, sqes).expect("honest device")
    }

    #[inline(never)]
    fn reap(&mut self, out: &mut [Cqe]) -> usize {
        HostEnd::reap(self, out).expect("honest device")
    }
}

impl DeviceSide for DeviceEnd<'_, 64, 128> {
    #[inline(never)]
    fn step(&mut self, ring: &mut BenchRing) -> u32 {
        let fed = self.feed(ring).expect("honest host");
        let _ = black_box(ring.submit());
        fed + self.flush(ring).expect("honest host")
    }
}

struct SpscHost<'a> {
    sq: heapless::spsc::Producer<'a, Sqe>,
    cq: heapless::spsc::Consumer<'a, Cqe>,
}

/// Push SQEs one by one until `push` refuses one; how many went in.
#[inline(always)]
fn push_while(sqes: &[Sqe], mut push: impl FnMut(Sqe) -> bool) -> usize {
    sqes.iter().take_while(|s| push(**s)).count()
}

/// Fill `out` from `pop` until it runs dry; how many came out.
#[inline(always)]
fn fill_while(out: &mut [Cqe], mut pop: impl FnMut() -> Option<Cqe>) -> usize {
    let mut n = 0;
    for slot in out {
        let Some(c) = pop() else { break };
        *slot = c;
        n += 1;
    }
    n
}

struct SpscDevice<'a> {
    sq: heapless::spsc::Consumer<'a, Sqe>,
    cq: heapless::spsc::Producer<'a, Cqe>,
}

impl HostSide for SpscHost<'_> {
    #[inline(never)]
    fn push(&mut self, sqes: &[Sqe]) -> usize {
        push_while(sqes, |s| self.sq.enqueue(s).is_ok())
    }

    #[inline(never)]
    fn reap(&mut self, out: &mut [Cqe]) -> usize {
        fill_while(out, || self.cq.dequeue())
    }
}

impl DeviceSide for SpscDevice<'_> {
    #[inline(never)]
    fn step(&mut self, ring: &mut BenchRing) -> u32 {
        let mut moved = 0;
        while ring.sq().space() > 0 {
            let Some(s) = self.sq.dequeue() else { break };
            let _ = ring.push(s);
            moved += 1;
        }
        let _ = black_box(ring.submit());
        // Pop from the ring only when the queue has a slot: no CQE is lost.
        while self.cq.ready() {
            let Some(c) = ring.pop() else { break };
            let _ = self.cq.enqueue(c);
            moved += 1;
        }
        moved
    }
}

struct CrossbeamEnd {
    sq: Arc<ArrayQueue<Sqe>>,
    cq: Arc<ArrayQueue<Cqe>>,
}

impl HostSide for CrossbeamEnd {
    #[inline(never)]
    fn push(&mut self, sqes: &[Sqe]) -> usize {
        push_while(sqes, |s| self.sq.push(s).is_ok())
    }

    #[inline(never)]
    fn reap(&mut self, out: &mut [Cqe]) -> usize {
        fill_while(out, || self.cq.pop())
    }
}

impl DeviceSide for CrossbeamEnd {
    #[inline(never)]
    fn step(&mut self, ring: &mut BenchRing) -> u32 {
        let mut moved = 0;
        while ring.sq().space() > 0 {
            let Some(s) = self.sq.pop() else { break };
            let _ = ring.push(s);
            moved += 1;
        }
        let _ = black_box(ring.submit());
        // The device is the CQ's only producer: a slot free now stays free.
        while !self.cq.is_full() {
            let Some(c) = ring.pop() else { break };
            let _ = self.cq.push(c);
            moved += 1;
        }
        moved
    }
}

/// Wait a little after `idle` fruitless turns in a row: spin, and after 64 of them let
/// the other thread have the core (on a machine busy with other work the two threads may
/// share one core; pure spinning would then measure the scheduler's time slice).
#[inline(always)]
fn idle_wait(idle: &mut u32) {
    *idle += 1;
    if *idle < 64 {
        spin_loop();
    } else {
        *idle = 0;
        std::thread::yield_now();
    }
}

/// Fold a CQE into the checksum (so nothing is optimised away).
#[inline(always)]
fn fold(sum: u64, c: &Cqe) -> u64 {
    sum.wrapping_add(c.user_data ^ c.res as u64)
}

/// `batches` × 32 requests, host and device interleaved in this thread.
fn one_thread(host: &mut impl HostSide, dev: &mut impl DeviceSide, batches: u64) -> u64 {
    let sqes = nops();
    let mut ring = Box::new(BenchRing::new());
    let mut out = [Cqe::default(); 2 * BATCH];
    let mut sum = 0;
    for _ in 0..batches {
        let pushed = host.push(black_box(&sqes));
        assert_eq!(pushed, BATCH, "an empty transport takes a whole batch");
        dev.step(&mut ring);
        let n = host.reap(&mut out);
        assert_eq!(n, BATCH, "one step answers the whole batch");
        for c in &out[..n] {
            sum = fold(sum, c);
        }
    }
    sum
}

/// `batches` × 32 requests with the device on its own thread; returns the checksum and
/// the host's wall time.
fn two_threads<H: HostSide, D: DeviceSide + Send>(host: &mut H, mut dev: D, batches: u64) -> (u64, Duration) {
    let sqes = nops();
    let total = batches * BATCH as u64;
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let stop = &stop;
        s.spawn(move || {
            let mut ring = Box::new(BenchRing::new());
            // Acquire: pairs with the host's release store once everything is reaped.
            let mut idle = 0;
            while !stop.load(Ordering::Acquire) {
                if dev.step(&mut ring) == 0 {
                    idle_wait(&mut idle);
                } else {
                    idle = 0;
                }
            }
        });
        let start = Instant::now();
        let mut out = [Cqe::default(); 2 * BATCH];
        let (mut sent, mut got, mut off, mut sum, mut idle) = (0u64, 0u64, 0usize, 0u64, 0u32);
        while got < total {
            let mut progress = false;
            if sent < total {
                let n = host.push(black_box(&sqes[off..]));
                off += n;
                if off == BATCH {
                    off = 0;
                    sent += BATCH as u64;
                }
                progress |= n > 0;
            }
            let n = host.reap(&mut out);
            for c in &out[..n] {
                sum = fold(sum, c);
            }
            got += n as u64;
            if n == 0 && !progress {
                idle_wait(&mut idle);
            } else {
                idle = 0;
            }
        }
        let el = start.elapsed();
        // Release: everything the device produced has been reaped; it may stop.
        stop.store(true, Ordering::Release);
        (sum, el)
    })
}

/// Run workload `name` for `batches` batches, in one thread or two; returns the
/// checksum and the elapsed time.
fn run(name: &str, batches: u64, threaded: bool) -> Result<(u64, Duration), String> {
    let start = Instant::now();
    let timed = |r: u64| (r, start.elapsed());
    Ok(match name {
        "shm" => {
            let qp: Box<Qp> = Box::new(QueuePair::new());
            let (mut host, mut dev) = (HostEnd::new(&qp), DeviceEnd::new(&qp));
            if threaded {
                two_threads(&mut host, dev, batches)
            } else {
                timed(one_thread(&mut host, &mut dev, batches))
            }
        }
        "heapless" => {
            let mut sq: Box<heapless::spsc::Queue<Sqe, 64>> = Box::new(heapless::spsc::Queue::new());
            let mut cq: Box<heapless::spsc::Queue<Cqe, 128>> = Box::new(heapless::spsc::Queue::new());
            let (sq_p, sq_c) = sq.split();
            let (cq_p, cq_c) = cq.split();
            let mut host = SpscHost { sq: sq_p, cq: cq_c };
            let mut dev = SpscDevice { sq: sq_c, cq: cq_p };
            if threaded {
                two_threads(&mut host, dev, batches)
            } else {
                timed(one_thread(&mut host, &mut dev, batches))
            }
        }
        "crossbeam" => {
            let (sq, cq) = (Arc::new(ArrayQueue::new(64)), Arc::new(ArrayQueue::new(128)));
            let mut host = CrossbeamEnd { sq: sq.clone(), cq: cq.clone() };
            let mut dev = CrossbeamEnd { sq, cq };
            if threaded {
                two_threads(&mut host, dev, batches)
            } else {
                timed(one_thread(&mut host, &mut dev, batches))
            }
        }
        _ => return Err(format!("unknown workload '{name}' (one of {})", NAMES.join(", "))),
    })
}

/// Requests per second of `name` across two threads, one round of about `budget`.
fn time_round(name: &str, budget: Duration) -> Result<f64, String> {
    let mut batches = 1024u64;
    loop {
        let (sum, el) = run(name, batches, true)?;
        black_box(sum);
        if el >= budget || batches > 1 << 32 {
            return Ok((batches * BATCH as u64) as f64 / el.as_secs_f64());
        }
        let grow = (budget.as_secs_f64() / el.as_secs_f64().max(1e-6)).clamp(2.0, 16.0);
        batches = (batches as f64 * grow) as u64;
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["run", name, batches, rest @ ..] => {
            let Ok(batches) = batches.parse::<u64>() else {
                eprintln!("shm-bench: bad batch count '{batches}'");
                return ExitCode::from(2);
            };
            let threaded = match rest {
                [] | ["1"] => false,
                ["2"] => true,
                _ => {
                    eprintln!("shm-bench: threads must be 1 or 2");
                    return ExitCode::from(2);
                }
            };
            match run(name, batches, threaded) {
                Ok((sum, el)) => {
                    let reqs = batches * BATCH as u64;
                    println!("{name} {reqs} requests checksum {sum} {:.0} req/s", reqs as f64 / el.as_secs_f64());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("shm-bench: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        ["time", rest @ ..] => {
            let secs: f64 = rest.first().and_then(|s| s.parse().ok()).unwrap_or(1.0);
            let budget = Duration::from_secs_f64(secs);
            let mut samples: Vec<Vec<f64>> = vec![Vec::new(); NAMES.len()];
            for _ in 0..5 {
                for (i, name) in NAMES.iter().enumerate() {
                    match time_round(name, budget) {
                        Ok(r) => samples[i].push(r),
                        Err(e) => {
                            eprintln!("shm-bench: {e}");
                            return ExitCode::FAILURE;
                        }
                    }
                }
            }
            println!("cross-thread round trip, batches of {BATCH} NOPs, device runs a Ring<64, 128, 64>:");
            for (name, mut s) in NAMES.iter().zip(samples) {
                s.sort_by(f64::total_cmp);
                let (lo, med, hi) = (s[0], s[s.len() / 2], s[s.len() - 1]);
                println!("{name:>10} {:>6.2} M req/s  (min {:.2}, max {:.2})", med / 1e6, lo / 1e6, hi / 1e6);
            }
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: shm-bench time [seconds] | shm-bench run <shm|heapless|crossbeam> <batches> [1|2]");
            ExitCode::from(2)
        }
    }
}
