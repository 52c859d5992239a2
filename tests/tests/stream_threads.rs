//! A multishot stream with its device on another thread (as an interrupt handler or
//! another core would be): the device fills provided buffers as fast as it can while
//! the application thread polls, reaps, checks and re-provides on a 4-entry CQ. Every
//! committed buffer must post exactly once, in fill order, with its bytes intact; each
//! round ends with -ENOBUFS (the device outruns the application) after all of them.

use std::sync::Mutex;

use fwring::{
    BufGroup, BufRing, Cqe, CqeFlags, Errno, Issue, IssueCx, NoFill, Op, OpVTable, PrepCx, Region, Ring, Setup,
    SetupFlags, Sqe, SqeFlags, Stream, vtable,
};

static STREAM: Mutex<Option<Stream>> = Mutex::new(None);
struct Multishot;
impl Op for Multishot {
    type Pdu = ();
    fn prep(_: &mut PrepCx<'_>, _: &Sqe) -> Result<(), Errno> {
        Ok(())
    }
    fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
        match cx.multishot() {
            Ok(s) => {
                *STREAM.lock().unwrap() = Some(s);
                Issue::Pending
            }
            Err(e) => Issue::Err(e),
        }
    }
}
static OP: OpVTable = vtable::<Multishot>(0);

#[test]
fn a_device_thread_streams_every_buffer_once_in_order() {
    let total: u64 = std::env::var("FWRING_STREAM_FILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let group: &'static BufRing<8> = Box::leak(Box::new(BufRing::new()));
    let mut ring: Ring<4, 4, 4> = Ring::new();
    ring.setup(Setup::new(2).cq_entries(4).flags(SetupFlags::BPF_EXT)).unwrap();
    ring.register_op(&OP).unwrap();
    ring.register_buffers([Region::new(vec![0u8; 8 * 16].leak())]).unwrap();
    ring.register_buf_ring(group, BufGroup { bgid: 1, buf_index: 0, offset: 0, size: 16 }).unwrap();
    (0..8).for_each(|b| group.provide(b));
    let mut seq = 0u64;
    let mut rounds = 0u64;
    while seq < total {
        rounds += 1;
        ring.push(Sqe::bpf(0, 0).user_data(rounds).flags(SqeFlags::BUFFER_SELECT).buf_index(1)).unwrap();
        let _ = ring.submit();
        let stream = STREAM.lock().unwrap().take().expect("stream");
        let start = seq;
        std::thread::scope(|sc| {
            let device = sc.spawn(move || {
                let mut n = start;
                loop {
                    match stream.fill() {
                        Ok(mut f) => {
                            let len = 8 + (n % 9) as usize;
                            f.buf()[..8].copy_from_slice(&n.to_le_bytes());
                            f.buf()[8..len].fill(n as u8);
                            f.commit(len);
                            n += 1;
                        }
                        Err(NoFill::NoBuffer) => return n,
                        Err(NoFill::Ended) => panic!("ended before it ran dry"),
                    }
                }
            });
            loop {
                ring.poll();
                let Some(c) = ring.pop() else {
                    std::thread::yield_now();
                    continue;
                };
                assert_eq!(c.user_data, rounds);
                if c.flags & CqeFlags::MORE.bits() == 0 {
                    assert_eq!(c, Cqe::new(rounds, Errno::ENOBUFS.res()));
                    break;
                }
                let bid = (c.flags >> 16) as u16;
                let b = ring.provided(1, bid).unwrap();
                let n = u64::from_le_bytes(b[..8].try_into().unwrap());
                assert_eq!(n, seq, "fill order");
                assert_eq!(c.res as usize, 8 + (n % 9) as usize);
                assert!(b[8..c.res as usize].iter().all(|&x| x == n as u8));
                seq += 1;
                group.provide(bid);
            }
            assert_eq!(device.join().unwrap(), seq, "every committed buffer posted once");
        });
    }
    assert_eq!(ring.in_flight(), 0);
    ring.unregister_buf_ring(1).unwrap();
    eprintln!("{seq} buffers in {rounds} rounds");
}
