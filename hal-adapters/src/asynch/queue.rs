//! The static queue between an async op's issue (the ring's context) and its worker
//! task, and the marker types ([`Port`]) that name one.

use core::cell::RefCell;
use core::future::poll_fn;
use core::task::{Context, Poll, Waker};

use critical_section::Mutex;

use super::job::Job;

struct Inner<const N: usize> {
    jobs: heapless::Deque<Job, N>,
    waker: Option<Waker>,
}

/// A fixed-capacity queue of `N` jobs with one waiting worker. `const fn new`; every
/// access is one short critical section.
pub struct JobQueue<const N: usize> {
    inner: Mutex<RefCell<Inner<N>>>,
}

impl<const N: usize> JobQueue<N> {
    /// An empty queue.
    pub const fn new() -> Self {
        JobQueue { inner: Mutex::new(RefCell::new(Inner { jobs: heapless::Deque::new(), waker: None })) }
    }
}

impl<const N: usize> Default for JobQueue<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> core::fmt::Debug for JobQueue<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("JobQueue").field("capacity", &N).field("len", &Queue::len(self)).finish()
    }
}

/// [`Queue::push`] found the queue full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QueueFull;

mod sealed {
    pub trait Sealed {}
}

/// A job queue, whatever its capacity (implemented by [`JobQueue`] only).
pub trait Queue: sealed::Sealed + Sync + 'static {
    /// Add a job and wake the worker. A full queue refuses it (the job is dropped: the
    /// op fails its request with -EBUSY).
    fn push(&self, job: Job) -> Result<(), QueueFull>;

    /// Take the oldest job, or register the worker's waker and wait.
    fn poll_pop(&self, cx: &mut Context<'_>) -> Poll<Job>;

    /// Jobs waiting.
    fn len(&self) -> usize;

    /// Whether one more job fits.
    fn has_room(&self) -> bool;

    /// Whether no job is waiting.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<const N: usize> sealed::Sealed for JobQueue<N> {}

impl<const N: usize> Queue for JobQueue<N> {
    fn push(&self, job: Job) -> Result<(), QueueFull> {
        let waker = critical_section::with(|cs| {
            let mut q = self.inner.borrow_ref_mut(cs);
            q.jobs.push_back(job).map_err(|_| QueueFull)?;
            Ok(q.waker.take())
        })?;
        // Wake outside the critical section: a waker may do real work.
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    fn poll_pop(&self, cx: &mut Context<'_>) -> Poll<Job> {
        critical_section::with(|cs| {
            let mut q = self.inner.borrow_ref_mut(cs);
            match q.jobs.pop_front() {
                Some(job) => Poll::Ready(job),
                None => {
                    match &mut q.waker {
                        Some(w) => w.clone_from(cx.waker()),
                        none => *none = Some(cx.waker().clone()),
                    }
                    Poll::Pending
                }
            }
        })
    }

    fn len(&self) -> usize {
        critical_section::with(|cs| self.inner.borrow_ref(cs).jobs.len())
    }

    fn has_room(&self) -> bool {
        critical_section::with(|cs| !self.inner.borrow_ref(cs).jobs.is_full())
    }
}

/// Wait for the next job of `q`.
pub(crate) async fn next<Q: Queue>(q: &Q) -> Job {
    poll_fn(|cx| q.poll_pop(cx)).await
}

/// A marker type naming a `static` [`JobQueue`]: what an async op's type parameter and
/// its [`Worker`](super::Worker) agree on. Implement it with [`port!`](crate::port!).
pub trait Port: 'static {
    /// The queue type.
    type Queue: Queue;

    /// The queue.
    fn queue() -> &'static Self::Queue;
}

/// Declare port marker types, each with its own `static` [`JobQueue`] of the given
/// capacity:
///
/// ```
/// fwring_hal::port! {
///     /// Jobs for the sensor bus worker.
///     pub SensorBus: 4;
/// }
/// ```
///
/// A queue as long as the ring's in-flight table never refuses a job.
#[macro_export]
macro_rules! port {
    ($($(#[$meta:meta])* $vis:vis $name:ident: $cap:expr;)+) => {
        $(
            $(#[$meta])*
            #[derive(Clone, Copy, Debug)]
            $vis struct $name;

            impl $crate::asynch::Port for $name {
                type Queue = $crate::asynch::JobQueue<{ $cap }>;

                fn queue() -> &'static Self::Queue {
                    static QUEUE: $crate::asynch::JobQueue<{ $cap }> = $crate::asynch::JobQueue::new();
                    &QUEUE
                }
            }
        )+
    };
}
