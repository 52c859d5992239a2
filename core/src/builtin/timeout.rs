//! Timeouts: `IORING_OP_TIMEOUT`, `IORING_OP_LINK_TIMEOUT`, `IORING_OP_TIMEOUT_REMOVE`.
//!
//! fwring has no clock: the caller passes time in ([`Ring::tick`](crate::Ring::tick)),
//! as nanoseconds in a time base of its choosing (a hardware timer, a tick counter ×
//! period). Relative timeouts are armed against the last time given; `ABS` ones use the
//! caller's time base directly. A timer fires in the first `tick` (or `submit`) whose
//! time has reached its deadline. The timeout value is a `struct __kernel_timespec` at
//! `sqe.addr` in registered memory (Linux's convention, [`Sqe::timeout_at`]), or, with
//! [`TimeoutFlags::IMMEDIATE_ARG`], `sqe.addr` itself in nanoseconds ([`Sqe::timeout`]).
//! The flag word is [`TimeoutFlags`]; the builders are [`Sqe::timeout`],
//! [`Sqe::link_timeout`], [`Sqe::timeout_remove`] and [`Sqe::timeout_update`].
//!
//! Semantics are Linux's (C-TIME-1..7):
//! - TIMEOUT completes with -ETIME when it expires — or with 0 once `sqe.off` other CQEs
//!   have been posted since it was armed (a counting timeout; C-TIME-2). With
//!   `ETIME_SUCCESS` an expiry does not fail its link chain.
//! - LINK_TIMEOUT must follow a linked request (else -EINVAL, C-TIME-6). It arms when
//!   that request goes pending; if the request completes first, the timeout completes
//!   with -ECANCELED (C-TIME-4, -5); if the timeout fires first it completes with -ETIME
//!   and the request is cancelled (-ECANCELED, C-TIME-3, -7) — or, when the request
//!   cannot be cancelled (pending in hardware), the timeout completes with -EALREADY and
//!   the request runs on.
//! - TIMEOUT_REMOVE finds an armed TIMEOUT by user_data (`sqe.addr`): 0 and the timeout
//!   completes with -ECANCELED; -ENOENT if none. With [`TimeoutFlags::UPDATE`] it re-arms
//!   it instead with the timespec at `sqe.off` (`addr2`).
//!
//! Not supported, -EINVAL: `MULTISHOT` (one SQE, one CQE is what backpressure counts on),
//! `LINK_TIMEOUT_UPDATE`, more than one clock flag, and any bit Linux does not define
//! (kept by [`Sqe::timeout_flags`] so that it fails).

#[cfg(feature = "timeouts")]
use crate::abi::errno::Errno;
#[cfg(feature = "timeouts")]
use crate::abi::opcode;
#[cfg(any(feature = "timeouts", doc))]
use crate::abi::{Sqe, TimeoutFlags};
#[cfg(feature = "timeouts")]
use crate::engine::ring::Exec;
#[cfg(feature = "timeouts")]
use crate::engine::table::{Idx, NIL, OpState, ReqFlags, Table, Timer, Work};

/// The flags a TIMEOUT or LINK_TIMEOUT takes; anything else is -EINVAL.
#[cfg(feature = "timeouts")]
const KNOWN: TimeoutFlags = TimeoutFlags::ABS
    .union(TimeoutFlags::CLOCK_MASK)
    .union(TimeoutFlags::ETIME_SUCCESS)
    .union(TimeoutFlags::IMMEDIATE_ARG);

/// The flags a TIMEOUT_REMOVE with `UPDATE` takes; anything else is -EINVAL.
#[cfg(feature = "timeouts")]
const UPDATE_KNOWN: TimeoutFlags =
    TimeoutFlags::UPDATE.union(TimeoutFlags::ABS).union(TimeoutFlags::IMMEDIATE_ARG).union(TimeoutFlags::CLOCK_MASK);

/// `struct __kernel_timespec`.
#[cfg(feature = "timeouts")]
#[repr(C)]
#[derive(Clone, Copy, zerocopy::FromBytes)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

#[cfg(feature = "timeouts")]
impl<const CQ: usize, const N: usize, const ARGS: usize> Exec<'_, CQ, N, ARGS> {
    /// The timeout value of an SQE: a timespec at `at`, or `at` itself (IMMEDIATE_ARG).
    fn read_time(&self, at: u64, tflags: TimeoutFlags) -> Result<u64, Errno> {
        if tflags.contains(TimeoutFlags::IMMEDIATE_ARG) {
            return Ok(at);
        }
        let ts: Timespec = crate::buffer::view::read_user(&self.e.bufs, &self.owners(), at)?;
        if ts.tv_sec < 0 || ts.tv_nsec < 0 {
            return Err(Errno::EINVAL);
        }
        Ok((ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64))
    }

    /// `io_timeout_prep` for TIMEOUT and LINK_TIMEOUT.
    pub(crate) fn prep_timeout(&mut self, idx: Idx, sqe: &Sqe, link: bool) -> Result<(), Errno> {
        if sqe.buf_index != 0 || sqe.len != 1 || sqe.file_index != 0 {
            return Err(Errno::EINVAL);
        }
        if link && sqe.off != 0 {
            return Err(Errno::EINVAL);
        }
        let tflags = sqe.timeout_flags();
        // Unknown bits are kept (`timeout_flags` retains them) so they fail here.
        if !KNOWN.contains(tflags) || tflags.intersection(TimeoutFlags::CLOCK_MASK).bits().count_ones() > 1 {
            return Err(Errno::EINVAL);
        }
        if link {
            let head = self.e.link.head;
            if head == NIL || self.e.t[self.e.link.tail].opcode == opcode::LINK_TIMEOUT {
                return Err(Errno::EINVAL);
            }
        }
        let time = self.read_time(sqe.addr, tflags)?;
        let count = u32::try_from(sqe.off).unwrap_or(u32::MAX);
        let r = &mut self.e.t[idx];
        r.state = OpState::Timer(Timer { flags: tflags, count, at: time });
        r.lt = NIL;
        if link {
            let tail = self.e.link.tail;
            self.e.t[tail].flags.insert(ReqFlags::ARM_LTIMEOUT);
        }
        Ok(())
    }

    /// `io_timeout_remove_prep`.
    pub(crate) fn prep_timeout_remove(&mut self, idx: Idx, sqe: &Sqe) -> Result<(), Errno> {
        if sqe.buf_index != 0 || sqe.len != 0 || sqe.file_index != 0 {
            return Err(Errno::EINVAL);
        }
        let tflags = sqe.timeout_flags();
        let mut time = 0;
        if tflags.contains(TimeoutFlags::UPDATE) {
            if !UPDATE_KNOWN.contains(tflags) {
                return Err(Errno::EINVAL);
            }
            time = self.read_time(sqe.off, tflags)?;
        } else if !tflags.is_empty() || sqe.off != 0 {
            return Err(Errno::EINVAL);
        }
        self.e.t[idx].state = OpState::Remove { flags: tflags, target: sqe.addr, time };
        Ok(())
    }

    fn deadline_of(&self, idx: Idx) -> u64 {
        let t = self.e.t[idx].timer().copied().unwrap_or_default();
        if t.flags.contains(TimeoutFlags::ABS) { t.at } else { self.e.now.saturating_add(t.at) }
    }

    /// Arm a TIMEOUT (its issue).
    pub(crate) fn arm_timeout(&mut self, idx: Idx) {
        let deadline = self.deadline_of(idx);
        let posted = self.e.posted;
        let r = &mut self.e.t[idx];
        r.flags.insert(ReqFlags::TIMER);
        let mut counting = false;
        if let Some(t) = r.timer_mut() {
            t.at = deadline;
            if t.count != 0 {
                t.count = posted.wrapping_add(t.count);
                counting = true;
            }
        }
        if counting {
            r.flags.insert(ReqFlags::COUNTING);
            self.e.nr_counting += 1;
        }
        self.e.nr_timers += 1;
    }

    fn disarm(&mut self, idx: Idx) {
        let f = &mut self.e.t[idx].flags;
        if f.contains(ReqFlags::TIMER) {
            if f.contains(ReqFlags::COUNTING) {
                self.e.nr_counting -= 1;
            }
            f.remove(ReqFlags::TIMER | ReqFlags::COUNTING);
            self.e.nr_timers -= 1;
        }
    }

    /// Complete a timer request with `res` in the next pass.
    fn finish_timer(&mut self, idx: Idx, res: i32, fail: bool) {
        self.disarm(idx);
        self.e.t[idx].res = res;
        if fail {
            self.req_set_fail(idx);
        }
        self.tw_add(idx, Work::Complete);
    }

    /// The request `target` went pending: arm the LINK_TIMEOUT that follows it, taking it
    /// out of the chain.
    pub(crate) fn arm_link_timeout(&mut self, target: Idx) {
        let lt = self.e.t[target].link;
        if lt == NIL || self.e.t[lt].opcode != opcode::LINK_TIMEOUT {
            return;
        }
        self.e.t[target].flags.remove(ReqFlags::ARM_LTIMEOUT);
        self.e.t[target].link = self.e.t[lt].link;
        self.e.t[target].lt = lt;
        let deadline = self.deadline_of(lt);
        let r = &mut self.e.t[lt];
        r.link = NIL;
        r.lt = target;
        if let Some(t) = r.timer_mut() {
            t.at = deadline;
        }
        r.flags.insert(ReqFlags::TIMER);
        self.e.nr_timers += 1;
    }

    /// `io_disarm_next` for link timeouts: the request `idx` completed; its link timeout
    /// (armed, or still waiting in the chain) completes with -ECANCELED next pass.
    pub(crate) fn disarm_link_timeout(&mut self, idx: Idx) {
        let r = &self.e.t[idx];
        if r.flags.contains(ReqFlags::ARM_LTIMEOUT) {
            let lt = r.link;
            self.e.t[idx].flags.remove(ReqFlags::ARM_LTIMEOUT);
            if lt != NIL && self.e.t[lt].opcode == opcode::LINK_TIMEOUT {
                self.e.t[idx].link = self.e.t[lt].link;
                self.e.t[lt].link = NIL;
                self.e.t[lt].res = Errno::ECANCELED.res();
                self.tw_add(lt, Work::Complete);
            }
        } else if r.lt != NIL {
            let lt = r.lt;
            self.e.t[idx].lt = NIL;
            self.e.t[lt].lt = NIL;
            self.finish_timer(lt, Errno::ECANCELED.res(), false);
        }
    }

    /// TIMEOUT_REMOVE's issue: `Ok(())` → CQE 0.
    pub(crate) fn issue_timeout_remove(&mut self, idx: Idx) -> Result<(), Errno> {
        let OpState::Remove { flags: tflags, target: ud, time: new } = self.e.t[idx].state else {
            return Err(Errno::EINVAL);
        };
        let found = Table::<N>::ids().find(|&i| {
            let r = &self.e.t[i];
            r.flags.contains(ReqFlags::TIMER) && r.opcode == opcode::TIMEOUT && r.user_data() == ud
        });
        let Some(t) = found else { return Err(Errno::ENOENT) };
        if tflags.contains(TimeoutFlags::UPDATE) {
            let deadline = if tflags.contains(TimeoutFlags::ABS) { new } else { self.e.now.saturating_add(new) };
            if let Some(timer) = self.e.t[t].timer_mut() {
                timer.at = deadline;
            }
        } else {
            self.finish_timer(t, Errno::ECANCELED.res(), true);
        }
        Ok(())
    }

    /// Cancel an armed TIMEOUT found by ASYNC_CANCEL.
    pub(crate) fn cancel_timer(&mut self, idx: Idx) {
        self.finish_timer(idx, Errno::ECANCELED.res(), true);
    }

    /// The earliest armed deadline.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        if self.e.nr_timers == 0 {
            return None;
        }
        self.e.t.reqs.iter().filter(|r| r.flags.contains(ReqFlags::TIMER)).filter_map(|r| r.timer()).map(|t| t.at).min()
    }

    /// Fire every timer whose deadline has passed, in deadline order; returns whether
    /// any fired.
    pub(crate) fn fire_expired(&mut self) -> bool {
        let mut fired = false;
        while self.e.nr_timers != 0 {
            let now = self.e.now;
            // The expired timer with the earliest deadline (the first in table order of
            // equals), in one scan.
            let mut next = None;
            let mut earliest = 0;
            for i in Table::<N>::ids() {
                let r = &self.e.t[i];
                if let Some(t) = r.timer().filter(|t| r.flags.contains(ReqFlags::TIMER) && t.at <= now)
                    && (next.is_none() || t.at < earliest)
                {
                    (next, earliest) = (Some(i), t.at);
                }
            }
            let Some(i) = next else { break };
            fired = true;
            if self.e.t[i].opcode == opcode::LINK_TIMEOUT {
                self.fire_link_timeout(i);
            } else {
                let fail = self.e.t[i].timer().is_none_or(|t| !t.flags.contains(TimeoutFlags::ETIME_SUCCESS));
                self.finish_timer(i, Errno::ETIME.res(), fail);
            }
        }
        fired
    }

    /// A LINK_TIMEOUT fired: cancel its target if it can be (-ETIME), else -EALREADY.
    fn fire_link_timeout(&mut self, lt: Idx) {
        let target = self.e.t[lt].lt;
        self.e.t[lt].lt = NIL;
        if target == NIL {
            self.finish_timer(lt, Errno::ETIME.res(), false);
            return;
        }
        self.e.t[target].lt = NIL;
        let cancelled = self.withdraw(target);
        let res = if cancelled { Errno::ETIME } else { Errno::EALREADY };
        // The timeout's CQE first, then its target's (C-TIME-3).
        self.finish_timer(lt, res.res(), false);
        if cancelled {
            self.queue_cancelled(target);
        }
    }

    /// Counting timeouts whose count was reached complete with 0.
    pub(crate) fn flush_counting(&mut self) {
        if self.e.nr_counting == 0 {
            return;
        }
        let posted = self.e.posted;
        for i in Table::<N>::ids() {
            let r = &self.e.t[i];
            if r.flags.contains(ReqFlags::COUNTING)
                && r.timer().is_some_and(|t| posted.wrapping_sub(t.count) as i32 >= 0)
            {
                self.finish_timer(i, 0, false);
            }
        }
    }
}
