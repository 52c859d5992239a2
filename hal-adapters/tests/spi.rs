//! SPI ops end to end: SQEs through a real ring into an embedded-hal-mock `SpiDevice`,
//! every bus transaction expected, every CQE compared exactly.

mod common;

use common::*;
use embedded_hal::spi::{ErrorKind, ErrorType, Operation, SpiDevice};
use embedded_hal_mock::eh1::spi::{Mock, Transaction as T};
use fwring::{BufDesc, Errno, OpVTable, vtable};
use fwring_hal::sim::FaultySpi;
use fwring_hal::spi::{self, Spi};
use fwring_hal::{SqeExt, StaticDriver};

type Bus = Mock<u8>;

/// A transaction of `ops` as the mock sees it.
fn txn(ops: impl IntoIterator<Item = T<u8>>) -> Vec<T<u8>> {
    let mut v = vec![T::transaction_start()];
    v.extend(ops);
    v.push(T::transaction_end());
    v
}

#[test]
fn read_fills_the_destination_in_place() {
    fwring_hal::static_driver! { Dev: Bus; }
    static OP: OpVTable = vtable::<Spi<Dev>>(3);
    let mut bus = Mock::new(&txn([T::read_vec(vec![0xde, 0xad, 0xbe, 0xef])]));
    Dev::init(bus.clone()).unwrap();
    let mut ring = ring(&[&OP]);
    assert_eq!(run(&mut ring, &[spi::read(3, &dst(8, 4))]), cqes(&[4]));
    assert_eq!(dest_bytes(&mut ring, 8, 4), [0xde, 0xad, 0xbe, 0xef]);
    bus.done();
}

#[test]
fn write_sends_the_source_bytes() {
    fwring_hal::static_driver! { Dev: Bus; }
    static OP: OpVTable = vtable::<Spi<Dev>>(0);
    let mut bus = Mock::new(&txn([T::write_vec(pattern(100, 5))]));
    Dev::init(bus.clone()).unwrap();
    let mut ring = ring(&[&OP]);
    assert_eq!(run(&mut ring, &[spi::write(0, &src(100, 5))]), cqes(&[5]));
    bus.done();
}

#[test]
fn transfer_is_full_duplex_and_returns_bytes_clocked() {
    fwring_hal::static_driver! { Dev: Bus; }
    static OP: OpVTable = vtable::<Spi<Dev>>(0);
    let mut bus = Mock::new(&txn([T::transfer(pattern(0, 4), vec![9, 8, 7, 6])]));
    Dev::init(bus.clone()).unwrap();
    let mut ring = ring(&[&OP]);
    assert_eq!(run(&mut ring, &[spi::transfer(0, &src(0, 4), &dst(0, 4))]), cqes(&[4]));
    assert_eq!(dest_bytes(&mut ring, 0, 4), [9, 8, 7, 6]);
    bus.done();
}

#[test]
fn transaction_sends_the_inline_header_then_reads_under_one_chip_select() {
    // A SPI NOR "READ DATA" (0x03 + 24-bit address) of 6 bytes: no command buffer in
    // registered memory, one transaction.
    fwring_hal::static_driver! { Dev: Bus; }
    static OP: OpVTable = vtable::<Spi<Dev>>(0);
    let data = vec![1, 2, 3, 4, 5, 6];
    let mut bus = Mock::new(&txn([T::write_vec(vec![0x03, 0x01, 0x02, 0x03]), T::read_vec(data.clone())]));
    Dev::init(bus.clone()).unwrap();
    let mut ring = ring(&[&OP]);
    let sqe = spi::transaction(0, [0x03, 0x01, 0x02, 0x03], None, Some(&dst(0, 6)));
    assert_eq!(run(&mut ring, &[sqe]), cqes(&[10]));
    assert_eq!(dest_bytes(&mut ring, 0, 6), data);
    bus.done();
}

#[test]
fn transaction_header_write_and_read_in_order() {
    // Header, then A, then B; a header-only transaction (write enable) too.
    fwring_hal::static_driver! { Dev: Bus; }
    static OP: OpVTable = vtable::<Spi<Dev>>(0);
    let mut expected = txn([T::write_vec(vec![0x06])]);
    expected.extend(txn([T::write_vec(vec![0x02, 0, 0x10, 0]), T::write_vec(pattern(0, 3)), T::read_vec(vec![7])]));
    let mut bus = Mock::new(&expected);
    Dev::init(bus.clone()).unwrap();
    let mut ring = ring(&[&OP]);
    let wren = spi::transaction(0, [0x06], None, None);
    let both = spi::transaction(0, [0x02, 0, 0x10, 0], Some(&src(0, 3)), Some(&dst(0, 1)));
    assert_eq!(run(&mut ring, &[wren, both]), cqes(&[1, 8]));
    bus.done();
}

#[test]
fn a_vectored_descriptor_becomes_one_operation_per_segment() {
    fwring_hal::static_driver! { Dev: Bus; }
    static OP: OpVTable = vtable::<Spi<Dev>>(0);
    let mut bus = Mock::new(&txn([T::read_vec(vec![1, 2, 3]), T::read_vec(vec![4, 5])]));
    Dev::init(bus.clone()).unwrap();
    let mut ring = ring(&[&OP]);
    // Two iovecs in buffer 1 (at offset 256) pointing at offsets 0 and 16 of buffer 1.
    let base = ring.buffers().get(1).unwrap().addr();
    let iovs: Vec<u8> =
        [(base, 3u64), (base + 16, 2)].iter().flat_map(|&(b, l)| [b.to_ne_bytes(), l.to_ne_bytes()].concat()).collect();
    ring.buffer_mut(1).unwrap()[256..288].copy_from_slice(&iovs);
    assert_eq!(run(&mut ring, &[spi::read(0, &BufDesc::reg_vec(1, base + 256, 2))]), cqes(&[5]));
    assert_eq!(dest_bytes(&mut ring, 0, 3), [1, 2, 3]);
    assert_eq!(dest_bytes(&mut ring, 16, 2), [4, 5]);
    bus.done();
}

#[test]
fn chain_len_writes_exactly_the_bytes_the_previous_read_produced() {
    // READ 4 bytes into X, then WRITE X (16 bytes described) with CHAIN_LEN: 4 go out.
    fwring_hal::static_driver! { Dev: Bus; }
    static OP: OpVTable = vtable::<Spi<Dev>>(0);
    let mut expected = txn([T::read_vec(vec![0xa, 0xb, 0xc, 0xd])]);
    expected.extend(txn([T::write_vec(vec![0xa, 0xb, 0xc, 0xd])]));
    let mut bus = Mock::new(&expected);
    Dev::init(bus.clone()).unwrap();
    let mut ring = ring(&[&OP]);
    let x = BufDesc::kfixed(1, 0, 16);
    let sqes = chain(&[spi::read(0, &dst(0, 4)), spi::write(0, &x).chain_len()]);
    assert_eq!(run(&mut ring, &sqes), cqes(&[4, 4]));
    bus.done();
}

#[test]
fn a_bus_error_in_the_middle_of_a_chain_cancels_the_rest() {
    fwring_hal::static_driver! { Dev: FaultySpi<Bus>; }
    static OP: OpVTable = vtable::<Spi<Dev>>(0);
    let mut bus = Mock::new(&txn([T::write_vec(pattern(0, 2))]));
    let mut dev = FaultySpi::new(bus.clone());
    dev.arm(ErrorKind::ModeFault, 1);
    Dev::init(dev).unwrap();
    let mut ring = ring(&[&OP]);
    let w = spi::write(0, &src(0, 2));
    let sqes = chain(&[w, w, w]);
    assert_eq!(run(&mut ring, &sqes), cqes(&[2, e(Errno::EBUSY), e(Errno::ECANCELED)]));
    bus.done();
}

#[test]
fn every_spi_error_kind_gives_its_errno() {
    fwring_hal::static_driver! { Dev: FaultySpi<Bus>; }
    static OP: OpVTable = vtable::<Spi<Dev>>(0);
    let mut bus = Mock::new(&[]);
    Dev::init(FaultySpi::new(bus.clone())).unwrap();
    let mut ring = ring(&[&OP]);
    for (kind, res) in [
        (ErrorKind::Overrun, -75),
        (ErrorKind::ModeFault, -16),
        (ErrorKind::FrameFormat, -71),
        (ErrorKind::ChipSelectFault, -6),
        (ErrorKind::Other, -5),
    ] {
        Dev::with(|d| d.arm(kind, 0)).unwrap();
        assert_eq!(run(&mut ring, &[spi::read(0, &dst(0, 1))]), cqes(&[res]), "{kind:?}");
    }
    bus.done();
}

#[test]
fn prep_rejects_what_the_command_does_not_take() {
    fwring_hal::static_driver! { Dev: Bus; }
    static OP: OpVTable = vtable::<Spi<Dev>>(0);
    let mut bus = Mock::new(&[]);
    Dev::init(bus.clone()).unwrap();
    let mut ring = ring(&[&OP]);
    let mut unknown = spi::read(0, &dst(0, 4));
    unknown.op_flags = fwring::bpf_op_flags(0, 9 << 16);
    let mut read_with_a = spi::read(0, &dst(0, 4));
    src(0, 4).put_a(&mut read_with_a);
    let read_with_header = {
        let mut s = spi::read(0, &dst(0, 4));
        s.op_flags |= 1 << spi::HEADER_SHIFT;
        s
    };
    let mut nine_byte_header = spi::transaction(0, [0; 8], None, Some(&dst(0, 4)));
    nine_byte_header.op_flags = fwring::bpf_op_flags(0, 3 << 16 | 9 << spi::HEADER_SHIFT);
    let sqes = [
        unknown,
        read_with_a,
        spi::write(0, &src(0, 4)).chain_len().flags(Default::default()),
        read_with_header,
        nine_byte_header,
        spi::read(0, &BufDesc::kfixed(1, 4094, 4)), // past the buffer: EFAULT
        spi::read(0, &BufDesc::user(0x10, 4)),      // not registered memory: EFAULT
        spi::transaction::<0>(0, [], None, None),   // nothing to do
        spi::write(0, &BufDesc::default()),         // WRITE without A
    ];
    let cq = run(&mut ring, &sqes);
    // The CHAIN_LEN write is valid: outside a chain the record's len is 0, so nothing
    // goes on the bus and it completes with 0.
    let want = cqes(&[-22, -22, 0, -22, -22, -14, -14, -22, -22]);
    // A failure outside a chain stops the submit; submit the rest one by one.
    let mut got = cq;
    while got.len() < want.len() {
        let _ = ring.submit();
        got.extend(reap(&mut ring));
    }
    assert_eq!(got, want);
    bus.done();
}

#[test]
fn an_uninitialised_device_fails_with_enodev() {
    fwring_hal::static_driver! { Dev: Bus; }
    static OP: OpVTable = vtable::<Spi<Dev>>(0);
    let mut ring = ring(&[&OP]);
    assert_eq!(run(&mut ring, &[spi::read(0, &dst(0, 4))]), cqes(&[Errno::ENODEV.res()]));
}

/// An `SpiDevice` that records where its operations' buffers are.
#[derive(Debug, Default)]
struct Recorder {
    seen: Vec<(usize, usize)>,
}

impl ErrorType for Recorder {
    type Error = ErrorKind;
}

impl SpiDevice<u8> for Recorder {
    fn transaction(&mut self, ops: &mut [Operation<'_, u8>]) -> Result<(), ErrorKind> {
        for op in ops {
            match op {
                Operation::Read(b) => self.seen.push((b.as_ptr() as usize, b.len())),
                Operation::Write(b) => self.seen.push((b.as_ptr() as usize, b.len())),
                _ => return Err(ErrorKind::Other),
            }
        }
        Ok(())
    }
}

#[test]
fn the_hal_gets_the_registered_memory_itself() {
    fwring_hal::static_driver! { Dev: Recorder; }
    static OP: OpVTable = vtable::<Spi<Dev>>(0);
    Dev::init(Recorder::default()).unwrap();
    let mut ring = ring(&[&OP]);
    let (a, b) = (ring.buffers().get(0).unwrap().addr() as usize, ring.buffers().get(1).unwrap().addr() as usize);
    assert_eq!(run(&mut ring, &[spi::write(0, &src(40, 8)), spi::read(0, &dst(100, 16))]), cqes(&[8, 16]));
    assert_eq!(Dev::take().unwrap().seen, [(a + 40, 8), (b + 100, 16)]);
}
