//! A minimal client of the Linux kernel's io_uring, through raw syscalls, used as the
//! reference in differential tests: create a ring, write raw 64-byte SQEs, submit them
//! with one `io_uring_enter`, and collect the CQEs.
//!
//! Only NOPs and invalid SQEs are ever sent (callers guarantee it) — and multishot reads
//! of a pipe into a provided-buffer ring this module owns ([`PbufRing`]): nothing here
//! lets the kernel write memory beyond the ring and those buffers.

use std::io;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use fwring::abi::IoUringParams;
use fwring::{Cqe, Sqe};

const IORING_OFF_SQ_RING: i64 = 0;
const IORING_OFF_SQES: i64 = 0x1000_0000;
const IORING_ENTER_GETEVENTS: u32 = 1 << 0;
const IORING_ENTER_EXT_ARG: u32 = 1 << 3;
const IORING_FEAT_SINGLE_MMAP: u32 = 1 << 0;

/// `struct io_uring_getevents_arg`.
#[repr(C)]
struct GeteventsArg {
    sigmask: u64,
    sigmask_sz: u32,
    min_wait_usec: u32,
    ts: u64,
}

/// `struct __kernel_timespec`.
#[repr(C)]
struct KernelTimespec {
    tv_sec: i64,
    tv_nsec: i64,
}

struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn new(fd: i32, len: usize, offset: i64) -> io::Result<Mapping> {
        // SAFETY: a fresh shared mapping of the ring fd at a documented io_uring offset;
        // the kernel validates fd, length and offset.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                offset,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping { ptr: NonNull::new(p.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?, len })
    }

    /// The `u32` at byte offset `off`, as an atomic.
    fn atomic(&self, off: u32) -> &AtomicU32 {
        assert!(off as usize + 4 <= self.len && off.is_multiple_of(4));
        let p = self.ptr.as_ptr().wrapping_add(off as usize).cast::<AtomicU32>();
        // SAFETY: in bounds and 4-aligned (checked above) inside a mapping that lives as
        // long as `self`; ring header words are shared with the kernel and only accessed
        // atomically.
        unsafe { &*p }
    }

    fn at(&self, off: usize) -> *mut u8 {
        assert!(off < self.len);
        self.ptr.as_ptr().wrapping_add(off)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the region mapped in `new`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// A kernel io_uring instance.
pub struct KernelRing {
    fd: i32,
    params: IoUringParams,
    rings: Mapping,
    cq_rings: Option<Mapping>,
    sqes: Mapping,
}

fn enter(fd: i32, to_submit: u32, min_complete: u32, flags: u32, arg: *const GeteventsArg) -> io::Result<u32> {
    let argsz = if arg.is_null() { 0 } else { std::mem::size_of::<GeteventsArg>() };
    // SAFETY: io_uring_enter with a valid ring fd; `arg` is null or points to a live
    // getevents argument of the size passed.
    let r = unsafe { libc::syscall(libc::SYS_io_uring_enter, fd, to_submit, min_complete, flags, arg, argsz) };
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(r as u32) }
}

impl KernelRing {
    /// `io_uring_setup(entries, {flags, cq_entries})`.
    pub fn new(entries: u32, flags: u32, cq_entries: u32) -> io::Result<KernelRing> {
        let mut params = IoUringParams { flags, cq_entries, ..Default::default() };
        // SAFETY: io_uring_setup writes into `params`, a live 120-byte io_uring_params.
        let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, entries, &mut params as *mut IoUringParams) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = fd as i32;
        let close_on_err = |e: io::Error| {
            // SAFETY: closing the fd we just created, on an error path.
            unsafe { libc::close(fd) };
            e
        };
        let sq_len = params.sq_off.array as usize + params.sq_entries as usize * 4;
        let cq_len = params.cq_off.cqes as usize + params.cq_entries as usize * std::mem::size_of::<Cqe>();
        let single = params.features & IORING_FEAT_SINGLE_MMAP != 0;
        let rings = Mapping::new(fd, if single { sq_len.max(cq_len) } else { sq_len }, IORING_OFF_SQ_RING)
            .map_err(close_on_err)?;
        let cq_rings = if single { None } else { Some(Mapping::new(fd, cq_len, 0x800_0000).map_err(close_on_err)?) };
        let sqes = Mapping::new(fd, params.sq_entries as usize * 64, IORING_OFF_SQES).map_err(close_on_err)?;
        Ok(KernelRing { fd, params, rings, cq_rings, sqes })
    }

    /// The parameters the kernel reported.
    pub fn params(&self) -> &IoUringParams {
        &self.params
    }

    fn cq(&self) -> &Mapping {
        self.cq_rings.as_ref().unwrap_or(&self.rings)
    }

    /// Write `sqes` at the SQ tail (with the identity SQ index array) and submit them in
    /// one `io_uring_enter`. Returns the count the kernel consumed.
    pub fn submit(&mut self, sqes: &[Sqe]) -> io::Result<u32> {
        self.submit_and_wait(sqes, 0)
    }

    /// [`KernelRing::submit`], and wait in the same `io_uring_enter` until at least
    /// `wait` CQEs are ready.
    pub fn submit_and_wait(&mut self, sqes: &[Sqe], wait: u32) -> io::Result<u32> {
        let p = &self.params;
        let mask = self.rings.atomic(p.sq_off.ring_mask).load(Ordering::Relaxed);
        let tail_a = self.rings.atomic(p.sq_off.tail);
        let head = self.rings.atomic(p.sq_off.head).load(Ordering::Acquire);
        let mut tail = tail_a.load(Ordering::Relaxed);
        if tail.wrapping_sub(head) as usize + sqes.len() > p.sq_entries as usize {
            return Err(io::Error::other("SQ too small for the batch"));
        }
        for sqe in sqes {
            let slot = tail & mask;
            let dst = self.sqes.at(slot as usize * 64).cast::<Sqe>();
            // SAFETY: slot < sq_entries, so dst is one in-bounds, 8-aligned SQE of the
            // SQE mapping, which the kernel does not read until the tail is published.
            unsafe { dst.write(*sqe) };
            self.rings.atomic(p.sq_off.array + slot * 4).store(slot, Ordering::Relaxed);
            tail = tail.wrapping_add(1);
        }
        // Publish the SQEs: pairs with the kernel's acquire of the SQ tail.
        tail_a.store(tail, Ordering::Release);
        let flags = if wait > 0 { IORING_ENTER_GETEVENTS } else { 0 };
        enter(self.fd, sqes.len() as u32, wait, flags, ptr::null())
    }

    /// Wait until at least `min` CQEs are ready or `timeout` passes; returns how many are
    /// ready.
    pub fn wait(&mut self, min: u32, timeout: Duration) -> u32 {
        let ts = KernelTimespec { tv_sec: timeout.as_secs() as i64, tv_nsec: timeout.subsec_nanos() as i64 };
        let arg = GeteventsArg { sigmask: 0, sigmask_sz: 0, min_wait_usec: 0, ts: &ts as *const _ as u64 };
        // -ETIME on timeout is expected; anything ready is counted below either way.
        let _ = enter(self.fd, 0, min, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg);
        self.ready()
    }

    /// CQEs ready to reap.
    pub fn ready(&self) -> u32 {
        let p = &self.params;
        let tail = self.cq().atomic(p.cq_off.tail).load(Ordering::Acquire);
        let head = self.cq().atomic(p.cq_off.head).load(Ordering::Relaxed);
        tail.wrapping_sub(head)
    }

    /// Reap every ready CQE, in CQ order.
    pub fn reap(&mut self) -> Vec<Cqe> {
        let p = self.params;
        let cq = self.cq();
        let mask = cq.atomic(p.cq_off.ring_mask).load(Ordering::Relaxed);
        let head_a = cq.atomic(p.cq_off.head);
        let mut head = head_a.load(Ordering::Relaxed);
        // Pairs with the kernel's release of the CQ tail.
        let tail = cq.atomic(p.cq_off.tail).load(Ordering::Acquire);
        let mut out = Vec::new();
        while head != tail {
            let src = cq.at(p.cq_off.cqes as usize + (head & mask) as usize * 16).cast::<Cqe>();
            // SAFETY: an in-bounds, 8-aligned CQE the kernel published before `tail`.
            out.push(unsafe { src.read() });
            head = head.wrapping_add(1);
        }
        // Hand the slots back: pairs with the kernel's acquire of the CQ head.
        head_a.store(head, Ordering::Release);
        out
    }

    /// SQ ring flags (IORING_SQ_*).
    pub fn sq_flags(&self) -> u32 {
        self.rings.atomic(self.params.sq_off.flags).load(Ordering::Acquire)
    }
}

impl Drop for KernelRing {
    fn drop(&mut self) {
        // SAFETY: the ring fd we own; mappings are dropped after and stay valid until
        // unmapped regardless of the fd.
        unsafe { libc::close(self.fd) };
    }
}

/// Why the kernel reference is unavailable, or `None` if it can be used: probes
/// `io_uring_setup` once.
pub fn unavailable() -> Option<String> {
    match KernelRing::new(4, 0, 0) {
        Ok(_) => None,
        Err(e) => Some(format!("io_uring_setup refused ({e}): kernel reference unavailable")),
    }
}

/// Run one batch on a fresh kernel ring: returns `(submitted, cqes)`. Waits for
/// `expect` CQEs (up to 2 s, for io-wq stragglers), then briefly for any extra one.
pub fn run_batch(sqes: &[Sqe], setup_flags: u32, expect: usize) -> io::Result<(u32, Vec<Cqe>)> {
    let entries = (sqes.len().max(1) as u32).next_power_of_two().max(8);
    let mut ring = KernelRing::new(entries, setup_flags, 0)?;
    let taken = ring.submit(sqes)?;
    ring.wait(expect as u32, Duration::from_secs(2));
    ring.wait(expect as u32 + 1, Duration::from_millis(1));
    Ok((taken, ring.reap()))
}

const IORING_REGISTER_PBUF_RING: u32 = 22;

/// A provided-buffer ring registered on a [`KernelRing`]: `entries` `struct
/// io_uring_buf` entries in a page of their own and `entries` buffers of `size` bytes,
/// owned here (the kernel writes the buffers while the ring lives, so they are never
/// handed out as references, only copied out).
pub struct PbufRing {
    ring: Mapping,
    data: Mapping,
    entries: u16,
    size: u32,
    tail: u16,
}

impl PbufRing {
    /// Register a ring of `entries` (a power of two) buffers of `size` bytes as group
    /// `bgid` of `kr` (`IORING_REGISTER_PBUF_RING`, with `IOU_PBUF_RING_*` `flags`).
    pub fn register(kr: &KernelRing, bgid: u16, entries: u16, size: u32, flags: u16) -> io::Result<PbufRing> {
        let ring = Mapping::anonymous(entries as usize * 16)?;
        let data = Mapping::anonymous(entries as usize * size as usize)?;
        let reg = fwring::buffer::provided::IoUringBufReg {
            ring_addr: ring.ptr.as_ptr() as u64,
            ring_entries: entries as u32,
            bgid,
            flags,
            ..Default::default()
        };
        // SAFETY: io_uring_register with a valid ring fd and a live io_uring_buf_reg;
        // the ring memory stays mapped as long as the PbufRing, which the caller keeps
        // beside the KernelRing (dropping the ring fd unregisters the group).
        let r = unsafe {
            libc::syscall(libc::SYS_io_uring_register, kr.fd, IORING_REGISTER_PBUF_RING, &reg as *const _, 1)
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(PbufRing { ring, data, entries, size, tail: 0 })
    }

    /// Provide buffer `bid` (its whole slot) and advance the tail (release).
    pub fn provide(&mut self, bid: u16) {
        let i = (self.tail & (self.entries - 1)) as usize;
        let entry = fwring::IoUringBuf {
            addr: self.data.at(bid as usize * self.size as usize) as u64,
            len: self.size,
            bid,
            resv: 0,
        };
        let base = self.ring.at(i * 16);
        // Entry i of the mapped ring (in bounds, 16-aligned). The kernel reads entries
        // only up to the tail, published below, so addr/len/bid are written while it
        // does not look; resv (entry 0's is the tail) is left alone.
        // SAFETY: offset 0, 8-aligned u64 inside the entry (see above).
        unsafe { base.cast::<u64>().write_volatile(entry.addr) };
        // SAFETY: offset 8, 4-aligned u32 inside the entry.
        unsafe { base.wrapping_add(8).cast::<u32>().write_volatile(entry.len) };
        // SAFETY: offset 12, 2-aligned u16 inside the entry.
        unsafe { base.wrapping_add(12).cast::<u16>().write_volatile(entry.bid) };
        self.tail = self.tail.wrapping_add(1);
        let tail = self.ring.at(14).cast::<std::sync::atomic::AtomicU16>();
        // SAFETY: the tail overlays entry 0's resv (offset 14), 2-aligned, shared with
        // the kernel and accessed atomically; release pairs with its acquire.
        unsafe { &*tail }.store(self.tail, Ordering::Release);
    }

    /// A copy of buffer `bid`'s first `len` bytes.
    pub fn read(&self, bid: u16, len: usize) -> Vec<u8> {
        let len = len.min(self.size as usize);
        let mut out = vec![0u8; len];
        let src = self.data.at(bid as usize * self.size as usize);
        // SAFETY: in bounds of the data mapping; the kernel finished this buffer (its
        // CQE was reaped) and it was not provided again.
        unsafe { ptr::copy_nonoverlapping(src, out.as_mut_ptr(), len) };
        out
    }
}

impl Mapping {
    fn anonymous(len: usize) -> io::Result<Mapping> {
        // SAFETY: a fresh private anonymous mapping, zero-filled.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping { ptr: NonNull::new(p.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?, len })
    }
}
