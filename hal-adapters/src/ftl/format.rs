//! The on-flash format: segment headers and slot records, each sealed by a CRC-32C.
//!
//! A **segment** is one or more erase blocks, erased and written as a unit. It starts
//! with a [`SegHeader`] (32 bytes) and then holds `slots_per_seg` **slots** of
//! `block_size + 32` bytes: a payload (a data block, a map page, a checkpoint) followed
//! by its [`SlotHeader`]. A slot is programmed payload first, header last, so a header
//! whose CRC checks commits a payload that was completely programmed; a torn program
//! leaves a header that is blank or fails its CRC, and the slot is skipped.
//!
//! All integers are little-endian. The layout is pinned by const assertions.

use fwring::ops::crc32c::crc32c;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `"FWFT"`: the first word of every segment header.
pub const MAGIC: u32 = u32::from_le_bytes(*b"FWFT");
/// The format version this code writes and reads; a newer one is refused.
pub const VERSION: u16 = 1;
/// The first half-word of every slot header.
pub const SLOT_MAGIC: u16 = 0x5a17;
/// Bytes of a header (segment or slot).
pub const HDR: usize = 32;
/// A map or directory entry that points nowhere.
pub const NONE: u32 = u32::MAX;

/// What a slot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A logical block's data; `lba` names it.
    Data = 1,
    /// A page of the logical-to-physical map; `lba` is the page index.
    Map = 2,
    /// A checkpoint: the map directory; `count` entries.
    Checkpoint = 3,
    /// `count` logical blocks from `lba` discarded; no payload.
    Trim = 4,
}

impl Kind {
    fn from_u8(v: u8) -> Option<Kind> {
        match v {
            1 => Some(Kind::Data),
            2 => Some(Kind::Map),
            3 => Some(Kind::Checkpoint),
            4 => Some(Kind::Trim),
            _ => None,
        }
    }
}

/// The header at the start of a segment: the format's geometry (the same in every
/// segment) and the segment's sequence number (when it was opened).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct SegHeader {
    /// [`MAGIC`].
    pub magic: u32,
    /// [`VERSION`].
    pub version: u16,
    /// Erase blocks per segment.
    pub erase_per_seg: u16,
    /// Logical block size in bytes.
    pub block_size: u32,
    /// Logical blocks (the capacity chosen at format).
    pub blocks: u32,
    /// Sequence number: larger is newer.
    pub seq: u64,
    /// Segments written between forced checkpoints.
    pub ckpt_every: u16,
    /// Map pages a mounter must cache (at least).
    pub map_cache: u16,
    /// CRC-32C of the 28 bytes before it.
    pub crc: u32,
}

/// The header at the end of a slot.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct SlotHeader {
    /// [`SLOT_MAGIC`].
    pub magic: u16,
    /// A [`Kind`].
    pub kind: u8,
    /// Zero.
    pub pad: u8,
    /// Logical block (data, trim) or map page index (map).
    pub lba: u32,
    /// Sequence number: larger is newer.
    pub seq: u64,
    /// Blocks discarded (trim) or directory entries (checkpoint); else 0.
    pub count: u32,
    /// CRC-32C of the payload.
    pub data_crc: u32,
    /// Zero.
    pub reserved: u32,
    /// CRC-32C of the 28 bytes before it.
    pub crc: u32,
}

const _: () = {
    assert!(size_of::<SegHeader>() == HDR);
    assert!(core::mem::offset_of!(SegHeader, seq) == 16);
    assert!(core::mem::offset_of!(SegHeader, crc) == 28);
    assert!(size_of::<SlotHeader>() == HDR);
    assert!(core::mem::offset_of!(SlotHeader, lba) == 4);
    assert!(core::mem::offset_of!(SlotHeader, seq) == 8);
    assert!(core::mem::offset_of!(SlotHeader, data_crc) == 20);
    assert!(core::mem::offset_of!(SlotHeader, crc) == 28);
};

/// What the bytes at a segment's start say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegState {
    /// All 0xFF: never written since the last erase (the rest may still be dirty).
    Blank,
    /// A header with a good CRC.
    Valid(SegHeader),
    /// A good CRC and our magic, but a version this code does not know.
    Version(u16),
    /// Anything else: torn, partly erased, or not ours.
    Garbage,
}

impl SegHeader {
    /// Seal the header: compute its CRC.
    pub fn sealed(mut self) -> Self {
        self.crc = crc32c(&self.as_bytes()[..HDR - 4]);
        self
    }

    /// Decode a header.
    pub fn parse(raw: &[u8; HDR]) -> SegState {
        if raw.iter().all(|&b| b == 0xff) {
            return SegState::Blank;
        }
        let Ok(h) = SegHeader::read_from_bytes(raw) else { return SegState::Garbage };
        if h.magic != MAGIC || crc32c(&raw[..HDR - 4]) != h.crc {
            return SegState::Garbage;
        }
        if h.version != VERSION {
            return SegState::Version(h.version);
        }
        SegState::Valid(h)
    }
}

/// A decoded slot header that passed its checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// What the slot holds.
    pub kind: Kind,
    /// Logical block or map page index.
    pub lba: u32,
    /// Sequence number.
    pub seq: u64,
    /// Trim length / directory length.
    pub count: u32,
    /// CRC-32C of the payload.
    pub data_crc: u32,
}

impl Record {
    /// The header bytes for this record.
    pub fn encode(&self) -> [u8; HDR] {
        let mut h = SlotHeader {
            magic: SLOT_MAGIC,
            kind: self.kind as u8,
            pad: 0,
            lba: self.lba,
            seq: self.seq,
            count: self.count,
            data_crc: self.data_crc,
            reserved: 0,
            crc: 0,
        };
        h.crc = crc32c(&h.as_bytes()[..HDR - 4]);
        let mut out = [0u8; HDR];
        out.copy_from_slice(h.as_bytes());
        out
    }

    /// Decode a slot header: `None` if blank, torn, or not a record.
    pub fn parse(raw: &[u8; HDR]) -> Option<Record> {
        let h = SlotHeader::read_from_bytes(raw).ok()?;
        if h.magic != SLOT_MAGIC || crc32c(&raw[..HDR - 4]) != h.crc {
            return None;
        }
        Some(Record { kind: Kind::from_u8(h.kind)?, lba: h.lba, seq: h.seq, count: h.count, data_crc: h.data_crc })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_reject_damage() {
        let r = Record { kind: Kind::Data, lba: 7, seq: 9, count: 0, data_crc: 0x1234 };
        let mut raw = r.encode();
        assert_eq!(Record::parse(&raw), Some(r));
        raw[4] ^= 1;
        assert_eq!(Record::parse(&raw), None);
        assert_eq!(Record::parse(&[0xff; HDR]), None);
        let h = SegHeader {
            magic: MAGIC,
            version: VERSION,
            erase_per_seg: 1,
            block_size: 512,
            blocks: 10,
            seq: 3,
            ckpt_every: 2,
            map_cache: 2,
            crc: 0,
        }
        .sealed();
        let mut raw = [0u8; HDR];
        raw.copy_from_slice(h.as_bytes());
        assert_eq!(SegHeader::parse(&raw), SegState::Valid(h));
        let newer = SegHeader { version: 2, ..h }.sealed();
        raw.copy_from_slice(newer.as_bytes());
        assert_eq!(SegHeader::parse(&raw), SegState::Version(2));
        raw[0] = 0;
        assert_eq!(SegHeader::parse(&raw), SegState::Garbage);
        assert_eq!(SegHeader::parse(&[0xff; HDR]), SegState::Blank);
    }
}
