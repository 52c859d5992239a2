//! The memory the host and device processes share: the queue pair, then the host's
//! data window (the "host memory" the device DMAs to and from), in one memfd mapping.
//!
//! Every access to the mapping, by either process, is an aligned atomic load or store
//! (`QueuePair` works that way; the window is read and written as `AtomicU64` words), so
//! whatever a hostile peer writes, and whenever, no data race or out-of-bounds access is
//! possible: sizes come from the constants below, never from shared memory. This module
//! holds the simulator's only `unsafe`: mapping the memory and viewing it as atomics.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use fwring::Errno;
use fwring::shm::QueuePair;

/// SQ entries of the shared queue pair.
pub const SQ: usize = 128;
/// CQ entries of the shared queue pair.
pub const CQ: usize = 256;
/// Requests the device's ring has in flight at most.
pub const INFLIGHT: usize = 128;
/// Window slots: a slot carries one piece of a host request (and has a staging buffer of
/// the same size and offset on the device).
pub const SLOTS: usize = 64;
/// Bytes per window slot (the largest piece of a request).
pub const PIECE: usize = 64 * 1024;
/// Bytes of the window.
pub const WINDOW_BYTES: usize = SLOTS * PIECE;

/// The shared queue pair's type.
pub type Qp = QueuePair<SQ, CQ>;

/// Where the window starts in the mapping (the queue pair first, page-aligned after).
pub const WINDOW_OFFSET: usize = size_of::<Qp>().next_multiple_of(4096);
/// Where the doorbells are (a page after the window).
pub const BELLS_OFFSET: usize = WINDOW_OFFSET + WINDOW_BYTES;
/// Bytes of the whole mapping.
pub const SHM_BYTES: usize = BELLS_OFFSET + 4096;

/// The shared mapping.
pub struct Shared {
    map: memmap2::MmapRaw,
    file: File,
}

impl Shared {
    /// A fresh anonymous mapping (memfd, inherited by child processes), zeroed, with an
    /// initialised queue pair.
    pub fn create() -> io::Result<Self> {
        // SAFETY: a NUL-terminated name and valid flags; the result is checked.
        let fd = unsafe { libc::memfd_create(c"fwring-sim-shm".as_ptr(), 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nobody else.
        let file = unsafe { File::from_raw_fd(fd) };
        file.set_len(SHM_BYTES as u64)?;
        let s = Self::map(file)?;
        s.qp().init(0);
        Ok(s)
    }

    /// The mapping behind an inherited descriptor (the device process's side). The
    /// descriptor must be a file of at least [`SHM_BYTES`] bytes.
    pub fn open_fd(fd: RawFd) -> io::Result<Self> {
        // SAFETY: fstat on any descriptor is safe; the result is checked.
        let ok = unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0;
        if !ok {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("descriptor {fd} is not open")));
        }
        // SAFETY: the descriptor is open and handed to this process to own.
        let file = unsafe { File::from_raw_fd(fd) };
        if file.metadata()?.len() < SHM_BYTES as u64 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "shared memory too small"));
        }
        Self::map(file)
    }

    fn map(file: File) -> io::Result<Self> {
        let map = memmap2::MmapOptions::new().len(SHM_BYTES).map_raw(&file)?;
        Ok(Shared { map, file })
    }

    /// The descriptor (for the child process).
    pub fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// The queue pair at the start of the mapping.
    pub fn qp(&self) -> &Qp {
        let ptr = self.map.as_mut_ptr().cast::<Qp>();
        // SAFETY: the mapping is page-aligned (so 64-byte aligned), SHM_BYTES long (more
        // than the pair), initialised (a file mapping reads as its bytes), and lives as
        // long as `self`; every access to it, here and in the peer process, is an
        // aligned 32-bit atomic one (QueuePair's and Window's accessors only).
        unsafe { Qp::from_ptr(ptr) }
    }

    /// The data window.
    pub fn window(&self) -> Window<'_> {
        // SAFETY: WINDOW_OFFSET is inside the SHM_BYTES mapping.
        let ptr = unsafe { self.map.as_mut_ptr().add(WINDOW_OFFSET) }.cast::<AtomicU64>();
        // SAFETY: page-aligned, WINDOW_BYTES long inside the mapping, valid for `self`'s
        // lifetime; any bit pattern is a valid AtomicU64 and every access through this
        // view (and in the peer) is atomic, so concurrent writes by the peer are no race.
        let words = unsafe { std::slice::from_raw_parts(ptr, WINDOW_BYTES / 8) };
        Window { words }
    }
}

impl Shared {
    /// The device's doorbell: rung by the host after it publishes SQEs, and by the
    /// device's flash controller after it completes a request.
    pub fn device_bell(&self) -> Bell<'_> {
        self.bell(0)
    }

    /// The host's doorbell: rung by the device after it publishes CQEs, and by NBD
    /// threads after they queue a request.
    pub fn host_bell(&self) -> Bell<'_> {
        self.bell(1)
    }

    fn bell(&self, i: usize) -> Bell<'_> {
        // SAFETY: BELLS_OFFSET + 16·i + 8 is inside the SHM_BYTES mapping.
        let ptr = unsafe { self.map.as_mut_ptr().add(BELLS_OFFSET + 16 * i) }.cast::<AtomicU32>();
        // SAFETY: 16-byte aligned words inside the mapping, valid for `self`'s lifetime,
        // only ever accessed atomically (here and in the peer); any value is valid.
        let words = unsafe { std::slice::from_raw_parts(ptr, 2) };
        Bell { seq: &words[0], sleeping: &words[1] }
    }
}

/// A doorbell in shared memory: a sequence word the waker bumps (and futex-wakes when
/// the sleeper said it sleeps) and the sleeper waits on. A hostile peer writing these
/// words can only cause a spurious wake-up or a missed one, which the waiter's timeout
/// bounds.
#[derive(Clone, Copy)]
pub struct Bell<'a> {
    seq: &'a AtomicU32,
    sleeping: &'a AtomicU32,
}

impl Bell<'_> {
    /// The current sequence number (read before the last look for work).
    pub fn value(&self) -> u32 {
        self.seq.load(Ordering::SeqCst)
    }

    /// Ring: bump the sequence, wake the sleeper if there is one.
    pub fn ring(&self) {
        self.seq.fetch_add(1, Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) != 0 {
            // SAFETY: FUTEX_WAKE on an aligned, mapped word; no pointer is dereferenced
            // beyond it.
            unsafe { libc::syscall(libc::SYS_futex, self.seq.as_ptr(), libc::FUTEX_WAKE, i32::MAX, 0, 0, 0) };
        }
    }

    /// Sleep until rung after `seen`, or `timeout`.
    pub fn wait(&self, seen: u32, timeout: std::time::Duration) {
        self.sleeping.store(1, Ordering::SeqCst);
        if self.seq.load(Ordering::SeqCst) == seen {
            let ts = libc::timespec { tv_sec: timeout.as_secs() as libc::time_t, tv_nsec: timeout.subsec_nanos() as _ };
            // SAFETY: FUTEX_WAIT on an aligned, mapped word with a valid timespec; it
            // returns at once if the word no longer holds `seen`.
            unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    self.seq.as_ptr(),
                    libc::FUTEX_WAIT,
                    seen,
                    &ts as *const libc::timespec,
                    0,
                    0,
                )
            };
        }
        self.sleeping.store(0, Ordering::SeqCst);
    }
}

/// The data window, as 64-bit atomic words.
#[derive(Clone, Copy)]
pub struct Window<'a> {
    words: &'a [AtomicU64],
}

impl Window<'_> {
    /// The words of `len` bytes at `off`: -EINVAL unless 8-byte aligned, -EFAULT outside.
    fn span(&self, off: u64, len: usize) -> Result<&[AtomicU64], Errno> {
        if !off.is_multiple_of(8) || !len.is_multiple_of(8) {
            return Err(Errno::EINVAL);
        }
        let first = usize::try_from(off / 8).map_err(|_| Errno::EFAULT)?;
        let end = first.checked_add(len / 8).ok_or(Errno::EFAULT)?;
        self.words.get(first..end).ok_or(Errno::EFAULT)
    }

    /// Copy out of the window.
    pub fn read(&self, off: u64, dst: &mut [u8]) -> Result<(), Errno> {
        for (w, d) in self.span(off, dst.len())?.iter().zip(dst.chunks_exact_mut(8)) {
            // Relaxed: the queue's acquire/release on its indices orders the data.
            d.copy_from_slice(&w.load(Ordering::Relaxed).to_ne_bytes());
        }
        Ok(())
    }

    /// Copy into the window.
    pub fn write(&self, off: u64, src: &[u8]) -> Result<(), Errno> {
        for (w, s) in self.span(off, src.len())?.iter().zip(src.chunks_exact(8)) {
            w.store(u64::from_ne_bytes(s.try_into().unwrap_or_default()), Ordering::Relaxed);
        }
        Ok(())
    }

    /// Fill `len` bytes at `off` with zeros.
    pub fn zero(&self, off: u64, len: usize) -> Result<(), Errno> {
        for w in self.span(off, len)? {
            w.store(0, Ordering::Relaxed);
        }
        Ok(())
    }
}
