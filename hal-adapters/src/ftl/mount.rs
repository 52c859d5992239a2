//! Format and mount (recovery after a cut).

use embedded_storage_async::nor_flash::NorFlash;

use super::format::{HDR, Kind, NONE, Record, SegHeader, SegState};
use super::geometry::{FtlConfig, Geometry};
use super::map::Cache;
use super::{Ftl, FtlError, FtlStats, Ring};

use super::R;

/// A mount or format that failed: why, and the flash and RAM back.
pub struct Refused<F: embedded_storage::nor_flash::ErrorType> {
    /// Why.
    pub error: FtlError<<F as embedded_storage::nor_flash::ErrorType>::Error>,
    /// The flash, untouched by mount (format may have erased part of it).
    pub flash: F,
    /// The RAM lent.
    pub ram: &'static mut [u8],
}

impl<F: NorFlash> core::fmt::Debug for Refused<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Refused").field("error", &self.error).finish()
    }
}

fn refuse<F: NorFlash>(error: FtlError<F::Error>, flash: F, ram: &'static mut [u8]) -> Refused<F> {
    Refused { error, flash, ram }
}

impl<F: NorFlash> Ftl<F> {
    fn bare(flash: F, geo: Geometry, ram: &'static mut [u8]) -> Self {
        Ftl {
            flash,
            geo,
            ram,
            cache: Cache::default(),
            ring: Ring::default(),
            unverified: 0,
            stats: FtlStats::default(),
        }
    }

    /// Erase the flash and lay out an empty device (every block reads zeros). `ram` must
    /// hold [`Geometry::ram_needed`] bytes.
    pub async fn format(flash: F, config: &FtlConfig, ram: &'static mut [u8]) -> Result<Self, Refused<F>> {
        let geo = match Geometry::new(flash.capacity(), F::ERASE_SIZE, F::WRITE_SIZE, F::READ_SIZE, config) {
            Ok(g) if ram.len() >= g.ram_needed() => g,
            Ok(_) => return Err(refuse(FtlError::Ram, flash, ram)),
            Err(e) => return Err(refuse(e, flash, ram)),
        };
        let mut ftl = Self::bare(flash, geo, ram);
        match ftl.lay_out().await {
            Ok(()) => Ok(ftl),
            Err(e) => Err(refuse(e, ftl.flash, ftl.ram)),
        }
    }

    async fn lay_out(&mut self) -> R<(), F> {
        let (n, size) = (self.geo.segs, self.geo.seg_size);
        // Segment 0 last: until its header is written, the flash holds no FTL.
        for s in (0..n).rev() {
            self.io().erase(s * size, (s + 1) * size, 1).await?;
        }
        self.clear_dir();
        let h = self.seg_header(1);
        self.io().program(0, zerocopy::IntoBytes::as_bytes(&h)).await?;
        self.ring = Ring { head: 0, wp: 0, tail: 0, used: 1, seq: 2, ckpt: 0, since_ckpt: 0 };
        self.checkpoint().await
    }

    /// Mount a formatted flash, recovering after a power cut. Mount writes nothing, so a
    /// cut during it changes nothing. Refused: a blank or foreign flash
    /// ([`FtlError::NotFormatted`]), a newer format ([`FtlError::Version`]), an image
    /// that contradicts itself ([`FtlError::Corrupt`]), too little RAM.
    pub async fn mount(flash: F, ram: &'static mut [u8]) -> Result<Self, Refused<F>> {
        let mut flash = flash;
        let geo = match Self::find_geometry(&mut flash).await {
            Ok(g) if ram.len() >= g.ram_needed() => g,
            Ok(_) => return Err(refuse(FtlError::Ram, flash, ram)),
            Err(e) => return Err(refuse(e, flash, ram)),
        };
        let mut ftl = Self::bare(flash, geo, ram);
        match ftl.recover().await {
            Ok(()) => Ok(ftl),
            Err(e) => Err(refuse(e, ftl.flash, ftl.ram)),
        }
    }

    /// Mount, or format with `config` if the flash holds no FTL at all (blank or
    /// foreign: [`FtlError::NotFormatted`]). Any other refusal — a newer version, a
    /// corrupt image — is returned, never formatted over.
    pub async fn mount_or_format(flash: F, config: &FtlConfig, ram: &'static mut [u8]) -> Result<Self, Refused<F>> {
        match Self::mount(flash, ram).await {
            Err(Refused { error: FtlError::NotFormatted, flash, ram }) => Self::format(flash, config, ram).await,
            other => other,
        }
    }

    /// The geometry the first readable segment header describes.
    async fn find_geometry(flash: &mut F) -> R<Geometry, F> {
        let e = F::ERASE_SIZE as u32;
        let blocks = flash.capacity() as u32 / e.max(1);
        let mut version = None;
        for b in 0..blocks {
            let mut raw = [0u8; HDR];
            flash.read(b * e, &mut raw).await.map_err(FtlError::Flash)?;
            match SegHeader::parse(&raw) {
                SegState::Valid(h) => {
                    let config = FtlConfig::new(h.block_size)
                        .erase_per_seg(h.erase_per_seg)
                        .blocks(h.blocks)
                        .map_cache(h.map_cache)
                        .ckpt_every(h.ckpt_every);
                    let geo = Geometry::new(flash.capacity(), F::ERASE_SIZE, F::WRITE_SIZE, F::READ_SIZE, &config)
                        .map_err(|_: FtlError<F::Error>| {
                            FtlError::Corrupt("the segment header describes an impossible geometry")
                        })?;
                    if b % geo.erase_per_seg != 0 {
                        continue;
                    }
                    return Ok(geo);
                }
                SegState::Version(v) => version = Some(v),
                _ => {}
            }
        }
        Err(version.map_or(FtlError::NotFormatted, FtlError::Version))
    }

    /// Segment `s`'s header, if valid and of this device's geometry.
    async fn seg(&mut self, s: u32) -> R<Option<SegHeader>, F> {
        let at = s * self.geo.seg_size;
        let raw = self.io().header(at).await?;
        Ok(match SegHeader::parse(&raw) {
            SegState::Valid(h) if h == SegHeader { seq: h.seq, ..self.seg_header(h.seq) } => Some(h),
            SegState::Valid(_) => return Err(FtlError::Corrupt("segments disagree on the geometry")),
            SegState::Version(v) => return Err(FtlError::Version(v)),
            _ => None,
        })
    }

    async fn recover(&mut self) -> R<(), F> {
        let (n, p) = (self.geo.segs, self.geo.slots_per_seg);
        // The head: the newest segment.
        let mut head = None::<(u32, u64)>;
        for s in 0..n {
            if let Some(h) = self.seg(s).await?
                && head.is_none_or(|(_, q)| h.seq > q)
            {
                head = Some((s, h.seq));
            }
        }
        let (head, head_seq) = head.ok_or(FtlError::NotFormatted)?;
        // The journal: back from the head while sequence numbers fall.
        let (mut tail, mut used, mut last) = (head, 1, head_seq);
        while used < n {
            let s = (tail + n - 1) % n;
            match self.seg(s).await? {
                Some(h) if h.seq < last => {
                    tail = s;
                    used += 1;
                    last = h.seq;
                }
                _ => break,
            }
        }
        // Where writing stopped: after the last slot that is not blank.
        let mut wp = 0;
        for i in (0..p).rev() {
            let at = self.geo.slot_addr(head * p + i);
            let len = self.geo.slot_size();
            if !self.io().is_blank(at, len).await? {
                wp = i + 1;
                break;
            }
        }
        self.ring = Ring { head, wp, tail, used, seq: head_seq.saturating_add(1), ckpt: NONE, since_ckpt: 0 };
        self.unverified = n - used;
        // The newest checkpoint: back from the head, one segment at a time.
        let mut ckpt = None;
        for back in 0..used {
            let s = (head + n - back) % n;
            let end = if s == head { wp } else { p };
            for i in 0..end {
                if let Some(r) = self.record(s * p + i).await?
                    && r.kind == Kind::Checkpoint
                {
                    ckpt = Some((s * p + i, r));
                }
            }
            if ckpt.is_some() {
                self.ring.since_ckpt = back;
                break;
            }
        }
        let (cg, crec) = match ckpt {
            Some(c) => c,
            // Format's own segment without its first checkpoint: format was cut short.
            None if used == 1 && head_seq == 1 => return Err(FtlError::NotFormatted),
            None => return Err(FtlError::Corrupt("no checkpoint in the journal")),
        };
        self.load_checkpoint(cg, crec).await?;
        self.replay(cg).await
    }

    async fn load_checkpoint(&mut self, g: u32, rec: Record) -> R<(), F> {
        if rec.count != self.geo.map_pages {
            return Err(FtlError::Corrupt("the checkpoint has the wrong number of map pages"));
        }
        self.clear_dir();
        let len = self.geo.dir_len();
        let addr = self.geo.slot_addr(g);
        let mut io = super::log::Io { flash: &mut self.flash, stats: &mut self.stats };
        io.read(addr, &mut self.ram[..len]).await?;
        if fwring::ops::crc32c::crc32c(&self.ram[..len]) != rec.data_crc {
            return Err(FtlError::Corrupt("the checkpoint failed its CRC"));
        }
        let slots = self.geo.slots();
        if (0..self.geo.map_pages).any(|m| self.dir(m) != NONE && self.dir(m) >= slots) {
            return Err(FtlError::Corrupt("the checkpoint points outside the flash"));
        }
        self.ring.ckpt = g;
        self.ring.seq = self.ring.seq.max(rec.seq.saturating_add(1));
        Ok(())
    }

    /// Apply the records after the checkpoint in slot `from`, in journal order.
    async fn replay(&mut self, from: u32) -> R<(), F> {
        let (n, p) = (self.geo.segs, self.geo.slots_per_seg);
        self.cache.replaying = true;
        let mut g = from;
        let end = (self.ring.head * p + self.ring.wp) % (n * p);
        let mut last_seq = 0;
        while g != end {
            g += 1;
            if g.is_multiple_of(p) {
                g %= n * p;
            }
            if g == end {
                break;
            }
            let Some(r) = self.record(g).await? else { continue };
            if r.seq <= last_seq {
                return Err(FtlError::Corrupt("sequence numbers go back in the journal"));
            }
            last_seq = r.seq;
            self.ring.seq = self.ring.seq.max(r.seq.saturating_add(1));
            match r.kind {
                Kind::Data if r.lba < self.geo.blocks => self.replay_data(r.lba, g).await?,
                Kind::Map if r.lba < self.geo.map_pages => self.replay_map(r.lba, g),
                Kind::Trim => self.replay_trim(r.lba, r.count).await?,
                // A checkpoint after the newest cannot be; a record out of range either.
                _ => return Err(FtlError::Corrupt("a record out of range after the checkpoint")),
            }
        }
        self.cache.replaying = false;
        Ok(())
    }
}
