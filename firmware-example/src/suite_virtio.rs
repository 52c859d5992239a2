//! On-target tests of the virtio-blk op on QEMU virt: real device, real DMA, PLIC
//! interrupt, completion through the `Completer`.
//!
//! The host (`xtask fw-test`, see xtask/src/fw_disk.rs) writes the three test disks
//! before QEMU starts and checks disk 0 byte for byte after QEMU exits:
//!
//! | fd | image | sectors | attached |
//! |---|---|---|---|
//! | 0 | [`disk_byte`] everywhere | [`DISK0_SECTORS`] | read-write |
//! | 1 | [`disk_byte`] everywhere | [`SMALL_SECTORS`] | `readonly=on` |
//! | 2 | [`disk_byte`] everywhere | [`SMALL_SECTORS`] | through `blkdebug`: reads of byte [`BAD_OFF`] fail with EIO |
//!
//! What the firmware writes on disk 0 — [`written_byte`] over
//! `WRITE_OFF..WRITE_OFF + WRITE_LEN` and over the last sector (a write cut short at the
//! end) — is what the host expects there afterwards; everything else must be unchanged.

use fwring::ops::crc32c::VERIFY;
use fwring::ops::{CHAIN_LEN, buf_sqe};
use fwring::{BufDesc, Errno, IoVec, Sqe, SqeFlags, Stop};
use zerocopy::IntoBytes;

use crate::fixture::{DISK_CAP, PLAIN_CAP, buf, slot};
use crate::harness::{Failure, Outcome, Runner, Split, cqes, ensure, eq, submitted};
use crate::virtio::{self, FLUSH, RAW, READ, WRITE, disk_byte, written_byte};

/// Sectors of disk 0.
pub const DISK0_SECTORS: u64 = 2048;
/// Sectors of disks 1 and 2.
pub const SMALL_SECTORS: u64 = 128;
/// Disk 2: the byte whose reads fail (blkdebug `inject-error`, sector 8).
pub const BAD_OFF: u64 = 4096;
/// Disk 0: where the firmware writes.
pub const WRITE_OFF: u64 = 100 * 512;
/// Disk 0: how much it writes there.
pub const WRITE_LEN: usize = 8192;

const LINK: SqeFlags = SqeFlags::IO_LINK;
const EIO: i32 = Errno::EIO.res();
const EINVAL: i32 = Errno::EINVAL.res();
const ENOSPC: i32 = Errno::ENOSPC.res();
const EPERM: i32 = Errno::EPERM.res();
const EBADF: i32 = Errno::EBADF.res();
const EBUSY: i32 = Errno::EBUSY.res();
const SIZE0: u64 = DISK0_SECTORS * 512;

/// Ticks a test waits for the disks before it fails (1 tick = 1 ms).
const MAX_TICKS: u32 = 2000;

/// Probe the disks, connect them to the split ring's completer, route their interrupts,
/// and run the tests — or, when other disks than the test disks are attached (`cargo
/// xtask fw-run --disk FILE`), only read and checksum them.
pub fn run(t: &mut Runner, s: &mut Split) {
    let n = virtio::probe();
    virtio::attach(s.completer);
    crate::board::start_disk_irqs(&virtio::irqs());
    log_info!("virtio-blk: {} disk(s)", n);
    if !test_disks_attached() {
        t.run("virtio_disks_read_through_ring", s, virtio_disks_read_through_ring);
        return;
    }
    crate::run!(t, s;
        virtio_disks_report_capacity_and_read_only,
        virtio_read_lands_in_registered_buffer,
        virtio_read_crc32c_copy_chain,
        virtio_queue_depth_5_completes_in_device_order,
        virtio_past_end_and_bad_requests,
        virtio_queue_full_is_eagain,
        virtio_read_only_disk_refuses_writes,
        virtio_device_errors_map_to_errno,
        virtio_write_flush_read_back,
    );
    let st = virtio::stats();
    log_info!("virtio-blk: {} interrupts, {} completions from them", st.interrupts, st.completed);
}

/// Any disks (a user's): read the first 4 KiB (or the whole disk if smaller) of each
/// through the ring, CRC-32C it through the ring, print it, and check the ring's CRC
/// against a bit-by-bit one of the bytes read.
pub fn virtio_disks_read_through_ring(s: &mut Split) -> Outcome {
    let disks = virtio::disks();
    ensure("at least one virtio-blk disk attached", !disks.is_empty())?;
    for (fd, d) in disks.iter().enumerate() {
        let len = (d.sectors * 512).min(4096) as usize;
        if len == 0 {
            log_info!("virtio disk {}: empty", fd);
            continue;
        }
        let data = at(buf::DISK, 0, len);
        push(
            s,
            &[
                blk(1, fd as i32, READ, 0, Some(data)).flags(LINK),
                buf_sqe(slot::CRC32C, CHAIN_LEN, &data, Some(&at(buf::SCRATCH, 0, 4))).user_data(2),
            ],
        )?;
        submitted(s.sub.submit(), 2, Stop::Empty)?;
        s.wait_idle(MAX_TICKS)?;
        cqes(&mut s.reap, &[(1, len as i32), (2, len as i32)])?;
        let bufs = s.sub.buffers();
        let crc = bufs.get(buf::SCRATCH).map(|r| r.bytes()).ok_or_else(Failure::here)?;
        let crc = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
        let bytes = bufs.get(buf::DISK).map(|r| r.bytes()).ok_or_else(Failure::here)?;
        eq("the ring's CRC-32C = a bit-by-bit one", crc, crc32c_bitwise(bytes[..len].iter().copied()))?;
        log_line!(
            "virtio disk {}: {} sectors, {}, crc32c of the first {} bytes {:#010x}",
            fd,
            d.sectors,
            if d.readonly { "read-only" } else { "read-write" },
            len,
            crc
        );
    }
    Ok(())
}

/// Whether the test disks are attached (fd 0..3 with the sizes and flags above).
pub fn test_disks_attached() -> bool {
    let d = virtio::disks();
    d.len() == 3
        && d[0].sectors == DISK0_SECTORS
        && !d[0].readonly
        && d[1].sectors == SMALL_SECTORS
        && d[1].readonly
        && d[2].sectors == SMALL_SECTORS
        && !d[2].readonly
}

/// A virtio-blk SQE: disk `fd`, op flags, byte offset, buffer (descriptor B).
fn blk(user_data: u64, fd: i32, flags: u32, off: u64, buffer: Option<BufDesc>) -> Sqe {
    let mut sqe = Sqe::bpf(slot::VIRTIO, flags).user_data(user_data).off(off);
    sqe.fd = fd;
    if let Some(b) = buffer {
        b.put_b(&mut sqe);
    }
    sqe
}

fn at(index: u16, offset: usize, len: usize) -> BufDesc {
    BufDesc::kfixed(index, offset as u64, len as u32)
}

#[track_caller]
fn push(s: &mut Split, sqes: &[Sqe]) -> Outcome {
    for &sqe in sqes {
        s.sub.push(sqe).map_err(|_| Failure::here())?;
    }
    Ok(())
}

#[track_caller]
fn disk_buf(s: &mut Split) -> Result<&mut [u8], Failure> {
    s.sub.buffer_mut(buf::DISK).map_err(|_| Failure::here())
}

/// CRC-32C bit by bit (independent of fwring's table-driven one).
fn crc32c_bitwise(bytes: impl Iterator<Item = u8>) -> u32 {
    let mut crc = !0u32;
    for b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82f6_3b78 } else { crc >> 1 };
        }
    }
    !crc
}

/// Whether `bytes` are the disk image's bytes from `off` on.
fn is_image(bytes: &[u8], off: u64) -> bool {
    bytes.iter().enumerate().all(|(i, &b)| b == disk_byte(off + i as u64))
}

/// The three test disks, as the device reports them: capacity (`capacity` config
/// field) and the read-only feature.
pub fn virtio_disks_report_capacity_and_read_only(_: &mut Split) -> Outcome {
    let d = virtio::disks();
    eq("disks found", d.len(), 3)?;
    eq("disk 0 sectors", d[0].sectors, DISK0_SECTORS)?;
    eq("disk 0 read-only", d[0].readonly, false)?;
    eq("disk 1 sectors", d[1].sectors, SMALL_SECTORS)?;
    eq("disk 1 read-only", d[1].readonly, true)?;
    eq("disk 2 sectors", d[2].sectors, SMALL_SECTORS)?;
    eq("disk 2 read-only", d[2].readonly, false)
}

/// A 4 KiB read lands in the registered buffer itself: the data descriptor the device
/// got holds the buffer's own address (no bounce buffer), the bytes are the image's,
/// nothing past the range is touched, and it completed from the PLIC interrupt.
pub fn virtio_read_lands_in_registered_buffer(s: &mut Split) -> Outcome {
    disk_buf(s)?.fill(0xee);
    let base = s.sub.buffers().get(buf::DISK).map(|r| r.addr()).ok_or_else(Failure::here)?;
    let before = virtio::stats();
    push(s, &[blk(1, 0, READ, 8192, Some(at(buf::DISK, 512, 4096)))])?;
    let (sub, in_flight) = critical_section::with(|_| (s.sub.submit(), virtio::in_flight(0)));
    submitted(sub, 1, Stop::Empty)?;
    eq("pending on disk 0 after the submit", in_flight, 1)?;
    eq("no CQE before the interrupt", s.reap.len(), 0)?;
    s.wait_idle(MAX_TICKS)?;
    cqes(&mut s.reap, &[(1, 4096)])?;
    let shared = virtio::last_shared();
    ensure("the device got header, data, status", shared.len() >= 3)?;
    let data = shared[shared.len() - 2];
    eq("data descriptor address = the registered buffer's", data.addr, base + 512)?;
    eq("data descriptor length", data.len, 4096)?;
    let after = virtio::stats();
    ensure("completed from the disk's interrupt", after.interrupts > before.interrupts)?;
    eq("completions from the interrupt", after.completed - before.completed, 1)?;
    eq("completion errors", after.errors, 0)?;
    let b = disk_buf(s)?;
    ensure("the image's bytes 8192..12288", is_image(&b[512..4608], 8192))?;
    ensure("nothing before the range", b[..512].iter().all(|&x| x == 0xee))?;
    ensure("nothing past the range", b[4608..5120].iter().all(|&x| x == 0xee))
}

/// A link chain across the device: virtio read (2 KiB) → CRC-32C of exactly the bytes
/// read (`CHAIN_LEN | VERIFY` against a bit-by-bit CRC of the image) → copy of exactly
/// those bytes; byte-exact.
pub fn virtio_read_crc32c_copy_chain(s: &mut Split) -> Outcome {
    const OFF: u64 = 64 * 512;
    const LEN: usize = 2048;
    let expect = crc32c_bitwise((0..LEN as u64).map(|i| disk_byte(OFF + i)));
    s.sub.buffer_mut(buf::OUT).map_err(|_| Failure::here())?.fill(0);
    let disk = at(buf::DISK, 0, LEN);
    push(
        s,
        &[
            blk(1, 0, READ, OFF, Some(disk)).flags(LINK),
            buf_sqe(slot::CRC32C, CHAIN_LEN | VERIFY, &disk, None).user_data(2).len(expect).flags(LINK),
            buf_sqe(slot::COPY, CHAIN_LEN, &disk, Some(&at(buf::OUT, 0, PLAIN_CAP))).user_data(3),
        ],
    )?;
    submitted(s.sub.submit(), 3, Stop::Empty)?;
    s.wait_idle(MAX_TICKS)?;
    cqes(&mut s.reap, &[(1, LEN as i32), (2, 0), (3, LEN as i32)])?;
    let out = s.sub.buffers().get(buf::OUT).map(|r| r.bytes()).ok_or_else(Failure::here)?;
    ensure("copied = the image's bytes", is_image(&out[..LEN], OFF))
}

/// Rounds [`virtio_queue_depth_5_completes_in_device_order`] may take to see the device
/// complete out of submission order.
const ROUNDS: usize = 32;

/// Queue depth 5 on one disk: four 4 KiB reads, then a read past the end sent to the
/// device as is (`RAW`, answered at once: IOERR → -EIO). The CQEs come exactly in the
/// order the device put the requests in its used ring (recorded by the interrupt
/// handler), each with its own result and data, whatever that order is; rounds repeat
/// until the device has finished them out of submission order at least once (QEMU
/// completes the bad one at once and the reads when its I/O threads are done: most
/// rounds; a test failure after [`ROUNDS`] without).
pub fn virtio_queue_depth_5_completes_in_device_order(s: &mut Split) -> Outcome {
    let mut out_of_order = 0;
    for _ in 0..ROUNDS {
        disk_buf(s)?.fill(0);
        let mut sqes = [Sqe::default(); 5];
        for (k, sqe) in sqes.iter_mut().take(4).enumerate() {
            let off = (k as u64 + 1) * 16 * 1024;
            *sqe = blk(k as u64 + 1, 0, READ, off, Some(at(buf::DISK, k * 4096, 4096)));
        }
        sqes[4] = blk(5, 0, READ | RAW, SIZE0, Some(at(buf::PLAIN, 0, 512)));
        push(s, &sqes)?;
        let _ = virtio::take_order();
        // Interrupts held off for the submit: all five are on the device before the
        // first completion is taken (QEMU may finish some meanwhile: they wait in the
        // used ring).
        let (sub, in_flight) = critical_section::with(|_| (s.sub.submit(), virtio::in_flight(0)));
        submitted(sub, 5, Stop::Empty)?;
        eq("in flight on disk 0", in_flight, 5)?;
        s.wait_idle(MAX_TICKS)?;
        let order = virtio::take_order();
        eq("completions in the used ring", order.len(), 5)?;
        let want: heapless::Vec<(u64, i32), 5> = order.iter().map(|&u| (u, if u == 5 { EIO } else { 4096 })).collect();
        cqes(&mut s.reap, &want)?;
        let b = disk_buf(s)?;
        for k in 0..4 {
            ensure("each read's bytes", is_image(&b[k * 4096..(k + 1) * 4096], (k as u64 + 1) * 16 * 1024))?;
        }
        if order.as_slice() != [1, 2, 3, 4, 5] {
            out_of_order += 1;
            if out_of_order == 1 {
                log_info!("  device order {:?}", order.as_slice());
            }
            break;
        }
    }
    ensure("the device completed out of submission order", out_of_order > 0)?;
    ensure("peak queue depth 5", virtio::stats().peak_in_flight >= 5)
}

/// Past the end, as Linux's block device does it: a read running past the end is cut
/// short, one at the end reads 0, a write at the end is -ENOSPC (prep); bad alignment
/// and length -EINVAL, an unknown disk -EBADF.
pub fn virtio_past_end_and_bad_requests(s: &mut Split) -> Outcome {
    disk_buf(s)?.fill(0);
    push(
        s,
        &[
            blk(1, 0, READ, SIZE0 - 1024, Some(at(buf::DISK, 0, 4096))),
            blk(2, 0, READ, SIZE0, Some(at(buf::DISK, 4096, 4096))),
        ],
    )?;
    submitted(s.sub.submit(), 2, Stop::Empty)?;
    s.wait_idle(MAX_TICKS)?;
    cqes(&mut s.reap, &[(2, 0), (1, 1024)])?;
    let b = disk_buf(s)?;
    ensure("the last 1024 bytes of the disk", is_image(&b[..1024], SIZE0 - 1024))?;
    ensure("nothing past them", b[1024..4096].iter().all(|&x| x == 0))?;
    // A buffer of 100 bytes: refused once the request holds it (a CQE, the submit goes on).
    push(s, &[blk(3, 0, READ, 0, Some(at(buf::DISK, 0, 100))), blk(4, 0, READ, 100, Some(at(buf::DISK, 0, 512)))])?;
    submitted(s.sub.submit(), 2, Stop::Failed)?;
    s.wait_idle(MAX_TICKS)?;
    let mut got = [(0u64, 0i32); 2];
    for g in got.iter_mut() {
        let c = s.reap.pop().ok_or_else(Failure::here)?;
        *g = (c.user_data, c.res);
    }
    ensure("100-byte buffer: -EINVAL", got.contains(&(3, EINVAL)))?;
    ensure("offset 100: -EINVAL", got.contains(&(4, EINVAL)))?;
    cqes(&mut s.reap, &[])?;
    push(s, &[blk(5, 0, WRITE, SIZE0, Some(at(buf::DISK, 0, 512)))])?;
    submitted(s.sub.submit(), 1, Stop::Failed)?;
    cqes(&mut s.reap, &[(5, ENOSPC)])?;
    push(s, &[blk(6, 7, READ, 0, Some(at(buf::DISK, 0, 512)))])?;
    submitted(s.sub.submit(), 1, Stop::Failed)?;
    cqes(&mut s.reap, &[(6, EBADF)])?;
    push(s, &[blk(7, 0, 9, 0, None)])?;
    submitted(s.sub.submit(), 1, Stop::Failed)?;
    cqes(&mut s.reap, &[(7, EINVAL)])?;
    // Two segments (an iovec array in the scratch buffer): the driver takes one slice.
    let disk = s.sub.buffers().get(buf::DISK).map(|r| r.addr()).ok_or_else(Failure::here)?;
    let iov = [IoVec { base: disk, len: 512 }, IoVec { base: disk + 1024, len: 512 }];
    let scratch = s.sub.buffer_mut(buf::SCRATCH).map_err(|_| Failure::here())?;
    scratch[..32].copy_from_slice(iov.as_bytes());
    let array = s.sub.buffers().get(buf::SCRATCH).map(|r| r.addr()).ok_or_else(Failure::here)?;
    push(s, &[blk(8, 0, READ, 0, Some(BufDesc::vec(array, 2)))])?;
    submitted(s.sub.submit(), 1, Stop::Empty)?;
    s.wait_idle(MAX_TICKS)?;
    cqes(&mut s.reap, &[(8, EINVAL)])
}

/// Six reads on one disk at once: five take its request slots (3 of 16 virtqueue
/// descriptors each), the sixth finds none: -EAGAIN from issue, retried once by the
/// ring, still none (interrupts held off meanwhile) → its CQE is -EAGAIN; the five
/// complete.
pub fn virtio_queue_full_is_eagain(s: &mut Split) -> Outcome {
    let sqes: [Sqe; 6] =
        core::array::from_fn(|k| blk(k as u64 + 1, 0, READ, k as u64 * 8192, Some(at(buf::DISK, k * 2048, 2048))));
    push(s, &sqes)?;
    let (sub, in_flight) = critical_section::with(|_| (s.sub.submit(), virtio::in_flight(0)));
    submitted(sub, 6, Stop::Empty)?;
    eq("slots taken", in_flight, virtio::SLOTS)?;
    s.wait_idle(MAX_TICKS)?;
    let mut got = [(0u64, 0i32); 6];
    for g in got.iter_mut() {
        let c = s.reap.pop().ok_or_else(Failure::here)?;
        *g = (c.user_data, c.res);
    }
    cqes(&mut s.reap, &[])?;
    ensure("the sixth: -EAGAIN", got.contains(&(6, Errno::EAGAIN.res())))?;
    ensure("the five: 2048 each", (1..=5).all(|u| got.contains(&(u, 2048))))
}

/// Write 8 KiB, then FLUSH linked after it; a write running past the end writes the last
/// sector only; read back through the ring. (The host checks the image file after
/// QEMU exits.) A FLUSH beside a request in flight is -EBUSY; with IOSQE_IO_DRAIN it
/// waits and succeeds.
pub fn virtio_write_flush_read_back(s: &mut Split) -> Outcome {
    let b = disk_buf(s)?;
    for (i, x) in b[..WRITE_LEN].iter_mut().enumerate() {
        *x = written_byte(WRITE_OFF + i as u64);
    }
    for (i, x) in b[WRITE_LEN..WRITE_LEN + 4096].iter_mut().enumerate() {
        *x = written_byte(SIZE0 - 512 + i as u64);
    }
    push(
        s,
        &[
            blk(1, 0, WRITE, WRITE_OFF, Some(at(buf::DISK, 0, WRITE_LEN))).flags(LINK),
            blk(2, 0, WRITE, SIZE0 - 512, Some(at(buf::DISK, WRITE_LEN, 4096))).flags(LINK),
            blk(3, 0, FLUSH, 0, None),
        ],
    )?;
    submitted(s.sub.submit(), 3, Stop::Empty)?;
    s.wait_idle(MAX_TICKS)?;
    cqes(&mut s.reap, &[(1, WRITE_LEN as i32), (2, 512), (3, 0)])?;
    disk_buf(s)?.fill(0);
    push(s, &[blk(4, 0, READ, WRITE_OFF, Some(at(buf::DISK, 0, WRITE_LEN)))])?;
    push(s, &[blk(5, 0, FLUSH, 0, None)])?;
    // Interrupts held off: the read is still ours (pending) when the FLUSH issues.
    submitted(critical_section::with(|_| s.sub.submit()), 2, Stop::Empty)?;
    s.wait_idle(MAX_TICKS)?;
    cqes(&mut s.reap, &[(5, EBUSY), (4, WRITE_LEN as i32)])?;
    let b = disk_buf(s)?;
    ensure("read back what was written", (0..WRITE_LEN).all(|i| b[i] == written_byte(WRITE_OFF + i as u64)))?;
    push(
        s,
        &[
            blk(6, 0, READ, SIZE0 - 512, Some(at(buf::DISK, 0, 512))),
            blk(7, 0, FLUSH, 0, None).flags(SqeFlags::IO_DRAIN),
        ],
    )?;
    submitted(s.sub.submit(), 2, Stop::Empty)?;
    s.wait_idle(MAX_TICKS)?;
    cqes(&mut s.reap, &[(6, 512), (7, 0)])?;
    let b = disk_buf(s)?;
    ensure("the last sector was written", (0..512).all(|i| b[i] == written_byte(SIZE0 - 512 + i as u64)))
}

/// The read-only disk: reads work; a write is -EPERM at prep (Linux: `bdev_read_only`);
/// sent to the device anyway (`RAW`), the device refuses it: IOERR → -EIO.
pub fn virtio_read_only_disk_refuses_writes(s: &mut Split) -> Outcome {
    disk_buf(s)?.fill(0);
    push(s, &[blk(1, 1, READ, 0, Some(at(buf::DISK, 0, 4096)))])?;
    submitted(s.sub.submit(), 1, Stop::Empty)?;
    s.wait_idle(MAX_TICKS)?;
    cqes(&mut s.reap, &[(1, 4096)])?;
    ensure("disk 1's bytes", is_image(&disk_buf(s)?[..4096], 0))?;
    push(s, &[blk(2, 1, WRITE, 0, Some(at(buf::DISK, 0, 512)))])?;
    submitted(s.sub.submit(), 1, Stop::Failed)?;
    cqes(&mut s.reap, &[(2, EPERM)])?;
    push(s, &[blk(3, 1, WRITE | RAW, 0, Some(at(buf::DISK, 0, 512)))])?;
    submitted(s.sub.submit(), 1, Stop::Empty)?;
    s.wait_idle(MAX_TICKS)?;
    cqes(&mut s.reap, &[(3, EIO)])
}

/// The device's errors as Linux errnos: a failing sector (blkdebug) → IOERR → -EIO, and
/// the chain behind it is cancelled; the sectors before it read fine; a sector past
/// the end sent as is → -EIO; the status mapping (UNSUPP → -EOPNOTSUPP, a full queue
/// → -EAGAIN).
pub fn virtio_device_errors_map_to_errno(s: &mut Split) -> Outcome {
    let ecanceled = Errno::ECANCELED.res();
    push(
        s,
        &[
            blk(1, 2, READ, 0, Some(at(buf::DISK, 0, 2048))),
            blk(2, 2, READ, BAD_OFF, Some(at(buf::DISK, 4096, 4096))).flags(LINK),
            Sqe::nop().user_data(3),
        ],
    )?;
    submitted(s.sub.submit(), 3, Stop::Empty)?;
    s.wait_idle(MAX_TICKS)?;
    let mut got = [(0u64, 0i32); 3];
    for g in got.iter_mut() {
        let c = s.reap.pop().ok_or_else(Failure::here)?;
        *g = (c.user_data, c.res);
    }
    cqes(&mut s.reap, &[])?;
    ensure("the good read (not adjacent: QEMU would merge it with the bad one)", got.contains(&(1, 2048)))?;
    ensure("the failing sector: -EIO", got.contains(&(2, EIO)))?;
    ensure("its successor cancelled", got.contains(&(3, ecanceled)))?;
    ensure("disk 2's first 2 KiB", is_image(&disk_buf(s)?[..2048], 0))?;
    push(s, &[blk(4, 2, READ | RAW, SMALL_SECTORS * 512, Some(at(buf::DISK, 0, 512)))])?;
    submitted(s.sub.submit(), 1, Stop::Empty)?;
    s.wait_idle(MAX_TICKS)?;
    cqes(&mut s.reap, &[(4, EIO)])?;
    use virtio_drivers::Error as E;
    eq("UNSUPP", virtio::errno_of(E::Unsupported).res(), Errno::EOPNOTSUPP.res())?;
    eq("IOERR", virtio::errno_of(E::IoError).res(), EIO)?;
    eq("queue full", virtio::errno_of(E::QueueFull).res(), Errno::EAGAIN.res())?;
    eq("no status written", virtio::errno_of(E::NotReady).res(), EIO)
}

const _: () = assert!(DISK_CAP >= 16 * 1024);
