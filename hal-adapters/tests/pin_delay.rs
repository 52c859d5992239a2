//! GPIO and delay ops: a reset pulse as one link chain, pin state, pin errors.

mod common;

use common::*;
use embedded_hal_mock::eh1::MockError;
use embedded_hal_mock::eh1::delay::{CheckedDelay, Transaction as D};
use embedded_hal_mock::eh1::digital::{Mock, State, Transaction as P};
use fwring::{Errno, OpVTable, vtable};
use fwring_hal::delay::{self, Delay};
use fwring_hal::pin::{self, Pin, StatefulPin};
use fwring_hal::{SqeExt, StaticDriver};

#[test]
fn reset_pulse_is_one_chain_low_wait_high_wait() {
    fwring_hal::static_driver! { Reset: Mock; Clock: CheckedDelay; }
    static PIN: OpVTable = vtable::<Pin<Reset>>(4);
    static WAIT: OpVTable = vtable::<Delay<Clock>>(5);
    let mut p = Mock::new(&[P::set(State::Low), P::set(State::High)]);
    let mut d = CheckedDelay::new(&[D::blocking_delay_us(10), D::blocking_delay_ms(1)]);
    Reset::init(p.clone()).unwrap();
    Clock::init(d.clone()).unwrap();
    let mut ring = ring(&[&PIN, &WAIT]);
    let sqes = chain(&[pin::low(4), delay::us(5, 10), pin::high(4), delay::ms(5, 1)]);
    assert_eq!(run(&mut ring, &sqes), cqes(&[0, 0, 0, 0]));
    p.done();
    d.done();
}

#[test]
fn stateful_pin_toggles_and_reports_its_state() {
    fwring_hal::static_driver! { Led: Mock; }
    static OP: OpVTable = vtable::<StatefulPin<Led>>(0);
    let mut p = Mock::new(&[P::toggle(), P::get_state(State::High), P::set(State::Low), P::get_state(State::Low)]);
    Led::init(p.clone()).unwrap();
    let mut ring = ring(&[&OP]);
    let sqes = [pin::toggle(0), pin::state(0), pin::low(0), pin::state(0)];
    assert_eq!(run(&mut ring, &sqes), cqes(&[0, 1, 0, 0]));
    p.done();
}

#[test]
fn a_pin_error_is_eio_and_cancels_the_chain() {
    fwring_hal::static_driver! { Cs: Mock; }
    static OP: OpVTable = vtable::<Pin<Cs>>(0);
    let err = MockError::Io(std::io::ErrorKind::Other);
    let mut p = Mock::new(&[P::set(State::Low).with_error(err)]);
    Cs::init(p.clone()).unwrap();
    let mut ring = ring(&[&OP]);
    assert_eq!(run(&mut ring, &chain(&[pin::low(0), pin::high(0)])), cqes(&[-5, e(Errno::ECANCELED)]));
    p.done();
}

#[test]
fn pin_and_delay_sqes_are_checked_at_prep() {
    fwring_hal::static_driver! { Out: Mock; Clock: CheckedDelay; }
    static PIN: OpVTable = vtable::<Pin<Out>>(0);
    static WAIT: OpVTable = vtable::<Delay<Clock>>(1);
    let mut p = Mock::new(&[]);
    Out::init(p.clone()).unwrap();
    let mut ring = ring(&[&PIN, &WAIT]);
    // TOGGLE needs a StatefulPin; flags, arguments and descriptors must be zero.
    let mut with_len = pin::low(0);
    with_len.len = 1;
    let mut bad_unit = delay::ms(1, 1);
    bad_unit.op_flags = fwring::bpf_op_flags(1, 3 << 16);
    for sqe in [pin::toggle(0), pin::high(0).chain_len(), with_len, bad_unit] {
        assert_eq!(run(&mut ring, &[sqe]), cqes(&[-22]), "{sqe:?}");
    }
    p.done();
}
