//! The bridge between a queue pair's device side and a ring: the only part of `shm` that
//! knows the ring's types.

use crate::abi::{Cqe, SqRingFlags, Sqe};
use crate::engine::ring::{Reaper, Ring, Submitter};

/// Where [`DeviceEnd::feed`](super::DeviceEnd::feed) puts SQEs: a [`Ring`], or the [`Submitter`] of a split one.
pub trait SqSink {
    /// Free SQ slots.
    fn sq_space(&mut self) -> u32;
    /// Whether the SQ holds nothing.
    fn sq_is_empty(&mut self) -> bool;
    /// Queue one SQE (handed back when full).
    fn push_sqe(&mut self, sqe: Sqe) -> Result<(), Sqe>;
    /// Whether the last submit stopped for lack of CQ room.
    fn backpressured(&self) -> bool;
}

/// Where [`DeviceEnd::flush`](super::DeviceEnd::flush) takes CQEs from: a [`Ring`], or the [`Reaper`] of a split one.
pub trait CqSource {
    /// Reap one CQE.
    fn pop_cqe(&mut self) -> Option<Cqe>;
}

macro_rules! sq_sink {
    ($($t:ty),*) => {$(
        impl<const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize> SqSink for $t {
            fn sq_space(&mut self) -> u32 {
                self.sq().space()
            }
            fn sq_is_empty(&mut self) -> bool {
                self.sq().is_empty()
            }
            fn push_sqe(&mut self, sqe: Sqe) -> Result<(), Sqe> {
                self.push(sqe)
            }
            fn backpressured(&self) -> bool {
                self.sq_flags().contains(SqRingFlags::CQ_OVERFLOW)
            }
        }
    )*};
}

sq_sink!(Ring<SQ, CQ, N, ARGS>, Submitter<'_, SQ, CQ, N, ARGS>);

impl<const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize> CqSource for Ring<SQ, CQ, N, ARGS> {
    fn pop_cqe(&mut self) -> Option<Cqe> {
        self.pop()
    }
}

impl<const CQ: usize> CqSource for Reaper<'_, CQ> {
    fn pop_cqe(&mut self) -> Option<Cqe> {
        self.pop()
    }
}
