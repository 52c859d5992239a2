//! Shared helpers for fwring's integration tests: SQE shorthands, a ring runner, a
//! reference model of Linux io_uring semantics ([`model`]) and a client for the Linux
//! kernel's own io_uring ([`kernel`]), used for differential testing.

pub mod async_bench;
pub mod bench;
pub mod handoff;
#[cfg(target_os = "linux")]
pub mod kernel;
pub mod model;
pub mod random;
pub mod rows;
pub mod stream;
pub mod stream_bench;
pub mod workloads;

use fwring::{Cqe, Ring, Sqe, SqeFlags, Submitted};

/// IOSQE_IO_LINK.
pub const L: SqeFlags = SqeFlags::IO_LINK;
/// IOSQE_IO_HARDLINK.
pub const H: SqeFlags = SqeFlags::IO_HARDLINK;
/// IOSQE_IO_DRAIN.
pub const D: SqeFlags = SqeFlags::IO_DRAIN;
/// IOSQE_CQE_SKIP_SUCCESS.
pub const S: SqeFlags = SqeFlags::CQE_SKIP_SUCCESS;
/// IOSQE_ASYNC.
pub const A: SqeFlags = SqeFlags::ASYNC;
/// No flags.
pub const NONE: SqeFlags = SqeFlags::empty();

/// `-errno` shorthands for expected CQEs.
pub mod res {
    use fwring::Errno;
    /// -EINVAL
    pub const EINVAL: i32 = Errno::EINVAL.res();
    /// -ECANCELED
    pub const ECANCELED: i32 = Errno::ECANCELED.res();
    /// -EOPNOTSUPP
    pub const EOPNOTSUPP: i32 = Errno::EOPNOTSUPP.res();
    /// -EBADF
    pub const EBADF: i32 = Errno::EBADF.res();
    /// -EFAULT
    pub const EFAULT: i32 = Errno::EFAULT.res();
    /// -EBUSY
    pub const EBUSY: i32 = Errno::EBUSY.res();
}

/// NOP with `user_data` and flags.
pub fn nop(ud: u64, flags: SqeFlags) -> Sqe {
    Sqe::nop().user_data(ud).flags(flags)
}

/// NOP with INJECT_RESULT.
pub fn inj(ud: u64, res: i32, flags: SqeFlags) -> Sqe {
    Sqe::nop_inject(res).user_data(ud).flags(flags)
}

/// An SQE with an opcode no ring knows (200): fails -EINVAL at submit.
pub fn bad(ud: u64, flags: SqeFlags) -> Sqe {
    Sqe::new(200).user_data(ud).flags(flags)
}

/// Push `sqes`, submit once, reap everything: `(submit result, [(user_data, res)])`.
/// Asserts every CQE's flags are 0 (ABI.md §3: NOP/link/drain CQEs carry no flags).
pub fn run<const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize>(
    ring: &mut Ring<SQ, CQ, N, ARGS>,
    sqes: &[Sqe],
) -> (Submitted, Vec<(u64, i32)>) {
    for sqe in sqes {
        ring.push(*sqe).expect("test batch fits the SQ");
    }
    let s = ring.submit();
    (s, reap(ring))
}

/// Reap every CQE as `(user_data, res)`, checking flags are 0.
pub fn reap<const SQ: usize, const CQ: usize, const N: usize, const ARGS: usize>(
    ring: &mut Ring<SQ, CQ, N, ARGS>,
) -> Vec<(u64, i32)> {
    let mut out = Vec::new();
    while let Some(Cqe { user_data, res, flags }) = ring.pop() {
        assert_eq!(flags, 0, "CQE flags of {user_data}");
        out.push((user_data, res));
    }
    out
}
