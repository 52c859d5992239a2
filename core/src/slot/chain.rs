//! IO-chain data: a small record the requests of one link chain share (the series'
//! "communicate in IO chain"). Every chain starts with it zeroed; each member's op may
//! read and write it during issue, and it travels to the next member when the link
//! advances. It is gone when the chain ends.
//!
//! The shipped ops follow one convention: an op that produces data stores its length in
//! `len`; an op that checksums stores the checksum in `crc`. `user` is free for your ops.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The record a link chain's requests share (32 bytes).
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct ChainData {
    /// Bytes the latest data-producing op of the chain produced (copy, decompress).
    pub len: u32,
    /// The latest checksum computed in the chain.
    pub crc: u32,
    /// Free for user ops.
    pub user: [u64; 3],
}

impl ChainData {
    /// All zero: what a chain starts with.
    pub const ZERO: ChainData = ChainData { len: 0, crc: 0, user: [0; 3] };

    /// `*self = *from`, field by field: a whole-struct copy between two entries of the
    /// request table compiles to a `memmove` call, which pulls compiler-builtins'
    /// 1.5 KiB `memmove` into firmware that otherwise needs none.
    #[inline(always)]
    pub(crate) fn copy_from(&mut self, from: &ChainData) {
        self.len = from.len;
        self.crc = from.crc;
        let [a, b, c] = from.user;
        self.user[0] = a;
        self.user[1] = b;
        self.user[2] = c;
    }
}

const _: () = assert!(size_of::<ChainData>() == 32);
