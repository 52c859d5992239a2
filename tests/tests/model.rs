//! Model-based property tests: random SQE batches — valid-looking ones and raw random
//! bytes — run on fwring and on the reference model (`fwring_tests::model`), which must
//! agree CQE for CQE, in order, with the same op-slot hook calls.
//!
//! Rings here are small on purpose (8 CQ entries, 16 requests in flight), so batches
//! keep hitting backpressure: fwring then takes fewer SQEs per submit call, and the model
//! is fed the same submit-call boundaries. Whatever the boundaries, no CQE may be lost,
//! duplicated or reordered against the model, and every SQE is eventually consumed.

use fwring::{Cqe, Ring, Setup, SetupFlags, Sqe, Stop};
use fwring_tests::model::{Model, SCRIPT_SLOTS, hooks, script_tables};
use fwring_tests::random::{Mix, Rng, batch, raw_batch};
use proptest::prelude::*;

/// Run `sqes` through a fwring ring, submit after submit, reaping everything between
/// calls, and through the model with the same call boundaries. Returns a description of
/// the first difference.
fn check<const SQ: usize, const CQ: usize, const N: usize>(
    sqes: &[Sqe],
    submit_all: bool,
    reap_all: bool,
) -> Result<usize, String> {
    let mut flags = SetupFlags::BPF_EXT;
    if submit_all {
        flags |= SetupFlags::SUBMIT_ALL;
    }
    let mut ring: Ring<SQ, CQ, N> = Ring::new();
    let params = ring.setup(Setup::new(SQ as u32).flags(flags)).map_err(|e| format!("setup: {e}"))?;
    for t in script_tables() {
        ring.register_op(t).map_err(|e| format!("register: {e}"))?;
    }
    let mut model = Model::new(submit_all, true, &SCRIPT_SLOTS);
    let (mut got, mut want) = (Vec::<Cqe>::new(), Vec::<Cqe>::new());
    let mut pos = 0;
    let mut calls = 0;
    let hooks_before = hooks::counts();
    let (mut model_fails, mut model_cleanups) = (0, 0);
    while pos < sqes.len() || !ring.sq().is_empty() {
        pos += ring.sq().push_slice(&sqes[pos..]);
        let queued_before = ring.sq().len() as usize;
        let first = pos - queued_before;
        let s = ring.submit();
        calls += 1;
        if calls > 4 * sqes.len() + 8 {
            return Err("no progress".into());
        }
        let taken = s.taken as usize;
        let m = model.submit(&sqes[first..first + taken]);
        if m.taken != taken {
            return Err(format!("call {calls}: fwring took {taken}, model {}", m.taken));
        }
        model_fails += m.fails;
        model_cleanups += m.cleanups;
        want.extend(m.cqes.iter().map(|e| e.cqe));
        if ring.in_flight() != 0 || ring.cq_reserved() != 0 {
            return Err(format!(
                "call {calls}: {} in flight, {} reserved after submit",
                ring.in_flight(),
                ring.cq_reserved()
            ));
        }
        if ring.cq().len() > params.cq_entries {
            return Err("CQ overfilled".into());
        }
        // Reap everything, or (to leave CQEs behind across calls) only half.
        let n =
            if reap_all || s.stop == Stop::Backpressure { usize::MAX } else { (ring.cq().len() as usize).div_ceil(2) };
        for _ in 0..n {
            match ring.pop() {
                Some(c) => got.push(c),
                None => break,
            }
        }
    }
    while let Some(c) = ring.pop() {
        got.push(c);
    }
    if got != want {
        return Err(format!("CQE streams differ\n  fwring {got:?}\n  model  {want:?}"));
    }
    let hooks_after = hooks::counts();
    let hooks_seen = (hooks_after.0 - hooks_before.0, hooks_after.1 - hooks_before.1);
    if hooks_seen != (model_fails, model_cleanups) {
        return Err(format!("hooks (fail, cleanup) {hooks_seen:?}, model {:?}", (model_fails, model_cleanups)));
    }
    if ring.cq_overflow() != 0 {
        return Err("overflow counter moved".into());
    }
    Ok(calls)
}

fn both(sqes: &[Sqe], reap_all: bool) -> Result<(), TestCaseError> {
    for submit_all in [false, true] {
        // Roomy ring: one submit per SQ load.
        check::<32, 64, 64>(sqes, submit_all, true).map_err(TestCaseError::fail)?;
        // Tight ring: 8 CQ entries, 16 in flight — backpressure and cut chains.
        check::<32, 8, 16>(sqes, submit_all, reap_all).map_err(TestCaseError::fail)?;
        // Tiny ring: 4-entry SQ, CQ of 8, 4 in flight.
        check::<4, 8, 4>(sqes, submit_all, reap_all).map_err(TestCaseError::fail)?;
        // An in-flight capacity that is not a power of two (the request table then finds
        // request `idx` at entry `idx - 1`, checked, instead of by mask).
        check::<8, 8, 5>(sqes, submit_all, reap_all).map_err(TestCaseError::fail)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

    /// Valid-looking SQEs: NOPs with every flag and nop flag, op-slot SQEs with every
    /// ScriptOp behaviour, opcodes fwring does not build in, invalid opcodes.
    #[test]
    fn fwring_matches_model_on_random_batches(seed in any::<u64>(), reap_all in any::<bool>()) {
        let mut rng = Rng::new(seed);
        let sqes = batch(&mut rng, 40, Mix { bpf: true, unsupported: true, plain_nops: false });
        both(&sqes, reap_all)?;
    }

    /// Plain NOPs only — link and hardlink chains of every shape, injected failures,
    /// chains longer than the ring — which fwring runs without its in-flight table:
    /// the same CQEs in the same order, on every ring size (backpressure included).
    #[test]
    fn fwring_matches_model_on_nop_chains(seed in any::<u64>(), reap_all in any::<bool>()) {
        let mut rng = Rng::new(seed);
        let sqes = batch(&mut rng, 40, Mix { bpf: false, unsupported: false, plain_nops: true });
        both(&sqes, reap_all)?;
    }

    /// Raw random bytes as SQEs.
    #[test]
    fn fwring_matches_model_on_random_bytes(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let sqes = raw_batch(&mut rng, 40);
        both(&sqes, true)?;
    }
}

#[test]
fn long_link_chains_are_cut_at_the_ring_capacity_identically() {
    // Chains of every length up to 3× the in-flight capacity.
    for len in 1..=48usize {
        let sqes: Vec<Sqe> = (0..len)
            .map(|i| {
                let f = if i + 1 < len { fwring::SqeFlags::IO_LINK } else { fwring::SqeFlags::empty() };
                Sqe::nop().user_data(i as u64).flags(f)
            })
            .collect();
        check::<32, 8, 16>(&sqes, false, true).unwrap();
        check::<4, 8, 4>(&sqes, false, false).unwrap();
        check::<8, 8, 5>(&sqes, false, false).unwrap();
    }
}
