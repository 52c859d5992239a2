//! A SPI NOR flash as ring ops: `nor` and `blk` ops over the `SpiNor` driver, checked
//! bus transaction by bus transaction against embedded-hal-mock, and end to end on the
//! simulated chip (busy polls, a hung chip).

mod common;

use common::*;
use embedded_hal_mock::eh1::delay::{CheckedDelay, Transaction as D};
use embedded_hal_mock::eh1::spi::{Mock, Transaction as T};
use embedded_storage::nor_flash::ReadNorFlash;
use fwring::{Errno, OpVTable, vtable};
use fwring_hal::StaticDriver;
use fwring_hal::blk::{self, Block, BlockDev};
use fwring_hal::nor::{self, Nor};
use fwring_hal::sim::{NoDelay, SpiNorChip};
use fwring_hal::spinor::{SpiNor, Timeouts};

type MockNor = SpiNor<Mock<u8>, CheckedDelay>;

fn txn(ops: impl IntoIterator<Item = T<u8>>) -> Vec<T<u8>> {
    let mut v = vec![T::transaction_start()];
    v.extend(ops);
    v.push(T::transaction_end());
    v
}

fn status(byte: u8) -> Vec<T<u8>> {
    txn([T::write_vec(vec![0x05]), T::read_vec(vec![byte])])
}

#[test]
fn a_read_is_one_transaction_straight_into_the_registered_buffer() {
    fwring_hal::static_driver! { Flash: MockNor; }
    static OP: OpVTable = vtable::<Nor<Flash>>(0);
    let data = vec![0x10, 0x20, 0x30, 0x40, 0x50, 0x60];
    let mut spi = Mock::new(&txn([T::write_vec(vec![0x03, 0x01, 0x23, 0x45]), T::read_vec(data.clone())]));
    let mut delay = CheckedDelay::new(&[]);
    Flash::init(SpiNor::new(spi.clone(), delay.clone(), 16 << 20)).unwrap();
    let mut ring = ring(&[&OP]);
    assert_eq!(run(&mut ring, &[nor::read(0, 0x012345, &dst(0, 6))]), cqes(&[6]));
    assert_eq!(dest_bytes(&mut ring, 0, 6), data);
    spi.done();
    delay.done();
}

#[test]
fn a_program_splits_at_page_boundaries_and_polls_until_idle() {
    fwring_hal::static_driver! { Flash: MockNor; }
    static OP: OpVTable = vtable::<Nor<Flash>>(0);
    let mut expected = Vec::new();
    expected.extend(txn([T::write_vec(vec![0x06])]));
    expected.extend(txn([T::write_vec(vec![0x02, 0x00, 0x00, 0xf0]), T::write_vec(pattern(0, 16))]));
    expected.extend(status(0x03));
    expected.extend(status(0x00));
    expected.extend(txn([T::write_vec(vec![0x06])]));
    expected.extend(txn([T::write_vec(vec![0x02, 0x00, 0x01, 0x00]), T::write_vec(pattern(16, 16))]));
    expected.extend(status(0x00));
    let mut spi = Mock::new(&expected);
    let mut delay = CheckedDelay::new(&[D::blocking_delay_us(10)]);
    Flash::init(SpiNor::new(spi.clone(), delay.clone(), 1 << 20)).unwrap();
    let mut ring = ring(&[&OP]);
    assert_eq!(run(&mut ring, &[nor::write(0, 0xf0, &src(0, 32))]), cqes(&[32]));
    spi.done();
    delay.done();
}

#[test]
fn an_erase_is_write_enable_sector_erase_and_status_polls() {
    fwring_hal::static_driver! { Flash: MockNor; }
    static OP: OpVTable = vtable::<Nor<Flash>>(0);
    let mut expected = Vec::new();
    for sector in [0x01u8, 0x02] {
        expected.extend(txn([T::write_vec(vec![0x06])]));
        expected.extend(txn([T::write_vec(vec![0x20, 0x00, sector << 4, 0x00])]));
        expected.extend(status(0x01));
        expected.extend(status(0x00));
    }
    let mut spi = Mock::new(&expected);
    let mut delay = CheckedDelay::new(&[D::blocking_delay_us(10), D::blocking_delay_us(10)]);
    Flash::init(SpiNor::new(spi.clone(), delay.clone(), 1 << 20)).unwrap();
    let mut ring = ring(&[&OP]);
    assert_eq!(run(&mut ring, &[nor::erase(0, 0x1000, 0x2000)]), cqes(&[0]));
    // Not sector-aligned: refused at prep, nothing on the bus.
    assert_eq!(run(&mut ring, &[nor::erase(0, 0x1800, 0x1000)]), cqes(&[-22]));
    spi.done();
    delay.done();
}

#[test]
fn a_hung_chip_misses_its_deadline_and_fails_the_chain() {
    type Chip = SpiNor<SpiNorChip, NoDelay>;
    fwring_hal::static_driver! { Flash: Chip; }
    static OP: OpVTable = vtable::<Nor<Flash>>(0);
    let mut chip = SpiNorChip::new(leak(64 * 1024));
    chip.flash_mut().erase_all();
    chip.hang();
    let t = Timeouts { poll_us: 10, program_us: 30, erase_us: 30 };
    Flash::init(SpiNor::new(chip, NoDelay, 64 * 1024).timeouts(t)).unwrap();
    let mut ring = ring(&[&OP]);
    let sqes = chain(&[nor::write(0, 0, &src(0, 8)), nor::read(0, 0, &dst(0, 8))]);
    assert_eq!(run(&mut ring, &sqes), cqes(&[-5, e(Errno::ECANCELED)]));
}

#[test]
fn a_block_device_on_the_simulated_spi_nor_chip() {
    type Disk = BlockDev<SpiNor<SpiNorChip, NoDelay>>;
    fwring_hal::static_driver! { Dev: Disk; }
    static BLK: OpVTable = vtable::<Block<Dev>>(0);
    let mut chip = SpiNorChip::new(leak(64 * 1024)).busy_polls(3);
    chip.flash_mut().erase_all();
    let mut flash = SpiNor::new(chip, NoDelay, 64 * 1024);
    assert_eq!(flash.jedec_id(), Ok([0xef, 0x40, 0x18]));
    assert_eq!(flash.capacity(), 64 * 1024);
    Dev::init(BlockDev::with_cache(flash, 512, leak(4096)).unwrap()).unwrap();
    let mut ring = ring(&[&BLK]);
    let sqes = [blk::write(0, 7, &src(0, 1024)), blk::write(0, 9, &src(1024, 512)), blk::flush(0)];
    assert_eq!(run(&mut ring, &sqes), cqes(&[1024, 512, 0]));
    // Rewrite block 8 (read-modify-write of sector 1), then read 7..10 back.
    let sqes = [blk::write(0, 8, &src(2048, 512)), blk::read(0, 7, &dst(0, 1536))];
    assert_eq!(run(&mut ring, &sqes), cqes(&[512, 1536]));
    let mut want = pattern(0, 512);
    want.extend(pattern(2048, 512));
    want.extend(pattern(1024, 512));
    assert_eq!(dest_bytes(&mut ring, 0, 1536), want);
    assert_eq!(run(&mut ring, &[blk::flush(0)]), cqes(&[0]));
    let stats = Dev::with(|d| d.flash().spi().flash().stats()).unwrap();
    assert_eq!((stats.erases, stats.reprogrammed_words), (1, 0));
}
