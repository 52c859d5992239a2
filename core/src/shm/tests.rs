//! Unit tests of the queue pair: layout, hostile indices, the bridge to a ring.

use super::layout::*;
use super::*;
use crate::abi::{Cqe, SetupFlags, Sqe, SqeFlags};
use crate::engine::ring::Ring;

use crate::abi::setup::Setup;

type Qp = QueuePair<4, 8>;

use super::word::*;

const CORRUPT: ShmFlags = ShmFlags::CORRUPT;
const CQ_OVERFLOW: ShmFlags = ShmFlags::CQ_OVERFLOW;

fn sqe(n: u64) -> Sqe {
    Sqe::nop().user_data(n).len(n as u32).off(!n)
}

fn sqe_word(slot: usize, w: usize) -> usize {
    Qp::SQES_OFFSET / 4 + slot * SQE_WORDS + w
}

fn cqe_word(slot: usize, w: usize) -> usize {
    Qp::CQES_OFFSET / 4 + slot * CQE_WORDS + w
}

/// Every word of the block.
fn snapshot(qp: &Qp) -> [u32; Qp::WORDS] {
    core::array::from_fn(|i| qp.read_word(i).unwrap_or(0xdead))
}

#[test]
fn layout_pins_every_offset_and_reports_them_as_io_uring_offsets() {
    let sq = Qp::sq_ring_offsets();
    assert_eq!(
        [sq.head, sq.tail, sq.ring_mask, sq.ring_entries, sq.flags, sq.dropped, sq.array, sq.resv1],
        [0, 4, 8, 12, 16, 20, 0, 0]
    );
    let cq = Qp::cq_ring_offsets();
    assert_eq!(
        [cq.head, cq.tail, cq.ring_mask, cq.ring_entries, cq.overflow, cq.flags, cq.cqes, cq.resv1],
        [64, 68, 72, 76, 80, 84, 128 + 4 * 64, 0]
    );
    assert_eq!(Qp::SQES_OFFSET, 128);
    assert_eq!(Qp::CQES_OFFSET, 128 + 4 * 64);
    assert_eq!(size_of::<Qp>(), 128 + 4 * 64 + 8 * 16);
    assert_eq!(Qp::WORDS * 4, size_of::<Qp>());
    assert_eq!(size_of::<QueuePair<32, 64>>(), 128 + 32 * 64 + 64 * 16);
    assert_eq!(QueuePair::<32, 64>::CQES_OFFSET, 128 + 32 * 64);
    let p = Qp::params();
    assert_eq!((p.sq_entries, p.cq_entries, p.flags), (4, 8, SetupFlags::NO_SQARRAY.bits()));
    assert_eq!((p.sq_off, p.cq_off), (sq, cq));

    // The words a host finds at those offsets.
    let qp = Qp::new();
    let at = |off: u32| qp.read_word(off as usize / 4);
    assert_eq!([at(sq.ring_mask), at(sq.ring_entries)], [Some(3), Some(4)]);
    assert_eq!([at(cq.ring_mask), at(cq.ring_entries), at(cq.overflow)], [Some(7), Some(8), Some(0)]);
    assert_eq!(qp.read_word(Qp::WORDS), None);
    assert!(!qp.write_word(Qp::WORDS, 1));
    assert!(qp.write_word(Qp::WORDS - 1, 1));
    assert_eq!(qp.read_word(cqe_word(7, 3)), Some(1));
}

#[test]
fn sqe_and_cqe_words_are_their_abi_bytes() {
    let qp = Qp::new();
    let mut host = HostEnd::new(&qp);
    let s = Sqe::nop_inject(-5).user_data(0x1122_3344_5566_7788).flags(SqeFlags::IO_LINK);
    assert_eq!(host.push(&[s]), Ok(1));
    let bytes: [u8; 64] = zerocopy::transmute!(s);
    for w in 0..SQE_WORDS {
        let b = u32::from_ne_bytes([bytes[4 * w], bytes[4 * w + 1], bytes[4 * w + 2], bytes[4 * w + 3]]);
        assert_eq!(qp.read_word(sqe_word(0, w)), Some(b));
    }
    let mut dev = DeviceEnd::new(&qp);
    assert_eq!(dev.post(&[Cqe { user_data: 0xaabb_ccdd_0011_2233, res: -22, flags: 7 }]), Ok(1));
    assert_eq!(qp.read_word(cqe_word(0, 0)), Some(0x0011_2233));
    assert_eq!(qp.read_word(cqe_word(0, 1)), Some(0xaabb_ccdd));
    assert_eq!(qp.read_word(cqe_word(0, 2)), Some(-22i32 as u32));
    assert_eq!(qp.read_word(cqe_word(0, 3)), Some(7));
}

#[test]
fn push_take_post_reap_round_trip() {
    let qp = Qp::new();
    let (mut host, mut dev) = (HostEnd::new(&qp), DeviceEnd::new(&qp));
    assert_eq!(host.push(&[sqe(1), sqe(2), sqe(3)]), Ok(3));
    assert_eq!(qp.read_word(SQ_TAIL), Some(3));
    let mut got = [Sqe::default(); 8];
    assert_eq!(dev.take(&mut got[..2]), Ok(2));
    assert_eq!(got[..2], [sqe(1), sqe(2)]);
    assert_eq!(qp.read_word(SQ_HEAD), Some(2));
    assert_eq!(dev.take(&mut got), Ok(1));
    assert_eq!(got[0], sqe(3));
    assert_eq!(dev.post(&[Cqe::new(1, 0), Cqe::new(2, -5)]), Ok(2));
    assert_eq!(qp.read_word(CQ_TAIL), Some(2));
    let mut cqes = [Cqe::default(); 8];
    assert_eq!(host.reap(&mut cqes), Ok(2));
    assert_eq!(cqes[..2], [Cqe::new(1, 0), Cqe::new(2, -5)]);
    assert_eq!(qp.read_word(CQ_HEAD), Some(2));
    assert_eq!((host.sq_tail(), host.cq_head(), dev.sq_head(), dev.cq_tail()), (3, 2, 3, 2));
    assert_eq!((host.sq_flags(), host.cq_flags(), host.dropped()), (ShmFlags::empty(), ShmFlags::empty(), 0));
}

#[test]
fn full_and_empty_rings_take_nothing_and_give_nothing() {
    let qp = Qp::new();
    let (mut host, mut dev) = (HostEnd::new(&qp), DeviceEnd::new(&qp));
    let mut out = [Sqe::default(); 8];
    assert_eq!(dev.take(&mut out), Ok(0));
    assert_eq!(host.reap(&mut [Cqe::default(); 8]), Ok(0));
    let batch: [Sqe; 6] = core::array::from_fn(|i| sqe(i as u64));
    assert_eq!(host.push(&batch), Ok(4), "only SQ = 4 fit");
    assert_eq!(host.push(&batch), Ok(0), "full");
    assert_eq!(dev.take(&mut out[..1]), Ok(1));
    assert_eq!(host.push(&batch[4..]), Ok(1));
    assert_eq!(dev.take(&mut out), Ok(4));
    assert_eq!(out[..4], [sqe(1), sqe(2), sqe(3), sqe(4)]);
    let cqes: [Cqe; 10] = core::array::from_fn(|i| Cqe::new(i as u64, 0));
    assert_eq!(dev.post(&cqes), Ok(8));
    assert_eq!(dev.post(&cqes), Ok(0));
    assert_eq!(dev.take(&mut out), Ok(0));
    let mut back = [Cqe::default(); 10];
    assert_eq!(host.reap(&mut back), Ok(8));
    assert_eq!(back[..8], cqes[..8]);
    assert_eq!(host.reap(&mut back), Ok(0));
    assert_eq!(host.push(&[]), Ok(0));
    assert_eq!(dev.take(&mut []), Ok(0));
}

#[test]
fn indices_wrap_across_u32_overflow() {
    let qp = Qp::new();
    qp.init(u32::MAX - 5);
    let (mut host, mut dev) = (HostEnd::new(&qp), DeviceEnd::new(&qp));
    let mut next = 0u64;
    let mut want_sqe = 0u64;
    let mut want_cqe = 0u64;
    for round in 0..20 {
        let batch: [Sqe; 3] = core::array::from_fn(|i| sqe(next + i as u64));
        let n = host.push(&batch[..1 + round % 3]).unwrap();
        next += n as u64;
        let mut out = [Sqe::default(); 4];
        let t = dev.take(&mut out).unwrap();
        let mut cqes = [Cqe::default(); 4];
        for (i, s) in out[..t].iter().enumerate() {
            assert_eq!(*s, sqe(want_sqe));
            want_sqe += 1;
            cqes[i] = Cqe::new(s.user_data, s.len as i32);
        }
        assert_eq!(dev.post(&cqes[..t]), Ok(t));
        let mut back = [Cqe::default(); 8];
        let r = host.reap(&mut back).unwrap();
        for c in &back[..r] {
            assert_eq!(*c, Cqe::new(want_cqe, want_cqe as i32));
            want_cqe += 1;
        }
    }
    assert_eq!(want_cqe, next);
    assert!(next > 6, "crossed u32::MAX");
    assert_eq!(host.sq_tail(), (u32::MAX - 5).wrapping_add(next as u32));
    assert_eq!(dev.sq_head(), host.sq_tail());
    assert_eq!(dev.cq_tail(), host.cq_head());
    assert_eq!(qp.read_word(SQ_TAIL), Some(host.sq_tail()));
}

#[test]
fn sq_tail_ahead_by_entries_plus_one_is_refused_and_reported() {
    let qp = Qp::new();
    qp.init(u32::MAX - 1);
    let (mut host, mut dev) = (HostEnd::new(&qp), DeviceEnd::new(&qp));
    assert_eq!(host.push(&[sqe(1)]), Ok(1));
    let head = dev.sq_head();
    let bad = head.wrapping_add(4 + 1);
    assert!(qp.write_word(SQ_TAIL, bad));
    let before = snapshot(&qp);
    let mut out = [Sqe::default(); 8];
    assert_eq!(dev.take(&mut out), Err(ShmError::SqCorrupt { head, tail: bad }));
    assert_eq!(out, [Sqe::default(); 8], "nothing consumed");
    assert_eq!(dev.sq_head(), head);
    assert_eq!(dev.dropped(), 1);
    assert_eq!(qp.read_word(SQ_DROPPED), Some(1));
    assert_eq!(qp.read_word(SQ_FLAGS), Some(CORRUPT.bits()));
    // Only the flags and dropped words changed.
    let after = snapshot(&qp);
    for (i, (a, b)) in before.iter().zip(&after).enumerate() {
        if i != SQ_FLAGS && i != SQ_DROPPED {
            assert_eq!(a, b, "word {i}");
        }
    }
    // Refused again while it stays corrupt; `dropped` counts each refused batch.
    assert!(dev.take(&mut out).is_err());
    assert_eq!((dev.dropped(), host.dropped()), (2, 2));
    // Exactly `entries` ahead is fine: a full ring (of stale entries).
    assert!(qp.write_word(SQ_TAIL, head.wrapping_add(4)));
    assert_eq!(dev.take(&mut out), Ok(4));
    assert_eq!(out[0], sqe(1));
    assert_eq!(qp.read_word(SQ_FLAGS), Some(CORRUPT.bits()), "sticky");
}

#[test]
fn sq_tail_behind_the_device_head_is_refused() {
    let qp = Qp::new();
    let (mut host, mut dev) = (HostEnd::new(&qp), DeviceEnd::new(&qp));
    assert_eq!(host.push(&[sqe(1), sqe(2)]), Ok(2));
    assert_eq!(dev.take(&mut [Sqe::default(); 2]), Ok(2));
    assert!(qp.write_word(SQ_TAIL, 1));
    assert_eq!(dev.take(&mut [Sqe::default(); 2]), Err(ShmError::SqCorrupt { head: 2, tail: 1 }));
    assert_eq!(dev.sq_head(), 2);
    // The honest host's own tail is private: its next push republishes 3.
    assert_eq!(host.push(&[sqe(3)]), Ok(1));
    let mut out = [Sqe::default(); 2];
    assert_eq!(dev.take(&mut out), Ok(1));
    assert_eq!(out[0], sqe(3));
}

#[test]
fn sq_head_ahead_of_tail_or_way_behind_is_refused_by_the_host() {
    let qp = Qp::new();
    qp.init(u32::MAX);
    let mut host = HostEnd::new(&qp);
    assert_eq!(host.push(&[sqe(1)]), Ok(1));
    let tail = host.sq_tail();
    for bad_head in [tail.wrapping_add(1), tail.wrapping_sub(5), tail.wrapping_add(1 << 31)] {
        assert!(qp.write_word(SQ_HEAD, bad_head));
        let before = snapshot(&qp);
        assert_eq!(host.push(&[sqe(9); 3]), Err(ShmError::SqCorrupt { head: bad_head, tail }));
        assert_eq!(host.sq_tail(), tail, "nothing produced");
        let after = snapshot(&qp);
        for (i, (a, b)) in before.iter().zip(&after).enumerate() {
            if i != SQ_FLAGS {
                assert_eq!(a, b, "word {i}");
            }
        }
        assert!(host.sq_flags().contains(CORRUPT));
    }
    // Exactly `entries` behind: full, not corrupt.
    assert!(qp.write_word(SQ_HEAD, tail.wrapping_sub(4)));
    assert_eq!(host.push(&[sqe(2)]), Ok(0));
    assert!(qp.write_word(SQ_HEAD, tail));
    assert_eq!(host.push(&[sqe(2)]), Ok(1));
}

#[test]
fn cq_indices_out_of_range_are_refused_by_both_sides() {
    let qp = Qp::new();
    qp.init(0x7fff_fffe);
    let (mut host, mut dev) = (HostEnd::new(&qp), DeviceEnd::new(&qp));
    assert_eq!(dev.post(&[Cqe::new(1, 0), Cqe::new(2, 0)]), Ok(2));
    let (head, tail) = (host.cq_head(), dev.cq_tail());
    // Device (producer) sees the host's head ahead of its tail, or far behind.
    for bad_head in [tail.wrapping_add(1), tail.wrapping_sub(9), head ^ 0x8000_0000] {
        assert!(qp.write_word(CQ_HEAD, bad_head));
        assert_eq!(dev.post(&[Cqe::new(3, 0)]), Err(ShmError::CqCorrupt { head: bad_head, tail }));
        assert_eq!(dev.cq_tail(), tail);
    }
    assert_eq!(qp.read_word(CQ_FLAGS), Some(CORRUPT.bits()));
    assert!(qp.write_word(CQ_FLAGS, 0));
    // Host (consumer) sees the device's tail entries + 1 ahead, or behind its head.
    for bad_tail in [head.wrapping_add(9), head.wrapping_sub(1)] {
        assert!(qp.write_word(CQ_TAIL, bad_tail));
        let mut out = [Cqe::default(); 8];
        assert_eq!(host.reap(&mut out), Err(ShmError::CqCorrupt { head, tail: bad_tail }));
        assert_eq!(out, [Cqe::default(); 8]);
        assert_eq!(host.cq_head(), head);
        assert_eq!(host.cq_flags(), CORRUPT);
    }
    // Both recover once the words are sane again.
    assert!(qp.write_word(CQ_TAIL, tail));
    assert!(qp.write_word(CQ_HEAD, head));
    let mut out = [Cqe::default(); 8];
    assert_eq!(host.reap(&mut out), Ok(2));
    assert_eq!(out[..2], [Cqe::new(1, 0), Cqe::new(2, 0)]);
    assert_eq!(dev.post(&[Cqe::new(3, 0)]), Ok(1));
}

#[test]
fn garbage_in_flags_mask_entries_and_padding_changes_nothing() {
    let qp = Qp::new();
    let (mut host, mut dev) = (HostEnd::new(&qp), DeviceEnd::new(&qp));
    for i in [2, 3, 4, 5, 6, 15, 18, 19, 20, 21, 22, 31] {
        assert!(qp.write_word(i, 0xffff_ffff));
    }
    assert_eq!(host.push(&[sqe(1), sqe(2), sqe(3), sqe(4), sqe(5)]), Ok(4));
    let mut out = [Sqe::default(); 8];
    assert_eq!(dev.take(&mut out), Ok(4));
    assert_eq!(out[3], sqe(4));
    let cqes = [Cqe::new(1, 1); 9];
    assert_eq!(dev.post(&cqes), Ok(8));
    assert_eq!(host.reap(&mut [Cqe::default(); 9]), Ok(8));
    // The device's flag writes touch only its own bit.
    assert!(qp.write_word(SQ_FLAGS, 0x0000_f0f0));
    dev.set_backpressure(true);
    assert_eq!(host.sq_flags().bits(), 0x0000_f0f0 | CQ_OVERFLOW.bits());
    dev.set_backpressure(false);
    assert_eq!(host.sq_flags().bits(), 0x0000_f0f0);
}

#[test]
fn a_peer_rewriting_our_published_index_is_ignored() {
    let qp = Qp::new();
    let (mut host, mut dev) = (HostEnd::new(&qp), DeviceEnd::new(&qp));
    assert_eq!(host.push(&[sqe(1), sqe(2)]), Ok(2));
    // The host scribbles over the device's SQ head: the device never reads it back.
    assert!(qp.write_word(SQ_HEAD, 1));
    let mut out = [Sqe::default(); 4];
    assert_eq!(dev.take(&mut out), Ok(2));
    assert_eq!(out[..2], [sqe(1), sqe(2)]);
    assert_eq!(qp.read_word(SQ_HEAD), Some(2), "republished from the private copy");
    // The device scribbles over the host's CQ head and SQ tail.
    assert_eq!(dev.post(&[Cqe::new(1, 0)]), Ok(1));
    assert!(qp.write_word(CQ_HEAD, 1));
    assert!(qp.write_word(SQ_TAIL, 0));
    let mut cqes = [Cqe::default(); 2];
    assert_eq!(host.reap(&mut cqes), Ok(1));
    assert_eq!(cqes[0], Cqe::new(1, 0));
    assert_eq!(host.push(&[sqe(3)]), Ok(1));
    assert_eq!(qp.read_word(SQ_TAIL), Some(3));
}

#[test]
fn entries_mutated_after_publication_are_read_once() {
    let qp = Qp::new();
    let (mut host, mut dev) = (HostEnd::new(&qp), DeviceEnd::new(&qp));
    assert_eq!(host.push(&[sqe(1), sqe(2)]), Ok(2));
    // Rewritten after publication, before the device reads: it sees the new value,
    // whole, in one copy.
    assert!(qp.write_word(sqe_word(0, 0), 200));
    let mut out = [Sqe::default(); 1];
    assert_eq!(dev.take(&mut out), Ok(1));
    assert_eq!(out[0], Sqe { opcode: 200, ..sqe(1) });
    // Rewritten after the device copied it: the copy does not change.
    let mut ring: Ring<4, 8, 4> = Ring::new();
    assert_eq!(dev.feed(&mut ring), Ok(1));
    for w in 0..SQE_WORDS {
        assert!(qp.write_word(sqe_word(1, w), 0xffff_ffff));
    }
    let _ = ring.submit();
    assert_eq!(ring.pop(), Some(Cqe::new(2, 0)));
    // Same for CQEs the host copied.
    assert_eq!(dev.post(&[Cqe::new(5, 5)]), Ok(1));
    let mut cqes = [Cqe::default(); 1];
    assert_eq!(host.reap(&mut cqes), Ok(1));
    assert!(qp.write_word(cqe_word(0, 2), 0));
    assert_eq!(cqes[0], Cqe::new(5, 5));
}

#[test]
fn feed_and_flush_bridge_the_ring_without_losing_a_cqe() {
    let qp = Qp::new();
    let (mut host, mut dev) = (HostEnd::new(&qp), DeviceEnd::new(&qp));
    // Ring CQ of 4, shared CQ of 8: 12 completions can wait before backpressure.
    let mut ring: Ring<4, 4, 4> = Ring::new();
    ring.setup(Setup::new(4).cq_entries(4).flags(SetupFlags::SUBMIT_ALL)).unwrap();
    let mut next = 0u64;
    let mut rounds = 0;
    loop {
        let batch: [Sqe; 4] = core::array::from_fn(|i| Sqe::nop().user_data(next + i as u64));
        next += host.push(&batch).unwrap() as u64;
        dev.feed(&mut ring).unwrap();
        let _ = ring.submit();
        dev.flush(&mut ring).unwrap();
        rounds += 1;
        if host.sq_flags().contains(CQ_OVERFLOW) {
            break;
        }
        assert!(rounds < 10, "backpressure never raised");
    }
    assert!(dev.backpressure());
    // Shared CQ full (8), ring CQ full (4), ring SQ full (4), shared SQ full (4).
    assert_eq!(dev.cq_tail(), 8);
    assert_eq!(ring.cq().len(), 4);
    assert_eq!(host.push(&[Sqe::nop()]), Ok(0));
    // Reap everything while the device keeps looping: every user_data exactly once,
    // in order, and the flag clears.
    let mut want = 0u64;
    let mut cqes = [Cqe::default(); 3];
    while want < next {
        let n = host.reap(&mut cqes).unwrap();
        for c in &cqes[..n] {
            assert_eq!(*c, Cqe::new(want, 0));
            want += 1;
        }
        dev.feed(&mut ring).unwrap();
        let _ = ring.submit();
        dev.flush(&mut ring).unwrap();
    }
    assert!(!dev.backpressure());
    assert!(!host.sq_flags().contains(CQ_OVERFLOW));
    assert_eq!(ring.pop(), None);
}

#[test]
fn feed_and_flush_refuse_corrupt_indices_and_leave_the_ring_alone() {
    let qp = Qp::new();
    let (mut host, mut dev) = (HostEnd::new(&qp), DeviceEnd::new(&qp));
    let mut ring: Ring<4, 8, 4> = Ring::new();
    assert_eq!(host.push(&[Sqe::nop().user_data(1)]), Ok(1));
    assert!(qp.write_word(SQ_TAIL, 100));
    assert_eq!(dev.feed(&mut ring), Err(ShmError::SqCorrupt { head: 0, tail: 100 }));
    assert_eq!(ring.sq().len(), 0);
    assert!(qp.write_word(SQ_TAIL, 1));
    assert_eq!(dev.feed(&mut ring), Ok(1));
    let _ = ring.submit();
    assert!(qp.write_word(CQ_HEAD, 50));
    assert_eq!(dev.flush(&mut ring), Err(ShmError::CqCorrupt { head: 50, tail: 0 }));
    assert_eq!(ring.cq().len(), 1, "the CQE stays in the ring");
    assert!(qp.write_word(CQ_HEAD, 0));
    assert_eq!(dev.flush(&mut ring), Ok(1));
    let mut c = [Cqe::default(); 1];
    assert_eq!(host.reap(&mut c), Ok(1));
    assert_eq!(c[0], Cqe::new(1, 0));
}

#[test]
fn errors_display_head_and_tail() {
    use core::fmt::Write;
    let text = |e: ShmError| {
        let mut s = heapless::String::<64>::new();
        write!(s, "{e}").expect("fits");
        s
    };
    assert_eq!(text(ShmError::SqCorrupt { head: 1, tail: 9 }), "SQ indices corrupt: head 1, tail 9");
    assert_eq!(text(ShmError::CqCorrupt { head: 2, tail: 0 }), "CQ indices corrupt: head 2, tail 0");
}

/// A queue pair is placeable in a `static` (const `new`, `Sync`).
static STATIC_QP: QueuePair<2, 2> = QueuePair::new();

#[test]
fn a_queue_pair_lives_in_a_static() {
    let mut host = HostEnd::new(&STATIC_QP);
    let mut dev = DeviceEnd::new(&STATIC_QP);
    assert_eq!(host.push(&[sqe(7)]), Ok(1));
    let mut out = [Sqe::default(); 1];
    assert_eq!(dev.take(&mut out), Ok(1));
    assert_eq!(out[0], sqe(7));
}
