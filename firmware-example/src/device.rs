//! A simulated DMA device whose requests complete from an interrupt handler.
//!
//! [`DeviceOp`]'s issue does what a driver does: it takes the request's completion
//! [`Token`] ([`IssueCx::pending`]), writes a job descriptor into the device's queue and
//! returns [`Issue::Pending`] — the request stays in flight, its buffers owned by the
//! device. Nothing moves until the doorbell rings ([`ring_doorbell`]); from then on the
//! board's periodic interrupt (SysTick on Cortex-M, the machine timer on RISC-V) calls
//! [`on_tick`], which completes due jobs with [`Completer::complete`] — from interrupt
//! context, lock-free. The ring picks the completions up at its next `submit`/`poll`
//! and runs what follows from them (link successors, drained requests).
//!
//! The device's state is shared between thread mode and the interrupt handler through a
//! `critical_section::Mutex`; the completer itself needs no lock.

use core::cell::RefCell;

use critical_section::Mutex;
use fwring::{BufDesc, CompleteError, Completer, Dir, Errno, Issue, IssueCx, Op, PendingIo, PrepCx, Sqe, Token};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Jobs the device queue holds.
pub const QUEUE: usize = 8;

/// Op flag: complete the job twice; the second completion must be refused
/// ([`CompleteError::Stale`]) and is counted in [`Stats::stale`].
pub const TWICE: u32 = 1 << 0;

/// How the device completes its queued jobs once the doorbell rang.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Doorbell not rung: jobs wait.
    Idle,
    /// At the next tick, complete every queued job, in order of `due` (one interrupt,
    /// several completions, not in submission order).
    Burst,
    /// Tick by tick: at the n-th tick after the doorbell, complete the jobs whose `due`
    /// is n.
    Timed,
}

/// The byte the device's DMA writes at offset `i` of a destination.
pub const fn dma_byte(i: usize) -> u8 {
    (i as u8).wrapping_mul(29) ^ 0x5a
}

/// How a job completes.
#[derive(Debug)]
enum Done {
    /// With the result from the SQE, through the token (and again, refused, with
    /// [`TWICE`]).
    Token { token: Token, res: i32, twice: bool },
    /// A DMA transfer: the interrupt writes [`dma_byte`]s over the request's destination,
    /// in place, and completes with the bytes written, through the buffer handle.
    Dma(PendingIo),
}

/// One queued job: a device descriptor.
#[derive(Debug)]
struct Job {
    done: Done,
    due: u32,
}

/// What the device did, for the tests to check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Interrupts taken since start.
    pub ticks: u32,
    /// Completions the ring accepted.
    pub completed: u32,
    /// Second completions refused as stale (as they must be).
    pub stale: u32,
    /// Completions refused that should have been accepted, or accepted that should
    /// have been refused.
    pub errors: u32,
}

struct State {
    completer: Option<Completer<'static>>,
    jobs: heapless::Vec<Job, QUEUE>,
    mode: Mode,
    elapsed: u32,
    stats: Stats,
}

static STATE: Mutex<RefCell<State>> = Mutex::new(RefCell::new(State {
    completer: None,
    jobs: heapless::Vec::new(),
    mode: Mode::Idle,
    elapsed: 0,
    stats: Stats { ticks: 0, completed: 0, stale: 0, errors: 0 },
}));

/// Connect the device to a ring's completer (from `Ring::split` on the `'static` ring).
pub fn attach(completer: Completer<'static>) {
    critical_section::with(|cs| STATE.borrow_ref_mut(cs).completer = Some(completer));
}

/// Ring the doorbell: the device starts completing queued jobs as `mode` says.
pub fn ring_doorbell(mode: Mode) {
    critical_section::with(|cs| {
        let mut s = STATE.borrow_ref_mut(cs);
        s.mode = mode;
        s.elapsed = 0;
    });
}

/// The device's counters.
pub fn stats() -> Stats {
    critical_section::with(|cs| STATE.borrow_ref(cs).stats)
}

/// Jobs queued and not completed yet.
pub fn queued() -> usize {
    critical_section::with(|cs| STATE.borrow_ref(cs).jobs.len())
}

/// Pdu flag (above the 24 op-flag bits): the request has a destination to DMA into.
const DMA: u32 = 1 << 24;

/// Queue a job (thread mode, from the op's issue); `false` if the queue is full.
fn queue(job: Job) -> bool {
    critical_section::with(|cs| STATE.borrow_ref_mut(cs).jobs.push(job).is_ok())
}

/// The device's interrupt work, called by the board's periodic interrupt handler:
/// complete the jobs that are due, in order of `due` (then of queueing).
pub fn on_tick() {
    critical_section::with(|cs| {
        let mut s = STATE.borrow_ref_mut(cs);
        s.stats.ticks = s.stats.ticks.wrapping_add(1);
        let Some(completer) = s.completer else { return };
        let now = match s.mode {
            Mode::Idle => return,
            Mode::Burst => u32::MAX,
            Mode::Timed => {
                s.elapsed += 1;
                s.elapsed
            }
        };
        loop {
            let next = s.jobs.iter().enumerate().filter(|(_, j)| j.due <= now).min_by_key(|(i, j)| (j.due, *i));
            let Some((i, _)) = next else { break };
            let job = s.jobs.remove(i);
            match job.done {
                Done::Token { token, res, twice } => {
                    match completer.complete(token, res) {
                        Ok(()) => s.stats.completed += 1,
                        Err(_) => s.stats.errors += 1,
                    }
                    if twice {
                        match completer.complete(token, res) {
                            Err(CompleteError::Stale) => s.stats.stale += 1,
                            _ => s.stats.errors += 1,
                        }
                    }
                }
                Done::Dma(mut io) => {
                    let mut n = 0;
                    if let Ok(dst) = io.dest_slices(0) {
                        for seg in dst {
                            for b in seg.iter_mut() {
                                *b = dma_byte(n);
                                n += 1;
                            }
                            // As a DMA engine would, leave the bytes in memory.
                            crate::board::device_wrote(seg);
                        }
                    }
                    match io.complete(&completer, n as i32) {
                        Ok(()) => s.stats.completed += 1,
                        Err(_) => s.stats.errors += 1,
                    }
                }
            }
        }
        if s.mode == Mode::Burst && s.jobs.is_empty() {
            s.mode = Mode::Idle;
        }
    });
}

/// What [`DeviceOp`]'s prep keeps for issue.
#[derive(Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct DevicePdu {
    res: i32,
    due: u32,
    flags: u32,
}

/// The device op: a request the device completes from its interrupt.
///
/// SQE: `off` = the result the device completes with (an `i32`: a count, or `-errno`);
/// `len` = `due` (the tick after the doorbell, or the order in a burst); op flag
/// [`TWICE`]; optional descriptor B = a destination the device DMAs into: its issue hands
/// the buffer to the device as a [`PendingIo`], the interrupt writes [`dma_byte`]s over
/// it in place and completes with the bytes written. Meanwhile the device owns the range
/// (another chain touching it gets EBUSY at prep).
pub struct DeviceOp;

impl Op for DeviceOp {
    type Pdu = DevicePdu;

    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<DevicePdu, Errno> {
        let res = i32::try_from(sqe.off as i64).map_err(|_| Errno::EINVAL)?;
        let b = BufDesc::sqe_b(sqe);
        let mut flags = cx.info().private_flags();
        if b != BufDesc::default() {
            cx.import(&b, Dir::Dest)?;
            flags |= DMA;
        }
        Ok(DevicePdu { res, due: sqe.len, flags })
    }

    fn issue(cx: &mut IssueCx<'_>, pdu: &mut DevicePdu) -> Issue {
        // Room first: a request whose buffers went out as a `PendingIo` stays pending
        // whatever issue answers, so it must not be refused after that. (Only this
        // context adds jobs; the interrupt only removes them.)
        if queued() >= QUEUE {
            return Issue::Err(Errno::EBUSY);
        }
        let done = if pdu.flags & DMA != 0 {
            match cx.pending_io() {
                Ok(io) => Done::Dma(io),
                Err(e) => return Issue::Err(e),
            }
        } else {
            match cx.pending() {
                Ok(token) => Done::Token { token, res: pdu.res, twice: pdu.flags & TWICE != 0 },
                Err(e) => return Issue::Err(e),
            }
        };
        if queue(Job { done, due: pdu.due }) {
            Issue::Pending
        } else {
            // Unreachable (room was checked); a token-only job is withdrawn by
            // answering otherwise than Pending.
            Issue::Err(Errno::EBUSY)
        }
    }
}
