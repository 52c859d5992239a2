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

/// How an [`InjectRule`] picks requests.
pub mod mode {
    /// Never inject.
    pub const NEVER: u32 = 0;
    /// Inject into the `n`-th request (1-based) only.
    pub const NTH: u32 = 1;
    /// Inject into every `n`-th request (the n-th, 2n-th, ...).
    pub const EVERY: u32 = 2;
    /// Inject into requests with `user_data & mask == value`.
    pub const MATCH: u32 = 3;
    /// Inject into a request with probability `n`% (xorshift from `seed`).
    pub const RANDOM: u32 = 4;
    /// Inject into every request.
    pub const ALWAYS: u32 = 5;
}

/// An error-injection rule and its state: 56 bytes, kept in an
/// [`ArgRecord`](crate::ArgRecord).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct InjectRule {
    /// One of [`mode`].
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
    /// A rule failing with `errno` by `mode` / `n`.
    pub const fn new(mode: u32, n: u64, errno: Errno) -> Self {
        InjectRule { mode, errno: errno.get() as u32, n, mask: 0, value: 0, seed: 0, seen: 0, injected: 0 }
    }

    /// A MATCH rule.
    pub const fn matching(mask: u64, value: u64, errno: Errno) -> Self {
        InjectRule { mask, value, ..InjectRule::new(mode::MATCH, 0, errno) }
    }

    /// A RANDOM rule: `percent`% of requests, from `seed`.
    pub const fn random(percent: u64, seed: u64, errno: Errno) -> Self {
        InjectRule { seed, ..InjectRule::new(mode::RANDOM, percent, errno) }
    }

    /// Decide for one request with `user_data`, updating the state: the errno to fail
    /// with, or `None`.
    pub fn decide(&mut self, user_data: u64) -> Option<Errno> {
        self.seen = self.seen.wrapping_add(1);
        let hit = match self.mode {
            mode::NTH => self.seen == self.n,
            mode::EVERY => self.n != 0 && self.seen.is_multiple_of(self.n),
            mode::MATCH => user_data & self.mask == self.value,
            mode::RANDOM => {
                let mut x = if self.seed == 0 { 0x9e37_79b9_7f4a_7c15 } else { self.seed };
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                self.seed = x;
                x % 100 < self.n
            }
            mode::ALWAYS => true,
            _ => false,
        };
        if !hit {
            return None;
        }
        self.injected = self.injected.wrapping_add(1);
        Some(u16::try_from(self.errno).ok().and_then(Errno::new).unwrap_or(Errno::EIO))
    }
}

fn decide(cx: &mut IssueCx<'_>, id: u16) -> Option<Errno> {
    let ud = cx.info().user_data();
    cx.arg_mut(id).ok().and_then(|rec| rec.view_mut::<InjectRule>().decide(ud))
}

/// The standalone injection op: op flags (low 16 bits) = rule record id.
pub struct Inject;

impl Op for Inject {
    type Pdu = u16;

    fn prep(cx: &mut PrepCx<'_>, _sqe: &Sqe) -> Result<u16, Errno> {
        let id = (cx.info().private_flags() & 0xffff) as u16;
        cx.arg(id)?;
        Ok(id)
    }

    fn issue(cx: &mut IssueCx<'_>, id: &mut u16) -> Issue {
        match decide(cx, *id) {
            Some(e) => Issue::Err(e),
            None => Issue::Done,
        }
    }
}

/// `T` with errors injected by the rule in extended-argument record `ID`.
pub struct Faulty<T, const ID: u16>(PhantomData<T>);

impl<T: Op, const ID: u16> Op for Faulty<T, ID> {
    type Pdu = T::Pdu;

    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<T::Pdu, Errno> {
        T::prep(cx, sqe)
    }

    fn issue(cx: &mut IssueCx<'_>, pdu: &mut T::Pdu) -> Issue {
        match decide(cx, ID) {
            Some(e) => Issue::Err(e),
            None => T::issue(cx, pdu),
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
            *o = r.decide(i as u64).is_some();
        }
        out
    }

    #[test]
    fn modes_pick_the_requests_they_say() {
        let t = true;
        let f = false;
        assert_eq!(run(InjectRule::new(mode::NTH, 3, Errno::EIO), 12), [f, f, t, f, f, f, f, f, f, f, f, f]);
        assert_eq!(run(InjectRule::new(mode::EVERY, 4, Errno::EIO), 12), [f, f, f, t, f, f, f, t, f, f, f, t]);
        assert_eq!(run(InjectRule::matching(1, 1, Errno::EIO), 12), [f, t, f, t, f, t, f, t, f, t, f, t]);
        assert_eq!(run(InjectRule::new(mode::NEVER, 0, Errno::EIO), 12), [f; 12]);
        assert_eq!(run(InjectRule::new(mode::ALWAYS, 0, Errno::EIO), 12), [t; 12]);
        // RANDOM is a pure function of the seed: same seed, same picks.
        let a = run(InjectRule::random(50, 42, Errno::EIO), 12);
        assert_eq!(a, run(InjectRule::random(50, 42, Errno::EIO), 12));
        assert!(a.iter().any(|&x| x) && a.iter().any(|&x| !x), "{a:?}");
    }

    #[test]
    fn errno_and_counters() {
        let mut r = InjectRule::new(mode::ALWAYS, 0, Errno::ENOSPC);
        assert_eq!(r.decide(0), Some(Errno::ENOSPC));
        r.errno = 0;
        assert_eq!(r.decide(0), Some(Errno::EIO));
        assert_eq!((r.seen, r.injected), (2, 2));
    }
}
