//! GPIO output ops over embedded-hal 1.0 [`OutputPin`] / [`StatefulOutputPin`]: a reset
//! line, a manual chip select, a LED, as steps of a link chain.
//!
//! | command | op | CQE `res` |
//! |---|---|---|
//! | [`cmd::LOW`] | [`Pin`], [`StatefulPin`] | 0 |
//! | [`cmd::HIGH`] | [`Pin`], [`StatefulPin`] | 0 |
//! | [`cmd::TOGGLE`] | [`StatefulPin`] | 0 |
//! | [`cmd::STATE`] | [`StatefulPin`] | 1 if the pin is set high, else 0 |
//!
//! No descriptors; `len`, `file_index` and the flags must be 0. A pin error is -EIO.
//! `reset LOW → delay 10 µs → reset HIGH → delay 1 ms → i2c WRITE` is one link chain.

use core::marker::PhantomData;

use embedded_hal::digital::{OutputPin, StatefulOutputPin};
use fwring::{Errno, Issue, IssueCx, Op, PrepCx, Sqe};

use crate::driver::StaticDriver;
use crate::errno;
use crate::io;
use crate::sqe::{self, Args, Use};

/// Pin commands (op flag bits 23..16).
pub mod cmd {
    /// Drive the pin low.
    pub const LOW: u8 = 0;
    /// Drive the pin high.
    pub const HIGH: u8 = 1;
    /// Toggle the pin ([`StatefulPin`](super::StatefulPin) only).
    pub const TOGGLE: u8 = 2;
    /// Complete with the pin's set state ([`StatefulPin`](super::StatefulPin) only).
    pub const STATE: u8 = 3;
}

/// Set an [`OutputPin`] low or high.
pub struct Pin<D>(PhantomData<D>);

/// Set, toggle or read back a [`StatefulOutputPin`].
pub struct StatefulPin<D>(PhantomData<D>);

op_debug!(Pin, StatefulPin);

fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe, last: u8) -> Result<Args, Errno> {
    if sqe::cmd(cx.info()) > last || sqe::flags(cx.info()) != 0 || sqe.len != 0 || sqe.file_index != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(sqe::parse(cx, sqe, Use::No, Use::No)?.args)
}

impl<D> Op for Pin<D>
where
    D: StaticDriver,
    D::Hal: OutputPin,
{
    type Pdu = Args;

    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<Args, Errno> {
        prep(cx, sqe, cmd::HIGH)
    }

    fn issue(cx: &mut IssueCx<'_>, args: &mut Args) -> Issue {
        let command = args.cmd;
        let r = D::with(|pin| {
            if command == cmd::HIGH { pin.set_high() } else { pin.set_low() }.map_err(|e| errno::pin(&e))
        });
        io::answer(cx, r.and_then(|r| r).map(|()| 0))
    }
}

impl<D> Op for StatefulPin<D>
where
    D: StaticDriver,
    D::Hal: StatefulOutputPin,
{
    type Pdu = Args;

    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<Args, Errno> {
        prep(cx, sqe, cmd::STATE)
    }

    fn issue(cx: &mut IssueCx<'_>, args: &mut Args) -> Issue {
        let command = args.cmd;
        let r = D::with(|pin| {
            match command {
                cmd::LOW => pin.set_low().map(|()| 0),
                cmd::HIGH => pin.set_high().map(|()| 0),
                cmd::TOGGLE => pin.toggle().map(|()| 0),
                _ => pin.is_set_high().map(i32::from),
            }
            .map_err(|e| errno::pin(&e))
        });
        io::answer(cx, r.and_then(|r| r))
    }
}

/// `LOW`.
pub fn low(slot: u8) -> Sqe {
    sqe::build(slot, cmd::LOW, 0, None, None, 0, 0)
}

/// `HIGH`.
pub fn high(slot: u8) -> Sqe {
    sqe::build(slot, cmd::HIGH, 0, None, None, 0, 0)
}

/// `TOGGLE`.
pub fn toggle(slot: u8) -> Sqe {
    sqe::build(slot, cmd::TOGGLE, 0, None, None, 0, 0)
}

/// `STATE`.
pub fn state(slot: u8) -> Sqe {
    sqe::build(slot, cmd::STATE, 0, None, None, 0, 0)
}
