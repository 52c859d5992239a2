//! The logical-to-physical map: map pages in flash, a directory of them in RAM, a few
//! pages cached, and checkpoints that make the cached changes and the directory
//! durable.
//!
//! RAM layout (the buffer the caller lends): the directory (`dir_len` bytes, one
//! little-endian word per map page), one scratch block, then `map_cache` page buffers.
//!
//! Invariant: a page changed since it was last written stays cached (only clean pages
//! are evicted; with every line dirty, the least recently used one is written first).
//! Replay mirrors the cache: a data or trim record dirties its page, a map record
//! cleans it (its page holds every earlier change), so at every point of the journal
//! replay holds the same dirty pages the device held — at most `map_cache` — and fits
//! the cache without writing anything.

use embedded_storage_async::nor_flash::NorFlash;

use super::format::{Kind, NONE, Record};
use super::geometry::MAX_CACHE;
use super::{Ftl, FtlError};

use super::R;

/// One cached map page.
#[derive(Clone, Copy, Debug)]
struct Line {
    page: u32,
    dirty: bool,
    stamp: u32,
}

/// The cache's bookkeeping (the pages themselves are in the lent RAM).
#[derive(Debug, Default)]
pub(super) struct Cache {
    lines: heapless::Vec<Line, MAX_CACHE>,
    clock: u32,
    /// Mount is replaying: a checkpoint (a write) would be a broken invariant.
    pub replaying: bool,
}

impl<F: NorFlash> Ftl<F> {
    /// Where the scratch block starts in the RAM.
    pub(super) fn scratch_at(&self) -> usize {
        self.geo.dir_len()
    }

    fn line_at(&self, i: usize) -> usize {
        self.geo.dir_len() + self.geo.block_size as usize * (i + 1)
    }

    fn word(&self, at: usize) -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.ram[at..at + 4]);
        u32::from_le_bytes(b)
    }

    fn set_word(&mut self, at: usize, v: u32) {
        self.ram[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// The slot holding map page `m`, or [`NONE`].
    pub(super) fn dir(&self, m: u32) -> u32 {
        self.word(m as usize * 4)
    }

    pub(super) fn set_dir(&mut self, m: u32, g: u32) {
        self.set_word(m as usize * 4, g);
    }

    /// An empty directory: no map page written.
    pub(super) fn clear_dir(&mut self) {
        let n = self.geo.dir_len();
        self.ram[..n].fill(0xff);
        self.cache = Cache::default();
    }

    fn find(&self, m: u32) -> Option<usize> {
        self.cache.lines.iter().position(|l| l.page == m)
    }

    /// The slot block `lba` lives in, or [`NONE`]. A page not cached is not loaded: the
    /// one entry is read from the flash.
    pub(super) async fn map_get(&mut self, lba: u32) -> R<u32, F> {
        let (m, off) = (lba / self.geo.per_page, (lba % self.geo.per_page) as usize * 4);
        if let Some(i) = self.find(m) {
            // Cached pages passed the check below when loaded, or hold our own entries.
            return Ok(self.word(self.line_at(i) + off));
        }
        let g = self.dir(m);
        if g == NONE {
            return Ok(NONE);
        }
        if g >= self.geo.slots() {
            return Err(FtlError::Corrupt("the directory points outside the flash"));
        }
        let mut b = [0u8; 4];
        let at = self.geo.slot_addr(g) + off as u32;
        self.io().read(at, &mut b).await?;
        match u32::from_le_bytes(b) {
            e if e == NONE || e < self.geo.slots() => Ok(e),
            _ => Err(FtlError::Corrupt("a map entry points outside the flash")),
        }
    }

    /// Set the entry of `lba` in cached line `line` (from [`Ftl::cache_page`]).
    pub(super) fn set_entry(&mut self, line: usize, lba: u32, g: u32) {
        let at = self.line_at(line) + (lba % self.geo.per_page) as usize * 4;
        self.set_word(at, g);
        self.cache.lines[line].dirty = true;
    }

    /// Cache map page `m` and return its line; `fresh`: it is about to be wholly
    /// unmapped, start it empty instead of reading it. May checkpoint (not while
    /// replaying).
    pub(super) async fn cache_page(&mut self, m: u32, fresh: bool) -> R<usize, F> {
        self.cache.clock = self.cache.clock.wrapping_add(1);
        let stamp = self.cache.clock;
        let bs = self.geo.block_size as usize;
        if let Some(i) = self.find(m) {
            self.cache.lines[i].stamp = stamp;
            if fresh {
                let at = self.line_at(i);
                self.ram[at..at + bs].fill(0xff);
            }
            return Ok(i);
        }
        let i = if self.cache.lines.len() < self.geo.map_cache as usize {
            let _ = self.cache.lines.push(Line { page: NONE, dirty: false, stamp });
            self.cache.lines.len() - 1
        } else {
            if self.cache.lines.iter().all(|l| l.dirty) {
                if self.cache.replaying {
                    return Err(FtlError::Corrupt("replay touches more map pages than the cache holds"));
                }
                // Write the least recently used page (one slot; replay sees its record
                // and drops the older changes it already holds).
                let lru = self.cache.lines.iter().enumerate().min_by_key(|(_, l)| l.stamp).map(|(i, _)| i);
                self.write_line(lru.ok_or(FtlError::Corrupt("an empty map cache"))?).await?;
            }
            let lru = self.cache.lines.iter().enumerate().filter(|(_, l)| !l.dirty).min_by_key(|(_, l)| l.stamp);
            lru.map(|(i, _)| i).ok_or(FtlError::Corrupt("no clean map page after a checkpoint"))?
        };
        self.cache.lines[i] = Line { page: NONE, dirty: false, stamp };
        let at = self.line_at(i);
        let g = self.dir(m);
        if fresh || g == NONE {
            self.ram[at..at + bs].fill(0xff);
        } else {
            self.load_page(g, m, at).await?;
        }
        self.cache.lines[i].page = m;
        Ok(i)
    }

    /// Read map page `m` from slot `g` into the RAM at `at`, checking its record.
    pub(super) async fn load_page(&mut self, g: u32, m: u32, at: usize) -> R<(), F> {
        let bs = self.geo.block_size as usize;
        let addr = self.geo.slot_addr(g);
        let mut io = self.io();
        let raw = io.header(addr + bs as u32).await?;
        let rec = Record::parse(&raw).filter(|r| r.kind == Kind::Map && r.lba == m);
        let rec = rec.ok_or(FtlError::Corrupt("the directory points to a slot without its map page"))?;
        self.flash_read_ram(addr, at, bs).await?;
        if fwring::ops::crc32c::crc32c(&self.ram[at..at + bs]) != rec.data_crc {
            return Err(FtlError::Corrupt("a map page failed its CRC"));
        }
        let slots = self.geo.slots();
        let bad = self.ram[at..at + bs].chunks_exact(4).any(|e| {
            let e = u32::from_le_bytes([e[0], e[1], e[2], e[3]]);
            e != NONE && e >= slots
        });
        if bad {
            return Err(FtlError::Corrupt("a map page points outside the flash"));
        }
        Ok(())
    }

    async fn flash_read_ram(&mut self, addr: u32, at: usize, len: usize) -> R<(), F> {
        let mut io = super::log::Io { flash: &mut self.flash, stats: &mut self.stats };
        io.read(addr, &mut self.ram[at..at + len]).await
    }

    /// Write map page `m` to a new slot (from the cache, loading it first if needed):
    /// its record holds every change so far, so the page is clean afterwards.
    pub(super) async fn write_page(&mut self, m: u32) -> R<(), F> {
        let i = self.cache_page(m, false).await?;
        self.write_line(i).await
    }

    /// Write cached line `i`'s page to a new slot; it is clean afterwards.
    async fn write_line(&mut self, i: usize) -> R<(), F> {
        let m = self.cache.lines[i].page;
        let g = self.append_ram(Kind::Map, m, 0, self.line_at(i), self.geo.block_size as usize).await?;
        self.set_dir(m, g);
        self.cache.lines[i].dirty = false;
        Ok(())
    }

    /// Write every dirty map page, then the directory as a checkpoint record.
    pub async fn checkpoint(&mut self) -> R<(), F> {
        for i in 0..self.cache.lines.len() {
            if self.cache.lines[i].dirty {
                self.write_line(i).await?;
            }
        }
        let g = self.append_ram(Kind::Checkpoint, 0, self.geo.map_pages, 0, self.geo.dir_len()).await?;
        self.ring.ckpt = g;
        self.ring.since_ckpt = 0;
        self.stats.checkpoints += 1;
        Ok(())
    }

    /// Discard `count` blocks from `lba`, one trim record per map page touched.
    pub(super) async fn trim_range(&mut self, lba: u32, count: u32) -> R<(), F> {
        let (k, end) = (self.geo.per_page, lba + count);
        let mut at = lba;
        while at < end {
            let m = at / k;
            let stop = end.min((m + 1) * k);
            self.make_room().await?;
            let whole = at == m * k && stop == (m + 1) * k;
            let line = self.cache_page(m, whole).await?;
            self.append_trim(at, stop - at).await?;
            self.unmap(line, at, stop);
            at = stop;
        }
        Ok(())
    }

    /// Unmap `[from, to)` (one map page's worth) in cached line `line`.
    fn unmap(&mut self, line: usize, from: u32, to: u32) {
        for lba in from..to {
            self.set_entry(line, lba, NONE);
        }
        self.cache.lines[line].dirty = true;
    }

    /// Replay a data record: block `lba` is in slot `g`.
    pub(super) async fn replay_data(&mut self, lba: u32, g: u32) -> R<(), F> {
        let line = self.cache_page(lba / self.geo.per_page, false).await?;
        self.set_entry(line, lba, g);
        Ok(())
    }

    /// Replay a map record: page `m` is in slot `g`, newer than any cached copy.
    pub(super) fn replay_map(&mut self, m: u32, g: u32) {
        self.set_dir(m, g);
        if let Some(i) = self.find(m) {
            // Emptied in place: a line's buffer is at a fixed place in the RAM.
            self.cache.lines[i] = Line { page: NONE, dirty: false, stamp: 0 };
        }
    }

    /// Replay a trim record (within one map page).
    pub(super) async fn replay_trim(&mut self, lba: u32, count: u32) -> R<(), F> {
        let k = self.geo.per_page;
        let m = lba / k;
        let end = lba.saturating_add(count);
        if count == 0 || end > self.geo.blocks || (end - 1) / k != m {
            return Err(FtlError::Corrupt("a trim record spans map pages"));
        }
        let whole = lba == m * k && end == (m + 1) * k;
        let line = self.cache_page(m, whole).await?;
        self.unmap(line, lba, end);
        Ok(())
    }
}
