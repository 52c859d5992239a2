//! LZ4 *block* decompression between segmented (scatter/gather) buffers.
//!
//! [`decompress_block`] decodes one raw LZ4 block — the block format, not the frame format: no magic
//! number, no frame header, no checksums, no block-size prefix. The caller must know where the block
//! ends (the end of the input *is* the end of the block) and how much room the decompressed data may
//! take (the total length of the output segments).
//!
//! A block is a series of sequences. Each sequence is a token byte (high nibble: literal length, low
//! nibble: match length − 4), extra literal-length bytes when the nibble is 15 (each adds its value, a
//! byte of 255 means another byte follows), the literals, a 2-byte little-endian match offset, and extra
//! match-length bytes when the low nibble is 15. The last sequence stops after its literals: the block
//! ends exactly when the input ends there. A match copies from `offset` bytes back in the output and
//! may overlap the bytes it is writing (offset < length), which repeats them as a byte-by-byte copy
//! would.
//!
//! # Why segmented
//!
//! Firmware rarely has one contiguous buffer of the right size: the compressed block typically arrives
//! in several receive/DMA buffers or ring slots, and the decompressed data goes into fixed-size pages or
//! buffer-pool entries. Without an allocator, gluing them together would need a staging buffer as large
//! as the data. So the input is a list of read-only segments read in order, and the output a list of
//! writable segments filled in order; any segment may have any length, including 0, and literals,
//! offsets, length bytes and match copies may straddle segment boundaries. Back-references read from
//! the output already written, in whichever segment it is.
//!
//! When there is exactly one input segment and one output segment, a fast path works directly on the
//! two slices. Both paths give the same result for every input.
//!
//! # Error mapping
//!
//! Errors are reported as the decoder meets them while parsing front to back, so a block with several
//! defects reports the first one. Within a sequence the order is: token and literal length
//! (`Truncated`, `Corrupt`), literals (`Truncated`, then `OutputFull`), offset (`Truncated`, then
//! `Corrupt`), match length (`Truncated`, `Corrupt`), match copy (`OutputFull`).
//!
//! | Condition | Error |
//! | --- | --- |
//! | the input has 0 bytes in total (no segments, or only empty ones) | [`Lz4Error::Truncated`] |
//! | the input ends before a token, inside the extra literal-length bytes, inside the literals, inside the 2-byte offset, or inside the extra match-length bytes | [`Lz4Error::Truncated`] |
//! | the input ends right after a match, so the block has no final literals-only sequence | [`Lz4Error::Truncated`] |
//! | a literal or match length whose value does not fit in `usize` | [`Lz4Error::Corrupt`] |
//! | the literals do not fit in the rest of the output (checked *after* the input was found to hold them all, so a block that is both truncated and too large reports `Truncated`) | [`Lz4Error::OutputFull`] |
//! | a match offset of 0 | [`Lz4Error::Corrupt`] |
//! | a match offset greater than the number of bytes decompressed so far (checked as soon as the offset is read, before the extra match-length bytes) | [`Lz4Error::Corrupt`] |
//! | a match longer than the rest of the output (any length that fits in `usize`, however absurd) | [`Lz4Error::OutputFull`] |
//!
//! Anything after the final literals cannot be told apart from a longer block, so there is no
//! "trailing data" error: the decoder stops exactly at the end of the input. The end-of-block rules that
//! LZ4 *encoders* follow (the last 5 bytes are literals, the last match starts at least 12 bytes before
//! the end) are not enforced; a block that breaks them but is otherwise well formed decodes normally.
//!
//! On error the output segments may hold partially decompressed data (never beyond the bytes the block
//! describes up to the failing sequence); nothing outside the output segments is ever written.
//!
//! # Guarantees
//!
//! No `unsafe`, no allocation, no recursion, a small fixed amount of stack, and no panic for any input
//! or segment layout. The running time is linear in the input length plus the output length plus the
//! number of segments crossed; in the segmented path each match additionally walks back over the output
//! segments covering its offset (at most 65 535 bytes back), so layouts of very many tiny segments are
//! slower, never wrong.

/// Minimum length of a match; the token's low nibble stores the match length minus this.
const MIN_MATCH: usize = 4;

/// Why a block could not be decompressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lz4Error {
    /// The input ends in the middle of a sequence (truncated block).
    Truncated,
    /// The input is not a valid LZ4 block: a match offset of 0, or one reaching before the start of the output, or a malformed length.
    Corrupt,
    /// The decompressed data does not fit in the output.
    OutputFull,
}

/// Decompress one LZ4 block. `input` is the compressed block split over any number of segments (concatenated in order);
/// `output` is where the decompressed bytes go, also split over segments (filled in order).
/// Returns the number of decompressed bytes written.
///
/// The decompressed bytes fill the output segments in order from the start of the first one; bytes
/// past the returned count are left untouched. See the [module docs](self) for which malformed inputs
/// give which [`Lz4Error`].
///
/// # Errors
///
/// [`Lz4Error::Truncated`] if the input ends inside a sequence (or is empty), [`Lz4Error::Corrupt`] for
/// a bad match offset or an overflowing length, [`Lz4Error::OutputFull`] if the decompressed data does
/// not fit in the output segments.
///
/// # Example
///
/// ```
/// use fwring::ops::lz4_block::{Lz4Error, decompress_block};
///
/// // "abc", a match 3 back of 10 bytes, the final literals "12345" — split over two
/// // input segments (inside the literals) and decompressed into three output segments.
/// let block = [0x36, b'a', b'b', b'c', 3, 0, 0x50, b'1', b'2', b'3', b'4', b'5'];
/// let (a, b) = block.split_at(8);
/// let (mut x, mut y, mut z) = ([0u8; 4], [0u8; 9], [0u8; 16]);
/// assert_eq!(decompress_block(&[a, b], &mut [&mut x, &mut y, &mut z]), Ok(18));
/// assert_eq!((&x, &y, &z[..5]), (b"abca", b"bcabcabca", &b"12345"[..]));
/// // Too little room, and a block that ends inside its literals.
/// assert_eq!(decompress_block(&[&block], &mut [&mut x]), Err(Lz4Error::OutputFull));
/// assert_eq!(decompress_block(&[&block[..9]], &mut [&mut z]), Err(Lz4Error::Truncated));
/// ```
pub fn decompress_block(input: &[&[u8]], output: &mut [&mut [u8]]) -> Result<usize, Lz4Error> {
    match (input, output) {
        ([src], [dst]) => decompress_flat(src, dst),
        (input, output) => decompress_segmented(input, output),
    }
}

// ---------------------------------------------------------------------------------------------------
// Fast path: one contiguous input slice, one contiguous output slice.
// ---------------------------------------------------------------------------------------------------

/// Decompresses `src` into `dst` with plain index arithmetic. Invariants: `ip <= src.len()` and
/// `op <= dst.len()` at all times, so none of the additions below can overflow.
fn decompress_flat(src: &[u8], dst: &mut [u8]) -> Result<usize, Lz4Error> {
    if src.is_empty() {
        return Err(Lz4Error::Truncated);
    }
    let mut ip = 0usize;
    let mut op = 0usize;
    loop {
        let token = *src.get(ip).ok_or(Lz4Error::Truncated)?;
        ip += 1;

        let lit_len = flat_len(src, &mut ip, usize::from(token >> 4))?;
        let lits = src.get(ip..).and_then(|rest| rest.get(..lit_len)).ok_or(Lz4Error::Truncated)?;
        let out = dst.get_mut(op..).and_then(|rest| rest.get_mut(..lit_len)).ok_or(Lz4Error::OutputFull)?;
        out.copy_from_slice(lits);
        ip += lit_len;
        op += lit_len;
        if ip >= src.len() {
            return Ok(op);
        }

        let offset = src.get(ip..).and_then(|rest| rest.first_chunk::<2>()).ok_or(Lz4Error::Truncated)?;
        let offset = usize::from(u16::from_le_bytes(*offset));
        ip += 2;
        if offset == 0 || offset > op {
            return Err(Lz4Error::Corrupt);
        }

        let match_len =
            flat_len(src, &mut ip, usize::from(token & 0x0F))?.checked_add(MIN_MATCH).ok_or(Lz4Error::Corrupt)?;
        if match_len > dst.len().saturating_sub(op) {
            return Err(Lz4Error::OutputFull);
        }
        // Unreachable failure (bounds were checked above); reported rather than panicking.
        flat_match(dst, op, offset, match_len).ok_or(Lz4Error::Corrupt)?;
        op += match_len;
    }
}

/// Reads the rest of a length whose token nibble is `nibble` (extra bytes only when it is 15).
fn flat_len(src: &[u8], ip: &mut usize, nibble: usize) -> Result<usize, Lz4Error> {
    let mut len = nibble;
    if nibble == 15 {
        loop {
            let byte = *src.get(*ip).ok_or(Lz4Error::Truncated)?;
            *ip += 1;
            len = len.checked_add(usize::from(byte)).ok_or(Lz4Error::Corrupt)?;
            if byte != 255 {
                break;
            }
        }
    }
    Ok(len)
}

/// Copies `len` bytes from `offset` bytes back to `dst[op..]` with byte-by-byte (overlapping) semantics.
///
/// The copy runs in chunks that never overlap: the source always starts at `op - offset` and the
/// distance from it to the write position doubles each round, staying a multiple of `offset`, so the
/// already-written region is periodic with that distance and copying it forward is exact.
fn flat_match(dst: &mut [u8], op: usize, offset: usize, len: usize) -> Option<()> {
    let start = op.checked_sub(offset)?;
    let mut pos = op;
    let mut left = len;
    while left > 0 {
        let chunk = left.min(pos - start);
        let (done, rest) = dst.split_at_mut_checked(pos)?;
        rest.get_mut(..chunk)?.copy_from_slice(done.get(start..start + chunk)?);
        pos += chunk;
        left -= chunk;
    }
    Some(())
}

// ---------------------------------------------------------------------------------------------------
// Segmented path.
// ---------------------------------------------------------------------------------------------------

/// Read position in the segmented input.
struct Reader<'a, 'b> {
    /// All input segments.
    segs: &'a [&'b [u8]],
    /// Index of the current segment (`segs.len()` once exhausted).
    seg: usize,
    /// Offset in the current segment.
    pos: usize,
}

impl<'b> Reader<'_, 'b> {
    /// The unread rest of the current segment, moving past exhausted and empty segments first.
    /// Empty only at the end of the input.
    fn chunk(&mut self) -> &'b [u8] {
        while let Some(seg) = self.segs.get(self.seg) {
            match seg.get(self.pos..) {
                Some(rest) if !rest.is_empty() => return rest,
                _ => {
                    self.seg += 1;
                    self.pos = 0;
                }
            }
        }
        &[]
    }

    /// Consumes `n` bytes of the slice last returned by [`Reader::chunk`] (`n` is at most its length).
    fn advance(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n);
    }

    /// Reads one byte.
    fn byte(&mut self) -> Result<u8, Lz4Error> {
        let byte = *self.chunk().first().ok_or(Lz4Error::Truncated)?;
        self.advance(1);
        Ok(byte)
    }

    /// Whether the whole input has been read.
    fn at_end(&mut self) -> bool {
        self.chunk().is_empty()
    }

    /// Whether at least `n` more bytes remain. Walks only the segments those bytes span (the same ones
    /// the literal copy then walks), so it adds no more than a constant factor.
    fn has(&self, n: usize) -> bool {
        let mut need = n;
        let mut pos = self.pos;
        for seg in self.segs.get(self.seg..).unwrap_or_default() {
            let avail = seg.len().saturating_sub(pos);
            if avail >= need {
                return true;
            }
            need -= avail;
            pos = 0;
        }
        need == 0
    }

    /// Reads the rest of a length whose token nibble is `nibble` (extra bytes only when it is 15).
    fn length(&mut self, nibble: u8) -> Result<usize, Lz4Error> {
        let mut len = usize::from(nibble);
        if nibble == 15 {
            loop {
                let byte = self.byte()?;
                len = len.checked_add(usize::from(byte)).ok_or(Lz4Error::Corrupt)?;
                if byte != 255 {
                    break;
                }
            }
        }
        Ok(len)
    }
}

/// A position in the segmented output: segment index and offset in that segment. Several positions
/// name the same logical byte (the end of one segment, the start of the next non-empty one);
/// [`skip_full`] moves to the last of them.
#[derive(Clone, Copy)]
struct Pos {
    /// Segment index (`out.len()` past the end of the output).
    seg: usize,
    /// Offset in the segment.
    pos: usize,
}

/// Moves `p` past full and empty segments so it names a writable byte, if there is one.
fn skip_full(out: &[&mut [u8]], p: &mut Pos) {
    while let Some(seg) = out.get(p.seg) {
        if p.pos < seg.len() {
            return;
        }
        p.seg += 1;
        p.pos = 0;
    }
}

/// The position `back` bytes before `p` (`back >= 1`), or `None` if that is before the start.
fn step_back(out: &[&mut [u8]], p: Pos, mut back: usize) -> Option<Pos> {
    let mut seg = p.seg;
    let mut pos = p.pos;
    while back > pos {
        back -= pos;
        seg = seg.checked_sub(1)?;
        pos = out.get(seg)?.len();
    }
    Some(Pos { seg, pos: pos - back })
}

/// Copies `n` literal bytes from the input to the output at `w`. The caller has checked that both the
/// input and the output have room; the errors are only a safety net.
fn seg_literals(inp: &mut Reader<'_, '_>, out: &mut [&mut [u8]], w: &mut Pos, mut n: usize) -> Result<(), Lz4Error> {
    while n > 0 {
        let src = inp.chunk();
        if src.is_empty() {
            return Err(Lz4Error::Truncated);
        }
        skip_full(out, w);
        let dst = out.get_mut(w.seg).and_then(|seg| seg.get_mut(w.pos..)).ok_or(Lz4Error::OutputFull)?;
        let chunk = n.min(src.len()).min(dst.len());
        match (dst.get_mut(..chunk), src.get(..chunk)) {
            (Some(dst), Some(src)) if chunk > 0 => dst.copy_from_slice(src),
            _ => return Err(Lz4Error::OutputFull),
        }
        inp.advance(chunk);
        w.pos += chunk;
        n -= chunk;
    }
    Ok(())
}

/// Copies `n` bytes from `s` to `d`, where `s` lies at least `n` bytes before `d`, so the source and
/// destination ranges do not overlap. Advances `d`.
fn seg_copy(out: &mut [&mut [u8]], mut s: Pos, d: &mut Pos, mut n: usize) -> Option<()> {
    while n > 0 {
        skip_full(out, &mut s);
        skip_full(out, d);
        let chunk = if s.seg == d.seg {
            // Same segment: the source ends at or before the destination start.
            let (done, rest) = out.get_mut(d.seg)?.split_at_mut_checked(d.pos)?;
            let src = done.get(s.pos..)?;
            let chunk = n.min(src.len()).min(rest.len());
            rest.get_mut(..chunk)?.copy_from_slice(src.get(..chunk)?);
            chunk
        } else {
            // The source is in an earlier segment.
            let (before, after) = out.split_at_mut_checked(d.seg)?;
            let src = before.get(s.seg)?.get(s.pos..)?;
            let dst = after.first_mut()?.get_mut(d.pos..)?;
            let chunk = n.min(src.len()).min(dst.len());
            dst.get_mut(..chunk)?.copy_from_slice(src.get(..chunk)?);
            chunk
        };
        if chunk == 0 {
            return None;
        }
        s.pos += chunk;
        d.pos += chunk;
        n -= chunk;
    }
    Some(())
}

/// Copies a match of `len` bytes from `offset` bytes before `w` (`1 <= offset <=` bytes written),
/// with the same doubling scheme as [`flat_match`].
fn seg_match(out: &mut [&mut [u8]], w: &mut Pos, offset: usize, len: usize) -> Option<()> {
    let start = step_back(out, *w, offset)?;
    let mut dist = offset;
    let mut left = len;
    while left > 0 {
        let chunk = left.min(dist);
        seg_copy(out, start, w, chunk)?;
        left -= chunk;
        dist = dist.saturating_add(chunk);
    }
    Some(())
}

/// Decompresses from any number of input segments into any number of output segments.
fn decompress_segmented(input: &[&[u8]], output: &mut [&mut [u8]]) -> Result<usize, Lz4Error> {
    let mut inp = Reader { segs: input, seg: 0, pos: 0 };
    if inp.at_end() {
        return Err(Lz4Error::Truncated);
    }
    // The output segments are disjoint `&mut` slices, so their total length fits in `usize`; saturating
    // only guards against the impossible.
    let cap = output.iter().fold(0usize, |sum, seg| sum.saturating_add(seg.len()));
    let mut w = Pos { seg: 0, pos: 0 };
    let mut written = 0usize;
    loop {
        let token = inp.byte()?;

        let lit_len = inp.length(token >> 4)?;
        if !inp.has(lit_len) {
            return Err(Lz4Error::Truncated);
        }
        if lit_len > cap.saturating_sub(written) {
            return Err(Lz4Error::OutputFull);
        }
        seg_literals(&mut inp, output, &mut w, lit_len)?;
        written += lit_len;
        if inp.at_end() {
            return Ok(written);
        }

        let lo = inp.byte()?;
        let hi = inp.byte()?;
        let offset = usize::from(u16::from_le_bytes([lo, hi]));
        if offset == 0 || offset > written {
            return Err(Lz4Error::Corrupt);
        }

        let match_len = inp.length(token & 0x0F)?.checked_add(MIN_MATCH).ok_or(Lz4Error::Corrupt)?;
        if match_len > cap.saturating_sub(written) {
            return Err(Lz4Error::OutputFull);
        }
        // Unreachable failure (bounds were checked above); reported rather than panicking.
        seg_match(output, &mut w, offset, match_len).ok_or(Lz4Error::Corrupt)?;
        written += match_len;
    }
}
