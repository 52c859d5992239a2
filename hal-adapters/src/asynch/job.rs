//! A unit of work handed from an async op's issue to its worker: what to do, and how to
//! complete it.
//!
//! A bus job owns its request's buffers through a [`fwring::PendingIo`] — the ring's
//! DMA-descriptor-like handle for a pending request: the worker gets the same in-place
//! views the op had at issue for as long as it holds the job, and completing the job
//! consumes the handle, so no view outlives the request. The ring guarantees the ranges
//! are the job's meanwhile (no other chain may import them, the application cannot
//! reach their regions, the request cannot be cancelled). Buffer-less waits and delays
//! that may be cancelled carry a plain [`Token`]. No `unsafe` here.

use fwring::buffer::MAX_SEGS;
use fwring::{CompleteError, Completer, IoBuf, PendingIo, Token};

use crate::sqe::{Args, CHAIN_LEN};

/// What a job asks for: which worker method serves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// An SPI request (`crate::spi` commands).
    Spi,
    /// An I²C request (`crate::i2c` commands).
    I2c,
    /// A delay (`crate::delay` commands).
    Delay,
    /// A wait for a pin level or edge (`crate::asynch::wait` commands).
    Wait,
}

// Jobs sit in a fixed-capacity queue (no alloc): the larger variant is the common one.
#[allow(clippy::large_enum_variant)]
enum Completion {
    /// Bus work: the request's buffers and its completion.
    Io(PendingIo),
    /// Buffer-less, cancellable work.
    Token(Token),
}

/// One request for a worker. Opaque: made by the crate's async ops, consumed by
/// [`Worker`](super::Worker).
pub struct Job {
    pub(crate) class: Class,
    pub(crate) args: Args,
    chain_len: u32,
    done: Completion,
}

/// A job's buffers: sources (descriptor A) and destinations (descriptor B), in place.
pub(crate) type Bufs<'a> = (heapless::Vec<&'a [u8], MAX_SEGS>, heapless::Vec<&'a mut [u8], MAX_SEGS>);

impl Job {
    /// A bus job over the pending request's buffers.
    pub(crate) fn with_io(io: PendingIo, class: Class, args: Args, chain_len: u32) -> Self {
        Job { class, args, chain_len, done: Completion::Io(io) }
    }

    /// A buffer-less job completed through `token`.
    pub(crate) fn with_token(token: Token, class: Class, args: Args) -> Self {
        Job { class, args, chain_len: 0, done: Completion::Token(token) }
    }

    /// The request's buffers, in place, for as long as the job is borrowed: descriptor
    /// A's segments (cut to the chain length with CHAIN_LEN) and descriptor B's.
    pub(crate) fn bufs(&mut self) -> Bufs<'_> {
        let (a, b, chain_len) = (self.args.a(), self.args.b(), self.args.has(CHAIN_LEN).then_some(self.chain_len));
        let Completion::Io(io) = &mut self.done else { return (heapless::Vec::new(), heapless::Vec::new()) };
        let bufs = io.io().into_bufs();
        let (mut src, mut dst) = (None, None);
        for (i, buf) in bufs.into_iter().enumerate() {
            match buf {
                IoBuf::Source(mut s) if Some(i) == a => {
                    if let Some(n) = chain_len {
                        s.truncate(n as usize);
                    }
                    src = Some(s.into_slices());
                }
                IoBuf::Dest(d) if Some(i) == b => dst = Some(d.into_slices()),
                _ => {}
            }
        }
        (src.unwrap_or_default(), dst.unwrap_or_default())
    }

    /// Complete the job's request with `res`; its buffers go back to the ring. A
    /// completer of another ring is refused ([`CompleteError::Foreign`]): the request
    /// then stays in flight with its buffers reserved — never handed to anyone else.
    pub(crate) fn complete(self, completer: &Completer<'_>, res: i32) -> Result<(), CompleteError> {
        match self.done {
            Completion::Io(io) => io.complete(completer, res).map_err(|r| r.error),
            Completion::Token(t) => completer.complete(t, res),
        }
    }
}

impl core::fmt::Debug for Job {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Job").field("class", &self.class).field("args", &self.args).finish()
    }
}
