//! The on-target test suite: one source for every board.
//!
//! Part one runs on the ring itself (`&'static mut FwRing`): link chains, drain,
//! backpressure, the zero-copy buffer ops with byte-exact checks, error injection. Part
//! two splits the ring (`Ring::split` → `Submitter`, `Reaper`, `Completer<'static>`),
//! hands the completer to the device's interrupt handler, and checks completion from
//! the interrupt: out of order, chains continuing after it, drain behind it, buffer
//! ownership while pending, stale tokens. Every test pins the exact CQEs — user_data,
//! res, flags 0 — in order, and the runner checks nothing is left behind.
//!
//! The order is forced by the API: a split ring cannot be set up anew, and its
//! `Submitter` gives no access to the registered buffers, so the tests that start from a
//! fresh ring or read the buffers back byte by byte come first.

use fwring::ops::crc32c::VERIFY;
use fwring::ops::inject::InjectRule;
use fwring::ops::{CHAIN_LEN, buf_sqe};
use fwring::{
    ArgRecord, BufDesc, BufGroup, CompleteError, Cqe, CqeFlags, Errno, Region, SqRingFlags, Sqe, SqeFlags, Stop,
    Submitter, Token,
};

use crate::board;
use crate::device::{self, Mode, TWICE};
use crate::fixture::{self, ARGS, CQ, FwRing, N, PLAIN_CAP, RULE_FAULTY, RULE_INJECT, SQ, buf, slot};
use crate::harness::{Failure, Outcome, Reap, Runner, Split, cqes, ensure, eq, submitted};
use crate::payload::{BLOCK_LEN, PLAIN, PLAIN_CRC32C, PLAIN_LEN};
use crate::sampler;

const LINK: SqeFlags = SqeFlags::IO_LINK;
const PLAIN_RES: i32 = PLAIN_LEN as i32;
const EIO: i32 = Errno::EIO.res();
const ECANCELED: i32 = Errno::ECANCELED.res();
const EBADMSG: i32 = Errno::EBADMSG.res();
const ENOSPC: i32 = Errno::ENOSPC.res();
const EFAULT: i32 = Errno::EFAULT.res();
const EINVAL: i32 = Errno::EINVAL.res();
const EBUSY: i32 = Errno::EBUSY.res();
const EOPNOTSUPP: i32 = Errno::EOPNOTSUPP.res();

/// Ticks a test waits for the device before it fails (1 tick = 1 ms).
const MAX_TICKS: u32 = 200;

/// `t.run` for each test function, named after it.
#[macro_export]
macro_rules! run {
    ($t:ident, $cx:expr; $($test:ident),+ $(,)?) => {
        $( $t.run(stringify!($test), $cx, $test); )+
    };
}

/// Run the whole suite; `true` if every test passed.
pub fn run() -> bool {
    log_info!("fwring on-target suite on {}", board::NAME);
    let mut t = Runner::default();
    let ring = match fixture::init() {
        Ok(ring) => ring,
        Err(e) => {
            t.fail("fixture", e.step);
            return t.finish();
        }
    };
    if let (Some(first), Some(last)) = (ring.buffers().get(buf::BLOCK), ring.buffers().get(buf::SCRATCH)) {
        log_info!("dma buffers at {:#x}..{:#x}", first.addr(), last.addr() + last.len() as u64);
    }

    run!(t, ring;
        nop_link_chain_completes_in_order,
        link_failure_cancels_rest_of_chain,
        hardlink_chain_continues_after_failure,
        drain_runs_after_everything_before_it,
        full_cq_stops_submit_and_no_cqe_is_lost,
        backpressure_never_splits_a_chain,
        lz4_crc32c_copy_chain_is_byte_exact,
        crc32c_mismatch_fails_chain_with_ebadmsg,
        buffer_op_errors_complete_with_errno,
        op_slot_errors_complete_with_errno,
        faulty_lz4_fails_second_request_and_its_chain,
        inject_at_chain_head_fails_every_second_chain,
    );
    #[cfg(not(board = "microbit"))]
    run!(t, ring;
        ftl_format_write_remount_read,
    );
    #[cfg(feature = "selfcheck-fail")]
    run!(t, ring;
        selfcheck_deliberate_failure,
    );

    // Part two: completions from the interrupt handler.
    let (sub, reap, completer) = ring.split();
    device::attach(completer);
    board::start_tick();
    let mut s = Split { sub, reap, completer };
    run!(t, &mut s;
        device_requests_complete_from_interrupt_out_of_order,
        chains_continue_after_interrupt_completions,
        timed_completions_arrive_tick_by_tick,
        pending_device_owns_its_buffer,
        stale_and_forged_tokens_are_refused,
        sampler_streams_into_provided_buffers_from_the_interrupt,
    );
    // The Cortex-M7's cache maintenance at the DMA hand-over points.
    #[cfg(board = "mps2_an500")]
    run!(t, &mut s;
        m7_cache_maintenance_at_dma_hand_over,
    );
    // The real DMA device: virtio-blk on QEMU virt, completed from the PLIC interrupt.
    #[cfg(board = "qemu_virt")]
    crate::suite_virtio::run(&mut t, &mut s);
    // Last: a drain leaves the ring's drain state on for the next request, and the split
    // ring cannot be set up anew.
    run!(t, &mut s;
        drain_waits_for_pending_device_request,
    );
    let d = device::stats();
    log_info!("device: {} interrupts, {} completions from them, {} stale refused", d.ticks, d.completed, d.stale);
    t.finish()
}

/// fwring-hal's FTL on a 20 KiB flash in RAM (10 segments of two 1 KiB erase blocks):
/// format, write four blocks, remount (no cut), read them back, check. Not on the
/// microbit: its 16 KiB of RAM cannot hold the simulated flash.
#[cfg(not(board = "microbit"))]
fn ftl_format_write_remount_read(_r: &mut FwRing) -> Outcome {
    use fwring_hal::ftl::{Blocking, Ftl, FtlConfig, block_on};
    use fwring_hal::sim::MemFlash;
    use static_cell::ConstStaticCell;
    static FLASH: ConstStaticCell<[u8; 20 * 1024]> = ConstStaticCell::new([0; 20 * 1024]);
    static RAM: ConstStaticCell<[u8; 1024]> = ConstStaticCell::new([0; 1024]);
    let (Some(flash), Some(ram)) = (FLASH.try_take(), RAM.try_take()) else {
        return ensure("the FTL's memory is free", false);
    };
    let mut chip: MemFlash<4, 1024> = MemFlash::new(flash);
    chip.erase_all();
    let config = FtlConfig::new(256).erase_per_seg(2).map_cache(2);
    let mut ftl = block_on(Ftl::format(Blocking(chip), &config, ram)).map_err(|_| fail("format"))?;
    let block = |lba: u32| core::array::from_fn::<u8, 256, _>(|i| (i as u32 ^ (lba * 37)) as u8);
    for lba in 0..4 {
        block_on(ftl.write_blocks(lba * 3, &block(lba))).map_err(|_| fail("write"))?;
    }
    let (flash, ram) = ftl.into_parts();
    let mut ftl = block_on(Ftl::mount(flash, ram)).map_err(|_| fail("mount"))?;
    let mut back = [0u8; 256];
    for lba in 0..4 {
        block_on(ftl.read_blocks(lba * 3, &mut back)).map_err(|_| fail("read"))?;
        ensure("a block reads back after the remount", back == block(lba))?;
    }
    let report = block_on(ftl.check()).map_err(|_| fail("check"))?;
    eq("blocks mapped", report.mapped, 4)
}

/// An FTL call that failed at `step`.
#[cfg(not(board = "microbit"))]
#[track_caller]
fn fail(step: &'static str) -> Failure {
    log_error!("  FTL {} failed", step);
    Failure::here()
}

// --- SQE builders ---------------------------------------------------------------------

fn nop(user_data: u64) -> Sqe {
    Sqe::nop().user_data(user_data)
}

/// A range of registered buffer `index`, by offset.
fn at(index: u16, offset: usize, len: usize) -> BufDesc {
    BufDesc::kfixed(index, offset as u64, len as u32)
}

fn lz4(slot: u8, user_data: u64, src: BufDesc, dst: BufDesc) -> Sqe {
    buf_sqe(slot, 0, &src, Some(&dst)).user_data(user_data)
}

fn crc32c(user_data: u64, op_flags: u32, src: BufDesc, out: Option<BufDesc>, expect: u32) -> Sqe {
    buf_sqe(slot::CRC32C, op_flags, &src, out.as_ref()).user_data(user_data).len(expect)
}

fn copy(user_data: u64, op_flags: u32, src: BufDesc, dst: BufDesc) -> Sqe {
    buf_sqe(slot::COPY, op_flags, &src, Some(&dst)).user_data(user_data)
}

/// A device request completing with `res` at tick (or burst position) `due`.
fn dev(user_data: u64, due: u32, res: i32) -> Sqe {
    Sqe::bpf(slot::DEVICE, 0).user_data(user_data).off(res as i64 as u64).len(due)
}

/// Where SQEs are pushed: the ring, or a split ring's submitter.
trait Push {
    fn push_sqe(&mut self, sqe: Sqe) -> Result<(), Sqe>;
}

impl Push for FwRing {
    fn push_sqe(&mut self, sqe: Sqe) -> Result<(), Sqe> {
        self.push(sqe)
    }
}

impl Push for Submitter<'_, SQ, CQ, N, ARGS> {
    fn push_sqe(&mut self, sqe: Sqe) -> Result<(), Sqe> {
        self.push(sqe)
    }
}

#[track_caller]
fn push(q: &mut impl Push, sqes: &[Sqe]) -> Outcome {
    for &sqe in sqes {
        if q.push_sqe(sqe).is_err() {
            log_error!("  SQ full");
            return Err(Failure::here());
        }
    }
    Ok(())
}

/// Reap the CQEs `want` in order, leaving any others in the CQ.
#[track_caller]
fn next_cqes(cq: &mut impl Reap, want: &[(u64, i32)]) -> Outcome {
    for (i, &(user_data, res)) in want.iter().enumerate() {
        let got = cq.reap().map(|c| (c.user_data, c.res, c.flags));
        if got != Some((user_data, res, 0)) {
            let (u, r, f) = got.unwrap_or((0, 0, 0));
            log_error!("  cqe #{}: got ({}, {}, flags {}), want ({}, {})", i, u, r, f, user_data, res);
            return Err(Failure::here());
        }
    }
    Ok(())
}

#[track_caller]
fn bytes(ring: &FwRing, index: u16) -> Result<&[u8], Failure> {
    ring.buffers().get(index).map(Region::bytes).ok_or_else(Failure::here)
}

#[track_caller]
fn bytes_mut(ring: &mut FwRing, index: u16) -> Result<&mut [u8], Failure> {
    ring.buffer_mut(index).map_err(|_| Failure::here())
}

// --- Part one: the ring itself ----------------------------------------------------------

/// C-LINK-1: a chain's members complete one after the other, in order.
fn nop_link_chain_completes_in_order(r: &mut FwRing) -> Outcome {
    push(r, &[nop(1).flags(LINK), nop(2).flags(LINK), nop(3)])?;
    submitted(r.submit(), 3, Stop::Empty)?;
    cqes(r, &[(1, 0), (2, 0), (3, 0)])
}

/// C-LINK-3/-4: a failing member cancels the rest of its chain with -ECANCELED, one pass
/// later; an independent NOP submitted after the chain completes before them.
fn link_failure_cancels_rest_of_chain(r: &mut FwRing) -> Outcome {
    let chain = [nop(1).flags(LINK), Sqe::nop_inject(EIO).user_data(2).flags(LINK), nop(3).flags(LINK), nop(4)];
    push(r, &chain)?;
    push(r, &[nop(5)])?;
    submitted(r.submit(), 5, Stop::Empty)?;
    cqes(r, &[(1, 0), (5, 0), (2, EIO), (3, ECANCELED), (4, ECANCELED)])
}

/// C-LINK-5: after a failed hardlinked member the chain goes on.
fn hardlink_chain_continues_after_failure(r: &mut FwRing) -> Outcome {
    push(r, &[Sqe::nop_inject(EIO).user_data(1).flags(SqeFlags::IO_HARDLINK), nop(2)])?;
    submitted(r.submit(), 2, Stop::Empty)?;
    cqes(r, &[(1, EIO), (2, 0)])
}

/// C-DRAIN-1: a drained request starts after every earlier one completed (a link chain
/// included), and a later one after it. Then, as in Linux's `io_drain_req`, the first
/// request after a drain still goes through the defer list — issued as task work, one
/// pass later — and the one after it runs inline: their CQEs come out swapped.
fn drain_runs_after_everything_before_it(r: &mut FwRing) -> Outcome {
    push(r, &[nop(1).flags(LINK), nop(2), nop(3).flags(SqeFlags::IO_DRAIN), nop(4)])?;
    submitted(r.submit(), 4, Stop::Empty)?;
    cqes(r, &[(1, 0), (2, 0), (3, 0), (4, 0)])?;
    push(r, &[nop(5), nop(6)])?;
    submitted(r.submit(), 2, Stop::Empty)?;
    cqes(r, &[(6, 0), (5, 0)])
}

/// C-CQ-3..5: with the CQ full, submit takes nothing (`Stop::Backpressure`,
/// `CQ_OVERFLOW` set), takes as many as were reaped, and clears the flag once all fit;
/// every CQE arrives exactly once, in order.
fn full_cq_stops_submit_and_no_cqe_is_lost(r: &mut FwRing) -> Outcome {
    let first: [Sqe; CQ] = core::array::from_fn(|i| nop(i as u64 + 1));
    push(r, &first)?;
    submitted(r.submit(), CQ as u32, Stop::Empty)?;
    push(r, &[nop(9), nop(10), nop(11)])?;
    submitted(r.submit(), 0, Stop::Backpressure)?;
    ensure("CQ_OVERFLOW set", r.sq_flags().contains(SqRingFlags::CQ_OVERFLOW))?;
    next_cqes(r, &[(1, 0), (2, 0)])?;
    submitted(r.submit(), 2, Stop::Backpressure)?;
    next_cqes(r, &[(3, 0), (4, 0), (5, 0), (6, 0), (7, 0), (8, 0), (9, 0), (10, 0)])?;
    submitted(r.submit(), 1, Stop::Empty)?;
    ensure("CQ_OVERFLOW cleared", !r.sq_flags().contains(SqRingFlags::CQ_OVERFLOW))?;
    eq("cq_overflow counter", r.cq_overflow(), 0)?;
    cqes(r, &[(11, 0)])
}

/// A link chain is taken whole or not at all: with room for 2 CQEs a 3-long chain waits.
fn backpressure_never_splits_a_chain(r: &mut FwRing) -> Outcome {
    push(r, &[nop(1), nop(2), nop(3), nop(4), nop(5), nop(6)])?;
    submitted(r.submit(), 6, Stop::Empty)?;
    push(r, &[nop(7).flags(LINK), nop(8).flags(LINK), nop(9)])?;
    submitted(r.submit(), 0, Stop::Backpressure)?;
    next_cqes(r, &[(1, 0)])?;
    submitted(r.submit(), 3, Stop::Empty)?;
    cqes(r, &[(2, 0), (3, 0), (4, 0), (5, 0), (6, 0), (7, 0), (8, 0), (9, 0)])
}

/// The zero-copy chain, all in the DMA section: decompress the build-time LZ4 block →
/// checksum exactly the bytes produced (CHAIN_LEN | VERIFY against the host's CRC, CRC
/// also written out) → copy exactly those bytes out. Byte-exact, nothing past the end.
fn lz4_crc32c_copy_chain_is_byte_exact(r: &mut FwRing) -> Outcome {
    bytes_mut(r, buf::OUT)?.fill(0xa5);
    bytes_mut(r, buf::SCRATCH)?.fill(0);
    let block = at(buf::BLOCK, 0, BLOCK_LEN);
    let plain = at(buf::PLAIN, 0, PLAIN_CAP);
    let out = at(buf::OUT, 0, PLAIN_CAP);
    let crc_out = at(buf::SCRATCH, 0, 4);
    push(
        r,
        &[
            lz4(slot::LZ4, 1, block, plain).flags(LINK),
            crc32c(2, CHAIN_LEN | VERIFY, plain, Some(crc_out), PLAIN_CRC32C).flags(LINK),
            copy(3, CHAIN_LEN, plain, out),
        ],
    )?;
    submitted(r.submit(), 3, Stop::Empty)?;
    cqes(r, &[(1, PLAIN_RES), (2, 0), (3, PLAIN_RES)])?;
    ensure("decompressed == payload", bytes(r, buf::PLAIN)?[..PLAIN_LEN] == PLAIN)?;
    let out = bytes(r, buf::OUT)?;
    ensure("copied == payload", out[..PLAIN_LEN] == PLAIN)?;
    ensure("nothing copied past the chain's length", out[PLAIN_LEN..].iter().all(|&b| b == 0xa5))?;
    ensure("CRC written out", bytes(r, buf::SCRATCH)?[..4] == PLAIN_CRC32C.to_le_bytes())
}

/// CRC-32C with VERIFY against the wrong value: -EBADMSG, and the chain is cancelled.
fn crc32c_mismatch_fails_chain_with_ebadmsg(r: &mut FwRing) -> Outcome {
    let block = at(buf::BLOCK, 0, BLOCK_LEN);
    let expect = PLAIN_CRC32C; // the plain text's CRC, not the block's
    push(r, &[crc32c(1, VERIFY, block, None, expect).flags(LINK), copy(2, 0, block, at(buf::OUT, 0, BLOCK_LEN))])?;
    submitted(r.submit(), 2, Stop::Empty)?;
    cqes(r, &[(1, EBADMSG), (2, ECANCELED)])
}

/// Bad input and bad descriptors end as CQEs with Linux errnos, never a panic: issue-time
/// errors (corrupt data, no room) keep the submit going, prep-time ones (bad address,
/// overlap) end it (C-OP-2).
fn buffer_op_errors_complete_with_errno(r: &mut FwRing) -> Outcome {
    // A block announcing 15 literals and holding none: truncated.
    bytes_mut(r, buf::SCRATCH)?[..2].copy_from_slice(&[0xf0, 0x00]);
    push(r, &[lz4(slot::LZ4, 1, at(buf::SCRATCH, 0, 2), at(buf::OUT, 0, 64))])?;
    submitted(r.submit(), 1, Stop::Empty)?;
    cqes(r, &[(1, EBADMSG)])?;
    // Destination one byte too small for the payload.
    push(r, &[lz4(slot::LZ4, 2, at(buf::BLOCK, 0, BLOCK_LEN), at(buf::OUT, 0, PLAIN_LEN - 1))])?;
    submitted(r.submit(), 1, Stop::Empty)?;
    cqes(r, &[(2, ENOSPC)])?;
    // Source outside every registered region.
    push(r, &[copy(3, 0, BufDesc::user(0x10, 16), at(buf::OUT, 0, 16))])?;
    submitted(r.submit(), 1, Stop::Failed)?;
    cqes(r, &[(3, EFAULT)])?;
    // A buffer index that is not registered.
    push(r, &[copy(4, 0, at(9, 0, 16), at(buf::OUT, 0, 16))])?;
    submitted(r.submit(), 1, Stop::Failed)?;
    cqes(r, &[(4, EFAULT)])?;
    // Source and destination overlapping.
    push(r, &[copy(5, 0, at(buf::OUT, 0, 32), at(buf::OUT, 16, 32))])?;
    submitted(r.submit(), 1, Stop::Failed)?;
    cqes(r, &[(5, EINVAL)])?;
    // Destination smaller than the source.
    push(r, &[copy(6, 0, at(buf::PLAIN, 0, 64), at(buf::OUT, 0, 32))])?;
    submitted(r.submit(), 1, Stop::Empty)?;
    cqes(r, &[(6, ENOSPC)])
}

/// C-BPF-2/-3: an empty slot is -EOPNOTSUPP, a slot past 15 -EINVAL.
fn op_slot_errors_complete_with_errno(r: &mut FwRing) -> Outcome {
    push(r, &[Sqe::bpf(9, 0).user_data(1)])?;
    submitted(r.submit(), 1, Stop::Failed)?;
    cqes(r, &[(1, EOPNOTSUPP)])?;
    push(r, &[Sqe::bpf(16, 0).user_data(2)])?;
    submitted(r.submit(), 1, Stop::Failed)?;
    cqes(r, &[(2, EINVAL)])
}

/// `Faulty<Lz4, RULE_FAULTY>` with "fail the 2nd request with EIO": of three
/// decompress → verify chains, the second fails at its head and its verify is
/// cancelled; the rule's counters say so.
fn faulty_lz4_fails_second_request_and_its_chain(r: &mut FwRing) -> Outcome {
    let rule = InjectRule::nth(2, Errno::EIO);
    r.set_arg(RULE_FAULTY, ArgRecord::from_value(&rule)).map_err(|_| Failure::here())?;
    let block = at(buf::BLOCK, 0, BLOCK_LEN);
    let plain = at(buf::PLAIN, 0, PLAIN_CAP);
    let expected = [[(1, PLAIN_RES), (2, 0)], [(11, EIO), (12, ECANCELED)], [(21, PLAIN_RES), (22, 0)]];
    for (k, want) in expected.iter().enumerate() {
        let base = 10 * k as u64;
        push(
            r,
            &[
                lz4(slot::FAULTY_LZ4, base + 1, block, plain).flags(LINK),
                crc32c(base + 2, CHAIN_LEN | VERIFY, plain, None, PLAIN_CRC32C),
            ],
        )?;
        submitted(r.submit(), 2, Stop::Empty)?;
        cqes(r, want)?;
    }
    let state = r.remove_arg(RULE_FAULTY).map(|rec| *rec.view::<InjectRule>()).ok_or_else(Failure::here)?;
    eq("requests the rule saw", state.seen, 3)?;
    eq("failures it injected", state.injected, 1)
}

/// `Inject` at the head of four chains with "fail every 2nd": heads 2 and 4 fail, their
/// successors are cancelled; heads complete in pass 0, successors in pass 1.
fn inject_at_chain_head_fails_every_second_chain(r: &mut FwRing) -> Outcome {
    let rule = InjectRule::every(2, Errno::EIO);
    r.set_arg(RULE_INJECT, ArgRecord::from_value(&rule)).map_err(|_| Failure::here())?;
    for k in 1..=4u64 {
        let head = Sqe::bpf(slot::INJECT, RULE_INJECT as u32).user_data(10 * k + 1).flags(LINK);
        push(r, &[head, nop(10 * k + 2)])?;
    }
    submitted(r.submit(), 8, Stop::Empty)?;
    r.remove_arg(RULE_INJECT);
    cqes(r, &[(11, 0), (21, EIO), (31, 0), (41, EIO), (12, 0), (22, ECANCELED), (32, 0), (42, ECANCELED)])
}

/// Proves the runner catches a failure: built only with feature `selfcheck-fail`.
#[cfg(feature = "selfcheck-fail")]
fn selfcheck_deliberate_failure(r: &mut FwRing) -> Outcome {
    push(r, &[nop(1)])?;
    submitted(r.submit(), 1, Stop::Empty)?;
    cqes(r, &[(1, -1)])
}

// --- Part two: completion from the interrupt ---------------------------------------------

/// Three device requests, completed by one interrupt in order of `due` (2, 3, 1), not
/// of submission; one with an error.
fn device_requests_complete_from_interrupt_out_of_order(s: &mut Split) -> Outcome {
    let before = device::stats();
    push(&mut s.sub, &[dev(1, 3, 100), dev(2, 1, 200), dev(3, 2, EIO)])?;
    submitted(s.sub.submit(), 3, Stop::Empty)?;
    eq("in flight while pending", s.sub.in_flight(), 3)?;
    eq("jobs queued on the device", device::queued(), 3)?;
    eq("CQEs before the interrupt", s.reap.len(), 0)?;
    device::ring_doorbell(Mode::Burst);
    s.wait_idle(MAX_TICKS)?;
    cqes(&mut s.reap, &[(2, 200), (3, EIO), (1, 100)])?;
    let after = device::stats();
    eq("completions accepted", after.completed - before.completed, 3)?;
    eq("completions refused", after.errors, 0)
}

/// Chains headed by device requests continue after the interrupt completes them: the
/// heads' CQEs in completion order (one pass), then their successors (next pass, in
/// the same order), a failed head's successor cancelled, a second successor one pass
/// later. The standalone NOP submitted last completes first, at submit.
fn chains_continue_after_interrupt_completions(s: &mut Split) -> Outcome {
    push(
        &mut s.sub,
        &[
            dev(1, 2, 11).flags(LINK),
            nop(2),
            dev(3, 1, 33).flags(LINK),
            nop(4).flags(LINK),
            nop(5),
            dev(6, 3, EIO).flags(LINK),
            nop(7),
            nop(8),
        ],
    )?;
    submitted(s.sub.submit(), 8, Stop::Empty)?;
    next_cqes(&mut s.reap, &[(8, 0)])?;
    eq("in flight while pending", s.sub.in_flight(), 7)?;
    device::ring_doorbell(Mode::Burst);
    s.wait_idle(MAX_TICKS)?;
    cqes(&mut s.reap, &[(3, 33), (1, 11), (6, EIO), (4, 0), (2, 0), (7, ECANCELED), (5, 0)])
}

/// Completions spread over ticks (tick 1, 2, 3 after the doorbell) arrive in tick order.
fn timed_completions_arrive_tick_by_tick(s: &mut Split) -> Outcome {
    let before = device::stats();
    push(&mut s.sub, &[dev(1, 3, 30), dev(2, 1, 10), dev(3, 2, 20)])?;
    submitted(s.sub.submit(), 3, Stop::Empty)?;
    device::ring_doorbell(Mode::Timed);
    s.wait_idle(MAX_TICKS)?;
    device::ring_doorbell(Mode::Idle);
    cqes(&mut s.reap, &[(2, 10), (3, 20), (1, 30)])?;
    ensure("at least 3 ticks passed", device::stats().ticks - before.ticks >= 3)
}

/// C-DRAIN: a drained NOP (and the NOP after it) wait for a pending device request,
/// and run once the interrupt completed it.
fn drain_waits_for_pending_device_request(s: &mut Split) -> Outcome {
    push(&mut s.sub, &[dev(1, 1, 5), nop(2).flags(SqeFlags::IO_DRAIN), nop(3)])?;
    submitted(s.sub.submit(), 3, Stop::Empty)?;
    eq("CQEs while the device holds the drain", s.reap.len(), 0)?;
    eq("in flight (1 pending + 2 deferred)", s.sub.in_flight(), 3)?;
    device::ring_doorbell(Mode::Burst);
    s.wait_idle(MAX_TICKS)?;
    cqes(&mut s.reap, &[(1, 5), (2, 0), (3, 0)])
}

/// A DMA transfer in place: the device op hands its destination to the device as a
/// `PendingIo`; while it is pending the range is the device's (a copy into it fails
/// -EBUSY at prep, the application cannot reach the buffer); the interrupt writes the
/// range byte by byte and completes with the count; then the bytes are there, exactly
/// the range and nothing past it, and the range is free again.
fn pending_device_owns_its_buffer(s: &mut Split) -> Outcome {
    let owned = at(buf::SCRATCH, 0, 64);
    let mut device_write = dev(1, 1, 0);
    owned.put_b(&mut device_write);
    let into_owned = copy(2, 0, at(buf::PLAIN, 0, 16), at(buf::SCRATCH, 32, 16));
    let Ok(scratch) = s.sub.buffer_mut(buf::SCRATCH) else {
        return ensure("the scratch buffer is the application's before", false);
    };
    scratch[..72].fill(0);
    push(&mut s.sub, &[device_write, into_owned])?;
    submitted(s.sub.submit(), 2, Stop::Failed)?;
    next_cqes(&mut s.reap, &[(2, EBUSY)])?;
    ensure("the application cannot reach the DMA buffer", s.sub.buffer_mut(buf::SCRATCH).is_err())?;
    device::ring_doorbell(Mode::Burst);
    s.wait_idle(MAX_TICKS)?;
    next_cqes(&mut s.reap, &[(1, 64)])?;
    let Some(scratch) = s.sub.buffers().get(buf::SCRATCH).map(|r| r.bytes()) else {
        return ensure("the scratch buffer is the application's again", false);
    };
    ensure("the DMA wrote every byte in place", (0..64).all(|i| scratch[i] == device::dma_byte(i)))?;
    ensure("and nothing past the range", scratch[64..72].iter().all(|&b| b == 0))?;
    push(&mut s.sub, &[copy(3, 0, at(buf::PLAIN, 0, 16), at(buf::SCRATCH, 32, 16))])?;
    submitted(s.sub.submit(), 1, Stop::Empty)?;
    cqes(&mut s.reap, &[(3, 16)])
}

/// A token completed twice: the interrupt's second `complete` is refused as stale and
/// changes nothing. Forged tokens (no such slot; wrong generation) are refused too.
fn stale_and_forged_tokens_are_refused(s: &mut Split) -> Outcome {
    let before = device::stats();
    push(&mut s.sub, &[Sqe::bpf(slot::DEVICE, TWICE).user_data(1).off(7).len(1)])?;
    submitted(s.sub.submit(), 1, Stop::Empty)?;
    device::ring_doorbell(Mode::Burst);
    s.wait_idle(MAX_TICKS)?;
    cqes(&mut s.reap, &[(1, 7)])?;
    let after = device::stats();
    eq("second completions refused as stale", after.stale - before.stale, 1)?;
    eq("unexpected refusals", after.errors, 0)?;
    let invalid = s.completer.complete(Token::from_raw(0x0000_ffff), 0);
    ensure("token naming no slot: Invalid", invalid == Err(CompleteError::Invalid))?;
    let stale = s.completer.complete(Token::from_raw(0x7777_0000), 0);
    ensure("token of a wrong generation: Stale", stale == Err(CompleteError::Stale))?;
    eq("polled completions", s.sub.poll(), 0)?;
    cqes(&mut s.reap, &[])
}

/// Cortex-M7: a DMA transfer into a range of the scratch buffer (offset 8, 50 bytes)
/// makes the ring clean+invalidate its lines (rounded out to 32 bytes: 64 bytes from
/// the buffer's start) through the M7's SCB at hand-over, and invalidate the same lines
/// at completion — before the CQE. (QEMU models no cache: this pins
/// the calls and their ranges; the bytes are checked as everywhere.)
#[cfg(board = "mps2_an500")]
fn m7_cache_maintenance_at_dma_hand_over(s: &mut Split) -> Outcome {
    // QEMU keeps CCR.DC/IC at 0 (it has no cache model): logged, not checked.
    log_info!("  D-cache enabled (CCR.DC): {}", board::dcache_enabled());
    let base = s.sub.buffers().get(buf::SCRATCH).map(|r| r.addr() as usize).ok_or_else(Failure::here)?;
    eq("scratch buffer line-aligned", base % 32, 0)?;
    let lines = (base, base + 64);
    let before = board::cache_stats();
    let mut sqe = dev(1, 1, 0);
    at(buf::SCRATCH, 8, 50).put_b(&mut sqe);
    push(&mut s.sub, &[sqe])?;
    submitted(s.sub.submit(), 1, Stop::Empty)?;
    let handed = board::cache_stats();
    eq("clean+invalidate at hand-over", handed.clean_invalidates - before.clean_invalidates, 1)?;
    eq("nothing invalidated yet", handed.invalidates - before.invalidates, 0)?;
    eq("hand-over range start", handed.last.0, lines.0)?;
    eq("hand-over range end", handed.last.1, lines.1)?;
    device::ring_doorbell(Mode::Burst);
    s.wait_idle(MAX_TICKS)?;
    let done = board::cache_stats();
    eq("invalidate at completion", done.invalidates - handed.invalidates, 1)?;
    eq("completion range start", done.last.0, lines.0)?;
    eq("completion range end", done.last.1, lines.1)?;
    eq("no source cleaned (none)", done.cleans - before.cleans, 0)?;
    cqes(&mut s.reap, &[(1, 50)])?;
    let scratch = s.sub.buffers().get(buf::SCRATCH).map(|r| r.bytes()).ok_or_else(Failure::here)?;
    ensure("the DMA bytes in place", (0..50).all(|i| scratch[8 + i] == device::dma_byte(i)))
}

/// One buffer of the sampler's stream: `F_BUFFER | F_MORE`, 16 bytes, samples
/// `first..first + 8` in order. Returns the buffer id.
fn sample_cqe(s: &Split, c: Cqe, first: u16) -> Result<u16, Failure> {
    eq("sampler CQE user_data", c.user_data, 1)?;
    eq("sampler CQE flags", c.flags & 0xffff, (CqeFlags::BUFFER | CqeFlags::MORE).bits())?;
    eq("sampler CQE res", c.res, (sampler::PER_BUF * 2) as i32)?;
    let bid = (c.flags >> 16) as u16;
    let Ok(b) = s.sub.provided(1, bid) else {
        return ensure("the reaped buffer is the application's", false).map(|_| 0);
    };
    let ok = b
        .chunks_exact(2)
        .take(sampler::PER_BUF)
        .enumerate()
        .all(|(i, w)| u16::from_le_bytes([w[0], w[1]]) == first.wrapping_add(i as u16));
    ensure("samples consecutive, none lost or reordered", ok)?;
    Ok(bid)
}

/// A sampling device streams into provided buffers from the timer interrupt: one SQE, a
/// CQE per buffer (`F_BUFFER | F_MORE`, the buffer id), samples consecutive across
/// buffers while the application reads and re-provides them; when it stops
/// re-providing, the interrupt finds no buffer and the request ends with -ENOBUFS after
/// the buffers already filled. The group's area is reserved meanwhile (the scratch
/// buffer is not the application's) and free again after unregistering.
fn sampler_streams_into_provided_buffers_from_the_interrupt(s: &mut Split) -> Outcome {
    const STREAMED: u16 = 12;
    let group = BufGroup { bgid: 1, buf_index: buf::SCRATCH, offset: 128, size: 32 };
    ensure("register the provided-buffer group", s.sub.register_buf_ring(&sampler::RX, group).is_ok())?;
    ensure("the group's region is reserved", s.sub.buffer_mut(buf::SCRATCH).is_err())?;
    (0..sampler::BUFFERS as u16).for_each(|b| sampler::RX.provide(b));
    push(&mut s.sub, &[Sqe::bpf(slot::SAMPLER, 0).user_data(1).flags(SqeFlags::BUFFER_SELECT).buf_index(1)])?;
    submitted(s.sub.submit(), 1, Stop::Empty)?;
    let start = device::stats().ticks;
    let mut first = 0u16;
    let mut ended = None;
    let mut stopped = false;
    while ended.is_none() {
        s.sub.poll();
        while let Some(c) = s.reap.reap() {
            if c.flags & CqeFlags::MORE.bits() == 0 {
                ended = Some(c);
                break;
            }
            let bid = sample_cqe(s, c, first)?;
            first = first.wrapping_add(sampler::PER_BUF as u16);
            if first < STREAMED * sampler::PER_BUF as u16 {
                sampler::RX.provide(bid);
            } else {
                stopped = true;
            }
        }
        if device::stats().ticks.wrapping_sub(start) > 4 * MAX_TICKS {
            log_error!("  sampler: {} samples after {} ticks", first, 4 * MAX_TICKS);
            return Err(Failure::here());
        }
        if ended.is_none() {
            board::wait_for_interrupt();
        }
    }
    ensure("the application had stopped re-providing", stopped)?;
    ensure("the final CQE is -ENOBUFS", ended == Some(Cqe::new(1, Errno::ENOBUFS.res())))?;
    let (filled, starved) = sampler::stats();
    eq("buffers filled = CQEs posted", u32::from(first) / sampler::PER_BUF as u32, filled)?;
    eq("the device saw 'no buffer' once", starved, 1)?;
    eq("in flight", s.sub.in_flight(), 0)?;
    ensure("unregister the group", s.sub.unregister_buf_ring(1).is_ok())?;
    ensure("the scratch buffer is the application's again", s.sub.buffer_mut(buf::SCRATCH).is_ok())?;
    cqes(&mut s.reap, &[])
}
