//! The multishot UART read: bytes arriving between interrupts land in provided buffers,
//! one CQE each, in order; the request ends -ENOBUFS when the group runs dry with bytes
//! waiting, -EIO on a UART error, 0 on `stop`.

use fwring::{BufGroup, BufRing, Cqe, CqeFlags, Errno, OpVTable, Region, Ring, Setup, SetupFlags, vtable};
use fwring_hal::sim::Loopback;
use fwring_hal::{StaticDriver, uart};

fwring_hal::static_driver! { Uart1: Loopback; }
fwring_hal::stream_slot!(Uart1);
static READ: OpVTable = vtable::<uart::ReadMultishot<Uart1>>(2);

fn data(ud: u64, n: i32, bid: u16) -> Cqe {
    Cqe { user_data: ud, res: n, flags: (CqeFlags::BUFFER | CqeFlags::MORE).bits() | (bid as u32) << 16 }
}

// One test: the device marker and its stream slot are process-wide statics.
#[test]
fn uart_multishot_streams_bursts_then_ends_with_enobufs_eio_or_stop() {
    let rx: &'static BufRing<2> = Box::leak(Box::new(BufRing::new()));
    Uart1::init(Loopback::default()).ok().unwrap();
    let mut ring: Ring<8, 16, 8> = Ring::new();
    ring.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).unwrap();
    ring.register_op(&READ).unwrap();
    ring.register_buffers([Region::new(vec![0u8; 16].leak())]).unwrap();
    ring.register_buf_ring(rx, BufGroup { bgid: 3, buf_index: 0, offset: 0, size: 8 }).unwrap();
    rx.provide(0);
    rx.provide(1);
    ring.push(uart::read_multishot(2, 3).user_data(1)).unwrap();
    let _ = ring.submit();
    // Two bursts, two interrupts: one buffer each.
    Uart1::with(|u| u.feed(b"abc")).unwrap();
    assert_eq!(uart::pump::<Uart1>(&ring.split().2), uart::Pumped { buffers: 1, bytes: 3 });
    Uart1::with(|u| u.feed(b"0123456789")).unwrap();
    // 10 bytes: buffer 1 takes 8; buffer 0 is not back yet: no buffer → -ENOBUFS.
    assert_eq!(uart::pump::<Uart1>(&ring.split().2), uart::Pumped { buffers: 1, bytes: 8 });
    ring.poll();
    let got: Vec<Cqe> = std::iter::from_fn(|| ring.pop()).collect();
    assert_eq!(got, [data(1, 3, 0), data(1, 8, 1), Cqe::new(1, Errno::ENOBUFS.res())]);
    assert_eq!(&ring.provided(3, 0).unwrap()[..3], b"abc");
    assert_eq!(ring.provided(3, 1).unwrap(), b"01234567");
    assert_eq!(Uart1::with(|u| u.pending()).unwrap(), 2, "unread bytes stay in the FIFO");

    // Again, reading the rest; then a UART error ends it with -EIO.
    rx.provide(0);
    rx.provide(1);
    ring.push(uart::read_multishot(2, 3).user_data(2)).unwrap();
    let _ = ring.submit();
    assert_eq!(uart::pump::<Uart1>(&ring.split().2).bytes, 2);
    Uart1::with(|u| u.fail_next()).unwrap();
    uart::pump::<Uart1>(&ring.split().2);
    ring.poll();
    let got: Vec<Cqe> = std::iter::from_fn(|| ring.pop()).collect();
    let bid = (got[0].flags >> 16) as u16;
    assert_eq!(got, [data(2, 2, bid), Cqe::new(2, Errno::EIO.res())]);
    assert_eq!(&ring.provided(3, bid).unwrap()[..2], b"89");

    // A third request, stopped by the application: final CQE 0.
    rx.provide(bid);
    ring.push(uart::read_multishot(2, 3).user_data(3)).unwrap();
    let _ = ring.submit();
    uart::stop::<Uart1>(&ring.split().2, 0).unwrap();
    assert_eq!(uart::stop::<Uart1>(&ring.split().2, 0), Err(Errno::ENOENT));
    ring.poll();
    assert_eq!(ring.pop(), Some(Cqe::new(3, 0)));
    // Bad SQEs: flags or lengths set.
    ring.push(uart::read_multishot(2, 3).user_data(4).len(1)).unwrap();
    let _ = ring.submit();
    assert_eq!(ring.pop(), Some(Cqe::new(4, Errno::EINVAL.res())));
}
