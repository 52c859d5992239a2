//! Fuzz the shared-memory queue pair's device side (and the honest host beside it)
//! against a hostile host: the input is a start index, then a program of byte-coded
//! steps — arbitrary writes to any word of the shared block, whole raw SQEs written into
//! slots, honest host pushes and reaps, and the device's take / post / feed / submit /
//! flush. Nothing may panic, every call returns, and the honest sides' private indices
//! move by exactly what their calls returned, never past a ring's size.
#![no_main]

use fwring::shm::{DeviceEnd, HostEnd, QueuePair, SQE_WORDS};
use fwring::{Cqe, Ring, Setup, SetupFlags, Sqe};
use libfuzzer_sys::fuzz_target;

const SQ: usize = 4;
const CQ: usize = 8;
type Qp = QueuePair<SQ, CQ>;

/// A cursor over the fuzz input.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes([self.byte()?, self.byte()?, self.byte()?, self.byte()?]))
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let Some(start) = input.u32() else { return };
    let qp: Box<Qp> = Box::new(QueuePair::new());
    qp.init(start);
    let mut host = HostEnd::new(&qp);
    let mut dev = DeviceEnd::new(&qp);
    let mut ring: Ring<SQ, CQ, 4> = Ring::new();
    ring.setup(Setup::new(SQ as u32).cq_entries(CQ as u32).flags(SetupFlags::SUBMIT_ALL)).unwrap();
    let mut next = 0u64;
    while let Some(op) = input.byte() {
        let (head, tail) = (dev.sq_head(), dev.cq_tail());
        let (h_tail, h_head) = (host.sq_tail(), host.cq_head());
        match op % 12 {
            // Hostile: any word, any value.
            0 => {
                let (Some(i), Some(v)) = (input.u32(), input.u32()) else { return };
                assert!(qp.write_word(i as usize % Qp::WORDS, v));
            }
            // Hostile: a header word moved by a small amount (boundary cases).
            1 => {
                let (Some(i), Some(d)) = (input.byte(), input.byte()) else { return };
                let i = i as usize % 32;
                let v = qp.read_word(i).unwrap().wrapping_add(d as i8 as i32 as u32);
                assert!(qp.write_word(i, v));
            }
            // Hostile: a whole raw SQE into a slot (the ring must cope with any SQE).
            2 => {
                let Some(slot) = input.byte() else { return };
                let base = Qp::SQES_OFFSET / 4 + (slot as usize % SQ) * SQE_WORDS;
                for w in 0..SQE_WORDS {
                    let Some(v) = input.u32() else { return };
                    assert!(qp.write_word(base + w, v));
                }
            }
            3 => {
                let k = input.byte().unwrap_or(0) as usize % 8;
                let mut out = [Sqe::default(); 8];
                if let Ok(n) = dev.take(&mut out[..k]) {
                    assert!(n <= k && n <= SQ);
                    assert_eq!(dev.sq_head(), head.wrapping_add(n as u32));
                } else {
                    assert_eq!(dev.sq_head(), head);
                }
            }
            4 => {
                let k = input.byte().unwrap_or(0) as usize % 12;
                let cqes: Vec<Cqe> = (0..k as u64).map(|i| Cqe::new(i, 0)).collect();
                if let Ok(n) = dev.post(&cqes) {
                    assert!(n <= k && n <= CQ);
                    assert_eq!(dev.cq_tail(), tail.wrapping_add(n as u32));
                } else {
                    assert_eq!(dev.cq_tail(), tail);
                }
            }
            5 => {
                let queued = ring.sq().len();
                match dev.feed(&mut ring) {
                    Ok(n) => {
                        assert!(n as usize <= SQ);
                        assert_eq!(ring.sq().len(), queued + n);
                        assert_eq!(dev.sq_head(), head.wrapping_add(n));
                    }
                    Err(_) => assert_eq!((ring.sq().len(), dev.sq_head()), (queued, head)),
                }
            }
            6 => {
                let _ = ring.submit();
            }
            7 => {
                let pending = ring.cq().len();
                match dev.flush(&mut ring) {
                    Ok(n) => {
                        assert!(n as usize <= CQ);
                        assert_eq!(ring.cq().len(), pending - n);
                        assert_eq!(dev.cq_tail(), tail.wrapping_add(n));
                    }
                    Err(_) => assert_eq!((ring.cq().len(), dev.cq_tail()), (pending, tail)),
                }
            }
            8 => {
                let k = input.byte().unwrap_or(0) as usize % 8;
                let sqes: Vec<Sqe> = (0..k as u64).map(|i| Sqe::nop().user_data(next + i)).collect();
                if let Ok(n) = host.push(&sqes) {
                    assert!(n <= k && n <= SQ);
                    next += n as u64;
                    assert_eq!(host.sq_tail(), h_tail.wrapping_add(n as u32));
                } else {
                    assert_eq!(host.sq_tail(), h_tail);
                }
            }
            9 => {
                let k = input.byte().unwrap_or(0) as usize % 12;
                let mut out = [Cqe::default(); 12];
                if let Ok(n) = host.reap(&mut out[..k]) {
                    assert!(n <= k && n <= CQ);
                    assert_eq!(host.cq_head(), h_head.wrapping_add(n as u32));
                } else {
                    assert_eq!(host.cq_head(), h_head);
                }
            }
            10 => {
                let on = input.byte().unwrap_or(0) & 1 == 1;
                dev.set_backpressure(on);
                assert_eq!(dev.backpressure(), on);
            }
            // A whole device-loop turn.
            _ => {
                let _ = dev.feed(&mut ring);
                let _ = ring.submit();
                let _ = dev.flush(&mut ring);
            }
        }
    }
});
