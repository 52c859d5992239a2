//! The journal: slots appended at the head, segments opened in ring order, the tail
//! reclaimed by garbage collection, and the flash I/O underneath (counted).

use embedded_storage_async::nor_flash::NorFlash;
use fwring::ops::crc32c::update;

use super::format::{HDR, Kind, MAGIC, NONE, Record, SegHeader, VERSION};
use super::geometry::MAX_WRITE;
use super::{Ftl, FtlError, FtlStats};

use super::R;

/// Counted flash access.
pub(super) struct Io<'a, F> {
    pub flash: &'a mut F,
    pub stats: &'a mut FtlStats,
}

impl<F: NorFlash> Io<'_, F> {
    pub async fn read(&mut self, at: u32, buf: &mut [u8]) -> R<(), F> {
        self.stats.reads += 1;
        self.stats.bytes_read += buf.len() as u64;
        self.flash.read(at, buf).await.map_err(FtlError::Flash)
    }

    pub async fn program(&mut self, at: u32, buf: &[u8]) -> R<(), F> {
        self.stats.programs += 1;
        self.stats.bytes_programmed += buf.len() as u64;
        self.flash.write(at, buf).await.map_err(FtlError::Flash)
    }

    pub async fn erase(&mut self, from: u32, to: u32, segs: u64) -> R<(), F> {
        self.stats.erases += segs;
        self.flash.erase(from, to).await.map_err(FtlError::Flash)
    }

    pub async fn header(&mut self, at: u32) -> R<[u8; HDR], F> {
        let mut h = [0u8; HDR];
        self.read(at, &mut h).await?;
        Ok(h)
    }

    /// Program the concatenation of `pieces` at `at`, in whole program words straight
    /// from the pieces, bouncing only the words that straddle two pieces (and the last,
    /// padded with 0xFF). Returns the CRC-32C of the bytes.
    pub async fn program_pieces<'p>(&mut self, mut at: u32, pieces: impl Iterator<Item = &'p [u8]>) -> R<u32, F> {
        let w = F::WRITE_SIZE.max(1);
        let mut crc = !0u32;
        let mut word = [0xffu8; MAX_WRITE];
        let mut fill = 0usize;
        for mut p in pieces {
            crc = update(crc, p);
            if fill > 0 {
                let k = (w - fill).min(p.len());
                word[fill..fill + k].copy_from_slice(&p[..k]);
                fill += k;
                p = &p[k..];
                if fill < w {
                    continue;
                }
                self.program(at, &word[..w]).await?;
                at += w as u32;
            }
            let direct = p.len() / w * w;
            if direct > 0 {
                self.program(at, &p[..direct]).await?;
                at += direct as u32;
            }
            let rest = &p[direct..];
            word[..rest.len()].copy_from_slice(rest);
            fill = rest.len();
        }
        if fill > 0 {
            word[fill..w].fill(0xff);
            self.program(at, &word[..w]).await?;
        }
        Ok(!crc)
    }

    /// Whether `len` bytes at `at` are all erased.
    pub async fn is_blank(&mut self, at: u32, len: u32) -> R<bool, F> {
        let mut buf = [0u8; 256];
        let mut off = 0;
        while off < len {
            let n = (len - off).min(buf.len() as u32);
            self.read(at + off, &mut buf[..n as usize]).await?;
            if buf[..n as usize].iter().any(|&b| b != 0xff) {
                return Ok(false);
            }
            off += n;
        }
        Ok(true)
    }
}

/// The pieces of `segs` (back to back) that cover `[start, start + len)`.
pub(super) fn pieces<'p>(segs: &'p [&'p [u8]], start: usize, len: usize) -> impl Iterator<Item = &'p [u8]> + 'p {
    let mut off = 0usize;
    segs.iter().filter_map(move |s| {
        let (lo, hi) = (off, off + s.len());
        off = hi;
        let (a, b) = (lo.max(start), hi.min(start + len));
        (a < b).then(|| &s[a - lo..b - lo])
    })
}

impl<F: NorFlash> Ftl<F> {
    pub(super) fn io(&mut self) -> Io<'_, F> {
        Io { flash: &mut self.flash, stats: &mut self.stats }
    }

    /// The segment header this device writes, with sequence number `seq`.
    pub(super) fn seg_header(&self, seq: u64) -> SegHeader {
        SegHeader {
            magic: MAGIC,
            version: VERSION,
            erase_per_seg: self.geo.erase_per_seg as u16,
            block_size: self.geo.block_size,
            blocks: self.geo.blocks,
            seq,
            ckpt_every: self.geo.ckpt_every as u16,
            map_cache: self.geo.map_cache as u16,
            crc: 0,
        }
        .sealed()
    }

    /// The next slot and its sequence number, opening the next segment if the head is
    /// full. Never collects garbage (callers make room first).
    pub(super) async fn next_slot(&mut self) -> R<(u32, u64), F> {
        if self.ring.wp == self.geo.slots_per_seg {
            self.open_next().await?;
        }
        let g = self.ring.head * self.geo.slots_per_seg + self.ring.wp;
        self.ring.wp += 1;
        let seq = self.ring.seq;
        self.ring.seq += 1;
        Ok((g, seq))
    }

    /// Move the head into the next segment: make sure it is erased, write its header.
    async fn open_next(&mut self) -> R<(), F> {
        if self.ring.used >= self.geo.segs {
            return Err(FtlError::NoSpace);
        }
        let next = (self.ring.head + 1) % self.geo.segs;
        let (base, size) = (next * self.geo.seg_size, self.geo.seg_size);
        if self.unverified > 0 {
            // Free since before mount: a cut may have torn its erase.
            self.unverified -= 1;
            if !self.io().is_blank(base, size).await? {
                self.io().erase(base, base + size, 1).await?;
            }
        }
        let seq = self.ring.seq;
        self.ring.seq += 1;
        let h = self.seg_header(seq);
        self.io().program(base, zerocopy::IntoBytes::as_bytes(&h)).await?;
        self.ring.head = next;
        self.ring.wp = 0;
        self.ring.used += 1;
        self.ring.since_ckpt += 1;
        Ok(())
    }

    /// Append a record whose payload is `pieces` of `segs`; its CRC is computed here
    /// unless `crc` is given (a moved payload keeps its own).
    pub(super) async fn append_from(
        &mut self,
        kind: Kind,
        lba: u32,
        count: u32,
        segs: &[&[u8]],
        start: usize,
        len: usize,
    ) -> R<u32, F> {
        let (g, seq) = self.next_slot().await?;
        let addr = self.geo.slot_addr(g);
        let data_crc = self.io().program_pieces(addr, pieces(segs, start, len)).await?;
        let rec = Record { kind, lba, seq, count, data_crc };
        let at = addr + self.geo.block_size;
        self.io().program(at, &rec.encode()).await?;
        Ok(g)
    }

    /// Append a record whose payload is `ram[range]`.
    pub(super) async fn append_ram(&mut self, kind: Kind, lba: u32, count: u32, at: usize, len: usize) -> R<u32, F> {
        let (g, seq) = self.next_slot().await?;
        let addr = self.geo.slot_addr(g);
        let mut io = Io { flash: &mut self.flash, stats: &mut self.stats };
        let data_crc = io.program_pieces(addr, core::iter::once(&self.ram[at..at + len])).await?;
        let rec = Record { kind, lba, seq, count, data_crc };
        io.program(addr + self.geo.block_size, &rec.encode()).await?;
        Ok(g)
    }

    /// Append a trim record (no payload).
    pub(super) async fn append_trim(&mut self, lba: u32, count: u32) -> R<u32, F> {
        let (g, seq) = self.next_slot().await?;
        let addr = self.geo.slot_addr(g) + self.geo.block_size;
        let rec = Record { kind: Kind::Trim, lba, seq, count, data_crc: !update(!0, &[]) };
        self.io().program(addr, &rec.encode()).await?;
        Ok(g)
    }

    /// The record in slot `g`, if its header checks.
    pub(super) async fn record(&mut self, g: u32) -> R<Option<Record>, F> {
        let at = self.geo.slot_addr(g) + self.geo.block_size;
        let raw = self.io().header(at).await?;
        Ok(Record::parse(&raw))
    }

    /// Before a host write: checkpoint if replay would grow past `ckpt_every`
    /// segments, and collect the tail until `reserve` segments are free.
    pub(super) async fn make_room(&mut self) -> R<(), F> {
        if self.ring.since_ckpt >= self.geo.ckpt_every {
            self.checkpoint().await?;
        }
        let mut rounds = 0;
        while self.free_segments() < self.geo.reserve {
            rounds += 1;
            if rounds > 2 * self.geo.segs {
                return Err(FtlError::NoSpace);
            }
            self.collect_tail().await?;
        }
        Ok(())
    }

    /// Garbage collection of the oldest segment: move its live data to the head, write
    /// its live map pages and checkpoint again if it held them, then erase it.
    async fn collect_tail(&mut self) -> R<(), F> {
        let t = self.ring.tail;
        if t == self.ring.head {
            return Err(FtlError::NoSpace);
        }
        let p = self.geo.slots_per_seg;
        let need_ckpt = self.ring.ckpt / p == t;
        for i in 0..p {
            let g = t * p + i;
            let Some(rec) = self.record(g).await? else { continue };
            match rec.kind {
                Kind::Data if rec.lba < self.geo.blocks && self.map_get(rec.lba).await? == g => {
                    self.relocate(g, rec).await?;
                }
                // A live map page moves like data: written again, its newer record
                // wins at replay. Only the checkpoint itself forces a new one.
                Kind::Map if rec.lba < self.geo.map_pages && self.dir(rec.lba) == g => {
                    self.write_page(rec.lba).await?;
                }
                _ => {}
            }
        }
        if need_ckpt {
            self.checkpoint().await?;
        }
        let base = t * self.geo.seg_size;
        let end = base + self.geo.seg_size;
        self.io().erase(base, end, 1).await?;
        self.ring.tail = (t + 1) % self.geo.segs;
        self.ring.used -= 1;
        Ok(())
    }

    /// Copy the data record in slot `g` to the head (through the scratch block).
    async fn relocate(&mut self, g: u32, rec: Record) -> R<(), F> {
        let line = self.cache_page(rec.lba / self.geo.per_page, false).await?;
        let (at, bs) = (self.scratch_at(), self.geo.block_size as usize);
        let addr = self.geo.slot_addr(g);
        let mut io = Io { flash: &mut self.flash, stats: &mut self.stats };
        io.read(addr, &mut self.ram[at..at + bs]).await?;
        let (ng, seq) = self.next_slot().await?;
        let naddr = self.geo.slot_addr(ng);
        let mut io = Io { flash: &mut self.flash, stats: &mut self.stats };
        io.program_pieces(naddr, core::iter::once(&self.ram[at..at + bs])).await?;
        // The payload keeps its own CRC: a block that decayed stays detectably bad.
        let moved = Record { seq, ..rec };
        io.program(naddr + self.geo.block_size, &moved.encode()).await?;
        self.set_entry(line, rec.lba, ng);
        self.stats.moved += 1;
        Ok(())
    }

    /// Read block `lba` into `dst` (segments back to back) at byte `start`.
    pub(super) async fn read_block(&mut self, lba: u32, dst: &mut [&mut [u8]], start: usize) -> R<(), F> {
        let g = self.map_get(lba).await?;
        let bs = self.geo.block_size as usize;
        let mut off = 0usize;
        if g == NONE {
            for s in dst.iter_mut() {
                let (lo, hi) = (off, off + s.len());
                off = hi;
                let (a, b) = (lo.max(start), hi.min(start + bs));
                if a < b {
                    s[a - lo..b - lo].fill(0);
                }
            }
            return Ok(());
        }
        let addr = self.geo.slot_addr(g);
        let rec = match self.record(g).await? {
            Some(r) if r.kind == Kind::Data && r.lba == lba => r,
            _ => return Err(FtlError::Corrupt("a map entry points to a slot without its block")),
        };
        let mut crc = !0u32;
        let mut io = self.io();
        for s in dst.iter_mut() {
            let (lo, hi) = (off, off + s.len());
            off = hi;
            let (a, b) = (lo.max(start), hi.min(start + bs));
            if a < b {
                let piece = &mut s[a - lo..b - lo];
                io.read(addr + (a - start) as u32, piece).await?;
                crc = update(crc, piece);
            }
        }
        if !crc != rec.data_crc {
            return Err(FtlError::BadData);
        }
        Ok(())
    }

    /// Write block `lba` from `src` (segments back to back) at byte `start`.
    pub(super) async fn write_block(&mut self, lba: u32, src: &[&[u8]], start: usize) -> R<(), F> {
        self.make_room().await?;
        // The map page first: caching it may checkpoint, which must come before the
        // record so that replay after that checkpoint sees the record.
        let line = self.cache_page(lba / self.geo.per_page, false).await?;
        let g = self.append_from(Kind::Data, lba, 0, src, start, self.geo.block_size as usize).await?;
        self.set_entry(line, lba, g);
        self.stats.host_blocks += 1;
        Ok(())
    }
}
