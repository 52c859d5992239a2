//! Error injection, to test your own error paths: fail the n-th, every k-th, matching,
//! or randomly chosen requests with a chosen errno — deterministic from a seed.
//!
//! The rule is an [`InjectRule`] kept in an extended-argument record; the op updates its
//! counters there, so a run is reproducible from the record's initial contents.
//!
//! Two forms:
//! - [`Inject`]: an op of its own. Op flags (low 16 bits) = the rule's record id. It
//!   completes with 0, or fails with the injected errno — put it at the head of a link
//!   chain to fail the whole chain (the rest is cancelled with -ECANCELED).
//! - [`Faulty<T, ID>`]: wraps any typed op `T`; prep is `T`'s, and at issue the rule in
//!   record `ID` decides whether `T` runs or the request fails with the errno (through
//!   the failure path: `T::fail` runs). A missing record injects nothing.

use core::marker::PhantomData;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::abi::Sqe;
use crate::abi::errno::Errno;
use crate::slot::{Issue, IssueCx, Op, PrepCx, ReqInfo};

crate::bytes::wire_enum! {
    /// How an [`InjectRule`] picks requests: the rule's `mode` word.
    ///
    /// The record is written by whoever sets the rule up (a host, a test script), so the
    /// word can hold any value: [`InjectMode::from_repr`] (or `TryFrom<u32>`) checks it,
    /// and a rule whose word names no mode fails the request with -EINVAL.
    ///
    /// ```
    /// use fwring::Errno;
    /// use fwring::ops::inject::InjectMode;
    /// assert_eq!(InjectMode::from_repr(2), Some(InjectMode::Every));
    /// assert_eq!(InjectMode::from_repr(6), None);
    /// assert_eq!(InjectMode::try_from(6), Err(Errno::EINVAL));
    /// assert_eq!(u32::from(InjectMode::Random), 4);
    /// ```
    pub enum InjectMode: u32 {
        /// Never inject.
        Never = 0,
        /// Inject into the `n`-th request (1-based) only.
        Nth = 1,
        /// Inject into every `n`-th request (the n-th, 2n-th, ...).
        Every = 2,
        /// Inject into requests with `user_data & mask == value`.
        Match = 3,
        /// Inject into a request with probability `n`% (xorshift from `seed`).
        Random = 4,
        /// Inject into every request.
        Always = 5,
    }
}

/// An error-injection rule and its state: 56 bytes, kept in an
/// [`ArgRecord`](crate::ArgRecord).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct InjectRule {
    /// An [`InjectMode`] as its `u32` wire value (read it with [`InjectRule::mode`]).
    pub mode: u32,
    /// The errno to fail with (1..=4095; anything else injects EIO).
    pub errno: u32,
    /// NTH: which request; EVERY: the period; RANDOM: percent.
    pub n: u64,
    /// MATCH: mask applied to user_data.
    pub mask: u64,
    /// MATCH: value the masked user_data must equal.
    pub value: u64,
    /// RANDOM: xorshift64 state (0 starts from a fixed non-zero seed).
    pub seed: u64,
    /// Requests seen so far (state).
    pub seen: u64,
    /// Failures injected so far (state).
    pub injected: u64,
}

const _: () = assert!(size_of::<InjectRule>() == 56);

impl InjectRule {
    /// A rule failing with `errno` by `mode` / `n` (see [`InjectMode`] for what `n`
    /// means to each).
    pub const fn new(mode: InjectMode, n: u64, errno: Errno) -> Self {
        InjectRule { mode: mode as u32, errno: errno.get() as u32, n, mask: 0, value: 0, seed: 0, seen: 0, injected: 0 }
    }

    /// An NTH rule: only the `n`-th request (1-based) fails.
    pub const fn nth(n: u64, errno: Errno) -> Self {
        InjectRule::new(InjectMode::Nth, n, errno)
    }

    /// An EVERY rule: every `n`-th request fails.
    pub const fn every(n: u64, errno: Errno) -> Self {
        InjectRule::new(InjectMode::Every, n, errno)
    }

    /// A MATCH rule.
    pub const fn matching(mask: u64, value: u64, errno: Errno) -> Self {
        InjectRule { mask, value, ..InjectRule::new(InjectMode::Match, 0, errno) }
    }

    /// A RANDOM rule: `percent`% of requests, from `seed`.
    pub const fn random(percent: u64, seed: u64, errno: Errno) -> Self {
        InjectRule { seed, ..InjectRule::new(InjectMode::Random, percent, errno) }
    }

    /// The rule's mode; -EINVAL if its `mode` word names none.
    pub const fn mode(&self) -> Result<InjectMode, Errno> {
        match InjectMode::from_repr(self.mode) {
            Some(m) => Ok(m),
            None => Err(Errno::EINVAL),
        }
    }

    /// Decide for one request with `user_data`, updating the state: the errno to fail
    /// with, or `None`. A rule whose `mode` word names no mode is -EINVAL (`Err`), and
    /// its state is left as it was.
    pub fn decide(&mut self, user_data: u64) -> Result<Option<Errno>, Errno> {
        let mode = self.mode()?;
        self.seen = self.seen.wrapping_add(1);
        let hit = match mode {
            InjectMode::Never => false,
            InjectMode::Nth => self.seen == self.n,
            InjectMode::Every => self.n != 0 && self.seen.is_multiple_of(self.n),
            InjectMode::Match => user_data & self.mask == self.value,
            InjectMode::Random => {
                let mut x = if self.seed == 0 { 0x9e37_79b9_7f4a_7c15 } else { self.seed };
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                self.seed = x;
                x % 100 < self.n
            }
            InjectMode::Always => true,
        };
        if !hit {
            return Ok(None);
        }
        self.injected = self.injected.wrapping_add(1);
        Ok(Some(u16::try_from(self.errno).ok().and_then(Errno::new).unwrap_or(Errno::EIO)))
    }
}

/// The rule in record `id` decides for this request: `Err` is the errno the request
/// fails with (injected, or -EINVAL for a rule with a bad mode); a missing record
/// injects nothing.
fn decide(cx: &mut IssueCx<'_>, id: u16) -> Result<(), Errno> {
    let ud = cx.info().user_data();
    let Ok(rec) = cx.arg_mut(id) else { return Ok(()) };
    match rec.view_mut::<InjectRule>().decide(ud)? {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The standalone injection op: op flags (low 16 bits) = rule record id.
///
/// ```
/// use fwring::ops::inject::{Inject, InjectRule};
/// use fwring::{ArgRecord, Cqe, Errno, OpVTable, Ring, Setup, SetupFlags, Sqe, SqeFlags, vtable};
///
/// static INJECT: OpVTable = vtable::<Inject>(6);
///
/// let mut ring: Ring<8, 16, 8, 2> = Ring::new();
/// ring.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).unwrap();
/// ring.register_op(&INJECT).unwrap();
/// // Record 1: fail the second request with -EIO.
/// ring.set_arg(1, ArgRecord::from_value(&InjectRule::nth(2, Errno::EIO))).unwrap();
///
/// ring.push(Sqe::bpf(6, 1).user_data(1)).unwrap();
/// // At the head of a chain, an injected failure cancels the rest.
/// ring.push(Sqe::bpf(6, 1).user_data(2).flags(SqeFlags::IO_LINK)).unwrap();
/// ring.push(Sqe::nop().user_data(3)).unwrap();
/// ring.push(Sqe::bpf(6, 1).user_data(4)).unwrap();
/// // A record that does not exist: -ENOENT at prep.
/// ring.push(Sqe::bpf(6, 9).user_data(5)).unwrap();
/// let _ = ring.submit();
/// let mut cqes = [None; 5];
/// cqes.iter_mut().for_each(|c| *c = ring.pop());
/// assert_eq!(
///     cqes,
///     [
///         Some(Cqe::new(1, 0)),
///         Some(Cqe::new(2, Errno::EIO.res())),
///         Some(Cqe::new(4, 0)),
///         Some(Cqe::new(5, Errno::ENOENT.res())),
///         Some(Cqe::new(3, Errno::ECANCELED.res())),
///     ]
/// );
/// // The rule's counters live in its record.
/// let rule: &InjectRule = ring.arg(1).unwrap().view();
/// assert_eq!((rule.seen, rule.injected), (3, 1));
///
/// // A record whose mode word names no mode is refused: -EINVAL.
/// ring.set_arg(2, ArgRecord::from_value(&InjectRule { mode: 9, ..InjectRule::nth(1, Errno::EIO) })).unwrap();
/// ring.push(Sqe::bpf(6, 2).user_data(6)).unwrap();
/// let _ = ring.submit();
/// assert_eq!(ring.pop(), Some(Cqe::new(6, Errno::EINVAL.res())));
/// ```
pub struct Inject;

impl Op for Inject {
    type Pdu = u16;

    fn prep(cx: &mut PrepCx<'_>, _sqe: &Sqe) -> Result<u16, Errno> {
        let id = (cx.info().private_flags() & 0xffff) as u16;
        // The record must exist and hold a rule with a known mode (-EINVAL otherwise).
        cx.arg(id)?.view::<InjectRule>().mode()?;
        Ok(id)
    }

    fn issue(cx: &mut IssueCx<'_>, id: &mut u16) -> Issue {
        match decide(cx, *id) {
            Err(e) => Issue::Err(e),
            Ok(()) => Issue::Done,
        }
    }
}

/// `T` with errors injected by the rule in extended-argument record `ID`.
///
/// ```
/// use fwring::ops::inject::{Faulty, InjectRule};
/// use fwring::ops::{buf_sqe, copy::Memcpy};
/// use fwring::{ArgRecord, BufDesc, Cqe, Errno, OpVTable, Region, Ring, Setup, SetupFlags, vtable};
/// use static_cell::StaticCell;
///
/// // A copy whose every second request fails -ENOSPC (rule in record 0).
/// static FLAKY_COPY: OpVTable = vtable::<Faulty<Memcpy, 0>>(7);
/// static MEM: StaticCell<[u8; 64]> = StaticCell::new();
///
/// let mut ring: Ring<8, 16, 8, 1> = Ring::new();
/// ring.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).unwrap();
/// ring.register_op(&FLAKY_COPY).unwrap();
/// ring.set_arg(0, ArgRecord::from_value(&InjectRule::every(2, Errno::ENOSPC))).unwrap();
/// let mem = MEM.init([7; 64]);
/// ring.register_buffers([Region::new(mem)]).unwrap();
///
/// let src = BufDesc::kfixed(0, 0, 8);
/// for (ud, at) in [(1, 16), (2, 32), (3, 48)] {
///     ring.push(buf_sqe(7, 0, &src, Some(&BufDesc::kfixed(0, at, 8))).user_data(ud)).unwrap();
/// }
/// let _ = ring.submit();
/// assert_eq!(ring.pop(), Some(Cqe::new(1, 8)));
/// assert_eq!(ring.pop(), Some(Cqe::new(2, Errno::ENOSPC.res())));
/// assert_eq!(ring.pop(), Some(Cqe::new(3, 8)));
/// ```
pub struct Faulty<T, const ID: u16>(PhantomData<T>);

impl<T: Op, const ID: u16> Op for Faulty<T, ID> {
    type Pdu = T::Pdu;

    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<T::Pdu, Errno> {
        T::prep(cx, sqe)
    }

    fn issue(cx: &mut IssueCx<'_>, pdu: &mut T::Pdu) -> Issue {
        match decide(cx, ID) {
            Err(e) => Issue::Err(e),
            Ok(()) => T::issue(cx, pdu),
        }
    }

    fn fail(info: &ReqInfo, pdu: &mut T::Pdu) {
        T::fail(info, pdu)
    }

    fn cleanup(info: &ReqInfo, pdu: &mut T::Pdu) {
        T::cleanup(info, pdu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(mut r: InjectRule, n: usize) -> [bool; 12] {
        let mut out = [false; 12];
        for (i, o) in out.iter_mut().enumerate().take(n) {
            *o = r.decide(i as u64).unwrap().is_some();
        }
        out
    }

    #[test]
    fn modes_pick_the_requests_they_say() {
        let t = true;
        let f = false;
        assert_eq!(run(InjectRule::nth(3, Errno::EIO), 12), [f, f, t, f, f, f, f, f, f, f, f, f]);
        assert_eq!(run(InjectRule::every(4, Errno::EIO), 12), [f, f, f, t, f, f, f, t, f, f, f, t]);
        assert_eq!(run(InjectRule::matching(1, 1, Errno::EIO), 12), [f, t, f, t, f, t, f, t, f, t, f, t]);
        assert_eq!(run(InjectRule::new(InjectMode::Never, 0, Errno::EIO), 12), [f; 12]);
        assert_eq!(run(InjectRule::new(InjectMode::Always, 0, Errno::EIO), 12), [t; 12]);
        // RANDOM is a pure function of the seed: same seed, same picks.
        let a = run(InjectRule::random(50, 42, Errno::EIO), 12);
        assert_eq!(a, run(InjectRule::random(50, 42, Errno::EIO), 12));
        assert!(a.iter().any(|&x| x) && a.iter().any(|&x| !x), "{a:?}");
    }

    #[test]
    fn errno_and_counters() {
        let mut r = InjectRule::new(InjectMode::Always, 0, Errno::ENOSPC);
        assert_eq!(r.decide(0), Ok(Some(Errno::ENOSPC)));
        r.errno = 0;
        assert_eq!(r.decide(0), Ok(Some(Errno::EIO)));
        assert_eq!((r.seen, r.injected), (2, 2));
    }

    #[test]
    fn a_mode_word_naming_no_mode_is_einval_and_counts_nothing() {
        for (word, mode) in [(0, InjectMode::Never), (3, InjectMode::Match), (5, InjectMode::Always)] {
            assert_eq!(InjectMode::try_from(word), Ok(mode));
            assert_eq!(u32::from(mode), word);
        }
        for word in [6, 7, 0x100, u32::MAX] {
            assert_eq!(InjectMode::try_from(word), Err(Errno::EINVAL));
            let mut r = InjectRule { mode: word, ..InjectRule::new(InjectMode::Always, 0, Errno::EIO) };
            assert_eq!(r.mode(), Err(Errno::EINVAL));
            assert_eq!(r.decide(0), Err(Errno::EINVAL));
            assert_eq!((r.seen, r.injected), (0, 0));
        }
    }
}
