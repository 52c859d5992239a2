//! docs/CONFORMANCE.md §1–§7 and §11, item by item: each test names the behaviour
//! and cites its checklist id; expected CQE streams are the kernel's (kernel-checked
//! items), in the kernel's global order.
//!
//! Items that need a request to stay in flight across a submit call (TIMEOUT, pending
//! reads: C-DRAIN-1/3/4/5/6 as written, C-LINK-18) are exercised here with link chains,
//! which are in flight across passes of one submit; their TIMEOUT forms come with
//! asynchronous completion.

use fwring::{
    Cqe, Errno, Features, Issue, IssueCx, NopFlags, Op, OpVTable, PrepCx, ReqInfo, Ring, Setup, SetupFlags, SlotState,
    SqRingFlags, Sqe, Stop, Submitted, Unregistered, opcode, vtable,
};
use fwring_tests::res::*;
use fwring_tests::*;

type R = Ring<32, 64, 32>;

fn ring() -> R {
    let mut r = R::new();
    r.setup(Setup::new(32)).unwrap();
    r
}

fn ring_with(flags: SetupFlags) -> R {
    let mut r = R::new();
    r.setup(Setup::new(32).flags(flags)).unwrap();
    r
}

fn nop_flags(ud: u64, nf: u32) -> Sqe {
    Sqe { op_flags: nf, ..Sqe::nop().user_data(ud) }
}

// ---------------------------------------------------------------- §2 NOP

#[test]
fn nop_completes_with_zero_c_nop_1() {
    let (s, c) = run(&mut ring(), &[nop(1, NONE)]);
    assert_eq!((s.taken, s.stop), (1, Stop::Empty));
    assert_eq!(c, [(1, 0)]);
}

#[test]
fn nop_inject_result_is_len_c_nop_2_3_4() {
    let (_, c) = run(&mut ring(), &[inj(1, 42, NONE), inj(2, -5, NONE), inj(3, 0, NONE), inj(4, i32::MIN, NONE)]);
    assert_eq!(c, [(1, 42), (2, -5), (3, 0), (4, i32::MIN)]);
}

#[test]
fn nop_len_ignored_without_inject_c_nop_5() {
    let (_, c) = run(&mut ring(), &[nop(1, NONE).len(7)]);
    assert_eq!(c, [(1, 0)]);
}

#[test]
fn nop_flags_above_bit_5_are_einval_c_nop_6() {
    let sqes = [nop_flags(1, 0x40), nop_flags(2, 0x80), nop_flags(3, 0x100), nop_flags(4, 0x8000_0000)];
    let mut r = ring_with(SetupFlags::SUBMIT_ALL);
    let (_, c) = run(&mut r, &sqes);
    assert_eq!(c, [(1, EINVAL), (2, EINVAL), (3, EINVAL), (4, EINVAL)]);
}

#[test]
fn nop_ignores_junk_fields_c_nop_7() {
    let sqe = Sqe { fd: 77, addr: 0xdead, off: 0xbeef, addr3: 1, pad2: 2, file_index: 3, ..nop(1, NONE) };
    assert_eq!(run(&mut ring(), &[sqe]).1, [(1, 0)]);
}

#[test]
fn nop_file_flags_c_nop_8() {
    let mut file = nop_flags(1, NopFlags::FILE.bits());
    file.fd = -1;
    let sqes = [file, nop_flags(2, NopFlags::FIXED_FILE.bits()), nop_flags(3, NopFlags::TW.bits())];
    assert_eq!(run(&mut ring(), &sqes).1, [(1, EBADF), (2, 0), (3, 0)]);
}

#[test]
fn nop_fixed_buffer_without_table_is_efault_c_nop_9() {
    let sqe = Sqe { buf_index: 0, ..nop_flags(1, NopFlags::FIXED_BUFFER.bits()) };
    assert_eq!(run(&mut ring(), &[sqe]).1, [(1, EFAULT)]);
}

#[test]
fn nop_cqe32_without_cqe32_ring_is_einval_c_nop_10_c_abi_4() {
    assert_eq!(run(&mut ring(), &[nop_flags(1, NopFlags::CQE32.bits())]).1, [(1, EINVAL)]);
}

#[test]
fn nop_async_and_fixed_file_flags_complete_c_nop_11() {
    let sqes = [nop(1, A), nop(2, fwring::SqeFlags::FIXED_FILE)];
    assert_eq!(run(&mut ring(), &sqes).1, [(1, 0), (2, 0)]);
}

#[test]
fn nop_buffer_select_is_eopnotsupp_c_nop_12() {
    let sqe = nop(1, fwring::SqeFlags::BUFFER_SELECT);
    assert_eq!(run(&mut ring(), &[sqe]).1, [(1, EOPNOTSUPP)]);
}

#[test]
fn nop_tw_completes_one_pass_later() {
    // NOP_TW posts through task work: after the inline NOP submitted behind it.
    let sqes = [nop_flags(1, NopFlags::TW.bits()), nop(2, NONE)];
    assert_eq!(run(&mut ring(), &sqes).1, [(2, 0), (1, 0)]);
}

#[test]
fn nop_rejects_ioprio_and_personality() {
    let sqes = [Sqe { ioprio: 1, ..nop(1, NONE) }, Sqe { personality: 3, ..nop(2, NONE) }];
    let (_, c) = run(&mut ring_with(SetupFlags::SUBMIT_ALL), &sqes);
    assert_eq!(c, [(1, EINVAL), (2, EINVAL)]);
}

// ---------------------------------------------------------------- §3 opcodes and flags

#[test]
fn bad_opcodes_are_einval_c_op_1() {
    let sqes = [Sqe::new(66).user_data(1), Sqe::new(255).user_data(2), Sqe::new(opcode::NOP128).user_data(3)];
    let (_, c) = run(&mut ring_with(SetupFlags::SUBMIT_ALL), &sqes);
    assert_eq!(c, [(1, EINVAL), (2, EINVAL), (3, EINVAL)]);
}

#[test]
fn opcodes_not_built_in_are_eopnotsupp() {
    let sqes = [Sqe::new(opcode::READV).user_data(1), Sqe::new(opcode::WRITE).user_data(2)];
    let (_, c) = run(&mut ring_with(SetupFlags::SUBMIT_ALL), &sqes);
    assert_eq!(c, [(1, EOPNOTSUPP), (2, EOPNOTSUPP)]);
}

#[test]
fn submit_time_failure_ends_the_submit_call_c_op_2_c_flag_2() {
    let mut r = ring();
    let (s, c) = run(&mut r, &[bad(1, NONE), nop(2, NONE)]);
    assert_eq!((s.taken, s.stop), (1, Stop::Failed));
    assert_eq!(c, [(1, EINVAL)]);
    // The NOP is still queued and runs with the next submit.
    assert_eq!(r.sq().len(), 1);
    let s = r.submit();
    assert_eq!((s.taken, s.stop), (1, Stop::Empty));
    assert_eq!(reap(&mut r), [(2, 0)]);
}

#[test]
fn submit_all_keeps_going_after_a_failure_c_op_3() {
    let (s, c) = run(&mut ring_with(SetupFlags::SUBMIT_ALL), &[bad(1, NONE), nop(2, NONE)]);
    assert_eq!((s.taken, s.stop), (2, Stop::Empty));
    assert_eq!(c, [(1, EINVAL), (2, 0)]);
}

#[test]
fn undefined_sqe_flag_bit_is_einval_and_stops_c_flag_1() {
    let (s, c) = run(&mut ring(), &[Sqe { flags: 0x80, ..nop(1, NONE) }, nop(2, NONE)]);
    assert_eq!((s.taken, s.stop), (1, Stop::Failed));
    assert_eq!(c, [(1, EINVAL)]);
}

#[test]
fn full_sq_hands_the_sqe_back_c_flag_3() {
    let mut r = ring();
    for i in 0..32 {
        r.push(nop(i, NONE)).unwrap();
    }
    let extra = nop(99, NONE);
    assert_eq!(r.push(extra), Err(extra));
    assert_eq!(r.submit().taken, 32);
    assert_eq!(reap(&mut r).len(), 32);
}

/// A ring set up with fewer SQ entries than its storage fills at its own size, before
/// and after the head has moved on (C-FLAG-3).
#[test]
fn smaller_sq_fills_at_its_set_up_size_c_flag_3() {
    let mut r = R::new();
    r.setup(Setup::new(8)).unwrap();
    for round in 0..3u64 {
        for i in 0..8 {
            r.push(nop(round * 100 + i, NONE)).unwrap();
        }
        let extra = nop(99, NONE);
        assert_eq!(r.push(extra), Err(extra));
        assert_eq!((r.sq().len(), r.sq().space()), (8, 0));
        // All eight consumed, five pushed: three slots left.
        assert_eq!(r.submit().taken, 8);
        for i in 0..5 {
            r.push(nop(round * 100 + 50 + i, NONE)).unwrap();
        }
        assert_eq!((r.sq().space(), r.sq().capacity()), (3, 8));
        assert_eq!(r.submit().taken, 5);
        assert_eq!(reap(&mut r).len(), 13);
    }
}

// ---------------------------------------------------------------- §4 links

#[test]
fn link_chain_completes_in_order_c_link_1() {
    let (_, c) = run(&mut ring(), &[nop(1, L), nop(2, L), nop(3, NONE)]);
    assert_eq!(c, [(1, 0), (2, 0), (3, 0)]);
}

#[test]
fn failed_head_cancels_chain_after_inline_completions_c_link_2_c_link_4() {
    let (_, c) = run(&mut ring(), &[inj(1, -5, L), nop(2, L), nop(3, NONE), nop(4, NONE)]);
    assert_eq!(c, [(1, -5), (4, 0), (2, ECANCELED), (3, ECANCELED)]);
}

#[test]
fn failed_middle_member_cancels_the_rest_c_link_3() {
    let (_, c) = run(&mut ring(), &[nop(1, L), inj(2, -5, L), nop(3, L), nop(4, NONE)]);
    assert_eq!(c, [(1, 0), (2, -5), (3, ECANCELED), (4, ECANCELED)]);
}

#[test]
fn hardlink_survives_failure_link_does_not_c_link_5() {
    let (_, c) = run(&mut ring(), &[inj(1, -5, H), nop(2, H), inj(3, -7, L), nop(4, NONE)]);
    assert_eq!(c, [(1, -5), (2, 0), (3, -7), (4, ECANCELED)]);
}

#[test]
fn link_and_hardlink_together_act_as_hardlink_c_link_6() {
    let (_, c) = run(&mut ring(), &[inj(1, -5, L | H), nop(2, NONE)]);
    assert_eq!(c, [(1, -5), (2, 0)]);
}

#[test]
fn chain_open_at_end_of_submission_runs_as_submitted_c_link_7() {
    let (_, c) = run(&mut ring(), &[nop(1, L), nop(2, L)]);
    assert_eq!(c, [(1, 0), (2, 0)]);
}

#[test]
fn submit_failure_mid_chain_cancels_head_keeps_absorbing_c_link_8() {
    let (s, c) = run(&mut ring(), &[nop(1, L), bad(2, L), nop(3, L), nop(4, NONE), nop(5, NONE)]);
    assert_eq!((s.taken, s.stop), (5, Stop::Empty));
    assert_eq!(c, [(1, ECANCELED), (5, 0), (2, EINVAL), (3, ECANCELED), (4, ECANCELED)]);
}

#[test]
fn submit_failure_ending_a_chain_stops_submission_c_link_9() {
    let mut r = ring();
    let (s, c) = run(&mut r, &[nop(1, L), bad(2, NONE), nop(3, NONE)]);
    assert_eq!((s.taken, s.stop), (2, Stop::Failed));
    assert_eq!(c, [(1, ECANCELED), (2, EINVAL)]);
    let _ = r.submit();
    assert_eq!(reap(&mut r), [(3, 0)]);
}

#[test]
fn prep_failure_on_head_c_link_10() {
    let (s, c) = run(&mut ring(), &[nop_flags(1, 0x40).flags(L), nop(2, L), nop(3, NONE), nop(4, NONE)]);
    assert_eq!(s.taken, 4);
    assert_eq!(c, [(1, EINVAL), (4, 0), (2, ECANCELED), (3, ECANCELED)]);
}

#[test]
fn invalid_flag_sqe_still_joins_chain_c_link_11() {
    let bad_flags = Sqe { flags: (L.bits() | 0x80), ..nop(2, NONE) };
    let (_, c) = run(&mut ring(), &[nop(1, L), bad_flags, nop(3, NONE), nop(4, NONE)]);
    assert_eq!(c, [(1, ECANCELED), (4, 0), (2, EINVAL), (3, ECANCELED)]);
}

#[test]
fn hardlinks_do_not_survive_submit_failures_c_link_12() {
    let (_, c) = run(&mut ring(), &[nop(1, H), bad(2, H), nop(3, H), nop(4, NONE)]);
    assert_eq!(c, [(1, ECANCELED), (2, EINVAL), (3, ECANCELED), (4, ECANCELED)]);
}

#[test]
fn prep_failure_on_hardlink_head_c_link_13() {
    let (_, c) = run(&mut ring(), &[nop_flags(1, 0x40).flags(H), nop(2, NONE)]);
    assert_eq!(c, [(1, EINVAL), (2, ECANCELED)]);
}

#[test]
fn ecanceled_result_counts_as_failure_c_link_14() {
    let (_, c) = run(&mut ring(), &[inj(1, ECANCELED, L), nop(2, NONE)]);
    assert_eq!(c, [(1, ECANCELED), (2, ECANCELED)]);
}

#[test]
fn independent_chains_do_not_affect_each_other_c_link_15() {
    let (_, c) = run(&mut ring(), &[inj(1, -5, L), nop(2, NONE), nop(3, L), nop(4, NONE)]);
    assert_eq!(c, [(1, -5), (3, 0), (2, ECANCELED), (4, 0)]);
}

/// NOP chains run without the in-flight table (the ring's NOP chain run) and still
/// complete pass by pass: every chain's head and every standalone NOP first, in
/// submission order, then every chain's second member, and so on.
#[test]
fn nop_chains_and_standalone_nops_complete_pass_by_pass_c_link_4() {
    let mut r = ring();
    let (s, c) = run(&mut r, &[nop(1, L), nop(2, L), nop(3, NONE), nop(4, NONE), nop(5, H), nop(6, NONE)]);
    assert_eq!(s, Submitted { taken: 6, stop: Stop::Empty });
    assert_eq!(c, [(1, 0), (4, 0), (5, 0), (2, 0), (6, 0), (3, 0)]);
    assert_eq!((r.in_flight(), r.cq_reserved()), (0, 0));
}

/// A hardlinked NOP that fails keeps its chain going, in pass order beside another.
#[test]
fn failing_hardlinked_nop_keeps_its_chain_in_pass_order_c_link_5() {
    let (_, c) = run(&mut ring(), &[inj(1, -5, H), nop(2, NONE), nop(3, L), inj(4, -7, NONE)]);
    assert_eq!(c, [(1, -5), (3, 0), (2, 0), (4, -7)]);
}

/// NOP chains that do not all fit the CQ: the call takes the chains that fit and stops
/// with backpressure at the first that does not; the rest run once CQEs are reaped.
#[test]
fn nop_chains_beyond_the_cq_room_wait_for_reaping() {
    let mut r = R::new();
    r.setup(Setup::new(8).flags(SetupFlags::CQSIZE).cq_entries(8)).unwrap();
    // Three CQEs left unreaped: room for five.
    for ud in 1..=3 {
        r.push(nop(ud, NONE)).unwrap();
    }
    assert_eq!(r.submit(), Submitted { taken: 3, stop: Stop::Empty });
    for sqe in [nop(4, L), nop(5, L), nop(6, NONE), nop(7, L), nop(8, L), nop(9, NONE)] {
        r.push(sqe).unwrap();
    }
    assert_eq!(r.submit(), Submitted { taken: 3, stop: Stop::Backpressure });
    assert!(r.sq_flags().contains(SqRingFlags::CQ_OVERFLOW));
    assert_eq!(reap(&mut r), [(1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (6, 0)]);
    assert_eq!(r.submit(), Submitted { taken: 3, stop: Stop::Empty });
    assert_eq!(reap(&mut r), [(7, 0), (8, 0), (9, 0)]);
    assert!(!r.sq_flags().contains(SqRingFlags::CQ_OVERFLOW));
}

#[test]
fn zero_result_is_success_c_link_16() {
    let (_, c) = run(&mut ring(), &[inj(1, 0, L), nop(2, NONE)]);
    assert_eq!(c, [(1, 0), (2, 0)]);
}

#[test]
fn failing_async_head_cancels_c_link_17() {
    let (_, c) = run(&mut ring(), &[inj(1, -5, L | A), nop(2, NONE)]);
    assert_eq!(c, [(1, -5), (2, ECANCELED)]);
}

#[test]
fn successor_is_not_issued_before_predecessor_completes_c_link_18_via_passes() {
    // Each member completes one pass after the previous one, so a standalone NOP
    // submitted behind a 3-chain overtakes all but its head.
    let (_, c) = run(&mut ring(), &[nop(1, L), nop(2, L), nop(3, NONE), nop(4, NONE)]);
    assert_eq!(c, [(1, 0), (4, 0), (2, 0), (3, 0)]);
}

// ---------------------------------------------------------------- §5 drain

#[test]
fn drained_request_waits_for_earlier_chain_later_wait_for_it_c_drain_1() {
    // A 3-chain is in flight for three passes; the drained NOP runs after it, and the
    // NOP behind the drain after that.
    let (_, c) = run(&mut ring(), &[nop(1, L), nop(2, L), nop(3, NONE), nop(4, D), nop(5, NONE)]);
    assert_eq!(c, [(1, 0), (2, 0), (3, 0), (4, 0), (5, 0)]);
}

#[test]
fn drain_with_nothing_in_flight_c_drain_2() {
    let (_, c) = run(&mut ring(), &[nop(1, NONE), nop(2, D), nop(3, NONE)]);
    assert_eq!(c, [(1, 0), (2, 0), (3, 0)]);
}

#[test]
fn drain_waits_for_everything_earlier_c_drain_3() {
    let (_, c) = run(&mut ring(), &[nop(1, L), nop(2, NONE), nop(3, NONE), nop(4, D), nop(5, NONE)]);
    assert_eq!(c, [(1, 0), (3, 0), (2, 0), (4, 0), (5, 0)]);
}

#[test]
fn drain_on_chain_head_c_drain_4() {
    let (_, c) = run(&mut ring(), &[nop(1, L), nop(2, NONE), nop(3, D | L), nop(4, NONE), nop(5, NONE)]);
    assert_eq!(c, [(1, 0), (2, 0), (3, 0), (4, 0), (5, 0)]);
}

#[test]
fn drain_on_non_head_member_drains_chain_and_next_c_drain_5() {
    let (_, c) = run(&mut ring(), &[nop(1, L), nop(2, NONE), nop(3, L), nop(4, D), nop(5, NONE), nop(6, NONE)]);
    assert_eq!(c, [(1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (6, 0)]);
}

#[test]
fn drain_at_chain_end_c_drain_7() {
    let (_, c) = run(&mut ring(), &[nop(1, L), nop(2, L), nop(3, D)]);
    assert_eq!(c, [(1, 0), (2, 0), (3, 0)]);
}

#[test]
fn failed_sqe_bypasses_an_active_drain() {
    // Linux completes submit-time failures at once, drain or not.
    let (_, c) = run(&mut ring_with(SetupFlags::SUBMIT_ALL), &[nop(1, L), nop(2, NONE), nop(3, D), bad(4, NONE)]);
    assert_eq!(c, [(1, 0), (4, EINVAL), (2, 0), (3, 0)]);
}

// ---------------------------------------------------------------- §6 CQE_SKIP_SUCCESS

#[test]
fn skip_success_posts_nothing_c_skip_1() {
    assert_eq!(run(&mut ring(), &[nop(1, S), nop(2, NONE)]).1, [(2, 0)]);
}

#[test]
fn skip_failure_posts_c_skip_2() {
    assert_eq!(run(&mut ring(), &[inj(1, -5, S), nop(2, NONE)]).1, [(1, -5), (2, 0)]);
}

#[test]
fn any_non_negative_result_is_skipped_c_skip_3() {
    assert_eq!(run(&mut ring(), &[inj(1, 9, S)]).1, []);
}

#[test]
fn skipped_chain_posts_nothing_c_skip_4() {
    assert_eq!(run(&mut ring(), &[nop(1, S | L), nop(2, S | L), nop(3, S)]).1, []);
}

#[test]
fn failing_skip_head_silences_cancelled_members_c_skip_5() {
    assert_eq!(run(&mut ring(), &[inj(1, -5, S | L), nop(2, L), nop(3, NONE)]).1, [(1, -5)]);
}

#[test]
fn cancelled_members_post_despite_own_skip_c_skip_6() {
    let (_, c) = run(&mut ring(), &[inj(1, -5, L), nop(2, S | L), nop(3, S)]);
    assert_eq!(c, [(1, -5), (2, ECANCELED), (3, ECANCELED)]);
}

#[test]
fn failing_skip_member_silences_the_rest_c_skip_7() {
    let (_, c) = run(&mut ring(), &[nop(1, L), inj(2, -5, S | L), nop(3, L), nop(4, NONE)]);
    assert_eq!(c, [(1, 0), (2, -5)]);
}

#[test]
fn failing_skip_hardlink_continues_c_skip_8() {
    assert_eq!(run(&mut ring(), &[inj(1, -5, S | H), nop(2, NONE)]).1, [(1, -5), (2, 0)]);
}

#[test]
fn skip_with_drain_is_eopnotsupp_and_stops_c_skip_9() {
    let (s, c) = run(&mut ring(), &[nop(1, S | D), nop(2, NONE)]);
    assert_eq!((s.taken, s.stop), (1, Stop::Failed));
    assert_eq!(c, [(1, EOPNOTSUPP)]);
}

#[test]
fn drain_after_skip_fails_for_the_ring_lifetime_c_skip_10() {
    let mut r = ring();
    assert_eq!(run(&mut r, &[nop(1, S)]).1, []);
    assert_eq!(run(&mut r, &[nop(2, D)]).1, [(2, EOPNOTSUPP)]);
    assert_eq!(run(&mut r, &[nop(3, D)]).1, [(3, EOPNOTSUPP)]);
    // A new setup is a new ring.
    r.setup(Setup::new(32)).unwrap();
    assert_eq!(run(&mut r, &[nop(4, D)]).1, [(4, 0)]);
}

#[test]
fn drain_then_skip_then_drain_c_skip_11() {
    let mut r = ring();
    assert_eq!(run(&mut r, &[nop(1, D)]).1, [(1, 0)]);
    assert_eq!(run(&mut r, &[nop(2, S)]).1, []);
    assert_eq!(run(&mut r, &[nop(3, D)]).1, [(3, EOPNOTSUPP)]);
}

#[test]
fn bad_opcode_with_skip_posts_c_skip_12() {
    assert_eq!(run(&mut ring(), &[bad(1, S)]).1, [(1, EINVAL)]);
}

#[test]
fn skip_head_cancelled_by_bad_member_silences_it_c_skip_13() {
    assert_eq!(run(&mut ring(), &[nop(1, S | L), bad(2, L), nop(3, NONE)]).1, [(1, ECANCELED)]);
}

#[test]
fn cancelled_skip_member_posts_c_skip_14() {
    assert_eq!(run(&mut ring(), &[inj(1, -5, L), nop(2, S)]).1, [(1, -5), (2, ECANCELED)]);
}

// ---------------------------------------------------------------- §7 completion queue

#[test]
fn user_data_is_copied_bit_for_bit_c_cq_1() {
    let uds = [0, 1, u64::MAX, 0x8000_0000_0000_0000, 0xdead_beef_cafe_f00d];
    let sqes: Vec<Sqe> = uds.iter().map(|&u| nop(u, NONE)).collect();
    let c = run(&mut ring(), &sqes).1;
    assert_eq!(c.iter().map(|x| x.0).collect::<Vec<_>>(), uds);
}

#[test]
fn full_cq_stops_submission_and_resumes_after_reap_c_cq_2_c_cq_3_c_cq_4() {
    // Linux's C-CQ-2 scenario: CQ of 4, 12 NOPs in 3 batches of 4 without reaping.
    let mut r: Ring<4, 4, 8> = Ring::new();
    r.setup(Setup::new(4).cq_entries(4)).unwrap();
    let mut next = 0u64;
    let mut push4 = |r: &mut Ring<4, 4, 8>| {
        for _ in 0..4 {
            r.push(nop(next, NONE)).unwrap();
            next += 1;
        }
    };
    push4(&mut r);
    let s = r.submit();
    assert_eq!((s.taken, s.stop), (4, Stop::Empty));
    assert!(!r.sq_flags().contains(SqRingFlags::CQ_OVERFLOW));
    // CQ full: nothing more is taken, the flag says why, nothing is lost.
    push4(&mut r);
    let s = r.submit();
    assert_eq!((s.taken, s.stop), (0, Stop::Backpressure));
    assert!(r.sq_flags().contains(SqRingFlags::CQ_OVERFLOW));
    assert_eq!(r.cq_overflow(), 0);
    let mut got = reap(&mut r);
    let s = r.submit();
    assert_eq!((s.taken, s.stop), (4, Stop::Empty));
    assert!(!r.sq_flags().contains(SqRingFlags::CQ_OVERFLOW));
    push4(&mut r);
    assert_eq!(r.submit().stop, Stop::Backpressure);
    got.extend(reap(&mut r));
    assert_eq!(r.submit().taken, 4);
    got.extend(reap(&mut r));
    assert_eq!(got, (0..12).map(|i| (i, 0)).collect::<Vec<_>>());
    assert_eq!(r.cq_overflow(), 0);
}

/// One NOP per submit call, as a firmware loop handling one interrupt at a time submits:
/// each call posts its CQE until the CQ is full; then the NOP stays in the SQ, the call
/// says backpressure, and it runs once a CQE is reaped.
#[test]
fn one_nop_per_submit_waits_for_cq_room() {
    let mut r = R::new();
    r.setup(Setup::new(2).flags(SetupFlags::CQSIZE).cq_entries(2)).unwrap();
    for ud in 1..=2 {
        r.push(nop(ud, NONE)).unwrap();
        assert_eq!(r.submit(), Submitted { taken: 1, stop: Stop::Empty });
    }
    r.push(nop(3, NONE)).unwrap();
    assert_eq!(r.submit(), Submitted { taken: 0, stop: Stop::Backpressure });
    assert!(r.sq_flags().contains(SqRingFlags::CQ_OVERFLOW));
    assert_eq!(r.pop().map(|c| (c.user_data, c.res)), Some((1, 0)));
    assert_eq!(r.submit(), Submitted { taken: 1, stop: Stop::Empty });
    assert!(!r.sq_flags().contains(SqRingFlags::CQ_OVERFLOW));
    assert_eq!(reap(&mut r), [(2, 0), (3, 0)]);
}

#[test]
fn partial_room_takes_exactly_that_many_c_cq_5() {
    let mut r: Ring<8, 8, 8> = Ring::new();
    r.setup(Setup::new(8).cq_entries(8)).unwrap();
    for i in 0..5 {
        r.push(nop(i, NONE)).unwrap();
    }
    assert_eq!(r.submit().taken, 5);
    // 5 CQEs unreaped: 3 slots of room. SQEs that succeed with CQE_SKIP_SUCCESS give
    // their reserved slot back when they complete, so they never run out of room...
    for i in 0..5 {
        r.push(nop(10 + i, S)).unwrap();
    }
    assert_eq!(r.submit().taken, 5);
    // ...while SQEs that post take exactly the 3 free slots.
    for i in 0..5 {
        r.push(nop(20 + i, NONE)).unwrap();
    }
    let s = r.submit();
    assert_eq!((s.taken, s.stop), (3, Stop::Backpressure));
    assert_eq!(r.cq().len(), 8);
    let got = reap(&mut r);
    assert_eq!(got.iter().map(|c| c.0).collect::<Vec<_>>(), [0, 1, 2, 3, 4, 20, 21, 22]);
    assert_eq!(r.submit().taken, 2);
    assert_eq!(reap(&mut r), [(23, 0), (24, 0)]);
}

#[test]
fn chain_is_taken_whole_or_not_at_all() {
    let mut r: Ring<8, 8, 8> = Ring::new();
    r.setup(Setup::new(8).cq_entries(8)).unwrap();
    for i in 0..6 {
        r.push(nop(i, NONE)).unwrap();
    }
    assert_eq!(r.submit().taken, 6);
    // 2 slots free; a 3-chain waits instead of being split.
    let (s, _) = (r.submit(), ());
    assert_eq!(s.taken, 0);
    r.push(nop(10, L)).unwrap();
    r.push(nop(11, L)).unwrap();
    r.push(nop(12, NONE)).unwrap();
    let s = r.submit();
    assert_eq!((s.taken, s.stop), (0, Stop::Backpressure));
    let first = reap(&mut r);
    assert_eq!(first.len(), 6);
    let s = r.submit();
    assert_eq!((s.taken, s.stop), (3, Stop::Empty));
    assert_eq!(reap(&mut r), [(10, 0), (11, 0), (12, 0)]);
}

#[test]
fn chain_longer_than_the_ring_is_cut_and_runs_as_submitted() {
    // 4 requests can be in flight: a 6-long chain runs as a 4-chain (as a chain open at
    // the end of the SQ does, C-LINK-7, and as Linux does when it cannot allocate a
    // request), and its last two SQEs form a chain of their own on the next submit.
    let mut r: Ring<8, 16, 4> = Ring::new();
    let sqes = [nop(1, L), nop(2, L), inj(3, -5, L), nop(4, L), nop(5, L), nop(6, NONE)];
    let (s, c) = run(&mut r, &sqes);
    assert_eq!((s.taken, s.stop), (4, Stop::Backpressure));
    assert_eq!(c, [(1, 0), (2, 0), (3, -5), (4, ECANCELED)]);
    let s = r.submit();
    assert_eq!((s.taken, s.stop), (2, Stop::Empty));
    assert_eq!(reap(&mut r), [(5, 0), (6, 0)]);
}

#[test]
fn ring_stays_usable_after_every_stop() {
    let mut r = ring();
    for round in 0..50u64 {
        let sqes = [nop(round * 10, L), bad(round * 10 + 1, L), nop(round * 10 + 2, NONE), inj(round * 10 + 3, -1, S)];
        let (_, c) = run(&mut r, &sqes);
        assert_eq!(c.len(), 4, "round {round}");
        assert_eq!(r.in_flight(), 0);
        assert_eq!(r.cq_reserved(), 0);
    }
}

// ---------------------------------------------------------------- setup (C-ABI-7..9)

#[test]
fn setup_reports_features_and_rejects_bad_sizes_c_abi_7_8_9() {
    let mut r = R::new();
    let p = r.setup(Setup::new(5)).unwrap();
    assert_eq!((p.sq_entries, p.cq_entries), (8, 16));
    assert!(p.features.contains(Features::BPF));
    assert_eq!(r.setup(Setup::new(0)), Err(Errno::EINVAL));
    assert_eq!(r.setup(Setup::new(64)), Err(Errno::EINVAL));
    assert_eq!(r.setup(Setup::new(64).flags(SetupFlags::CLAMP)).unwrap().sq_entries, 32);
    assert_eq!(r.setup(Setup::new(8).flags(SetupFlags::from_bits_retain(1 << 22))), Err(Errno::EINVAL));
    assert!(r.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).is_ok());
}

/// A setup makes the ring anew (C-ABI-7): the op slots empty, no extended arguments,
/// the CQ at its new size; only the generation counter runs on.
#[test]
fn setup_again_starts_from_an_idle_ring_c_abi_7() {
    let mut r: Ring<8, 16, 8, 2> = Ring::new();
    r.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).unwrap();
    r.register_op(&scripted::TABLE).unwrap();
    r.set_arg(3, fwring::ArgRecord::from_value(&7u32)).unwrap();
    assert_eq!(run(&mut r, &[Sqe::bpf(5, 2).user_data(1), nop(2, NONE)]).1, [(1, -5), (2, 0)]);
    let p = r.setup(Setup::new(2).flags(SetupFlags::BPF_EXT)).unwrap();
    assert_eq!((p.sq_entries, p.cq_entries), (2, 4));
    assert!(matches!(r.op_slot(5), Some(SlotState::Empty)));
    assert_eq!((r.arg(3).is_some(), r.in_flight(), r.cq_reserved()), (false, 0, 0));
    assert_eq!(run(&mut r, &[Sqe::bpf(5, 2).user_data(3)]).1, [(3, EOPNOTSUPP)]);
}

// ---------------------------------------------------------------- §11 op slots

mod counting {
    //! The series' bpf_ext_basic selftest op: prep stores a magic, issue checks it and
    //! completes with 42; every callback is counted (per test thread).
    use super::*;
    use std::cell::Cell;

    thread_local! {
        static COUNTS: Cell<[u32; 4]> = const { Cell::new([0; 4]) };
    }

    fn bump(i: usize) {
        COUNTS.with(|c| {
            let mut v = c.get();
            v[i] += 1;
            c.set(v);
        });
    }

    pub struct Basic;
    impl Op for Basic {
        type Pdu = u32;
        fn prep(_cx: &mut PrepCx<'_>, _sqe: &Sqe) -> Result<u32, Errno> {
            bump(0);
            Ok(0xdead_beef)
        }
        fn issue(cx: &mut IssueCx<'_>, pdu: &mut u32) -> Issue {
            bump(1);
            cx.set_result(if *pdu == 0xdead_beef { 42 } else { -22 });
            Issue::Done
        }
        fn fail(_: &ReqInfo, _: &mut u32) {
            bump(2);
        }
        fn cleanup(_: &ReqInfo, pdu: &mut u32) {
            assert_eq!(*pdu, 0xdead_beef, "C-BPF-13: pdu persists to cleanup");
            bump(3);
        }
    }
    pub static SLOT0: OpVTable = vtable::<Basic>(0);
    pub static SLOT1: OpVTable = vtable::<Basic>(1);

    /// [prep, issue, fail, cleanup] calls on this thread.
    pub fn counts() -> [u32; 4] {
        COUNTS.with(Cell::get)
    }
}

/// Ops that misbehave in each way the series defines, selected by op flags.
mod scripted {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        pub static FAIL_CALLS: Cell<u32> = const { Cell::new(0) };
        pub static CLEANUPS: Cell<u32> = const { Cell::new(0) };
    }

    /// op flags: 1 = prep fails -E2BIG; 2 = set_result(-5); 3 = issue Err(EIO);
    /// 4 = "complete later" without going pending (`Pending`, no token taken: the one
    /// way left to say it, `IOU_ISSUE_SKIP_COMPLETE` has no variant); 5 = complete
    /// with the low 8 bits of off.
    pub struct Scripted;
    impl Op for Scripted {
        type Pdu = [u64; 2];
        fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<[u64; 2], Errno> {
            if cx.info().private_flags() == 1 {
                return Err(Errno::E2BIG);
            }
            Ok([cx.info().private_flags() as u64, sqe.off])
        }
        fn issue(cx: &mut IssueCx<'_>, pdu: &mut [u64; 2]) -> Issue {
            match pdu[0] {
                2 => {
                    cx.set_result(-5);
                    Issue::Done
                }
                3 => Issue::Err(Errno::EIO),
                4 => Issue::Pending,
                _ => {
                    cx.set_result((pdu[1] & 0xff) as i32);
                    Issue::Done
                }
            }
        }
        fn fail(_: &ReqInfo, _: &mut [u64; 2]) {
            FAIL_CALLS.with(|c| c.set(c.get() + 1));
        }
        fn cleanup(_: &ReqInfo, _: &mut [u64; 2]) {
            CLEANUPS.with(|c| c.set(c.get() + 1));
        }
    }
    pub static TABLE: OpVTable = vtable::<Scripted>(5);
}

fn bpf(ud: u64, slot: u8, opf: u32) -> Sqe {
    Sqe::bpf(slot, opf).user_data(ud)
}

fn bpf_ring() -> R {
    ring_with(SetupFlags::BPF_EXT | SetupFlags::SUBMIT_ALL)
}

#[test]
fn bpf_on_ring_without_bpf_ext_is_eopnotsupp_c_bpf_1() {
    assert_eq!(run(&mut ring(), &[bpf(1, 0, 0)]).1, [(1, EOPNOTSUPP)]);
}

#[test]
fn slot_number_16_and_above_is_einval_c_bpf_2() {
    let c = run(&mut bpf_ring(), &[bpf(1, 16, 0), bpf(2, 255, 0)]).1;
    assert_eq!(c, [(1, EINVAL), (2, EINVAL)]);
}

#[test]
fn empty_slot_is_eopnotsupp_c_bpf_3() {
    assert_eq!(run(&mut bpf_ring(), &[bpf(1, 15, 0)]).1, [(1, EOPNOTSUPP)]);
}

/// A lone op-slot SQE per submit (submit's quick way) fails at submit time exactly as
/// in a batch (the general loop): the call stops there unless SUBMIT_ALL (C-OP-2, C-OP-3).
#[test]
fn lone_op_slot_sqe_failing_prep_stops_the_call_like_a_batch_c_op_2_c_op_3() {
    let mut r = ring_with(SetupFlags::BPF_EXT);
    let (s, c) = run(&mut r, &[bpf(1, 15, 0)]);
    assert_eq!((s, c), (Submitted { taken: 1, stop: Stop::Failed }, vec![(1, EOPNOTSUPP)]));
    let (s, c) = run(&mut r, &[bpf(2, 15, 0), nop(3, NONE)]);
    assert_eq!((s, c), (Submitted { taken: 1, stop: Stop::Failed }, vec![(2, EOPNOTSUPP)]));
    assert_eq!(reap(&mut r), []);
    assert_eq!(r.submit(), Submitted { taken: 1, stop: Stop::Empty });
    assert_eq!(reap(&mut r), [(3, 0)]);
    let (s, c) = run(&mut bpf_ring(), &[bpf(4, 15, 0)]);
    assert_eq!((s, c), (Submitted { taken: 1, stop: Stop::Empty }, vec![(4, EOPNOTSUPP)]));
}

#[test]
fn table_without_prep_is_eopnotsupp_and_without_issue_completes_zero_c_bpf_3_c_bpf_11() {
    static NO_PREP: OpVTable = OpVTable::new(2);
    static NO_ISSUE: OpVTable = OpVTable::new(3).with_prep(|_, _, _| Ok(()));
    let mut r = bpf_ring();
    r.register_op(&NO_PREP).unwrap();
    r.register_op(&NO_ISSUE).unwrap();
    assert_eq!(run(&mut r, &[bpf(1, 2, 0), bpf(2, 3, 0)]).1, [(1, EOPNOTSUPP), (2, 0)]);
}

/// A raw table's hooks run as a typed op's do, on the op-slot fast path (no flags) and
/// the general one (IOSQE_ASYNC) alike: `fail` for the request whose issue failed, then
/// `cleanup` once for every request whose prep succeeded, each seeing its own pdu.
#[test]
fn a_raw_tables_hooks_run_once_per_request_on_every_path_c_bpf_10_c_bpf_12() {
    use std::sync::Mutex;
    static SEEN: Mutex<Vec<(char, u64, u8)>> = Mutex::new(Vec::new());
    static T: OpVTable = OpVTable::new(8)
        .with_prep(|cx, _, pdu| {
            pdu.bytes_mut()[0] = cx.info().private_flags() as u8;
            Ok(())
        })
        .with_issue(|cx, pdu| if pdu.bytes()[0] == 1 { Issue::Err(Errno::EIO) } else { cx.done(Ok(3)) })
        .with_fail(|info, pdu| SEEN.lock().unwrap().push(('f', info.user_data(), pdu.bytes()[0])))
        .with_cleanup(|info, pdu| SEEN.lock().unwrap().push(('c', info.user_data(), pdu.bytes()[0])));
    for flags in [fwring::SqeFlags::empty(), fwring::SqeFlags::ASYNC] {
        SEEN.lock().unwrap().clear();
        let mut r = bpf_ring();
        r.register_op(&T).unwrap();
        let sqes = [bpf(1, 8, 0).flags(flags), bpf(2, 8, 1).flags(flags), bpf(3, 8, 2).flags(flags)];
        assert_eq!(run(&mut r, &sqes).1, [(1, 3), (2, Errno::EIO.res()), (3, 3)], "{flags:?}");
        let seen = SEEN.lock().unwrap().clone();
        assert_eq!(seen, [('c', 1, 0), ('f', 2, 1), ('c', 2, 1), ('c', 3, 2)], "{flags:?}");
    }
}

/// A typed op's table with one callback replaced calls the replacement — and the op's
/// other callbacks — on the op-slot fast path (no flags) and on the general one
/// (IOSQE_ASYNC) alike: the table's direct path to the typed op is dropped with it.
#[test]
fn a_replaced_callback_of_a_typed_table_runs_on_every_path_c_bpf_11() {
    static T: OpVTable =
        vtable::<scripted::Scripted>(7).with_issue(|cx, pdu| cx.done(Ok(100 + pdu.view::<[u64; 2]>()[0] as i32)));
    for flags in [fwring::SqeFlags::empty(), fwring::SqeFlags::ASYNC] {
        scripted::CLEANUPS.with(|c| c.set(0));
        let mut r = bpf_ring();
        r.register_op(&T).unwrap();
        // Private flags 1: Scripted's prep fails -E2BIG; 5: it preps, the replacement issues.
        let sqes = [bpf(1, 7, 5).flags(flags), bpf(2, 7, 1).flags(flags)];
        assert_eq!(run(&mut r, &sqes).1, [(1, 105), (2, Errno::E2BIG.res())], "{flags:?}");
        assert_eq!(scripted::CLEANUPS.with(std::cell::Cell::get), 1, "Scripted's cleanup, once: {flags:?}");
    }
}

#[test]
fn op_private_flags_reach_the_op_unchanged_c_bpf_4() {
    static SEEN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    static T: OpVTable = OpVTable::new(4).with_prep(|cx, _, _| {
        SEEN.store(cx.info().bpf_op_flags(), std::sync::atomic::Ordering::Relaxed);
        Ok(())
    });
    let mut r = bpf_ring();
    r.register_op(&T).unwrap();
    let _ = run(&mut r, &[bpf(1, 4, 0x00ab_cdef)]);
    assert_eq!(SEEN.load(std::sync::atomic::Ordering::Relaxed), 0x04ab_cdef);
}

#[test]
fn scripted_op_results_c_bpf_5_8_9_10_12() {
    let mut r = bpf_ring();
    r.register_op(&scripted::TABLE).unwrap();
    let counts = || (scripted::FAIL_CALLS.with(|c| c.get()), scripted::CLEANUPS.with(|c| c.get()));
    let before = counts();
    let sqes = [
        bpf(1, 5, 1),          // prep fails -E2BIG: no cleanup, fail runs (head path)
        bpf(2, 5, 2).flags(L), // set_result(-5): fails, chain cancelled, no fail hook
        nop(3, NONE),
        bpf(4, 5, 3),           // issue Err(EIO): fail hook
        bpf(5, 5, 4),           // Pending without a token: -EINVAL (C-BPF-9)
        bpf(6, 5, 5).off(0x2a), // completes 42
    ];
    let c = run(&mut r, &sqes).1;
    assert_eq!(c, [(1, -7), (2, -5), (4, -5), (5, EINVAL), (6, 42), (3, ECANCELED)]);
    let after = counts();
    assert_eq!(after.0 - before.0, 3, "fail hook: prep error, issue error, pending without a token");
    assert_eq!(after.1 - before.1, 4, "cleanup once per successful prep (C-BPF-12)");
    assert_eq!(r.in_flight(), 0);
}

#[test]
fn basic_selftest_two_slots_result_42_counters_c_bpf_6_7_13() {
    let mut r: Ring<8, 16, 8> = Ring::new();
    r.setup(Setup::new(8).flags(SetupFlags::BPF_EXT | SetupFlags::NO_SQARRAY)).unwrap();
    r.register_op(&counting::SLOT0).unwrap();
    r.register_op(&counting::SLOT1).unwrap();
    let base = counting::counts();
    for i in 0..2u8 {
        let (_, c) = run(&mut r, &[bpf(0x1234_5678 + i as u64, i, 0)]);
        assert_eq!(c, [(0x1234_5678 + i as u64, 42)]);
        let n = counting::counts();
        let d: Vec<u32> = n.iter().zip(base).map(|(a, b)| a - b).collect();
        assert_eq!(d, [i as u32 + 1, i as u32 + 1, 0, i as u32 + 1]);
    }
}

#[test]
fn op_slots_honour_links_drain_and_skip_c_bpf_19() {
    let mut r = ring_with(SetupFlags::BPF_EXT);
    r.register_op(&scripted::TABLE).unwrap();
    let c = run(&mut r, &[bpf(1, 5, 2).flags(L), bpf(2, 5, 5).off(1), nop(3, NONE)]).1;
    assert_eq!(c, [(1, -5), (3, 0), (2, ECANCELED)]);
    let c = run(&mut r, &[bpf(1, 5, 5).flags(L), bpf(2, 5, 5).flags(D).off(2), nop(3, NONE)]).1;
    assert_eq!(c, [(1, 0), (2, 2), (3, 0)]);
    let c = run(&mut r, &[bpf(1, 5, 5).flags(S), bpf(2, 5, 2).flags(S)]).1;
    assert_eq!(c, [(2, -5)]);
}

#[test]
fn register_errors_c_bpf_15_16() {
    static HIGH: OpVTable = OpVTable::new(16);
    let mut plain = ring();
    assert_eq!(plain.register_op(&scripted::TABLE), Err(Errno::EINVAL));
    assert_eq!(plain.unregister_op(5), Err(Errno::EINVAL));
    let mut r = bpf_ring();
    assert_eq!(r.register_op(&HIGH), Err(Errno::EINVAL));
    assert_eq!(r.unregister_op(16), Err(Errno::EINVAL));
    assert_eq!(r.unregister_op(5), Err(Errno::EINVAL), "empty slot");
    r.register_op(&scripted::TABLE).unwrap();
    assert_eq!(r.register_op(&scripted::TABLE), Err(Errno::EBUSY));
    assert!(matches!(r.op_slot(5), Some(SlotState::Active(_))));
    assert_eq!(r.unregister_op(5), Ok(Unregistered::Done));
    assert!(matches!(r.op_slot(5), Some(SlotState::Empty)));
    assert_eq!(run(&mut r, &[bpf(1, 5, 5)]).1, [(1, EOPNOTSUPP)], "C-BPF-17: afterwards -EOPNOTSUPP");
    assert_eq!(r.op_slot(16).map(|_| ()), None);
}

#[test]
fn unregister_then_reregister_c_bpf_17() {
    let mut r = bpf_ring();
    r.register_op(&scripted::TABLE).unwrap();
    assert_eq!(run(&mut r, &[bpf(1, 5, 5).off(3)]).1, [(1, 3)]);
    // Nothing is in flight between submits: unregister is immediate.
    assert_eq!(r.unregister_op(5), Ok(Unregistered::Done));
    assert_eq!(r.unregister_op(5), Err(Errno::EINVAL));
    assert_eq!(run(&mut r, &[bpf(2, 5, 5)]).1, [(2, EOPNOTSUPP)]);
    r.register_op(&scripted::TABLE).unwrap();
    assert_eq!(run(&mut r, &[bpf(3, 5, 5).off(4)]).1, [(3, 4)]);
}

#[test]
fn basic_selftest_counts_survive_cqe_reuse() {
    // The same Cqe type the kernel uses; spot-check one full record.
    let mut r = bpf_ring();
    r.register_op(&counting::SLOT0).unwrap();
    r.push(bpf(9, 0, 0)).unwrap();
    let _ = r.submit();
    assert_eq!(r.pop(), Some(Cqe { user_data: 9, res: 42, flags: 0 }));
}

/// A failed prep's fail hook sees what that prep wrote to the pdu (C-BPF-13's "the pdu
/// persists to fail"), never an earlier request's bytes — whether the SQE takes the
/// op-slot fast path (no flags) or the general one (IOSQE_ASYNC).
#[test]
fn a_failed_preps_fail_hook_sees_its_own_pdu_c_bpf_13() {
    use std::sync::Mutex;
    static SEEN: Mutex<Vec<u8>> = Mutex::new(Vec::new());
    static T: OpVTable = OpVTable::new(6)
        .with_prep(|_, sqe, pdu| {
            if sqe.len == 1 {
                pdu.bytes_mut()[0] = 0xab;
                Err(Errno::EINVAL)
            } else {
                pdu.bytes_mut().fill(0xcd);
                Ok(())
            }
        })
        .with_issue(|cx, _| cx.done(Ok(5)))
        .with_fail(|_, pdu| SEEN.lock().unwrap().extend_from_slice(&pdu.bytes()[..2]));
    let op = |ud: u64, len: u32| Sqe { len, ..bpf(ud, 6, 0) };
    for flags in [fwring::SqeFlags::empty(), fwring::SqeFlags::ASYNC] {
        SEEN.lock().unwrap().clear();
        let mut r = bpf_ring();
        r.register_op(&T).unwrap();
        let sqes = [op(1, 0).flags(flags), op(2, 1).flags(flags), op(3, 0).flags(flags), op(4, 1).flags(flags)];
        assert_eq!(run(&mut r, &sqes).1, [(1, 5), (2, EINVAL), (3, 5), (4, EINVAL)], "{flags:?}");
        assert_eq!(*SEEN.lock().unwrap(), [0xab, 0, 0xab, 0], "{flags:?}");
    }
}

/// A table with a fail hook and no prep: its requests fail -EOPNOTSUPP, and the hook
/// sees a fresh pdu, not the bytes an earlier request left in the same table entry
/// (C-BPF-3, C-BPF-13).
#[test]
fn a_prepless_tables_fail_hook_sees_a_fresh_pdu_c_bpf_3_c_bpf_13() {
    use std::sync::Mutex;
    static SEEN: Mutex<Vec<u8>> = Mutex::new(Vec::new());
    static FILLS: OpVTable = OpVTable::new(7)
        .with_prep(|_, _, pdu| {
            pdu.bytes_mut().fill(0xcd);
            Ok(())
        })
        .with_issue(|cx, _| cx.done(Ok(1)));
    static NO_PREP: OpVTable =
        OpVTable::new(8).with_fail(|_, pdu| SEEN.lock().unwrap().extend_from_slice(&pdu.bytes()[..2]));
    let mut r = bpf_ring();
    r.register_op(&FILLS).unwrap();
    r.register_op(&NO_PREP).unwrap();
    // IOSQE_ASYNC: the general path, so the filled pdu sits in a table entry.
    let async_op = |ud, slot| bpf(ud, slot, 0).flags(fwring::SqeFlags::ASYNC);
    assert_eq!(run(&mut r, &[async_op(1, 7)]).1, [(1, 1)]);
    assert_eq!(run(&mut r, &[async_op(2, 8)]).1, [(2, EOPNOTSUPP)]);
    assert_eq!(*SEEN.lock().unwrap(), [0, 0]);
}
