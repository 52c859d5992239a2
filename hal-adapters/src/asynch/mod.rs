//! Async ops (feature `async`): embedded-hal-async SPI, I²C, delays and pin waits, as
//! **pending requests**, driven by a worker task on any executor, with no alloc.
//!
//! A ring's issue is synchronous; an async HAL call is a future. They meet through a
//! **port**: a `static` [`JobQueue`] named by a marker type ([`port!`](crate::port!)).
//!
//! 1. The op's issue (ring context) validates nothing new — prep did, with the same SQE
//!    encoding as the blocking op ([`crate::spi`], [`crate::i2c`], [`crate::delay`]) —
//!    takes a [`Token`](fwring::Token) with `IssueCx::pending`, pushes a [`Job`] (token,
//!    arguments, the request's buffer segments) onto the port's queue, and returns
//!    `Issue::Pending`. A full queue fails the request with -EBUSY.
//! 2. A [`Worker`] — an `async fn` loop the firmware spawns on its executor (embassy,
//!    RTIC, a hand-rolled `block_on`: anything that polls a future) — owns the async
//!    driver, awaits the next job, runs the HAL future on the request's buffers **in
//!    place** (zero-copy; see [Safety](#safety)), and calls
//!    [`Completer::complete`](fwring::Completer::complete) with the result.
//! 3. The ring picks the completion up at its next `submit` or `poll` and goes on: the
//!    CQE, the rest of the link chain, cleanup.
//!
//! ```no_run
//! use embedded_hal_async::{delay::DelayNs, i2c::I2c};
//! use fwring::{Completer, OpVTable, vtable};
//! use fwring_hal::asynch::Worker;
//!
//! fwring_hal::port! { pub SensorBus: 8; }
//! // Register it with `Ring::register_op`; SQEs for slot 1 become jobs of `SensorBus`.
//! static I2C_OP: OpVTable = vtable::<fwring_hal::asynch::I2c<SensorBus>>(1);
//!
//! // The worker task, on any executor (with embassy: an `#[embassy_executor::task]`
//! // taking the HAL's async I2C and `embassy_time::Delay`).
//! async fn sensor_worker(mut i2c: impl I2c, delay: impl DelayNs, completer: Completer<'static>) -> ! {
//!     let mut w = Worker::<SensorBus, _>::new(completer, delay).deadline_us(10_000);
//!     match w.run_i2c(&mut i2c).await {}
//! }
//! ```
//!
//! **Deadlines** come from the worker's async `DelayNs`: with
//! [`Worker::deadline_us`], every bus job races a timer and a job that loses completes
//! with -ETIMEDOUT (its HAL future is dropped — cancelled — first, so the buffers are
//! free again when the CQE appears). A [`Wait`] job carries its own timeout in the SQE.
//! **Delays** ([`Delay`]) queued on a device's port run in order with its bus jobs: a
//! sensor's "start conversion → wait 10 ms → read" is a link chain whose middle step
//! yields to the executor instead of blocking.
//!
//! One port serves one ring and one worker. Bus jobs are not cancelable
//! (`ASYNC_CANCEL` gets -EALREADY: the worker owns their buffers); delay and wait jobs
//! are (`pending_cancelable`), and a cancelled job's late completion is refused as
//! stale. The produced length (bytes read) is recorded in the chain record at issue, so
//! `CHAIN_LEN` consumers after an async read work as after a blocking one.
//!
//! # Buffers
//!
//! A bus job carries its request's buffers as a [`fwring::PendingIo`], the ring's
//! DMA-descriptor-like handle for a pending request: the worker uses them in place, and
//! completing the job hands them back. Meanwhile the ring keeps the ranges the job's —
//! no other chain may import them, and `Ring::buffers()` does not hand out a region in
//! use — so no rule is left to the application, and no `unsafe` to this crate.

mod job;
mod queue;

use core::convert::Infallible;
use core::future::{Future, poll_fn};
use core::marker::PhantomData;
use core::pin::pin;
use core::task::Poll;

use embedded_hal_async::delay::DelayNs;
use embedded_hal_async::digital::Wait as HalWait;
use embedded_hal_async::i2c::I2c as HalI2c;
use embedded_hal_async::spi::SpiDevice;
use fwring::{Completer, Errno, Issue, IssueCx, Op, PrepCx, Sqe};

use job::Class;
pub use job::Job;
pub use queue::{JobQueue, Port, Queue, QueueFull};

use crate::errno;
use crate::io;
use crate::sqe::{self, Args, Use};
use crate::{delay, i2c, spi};

/// Async SPI: the [`crate::spi`] commands and SQEs, served by [`Worker::run_spi`].
pub struct Spi<P>(PhantomData<P>);

/// Async I²C: the [`crate::i2c`] commands and SQEs, served by [`Worker::run_i2c`].
pub struct I2c<P>(PhantomData<P>);

/// Async delay: the [`crate::delay`] commands and SQEs, served by any worker of the
/// port, in order with its other jobs. Cancelable.
pub struct Delay<P>(PhantomData<P>);

/// Wait for a pin level or edge ([`wait`] commands), served by [`Worker::run_wait`].
/// Cancelable.
pub struct Wait<P>(PhantomData<P>);

op_debug!(Spi, I2c, Delay, Wait);

/// Pin-wait commands and SQEs.
pub mod wait {
    use fwring::Sqe;

    use crate::sqe;

    /// Wait commands (op flag bits 23..16).
    pub mod cmd {
        /// Until the pin is high.
        pub const HIGH: u8 = 0;
        /// Until the pin is low.
        pub const LOW: u8 = 1;
        /// Until a rising edge.
        pub const RISING: u8 = 2;
        /// Until a falling edge.
        pub const FALLING: u8 = 3;
        /// Until any edge.
        pub const ANY_EDGE: u8 = 4;
    }

    /// Wait for `command` (one of [`cmd`]); `timeout_us` 0 waits forever, else the
    /// request fails with -ETIMEDOUT after that many microseconds. CQE `res` 0.
    pub fn sqe(slot: u8, command: u8, timeout_us: u32) -> Sqe {
        sqe::build(slot, command, 0, None, None, timeout_us, 0)
    }
}

/// Go pending and hand the request to `P`'s worker.
fn enqueue<P: Port>(cx: &mut IssueCx<'_>, args: &Args, class: Class, cancelable: bool) -> Issue {
    let chain_len = cx.chain().len;
    // The bytes a read will have produced are known now: record them now (the chain
    // record is out of the worker's reach), and check the views are what the op needs.
    let checked = (|| {
        let (mut io, chain) = cx.io_and_chain()?;
        let v = io::views(&mut io, args, chain_len)?;
        if let Some(d) = v.dst.as_ref() {
            chain.len = u32::try_from(d.len()).map_err(|_| Errno::EOVERFLOW)?;
        }
        Ok::<_, Errno>(())
    })();
    if let Err(e) = checked {
        return Issue::Err(e);
    }
    // Room first: a job, once made, must reach its worker (the ring's context is the
    // port's only producer, so the room cannot vanish before the push).
    if !P::queue().has_room() {
        return Issue::Err(Errno::EBUSY);
    }
    let job = if cancelable {
        match cx.pending_cancelable() {
            Ok(token) => Job::with_token(token, class, *args),
            Err(e) => return Issue::Err(e),
        }
    } else {
        match cx.pending_io() {
            Ok(io) => Job::with_io(io, class, *args, chain_len),
            Err(e) => return Issue::Err(e),
        }
    };
    match P::queue().push(job) {
        Ok(()) => Issue::Pending,
        // Unreachable while the ring is the only producer (room was checked).
        Err(_) => Issue::Err(Errno::EBUSY),
    }
}

impl<P: Port> Op for Spi<P> {
    type Pdu = Args;

    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<Args, Errno> {
        spi::prep(cx, sqe)
    }

    fn issue(cx: &mut IssueCx<'_>, args: &mut Args) -> Issue {
        enqueue::<P>(cx, args, Class::Spi, false)
    }
}

impl<P: Port> Op for I2c<P> {
    type Pdu = Args;

    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<Args, Errno> {
        i2c::prep(cx, sqe)
    }

    fn issue(cx: &mut IssueCx<'_>, args: &mut Args) -> Issue {
        enqueue::<P>(cx, args, Class::I2c, false)
    }
}

impl<P: Port> Op for Delay<P> {
    type Pdu = Args;

    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<Args, Errno> {
        delay::prep(cx, sqe)
    }

    fn issue(cx: &mut IssueCx<'_>, args: &mut Args) -> Issue {
        enqueue::<P>(cx, args, Class::Delay, true)
    }
}

impl<P: Port> Op for Wait<P> {
    type Pdu = Args;

    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<Args, Errno> {
        if sqe::cmd(cx.info()) > wait::cmd::ANY_EDGE || sqe::flags(cx.info()) != 0 || sqe.file_index != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(sqe::parse(cx, sqe, Use::No, Use::No)?.args)
    }

    fn issue(cx: &mut IssueCx<'_>, args: &mut Args) -> Issue {
        enqueue::<P>(cx, args, Class::Wait, true)
    }
}

/// Run `fut`, racing a `us`-microsecond timer when given: -ETIMEDOUT if the timer wins
/// (`fut` is dropped, i.e. cancelled, before this returns).
async fn within<F: Future, T: DelayNs>(us: Option<u32>, delay: &mut T, fut: F) -> Result<F::Output, Errno> {
    let Some(us) = us else { return Ok(fut.await) };
    let mut fut = pin!(fut);
    let mut timer = pin!(delay.delay_us(us));
    poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(Errno::ETIMEDOUT));
        }
        Poll::Pending
    })
    .await
}

/// Serves the jobs of port `P`: owns the async driver, completes each job's request
/// through the ring's [`Completer`]. `T` is the async delay used for deadlines and delay
/// jobs.
pub struct Worker<'r, P, T> {
    completer: Completer<'r>,
    delay: T,
    deadline_us: Option<u32>,
    served: u32,
    _port: PhantomData<P>,
}

impl<'r, P: Port, T: DelayNs> Worker<'r, P, T> {
    /// A worker completing through `completer` (from `Ring::split`), timing with `delay`,
    /// without a deadline.
    pub fn new(completer: Completer<'r>, delay: T) -> Self {
        Worker { completer, delay, deadline_us: None, served: 0, _port: PhantomData }
    }

    /// Every bus job must finish within `us` microseconds, else its request fails with
    /// -ETIMEDOUT.
    #[must_use]
    pub fn deadline_us(mut self, us: u32) -> Self {
        self.deadline_us = Some(us);
        self
    }

    /// Jobs completed so far.
    pub fn served(&self) -> u32 {
        self.served
    }

    /// Serve SPI (and delay) jobs forever.
    pub async fn run_spi<S: SpiDevice<u8>>(&mut self, spi: &mut S) -> Infallible {
        loop {
            self.serve_spi(spi).await;
        }
    }

    /// Serve I²C (and delay) jobs forever.
    pub async fn run_i2c<B: HalI2c>(&mut self, bus: &mut B) -> Infallible {
        loop {
            self.serve_i2c(bus).await;
        }
    }

    /// Serve pin-wait (and delay) jobs forever.
    pub async fn run_wait<W: HalWait>(&mut self, pin: &mut W) -> Infallible {
        loop {
            self.serve_wait(pin).await;
        }
    }

    /// Serve delay jobs forever (a port with no device).
    pub async fn run_delay(&mut self) -> Infallible {
        loop {
            let job = queue::next(P::queue()).await;
            let res = match job.class {
                Class::Delay => self.delay_job(&job.args).await,
                _ => Err(Errno::EINVAL),
            };
            self.finish(job, res);
        }
    }

    /// Wait for one job and serve it with `spi`.
    pub async fn serve_spi<S: SpiDevice<u8>>(&mut self, spi: &mut S) {
        let mut job = queue::next(P::queue()).await;
        let res = match job.class {
            Class::Spi => {
                let args = job.args;
                let (hdr, hlen) = spi::header(&args);
                let (src, mut dst) = job.bufs();
                match spi::plan(args.cmd, &hdr[..hlen], &src, &mut dst) {
                    Ok((ops, done)) if ops.is_empty() => Ok(done.res),
                    Ok((mut ops, done)) => {
                        match within(self.deadline_us, &mut self.delay, spi.transaction(&mut ops)).await {
                            Ok(Ok(())) => Ok(done.res),
                            Ok(Err(e)) => Err(errno::spi(&e)),
                            Err(e) => Err(e),
                        }
                    }
                    Err(e) => Err(e),
                }
            }
            Class::Delay => self.delay_job(&job.args).await,
            _ => Err(Errno::EINVAL),
        };
        self.finish(job, res);
    }

    /// Wait for one job and serve it with `bus`.
    pub async fn serve_i2c<B: HalI2c>(&mut self, bus: &mut B) {
        let mut job = queue::next(P::queue()).await;
        let res = match job.class {
            Class::I2c => {
                let args = job.args;
                let addr = args.arg0 as u8;
                let (src, mut dst) = job.bufs();
                let done = i2c::outcome(args.cmd, &src, &dst);
                let r = match (&src[..], &mut dst[..]) {
                    ([s], []) => within(self.deadline_us, &mut self.delay, bus.write(addr, s)).await,
                    ([], [d]) => within(self.deadline_us, &mut self.delay, bus.read(addr, d)).await,
                    ([s], [d]) => within(self.deadline_us, &mut self.delay, bus.write_read(addr, s, d)).await,
                    ([], []) => Ok(Ok(())),
                    (src, dst) => match i2c::plan(src, dst) {
                        Ok(mut ops) => within(self.deadline_us, &mut self.delay, bus.transaction(addr, &mut ops)).await,
                        Err(e) => Err(e),
                    },
                };
                match r {
                    Ok(Ok(())) => Ok(done.res),
                    Ok(Err(e)) => Err(errno::i2c(&e)),
                    Err(e) => Err(e),
                }
            }
            Class::Delay => self.delay_job(&job.args).await,
            _ => Err(Errno::EINVAL),
        };
        self.finish(job, res);
    }

    /// Wait for one job and serve it with `pin`.
    pub async fn serve_wait<W: HalWait>(&mut self, pin: &mut W) {
        let job = queue::next(P::queue()).await;
        let res = match job.class {
            Class::Wait => {
                let args = job.args;
                let timeout = (args.arg0 != 0).then_some(args.arg0);
                let r = match args.cmd {
                    wait::cmd::HIGH => within(timeout, &mut self.delay, pin.wait_for_high()).await,
                    wait::cmd::LOW => within(timeout, &mut self.delay, pin.wait_for_low()).await,
                    wait::cmd::RISING => within(timeout, &mut self.delay, pin.wait_for_rising_edge()).await,
                    wait::cmd::FALLING => within(timeout, &mut self.delay, pin.wait_for_falling_edge()).await,
                    _ => within(timeout, &mut self.delay, pin.wait_for_any_edge()).await,
                };
                match r {
                    Ok(Ok(())) => Ok(0),
                    Ok(Err(e)) => Err(errno::pin(&e)),
                    Err(e) => Err(e),
                }
            }
            Class::Delay => self.delay_job(&job.args).await,
            _ => Err(Errno::EINVAL),
        };
        self.finish(job, res);
    }

    async fn delay_job(&mut self, args: &Args) -> Result<usize, Errno> {
        match args.cmd {
            delay::cmd::NS => self.delay.delay_ns(args.arg0).await,
            delay::cmd::US => self.delay.delay_us(args.arg0).await,
            _ => self.delay.delay_ms(args.arg0).await,
        }
        Ok(0)
    }

    /// Complete the job's request: the job (and with it any view of its buffers) is
    /// consumed.
    fn finish(&mut self, job: Job, res: Result<usize, Errno>) {
        let res = res.and_then(|n| i32::try_from(n).map_err(|_| Errno::EOVERFLOW)).unwrap_or_else(Errno::res);
        // A refused completion is a cancelled (cancelable) job: nothing to do.
        let _ = job.complete(&self.completer, res);
        self.served = self.served.wrapping_add(1);
    }
}

impl<P, T> core::fmt::Debug for Worker<'_, P, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Worker").field("deadline_us", &self.deadline_us).field("served", &self.served).finish()
    }
}
