//! NOR flash ops end to end on the in-memory flash with real erase semantics, with
//! injected faults.

mod common;

use common::*;
use embedded_storage::nor_flash::ReadNorFlash;
use fwring::ops::crc32c::{Crc32c, crc32c};
use fwring::{BufDesc, Errno, OpVTable, vtable};
use fwring_hal::nor::{self, Nor, NorRead};
use fwring_hal::sim::{FaultyFlash, FlashFault, FlashStats, MemFlash};
use fwring_hal::{SqeExt, StaticDriver};

/// 4-byte program words, 256-byte erase blocks, 4 KiB.
type Chip = FaultyFlash<MemFlash<4, 256>>;

fn chip() -> Chip {
    let mut f = MemFlash::new(leak(4096));
    f.erase_all();
    FaultyFlash::new(f)
}

fn stats<D: StaticDriver<Hal = Chip>>() -> FlashStats {
    D::with(|f| f.inner().stats()).unwrap()
}

fn flash_bytes<D: StaticDriver<Hal = Chip>>(off: usize, len: usize) -> Vec<u8> {
    D::with(|f| f.inner().as_bytes()[off..off + len].to_vec()).unwrap()
}

#[test]
fn erase_program_read_round_trip() {
    fwring_hal::static_driver! { Flash: Chip; }
    static OP: OpVTable = vtable::<Nor<Flash>>(1);
    Flash::init(chip()).unwrap();
    let mut ring = ring(&[&OP]);
    let sqes =
        chain(&[nor::erase(1, 0x200, 0x100), nor::write(1, 0x200, &src(0, 64)), nor::read(1, 0x200, &dst(0, 64))]);
    assert_eq!(run(&mut ring, &sqes), cqes(&[0, 64, 64]));
    assert_eq!(dest_bytes(&mut ring, 0, 64), pattern(0, 64));
    assert_eq!(flash_bytes::<Flash>(0x200, 64), pattern(0, 64));
    let s = stats::<Flash>();
    assert_eq!((s.erases, s.programs, s.bytes_programmed, s.reprogrammed_words), (1, 1, 64, 0));
}

#[test]
fn programming_without_erase_can_only_clear_bits() {
    fwring_hal::static_driver! { Flash: Chip; }
    static OP: OpVTable = vtable::<Nor<Flash>>(0);
    Flash::init(chip()).unwrap();
    let mut ring = ring(&[&OP]);
    ring.buffer_mut(1).unwrap()[..8].copy_from_slice(&[0xf0, 0x0f, 0xff, 0x00, 0x55, 0xaa, 0x33, 0xcc]);
    ring.buffer_mut(1).unwrap()[8..16].copy_from_slice(&[0x0f, 0x0f, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff]);
    let sqes = [nor::write(0, 0, &dst(0, 8)), nor::write(0, 0, &dst(8, 8)), nor::read(0, 0, &dst(16, 8))];
    assert_eq!(run(&mut ring, &sqes), cqes(&[8, 8, 8]));
    assert_eq!(dest_bytes(&mut ring, 16, 8), [0x00, 0x0f, 0x00, 0x00, 0x55, 0xaa, 0x33, 0xcc]);
    assert_eq!(stats::<Flash>().reprogrammed_words, 2);
}

#[test]
fn misalignment_is_einval_at_prep_and_the_flash_is_untouched() {
    fwring_hal::static_driver! { Flash: Chip; }
    static OP: OpVTable = vtable::<Nor<Flash>>(0);
    Flash::init(chip()).unwrap();
    let mut ring = ring(&[&OP]);
    let base = ring.buffers().get(0).unwrap().addr();
    let iovs: Vec<u8> =
        [(base, 4u64), (base + 8, 2)].iter().flat_map(|&(b, l)| [b.to_ne_bytes(), l.to_ne_bytes()].concat()).collect();
    ring.buffer_mut(1).unwrap()[1024..1056].copy_from_slice(&iovs);
    let iov_addr = ring.buffers().get(1).unwrap().addr() + 1024;
    for sqe in [
        nor::write(0, 2, &src(0, 8)),                 // offset not a word
        nor::write(0, 0, &src(0, 6)),                 // length not words
        nor::write(0, 0, &BufDesc::vec(iov_addr, 2)), // second segment 2 bytes
        nor::erase(0, 0x80, 0x100),                   // offset not an erase block
        nor::erase(0, 0, 0x80),                       // length not erase blocks
        nor::erase(0, 0, 0),                          // nothing
    ] {
        assert_eq!(run(&mut ring, &[sqe]), cqes(&[-22]), "{sqe:?}");
    }
    assert_eq!(stats::<Flash>(), FlashStats::default());
}

#[test]
fn a_range_past_the_end_is_efault_at_prep() {
    fwring_hal::static_driver! { Flash: Chip; }
    static OP: OpVTable = vtable::<Nor<Flash>>(0);
    Flash::init(chip()).unwrap();
    let mut ring = ring(&[&OP]);
    for sqe in [
        nor::read(0, 4092, &dst(0, 8)),
        nor::write(0, 4096, &src(0, 4)),
        nor::erase(0, 3840, 512),
        nor::erase(0, u32::MAX - 255, 256),
    ] {
        assert_eq!(run(&mut ring, &[sqe]), cqes(&[-14]), "{sqe:?}");
    }
    assert_eq!(stats::<Flash>(), FlashStats::default());
}

#[test]
fn a_partial_program_is_eio_keeps_what_was_stored_and_cancels_the_chain() {
    fwring_hal::static_driver! { Flash: Chip; }
    static OP: OpVTable = vtable::<Nor<Flash>>(0);
    Flash::init(chip()).unwrap();
    Flash::with(|f| f.arm(FlashFault::PartialProgram { keep: 6 })).unwrap();
    let mut ring = ring(&[&OP]);
    let sqes = chain(&[nor::write(0, 0, &src(0, 16)), nor::read(0, 0, &dst(0, 16))]);
    assert_eq!(run(&mut ring, &sqes), cqes(&[-5, e(Errno::ECANCELED)]));
    // One word (6 bytes rounded down) made it; the rest is still erased.
    let mut want = pattern(0, 4);
    want.extend([0xff; 12]);
    assert_eq!(flash_bytes::<Flash>(0, 16), want);
}

#[test]
fn an_erase_failure_is_eio_part_way() {
    fwring_hal::static_driver! { Flash: Chip; }
    static OP: OpVTable = vtable::<Nor<Flash>>(0);
    Flash::init(chip()).unwrap();
    let mut ring = ring(&[&OP]);
    let fill = [nor::write(0, 0, &src(0, 16)), nor::write(0, 256, &src(0, 16))];
    assert_eq!(run(&mut ring, &fill), cqes(&[16, 16]));
    Flash::with(|f| f.arm(FlashFault::Erase { keep: 1 })).unwrap();
    assert_eq!(run(&mut ring, &[nor::erase(0, 0, 512)]), cqes(&[-5]));
    assert_eq!(flash_bytes::<Flash>(0, 16), [0xff; 16]);
    assert_eq!(flash_bytes::<Flash>(256, 16), pattern(0, 16));
}

#[test]
fn a_read_bus_error_is_eio() {
    fwring_hal::static_driver! { Flash: Chip; }
    static OP: OpVTable = vtable::<NorRead<Flash>>(0);
    Flash::init(chip()).unwrap();
    Flash::with(|f| f.arm_after(FlashFault::Read, 1)).unwrap();
    let mut ring = ring(&[&OP]);
    let r = nor::read(0, 0, &dst(0, 4));
    assert_eq!(run(&mut ring, &chain(&[r, r, r])), cqes(&[4, -5, e(Errno::ECANCELED)]));
}

#[test]
fn the_read_only_op_reads_and_reports_capacity_only() {
    fwring_hal::static_driver! { Flash: Chip; }
    static OP: OpVTable = vtable::<NorRead<Flash>>(0);
    Flash::init(chip()).unwrap();
    let mut ring = ring(&[&OP]);
    assert_eq!(run(&mut ring, &[nor::capacity(0)]), cqes(&[4096]));
    assert_eq!(run(&mut ring, &[nor::write(0, 0, &src(0, 4))]), cqes(&[-22]));
    assert_eq!(run(&mut ring, &[nor::erase(0, 0, 256)]), cqes(&[-22]));
    assert_eq!(Flash::with(|f| f.capacity()), Ok(4096));
}

#[test]
fn a_flash_read_feeds_a_checksum_of_exactly_its_bytes() {
    // nor READ 24 bytes → crc32c (CHAIN_LEN) over a 64-byte window of the same buffer:
    // the checksum covers exactly the bytes that came off the flash.
    fwring_hal::static_driver! { Flash: Chip; }
    static OP: OpVTable = vtable::<Nor<Flash>>(0);
    static CRC: OpVTable = vtable::<Crc32c>(1);
    Flash::init(chip()).unwrap();
    let mut ring = ring(&[&OP, &CRC]);
    assert_eq!(run(&mut ring, &[nor::write(0, 0x100, &src(7, 24))]), cqes(&[24]));
    let crc = fwring::ops::buf_sqe(1, fwring::ops::CHAIN_LEN, &dst(0, 64), Some(&dst(64, 4)));
    assert_eq!(run(&mut ring, &chain(&[nor::read(0, 0x100, &dst(0, 24)), crc])), cqes(&[24, 24]));
    assert_eq!(dest_bytes(&mut ring, 64, 4), crc32c(&pattern(7, 24)).to_le_bytes());
}

#[test]
fn chain_len_programs_what_the_previous_op_produced_and_checks_it_at_issue() {
    fwring_hal::static_driver! { Flash: Chip; }
    static OP: OpVTable = vtable::<Nor<Flash>>(0);
    Flash::init(chip()).unwrap();
    let mut ring = ring(&[&OP]);
    // Read 8 bytes → program the first 8 of a 32-byte window elsewhere.
    let copy = chain(&[nor::read(0, 0, &dst(0, 8)), nor::write(0, 0x400, &dst(0, 32)).chain_len()]);
    assert_eq!(run(&mut ring, &copy), cqes(&[8, 8]));
    assert_eq!(stats::<Flash>().bytes_programmed, 8);
    // A produced length that is not whole words fails at issue.
    let odd = chain(&[nor::read(0, 0, &dst(0, 6)), nor::write(0, 0x400, &dst(0, 32)).chain_len()]);
    assert_eq!(run(&mut ring, &odd), cqes(&[6, -22]));
}
