//! A multishot stream with its device on another thread (as an interrupt handler or
//! another core would be): the device fills provided buffers as fast as it can while
//! the application thread polls, reaps, checks and re-provides on a 4-entry CQ. Every
//! committed buffer must post exactly once, in fill order, with its bytes intact; each
//! round ends with -ENOBUFS (the device outruns the application) after all of them.

use fwring::{
    BufGroup, BufRing, CancelFlags, Cqe, CqeFlags, Errno, NoFill, Region, Ring, Setup, SetupFlags, Sqe, SqeFlags,
};

use fwring_tests::handoff::{HAND_STREAM as OP, take_stream as my_stream};

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
        let stream = my_stream();
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

/// A stale stream on another thread keeps asking for buffers while the application
/// ends its request, unregisters the group and registers the same `BufRing` over another
/// area: the stale stream never gets a buffer of the new registration (it would write
/// the old area's offsets into memory the application holds again), and the new
/// request's stream works.
#[test]
fn a_stale_stream_never_fills_after_its_group_is_gone() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let group: &'static BufRing<4> = Box::leak(Box::new(BufRing::new()));
    let mut ring: Ring<4, 4, 4> = Ring::new();
    ring.setup(Setup::new(2).cq_entries(4).flags(SetupFlags::BPF_EXT)).unwrap();
    ring.register_op(&OP).unwrap();
    ring.register_buffers([Region::new(vec![0u8; 4 * 16].leak()), Region::new(vec![0u8; 4 * 16].leak())]).unwrap();
    for round in 0..200u64 {
        let area = (round % 2) as u16;
        ring.register_buf_ring(group, BufGroup { bgid: 1, buf_index: area, offset: 0, size: 16 }).unwrap();
        (0..4).for_each(|b| group.provide(b));
        ring.push(Sqe::bpf(0, 0).user_data(round).flags(SqeFlags::BUFFER_SELECT).buf_index(1)).unwrap();
        let _ = ring.submit();
        let stream = my_stream();
        let stop = &AtomicBool::new(false);
        std::thread::scope(|sc| {
            let stale = sc.spawn(move || {
                // Fill once while live, then hammer after the end.
                let mut fills = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    match stream.fill() {
                        Ok(mut f) => {
                            f.buf().fill(0xee);
                            f.commit(1);
                            fills += 1;
                        }
                        Err(NoFill::NoBuffer) => {}
                        Err(NoFill::Ended) => {}
                    }
                }
                fills
            });
            // End it by cancel, reap everything, unregister once no fill is in flight.
            ring.push(Sqe::cancel(round, CancelFlags::empty()).user_data(1000 + round)).unwrap();
            let _ = ring.submit();
            let mut done = false;
            while !done {
                ring.poll();
                while let Some(c) = ring.pop() {
                    if c.user_data == round && c.flags & CqeFlags::MORE.bits() == 0 {
                        done = true;
                    }
                }
            }
            while ring.unregister_buf_ring(1) == Err(Errno::EBUSY) {
                ring.poll();
                while ring.pop().is_some() {}
            }
            // The region is the application's again: whatever the stale stream does now
            // must not touch it.
            let before = ring.buffer_mut(area).unwrap().to_vec();
            for _ in 0..1000 {
                std::hint::spin_loop();
            }
            assert_eq!(ring.buffer_mut(area).unwrap(), &before[..], "round {round}: no write after unregister");
            stop.store(true, Ordering::Relaxed);
            stale.join().unwrap();
        });
        assert_eq!(ring.in_flight(), 0);
    }
}
