//! Provided-buffer groups (Linux's `IORING_REGISTER_PBUF_RING`) and the device side of
//! multishot requests.
//!
//! A group is a [`BufRing`] — a `static` ring of [`IoUringBuf`]-layout entries (16 bytes:
//! `addr`, `len`, `bid`, `resv`; the tail overlays entry 0's `resv`, as in Linux) that the
//! application fills and whose tail it advances — registered on a ring under a group id
//! over `E` equal slots carved from one registered region ([`BufGroup`]). Buffer `bid`
//! is slot `bid` of that area; an entry may name any non-empty range inside its slot.
//!
//! # Who owns a buffer
//!
//! Every buffer is in exactly one state, kept in an atomic word per buffer id:
//!
//! | state | owner | how it gets there |
//! |---|---|---|
//! | `APP` | the application (may read it: [`Ring::provided`](crate::Ring::provided)) | initially; after the ring posted its CQE |
//! | `ARMED` | the ring, offered to devices | the ring took the application's entry (needs `&mut` ring: `submit`/`poll`) |
//! | `FILLING(gen)` | one device's [`Fill`] handle (the only `&mut` view) | a device won the compare-and-swap `ARMED → FILLING` |
//! | `FILLED(gen)` | the ring (posting) | the device committed (or dropped) its `Fill` |
//!
//! Soundness of the views, for any safe caller:
//! - the group's area is reserved: registering it holds its region (the application's
//!   `buffer_mut`/`buffers().get` answer EBUSY/`None`, the region cannot be unregistered),
//!   and every import overlapping the area fails EBUSY — so no other request sees it;
//! - a device gets a `&mut` view only of a buffer it moved `ARMED → FILLING` with a
//!   compare-and-swap (one winner), and only through its `Fill`, borrowed mutably;
//! - the application gets a `&[u8]` only of a buffer in `APP`, borrowing the ring; only
//!   the ring moves `APP → ARMED`, and only in `submit`/`poll`/`issue` (`&mut` ring), so
//!   no device can take a buffer the application is reading, even if it re-provided it
//!   early;
//! - an entry naming a buffer id out of range, a range outside its slot or a buffer the
//!   ring still holds (re-provided before its CQE was reaped) is consumed and ends the
//!   attached request with -EFAULT: it never arms a buffer twice;
//! - a group is unregistered (its region released) only when no buffer is `FILLING` or
//!   `FILLED` and no request is attached; a `Stream` of an ended request cannot start a
//!   fill (it rechecks that its request is live after winning the buffer, undoing the
//!   claim otherwise, with sequentially consistent operations against the ring's end of
//!   the request), so its area pointer is never used after the group is gone.

use portable_atomic::{AtomicBool, AtomicU16, AtomicU32, Ordering};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::abi::errno::Errno;
use crate::buffer::region::RawPiece;
use crate::engine::completion::{CompleteError, Completer, Phase, Token};

/// Largest group (Linux: `ring_entries` below 65536; fwring: 2¹⁵, buffer ids are `u16`
/// and the CQE carries 16 bits).
pub const MAX_GROUP_ENTRIES: usize = 1 << 15;
/// Provided-buffer groups one ring holds at once.
pub const MAX_GROUPS: usize = 4;

/// `struct io_uring_buf`: one entry of a provided-buffer ring (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct IoUringBuf {
    /// Buffer address.
    pub addr: u64,
    /// Buffer length.
    pub len: u32,
    /// Buffer id (`bid`), reported in the CQE's upper 16 flag bits.
    pub bid: u16,
    /// Reserved; in entry 0, the ring's tail (`io_uring_buf_ring.tail`).
    pub resv: u16,
}

/// `struct io_uring_buf_reg`: the argument of `IORING_(UN)REGISTER_PBUF_RING` (40 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct IoUringBufReg {
    /// The ring's address (fwring: the `BufRing` static).
    pub ring_addr: u64,
    /// Entries, a power of two.
    pub ring_entries: u32,
    /// Group id.
    pub bgid: u16,
    /// `IOU_PBUF_RING_*`.
    pub flags: u16,
    /// Must be 0.
    pub resv: [u64; 3],
}

/// `IOU_PBUF_RING_MMAP`: the kernel allocates the ring (fwring: the ring is a `static`,
/// so registering with it is EINVAL).
pub const IOU_PBUF_RING_MMAP: u16 = 1;
/// `IOU_PBUF_RING_INC`: incremental consumption — a buffer is consumed in pieces, each
/// CQE but the one that fills it carrying `IORING_CQE_F_BUF_MORE`.
pub const IOU_PBUF_RING_INC: u16 = 2;

/// One ring entry as shared atomics: the [`IoUringBuf`] layout word for word (`addr` as
/// two 32-bit halves so targets without 64-bit atomics share it too).
#[repr(C)]
pub struct BufEntry {
    addr: [AtomicU32; 2],
    len: AtomicU32,
    bid: AtomicU16,
    resv: AtomicU16,
}

const _: () = {
    use core::mem::offset_of;
    assert!(size_of::<IoUringBuf>() == 16);
    assert!(offset_of!(IoUringBuf, addr) == 0);
    assert!(offset_of!(IoUringBuf, len) == 8);
    assert!(offset_of!(IoUringBuf, bid) == 12);
    assert!(offset_of!(IoUringBuf, resv) == 14);
    assert!(size_of::<BufEntry>() == 16);
    assert!(offset_of!(BufEntry, addr) == 0);
    assert!(offset_of!(BufEntry, len) == 8);
    assert!(offset_of!(BufEntry, bid) == 12);
    // The tail: io_uring_buf_ring's `tail` overlays bufs[0].resv at offset 14.
    assert!(offset_of!(BufEntry, resv) == 14);
    assert!(size_of::<IoUringBufReg>() == 40);
    assert!(offset_of!(IoUringBufReg, ring_addr) == 0);
    assert!(offset_of!(IoUringBufReg, ring_entries) == 8);
    assert!(offset_of!(IoUringBufReg, bgid) == 12);
    assert!(offset_of!(IoUringBufReg, flags) == 14);
    assert!(offset_of!(IoUringBufReg, resv) == 16);
};

impl BufEntry {
    #[allow(clippy::declare_interior_mutable_const)]
    const EMPTY: BufEntry = BufEntry {
        addr: [AtomicU32::new(0), AtomicU32::new(0)],
        len: AtomicU32::new(0),
        bid: AtomicU16::new(0),
        resv: AtomicU16::new(0),
    };

    // Little-endian halves: word 0 is the low half (the u64 at offset 0).
    const LO: usize = if cfg!(target_endian = "little") { 0 } else { 1 };

    fn load(&self) -> IoUringBuf {
        let lo = self.addr[Self::LO].load(Ordering::Relaxed) as u64;
        let hi = self.addr[1 - Self::LO].load(Ordering::Relaxed) as u64;
        IoUringBuf {
            addr: lo | hi << 32,
            len: self.len.load(Ordering::Relaxed),
            bid: self.bid.load(Ordering::Relaxed),
            resv: 0,
        }
    }

    fn store(&self, b: &IoUringBuf) {
        self.addr[Self::LO].store(b.addr as u32, Ordering::Relaxed);
        self.addr[1 - Self::LO].store((b.addr >> 32) as u32, Ordering::Relaxed);
        self.len.store(b.len, Ordering::Relaxed);
        self.bid.store(b.bid, Ordering::Relaxed);
    }
}

/// Buffer states (low 4 bits of a buffer's state word; the rest: the low 28 bits of the
/// generation of the request a device fills it for).
const APP: u32 = 0;
const ARMED: u32 = 1;
const FILLING: u32 = 2;
const FILLED: u32 = 3;
const STATE_MASK: u32 = 0xf;
/// `len` of a buffer whose `Fill` was dropped without a commit: re-armed, no CQE.
const ABANDONED: u32 = u32::MAX;
const NIL: u32 = u32::MAX;

const fn live_word(generation: u64) -> u32 {
    (generation as u32 & 0x7fff_ffff) | 1 << 31
}

const fn filling(generation: u32) -> u32 {
    generation << 4 | FILLING
}

/// One buffer's bookkeeping.
struct BufSlot {
    state: AtomicU32,
    /// Bytes the device wrote (FILLED), or [`ABANDONED`].
    len: AtomicU32,
    /// Next buffer on the ready stack or the backlog.
    next: AtomicU32,
    /// The armed range: offset in the slot and length.
    off: AtomicU32,
    alen: AtomicU32,
    /// Incremental groups: bytes of the current entry already posted (the application's
    /// prefix `[0, off)` of the slot is readable while the rest is still the ring's).
    posted: AtomicU32,
}

impl BufSlot {
    #[allow(clippy::declare_interior_mutable_const)]
    const EMPTY: BufSlot = BufSlot {
        state: AtomicU32::new(APP),
        len: AtomicU32::new(0),
        next: AtomicU32::new(NIL),
        off: AtomicU32::new(0),
        alen: AtomicU32::new(0),
        posted: AtomicU32::new(0),
    };
}

/// A group's ring-wide words.
struct GroupWords {
    /// Registered on a ring (one ring, one registration at a time).
    taken: AtomicBool,
    /// Entries the ring consumed (the kernel's `head`), free-running.
    head: AtomicU32,
    /// The armed queue (ring produces, devices consume).
    armed_head: AtomicU32,
    armed_tail: AtomicU32,
    /// Ready stack of filled buffers (devices push, the ring detaches).
    ready: AtomicU32,
    /// Backlog FIFO of filled buffers waiting for CQ room (ring only).
    bk_head: AtomicU32,
    bk_tail: AtomicU32,
    bk_len: AtomicU32,
    /// The attached request's generation (low 31 bits) | 1 << 31, or 0: devices check it.
    live: AtomicU32,
    /// Registrations so far: a stream names the registration its area belongs to.
    reg: AtomicU32,
    /// A device found no armed buffer for the attached request.
    starved: AtomicBool,
    /// `IOU_PBUF_RING_INC`: buffers are consumed in pieces.
    inc: AtomicBool,
    /// Incremental groups: the partly consumed buffer devices continue first, or NIL.
    partial: AtomicU32,
    /// An entry was bad (bid, range, or a buffer still held): -EFAULT.
    fault: AtomicBool,
    /// The area: slot size, and the address entries name slot 0 by (for `provide`).
    size: AtomicU32,
    base: [AtomicU32; 2],
}

/// A provided-buffer ring of `E` entries (a power of two, ≤ 2¹⁵) and the bookkeeping of
/// its `E` buffers: put it in a `static` and register it with
/// [`Ring::register_buf_ring`](crate::Ring::register_buf_ring). The application adds
/// buffers with [`BufRing::provide`] (or [`BufRing::push`] + [`BufRing::advance`], as
/// liburing's `io_uring_buf_ring_add`/`_advance`).
///
/// ```
/// use fwring::buffer::provided::BufRing;
/// static RING: BufRing<8> = BufRing::new();
/// assert_eq!(RING.tail(), 0);
/// ```
pub struct BufRing<const E: usize> {
    entries: [BufEntry; E],
    bufs: [BufSlot; E],
    armed: [AtomicU16; E],
    w: GroupWords,
}

impl<const E: usize> BufRing<E> {
    const SIZE_OK: () = assert!(
        E.is_power_of_two() && E <= MAX_GROUP_ENTRIES,
        "a provided-buffer ring has a power-of-two number of entries, at most 32768"
    );

    /// An empty ring (tail 0), every buffer with the application.
    #[allow(clippy::declare_interior_mutable_const)]
    pub const fn new() -> Self {
        let () = Self::SIZE_OK;
        BufRing {
            entries: [BufEntry::EMPTY; E],
            bufs: [BufSlot::EMPTY; E],
            armed: [const { AtomicU16::new(0) }; E],
            w: GroupWords {
                taken: AtomicBool::new(false),
                head: AtomicU32::new(0),
                armed_head: AtomicU32::new(0),
                armed_tail: AtomicU32::new(0),
                ready: AtomicU32::new(NIL),
                bk_head: AtomicU32::new(NIL),
                bk_tail: AtomicU32::new(NIL),
                bk_len: AtomicU32::new(0),
                live: AtomicU32::new(0),
                reg: AtomicU32::new(0),
                starved: AtomicBool::new(false),
                inc: AtomicBool::new(false),
                partial: AtomicU32::new(NIL),
                fault: AtomicBool::new(false),
                size: AtomicU32::new(0),
                base: [AtomicU32::new(0), AtomicU32::new(0)],
            },
        }
    }

    /// The ring's tail (entry 0's `resv`), as the application advanced it.
    pub fn tail(&self) -> u16 {
        self.entries[0].resv.load(Ordering::Acquire)
    }

    /// Write `buf` into the entry `offset` places past the tail (liburing's
    /// `io_uring_buf_ring_add`); it becomes visible with [`BufRing::advance`].
    pub fn push(&self, buf: IoUringBuf, offset: u16) {
        let i = self.tail().wrapping_add(offset) as usize & (E - 1);
        self.entries[i].store(&buf);
    }

    /// Publish `n` entries (`io_uring_buf_ring_advance`): release, pairs with the ring's
    /// acquire of the tail.
    pub fn advance(&self, n: u16) {
        let t = self.tail().wrapping_add(n);
        self.entries[0].resv.store(t, Ordering::Release);
    }

    /// Hand buffer `bid` (its whole slot) back to the ring: `push` + `advance(1)`. Only
    /// after its CQE was reaped and its data consumed (an early re-provide of a buffer the
    /// ring still holds ends the request with -EFAULT; see the module docs).
    pub fn provide(&self, bid: u16) {
        let size = self.w.size.load(Ordering::Relaxed);
        let base =
            self.w.base[0].load(Ordering::Relaxed) as u64 | (self.w.base[1].load(Ordering::Relaxed) as u64) << 32;
        let addr = base.wrapping_add(bid as u64 * size as u64);
        self.push(IoUringBuf { addr, len: size, bid, resv: 0 }, 0);
        self.advance(1);
    }

    /// The type-erased view the ring keeps.
    pub(crate) fn group(&'static self) -> GroupRef {
        GroupRef { entries: &self.entries, bufs: &self.bufs, armed: &self.armed, w: &self.w }
    }
}

impl<const E: usize> Default for BufRing<E> {
    fn default() -> Self {
        Self::new()
    }
}

/// A registered [`BufRing`], erased to slices.
#[derive(Clone, Copy)]
pub(crate) struct GroupRef {
    entries: &'static [BufEntry],
    bufs: &'static [BufSlot],
    armed: &'static [AtomicU16],
    w: &'static GroupWords,
}

/// Where a group's buffers live: `E` slots of `size` bytes from `offset` of registered
/// buffer `buf_index`, named `bgid` in SQEs (`buf_group`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufGroup {
    /// Group id.
    pub bgid: u16,
    /// Registered buffer (region) the slots are carved from.
    pub buf_index: u16,
    /// Offset of slot 0 in that region.
    pub offset: u32,
    /// Bytes per slot.
    pub size: u32,
}

/// A registered group, as the ring keeps it.
#[derive(Clone, Copy)]
pub(crate) struct Group {
    pub bgid: u16,
    pub region: u8,
    /// Area offset in its region, slot size.
    pub start: u32,
    pub size: u32,
    pub base_addr: u64,
    pub g: GroupRef,
    /// The whole area.
    pub area: RawPiece,
    /// The attached multishot request (table index), or `u16::MAX`.
    pub attached: u16,
    /// The `IOU_PBUF_RING_*` flags it was registered with (a number, not a `bool`: an
    /// unused `Option<Group>` is then the null `g`, all zeros).
    pub flags: u16,
}

// SAFETY: a group is the ring's record of a registered area (raw parts of a region the
// ring holds, as `Region` is) and of a `static` of atomics; moving it to another thread
// moves that bookkeeping, which has no thread affinity.
#[allow(unsafe_code)]
unsafe impl Send for Group {}

// SAFETY: `&Group` reaches the area only through `app_view` (buffers the application
// holds, see the module docs) and the group's atomics.
#[allow(unsafe_code)]
unsafe impl Sync for Group {}

impl Group {
    pub(crate) fn entries(&self) -> u32 {
        self.g.bufs.len() as u32
    }

    pub(crate) fn area_len(&self) -> u64 {
        self.size as u64 * self.entries() as u64
    }

    /// Start a fresh registration: tail 0, every buffer with the application.
    pub(crate) fn reset(&self) {
        let w = self.g.w;
        self.g.entries[0].resv.store(0, Ordering::Release);
        for b in self.g.bufs {
            b.state.store(APP, Ordering::Relaxed);
            b.next.store(NIL, Ordering::Relaxed);
            b.posted.store(0, Ordering::Relaxed);
        }
        w.inc.store(self.flags & IOU_PBUF_RING_INC != 0, Ordering::Relaxed);
        w.partial.store(NIL, Ordering::SeqCst);
        w.head.store(0, Ordering::Relaxed);
        w.armed_head.store(0, Ordering::SeqCst);
        w.armed_tail.store(0, Ordering::Release);
        w.ready.store(NIL, Ordering::Release);
        w.bk_head.store(NIL, Ordering::Relaxed);
        w.bk_tail.store(NIL, Ordering::Relaxed);
        w.bk_len.store(0, Ordering::Relaxed);
        w.live.store(0, Ordering::SeqCst);
        w.starved.store(false, Ordering::Relaxed);
        w.fault.store(false, Ordering::Relaxed);
        w.size.store(self.size, Ordering::Relaxed);
        w.base[0].store(self.base_addr as u32, Ordering::Relaxed);
        w.base[1].store((self.base_addr >> 32) as u32, Ordering::Relaxed);
        w.reg.fetch_add(1, Ordering::SeqCst);
    }

    /// Claim the `BufRing` for one registration (EBUSY if another ring, or this one under
    /// another group id, has it).
    pub(crate) fn claim(g: &GroupRef) -> bool {
        g.w.taken.compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed).is_ok()
    }

    pub(crate) fn release(&self) {
        self.g.w.taken.store(false, Ordering::Release);
    }

    /// Move the application's new entries to the armed queue, checking each: a bad one
    /// is consumed and sets the fault flag. Returns how many buffers are armed now.
    pub(crate) fn arm(&self) -> u32 {
        let w = self.g.w;
        let n = self.entries();
        let mask = n - 1;
        let mut head = w.head.load(Ordering::Relaxed);
        // Pairs with the application's release in `advance`.
        let tail = self.g.entries[0].resv.load(Ordering::Acquire) as u32;
        // 16-bit tail, 32-bit head: the distance mod 2^16.
        let avail = (tail.wrapping_sub(head) & 0xffff).min(n);
        for _ in 0..avail {
            let e = self.g.entries[(head & mask) as usize].load();
            head = head.wrapping_add(1);
            if !self.arm_one(&e) {
                w.fault.store(true, Ordering::Relaxed);
            }
        }
        w.head.store(head, Ordering::Relaxed);
        w.armed_tail.load(Ordering::Relaxed).wrapping_sub(w.armed_head.load(Ordering::SeqCst))
    }

    fn arm_one(&self, e: &IoUringBuf) -> bool {
        let Some(b) = self.g.bufs.get(e.bid as usize) else { return false };
        let slot_start = self.base_addr + e.bid as u64 * self.size as u64;
        let Some(off) = e.addr.checked_sub(slot_start) else { return false };
        if e.len == 0 || off.checked_add(e.len as u64).is_none_or(|end| end > self.size as u64) {
            return false;
        }
        // Only the ring moves a buffer out of APP (and it runs here with `&mut`).
        if b.state.load(Ordering::Acquire) != APP {
            return false;
        }
        let w = self.g.w;
        let t = w.armed_tail.load(Ordering::Relaxed);
        // Each buffer is armed at most once, so the queue of `entries` slots never fills;
        // a stale queue entry (a buffer moved back to APP) is skipped by devices.
        if t.wrapping_sub(w.armed_head.load(Ordering::SeqCst)) >= self.entries() {
            return false;
        }
        b.off.store(off as u32, Ordering::Relaxed);
        b.alen.store(e.len, Ordering::Relaxed);
        b.posted.store(0, Ordering::Relaxed);
        b.state.store(ARMED, Ordering::SeqCst);
        self.rearm_slot(e.bid);
        true
    }

    fn rearm_slot(&self, bid: u16) {
        let w = self.g.w;
        let t = w.armed_tail.load(Ordering::Relaxed);
        self.g.armed[(t & (self.entries() - 1)) as usize].store(bid, Ordering::Relaxed);
        // Release: the queue entry, the range and the state are visible to a device
        // that acquires the tail.
        w.armed_tail.store(t.wrapping_add(1), Ordering::Release);
    }

    /// Forget the fault and starvation flags of an earlier request.
    pub(crate) fn clear_flags(&self) {
        self.g.w.starved.store(false, Ordering::Relaxed);
        self.g.w.fault.store(false, Ordering::Relaxed);
    }

    /// Devices may fill for the request pending under `generation` now (the engine
    /// records which request it is in `attached`).
    pub(crate) fn go_live(&self, generation: u64) {
        let w = self.g.w;
        w.live.store(live_word(generation), Ordering::SeqCst);
    }

    /// Stop devices from starting fills for the attached request.
    pub(crate) fn stop(&self) {
        self.g.w.live.store(0, Ordering::SeqCst);
    }

    pub(crate) fn starved(&self) -> bool {
        self.g.w.starved.load(Ordering::Acquire)
    }

    pub(crate) fn fault(&self) -> bool {
        self.g.w.fault.load(Ordering::Relaxed)
    }

    /// Detach the ready stack (acquire: pairs with the devices' release pushes), in
    /// fill order; each filled buffer of `generation` (the attached request, if `live`)
    /// goes to the backlog, every other one back to the armed queue.
    pub(crate) fn take_ready(&self, generation: Option<u64>) {
        let w = self.g.w;
        let mut head = w.ready.swap(NIL, Ordering::Acquire);
        let mut rev = NIL;
        let mut steps = 0;
        while head != NIL && steps < self.entries() {
            let Some(b) = self.g.bufs.get(head as usize) else { break };
            let next = b.next.load(Ordering::Relaxed);
            b.next.store(rev, Ordering::Relaxed);
            rev = head;
            head = next;
            steps += 1;
        }
        while rev != NIL {
            let Some(b) = self.g.bufs.get(rev as usize) else { break };
            let next = b.next.load(Ordering::Relaxed);
            let state = b.state.load(Ordering::Acquire);
            let len = b.len.load(Ordering::Relaxed);
            let mine = generation.is_some_and(|g| state == ((g as u32) << 4 | FILLED));
            if state & STATE_MASK == FILLED {
                if mine && len != ABANDONED {
                    self.backlog_push(rev);
                } else {
                    b.state.store(ARMED, Ordering::SeqCst);
                    self.rearm_slot(rev as u16);
                }
            }
            rev = next;
        }
    }

    fn backlog_push(&self, bid: u32) {
        let w = self.g.w;
        self.g.bufs[bid as usize].next.store(NIL, Ordering::Relaxed);
        match w.bk_tail.load(Ordering::Relaxed) {
            NIL => w.bk_head.store(bid, Ordering::Relaxed),
            t => self.g.bufs[t as usize].next.store(bid, Ordering::Relaxed),
        }
        w.bk_tail.store(bid, Ordering::Relaxed);
        w.bk_len.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether a buffer is still on its way to a CQE of the request pending under
    /// `generation`: being filled, or committed and not yet taken from the ready stack
    /// (a device marks it FILLED just before it pushes it). Its final CQE waits for
    /// these — none of its fills is ever left behind it.
    pub(crate) fn holds(&self, generation: u64) -> bool {
        let (filling, filled) = (filling(generation as u32), (generation as u32) << 4 | FILLED);
        self.g.bufs.iter().any(|b| {
            let s = b.state.load(Ordering::SeqCst);
            s == filling || s == filled
        })
    }

    /// Filled buffers waiting for CQ room.
    pub(crate) fn backlog(&self) -> u32 {
        self.g.w.bk_len.load(Ordering::Relaxed)
    }

    /// The oldest waiting buffer `(bid, len, more)`, handed back to the application (its
    /// CQE is being posted) — or, in an incremental group when the device left room in it
    /// (`more`: `IORING_CQE_F_BUF_MORE`), its posted prefix handed over and the rest armed
    /// again, first in line for the next fill (as Linux keeps it at the ring's head).
    pub(crate) fn backlog_pop(&self) -> Option<(u16, u32, bool)> {
        let w = self.g.w;
        let bid = w.bk_head.load(Ordering::Relaxed);
        let b = self.g.bufs.get(bid as usize)?;
        let next = b.next.load(Ordering::Relaxed);
        w.bk_head.store(next, Ordering::Relaxed);
        if next == NIL {
            w.bk_tail.store(NIL, Ordering::Relaxed);
        }
        w.bk_len.fetch_sub(1, Ordering::Relaxed);
        let len = b.len.load(Ordering::Relaxed);
        let alen = b.alen.load(Ordering::Relaxed);
        if w.inc.load(Ordering::Relaxed) && len < alen {
            // The buffer is not FILLING (its fill was committed), so nobody reads its
            // range words while the ring moves them past the posted bytes.
            b.off.fetch_add(len, Ordering::Relaxed);
            b.alen.store(alen - len, Ordering::Relaxed);
            b.posted.fetch_add(len, Ordering::Relaxed);
            b.state.store(ARMED, Ordering::SeqCst);
            if w.partial.compare_exchange(NIL, bid, Ordering::SeqCst, Ordering::SeqCst).is_err() {
                self.rearm_slot(bid as u16);
            }
            return Some((bid as u16, len, true));
        }
        b.posted.store(0, Ordering::Relaxed);
        b.state.store(APP, Ordering::Release);
        Some((bid as u16, len, false))
    }

    /// Unregistering: every armed buffer back to the application — unless a device
    /// holds one (FILLING) or a fill waits (FILLED): EBUSY, nothing released.
    pub(crate) fn quiesce(&self) -> Result<(), Errno> {
        self.take_ready(None);
        for b in self.g.bufs {
            let _ = b.state.compare_exchange(ARMED, APP, Ordering::SeqCst, Ordering::SeqCst);
        }
        let busy = self.g.bufs.iter().any(|b| b.state.load(Ordering::SeqCst) != APP);
        if busy {
            return Err(Errno::EBUSY);
        }
        let w = self.g.w;
        w.armed_head.store(w.armed_tail.load(Ordering::Relaxed), Ordering::SeqCst);
        w.partial.store(NIL, Ordering::SeqCst);
        Ok(())
    }

    /// Buffer `bid` for the application: only while it holds it (APP).
    #[allow(unsafe_code)]
    pub(crate) fn app_view(&self, bid: u16) -> Result<&[u8], Errno> {
        let b = self.g.bufs.get(bid as usize).ok_or(Errno::EINVAL)?;
        // Acquire: pairs with the ring's release when it handed the buffer back (after
        // the device's writes, which the ring acquired from the ready stack).
        let len = if b.state.load(Ordering::Acquire) == APP {
            self.size as usize
        } else if b.posted.load(Ordering::Relaxed) > 0 {
            // Incremental, partly consumed: the posted prefix is the application's; the
            // rest (from `off`) is armed or a device's. `off` moves only when the ring
            // posts, which needs the ring mutably: not while this view borrows it.
            b.off.load(Ordering::Relaxed) as usize
        } else {
            return Err(Errno::EBUSY);
        };
        let piece = self.area.sub(bid as usize * self.size as usize, len).ok_or(Errno::EFAULT)?;
        // SAFETY: the bytes are the application's: the whole buffer in APP, or in an
        // incremental group the prefix before `off`, which no device views (a fill views
        // `[off, off + alen)` only). No device holds a view of an APP buffer (devices only
        // view buffers they moved ARMED -> FILLING), and none can become ARMED (nor `off`
        // move) while this borrow lives — only the ring arms buffers, in calls that take
        // it mutably, and the returned slice borrows the ring (through `&self`, a group
        // of its buffer table). No request's import touches the group's area (EBUSY).
        Ok(unsafe { piece.slice() })
    }

    /// The device side of the attached request.
    pub(crate) fn stream(&self, token: Token, ring: u32) -> Stream {
        Stream { g: self.g, area: self.area, size: self.size, token, ring, reg: self.g.w.reg.load(Ordering::SeqCst) }
    }
}

/// The device side of a multishot request: take free provided buffers
/// ([`Stream::fill`]), write them, commit them (one CQE each, `F_BUFFER | F_MORE`), and
/// end the request ([`Stream::finish`]). `Send`, `'static`, usable from an interrupt
/// handler: every step is lock-free.
///
/// Made by [`IssueCx::multishot`](crate::IssueCx::multishot). It outlives its request
/// harmlessly: once the request ended (finished, cancelled, -ENOBUFS), `fill` answers
/// [`NoFill::Ended`] and `finish` is refused as stale.
///
/// ```
/// use core::cell::RefCell;
/// use critical_section::Mutex;
/// use fwring::{BufGroup, BufRing, Cqe, CqeFlags, Errno, Issue, IssueCx, Op, OpVTable, PrepCx};
/// use fwring::{Region, Ring, Setup, SetupFlags, Sqe, SqeFlags, Stream, vtable};
///
/// /// A multishot op: hands its stream to the device (here: this example).
/// struct Rx;
/// static DEVICE: Mutex<RefCell<Option<Stream>>> = Mutex::new(RefCell::new(None));
/// impl Op for Rx {
///     type Pdu = ();
///     fn prep(_: &mut PrepCx<'_>, _: &Sqe) -> Result<(), Errno> { Ok(()) }
///     fn issue(cx: &mut IssueCx<'_>, _: &mut ()) -> Issue {
///         match cx.multishot() {
///             Ok(s) => {
///                 critical_section::with(|cs| *DEVICE.borrow_ref_mut(cs) = Some(s));
///                 Issue::Pending
///             }
///             Err(e) => Issue::Err(e),
///         }
///     }
/// }
/// static RX: OpVTable = vtable::<Rx>(0);
/// static GROUP: BufRing<4> = BufRing::new();
///
/// let mut ring: Ring<8, 16, 8> = Ring::new();
/// ring.setup(Setup::new(8).flags(SetupFlags::BPF_EXT)).unwrap();
/// ring.register_op(&RX).unwrap();
/// static MEM: static_cell::StaticCell<[u8; 64]> = static_cell::StaticCell::new();
/// ring.register_buffers([Region::new(MEM.init([0; 64]))]).unwrap();
/// ring.register_buf_ring(&GROUP, BufGroup { bgid: 1, buf_index: 0, offset: 0, size: 16 }).unwrap();
/// (0..4).for_each(|bid| GROUP.provide(bid));
/// ring.push(Sqe::bpf(0, 0).user_data(9).flags(SqeFlags::BUFFER_SELECT).buf_index(1)).unwrap();
/// let _ = ring.submit();
///
/// // The device (an interrupt handler) fills a buffer and commits it.
/// let stream = critical_section::with(|cs| DEVICE.borrow_ref_mut(cs).take()).unwrap();
/// let mut fill = stream.fill().unwrap();
/// fill.buf()[..2].copy_from_slice(b"hi");
/// fill.commit(2);
///
/// // The application reaps the CQE, reads the buffer, gives it back.
/// ring.poll();
/// let more = (CqeFlags::BUFFER | CqeFlags::MORE).bits();
/// assert_eq!(ring.pop(), Some(Cqe { user_data: 9, res: 2, flags: more }));
/// assert_eq!(&ring.provided(1, 0).unwrap()[..2], b"hi");
/// GROUP.provide(0);
///
/// // The device ends the request: the final CQE has no F_MORE.
/// stream.finish(&ring.split().2, 0).unwrap();
/// ring.poll();
/// assert_eq!(ring.pop(), Some(Cqe::new(9, 0)));
/// ```
pub struct Stream {
    g: GroupRef,
    area: RawPiece,
    size: u32,
    token: Token,
    ring: u32,
    /// The registration `area` belongs to.
    reg: u32,
}

// SAFETY: a stream only names its group (atomics) and area; it hands out a view of a
// buffer only through a `Fill` that won that buffer (see the module docs), so moving it
// to another context moves nothing it owns.
#[allow(unsafe_code)]
unsafe impl Send for Stream {}

/// Why a claim of one armed buffer failed.
enum Miss {
    /// Not armed (won by someone else, or a stale queue entry): try the next.
    Skip,
    /// The request ended.
    Ended,
}

/// Why [`Stream::fill`] gave no buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NoFill {
    /// No free buffer: the request ends with -ENOBUFS once its filled buffers are
    /// posted (as Linux's multishot requests do when their group runs dry).
    NoBuffer,
    /// The request has ended: stop.
    Ended,
}

impl Stream {
    /// Whether this stream's request is the one attached to its group, in the
    /// registration its area belongs to. Memory safety rests on the registration check
    /// (same registration, same area); the generation check keeps a stale stream's data
    /// out of a later request's CQEs.
    fn live(&self) -> bool {
        self.g.w.live.load(Ordering::SeqCst) == live_word(self.token.generation())
            && self.g.w.reg.load(Ordering::SeqCst) == self.reg
    }

    /// Take the next free buffer for this request. [`NoFill::NoBuffer`] when none is
    /// armed (the request then ends with -ENOBUFS after its backlog),
    /// [`NoFill::Ended`] when the request is over.
    pub fn fill(&self) -> Result<Fill, NoFill> {
        let w = self.g.w;
        let mask = self.g.armed.len() as u32 - 1;
        let generation = self.token.generation() as u32;
        loop {
            if !self.live() {
                return Err(NoFill::Ended);
            }
            // An incremental group's partly consumed buffer comes first (a plain load
            // first: the swap only when there is one).
            let p = if w.partial.load(Ordering::Relaxed) == NIL { NIL } else { w.partial.swap(NIL, Ordering::SeqCst) };
            if p != NIL {
                match self.claim(p as u16, generation) {
                    Err(Miss::Skip) => continue,
                    r => return r.map_err(|_| NoFill::Ended),
                }
            }
            let h = w.armed_head.load(Ordering::SeqCst);
            // Acquire: pairs with the ring's release of the tail.
            if h == w.armed_tail.load(Ordering::Acquire) {
                w.starved.store(true, Ordering::Release);
                return Err(NoFill::NoBuffer);
            }
            let bid = self.g.armed[(h & mask) as usize].load(Ordering::Relaxed);
            if w.armed_head.compare_exchange(h, h.wrapping_add(1), Ordering::SeqCst, Ordering::SeqCst).is_err() {
                continue;
            }
            match self.claim(bid, generation) {
                Err(Miss::Skip) => continue,
                r => return r.map_err(|_| NoFill::Ended),
            }
        }
    }

    /// Claim armed buffer `bid` for this stream's request: [`Miss::Skip`] if it is not
    /// armed (someone else won it, or a stale queue entry), [`Miss::Ended`] if the
    /// request ended meanwhile. (A plain `Result` of the handle, the same shape `fill`
    /// returns: no copies of it on the way out.)
    #[inline]
    fn claim(&self, bid: u16, generation: u32) -> Result<Fill, Miss> {
        let Some(b) = self.g.bufs.get(bid as usize) else { return Err(Miss::Skip) };
        // One winner per armed buffer; a stale queue entry (buffer back with the
        // application) fails here and is skipped.
        if b.state.compare_exchange(ARMED, filling(generation), Ordering::SeqCst, Ordering::SeqCst).is_err() {
            return Err(Miss::Skip);
        }
        // The request may have ended between the check above and the claim: the ring
        // stops the request (SeqCst store of `live`) before it looks for FILLING buffers
        // (SeqCst loads), so one of the two sees the other.
        if !self.live() {
            self.push_ready(bid as u32, ABANDONED, generation);
            return Err(Miss::Ended);
        }
        let off = b.off.load(Ordering::Relaxed) as usize;
        let len = b.alen.load(Ordering::Relaxed) as usize;
        let Some(piece) = self.area.sub(bid as usize * self.size as usize + off, len) else {
            // Impossible: ranges are checked when armed. Give it back.
            self.push_ready(bid as u32, ABANDONED, generation);
            return Err(Miss::Ended);
        };
        Ok(Fill { g: self.g, bid, generation, piece, done: false })
    }

    fn push_ready(&self, bid: u32, len: u32, generation: u32) {
        push_ready(self.g, bid, len, generation);
    }

    /// End the request with `res` (its final CQE, without `F_MORE`, posts after every
    /// committed buffer's). A completer of another ring refuses it
    /// ([`CompleteError::Foreign`]), a stream whose request already ended too
    /// ([`CompleteError::Stale`]).
    pub fn finish(self, completer: &Completer<'_>, res: i32) -> Result<(), CompleteError> {
        if completer.ring_id() != self.ring {
            return Err(CompleteError::Foreign);
        }
        completer.complete_in(self.token, res, &[Phase::Multishot])
    }

    /// The request's token (for logging; `Completer::complete` refuses it).
    pub fn token(&self) -> Token {
        self.token
    }
}

fn push_ready(g: GroupRef, bid: u32, len: u32, generation: u32) {
    let Some(b) = g.bufs.get(bid as usize) else { return };
    b.len.store(len, Ordering::Relaxed);
    if len == ABANDONED {
        // Given back before use; the state says FILLED so the ring re-arms it.
        b.state.store(generation << 4 | FILLED, Ordering::SeqCst);
    } else {
        b.state.store(generation << 4 | FILLED, Ordering::Release);
    }
    let ready = &g.w.ready;
    let mut head = ready.load(Ordering::Relaxed);
    loop {
        b.next.store(head, Ordering::Relaxed);
        // Release: the length, state and link are visible to the ring's acquire swap.
        match ready.compare_exchange_weak(head, bid, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => return,
            Err(h) => head = h,
        }
    }
}

impl core::fmt::Debug for Stream {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Stream").field("token", &self.token).field("ring", &self.ring).finish()
    }
}

/// One provided buffer a device is filling: the only view of it. Commit it with the
/// bytes written ([`Fill::commit`]); dropping it gives the buffer back unused (no CQE).
pub struct Fill {
    g: GroupRef,
    bid: u16,
    generation: u32,
    piece: RawPiece,
    done: bool,
}

// SAFETY: the handle owns its buffer exclusively (it won `ARMED → FILLING`); moving it
// moves that ownership (a DMA transfer may span interrupts).
#[allow(unsafe_code)]
unsafe impl Send for Fill {}

impl Fill {
    /// The buffer id.
    pub fn bid(&self) -> u16 {
        self.bid
    }

    /// The buffer, writable, for as long as the handle is borrowed.
    #[allow(unsafe_code)]
    pub fn buf(&mut self) -> &mut [u8] {
        // SAFETY: this handle moved the buffer ARMED → FILLING with a compare-and-swap
        // (one winner), nobody else views a FILLING buffer (the application only APP
        // ones, other requests never the group's reserved area), and `&mut self` makes
        // this the only view; it cannot outlive the handle, which commit consumes.
        unsafe { self.piece.slice_mut() }
    }

    /// Bytes the buffer holds.
    pub fn capacity(&self) -> usize {
        self.piece.len()
    }

    /// The device wrote `n` bytes (clamped to the buffer): the ring posts its CQE
    /// (`res = n`, `F_BUFFER | F_MORE`, `bid << 16`) in fill order, as CQ room allows.
    pub fn commit(mut self, n: usize) {
        self.done = true;
        let n = n.min(self.piece.len()) as u32;
        push_ready(self.g, self.bid as u32, n, self.generation);
    }
}

impl Drop for Fill {
    fn drop(&mut self) {
        if !self.done {
            push_ready(self.g, self.bid as u32, ABANDONED, self.generation);
        }
    }
}

impl core::fmt::Debug for Fill {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Fill").field("bid", &self.bid).field("len", &self.piece.len()).finish()
    }
}
