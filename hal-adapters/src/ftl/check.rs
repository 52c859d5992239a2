//! The consistency check: every directory entry points to its map page, every map
//! entry to a data slot that holds that block, CRCs good, all inside the journal.

use embedded_storage_async::nor_flash::NorFlash;

use super::format::{Kind, NONE};
use super::{Ftl, FtlError};

use super::R;

/// What [`Ftl::check`] found on a consistent device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// Logical blocks mapped (written and not discarded).
    pub mapped: u32,
    /// Map pages in flash.
    pub map_pages: u32,
    /// Segments in use (tail to head).
    pub used_segments: u32,
    /// The head segment.
    pub head: u32,
    /// The tail segment.
    pub tail: u32,
}

impl<F: NorFlash> Ftl<F> {
    /// Check the device against itself: every directory entry points to its map page
    /// (CRC good), every map entry to a data slot holding that block (CRC good), all in
    /// segments of the journal.
    pub async fn check(&mut self) -> R<CheckReport, F> {
        let (k, bs) = (self.geo.per_page, self.geo.block_size as usize);
        let mut mapped = 0;
        let mut pages = 0;
        for m in 0..self.geo.map_pages {
            let g = self.dir(m);
            if g != NONE {
                self.check_slot(g)?;
                let at = self.scratch_at();
                self.load_page(g, m, at).await?;
                pages += 1;
            }
            let first = m * k;
            for lba in first..(first + k).min(self.geo.blocks) {
                let g = self.map_get(lba).await?;
                if g == NONE {
                    continue;
                }
                self.check_slot(g)?;
                match self.record(g).await? {
                    Some(r) if r.kind == Kind::Data && r.lba == lba => {
                        let crc = self.slot_crc(g, bs).await?;
                        if crc != r.data_crc {
                            return Err(FtlError::BadData);
                        }
                    }
                    _ => return Err(FtlError::Corrupt("a map entry points to a slot without its block")),
                }
                mapped += 1;
            }
        }
        Ok(CheckReport {
            mapped,
            map_pages: pages,
            used_segments: self.ring.used,
            head: self.ring.head,
            tail: self.ring.tail,
        })
    }

    /// Whether slot `g` lies in a segment of the journal (tail to head, before the
    /// write pointer).
    fn check_slot(&self, g: u32) -> R<(), F> {
        let (n, p) = (self.geo.segs, self.geo.slots_per_seg);
        let s = g / p;
        let age = (self.ring.head + n - s) % n;
        if g >= n * p || age >= self.ring.used || (s == self.ring.head && g % p >= self.ring.wp) {
            return Err(FtlError::Corrupt("a map entry points outside the journal"));
        }
        Ok(())
    }

    /// CRC-32C of slot `g`'s `len`-byte payload, read in pieces.
    async fn slot_crc(&mut self, g: u32, len: usize) -> R<u32, F> {
        let addr = self.geo.slot_addr(g);
        let mut crc = !0u32;
        let mut buf = [0u8; 128];
        let mut off = 0;
        while off < len {
            let k = (len - off).min(buf.len());
            self.io().read(addr + off as u32, &mut buf[..k]).await?;
            crc = fwring::ops::crc32c::update(crc, &buf[..k]);
            off += k;
        }
        Ok(!crc)
    }
}
