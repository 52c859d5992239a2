//! The shared-memory queue pair (`fwring::shm`) against a hostile peer and across
//! threads.
//!
//! - `hostile_peer_*` (proptest): random interleavings of honest host and device
//!   operations (push, take, post, reap, feed, submit, flush) and arbitrary writes to any
//!   word of the shared block — header or entry, random or next to the word's current
//!   value so index corruptions land right at the `entries + 1` boundary. Every call's
//!   outcome is predicted from the raw shared memory and the honest sides' private
//!   indices just before it: the exact error, or exactly how many entries move and what
//!   they contain. Nothing panics, every call returns, the honest counters only ever move
//!   by what the calls returned, and while no hostile write has happened, no error
//!   occurs and every SQE and CQE arrives in order.
//! - `two_threads_*`: a host thread pushing NOPs (with link chains, injected results and
//!   invalid opcodes) and reaping, a device thread running `feed / submit / flush` on a
//!   `fwring::Ring`. Every user_data completes exactly once, with the CQE a
//!   single-threaded ring gives for the same SQE, and chain members complete in order.

use std::sync::atomic::{AtomicBool, Ordering};

use fwring::shm::{CQE_WORDS, DeviceEnd, HostEnd, QueuePair, SQE_WORDS, ShmError, ShmFlags};
use fwring::{Cqe, Ring, Setup, SetupFlags, Sqe, SqeFlags};
use proptest::prelude::*;

/// One step of a proptest run.
#[derive(Clone, Debug)]
enum Step {
    /// Host pushes this many SQEs.
    Push(usize),
    /// Host reaps up to this many CQEs.
    Reap(usize),
    /// Device takes up to this many SQEs.
    Take(usize),
    /// Device posts this many CQEs.
    Post(usize),
    /// Device moves SQEs into its ring.
    Feed,
    /// The device's ring runs.
    Submit,
    /// Device moves CQEs out of its ring.
    Flush,
    /// The hostile peer stores a value into word `index % WORDS`.
    Write(usize, u32),
    /// The hostile peer stores (the word's value + delta) into word `index % 32` (a
    /// header word): index corruptions right around the valid range.
    Nudge(usize, i8),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0usize..7).prop_map(Step::Push),
        4 => (0usize..10).prop_map(Step::Reap),
        3 => (0usize..7).prop_map(Step::Take),
        3 => (0usize..10).prop_map(Step::Post),
        2 => Just(Step::Feed),
        2 => Just(Step::Submit),
        2 => Just(Step::Flush),
        1 => (any::<usize>(), any::<u32>()).prop_map(|(i, v)| Step::Write(i, v)),
        2 => (any::<usize>(), any::<i8>()).prop_map(|(i, d)| Step::Nudge(i, d)),
    ]
}

use fwring::shm::word::*;

fn word<const SQ: usize, const CQ: usize>(qp: &QueuePair<SQ, CQ>, i: usize) -> u32 {
    qp.read_word(i).expect("index inside the block")
}

/// SQE slot `i`'s contents in shared memory right now.
fn sqe_in<const SQ: usize, const CQ: usize>(qp: &QueuePair<SQ, CQ>, i: u32) -> Sqe {
    let base = QueuePair::<SQ, CQ>::SQES_OFFSET / 4 + (i as usize & (SQ - 1)) * SQE_WORDS;
    let words: [u32; SQE_WORDS] = std::array::from_fn(|w| word(qp, base + w));
    zerocopy::transmute!(words)
}

/// How many SQEs `DeviceEnd::feed` takes: whole link chains up to the room in the ring's SQ
/// (judged by the flag bytes in shared memory right now); a chain open at the end of
/// what was published, or longer than the ring's whole SQ, only into an empty ring.
fn chain_aware_count<const SQ: usize, const CQ: usize>(
    qp: &QueuePair<SQ, CQ>,
    head: u32,
    avail: u32,
    space: u32,
    ring_empty: bool,
) -> u32 {
    let n = avail.min(space);
    let links = (fwring::SqeFlags::IO_LINK | fwring::SqeFlags::IO_HARDLINK).bits();
    let boundary = (0..n).rev().find(|&i| sqe_in(qp, head.wrapping_add(i)).flags & links == 0).map_or(0, |i| i + 1);
    if boundary > 0 {
        boundary
    } else if ring_empty && (n == space || n == avail) {
        n
    } else {
        0
    }
}

/// CQE slot `i`'s contents in shared memory right now.
fn cqe_in<const SQ: usize, const CQ: usize>(qp: &QueuePair<SQ, CQ>, i: u32) -> Cqe {
    let base = QueuePair::<SQ, CQ>::CQES_OFFSET / 4 + (i as usize & (CQ - 1)) * CQE_WORDS;
    let words: [u32; CQE_WORDS] = std::array::from_fn(|w| word(qp, base + w));
    zerocopy::transmute!(words)
}

/// Run `steps` against honest sides of a `QueuePair<SQ, CQ>` (started at `start`),
/// checking every outcome. Returns a description of the first surprise.
/// Returns how many calls were refused (correctly).
fn hostile_run<const SQ: usize, const CQ: usize>(start: u32, steps: &[Step]) -> Result<usize, String> {
    let qp: Box<QueuePair<SQ, CQ>> = Box::new(QueuePair::new());
    qp.init(start);
    let mut host = HostEnd::new(&qp);
    let mut dev = DeviceEnd::new(&qp);
    let mut ring: Ring<SQ, CQ, 4> = Ring::new();
    ring.setup(Setup::new(SQ as u32).cq_entries(CQ as u32).flags(SetupFlags::SUBMIT_ALL))
        .map_err(|e| format!("setup: {e}"))?;
    let (sq, cq) = (SQ as u32, CQ as u32);
    // Honest-run bookkeeping: FIFOs of what is in flight, valid while no hostile write
    // has happened.
    let mut clean = true;
    let mut next_sqe = 0u64;
    let mut next_cqe = 0u64;
    let mut sq_fifo = std::collections::VecDeque::new();
    let mut cq_fifo = std::collections::VecDeque::new();
    let mut errors = 0;
    for (n, s) in steps.iter().enumerate() {
        let at = |what: String| format!("step {n} {s:?}: {what}");
        match *s {
            Step::Push(k) => {
                let (head, tail) = (word(&qp, SQ_HEAD), host.sq_tail());
                let batch: Vec<Sqe> = (0..k as u64).map(|i| Sqe::nop().user_data(next_sqe + i).len(i as u32)).collect();
                let got = host.push(&batch);
                if tail.wrapping_sub(head) > sq {
                    errors += 1;
                    if got != Err(ShmError::SqCorrupt { head, tail }) || host.sq_tail() != tail {
                        return Err(at(format!("want SqCorrupt {{ {head}, {tail} }}, got {got:?}")));
                    }
                    if word(&qp, SQ_FLAGS) & ShmFlags::CORRUPT.bits() == 0 {
                        return Err(at("CORRUPT not raised".into()));
                    }
                } else {
                    let want = k.min((sq - tail.wrapping_sub(head)) as usize);
                    if got != Ok(want) || host.sq_tail() != tail.wrapping_add(want as u32) {
                        return Err(at(format!("want Ok({want}), got {got:?}")));
                    }
                    for (i, sqe) in batch[..want].iter().enumerate() {
                        if sqe_in(&qp, tail.wrapping_add(i as u32)) != *sqe {
                            return Err(at(format!("SQE {i} not in its slot")));
                        }
                    }
                    if want > 0 && word(&qp, SQ_TAIL) != host.sq_tail() {
                        return Err(at("tail not published".into()));
                    }
                    next_sqe += want as u64;
                    sq_fifo.extend(batch[..want].iter().copied());
                }
            }
            Step::Take(k) => {
                let (head, tail) = (dev.sq_head(), word(&qp, SQ_TAIL));
                let dropped = dev.dropped();
                let before: Vec<Sqe> = (0..sq).map(|i| sqe_in(&qp, head.wrapping_add(i))).collect();
                let mut out = vec![Sqe::default(); k];
                let got = dev.take(&mut out);
                if tail.wrapping_sub(head) > sq {
                    errors += 1;
                    if got != Err(ShmError::SqCorrupt { head, tail }) || dev.sq_head() != head {
                        return Err(at(format!("want SqCorrupt {{ {head}, {tail} }}, got {got:?}")));
                    }
                    if dev.dropped() != dropped.wrapping_add(1) || word(&qp, SQ_DROPPED) != dev.dropped() {
                        return Err(at("dropped not bumped".into()));
                    }
                    if word(&qp, SQ_FLAGS) & ShmFlags::CORRUPT.bits() == 0 {
                        return Err(at("CORRUPT not raised".into()));
                    }
                } else {
                    let want = k.min(tail.wrapping_sub(head) as usize);
                    if got != Ok(want) || dev.sq_head() != head.wrapping_add(want as u32) {
                        return Err(at(format!("want Ok({want}), got {got:?}")));
                    }
                    if out[..want] != before[..want] {
                        return Err(at("taken SQEs differ from shared memory".into()));
                    }
                    if want > 0 && word(&qp, SQ_HEAD) != dev.sq_head() {
                        return Err(at("head not published".into()));
                    }
                    if clean {
                        for s in &out[..want] {
                            if sq_fifo.pop_front() != Some(*s) {
                                return Err(at("honest SQ stream out of order".into()));
                            }
                        }
                    }
                }
            }
            Step::Post(k) => {
                let (head, tail) = (word(&qp, CQ_HEAD), dev.cq_tail());
                let batch: Vec<Cqe> = (0..k as u64).map(|i| Cqe::new(next_cqe + i, i as i32)).collect();
                let got = dev.post(&batch);
                if tail.wrapping_sub(head) > cq {
                    errors += 1;
                    if got != Err(ShmError::CqCorrupt { head, tail }) || dev.cq_tail() != tail {
                        return Err(at(format!("want CqCorrupt {{ {head}, {tail} }}, got {got:?}")));
                    }
                    if word(&qp, CQ_FLAGS) & ShmFlags::CORRUPT.bits() == 0 {
                        return Err(at("CORRUPT not raised".into()));
                    }
                } else {
                    let want = k.min((cq - tail.wrapping_sub(head)) as usize);
                    if got != Ok(want) || dev.cq_tail() != tail.wrapping_add(want as u32) {
                        return Err(at(format!("want Ok({want}), got {got:?}")));
                    }
                    for (i, c) in batch[..want].iter().enumerate() {
                        if cqe_in(&qp, tail.wrapping_add(i as u32)) != *c {
                            return Err(at(format!("CQE {i} not in its slot")));
                        }
                    }
                    next_cqe += want as u64;
                    cq_fifo.extend(batch[..want].iter().copied());
                }
            }
            Step::Reap(k) => {
                let (head, tail) = (host.cq_head(), word(&qp, CQ_TAIL));
                let before: Vec<Cqe> = (0..cq).map(|i| cqe_in(&qp, head.wrapping_add(i))).collect();
                let mut out = vec![Cqe::default(); k];
                let got = host.reap(&mut out);
                if tail.wrapping_sub(head) > cq {
                    errors += 1;
                    if got != Err(ShmError::CqCorrupt { head, tail }) || host.cq_head() != head {
                        return Err(at(format!("want CqCorrupt {{ {head}, {tail} }}, got {got:?}")));
                    }
                    if word(&qp, CQ_FLAGS) & ShmFlags::CORRUPT.bits() == 0 {
                        return Err(at("CORRUPT not raised".into()));
                    }
                } else {
                    let want = k.min(tail.wrapping_sub(head) as usize);
                    if got != Ok(want) || host.cq_head() != head.wrapping_add(want as u32) {
                        return Err(at(format!("want Ok({want}), got {got:?}")));
                    }
                    if out[..want] != before[..want] {
                        return Err(at("reaped CQEs differ from shared memory".into()));
                    }
                    if clean {
                        for c in &out[..want] {
                            if cq_fifo.pop_front() != Some(*c) {
                                return Err(at("honest CQ stream out of order".into()));
                            }
                        }
                    }
                }
            }
            Step::Feed => {
                let (head, tail) = (dev.sq_head(), word(&qp, SQ_TAIL));
                let (queued, space) = (ring.sq().len(), ring.sq().space());
                let got = dev.feed(&mut ring);
                if tail.wrapping_sub(head) > sq {
                    errors += 1;
                    if got != Err(ShmError::SqCorrupt { head, tail }) || ring.sq().len() != queued {
                        return Err(at(format!("want SqCorrupt, got {got:?}")));
                    }
                } else {
                    let want = chain_aware_count(&qp, head, tail.wrapping_sub(head), space, queued == 0);
                    if got != Ok(want) || ring.sq().len() != queued + want || dev.sq_head() != head.wrapping_add(want) {
                        return Err(at(format!("want Ok({want}), got {got:?}")));
                    }
                    // The ring has them now (what it makes of them comes back by flush).
                    if clean {
                        for _ in 0..want {
                            sq_fifo.pop_front();
                        }
                    }
                }
            }
            Step::Submit => {
                let _ = ring.submit();
            }
            Step::Flush => {
                let (head, tail) = (word(&qp, CQ_HEAD), dev.cq_tail());
                let pending = ring.cq().len();
                let got = dev.flush(&mut ring);
                if tail.wrapping_sub(head) > cq {
                    errors += 1;
                    if got != Err(ShmError::CqCorrupt { head, tail }) || ring.cq().len() != pending {
                        return Err(at(format!("want CqCorrupt, got {got:?}")));
                    }
                } else {
                    let want = pending.min(cq - tail.wrapping_sub(head));
                    if got != Ok(want) || ring.cq().len() != pending - want {
                        return Err(at(format!("want Ok({want}), got {got:?}")));
                    }
                    cq_fifo.extend((0..want).map(|i| cqe_in(&qp, tail.wrapping_add(i))));
                }
            }
            Step::Write(i, v) => {
                clean = false;
                if !qp.write_word(i % QueuePair::<SQ, CQ>::WORDS, v) {
                    return Err(at("write inside the block refused".into()));
                }
            }
            Step::Nudge(i, d) => {
                clean = false;
                let i = i % 32;
                let v = word(&qp, i).wrapping_add(d as i32 as u32);
                if !qp.write_word(i, v) {
                    return Err(at("write inside the block refused".into()));
                }
            }
        }
        if clean && errors > 0 {
            return Err(at("error without a hostile write".into()));
        }
    }
    Ok(errors)
}

/// Starting indices: zero and right before `u32` wraps.
fn start() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0u32), (u32::MAX - 20)..=u32::MAX, any::<u32>()]
}

/// Run the hostile-peer property on a `QueuePair<SQ, CQ>`: `cases` random runs of up to
/// `max_steps` steps. Panics with the minimal failing run; returns how many calls were
/// refused in all (the hostile writes must actually provoke refusals).
fn hostile_property<const SQ: usize, const CQ: usize>(cases: u32, max_steps: usize) -> usize {
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let refused = std::cell::Cell::new(0);
    let strategy = (start(), prop::collection::vec(step(), 1..max_steps));
    let result = runner.run(&strategy, |(start, steps)| {
        refused.set(refused.get() + hostile_run::<SQ, CQ>(start, &steps).map_err(TestCaseError::fail)?);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!("QueuePair<{SQ}, {CQ}>: {cases} runs, {} calls refused", refused.get());
    refused.get()
}

#[test]
fn hostile_peer_never_breaks_the_honest_side_4x8() {
    assert!(hostile_property::<4, 8>(400, 300) > 400);
}

#[test]
fn hostile_peer_never_breaks_the_honest_side_1x2() {
    assert!(hostile_property::<1, 2>(400, 200) > 400);
}

/// Honest steps only: nothing ever fails, both streams arrive whole and in order.
#[test]
fn hostile_run_without_hostile_writes_is_clean() {
    let steps: Vec<Step> = (0..400)
        .map(|i| match i % 4 {
            0 => Step::Push(i % 7),
            1 => Step::Take(i % 5),
            2 => Step::Post(i % 9),
            _ => Step::Reap(i % 6),
        })
        .collect();
    assert_eq!(hostile_run::<4, 8>(u32::MAX - 100, &steps), Ok(0));
}

/// Each kind of impossible index, one after the other, is refused by the side that reads
/// it, with the exact error — and every side recovers once the word is sane again.
#[test]
fn hostile_run_refuses_each_impossible_index() {
    use Step::*;
    let steps = [
        Push(3),
        Nudge(SQ_TAIL, 2), // tail = head + 5 > 4: Take and Feed refuse
        Take(1),
        Feed,
        Nudge(SQ_TAIL, -2),
        Take(1),
        Nudge(SQ_HEAD, 3), // device head published 1; now 4 > host tail 3: Push refuses
        Push(1),
        Nudge(SQ_HEAD, -3),
        Push(1),
        Post(8),
        Nudge(CQ_HEAD, -1), // CQ head behind by 9 > 8: Post and Flush refuse
        Post(1),
        Flush,
        Nudge(CQ_HEAD, 1),
        Nudge(CQ_TAIL, 1), // CQ tail ahead by 9: Reap refuses
        Reap(1),
        Nudge(CQ_TAIL, -1),
        Reap(8),
        Push(2),
        Take(4),
    ];
    assert_eq!(hostile_run::<4, 8>(7, &steps), Ok(6));
}

/// The SQE for request `i` of the two-thread stream and how many SQEs its group spans:
/// mostly standalone NOPs; every 61st request starts a 3-NOP IO_LINK chain, every 89th
/// a 2-member IO_HARDLINK chain whose head fails with an injected -5; every 97th is an
/// invalid opcode (200) and every 101st a NOP injecting its own small result. Chains are
/// chosen so their CQEs do not depend on where the device's feed cuts them.
fn stream_group(i: u64) -> Vec<Sqe> {
    if i.is_multiple_of(61) {
        vec![
            Sqe::nop().user_data(i).flags(SqeFlags::IO_LINK),
            Sqe::nop().user_data(i + 1).flags(SqeFlags::IO_LINK),
            Sqe::nop().user_data(i + 2),
        ]
    } else if i.is_multiple_of(89) {
        vec![Sqe::nop_inject(-5).user_data(i).flags(SqeFlags::IO_HARDLINK), Sqe::nop().user_data(i + 1)]
    } else if i.is_multiple_of(97) {
        vec![Sqe::new(200).user_data(i)]
    } else if i.is_multiple_of(101) {
        vec![Sqe::nop_inject((i % 1000) as i32).user_data(i)]
    } else {
        vec![Sqe::nop().user_data(i)]
    }
}

/// The whole stream of `total` SQEs (user_data = position) and, per SQE, the chain it
/// belongs to (its first member's user_data) if any.
fn stream(total: u64) -> (Vec<Sqe>, Vec<Option<u64>>) {
    let mut sqes = Vec::with_capacity(total as usize);
    let mut chain = Vec::with_capacity(total as usize);
    while (sqes.len() as u64) < total {
        let i = sqes.len() as u64;
        let g = stream_group(i);
        let in_chain = g.len() > 1;
        for s in g {
            if (sqes.len() as u64) < total {
                chain.push(in_chain.then_some(i));
                sqes.push(s);
            }
        }
    }
    (sqes, chain)
}

/// What a single-threaded ring answers for each SQE of `sqes` (index = user_data),
/// submitted in batches of 32.
fn reference(sqes: &[Sqe]) -> Vec<Cqe> {
    let mut ring: Box<Ring<32, 64, 32>> = Box::default();
    ring.setup(Setup::new(32).flags(SetupFlags::SUBMIT_ALL)).unwrap();
    let mut want = vec![Cqe::default(); sqes.len()];
    for batch in sqes.chunks(32) {
        for s in batch {
            ring.push(*s).unwrap();
        }
        let _ = ring.submit();
        while let Some(c) = ring.pop() {
            want[c.user_data as usize] = c;
        }
    }
    want
}

/// Requests in the two-thread test: 2 million (about 5 s in a debug build on 2 cores),
/// or `FWRING_SOAK` of them for a longer soak.
fn two_thread_total() -> u64 {
    std::env::var("FWRING_SOAK").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000_000)
}

#[test]
fn two_threads_every_request_completes_once_as_a_single_threaded_ring_says() {
    let total = two_thread_total();
    let (sqes, chain) = stream(total);
    let want = reference(&sqes);
    let qp: Box<QueuePair<32, 64>> = Box::new(QueuePair::new());
    let done = AtomicBool::new(false);

    let (got, device_stats) = std::thread::scope(|s| {
        let device = s.spawn(|| {
            let mut dev = DeviceEnd::new(&qp);
            let mut ring: Box<Ring<32, 64, 32>> = Box::default();
            ring.setup(Setup::new(32).flags(SetupFlags::SUBMIT_ALL)).unwrap();
            let (mut loops, mut idle) = (0u64, 0u64);
            // Acquire: pairs with the host's release store once it has reaped all.
            while !done.load(Ordering::Acquire) {
                let fed = dev.feed(&mut *ring).expect("honest host");
                let _ = ring.submit();
                let flushed = dev.flush(&mut *ring).expect("honest host");
                loops += 1;
                if fed == 0 && flushed == 0 {
                    idle += 1;
                    std::thread::yield_now();
                }
            }
            (loops, idle, dev.dropped())
        });
        let host = s.spawn(|| {
            let mut host = HostEnd::new(&qp);
            let mut got: Vec<Option<Cqe>> = vec![None; sqes.len()];
            let mut next_in_chain: std::collections::HashMap<u64, u64> = Default::default();
            let (mut pushed, mut reaped) = (0usize, 0usize);
            let mut cqes = [Cqe::default(); 64];
            while reaped < sqes.len() {
                let end = (pushed + 32).min(sqes.len());
                pushed += host.push(&sqes[pushed..end]).expect("honest device");
                let n = host.reap(&mut cqes).expect("honest device");
                for c in &cqes[..n] {
                    let ud = c.user_data as usize;
                    assert!(ud < sqes.len(), "unknown user_data {ud}");
                    assert!(got[ud].is_none(), "user_data {ud} completed twice");
                    got[ud] = Some(*c);
                    if let Some(head) = chain[ud] {
                        let next = next_in_chain.entry(head).or_insert(head);
                        assert_eq!(*next, c.user_data, "chain {head} out of order");
                        *next += 1;
                    }
                }
                reaped += n;
                if n == 0 {
                    std::thread::yield_now();
                }
            }
            // Release: the device loop may stop; everything it posted has been reaped.
            done.store(true, Ordering::Release);
            got
        });
        (host.join().unwrap(), device.join().unwrap())
    });
    let (loops, idle, dropped) = device_stats;
    eprintln!("{total} requests, device loops {loops} (idle {idle})");
    assert_eq!(dropped, 0);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.as_ref(), Some(w), "request {i}");
    }
    // The stream did exercise every kind of request.
    assert!(want.iter().any(|c| c.res == -22) && want.iter().any(|c| c.res == -5));
    assert!(want.iter().filter(|c| c.res == 0).count() > sqes.len() / 2);
}

/// `feed` moves whole link chains only: a chain that does not fit the ring's SQ waits in
/// shared memory until the ring has room for all of it, so the ring never sees it cut.
#[test]
fn feed_keeps_link_chains_whole() {
    let qp: QueuePair<16, 32> = QueuePair::new();
    let (mut host, mut dev) = (HostEnd::new(&qp), DeviceEnd::new(&qp));
    let mut ring: Ring<4, 8, 8> = Ring::new();
    let l = SqeFlags::IO_LINK;
    let sqes = [
        Sqe::nop().user_data(1),
        Sqe::nop().user_data(2),
        Sqe::nop().user_data(3).flags(l),
        Sqe::nop_inject(-5).user_data(4).flags(l),
        Sqe::nop().user_data(5),
    ];
    assert_eq!(host.push(&sqes), Ok(5));
    // 4 free SQ slots: the 3-chain starting at SQE 3 does not fit after SQEs 1 and 2.
    assert_eq!(dev.feed(&mut ring), Ok(2));
    let _ = ring.submit();
    assert_eq!(dev.feed(&mut ring), Ok(3));
    let _ = ring.submit();
    assert_eq!(dev.flush(&mut ring), Ok(5));
    let mut out = [Cqe::default(); 8];
    assert_eq!(host.reap(&mut out), Ok(5));
    let got: Vec<(u64, i32)> = out[..5].iter().map(|c| (c.user_data, c.res)).collect();
    assert_eq!(got, [(1, 0), (2, 0), (3, 0), (4, -5), (5, -125)], "the chain ran whole: 5 cancelled behind 4");
    // A chain longer than the ring's whole SQ is cut at its size, as a kernel cuts it.
    let long: Vec<Sqe> =
        (0..6).map(|i| Sqe::nop().user_data(10 + i).flags(if i < 5 { l } else { SqeFlags::empty() })).collect();
    assert_eq!(host.push(&long), Ok(6));
    assert_eq!(dev.feed(&mut ring), Ok(4));
}
