//! I²C ops end to end over embedded-hal-mock, with bus errors.

mod common;

use common::*;
use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource};
use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};
use fwring::{Errno, OpVTable, vtable};
use fwring_hal::StaticDriver;
use fwring_hal::i2c::{self, I2c};

const ADDR: u8 = 0x48;

#[test]
fn write_read_reads_a_register() {
    fwring_hal::static_driver! { Bus: Mock; }
    static OP: OpVTable = vtable::<I2c<Bus>>(2);
    let mut bus = Mock::new(&[T::write_read(ADDR, pattern(0, 1), vec![0x12, 0x34])]);
    Bus::init(bus.clone()).unwrap();
    let mut ring = ring(&[&OP]);
    assert_eq!(run(&mut ring, &[i2c::write_read(2, ADDR, &src(0, 1), &dst(0, 2))]), cqes(&[3]));
    assert_eq!(dest_bytes(&mut ring, 0, 2), [0x12, 0x34]);
    bus.done();
}

#[test]
fn write_and_read_reach_the_addressed_device() {
    fwring_hal::static_driver! { Bus: Mock; }
    static OP: OpVTable = vtable::<I2c<Bus>>(0);
    let mut bus = Mock::new(&[T::write(ADDR, pattern(10, 3)), T::read(0x50, vec![1, 2, 3, 4])]);
    Bus::init(bus.clone()).unwrap();
    let mut ring = ring(&[&OP]);
    let sqes = [i2c::write(0, ADDR, &src(10, 3)), i2c::read(0, 0x50, &dst(0, 4))];
    assert_eq!(run(&mut ring, &sqes), cqes(&[3, 4]));
    assert_eq!(dest_bytes(&mut ring, 0, 4), [1, 2, 3, 4]);
    bus.done();
}

#[test]
fn a_nack_on_the_address_is_enxio_and_cancels_the_chain() {
    fwring_hal::static_driver! { Bus: Mock; }
    static OP: OpVTable = vtable::<I2c<Bus>>(0);
    let nack = ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address);
    let mut bus = Mock::new(&[T::write(ADDR, pattern(0, 2)), T::write(ADDR, pattern(0, 2)).with_error(nack)]);
    Bus::init(bus.clone()).unwrap();
    let mut ring = ring(&[&OP]);
    let w = i2c::write(0, ADDR, &src(0, 2));
    let r = i2c::read(0, ADDR, &dst(0, 2));
    assert_eq!(run(&mut ring, &chain(&[w, w, r])), cqes(&[2, e(Errno::ENXIO), e(Errno::ECANCELED)]));
    bus.done();
}

#[test]
fn a_data_nack_is_eremoteio_and_bus_errors_are_eio() {
    fwring_hal::static_driver! { Bus: Mock; }
    static OP: OpVTable = vtable::<I2c<Bus>>(0);
    let data_nack = ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data);
    let mut bus = Mock::new(&[
        T::write(ADDR, pattern(0, 2)).with_error(data_nack),
        T::read(ADDR, vec![0]).with_error(ErrorKind::Bus),
        T::read(ADDR, vec![0]).with_error(ErrorKind::Overrun),
    ]);
    Bus::init(bus.clone()).unwrap();
    let mut ring = ring(&[&OP]);
    assert_eq!(run(&mut ring, &[i2c::write(0, ADDR, &src(0, 2))]), cqes(&[-121]));
    assert_eq!(run(&mut ring, &[i2c::read(0, ADDR, &dst(0, 1))]), cqes(&[-5]));
    assert_eq!(run(&mut ring, &[i2c::read(0, ADDR, &dst(0, 1))]), cqes(&[-75]));
    bus.done();
}

#[test]
fn arbitration_loss_is_eagain_and_retried_once() {
    // fwring retries an -EAGAIN issue once, one pass later: the second attempt goes
    // through, as a multi-master I²C driver would retry.
    fwring_hal::static_driver! { Bus: Mock; }
    static OP: OpVTable = vtable::<I2c<Bus>>(0);
    let mut bus = Mock::new(&[
        T::write(ADDR, pattern(0, 2)).with_error(ErrorKind::ArbitrationLoss),
        T::write(ADDR, pattern(0, 2)),
        T::write(ADDR, pattern(0, 2)).with_error(ErrorKind::ArbitrationLoss),
        T::write(ADDR, pattern(0, 2)).with_error(ErrorKind::ArbitrationLoss),
    ]);
    Bus::init(bus.clone()).unwrap();
    let mut ring = ring(&[&OP]);
    assert_eq!(run(&mut ring, &[i2c::write(0, ADDR, &src(0, 2))]), cqes(&[2]));
    assert_eq!(run(&mut ring, &[i2c::write(0, ADDR, &src(0, 2))]), cqes(&[e(Errno::EAGAIN)]));
    bus.done();
}

#[test]
fn multi_segment_buffers_are_one_transaction() {
    fwring_hal::static_driver! { Bus: Mock; }
    static OP: OpVTable = vtable::<I2c<Bus>>(0);
    let mut bus = Mock::new(&[
        T::transaction_start(ADDR),
        T::write(ADDR, pattern(0, 2)),
        T::write(ADDR, pattern(8, 1)),
        T::read(ADDR, vec![5, 6]),
        T::transaction_end(ADDR),
    ]);
    Bus::init(bus.clone()).unwrap();
    let mut ring = ring(&[&OP]);
    let base = ring.buffers().get(0).unwrap().addr();
    // Two iovecs in buffer 1 (offset 512) naming source bytes 0..2 and 8..9 of buffer 0.
    let iovs: Vec<u8> =
        [(base, 2u64), (base + 8, 1)].iter().flat_map(|&(b, l)| [b.to_ne_bytes(), l.to_ne_bytes()].concat()).collect();
    ring.buffer_mut(1).unwrap()[512..544].copy_from_slice(&iovs);
    let iov_addr = ring.buffers().get(1).unwrap().addr() + 512;
    let sqe = i2c::write_read(0, ADDR, &fwring::BufDesc::vec(iov_addr, 2), &dst(0, 2));
    assert_eq!(run(&mut ring, &[sqe]), cqes(&[5]));
    assert_eq!(dest_bytes(&mut ring, 0, 2), [5, 6]);
    bus.done();
}

#[test]
fn bad_addresses_and_descriptors_fail_at_prep() {
    fwring_hal::static_driver! { Bus: Mock; }
    static OP: OpVTable = vtable::<I2c<Bus>>(0);
    let mut bus = Mock::new(&[]);
    Bus::init(bus.clone()).unwrap();
    let mut ring = ring(&[&OP]);
    let mut ten_bit = i2c::write(0, 0, &src(0, 1));
    ten_bit.len = 0x80;
    let mut arg1 = i2c::write(0, ADDR, &src(0, 1));
    arg1.file_index = 1;
    let mut read_with_a = i2c::read(0, ADDR, &dst(0, 1));
    src(0, 1).put_a(&mut read_with_a);
    for sqe in [ten_bit, arg1, read_with_a] {
        assert_eq!(run(&mut ring, &[sqe]), cqes(&[-22]));
    }
    bus.done();
}
