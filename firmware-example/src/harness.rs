//! The on-target test runner: runs tests one after the other, checks after each that
//! it left nothing behind (no request in flight, no CQE unreaped — a lost or extra CQE
//! is a failure), and ends with the line the host parses, `N passed, N failed`.

use core::panic::Location;

use fwring::{Completer, Cqe, Reaper, Stop, Submitted, Submitter};

use crate::board;
use crate::device;
use crate::fixture::{ARGS, CQ, FwRing, N, SQ};

/// Where a check failed (the test's line, through `#[track_caller]`).
#[derive(Clone, Copy, Debug)]
pub struct Failure {
    file: &'static str,
    line: u32,
}

impl Failure {
    /// A failure at the caller's location.
    #[track_caller]
    pub fn here() -> Self {
        let l = Location::caller();
        Failure { file: l.file(), line: l.line() }
    }
}

/// What a test returns.
pub type Outcome = Result<(), Failure>;

/// Values the checks compare and print (as `i64`, which both log backends format).
pub trait Value: Copy + PartialEq {
    /// The value widened for printing.
    fn wide(self) -> i64;
}

macro_rules! value {
    ($($t:ty),*) => { $(impl Value for $t { fn wide(self) -> i64 { self as i64 } })* };
}
value!(u8, u16, u32, u64, i32, usize, bool);

/// `got == want`, else log both and fail.
#[track_caller]
pub fn eq<T: Value>(what: &'static str, got: T, want: T) -> Outcome {
    if got == want {
        return Ok(());
    }
    log_error!("  {}: got {}, want {}", what, got.wide(), want.wide());
    Err(Failure::here())
}

/// `cond`, else log `what` and fail.
#[track_caller]
pub fn ensure(what: &'static str, cond: bool) -> Outcome {
    if cond {
        return Ok(());
    }
    log_error!("  not true: {}", what);
    Err(Failure::here())
}

/// A `submit` result equals `(taken, stop)`.
#[track_caller]
pub fn submitted(got: Submitted, taken: u32, stop: Stop) -> Outcome {
    eq("submit: taken", got.taken, taken)?;
    eq("submit: stopped by backpressure", got.stop == Stop::Backpressure, stop == Stop::Backpressure)?;
    eq("submit: stopped by a failed SQE", got.stop == Stop::Failed, stop == Stop::Failed)
}

/// Where CQEs are reaped from: the ring itself, or a split ring's [`Reaper`].
pub trait Reap {
    /// The oldest CQE.
    fn reap(&mut self) -> Option<Cqe>;
}

impl Reap for FwRing {
    fn reap(&mut self) -> Option<Cqe> {
        self.pop()
    }
}

impl Reap for Reaper<'_, CQ> {
    fn reap(&mut self) -> Option<Cqe> {
        self.pop()
    }
}

/// Reap exactly the CQEs `want` — `(user_data, res)`, flags 0 — in this order, and
/// then find the CQ empty.
#[track_caller]
pub fn cqes(cq: &mut impl Reap, want: &[(u64, i32)]) -> Outcome {
    for (i, &(user_data, res)) in want.iter().enumerate() {
        match cq.reap() {
            Some(c) if c == Cqe::new(user_data, res) => {}
            Some(c) => {
                log_error!(
                    "  cqe #{}: got (user_data {}, res {}, flags {}), want ({}, {})",
                    i,
                    c.user_data,
                    c.res,
                    c.flags,
                    user_data,
                    res
                );
                return Err(Failure::here());
            }
            None => {
                log_error!("  cqe #{}: CQ empty, want ({}, {})", i, user_data, res);
                return Err(Failure::here());
            }
        }
    }
    if let Some(c) = cq.reap() {
        log_error!("  unexpected cqe (user_data {}, res {}) after the {} expected", c.user_data, c.res, want.len());
        return Err(Failure::here());
    }
    Ok(())
}

/// A ring split for use from interrupt context: the phase of the suite that completes
/// requests from the device interrupt.
pub struct Split {
    /// Pushes SQEs and runs the ring (thread mode).
    pub sub: Submitter<'static, SQ, CQ, N, ARGS>,
    /// Reaps CQEs.
    pub reap: Reaper<'static, CQ>,
    /// A copy of the completer the device's interrupt handler uses.
    pub completer: Completer<'static>,
}

impl Split {
    /// Poll the ring until no request is in flight, sleeping between interrupts; fail
    /// after `max_ticks` ticks.
    #[track_caller]
    pub fn wait_idle(&mut self, max_ticks: u32) -> Outcome {
        let start = device::stats().ticks;
        loop {
            self.sub.poll();
            if self.sub.in_flight() == 0 {
                return Ok(());
            }
            let waited = device::stats().ticks.wrapping_sub(start);
            if waited > max_ticks {
                log_error!("  still {} in flight after {} ticks", self.sub.in_flight(), waited);
                return Err(Failure::here());
            }
            board::wait_for_interrupt();
        }
    }
}

/// What a test left behind: requests in flight, SQEs not consumed, CQEs not reaped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Leftovers {
    in_flight: u32,
    sqes: u32,
    cqes: u32,
}

/// What the runner does around every test.
pub trait Fixture {
    /// Get ready for the next test.
    fn prepare(&mut self) -> Result<(), &'static str>;
    /// Count what the test left behind, and clear it away so the next test starts clean.
    fn leftovers(&mut self) -> Leftovers;
}

/// The ring itself: every test starts on a ring set up anew.
impl Fixture for FwRing {
    fn prepare(&mut self) -> Result<(), &'static str> {
        crate::fixture::reset(self).map_err(|e| e.step)
    }

    fn leftovers(&mut self) -> Leftovers {
        let mut left = Leftovers { in_flight: self.in_flight(), sqes: self.sq().len(), cqes: 0 };
        while self.pop().is_some() {
            left.cqes += 1;
        }
        left
    }
}

/// The split ring cannot be set up again: leftovers are submitted, completed and reaped.
impl Fixture for Split {
    fn prepare(&mut self) -> Result<(), &'static str> {
        Ok(())
    }

    fn leftovers(&mut self) -> Leftovers {
        let mut left = Leftovers { in_flight: self.sub.in_flight(), sqes: self.sub.sq().len(), cqes: 0 };
        for _ in 0..4 {
            let _ = self.sub.submit();
            if self.sub.in_flight() != 0 {
                device::ring_doorbell(device::Mode::Burst);
                let _ = self.wait_idle(10);
            }
            while self.reap.pop().is_some() {
                left.cqes += 1;
            }
        }
        device::ring_doorbell(device::Mode::Idle);
        left
    }
}

/// Runs tests and keeps the count.
#[derive(Default)]
pub struct Runner {
    passed: u32,
    failed: u32,
}

impl Runner {
    /// Run one test on `cx`; a test passes if it returns `Ok` and leaves no request in
    /// flight, no SQE unconsumed and no CQE unreaped.
    pub fn run<C: Fixture>(&mut self, name: &str, cx: &mut C, test: fn(&mut C) -> Outcome) {
        if let Err(step) = cx.prepare() {
            self.fail(name, step);
            return;
        }
        let outcome = test(cx);
        let left = cx.leftovers();
        match outcome {
            Ok(()) if left == Leftovers::default() => {
                self.passed += 1;
                log_info!("ok   {}", name);
            }
            Ok(()) => {
                self.failed += 1;
                log_error!("FAIL {}: left {} in flight, {} SQEs, {} CQEs", name, left.in_flight, left.sqes, left.cqes);
            }
            Err(f) => {
                self.failed += 1;
                log_error!("FAIL {} ({}:{})", name, f.file, f.line);
            }
        }
    }

    /// Count a test that could not run (its setup failed) as failed.
    pub fn fail(&mut self, name: &str, why: &str) {
        self.failed += 1;
        log_error!("FAIL {}: {}", name, why);
    }

    /// Print the summary line; `true` if nothing failed.
    pub fn finish(&self) -> bool {
        log_line!("{} passed, {} failed", self.passed, self.failed);
        self.failed == 0
    }
}
