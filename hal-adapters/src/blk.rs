//! A block device over any [`NorFlash`]: read / write / flush / discard by LBA, with a
//! configurable block size and read-modify-write of partial erase blocks.
//!
//! A NOR flash cannot rewrite a byte: programming only clears bits, and only whole erase
//! blocks (4 KiB on a typical SPI NOR) can be set back to 0xFF. [`BlockDev`] hides that:
//!
//! - **Read** goes straight from the flash into the request's destination segments
//!   (zero-copy), except for the bytes of the erase block held in the cache, which come
//!   from the cache (they may be newer than the flash).
//! - **Write** loads the erase block into a scratch buffer (unless the write covers all
//!   of it), patches it, and writes it back: on a device with a **cache**
//!   ([`BlockDev::with_cache`], a caller-provided `&'static mut [u8]`) when another erase
//!   block is written, on `FLUSH`, or at once with the `FUA` flag — eight sequential
//!   512-byte writes into a 4 KiB erase block cost one erase, not eight. A device without
//!   a cache ([`BlockDev::new`]) writes through, with a scratch buffer the SQE brings in
//!   descriptor B (registered memory, one segment of at least `ERASE_SIZE` bytes).
//! - **Write-back erases only when it must**: it compares the flash with the new
//!   contents; if every changed write word is still erased (0xFF), it programs just those
//!   words; otherwise it erases the block and programs its words that are not 0xFF. A
//!   fresh flash filled sequentially is never erased; no word is ever programmed twice
//!   between erases (flash with ECC forbids that).
//! - **Discard** erases the erase blocks it covers entirely (they read back 0xFF);
//!   blocks in partly covered erase blocks are left as they are — a discard is a hint,
//!   as in Linux without `discard_zeroes_data`.
//!
//! | command | A | B | `len` | `file_index` | flags | CQE `res` |
//! |---|---|---|---|---|---|---|
//! | [`cmd::READ`] | — | required | LBA | 0 | — | bytes read |
//! | [`cmd::WRITE`] | required | scratch, iff no cache | LBA | 0 | `CHAIN_LEN`, [`FUA`] | bytes written |
//! | [`cmd::FLUSH`] | — | — | 0 | 0 | — | 0 |
//! | [`cmd::DISCARD`] | — | — | LBA | block count | — | 0 |
//! | [`cmd::BLOCKS`] | — | — | 0 | 0 | — | number of blocks |
//!
//! Checked at prep: the transfer length must be a non-zero multiple of the block size and
//! every destination segment a multiple of the flash's `READ_SIZE` (-EINVAL); the blocks
//! must lie inside the device (-EFAULT); the scratch must be one segment of at least
//! `ERASE_SIZE` bytes (-EINVAL). Flash errors map through their kind (see
//! [`crate::errno`]).
//!
//! **Power loss.** The cache is volatile, like a disk's write cache: data written
//! without `FUA` or a later `FLUSH` is lost on power loss. A write-back that must erase
//! is not atomic: power lost between erase and program loses the erase block's old
//! contents. A write-back that fails leaves the block dirty in the cache, so a later
//! `FLUSH` retries it.

use core::marker::PhantomData;

use embedded_storage::nor_flash::{ErrorType, NorFlash, ReadNorFlash};
use fwring::{BufDesc, Errno, Issue, IssueCx, Op, PrepCx, Sqe};

use crate::driver::StaticDriver;
use crate::errno;
use crate::io::{self, Done, Views};
use crate::nor::check_range;
use crate::sqe::{self, Args, CHAIN_LEN, Use};

/// Block commands (op flag bits 23..16).
pub mod cmd {
    /// Read blocks into B.
    pub const READ: u8 = 0;
    /// Write A's blocks.
    pub const WRITE: u8 = 1;
    /// Write the cache back.
    pub const FLUSH: u8 = 2;
    /// Discard blocks.
    pub const DISCARD: u8 = 3;
    /// Complete with the number of blocks.
    pub const BLOCKS: u8 = 4;
}

/// Flag (write): write the cache back before completing (forced unit access).
pub const FUA: u16 = 1 << 8;

/// Bytes compared per flash read when deciding whether a write-back must erase.
const CMP_CHUNK: usize = 64;

/// Which erase block the scratch holds, and whether it differs from the flash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct CacheState {
    at: Option<u32>,
    dirty: bool,
}

/// A block device over the NOR flash `F`.
pub struct BlockDev<F> {
    flash: F,
    block_size: u32,
    blocks: u32,
    cache: Option<&'static mut [u8]>,
    state: CacheState,
}

/// The geometry and cache state; the flash itself need not be `Debug`.
impl<F> core::fmt::Debug for BlockDev<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BlockDev")
            .field("block_size", &self.block_size)
            .field("blocks", &self.blocks)
            .field("cache", &self.cache.as_ref().map(|c| c.len()))
            .finish_non_exhaustive()
    }
}

impl<F: NorFlash> BlockDev<F> {
    /// A write-through block device of `block_size`-byte blocks: its writes bring their
    /// own scratch buffer (descriptor B). -EINVAL if the geometry does not fit: a block
    /// size of 0 or not a multiple of `READ_SIZE`, an erase block not a multiple of
    /// `READ_SIZE` and `WRITE_SIZE`, a capacity not a whole number of erase blocks or
    /// smaller than one block.
    pub fn new(flash: F, block_size: u32) -> Result<Self, Errno> {
        let e = F::ERASE_SIZE;
        let bs = block_size as usize;
        let cap = flash.capacity();
        let ok = bs > 0
            && bs.is_multiple_of(F::READ_SIZE.max(1))
            && e > 0
            && e.is_multiple_of(F::READ_SIZE.max(1))
            && e.is_multiple_of(F::WRITE_SIZE.max(1))
            && cap.is_multiple_of(e)
            && cap >= bs
            && u32::try_from(cap).is_ok();
        if !ok {
            return Err(Errno::EINVAL);
        }
        Ok(BlockDev { flash, block_size, blocks: (cap / bs) as u32, cache: None, state: CacheState::default() })
    }

    /// A block device with a write-back cache of one erase block in `scratch` (at least
    /// `ERASE_SIZE` bytes, else -EINVAL; other errors as [`BlockDev::new`]).
    pub fn with_cache(flash: F, block_size: u32, scratch: &'static mut [u8]) -> Result<Self, Errno> {
        if scratch.len() < F::ERASE_SIZE {
            return Err(Errno::EINVAL);
        }
        let mut dev = Self::new(flash, block_size)?;
        dev.cache = Some(scratch);
        Ok(dev)
    }

    /// Block size in bytes.
    pub fn block_size(&self) -> u32 {
        self.block_size
    }

    /// Number of blocks.
    pub fn blocks(&self) -> u32 {
        self.blocks
    }

    /// Whether the device has a write-back cache.
    pub fn has_cache(&self) -> bool {
        self.cache.is_some()
    }

    /// Whether the cache holds data not yet on the flash.
    pub fn is_dirty(&self) -> bool {
        self.state.dirty
    }

    /// The flash.
    pub fn flash(&self) -> &F {
        &self.flash
    }

    /// The flash, writable. Bypasses the cache: [`BlockDev::flush`] first, and the cached
    /// block is dropped here so later reads see what was done.
    pub fn flash_mut(&mut self) -> &mut F {
        if !self.state.dirty {
            self.state.at = None;
        }
        &mut self.flash
    }

    /// Give the flash and the scratch back (flush first: a dirty cache is dropped).
    pub fn into_parts(self) -> (F, Option<&'static mut [u8]>) {
        (self.flash, self.cache)
    }

    /// Read whole blocks from `lba` into `buf` (its length a multiple of the block size).
    pub fn read_blocks(&mut self, lba: u32, buf: &mut [u8]) -> Result<(), Errno> {
        let pos = self.span(lba, buf.len() as u64)?;
        self.read_segs(pos, &mut [buf]).map_err(|e| errno::nor(&e))
    }

    /// Write whole blocks from `data` at `lba` through the cache (-EINVAL without one).
    pub fn write_blocks(&mut self, lba: u32, data: &[u8]) -> Result<(), Errno> {
        let pos = self.span(lba, data.len() as u64)?;
        let (flash, state) = (&mut self.flash, &mut self.state);
        let buf = self.cache.as_deref_mut().ok_or(Errno::EINVAL)?;
        Rmw::new(flash, buf, state).write(pos, &[data], false).map_err(|e| errno::nor(&e))
    }

    /// Write the cache back, if dirty.
    pub fn flush(&mut self) -> Result<(), Errno> {
        self.flush_raw().map_err(|e| errno::nor(&e))
    }

    /// Discard `count` blocks from `lba` (see the module docs).
    pub fn discard(&mut self, lba: u32, count: u32) -> Result<(), Errno> {
        let pos = self.span(lba, u64::from(count) * u64::from(self.block_size))?;
        let len = u64::from(count) * u64::from(self.block_size);
        self.discard_raw(pos, len).map_err(|e| errno::nor(&e))
    }

    /// The byte offset of `len` bytes at `lba`: -EINVAL unless a non-zero multiple of
    /// the block size, -EFAULT past the end.
    fn span(&self, lba: u32, len: u64) -> Result<u32, Errno> {
        let bs = u64::from(self.block_size);
        if len == 0 || !len.is_multiple_of(bs) {
            return Err(Errno::EINVAL);
        }
        check_range(self.blocks as usize, u64::from(lba), len / bs)?;
        u32::try_from(u64::from(lba) * bs).map_err(|_| Errno::EFAULT)
    }

    fn flush_raw(&mut self) -> Result<(), F::Error> {
        let (flash, state) = (&mut self.flash, &mut self.state);
        match self.cache.as_deref_mut() {
            Some(buf) => Rmw::new(flash, buf, state).writeback(),
            None => Ok(()),
        }
    }

    /// Read `dst` from byte `pos`: the cached erase block from the cache, the rest from
    /// the flash, in place.
    fn read_segs(&mut self, pos: u32, dst: &mut [&mut [u8]]) -> Result<(), F::Error> {
        let e = F::ERASE_SIZE as u32;
        let cached = match (self.state.at, self.cache.as_deref()) {
            (Some(eb), Some(buf)) => Some((eb * e, eb * e + e, buf)),
            _ => None,
        };
        let mut p = pos;
        for seg in dst.iter_mut() {
            let mut rest: &mut [u8] = seg;
            while !rest.is_empty() {
                let len = rest.len() as u32;
                let piece = match cached {
                    // Before the cached block: read up to its start from the flash.
                    Some((start, _, _)) if p < start => (start - p).min(len),
                    // Inside it: copy from the cache.
                    Some((start, end, buf)) if p < end => {
                        let n = (end - p).min(len);
                        let (head, tail) = core::mem::take(&mut rest).split_at_mut(n as usize);
                        head.copy_from_slice(&buf[(p - start) as usize..(p - start + n) as usize]);
                        rest = tail;
                        p += n;
                        continue;
                    }
                    _ => len,
                };
                let (head, tail) = core::mem::take(&mut rest).split_at_mut(piece as usize);
                self.flash.read(p, head)?;
                rest = tail;
                p += piece;
            }
        }
        Ok(())
    }

    /// Erase the erase blocks inside `[pos, pos + len)`; drop the cached one if among
    /// them.
    fn discard_raw(&mut self, pos: u32, len: u64) -> Result<(), F::Error> {
        let e = F::ERASE_SIZE as u64;
        let first = (u64::from(pos)).div_ceil(e);
        let end = (u64::from(pos) + len) / e;
        if first >= end {
            return Ok(());
        }
        if let Some(at) = self.state.at
            && (first..end).contains(&u64::from(at))
        {
            self.state = CacheState::default();
        }
        self.flash.erase((first * e) as u32, (end * e) as u32)
    }
}

/// Read-modify-write of erase blocks through one scratch buffer.
struct Rmw<'s, F> {
    flash: &'s mut F,
    buf: &'s mut [u8],
    st: &'s mut CacheState,
}

impl<'s, F: NorFlash> Rmw<'s, F> {
    fn new(flash: &'s mut F, buf: &'s mut [u8], st: &'s mut CacheState) -> Self {
        Rmw { flash, buf, st }
    }

    /// Write `src` (its segments back to back) at byte `pos`; with `through`, write each
    /// erase block back as soon as it is patched.
    fn write(&mut self, pos: u32, src: &[&[u8]], through: bool) -> Result<(), F::Error> {
        let e = F::ERASE_SIZE;
        let total: usize = src.iter().map(|s| s.len()).sum();
        let mut segs = src.iter().copied();
        let mut cur: &[u8] = &[];
        let mut done = 0usize;
        while done < total {
            let p = pos as usize + done;
            let (eb, off) = ((p / e) as u32, p % e);
            let n = (e - off).min(total - done);
            self.load(eb, off == 0 && n == e)?;
            // Copy n bytes of the source into the scratch at `off`.
            let mut at = off;
            while at < off + n {
                if cur.is_empty() {
                    cur = segs.next().unwrap_or_default();
                    if cur.is_empty() {
                        break;
                    }
                }
                let k = cur.len().min(off + n - at);
                self.buf[at..at + k].copy_from_slice(&cur[..k]);
                cur = &cur[k..];
                at += k;
            }
            self.st.dirty = true;
            if through {
                self.writeback()?;
            }
            done += n;
        }
        Ok(())
    }

    /// Make the scratch hold erase block `eb` (written back first if it held another,
    /// dirty one); `whole`: it is about to be overwritten entirely, do not read it.
    fn load(&mut self, eb: u32, whole: bool) -> Result<(), F::Error> {
        if self.st.at == Some(eb) {
            return Ok(());
        }
        self.writeback()?;
        self.st.at = None;
        let e = F::ERASE_SIZE;
        if !whole {
            self.flash.read(eb * e as u32, &mut self.buf[..e])?;
        }
        *self.st = CacheState { at: Some(eb), dirty: false };
        Ok(())
    }

    /// Write the scratch back to its erase block if dirty, erasing only if needed.
    fn writeback(&mut self) -> Result<(), F::Error> {
        let (Some(eb), true) = (self.st.at, self.st.dirty) else { return Ok(()) };
        let (e, w) = (F::ERASE_SIZE, F::WRITE_SIZE.max(1));
        let base = eb * e as u32;
        let comparable = w <= CMP_CHUNK && CMP_CHUNK.is_multiple_of(w) && CMP_CHUNK.is_multiple_of(F::READ_SIZE.max(1));
        if comparable && !self.must_erase(base)? {
            self.program_changed(base)?;
        } else {
            self.flash.erase(base, base + e as u32)?;
            self.program_runs(base, |_, word| word.iter().any(|&b| b != 0xff))?;
        }
        self.st.dirty = false;
        Ok(())
    }

    /// Whether some changed write word of the block is not erased on the flash.
    fn must_erase(&mut self, base: u32) -> Result<bool, F::Error> {
        let w = F::WRITE_SIZE.max(1);
        let mut tmp = [0u8; CMP_CHUNK];
        for (i, new) in self.buf[..F::ERASE_SIZE].chunks(CMP_CHUNK).enumerate() {
            let old = &mut tmp[..new.len()];
            self.flash.read(base + (i * CMP_CHUNK) as u32, old)?;
            if old.chunks(w).zip(new.chunks(w)).any(|(o, n)| o != n && o.iter().any(|&b| b != 0xff)) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Program the words that differ from the flash (all erased there).
    fn program_changed(&mut self, base: u32) -> Result<(), F::Error> {
        let mut tmp = [0u8; CMP_CHUNK];
        let e = F::ERASE_SIZE;
        let mut at = 0;
        while at < e {
            let n = CMP_CHUNK.min(e - at);
            let old = &mut tmp[..n];
            self.flash.read(base + at as u32, old)?;
            let old: &[u8] = old;
            let chunk_base = at;
            self.program_runs_in(base, chunk_base, n, |off, word| word != &old[off - chunk_base..][..word.len()])?;
            at += n;
        }
        Ok(())
    }

    /// Program the runs of words of the whole block for which `pick(offset, word)`.
    fn program_runs(&mut self, base: u32, pick: impl Fn(usize, &[u8]) -> bool) -> Result<(), F::Error> {
        self.program_runs_in(base, 0, F::ERASE_SIZE, pick)
    }

    /// Program the runs of picked words within `[from, from + len)` of the block.
    fn program_runs_in(
        &mut self,
        base: u32,
        from: usize,
        len: usize,
        pick: impl Fn(usize, &[u8]) -> bool,
    ) -> Result<(), F::Error> {
        let w = F::WRITE_SIZE.max(1);
        let mut run: Option<usize> = None;
        let mut at = from;
        while at <= from + len {
            let picked = at < from + len && pick(at, &self.buf[at..at + w]);
            match (run, picked) {
                (None, true) => run = Some(at),
                (Some(start), false) => {
                    self.flash.write(base + start as u32, &self.buf[start..at])?;
                    run = None;
                }
                _ => {}
            }
            at += w;
        }
        Ok(())
    }
}

impl<F: NorFlash> ErrorType for BlockDev<F> {
    type Error = F::Error;
}

/// The flash under a block device, for [`crate::nor`] ops on the same chip: reads see
/// the cache's data (it is written back first), writes and erases drop the cached block.
impl<F: NorFlash> ReadNorFlash for BlockDev<F> {
    const READ_SIZE: usize = F::READ_SIZE;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.flush_raw()?;
        self.flash.read(offset, bytes)
    }

    fn capacity(&self) -> usize {
        self.flash.capacity()
    }
}

impl<F: NorFlash> NorFlash for BlockDev<F> {
    const WRITE_SIZE: usize = F::WRITE_SIZE;
    const ERASE_SIZE: usize = F::ERASE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        self.flush_raw()?;
        self.state = CacheState::default();
        self.flash.erase(from, to)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.flush_raw()?;
        self.state = CacheState::default();
        self.flash.write(offset, bytes)
    }
}

/// The block op for the [`BlockDev`] `D` names.
pub struct Block<D>(PhantomData<D>);

op_debug!(Block);

/// What prep needs to know of the device.
struct Geometry {
    block_size: u64,
    blocks: u64,
    cache: bool,
    read_size: usize,
    erase_size: usize,
}

impl<D, F> Op for Block<D>
where
    D: StaticDriver<Hal = BlockDev<F>>,
    F: NorFlash + 'static,
{
    type Pdu = Args;

    fn prep(cx: &mut PrepCx<'_>, sqe: &Sqe) -> Result<Args, Errno> {
        let command = check_command(cx, sqe)?;
        let g = D::with(|b| Geometry {
            block_size: u64::from(b.block_size),
            blocks: u64::from(b.blocks),
            cache: b.has_cache(),
            read_size: F::READ_SIZE,
            erase_size: F::ERASE_SIZE,
        })?;
        let (a, b) = match command {
            cmd::READ => (Use::No, Use::Required),
            cmd::WRITE if g.cache => (Use::Required, Use::No),
            cmd::WRITE => (Use::Required, Use::Required),
            _ => (Use::No, Use::No),
        };
        let p = sqe::parse(cx, sqe, a, b)?;
        let lba = u64::from(p.args.arg0);
        check_transfer(cx, &p, command, g.block_size, g.blocks, g.read_size)?;
        match command {
            cmd::WRITE => {
                if let Some(scratch) = &p.b {
                    let mut segs = 0;
                    let first = sqe::for_each_seg(cx, scratch, |_| {
                        segs += 1;
                        Ok(())
                    })?;
                    if segs != 1 || first < g.erase_size as u64 {
                        return Err(Errno::EINVAL);
                    }
                }
            }
            cmd::DISCARD => {
                let count = u64::from(p.args.arg1);
                check_range(g.blocks as usize, lba, count)?;
                if count == 0 {
                    return Err(Errno::EINVAL);
                }
            }
            _ => {}
        }
        Ok(p.args)
    }

    fn issue(cx: &mut IssueCx<'_>, args: &mut Args) -> Issue {
        let args = *args;
        io::run(cx, &args, |v| D::with(|dev| block_issue(dev, &args, v))?)
    }
}

fn block_issue<F: NorFlash>(dev: &mut BlockDev<F>, args: &Args, v: &mut Views<'_, '_>) -> Result<Done, Errno> {
    let lba = args.arg0;
    let nor = |e: F::Error| errno::nor(&e);
    match args.cmd {
        cmd::READ => {
            let dst = v.dst.as_mut().ok_or(Errno::EINVAL)?;
            let pos = dev.span(lba, dst.len() as u64)?;
            let n = dst.len();
            dev.read_segs(pos, dst.slices_mut()).map_err(nor)?;
            Ok(Done { res: n, produced: Some(n) })
        }
        cmd::WRITE => {
            let src = v.src.as_ref().ok_or(Errno::EINVAL)?;
            // CHAIN_LEN may have cut the source: check the length again.
            let pos = dev.span(lba, src.len() as u64)?;
            let n = src.len();
            let (flash, state) = (&mut dev.flash, &mut dev.state);
            match (dev.cache.as_deref_mut(), v.dst.as_mut()) {
                (Some(buf), _) => {
                    let mut rmw = Rmw::new(flash, buf, state);
                    rmw.write(pos, src.slices(), false).map_err(nor)?;
                    if args.has(FUA) {
                        rmw.writeback().map_err(nor)?;
                    }
                }
                (None, Some(scratch)) => {
                    let e = F::ERASE_SIZE;
                    let buf = scratch.slices_mut().first_mut().and_then(|s| s.get_mut(..e)).ok_or(Errno::EINVAL)?;
                    let mut once = CacheState::default();
                    Rmw::new(flash, buf, &mut once).write(pos, src.slices(), true).map_err(nor)?;
                }
                (None, None) => return Err(Errno::EINVAL),
            }
            Ok(Done::res(n))
        }
        cmd::FLUSH => dev.flush_raw().map(|()| Done::res(0)).map_err(nor),
        cmd::DISCARD => {
            let len = u64::from(args.arg1) * u64::from(dev.block_size);
            let pos = dev.span(lba, len)?;
            dev.discard_raw(pos, len).map(|()| Done::res(0)).map_err(nor)
        }
        _ => Ok(Done::res(dev.blocks as usize)),
    }
}

/// `READ`: fill `dst` from block `lba` on.
pub fn read(slot: u8, lba: u32, dst: &BufDesc) -> Sqe {
    sqe::build(slot, cmd::READ, 0, None, Some(dst), lba, 0)
}

/// `WRITE`: write `src` at block `lba` (device with a cache).
pub fn write(slot: u8, lba: u32, src: &BufDesc) -> Sqe {
    sqe::build(slot, cmd::WRITE, 0, Some(src), None, lba, 0)
}

/// `WRITE` with `FUA`: written back to the flash before the CQE (device with a cache).
pub fn write_fua(slot: u8, lba: u32, src: &BufDesc) -> Sqe {
    sqe::build(slot, cmd::WRITE, FUA, Some(src), None, lba, 0)
}

/// `WRITE` through a scratch buffer in registered memory (device without a cache).
pub fn write_through(slot: u8, lba: u32, src: &BufDesc, scratch: &BufDesc) -> Sqe {
    sqe::build(slot, cmd::WRITE, 0, Some(src), Some(scratch), lba, 0)
}

/// `FLUSH`.
pub fn flush(slot: u8) -> Sqe {
    sqe::build(slot, cmd::FLUSH, 0, None, None, 0, 0)
}

/// `DISCARD` `count` blocks from `lba`.
pub fn discard(slot: u8, lba: u32, count: u32) -> Sqe {
    sqe::build(slot, cmd::DISCARD, 0, None, None, lba, count)
}

/// `BLOCKS`: complete with the number of blocks.
pub fn blocks(slot: u8) -> Sqe {
    sqe::build(slot, cmd::BLOCKS, 0, None, None, 0, 0)
}

/// The checks of the `blk` encoding every block layer makes first (`BlockDev`, the FTL):
/// a known command, only its flags, arguments only where it has them (-EINVAL).
/// Returns the command.
pub(crate) fn check_command(cx: &PrepCx<'_>, sqe: &Sqe) -> Result<u8, Errno> {
    let command = sqe::cmd(cx.info());
    let flags = sqe::flags(cx.info());
    let (allowed, arg0, arg1) = match command {
        cmd::READ => (0, true, false),
        cmd::WRITE => (CHAIN_LEN | FUA, true, false),
        cmd::FLUSH | cmd::BLOCKS => (0, false, false),
        cmd::DISCARD => (0, true, true),
        _ => return Err(Errno::EINVAL),
    };
    if flags & !allowed != 0 || (!arg0 && sqe.len != 0) || (!arg1 && sqe.file_index != 0) {
        return Err(Errno::EINVAL);
    }
    Ok(command)
}

/// A READ's destination or a WRITE's source against the device: inside it (-EFAULT), a
/// whole number of blocks (-EINVAL; a WRITE under `CHAIN_LEN` is checked at issue), a
/// READ's segments in units the flash reads (-EINVAL). Other commands pass.
pub(crate) fn check_transfer(
    cx: &PrepCx<'_>,
    p: &sqe::Parsed,
    command: u8,
    block_size: u64,
    blocks: u64,
    read_size: usize,
) -> Result<(), Errno> {
    let lba = u64::from(p.args.arg0);
    let whole = |len: u64| if len > 0 && len.is_multiple_of(block_size) { Ok(()) } else { Err(Errno::EINVAL) };
    match command {
        cmd::READ => {
            let dst = p.b.ok_or(Errno::EINVAL)?;
            let len = sqe::total_len(cx, &dst)?;
            check_range(blocks as usize, lba, len / block_size)?;
            whole(len)?;
            sqe::aligned_len(cx, &dst, read_size).map(drop)
        }
        cmd::WRITE => {
            let src = p.a.ok_or(Errno::EINVAL)?;
            let len = sqe::total_len(cx, &src)?;
            check_range(blocks as usize, lba, len / block_size)?;
            if p.args.has(CHAIN_LEN) { Ok(()) } else { whole(len) }
        }
        _ => Ok(()),
    }
}
