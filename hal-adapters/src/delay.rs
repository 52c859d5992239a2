//! A delay op over embedded-hal 1.0 [`DelayNs`]: wait between two steps of a link chain
//! (a sensor's conversion time, a flash's power-up time, a reset pulse).
//!
//! | command | `len` | CQE `res` |
//! |---|---|---|
//! | [`cmd::NS`] | nanoseconds | 0 |
//! | [`cmd::US`] | microseconds | 0 |
//! | [`cmd::MS`] | milliseconds | 0 |
//!
//! No descriptors; `file_index` and the flags must be 0. The synchronous op blocks the
//! ring's context for the delay (`DelayNs` is a busy wait or a sleep, as the HAL makes
//! it); the async op (`asynch::Delay`, feature `async`) goes pending and lets
//! the executor run something else.

use core::marker::PhantomData;

use embedded_hal::delay::DelayNs;
use fwring::{Errno, Issue, IssueCx, Op, PrepCx, Sqe};

use crate::driver::StaticDriver;
use crate::io;
use crate::sqe::{self, Args, Use};

/// Delay commands (op flag bits 23..16): the unit of `len`.
pub mod cmd {
    /// Nanoseconds.
    pub const NS: u8 = 0;
    /// Microseconds.
    pub const US: u8 = 1;
    /// Milliseconds.
    pub const MS: u8 = 2;
}

/// Wait with the [`DelayNs`] `D` names.
pub struct Delay<D>(PhantomData<D>);

op_debug!(Delay);

/// Validate a delay SQE (shared with the async op).
pub(crate) fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<Args, Errno> {
    if sqe::cmd(cx.info()) > cmd::MS || sqe::flags(cx.info()) != 0 || sqe.file_index != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(sqe::parse(cx, sqe, Use::No, Use::No)?.args)
}

impl<D> Op for Delay<D>
where
    D: StaticDriver,
    D::Hal: DelayNs,
{
    type Pdu = Args;

    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<Args, Errno> {
        prep(cx, sqe)
    }

    fn issue(cx: &mut IssueCx<'_>, args: &mut Args) -> Issue {
        let (unit, n) = (args.cmd, args.arg0);
        let r = D::with(|d| match unit {
            cmd::NS => d.delay_ns(n),
            cmd::US => d.delay_us(n),
            _ => d.delay_ms(n),
        });
        io::answer(cx, r.map(|()| 0))
    }
}

/// Wait `ns` nanoseconds.
pub fn ns(slot: u8, ns: u32) -> Sqe {
    sqe::build(slot, cmd::NS, 0, None, None, ns, 0)
}

/// Wait `us` microseconds.
pub fn us(slot: u8, us: u32) -> Sqe {
    sqe::build(slot, cmd::US, 0, None, None, us, 0)
}

/// Wait `ms` milliseconds.
pub fn ms(slot: u8, ms: u32) -> Sqe {
    sqe::build(slot, cmd::MS, 0, None, None, ms, 0)
}
