//! A multishot UART read over `embedded_io::Read` + `ReadReady`: one SQE, a CQE per
//! provided buffer the received bytes fill (`IORING_CQE_F_BUFFER | IORING_CQE_F_MORE`,
//! buffer id in the upper 16 flag bits), as Linux's `IORING_OP_READ_MULTISHOT` does on a
//! tty.
//!
//! | SQE | CQEs |
//! |---|---|
//! | [`read_multishot`]: `IOSQE_BUFFER_SELECT`, `buf_group` = a registered provided-buffer group | one per filled buffer, `res` = bytes; the last without `F_MORE`: -ENOBUFS (group ran dry), -EIO (a UART error), -ECANCELED (ASYNC_CANCEL), 0 ([`stop`]) |
//!
//! The receive path is [`pump`]: call it from the UART's receive interrupt (or a polling
//! loop). While the UART has bytes ready it takes a free buffer, reads what is ready into
//! it (one `read`, which does not block when `read_ready` said yes) and commits it, so a
//! CQE carries whatever arrived together — a line, a packet, a burst. The request's stream
//! lives in the device's [`StreamSlot`] ([`stream_slot!`](crate::stream_slot!)).
//!
//! ```
//! use fwring::{BufGroup, BufRing, CqeFlags, OpVTable, Region, Ring, Setup, SetupFlags, vtable};
//! use fwring_hal::sim::Loopback;
//! use fwring_hal::{StaticDriver, uart};
//!
//! fwring_hal::static_driver! { Uart0: Loopback; }
//! fwring_hal::stream_slot!(Uart0);
//! static READ: OpVTable = vtable::<uart::ReadMultishot<Uart0>>(0);
//! static RX: BufRing<4> = BufRing::new();
//!
//! Uart0::init(Loopback::default()).ok().unwrap();
//! let mut ring: Ring<8, 16, 8> = Ring::new();
//! ring.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).unwrap();
//! ring.register_op(&READ).unwrap();
//! ring.register_buffers([Region::new(vec![0u8; 64].leak())]).unwrap();
//! ring.register_buf_ring(&RX, BufGroup { bgid: 1, buf_index: 0, offset: 0, size: 16 }).unwrap();
//! (0..4).for_each(|b| RX.provide(b));
//! ring.push(uart::read_multishot(0, 1).user_data(7)).unwrap();
//! let _ = ring.submit();
//!
//! // Bytes arrive; the receive interrupt pumps them into a buffer.
//! Uart0::with(|u| u.feed(b"hello")).unwrap();
//! uart::pump::<Uart0>(&ring.split().2);
//! ring.poll();
//! let cqe = ring.pop().unwrap();
//! assert_eq!((cqe.res, cqe.flags & 3), (5, (CqeFlags::BUFFER | CqeFlags::MORE).bits()));
//! assert_eq!(&ring.provided(1, (cqe.flags >> 16) as u16).unwrap()[..5], b"hello");
//! ```

use core::cell::RefCell;
use core::marker::PhantomData;

use critical_section::Mutex;
use embedded_io::{Read, ReadReady};
use fwring::{Completer, Errno, Issue, IssueCx, NoFill, Op, PrepCx, Sqe, SqeFlags, Stream};

use crate::driver::StaticDriver;

/// Where a UART's multishot stream waits for its receive interrupt: one per device, in a
/// `static` ([`stream_slot!`](crate::stream_slot!) writes it).
pub struct StreamSlot(Mutex<RefCell<Option<Stream>>>);

/// Whether a stream is attached (its contents stay behind the critical section).
impl core::fmt::Debug for StreamSlot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let attached = critical_section::with(|cs| self.0.borrow_ref(cs).is_some());
        f.debug_struct("StreamSlot").field("attached", &attached).finish()
    }
}

impl StreamSlot {
    /// An empty slot.
    pub const fn new() -> Self {
        StreamSlot(Mutex::new(RefCell::new(None)))
    }

    fn put(&self, s: Stream) -> Result<(), Stream> {
        critical_section::with(|cs| {
            let mut slot = self.0.borrow_ref_mut(cs);
            if slot.is_some() {
                return Err(s);
            }
            *slot = Some(s);
            Ok(())
        })
    }

    fn take(&self) -> Option<Stream> {
        critical_section::with(|cs| self.0.borrow_ref_mut(cs).take())
    }
}

impl Default for StreamSlot {
    fn default() -> Self {
        Self::new()
    }
}

/// A device whose receive path streams into provided buffers.
pub trait StreamDevice: StaticDriver {
    /// The device's stream slot.
    fn stream_slot() -> &'static StreamSlot;
}

/// Give device marker `$dev` (from [`static_driver!`](crate::static_driver!)) a [`StreamSlot`].
#[macro_export]
macro_rules! stream_slot {
    ($dev:ty) => {
        impl $crate::uart::StreamDevice for $dev {
            fn stream_slot() -> &'static $crate::uart::StreamSlot {
                static SLOT: $crate::uart::StreamSlot = $crate::uart::StreamSlot::new();
                &SLOT
            }
        }
    };
}

/// The multishot read op of UART `D`.
pub struct ReadMultishot<D>(PhantomData<D>);

op_debug!(ReadMultishot);

/// A multishot read SQE for op slot `slot`, streaming into provided-buffer group `bgid`.
pub fn read_multishot(slot: u8, bgid: u16) -> Sqe {
    Sqe::bpf(slot, 0).flags(SqeFlags::BUFFER_SELECT).buf_index(bgid)
}

impl<D> Op for ReadMultishot<D>
where
    D: StreamDevice,
    D::Hal: Read + ReadReady,
{
    type Pdu = ();

    /// No descriptors, no flags, `len` and `off` 0 (EINVAL otherwise).
    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<(), Errno> {
        if cx.info().private_flags() != 0 || sqe.len != 0 || sqe.off != 0 || sqe.addr != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        if !D::is_ready() {
            return Issue::Err(Errno::ENODEV);
        }
        match cx.multishot() {
            // A stream still parked from an ended request is simply replaced.
            Ok(s) => match D::stream_slot().put(s) {
                Ok(()) => Issue::Pending,
                Err(s) => {
                    let _ = D::stream_slot().take();
                    let _ = D::stream_slot().put(s);
                    Issue::Pending
                }
            },
            Err(e) => Issue::Err(e),
        }
    }
}

/// What one [`pump`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pumped {
    /// Buffers filled and committed.
    pub buffers: u32,
    /// Bytes read.
    pub bytes: usize,
}

/// Move the bytes UART `D` has ready into provided buffers of its multishot request (the
/// receive interrupt's job). A UART error ends the request with -EIO; no free buffer
/// with bytes waiting ends it with -ENOBUFS (after the buffers already filled); an ended
/// request's stream is dropped. Lock-free towards the ring; the driver is lent for the
/// duration (a busy driver: nothing done).
pub fn pump<D>(completer: &Completer<'_>) -> Pumped
where
    D: StreamDevice,
    D::Hal: Read + ReadReady,
{
    let mut done = Pumped { buffers: 0, bytes: 0 };
    let Some(stream) = D::stream_slot().take() else { return done };
    let outcome = D::with(|uart| {
        loop {
            match uart.read_ready() {
                Ok(false) => return Ok(true),
                Ok(true) => {}
                Err(_) => return Err(Errno::EIO),
            }
            let mut fill = match stream.fill() {
                Ok(f) => f,
                Err(NoFill::NoBuffer) => return Ok(false),
                Err(NoFill::Ended) => return Ok(false),
            };
            match uart.read(fill.buf()) {
                Ok(n) => {
                    fill.commit(n);
                    done.buffers += 1;
                    done.bytes += n;
                }
                // The buffer goes back unused (dropped fill); the request ends -EIO.
                Err(_) => return Err(Errno::EIO),
            }
        }
    });
    match outcome {
        // Drained: keep streaming.
        Ok(Ok(true)) => {
            let _ = D::stream_slot().put(stream);
        }
        // No buffer (the request ends -ENOBUFS by itself) or ended: the stream is done.
        Ok(Ok(false)) => {}
        Ok(Err(e)) => {
            let _ = stream.finish(completer, e.res());
        }
        // Driver busy or missing: try again next interrupt.
        Err(_) => {
            let _ = D::stream_slot().put(stream);
        }
    }
    done
}

/// End UART `D`'s multishot request with `res` (its final CQE follows the filled
/// buffers). ENOENT if it has none.
pub fn stop<D: StreamDevice>(completer: &Completer<'_>, res: i32) -> Result<(), Errno> {
    let s = D::stream_slot().take().ok_or(Errno::ENOENT)?;
    s.finish(completer, res).map_err(|_| Errno::ENOENT)
}
