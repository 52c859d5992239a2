//! Async ops (feature `async`): requests go pending, a worker future — polled here by
//! hand, as any executor would — runs the embedded-hal-async mock and completes them
//! through the ring's `Completer`.
#![cfg(feature = "async")]

mod common;

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Waker};

use common::*;
use embedded_hal::i2c::{ErrorKind as I2cKind, NoAcknowledgeSource};
use embedded_hal::spi::{ErrorKind, ErrorType, Operation};
use embedded_hal_async::spi::SpiDevice;
use embedded_hal_mock::eh1::delay::{CheckedDelay, NoopDelay, Transaction as D};
use embedded_hal_mock::eh1::digital::{Edge, Mock as PinMock, Transaction as P};
use embedded_hal_mock::eh1::i2c::{Mock as I2cMock, Transaction as I};
use embedded_hal_mock::eh1::spi::{Mock as SpiMock, Transaction as T};
use fwring::{Cqe, Errno, OpVTable, Stop, vtable};
use fwring_hal::asynch::{self, Port, Queue, Worker, wait};
use fwring_hal::{delay, i2c, spi};

/// Poll a worker once with a no-op waker: it serves every queued job whose HAL future is
/// ready, then waits for the next job.
fn step<F: Future>(fut: Pin<&mut F>) {
    assert!(fut.poll(&mut Context::from_waker(Waker::noop())).is_pending(), "a worker never returns");
}

fn txn(ops: impl IntoIterator<Item = T<u8>>) -> Vec<T<u8>> {
    let mut v = vec![T::transaction_start()];
    v.extend(ops);
    v.push(T::transaction_end());
    v
}

#[test]
fn a_read_goes_pending_and_the_worker_completes_it() {
    fwring_hal::port! { Bus: 4; }
    static OP: OpVTable = vtable::<asynch::Spi<Bus>>(0);
    let mut ring = ring(&[&OP]);
    let mut mock = SpiMock::new(&txn([T::read_vec(vec![1, 2, 3, 4])]));
    let mut dev = mock.clone();
    {
        let (mut sub, mut reap, completer) = ring.split();
        sub.push(spi::read(0, &dst(0, 4)).user_data(1)).unwrap();
        assert_eq!(sub.submit().stop, Stop::Empty);
        assert_eq!((reap.pop(), sub.in_flight(), Bus::queue().len()), (None, 1, 1));
        let mut worker = Worker::<Bus, _>::new(completer, NoopDelay::new());
        let mut fut = pin!(worker.run_spi(&mut dev));
        step(fut.as_mut());
        assert_eq!(reap.pop(), None, "completions are taken when the ring runs");
        assert_eq!(sub.poll(), 1);
        assert_eq!(reap.pop(), Some(Cqe::new(1, 4)));
        assert_eq!(sub.in_flight(), 0);
    }
    assert_eq!(dest_bytes(&mut ring, 0, 4), [1, 2, 3, 4]);
    mock.done();
}

#[test]
fn trigger_wait_read_chain_on_a_sensor_bus() {
    // Start a conversion, wait 10 ms (async, on the bus's worker), read the result.
    fwring_hal::port! { Sensor: 4; }
    static I2C: OpVTable = vtable::<asynch::I2c<Sensor>>(0);
    static WAIT: OpVTable = vtable::<asynch::Delay<Sensor>>(1);
    let mut ring = ring(&[&I2C, &WAIT]);
    let mut mock = I2cMock::new(&[I::write(0x48, pattern(0, 1)), I::read(0x48, vec![0x12, 0x34])]);
    let mut clock = CheckedDelay::new(&[D::async_delay_ms(10)]);
    let mut bus = mock.clone();
    let mut got = Vec::new();
    {
        let (mut sub, mut reap, completer) = ring.split();
        let sqes = chain(&[i2c::write(0, 0x48, &src(0, 1)), delay::ms(1, 10), i2c::read(0, 0x48, &dst(0, 2))]);
        for (i, s) in sqes.iter().enumerate() {
            sub.push(s.user_data(i as u64 + 1)).unwrap();
        }
        let _ = sub.submit();
        let mut worker = Worker::<Sensor, _>::new(completer, clock.clone());
        let mut fut = pin!(worker.run_i2c(&mut bus));
        // One link at a time: the worker serves it, the ring completes it and issues the next.
        for _ in 0..3 {
            step(fut.as_mut());
            sub.poll();
            got.extend(std::iter::from_fn(|| reap.pop()));
        }
        assert_eq!(sub.in_flight(), 0);
    }
    assert_eq!(got, cqes(&[1, 0, 2]));
    assert_eq!(dest_bytes(&mut ring, 0, 2), [0x12, 0x34]);
    mock.done();
    clock.done();
}

/// An SPI device whose transfers never finish.
struct Stuck;

impl ErrorType for Stuck {
    type Error = ErrorKind;
}

impl SpiDevice<u8> for Stuck {
    async fn transaction(&mut self, _ops: &mut [Operation<'_, u8>]) -> Result<(), ErrorKind> {
        std::future::pending().await
    }
}

#[test]
fn a_missed_deadline_is_etimedout_and_cancels_the_chain() {
    fwring_hal::port! { Bus: 2; }
    static OP: OpVTable = vtable::<asynch::Spi<Bus>>(0);
    let mut ring = ring(&[&OP]);
    let (mut sub, mut reap, completer) = ring.split();
    for (i, s) in chain(&[spi::read(0, &dst(0, 4)), spi::write(0, &src(0, 4))]).iter().enumerate() {
        sub.push(s.user_data(i as u64 + 1)).unwrap();
    }
    let _ = sub.submit();
    let mut worker = Worker::<Bus, _>::new(completer, NoopDelay::new()).deadline_us(500);
    let mut dev = Stuck;
    let mut fut = pin!(worker.run_spi(&mut dev));
    step(fut.as_mut());
    sub.poll();
    let got: Vec<_> = std::iter::from_fn(|| reap.pop()).collect();
    assert_eq!(got, cqes(&[Errno::ETIMEDOUT.res(), e(Errno::ECANCELED)]));
}

#[test]
fn a_full_port_fails_the_request_with_ebusy() {
    fwring_hal::port! { Bus: 1; }
    static OP: OpVTable = vtable::<asynch::Spi<Bus>>(0);
    let mut ring = ring(&[&OP]);
    let mut mock = SpiMock::new(&txn([T::read_vec(vec![9])]));
    let mut dev = mock.clone();
    let (mut sub, mut reap, completer) = ring.split();
    sub.push(spi::read(0, &dst(0, 1)).user_data(1)).unwrap();
    sub.push(spi::read(0, &dst(8, 1)).user_data(2)).unwrap();
    let _ = sub.submit();
    assert_eq!(reap.pop(), Some(Cqe::new(2, e(Errno::EBUSY))));
    let mut worker = Worker::<Bus, _>::new(completer, NoopDelay::new());
    let mut fut = pin!(worker.run_spi(&mut dev));
    step(fut.as_mut());
    sub.poll();
    assert_eq!(reap.pop(), Some(Cqe::new(1, 1)));
    mock.done();
}

#[test]
fn async_bus_errors_map_like_blocking_ones() {
    fwring_hal::port! { Bus: 4; }
    static OP: OpVTable = vtable::<asynch::I2c<Bus>>(0);
    let mut ring = ring(&[&OP]);
    let nack = I2cKind::NoAcknowledge(NoAcknowledgeSource::Address);
    let mut mock = I2cMock::new(&[I::write_read(0x20, pattern(0, 1), vec![0]).with_error(nack)]);
    let mut bus = mock.clone();
    let (mut sub, mut reap, completer) = ring.split();
    for (i, s) in
        chain(&[i2c::write_read(0, 0x20, &src(0, 1), &dst(0, 1)), i2c::read(0, 0x20, &dst(4, 1))]).iter().enumerate()
    {
        sub.push(s.user_data(i as u64 + 1)).unwrap();
    }
    let _ = sub.submit();
    let mut worker = Worker::<Bus, _>::new(completer, NoopDelay::new());
    let mut fut = pin!(worker.run_i2c(&mut bus));
    step(fut.as_mut());
    sub.poll();
    let got: Vec<_> = std::iter::from_fn(|| reap.pop()).collect();
    assert_eq!(got, cqes(&[e(Errno::ENXIO), e(Errno::ECANCELED)]));
    mock.done();
}

#[test]
fn a_pin_wait_completes_on_the_edge_or_times_out() {
    fwring_hal::port! { Irq: 4; }
    static OP: OpVTable = vtable::<asynch::Wait<Irq>>(0);
    let mut ring = ring(&[&OP]);
    let mut mock = PinMock::new(&[P::wait_for_edge(Edge::Rising)]);
    let mut pin_dev = mock.clone();
    let (mut sub, mut reap, completer) = ring.split();
    sub.push(wait::sqe(0, wait::cmd::RISING, 0).user_data(1)).unwrap();
    let _ = sub.submit();
    let mut worker = Worker::<Irq, _>::new(completer, NoopDelay::new());
    {
        let mut fut = pin!(worker.serve_wait(&mut pin_dev));
        assert!(fut.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_ready());
    }
    sub.poll();
    assert_eq!(reap.pop(), Some(Cqe::new(1, 0)));
    mock.done();
    // A pin that never moves, with a 100 µs timeout (the no-op delay expires at once).
    sub.push(wait::sqe(0, wait::cmd::HIGH, 100).user_data(2)).unwrap();
    let _ = sub.submit();
    struct Never;
    impl embedded_hal::digital::ErrorType for Never {
        type Error = core::convert::Infallible;
    }
    impl embedded_hal_async::digital::Wait for Never {
        async fn wait_for_high(&mut self) -> Result<(), Self::Error> {
            std::future::pending().await
        }
        async fn wait_for_low(&mut self) -> Result<(), Self::Error> {
            std::future::pending().await
        }
        async fn wait_for_rising_edge(&mut self) -> Result<(), Self::Error> {
            std::future::pending().await
        }
        async fn wait_for_falling_edge(&mut self) -> Result<(), Self::Error> {
            std::future::pending().await
        }
        async fn wait_for_any_edge(&mut self) -> Result<(), Self::Error> {
            std::future::pending().await
        }
    }
    let mut stuck = Never;
    let mut fut = pin!(worker.run_wait(&mut stuck));
    step(fut.as_mut());
    sub.poll();
    assert_eq!(reap.pop(), Some(Cqe::new(2, Errno::ETIMEDOUT.res())));
}

#[test]
fn a_job_of_another_class_is_refused_with_einval() {
    // An I²C op registered on a port whose worker drives SPI: a configuration mistake,
    // reported rather than guessed at.
    fwring_hal::port! { Bus: 4; }
    static OP: OpVTable = vtable::<asynch::I2c<Bus>>(0);
    let mut ring = ring(&[&OP]);
    let mut mock = SpiMock::new(&[]);
    let mut dev = mock.clone();
    let (mut sub, mut reap, completer) = ring.split();
    sub.push(i2c::read(0, 0x10, &dst(0, 1)).user_data(1)).unwrap();
    let _ = sub.submit();
    let mut worker = Worker::<Bus, _>::new(completer, NoopDelay::new());
    let mut fut = pin!(worker.run_spi(&mut dev));
    step(fut.as_mut());
    sub.poll();
    assert_eq!(reap.pop(), Some(Cqe::new(1, -22)));
    mock.done();
}

/// An async SPI device that records where its operations' buffers are.
#[derive(Default)]
struct Recorder {
    seen: Vec<(usize, usize)>,
}

impl ErrorType for Recorder {
    type Error = ErrorKind;
}

impl SpiDevice<u8> for Recorder {
    async fn transaction(&mut self, ops: &mut [Operation<'_, u8>]) -> Result<(), ErrorKind> {
        for op in ops {
            match op {
                Operation::Read(b) => {
                    b.fill(0xab);
                    self.seen.push((b.as_ptr() as usize, b.len()));
                }
                Operation::Write(b) => self.seen.push((b.as_ptr() as usize, b.len())),
                _ => return Err(ErrorKind::Other),
            }
        }
        Ok(())
    }
}

#[test]
fn the_worker_works_on_the_registered_memory_itself() {
    fwring_hal::port! { Bus: 4; }
    static OP: OpVTable = vtable::<asynch::Spi<Bus>>(0);
    let mut ring = ring(&[&OP]);
    let (a, b) = (ring.buffers().get(0).unwrap().addr() as usize, ring.buffers().get(1).unwrap().addr() as usize);
    let mut dev = Recorder::default();
    {
        let (mut sub, mut reap, completer) = ring.split();
        let sqe = spi::transaction(0, [0x0b, 0, 0, 0, 0], Some(&src(16, 4)), Some(&dst(32, 8)));
        sub.push(sqe.user_data(1)).unwrap();
        let _ = sub.submit();
        let mut worker = Worker::<Bus, _>::new(completer, NoopDelay::new());
        let mut fut = pin!(worker.run_spi(&mut dev));
        step(fut.as_mut());
        sub.poll();
        assert_eq!(reap.pop(), Some(Cqe::new(1, 17)));
    }
    assert_eq!(dev.seen[1..], [(a + 16, 4), (b + 32, 8)]);
    assert_eq!(dest_bytes(&mut ring, 32, 8), [0xab; 8]);
}

#[test]
fn bus_jobs_cannot_be_cancelled_but_delays_can() {
    // ASYNC_CANCEL: a pending bus job owns its buffers (-EALREADY, it runs on); a pending
    // delay is cancelled (-ECANCELED) and the worker's late completion is ignored.
    fwring_hal::port! { Bus: 4; }
    static SPI: OpVTable = vtable::<asynch::Spi<Bus>>(0);
    static WAIT: OpVTable = vtable::<asynch::Delay<Bus>>(1);
    let mut ring = ring(&[&SPI, &WAIT]);
    let mut mock = SpiMock::new(&txn([T::read_vec(vec![4, 3, 2, 1])]));
    let mut clock = CheckedDelay::new(&[D::async_delay_ms(5)]);
    let mut dev = mock.clone();
    let cancel = |ud: u64, target: u64| fwring::Sqe {
        addr: target,
        ..fwring::Sqe::new(fwring::opcode::ASYNC_CANCEL).user_data(ud)
    };
    let (mut sub, mut reap, completer) = ring.split();
    sub.push(spi::read(0, &dst(0, 4)).user_data(1)).unwrap();
    sub.push(delay::ms(1, 5).user_data(2)).unwrap();
    sub.push(cancel(10, 1)).unwrap();
    sub.push(cancel(11, 2)).unwrap();
    let _ = sub.submit();
    let got: Vec<_> = std::iter::from_fn(|| reap.pop()).collect();
    assert_eq!(got, [Cqe::new(10, e(Errno::EALREADY)), Cqe::new(11, 0), Cqe::new(2, e(Errno::ECANCELED))]);
    let mut worker = Worker::<Bus, _>::new(completer, clock.clone());
    let mut fut = pin!(worker.run_spi(&mut dev));
    step(fut.as_mut());
    sub.poll();
    let got: Vec<_> = std::iter::from_fn(|| reap.pop()).collect();
    assert_eq!(got, [Cqe::new(1, 4)]);
    assert_eq!(sub.in_flight(), 0);
    mock.done();
    clock.done();
}
