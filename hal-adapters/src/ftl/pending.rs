//! The FTL as a pending ring op: issue hands the request — its buffers as a
//! [`PendingIo`] — to whoever drives the flash (a DMA-engine thread, a firmware task),
//! which runs it on the FTL in place and completes it through the ring's
//! [`Completer`].
//!
//! A port is a `static` [`FtlQueue`] named by a marker type ([`FtlPort`], declared with
//! [`ftl_port!`](crate::ftl_port!)). The driver side **attaches** the mounted FTL's
//! shape to the queue ([`FtlQueue::attach`]) so that prep can check LBAs while the FTL
//! itself is away in the driver's thread; until then requests fail with -ENODEV.
//!
//! ```
//! use fwring::{OpVTable, vtable};
//! use fwring_hal::ftl::{FtlPending, FtlPort};
//!
//! fwring_hal::ftl_port! { /// The disk the DMA engine drives.
//!     pub Disk; }
//! static FTL: OpVTable = vtable::<FtlPending<Disk>>(3);
//! assert!(Disk::queue().is_empty());
//! ```
//!
//! The driver's loop (a simulator's DMA-engine thread; `completer` from `Ring::split`):
//!
//! ```text
//! Disk::queue().attach(&ftl);
//! loop {
//!     match Disk::queue().pop() {
//!         Some(job) => { let _ = block_on(job.run(&mut ftl, &completer)); }
//!         None => park_until_kicked(),
//!     }
//! }
//! ```
//!
//! The ring sees each completion at its next `submit` or `poll`.

use core::cell::{Cell, RefCell};
use core::future::poll_fn;
use core::marker::PhantomData;
use core::task::{Context, Poll, Waker};

use critical_section::Mutex;
use embedded_storage_async::nor_flash::NorFlash;
use fwring::{CompleteError, Completer, Errno, IoBuf, Issue, IssueCx, Op, PendingIo, PrepCx, Sqe};

use super::Ftl;
use super::op::{Shape, prep, serve};
use crate::errno::ENODEV;
use crate::sqe::{Args, CHAIN_LEN};

/// Requests a port holds at most.
pub const FTL_QUEUE: usize = 16;

/// A request taken out of the ring: its arguments and its buffers.
pub struct FtlJob {
    io: PendingIo,
    args: Args,
    chain_len: u32,
}

impl FtlJob {
    /// The request's arguments (command, LBA, count).
    pub fn args(&self) -> &Args {
        &self.args
    }

    /// Run the request on `ftl` with its buffers in place and complete it (the CQE
    /// appears at the ring's next `submit` or `poll`).
    pub async fn run<F: NorFlash>(mut self, ftl: &mut Ftl<F>, completer: &Completer<'_>) -> Result<(), CompleteError> {
        let args = self.args;
        let (a, b) = (args.a(), args.b());
        let chain_len = args.has(CHAIN_LEN).then_some(self.chain_len);
        let res = {
            let mut src = heapless::Vec::<&[u8], { fwring::buf::MAX_SEGS }>::new();
            let mut dst = heapless::Vec::<&mut [u8], { fwring::buf::MAX_SEGS }>::new();
            for (i, buf) in self.io.io().into_bufs().into_iter().enumerate() {
                match buf {
                    IoBuf::Source(mut s) if Some(i) == a => {
                        if let Some(n) = chain_len {
                            s.truncate(n as usize);
                        }
                        src = s.into_slices();
                    }
                    IoBuf::Dest(d) if Some(i) == b => dst = d.into_slices(),
                    _ => {}
                }
            }
            serve(ftl, &args, &src, &mut dst).await
        };
        let res = res.and_then(|n| i32::try_from(n).map_err(|_| Errno::EOVERFLOW)).unwrap_or_else(Errno::res);
        self.io.complete(completer, res)
    }
}

impl core::fmt::Debug for FtlJob {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FtlJob").field("args", &self.args).finish()
    }
}

/// The queue was full.
struct Full;

struct Inner {
    jobs: heapless::Deque<FtlJob, FTL_QUEUE>,
    waker: Option<Waker>,
}

/// The queue between the ring's issue and the FTL's driver. `const fn new`, every
/// access one short critical section.
pub struct FtlQueue {
    inner: Mutex<RefCell<Inner>>,
    shape: Mutex<Cell<Option<Shape>>>,
}

impl FtlQueue {
    /// An empty queue, no FTL attached.
    pub const fn new() -> Self {
        FtlQueue {
            inner: Mutex::new(RefCell::new(Inner { jobs: heapless::Deque::new(), waker: None })),
            shape: Mutex::new(Cell::new(None)),
        }
    }

    /// Serve requests for `ftl`: prep checks them against its block size and count.
    pub fn attach<F: NorFlash>(&self, ftl: &Ftl<F>) {
        let s = Shape::of(ftl);
        critical_section::with(|cs| self.shape.borrow(cs).set(Some(s)));
    }

    /// Stop accepting requests (-ENODEV).
    pub fn detach(&self) {
        critical_section::with(|cs| self.shape.borrow(cs).set(None));
    }

    fn shape(&self) -> Option<Shape> {
        critical_section::with(|cs| self.shape.borrow(cs).get())
    }

    /// Take the oldest request.
    pub fn pop(&self) -> Option<FtlJob> {
        critical_section::with(|cs| self.inner.borrow_ref_mut(cs).jobs.pop_front())
    }

    /// Wait for the next request (an async driver task).
    pub async fn next(&self) -> FtlJob {
        poll_fn(|cx: &mut Context<'_>| {
            critical_section::with(|cs| {
                let mut q = self.inner.borrow_ref_mut(cs);
                match q.jobs.pop_front() {
                    Some(j) => Poll::Ready(j),
                    None => {
                        q.waker = Some(cx.waker().clone());
                        Poll::Pending
                    }
                }
            })
        })
        .await
    }

    /// Requests waiting.
    pub fn len(&self) -> usize {
        critical_section::with(|cs| self.inner.borrow_ref(cs).jobs.len())
    }

    /// Whether none is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Add a job and wake the driver; a full queue drops it (its request then fails).
    fn push(&self, job: FtlJob) -> Result<(), Full> {
        let waker = critical_section::with(|cs| {
            let mut q = self.inner.borrow_ref_mut(cs);
            q.jobs.push_back(job).map_err(|_| Full)?;
            Ok(q.waker.take())
        })?;
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    fn has_room(&self) -> bool {
        critical_section::with(|cs| !self.inner.borrow_ref(cs).jobs.is_full())
    }
}

impl Default for FtlQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for FtlQueue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FtlQueue").field("len", &self.len()).finish()
    }
}

/// A marker type naming a `static` [`FtlQueue`] (declare with
/// [`ftl_port!`](crate::ftl_port!)).
pub trait FtlPort: 'static {
    /// The port's queue.
    fn queue() -> &'static FtlQueue;
}

/// Declare FTL port marker types, each with its own `static` [`FtlQueue`].
#[macro_export]
macro_rules! ftl_port {
    ($($(#[$meta:meta])* $vis:vis $name:ident;)+) => {
        $(
            $(#[$meta])*
            #[derive(Clone, Copy, Debug)]
            $vis struct $name;

            impl $crate::ftl::FtlPort for $name {
                fn queue() -> &'static $crate::ftl::FtlQueue {
                    static Q: $crate::ftl::FtlQueue = $crate::ftl::FtlQueue::new();
                    &Q
                }
            }
        )+
    };
}

/// The FTL op whose requests go pending to port `P`'s driver (the [`crate::blk`] SQE
/// encoding). -ENODEV until an FTL is attached, -EBUSY when the port's queue is full.
pub struct FtlPending<P>(PhantomData<P>);

impl<P: FtlPort> Op for FtlPending<P> {
    type Pdu = Args;

    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<Args, Errno> {
        let shape = P::queue().shape().ok_or(ENODEV)?;
        prep(cx, sqe, shape)
    }

    fn issue(cx: &mut IssueCx<'_>, args: &mut Args) -> Issue {
        let chain_len = cx.chain().len;
        // A read produces its whole destination: record it now (the chain record is
        // out of the driver's reach), as the async ops do.
        if args.b().is_some() {
            let produced = cx.io_and_chain().and_then(|(mut io, chain)| {
                let d = crate::io::views(&mut io, args, chain_len)?.dst.map(|d| d.len()).unwrap_or(0);
                chain.len = u32::try_from(d).map_err(|_| Errno::EOVERFLOW)?;
                Ok(())
            });
            if let Err(e) = produced {
                return Issue::Err(e);
            }
        }
        if !P::queue().has_room() {
            return Issue::Err(Errno::EBUSY);
        }
        match cx.pending_io() {
            Ok(io) => match P::queue().push(FtlJob { io, args: *args, chain_len }) {
                Ok(()) => Issue::Pending,
                // Unreachable while the ring is the only producer (room was checked).
                Err(_) => Issue::Err(Errno::EBUSY),
            },
            Err(e) => Issue::Err(e),
        }
    }
}
