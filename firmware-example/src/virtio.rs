//! A real DMA device: QEMU `virt`'s virtio-blk disks, driven through the ring.
//!
//! [`VirtioBlkOp`] reads and writes a disk **directly from and into registered ring
//! buffers**: its issue hands the request's buffer out of the ring as a [`PendingIo`],
//! carves the one range it covers and gives exactly that slice to the rcore-os
//! `virtio-drivers` driver (`read_blocks_nb` / `write_blocks_nb`), whose descriptor
//! then holds the buffer's own address ([`IdentityHal::share`] is the identity: QEMU
//! virt's devices see guest physical memory 1:1, and there is no bounce buffer). The
//! request stays pending; QEMU's device model moves the data on its own and raises its
//! interrupt line on the PLIC. [`on_interrupt`] (called from the board's machine
//! external interrupt handler) acknowledges the device, takes each used-ring entry
//! (`peek_used` → `complete_*_blocks`), maps the device's status to a Linux errno and
//! completes the request through the `Completer` — in the order the device finished
//! them, whatever the submission order.
//!
//! SQE (slot [`slot::VIRTIO`](crate::fixture::slot::VIRTIO)), like Linux's
//! `READ_FIXED` / `WRITE_FIXED` / `FSYNC` on a block device opened `O_DIRECT`:
//!
//! | field | meaning |
//! |---|---|
//! | `fd` | the disk: 0, 1, … in the order the transports were found |
//! | `off` | byte offset on the disk, a multiple of 512 (else EINVAL) |
//! | descriptor B | the buffer (one range, a multiple of 512 bytes, else EINVAL): destination of a read, source of a write |
//! | op flags | [`READ`], [`WRITE`] or [`FLUSH`], optionally [`RAW`] |
//!
//! Results and errors (Linux's `blkdev_read_iter` / `blkdev_write_iter` / virtio_blk):
//! bytes transferred; a read starting at or past the end → 0, one running past it is
//! cut short there; a write starting at or past the end → -ENOSPC, one running past it
//! is cut short; a write on a read-only disk → -EPERM; no such disk → -EBADF; device
//! status IOERR → -EIO, UNSUPP → -EOPNOTSUPP (see [`errno_of`]); all [`SLOTS`] request
//! slots of the disk busy → -EAGAIN (from issue: the ring retries it once, one pass
//! later); a buffer of more than one segment → -EINVAL. Buffers need no alignment. [`RAW`] skips the driver's own range and read-only checks so the device's
//! answer comes back (an out-of-range sector is the device's IOERR → -EIO).
//!
//! FLUSH: `virtio-drivers` 0.13 offers only a blocking flush, so [`FLUSH`] runs it at
//! issue, on an idle disk (-EBUSY if requests of that disk are in flight: submit it
//! with `IOSQE_IO_DRAIN`, or link it after the writes it must cover).

use core::cell::RefCell;
use core::ptr::NonNull;

use critical_section::Mutex;
use fwring::{BufDesc, Completer, Dir, Errno, Issue, IssueCx, Op, PendingIo, PrepCx, Sqe};
use static_cell::ConstStaticCell;
use virtio_drivers::device::blk::{BlkReq, BlkResp, SECTOR_SIZE, VirtIOBlk};
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::{DeviceType, Transport};
use virtio_drivers::{BufferDirection, Hal, PAGE_SIZE, PhysAddr};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Op flag values (low byte): read blocks into descriptor B.
pub const READ: u32 = 0;
/// Write descriptor B's bytes to the disk.
pub const WRITE: u32 = 1;
/// Flush the disk's write cache (`VIRTIO_BLK_T_FLUSH`).
pub const FLUSH: u32 = 2;
/// Flag: no driver-side range / read-only checks; the device answers.
pub const RAW: u32 = 1 << 8;

/// Disks the firmware drives at most.
pub const MAX_DISKS: usize = 4;
/// Requests in flight per disk (a read or write takes 3 of the 16 descriptors).
pub const SLOTS: usize = 5;

/// QEMU virt: 8 virtio-mmio transports from 0x1000_1000, 0x1000 apart, on PLIC
/// sources 1..=8 (hw/riscv/virt.c `VIRT_VIRTIO`, `VIRTIO_IRQ`, `VIRTIO_COUNT`).
const MMIO_BASE: usize = 0x1000_1000;
const MMIO_SIZE: usize = 0x1000;
const MMIO_COUNT: usize = 8;

// --- The HAL: identity DMA addresses, virtqueue memory from a static pool ----------------

/// Virtqueue pages: legacy virtio-mmio takes 2 per queue, modern 2 as well (one per
/// direction); one queue per disk.
const POOL_PAGES: usize = 2 * MAX_DISKS;

#[repr(C, align(4096))]
struct Pool([u8; POOL_PAGES * PAGE_SIZE]);

static POOL: ConstStaticCell<Pool> = ConstStaticCell::new(Pool([0; POOL_PAGES * PAGE_SIZE]));
/// What is left of the pool (taken at the first allocation).
static POOL_LEFT: Mutex<RefCell<Option<&'static mut [u8]>>> = Mutex::new(RefCell::new(None));

/// What the HAL saw, to prove zero copy: the last buffers shared with a device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shared {
    /// Address handed to the device (= the buffer's own address).
    pub addr: u64,
    /// Its length.
    pub len: usize,
}

static LAST_SHARED: Mutex<RefCell<heapless::Deque<Shared, 4>>> = Mutex::new(RefCell::new(heapless::Deque::new()));

/// The buffers most recently handed to a device, oldest first (the request header, the
/// data, the status byte of the last request).
pub fn last_shared() -> heapless::Vec<Shared, 4> {
    critical_section::with(|cs| LAST_SHARED.borrow_ref(cs).iter().copied().collect())
}

/// `virtio_drivers::Hal` for QEMU virt: devices address guest memory 1:1, so a buffer's
/// DMA address is its own address ([`share`](Hal::share) is the identity and copies
/// nothing); the virtqueues come from a static page pool (no allocator).
pub struct IdentityHal;

// SAFETY: `dma_alloc` returns page-aligned, zeroed, exclusively owned memory from the
// pool (each byte handed out once: the pool is split, never reused), with its identity
// physical address; `share` returns the buffer's own address, which is where QEMU virt's
// devices see it; `mmio_phys_to_virt` is the identity, as virt maps MMIO 1:1.
#[allow(unsafe_code)]
unsafe impl Hal for IdentityHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        critical_section::with(|cs| {
            let mut left = POOL_LEFT.borrow_ref_mut(cs);
            // Empty before `probe` gave the pool: `Dma::new` turns 0 into DmaError.
            let Some(rest) = left.take() else { return (0, NonNull::dangling()) };
            let want = pages.saturating_mul(PAGE_SIZE);
            if want > rest.len() {
                *left = Some(rest);
                return (0, NonNull::dangling());
            }
            let (mine, rest) = rest.split_at_mut(want);
            *left = Some(rest);
            let ptr = NonNull::from(mine).cast::<u8>();
            (ptr.as_ptr() as usize as PhysAddr, ptr)
        })
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, _vaddr: NonNull<u8>, _pages: usize) -> i32 {
        // The disks live for the whole program; pool memory is never reused.
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        NonNull::new(paddr as usize as *mut u8).unwrap_or(NonNull::dangling())
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        let shared = Shared { addr: buffer.cast::<u8>().as_ptr() as usize as u64, len: buffer.len() };
        critical_section::with(|cs| {
            let mut last = LAST_SHARED.borrow_ref_mut(cs);
            if last.is_full() {
                last.pop_front();
            }
            let _ = last.push_back(shared);
        });
        shared.addr
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}

/// Give the pool to the allocator (called once, before the first disk is made).
fn pool_init() {
    critical_section::with(|cs| {
        let mut left = POOL_LEFT.borrow_ref_mut(cs);
        if left.is_none()
            && let Some(pool) = POOL.try_take()
        {
            *left = Some(&mut pool.0[..]);
        }
    });
}

// --- Disks and their requests ----------------------------------------------------------------

type Blk = VirtIOBlk<IdentityHal, MmioTransport<'static>>;

/// What a slot's request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
}

/// A request on the device: its virtqueue token, the header and status the device
/// reads and writes (they stay here, in a static, until the completion), and the
/// request's buffers.
struct Slot {
    token: u16,
    user_data: u64,
    kind: Kind,
    len: usize,
    req: Option<BlkReq>,
    resp: Option<BlkResp>,
    io: Option<PendingIo>,
}

impl Slot {
    const EMPTY: Slot = Slot { token: 0, user_data: 0, kind: Kind::Read, len: 0, req: None, resp: None, io: None };
}

/// One disk.
struct Disk {
    blk: Blk,
    /// Its PLIC source.
    irq: u8,
    capacity: u64,
    readonly: bool,
    slots: [Slot; SLOTS],
}

impl Disk {
    fn in_flight(&self) -> usize {
        self.slots.iter().filter(|s| s.io.is_some()).count()
    }
}

/// Counters, for the tests and the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Device interrupts handled.
    pub interrupts: u32,
    /// Requests completed from them.
    pub completed: u32,
    /// Used-ring entries that named no request of ours, or completions the ring refused.
    pub errors: u32,
    /// Most requests in flight on one disk at once.
    pub peak_in_flight: u32,
}

/// Order in which the interrupt handler completed requests (the disks' used-ring
/// order), as the requests' `user_data`, latest last.
pub type Order = heapless::Vec<u64, 16>;

/// A read driven straight through the driver, outside the ring (the benchmark's
/// baseline): one at a time, into a static buffer, completed by the same interrupt.
struct Direct {
    buf: &'static mut [u8],
    token: Option<(usize, u16)>,
    req: Option<BlkReq>,
    resp: Option<BlkResp>,
    done: u32,
    failed: u32,
}

/// Bytes of a direct read.
pub const DIRECT_LEN: usize = 4096;

static DIRECT_BUF: ConstStaticCell<[u8; DIRECT_LEN]> = ConstStaticCell::new([0; DIRECT_LEN]);

struct State {
    disks: heapless::Vec<Disk, MAX_DISKS>,
    completer: Option<Completer<'static>>,
    stats: Stats,
    order: Order,
    direct: Option<Direct>,
}

static STATE: Mutex<RefCell<State>> = Mutex::new(RefCell::new(State {
    disks: heapless::Vec::new(),
    direct: None,
    completer: None,
    stats: Stats { interrupts: 0, completed: 0, errors: 0, peak_in_flight: 0 },
    order: heapless::Vec::new(),
}));

/// A disk as [`disks`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskInfo {
    /// Capacity in 512-byte sectors (the device's `capacity` config field).
    pub sectors: u64,
    /// The device offers `VIRTIO_BLK_F_RO`.
    pub readonly: bool,
    /// Its PLIC source (transport index + 1).
    pub irq: u8,
}

/// Find the virtio-blk devices on QEMU virt's transports and set each up (features,
/// one virtqueue, interrupts on). Returns how many were found.
pub fn probe() -> usize {
    pool_init();
    let mut found: heapless::Vec<Disk, MAX_DISKS> = heapless::Vec::new();
    for i in 0..MMIO_COUNT {
        let Some(header) = NonNull::new((MMIO_BASE + i * MMIO_SIZE) as *mut VirtIOHeader) else { continue };
        // SAFETY: QEMU virt maps a virtio-mmio transport (header and config space,
        // MMIO_SIZE bytes) at this address for the whole run; each is made into a
        // transport once (probe runs once, before the interrupt is enabled).
        #[allow(unsafe_code)]
        let transport = unsafe { MmioTransport::new(header, MMIO_SIZE) };
        let Ok(transport) = transport else { continue }; // empty slot: device id 0
        if transport.device_type() != DeviceType::Block {
            continue;
        }
        let Ok(mut blk) = Blk::new(transport) else { continue };
        blk.enable_interrupts();
        let disk = Disk {
            capacity: blk.capacity(),
            readonly: blk.readonly(),
            blk,
            irq: i as u8 + 1,
            slots: [Slot::EMPTY, Slot::EMPTY, Slot::EMPTY, Slot::EMPTY, Slot::EMPTY],
        };
        if found.push(disk).is_err() {
            break;
        }
    }
    let n = found.len();
    critical_section::with(|cs| STATE.borrow_ref_mut(cs).disks = found);
    n
}

/// The disks found by [`probe`], in `fd` order.
pub fn disks() -> heapless::Vec<DiskInfo, MAX_DISKS> {
    critical_section::with(|cs| {
        STATE
            .borrow_ref(cs)
            .disks
            .iter()
            .map(|d| DiskInfo { sectors: d.capacity, readonly: d.readonly, irq: d.irq })
            .collect()
    })
}

/// Connect the disks to a ring's completer (from `Ring::split` on the `'static` ring).
pub fn attach(completer: Completer<'static>) {
    critical_section::with(|cs| STATE.borrow_ref_mut(cs).completer = Some(completer));
}

/// The counters.
pub fn stats() -> Stats {
    critical_section::with(|cs| STATE.borrow_ref(cs).stats)
}

/// Take the completion order recorded since the last call.
pub fn take_order() -> Order {
    critical_section::with(|cs| core::mem::take(&mut STATE.borrow_ref_mut(cs).order))
}

/// Requests in flight on disk `fd`.
pub fn in_flight(fd: usize) -> usize {
    critical_section::with(|cs| STATE.borrow_ref(cs).disks.get(fd).map_or(0, Disk::in_flight))
}

/// The PLIC sources of the disks, for the board to enable.
pub fn irqs() -> heapless::Vec<u8, MAX_DISKS> {
    critical_section::with(|cs| STATE.borrow_ref(cs).disks.iter().map(|d| d.irq).collect())
}

/// The Linux errno for a virtio-drivers error: what Linux's virtio_blk makes of the
/// device's status (`VIRTIO_BLK_S_UNSUPP` → `BLK_STS_NOTSUPP` → -EOPNOTSUPP; IOERR and
/// anything else → -EIO), and -EAGAIN for a full virtqueue (Linux's `BLK_STS_RESOURCE`
/// under `REQ_NOWAIT`).
pub fn errno_of(e: virtio_drivers::Error) -> Errno {
    use virtio_drivers::Error as E;
    match e {
        E::Unsupported => Errno::EOPNOTSUPP,
        E::QueueFull => Errno::EAGAIN,
        E::InvalidParam => Errno::EINVAL,
        _ => Errno::EIO,
    }
}

/// The disks' interrupt work, called by the board's machine external interrupt handler
/// for PLIC source `irq` (after the claim, before the complete): acknowledge the
/// device, then complete every finished request from its used ring, in that order.
pub fn on_interrupt(irq: u8) {
    critical_section::with(|cs| {
        let mut s = STATE.borrow_ref_mut(cs);
        let s = &mut *s;
        s.stats.interrupts = s.stats.interrupts.wrapping_add(1);
        let Some(disk) = s.disks.iter_mut().find(|d| d.irq == irq) else { return };
        disk.blk.ack_interrupt();
        while let Some(token) = disk.blk.peek_used() {
            if let Some(d) = s.direct.as_mut()
                && d.token == Some((irq as usize, token))
                && let (Some(req), Some(resp)) = (d.req.as_ref(), d.resp.as_mut())
            {
                // SAFETY: the header, buffer and status `direct_read` gave the driver
                // for this token.
                #[allow(unsafe_code)]
                let r = unsafe { disk.blk.complete_read_blocks(token, req, d.buf, resp) };
                d.token = None;
                if r.is_ok() {
                    d.done += 1;
                } else {
                    d.failed += 1;
                }
                continue;
            }
            let Some(slot) = disk.slots.iter_mut().find(|sl| sl.io.is_some() && sl.token == token) else {
                // Not ours: cannot happen with this driver; stop rather than spin.
                s.stats.errors += 1;
                break;
            };
            let res = finish(&mut disk.blk, slot);
            let _ = s.order.push(slot.user_data);
            let done = match s.completer {
                Some(c) => slot.io.take().is_some_and(|io| io.complete(&c, res).is_ok()),
                None => false,
            };
            if done {
                s.stats.completed += 1;
            } else {
                s.stats.errors += 1;
            }
        }
    });
}

/// Take `slot`'s finished request off the used ring; its CQE result.
fn finish(blk: &mut Blk, slot: &mut Slot) -> i32 {
    let (Some(io), Some(req), Some(resp)) = (slot.io.as_mut(), slot.req.as_ref(), slot.resp.as_mut()) else {
        return Errno::EIO.res();
    };
    let len = slot.len;
    // The one piece the device got, straight from the handle (no `Io` built).
    let done = match slot.kind {
        Kind::Read => match io.dest_slices(0).map(|mut d| d.next()) {
            Ok(Some(buf)) if buf.len() >= len => {
                // SAFETY: the same header, buffer (the same range of the same
                // registered region, carved again from the same PendingIo) and status
                // as `read_blocks_nb` got for this token.
                #[allow(unsafe_code)]
                unsafe {
                    blk.complete_read_blocks(slot.token, req, &mut buf[..len], resp)
                }
            }
            _ => Err(virtio_drivers::Error::InvalidParam),
        },
        Kind::Write => match io.source_slices(0).map(|mut s| s.next()) {
            Ok(Some(buf)) if buf.len() >= len => {
                // SAFETY: as above, for `write_blocks_nb`.
                #[allow(unsafe_code)]
                unsafe {
                    blk.complete_write_blocks(slot.token, req, &buf[..len], resp)
                }
            }
            _ => Err(virtio_drivers::Error::InvalidParam),
        },
    };
    match done {
        Ok(()) => len as i32,
        Err(e) => errno_of(e).res(),
    }
}

/// Start a 4 KiB read of disk `fd` at `block` straight through the driver, into a
/// static buffer (the benchmark's baseline); the interrupt completes it ([`direct_done`]).
/// EBUSY while one is in flight.
pub fn direct_read(fd: usize, block: usize) -> Result<(), Errno> {
    critical_section::with(|cs| {
        let mut s = STATE.borrow_ref_mut(cs);
        let s = &mut *s;
        if s.direct.is_none() {
            let buf = DIRECT_BUF.try_take().ok_or(Errno::ENOMEM)?;
            s.direct = Some(Direct { buf, token: None, req: None, resp: None, done: 0, failed: 0 });
        }
        let (Some(d), Some(disk)) = (s.direct.as_mut(), s.disks.get_mut(fd)) else { return Err(Errno::EBADF) };
        if d.token.is_some() {
            return Err(Errno::EBUSY);
        }
        let (req, resp) = (d.req.insert(BlkReq::default()), d.resp.insert(BlkResp::default()));
        // SAFETY: header, status and buffer are statics nothing else touches until the
        // interrupt handler's `complete_read_blocks` for this token.
        #[allow(unsafe_code)]
        let token = unsafe { disk.blk.read_blocks_nb(block, req, d.buf, resp) }.map_err(errno_of)?;
        d.token = Some((disk.irq as usize, token));
        Ok(())
    })
}

/// Whether disk `fd`'s device has put a finished request in its used ring that the
/// interrupt handler has not taken yet.
pub fn used_ready(fd: usize) -> bool {
    critical_section::with(|cs| STATE.borrow_ref_mut(cs).disks.get_mut(fd).is_some_and(|d| d.blk.peek_used().is_some()))
}

/// Direct reads completed (and failed) so far.
pub fn direct_done() -> (u32, u32) {
    critical_section::with(|cs| STATE.borrow_ref(cs).direct.as_ref().map_or((0, 0), |d| (d.done, d.failed)))
}

/// Whether the direct reads' buffer (none in flight) holds disk bytes from `off` on.
pub fn direct_holds_image(off: u64) -> bool {
    critical_section::with(|cs| {
        let s = STATE.borrow_ref(cs);
        s.direct.as_ref().is_some_and(|d| {
            d.token.is_none() && d.buf.iter().enumerate().all(|(i, &b)| b == disk_byte(off + i as u64))
        })
    })
}

// --- The op -----------------------------------------------------------------------------------

/// What [`VirtioBlkOp`]'s prep keeps for issue.
#[derive(Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct VirtioPdu {
    off: u64,
    fd: u32,
    flags: u32,
}

/// Disk `fd`'s capacity in bytes and read-only flag, or EBADF.
fn disk_info(fd: usize) -> Result<(u64, bool), Errno> {
    critical_section::with(|cs| {
        let s = STATE.borrow_ref(cs);
        let d = s.disks.get(fd).ok_or(Errno::EBADF)?;
        Ok((d.capacity * SECTOR_SIZE as u64, d.readonly))
    })
}

/// The virtio-blk op: see the [module](self) documentation.
pub struct VirtioBlkOp;

impl Op for VirtioBlkOp {
    type Pdu = VirtioPdu;

    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<VirtioPdu, Errno> {
        let flags = cx.info().private_flags();
        let fd = usize::try_from(sqe.fd).map_err(|_| Errno::EBADF)?;
        let (size, readonly) = disk_info(fd)?;
        let raw = flags & RAW != 0;
        match flags & !RAW {
            READ | WRITE => {
                if !sqe.off.is_multiple_of(SECTOR_SIZE as u64) {
                    return Err(Errno::EINVAL);
                }
                let write = flags & !RAW == WRITE;
                if write && !raw {
                    if readonly {
                        return Err(Errno::EPERM);
                    }
                    if sqe.off >= size {
                        return Err(Errno::ENOSPC);
                    }
                }
                cx.import(&BufDesc::sqe_b(sqe), if write { Dir::Source } else { Dir::Dest })?;
            }
            FLUSH => {}
            _ => return Err(Errno::EINVAL),
        }
        Ok(VirtioPdu { off: sqe.off, fd: fd as u32, flags })
    }

    fn issue(cx: &mut IssueCx<'_>, pdu: &mut VirtioPdu) -> Issue {
        let fd = pdu.fd as usize;
        let raw = pdu.flags & RAW != 0;
        let kind = match pdu.flags & !RAW {
            READ => Kind::Read,
            WRITE => Kind::Write,
            _ => return flush(cx, fd),
        };
        let Ok((size, _)) = disk_info(fd) else { return Issue::Err(Errno::EBADF) };
        if kind == Kind::Read && !raw && pdu.off >= size {
            cx.chain().len = 0;
            cx.set_result(0); // Linux: a read at or past the end reads nothing
            return Issue::Done;
        }
        let user_data = cx.info().user_data();
        // A free request slot of the disk, and the buffer handed out straight into it
        // (the handle is made there, never moved): from then on the request is pending
        // whatever happens, and every outcome completes through the handle. Only this
        // context fills slots; the interrupt only frees them.
        let started = critical_section::with(|cs| {
            let mut s = STATE.borrow_ref_mut(cs);
            let s = &mut *s;
            let disk = s.disks.get_mut(fd).ok_or(Errno::EBADF)?;
            // Without a free slot: EAGAIN from issue, which the ring retries once.
            let k = disk.slots.iter().position(|sl| sl.io.is_none()).ok_or(Errno::EAGAIN)?;
            cx.pending_io_into(&mut disk.slots[k].io)?;
            disk.slots[k].user_data = user_data;
            let res = start(disk, k, kind, pdu.off, raw);
            s.stats.peak_in_flight = s.stats.peak_in_flight.max(disk.in_flight() as u32);
            Ok(match res {
                Ok(len) => Some(len),
                Err(e) => {
                    let done = match (disk.slots[k].io.take(), s.completer) {
                        (Some(io), Some(c)) => io.complete(&c, e.res()).is_ok(),
                        _ => false,
                    };
                    if !done {
                        s.stats.errors += 1;
                    }
                    None
                }
            })
        });
        match started {
            // Nothing went out: the request fails here.
            Err(e) => Issue::Err(e),
            // The chain record's `len` (CHAIN_LEN successors: crc32c, copy) is the length
            // given to the device; if the device fails, the chain is cancelled anyway.
            Ok(Some(len)) => {
                cx.chain().len = len as u32;
                Issue::Pending
            }
            Ok(None) => Issue::Pending,
        }
    }
}

/// Put slot `k`'s read or write on the disk's virtqueue, directly on its `PendingIo`'s
/// buffer; the bytes it moves.
fn start(disk: &mut Disk, k: usize, kind: Kind, off: u64, raw: bool) -> Result<usize, Errno> {
    let size = disk.capacity * SECTOR_SIZE as u64;
    let block = (off / SECTOR_SIZE as u64) as usize;
    let slot = &mut disk.slots[k];
    let io = slot.io.as_mut().ok_or(Errno::EINVAL)?;
    // The handle's one piece, straight from it (no `Io` built): exactly one.
    let token = match kind {
        Kind::Read => {
            let mut segs = io.dest_slices(0)?;
            let (Some(buf), None) = (segs.next(), segs.next()) else { return Err(Errno::EINVAL) };
            let len = clip(buf.len(), off, size, raw)?;
            slot.len = len;
            let buf = &mut buf[..len];
            let (req, resp) = (slot.req.insert(BlkReq::default()), slot.resp.insert(BlkResp::default()));
            // SAFETY: `req` and `resp` stay in this slot of a static until the interrupt
            // handler's `complete_read_blocks` for the token; `buf` is a range this
            // request owns (its PendingIo, kept in the slot until then) that nothing else
            // touches meanwhile: the ring gives the range to no other request and the
            // application cannot reach its region while it is pending.
            #[allow(unsafe_code)]
            unsafe {
                disk.blk.read_blocks_nb(block, req, buf, resp)
            }
        }
        Kind::Write => {
            let mut segs = io.source_slices(0)?;
            let (Some(buf), None) = (segs.next(), segs.next()) else { return Err(Errno::EINVAL) };
            let len = clip(buf.len(), off, size, raw)?;
            slot.len = len;
            let buf = &buf[..len];
            let (req, resp) = (slot.req.insert(BlkReq::default()), slot.resp.insert(BlkResp::default()));
            // SAFETY: as for the read; the device only reads `buf`.
            #[allow(unsafe_code)]
            unsafe {
                disk.blk.write_blocks_nb(block, req, buf, resp)
            }
        }
    }
    .map_err(errno_of)?;
    slot.token = token;
    slot.kind = kind;
    Ok(slot.len)
}

/// The length to transfer: a whole number of sectors; cut at the end of the disk
/// (unless `raw`).
fn clip(len: usize, off: u64, size: u64, raw: bool) -> Result<usize, Errno> {
    if len == 0 || !len.is_multiple_of(SECTOR_SIZE) {
        return Err(Errno::EINVAL);
    }
    if raw {
        return Ok(len);
    }
    let room = size.saturating_sub(off);
    Ok((len as u64).min(room) as usize)
}

/// FLUSH: the driver's blocking flush, on an idle disk.
fn flush(cx: &mut IssueCx<'_>, fd: usize) -> Issue {
    let res = critical_section::with(|cs| {
        let mut s = STATE.borrow_ref_mut(cs);
        let disk = s.disks.get_mut(fd).ok_or(Errno::EBADF)?;
        if disk.in_flight() != 0 {
            return Err(Errno::EBUSY);
        }
        disk.blk.flush().map_err(errno_of)
    });
    match res {
        Ok(()) => {
            cx.set_result(0);
            Issue::Done
        }
        Err(e) => Issue::Err(e),
    }
}

// --- The test disks' contents (the host side, xtask/src/fw_disk.rs, writes and checks the same) ---

/// Byte `off` of a test disk as the host writes it before QEMU starts: depends on the
/// sector and the offset, so a read of the wrong sector or a shifted one shows.
pub const fn disk_byte(off: u64) -> u8 {
    ((off >> 9) as u8).wrapping_mul(31) ^ (off as u8).wrapping_mul(7) ^ 0xa5
}

/// Byte `off` of what the firmware writes over a test disk's blocks.
pub const fn written_byte(off: u64) -> u8 {
    (off as u8).wrapping_mul(13) ^ ((off >> 9) as u8) ^ 0x3c
}
